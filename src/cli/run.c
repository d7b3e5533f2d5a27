/* SPDX-License-Identifier: Apache-2.0 */
/* plctl run and create: their options, the create body, and running attached. */
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

/* ---- run / create ---- */

typedef struct run_opts {
	bool rm, detach, interactive, tty;
	bool is_run; /* run, not create */
	bool image;  /* rootfs names an image, not a host directory */
	const char *name, *workdir, *user, *hostname, *kernel, *rootfs;
	const char *detach_keys; /* NULL: session_detach_keys's default */
	json_t *env;		 /* array of "K=V" */
	json_t *resources;	 /* the body's "resources" */
	json_t *security;	 /* the body's "security" */
	json_t *config;		 /* other top-level fields (labels, restart_policy...) */
	json_t *mounts;		 /* the body's "mounts" */
	json_t *networks;	 /* --network scopes (names) */
	json_t *aliases;	 /* --network-alias, on the first scope */
	json_t *ports;		 /* -p, the body's "ports" */
	const char *net_mode;	 /* --net=host|none */
	const char *ip;		 /* --ip, on the first scope */
	char **args;		 /* the command, borrowed from argv */
	int n_args;
} run_opts_t;

static void run_opts_done(run_opts_t *o)
{
	json_decref(o->env);
	json_decref(o->resources);
	json_decref(o->security);
	json_decref(o->config);
	json_decref(o->mounts);
	json_decref(o->networks);
	json_decref(o->aliases);
	json_decref(o->ports);
}

/* -p [HOSTIP:][HOSTPORT:]PORT[/tcp|udp]; no HOSTPORT (or 0) lets the daemon pick one. */
static int parse_publish(json_t *ports, const char *arg, pl_error_t **err)
{
	_cleanup_free_ char *copy = pl_xstrdup(arg);
	const char *proto = "tcp";
	char *slash = strchr(copy, '/');
	if (slash) {
		*slash = '\0';
		proto = slash + 1;
		if (strcmp(proto, "tcp") && strcmp(proto, "udp"))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "-p %s: the protocol must be tcp or udp", arg);
	}
	char *parts[3] = {NULL, NULL, NULL};
	int n = 0;
	for (char *p = copy, *colon; n < 3; p = colon + 1) {
		parts[n++] = p;
		colon = strchr(p, ':');
		if (!colon)
			break;
		*colon = '\0';
		if (n == 3)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "-p %s: want [HOSTIP:][HOSTPORT:]PORT[/udp]", arg);
	}
	const char *hip = n == 3 ? parts[0] : "", *hport = n >= 2 ? parts[n - 2] : "";
	int64_t cport, hp = 0;
	if (pl_parse_int64(parts[n - 1], 1, 65535, &cport) < 0 ||
	    (*hport && pl_parse_int64(hport, 0, 65535, &hp) < 0))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "-p %s: ports are numbers (container port 1-65535)", arg);
	json_t *e = json_pack("{s:I, s:s, s:I}", "container_port", (json_int_t)cport, "protocol",
			      proto, "host_port", (json_int_t)hp);
	if (*hip)
		json_object_set_new(e, "host_ip", json_string(hip));
	json_array_append_new(ports, e);
	return 0;
}

/* The network fields of the create body: like docker, the default bridge scope unless told
 * otherwise. */
/* The network part of the create: a mode, or scopes (the first gets --ip and the aliases)
 * and the published ports (into extra). nets has room for every scope (or the default). */
static int network_spec(const run_opts_t *o, pl_container_spec_t *spec, pl_net_spec_t *nets,
			const char **aliases, json_t *extra, pl_error_t **err)
{
	if (o->net_mode) {
		if (o->ip || json_array_size(o->aliases) || json_array_size(o->ports))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "--ip, --network-alias and -p need a network (not "
					    "--net=%s)",
					    o->net_mode);
		spec->network_mode = o->net_mode;
		return 0;
	}
	size_t i;
	json_t *name;
	json_array_foreach(o->networks, i, name) nets[spec->n_networks++] =
	    (pl_net_spec_t){.scope = json_string_value(name)};
	if (!spec->n_networks)
		nets[spec->n_networks++] = (pl_net_spec_t){.scope = "bridge"};
	nets[0].ip = o->ip;
	nets[0].aliases = aliases;
	spec->networks = nets;
	if (json_array_size(o->ports))
		json_object_set(extra, "ports", o->ports);
	return 0;
}

