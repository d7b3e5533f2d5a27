/* plctl: the operator CLI over the port layer API. CLI logic only; HTTP, JSON transport and
 * the log stream framing live in the client library. Exit codes follow docker: 125 when run
 * or create fails before the container runs, the container's own code after it ran, 1 for
 * other daemon errors, 2 for usage errors. */
#include "cli/plctl_archive.h"
#include "cli/plctl_engine.h"
#include "cli/term.h"
#include "client/client.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
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

/* --userns=remap: the container's root is an unprivileged host uid (a range the daemon
 * hands out); host: the host's user namespace (the default). */
static int set_userns(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	if (strcmp(arg, "remap") != 0 && strcmp(arg, "host") != 0)
		return bad_value(f, arg, "want remap or host", err);
	json_object_set_new(obj, f->key, json_pack("{s:s}", "mode", arg));
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
    {"userns", 0, true, "userns", set_userns},
    {0},
};

/* docker's --device HOST[:CONTAINER[:PERMISSIONS]] */
static int set_device(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	_cleanup_free_ char *copy = pl_xstrdup(arg);
	char *in = strchr(copy, ':'), *perms = NULL;
	if (in) {
		*in++ = '\0';
		perms = strchr(in, ':');
		if (perms)
			*perms++ = '\0';
		else if (*in && in[0] != '/') /* HOST:PERMISSIONS */
			perms = in, in = NULL;
	}
	json_t *d = json_pack("{s:s}", "path_on_host", copy);
	if (!d)
		return bad_value(f, arg, "not valid UTF-8", err);
	if (in && *in)
		json_object_set_new(d, "path_in_container", json_string(in));
	if (perms && *perms)
		json_object_set_new(d, "permissions", json_string(perms));
	json_array_append_new(member(obj, f->key, true), d);
	return 0;
}

/* Top-level fields of the create body. */
/* docker's --health-* flags: fields of "healthcheck" (key: the field; test from --health-cmd
 * or --no-healthcheck); durations take s/ms/m/h suffixes or plain seconds. */
static int set_health(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	json_t *hc = json_object_get(obj, "healthcheck");
	if (!hc) {
		hc = json_object();
		json_object_set_new(obj, "healthcheck", hc);
	}
	if (!strcmp(f->key, "test")) {
		json_object_set_new(hc, "test",
				    arg ? json_pack("[s, s]", "CMD-SHELL", arg)
					: json_pack("[s]", "NONE"));
		return 0;
	}
	if (!strcmp(f->key, "retries")) {
		int64_t n;
		if (pl_parse_int64(arg, 0, INT_MAX, &n) < 0)
			return bad_value(f, arg, "want a whole number", err);
		json_object_set_new(hc, "retries", json_integer(n));
		return 0;
	}
	char *end = NULL;
	double v = strtod(arg, &end);
	double unit = !strcmp(end, "ms")	   ? 0.001
		      : !strcmp(end, "m")	   ? 60
		      : !strcmp(end, "h")	   ? 3600
		      : !*end || !strcmp(end, "s") ? 1
						   : -1;
	if (end == arg || unit < 0 || !(v >= 0))
		return bad_value(f, arg, "want a duration (30s, 500ms, 1m) or seconds", err);
	json_object_set_new(hc, f->key, json_real(v * unit));
	return 0;
}

