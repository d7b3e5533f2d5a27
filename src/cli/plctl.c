/* plctl: the operator CLI over the port layer API. CLI logic only; HTTP, JSON transport and
 * the log stream framing live in the client library. Exit codes follow docker: 125 when run
 * or create fails before the container runs, the container's own code after it ran, 1 for
 * other daemon errors, 2 for usage errors. */
#include "client/client.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
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

/* ---- table-driven flags: resources, security and config of run, create and update ---- */

typedef struct flag flag_t;

/* Sets what flag f stands for in obj (the "resources" or "security" object, or the body
 * itself) from its argument (NULL for a flag that takes none). */
typedef int (*flag_set_fn)(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err);

struct flag {
	const char *name; /* the long option, without "--" */
	char short_opt;	  /* its one-letter alias, or 0 */
	bool takes_arg;
	const char *key; /* the JSON field it sets */
	flag_set_fn set;
};

static int bad_value(const flag_t *f, const char *arg, const char *want, pl_error_t **err)
{
	return pl_error_set(err, PL_ERR_INVALID, 0, "invalid value \"%s\" for --%s: %s", arg,
			    f->name, want);
}

/* The length of the plain decimal number ("12", "1.5", ".5") s starts with, 0 if none: no
 * sign, exponent or hex, which strtod would take. */
static size_t decimal_len(const char *s)
{
	size_t whole = strspn(s, "0123456789"), frac = 0;
	if (s[whole] == '.')
		frac = strspn(s + whole + 1, "0123456789");
	if (frac > 0)
		return whole + 1 + frac;
	return whole;
}

/* docker's sizes (go-units RAMInBytes): a decimal number and an optional binary unit b, k, m,
 * g, t or p in any case, which "i" and "b" may follow (1.5GiB); a bare number is bytes. */
static int parse_size(const char *s, int64_t *out)
{
	static const char units[] = "bkmgtp";
	size_t len = decimal_len(s), whole = strspn(s, "0123456789");
	const char *p = s + len;
	if (len == 0)
		return -EINVAL;
	const char *u = *p ? strchr(units, tolower((unsigned char)*p)) : NULL;
	int shift = u ? 10 * (int)(u - units) : 0;
	if (u) {
		p++;
		if (shift && tolower((unsigned char)*p) == 'i')
			p++;
		if (shift && tolower((unsigned char)*p) == 'b')
			p++;
	}
	if (*p)
		return -EINVAL;
	/* the whole part stays exact; only a fraction of a unit goes through a double */
	_cleanup_free_ char *digits = pl_xasprintf("%.*s", (int)whole, s);
	int64_t n = 0;
	if (whole > 0 && pl_parse_int64(digits, 0, INT64_MAX >> shift, &n) < 0)
		return -ERANGE;
	int64_t part =
	    len > whole ? (int64_t)(strtod(s + whole, NULL) * (double)(1ll << shift)) : 0;
	if (n << shift > INT64_MAX - part)
		return -ERANGE;
	*out = (n << shift) + part;
	return 0;
}

/* Sets obj[key] to an integer, or removes it for 0: in docker a zero limit means the
 * default, and a later flag overrides an earlier one. */
static void set_nonzero(json_t *obj, const char *key, int64_t n)
{
	if (n != 0)
		json_object_set_new(obj, key, json_integer(n));
	else
		json_object_del(obj, key);
}

/* obj[key] as an object or array, created empty on first use. */
static json_t *member(json_t *obj, const char *key, bool array)
{
	json_t *m = json_object_get(obj, key);
	if (!m) {
		m = array ? json_array() : json_object();
		json_object_set_new(obj, key, m);
	}
	return m;
}

static int set_bytes(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	int64_t n;
	if (parse_size(arg, &n) < 0)
		return bad_value(f, arg, "want a size such as 512m or 1g", err);
	set_nonzero(obj, f->key, n);
	return 0;
}

/* memory + swap, or -1 for unlimited swap. */
static int set_swap(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	if (strcmp(arg, "-1") == 0) {
		json_object_set_new(obj, f->key, json_integer(-1));
		return 0;
	}
	int64_t n;
	if (parse_size(arg, &n) < 0)
		return bad_value(f, arg, "want a size such as 512m or 1g, or -1 for unlimited",
				 err);
	set_nonzero(obj, f->key, n);
	return 0;
}

