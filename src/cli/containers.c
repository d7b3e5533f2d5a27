/* SPDX-License-Identifier: Apache-2.0 */
/* plctl's container commands over ids (start, stop, kill, rm, wait, inspect, pause),
 * update, rename, ps and port. */
#include "cli/cli.h"
#include "cli/plctl_engine.h"
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

/* ---- commands over a list of ids ---- */

typedef struct simple_opts {
	const char *timeout; /* stop -t, wait --timeout */
	const char *signal;  /* kill -s */
	bool force;	     /* rm -f */
} simple_opts_t;

enum { OPT_TIMEOUT = 256 };

static const flag_t help_flag[] = {{"help", 'h'}, {0}};
static const flag_table_t help_only[] = {{NULL, help_flag}, {0}};

static const flag_t stop_flags[] = {
    {"time", 't', "SECONDS", "grace period before SIGKILL (daemon default 10)"},
    {"timeout", 0, "SECONDS", NULL, OPT_TIMEOUT}, /* wait's name for it, taken too */
    {"help", 'h'},
    {0},
};

static const flag_t kill_flags[] = {
    {"signal", 's', "SIGNAL", "name (TERM, SIGTERM) or number; default KILL"},
    {"help", 'h'},
    {0},
};

static const flag_t wait_flags[] = {
    {"timeout", 0, "SECONDS", "fail for a container still running after SECONDS", OPT_TIMEOUT},
    {"help", 'h'},
    {0},
};

static const flag_t rm_flags[] = {
    {"force", 'f', NULL, "kill a running container first; ignore unknown ones"},
    {"help", 'h'},
    {0},
};

/* Parses the flags of the commands over ids (cmd->flags); leaves optind at the first id.
 * Returns 0, HELP_SHOWN, or the exit code of a usage error. */
static int parse_simple_opts(const command_t *cmd, int argc, char **argv, simple_opts_t *o)
{
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, cmd, ":");
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			pl_cli_print_usage(stdout, cmd);
			return HELP_SHOWN;
		case 't':
		case OPT_TIMEOUT:
			o->timeout = optarg;
			break;
		case 's':
			o->signal = optarg;
			break;
		case 'f':
			o->force = true;
			break;
		default:
			return pl_cli_bad_flag(cmd->name, opt, argv);
		}
	}
	if (optind >= argc)
		return pl_cli_usage_error(cmd->name, "requires at least one container");
	return 0;
}

/* What for_each_id does to each container. */
typedef struct id_op {
	enum { OP_START, OP_STOP, OP_KILL, OP_REMOVE, OP_PAUSE, OP_UNPAUSE } kind;
	int timeout;	    /* stop: seconds, < 0 the container's own */
	const char *signal; /* kill */
	bool force;	    /* rm */
} id_op_t;

static int apply(pl_client_t *c, const char *id, const id_op_t *op, pl_error_t **err)
{
	switch (op->kind) {
	case OP_START:
		return pl_container_start(c, id, NULL, err);
	case OP_STOP:
		return pl_container_stop(c, id, op->timeout, err);
	case OP_KILL:
		return pl_container_kill(c, id, op->signal, err);
	case OP_REMOVE:
		return pl_container_remove(c, id, op->force, err);
	case OP_PAUSE:
		return pl_container_pause(c, id, err);
	case OP_UNPAUSE:
		return pl_container_unpause(c, id, err);
	default:
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "unknown operation");
	}
}

/* Applies op to every id, printing each id that succeeded. */
static int for_each_id(pl_client_t *c, int argc, char **argv, const id_op_t *op,
		       bool ignore_notfound)
{
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		_cleanup_error_ pl_error_t *err = NULL;
		if (apply(c, argv[i], op, &err) < 0) {
			if (!(ignore_notfound && err->kind == PL_ERR_NOTFOUND))
				rc = pl_cli_report(err, 1);
			continue;
		}
		puts(argv[i]);
	}
	return rc;
}

static int cmd_start(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	simple_opts_t o = {0};
	int r = parse_simple_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	return for_each_id(c, argc, argv, &(id_op_t){.kind = OP_START}, false);
}

static int cmd_stop(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	simple_opts_t o = {0};
	int r = parse_simple_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	int64_t t = -1;
	if (o.timeout && pl_parse_int64(o.timeout, 0, INT_MAX, &t) < 0)
		return pl_cli_usage_error("stop", "invalid timeout '%s' (whole seconds)",
					  o.timeout);
	return for_each_id(c, argc, argv, &(id_op_t){.kind = OP_STOP, .timeout = (int)t}, false);
}

