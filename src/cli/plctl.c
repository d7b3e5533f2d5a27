/* plctl: the operator CLI over the port layer API. CLI logic only; HTTP, JSON transport and
 * the log stream framing live in the client library. Exit codes follow docker: 125 when run
 * or create fails before the container runs, the container's own code after it ran, 1 for
 * other daemon errors, 2 for usage errors. */
#include "client/client.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PL_VERSION
#define PL_VERSION "unknown"
#endif

#define EXIT_USAGE     2
#define EXIT_RUN_ERROR 125
/* What option parsers return after printing --help: the command is done, exit 0. */
#define HELP_SHOWN -1

typedef struct command {
	const char *name;
	int (*fn)(const struct command *cmd, pl_client_t *c, int argc, char **argv);
	int fail_code; /* exit code when the daemon cannot be reached at all */
	const char *summary;
	const char *usage;
} command_t;

/* Prints "plctl: <msg>" for a failed call and returns code. */
static int report(pl_error_t *e, int code)
{
	fprintf(stderr, "plctl: %s\n", e && e->msg ? e->msg : "unknown error");
	return code;
}

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *cmd, const char *fmt, ...)
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
static int bad_flag(const char *cmd, int opt, char **argv)
{
	char shortflag[3] = {'-', (char)optopt, '\0'};
	const char *flag = argv[optind - 1];
	if (optopt && strncmp(flag, "--", 2) != 0)
		flag = shortflag;
	if (opt == ':')
		return usage_error(cmd, "flag '%s' needs an argument", flag);
	return usage_error(cmd, "unknown flag '%s'", flag);
}

static void print_usage(FILE *f, const command_t *cmd)
{
	size_t n = strlen(cmd->usage);
	while (n > 0 && cmd->usage[n - 1] == '\n')
		n--;
	fprintf(f, "Usage: plctl %.*s\n", (int)n, cmd->usage);
}

/* "/containers/<escaped id><suffix>", malloc'd. */
static char *container_path(pl_client_t *c, const char *id, const char *suffix)
{
	_cleanup_free_ char *esc = pl_client_escape(c, id);
	return pl_xasprintf("/containers/%s%s", esc, suffix ? suffix : "");
}

/* Appends "?key=value" or "&key=value" (value escaped) to *path. */
static void add_query(pl_client_t *c, char **path, const char *key, const char *value)
{
	_cleanup_free_ char *esc = pl_client_escape(c, value);
	char *next = pl_xasprintf("%s%c%s=%s", *path, strchr(*path, '?') ? '&' : '?', key, esc);
	free(*path);
	*path = next;
}

static int print_json(json_t *j)
{
	_cleanup_free_ char *text = json_dumps(j, JSON_INDENT(4) | JSON_ENCODE_ANY);
	if (!text)
		return -ENOMEM;
	puts(text);
	return 0;
}

/* Sets obj[key] (or appends to an array when key is NULL) to s; JSON strings must be
 * UTF-8, so anything else is bad input rather than a silently dropped field. */
static int add_string(json_t *to, const char *key, const char *s, pl_error_t **err)
{
	json_t *v = json_string(s);
	if (!v)
		return pl_error_set(err, PL_ERR_INVALID, 0, "'%s' is not valid UTF-8", s);
	if (key)
		return json_object_set_new(to, key, v) < 0 ? -ENOMEM : 0;
	return json_array_append_new(to, v) < 0 ? -ENOMEM : 0;
}

/* ---- run / create ---- */

typedef struct run_opts {
	bool rm, detach;
	const char *name, *workdir, *user, *hostname, *kernel, *rootfs;
	json_t *env; /* array of "K=V" */
	char **args; /* the command, borrowed from argv */
	int n_args;
} run_opts_t;

static void run_opts_done(run_opts_t *o)
{
	json_decref(o->env);
}

/* Parses [flags] ROOTFS [--] CMD [ARGS...]. Returns 0, HELP_SHOWN, or the exit code of a
 * usage error. */
