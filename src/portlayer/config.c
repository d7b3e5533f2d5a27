/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/config.h"
#include "portlayer/logs.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/util.h"
#include "proto/linux_caps.h"
#include "portlayer/network/network.h"
#include "portlayer/health.h"

#include <ctype.h>
#include <signal.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static char **strv_free(char **v)
{
	if (v)
		for (char **p = v; *p; p++)
			free(*p);
	free(v);
	return NULL;
}

static char **strv_from_json(const json_t *arr)
{
	size_t n = arr ? json_array_size(arr) : 0;
	char **v = pl_xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		v[i] = pl_xstrdup(json_string_value(json_array_get(arr, i)));
	return v;
}

static json_t *strv_to_json(char *const *v)
{
	json_t *a = json_array();
	for (; v && *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

pl_config_t *pl_config_free(pl_config_t *c)
{
	if (!c)
		return NULL;
	free(c->name);
	free(c->rootfs);
	free(c->image);
	strv_free(c->args);
	strv_free(c->env);
	free(c->cwd);
	free(c->user_name);
	free(c->hostname);
	if (c->labels)
		json_decref(c->labels);
	if (c->annotations)
		json_decref(c->annotations);
	if (c->mounts)
		json_decref(c->mounts);
	pl_security_clear(&c->security);
	pl_resources_clear(&c->resources);
	pl_network_config_clear(c);
	pl_hostcfg_clear(&c->host);
	if (c->healthcheck)
		json_decref(c->healthcheck);
	free(c);
	return NULL;
}

int pl_user_parse(const char *s, uid_t *uid, gid_t *gid)
{
	_cleanup_free_ char *copy = pl_xstrdup(s);
	char *colon = strchr(copy, ':');
	int64_t u, g;
	if (colon)
		*colon = '\0';
	if (pl_parse_int64(copy, 0, UINT32_MAX - 1, &u) < 0)
		return -EINVAL;
	g = 0; /* like Docker: a bare uid runs with gid 0 */
	if (colon && pl_parse_int64(colon + 1, 0, UINT32_MAX - 1, &g) < 0)
		return -EINVAL;
	*uid = (uid_t)u;
	*gid = (gid_t)g;
	return 0;
}

const char *pl_kernel_name(pl_kernel_t k)
{
	return k == PL_KERNEL_DEDICATED ? "dedicated" : "shared";
}

static bool hostname_valid(const char *h)
{
	size_t n = strlen(h);
	if (n == 0 || n > PL_HOSTNAME_MAX || h[0] == '-' || h[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)h[i];
		if (!isalnum(ch) && ch != '-' && ch != '.')
			return false;
	}
	return true;
}

static int parse_process(pl_config_t *c, const json_t *proc, bool image, pl_error_t **err)
{
	static const char *const keys[] = {"args", "env", "cwd", "user", "tty", "stdin", NULL};
	if (pl_json_check_keys(proc, "process", keys, err) < 0)
		return -EINVAL;
	const json_t *args = NULL, *env = NULL;
	const char *cwd = NULL, *user = NULL;
	if (pl_json_get_string_array(proc, "args", &args, err) < 0 ||
	    pl_json_get_string_array(proc, "env", &env, err) < 0 ||
	    pl_json_get_string(proc, "cwd", &cwd, err) < 0 ||
	    pl_json_get_string(proc, "user", &user, err) < 0)
		return pl_error_wrap(err, "process");
	if ((!args && !image) || (args && json_array_size(args) == 0))
		return pl_error_set(err, PL_ERR_INVALID, 0, "process.args must not be empty");
	if (args && json_string_length(json_array_get(args, 0)) == 0)
		return pl_error_set(err, PL_ERR_INVALID, 0, "process.args[0] must not be empty");
	if (env && pl_config_parse_env(env, "process.env", err) < 0)
		return -EINVAL;
	if (cwd && (cwd[0] != '/' || strlen(cwd) >= PATH_MAX))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "process.cwd \"%s\" must be an absolute path", cwd);
	if (user && pl_user_parse(user, &c->uid, &c->gid) < 0) {
		/* a name: resolved by tether against the container's own /etc/passwd */
		if (!pl_user_name_valid(user))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "process.user \"%s\" must be NAME[:GROUP] or "
					    "UID[:GID]",
					    user);
		c->user_name = pl_xstrdup(user);
	}
	c->args = args ? strv_from_json(args) : NULL; /* NULL: the image's command */
	c->env = strv_from_json(env);
	c->cwd = cwd ? pl_xstrdup(cwd) : image ? NULL : pl_xstrdup("/");
	c->user_set = user != NULL;
	json_t *tty = json_object_get(proc, "tty"), *in = json_object_get(proc, "stdin");
	if ((tty && !json_is_boolean(tty)) || (in && !json_is_boolean(in)))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "process.tty and process.stdin are booleans");
	c->tty = json_is_true(tty);
	c->open_stdin = json_is_true(in);
	return 0;
}

