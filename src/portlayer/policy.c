/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/policy.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"
#include "portlayer/config.h"
#include "proto/linux_caps.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>

/* --- security --- */

void pl_security_init(pl_security_t *s)
{
	memset(s, 0, sizeof(*s));
	for (const char *const *n = pl_linux_default_caps; *n; n++)
		s->caps |= 1ull << pl_linux_cap_number(*n);
	s->no_new_privs = true;
	s->seccomp = PL_SECCOMP_DEFAULT;
}

void pl_security_clear(pl_security_t *s)
{
	json_t **objs[] = {&s->seccomp_profile, &s->sysctls, &s->rlimits, &s->tmpfs, &s->canonical};
	for (size_t i = 0; i < PL_ARRAY_SIZE(objs); i++) {
		if (*objs[i])
			json_decref(*objs[i]);
		*objs[i] = NULL;
	}
}

static int cap_list(const json_t *v, const char *field, uint64_t *mask, bool *all, json_t *canon,
		    pl_error_t **err)
{
	*mask = 0;
	*all = false;
	if (!v)
		return 0;
	if (!json_is_array(v))
		return pl_error_set(err, PL_ERR_INVALID, 0, "%s must be an array of names", field);
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e)
	{
		const char *n = json_string_value(e);
		if (n && strcasecmp(n, "ALL") == 0) {
			*all = true;
			json_array_append_new(canon, json_string("ALL"));
			continue;
		}
		int c = n ? pl_linux_cap_number(n) : -1;
		if (c < 0)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "%s[%zu]: unknown capability \"%s\"", field, i,
					    n ? n : "(not a string)");
		*mask |= 1ull << c;
		json_array_append_new(canon, json_string(pl_linux_cap_names[c]));
	}
	return 0;
}

/* Sysctls a container may set: those the kernel keeps per IPC or network namespace. */
static bool sysctl_namespaced(const char *k)
{
	static const char *const ipc[] = {
	    "kernel.msgmax", "kernel.msgmnb",	       "kernel.msgmni",
	    "kernel.sem",    "kernel.shmall",	       "kernel.shmmax",
	    "kernel.shmmni", "kernel.shm_rmid_forced", NULL};
	for (const char *const *p = ipc; *p; p++)
		if (strcmp(k, *p) == 0)
			return true;
	return strncmp(k, "fs.mqueue.", 10) == 0 || strncmp(k, "net.", 4) == 0;
}

static bool sysctl_name_ok(const char *k)
{
	if (!*k || *k == '.' || strstr(k, "..") || k[strlen(k) - 1] == '.')
		return false;
	for (const char *p = k; *p; p++)
		if (!(*p == '.' || *p == '_' || *p == '-' || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

static int parse_sysctls(const json_t *v, pl_security_t *s, pl_error_t **err)
{
	if (pl_config_parse_string_map(v, "security.sysctls", err) < 0)
		return -EINVAL;
	const char *k;
	json_t *e;
	json_object_foreach((json_t *)v, k, e)
	{
		if (!sysctl_name_ok(k))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "sysctl \"%s\" is not a valid name", k);
		if (!sysctl_namespaced(k))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "sysctl \"%s\" is not namespaced: it would change the "
					    "host, refused",
					    k);
		if (strchr(json_string_value(e), '\n'))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "sysctl \"%s\": value has a newline", k);
	}
	s->sysctls = json_deep_copy(v);
	return 0;
}

static const char *const rlimit_names[] = {
    "RLIMIT_CPU",      "RLIMIT_FSIZE", "RLIMIT_DATA",	"RLIMIT_STACK",
    "RLIMIT_CORE",     "RLIMIT_RSS",   "RLIMIT_NPROC",	"RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",  "RLIMIT_AS",    "RLIMIT_LOCKS",	"RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE", "RLIMIT_NICE",  "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
};