static int parse_run_opts(const command_t *cmd, int argc, char **argv, run_opts_t *o)
{
	bool is_run = strcmp(cmd->name, "run") == 0;
	enum { OPT_RM = 256, OPT_NAME, OPT_KERNEL, OPT_HELP };
	static const struct option longopts[] = {
	    {"rm", no_argument, NULL, OPT_RM},
	    {"detach", no_argument, NULL, 'd'},
	    {"name", required_argument, NULL, OPT_NAME},
	    {"env", required_argument, NULL, 'e'},
	    {"workdir", required_argument, NULL, 'w'},
	    {"user", required_argument, NULL, 'u'},
	    {"hostname", required_argument, NULL, 'h'},
	    {"kernel", required_argument, NULL, OPT_KERNEL},
	    {"help", no_argument, NULL, OPT_HELP},
	    {0},
	};
	*o = (run_opts_t){.env = json_array()};
	int opt;
	optind = 0;
	opterr = 0;
	/* '+': stop at ROOTFS so the container's command keeps its own flags. */
	while ((opt = getopt_long(argc, argv, "+:de:w:u:h:", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_RM:
		case 'd':
			if (!is_run)
				return bad_flag(cmd->name, '?', argv);
			if (opt == 'd')
				o->detach = true;
			else
				o->rm = true;
			break;
		case OPT_NAME:
			o->name = optarg;
			break;
		case 'e': {
			_cleanup_error_ pl_error_t *err = NULL;
			_cleanup_free_ char *kv = NULL;
			const char *val;
			/* docker's "-e NAME": the value comes from our environment. */
			if (!strchr(optarg, '=')) {
				if (!(val = getenv(optarg)))
					break;
				kv = pl_xasprintf("%s=%s", optarg, val);
			}
			if (add_string(o->env, NULL, kv ? kv : optarg, &err) < 0)
				return usage_error(cmd->name, "%s",
						   err ? err->msg : "out of memory");
			break;
		}
		case 'w':
			o->workdir = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'h':
			o->hostname = optarg;
			break;
		case OPT_KERNEL:
			o->kernel = optarg;
			break;
		case OPT_HELP:
			print_usage(stdout, cmd);
			return HELP_SHOWN;
		default:
			return bad_flag(cmd->name, opt, argv);
		}
	}
	if (optind >= argc)
		return usage_error(cmd->name, "missing ROOTFS");
	o->rootfs = argv[optind++];
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc)
		return usage_error(cmd->name,
				   "missing the command to run (ROOTFS -- CMD [ARGS...])");
	o->args = argv + optind;
	o->n_args = argc - optind;
	if (o->rm && o->detach)
		return usage_error(cmd->name,
				   "--rm cannot be combined with -d: the port layer does "
				   "not remove containers on exit by itself");
	return 0;
}

/* The ContainerCreate body. A relative ROOTFS is resolved here, against our cwd: the
 * daemon's cwd means nothing to the operator. */
static json_t *create_body(const run_opts_t *o, pl_error_t **err)
{
	_cleanup_(json_decrefp) json_t *body = json_object();
	json_t *process = json_object();
	json_t *args = json_array();
	json_object_set_new(body, "process", process);
	json_object_set_new(process, "args", args);

	_cleanup_free_ char *rootfs = NULL;
	if (o->rootfs[0] != '/') {
		rootfs = realpath(o->rootfs, NULL);
		if (!rootfs) {
			pl_error_errno(err, "rootfs %s", o->rootfs);
			return NULL;
		}
	}
	if (add_string(body, "rootfs", rootfs ? rootfs : o->rootfs, err) < 0)
		return NULL;
	for (int i = 0; i < o->n_args; i++)
		if (add_string(args, NULL, o->args[i], err) < 0)
			return NULL;
	if (json_array_size(o->env) > 0)
		json_object_set(process, "env", o->env);
	if ((o->workdir && add_string(process, "cwd", o->workdir, err) < 0) ||
	    (o->user && add_string(process, "user", o->user, err) < 0) ||
	    (o->name && add_string(body, "name", o->name, err) < 0) ||
	    (o->hostname && add_string(body, "hostname", o->hostname, err) < 0))
		return NULL;
	if (o->kernel) {
		json_t *isolation = json_object();
		json_object_set_new(body, "isolation", isolation);
		if (add_string(isolation, "kernel", o->kernel, err) < 0)
			return NULL;
	}
	return TAKE_PTR(body);
}