int pl_config_parse_env(const json_t *arr, const char *field, pl_error_t **err)
{
	size_t i;
	json_t *e;
	if (!json_is_array(arr))
		return pl_error_set(err, PL_ERR_INVALID, 0, "%s must be an array of strings",
				    field);
	json_array_foreach(arr, i, e)
	{
		const char *kv = json_string_value(e);
		const char *eq = kv ? strchr(kv, '=') : NULL;
		if (!kv || !eq || eq == kv || strlen(kv) != json_string_length(e))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "%s[%zu] is not a \"KEY=VALUE\" string", field, i);
	}
	return 0;
}

static const char *const restart_names[] = {"no", "on-failure", "always", "unless-stopped"};

const char *pl_restart_name(pl_restart_t r)
{
	return (unsigned)r < PL_ARRAY_SIZE(restart_names) ? restart_names[r] : "no";
}

int pl_config_parse_restart(const json_t *v, pl_restart_t *policy, int *max, pl_error_t **err)
{
	static const char *const keys[] = {"name", "max_retries", NULL};
	if (pl_json_check_keys(v, "restart_policy", keys, err) < 0)
		return -EINVAL;
	const char *name = NULL;
	if (pl_json_get_string(v, "name", &name, err) < 0)
		return pl_error_wrap(err, "restart_policy");
	json_t *m = json_object_get(v, "max_retries");
	if (m &&
	    (!json_is_integer(m) || json_integer_value(m) < 0 || json_integer_value(m) > 1000000))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "restart_policy.max_retries must be an integer >= 0");
	for (size_t i = 0; i < PL_ARRAY_SIZE(restart_names); i++) {
		if (name && strcmp(name, restart_names[i]) == 0) {
			*policy = (pl_restart_t)i;
			*max = m ? (int)json_integer_value(m) : 0;
			if (*max && *policy != PL_RESTART_ON_FAILURE)
				return pl_error_set(err, PL_ERR_INVALID, 0,
						    "restart_policy.max_retries applies to "
						    "\"on-failure\" only");
			return 0;
		}
	}
	return pl_error_set(err, PL_ERR_INVALID, 0,
			    "restart_policy.name \"%s\" must be no, on-failure, always or "
			    "unless-stopped",
			    name ? name : "");
}

int pl_config_parse_stop(const json_t *sig, const json_t *timeout, int *signo, int *secs,
			 pl_error_t **err)
{
	if (sig && !json_is_null(sig)) {
		if (!json_is_string(sig) || pl_signal_parse(json_string_value(sig), signo) < 0)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "stop_signal must be a signal name or number");
	}
	if (timeout && !json_is_null(timeout)) {
		if (!json_is_integer(timeout) || json_integer_value(timeout) < 0 ||
		    json_integer_value(timeout) > 86400)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "stop_timeout must be an integer number of seconds "
					    "(0..86400)");
		*secs = (int)json_integer_value(timeout);
	}
	return 0;
}

