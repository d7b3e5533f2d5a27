/* SPDX-License-Identifier: Apache-2.0 */
/* CONFIG and EXEC payloads: what to run and with which stdio and privileges, parsed strictly
 * into a pl_os_spawn_spec_t; and the Docker-compatible codes and wording of a launch that
 * failed. No I/O. */
#include "tether/tether.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* A terminal's size when CONFIG or EXEC gives none (a pty starts at 0x0 otherwise). */
#define DEFAULT_ROWS 24
#define DEFAULT_COLS 80

/* Reads a JSON array of strings into a NULL-terminated vector borrowing from the JSON.
 * Returns NULL (and *bad) when the value is not such an array. */
static char **string_vector(json_t *arr, bool *bad)
{
	*bad = !json_is_array(arr);
	if (*bad)
		return NULL;
	char **v = calloc(json_array_size(arr) + 1, sizeof(*v));
	*bad = !v;
	for (size_t i = 0; v && i < json_array_size(arr); i++) {
		json_t *e = json_array_get(arr, i);
		if (!json_is_string(e)) {
			*bad = true;
			free(v);
			return NULL;
		}
		v[i] = (char *)json_string_value(e);
	}
	return v;
}

static bool id_field(json_t *o, const char *key, uint32_t *out)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return true;
	/* (uint32_t)-1 means "unchanged" to set*id(), never a real id. */
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) >= (json_int_t)UINT32_MAX)
		return false;
	*out = (uint32_t)json_integer_value(v);
	return true;
}

static bool bool_field(json_t *o, const char *key, bool *out)
{
	json_t *v = json_object_get(o, key);
	if (v && !json_is_boolean(v))
		return false;
	*out = json_is_true(v);
	return true;
}

static bool size_field(json_t *o, const char *key, uint16_t *out)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT16_MAX)
		return false;
	*out = (uint16_t)json_integer_value(v);
	return true;
}

/* RFC 4648 base64 (padded); returns a malloc'd buffer or NULL when malformed. */
static uint8_t *base64_decode(const char *in, size_t *out_len)
{
	size_t n = strlen(in);
	if (n % 4)
		return NULL;
	uint8_t *out = malloc(n / 4 * 3 + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			char c = in[i + k];
			int d = c >= 'A' && c <= 'Z'		   ? c - 'A'
				: c >= 'a' && c <= 'z'		   ? c - 'a' + 26
				: c >= '0' && c <= '9'		   ? c - '0' + 52
				: c == '+'			   ? 62
				: c == '/'			   ? 63
				: c == '=' && i + 4 == n && k >= 2 ? (pad++, 0)
								   : -1;
			if (d < 0 || (pad && c != '=')) {
				free(out);
				return NULL;
			}
			v = v << 6 | (uint32_t)d;
		}
		out[o++] = (uint8_t)(v >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(v >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)v;
	}
	*out_len = o;
	return out;
}

static const char *parse_privileges(launch_t *l, json_t *o)
{
	pl_os_spawn_spec_t *spec = &l->spec;
	bool bad = false;
	json_t *caps = json_object_get(o, "capabilities");
	if (caps) {
		l->caps = string_vector(caps, &bad);
		if (bad)
			return "\"capabilities\" must be an array of strings";
		spec->caps = l->caps;
	}
	if (!bool_field(o, "no_new_privileges", &spec->no_new_privs))
		return "\"no_new_privileges\" must be a boolean";
	json_t *sc = json_object_get(o, "seccomp_bpf");
	if (sc) {
		if (!json_is_string(sc) ||
		    !(l->seccomp = base64_decode(json_string_value(sc), &spec->seccomp_len)))
			return "\"seccomp_bpf\" must be base64";
		spec->seccomp = l->seccomp;
	}
	/* CONFIG: the program came as raw bytes in the SECCOMP frame just before; the count
	 * says which one the daemon meant (a lost or refused frame fails the start) */
	json_t *sf = json_object_get(o, "seccomp_frame");
	if (sf) {
		if (sc || !json_is_integer(sf) || json_integer_value(sf) < 1 ||
		    json_integer_value(sf) > PL_SECCOMP_MAX_INSNS)
			return "\"seccomp_frame\" must be an instruction count, without "
			       "\"seccomp_bpf\"";
		if (!l->frame_bpf ||
		    l->frame_bpf_len != (size_t)json_integer_value(sf) * PL_SECCOMP_INSN_LEN)
			return "\"seccomp_frame\" does not match a SECCOMP frame";
		spec->seccomp = l->frame_bpf;
		spec->seccomp_len = l->frame_bpf_len;
	}
	json_t *rl = json_object_get(o, "rlimits");
	if (rl) {
		size_t n = json_array_size(rl);
		if (!json_is_array(rl) || !(l->rlimits = calloc(n + 1, sizeof(pl_os_rlimit_t))))
			return "\"rlimits\" must be an array";
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_array_get(rl, i);
			json_t *t = json_object_get(e, "type"), *s = json_object_get(e, "soft"),
			       *h = json_object_get(e, "hard");
			if (!json_is_string(t) || !json_is_integer(s) || !json_is_integer(h) ||
			    json_integer_value(s) < 0 ||
			    json_integer_value(h) < json_integer_value(s))
				return "\"rlimits\" entries need type, soft <= hard";
			l->rlimits[i] =
			    (pl_os_rlimit_t){json_string_value(t), (uint64_t)json_integer_value(s),
					     (uint64_t)json_integer_value(h)};
		}
		spec->rlimits = l->rlimits;
		spec->n_rlimits = n;
	}
	return pl_os_spawn_check(spec);
}

