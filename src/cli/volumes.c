/* plctl volume: create, ls, inspect, rm. */
#include "cli/cli.h"
#include "cli/plctl_archive.h"
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

static int volume_create(pl_client_t *c, int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *body = json_object();
	int r = pl_cli_group_opts("volume create", argc, argv, "create [--label K=V] [NAME]", NULL,
				  NULL, body);
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

static int volume_ls(pl_client_t *c, int argc, char **argv)
{
	bool quiet = false;
	int r = pl_cli_group_opts("volume ls", argc, argv, "ls [-q]", &quiet, NULL, NULL);
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
	pl_cli_print_table(cells, n + 1, 2);
	for (i = 0; i < (n + 1) * 2; i++)
		free(cells[i]);
	free(cells);
	free(rows);
	return 0;
}

static int volume_inspect(pl_client_t *c, int argc, char **argv)
{
	int r =
	    pl_cli_group_opts("volume inspect", argc, argv, "inspect NAME...", NULL, NULL, NULL);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind >= argc)
		return pl_cli_usage_error("volume inspect", "requires at least one volume");
	return pl_cli_inspect_each(c, argc, argv, volume_path);
}

static int volume_rm(pl_client_t *c, int argc, char **argv)
{
	bool force = false;
	int r = pl_cli_group_opts("volume rm", argc, argv, "rm [-f] NAME...", NULL, &force, NULL);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind >= argc)
		return pl_cli_usage_error("volume rm", "requires at least one volume");
	return pl_cli_delete_each(c, argc, argv, volume_path, force);
}

static const subcommand_t volume_commands[] = {
    {"create", volume_create},	 {"ls", volume_ls}, {"list", volume_ls},
    {"inspect", volume_inspect}, {"rm", volume_rm}, {"remove", volume_rm},
};

static int cmd_volume(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_dispatch_sub(cmd, volume_commands, PL_ARRAY_SIZE(volume_commands), c, argc,
				   argv);
}

const command_t pl_cli_cmd_volume = {
    "volume", cmd_volume, 1, "Manage volumes: create, ls, inspect, rm",
    "volume COMMAND\n\n"
    "  create [--label K=V] [NAME]   create a volume (a generated name without NAME);\n"
    "                                prints its name\n"
    "  ls [-q]                       list volumes (-q: names only)\n"
    "  inspect NAME...               show volumes as JSON\n"
    "  rm [-f] NAME...               remove volumes; refused while a container uses one\n"
    "                                (-f: only while a running one does)\n"};
