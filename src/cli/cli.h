/* SPDX-License-Identifier: Apache-2.0 */
/* What plctl's command groups share: the command descriptor, exit codes, error and usage
 * reporting, tables and JSON helpers, the table-driven flags of run/create/update (flags.c)
 * and the interactive stream plumbing (interact.c). Each group (containers.c, run.c,
 * exec.c, monitor.c, images.c, volumes.c, networks.c, system.c, archive.c) defines its
 * commands as pl_cli_cmd_<name>; plctl.c lists them. */
#pragma once

#include "cli/term.h"
#include "client/portlayer-client.h"

#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#ifndef PL_VERSION
#define PL_VERSION "unknown"
#endif

#define EXIT_USAGE     2
#define EXIT_RUN_ERROR 125
/* What option parsers return after printing --help: the command is done, exit 0. */
#define HELP_SHOWN	    -1
#define DEFAULT_DETACH_KEYS "ctrl-p,ctrl-q"

typedef struct flag flag_t;
typedef struct flag_table flag_table_t;

/* plctl's own arguments, as main got them (the static plctl runs cp again in its dynamic
 * sibling with them: archive_dl.h). */
extern char **pl_cli_main_argv;

typedef struct command {
	const char *name;
	int (*fn)(const struct command *cmd, pl_client_t *c, int argc, char **argv);
	int fail_code; /* exit code when the daemon cannot be reached at all */
	const char *summary;
	const char *usage;	   /* the synopsis and what precedes the flags in the help */
	const flag_table_t *flags; /* its flags, ended by {0}: both getopt's and the help's */
	/* a command group ("image"): its subcommands, NULL-terminated (one without summary is
	 * an alias, left out of the help), and what the help says after listing them */
	const struct command *const *subs;
	const char *notes;
} command_t;

/* Sets what flag f stands for in obj (the "resources" or "security" object, or the body
 * itself) from its argument (NULL for a flag that takes none). */
typedef int (*flag_set_fn)(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err);

/* One flag: what getopt needs and its line in the help, in one place (a new flag is one
 * edit). A command's own flags are handled by its parser's switch on the id getopt returns
 * (short_opt, or id); table flags (key and set: run, create, update) set their JSON field. */
struct flag {
	const char *name; /* the long option, without "--" */
	char short_opt;	  /* its one-letter alias, or 0 */
	const char *arg;  /* its argument as the help names it ("SIZE"); NULL: it takes none */
	const char *help; /* its help ("\n" continues below it; leading: on the next line);
			   * NULL: not listed */
	int id;		  /* an own flag without short_opt: what getopt returns (>= 256) */
	const char *key;  /* a table flag: the JSON field it sets */
	flag_set_fn set;
};

struct flag_table {
	const char *heading; /* the help's section title for these flags, or NULL */
	const flag_t *flags; /* ended by {0} */
};

/* getopt_long's option string and long options for a command's flags. */
typedef struct pl_cli_opts {
	struct option *longopts;
	char optstring[128];
} pl_cli_opts_t;

/* prefix: what the option string starts with (":" or "+:"). */
void pl_cli_opts_init(pl_cli_opts_t *o, const command_t *cmd, const char *prefix);
void pl_cli_opts_clear(pl_cli_opts_t *o);
/* The table flag getopt answered opt for (and the flags array holding it), or NULL. */
const flag_t *pl_cli_table_flag(const command_t *cmd, int opt, const flag_t **table);

/* Forwards SIGINT/SIGTERM to the container while run is attached (docker's --sig-proxy):
 * the signals are blocked until the container's id is known (none is lost), then a handler
 * takes them and posts one kill request per signal itself, on a connection of its own. No
 * thread: on these guests one cost about half a millisecond of every run (interact.c). The
 * requests live in one static place: one forwarder at a time. */
typedef struct forwarder {
	sigset_t set;
	bool running;
} forwarder_t;

/* A session's stream and where its tty's size goes: a container (attach, resize) or an exec
 * (start, resize). */
typedef struct resize_target {
	pl_client_t *c;
	const char *id;
	bool exec;
} resize_target_t;

/* run -i without -t: our stdin goes to the container through an attach stream that carries
 * nothing back, pumped by a thread, while the output comes the way it does for plain run
 * (the log, followed from the start, so nothing printed before the attach is lost). */
typedef struct stdin_feeder {
	pl_pump_t pump;
	int fd, stop[2];
	pthread_t thread;
	bool running;
} stdin_feeder_t;

/* ---- cli.c: reporting, usage, tables, JSON */

/* Prints "plctl: <msg>" for a failed call and returns code. */
int pl_cli_report(pl_error_t *e, int code);
/* "plctl CMD: <msg>" and where to look; returns EXIT_USAGE. */
int pl_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* getopt_long (opterr 0, a leading ':') answered '?' or ':'. */
int pl_cli_bad_flag(const char *cmd, int opt, char **argv);
/* "Usage: plctl <usage>", then the flags and subcommands of cmd with their help. */
void pl_cli_print_usage(FILE *f, const command_t *cmd);
/* Runs the subcommand argv[1] of a command group. */
int pl_cli_dispatch_sub(const command_t *cmd, pl_client_t *c, int argc, char **argv);

/* What the common flags of subcommands set: -q, -f, --label (PL_CLI_OPT_LABEL). */
#define PL_CLI_OPT_LABEL 300
typedef struct pl_cli_sub_opts {
	bool quiet, force;
	json_t *body; /* what --label adds its "labels" to, when the command takes it */
} pl_cli_sub_opts_t;
/* Parses a subcommand's flags (cmd->flags: --help, -q, -f, --label); leaves optind at the
 * first operand. Returns 0, HELP_SHOWN or the exit code of a usage error. */