static const flag_t config_flags[] = {
    {"label", 0, true, "labels", set_label},
    {"restart", 0, true, "restart_policy", set_restart},
    {"stop-signal", 0, true, "stop_signal", set_signal},
    {"stop-timeout", 0, true, "stop_timeout", set_seconds},
    {"ipc", 0, true, "ipc_mode", set_string},
    {"pid", 0, true, "pid_mode", set_string},
    {"uts", 0, true, "uts_mode", set_string},
    {"dns", 0, true, "dns", append_string},
    {"dns-search", 0, true, "dns_search", append_string},
    {"dns-option", 0, true, "dns_options", append_string},
    {"add-host", 0, true, "extra_hosts", append_string},
    {"domainname", 0, true, "domainname", set_string},
    {"cgroup-parent", 0, true, "cgroup_parent", set_string},
    {"device", 0, true, "devices", set_device},
    {"shm-size", 0, true, "shm_size", set_bytes},
    {"group-add", 0, true, "group_add", append_string},
    {"health-cmd", 0, true, "test", set_health},
    {"health-interval", 0, true, "interval", set_health},
    {"health-timeout", 0, true, "timeout", set_health},
    {"health-retries", 0, true, "retries", set_health},
    {"health-start-period", 0, true, "start_period", set_health},
    {"no-healthcheck", 0, false, "test", set_health},
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
static int network_body(const run_opts_t *o, json_t *body, pl_error_t **err)
{
	if (o->net_mode) {
		if (o->ip || json_array_size(o->aliases) || json_array_size(o->ports))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "--ip, --network-alias and -p need a network (not "
					    "--net=%s)",
					    o->net_mode);
		json_object_set_new(body, "network_mode", json_string(o->net_mode));
		return 0;
	}
	json_t *nets = json_array();
	json_object_set_new(body, "networks", nets);
	size_t i;
	json_t *name;
	json_array_foreach(o->networks, i, name)
	    json_array_append_new(nets, json_pack("{s:O}", "scope", name));
	if (!json_array_size(nets))
		json_array_append_new(nets, json_pack("{s:s}", "scope", "bridge"));
	json_t *first = json_array_get(nets, 0);
	if (o->ip)
		json_object_set_new(first, "ip", json_string(o->ip));
	if (json_array_size(o->aliases))
		json_object_set(first, "aliases", o->aliases);
	if (json_array_size(o->ports))
		json_object_set(body, "ports", o->ports);
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

static bool valid_detach_keys(const char *spec)
{
	uint8_t keys[16];
	return pl_detach_keys_parse(spec, keys) >= 0;
}

static int bad_detach_keys(const char *cmd, const char *spec)
{
	return usage_error(cmd,
			   "invalid detach keys '%s' (want a comma-separated list of characters "
			   "or ctrl-<key>, e.g. ctrl-p,ctrl-q)",
			   spec);
}

/* Appends -e's KEY=VALUE to env; docker's "-e NAME" takes the value from our environment
 * (and adds nothing when we have none). */
static int add_env(json_t *env, const char *arg, pl_error_t **err)
{
	_cleanup_free_ char *kv = NULL;
	if (!strchr(arg, '=')) {
		const char *val = getenv(arg);
		if (!val)
			return 0;
		kv = pl_xasprintf("%s=%s", arg, val);
	}
	return add_string(env, NULL, kv ? kv : arg, err);
}

static const flag_t *const run_flag_tables[] = {resource_flags, security_flags, config_flags, NULL};

/* One mount: a source starting with '/' is a host path (bind), anything else a volume name;
 * no source at all is an anonymous volume. */
static int add_mount(json_t *mounts, const char *src, const char *dst, bool readonly,
		     const char *type, const char *propagation, pl_error_t **err)
{
	json_t *m = json_object();
	json_array_append_new(mounts, m);
	if (!type)
		type = src && src[0] == '/' ? "bind" : "volume";
	if (add_string(m, "type", type, err) < 0 ||
	    (src && add_string(m, "source", src, err) < 0) ||
	    add_string(m, "target", dst, err) < 0 ||
	    (propagation && add_string(m, "propagation", propagation, err) < 0))
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
static int parse_run_opts(const command_t *cmd, int argc, char **argv, run_opts_t *o)
{
	bool is_run = strcmp(cmd->name, "run") == 0;
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
	static const struct option own[] = {
	    {"rm", no_argument, NULL, OPT_RM},
	    {"detach", no_argument, NULL, 'd'},
	    {"interactive", no_argument, NULL, 'i'},
	    {"tty", no_argument, NULL, 't'},
	    {"detach-keys", required_argument, NULL, OPT_DETACH_KEYS},
	    {"name", required_argument, NULL, OPT_NAME},
	    {"env", required_argument, NULL, 'e'},
	    {"workdir", required_argument, NULL, 'w'},
	    {"user", required_argument, NULL, 'u'},
	    {"hostname", required_argument, NULL, 'h'},
	    {"kernel", required_argument, NULL, OPT_KERNEL},
	    {"volume", required_argument, NULL, 'v'},
	    {"mount", required_argument, NULL, OPT_MOUNT},
	    {"network", required_argument, NULL, OPT_NETWORK},
	    {"net", required_argument, NULL, OPT_NETWORK},
	    {"ip", required_argument, NULL, OPT_IP},
	    {"network-alias", required_argument, NULL, OPT_ALIAS},
	    {"publish", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, OPT_HELP},
	    {0},
	};
	_cleanup_free_ struct option *longopts = join_options(own, run_flag_tables);
	*o = (run_opts_t){.env = json_array(),
			  .resources = json_object(),
			  .security = json_object(),
			  .config = json_object(),
			  .mounts = json_array(),
			  .networks = json_array(),
			  .aliases = json_array(),
			  .ports = json_array(),
			  .is_run = is_run};
	int opt;
	optind = 0;
	opterr = 0;
	/* '+': stop at ROOTFS so the container's command keeps its own flags. */
	while ((opt = getopt_long(argc, argv, "+:dite:w:u:h:m:v:p:", longopts, NULL)) != -1) {
		_cleanup_error_ pl_error_t *err = NULL;
		switch (opt) {
		case OPT_RM:
		case 'd':
			if (!is_run && opt == 'd')
				return bad_flag(cmd->name, '?', argv);
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
			if (!is_run)
				return bad_flag(cmd->name, '?', argv);
			if (!valid_detach_keys(optarg))
				return bad_detach_keys(cmd->name, optarg);
			o->detach_keys = optarg;
			break;
		case OPT_NAME:
			o->name = optarg;
			break;
		case 'e':
			if (add_env(o->env, optarg, &err) < 0)
				return usage_error(cmd->name, "%s",
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
				return report(err, EXIT_RUN_ERROR);
			break;
		case OPT_NETWORK:
			if (add_networks(o, optarg, &err) < 0)
				return report(err, EXIT_RUN_ERROR);
			break;
		case OPT_IP:
			o->ip = optarg;
			break;
		case OPT_ALIAS:
			json_array_append_new(o->aliases, json_string(optarg));
			break;
		case 'p':
			if (parse_publish(o->ports, optarg, &err) < 0)
				return report(err, EXIT_RUN_ERROR);
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
		return usage_error(cmd->name, "missing ROOTFS or IMAGE");
	o->rootfs = argv[optind++];
	o->image = names_an_image(o->rootfs);
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc && !o->image)
		return usage_error(cmd->name,
				   "missing the command to run (ROOTFS -- CMD [ARGS...])");
	o->args = argv + optind;
	o->n_args = argc - optind;
	const char *restart = json_string_value(
	    json_object_get(json_object_get(o->config, "restart_policy"), "name"));
	if (o->rm && restart && strcmp(restart, "no") != 0)
		return usage_error(cmd->name, "--rm cannot be combined with --restart %s", restart);
	return 0;
}

/* The ContainerCreate body. A relative ROOTFS is resolved here, against our cwd: the
 * daemon's cwd means nothing to the operator. With an IMAGE and no CMD no args are sent:
 * the image's Entrypoint and Cmd run. */
static json_t *create_body(const run_opts_t *o, pl_error_t **err)
{
	_cleanup_(json_decrefp) json_t *body = json_object();
	json_t *process = json_object();
	json_object_set_new(body, "process", process);

	_cleanup_free_ char *rootfs = NULL;
	if (o->image) {
		if (add_string(body, "image", o->rootfs, err) < 0)
			return NULL;
	} else {
		if (o->rootfs[0] != '/') {
			rootfs = realpath(o->rootfs, NULL);
			if (!rootfs) {
				pl_error_errno(err, "rootfs %s", o->rootfs);
				return NULL;
			}
		}
		if (add_string(body, "rootfs", rootfs ? rootfs : o->rootfs, err) < 0)
			return NULL;
	}
	if (o->n_args > 0) {
		json_t *args = json_array();
		json_object_set_new(process, "args", args);
		for (int i = 0; i < o->n_args; i++)
			if (add_string(args, NULL, o->args[i], err) < 0)
				return NULL;
	}
	if (json_array_size(o->env) > 0)
		json_object_set(process, "env", o->env);
	if (o->tty)
		json_object_set_new(process, "tty", json_true());
	if (o->interactive)
		json_object_set_new(process, "stdin", json_true());
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
	if (json_object_size(process) == 0)
		json_object_del(body, "process");
	if (json_object_size(o->resources) > 0)
		json_object_set(body, "resources", o->resources);
	if (json_object_size(o->security) > 0)
		json_object_set(body, "security", o->security);
	if (json_array_size(o->mounts) > 0)
		json_object_set(body, "mounts", o->mounts);
	json_object_update(body, o->config);
	/* create --rm and run -d --rm: the port layer removes it when it stops (a run in the
	 * foreground removes it itself, after it has the exit code) */
	if (o->rm && (o->detach || !o->is_run))
		json_object_set_new(body, "auto_remove", json_true());
	if (network_body(o, body, err) < 0)
		return NULL;
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

static int write_frame(int stream, const char *data, size_t len, void *userdata)
{
	return pl_write_all(stream == PL_STREAM_STDERR ? STDERR_FILENO : STDOUT_FILENO, data, len);
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
		pl_client_add_query(f->client, &path, "signal", name ? name : num);
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
		pl_client_add_query(c, &path, "timeout", timeout);
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

/* ---- interactive sessions: attach and exec streams ---- */

#define DEFAULT_DETACH_KEYS "ctrl-p,ctrl-q"

/* Where a tty session's size goes: "/containers/<id>/resize" or "/exec/<id>/resize". */
typedef struct resize_target {
	pl_client_t *c;
	const char *path;
} resize_target_t;

/* Sends the size of our terminal, if we have one. Quietly: the session may have ended a
 * moment ago, and a size is never worth failing a session for. */
static void send_size(void *data)
{
	static const int fds[] = {STDOUT_FILENO, STDIN_FILENO, STDERR_FILENO};
	const resize_target_t *t = data;
	unsigned rows, cols;
	if (!pl_term_size(fds, (int)PL_ARRAY_SIZE(fds), &rows, &cols))
		return;
	_cleanup_free_ char *path = pl_xasprintf("%s?h=%u&w=%u", t->path, rows, cols);
	_cleanup_error_ pl_error_t *err = NULL;
	pl_client_request(t->c, "POST", path, NULL, NULL, NULL, &err);
}

/* The detach keys a session is given: the user's, else docker's rule: ctrl-p,ctrl-q with a
 * tty, none without one, where the input is data that may hold any pair of bytes. */
static const char *session_detach_keys(const char *given, bool tty)
{
	if (given)
		return given;
	return tty ? DEFAULT_DETACH_KEYS : "";
}

/* The query of an attach or exec start stream. */
static char *stream_query(pl_client_t *c, const char *base, bool in, bool out,
			  const char *detach_keys)
{
	char *path = pl_xasprintf("%s?stream=1&stdin=%d&stdout=%d&stderr=%d", base, in, out, out);
	pl_client_add_query(c, &path, "detachKeys", detach_keys);
	return path;
}

static void watch_detach_keys(pl_detach_watch_t *w, const char *spec)
{
	w->matched = 0;
	w->len = pl_detach_keys_parse(spec, w->keys);
	if (w->len < 0) /* checked with the flags already */
		w->len = 0;
}

/* The SIGWINCH pipe, when there is a terminal whose size could change; -1 otherwise. Made
 * before the stream opens, so no change between the first size and the pump is missed. */
static int winch_fd(void)
{
	if (!isatty(STDIN_FILENO) && !isatty(STDOUT_FILENO))
		return -1;
	_cleanup_error_ pl_error_t *err = NULL;
	int fd = pl_term_winch_fd(&err);
	return fd < 0 ? -1 : fd;
}

/* Runs one session stream (path: attach or exec start, with its query, whose detach keys
 * are detach_keys) to its end: the
 * upgrade, raw mode when it is a tty fed from our terminal, the first size, then the pump.
 * Sets *detached when the user typed the detach keys (the process runs on). */
static int interact(pl_client_t *c, const char *path, const char *resize_path, bool in,
		    const char *detach_keys, bool *detached, pl_error_t **err)
{
	*detached = false;
	int winch = winch_fd();
	pl_upgraded_t up;
	if (pl_client_upgrade(c, "POST", path, NULL, &up, err) < 0)
		return -1;
	_cleanup_close_ int fd = up.fd;
	resize_target_t target = {c, resize_path};
	pl_pump_t pump = {
	    .sock = fd,
	    .raw = up.raw,
	    .in = in,
	    .winch_fd = up.raw ? winch : -1,
	    .stop_fd = -1,
	    .on_resize = send_size,
	    .data = &target,
	};
	watch_detach_keys(&pump.detach, in ? detach_keys : "");
	if (up.raw && in && isatty(STDIN_FILENO) && pl_term_raw(STDIN_FILENO, err) < 0)
		return -1;
	if (up.raw)
		send_size(&target);
	fflush(stdout); /* the pump writes with write(2), after anything buffered */
	int r = pl_pump_run(&pump, err);
	pl_term_restore();
	*detached = pump.detached;
	return r;
}

/* run -i without -t: our stdin goes to the container through an attach stream that carries
 * nothing back, pumped by a thread, while the output comes the way it does for plain run
 * (the log, followed from the start, so nothing printed before the attach is lost). */
typedef struct stdin_feeder {
	pl_pump_t pump;
	int fd, stop[2];
	pthread_t thread;
	bool running;
} stdin_feeder_t;

static void *feed_stdin(void *arg)
{
	stdin_feeder_t *f = arg;
	pl_pump_run(&f->pump, NULL);
	return NULL;
}

static int feeder_start(stdin_feeder_t *f, pl_client_t *c, const char *id, const char *detach_keys,
			pl_error_t **err)
{
	*f = (stdin_feeder_t){.fd = -1, .stop = {-1, -1}};
	_cleanup_free_ char *base = container_path(c, id, "/attach");
	_cleanup_free_ char *path = stream_query(c, base, true, false, detach_keys);
	pl_upgraded_t up;
	if (pl_client_upgrade(c, "POST", path, NULL, &up, err) < 0)
		return -1;
	f->fd = up.fd;
	if (pipe2(f->stop, O_CLOEXEC) < 0)
		return pl_error_errno(err, "pipe");
	f->pump = (pl_pump_t){.sock = f->fd, .in = true, .winch_fd = -1, .stop_fd = f->stop[0]};
	watch_detach_keys(&f->pump.detach, detach_keys);
	int r = pthread_create(&f->thread, NULL, feed_stdin, f);
	if (r != 0)
		return pl_error_set(err, PL_ERR_INTERNAL, r, "start the stdin thread");
	f->running = true;
	return 0;
}

static void feeder_stop(stdin_feeder_t *f)
{
	if (f->running) {
		char b = 0;
		if (write(f->stop[1], &b, 1) < 0)
			abort(); /* a fresh pipe always has room for one byte */
		pthread_join(f->thread, NULL);
		f->running = false;
	}
	f->fd = pl_close(f->fd);
	f->stop[0] = pl_close(f->stop[0]);
	f->stop[1] = pl_close(f->stop[1]);
}

/* run -it: the daemon holds the process until this attach, so the first prompt reaches us;
 * then the size, the pump, and the container's exit code. */
static int run_tty_session(pl_client_t *c, const run_opts_t *o, const char *id)
{
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_free_ char *start = container_path(c, id, "/start");
	if (pl_client_request(c, "POST", start, NULL, NULL, NULL, &err) < 0) {
		report(err, 0);
		int code = exit_code_after_failed_start(c, id);
		if (o->rm)
			remove_container(c, id);
		return code;
	}
	_cleanup_free_ char *base = container_path(c, id, "/attach");
	_cleanup_free_ char *resize = container_path(c, id, "/resize");
	const char *keys = session_detach_keys(o->detach_keys, true);
	_cleanup_free_ char *path = stream_query(c, base, true, true, keys);
	bool detached;
	if (interact(c, path, resize, true, keys, &detached, &err) < 0) {
		report(err, 0);
		if (o->rm) /* else it waits for an attach (plctl attach) */
			remove_container(c, id);
		return EXIT_RUN_ERROR;
	}
	if (detached)
		return 0;
	int code = wait_container(c, id, NULL, &err);
	if (code < 0)
		return report(err, 1);
	if (o->rm)
		remove_container(c, id);
	return code;
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
	if (o.interactive && o.tty && !o.detach)
		return run_tty_session(c, &o, id);

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

	if (o.tty) { /* -t alone: the output is a terminal's, sized like ours */
		_cleanup_free_ char *resize = container_path(c, id, "/resize");
		send_size(&(resize_target_t){c, resize});
	}

	forwarder_t fwd = {.set = set};
	if (forwarder_start(&fwd, pl_client_host(c), id, &err) < 0) {
		/* Follow on without forwarding, and let ^C stop plctl the plain way. */
		report(err, 0);
		err = pl_error_free(err);
		pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	}
	stdin_feeder_t feeder = {.fd = -1, .stop = {-1, -1}};
	/* a process that exited already (409) has no stdin left to feed */
	if (o.interactive &&
	    feeder_start(&feeder, c, id, session_detach_keys(o.detach_keys, o.tty), &err) < 0) {
		if (err->kind != PL_ERR_CONFLICT)
			report(err, 0);
		err = pl_error_free(err);
	}

	_cleanup_free_ char *logs = container_path(c, id, "/logs?follow=1");
	if (stream_logs(c, logs, &err) < 0) {
		report(err, 0);
		err = pl_error_free(err);
	}
	int code = wait_container(c, id, NULL, &err);
	feeder_stop(&feeder);
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
		pl_client_add_query(c, &suffix, "timeout", o.timeout);
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
		pl_client_add_query(c, &suffix, "signal", name ? name : num);
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

/* Prints rows of cols cells, every column as wide as its widest cell. */
static void print_table(char **cells, size_t rows, size_t cols)
{
	size_t *width = pl_xcalloc(cols, sizeof(*width));
	for (size_t r = 0; r < rows; r++)
		for (size_t col = 0; col < cols; col++)
			if (strlen(cells[r * cols + col]) > width[col])
				width[col] = strlen(cells[r * cols + col]);
	for (size_t r = 0; r < rows; r++) {
		for (size_t col = 0; col < cols; col++) {
			const char *cell = cells[r * cols + col];
			if (col + 1 < cols)
				printf("%-*s   ", (int)width[col], cell);
			else
				printf("%s\n", cell);
		}
	}
	free(width);
}

enum { PS_COLS = 6 };

static int cmd_ps(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	static const struct option longopts[] = {{"all", no_argument, NULL, 'a'},
						 {"filter", required_argument, NULL, 'f'},
						 {"help", no_argument, NULL, 'h'},
						 {0}};
	bool all = false;
	int opt;
	_cleanup_(json_decrefp) json_t *filters = json_object();
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":af:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'a':
			all = true;
			break;
		case 'f': { /* docker's KEY=VALUE, sent as the API's filter JSON */
			const char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg)
				return usage_error("ps", "--filter wants KEY=VALUE, not '%s'",
						   optarg);
			_cleanup_free_ char *k = pl_xasprintf("%.*s", (int)(eq - optarg), optarg);
			json_array_append_new(member(filters, k, true), json_string(eq + 1));
			break;
		}
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
	_cleanup_free_ char *path = pl_xstrdup("/containers");
	if (json_object_size(filters)) {
		_cleanup_free_ char *f = json_dumps(filters, JSON_COMPACT);
		pl_client_add_query(c, &path, "filters", f);
	}
	if (pl_client_request(c, "GET", path, NULL, NULL, &list, &err) < 0)
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
	print_table(cells, rows, PS_COLS);
	for (size_t k = 0; k < rows * PS_COLS; k++)
		free(cells[k]);
	free(cells);
	return 0;
}

/* ---- exec, attach ---- */

/* "/exec/<escaped id><suffix>", malloc'd. */
static char *exec_path(pl_client_t *c, const char *id, const char *suffix)
{
	_cleanup_free_ char *esc = pl_client_escape(c, id);
	return pl_xasprintf("/exec/%s%s", esc, suffix ? suffix : "");
}

/* An exec's exit code from its record (json or wait answer): its "error" is printed, a
 * code outside 0-255 (none yet) is an error. */
static int exec_exit_code(const char *id, json_t *resp, pl_error_t **err)
{
	const char *error = json_string_value(json_object_get(resp, "error"));
	if (error && *error)
		fprintf(stderr, "plctl: exec %.12s: %s\n", id, error);
	json_t *code = json_object_get(resp, "exit_code");
	if (!json_is_integer(code) || json_integer_value(code) < 0 ||
	    json_integer_value(code) > 255)
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "exec %.12s: no exit code", id);
	return (int)json_integer_value(code);
}

/* POST /exec/{id}/wait without a timeout; returns the exit code or < 0 with *err. */
static int wait_exec(pl_client_t *c, const char *id, pl_error_t **err)
{
	_cleanup_free_ char *path = exec_path(c, id, "/wait");
	_cleanup_(json_decrefp) json_t *resp = NULL;
	if (pl_client_request(c, "POST", path, NULL, NULL, &resp, err) < 0)
		return -1;
	return exec_exit_code(id, resp, err);
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

static int parse_exec_opts(const command_t *cmd, int argc, char **argv, exec_opts_t *o)
{
	enum { OPT_DETACH_KEYS = 256 };
	static const struct option longopts[] = {
	    {"interactive", no_argument, NULL, 'i'},
	    {"tty", no_argument, NULL, 't'},
	    {"detach", no_argument, NULL, 'd'},
	    {"env", required_argument, NULL, 'e'},
	    {"workdir", required_argument, NULL, 'w'},
	    {"user", required_argument, NULL, 'u'},
	    {"detach-keys", required_argument, NULL, OPT_DETACH_KEYS},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	*o = (exec_opts_t){.env = json_array()};
	int opt;
	optind = 0;
	opterr = 0;
	/* '+': stop at CONTAINER so the command keeps its own flags. */
	while ((opt = getopt_long(argc, argv, "+:itde:w:u:h", longopts, NULL)) != -1) {
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
			if (add_env(o->env, optarg, &err) < 0)
				return usage_error(cmd->name, "%s",
						   err ? err->msg : "out of memory");
			break;
		case 'w':
			o->workdir = optarg;
			break;
		case 'u':
			o->user = optarg;
			break;
		case OPT_DETACH_KEYS:
			if (!valid_detach_keys(optarg))
				return bad_detach_keys(cmd->name, optarg);
			o->detach_keys = optarg;
			break;
		case 'h':
			print_usage(stdout, cmd);
			return HELP_SHOWN;
		default:
			return bad_flag(cmd->name, opt, argv);
		}
	}
	if (optind >= argc)
		return usage_error(cmd->name, "missing CONTAINER");
	o->container = argv[optind++];
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind >= argc)
		return usage_error(cmd->name,
				   "missing the command to run (CONTAINER -- CMD [ARGS...])");
	o->args = argv + optind;
	o->n_args = argc - optind;
	return 0;
}

static json_t *exec_body(const exec_opts_t *o, pl_error_t **err)
{
	_cleanup_(json_decrefp) json_t *body = json_object();
	json_t *args = json_array();
	json_object_set_new(body, "args", args);
	for (int i = 0; i < o->n_args; i++)
		if (add_string(args, NULL, o->args[i], err) < 0)
			return NULL;
	if (json_array_size(o->env) > 0)
		json_object_set(body, "env", o->env);
	if ((o->workdir && add_string(body, "cwd", o->workdir, err) < 0) ||
	    (o->user && add_string(body, "user", o->user, err) < 0))
		return NULL;
	json_object_set_new(body, "tty", json_boolean(o->tty));
	json_object_set_new(body, "stdin", json_boolean(o->interactive));
	return TAKE_PTR(body);
}

/* After a refused start the exec's record says 127 (not found) or 126 (not executable). */
static int exit_code_after_failed_exec(pl_client_t *c, const char *id)
{
	_cleanup_free_ char *path = exec_path(c, id, "/json");
	_cleanup_(json_decrefp) json_t *resp = NULL;
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, &err) < 0)
		return 1;
	json_t *code = json_object_get(resp, "exit_code");
	if (!json_is_integer(code) || json_integer_value(code) <= 0 ||
	    json_integer_value(code) > 255)
		return 1;
	return (int)json_integer_value(code);
}

static int cmd_exec(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(exec_opts_done) exec_opts_t o = {0};
	int r = parse_exec_opts(cmd, argc, argv, &o);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(json_decrefp) json_t *body = exec_body(&o, &err);
	if (!body)
		return usage_error(cmd->name, "%s", err ? err->msg : "out of memory");
	_cleanup_free_ char *create = container_path(c, o.container, "/exec");
	_cleanup_(json_decrefp) json_t *resp = NULL;
	if (pl_client_request(c, "POST", create, body, NULL, &resp, &err) < 0)
		return report(err, 1);
	const char *id = json_string_value(json_object_get(resp, "id"));
	if (!id) {
		fprintf(stderr, "plctl: exec: the daemon answered without an id\n");
		return 1;
	}

	if (o.detach) {
		_cleanup_free_ char *start = exec_path(c, id, "/start?detach=1");
		if (pl_client_request(c, "POST", start, NULL, NULL, NULL, &err) < 0) {
			report(err, 0);
			return exit_code_after_failed_exec(c, id);
		}
		return 0;
	}
	_cleanup_free_ char *base = exec_path(c, id, "/start");
	_cleanup_free_ char *resize = exec_path(c, id, "/resize");
	const char *keys = session_detach_keys(o.detach_keys, o.tty);
	_cleanup_free_ char *path = stream_query(c, base, o.interactive, true, keys);
	bool detached;
	if (interact(c, path, resize, o.interactive, keys, &detached, &err) < 0) {
		report(err, 0);
		return exit_code_after_failed_exec(c, id);
	}
	if (detached)
		return 0;
	int code = wait_exec(c, id, &err);
	return code < 0 ? report(err, 1) : code;
}

static int cmd_attach(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	enum { OPT_NO_STDIN = 256, OPT_DETACH_KEYS };
	static const struct option longopts[] = {
	    {"no-stdin", no_argument, NULL, OPT_NO_STDIN},
	    {"detach-keys", required_argument, NULL, OPT_DETACH_KEYS},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool no_stdin = false;
	const char *detach_keys = NULL;
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_NO_STDIN:
			no_stdin = true;
			break;
		case OPT_DETACH_KEYS:
			if (!valid_detach_keys(optarg))
				return bad_detach_keys(cmd->name, optarg);
			detach_keys = optarg;
			break;
		case 'h':
			print_usage(stdout, cmd);
			return 0;
		default:
			return bad_flag(cmd->name, opt, argv);
		}
	}
	if (argc - optind != 1)
		return usage_error(cmd->name, "requires exactly one container");

	/* The id (a name could be reused before the wait below) and whether it has a stdin. */
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_free_ char *inspect = container_path(c, argv[optind], NULL);
	_cleanup_(json_decrefp) json_t *info = NULL;
	if (pl_client_request(c, "GET", inspect, NULL, NULL, &info, &err) < 0)
		return report(err, 1);
	const char *id = json_string_value(json_object_get(info, "id"));
	json_t *process = json_object_get(json_object_get(info, "config"), "process");
	bool tty = json_is_true(json_object_get(process, "tty"));
	bool in = !no_stdin && json_is_true(json_object_get(process, "stdin"));
	if (!id)
		id = argv[optind];
	/* the API attaches to a container that is not running yet (for run's create, attach,
	 * start); a person attaching to a stopped one would wait for a start that never comes */
	const char *status =
	    json_string_value(json_object_get(json_object_get(info, "state"), "status"));
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
		block_forwarded_signals(&set);
		fwd.set = set;
		if (forwarder_start(&fwd, pl_client_host(c), id, &err) < 0) {
			report(err, 0);
			err = pl_error_free(err);
			pthread_sigmask(SIG_UNBLOCK, &set, NULL);
		}
	}
	_cleanup_free_ char *base = container_path(c, id, "/attach");
	_cleanup_free_ char *resize = container_path(c, id, "/resize");
	const char *keys = session_detach_keys(detach_keys, tty);
	_cleanup_free_ char *path = stream_query(c, base, in, true, keys);
	bool detached = false;
	int code = interact(c, path, resize, in, keys, &detached, &err);
	if (code >= 0 && !detached)
		code = wait_container(c, id, NULL, &err);
	forwarder_stop(&fwd);
	if (code < 0)
		return report(err, 1);
	return detached ? 0 : code;
}

/* ---- stats ---- */

/* docker's sizes: 4 significant digits in binary units for memory (go-units BytesSize), 3 in
 * decimal units for I/O (HumanSize). */
static char *human_size(double n, bool binary)
{
	static const char *const bin[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	static const char *const dec[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
	double base = binary ? 1024 : 1000;
	size_t i = 0;
	while (n >= base && i + 1 < PL_ARRAY_SIZE(bin)) {
		n /= base;
		i++;
	}
	return binary ? pl_xasprintf("%.4g%s", n, bin[i]) : pl_xasprintf("%.3g%s", n, dec[i]);
}

static double json_num(json_t *obj, const char *a, const char *b)
{
	json_t *v = json_object_get(b ? json_object_get(obj, a) : obj, b ? b : a);
	return json_is_number(v) ? json_number_value(v) : 0;
}

enum { STATS_COLS = 8 };

/* One table row from a sample and the one before it (NULL: no CPU figure yet). */
static void stats_row(char **row, json_t *cur, json_t *prev)
{
	const char *id = json_string_value(json_object_get(cur, "id"));
	const char *name = json_string_value(json_object_get(cur, "name"));
	row[0] = pl_xasprintf("%.12s", id ? id : "");
	row[1] = pl_xstrdup(name && *name ? name : "--");

	/* CPU time over wall time between the samples: 100% is one CPU's worth, as in docker */
	int64_t t0, t1;
	double cpu = 0;
	if (prev && pl_time_parse(json_string_value(json_object_get(prev, "read")), &t0) == 0 &&
	    pl_time_parse(json_string_value(json_object_get(cur, "read")), &t1) == 0 && t1 > t0) {
		double used = json_num(cur, "cpu", "usage_ns") - json_num(prev, "cpu", "usage_ns");
		if (used > 0)
			cpu = used / (double)(t1 - t0) * 100.0;
	}
	row[2] = pl_xasprintf("%.2f%%", cpu);

	double usage = json_num(cur, "memory", "usage"), limit = json_num(cur, "memory", "limit");
	if (limit <= 0) /* unlimited: the host's memory is the bound, as docker shows it */
		limit = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
	_cleanup_free_ char *mu = human_size(usage, true), *ml = human_size(limit, true);
	row[3] = pl_xasprintf("%s / %s", mu, ml);
	row[4] = pl_xasprintf("%.2f%%", limit > 0 ? usage / limit * 100.0 : 0.0);

	double rx = 0, tx = 0;
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(cur, "networks"), k, v)
	{
		rx += json_num(v, "rx_bytes", NULL);
		tx += json_num(v, "tx_bytes", NULL);
	}
	_cleanup_free_ char *nr = human_size(rx, false), *nt = human_size(tx, false);
	row[5] = pl_xasprintf("%s / %s", nr, nt);
	_cleanup_free_ char *br = human_size(json_num(cur, "blkio", "read_bytes"), false);
	_cleanup_free_ char *bw = human_size(json_num(cur, "blkio", "write_bytes"), false);
	row[6] = pl_xasprintf("%s / %s", br, bw);
	row[7] = pl_xasprintf("%.0f", json_num(cur, "pids", "current"));
}

/* The containers to sample: those named, else every running one. */
static json_t *stats_targets(pl_client_t *c, int argc, char **argv, pl_error_t **err)
{
	_cleanup_(json_decrefp) json_t *targets = json_array();
	if (optind < argc) {
		for (int i = optind; i < argc; i++)
			if (add_string(targets, NULL, argv[i], err) < 0)
				return NULL;
		return TAKE_PTR(targets);
	}
	_cleanup_(json_decrefp) json_t *list = NULL;
	if (pl_client_request(c, "GET", "/containers", NULL, NULL, &list, err) < 0)
		return NULL;
	size_t i;
	json_t *ct;
	json_array_foreach(list, i, ct)
	{
		const char *state = json_string_value(json_object_get(ct, "state"));
		json_t *id = json_object_get(ct, "id");
		if (state && strcmp(state, "running") == 0 && json_is_string(id))
			json_array_append(targets, id);
	}
	return TAKE_PTR(targets);
}

/* One sample of each target, keyed by target; those that cannot be sampled (stopped,
 * gone) are reported when named and left out. */
static json_t *stats_sample_all(pl_client_t *c, json_t *targets, bool named, int *rc)
{
	json_t *samples = json_object();
	size_t i;
	json_t *t;
	json_array_foreach(targets, i, t)
	{
		const char *name = json_string_value(t);
		_cleanup_free_ char *path = container_path(c, name, "/stats?stream=0");
		_cleanup_error_ pl_error_t *err = NULL;
		json_t *one = NULL;
		if (pl_client_request(c, "GET", path, NULL, NULL, &one, &err) < 0 || !one) {
			if (named && err)
				*rc = report(err, 1);
			continue;
		}
		json_object_set_new(samples, name, one);
	}
	return samples;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int cmd_stats(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	enum { OPT_NO_STREAM = 256 };
	static const struct option longopts[] = {
	    {"no-stream", no_argument, NULL, OPT_NO_STREAM},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool stream = true;
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (opt) {
		case OPT_NO_STREAM:
			stream = false;
			break;
		case 'h':
			print_usage(stdout, cmd);
			return 0;
		default:
			return bad_flag(cmd->name, opt, argv);
		}
	}
	bool named = optind < argc, clear = stream && isatty(STDOUT_FILENO);
	int rc = 0;
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(json_decrefp) json_t *targets = stats_targets(c, argc, argv, &err);
	if (!targets)
		return report(err, 1);
	/* the first figures need two samples: half a second apart, then one a second */
	_cleanup_(json_decrefp) json_t *prev = stats_sample_all(c, targets, named, &rc);
	if (named && json_object_size(prev) == 0)
		return rc;
	sleep_ms(500);
	for (;;) {
		if (stream && !named) { /* containers come and go */
			json_decref(targets);
			if (!(targets = stats_targets(c, argc, argv, &err)))
				return report(err, 1);
		}
		json_t *cur = stats_sample_all(c, targets, named && !stream, &rc);
		size_t n = json_object_size(cur);
		if (named && n == 0) { /* every container named stopped: the end */
			json_decref(cur);
			return rc;
		}
		char **cells = pl_xcalloc((n + 1) * STATS_COLS, sizeof(char *));
		static const char *const header[STATS_COLS] = {
		    "CONTAINER ID", "NAME",    "CPU %",	    "MEM USAGE / LIMIT",
		    "MEM %",	    "NET I/O", "BLOCK I/O", "PIDS"};
		for (size_t col = 0; col < STATS_COLS; col++)
			cells[col] = pl_xstrdup(header[col]);
		size_t rows = 1, i;
		json_t *t;
		json_array_foreach(targets, i, t)
		{
			json_t *sample = json_object_get(cur, json_string_value(t));
			if (sample)
				stats_row(cells + rows++ * STATS_COLS, sample,
					  json_object_get(prev, json_string_value(t)));
		}
		if (clear)
			fputs("\033[2J\033[H", stdout);
		print_table(cells, rows, STATS_COLS);
		fflush(stdout);
		for (size_t k = 0; k < rows * STATS_COLS; k++)
			free(cells[k]);
		free(cells);
		json_decref(prev);
		prev = cur;
		if (!stream)
			return rc;
		sleep_ms(1000);
	}
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
		pl_client_add_query(c, &path, "follow", "1");
	if (tail)
		pl_client_add_query(c, &path, "tail", tail);
	if (since) {
		_cleanup_free_ char *v = since_value(since);
		pl_client_add_query(c, &path, "since", v);
	}
	if (until) {
		_cleanup_free_ char *v = since_value(until);
		pl_client_add_query(c, &path, "until", v);
	}
	if (timestamps)
		pl_client_add_query(c, &path, "timestamps", "1");
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
		pl_client_add_query(c, &path, "since", v);
	}
	if (until) {
		_cleanup_free_ char *v = since_value(until);
		pl_client_add_query(c, &path, "until", v);
	}
	if (json_object_size(filters) > 0) {
		_cleanup_free_ char *v = json_dumps(filters, JSON_COMPACT);
		pl_client_add_query(c, &path, "filters", v);
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

/* ---- images ---- */

/* "/images/<escaped ref>", malloc'd. */
static char *image_path(pl_client_t *c, const char *ref)
{
	_cleanup_free_ char *esc = pl_client_escape(c, ref);
	return pl_xasprintf("/images/%s", esc);
}

/* Parses --help and, when quiet is non-NULL, -q/--quiet (else a usage error). Leaves optind
 * at the first operand. Returns 0, HELP_SHOWN or the exit code of a usage error. */
static int parse_image_opts(const char *name, int argc, char **argv, const char *usage, bool *quiet)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'}, {"quiet", no_argument, NULL, 'q'}, {0}};
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hq", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			printf("Usage: plctl image %s\n", usage);
			return HELP_SHOWN;
		case 'q':
			if (!quiet)
				return bad_flag(name, '?', argv);
			*quiet = true;
			break;
		default:
			return bad_flag(name, opt, argv);
		}
	}
	return 0;
}

static int image_import(pl_client_t *c, int argc, char **argv)
{
	bool quiet = false;
	int r = parse_image_opts("image import", argc, argv, "import [-q] FILE|-", &quiet);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (argc - optind != 1)
		return usage_error("image import", "want exactly one FILE (or - for stdin)");
	const char *file = argv[optind];
	bool is_stdin = strcmp(file, "-") == 0;
	_cleanup_close_ int fd = is_stdin ? dup(STDIN_FILENO) : open(file, O_RDONLY | O_CLOEXEC);
	_cleanup_error_ pl_error_t *err = NULL;
	if (fd < 0) {
		pl_error_errno(&err, "open %s", file);
		return report(err, 1);
	}
	struct stat st;
	int64_t size = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : -1;
	_cleanup_(json_decrefp) json_t *resp = NULL;
	if (pl_client_upload(c, "POST", "/images/import", fd, size, "application/x-tar", NULL,
			     &resp, &err) < 0)
		return report(err, 1);
	size_t i;
	json_t *img;
	json_array_foreach(json_object_get(resp, "images"), i, img)
	{
		const char *id = json_string_value(json_object_get(img, "id"));
		fputs(id ? id : "?", stdout);
		size_t k;
		json_t *tag;
		if (!quiet)
			json_array_foreach(json_object_get(img, "tags"), k, tag)
			    printf(" %s", json_string_value(tag) ? json_string_value(tag) : "");
		putchar('\n');
	}
	return 0;
}

typedef struct image_row {
	char *cells[5]; /* repository, tag, id, created, size */
	const char *created;
} image_row_t;

/* Newest first, then by repository and tag. */
static int compare_image_rows(const void *a, const void *b)
{
	const image_row_t *x = a, *y = b;
	int c = strcmp(y->created ? y->created : "", x->created ? x->created : "");
	if (c == 0)
		c = strcmp(x->cells[0], y->cells[0]);
	return c ? c : strcmp(x->cells[1], y->cells[1]);
}

static int image_ls(pl_client_t *c, int argc, char **argv)
{
	bool quiet = false;
	int r = parse_image_opts("image ls", argc, argv, "ls [-q]", &quiet);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind < argc)
		return usage_error("image ls", "unexpected argument '%s'", argv[optind]);
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(json_decrefp) json_t *list = NULL;
	if (pl_client_request(c, "GET", "/images", NULL, NULL, &list, &err) < 0)
		return report(err, 1);
	size_t i, n = 0;
	json_t *img;
	if (quiet) {
		json_array_foreach(list, i, img)
		{
			const char *id = json_string_value(json_object_get(img, "id"));
			if (id)
				puts(id);
		}
		return 0;
	}
	/* one row per name (docker's REPOSITORY and TAG), one for an image without any */
	json_array_foreach(list, i, img) n += json_array_size(json_object_get(img, "tags")) ?: 1;
	image_row_t *rows = pl_xcalloc(n ? n : 1, sizeof(*rows));
	size_t r_n = 0;
	json_array_foreach(list, i, img)
	{
		const char *id = json_string_value(json_object_get(img, "id"));
		const char *hex = id && strncmp(id, "sha256:", 7) == 0 ? id + 7 : id ? id : "";
		const char *created = json_string_value(json_object_get(img, "created"));
		json_t *tags = json_object_get(img, "tags");
		size_t ntags = json_array_size(tags);
		for (size_t k = 0; k < (ntags ? ntags : 1); k++) {
			const char *name =
			    ntags ? json_string_value(json_array_get(tags, k)) : NULL;
			image_row_t *row = &rows[r_n++];
			if (name) {
				const char *slash = strrchr(name, '/');
				const char *colon = strrchr(slash ? slash : name, ':');
				row->cells[0] =
				    colon ? pl_xasprintf("%.*s", (int)(colon - name), name)
					  : pl_xstrdup(name);
				row->cells[1] = pl_xstrdup(colon ? colon + 1 : "latest");
			} else {
				row->cells[0] = pl_xstrdup("<none>");
				row->cells[1] = pl_xstrdup("<none>");
			}
			row->cells[2] = pl_xasprintf("%.12s", hex);
			row->cells[3] = created && *created ? ago(created) : pl_xstrdup("-");
			row->cells[4] = human_size(
			    (double)json_integer_value(json_object_get(img, "size")), false);
			row->created = created;
		}
	}
	qsort(rows, r_n, sizeof(*rows), compare_image_rows);
	enum { COLS = 5 };
	char **cells = pl_xcalloc((r_n + 1) * COLS, sizeof(char *));
	static const char *const header[COLS] = {"REPOSITORY", "TAG", "IMAGE ID", "CREATED",
						 "SIZE"};
	for (size_t col = 0; col < COLS; col++)
		cells[col] = pl_xstrdup(header[col]);
	for (size_t k = 0; k < r_n; k++)
		for (size_t col = 0; col < COLS; col++)
			cells[(k + 1) * COLS + col] = rows[k].cells[col];
	print_table(cells, r_n + 1, COLS);
	for (size_t k = 0; k < (r_n + 1) * COLS; k++)
		free(cells[k]);
	free(cells);
	free(rows);
	return 0;
}

