/* SPDX-License-Identifier: Apache-2.0 */
/* plctl exec and attach. */
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

/* ---- exec, attach ---- */

/* POST /exec/{id}/wait without a timeout; returns the exit code or < 0 with *err. An
 * "error" the exec recorded is printed. */
static int wait_exec(pl_client_t *c, const char *id, pl_error_t **err)
{
	pl_exit_status_t st;
	int r = pl_exec_wait(c, id, &st, err);
	if (st.error && *st.error)
		fprintf(stderr, "plctl: exec %.12s: %s\n", id, st.error);
	pl_exit_status_clear(&st);
	return r < 0 ? r : st.exit_code;
}

typedef struct exec_opts {
	bool interactive, tty, detach;
	const char *workdir, *user, *detach_keys, *container;
	json_t *env;
	char **args;
	int n_args;
} exec_opts_t;

static void exec_opts_done(exec_opts_t *o)
{
	json_decref(o->env);
}

enum { OPT_DETACH_KEYS = 256, OPT_NO_STDIN };

static int parse_exec_opts(const command_t *cmd, int argc, char **argv, exec_opts_t *o)
{
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, cmd, "+:");
	/* '+': stop at CONTAINER so the command keeps its own flags. */
	*o = (exec_opts_t){.env = json_array()};
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		_cleanup_error_ pl_error_t *err = NULL;
		switch (opt) {
		case 'i':
			o->interactive = true;
			break;
		case 't':
			o->tty = true;
			break;
		case 'd':
			o->detach = true;
			break;
		case 'e':
			if (pl_cli_add_env(o->env, optarg, &err) < 0)
				return pl_cli_usage_error(cmd->name, "%s",
							  err ? err->msg : "out of memory");
			break;
		case 'w':
			o->workdir = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case OPT_DETACH_KEYS:
			if (!pl_cli_valid_detach_keys(optarg))
				return pl_cli_bad_detach_keys(cmd->name, optarg);
			o->detach_keys = optarg;
			break;
		case 'h':
			pl_cli_print_usage(stdout, cmd);
			return HELP_SHOWN;
		default:
			return pl_cli_bad_flag(cmd->name, opt, argv);
		}
	}
	if (optind >= argc)
		return pl_cli_usage_error(cmd->name, "missing CONTAINER");
	o->container = argv[optind++];
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc)
		return pl_cli_usage_error(
		    cmd->name, "missing the command to run (CONTAINER -- CMD [ARGS...])");
	o->args = argv + optind;
	o->n_args = argc - optind;
	return 0;
}

/* After a refused start the exec's record says 127 (not found) or 126 (not executable). */
static int exit_code_after_failed_exec(pl_client_t *c, const char *id)
{
	_cleanup_error_ pl_error_t *err = NULL;
	pl_exec_info_t *e = pl_exec_inspect(c, id, &err);
	int code =
	    e && e->has_exit_code && e->exit_code > 0 && e->exit_code <= 255 ? e->exit_code : 1;
	pl_exec_info_free(e);
	return code;
}

static int cmd_exec(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(exec_opts_done) exec_opts_t o = {0};
	int r = parse_exec_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	_cleanup_error_ pl_error_t *err = NULL;
	for (int i = 0; i < o.n_args; i++)
		if (pl_cli_check_utf8(o.args[i], &err) < 0)
			return pl_cli_usage_error(cmd->name, "%s", err->msg);
	_cleanup_free_ const char **env = pl_cli_strv(o.env);
	_cleanup_free_ const char **args = pl_xcalloc((size_t)o.n_args + 1, sizeof(*args));
	for (int i = 0; i < o.n_args; i++)
		args[i] = o.args[i];
	pl_exec_spec_t spec = {.args = args,
			       .env = env,
			       .cwd = o.workdir,
			       .user = o.user,
			       .tty = o.tty,
			       .open_stdin = o.interactive};
	if ((o.workdir && pl_cli_check_utf8(o.workdir, &err) < 0) ||
	    (o.user && pl_cli_check_utf8(o.user, &err) < 0))
		return pl_cli_usage_error(cmd->name, "%s", err->msg);
	_cleanup_free_ char *id = NULL;
	if (pl_exec_create_from(c, o.container, &spec, NULL, &id, &err) < 0)
		return pl_cli_report(err, 1);

	if (o.detach) {
		if (pl_exec_start_detached(c, id, &err) < 0) {
			pl_cli_report(err, 0);
			return exit_code_after_failed_exec(c, id);
		}
		return 0;
	}
	const char *keys = pl_cli_session_detach_keys(o.detach_keys, o.tty);
	bool detached;
	resize_target_t t = {c, id, true};
	if (pl_cli_interact(c, &t, o.interactive, keys, &detached, &err) < 0) {
		pl_cli_report(err, 0);
		return exit_code_after_failed_exec(c, id);
	}
	if (detached)
		return 0;
	int code = wait_exec(c, id, &err);
	return code < 0 ? pl_cli_report(err, 1) : code;
}