static int set_cpus(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	size_t len = decimal_len(arg);
	double cpus = len > 0 ? strtod(arg, NULL) : 0;
	if (len == 0 || arg[len] || !isfinite(cpus))
		return bad_value(f, arg, "want a decimal number such as 1.5", err);
	if (cpus > 0)
		json_object_set_new(obj, f->key, json_real(cpus));
	else
		json_object_del(obj, f->key);
	return 0;
}

static int set_int(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	int64_t n;
	if (pl_parse_int64(arg, INT64_MIN, INT64_MAX, &n) < 0)
		return bad_value(f, arg, "want a whole number", err);
	set_nonzero(obj, f->key, n);
	return 0;
}

/* As in docker, 0 and -1 both lift the limit. */
static int set_pids(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	int64_t n;
	if (pl_parse_int64(arg, -1, INT64_MAX, &n) < 0)
		return bad_value(f, arg, "want a whole number, or -1 for unlimited", err);
	json_object_set_new(obj, f->key, json_integer(n == 0 ? -1 : n));
	return 0;
}

static int set_string(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	return add_string(obj, f->key, arg, err);
}

static int set_true(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	json_object_set_new(obj, f->key, json_true());
	return 0;
}

static int append_string(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	return add_string(member(obj, f->key, true), NULL, arg, err);
}

/* Splits "K<sep>V" into obj[f->key][K] = V; a missing V is "" unless value_required. */
static int set_pair(json_t *obj, const flag_t *f, const char *arg, char sep, bool value_required,
		    const char *want, pl_error_t **err)
{
	const char *at = strchr(arg, sep);
	if (at == arg || (value_required && !at))
		return bad_value(f, arg, want, err);
	_cleanup_free_ char *k = pl_xasprintf("%.*s", (int)(at ? at - arg : INT_MAX), arg);
	json_t *v = json_string(at ? at + 1 : "");
	/* json_object_set_new takes v even when it refuses a key that is not UTF-8 */
	if (!v || json_object_set_new(member(obj, f->key, false), k, v) < 0)
		return bad_value(f, arg, "not valid UTF-8", err);
	return 0;
}

static int set_sysctl(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	return set_pair(obj, f, arg, '=', true, "want KEY=VALUE", err);
}

static int set_tmpfs(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	return set_pair(obj, f, arg, ':', false, "want PATH[:OPTIONS]", err);
}

static int set_label(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	return set_pair(obj, f, arg, '=', false, "want KEY[=VALUE]", err);
}

/* docker's TYPE=SOFT[:HARD]; HARD defaults to SOFT. */
static int set_ulimit(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	static const char want[] = "want TYPE=SOFT[:HARD], e.g. nofile=1024:2048";
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg)
		return bad_value(f, arg, want, err);
	_cleanup_free_ char *type = pl_xasprintf("%.*s", (int)(eq - arg), arg);
	_cleanup_free_ char *soft_s = pl_xstrdup(eq + 1);
	char *colon = strchr(soft_s, ':');
	const char *hard_s = colon ? colon + 1 : soft_s;
	if (colon)
		*colon = '\0';
	int64_t soft, hard;
	if (pl_parse_int64(soft_s, 0, INT64_MAX, &soft) < 0 ||
	    pl_parse_int64(hard_s, 0, INT64_MAX, &hard) < 0)
		return bad_value(f, arg, want, err);
	if (soft > hard)
		return bad_value(f, arg, "the soft limit must not exceed the hard limit", err);
	json_t *limit = json_pack("{s:s, s:I, s:I}", "type", type, "soft", (json_int_t)soft, "hard",
				  (json_int_t)hard);
	if (!limit)
		return bad_value(f, arg, "not valid UTF-8", err);
	/* as in docker, a later --ulimit of the same type replaces the earlier one */
	json_t *list = member(obj, f->key, true);
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e)
	{
		if (strcmp(json_string_value(json_object_get(e, "type")), type) == 0)
			return json_array_set_new(list, i, limit) < 0 ? -ENOMEM : 0;
	}
	return json_array_append_new(list, limit) < 0 ? -ENOMEM : 0;
}

/* docker's no-new-privileges[=BOOL] and seccomp=PROFILE|unconfined (also with the older ':'
 * separator). The profile is read here: the file is the operator's, not the daemon's. */