/* GETs each named object and prints them as one JSON array (image, volume and network
 * inspect). */
static int inspect_each(pl_client_t *c, int argc, char **argv,
			char *(*path_of)(pl_client_t *, const char *))
{
	_cleanup_(json_decrefp) json_t *all = json_array();
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		_cleanup_free_ char *path = path_of(c, argv[i]);
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

/* DELETEs each named object (with ?force=1 when force) and prints the names removed (image,
 * volume and network rm). */
static int delete_each(pl_client_t *c, int argc, char **argv,
		       char *(*path_of)(pl_client_t *, const char *), bool force)
{
	int rc = 0;
	for (int i = optind; i < argc; i++) {
		_cleanup_free_ char *path = path_of(c, argv[i]);
		if (force)
			pl_client_add_query(c, &path, "force", "1");
		_cleanup_error_ pl_error_t *err = NULL;
		if (pl_client_request(c, "DELETE", path, NULL, NULL, NULL, &err) < 0) {
			rc = report(err, 1);
			continue;
		}
		puts(argv[i]);
	}
	return rc;
}

static int image_inspect(pl_client_t *c, int argc, char **argv)
{
	int r = parse_image_opts("image inspect", argc, argv, "inspect REF...", NULL);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind >= argc)
		return usage_error("image inspect", "requires at least one image");
	return inspect_each(c, argc, argv, image_path);
}

