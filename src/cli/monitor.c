/* SPDX-License-Identifier: Apache-2.0 */
/* plctl stats, logs and events. */
#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- stats ---- */
static double json_num(json_t *obj, const char *a, const char *b)
{
	json_t *v = json_object_get(b ? json_object_get(obj, a) : obj, b ? b : a);
	return json_is_number(v) ? json_number_value(v) : 0;
}

enum { STATS_COLS = 8 };

/* One table row from a sample and the one before it (NULL: no CPU figure yet). */
static void stats_row(char **row, json_t *cur, json_t *prev)
{
	const char *id = json_string_value(json_object_get(cur, "id"));
	const char *name = json_string_value(json_object_get(cur, "name"));
	row[0] = pl_xasprintf("%.12s", id ? id : "");
	row[1] = pl_xstrdup(name && *name ? name : "--");

	/* CPU time over wall time between the samples: 100% is one CPU's worth, as in docker */
	int64_t t0, t1;
	double cpu = 0;
	if (prev && pl_time_parse(json_string_value(json_object_get(prev, "read")), &t0) == 0 &&
	    pl_time_parse(json_string_value(json_object_get(cur, "read")), &t1) == 0 && t1 > t0) {
		double used = json_num(cur, "cpu", "usage_ns") - json_num(prev, "cpu", "usage_ns");
		if (used > 0)
			cpu = used / (double)(t1 - t0) * 100.0;
	}
	row[2] = pl_xasprintf("%.2f%%", cpu);

	double usage = json_num(cur, "memory", "usage"), limit = json_num(cur, "memory", "limit");
	if (limit <= 0) /* unlimited: the host's memory is the bound, as docker shows it */
		limit = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
	_cleanup_free_ char *mu = pl_cli_human_size(usage, true),
			    *ml = pl_cli_human_size(limit, true);
	row[3] = pl_xasprintf("%s / %s", mu, ml);
	row[4] = pl_xasprintf("%.2f%%", limit > 0 ? usage / limit * 100.0 : 0.0);

	double rx = 0, tx = 0;
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(cur, "networks"), k, v)
	{
		rx += json_num(v, "rx_bytes", NULL);
		tx += json_num(v, "tx_bytes", NULL);
	}
	_cleanup_free_ char *nr = pl_cli_human_size(rx, false), *nt = pl_cli_human_size(tx, false);
	row[5] = pl_xasprintf("%s / %s", nr, nt);
	_cleanup_free_ char *br = pl_cli_human_size(json_num(cur, "blkio", "read_bytes"), false);
	_cleanup_free_ char *bw = pl_cli_human_size(json_num(cur, "blkio", "write_bytes"), false);
	row[6] = pl_xasprintf("%s / %s", br, bw);
	row[7] = pl_xasprintf("%.0f", json_num(cur, "pids", "current"));
}

/* The containers to sample: those named, else every running one. */
static json_t *stats_targets(pl_client_t *c, int argc, char **argv, pl_error_t **err)
{
	_cleanup_(json_decrefp) json_t *targets = json_array();
	if (optind < argc) {
		for (int i = optind; i < argc; i++)
			if (pl_cli_add_string(targets, NULL, argv[i], err) < 0)
				return NULL;
		return TAKE_PTR(targets);
	}
	_cleanup_(json_decrefp) json_t *list = NULL;
	if (pl_container_summaries(c, true, false, NULL, &list, err) < 0)
		return NULL;
	size_t i;
	json_t *ct;
	json_array_foreach(list, i, ct)
	{
		const char *state = json_string_value(json_object_get(ct, "state"));
		json_t *id = json_object_get(ct, "id");
		if (state && strcmp(state, "running") == 0 && json_is_string(id))
			json_array_append(targets, id);
	}
	return TAKE_PTR(targets);
}

/* One sample of each target, keyed by target; those that cannot be sampled (stopped,
 * gone) are reported when named and left out. */