/* --network / --net: host, none, or scope names (comma-separated, repeatable). */
static int add_networks(run_opts_t *o, const char *arg, pl_error_t **err)
{
	if (!strcmp(arg, "host") || !strcmp(arg, "none") || !strncmp(arg, "container:", 10)) {
		if (json_array_size(o->networks) || (o->net_mode && strcmp(o->net_mode, arg)))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "--network %s cannot be combined with other networks",
					    arg);
		o->net_mode = arg;
		return 0;
	}
	if (o->net_mode)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "--network %s cannot be combined with --net=%s", arg,
				    o->net_mode);
	_cleanup_free_ char *copy = pl_xstrdup(arg);
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
		json_array_append_new(o->networks, json_string(t));
	return 0;
}

/* One mount: a source starting with '/' is a host path (bind), anything else a volume name;
 * no source at all is an anonymous volume. */
static int add_mount(json_t *mounts, const char *src, const char *dst, bool readonly,
		     const char *type, const char *propagation, pl_error_t **err)
{
	json_t *m = json_object();
	json_array_append_new(mounts, m);
	if (!type)
		type = src && src[0] == '/' ? "bind" : "volume";
	if (pl_cli_add_string(m, "type", type, err) < 0 ||
	    (src && pl_cli_add_string(m, "source", src, err) < 0) ||
	    pl_cli_add_string(m, "target", dst, err) < 0 ||
	    (propagation && pl_cli_add_string(m, "propagation", propagation, err) < 0))
		return -EINVAL;
	if (readonly)
		json_object_set_new(m, "readonly", json_true());
	return 0;
}

/* docker's -v: DST (an anonymous volume), or SRC:DST[:ro|rw]. */
static int parse_volume_flag(json_t *mounts, const char *arg, pl_error_t **err)
{
	static const char want[] = "want [SRC:]DST[:ro|rw] (SRC a host path or a volume name)";
	_cleanup_free_ char *copy = pl_xstrdup(arg);
	char *parts[4] = {0};
	size_t n = 0;
	char *rest = copy;
	for (char *t; n < PL_ARRAY_SIZE(parts) && (t = strsep(&rest, ":"));)
		parts[n++] = t;
	if (n == 0 || n > 3 || !*parts[0] || (n > 1 && !*parts[1]))
		return pl_error_set(err, PL_ERR_INVALID, 0, "invalid value \"%s\" for --volume: %s",
				    arg, want);
	if (n == 1)
		return add_mount(mounts, NULL, parts[0], false, "volume", NULL, err);
	bool readonly = false;
	if (n == 3) {
		if (strcmp(parts[2], "ro") == 0)
			readonly = true;
		else if (strcmp(parts[2], "rw") != 0)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "invalid value \"%s\" for --volume: mode \"%s\": %s",
					    arg, parts[2], want);
	}
	return add_mount(mounts, parts[0], parts[1], readonly, NULL, NULL, err);
}

/* docker's --mount: comma-separated KEY=VALUE (type, source|src, target|destination|dst,
 * readonly|ro[=true|false], bind-propagation); type defaults to volume. */
static int parse_mount_flag(json_t *mounts, const char *arg, pl_error_t **err)
{
	_cleanup_free_ char *copy = pl_xstrdup(arg);
	const char *type = NULL, *src = NULL, *dst = NULL, *prop = NULL;
	bool readonly = false;
	char *rest = copy;
	for (char *kv; (kv = strsep(&rest, ","));) {
		char *eq = strchr(kv, '=');
		const char *val = eq ? eq + 1 : NULL;
		if (eq)
			*eq = '\0';
		if (!strcmp(kv, "readonly") || !strcmp(kv, "ro")) {
			if (val && strcmp(val, "true") && strcmp(val, "1") &&
			    strcmp(val, "false") && strcmp(val, "0"))
				return pl_error_set(err, PL_ERR_INVALID, 0,
						    "--mount %s: readonly takes true or false",
						    arg);
			readonly = !val || !strcmp(val, "true") || !strcmp(val, "1");
			continue;
		}
		if (!val || !*val)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "--mount %s: want KEY=VALUE, not \"%s\"", arg, kv);
		if (!strcmp(kv, "type"))
			type = val;
		else if (!strcmp(kv, "source") || !strcmp(kv, "src"))
			src = val;
		else if (!strcmp(kv, "target") || !strcmp(kv, "destination") || !strcmp(kv, "dst"))
			dst = val;
		else if (!strcmp(kv, "bind-propagation"))
			prop = val;
		else
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "--mount %s: unknown key \"%s\"", arg, kv);
	}
	if (!type)
		type = "volume";
	if (strcmp(type, "bind") != 0 && strcmp(type, "volume") != 0)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "--mount %s: type must be bind or volume", arg);
	if (!dst)
		return pl_error_set(err, PL_ERR_INVALID, 0, "--mount %s: a target is required",
				    arg);
	if (!src && strcmp(type, "bind") == 0)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "--mount %s: a bind mount needs a source", arg);
	return add_mount(mounts, src, dst, readonly, type, prop, err);
}