static int image_tag(pl_client_t *c, int argc, char **argv)
{
	int r = parse_image_opts("image tag", argc, argv, "tag REF NAME[:TAG]", NULL);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (argc - optind != 2)
		return usage_error("image tag", "want an image and a new name (REF NAME[:TAG])");
	_cleanup_free_ char *path = pl_xstrdup("/images/tag");
	pl_client_add_query(c, &path, "ref", argv[optind]);
	pl_client_add_query(c, &path, "name", argv[optind + 1]);
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_client_request(c, "POST", path, NULL, NULL, NULL, &err) < 0)
		return report(err, 1);
	return 0;
}

static int image_rm(pl_client_t *c, int argc, char **argv)
{
	int r = parse_image_opts("image rm", argc, argv, "rm REF...", NULL);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind >= argc)
		return usage_error("image rm", "requires at least one image");
	return delete_each(c, argc, argv, image_path, false);
}

/* A command group's subcommands ("image ls", "volume rm"). */
typedef struct subcommand {
	const char *name;
	int (*fn)(pl_client_t *c, int argc, char **argv);
} subcommand_t;

static int dispatch_sub(const command_t *cmd, const subcommand_t *subs, size_t n, pl_client_t *c,
			int argc, char **argv)
{
	if (argc < 2) {
		print_usage(stderr, cmd);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		print_usage(stdout, cmd);
		return 0;
	}
	for (size_t i = 0; i < n; i++)
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].fn(c, argc - 1, argv + 1);
	return usage_error(cmd->name, "unknown command '%s'", argv[1]);
}

