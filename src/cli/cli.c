/* SPDX-License-Identifier: Apache-2.0 */
/* plctl: what the command groups share (cli.h). */
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

/* Prints "plctl: <msg>" for a failed call and returns code. */
int pl_cli_report(pl_error_t *e, int code)
{
	fprintf(stderr, "plctl: %s\n", e && e->msg ? e->msg : "unknown error");
	return code;
}

int pl_cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "plctl%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nSee 'plctl %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
	return EXIT_USAGE;
}

/* getopt_long (with opterr = 0 and a leading ':') returned '?' or ':'. */
int pl_cli_bad_flag(const char *cmd, int opt, char **argv)
{
	char shortflag[3] = {'-', (char)optopt, '\0'};
	const char *flag = argv[optind - 1];
	if (optopt && strncmp(flag, "--", 2) != 0)
		flag = shortflag;
	if (opt == ':')
		return pl_cli_usage_error(cmd, "flag '%s' needs an argument", flag);
	return pl_cli_usage_error(cmd, "unknown flag '%s'", flag);
}

/* "  -m, --memory SIZE" */
static int flag_left(char *buf, size_t size, const flag_t *f)
{
	const char *sp = f->arg ? " " : "", *arg = f->arg ? f->arg : "";
	if (f->short_opt)
		return snprintf(buf, size, "  -%c, --%s%s%s", f->short_opt, f->name, sp, arg);
	return snprintf(buf, size, "  --%s%s%s", f->name, sp, arg);
}

/* The help column starts three spaces after the widest item, at FLAG_COL_MAX at most; an
 * item as wide or wider has its help two spaces on (or, with wide_below, on the next line). */
#define FLAG_COL_MAX 30
#define SUB_COL_MAX  32

/* One "left   help" item; help's "\n" continue in the help column, a leading one starts
 * it on the next line. */
static void print_item(FILE *f, const char *left, const char *help, int col, bool wide_below)
{
	const char *last = strrchr(left, '\n');
	int w = (int)strlen(last ? last + 1 : left);
	fputs(left, f);
	if (*help == '\n' || (wide_below && w >= col)) {
		fprintf(f, "\n%*s", col, "");
		help += *help == '\n';
	} else {
		fprintf(f, "%*s", w >= col ? 2 : col - w, "");
	}
	for (const char *nl; (nl = strchr(help, '\n')); help = nl + 1)
		fprintf(f, "%.*s\n%*s", (int)(nl - help), help, col, "");
	fprintf(f, "%s\n", help);
}

static int column(int widest, int max)
{
	return widest + 3 < max ? widest + 3 : max;
}

/* "  ls [-q]": a subcommand's synopsis (its usage up to a blank line) without its group's
 * name. */
static int sub_left(char *buf, size_t size, const command_t *sub)
{
	const char *sp = strchr(sub->usage, ' '), *syn = sp ? sp + 1 : sub->usage;
	const char *end = strstr(syn, "\n\n");
	return snprintf(buf, size, "  %.*s", (int)(end ? end - syn : (ptrdiff_t)strlen(syn)), syn);
}

void pl_cli_print_usage(FILE *f, const command_t *cmd)
{
	size_t n = strlen(cmd->usage);
	while (n > 0 && cmd->usage[n - 1] == '\n')
		n--;
	fprintf(f, "Usage: plctl %.*s\n", (int)n, cmd->usage);
	int widest = 0;
	char left[256];
	for (const flag_table_t *t = cmd->flags; t && t->flags; t++)
		for (const flag_t *fl = t->flags; fl->name; fl++) {
			int w = flag_left(left, sizeof(left), fl);
			if (fl->help && w > widest)
				widest = w;
		}
	int col = column(widest, FLAG_COL_MAX);
	bool first = true;
	for (const flag_table_t *t = cmd->flags; t && t->flags; t++) {
		bool heading = t->heading != NULL;
		for (const flag_t *fl = t->flags; fl->name; fl++) {
			if (!fl->help)
				continue;
			if (first)
				fputc('\n', f);
			first = false;
			if (heading)
				fprintf(f, "\n%s:\n", t->heading);
			heading = false;
			flag_left(left, sizeof(left), fl);
			print_item(f, left, fl->help, col, false);
		}
	}
	widest = 0;
	for (const command_t *const *sub = cmd->subs; sub && *sub; sub++) {
		int w = sub_left(left, sizeof(left), *sub);
		if ((*sub)->summary && !strchr(left, '\n') && w + 3 <= SUB_COL_MAX && w > widest)
			widest = w;
	}
	col = column(widest, SUB_COL_MAX);
	first = true;
	for (const command_t *const *sub = cmd->subs; sub && *sub; sub++) {
		if (!(*sub)->summary)
			continue;
		if (first)
			fputc('\n', f);
		first = false;
		sub_left(left, sizeof(left), *sub);
		print_item(f, left, (*sub)->summary, col, true);
	}
	if (cmd->notes)
		fprintf(f, "\n%s\n", cmd->notes);
}