static int set_security_opt(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	size_t klen = strcspn(arg, "=:");
	const char *value = arg[klen] ? arg + klen + 1 : NULL;
	if (klen == strlen("no-new-privileges") && strncmp(arg, "no-new-privileges", klen) == 0) {
		if (value && strcmp(value, "true") != 0 && strcmp(value, "false") != 0)
			return bad_value(f, arg, "want no-new-privileges[=true|false]", err);
		json_object_set_new(obj, "no_new_privileges",
				    json_boolean(!value || strcmp(value, "true") == 0));
		return 0;
	}
	if (klen != strlen("seccomp") || strncmp(arg, "seccomp", klen) != 0 || !value || !*value)
		return bad_value(f, arg,
				 "want no-new-privileges[=true|false], seccomp=PROFILE.json or "
				 "seccomp=unconfined",
				 err);
	if (strcmp(value, "unconfined") == 0)
		return add_string(obj, "seccomp", value, err);
	json_error_t jerr;
	json_t *profile = json_load_file(value, 0, &jerr);
	if (!profile)
		return pl_error_set(err, PL_ERR_INVALID, 0, "--security-opt seccomp=%s: %s", value,
				    jerr.text);
	if (!json_is_object(profile)) {
		json_decref(profile);
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "--security-opt seccomp=%s: not a JSON object (an OCI "
				    "seccomp profile)",
				    value);
	}
	json_object_set_new(obj, "seccomp", profile);
	return 0;
}

/* no | on-failure[:MAX_RETRIES] | always | unless-stopped */
static int set_restart(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	static const char *const policies[] = {"no", "on-failure", "always", "unless-stopped"};
	size_t nlen = strcspn(arg, ":");
	const char *retries = arg[nlen] ? arg + nlen + 1 : NULL;
	_cleanup_free_ char *name = pl_xasprintf("%.*s", (int)nlen, arg);
	bool known = false;
	for (size_t i = 0; i < PL_ARRAY_SIZE(policies); i++)
		known |= strcmp(name, policies[i]) == 0;
	if (!known)
		return bad_value(
		    f, arg, "want no, on-failure[:MAX_RETRIES], always or unless-stopped", err);
	int64_t n = 0;
	if (retries && strcmp(name, "on-failure") != 0)
		return bad_value(f, arg, "only on-failure takes a maximum retry count", err);
	if (retries && pl_parse_int64(retries, 0, INT_MAX, &n) < 0)
		return bad_value(f, arg, "the maximum retry count must be a whole number", err);
	json_t *policy = json_pack("{s:s}", "name", name);
	if (retries)
		json_object_set_new(policy, "max_retries", json_integer(n));
	json_object_set_new(obj, f->key, policy);
	return 0;
}

/* Checked here for a clear message; sent as given, the daemon knows names and numbers. */
static int set_signal(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	int signo;
	if (pl_signal_parse(arg, &signo) < 0)
		return bad_value(f, arg, "want a signal name (TERM, SIGTERM) or number", err);
	return add_string(obj, f->key, arg, err);
}

static int set_seconds(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	int64_t n;
	if (pl_parse_int64(arg, 0, INT_MAX, &n) < 0)
		return bad_value(f, arg, "want whole seconds", err);
	json_object_set_new(obj, f->key, json_integer(n));
	return 0;
}

/* Fields of "resources": run and create send them at creation, update to a live container. */
static const flag_t resource_flags[] = {
    {"memory", 'm', true, "memory", set_bytes},
    {"memory-reservation", 0, true, "memory_reservation", set_bytes},
    {"memory-swap", 0, true, "memory_swap", set_swap},
    {"cpus", 0, true, "cpus", set_cpus},
    {"cpu-shares", 0, true, "cpu_shares", set_int},
    {"cpuset-cpus", 0, true, "cpuset_cpus", set_string},
    {"pids-limit", 0, true, "pids_limit", set_pids},
    {"blkio-weight", 0, true, "blkio_weight", set_int},
    {0},
};