static int parse_rlimits(const json_t *v, pl_security_t *s, pl_error_t **err)
{
	if (!json_is_array(v))
		return pl_error_set(err, PL_ERR_INVALID, 0, "security.rlimits must be an array");
	json_t *out = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e)
	{
		static const char *const keys[] = {"type", "soft", "hard", NULL};
		if (pl_json_check_keys(e, "security.rlimits[]", keys, err) < 0)
			goto bad;
		const char *t = json_string_value(json_object_get(e, "type"));
		json_t *soft = json_object_get(e, "soft"), *hard = json_object_get(e, "hard");
		const char *name = NULL;
		for (size_t j = 0; t && j < PL_ARRAY_SIZE(rlimit_names); j++)
			if (strcasecmp(t, rlimit_names[j]) == 0 ||
			    strcasecmp(t, rlimit_names[j] + 7) == 0)
				name = rlimit_names[j];
		if (!name) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "security.rlimits[%zu]: unknown type \"%s\"", i, t ? t : "");
			goto bad;
		}
		if (!json_is_integer(soft) || !json_is_integer(hard) ||
		    json_integer_value(soft) < 0 ||
		    json_integer_value(hard) < json_integer_value(soft)) {
			pl_error_set(
			    err, PL_ERR_INVALID, 0,
			    "security.rlimits[%zu]: soft and hard must be integers, 0 <= soft "
			    "<= hard",
			    i);
			goto bad;
		}
		json_array_append_new(
		    out, json_pack("{s:s, s:O, s:O}", "type", name, "soft", soft, "hard", hard));
	}
	s->rlimits = out;
	return 0;
bad:
	json_decref(out);
	return -EINVAL;
}

static int parse_tmpfs(const json_t *v, pl_security_t *s, pl_error_t **err)
{
	if (pl_config_parse_string_map(v, "security.tmpfs", err) < 0)
		return -EINVAL;
	const char *k;
	json_t *e;
	json_object_foreach((json_t *)v, k, e)
	{
		if (!pl_path_is_clean_abs(k))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "security.tmpfs: \"%s\" must be a clean absolute path "
					    "(no '..', ',' or ':')",
					    k);
		/* tmpfs's own options; nosuid and nodev are always added */
		if (strpbrk(json_string_value(e), "\n\\"))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "security.tmpfs[\"%s\"]: bad options", k);
	}
	s->tmpfs = json_deep_copy(v);
	return 0;
}