/* POST /containers; returns the new id (malloc'd). */
static char *create_container(pl_client_t *c, const run_opts_t *o, pl_error_t **err)
{
	_cleanup_(json_decrefp) json_t *body = create_body(o, err);
	if (!body)
		return NULL;
	_cleanup_(json_decrefp) json_t *resp = NULL;
	if (pl_client_request(c, "POST", "/containers", body, NULL, &resp, err) < 0)
		return NULL;
	const char *id = json_string_value(json_object_get(resp, "id"));
	if (!id) {
		pl_error_set(err, PL_ERR_INTERNAL, 0, "create: the daemon answered without an id");
		return NULL;
	}
	return pl_xstrdup(id);
}

/* After a failed start the daemon records 127 (not found) or 126 (not executable). */
static int exit_code_after_failed_start(pl_client_t *c, const char *id)
{
	_cleanup_free_ char *path = container_path(c, id, NULL);
	_cleanup_(json_decrefp) json_t *resp = NULL;
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, &err) < 0)
		return EXIT_RUN_ERROR;
	json_t *code = json_object_get(json_object_get(resp, "state"), "exit_code");
	if (!json_is_integer(code) || json_integer_value(code) <= 0 ||
	    json_integer_value(code) > 255)
		return EXIT_RUN_ERROR;
	return (int)json_integer_value(code);
}

static void remove_container(pl_client_t *c, const char *id)
{
	_cleanup_free_ char *path = container_path(c, id, "?force=1");
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_client_request(c, "DELETE", path, NULL, NULL, NULL, &err) < 0)
		report(err, 0);
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int write_frame(int stream, const char *data, size_t len, void *userdata)
{
	return write_all(stream == PL_STREAM_STDERR ? STDERR_FILENO : STDOUT_FILENO, data, len);
}

/* Streams a logs URL to our stdout/stderr. */
static int stream_logs(pl_client_t *c, const char *path, pl_error_t **err)
{
	pl_demux_t demux;
	pl_demux_init(&demux, write_frame, NULL);
	fflush(stdout); /* frames are written with write(2), after anything buffered */
	return pl_client_stream(c, path, pl_demux_feed_cb, &demux, err);
}

/* Forwards SIGINT/SIGTERM to the container while run is attached (docker's --sig-proxy):
 * the signals are blocked in every thread and a dedicated thread takes them with sigwait
 * and sends one kill request per signal, on its own client. It is stopped by a flag and a
 * signal aimed at it, not pthread_cancel: cancelling unwinds the stack under sanitizers'
 * feet, and could abandon a request halfway. */
typedef struct forwarder {
	pl_client_t *client;
	char *id;
	sigset_t set;
	pthread_t thread;
	bool running;
	atomic_bool stopping;
} forwarder_t;

static void *forward_signals(void *arg)
{
	forwarder_t *f = arg;
	for (;;) {
		int sig;
		if (sigwait(&f->set, &sig) != 0)
			continue;
		if (atomic_load(&f->stopping))
			return NULL;
		const char *name = pl_signal_name(sig);
		_cleanup_free_ char *num = pl_xasprintf("%d", sig);
		_cleanup_free_ char *path = container_path(f->client, f->id, "/kill");
		add_query(f->client, &path, "signal", name ? name : num);
		_cleanup_error_ pl_error_t *err = NULL;
		/* 409 means it already stopped: nothing to forward to. */
		if (pl_client_request(f->client, "POST", path, NULL, NULL, NULL, &err) < 0 &&
		    err->kind != PL_ERR_CONFLICT)
			report(err, 0);
	}
}

static void block_forwarded_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	/* An ignored signal is discarded before sigwait can see it, and shells start background
	 * jobs with SIGINT ignored; like docker, forward it anyway. Blocked, the default action
	 * never runs. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
}

static int forwarder_start(forwarder_t *f, const char *host, const char *id, pl_error_t **err)
{
	f->client = pl_client_new(host, err);
	if (!f->client)
		return -EINVAL;
	f->id = pl_xstrdup(id);
	int r = pthread_create(&f->thread, NULL, forward_signals, f);
	if (r != 0)
		return pl_error_set(err, PL_ERR_INTERNAL, r, "start the signal forwarder");
	f->running = true;
	return 0;
}

/* Lets an in-flight kill finish, then wakes the thread with a signal it waits for; a user's
 * signal arriving in the same instant is dropped, which is fine: the container is gone. */