/* Fields of "security". */
static const flag_t security_flags[] = {
    {"cap-add", 0, true, "cap_add", append_string},
    {"cap-drop", 0, true, "cap_drop", append_string},
    {"privileged", 0, false, "privileged", set_true},
    {"security-opt", 0, true, NULL, set_security_opt},
    {"read-only", 0, false, "read_only_rootfs", set_true},
    {"tmpfs", 0, true, "tmpfs", set_tmpfs},
    {"sysctl", 0, true, "sysctls", set_sysctl},
    {"ulimit", 0, true, "rlimits", set_ulimit},
    {"oom-score-adj", 0, true, "oom_score_adj", set_int},
    {0},
};

/* Top-level fields of the create body. */
static const flag_t config_flags[] = {
    {"label", 0, true, "labels", set_label},
    {"restart", 0, true, "restart_policy", set_restart},
    {"stop-signal", 0, true, "stop_signal", set_signal},
    {"stop-timeout", 0, true, "stop_timeout", set_seconds},
    {0},
};

/* getopt's value for a table flag without a short option is FLAG_BASE + its position across
 * the tables given to join_options; a command's own long options stay below. */
#define FLAG_BASE 1024

/* getopt_long's table: own (ending in {0}) followed by every flag of the NULL-terminated
 * tables. Returns a malloc'd array. */
static struct option *join_options(const struct option *own, const flag_t *const *tables)
{
	size_t n_own = 0, n = 0;
	while (own[n_own].name)
		n_own++;
	for (const flag_t *const *t = tables; *t; t++)
		for (const flag_t *f = *t; f->name; f++)
			n++;
	struct option *all = pl_xcalloc(n_own + n + 1, sizeof(*all));
	memcpy(all, own, n_own * sizeof(*all));
	struct option *o = all + n_own;
	for (const flag_t *const *t = tables; *t; t++)
		for (const flag_t *f = *t; f->name; f++, o++)
			*o = (struct option){
			    f->name, f->takes_arg ? required_argument : no_argument, NULL,
			    f->short_opt ? f->short_opt : FLAG_BASE + (int)(o - all - n_own)};
	return all;
}

/* The table flag getopt answered with opt (and the table holding it), or NULL. */
static const flag_t *find_flag(const flag_t *const *tables, int opt, const flag_t **table)
{
	int i = 0;
	for (const flag_t *const *t = tables; *t; t++)
		for (const flag_t *f = *t; f->name; f++, i++)
			if (opt == (f->short_opt ? f->short_opt : FLAG_BASE + i)) {
				*table = *t;
				return f;
			}
	return NULL;
}

/* ---- run / create ---- */

typedef struct run_opts {
	bool rm, detach;
	const char *name, *workdir, *user, *hostname, *kernel, *rootfs;
	json_t *env;	   /* array of "K=V" */
	json_t *resources; /* the body's "resources" */
	json_t *security;  /* the body's "security" */
	json_t *config;	   /* other top-level fields of the body (labels, restart_policy...) */
	char **args;	   /* the command, borrowed from argv */
	int n_args;
} run_opts_t;

static void run_opts_done(run_opts_t *o)
{
	json_decref(o->env);
	json_decref(o->resources);
	json_decref(o->security);
	json_decref(o->config);
}

static const flag_t *const run_flag_tables[] = {resource_flags, security_flags, config_flags, NULL};

/* Parses [flags] ROOTFS [--] CMD [ARGS...]. Returns 0, HELP_SHOWN, or an exit code: 2 for a
 * usage error, 125 for a flag value that cannot be right. */