int pl_security_parse(const json_t *v, pl_security_t *s, pl_error_t **err)
{
	static const char *const keys[] = {
	    "privileged", "cap_add", "cap_drop", "no_new_privileges", "seccomp", "read_only_rootfs",
	    "sysctls",	  "rlimits", "tmpfs",	 "oom_score_adj",     "userns",	 NULL};
	pl_security_init(s);
	/* {} is the defaults, as absent is: the same canonical form (a round trip is stable) */
	if (!v || json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0)) {
		s->canonical = json_object();
		return 0;
	}
	if (pl_json_check_keys(v, "security", keys, err) < 0)
		return -EINVAL;
	json_t *canon = json_object();
	json_t *priv = json_object_get(v, "privileged"),
	       *nnp = json_object_get(v, "no_new_privileges");
	json_t *ro = json_object_get(v, "read_only_rootfs");
	if ((priv && !json_is_boolean(priv)) || (nnp && !json_is_boolean(nnp)) ||
	    (ro && !json_is_boolean(ro))) {
		pl_error_set(
		    err, PL_ERR_INVALID, 0,
		    "security.privileged, no_new_privileges and read_only_rootfs are booleans");
		goto bad;
	}
	s->privileged = json_is_true(priv);
	if (nnp)
		s->no_new_privs = json_is_true(nnp);
	s->read_only_rootfs = json_is_true(ro);
	json_object_set_new(canon, "privileged", json_boolean(s->privileged));
	json_object_set_new(canon, "no_new_privileges", json_boolean(s->no_new_privs));
	json_object_set_new(canon, "read_only_rootfs", json_boolean(s->read_only_rootfs));

	uint64_t add, drop;
	bool add_all, drop_all;
	json_t *ca = json_array(), *cd = json_array();
	json_object_set_new(canon, "cap_add", ca);
	json_object_set_new(canon, "cap_drop", cd);
	if (cap_list(json_object_get(v, "cap_add"), "security.cap_add", &add, &add_all, ca, err) <
		0 ||
	    cap_list(json_object_get(v, "cap_drop"), "security.cap_drop", &drop, &drop_all, cd,
		     err) < 0)
		goto bad;
	uint64_t all = PL_LINUX_CAP_COUNT >= 64 ? ~0ull : (1ull << PL_LINUX_CAP_COUNT) - 1;
	if (s->privileged || add_all)
		s->caps = all;
	if (drop_all)
		s->caps = 0;
	s->caps = (s->caps | add) & ~drop;
	if (drop_all)
		s->caps = add_all ? all : add;

	json_t *sc = json_object_get(v, "seccomp");
	if (s->privileged)
		s->seccomp = PL_SECCOMP_UNCONFINED;
	if (sc && json_is_string(sc) && strcmp(json_string_value(sc), "unconfined") == 0) {
		s->seccomp = PL_SECCOMP_UNCONFINED;
	} else if (sc && json_is_string(sc) && strcmp(json_string_value(sc), "default") == 0) {
		s->seccomp = PL_SECCOMP_DEFAULT;
	} else if (sc && json_is_object(sc)) {
		s->seccomp = PL_SECCOMP_CUSTOM;
		s->seccomp_profile = json_deep_copy(sc);
	} else if (sc && !json_is_null(sc)) {
		pl_error_set(
		    err, PL_ERR_INVALID, 0,
		    "security.seccomp must be \"default\", \"unconfined\" or an OCI profile");
		goto bad;
	}
	json_object_set_new(
	    canon, "seccomp",
	    s->seccomp == PL_SECCOMP_CUSTOM
		? json_deep_copy(s->seccomp_profile)
		: json_string(s->seccomp == PL_SECCOMP_DEFAULT ? "default" : "unconfined"));

	json_t *x;
	if ((x = json_object_get(v, "sysctls")) && parse_sysctls(x, s, err) < 0)
		goto bad;
	if ((x = json_object_get(v, "rlimits")) && parse_rlimits(x, s, err) < 0)
		goto bad;
	if ((x = json_object_get(v, "tmpfs")) && parse_tmpfs(x, s, err) < 0)
		goto bad;
	if ((x = json_object_get(v, "oom_score_adj"))) {
		if (!json_is_integer(x) || json_integer_value(x) < -1000 ||
		    json_integer_value(x) > 1000) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "security.oom_score_adj must be an integer in -1000..1000");
			goto bad;
		}
		s->has_oom_score_adj = true;
		s->oom_score_adj = (int)json_integer_value(x);
		json_object_set(canon, "oom_score_adj", x);
	}
	if (pl_userns_parse(json_object_get(v, "userns"), &s->userns, err) < 0)
		goto bad;
	json_object_set_new(canon, "userns", pl_userns_to_json(&s->userns));
	if (s->sysctls)
		json_object_set(canon, "sysctls", s->sysctls);
	if (s->rlimits)
		json_object_set(canon, "rlimits", s->rlimits);
	if (s->tmpfs)
		json_object_set(canon, "tmpfs", s->tmpfs);
	s->canonical = canon;
	return 0;
bad:
	json_decref(canon);
	pl_security_clear(s);
	return -EINVAL;
}

json_t *pl_security_to_json(const pl_security_t *s)
{
	return json_deep_copy(s->canonical);
}

/* --- resources --- */

void pl_resources_init(pl_resources_t *r)
{
	memset(r, 0, sizeof(*r));
}

void pl_resources_clear(pl_resources_t *r)
{
	free(r->cpuset_cpus);
	r->cpuset_cpus = NULL;
}

static int get_int(const json_t *v, const char *key, int64_t min, int64_t max, int64_t *out,
		   bool *present, pl_error_t **err)
{
	json_t *x = json_object_get(v, key);
	if (!x)
		return 0;
	if (!json_is_integer(x) || json_integer_value(x) < min || json_integer_value(x) > max)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "resources.%s must be an integer in %lld..%lld", key,
				    (long long)min, (long long)max);
	*out = json_integer_value(x);
	if (present)
		*present = true;
	return 0;
}

static bool cpuset_ok(const char *s)
{
	if (!*s || strlen(s) > 256)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || *p == ',' || *p == '-'))
			return false;
	return true;
}

