/* SPDX-License-Identifier: Apache-2.0 */
/* plctl: the table-driven flags of run, create and update: resources, security, config. */
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

/* ---- table-driven flags: resources, security and config of run, create and update ---- */

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
json_t *pl_cli_member(json_t *obj, const char *key, bool array)
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
	return pl_cli_add_string(obj, f->key, arg, err);
}

static int set_true(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	json_object_set_new(obj, f->key, json_true());
	return 0;
}

static int append_string(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	return pl_cli_add_string(pl_cli_member(obj, f->key, true), NULL, arg, err);
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
	if (!v || json_object_set_new(pl_cli_member(obj, f->key, false), k, v) < 0)
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

int pl_cli_set_label(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
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
	json_t *list = pl_cli_member(obj, f->key, true);
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
		return pl_cli_add_string(obj, "seccomp", value, err);
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
	return pl_cli_add_string(obj, f->key, arg, err);
}

static int set_seconds(json_t *obj, const flag_t *f, const char *arg, pl_error_t **err)
{
	int64_t n;
	if (pl_parse_int64(arg, 0, INT_MAX, &n) < 0)
		return bad_value(f, arg, "want whole seconds", err);
	json_object_set_new(obj, f->key, json_integer(n));
	return 0;
}

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
	json_array_append_new(pl_cli_member(obj, f->key, true), d);
	return 0;
}

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

/* Fields of "resources": run and create send them at creation, update to a live container. */
const flag_t pl_cli_resource_flags[] = {
    {"memory", 'm', "SIZE", "memory limit: bytes or 512k, 64m, 1g", 0, "memory", set_bytes},
    {"memory-reservation", 0, "SIZE", "soft memory limit", 0, "memory_reservation", set_bytes},
    {"memory-swap", 0, "SIZE", "memory + swap limit; -1 for unlimited swap", 0, "memory_swap",
     set_swap},
    {"cpus", 0, "N.N", "number of CPUs (1.5)", 0, "cpus", set_cpus},
    {"cpu-shares", 0, "N", "relative CPU weight (1024 is the usual default)", 0, "cpu_shares",
     set_int},
    {"cpuset-cpus", 0, "LIST", "CPUs it may run on (0-3, 0,1)", 0, "cpuset_cpus", set_string},
    {"pids-limit", 0, "N", "maximum number of processes; -1 for unlimited", 0, "pids_limit",
     set_pids},
    {"blkio-weight", 0, "N", "relative block IO weight, 10 to 1000", 0, "blkio_weight", set_int},
    {0},
};

/* Fields of "security". */
const flag_t pl_cli_security_flags[] = {
    {"cap-add", 0, "CAP", "add a capability, or ALL (repeatable)", 0, "cap_add", append_string},
    {"cap-drop", 0, "CAP", "drop a capability, or ALL (repeatable)", 0, "cap_drop", append_string},
    {"privileged", 0, NULL, "every capability, no seccomp filter", 0, "privileged", set_true},
    {"security-opt", 0, "OPT",
     "no-new-privileges[=true|false] (default true),\nseccomp=PROFILE.json or seccomp=unconfined",
     0, NULL, set_security_opt},
    {"read-only", 0, NULL, "mount the root filesystem read-only", 0, "read_only_rootfs", set_true},
    {"tmpfs", 0, "PATH[:OPTIONS]", "mount a tmpfs (repeatable)", 0, "tmpfs", set_tmpfs},
    {"sysctl", 0, "KEY=VALUE", "set a namespaced sysctl (repeatable)", 0, "sysctls", set_sysctl},
    {"ulimit", 0, "TYPE=SOFT[:HARD]", "set a resource limit, e.g. nofile=1024:2048 (repeatable)", 0,
     "rlimits", set_ulimit},
    {"oom-score-adj", 0, "N", "OOM killer preference, -1000 to 1000", 0, "oom_score_adj", set_int},
    {"userns", 0, "remap|host", "remap: root inside is an unprivileged host uid", 0, "userns",
     set_userns},
    {0},
};