static void forwarder_stop(forwarder_t *f)
{
	if (f->running) {
		atomic_store(&f->stopping, true);
		pthread_kill(f->thread, SIGTERM);
		pthread_join(f->thread, NULL);
		f->running = false;
	}
	f->client = pl_client_free(f->client);
	free(f->id);
	f->id = NULL;
}

/* POST wait; returns the exit code (0-255) or < 0 with *err. */
static int wait_container(pl_client_t *c, const char *id, const char *timeout, pl_error_t **err)
{
	_cleanup_free_ char *path = container_path(c, id, "/wait");
	if (timeout)
		add_query(c, &path, "timeout", timeout);
	_cleanup_(json_decrefp) json_t *resp = NULL;
	if (pl_client_request(c, "POST", path, NULL, NULL, &resp, err) < 0)
		return -1;
	const char *error = json_string_value(json_object_get(resp, "error"));
	if (error && *error)
		fprintf(stderr, "plctl: %s: %s\n", id, error);
	json_t *code = json_object_get(resp, "exit_code");
	if (!json_is_integer(code) || json_integer_value(code) < 0 ||
	    json_integer_value(code) > 255)
		return pl_error_set(err, PL_ERR_INTERNAL, 0,
				    "wait %s: no valid exit_code in answer", id);
	return (int)json_integer_value(code);
}

static int cmd_run(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(run_opts_done) run_opts_t o = {0};
	int r = parse_run_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;

	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_free_ char *id = create_container(c, &o, &err);
	if (!id)
		return report(err, EXIT_RUN_ERROR);

	sigset_t set;
	sigemptyset(&set);
	if (!o.detach)
		block_forwarded_signals(&set); /* from here, so none is lost before the thread */
	_cleanup_free_ char *start = container_path(c, id, "/start");
	if (pl_client_request(c, "POST", start, NULL, NULL, NULL, &err) < 0) {
		report(err, 0);
		int code = exit_code_after_failed_start(c, id);
		if (o.rm)
			remove_container(c, id);
		return code;
	}
	if (o.detach) {
		puts(id);
		return 0;
	}

	forwarder_t fwd = {.set = set};
	if (forwarder_start(&fwd, pl_client_host(c), id, &err) < 0) {
		/* Follow on without forwarding, and let ^C stop plctl the plain way. */
		report(err, 0);
		err = pl_error_free(err);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}

	_cleanup_free_ char *logs = container_path(c, id, "/logs?follow=1");
	if (stream_logs(c, logs, &err) < 0) {
		report(err, 0);
		err = pl_error_free(err);
	}
	int code = wait_container(c, id, NULL, &err);
	forwarder_stop(&fwd);
	if (code < 0)
		return report(err, 1);
	if (o.rm)
		remove_container(c, id);
	return code;
}

static int cmd_create(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(run_opts_done) run_opts_t o = {0};
	int r = parse_run_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_free_ char *id = create_container(c, &o, &err);
	if (!id)
		return report(err, EXIT_RUN_ERROR);
	puts(id);
	return 0;
}

/* ---- commands over a list of ids ---- */

typedef struct simple_opts {
	const char *timeout; /* stop -t, wait --timeout */
	const char *signal;  /* kill -s */
	bool force;	     /* rm -f */
} simple_opts_t;

/* Parses the flags of start/stop/kill/wait/rm/inspect; leaves optind at the first id.
 * Returns 0, HELP_SHOWN, or the exit code of a usage error. */