/* ROOTFS is a host directory when it is one, or looks like a path ("/...", "./...", "..");
 * anything else is an image reference (which never starts with '/' or '.'). */
static bool names_an_image(const char *arg)
{
	struct stat st;
	if (arg[0] == '/' || arg[0] == '.')
		return false;
	return stat(arg, &st) < 0 || !S_ISDIR(st.st_mode);
}

/* Parses [flags] ROOTFS|IMAGE [--] [CMD [ARGS...]] (CMD required with a ROOTFS). Returns 0,
 * HELP_SHOWN, or an exit code: 2 for a usage error, 125 for a flag value that cannot be
 * right. */
enum {
	OPT_RM = 256,
	OPT_NAME,
	OPT_KERNEL,
	OPT_HELP,
	OPT_DETACH_KEYS,
	OPT_MOUNT,
	OPT_NETWORK,
	OPT_IP,
	OPT_ALIAS
};

/* run's own flags, before those create shares */
static const flag_t run_only_flags[] = {
    {"rm", 0, NULL,
     "remove the container when it exits (the port layer\ndoes it, auto_remove, except with -t)",
     OPT_RM},
    {"detach", 'd', NULL, "print the id and return once it started"},
    {"detach-keys", 0, "KEYS",
     "the keys that detach (with -t the default is\nctrl-p,ctrl-q, without it none; \"\" for none)",
     OPT_DETACH_KEYS},
    {0},
};

/* The flags of run and create beside the resources, security and config tables. */
static const flag_t create_flags[] = {
    {"interactive", 'i', NULL, "keep stdin open (run: and feed ours to it)"},
    {"tty", 't', NULL, "give it a terminal"},
    {"name", 0, "NAME", "name the container", OPT_NAME},
    {"env", 'e', "KEY=VALUE", "set an environment variable (KEY alone: take ours)"},
    {"workdir", 'w', "DIR", "working directory inside the container"},
    {"user", 'u', "UID[:GID]", "numeric user and group"},
    {"hostname", 'h', "NAME", "container hostname"},
    {"kernel", 0, "shared|dedicated", "isolation: share the host kernel or have its own",
     OPT_KERNEL},
    {"volume", 'v', "[SRC:]DST[:ro]",
     "mount a host path (SRC starting with '/') or a volume;\nDST alone: a new anonymous volume "
     "(repeatable)"},
    {"mount", 0, "type=bind|volume,source=SRC,target=DST[,readonly][,bind-propagation=P]",
     "\nlikewise, docker's long form (repeatable)", OPT_MOUNT},
    {0},
};

/* ... and after the config table, the network's */
static const flag_t net_flags[] = {
    {"network", 0, "NAME[,NAME...]", "join these network scopes (default: bridge), or",
     OPT_NETWORK},
    {"net", 0, "host|none|container:ID",
     "share the host's network, loopback only, or another container's", OPT_NETWORK},
    {"ip", 0, "ADDR", "a static address on the first network", OPT_IP},
    {"network-alias", 0, "NAME", "another name on the first network (repeatable)", OPT_ALIAS},
    {"publish", 'p', "[HOSTIP:][HOSTPORT:]PORT[/udp]", "publish a port (repeatable)"},
    {"help", 0, NULL, NULL, OPT_HELP},
    {0},
};