static const subcommand_t image_commands[] = {
    {"import", image_import},
    {"load", image_import},
    {"ls", image_ls},
    {"list", image_ls},
    {"inspect", image_inspect},
    {"tag", image_tag},
    {"rm", image_rm},
    {"remove", image_rm},
    {"push", pl_cli_image_push},
    {"save", pl_cli_image_save},
    {"pull", pl_cli_image_pull},
};

static int cmd_image(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return dispatch_sub(cmd, image_commands, PL_ARRAY_SIZE(image_commands), c, argc, argv);
}

/* ---- volumes ---- */

static char *volume_path(pl_client_t *c, const char *name)
{
	_cleanup_free_ char *esc = pl_client_escape(c, name);
	return pl_xasprintf("/volumes/%s", esc);
}

/* Parses --help, -q (when quiet), -f (when force) and --label (when labels). Leaves optind at
 * the first operand. Returns 0, HELP_SHOWN or the exit code of a usage error. */
static int parse_group_opts(const char *name, int argc, char **argv, const char *usage, bool *quiet,
			    bool *force, json_t *labels)
{
	enum { OPT_LABEL = 256 };
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"quiet", no_argument, NULL, 'q'},
						 {"force", no_argument, NULL, 'f'},
						 {"label", required_argument, NULL, OPT_LABEL},
						 {0}};
	static const flag_t label_flag = {"label", 0, true, "labels", set_label};
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hqf", longopts, NULL)) != -1) {
		_cleanup_error_ pl_error_t *err = NULL;
		switch (opt) {
		case 'h':
			printf("Usage: plctl %.*s %s\n", (int)strcspn(name, " "), name, usage);
			return HELP_SHOWN;
		case 'q':
			if (!quiet)
				return bad_flag(name, '?', argv);
			*quiet = true;
			break;
		case 'f':
			if (!force)
				return bad_flag(name, '?', argv);
			*force = true;
			break;
		case OPT_LABEL:
			if (!labels)
				return bad_flag(name, '?', argv);
			if (set_label(labels, &label_flag, optarg, &err) < 0)
				return report(err, EXIT_USAGE);
			break;
		default:
			return bad_flag(name, opt, argv);
		}
	}
	return 0;
}