static int parse_simple_opts(const command_t *cmd, int argc, char **argv, simple_opts_t *o)
{
	enum { OPT_TIMEOUT = 256 };
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"time", required_argument, NULL, 't'},
	    {"timeout", required_argument, NULL, OPT_TIMEOUT},
	    {"signal", required_argument, NULL, 's'},
	    {"force", no_argument, NULL, 'f'},
	    {0},
	};
	const char *name = cmd->name;
	bool is_stop = strcmp(name, "stop") == 0, is_wait = strcmp(name, "wait") == 0;
	bool is_kill = strcmp(name, "kill") == 0, is_rm = strcmp(name, "rm") == 0;
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":ht:s:f", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			print_usage(stdout, cmd);
			return HELP_SHOWN;
		case 't':
		case OPT_TIMEOUT:
			if (!(is_stop || (is_wait && opt == OPT_TIMEOUT)))
				return bad_flag(name, '?', argv);
			o->timeout = optarg;
			break;
		case 's':
			if (!is_kill)
				return bad_flag(name, '?', argv);
			o->signal = optarg;
			break;
		case 'f':
			if (!is_rm)
				return bad_flag(name, '?', argv);
			o->force = true;
			break;
		default:
			return bad_flag(name, opt, argv);
		}
	}
	if (optind >= argc)
		return usage_error(name, "requires at least one container");
	return 0;
}

/* Sends `method path-suffix` for every id, printing each id that succeeded. */
static int for_each_id(pl_client_t *c, int argc, char **argv, const char *method,
		       const char *suffix, bool ignore_notfound)
{
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		_cleanup_free_ char *path = container_path(c, argv[i], suffix);
		_cleanup_error_ pl_error_t *err = NULL;
		if (pl_client_request(c, method, path, NULL, NULL, NULL, &err) < 0) {
			if (!(ignore_notfound && err->kind == PL_ERR_NOTFOUND))
				rc = report(err, 1);
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
	return for_each_id(c, argc, argv, "POST", "/start", false);
}

static int cmd_stop(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	simple_opts_t o = {0};
	int r = parse_simple_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	_cleanup_free_ char *suffix = pl_xstrdup("/stop");
	if (o.timeout) {
		int64_t t;
		if (pl_parse_int64(o.timeout, 0, INT_MAX, &t) < 0)
			return usage_error("stop", "invalid timeout '%s' (whole seconds)",
					   o.timeout);
		add_query(c, &suffix, "timeout", o.timeout);
	}
	return for_each_id(c, argc, argv, "POST", suffix, false);
}

static int cmd_kill(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	simple_opts_t o = {0};
	int r = parse_simple_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	_cleanup_free_ char *suffix = pl_xstrdup("/kill");
	if (o.signal) {
		int signo;
		if (pl_signal_parse(o.signal, &signo) < 0)
			return usage_error("kill", "invalid signal '%s'", o.signal);
		const char *name = pl_signal_name(signo);
		_cleanup_free_ char *num = pl_xasprintf("%d", signo);
		add_query(c, &suffix, "signal", name ? name : num);
	}
	return for_each_id(c, argc, argv, "POST", suffix, false);
}

static int cmd_rm(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	simple_opts_t o = {0};
	int r = parse_simple_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	/* Like docker rm -f, a container that is already gone is not an error. */
	return for_each_id(c, argc, argv, "DELETE", o.force ? "?force=1" : "", o.force);
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
		int code = wait_container(c, argv[i], o.timeout, &err);
		if (code < 0) {
			failed = true;
			report(err, 1);
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
		_cleanup_free_ char *path = container_path(c, argv[i], NULL);
		_cleanup_error_ pl_error_t *err = NULL;
		json_t *one = NULL;
		if (pl_client_request(c, "GET", path, NULL, NULL, &one, &err) < 0) {
			rc = report(err, 1);
			continue;
		}
		json_array_append_new(all, one ? one : json_null());
	}
	print_json(all);
	return rc;
}

/* ---- ps ---- */

static bool is_live(const char *state)
{
	return state && (strcmp(state, "running") == 0 || strcmp(state, "starting") == 0 ||
			 strcmp(state, "stopping") == 0);
}

/* "5 seconds ago" from an RFC 3339 time; the raw string if it does not parse. */
static char *ago(const char *when)
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
	static const struct option longopts[] = {
	    {"all", no_argument, NULL, 'a'}, {"help", no_argument, NULL, 'h'}, {0}};
	bool all = false;
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":ah", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			all = true;
			break;
		case 'h':
			print_usage(stdout, cmd);
			return 0;
		default:
			return bad_flag("ps", opt, argv);
		}
	}
	if (optind < argc)
		return usage_error("ps", "unexpected argument '%s'", argv[optind]);

	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(json_decrefp) json_t *list = NULL;
	if (pl_client_request(c, "GET", "/containers", NULL, NULL, &list, &err) < 0)
		return report(err, 1);

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
		row[4] = ago(json_string_value(json_object_get(ct, "created")));
		row[5] = command_column(json_object_get(ct, "args"));
	}
	size_t width[PS_COLS] = {0};
	for (size_t r = 0; r < rows; r++)
		for (size_t col = 0; col < PS_COLS; col++)
			if (strlen(cells[r * PS_COLS + col]) > width[col])
				width[col] = strlen(cells[r * PS_COLS + col]);
	for (size_t r = 0; r < rows; r++) {
		for (size_t col = 0; col < PS_COLS; col++) {
			const char *cell = cells[r * PS_COLS + col];
			if (col + 1 < PS_COLS)
				printf("%-*s   ", (int)width[col], cell);
			else
				printf("%s\n", cell);
		}
	}
	for (size_t k = 0; k < rows * PS_COLS; k++)
		free(cells[k]);
	free(cells);
	return 0;
}