static int cmd_kill(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	simple_opts_t o = {0};
	int r = parse_simple_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	_cleanup_free_ char *num = NULL;
	const char *signal = NULL;
	if (o.signal) {
		int signo;
		if (pl_signal_parse(o.signal, &signo) < 0)
			return pl_cli_usage_error("kill", "invalid signal '%s'", o.signal);
		num = pl_xasprintf("%d", signo);
		signal = pl_signal_name(signo) ? pl_signal_name(signo) : num;
	}
	return for_each_id(c, argc, argv, &(id_op_t){.kind = OP_KILL, .signal = signal}, false);
}

static int cmd_rm(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	simple_opts_t o = {0};
	int r = parse_simple_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	/* Like docker rm -f, a container that is already gone is not an error. */
	return for_each_id(c, argc, argv, &(id_op_t){.kind = OP_REMOVE, .force = o.force}, o.force);
}

static int cmd_wait(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	simple_opts_t o = {0};
	int r = parse_simple_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	int rc = 0;
	bool failed = false;
	for (int i = optind; i < argc; i++) {
		_cleanup_error_ pl_error_t *err = NULL;
		int code = pl_cli_wait_container(c, argv[i], o.timeout, &err);
		if (code < 0) {
			failed = true;
			pl_cli_report(err, 1);
			continue;
		}
		printf("%d\n", code);
		rc = code;
	}
	return failed ? 1 : rc;
}

static int cmd_inspect(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	simple_opts_t o = {0};
	int r = parse_simple_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	_cleanup_(json_decrefp) json_t *all = json_array();
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		_cleanup_error_ pl_error_t *err = NULL;
		_cleanup_(pl_container_info_freep) pl_container_info_t *one =
		    pl_container_inspect(c, argv[i], &err);
		if (!one) {
			rc = pl_cli_report(err, 1);
			continue;
		}
		json_array_append(all, one->raw ? one->raw : json_null());
	}
	pl_cli_print_json(all);
	return rc;
}

static int cmd_pause(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	simple_opts_t o = {0};
	int r = parse_simple_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	id_op_t op = {.kind = strcmp(cmd->name, "pause") == 0 ? OP_PAUSE : OP_UNPAUSE};
	return for_each_id(c, argc, argv, &op, false);
}

/* ---- update, rename ---- */

static int cmd_update(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, cmd, ":");
	_cleanup_(json_decrefp) json_t *body = json_object();
	json_t *resources = pl_cli_member(body, "resources", false);
	bool any = false;
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		_cleanup_error_ pl_error_t *err = NULL;
		const flag_t *table, *f;
		if (opt == 'h') {
			pl_cli_print_usage(stdout, cmd);
			return 0;
		}
		if (!(f = pl_cli_table_flag(cmd, opt, &table)))
			return pl_cli_bad_flag(cmd->name, opt, argv);
		if (f->set(resources, f, optarg, &err) < 0)
			return pl_cli_usage_error(cmd->name, "%s", err->msg);
		any = true;
	}
	if (!any)
		return pl_cli_usage_error(cmd->name, "needs at least one flag to change");
	if (optind >= argc)
		return pl_cli_usage_error(cmd->name, "requires at least one container");
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		_cleanup_error_ pl_error_t *err = NULL;
		if (pl_container_update_resources(c, argv[i], resources, &err) < 0) {
			rc = pl_cli_report(err, 1);
			continue;
		}
		puts(argv[i]);
	}
	return rc;
}

/* Stages a rename on the handle token and commits the staged handle. */
static int commit_rename(pl_client_t *c, const char *token, const char *name, pl_error_t **err)
{
	_cleanup_free_ char *staged = NULL;
	if (pl_handle_rename(c, token, name, &staged, err) < 0)
		return -1;
	int r = pl_handle_commit(c, staged, err);
	if (r < 0) { /* only a successful commit spends it; a failed drop is not worth a word:
		      * handles expire on their own */
		_cleanup_error_ pl_error_t *ignored = NULL;
		pl_handle_release(c, staged, &ignored);
	}
	return r;
}

static void drop_handle(pl_client_t *c, const char *token)
{
	_cleanup_error_ pl_error_t *ignored = NULL;
	pl_handle_release(c, token, &ignored);
}

/* Takes a handle, stages the rename, commits. A commit refused because someone else
 * committed in between (409, the container moved past our version) is replayed once on a
 * fresh handle; any other 409 (the name is taken) is the answer. */