static const flag_table_t run_flags[] = {
    {NULL, run_only_flags},
    {NULL, create_flags},
    {NULL, pl_cli_config_flags},
    {NULL, net_flags},
    {"Resources", pl_cli_resource_flags},
    {"Security", pl_cli_security_flags},
    {0},
};

/* create's --rm, before the flags it shares with run */
static const flag_t create_only_flags[] = {
    {"rm", 0, NULL, "the port layer removes it when it stops (auto_remove)", OPT_RM},
    {0},
};

static const flag_table_t create_tables[] = {
    {NULL, create_only_flags},
    {NULL, create_flags},
    {NULL, pl_cli_config_flags},
    {NULL, net_flags},
    {"Resources", pl_cli_resource_flags},
    {"Security", pl_cli_security_flags},
    {0},
};

static int parse_run_opts(const command_t *cmd, int argc, char **argv, run_opts_t *o)
{
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	/* '+': stop at ROOTFS so the container's command keeps its own flags. */
	pl_cli_opts_init(&g, cmd, "+:");
	*o = (run_opts_t){.env = json_array(),
			  .resources = json_object(),
			  .security = json_object(),
			  .config = json_object(),
			  .mounts = json_array(),
			  .networks = json_array(),
			  .aliases = json_array(),
			  .ports = json_array(),
			  .is_run = strcmp(cmd->name, "run") == 0};
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		_cleanup_error_ pl_error_t *err = NULL;
		switch (opt) {
		case OPT_RM:
		case 'd':
			if (opt == 'd')
				o->detach = true;
			else
				o->rm = true;
			break;
		case 'i':
			o->interactive = true;
			break;
		case 't':
			o->tty = true;
			break;
		case OPT_DETACH_KEYS:
			if (!pl_cli_valid_detach_keys(optarg))
				return pl_cli_bad_detach_keys(cmd->name, optarg);
			o->detach_keys = optarg;
			break;
		case OPT_NAME:
			o->name = optarg;
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
		case 'h':
			o->hostname = optarg;
			break;
		case OPT_KERNEL:
			o->kernel = optarg;
			break;
		case 'v':
		case OPT_MOUNT:
			if ((opt == 'v' ? parse_volume_flag(o->mounts, optarg, &err)
					: parse_mount_flag(o->mounts, optarg, &err)) < 0)
				return pl_cli_report(err, EXIT_RUN_ERROR);
			break;
		case OPT_NETWORK:
			if (add_networks(o, optarg, &err) < 0)
				return pl_cli_report(err, EXIT_RUN_ERROR);
			break;
		case OPT_IP:
			o->ip = optarg;
			break;
		case OPT_ALIAS:
			json_array_append_new(o->aliases, json_string(optarg));
			break;
		case 'p':
			if (parse_publish(o->ports, optarg, &err) < 0)
				return pl_cli_report(err, EXIT_RUN_ERROR);
			break;
		case OPT_HELP:
			pl_cli_print_usage(stdout, cmd);
			return HELP_SHOWN;
		default: {
			const flag_t *table, *f = pl_cli_table_flag(cmd, opt, &table);
			if (!f)
				return pl_cli_bad_flag(cmd->name, opt, argv);
			json_t *into = table == pl_cli_resource_flags	? o->resources
				       : table == pl_cli_security_flags ? o->security
									: o->config;
			if (f->set(into, f, optarg, &err) < 0)
				return pl_cli_report(err, EXIT_RUN_ERROR);
			break;
		}
		}
	}
	if (optind >= argc)
		return pl_cli_usage_error(cmd->name, "missing ROOTFS or IMAGE");
	o->rootfs = argv[optind++];
	o->image = names_an_image(o->rootfs);
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc && !o->image)
		return pl_cli_usage_error(cmd->name,
					  "missing the command to run (ROOTFS -- CMD [ARGS...])");
	o->args = argv + optind;
	o->n_args = argc - optind;
	const char *restart = json_string_value(
	    json_object_get(json_object_get(o->config, "restart_policy"), "name"));
	if (o->rm && restart && strcmp(restart, "no") != 0)
		return pl_cli_usage_error(cmd->name, "--rm cannot be combined with --restart %s",
					  restart);
	return 0;
}

/* What the create sends: the typed spec (borrowing from o) and, in its extra, what the flag
 * tables built (resources, security, mounts, ports and the config flags). A relative ROOTFS
 * is resolved here, against our cwd: the daemon's cwd means nothing to the operator. With
 * an IMAGE and no CMD no args are sent: the image's Entrypoint and Cmd run. */