/* Top-level fields of the create body. */
const flag_t pl_cli_config_flags[] = {
    {"label", 0, "KEY[=VALUE]", "set a label (repeatable)", 0, "labels", pl_cli_set_label},
    {"restart", 0, "POLICY", "no, on-failure[:MAX_RETRIES], always, unless-stopped", 0,
     "restart_policy", set_restart},
    {"stop-signal", 0, "SIGNAL", "signal that stops it (default TERM)", 0, "stop_signal",
     set_signal},
    {"stop-timeout", 0, "SECONDS", "grace period before SIGKILL on stop (default 10)", 0,
     "stop_timeout", set_seconds},
    {"ipc", 0, "MODE", "private, shareable, container:ID or host", 0, "ipc_mode", set_string},
    {"pid", 0, "MODE", "container:ID or host: whose processes it sees", 0, "pid_mode", set_string},
    {"uts", 0, "host", "the host's hostname", 0, "uts_mode", set_string},
    {"dns", 0, "IP", "a name server (repeatable)", 0, "dns", append_string},
    {"dns-search", 0, "DOMAIN", "a search domain (repeatable)", 0, "dns_search", append_string},
    {"dns-option", 0, "OPT", "a resolv.conf option (repeatable)", 0, "dns_options", append_string},
    {"add-host", 0, "NAME:IP", "a line in /etc/hosts (repeatable)", 0, "extra_hosts",
     append_string},
    {"domainname", 0, "NAME", "the container's domain name", 0, "domainname", set_string},
    {"cgroup-parent", 0, "PATH", "the cgroup (or systemd slice) to create it under", 0,
     "cgroup_parent", set_string},
    {"device", 0, "HOST[:CONTAINER[:rwm]]", "give it a host device (repeatable)", 0, "devices",
     set_device},
    {"shm-size", 0, "SIZE", "size of /dev/shm", 0, "shm_size", set_bytes},
    {"group-add", 0, "GROUP", "another group for its process (repeatable)", 0, "group_add",
     append_string},
    {"health-cmd", 0, "CMD", "health check run with /bin/sh -c in the container", 0, "test",
     set_health},
    {"health-interval", 0, "DURATION", "time between checks (30s, 500ms, 1m)", 0, "interval",
     set_health},
    {"health-timeout", 0, "DURATION", "time one check may take", 0, "timeout", set_health},
    {"health-start-period", 0, "DURATION", "time after the start whose failures do not count", 0,
     "start_period", set_health},
    {"health-retries", 0, "N", "failures in a row that make it unhealthy (default 3)", 0, "retries",
     set_health},
    {"no-healthcheck", 0, NULL, "no health check", 0, "test", set_health},
    {0},
};

/* ---- getopt from a command's flag tables */

/* getopt's value for a table flag without a short option is FLAG_BASE + its position across
 * the command's tables; own flags answer their short_opt or id (below FLAG_BASE). */
#define FLAG_BASE 1024

static int flag_opt(const flag_t *f, int index)
{
	if (f->short_opt)
		return f->short_opt;
	return f->set ? FLAG_BASE + index : f->id;
}

void pl_cli_opts_init(pl_cli_opts_t *o, const command_t *cmd, const char *prefix)
{
	size_t n = 0, k = strlen(prefix);
	for (const flag_table_t *t = cmd->flags; t && t->flags; t++)
		for (const flag_t *f = t->flags; f->name; f++)
			n++;
	o->longopts = pl_xcalloc(n + 1, sizeof(*o->longopts));
	memcpy(o->optstring, prefix, k);
	int i = 0;
	for (const flag_table_t *t = cmd->flags; t && t->flags; t++)
		for (const flag_t *f = t->flags; f->name; f++, i++) {
			o->longopts[i] =
			    (struct option){f->name, f->arg ? required_argument : no_argument, NULL,
					    flag_opt(f, i)};
			if (f->short_opt && !memchr(o->optstring, f->short_opt, k) &&
			    k + 3 < sizeof(o->optstring)) {
				o->optstring[k++] = f->short_opt;
				if (f->arg)
					o->optstring[k++] = ':';
			}
		}
	o->optstring[k] = 0;
}

void pl_cli_opts_clear(pl_cli_opts_t *o)
{
	free(o->longopts);
	o->longopts = NULL;
}

const flag_t *pl_cli_table_flag(const command_t *cmd, int opt, const flag_t **table)
{
	int i = 0;
	for (const flag_table_t *t = cmd->flags; t && t->flags; t++)
		for (const flag_t *f = t->flags; f->name; f++, i++)
			if (f->set && opt == flag_opt(f, i)) {
				*table = t->flags;
				return f;
			}
	return NULL;
}