/* Strict: a field this tether does not know (a limit, a capability) must not be silently
 * dropped. The daemon always configures the tether binary it shipped. */
static const char *unknown_key(json_t *o, bool exec)
{
	static const char *const common[] = {"args",
					     "env",
					     "cwd",
					     "uid",
					     "gid",
					     "tty",
					     "stdin",
					     "rows",
					     "cols",
					     "capabilities",
					     "no_new_privileges",
					     "seccomp_bpf",
					     "rlimits",
					     "user",
					     "groups",
					     NULL};
	for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
		const char *key = json_object_iter_key(it);
		bool ok = strcmp(key, exec ? "session" : "wait_attach") == 0 ||
			  (!exec &&
			   (strcmp(key, "network") == 0 || strcmp(key, "vm") == 0 ||
			    strcmp(key, "log_max_size") == 0 || strcmp(key, "seccomp_frame") == 0));
		for (const char *const *k = common; *k && !ok; k++)
			ok = strcmp(key, *k) == 0;
		if (!ok) {
			static char msg[128];
			snprintf(msg, sizeof(msg), "unknown field \"%.64s\"", key);
			return msg;
		}
	}
	return NULL;
}

const char *pl_launch_parse(launch_t *l, json_t *o, bool exec)
{
	static char *default_env[] = {"PATH=" DEFAULT_PATH, NULL};
	pl_os_spawn_spec_t *spec = &l->spec;
	bool bad;
	if (!json_is_object(o))
		return "not a JSON object";
	l->json = json_incref(o);
	const char *unknown = unknown_key(o, exec);
	if (unknown)
		return unknown;
	l->argv = string_vector(json_object_get(o, "args"), &bad);
	if (bad || !l->argv[0] || !l->argv[0][0])
		return "\"args\" must be a non-empty array of strings, the first non-empty";
	spec->argv = l->argv;
	json_t *jenv = json_object_get(o, "env");
	if (jenv) {
		l->env = string_vector(jenv, &bad);
		if (bad)
			return "\"env\" must be an array of \"KEY=value\" strings";
		for (char **e = l->env; *e; e++)
			if ((*e)[0] == '=' || !strchr(*e, '='))
				return "\"env\" must be an array of \"KEY=value\" strings";
	}
	spec->envp = l->env ? l->env : default_env;
	spec->path = DEFAULT_PATH;
	/* The last PATH wins, as the process's own getenv would see it. */
	for (char *const *e = spec->envp; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			spec->path = *e + 5;
	json_t *cwd = json_object_get(o, "cwd");
	spec->cwd = cwd ? json_string_value(cwd) : "/";
	if (!spec->cwd || spec->cwd[0] != '/')
		return "\"cwd\" must be an absolute path";
	if (!id_field(o, "uid", &spec->uid) || !id_field(o, "gid", &spec->gid))
		return "\"uid\" and \"gid\" must be integers in [0, 4294967294]";
	json_t *user = json_object_get(o, "user");
	if (user &&
	    (!json_is_string(user) || !json_string_length(user) || json_string_length(user) > 255))
		return "\"user\" must be a string \"name[:group]\"";
	l->user = json_string_value(user);
	json_t *groups = json_object_get(o, "groups");
	if (groups && (!json_is_array(groups) || json_array_size(groups) > 64))
		return "\"groups\" must be an array of at most 64 group ids or names";
	for (size_t i = 0; i < json_array_size(groups); i++)
		if (!json_is_string(json_array_get(groups, i)))
			return "\"groups\" must be an array of at most 64 group ids or names";
	if (!bool_field(o, "tty", &spec->tty) || !bool_field(o, "stdin", &spec->open_stdin) ||
	    (!exec && !bool_field(o, "wait_attach", &l->wait_attach)))
		return "\"tty\", \"stdin\" and \"wait_attach\" must be booleans";
	spec->rows = DEFAULT_ROWS;
	spec->cols = DEFAULT_COLS;
	if (!size_field(o, "rows", &spec->rows) || !size_field(o, "cols", &spec->cols))
		return "\"rows\" and \"cols\" must be integers in [0, 65535]";
	return parse_privileges(l, o);
}

void pl_launch_free(launch_t *l)
{
	json_decref(l->json);
	free(l->argv);
	free(l->env);
	free(l->caps);
	free(l->seccomp);
	free(l->frame_bpf);
	free(l->rlimits);
	free(l->groups);
	free(l->home_env);
	*l = (launch_t){0};
}

/* group_add: ids or names of the container's /etc/group (resolved after pivot) */
static int resolve_groups(launch_t *l, char *msg, size_t size)
{
	json_t *groups = json_object_get(l->json, "groups");
	size_t n = json_array_size(groups);
	if (!n)
		return 0;
	free(l->groups);
	l->groups = calloc(n, sizeof(*l->groups));
	if (!l->groups)
		abort();
	for (size_t i = 0; i < n; i++)
		if (pl_group_resolve(json_string_value(json_array_get(groups, i)), &l->groups[i],
				     msg, size) < 0)
			return 126;
	l->spec.groups = l->groups;
	l->spec.n_groups = n;
	return 0;
}

int pl_launch_resolve_user(launch_t *l, char *msg, size_t size)
{
	if (resolve_groups(l, msg, size))
		return 126;
	if (!l->user)
		return 0;
	char home[PATH_MAX];
	if (pl_user_resolve(l->user, &l->spec.uid, &l->spec.gid, home, sizeof(home), msg, size) < 0)
		return 126;
	char *const *envp = l->spec.envp;
	size_t n = 0;
	for (; envp[n]; n++)
		if (strncmp(envp[n], "HOME=", 5) == 0)
			return 0;
	/* the user's home, as a login would give it */
	if (asprintf(&l->home_env, "HOME=%s", home) < 0)
		return 0;
	char **env = realloc(l->env, (n + 2) * sizeof(*env));
	if (!env)
		return 0;
	if (!l->env)
		memcpy(env, envp, n * sizeof(*env));
	env[n] = l->home_env;
	env[n + 1] = NULL;
	l->env = env;
	l->spec.envp = env;
	return 0;
}

/* Docker-compatible wording and codes: 127 not found, 126 found but not runnable, 128 when
 * the process could not be set up at all. */
int pl_launch_failure(const pl_os_spawn_spec_t *s, pl_os_stage_t stage, int err, char *msg,
		      size_t size)
{
	const char *name = s->argv[0];
	switch (stage) {
	case PL_OS_STAGE_EXEC:
		if (err == ENOENT && !strchr(name, '/')) {
			snprintf(msg, size, "exec: \"%s\": executable file not found in $PATH",
				 name);
		} else {
			/* Lower case, as Docker users know it: "permission denied". */
			char e[128];
			snprintf(e, sizeof(e), "%s", strerror(err));
			e[0] = (char)tolower((unsigned char)e[0]);
			snprintf(msg, size, "exec: \"%s\": %s", name, e);
		}
		return err == ENOENT ? 127 : 126;
	case PL_OS_STAGE_CHDIR:
		snprintf(msg, size, "chdir %s: %s", s->cwd, strerror(err));
		break;
	case PL_OS_STAGE_SETUID:
		snprintf(msg, size, "setuid %u: %s", s->uid, strerror(err));
		break;
	case PL_OS_STAGE_SETGID:
		snprintf(msg, size, "setgid %u: %s", s->gid, strerror(err));
		break;
	case PL_OS_STAGE_SETGROUPS:
		snprintf(msg, size, "setgroups: %s", strerror(err));
		break;
	case PL_OS_STAGE_STDIO:
		snprintf(msg, size, "open /dev/null: %s", strerror(err));
		break;
	case PL_OS_STAGE_TTY:
		snprintf(msg, size, "set up terminal: %s", strerror(err));
		break;
	case PL_OS_STAGE_RLIMIT:
		snprintf(msg, size, "setrlimit: %s", strerror(err));
		break;
	case PL_OS_STAGE_CAPS:
		snprintf(msg, size, "set capabilities: %s", strerror(err));
		break;
	case PL_OS_STAGE_NO_NEW_PRIVS:
		snprintf(msg, size, "set no_new_privs: %s", strerror(err));
		break;
	case PL_OS_STAGE_SECCOMP:
		snprintf(msg, size, "install seccomp filter: %s", strerror(err));
		break;
	case PL_OS_STAGE_SETUP:
	default:
		snprintf(msg, size, "start process: %s", strerror(err));
		break;
	}
	return EXIT_CONFIG;
}