static int parse_isolation(pl_config_t *c, const json_t *iso, pl_error_t **err)
{
	static const char *const keys[] = {"kernel", NULL};
	if (!iso || json_is_null(iso))
		return 0;
	if (pl_json_check_keys(iso, "isolation", keys, err) < 0)
		return -EINVAL;
	const char *kernel = NULL;
	if (pl_json_get_string(iso, "kernel", &kernel, err) < 0)
		return pl_error_wrap(err, "isolation");
	if (!kernel || strcmp(kernel, "shared") == 0)
		c->kernel = PL_KERNEL_SHARED;
	else if (strcmp(kernel, "dedicated") == 0)
		c->kernel = PL_KERNEL_DEDICATED;
	else
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "isolation.kernel \"%s\" must be \"shared\" or \"dedicated\"",
				    kernel);
	return 0;
}

static int check_rootfs(const char *rootfs, pl_error_t **err)
{
	if (rootfs[0] != '/')
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "rootfs \"%s\" must be an absolute path", rootfs);
	/* overlayfs separates its options with ',' and lower layers with ':' */
	if (strpbrk(rootfs, ",:\\") || strlen(rootfs) >= PATH_MAX / 4)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "rootfs \"%s\": path must not contain ',' ':' or '\\'", rootfs);
	struct stat st;
	if (stat(rootfs, &st) < 0)
		return pl_error_set(err, PL_ERR_INVALID, errno, "rootfs \"%s\"", rootfs);
	if (!S_ISDIR(st.st_mode))
		return pl_error_set(err, PL_ERR_INVALID, 0, "rootfs \"%s\" is not a directory",
				    rootfs);
	return 0;
}

/* Like runc: nothing is mounted in /proc or /sys (a fresh volume there was "populated" from
 * the live procfs/sysfs), nor over /dev itself. Below /dev, binds such as /dev/log are
 * common and our /dev is a private tmpfs, so they stay allowed. */
bool pl_mount_target_reserved(const char *dst)
{
	return pl_path_under(dst, "/proc") || pl_path_under(dst, "/sys") ||
	       strcmp(dst, "/dev") == 0 || strcmp(dst, "/") == 0;
}

/* Bind mounts of host paths and named volumes; each target once. Volume names are checked
 * (and volumes created) by the container core. */