static int cmd_rename(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	simple_opts_t o = {0};
	int r = parse_simple_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (argc - optind != 2)
		return pl_cli_usage_error(cmd->name,
					  "requires exactly a container and its new name");
	const char *name = argv[optind + 1];
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_cli_check_utf8(name, &err) < 0)
		return pl_cli_usage_error(cmd->name, "%s", err->msg);

	_cleanup_(pl_handle_clear) pl_handle_t h = {0}, fresh = {0};
	if (pl_handle_get(c, argv[optind], &h, &err) < 0)
		return pl_cli_report(err, 1);
	r = commit_rename(c, h.token, name, &err);
	drop_handle(c, h.token);
	if (r < 0 && err->kind == PL_ERR_CONFLICT) {
		_cleanup_error_ pl_error_t *again = NULL;
		if (pl_handle_get(c, h.id, &fresh, &again) < 0)
			return pl_cli_report(again, 1);
		if (fresh.version != h.version) {
			err = pl_error_free(err);
			r = commit_rename(c, fresh.token, name, &err);
		}
		drop_handle(c, fresh.token);
	}
	return r < 0 ? pl_cli_report(err, 1) : 0;
}

/* ---- ps ---- */

static bool is_live(const char *state)
{
	return state && (strcmp(state, "running") == 0 || strcmp(state, "starting") == 0 ||
			 strcmp(state, "stopping") == 0 || strcmp(state, "paused") == 0);
}
/* The command line, quoted like docker ps and cut to a readable width. */
static char *command_column(json_t *args)
{
	enum { MAX = 30 };
	size_t i;
	json_t *a;
	_cleanup_free_ char *line = pl_xstrdup("");
	json_array_foreach(args, i, a)
	{
		char *next = pl_xasprintf("%s%s%s", line, i ? " " : "",
					  json_string_value(a) ? json_string_value(a) : "");
		free(line);
		line = next;
	}
	if (strlen(line) > MAX)
		return pl_xasprintf("\"%.*s...\"", MAX - 3, line);
	return pl_xasprintf("\"%s\"", line);
}

enum { PS_COLS = 6 };

static int cmd_ps(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, cmd, ":");
	bool all = false;
	int opt;
	_cleanup_(json_decrefp) json_t *filters = json_object();
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			all = true;
			break;
		case 'f': { /* docker's KEY=VALUE, sent as the API's filter JSON */
			const char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg)
				return pl_cli_usage_error(
				    "ps", "--filter wants KEY=VALUE, not '%s'", optarg);
			_cleanup_free_ char *k = pl_xasprintf("%.*s", (int)(eq - optarg), optarg);
			json_array_append_new(pl_cli_member(filters, k, true), json_string(eq + 1));
			break;
		}
		case 'h':
			pl_cli_print_usage(stdout, cmd);
			return 0;
		default:
			return pl_cli_bad_flag("ps", opt, argv);
		}
	}
	if (optind < argc)
		return pl_cli_usage_error("ps", "unexpected argument '%s'", argv[optind]);

	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(json_decrefp) json_t *list = NULL;
	_cleanup_free_ char *f =
	    json_object_size(filters) ? json_dumps(filters, JSON_COMPACT) : NULL;
	/* every container: which are live is decided here, as docker ps does */
	if (pl_container_summaries(c, true, false, f, &list, &err) < 0)
		return pl_cli_report(err, 1);

	/* Cells first, so every column can be as wide as its widest cell. */
	size_t rows = 1, n = json_array_size(list);
	char **cells = pl_xcalloc((n + 1) * PS_COLS, sizeof(char *));
	static const char *const header[PS_COLS] = {"CONTAINER ID", "NAME",    "STATE",
						    "EXIT",	    "CREATED", "COMMAND"};
	for (size_t col = 0; col < PS_COLS; col++)
		cells[col] = pl_xstrdup(header[col]);
	size_t i;
	json_t *ct;
	json_array_foreach(list, i, ct)
	{
		const char *state = json_string_value(json_object_get(ct, "state"));
		if (!all && !is_live(state))
			continue;
		const char *id = json_string_value(json_object_get(ct, "id"));
		const char *name = json_string_value(json_object_get(ct, "name"));
		json_t *exit_code = json_object_get(ct, "exit_code");
		char **row = cells + rows++ * PS_COLS;
		row[0] = pl_xasprintf("%.12s", id ? id : "");
		row[1] = pl_xstrdup(name ? name : "");
		row[2] = pl_xstrdup(state ? state : "");
		row[3] = json_is_integer(exit_code)
			     ? pl_xasprintf("%lld", (long long)json_integer_value(exit_code))
			     : pl_xstrdup("-");
		row[4] = pl_cli_ago(json_string_value(json_object_get(ct, "created")));
		row[5] = command_column(json_object_get(ct, "args"));
	}
	pl_cli_print_table_free(cells, rows, PS_COLS);
	return 0;
}