typedef struct create_req {
	pl_container_spec_t spec;
	char *rootfs;
	const char **env, **aliases;
	pl_net_spec_t *nets;
	json_t *extra;
} create_req_t;

static void create_req_done(create_req_t *q)
{
	free(q->rootfs);
	free(q->env);
	free(q->aliases);
	free(q->nets);
	json_decref(q->extra);
}

static int create_req(const run_opts_t *o, create_req_t *q, pl_error_t **err)
{
	pl_container_spec_t *s = &q->spec;
	*s = (pl_container_spec_t){.stop_timeout = -1};
	q->extra = json_object();
	if (o->image) {
		s->image = o->rootfs;
	} else if (o->rootfs[0] != '/') {
		q->rootfs = realpath(o->rootfs, NULL);
		if (!q->rootfs)
			return pl_error_errno(err, "rootfs %s", o->rootfs);
		s->rootfs = q->rootfs;
	} else {
		s->rootfs = o->rootfs;
	}
	const char *strings[] = {o->rootfs, o->workdir, o->user, o->name, o->hostname, o->kernel};
	for (size_t i = 0; i < PL_ARRAY_SIZE(strings); i++)
		if (strings[i] && pl_cli_check_utf8(strings[i], err) < 0)
			return -1;
	for (int i = 0; i < o->n_args; i++)
		if (pl_cli_check_utf8(o->args[i], err) < 0)
			return -1;
	if (o->n_args > 0) /* argv's own NULL ends them */
		s->args = (const char *const *)o->args;
	q->env = pl_cli_strv(o->env);
	s->env = q->env;
	s->tty = o->tty;
	s->open_stdin = o->interactive;
	s->cwd = o->workdir;
	s->user = o->user;
	s->name = o->name;
	s->hostname = o->hostname;
	s->kernel = o->kernel;
	if (json_object_size(o->resources) > 0)
		json_object_set(q->extra, "resources", o->resources);
	if (json_object_size(o->security) > 0)
		json_object_set(q->extra, "security", o->security);
	if (json_array_size(o->mounts) > 0)
		json_object_set(q->extra, "mounts", o->mounts);
	json_object_update(q->extra, o->config);
	/* create --rm and run -d --rm: the port layer removes it when it stops (a run in the
	 * foreground removes it itself, after it has the exit code) */
	s->auto_remove = o->rm && (o->detach || !o->is_run);
	q->aliases = pl_cli_strv(o->aliases);
	q->nets = pl_xcalloc(json_array_size(o->networks) + 1, sizeof(*q->nets));
	if (network_spec(o, s, q->nets, q->aliases, q->extra, err) < 0)
		return -1;
	s->extra = q->extra;
	return 0;
}

/* POST /containers (with start: created and started in one request); returns the new id
 * (malloc'd). */
static char *create_container(pl_client_t *c, const run_opts_t *o, bool start, pl_error_t **err)
{
	_cleanup_(create_req_done) create_req_t q = {0};
	if (create_req(o, &q, err) < 0)
		return NULL;
	char *id = NULL;
	if ((start ? pl_container_create_started(c, &q.spec, &id, err)
		   : pl_container_create(c, &q.spec, &id, err)) < 0)
		return NULL;
	return id;
}

/* After a failed start the daemon records 127 (not found) or 126 (not executable). */
static int exit_code_after_failed_start(pl_client_t *c, const char *id)
{
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(pl_container_info_freep) pl_container_info_t *info =
	    pl_container_inspect(c, id, &err);
	if (!info || !info->state.has_exit_code || info->state.exit_code <= 0 ||
	    info->state.exit_code > 255)
		return EXIT_RUN_ERROR;
	return info->state.exit_code;
}

/* A create-and-start whose start failed leaves no container to ask: its code comes from the
 * start's error, as the docker CLI makes it (127 for a program not found, 126 for one that
 * cannot run; tether words them like runc). A create that failed is 125. */
static int exit_code_of_failed_run(const pl_error_t *e)
{
	const char *m = e && e->msg ? e->msg : "";
	if (!strstr(m, "start container "))
		return EXIT_RUN_ERROR;
	if (strstr(m, "executable file not found") || strstr(m, "no such file or directory") ||
	    strstr(m, "No such file or directory"))
		return 127;
	if (strstr(m, "permission denied") || strstr(m, "Permission denied") ||
	    strstr(m, "is a directory"))
		return 126;
	return EXIT_RUN_ERROR;
}