static int parse_run_opts(const command_t *cmd, int argc, char **argv, run_opts_t *o)
{
	bool is_run = strcmp(cmd->name, "run") == 0;
	enum { OPT_RM = 256, OPT_NAME, OPT_KERNEL, OPT_HELP };
	static const struct option own[] = {
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
	_cleanup_free_ struct option *longopts = join_options(own, run_flag_tables);
	*o = (run_opts_t){.env = json_array(),
			  .resources = json_object(),
			  .security = json_object(),
			  .config = json_object()};
	int opt;
	optind = 0;
	opterr = 0;
	/* '+': stop at ROOTFS so the container's command keeps its own flags. */
	while ((opt = getopt_long(argc, argv, "+:de:w:u:h:m:", longopts, NULL)) != -1) {
		_cleanup_error_ pl_error_t *err = NULL;
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
		default: {
			const flag_t *table, *f = find_flag(run_flag_tables, opt, &table);
			if (!f)
				return bad_flag(cmd->name, opt, argv);
			json_t *into = table == resource_flags	 ? o->resources
				       : table == security_flags ? o->security
								 : o->config;
			if (f->set(into, f, optarg, &err) < 0)
				return report(err, EXIT_RUN_ERROR);
			break;
		}
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
	const char *restart = json_string_value(
	    json_object_get(json_object_get(o->config, "restart_policy"), "name"));
	if (o->rm && restart && strcmp(restart, "no") != 0)
		return usage_error(cmd->name, "--rm cannot be combined with --restart %s", restart);
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
	if (json_object_size(o->resources) > 0)
		json_object_set(body, "resources", o->resources);
	if (json_object_size(o->security) > 0)
		json_object_set(body, "security", o->security);
	json_object_update(body, o->config);
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

static int cmd_pause(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	simple_opts_t o = {0};
	int r = parse_simple_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	return for_each_id(c, argc, argv, "POST",
			   strcmp(cmd->name, "pause") == 0 ? "/pause" : "/unpause", false);
}

/* ---- update, rename ---- */

static int cmd_update(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	static const struct option own[] = {{"help", no_argument, NULL, 'h'}, {0}};
	static const flag_t *const tables[] = {resource_flags, NULL};
	_cleanup_free_ struct option *longopts = join_options(own, tables);
	_cleanup_(json_decrefp) json_t *body = json_object();
	json_t *resources = member(body, "resources", false);
	bool any = false;
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hm:", longopts, NULL)) != -1) {
		_cleanup_error_ pl_error_t *err = NULL;
		const flag_t *table, *f;
		if (opt == 'h') {
			print_usage(stdout, cmd);
			return 0;
		}
		if (!(f = find_flag(tables, opt, &table)))
			return bad_flag(cmd->name, opt, argv);
		if (f->set(resources, f, optarg, &err) < 0)
			return usage_error(cmd->name, "%s", err->msg);
		any = true;
	}
	if (!any)
		return usage_error(cmd->name, "needs at least one flag to change");
	if (optind >= argc)
		return usage_error(cmd->name, "requires at least one container");
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		_cleanup_free_ char *path = container_path(c, argv[i], "/update");
		_cleanup_error_ pl_error_t *err = NULL;
		if (pl_client_request(c, "POST", path, body, NULL, NULL, &err) < 0) {
			rc = report(err, 1);
			continue;
		}
		puts(argv[i]);
	}
	return rc;
}

/* A handle: a token bound to one config version of a container. */
typedef struct handle {
	char *token, *id;
	json_int_t version;
} handle_t;

static void handle_done(handle_t *h)
{
	free(h->token);
	free(h->id);
}

static int take_handle(pl_client_t *c, const char *container, handle_t *h, pl_error_t **err)
{
	_cleanup_free_ char *path = container_path(c, container, "/handle");
	_cleanup_(json_decrefp) json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return -1;
	const char *token = json_string_value(json_object_get(resp, "handle"));
	const char *id = json_string_value(json_object_get(resp, "id"));
	json_t *version = json_object_get(resp, "version");
	if (!token || !id || !json_is_integer(version))
		return pl_error_set(err, PL_ERR_INTERNAL, 0,
				    "take a handle on %s: the daemon answered without "
				    "handle, id and version",
				    container);
	*h = (handle_t){pl_xstrdup(token), pl_xstrdup(id), json_integer_value(version)};
	return 0;
}

/* "/handles/<escaped token><suffix>", malloc'd. */
static char *handle_path(pl_client_t *c, const char *token, const char *suffix)
{
	_cleanup_free_ char *esc = pl_client_escape(c, token);
	return pl_xasprintf("/handles/%s%s", esc, suffix);
}

/* Handles expire on their own; dropping the ones we are done with just keeps the daemon
 * tidy, so a failure here is not worth reporting. */
static void drop_handle(pl_client_t *c, const char *token)
{
	_cleanup_free_ char *path = handle_path(c, token, "");
	_cleanup_error_ pl_error_t *err = NULL;
	pl_client_request(c, "DELETE", path, NULL, NULL, NULL, &err);
}

/* Stages one change (POST /handles/{h}/{op}) and commits the staged handle. */
static int commit_change(pl_client_t *c, const char *token, const char *op, json_t *arg,
			 pl_error_t **err)
{
	_cleanup_free_ char *suffix = pl_xasprintf("/%s", op);
	_cleanup_free_ char *path = handle_path(c, token, suffix);
	_cleanup_(json_decrefp) json_t *resp = NULL;
	if (pl_client_request(c, "POST", path, arg, NULL, &resp, err) < 0)
		return -1;
	const char *staged = json_string_value(json_object_get(resp, "handle"));
	if (!staged)
		return pl_error_set(err, PL_ERR_INTERNAL, 0,
				    "%s: the daemon answered without a handle", op);
	_cleanup_free_ char *commit = handle_path(c, staged, "/commit");
	int r = pl_client_request(c, "POST", commit, NULL, NULL, NULL, err);
	if (r < 0)
		drop_handle(c, staged); /* only a successful commit spends it */
	return r;
}

/* Takes a handle, stages the rename, commits. A commit refused because someone else
 * committed in between (409, the container moved past our version) is replayed once on a
 * fresh handle; any other 409 (the name is taken) is the answer. */
static int cmd_rename(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	simple_opts_t o = {0};
	int r = parse_simple_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (argc - optind != 2)
		return usage_error(cmd->name, "requires exactly a container and its new name");
	_cleanup_(json_decrefp) json_t *arg = json_object();
	_cleanup_error_ pl_error_t *err = NULL;
	if (add_string(arg, "name", argv[optind + 1], &err) < 0)
		return usage_error(cmd->name, "%s", err->msg);

	_cleanup_(handle_done) handle_t h = {0}, fresh = {0};
	if (take_handle(c, argv[optind], &h, &err) < 0)
		return report(err, 1);
	r = commit_change(c, h.token, "rename", arg, &err);
	drop_handle(c, h.token);
	if (r < 0 && err->kind == PL_ERR_CONFLICT) {
		_cleanup_error_ pl_error_t *again = NULL;
		if (take_handle(c, h.id, &fresh, &again) < 0)
			return report(again, 1);
		if (fresh.version != h.version) {
			err = pl_error_free(err);
			r = commit_change(c, fresh.token, "rename", arg, &err);
		}
		drop_handle(c, fresh.token);
	}
	return r < 0 ? report(err, 1) : 0;
}

/* ---- ps ---- */

static bool is_live(const char *state)
{
	return state && (strcmp(state, "running") == 0 || strcmp(state, "starting") == 0 ||
			 strcmp(state, "stopping") == 0 || strcmp(state, "paused") == 0);
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
 * duration ("90s", "10m", "2h", "1d", like docker's) becomes unix seconds here, to the
 * nanosecond like docker's, so "--until 0s" takes in what happened this very second. */
static char *since_value(const char *s)
{
	static const struct {
		char suffix;
		int64_t secs;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}};
	const int64_t NS = 1000000000LL;
	size_t len = strlen(s);
	for (size_t i = 0; len > 1 && i < PL_ARRAY_SIZE(units); i++) {
		if (s[len - 1] != units[i].suffix)
			continue;
		_cleanup_free_ char *num = pl_xasprintf("%.*s", (int)(len - 1), s);
		int64_t n;
		if (pl_parse_int64(num, 0, INT64_MAX / NS / 86400, &n) < 0)
			continue;
		/* before the epoch is "from the start" (1 ns: the daemon reads 0 as "not set") */
		int64_t t = pl_now_ns() - n * units[i].secs * NS;
		if (t < 1)
			t = 1;
		return pl_xasprintf("%lld.%09lld", (long long)(t / NS), (long long)(t % NS));
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

/* ---- events ---- */

typedef struct events_out {
	bool json;
} events_out_t;

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* docker's line: TIME TYPE ACTION ID (k=v, ...), attributes sorted by key; null ones
 * (no signal on a plain exit) are left out. */
static void print_event_line(json_t *ev)
{
	const char *fields[] = {"time", "type", "action", "id"};
	for (size_t i = 0; i < PL_ARRAY_SIZE(fields); i++) {
		const char *v = json_string_value(json_object_get(ev, fields[i]));
		printf("%s%s", i ? " " : "", v ? v : "-");
	}
	json_t *attrs = json_object_get(ev, "attributes");
	size_t n = 0;
	const char **keys = pl_xcalloc(json_object_size(attrs) + 1, sizeof(*keys));
	const char *k;
	json_t *v;
	json_object_foreach(attrs, k, v)
	{
		if (!json_is_null(v))
			keys[n++] = k;
	}
	qsort(keys, n, sizeof(*keys), compare_strings);
	for (size_t i = 0; i < n; i++) {
		v = json_object_get(attrs, keys[i]);
		_cleanup_free_ char *text = json_is_string(v)
						? pl_xstrdup(json_string_value(v))
						: json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		printf("%s%s=%s", i ? ", " : " (", keys[i], text ? text : "");
	}
	printf("%s\n", n ? ")" : "");
	free(keys);
}

static int print_event(json_t *ev, const char *line, size_t len, void *userdata)
{
	const events_out_t *out = userdata;
	if (out->json)
		printf("%.*s\n", (int)len, line);
	else
		print_event_line(ev);
	/* one line at a time, also into a pipe: events are watched as they happen */
	if (fflush(stdout) != 0)
		return -errno;
	return 0;
}

static int cmd_events(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	enum { OPT_SINCE = 256, OPT_UNTIL, OPT_FORMAT };
	static const struct option longopts[] = {
	    {"since", required_argument, NULL, OPT_SINCE},
	    {"until", required_argument, NULL, OPT_UNTIL},
	    {"filter", required_argument, NULL, 'f'},
	    {"format", required_argument, NULL, OPT_FORMAT},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *since = NULL, *until = NULL;
	events_out_t out = {0};
	_cleanup_(json_decrefp) json_t *filters = json_object();
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":f:h", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_SINCE:
			since = optarg;
			break;
		case OPT_UNTIL:
			until = optarg;
			break;
		case 'f': {
			/* key=value; repeated keys widen the match, as in docker */
			const char *eq = strchr(optarg, '=');
			_cleanup_error_ pl_error_t *err = NULL;
			if (!eq || eq == optarg)
				return usage_error(cmd->name, "bad filter '%s' (want KEY=VALUE)",
						   optarg);
			_cleanup_free_ char *key = pl_xasprintf("%.*s", (int)(eq - optarg), optarg);
			json_t *values = json_object_get(filters, key);
			if (!values) {
				values = json_array();
				if (json_object_set_new(filters, key, values) < 0)
					return usage_error(cmd->name, "bad filter '%s'", optarg);
			}
			if (add_string(values, NULL, eq + 1, &err) < 0)
				return usage_error(cmd->name, "%s", err->msg);
			break;
		}
		case OPT_FORMAT:
			if (strcmp(optarg, "json") != 0 && strcmp(optarg, "{{json .}}") != 0)
				return usage_error(cmd->name,
						   "unsupported format '%s' (only 'json')", optarg);
			out.json = true;
			break;
		case 'h':
			print_usage(stdout, cmd);
			return 0;
		default:
			return bad_flag(cmd->name, opt, argv);
		}
	}
	if (optind < argc)
		return usage_error(cmd->name, "unexpected argument '%s'", argv[optind]);

	_cleanup_free_ char *path = pl_xstrdup("/events");
	if (since) {
		_cleanup_free_ char *v = since_value(since);
		add_query(c, &path, "since", v);
	}
	if (until) {
		_cleanup_free_ char *v = since_value(until);
		add_query(c, &path, "until", v);
	}
	if (json_object_size(filters) > 0) {
		_cleanup_free_ char *v = json_dumps(filters, JSON_COMPACT);
		add_query(c, &path, "filters", v);
	}
	_cleanup_(pl_ndjson_done) pl_ndjson_t lines;
	pl_ndjson_init(&lines, print_event, &out);
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_client_stream(c, path, pl_ndjson_feed_cb, &lines, &err) < 0)
		return report(err, 1);
	if (!pl_ndjson_at_boundary(&lines)) {
		fprintf(stderr, "plctl: the event stream ended in the middle of a line\n");
		return 1;
	}
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

#define RESOURCE_FLAGS                                                                             \
	"  -m, --memory SIZE           memory limit: bytes or 512k, 64m, 1g\n"                     \
	"  --memory-reservation SIZE   soft memory limit\n"                                        \
	"  --memory-swap SIZE          memory + swap limit; -1 for unlimited swap\n"               \
	"  --cpus N.N                  number of CPUs (1.5)\n"                                     \
	"  --cpu-shares N              relative CPU weight (1024 is the usual default)\n"          \
	"  --cpuset-cpus LIST          CPUs it may run on (0-3, 0,1)\n"                            \
	"  --pids-limit N              maximum number of processes; -1 for unlimited\n"            \
	"  --blkio-weight N            relative block IO weight, 10 to 1000\n"

#define RUN_FLAGS                                                                                  \
	"  --name NAME                 name the container\n"                                       \
	"  -e, --env KEY=VALUE         set an environment variable (KEY alone: take ours)\n"       \
	"  -w, --workdir DIR           working directory inside the container\n"                   \
	"  -u, --user UID[:GID]        numeric user and group\n"                                   \
	"  -h, --hostname NAME         container hostname\n"                                       \
	"  --kernel shared|dedicated   isolation: share the host kernel or have its own\n"         \
	"  --label KEY[=VALUE]         set a label (repeatable)\n"                                 \
	"  --restart POLICY            no, on-failure[:MAX_RETRIES], always, unless-stopped\n"     \
	"  --stop-signal SIGNAL        signal that stops it (default TERM)\n"                      \
	"  --stop-timeout SECONDS      grace period before SIGKILL on stop (default 10)\n"         \
	"\nResources:\n" RESOURCE_FLAGS "\nSecurity:\n"                                            \
	"  --cap-add CAP               add a capability, or ALL (repeatable)\n"                    \
	"  --cap-drop CAP              drop a capability, or ALL (repeatable)\n"                   \
	"  --privileged                every capability, no seccomp filter\n"                      \
	"  --security-opt OPT          no-new-privileges[=true|false] (default true),\n"           \
	"                              seccomp=PROFILE.json or seccomp=unconfined\n"               \
	"  --read-only                 mount the root filesystem read-only\n"                      \
	"  --tmpfs PATH[:OPTIONS]      mount a tmpfs (repeatable)\n"                               \
	"  --sysctl KEY=VALUE          set a namespaced sysctl (repeatable)\n"                     \
	"  --ulimit TYPE=SOFT[:HARD]   set a resource limit, e.g. nofile=1024:2048 (repeatable)\n" \
	"  --oom-score-adj N           OOM killer preference, -1000 to 1000\n"

static const command_t commands[] = {
    {"run", cmd_run, EXIT_RUN_ERROR,
     "Create and start a container, print its output and exit with its status",
     "run [OPTIONS] ROOTFS [--] CMD [ARGS...]\n\n"
     "Create and start a container on ROOTFS (a host directory), follow its output, wait\n"
     "for it and exit with its exit code. SIGINT and SIGTERM are forwarded to it.\n\n"
     "  --rm                        remove the container when it exits\n"
     "  -d, --detach                print the id and return once it started\n" RUN_FLAGS},
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
    {"pause", cmd_pause, 1, "Freeze every process of containers", "pause ID..."},
    {"unpause", cmd_pause, 1, "Thaw paused containers", "unpause ID..."},
    {"update", cmd_update, 1, "Change the resource limits of containers, running or not",
     "update [OPTIONS] ID...\n\n" RESOURCE_FLAGS},
    {"rename", cmd_rename, 1, "Rename a container", "rename ID NEW_NAME"},
    {"inspect", cmd_inspect, 1, "Show containers' config and state as JSON", "inspect ID..."},
    {"logs", cmd_logs, 1, "Show a container's output",
     "logs [OPTIONS] ID\n\n"
     "  -f, --follow       keep streaming until the container stops\n"
     "  --tail N           only the last N lines (or 'all')\n"
     "  --since TIME       RFC 3339, unix seconds or a duration ago (10m, 2h)\n"
     "  --until TIME       likewise\n"
     "  -t, --timestamps   prefix each line with its time\n"},
    {"events", cmd_events, 1, "Stream container events as they happen",
     "events [OPTIONS]\n\n"
     "  --since TIME           replay events from TIME first (RFC 3339, unix seconds or\n"
     "                         a duration ago: 10m, 2h)\n"
     "  --until TIME           stop at TIME (likewise); without it, stream until ^C\n"
     "  -f, --filter KEY=VAL   type=, container= (id, prefix or name) or event=\n"
     "                         (create, start, die, ...); repeatable\n"
     "  --format json          print each event as its JSON line\n"},
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