static int volume_create(pl_client_t *c, int argc, char **argv)
{
	_cleanup_(json_decrefp) json_t *body = json_object();
	int r = parse_group_opts("volume create", argc, argv, "create [--label K=V] [NAME]", NULL,
				 NULL, body);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (argc - optind > 1)
		return usage_error("volume create", "want at most one NAME");
	_cleanup_error_ pl_error_t *err = NULL;
	if (optind < argc && add_string(body, "name", argv[optind], &err) < 0)
		return report(err, EXIT_USAGE);
	_cleanup_(json_decrefp) json_t *resp = NULL;
	if (pl_client_request(c, "POST", "/volumes", body, NULL, &resp, &err) < 0)
		return report(err, 1);
	const char *name = json_string_value(json_object_get(resp, "name"));
	puts(name ? name : "?");
	return 0;
}

static const char *volume_field(json_t *v, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(v, key));
	return s ? s : dflt;
}

/* By name. */
static int compare_volumes(const void *a, const void *b)
{
	return strcmp(volume_field(*(json_t *const *)a, "name", ""),
		      volume_field(*(json_t *const *)b, "name", ""));
}

static int volume_ls(pl_client_t *c, int argc, char **argv)
{
	bool quiet = false;
	int r = parse_group_opts("volume ls", argc, argv, "ls [-q]", &quiet, NULL, NULL);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind < argc)
		return usage_error("volume ls", "unexpected argument '%s'", argv[optind]);
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(json_decrefp) json_t *list = NULL;
	if (pl_client_request(c, "GET", "/volumes", NULL, NULL, &list, &err) < 0)
		return report(err, 1);
	size_t n = json_array_size(list), i;
	json_t **rows = pl_xcalloc(n ? n : 1, sizeof(*rows));
	for (i = 0; i < n; i++)
		rows[i] = json_array_get(list, i);
	qsort(rows, n, sizeof(*rows), compare_volumes);
	if (quiet) {
		for (i = 0; i < n; i++)
			puts(volume_field(rows[i], "name", "?"));
		free(rows);
		return 0;
	}
	char **cells = pl_xcalloc((n + 1) * 2, sizeof(char *));
	cells[0] = pl_xstrdup("DRIVER");
	cells[1] = pl_xstrdup("VOLUME NAME");
	for (i = 0; i < n; i++) {
		cells[(i + 1) * 2] = pl_xstrdup(volume_field(rows[i], "driver", "local"));
		cells[(i + 1) * 2 + 1] = pl_xstrdup(volume_field(rows[i], "name", "?"));
	}
	print_table(cells, n + 1, 2);
	for (i = 0; i < (n + 1) * 2; i++)
		free(cells[i]);
	free(cells);
	free(rows);
	return 0;
}