int pl_cli_sub_opts(const command_t *cmd, int argc, char **argv, pl_cli_sub_opts_t *o);

/* How the image, volume and network groups inspect (the daemon's object, a new reference)
 * and remove one object by name, through the typed client. */
typedef struct pl_cli_named_ops {
	json_t *(*inspect)(pl_client_t *c, const char *name, pl_error_t **err);
	int (*remove)(pl_client_t *c, const char *name, bool force, pl_error_t **err);
} pl_cli_named_ops_t;
/* Inspects (or removes) each named object: inspect prints them as one JSON array. */
int pl_cli_inspect_each(pl_client_t *c, int argc, char **argv, const pl_cli_named_ops_t *ops);
int pl_cli_delete_each(pl_client_t *c, int argc, char **argv, const pl_cli_named_ops_t *ops,
		       bool force);
/* The inspect and rm subcommands of the image, volume and network groups: parses the
 * subcommand's flags, wants at least one operand (a usage error of NAME, "requires at least
 * one WHAT", without), then inspects each or removes each (?force=1 on -f). */
int pl_cli_each_named(const command_t *cmd, pl_client_t *c, int argc, char **argv, const char *name,
		      const char *what, const pl_cli_named_ops_t *ops, bool remove);
int pl_cli_print_json(json_t *j);
void pl_cli_print_table(char **cells, size_t rows, size_t cols);
/* pl_cli_print_table, then frees the cells and the array. */
void pl_cli_print_table_free(char **cells, size_t rows, size_t cols);
char *pl_cli_human_size(double n, bool binary);
char *pl_cli_ago(const char *when);
/* v[key] as a string, dflt when absent. */
const char *pl_cli_json_str(json_t *v, const char *key, const char *dflt);
int pl_cli_add_string(json_t *to, const char *key, const char *s, pl_error_t **err);
int pl_cli_add_env(json_t *env, const char *arg, pl_error_t **err);
/* Fails for a string that is not UTF-8 (the API's JSON could not carry it). */
int pl_cli_check_utf8(const char *s, pl_error_t **err);
/* The strings of a JSON array as a NULL-terminated vector for the client's specs (the array
 * malloc'd, the strings borrowed from it); NULL for an empty one. */
const char **pl_cli_strv(json_t *array);

/* ---- flags.c: the flag tables of run, create and update */
extern const flag_t pl_cli_resource_flags[];
extern const flag_t pl_cli_security_flags[];
extern const flag_t pl_cli_config_flags[];
int pl_cli_set_label(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err);
json_t *pl_cli_member(json_t *obj, const char *key, bool array);

/* ---- interact.c: attach and exec streams, signal forwarding, waiting */
bool pl_cli_valid_detach_keys(const char *spec);
int pl_cli_bad_detach_keys(const char *cmd, const char *spec);
const char *pl_cli_session_detach_keys(const char *given, bool tty);
int pl_cli_interact(pl_client_t *c, const resize_target_t *t, bool in, const char *detach_keys,
		    bool *detached, pl_error_t **err);
void pl_cli_send_size(void *data);
int pl_cli_feeder_start(stdin_feeder_t *f, pl_client_t *c, const char *id, const char *detach_keys,
			pl_error_t **err);
void pl_cli_feeder_stop(stdin_feeder_t *f);
void pl_cli_block_forwarded_signals(sigset_t *set);
int pl_cli_forwarder_start(forwarder_t *f, const pl_client_t *c, const char *id, pl_error_t **err);
void pl_cli_forwarder_stop(forwarder_t *f);
int pl_cli_stream_logs(pl_client_t *c, const char *id, const pl_logs_opts_t *o, pl_error_t **err);
int pl_cli_wait_container(pl_client_t *c, const char *id, const char *timeout, pl_error_t **err);

/* ---- run.c */
extern const command_t pl_cli_cmd_run;
extern const command_t pl_cli_cmd_create;

/* ---- containers.c */
extern const command_t pl_cli_cmd_start;
extern const command_t pl_cli_cmd_stop;
extern const command_t pl_cli_cmd_kill;
extern const command_t pl_cli_cmd_wait;
extern const command_t pl_cli_cmd_rm;
extern const command_t pl_cli_cmd_ps;
extern const command_t pl_cli_cmd_pause;
extern const command_t pl_cli_cmd_unpause;
extern const command_t pl_cli_cmd_update;
extern const command_t pl_cli_cmd_rename;
extern const command_t pl_cli_cmd_inspect;
extern const command_t pl_cli_cmd_port;
extern const command_t pl_cli_cmd_top; /* plctl_engine.c's pl_cli_top */

/* ---- exec.c */
extern const command_t pl_cli_cmd_exec;
extern const command_t pl_cli_cmd_attach;

/* ---- monitor.c: stats, logs, events */
extern const command_t pl_cli_cmd_stats;
extern const command_t pl_cli_cmd_logs;
extern const command_t pl_cli_cmd_events;

/* ---- images.c */
extern const command_t pl_cli_cmd_image;

/* ---- volumes.c */
extern const command_t pl_cli_cmd_volume;

/* ---- networks.c */
extern const command_t pl_cli_cmd_network;

/* ---- archive.c: cp, diff, export, commit, image pull and push */
extern const command_t pl_cli_cmd_image_pull;
extern const command_t pl_cli_cmd_image_push;
extern const command_t pl_cli_cmd_image_save;
extern const command_t pl_cli_cmd_cp;
extern const command_t pl_cli_cmd_diff;
extern const command_t pl_cli_cmd_export;
extern const command_t pl_cli_cmd_commit;

/* ---- system.c */
extern const command_t pl_cli_cmd_info;
extern const command_t pl_cli_cmd_version;
extern const command_t pl_cli_cmd_kv; /* plctl_engine.c's pl_cli_kv */