static int parse_mounts(pl_config_t *c, const json_t *v, bool check_host, pl_error_t **err)
{
	c->mounts = json_array();
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return pl_error_set(err, PL_ERR_INVALID, 0, "mounts must be an array");
	size_t i;
	json_t *m;
	json_array_foreach(v, i, m)
	{
		static const char *const keys[] = {"type",	  "source",    "target", "readonly",
						   "propagation", "anonymous", NULL};
		if (pl_json_check_keys(m, "mounts[]", keys, err) < 0)
			return -EINVAL;
		const char *type = NULL, *src = NULL, *dst = NULL, *prop = NULL;
		if (pl_json_get_string(m, "type", &type, err) < 0 ||
		    pl_json_get_string(m, "source", &src, err) < 0 ||
		    pl_json_get_string(m, "target", &dst, err) < 0 ||
		    pl_json_get_string(m, "propagation", &prop, err) < 0)
			return pl_error_wrap(err, "mounts[%zu]", i);
		json_t *ro = json_object_get(m, "readonly");
		bool bind = type && strcmp(type, "bind") == 0;
		if (!type || (!bind && strcmp(type, "volume") != 0))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "mounts[%zu].type must be \"bind\" or \"volume\"", i);
		if (!dst || !pl_path_is_clean_abs(dst))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "mounts[%zu].target must be a clean absolute path", i);
		if (pl_mount_target_reserved(dst))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "mounts[%zu].target %s: /proc, /sys and /dev are the "
					    "kernel's and the runtime's, not a mount target",
					    i, dst);
		if (ro && !json_is_boolean(ro))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "mounts[%zu].readonly is a boolean", i);
		static const char *const props[] = {"rprivate", "private", "rshared", "shared",
						    "rslave",	"slave",   NULL};
		bool prop_ok = !prop;
		for (const char *const *p = props; prop && *p; p++)
			prop_ok |= strcmp(prop, *p) == 0;
		if (!prop_ok)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "mounts[%zu].propagation \"%s\" is not a propagation",
					    i, prop);
		struct stat st;
		if (bind && (!src || src[0] != '/'))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "mounts[%zu].source must be an absolute host path", i);
		if (bind && check_host && stat(src, &st) < 0)
			return pl_error_set(err, PL_ERR_INVALID, errno, "mounts[%zu].source %s", i,
					    src);
		for (size_t k = 0; k < json_array_size(c->mounts); k++)
			if (!strcmp(json_string_value(
					json_object_get(json_array_get(c->mounts, k), "target")),
				    dst))
				return pl_error_set(err, PL_ERR_INVALID, 0,
						    "mounts: target %s appears twice", dst);
		/* a volume the port layer named itself (no source given): removed with an
		 * auto_remove container */
		json_t *anon = json_object_get(m, "anonymous");
		if (anon && (!json_is_boolean(anon) || (json_is_true(anon) && bind)))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "mounts[%zu].anonymous is a boolean, for volumes", i);
		json_t *canon =
		    json_pack("{s:s, s:s, s:b, s:s}", "type", type, "target", dst, "readonly",
			      json_is_true(ro), "propagation", prop ? prop : "rprivate");
		if (src)
			json_object_set_new(canon, "source", json_string(src));
		if (json_is_true(anon) || (!bind && !src))
			json_object_set_new(canon, "anonymous", json_true());
		json_array_append_new(c->mounts, canon);
	}
	return 0;
}