static int volume_inspect(pl_client_t *c, int argc, char **argv)
{
	int r = parse_group_opts("volume inspect", argc, argv, "inspect NAME...", NULL, NULL, NULL);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind >= argc)
		return usage_error("volume inspect", "requires at least one volume");
	return inspect_each(c, argc, argv, volume_path);
}

static int volume_rm(pl_client_t *c, int argc, char **argv)
{
	bool force = false;
	int r = parse_group_opts("volume rm", argc, argv, "rm [-f] NAME...", NULL, &force, NULL);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind >= argc)
		return usage_error("volume rm", "requires at least one volume");
	return delete_each(c, argc, argv, volume_path, force);
}

static const subcommand_t volume_commands[] = {
    {"create", volume_create},	 {"ls", volume_ls}, {"list", volume_ls},
    {"inspect", volume_inspect}, {"rm", volume_rm}, {"remove", volume_rm},
};

static int cmd_volume(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return dispatch_sub(cmd, volume_commands, PL_ARRAY_SIZE(volume_commands), c, argc, argv);
}

/* ---- networks ---- */

static char *network_path(pl_client_t *c, const char *name)
{
	_cleanup_free_ char *esc = pl_client_escape(c, name);
	return pl_xasprintf("/networks/%s", esc);
}

static int network_create(pl_client_t *c, int argc, char **argv)
{
	enum { O_SUBNET = 256, O_GATEWAY, O_RANGE, O_INTERNAL, O_DRIVER, O_PARENT, O_NOMASQ };
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"subnet", required_argument, NULL, O_SUBNET},
						 {"gateway", required_argument, NULL, O_GATEWAY},
						 {"ip-range", required_argument, NULL, O_RANGE},
						 {"internal", no_argument, NULL, O_INTERNAL},
						 {"driver", required_argument, NULL, O_DRIVER},
						 {"parent", required_argument, NULL, O_PARENT},
						 {"no-masquerade", no_argument, NULL, O_NOMASQ},
						 {0}};
	static const char *const keys[] = {"", "subnet", "gateway", "ip_range",
					   "", "driver", "parent"};
	_cleanup_(json_decrefp) json_t *body = json_object();
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hd:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			printf("Usage: plctl network create [--subnet CIDR] [--gateway IP] "
			       "[--ip-range CIDR] [--internal] [--no-masquerade] "
			       "[--driver bridge|external --parent IFACE] NAME\n");
			return 0;
		case O_INTERNAL:
			json_object_set_new(body, "internal", json_true());
			break;
		case O_NOMASQ:
			json_object_set_new(body, "masquerade", json_false());
			break;
		case 'd':
		case O_SUBNET:
		case O_GATEWAY:
		case O_RANGE:
		case O_DRIVER:
		case O_PARENT:
			json_object_set_new(body, keys[(opt == 'd' ? O_DRIVER : opt) - 255],
					    json_string(optarg));
			break;
		default:
			return bad_flag("network create", opt, argv);
		}
	}
	if (argc - optind != 1)
		return usage_error("network create", "want exactly one NAME");
	json_object_set_new(body, "name", json_string(argv[optind]));
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(json_decrefp) json_t *resp = NULL;
	if (pl_client_request(c, "POST", "/networks", body, NULL, &resp, &err) < 0)
		return report(err, 1);
	puts(volume_field(resp, "id", "?"));
	return 0;
}

static int network_ls(pl_client_t *c, int argc, char **argv)
{
	bool quiet = false;
	int r = parse_group_opts("network ls", argc, argv, "ls [-q]", &quiet, NULL, NULL);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind < argc)
		return usage_error("network ls", "unexpected argument '%s'", argv[optind]);
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(json_decrefp) json_t *list = NULL;
	if (pl_client_request(c, "GET", "/networks", NULL, NULL, &list, &err) < 0)
		return report(err, 1);
	size_t n = json_array_size(list), i;
	if (quiet) {
		for (i = 0; i < n; i++)
			puts(volume_field(json_array_get(list, i), "name", "?"));
		return 0;
	}
	const size_t cols = 5;
	char **cells = pl_xcalloc((n + 1) * cols, sizeof(char *));
	const char *head[] = {"NETWORK ID", "NAME", "DRIVER", "SUBNET", "GATEWAY"};
	for (i = 0; i < cols; i++)
		cells[i] = pl_xstrdup(head[i]);
	for (i = 0; i < n; i++) {
		json_t *v = json_array_get(list, i);
		char **row = cells + (i + 1) * cols;
		row[0] = pl_xasprintf("%.12s", volume_field(v, "id", "?"));
		row[1] = pl_xstrdup(volume_field(v, "name", "?"));
		row[2] =
		    pl_xasprintf("%s%s", volume_field(v, "driver", "?"),
				 json_is_true(json_object_get(v, "internal")) ? " (internal)" : "");
		row[3] = pl_xstrdup(volume_field(v, "subnet", ""));
		row[4] = pl_xstrdup(volume_field(v, "gateway", ""));
	}
	print_table(cells, n + 1, cols);
	for (i = 0; i < (n + 1) * cols; i++)
		free(cells[i]);
	free(cells);
	return 0;
}

static int network_inspect(pl_client_t *c, int argc, char **argv)
{
	int r =
	    parse_group_opts("network inspect", argc, argv, "inspect NAME...", NULL, NULL, NULL);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind >= argc)
		return usage_error("network inspect", "requires at least one network");
	return inspect_each(c, argc, argv, network_path);
}

static int network_rm(pl_client_t *c, int argc, char **argv)
{
	int r = parse_group_opts("network rm", argc, argv, "rm NAME...", NULL, NULL, NULL);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind >= argc)
		return usage_error("network rm", "requires at least one network");
	return delete_each(c, argc, argv, network_path, false);
}

/* network connect [--ip A] [--alias N]... NETWORK CONTAINER | disconnect [-f] NETWORK CONTAINER
 * (a running container too: the port layer plumbs it live) */
static int network_connect(pl_client_t *c, int argc, char **argv)
{
	bool connect = !strcmp(argv[0], "connect");
	_cleanup_(json_decrefp) json_t *body = json_object();
	int i = 1;
	for (; i + 1 < argc && argv[i][0] == '-'; i++) {
		if (connect && !strcmp(argv[i], "--ip"))
			json_object_set_new(body, "ip", json_string(argv[++i]));
		else if (connect && !strcmp(argv[i], "--alias"))
			json_array_append_new(member(body, "aliases", true),
					      json_string(argv[++i]));
		else if (!connect && (!strcmp(argv[i], "-f") || !strcmp(argv[i], "--force")))
			json_object_set_new(body, "force", json_true());
		else
			break;
	}
	if (argc - i != 2)
		return usage_error(connect ? "network connect" : "network disconnect",
				   "want NETWORK CONTAINER (connect: [--ip A] [--alias N]; "
				   "disconnect: [-f])");
	json_object_set_new(body, "container", json_string(argv[i + 1]));
	_cleanup_free_ char *base = network_path(c, argv[i]);
	_cleanup_free_ char *path = pl_xasprintf("%s/%s", base, argv[0]);
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_client_request(c, "POST", path, body, NULL, NULL, &err) < 0)
		return report(err, 1);
	return 0;
}

static const subcommand_t network_commands[] = {
    {"create", network_create},	  {"ls", network_ls},
    {"list", network_ls},	  {"inspect", network_inspect},
    {"rm", network_rm},		  {"remove", network_rm},
    {"connect", network_connect}, {"disconnect", network_connect},
};

static int cmd_network(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return dispatch_sub(cmd, network_commands, PL_ARRAY_SIZE(network_commands), c, argc, argv);
}

