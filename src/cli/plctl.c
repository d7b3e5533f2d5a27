/* SPDX-License-Identifier: Apache-2.0 */
/* plctl: the operator CLI over the port layer API. CLI logic only; HTTP, JSON transport and
 * the log stream framing live in the client library. Exit codes follow docker: 125 when run
 * or create fails before the container runs, the container's own code after it ran, 1 for
 * other daemon errors, 2 for usage errors. This file is the entry point and the list of
 * commands; each command group lives in its own file (cli.h says which). */
#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* Every command, in the order of the help; each is defined with its flags and help in its
 * group's file. */
static const command_t *const commands[] = {
    &pl_cli_cmd_run,	&pl_cli_cmd_create,  &pl_cli_cmd_start,	  &pl_cli_cmd_exec,
    &pl_cli_cmd_attach, &pl_cli_cmd_stop,    &pl_cli_cmd_kill,	  &pl_cli_cmd_wait,
    &pl_cli_cmd_rm,	&pl_cli_cmd_ps,	     &pl_cli_cmd_pause,	  &pl_cli_cmd_unpause,
    &pl_cli_cmd_update, &pl_cli_cmd_rename,  &pl_cli_cmd_stats,	  &pl_cli_cmd_inspect,
    &pl_cli_cmd_top,	&pl_cli_cmd_kv,	     &pl_cli_cmd_logs,	  &pl_cli_cmd_events,
    &pl_cli_cmd_cp,	&pl_cli_cmd_diff,    &pl_cli_cmd_export,  &pl_cli_cmd_commit,
    &pl_cli_cmd_image,	&pl_cli_cmd_volume,  &pl_cli_cmd_network, &pl_cli_cmd_port,
    &pl_cli_cmd_info,	&pl_cli_cmd_version,
};

static const command_t *find_command(const char *name)
{
	for (size_t i = 0; i < PL_ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

static void main_usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: plctl [-H HOST] COMMAND [ARGS...]\n\n"
	    "Operator CLI for the port layer.\n\n"
	    "Options:\n"
	    "  -H, --host HOST   daemon socket, unix:///path or /path (default: $PORTLAYER_HOST,\n"
	    "                    else %s)\n"
	    "  --help            show this help\n"
	    "  --version         show the client version\n\n"
	    "Commands:\n",
	    PL_CLIENT_DEFAULT_HOST);
	for (size_t i = 0; i < PL_ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-9s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "  %-9s %s\n", "help", "Show this help, or a command's");
	fprintf(f, "\nRun 'plctl help COMMAND' for a command's options.\n");
}

char **pl_cli_main_argv;

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"host", required_argument, NULL, 'H'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'v'},
	    {0},
	};
	const char *host = getenv("PORTLAYER_HOST");
	int opt;
	pl_cli_main_argv = argv;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:H:hv", longopts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			host = optarg;
			break;
		case 'h':
			main_usage(stdout);
			return 0;
		case 'v':
			printf("plctl version %s\n", PL_VERSION);
			return 0;
		default:
			return pl_cli_bad_flag(NULL, opt, argv);
		}
	}
	if (optind >= argc) {
		main_usage(stderr);
		return EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;

	if (strcmp(argv[0], "help") == 0) {
		if (argc < 2) {
			main_usage(stdout);
			return 0;
		}
		const command_t *topic = find_command(argv[1]);
		if (!topic)
			return pl_cli_usage_error(NULL, "unknown command '%s'", argv[1]);
		pl_cli_print_usage(stdout, topic);
		return 0;
	}
	const command_t *cmd = find_command(argv[0]);
	if (!cmd)
		return pl_cli_usage_error(NULL, "unknown command '%s'", argv[0]);

	/* The stdin feeder thread may parse JSON error bodies: seed the hash before any thread,
	 * with one getrandom (json_object_seed(0) opens and reads /dev/urandom). */
	uint32_t seed = 0;
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed))
		seed = 0;
	json_object_seed(seed);
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_client_ pl_client_t *c = pl_client_new(host, &err);
	if (!c)
		return pl_cli_report(err, cmd->fail_code);
	return cmd->fn(cmd, c, argc, argv);
}