pl_config_t *pl_config_parse(const json_t *body, bool check_host, pl_error_t **err)
{
	static const char *const keys[] = {
	    "name",	   "rootfs",	   "process",	   "hostname",
	    "isolation",   "labels",	   "annotations",  "restart_policy",
	    "stop_signal", "stop_timeout", "security",	   "resources",
	    "image",	   "mounts",	   "network_mode", "networks",
	    "ports",	   "auto_remove",  "healthcheck",  "ipc_mode",
	    "pid_mode",	   "uts_mode",	   "dns",	   "dns_search",
	    "dns_options", "extra_hosts",  "domainname",   "cgroup_parent",
	    "devices",	   "shm_size",	   "group_add",	   "log_config",
	    NULL};
	if (pl_json_check_keys(body, "request", keys, err) < 0)
		return NULL;
	_cleanup_(pl_config_freep) pl_config_t *c = pl_xcalloc(1, sizeof(*c));
	const char *name = NULL, *rootfs = NULL, *hostname = NULL, *image = NULL;
	if (pl_json_get_string(body, "image", &image, err) < 0 ||
	    pl_json_get_string(body, "name", &name, err) < 0 ||
	    pl_json_get_string(body, "rootfs", &rootfs, err) < 0 ||
	    pl_json_get_string(body, "hostname", &hostname, err) < 0)
		return NULL;
	if (name && !pl_name_valid(name)) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "name \"%s\" must match [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}", name);
		return NULL;
	}
	if (hostname && !hostname_valid(hostname)) {
		pl_error_set(err, PL_ERR_INVALID, 0, "hostname \"%s\" is not a valid host name",
			     hostname);
		return NULL;
	}
	if (!rootfs == !image) {
		pl_error_set(err, PL_ERR_INVALID, 0, "exactly one of rootfs and image is required");
		return NULL;
	}
	if (image && (!*image || strlen(image) > 512)) {
		pl_error_set(err, PL_ERR_INVALID, 0, "image reference \"%s\" is not valid", image);
		return NULL;
	}
	if (rootfs && check_host && check_rootfs(rootfs, err) < 0)
		return NULL;
	const json_t *proc = json_object_get(body, "process");
	if (!proc && !image) {
		pl_error_set(err, PL_ERR_INVALID, 0, "process is required");
		return NULL;
	}
	json_t *empty = json_object();
	int pr = parse_process(c, proc ? proc : empty, image != NULL, err);
	json_decref(empty);
	if (pr < 0 || parse_isolation(c, json_object_get(body, "isolation"), err) < 0)
		return NULL;
	c->stop_signal = SIGTERM;
	c->stop_timeout = 10;
	const json_t *labels = json_object_get(body, "labels");
	const json_t *ann = json_object_get(body, "annotations");
	const json_t *restart = json_object_get(body, "restart_policy");
	if ((labels && pl_config_parse_string_map(labels, "labels", err) < 0) ||
	    (ann && pl_config_parse_string_map(ann, "annotations", err) < 0) ||
	    (restart && pl_config_parse_restart(restart, &c->restart, &c->restart_max, err) < 0) ||
	    pl_config_parse_stop(json_object_get(body, "stop_signal"),
				 json_object_get(body, "stop_timeout"), &c->stop_signal,
				 &c->stop_timeout, err) < 0)
		return NULL;
	if (parse_mounts(c, json_object_get(body, "mounts"), check_host, err) < 0 ||
	    pl_security_parse(json_object_get(body, "security"), &c->security, err) < 0 ||
	    pl_resources_parse(json_object_get(body, "resources"), &c->resources, err) < 0 ||
	    pl_network_config_parse(c, body, err) < 0 || pl_health_config_parse(c, body, err) < 0 ||
	    pl_log_config_parse(json_object_get(body, "log_config"), &c->log_max_size,
				&c->log_max_files, err) < 0)
		return NULL;
	c->hostname = hostname ? pl_xstrdup(hostname) : NULL;
	if (pl_hostcfg_parse(c, body, check_host, err) < 0)
		return NULL;
	json_t *ar = json_object_get(body, "auto_remove");
	if (ar && !json_is_boolean(ar)) {
		pl_error_set(err, PL_ERR_INVALID, 0, "auto_remove must be a boolean");
		return NULL;
	}
	c->auto_remove = json_is_true(ar);
	if (c->auto_remove && c->restart != PL_RESTART_NO) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "auto_remove and restart_policy \"%s\" cannot go together",
			     pl_restart_name(c->restart));
		return NULL;
	}
	c->labels = labels ? json_deep_copy(labels) : json_object();
	c->annotations = ann ? json_deep_copy(ann) : json_object();
	c->name = name ? pl_xstrdup(name) : NULL;
	c->rootfs = rootfs ? pl_xstrdup(rootfs) : NULL;
	c->image = image ? pl_xstrdup(image) : NULL;
	if (!check_host && c->image && !c->args) { /* a stored config is always complete */
		pl_error_set(err, PL_ERR_INTERNAL, 0, "stored config without a command");
		return NULL;
	}
	return TAKE_PTR(c);
}