/* ---- logs, info, version ---- */

/* --since/--until: RFC 3339 and unix seconds go to the daemon as they are; a relative
 * duration ("90s", "10m", "2h", "1d", like docker's) becomes unix seconds here. */
static char *since_value(const char *s)
{
	static const struct {
		char suffix;
		int64_t secs;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	size_t len = strlen(s);
	for (size_t i = 0; len > 1 && i < PL_ARRAY_SIZE(units); i++) {
		if (s[len - 1] != units[i].suffix)
			continue;
		_cleanup_free_ char *num = strndup(s, len - 1);
		int64_t n;
		if (num && pl_parse_int64(num, 0, INT64_MAX / 1000000000LL / 86400, &n) == 0)
			return pl_xasprintf(
			    "%lld", (long long)(pl_now_ns() / 1000000000LL - n * units[i].secs));
	}
	return pl_xstrdup(s);
}

static int cmd_logs(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	enum { OPT_TAIL = 256, OPT_SINCE, OPT_UNTIL };
	static const struct option longopts[] = {
	    {"follow", no_argument, NULL, 'f'},
	    {"tail", required_argument, NULL, OPT_TAIL},
	    {"since", required_argument, NULL, OPT_SINCE},
	    {"until", required_argument, NULL, OPT_UNTIL},
	    {"timestamps", no_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool follow = false, timestamps = false;
	const char *tail = NULL, *since = NULL, *until = NULL;
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":fth", longopts, NULL)) != -1) {
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
			print_usage(stdout, cmd);
			return 0;
		default:
			return bad_flag("logs", opt, argv);
		}
	}
	if (argc - optind != 1)
		return usage_error("logs", "requires exactly one container");

	_cleanup_free_ char *path = container_path(c, argv[optind], "/logs");
	if (follow)
		add_query(c, &path, "follow", "1");
	if (tail)
		add_query(c, &path, "tail", tail);
	if (since) {
		_cleanup_free_ char *v = since_value(since);
		add_query(c, &path, "since", v);
	}
	if (until) {
		_cleanup_free_ char *v = since_value(until);
		add_query(c, &path, "until", v);
	}
	if (timestamps)
		add_query(c, &path, "timestamps", "1");
	_cleanup_error_ pl_error_t *err = NULL;
	if (stream_logs(c, path, &err) < 0)
		return report(err, 1);
	return 0;
}

static int no_args(const command_t *cmd, int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		print_usage(stdout, cmd);
		return HELP_SHOWN;
	}
	if (argc > 1)
		return argv[1][0] == '-'
			   ? usage_error(cmd->name, "unknown flag '%s'", argv[1])
			   : usage_error(cmd->name, "unexpected argument '%s'", argv[1]);
	return 0;
}

static int cmd_info(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	int r = no_args(cmd, argc, argv);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(json_decrefp) json_t *info = NULL;
	if (pl_client_request(c, "GET", "/info", NULL, NULL, &info, &err) < 0)
		return report(err, 1);
	print_json(info);
	return 0;
}