/* plctl port CONTAINER: "80/tcp -> 0.0.0.0:8080", one line per published port */
static int cmd_port(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		print_usage(stdout, cmd);
		return 0;
	}
	if (argc != 2)
		return usage_error(cmd->name, "want exactly one CONTAINER");
	_cleanup_free_ char *esc = pl_client_escape(c, argv[1]);
	_cleanup_free_ char *path = pl_xasprintf("/containers/%s/ports", esc);
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(json_decrefp) json_t *list = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &list, &err) < 0)
		return report(err, 1);
	size_t i;
	json_t *p;
	json_array_foreach(list, i, p)
	{
		const char *hip = volume_field(p, "host_ip", "");
		printf("%lld/%s -> %s:%lld\n",
		       (long long)json_integer_value(json_object_get(p, "container_port")),
		       volume_field(p, "protocol", "tcp"), *hip ? hip : "0.0.0.0",
		       (long long)json_integer_value(json_object_get(p, "host_port")));
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
	printf("Client:\n Version:      %s\n API version:  %s\n", PL_VERSION,
	       PL_CLIENT_API_PREFIX + 2);
	fflush(stdout);
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(json_decrefp) json_t *info = NULL;
	if (pl_client_request(c, "GET", "/info", NULL, NULL, &info, &err) < 0)
		return report(err, 1);
	const char *v = json_string_value(json_object_get(info, "version"));
	const char *api = json_string_value(json_object_get(info, "api_version"));
	const char *min = json_string_value(json_object_get(info, "min_api_version"));
	printf("\nServer:\n Version:      %s\n API version:  %s (minimum %s)\n", v ? v : "unknown",
	       api ? api : "unknown", min ? min : "unknown");
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
	"  -i, --interactive           keep stdin open (run: and feed ours to it)\n"               \
	"  -t, --tty                   give it a terminal\n"                                       \
	"  --name NAME                 name the container\n"                                       \
	"  -e, --env KEY=VALUE         set an environment variable (KEY alone: take ours)\n"       \
	"  -w, --workdir DIR           working directory inside the container\n"                   \
	"  -u, --user UID[:GID]        numeric user and group\n"                                   \
	"  -h, --hostname NAME         container hostname\n"                                       \
	"  --kernel shared|dedicated   isolation: share the host kernel or have its own\n"         \
	"  -v, --volume [SRC:]DST[:ro] mount a host path (SRC starting with '/') or a volume;\n"   \
	"                              DST alone: a new anonymous volume (repeatable)\n"           \
	"  --mount type=bind|volume,source=SRC,target=DST[,readonly][,bind-propagation=P]\n"       \
	"                              likewise, docker's long form (repeatable)\n"                \
	"  --label KEY[=VALUE]         set a label (repeatable)\n"                                 \
	"  --restart POLICY            no, on-failure[:MAX_RETRIES], always, unless-stopped\n"     \
	"  --stop-signal SIGNAL        signal that stops it (default TERM)\n"                      \
	"  --stop-timeout SECONDS      grace period before SIGKILL on stop (default 10)\n"         \
	"  --health-cmd CMD            health check run with /bin/sh -c in the container\n"        \
	"  --health-interval/--health-timeout/--health-start-period DURATION  (30s, 500ms)\n"      \
	"  --health-retries N          failures in a row that make it unhealthy (default 3)\n"     \
	"  --no-healthcheck            no health check\n"                                          \
	"  --network NAME[,NAME...]    join these network scopes (default: bridge), or\n"          \
	"  --net host|none             share the host's network, or loopback only\n"               \
	"  --ip ADDR                   a static address on the first network\n"                    \
	"  --network-alias NAME        another name on the first network (repeatable)\n"           \
	"  -p, --publish [HOSTIP:][HOSTPORT:]PORT[/udp]  publish a port (repeatable)\n"            \
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
	"  --oom-score-adj N           OOM killer preference, -1000 to 1000\n"                     \
	"  --userns remap|host         remap: root inside is an unprivileged host uid\n"

/* filesystem commands live in plctl_archive.c */
static int cmd_export(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_export(c, argc, argv);
}

static int cmd_diff(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_diff(c, argc, argv);
}

static int cmd_cp(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_cp(c, argc, argv);
}

static int cmd_commit(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_commit(c, argc, argv);
}

/* top and kv live in plctl_engine.c */
static int cmd_top(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_top(c, argc, argv);
}

static int cmd_kv(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_kv(c, argc, argv);
}

static const command_t commands[] = {
    {"run", cmd_run, EXIT_RUN_ERROR,
     "Create and start a container, print its output and exit with its status",
     "run [OPTIONS] ROOTFS|IMAGE [--] [CMD [ARGS...]]\n\n"
     "Create and start a container on ROOTFS (a host directory) or IMAGE (an image\n"
     "reference: anything that is not a directory nor starts with '/' or '.'; without\n"
     "CMD the image's entrypoint and command run), follow its output, wait\n"
     "for it and exit with its exit code. SIGINT and SIGTERM are forwarded to it, except\n"
     "with -it: then our terminal is its terminal (raw mode, resized along), and the\n"
     "detach keys leave it running.\n\n"
     "  --rm                        remove the container when it exits (with -d: the\n"
     "                              port layer does, auto_remove)\n"
     "  -d, --detach                print the id and return once it started\n"
     "  --detach-keys KEYS          the keys that detach (with -t the default is\n"
     "                              ctrl-p,ctrl-q, without it none; \"\" for none)\n" RUN_FLAGS},
    {"create", cmd_create, EXIT_RUN_ERROR, "Create a container and print its id",
     "create [OPTIONS] ROOTFS|IMAGE [--] [CMD [ARGS...]]\n\n"
     "  --rm                        the port layer removes it when it stops "
     "(auto_remove)\n" RUN_FLAGS},
    {"start", cmd_start, 1, "Start containers", "start ID..."},
    {"exec", cmd_exec, 1, "Run a command in a running container",
     "exec [OPTIONS] CONTAINER [--] CMD [ARGS...]\n\n"
     "Run CMD in the running CONTAINER, print its output and exit with its exit code.\n\n"
     "  -i, --interactive     feed our stdin to it\n"
     "  -t, --tty             give it a terminal\n"
     "  -d, --detach          start it and return\n"
     "  -e, --env KEY=VALUE   set an environment variable (KEY alone: take ours)\n"
     "  -w, --workdir DIR     working directory\n"
     "  -u, --user UID[:GID]  numeric user and group\n"
     "  --detach-keys KEYS    the keys that detach (default ctrl-p,ctrl-q with -t)\n"},
    {"attach", cmd_attach, 1, "Attach our terminal to a running container",
     "attach [OPTIONS] CONTAINER\n\n"
     "Join our stdin, stdout and stderr to the container's process; exit with its exit\n"
     "code when it ends, or 0 after the detach keys.\n\n"
     "  --no-stdin          do not feed our stdin to it\n"
     "  --detach-keys KEYS  the keys that detach (default ctrl-p,ctrl-q with a tty)\n"},
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
    {"stats", cmd_stats, 1, "Show containers' resource usage",
     "stats [--no-stream] [CONTAINER...]\n\n"
     "A table of CPU, memory, network, block I/O and process counts, refreshed every\n"
     "second; every running container when none is named.\n\n"
     "  --no-stream   print one table and exit\n"},
    {"inspect", cmd_inspect, 1, "Show containers' config and state as JSON", "inspect ID..."},
    {"top", cmd_top, 1, "List a container's processes (as seen inside it)", "top CONTAINER"},
    {"kv", cmd_kv, 1, "Get, put, remove and list keys of the key-value store",
     "kv get KEY | kv put [--if-match REV] KEY VALUE|- | kv rm [--if-match REV] KEY | "
     "kv ls [PREFIX]"},
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
    {"cp", cmd_cp, 1, "Copy files between a container and the host",
     "cp CONTAINER:PATH HOSTPATH|-\n       plctl cp HOSTPATH|- CONTAINER:PATH\n"},
    {"diff", cmd_diff, 1, "List a container's changes against its image", "diff CONTAINER"},
    {"export", cmd_export, 1, "Write a container's filesystem as a tar",
     "export [-o FILE] CONTAINER"},
    {"commit", cmd_commit, 1, "Make an image of a container's changes",
     "commit [-m MSG] [-a AUTHOR] [-c KEY=VALUE]... CONTAINER [REPO[:TAG]]"},
    {"image", cmd_image, 1, "Manage images: pull, push, import, ls, inspect, tag, rm",
     "image COMMAND\n\n"
     "  import [-q] FILE|-   import an OCI image layout or a docker-archive (a tar, as\n"
     "                       made by `tar -C LAYOUT -cf FILE .` or `docker save`); prints\n"
     "                       each image's id and names (-q: ids only)\n"
     "  ls [-q]              list images (-q: ids only)\n"
     "  inspect REF...       show images' config, layers and names as JSON\n"
     "  tag REF NAME[:TAG]   give an image another name\n"
     "  rm REF...            remove a name; the last name (or an id) removes the image\n"
     "                       and the layers no other image uses\n"
     "  pull [-q] [--insecure] [--platform P] [-u USER --password-stdin] REF\n"
     "                       pull from a registry, with per-layer progress\n"
     "  push [--insecure] [-u USER --password-stdin] HOST/REPO[:TAG]\n"
     "                       push an image to the registry its name names\n\n"
     "REF: NAME[:TAG] (\":latest\" implied), an id (sha256:HEX) or a unique id prefix.\n"},
    {"volume", cmd_volume, 1, "Manage volumes: create, ls, inspect, rm",
     "volume COMMAND\n\n"
     "  create [--label K=V] [NAME]   create a volume (a generated name without NAME);\n"
     "                                prints its name\n"
     "  ls [-q]                       list volumes (-q: names only)\n"
     "  inspect NAME...               show volumes as JSON\n"
     "  rm [-f] NAME...               remove volumes; refused while a container uses one\n"
     "                                (-f: only while a running one does)\n"},
    {"network", cmd_network, 1, "Manage networks: create, ls, inspect, rm",
     "network COMMAND\n\n"
     "  create [--subnet CIDR] [--gateway IP] [--ip-range CIDR] [--internal]\n"
     "         [--no-masquerade] [--driver bridge|external --parent IFACE] NAME\n"
     "                           create a network scope; prints its id\n"
     "  ls [-q]                  list networks (-q: names only)\n"
     "  inspect NAME...          show networks and their endpoints as JSON\n"
     "  rm NAME...               remove networks; refused while a container is on one\n"},
    {"port", cmd_port, 1, "List a container's published ports", "port CONTAINER"},
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