static int cmd_attach(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, cmd, ":");
	bool no_stdin = false;
	const char *detach_keys = NULL;
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_NO_STDIN:
			no_stdin = true;
			break;
		case OPT_DETACH_KEYS:
			if (!pl_cli_valid_detach_keys(optarg))
				return pl_cli_bad_detach_keys(cmd->name, optarg);
			detach_keys = optarg;
			break;
		case 'h':
			pl_cli_print_usage(stdout, cmd);
			return 0;
		default:
			return pl_cli_bad_flag(cmd->name, opt, argv);
		}
	}
	if (argc - optind != 1)
		return pl_cli_usage_error(cmd->name, "requires exactly one container");

	/* The id (a name could be reused before the wait below) and whether it has a stdin. */
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(pl_container_info_freep) pl_container_info_t *info =
	    pl_container_inspect(c, argv[optind], &err);
	if (!info)
		return pl_cli_report(err, 1);
	const char *id = info->id ? info->id : argv[optind];
	bool tty = info->tty;
	bool in = !no_stdin && info->open_stdin;
	/* the API attaches to a container that is not running yet (for run's create, attach,
	 * start); a person attaching to a stopped one would wait for a start that never comes */
	const char *status = info->state.status;
	if (status && (!strcmp(status, "created") || !strcmp(status, "stopped"))) {
		fprintf(stderr, "plctl: container %s is not running: start it first\n",
			argv[optind]);
		return 1;
	}

	/* Without a tty, ^C and kill reach the container rather than us (docker's sig-proxy);
	 * with one, ^C is a byte on the stream. */
	sigset_t set;
	sigemptyset(&set);
	forwarder_t fwd = {0};
	if (!tty) {
		pl_cli_block_forwarded_signals(&set);
		fwd.set = set;
		if (pl_cli_forwarder_start(&fwd, c, id, &err) < 0) {
			pl_cli_report(err, 0);
			err = pl_error_free(err);
			pthread_sigmask(SIG_UNBLOCK, &set, NULL);
		}
	}
	const char *keys = pl_cli_session_detach_keys(detach_keys, tty);
	bool detached = false;
	resize_target_t t = {c, id, false};
	int code = pl_cli_interact(c, &t, in, keys, &detached, &err);
	if (code >= 0 && !detached)
		code = pl_cli_wait_container(c, id, NULL, &err);
	pl_cli_forwarder_stop(&fwd);
	if (code < 0)
		return pl_cli_report(err, 1);
	return detached ? 0 : code;
}

static const flag_t exec_flags[] = {
    {"interactive", 'i', NULL, "feed our stdin to it"},
    {"tty", 't', NULL, "give it a terminal"},
    {"detach", 'd', NULL, "start it and return"},
    {"env", 'e', "KEY=VALUE", "set an environment variable (KEY alone: take ours)"},
    {"workdir", 'w', "DIR", "working directory"},
    {"user", 'u', "UID[:GID]", "numeric user and group"},
    {"detach-keys", 0, "KEYS", "the keys that detach (default ctrl-p,ctrl-q with -t)",
     OPT_DETACH_KEYS},
    {"help", 'h'},
    {0},
};

const command_t pl_cli_cmd_exec = {
    "exec",
    cmd_exec,
    1,
    "Run a command in a running container",
    "exec [OPTIONS] CONTAINER [--] CMD [ARGS...]\n\n"
    "Run CMD in the running CONTAINER, print its output and exit with its exit code.",
    (const flag_table_t[]){{NULL, exec_flags}, {0}}};

static const flag_t attach_flags[] = {
    {"no-stdin", 0, NULL, "do not feed our stdin to it", OPT_NO_STDIN},
    {"detach-keys", 0, "KEYS", "the keys that detach (default ctrl-p,ctrl-q with a tty)",
     OPT_DETACH_KEYS},
    {"help", 'h'},
    {0},
};

const command_t pl_cli_cmd_attach = {
    "attach",
    cmd_attach,
    1,
    "Attach our terminal to a running container",
    "attach [OPTIONS] CONTAINER\n\n"
    "Join our stdin, stdout and stderr to the container's process; exit with its exit\n"
    "code when it ends, or 0 after the detach keys.",
    (const flag_table_t[]){{NULL, attach_flags}, {0}}};