static json_t *stats_sample_all(pl_client_t *c, json_t *targets, bool named, int *rc)
{
	json_t *samples = json_object();
	size_t i;
	json_t *t;
	json_array_foreach(targets, i, t)
	{
		const char *name = json_string_value(t);
		_cleanup_error_ pl_error_t *err = NULL;
		json_t *one = pl_container_stats(c, name, &err);
		if (!one) {
			if (named && err)
				*rc = pl_cli_report(err, 1);
			continue;
		}
		json_object_set_new(samples, name, one);
	}
	return samples;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

enum { OPT_NO_STREAM = 256, OPT_TAIL, OPT_SINCE, OPT_UNTIL, OPT_FORMAT };

static int cmd_stats(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, cmd, ":");
	bool stream = true;
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_NO_STREAM:
			stream = false;
			break;
		case 'h':
			pl_cli_print_usage(stdout, cmd);
			return 0;
		default:
			return pl_cli_bad_flag(cmd->name, opt, argv);
		}
	}
	bool named = optind < argc, clear = stream && isatty(STDOUT_FILENO);
	int rc = 0;
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(json_decrefp) json_t *targets = stats_targets(c, argc, argv, &err);
	if (!targets)
		return pl_cli_report(err, 1);
	/* the first figures need two samples: half a second apart, then one a second */
	_cleanup_(json_decrefp) json_t *prev = stats_sample_all(c, targets, named, &rc);
	if (named && json_object_size(prev) == 0)
		return rc;
	sleep_ms(500);
	for (;;) {
		if (stream && !named) { /* containers come and go */
			json_decref(targets);
			if (!(targets = stats_targets(c, argc, argv, &err)))
				return pl_cli_report(err, 1);
		}
		json_t *cur = stats_sample_all(c, targets, named && !stream, &rc);
		size_t n = json_object_size(cur);
		if (named && n == 0) { /* every container named stopped: the end */
			json_decref(cur);
			return rc;
		}
		char **cells = pl_xcalloc((n + 1) * STATS_COLS, sizeof(char *));
		static const char *const header[STATS_COLS] = {
		    "CONTAINER ID", "NAME",    "CPU %",	    "MEM USAGE / LIMIT",
		    "MEM %",	    "NET I/O", "BLOCK I/O", "PIDS"};
		for (size_t col = 0; col < STATS_COLS; col++)
			cells[col] = pl_xstrdup(header[col]);
		size_t rows = 1, i;
		json_t *t;
		json_array_foreach(targets, i, t)
		{
			json_t *sample = json_object_get(cur, json_string_value(t));
			if (sample)
				stats_row(cells + rows++ * STATS_COLS, sample,
					  json_object_get(prev, json_string_value(t)));
		}
		if (clear)
			fputs("\033[2J\033[H", stdout);
		pl_cli_print_table(cells, rows, STATS_COLS);
		fflush(stdout);
		for (size_t k = 0; k < rows * STATS_COLS; k++)
			free(cells[k]);
		free(cells);
		json_decref(prev);
		prev = cur;
		if (!stream)
			return rc;
		sleep_ms(1000);
	}
}

/* ---- logs, info, version ---- */

/* --since/--until: RFC 3339 and unix seconds go to the daemon as they are; a relative
 * duration ("90s", "10m", "2h", "1d", like docker's) becomes unix seconds here, to the
 * nanosecond like docker's, so "--until 0s" takes in what happened this very second. */