static void remove_container(pl_client_t *c, const char *id)
{
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_remove(c, id, true, &err) < 0)
		pl_cli_report(err, 0);
}

static int run_tty_session(pl_client_t *c, const run_opts_t *o, const char *id)
{
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_start(c, id, NULL, &err) < 0) {
		pl_cli_report(err, 0);
		int code = exit_code_after_failed_start(c, id);
		if (o->rm)
			remove_container(c, id);
		return code;
	}
	const char *keys = pl_cli_session_detach_keys(o->detach_keys, true);
	bool detached;
	resize_target_t t = {c, id, false};
	if (pl_cli_interact(c, &t, true, keys, &detached, &err) < 0) {
		pl_cli_report(err, 0);
		if (o->rm) /* else it waits for an attach (plctl attach) */
			remove_container(c, id);
		return EXIT_RUN_ERROR;
	}
	if (detached)
		return 0;
	int code = pl_cli_wait_container(c, id, NULL, &err);
	if (code < 0)
		return pl_cli_report(err, 1);
	if (o->rm)
		remove_container(c, id);
	return code;
}

/* run without -t: one request (POST /containers?follow=1) creates and starts it and
 * answers with its output and then its exit status; with --rm it is created with auto_remove
 * and the answer ends once the port layer removed it. No logs request, no wait, no remove:
 * the container is removed even when plctl is killed. A start that fails leaves the
 * container to inspect without --rm, as docker does. Signals are forwarded from the moment
 * its id is known (they are blocked until then, none is lost), and so is our stdin with -i.
 * With -d the answer is left once the id came (the process runs): one round trip, where
 * create and start were two. */
typedef struct followed_run {
	forwarder_t fwd;
	stdin_feeder_t feeder;
	pl_client_t *client;
	const run_opts_t *o;
	char *id;
} followed_run_t;

static int followed_run_started(const char *id, void *userdata)
{
	followed_run_t *f = userdata;
	f->id = pl_xstrdup(id);
	if (f->o->detach) {
		puts(id);
		return 1;
	}
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_cli_forwarder_start(&f->fwd, f->client, id, &err) < 0) {
		/* Follow on without forwarding, and let ^C stop plctl the plain way. */
		pl_cli_report(err, 0);
		err = pl_error_free(err);
		pthread_sigmask(SIG_UNBLOCK, &f->fwd.set, NULL);
	}
	/* -i: our stdin to its stdin, on a connection of its own (the attach makes one); a
	 * process that exited already (409) has no stdin left to feed */
	if (f->o->interactive &&
	    pl_cli_feeder_start(&f->feeder, f->client, id,
				pl_cli_session_detach_keys(f->o->detach_keys, false), &err) < 0 &&
	    err->kind != PL_ERR_CONFLICT)
		pl_cli_report(err, 0);
	return 0;
}

static int write_output(int stream, const char *data, size_t len, void *userdata)
{
	return pl_write_all(stream == PL_STREAM_STDERR ? STDERR_FILENO : STDOUT_FILENO, data, len);
}

static int run_followed(pl_client_t *c, const run_opts_t *o, const sigset_t *set)
{
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(create_req_done) create_req_t q = {0};
	if (create_req(o, &q, &err) < 0)
		return pl_cli_report(err, EXIT_RUN_ERROR);
	q.spec.auto_remove = o->rm;
	followed_run_t f = {
	    .fwd = {.set = *set}, .feeder = {.fd = -1, .stop = {-1, -1}}, .client = c, .o = o};
	pl_exit_status_t st;
	fflush(stdout); /* output is written with write(2), after anything buffered */
	int r =
	    pl_container_run_follow(c, &q.spec, followed_run_started, write_output, &f, &st, &err);
	pl_cli_feeder_stop(&f.feeder);
	pl_cli_forwarder_stop(&f.fwd);
	int code = r > 0 ? 0 : st.exit_code;
	if (r < 0) /* before it ran: 125, or 126/127 as the start's error says */
		code = pl_cli_report(err, f.id ? EXIT_RUN_ERROR : exit_code_of_failed_run(err));
	else if (r == 0 && st.error && *st.error)
		fprintf(stderr, "plctl: %s: %s\n", f.id, st.error);
	pl_exit_status_clear(&st);
	free(f.id);
	return code;
}

