/* SPDX-License-Identifier: Apache-2.0 */
/* plctl volume: create, ls, inspect, rm. */
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

static json_t *volume_raw(pl_client_t *c, const char *name, pl_error_t **err)
{
	pl_volume_info_t *v = pl_volume_inspect(c, name, err);
	json_t *raw = v ? json_incref(v->raw ? v->raw : json_null()) : NULL;
	pl_volume_info_free(v);
	return raw;
}

static const pl_cli_named_ops_t volume_ops = {volume_raw, pl_volume_remove};

/* --label's object as the client's "key=value" strings (malloc'd, NULL-terminated). */
static char **label_strings(json_t *labels)
{
	char **v = pl_xcalloc(json_object_size(labels) + 1, sizeof(*v));
	size_t n = 0;
	const char *k;
	json_t *val;
	json_object_foreach(labels, k, val) v[n++] =
	    pl_xasprintf("%s=%s", k, json_string_value(val) ? json_string_value(val) : "");
	return v;
}

static int volume_create(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *body = json_object();
	pl_cli_sub_opts_t o = {.body = body};
	int r = pl_cli_sub_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (argc - optind > 1)
		return pl_cli_usage_error("volume create", "want at most one NAME");
	_cleanup_error_ pl_error_t *err = NULL;
	const char *name = optind < argc ? argv[optind] : NULL;
	if (name && pl_cli_check_utf8(name, &err) < 0)
		return pl_cli_report(err, EXIT_USAGE);
	char **labels = label_strings(json_object_get(body, "labels"));
	pl_volume_info_t *v = pl_volume_create(c, name, (const char *const *)labels, &err);
	pl_strv_free(labels);
	if (!v)
		return pl_cli_report(err, 1);
	puts(v->name ? v->name : "?");
	pl_volume_info_free(v);
	return 0;
}
static int compare_volumes(const void *a, const void *b)
{
	return strcmp(pl_cli_json_str(*(json_t *const *)a, "name", ""),
		      pl_cli_json_str(*(json_t *const *)b, "name", ""));
}

static int volume_ls(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	pl_cli_sub_opts_t o = {0};
	int r = pl_cli_sub_opts(cmd, argc, argv, &o);
	bool quiet = o.quiet;
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind < argc)
		return pl_cli_usage_error("volume ls", "unexpected argument '%s'", argv[optind]);
	_cleanup_error_ pl_error_t *err = NULL;
	pl_volume_info_t **infos = NULL;
	size_t n_infos = 0;
	if (pl_volume_list(c, &infos, &n_infos, &err) < 0)
		return pl_cli_report(err, 1);
	_cleanup_(json_decrefp) json_t *list = json_array();
	for (size_t k = 0; k < n_infos; k++)
		json_array_append(list, infos[k]->raw ? infos[k]->raw : json_null());
	pl_volume_infos_free(infos, n_infos);
	size_t n = json_array_size(list), i;
	json_t **rows = pl_xcalloc(n ? n : 1, sizeof(*rows));
	for (i = 0; i < n; i++)
		rows[i] = json_array_get(list, i);
	qsort(rows, n, sizeof(*rows), compare_volumes);
	if (quiet) {
		for (i = 0; i < n; i++)
			puts(pl_cli_json_str(rows[i], "name", "?"));
		free(rows);
		return 0;
	}
	char **cells = pl_xcalloc((n + 1) * 2, sizeof(char *));
	cells[0] = pl_xstrdup("DRIVER");
	cells[1] = pl_xstrdup("VOLUME NAME");
	for (i = 0; i < n; i++) {
		cells[(i + 1) * 2] = pl_xstrdup(pl_cli_json_str(rows[i], "driver", "local"));
		cells[(i + 1) * 2 + 1] = pl_xstrdup(pl_cli_json_str(rows[i], "name", "?"));
	}
	pl_cli_print_table_free(cells, n + 1, 2);
	free(rows);
	return 0;
}

static int volume_inspect(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_each_named(cmd, c, argc, argv, "volume inspect", "volume", &volume_ops,
				 false);
}

static int volume_rm(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_each_named(cmd, c, argc, argv, "volume rm", "volume", &volume_ops, true);
}

static int cmd_volume(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_dispatch_sub(cmd, c, argc, argv);
}

static const flag_t create_flags[] = {
    {"label", 0, "KEY[=VALUE]", "set a label (repeatable)", PL_CLI_OPT_LABEL},
    {"help", 'h'},
    {0},
};
static const flag_t ls_flags[] = {{"quiet", 'q', NULL, "only the names"}, {"help", 'h'}, {0}};
static const flag_t rm_flags[] = {
    {"force", 'f', NULL, "refuse only while a running container uses it"},
    {"help", 'h'},
    {0},
};
static const flag_t help_flag[] = {{"help", 'h'}, {0}};

static const command_t volume_create_cmd = {
    "create",
    volume_create,
    1,
    "create a volume (a generated name without NAME);\nprints its name",
    "volume create [--label K=V] [NAME]",
    (const flag_table_t[]){{NULL, create_flags}, {0}}};
static const command_t volume_ls_cmd = {"ls",
					volume_ls,
					1,
					"list volumes (-q: names only)",
					"volume ls [-q]",
					(const flag_table_t[]){{NULL, ls_flags}, {0}}};
static const command_t volume_list_cmd = {
    "list", volume_ls, 1, NULL, "volume list [-q]", (const flag_table_t[]){{NULL, ls_flags}, {0}}};
static const command_t volume_inspect_cmd = {"inspect",
					     volume_inspect,
					     1,
					     "show volumes as JSON",
					     "volume inspect NAME...",
					     (const flag_table_t[]){{NULL, help_flag}, {0}}};
static const command_t volume_rm_cmd = {
    "rm",
    volume_rm,
    1,
    "remove volumes; refused while a container uses one\n(-f: only while a running one does)",
    "volume rm [-f] NAME...",
    (const flag_table_t[]){{NULL, rm_flags}, {0}}};
static const command_t volume_remove_cmd = {"remove",
					    volume_rm,
					    1,
					    NULL,
					    "volume remove [-f] NAME...",
					    (const flag_table_t[]){{NULL, rm_flags}, {0}}};

const command_t pl_cli_cmd_volume = {
    "volume",
    cmd_volume,
    1,
    "Manage volumes: create, ls, inspect, rm",
    "volume COMMAND",
    NULL,
    (const command_t *const[]){&volume_create_cmd, &volume_ls_cmd, &volume_list_cmd,
			       &volume_inspect_cmd, &volume_rm_cmd, &volume_remove_cmd, NULL}};