static char *since_value(const char *s)
{
	static const struct {
		char suffix;
		int64_t secs;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	const int64_t NS = 1000000000LL;
	size_t len = strlen(s);
	for (size_t i = 0; len > 1 && i < PL_ARRAY_SIZE(units); i++) {
		if (s[len - 1] != units[i].suffix)
			continue;
		_cleanup_free_ char *num = pl_xasprintf("%.*s", (int)(len - 1), s);
		int64_t n;
		if (pl_parse_int64(num, 0, INT64_MAX / NS / 86400, &n) < 0)
			continue;
		/* before the epoch is "from the start" (1 ns: the daemon reads 0 as "not set") */
		int64_t t = pl_now_ns() - n * units[i].secs * NS;
		if (t < 1)
			t = 1;
		return pl_xasprintf("%lld.%09lld", (long long)(t / NS), (long long)(t % NS));
	}
	return pl_xstrdup(s);
}

static int cmd_logs(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, cmd, ":");
	bool follow = false, timestamps = false;
	const char *tail = NULL, *since = NULL, *until = NULL;
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		switch (opt) {
		case 'f':
			follow = true;
			break;
		case 't':
			timestamps = true;
			break;
		case OPT_TAIL:
			tail = optarg;
			break;
		case OPT_SINCE:
			since = optarg;
			break;
		case OPT_UNTIL:
			until = optarg;
			break;
		case 'h':
			pl_cli_print_usage(stdout, cmd);
			return 0;
		default:
			return pl_cli_bad_flag("logs", opt, argv);
		}
	}
	if (argc - optind != 1)
		return pl_cli_usage_error("logs", "requires exactly one container");

	_cleanup_free_ char *since_v = since ? since_value(since) : NULL;
	_cleanup_free_ char *until_v = until ? since_value(until) : NULL;
	pl_logs_opts_t o = {.follow = follow,
			    .timestamps = timestamps,
			    .tail = tail,
			    .since = since_v,
			    .until = until_v};
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_cli_stream_logs(c, argv[optind], &o, &err) < 0)
		return pl_cli_report(err, 1);
	return 0;
}

/* ---- events ---- */

typedef struct events_out {
	bool json;
} events_out_t;

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* docker's line: TIME TYPE ACTION ID (k=v, ...), attributes sorted by key; null ones
 * (no signal on a plain exit) are left out. */
static void print_event_line(json_t *ev)
{
	const char *fields[] = {"time", "type", "action", "id"};
	for (size_t i = 0; i < PL_ARRAY_SIZE(fields); i++) {
		const char *v = json_string_value(json_object_get(ev, fields[i]));
		printf("%s%s", i ? " " : "", v ? v : "-");
	}
	json_t *attrs = json_object_get(ev, "attributes");
	size_t n = 0;
	const char **keys = pl_xcalloc(json_object_size(attrs) + 1, sizeof(*keys));
	const char *k;
	json_t *v;
	json_object_foreach(attrs, k, v)
	{
		if (!json_is_null(v))
			keys[n++] = k;
	}
	qsort(keys, n, sizeof(*keys), compare_strings);
	for (size_t i = 0; i < n; i++) {
		v = json_object_get(attrs, keys[i]);
		_cleanup_free_ char *text = json_is_string(v)
						? pl_xstrdup(json_string_value(v))
						: json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		printf("%s%s=%s", i ? ", " : " (", keys[i], text ? text : "");
	}
	printf("%s\n", n ? ")" : "");
	free(keys);
}

static int print_event(const pl_event_t *ev, void *userdata)
{
	const events_out_t *out = userdata;
	if (out->json) {
		/* the daemon's line: it writes it compact too, in the same key order */
		_cleanup_free_ char *line = json_dumps(ev->raw, JSON_COMPACT);
		printf("%s\n", line ? line : "{}");
	} else {
		print_event_line((json_t *)ev->raw);
	}
	/* one line at a time, also into a pipe: events are watched as they happen */
	if (fflush(stdout) != 0)
		return -errno;
	return 0;
}