/* run: without -t, one request (run_followed). Otherwise the fewest round trips on the one
 * connection. With --rm (and -t) the create starts it too (a failed start leaves nothing
 * behind to keep: the daemon removes it); then the log is followed from its first byte, the exit
 * code fetched and the container removed (or, with -d, the port layer removes it itself:
 * auto_remove). Without --rm it is created and started apart, so a start that fails leaves the
 * container to inspect, as docker does. */
static int cmd_run(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(run_opts_done) run_opts_t o = {0};
	int r = parse_run_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;

	_cleanup_error_ pl_error_t *err = NULL;
	bool tty_session = o.interactive && o.tty && !o.detach;
	bool one_request = o.rm && !tty_session;
	sigset_t set;
	sigemptyset(&set);
	if (!o.detach && !tty_session)
		pl_cli_block_forwarded_signals(
		    &set); /* from here, so none is lost before the thread */
	if (!o.tty)
		return run_followed(c, &o, &set);
	_cleanup_free_ char *id = create_container(c, &o, one_request, &err);
	if (!id)
		return pl_cli_report(err,
				     one_request ? exit_code_of_failed_run(err) : EXIT_RUN_ERROR);
	if (tty_session)
		return run_tty_session(c, &o, id);

	if (!one_request && pl_container_start(c, id, NULL, &err) < 0) {
		pl_cli_report(err, 0);
		int code = exit_code_after_failed_start(c, id);
		if (o.rm)
			remove_container(c, id);
		return code;
	}
	if (o.detach) {
		puts(id);
		return 0;
	}

	if (o.tty) /* -t alone: the output is a terminal's, sized like ours */
		pl_cli_send_size(&(resize_target_t){c, id, false});

	forwarder_t fwd = {.set = set};
	if (pl_cli_forwarder_start(&fwd, c, id, &err) < 0) {
		/* Follow on without forwarding, and let ^C stop plctl the plain way. */
		pl_cli_report(err, 0);
		err = pl_error_free(err);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	stdin_feeder_t feeder = {.fd = -1, .stop = {-1, -1}};
	/* a process that exited already (409) has no stdin left to feed */
	if (o.interactive &&
	    pl_cli_feeder_start(&feeder, c, id, pl_cli_session_detach_keys(o.detach_keys, o.tty),
				&err) < 0) {
		if (err->kind != PL_ERR_CONFLICT)
			pl_cli_report(err, 0);
		err = pl_error_free(err);
	}

	if (pl_cli_stream_logs(c, id, &(pl_logs_opts_t){.follow = true}, &err) < 0) {
		pl_cli_report(err, 0);
		err = pl_error_free(err);
	}
	int code = pl_cli_wait_container(c, id, NULL, &err);
	pl_cli_feeder_stop(&feeder);
	pl_cli_forwarder_stop(&fwd);
	if (code < 0)
		return pl_cli_report(err, 1);
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
	_cleanup_free_ char *id = create_container(c, &o, false, &err);
	if (!id)
		return pl_cli_report(err, EXIT_RUN_ERROR);
	puts(id);
	return 0;
}

const command_t pl_cli_cmd_run = {
    "run",
    cmd_run,
    EXIT_RUN_ERROR,
    "Create and start a container, print its output and exit with its status",
    "run [OPTIONS] ROOTFS|IMAGE [--] [CMD [ARGS...]]\n\n"
    "Create and start a container on ROOTFS (a host directory) or IMAGE (an image\n"
    "reference: anything that is not a directory nor starts with '/' or '.'; without\n"
    "CMD the image's entrypoint and command run), follow its output, wait\n"
    "for it and exit with its exit code. SIGINT and SIGTERM are forwarded to it, except\n"
    "with -it: then our terminal is its terminal (raw mode, resized along), and the\n"
    "detach keys leave it running.",
    run_flags};

const command_t pl_cli_cmd_create = {"create",
				     cmd_create,
				     EXIT_RUN_ERROR,
				     "Create a container and print its id",
				     "create [OPTIONS] ROOTFS|IMAGE [--] [CMD [ARGS...]]",
				     create_tables};