json_t *pl_config_to_json(const pl_config_t *c)
{
	char user[32];
	snprintf(user, sizeof(user), "%u:%u", c->uid, c->gid);
	/* before pl_config_apply_image an image's config has no args or cwd yet */
	json_t *proc = json_pack("{s:o, s:s}", "env", strv_to_json(c->env), "user",
				 c->user_name ? c->user_name : user);
	if (c->args)
		json_object_set_new(proc, "args", strv_to_json(c->args));
	if (c->cwd)
		json_object_set_new(proc, "cwd", json_string(c->cwd));
	json_object_set_new(proc, "tty", json_boolean(c->tty));
	json_object_set_new(proc, "stdin", json_boolean(c->open_stdin));
	json_t *j = json_pack("{s:o, s:{s:s}}", "process", proc, "isolation", "kernel",
			      pl_kernel_name(c->kernel));
	if (c->rootfs)
		json_object_set_new(j, "rootfs", json_string(c->rootfs));
	if (c->image)
		json_object_set_new(j, "image", json_string(c->image));
	if (c->name)
		json_object_set_new(j, "name", json_string(c->name));
	if (c->hostname)
		json_object_set_new(j, "hostname", json_string(c->hostname));
	json_object_set_new(j, "labels", json_deep_copy(c->labels));
	json_object_set_new(j, "annotations", json_deep_copy(c->annotations));
	json_t *rp = json_pack("{s:s}", "name", pl_restart_name(c->restart));
	if (c->restart_max)
		json_object_set_new(rp, "max_retries", json_integer(c->restart_max));
	json_object_set_new(j, "restart_policy", rp);
	const char *sn = pl_signal_name(c->stop_signal);
	json_object_set_new(j, "stop_signal",
			    sn ? json_string(sn) : json_sprintf("%d", c->stop_signal));
	json_object_set_new(j, "stop_timeout", json_integer(c->stop_timeout));
	json_object_set_new(j, "mounts", json_deep_copy(c->mounts));
	json_object_set_new(j, "log_config",
			    json_pack("{s:I, s:i}", "max_size", (json_int_t)c->log_max_size,
				      "max_files", (int)c->log_max_files));
	json_object_set_new(j, "security", pl_security_to_json(&c->security));
	json_object_set_new(j, "resources", pl_resources_to_json(&c->resources));
	pl_network_config_to_json(c, j);
	pl_hostcfg_to_json(&c->host, j);
	if (c->auto_remove)
		json_object_set_new(j, "auto_remove", json_true());
	pl_health_config_to_json(c, j);
	return j;
}

pl_config_t *pl_config_dup(const pl_config_t *c)
{
	json_t *j = pl_config_to_json(c);
	pl_config_t *d = pl_config_parse(j, false, NULL);
	json_decref(j);
	if (!d)
		abort(); /* our own canonical form always parses */
	return d;
}

static bool env_has(char *const *env, const char *key)
{
	size_t n = strlen(key);
	for (; env && *env; env++)
		if (strncmp(*env, key, n) == 0 && (*env)[n] == '=')
			return true;
	return false;
}

int pl_config_apply_image(pl_config_t *c, const char *image_id, const json_t *ic, pl_error_t **err)
{
	free(c->image);
	c->image = pl_xstrdup(image_id);
	if (!c->args) {
		json_t *cmd = json_array();
		json_array_extend(cmd, json_object_get(ic, "Entrypoint"));
		json_array_extend(cmd, json_object_get(ic, "Cmd"));
		if (!json_array_size(cmd) || !json_is_string(json_array_get(cmd, 0))) {
			json_decref(cmd);
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "no command: give process.args or use an image with "
					    "an Entrypoint or Cmd");
		}
		c->args = strv_from_json(cmd);
		json_decref(cmd);
	}
	/* the image's variables first; the caller's override those of the same name */
	json_t *env = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(ic, "Env"), i, e)
	{
		const char *kv = json_string_value(e);
		const char *eq = kv ? strchr(kv, '=') : NULL;
		if (!eq || eq == kv)
			continue;
		_cleanup_free_ char *key = strndup(kv, (size_t)(eq - kv));
		if (!env_has(c->env, key))
			json_array_append(env, e);
	}
	for (char **p = c->env; p && *p; p++)
		json_array_append_new(env, json_string(*p));
	strv_free(c->env);
	c->env = strv_from_json(env);
	json_decref(env);
	if (!c->cwd) {
		const char *wd = json_string_value(json_object_get(ic, "WorkingDir"));
		c->cwd = pl_xstrdup(wd && wd[0] == '/' ? wd : "/");
	}
	const char *user = json_string_value(json_object_get(ic, "User"));
	if (!c->user_set && user && *user && pl_user_parse(user, &c->uid, &c->gid) < 0) {
		if (!pl_user_name_valid(user))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "the image's user \"%s\" is not NAME[:GROUP] or "
					    "UID[:GID]",
					    user);
		free(c->user_name);
		c->user_name = pl_xstrdup(user);
	}
	return 0;
}