static int cmd_events(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, cmd, ":");
	const char *since = NULL, *until = NULL;
	events_out_t out = {0};
	_cleanup_(json_decrefp) json_t *filters = json_object();
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_SINCE:
			since = optarg;
			break;
		case OPT_UNTIL:
			until = optarg;
			break;
		case 'f': {
			/* key=value; repeated keys widen the match, as in docker */
			const char *eq = strchr(optarg, '=');
			_cleanup_error_ pl_error_t *err = NULL;
			if (!eq || eq == optarg)
				return pl_cli_usage_error(
				    cmd->name, "bad filter '%s' (want KEY=VALUE)", optarg);
			_cleanup_free_ char *key = pl_xasprintf("%.*s", (int)(eq - optarg), optarg);
			json_t *values = json_object_get(filters, key);
			if (!values) {
				values = json_array();
				if (json_object_set_new(filters, key, values) < 0)
					return pl_cli_usage_error(cmd->name, "bad filter '%s'",
								  optarg);
			}
			if (pl_cli_add_string(values, NULL, eq + 1, &err) < 0)
				return pl_cli_usage_error(cmd->name, "%s", err->msg);
			break;
		}
		case OPT_FORMAT:
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "{{json .}}") != 0)
				return pl_cli_usage_error(
				    cmd->name, "unsupported format '%s' (only 'json')", optarg);
			out.json = true;
			break;
		case 'h':
			pl_cli_print_usage(stdout, cmd);
			return 0;
		default:
			return pl_cli_bad_flag(cmd->name, opt, argv);
		}
	}
	if (optind < argc)
		return pl_cli_usage_error(cmd->name, "unexpected argument '%s'", argv[optind]);

	_cleanup_free_ char *since_v = since ? since_value(since) : NULL;
	_cleanup_free_ char *until_v = until ? since_value(until) : NULL;
	_cleanup_free_ char *filters_v =
	    json_object_size(filters) > 0 ? json_dumps(filters, JSON_COMPACT) : NULL;
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_events_stream(c, since_v, until_v, filters_v, print_event, &out, &err) < 0)
		return pl_cli_report(err, 1);
	return 0;
}

static const flag_t stats_flags[] = {
    {"no-stream", 0, NULL, "print one table and exit", OPT_NO_STREAM},
    {"help", 'h'},
    {0},
};

const command_t pl_cli_cmd_stats = {
    "stats",
    cmd_stats,
    1,
    "Show containers' resource usage",
    "stats [--no-stream] [CONTAINER...]\n\n"
    "A table of CPU, memory, network, block I/O and process counts, refreshed every\n"
    "second; every running container when none is named.",
    (const flag_table_t[]){{NULL, stats_flags}, {0}}};

static const flag_t logs_flags[] = {
    {"follow", 'f', NULL, "keep streaming until the container stops"},
    {"tail", 0, "N", "only the last N lines (or 'all')", OPT_TAIL},
    {"since", 0, "TIME", "RFC 3339, unix seconds or a duration ago (10m, 2h)", OPT_SINCE},
    {"until", 0, "TIME", "likewise", OPT_UNTIL},
    {"timestamps", 't', NULL, "prefix each line with its time"},
    {"help", 'h'},
    {0},
};

const command_t pl_cli_cmd_logs = {"logs",
				   cmd_logs,
				   1,
				   "Show a container's output",
				   "logs [OPTIONS] ID",
				   (const flag_table_t[]){{NULL, logs_flags}, {0}}};

static const flag_t events_flags[] = {
    {"since", 0, "TIME",
     "replay events from TIME first (RFC 3339, unix seconds or\na duration ago: 10m, 2h)",
     OPT_SINCE},
    {"until", 0, "TIME", "stop at TIME (likewise); without it, stream until ^C", OPT_UNTIL},
    {"filter", 'f', "KEY=VAL",
     "type=, container= (id, prefix or name) or event=\n(create, start, die, ...); repeatable"},
    {"format", 0, "json", "print each event as its JSON line", OPT_FORMAT},
    {"help", 'h'},
    {0},
};

const command_t pl_cli_cmd_events = {"events",
				     cmd_events,
				     1,
				     "Stream container events as they happen",
				     "events [OPTIONS]",
				     (const flag_table_t[]){{NULL, events_flags}, {0}}};