static int cmd_version(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	int r = no_args(cmd, argc, argv);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	printf("Client:\n Version:      %s\n", PL_VERSION);
	fflush(stdout);
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(json_decrefp) json_t *info = NULL;
	if (pl_client_request(c, "GET", "/info", NULL, NULL, &info, &err) < 0)
		return report(err, 1);
	const char *v = json_string_value(json_object_get(info, "version"));
	const char *api = json_string_value(json_object_get(info, "api_version"));
	printf("\nServer:\n Version:      %s\n API version:  %s\n", v ? v : "unknown",
	       api ? api : "unknown");
	return 0;
}

/* ---- dispatch ---- */

#define RUN_FLAGS                                                                                  \
	"  --name NAME               name the container\n"                                         \
	"  -e, --env KEY=VALUE       set an environment variable (KEY alone: take ours)\n"         \
	"  -w, --workdir DIR         working directory inside the container\n"                     \
	"  -u, --user UID[:GID]      numeric user and group\n"                                     \
	"  -h, --hostname NAME       container hostname\n"                                         \
	"  --kernel shared|dedicated isolation: share the host kernel or have its own\n"

static const command_t commands[] = {
    {"run", cmd_run, EXIT_RUN_ERROR,
     "Create and start a container, print its output and exit with its status",
     "run [OPTIONS] ROOTFS [--] CMD [ARGS...]\n\n"
     "Create and start a container on ROOTFS (a host directory), follow its output, wait\n"
     "for it and exit with its exit code. SIGINT and SIGTERM are forwarded to it.\n\n"
     "  --rm                      remove the container when it exits\n"
     "  -d, --detach              print the id and return once it started\n" RUN_FLAGS},
    {"create", cmd_create, EXIT_RUN_ERROR, "Create a container and print its id",
     "create [OPTIONS] ROOTFS [--] CMD [ARGS...]\n\n" RUN_FLAGS},
    {"start", cmd_start, 1, "Start containers", "start ID..."},
    {"stop", cmd_stop, 1, "Stop containers (SIGTERM, then SIGKILL after a grace period)",
     "stop [-t SECONDS] ID...\n\n  -t, --time SECONDS   grace period before SIGKILL "
     "(daemon default 10)\n"},
    {"kill", cmd_kill, 1, "Send a signal to containers",
     "kill [-s SIGNAL] ID...\n\n  -s, --signal SIGNAL  name (TERM, SIGTERM) or number; "
     "default KILL\n"},
    {"wait", cmd_wait, 1, "Wait for containers to stop and print their exit codes",
     "wait [--timeout SECONDS] ID...\n"},
    {"rm", cmd_rm, 1, "Remove containers",
     "rm [-f] ID...\n\n  -f, --force   kill a running container first; ignore unknown ones\n"},
    {"ps", cmd_ps, 1, "List containers",
     "ps [-a]\n\n  -a, --all   show every container, not only running ones\n"},
    {"inspect", cmd_inspect, 1, "Show containers' config and state as JSON", "inspect ID..."},
    {"logs", cmd_logs, 1, "Show a container's output",
     "logs [OPTIONS] ID\n\n"
     "  -f, --follow       keep streaming until the container stops\n"
     "  --tail N           only the last N lines (or 'all')\n"
     "  --since TIME       RFC 3339, unix seconds or a duration ago (10m, 2h)\n"
     "  --until TIME       likewise\n"
     "  -t, --timestamps   prefix each line with its time\n"},
    {"info", cmd_info, 1, "Show daemon information as JSON", "info"},
    {"version", cmd_version, 1, "Show the client and daemon versions", "version"},
};

static const command_t *find_command(const char *name)
{
	for (size_t i = 0; i < PL_ARRAY_SIZE(commands); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
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
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "  %-9s %s\n", "help", "Show this help, or a command's");
	fprintf(f, "\nRun 'plctl help COMMAND' for a command's options.\n");
}

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
			return bad_flag(NULL, opt, argv);
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
			return usage_error(NULL, "unknown command '%s'", argv[1]);
		print_usage(stdout, topic);
		return 0;
	}
	const command_t *cmd = find_command(argv[0]);
	if (!cmd)
		return usage_error(NULL, "unknown command '%s'", argv[0]);

	/* The forwarder thread may parse JSON error bodies: seed the hash before any thread. */
	json_object_seed(0);
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_client_ pl_client_t *c = pl_client_new(host, &err);
	if (!c)
		return report(err, cmd->fail_code);
	return cmd->fn(cmd, c, argc, argv);
}
