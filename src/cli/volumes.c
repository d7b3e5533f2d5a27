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

static char *volume_path(pl_client_t *c, const char *name)
{
	_cleanup_free_ char *esc = pl_client_escape(c, name);
	return pl_xasprintf("/volumes/%s", esc);
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
	if (optind < argc && pl_cli_add_string(body, "name", argv[optind], &err) < 0)
		return pl_cli_report(err, EXIT_USAGE);
	_cleanup_(json_decrefp) json_t *resp = NULL;
	if (pl_client_request(c, "POST", "/volumes", body, NULL, &resp, &err) < 0)
		return pl_cli_report(err, 1);
	const char *name = json_string_value(json_object_get(resp, "name"));
	puts(name ? name : "?");
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
	_cleanup_(json_decrefp) json_t *list = NULL;
	if (pl_client_request(c, "GET", "/volumes", NULL, NULL, &list, &err) < 0)
		return pl_cli_report(err, 1);
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
	return pl_cli_each_named(cmd, c, argc, argv, "volume inspect", "volume", volume_path,
				 false);
}

static int volume_rm(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_each_named(cmd, c, argc, argv, "volume rm", "volume", volume_path, true);
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