json_t *pl_config_tether_json(const pl_config_t *c, const char *hostname)
{
	json_t *env = strv_to_json(c->env);
	if (!env_has(c->env, "PATH"))
		json_array_append_new(env, json_string("PATH=" DEFAULT_PATH));
	if (hostname && !env_has(c->env, "HOSTNAME"))
		json_array_append_new(env, json_sprintf("HOSTNAME=%s", hostname));
	/* a named user's HOME comes from the container's passwd (tether) */
	if (!env_has(c->env, "HOME") && !c->user_name)
		json_array_append_new(env, json_string(c->uid == 0 ? "HOME=/root" : "HOME=/"));
	json_t *caps = json_array();
	for (int i = 0; i < PL_LINUX_CAP_COUNT; i++)
		if (c->security.caps >> i & 1)
			json_array_append_new(caps, json_string(pl_linux_cap_names[i]));
	json_t *j =
	    json_pack("{s:o, s:o, s:s, s:I, s:I, s:o, s:b}", "args", strv_to_json(c->args), "env",
		      env, "cwd", c->cwd, "uid", (json_int_t)c->uid, "gid", (json_int_t)c->gid,
		      "capabilities", caps, "no_new_privileges", c->security.no_new_privs);
	if (c->security.rlimits)
		json_object_set(j, "rlimits", c->security.rlimits);
	if (c->user_name)
		json_object_set_new(j, "user", json_string(c->user_name));
	if (json_array_size(c->host.group_add))
		json_object_set(j, "groups", c->host.group_add);
	/* sent only when set: a tether without sessions refuses keys it does not know */
	if (c->tty)
		json_object_set_new(j, "tty", json_true());
	if (c->open_stdin)
		json_object_set_new(j, "stdin", json_true());
	/* run -it: the first prompt must wait for the first attach, or it is lost */
	if (c->tty && c->open_stdin)
		json_object_set_new(j, "wait_attach", json_true());
	/* a VM's log is its serial port, written by QEMU: not rotated (yet) */
	if (c->log_max_size && c->kernel != PL_KERNEL_DEDICATED)
		json_object_set_new(j, "log_max_size", json_integer((json_int_t)c->log_max_size));
	return j;
}

json_t *pl_config_tether_exec_json(const pl_config_t *c, const json_t *spec)
{
	json_t *j = pl_config_tether_json(c, NULL);
	json_object_del(j, "wait_attach");
	json_object_del(j, "log_max_size");
	json_object_set(j, "args", json_object_get(spec, "args"));
	/* the exec's variables override the container's of the same name */
	json_t *env = json_object_get(j, "env");
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(spec, "env"), i, e)
	{
		const char *kv = json_string_value(e);
		size_t klen = (size_t)(strchr(kv, '=') - kv);
		for (size_t k = json_array_size(env); k-- > 0;) {
			const char *old = json_string_value(json_array_get(env, k));
			if (strncmp(old, kv, klen) == 0 && old[klen] == '=')
				json_array_remove(env, k);
		}
		json_array_append(env, e);
	}
	const char *cwd = json_string_value(json_object_get(spec, "cwd"));
	if (cwd)
		json_object_set_new(j, "cwd", json_string(cwd));
	const char *user = json_string_value(json_object_get(spec, "user"));
	uid_t u;
	gid_t g;
	if (user && pl_user_parse(user, &u, &g) == 0) {
		json_object_set_new(j, "uid", json_integer(u));
		json_object_set_new(j, "gid", json_integer(g));
		json_object_del(j, "user");
	} else if (user) {
		json_object_set_new(j, "user", json_string(user));
	}
	json_object_set_new(j, "tty", json_boolean(json_is_true(json_object_get(spec, "tty"))));
	json_object_set_new(j, "stdin", json_boolean(json_is_true(json_object_get(spec, "stdin"))));
	return j;
}