int pl_resources_parse(const json_t *v, pl_resources_t *r, pl_error_t **err)
{
	static const char *const keys[] = {
	    "memory",	  "memory_reservation", "memory_swap", "cpu_shares",   "cpus", "cpu_quota",
	    "cpu_period", "cpuset_cpus",	"pids_limit",  "blkio_weight", NULL};
	if (!v || json_is_null(v))
		return 0;
	if (pl_json_check_keys(v, "resources", keys, err) < 0)
		return -EINVAL;
	const int64_t MB4 = 4 << 20, BIG = INT64_MAX / 4;
	if (get_int(v, "memory", MB4, BIG, &r->memory, NULL, err) < 0 ||
	    get_int(v, "memory_reservation", 0, BIG, &r->memory_reservation, NULL, err) < 0 ||
	    get_int(v, "memory_swap", -1, BIG, &r->memory_swap, &r->has_memory_swap, err) < 0 ||
	    get_int(v, "cpu_shares", 2, 262144, &r->cpu_shares, NULL, err) < 0 ||
	    get_int(v, "cpu_quota", 1000, 1000000000, &r->cpu_quota, NULL, err) < 0 ||
	    get_int(v, "cpu_period", 1000, 1000000, &r->cpu_period, NULL, err) < 0 ||
	    get_int(v, "pids_limit", -1, 4194304, &r->pids_limit, &r->has_pids_limit, err) < 0 ||
	    get_int(v, "blkio_weight", 10, 1000, &r->blkio_weight, NULL, err) < 0)
		return -EINVAL;
	json_t *cpus = json_object_get(v, "cpus");
	if (cpus) {
		double c = json_number_value(cpus);
		if (!json_is_number(cpus) || !(c >= 0.01 && c <= 1024))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "resources.cpus must be a number in 0.01..1024");
		if (!r->cpu_period)
			r->cpu_period = 100000;
		r->cpu_quota = (int64_t)llround(c * (double)r->cpu_period);
	}
	json_t *cs = json_object_get(v, "cpuset_cpus");
	if (cs) {
		if (!json_is_string(cs) || !cpuset_ok(json_string_value(cs)))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "resources.cpuset_cpus must look like \"0-2,4\"");
		free(r->cpuset_cpus);
		r->cpuset_cpus = pl_xstrdup(json_string_value(cs));
	}
	/* as in Docker, 0 means "not set" for swap and "no limit" for pids */
	if (r->has_memory_swap && r->memory_swap == 0)
		r->has_memory_swap = false;
	if (r->has_pids_limit && r->pids_limit == 0)
		r->pids_limit = -1;
	if (r->has_memory_swap && r->memory_swap > 0 && r->memory && r->memory_swap < r->memory)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "resources.memory_swap (memory + swap) must be >= memory");
	if (r->has_memory_swap && r->memory_swap > 0 && !r->memory)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "resources.memory_swap needs resources.memory");
	return 0;
}

bool pl_resources_any(const pl_resources_t *r)
{
	return r->memory || r->memory_reservation || r->has_memory_swap || r->cpu_shares ||
	       r->cpu_quota || r->cpu_period || r->cpuset_cpus || r->has_pids_limit ||
	       r->blkio_weight;
}

json_t *pl_resources_to_json(const pl_resources_t *r)
{
	json_t *j = json_object();
	struct {
		const char *k;
		int64_t v;
		bool set;
	} f[] = {
	    {"memory", r->memory, r->memory != 0},
	    {"memory_reservation", r->memory_reservation, r->memory_reservation != 0},
	    {"memory_swap", r->memory_swap, r->has_memory_swap},
	    {"cpu_shares", r->cpu_shares, r->cpu_shares != 0},
	    {"cpu_quota", r->cpu_quota, r->cpu_quota != 0},
	    {"cpu_period", r->cpu_period, r->cpu_period != 0},
	    {"pids_limit", r->pids_limit, r->has_pids_limit},
	    {"blkio_weight", r->blkio_weight, r->blkio_weight != 0},
	};
	for (size_t i = 0; i < PL_ARRAY_SIZE(f); i++)
		if (f[i].set)
			json_object_set_new(j, f[i].k, json_integer(f[i].v));
	if (r->cpuset_cpus)
		json_object_set_new(j, "cpuset_cpus", json_string(r->cpuset_cpus));
	return j;
}