int pl_cli_print_json(json_t *j)
{
	_cleanup_free_ char *text = json_dumps(j, JSON_INDENT(4) | JSON_ENCODE_ANY);
	if (!text)
		return -ENOMEM;
	puts(text);
	return 0;
}

/* Sets obj[key] (or appends to an array when key is NULL) to s; JSON strings must be
 * UTF-8, so anything else is bad input rather than a silently dropped field. */
int pl_cli_add_string(json_t *to, const char *key, const char *s, pl_error_t **err)
{
	json_t *v = json_string(s);
	if (!v)
		return pl_error_set(err, PL_ERR_INVALID, 0, "'%s' is not valid UTF-8", s);
	if (key)
		return json_object_set_new(to, key, v) < 0 ? -ENOMEM : 0;
	return json_array_append_new(to, v) < 0 ? -ENOMEM : 0;
}

int pl_cli_check_utf8(const char *s, pl_error_t **err)
{
	json_t *v = json_string(s);
	if (!v)
		return pl_error_set(err, PL_ERR_INVALID, 0, "'%s' is not valid UTF-8", s);
	json_decref(v);
	return 0;
}

const char **pl_cli_strv(json_t *array)
{
	size_t n = json_array_size(array);
	if (n == 0)
		return NULL;
	const char **v = pl_xcalloc(n + 1, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = json_string_value(json_array_get(array, i));
	return v;
}

/* Appends -e's KEY=VALUE to env; docker's "-e NAME" takes the value from our environment
 * (and adds nothing when we have none). */
int pl_cli_add_env(json_t *env, const char *arg, pl_error_t **err)
{
	_cleanup_free_ char *kv = NULL;
	if (!strchr(arg, '=')) {
		const char *val = getenv(arg);
		if (!val)
			return 0;
		kv = pl_xasprintf("%s=%s", arg, val);
	}
	return pl_cli_add_string(env, NULL, kv ? kv : arg, err);
}

/* "5 seconds ago" from an RFC 3339 time; the raw string if it does not parse. */
char *pl_cli_ago(const char *when)
{
	int64_t ns;
	if (!when || pl_time_parse(when, &ns) < 0)
		return pl_xstrdup(when ? when : "");
	int64_t s = (pl_now_ns() - ns) / 1000000000LL;
	if (s < 0)
		s = 0;
	static const struct {
		int64_t secs;
		const char *unit;
	} units[] = {{86400, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"}};
	for (size_t i = 0; i < PL_ARRAY_SIZE(units); i++)
		if (s >= units[i].secs || units[i].secs == 1) {
			int64_t n = s / units[i].secs;
			return pl_xasprintf("%lld %s%s ago", (long long)n, units[i].unit,
					    n == 1 ? "" : "s");
		}
	return pl_xstrdup(when);
}

/* Prints rows of cols cells, every column as wide as its widest cell. */
void pl_cli_print_table(char **cells, size_t rows, size_t cols)
{
	size_t *width = pl_xcalloc(cols, sizeof(*width));
	for (size_t r = 0; r < rows; r++)
		for (size_t col = 0; col < cols; col++)
			if (strlen(cells[r * cols + col]) > width[col])
				width[col] = strlen(cells[r * cols + col]);
	for (size_t r = 0; r < rows; r++) {
		for (size_t col = 0; col < cols; col++) {
			const char *cell = cells[r * cols + col];
			if (col + 1 < cols)
				printf("%-*s   ", (int)width[col], cell);
			else
				printf("%s\n", cell);
		}
	}
	free(width);
}

void pl_cli_print_table_free(char **cells, size_t rows, size_t cols)
{
	pl_cli_print_table(cells, rows, cols);
	for (size_t k = 0; k < rows * cols; k++)
		free(cells[k]);
	free(cells);
}

/* docker's sizes: 4 significant digits in binary units for memory (go-units BytesSize), 3 in
 * decimal units for I/O (HumanSize). */
char *pl_cli_human_size(double n, bool binary)
{
	static const char *const bin[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	static const char *const dec[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
	double base = binary ? 1024 : 1000;
	size_t i = 0;
	while (n >= base && i + 1 < PL_ARRAY_SIZE(bin)) {
		n /= base;
		i++;
	}
	return binary ? pl_xasprintf("%.4g%s", n, bin[i]) : pl_xasprintf("%.3g%s", n, dec[i]);
}

/* GETs each named object and prints them as one JSON array (image, volume and network
 * inspect). */
int pl_cli_inspect_each(pl_client_t *c, int argc, char **argv, const pl_cli_named_ops_t *ops)
{
	_cleanup_(json_decrefp) json_t *all = json_array();
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		_cleanup_error_ pl_error_t *err = NULL;
		json_t *one = ops->inspect(c, argv[i], &err);
		if (!one) {
			rc = pl_cli_report(err, 1);
			continue;
		}
		json_array_append_new(all, one);
	}
	pl_cli_print_json(all);
	return rc;
}

/* DELETEs each named object (with ?force=1 when force) and prints the names removed (image,
 * volume and network rm). */
int pl_cli_delete_each(pl_client_t *c, int argc, char **argv, const pl_cli_named_ops_t *ops,
		       bool force)
{
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		_cleanup_error_ pl_error_t *err = NULL;
		if (ops->remove(c, argv[i], force, &err) < 0) {
			rc = pl_cli_report(err, 1);
			continue;
		}
		puts(argv[i]);
	}
	return rc;
}

int pl_cli_each_named(const command_t *cmd, pl_client_t *c, int argc, char **argv, const char *name,
		      const char *what, const pl_cli_named_ops_t *ops, bool remove)
{
	pl_cli_sub_opts_t o = {0};
	int r = pl_cli_sub_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind >= argc)
		return pl_cli_usage_error(name, "requires at least one %s", what);
	if (remove)
		return pl_cli_delete_each(c, argc, argv, ops, o.force);
	return pl_cli_inspect_each(c, argc, argv, ops);
}

int pl_cli_dispatch_sub(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	if (argc < 2) {
		pl_cli_print_usage(stderr, cmd);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		pl_cli_print_usage(stdout, cmd);
		return 0;
	}
	for (const command_t *const *sub = cmd->subs; *sub; sub++)
		if (strcmp(argv[1], (*sub)->name) == 0)
			return (*sub)->fn(*sub, c, argc - 1, argv + 1);
	return pl_cli_usage_error(cmd->name, "unknown command '%s'", argv[1]);
}

int pl_cli_sub_opts(const command_t *cmd, int argc, char **argv, pl_cli_sub_opts_t *o)
{
	static const flag_t label_flag = {"label", 0,	     "KEY[=VALUE]",   NULL,
					  0,	   "labels", pl_cli_set_label};
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, cmd, ":");
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		_cleanup_error_ pl_error_t *err = NULL;
		switch (opt) {
		case 'h':
			pl_cli_print_usage(stdout, cmd);
			return HELP_SHOWN;
		case 'q':
			o->quiet = true;
			break;
		case 'f':
			o->force = true;
			break;
		case PL_CLI_OPT_LABEL:
			if (pl_cli_set_label(o->body, &label_flag, optarg, &err) < 0)
				return pl_cli_report(err, EXIT_USAGE);
			break;
		default: {
			/* "image ls": the group's name and the subcommand's */
			const char *sp = strchr(cmd->usage, ' ');
			const char *end = sp ? strchr(sp + 1, ' ') : NULL;
			_cleanup_free_ char *name =
			    end ? strndup(cmd->usage, (size_t)(end - cmd->usage)) : NULL;
			return pl_cli_bad_flag(name ? name : cmd->name, opt, argv);
		}
		}
	}
	return 0;
}

const char *pl_cli_json_str(json_t *v, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(v, key));
	return s ? s : dflt;
}

/* By name. */
