/* SPDX-License-Identifier: Apache-2.0 */
/* plctl info and version. */
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

static int no_args(const command_t *cmd, int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		pl_cli_print_usage(stdout, cmd);
		return HELP_SHOWN;
	}
	if (argc > 1)
		return argv[1][0] == '-'
			   ? pl_cli_usage_error(cmd->name, "unknown flag '%s'", argv[1])
			   : pl_cli_usage_error(cmd->name, "unexpected argument '%s'", argv[1]);
	return 0;
}

static int cmd_info(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	int r = no_args(cmd, argc, argv);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	_cleanup_error_ pl_error_t *err = NULL;
	pl_system_info_t *info = pl_system_info(c, &err);
	if (!info)
		return pl_cli_report(err, 1);
	pl_cli_print_json(info->raw);
	pl_system_info_free(info);
	return 0;
}

static int cmd_version(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	int r = no_args(cmd, argc, argv);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	printf("Client:\n Version:      %s\n API version:  %s\n", PL_VERSION,
	       PL_CLIENT_API_PREFIX + 2);
	fflush(stdout);
	_cleanup_error_ pl_error_t *err = NULL;
	pl_system_info_t *info = pl_system_info(c, &err);
	if (!info)
		return pl_cli_report(err, 1);
	const char *min = json_string_value(json_object_get(info->raw, "min_api_version"));
	printf("\nServer:\n Version:      %s\n API version:  %s (minimum %s)\n",
	       info->version ? info->version : "unknown",
	       info->api_version ? info->api_version : "unknown", min ? min : "unknown");
	pl_system_info_free(info);
	return 0;
}

const command_t pl_cli_cmd_info = {"info", cmd_info, 1, "Show daemon information as JSON", "info"};

const command_t pl_cli_cmd_version = {"version", cmd_version, 1,
				      "Show the client and daemon versions", "version"};

/* kv's parsing and help are plctl_engine.c's */
static int cmd_kv(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_kv(c, argc, argv);
}

const command_t pl_cli_cmd_kv = {
    "kv", cmd_kv, 1, "Get, put, remove and list keys of the key-value store",
    "kv get KEY | kv put [--if-match REV] KEY VALUE|- | kv rm [--if-match REV] KEY | "
    "kv ls [PREFIX]"};