static int cmd_port(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		pl_cli_print_usage(stdout, cmd);
		return 0;
	}
	if (argc != 2)
		return pl_cli_usage_error(cmd->name, "want exactly one CONTAINER");
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(json_decrefp) json_t *list = pl_container_ports(c, argv[1], &err);
	if (!list)
		return pl_cli_report(err, 1);
	size_t i;
	json_t *p;
	json_array_foreach(list, i, p)
	{
		const char *hip = pl_cli_json_str(p, "host_ip", "");
		printf("%lld/%s -> %s:%lld\n",
		       (long long)json_integer_value(json_object_get(p, "container_port")),
		       pl_cli_json_str(p, "protocol", "tcp"), *hip ? hip : "0.0.0.0",
		       (long long)json_integer_value(json_object_get(p, "host_port")));
	}
	return 0;
}

static const flag_t ps_flags[] = {
    {"all", 'a', NULL, "show every container, not only running ones"},
    {"filter", 'f', "KEY=VALUE",
     "only those matching: label=K[=V], name=, id=, status=, ancestor=,\nnetwork=, volume=, "
     "exited=CODE (repeatable)"},
    {"help", 'h'},
    {0},
};

const command_t pl_cli_cmd_start = {"start",	   cmd_start, 1, "Start containers",
				    "start ID...", help_only};

const command_t pl_cli_cmd_stop = {"stop",
				   cmd_stop,
				   1,
				   "Stop containers (SIGTERM, then SIGKILL after a grace period)",
				   "stop [-t SECONDS] ID...",
				   (const flag_table_t[]){{NULL, stop_flags}, {0}}};

const command_t pl_cli_cmd_kill = {"kill",
				   cmd_kill,
				   1,
				   "Send a signal to containers",
				   "kill [-s SIGNAL] ID...",
				   (const flag_table_t[]){{NULL, kill_flags}, {0}}};

const command_t pl_cli_cmd_wait = {"wait",
				   cmd_wait,
				   1,
				   "Wait for containers to stop and print their exit codes",
				   "wait [--timeout SECONDS] ID...",
				   (const flag_table_t[]){{NULL, wait_flags}, {0}}};

const command_t pl_cli_cmd_rm = {"rm",
				 cmd_rm,
				 1,
				 "Remove containers",
				 "rm [-f] ID...",
				 (const flag_table_t[]){{NULL, rm_flags}, {0}}};

const command_t pl_cli_cmd_ps = {"ps",
				 cmd_ps,
				 1,
				 "List containers",
				 "ps [-a] [-f KEY=VALUE]...",
				 (const flag_table_t[]){{NULL, ps_flags}, {0}}};

const command_t pl_cli_cmd_pause = {
    "pause", cmd_pause, 1, "Freeze every process of containers", "pause ID...", help_only};

const command_t pl_cli_cmd_unpause = {"unpause",       cmd_pause, 1, "Thaw paused containers",
				      "unpause ID...", help_only};

const command_t pl_cli_cmd_update = {
    "update",
    cmd_update,
    1,
    "Change the resource limits of containers, running or not",
    "update [OPTIONS] ID...",
    (const flag_table_t[]){{NULL, help_flag}, {NULL, pl_cli_resource_flags}, {0}}};

const command_t pl_cli_cmd_rename = {
    "rename", cmd_rename, 1, "Rename a container", "rename ID NEW_NAME", help_only};

const command_t pl_cli_cmd_inspect = {
    "inspect",	     cmd_inspect, 1, "Show containers' config and state as JSON",
    "inspect ID...", help_only};

/* top's parsing and help are plctl_engine.c's */
static int cmd_top(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_top(c, argc, argv);
}

const command_t pl_cli_cmd_top = {
    "top", cmd_top, 1, "List a container's processes (as seen inside it)", "top CONTAINER"};

const command_t pl_cli_cmd_port = {"port", cmd_port, 1, "List a container's published ports",
				   "port CONTAINER"};
