/* SPDX-License-Identifier: Apache-2.0 */
#include "docker/build/build.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "docker/build/context.h"
#include "docker/build/dockerfile.h"
#include "docker/build/ignore.h"
#include "docker/build/regconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_PREFIX	    "docker-build/cache/"
#define DEFAULT_CONTEXT_MAX (2LL << 30)

/* ---- every t= of a request, handed from the loop to the job by the body's inode ---- */

typedef struct tagset {
	struct tagset *next;
	dev_t dev;
	ino_t ino;
	json_t *tags;
} tagset_t;

static pthread_mutex_t tags_lock = PTHREAD_MUTEX_INITIALIZER;
static tagset_t *tags_head;

static void collect_t(const char *key, const char *value, void *data)
{
	if (!strcmp(key, "t") && value && *value)
		json_array_append_new(data, json_string(value));
}

void dk_build_route(pl_req_t *req, void *app)
{
	struct stat st;
	int fd = pl_req_body_fd(req);
	if (fd >= 0 && fstat(fd, &st) == 0) {
		tagset_t *t = pl_xcalloc(1, sizeof(*t));
		t->dev = st.st_dev;
		t->ino = st.st_ino;
		t->tags = json_array();
		pl_req_each(req, false, collect_t, t->tags);
		pthread_mutex_lock(&tags_lock);
		t->next = tags_head;
		tags_head = t;
		pthread_mutex_unlock(&tags_lock);
	}
	dk_job_spawn(dk_server, req, dk_build);
}

static json_t *take_tags(int fd)
{
	struct stat st;
	json_t *out = NULL;
	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	pthread_mutex_lock(&tags_lock);
	for (tagset_t **p = &tags_head; *p; p = &(*p)->next) {
		if ((*p)->dev == st.st_dev && (*p)->ino == st.st_ino) {
			tagset_t *t = *p;
			*p = t->next;
			out = t->tags;
			free(t);
			break;
		}
	}
	pthread_mutex_unlock(&tags_lock);
	return out;
}

/* ---- the build ---- */

typedef struct stage {
	char *name;
	char *image; /* its last image id, NULL for scratch with no step yet */
} stage_t;

typedef struct bctx {
	dk_job_t *job;
	pl_client_t *c;
	char *tmp, *ctxdir, *scratch;
	di_rules_t ignore;
	df_file_t df;
	json_t *buildargs, *used, *global_args, *args;
	bool nocache, quiet, rm, forcerm, pull, failed, cmd_set;
	const char *network;
	const char *kernel; /* isolation.kernel of RUN containers: NULL or "dedicated" */
	json_t *auths;	    /* X-Registry-Config: registry -> {username, password, ...} */
	char *image;	    /* the current image */
	json_t *cfg;	    /* the current Docker config */
	stage_t *stages;
	size_t nstages;
	int step, nsteps;
} bctx_t;

/* s (len bytes) as valid UTF-8: invalid sequences become U+FFFD (process output and
 * file names are bytes; JSON strings are not). */
static char *utf8_clean(const char *s, size_t len)
{
	char *out = pl_xmalloc(len * 3 + 1), *o = out;
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		size_t n = *p < 0x80		 ? 1
			   : (*p & 0xe0) == 0xc0 ? 2
			   : (*p & 0xf0) == 0xe0 ? 3
			   : (*p & 0xf8) == 0xf0 ? 4
						 : 0;
		bool ok = n > 0 && (size_t)(end - p) >= n && !(n == 1 && *p == 0);
		for (size_t i = 1; ok && i < n; i++)
			ok = (p[i] & 0xc0) == 0x80;
		if (ok && n == 2 && *p < 0xc2)
			ok = false; /* overlong */
		if (ok) {
			memcpy(o, p, n);
			o += n;
			p += n;
		} else {
			memcpy(o, "\xef\xbf\xbd", 3);
			o += 3;
			p++;
		}
	}
	*o = '\0';
	return out;
}

static void emit(bctx_t *b, json_t *line)
{
	if (!line)
		return;
	/* one write per message: clients (docker-compose) decode each chunk on its own */
	_cleanup_free_ char *s = pl_json_dump(line);
	json_decref(line);
	_cleanup_free_ char *msg = pl_xasprintf("%s\r\n", s);
	dk_job_write(b->job, msg, strlen(msg));
}

static void out(bctx_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(bctx_t *b, const char *fmt, ...)
{
	if (b->quiet)
		return;
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	char *c = utf8_clean(s, strlen(s));
	emit(b, json_pack("{s:s}", "stream", c));
	free(c);
	free(s);
}

static int fail(bctx_t *b, const char *msg, int code)
{
	if (b->failed)
		return -1;
	b->failed = true;
	_cleanup_free_ char *m = utf8_clean(msg, strlen(msg));
	json_t *d = json_pack("{s:s}", "message", m);
	if (code)
		json_object_set_new(d, "code", json_integer(code));
	emit(b, json_pack("{s:s,s:o}", "error", m, "errorDetail", d));
	return -1;
}

static int failf(bctx_t *b, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int failf(bctx_t *b, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	fail(b, s, code);
	free(s);
	return -1;
}

static const char *short_id(const char *id)
{
	static __thread char buf[13];
	const char *h = id && !strncmp(id, "sha256:", 7) ? id + 7 : (id ? id : "");
	snprintf(buf, sizeof(buf), "%.12s", h);
	return buf;
}

/* ---- variables ---- */

static const char *env_get(const json_t *cfg, const char *name)
{
	size_t i, n = strlen(name);
	json_t *v;
	json_array_foreach(json_object_get(cfg, "Env"), i, v)
	{
		const char *s = json_string_value(v);
		if (s && !strncmp(s, name, n) && s[n] == '=')
			return s + n + 1;
	}
	return NULL;
}

static const char *lookup(const char *name, void *ud)
{
	bctx_t *b = ud;
	const char *v = env_get(b->cfg, name);
	if (v)
		return v;
	v = json_string_value(json_object_get(b->args, name));
	if (v)
		return v;
	if (!strcmp(name, "TARGETPLATFORM") || !strcmp(name, "BUILDPLATFORM"))
		return "linux/amd64";
	if (!strcmp(name, "TARGETOS") || !strcmp(name, "BUILDOS"))
		return "linux";
	if (!strcmp(name, "TARGETARCH") || !strcmp(name, "BUILDARCH"))
		return "amd64";
	return NULL;
}

static const char *global_lookup(const char *name, void *ud)
{
	bctx_t *b = ud;
	const char *v = json_string_value(json_object_get(b->global_args, name));
	return v ? v : lookup(name, ud);
}

static void env_set(json_t *cfg, const char *k, const char *v)
{
	json_t *env = json_object_get(cfg, "Env");
	if (!json_is_array(env)) {
		env = json_array();
		json_object_set_new(cfg, "Env", env);
	}
	size_t i, n = strlen(k);
	json_t *x;
	_cleanup_free_ char *kv = pl_xasprintf("%s=%s", k, v);
	json_array_foreach(env, i, x)
	{
		const char *s = json_string_value(x);
		if (s && !strncmp(s, k, n) && s[n] == '=') {
			json_array_set_new(env, i, json_string(kv));
			return;
		}
	}
	json_array_append_new(env, json_string(kv));
}

/* ---- the port layer side of a step ---- */

static void sha256_hex(const char *text, char out[65])
{
	unsigned char d[32];
	gnutls_hash_fast(GNUTLS_DIG_SHA256, text, strlen(text), d);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static char *cache_key(bctx_t *b, const char *what, const char *extra)
{
	_cleanup_free_ char *cfg = json_dumps(b->cfg, JSON_COMPACT | JSON_SORT_KEYS);
	_cleanup_free_ char *text = pl_xasprintf("%s\n%s\n%s\n%s", b->image ? b->image : "scratch",
						 what, cfg ? cfg : "", extra ? extra : "");
	char hex[65];
	sha256_hex(text, hex);
	return pl_xasprintf(CACHE_PREFIX "%s", hex);
}

/* The cached image for key, verified to exist, or NULL. */
static char *cache_get(bctx_t *b, const char *key)
{
	if (b->nocache)
		return NULL;
	char *id = NULL;
	if (pl_kv_get(b->c, key, &id, NULL, NULL) < 0 || !id)
		return NULL;
	pl_image_info_t *im = pl_image_inspect(b->c, id, NULL);
	if (!im) {
		free(id);
		return NULL;
	}
	pl_image_info_free(im);
	return id;
}

static void cache_put(bctx_t *b, const char *key, const char *id)
{
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_kv_put(b->c, key, id, -1, NULL, &err) < 0)
		pl_log_warn("dockerd: build cache %s: %s", key, err->msg);
}

static void set_image(bctx_t *b, const char *id)
{
	free(b->image);
	b->image = pl_xstrdup(id);
}

static char *make_container(bctx_t *b, const char *const *args, const char *const *env,
			    const char *image)
{
	const json_t *wd = json_object_get(b->cfg, "WorkingDir");
	const json_t *user = json_object_get(b->cfg, "User");
	const char *net = b->network;
	pl_container_spec_t s = {
	    .image = image ? image : b->image,
	    .rootfs = (image || b->image) ? NULL : b->scratch,
	    .args = args,
	    .env = env,
	    .cwd = json_string_length(wd) ? json_string_value(wd) : NULL,
	    .user = json_string_length(user) ? json_string_value(user) : NULL,
	    .network_mode = net && *net && strcmp(net, "default") ? net : NULL,
	    .stop_timeout = -1,
	    .kernel = b->kernel,
	};
	char *id = NULL;
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_create(b->c, &s, &id, &err) < 0) {
		failf(b, 0, "create a build container: %s", err->msg);
		return NULL;
	}
	return id;
}

static void remove_container(bctx_t *b, const char *id, bool announce)
{
	if (announce)
		out(b, "Removing intermediate container %s\n", short_id(id));
	pl_container_remove(b->c, id, true, NULL);
}

/* A step's container once the step is done: removed (and said so) unless --rm=false kept
 * it; a failed step's container always goes. */
static void end_container(bctx_t *b, const char *id, bool failed)
{
	if (failed || b->rm || b->forcerm)
		remove_container(b, id, !failed);
}

/* The config fields commit takes from the changes (all of them: the container's own args,
 * env and cwd must not leak into the image). */
static json_t *changes(bctx_t *b)
{
	json_t *ch = json_object();
	static const char *const keys[] = {
	    "Cmd",    "Entrypoint",   "Env",	 "WorkingDir", "User",
	    "Labels", "ExposedPorts", "Volumes", "StopSignal", "Healthcheck",
	    "Shell",  "OnBuild",      NULL};
	for (const char *const *k = keys; *k; k++) {
		json_t *v = json_object_get(b->cfg, *k);
		if (v && !json_is_null(v))
			json_object_set(ch, *k, v);
	}
	if (!json_object_get(ch, "Cmd"))
		json_object_set_new(ch, "Cmd", json_array());
	if (!json_object_get(ch, "Env"))
		json_object_set_new(ch, "Env", json_array());
	if (!json_object_get(ch, "WorkingDir"))
		json_object_set_new(ch, "WorkingDir", json_string(""));
	if (!json_object_get(ch, "User"))
		json_object_set_new(ch, "User", json_string(""));
	if (!json_object_get(ch, "Labels"))
		json_object_set_new(ch, "Labels", json_object());
	return ch;
}

static int commit(bctx_t *b, const char *ctr, const char *created_by, bool empty, const char *key)
{
	_cleanup_json_ json_t *ch = changes(b);
	pl_commit_spec_t s = {
	    .container = ctr, .created_by = created_by, .empty_layer = empty, .changes = ch};
	char *id = NULL;
	_cleanup_error_ pl_error_t *err = NULL;
	if (pl_container_commit(b->c, &s, &id, &err) < 0 || !id) {
		failf(b, 0, "commit: %s", err ? err->msg : "no image id");
		return -1;
	}
	set_image(b, id);
	if (key)
		cache_put(b, key, id);
	free(id);
	return 0;
}

/* The start of a step that runs nothing (#(nop)): the cached image when there is one
 * (*ctr stays NULL), or a new container for it in *ctr. *key gets the cache key. */
static int nop_step_begin(bctx_t *b, const char *created_by, char **key, char **ctr)
{
	*key = cache_key(b, created_by, NULL);
	_cleanup_free_ char *hit = cache_get(b, *key);
	if (hit) {
		out(b, " ---> Using cache\n");
		set_image(b, hit);
		return 0;
	}
	static const char *const nop[] = {"/bin/sh", "-c", "#(nop)", NULL};
	*ctr = make_container(b, nop, NULL, NULL);
	if (!*ctr)
		return -1;
	out(b, " ---> Running in %s\n", short_id(*ctr));
	return 0;
}

/* A metadata-only step: a config-only image (Docker too makes a container for it). */
static int meta_step(bctx_t *b, const char *what)
{
	_cleanup_free_ char *created_by = pl_xasprintf("/bin/sh -c #(nop)  %s", what);
	_cleanup_free_ char *key = NULL, *ctr = NULL;
	if (nop_step_begin(b, created_by, &key, &ctr) < 0)
		return -1;
	if (!ctr)
		return 0;
	int r = commit(b, ctr, created_by, true, key);
	end_container(b, ctr, r < 0);
	return r;
}

/* ---- RUN ---- */

typedef struct runout {
	bctx_t *b;
	pl_demux_t demux;
} runout_t;

static int run_piece(int stream, const char *data, size_t len, void *ud)
{
	runout_t *r = ud;
	if (r->b->quiet)
		return 0;
	_cleanup_free_ char *s = utf8_clean(data, len);
	emit(r->b, json_pack("{s:s}", "stream", s));
	return 0;
}

static char **shell_words(bctx_t *b, const df_instr_t *in)
{
	if (in->json)
		return df_json_array(in->rest);
	char **sh = df_json_array("[\"/bin/sh\", \"-c\"]");
	json_t *shell = json_object_get(b->cfg, "Shell");
	if (json_array_size(shell)) {
		df_strv_free(sh);
		_cleanup_free_ char *t = json_dumps(shell, JSON_COMPACT);
		sh = df_json_array(t);
	}
	size_t n = df_strv_len(sh);
	sh = pl_xrealloc(sh, (n + 2) * sizeof(*sh));
	sh[n] = pl_xstrdup(in->rest);
	sh[n + 1] = NULL;
	return sh;
}

static char *join(char *const *v)
{
	size_t len = 1;
	for (char *const *p = v; p && *p; p++)
		len += strlen(*p) + 1;
	char *s = pl_xcalloc(1, len);
	for (char *const *p = v; p && *p; p++) {
		if (p != v)
			strcat(s, " ");
		strcat(s, *p);
	}
	return s;
}

static int run_step(bctx_t *b, const df_instr_t *in)
{
	char **argv = shell_words(b, in);
	_cleanup_free_ char *cmdline = join(argv);
	/* build args reach RUN's environment (not the image's) */
	json_t *envj = json_deep_copy(json_object_get(b->cfg, "Env"));
	if (!envj)
		envj = json_array();
	_cleanup_json_ json_t *argenv = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(b->args, k, v)
	{
		if (!json_is_string(v) || env_get(b->cfg, k))
			continue;
		_cleanup_free_ char *kv = pl_xasprintf("%s=%s", k, json_string_value(v));
		json_array_append_new(argenv, json_string(kv));
		json_array_append_new(envj, json_string(kv));
	}
	_cleanup_free_ char *argtext = json_dumps(argenv, JSON_COMPACT | JSON_SORT_KEYS);
	/* Docker's history for a RUN with build args: "|N K=V ... /bin/sh -c cmd" */
	char *argv_env[65] = {NULL};
	for (size_t i = 0; i < json_array_size(argenv) && i < 64; i++)
		argv_env[i] = (char *)json_string_value(json_array_get(argenv, i));
	_cleanup_free_ char *argwords = join(argv_env);
	_cleanup_free_ char *created_by =
	    json_array_size(argenv)
		? pl_xasprintf("|%zu %s %s", json_array_size(argenv), argwords, cmdline)
		: pl_xstrdup(cmdline);
	_cleanup_free_ char *key = cache_key(b, created_by, argtext);
	_cleanup_free_ char *hit = cache_get(b, key);
	int rc = -1;
	char **env = NULL;
	char *ctr = NULL;
	_cleanup_error_ pl_error_t *err = NULL;
	if (hit) {
		out(b, " ---> Using cache\n");
		set_image(b, hit);
		rc = 0;
		goto done;
	}
	size_t ne = json_array_size(envj);
	env = pl_xcalloc(ne + 1, sizeof(*env));
	for (size_t i = 0; i < ne; i++)
		env[i] = pl_xstrdup(json_string_value(json_array_get(envj, i)));
	ctr = make_container(b, (const char *const *)argv, (const char *const *)env, NULL);
	if (!ctr)
		goto done;
	out(b, " ---> Running in %s\n", short_id(ctr));
	pl_attach_opts_t ao = {.stdout_ = true, .stderr_ = true, .stream = true};
	pl_upgraded_t up = {.fd = -1};
	bool attached = pl_container_attach(b->c, ctr, &ao, &up, NULL) == 0;
	if (pl_container_start(b->c, ctr, NULL, &err) < 0) {
		pl_close(up.fd);
		failf(b, 0, "start the build container: %s", err->msg);
		remove_container(b, ctr, false);
		goto done;
	}
	runout_t ro = {.b = b};
	pl_demux_init(&ro.demux, run_piece, &ro);
	if (attached) {
		char buf[16384];
		ssize_t n;
		while ((n = read(up.fd, buf, sizeof(buf))) > 0) {
			if (up.raw)
				run_piece(1, buf, (size_t)n, &ro);
			else
				pl_demux_feed(&ro.demux, buf, (size_t)n);
		}
		pl_close(up.fd);
	}
	pl_exit_status_t st = {0};
	if (pl_container_wait(b->c, ctr, NULL, &st, &err) < 0) {
		failf(b, 0, "wait for the build container: %s", err->msg);
		remove_container(b, ctr, false);
		goto done;
	}
	if (!attached) {
		pl_logs_opts_t lo = {0};
		pl_container_logs(b->c, ctr, &lo, pl_demux_feed_cb, &ro.demux, NULL);
	}
	int code = st.exit_code;
	pl_exit_status_clear(&st);
	if (code != 0) {
		remove_container(b, ctr, false);
		failf(b, code, "The command '%s' returned a non-zero code: %d", cmdline, code);
		goto done;
	}
	rc = commit(b, ctr, created_by, false, key);
	end_container(b, ctr, rc < 0);
done:
	free(ctr);
	df_strv_free(env);
	df_strv_free(argv);
	json_decref(envj);
	return rc;
}

/* ---- COPY, ADD, WORKDIR: a tar put at "/" ---- */

static char *abs_dest(bctx_t *b, const char *dest)
{
	if (dest[0] == '/')
		return pl_xstrdup(dest);
	const char *wd = json_string_value(json_object_get(b->cfg, "WorkingDir"));
	if (!wd || !*wd)
		wd = "/";
	return pl_xasprintf("%s%s%s", wd, wd[strlen(wd) - 1] == '/' ? "" : "/", dest);
}

/* The missing directories on the way to (and including) dir ("/a/b"), no leading '/'. */
static char **missing_dirs(bctx_t *b, const char *ctr, const char *dir)
{
	char **v = pl_xcalloc(1, sizeof(*v));
	size_t n = 0;
	_cleanup_free_ char *d = pl_xstrdup(dir);
	for (char *p = d + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;
			*p = '\0';
			if (strlen(d) > 1 && pl_container_archive_stat(b->c, ctr, d, NULL) < 0) {
				v = pl_xrealloc(v, (n + 2) * sizeof(*v));
				v[n++] = pl_xstrdup(d + 1);
				v[n] = NULL;
			}
			*p = c;
			if (!c)
				break;
		}
	}
	return v;
}

static int put_tar(bctx_t *b, const char *ctr, const bx_copy_t *cp, char *const *mkdirs)
{
	_cleanup_free_ char *path = pl_xasprintf("%s/copy.tar", b->tmp);
	_cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	_cleanup_error_ pl_error_t *err = NULL;
	if (fd < 0)
		return failf(b, 0, "copy: %s", strerror(errno));
	if (bx_write_tar(cp, mkdirs, fd, &err) < 0)
		return failf(b, 0, "%s", err->msg);
	off_t size = lseek(fd, 0, SEEK_END);
	lseek(fd, 0, SEEK_SET);
	if (pl_container_archive_put(b->c, ctr, "/", fd, size, &err) < 0)
		return failf(b, 0, "copy into the build container: %s", err->msg);
	return 0;
}

static int workdir_step(bctx_t *b, const char *dir, const char *what)
{
	_cleanup_free_ char *created_by = pl_xasprintf("/bin/sh -c #(nop) %s", what);
	_cleanup_free_ char *key = NULL, *ctr = NULL;
	if (nop_step_begin(b, created_by, &key, &ctr) < 0)
		return -1;
	if (!ctr)
		return 0;
	char **dirs = missing_dirs(b, ctr, dir);
	int r = 0;
	bx_copy_t cp = {0};
	if (dirs[0])
		r = put_tar(b, ctr, &cp, dirs);
	if (r == 0)
		r = commit(b, ctr, created_by, dirs[0] == NULL, key);
	df_strv_free(dirs);
	end_container(b, ctr, r < 0);
	return r;
}

static int mkdir_p(const char *path)
{
	_cleanup_free_ char *p = pl_xstrdup(path);
	for (char *q = p + 1; *q; q++) {
		if (*q == '/') {
			*q = '\0';
			if (mkdir(p, 0755) < 0 && errno != EEXIST)
				return -1;
			*q = '/';
		}
	}
	return mkdir(p, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static int write_fd(const char *data, size_t len, void *ud)
{
	int fd = *(int *)ud;
	while (len) {
		ssize_t n = write(fd, data, len);
		if (n < 0)
			return errno == EINTR ? 0 : -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

typedef struct membuf {
	char *data;
	size_t len;
} membuf_t;

static int to_mem(const char *data, size_t len, void *ud)
{
	membuf_t *m = ud;
	if (m->len + len > (8 << 20))
		return -EFBIG;
	m->data = pl_xrealloc(m->data, m->len + len + 1);
	memcpy(m->data + m->len, data, len);
	m->len += len;
	m->data[m->len] = '\0';
	return 0;
}

/* A name's id from the container's /etc/passwd (field 2) or /etc/group; -1 when absent. */
static long lookup_id(bctx_t *b, const char *ctr, const char *file, const char *name)
{
	membuf_t m = {0};
	long id = -1;
	if (pl_container_archive_get(b->c, ctr, file, to_mem, &m, NULL) == 0 && m.data) {
		size_t flen = 0;
		_cleanup_free_ char *text = bx_tar_first_file(m.data, m.len, &flen);
		size_t nl = strlen(name);
		for (char *line = text; line && *line;) {
			char *end = strchr(line, '\n');
			if (end)
				*end = '\0';
			if (!strncmp(line, name, nl) && line[nl] == ':') {
				const char *f = strchr(line + nl + 1, ':');
				if (f)
					id = strtol(f + 1, NULL, 10);
				break;
			}
			line = end ? end + 1 : NULL;
		}
	}
	free(m.data);
	return id;
}

/* --chown=user[:group], names looked up in the build container as Docker does; a user
 * alone gives its uid as the gid too. */
static int resolve_chown(bctx_t *b, const char *ctr, const char *spec, int *uid, int *gid)
{
	_cleanup_free_ char *u = pl_xstrdup(spec);
	char *g = strchr(u, ':');
	if (g)
		*g++ = '\0';
	char *e;
	long uv = strtol(u, &e, 10);
	if (*e || e == u)
		uv = lookup_id(b, ctr, "/etc/passwd", u);
	if (uv < 0)
		return failf(b, 0,
			     "unable to convert uid/gid chown string to host mapping: can't "
			     "find uid for user %s: no such user: %s",
			     u, u);
	long gv = uv;
	if (g && *g) {
		gv = strtol(g, &e, 10);
		if (*e || e == g)
			gv = lookup_id(b, ctr, "/etc/group", g);
		if (gv < 0)
			return failf(
			    b, 0,
			    "unable to convert uid/gid chown string to host mapping: can't "
			    "find gid for group %s: no such group: %s",
			    g, g);
	}
	*uid = (int)uv;
	*gid = (int)gv;
	return 0;
}

static bool has_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* Cleans a context-relative source: NULL when it leaves the context. */
static char *clean_rel(const char *src)
{
	_cleanup_free_ char *s = pl_xstrdup(src);
	char *out_ = pl_xcalloc(1, strlen(s) + 2);
	char *save = NULL;
	for (char *t = strtok_r(s, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (!strcmp(t, "."))
			continue;
		if (!strcmp(t, "..")) {
			char *sl = strrchr(out_, '/');
			if (!*out_) {
				free(out_);
				return NULL;
			}
			if (sl)
				*sl = '\0';
			else
				*out_ = '\0';
			continue;
		}
		if (*out_)
			strcat(out_, "/");
		strcat(out_, t);
	}
	return out_;
}

static int copy_step(bctx_t *b, const df_instr_t *in, bool add)
{
	static const char *const cflags[] = {"chown", "from", NULL};
	_cleanup_error_ pl_error_t *err = NULL;
	for (char **f = in->flags; f && *f; f++)
		if (!strncmp(*f, "--chmod", 7) || !strncmp(*f, "--link", 6))
			return failf(b, 0, "the %.*s option requires BuildKit",
				     (int)strcspn(*f, "="), *f);
	if (df_check_flags(in, cflags, &err) < 0)
		return fail(b, err->msg, 0);
	char **words = in->json ? df_json_array(in->rest)
				: df_expand_words(in->rest, b->df.escape, lookup, b, &err);
	if (!words)
		return fail(b, err ? err->msg : "bad arguments", 0);
	int rc = -1;
	size_t nw = df_strv_len(words);
	bx_copy_t cp = {0};
	char *fromctr = NULL, *fromdir = NULL, *ctr = NULL;
	char **dirs = NULL;
	_cleanup_free_ char *dest = NULL, *created_by = NULL, *key = NULL, *hit = NULL,
			    *ddir = NULL, *keyextra = NULL;
	if (nw < 2) {
		failf(b, 0, "%s requires at least two arguments", add ? "ADD" : "COPY");
		goto done;
	}
	{
		const char *w = words[nw - 1];
		size_t wl = strlen(w);
		bool dirhint = (wl && w[wl - 1] == '/') || !strcmp(w, ".") ||
			       (wl >= 2 && !strcmp(w + wl - 2, "/."));
		_cleanup_free_ char *a = abs_dest(b, w);
		_cleanup_free_ char *c = clean_rel(a + 1);
		if (!c)
			c = pl_xstrdup("");
		dest = pl_xasprintf("/%s%s", c, dirhint && *c ? "/" : "");
	}
	const char *chown = df_flag(in, "chown");
	if (chown && !*chown)
		chown = NULL;
	const char *from = df_flag(in, "from");
	const char *root = b->ctxdir;
	cp.ignore = &b->ignore;
	if (from && *from) {
		/* a stage's (or an image's) files: fetched from a container of it */
		const char *img = NULL;
		for (size_t i = 0; i < b->nstages; i++) {
			char num[24];
			snprintf(num, sizeof(num), "%zu", i);
			if ((b->stages[i].name && !strcasecmp(b->stages[i].name, from)) ||
			    !strcmp(num, from))
				img = b->stages[i].image;
		}
		if (!img)
			img = from;
		static const char *const nop[] = {"/bin/sh", "-c", "#(nop)", NULL};
		fromctr = make_container(b, nop, NULL, img);
		if (!fromctr)
			goto done;
		fromdir = pl_xasprintf("%s/from.XXXXXX", b->tmp);
		if (!mkdtemp(fromdir)) {
			failf(b, 0, "mkdtemp: %s", strerror(errno));
			goto done;
		}
		root = fromdir;
		cp.ignore = NULL;
	}
	bool many = nw > 2;
	for (size_t i = 0; i + 1 < nw; i++) {
		const char *src = words[i];
		if (add && (!strncmp(src, "http://", 7) || !strncmp(src, "https://", 8) ||
			    !strncmp(src, "git@", 4))) {
			failf(b, 0,
			      "ADD %s: remote URLs are not supported on this builder (no network "
			      "access): download it into the context and COPY it",
			      src);
			goto done;
		}
		char **matches = NULL;
		_cleanup_free_ char *rel = clean_rel(src[0] == '/' ? src + 1 : src);
		if (!rel) {
			failf(b, 0, "forbidden path outside the build context: %s", src);
			goto done;
		}
		if (fromdir) {
			/* fetch src from the stage into fromdir/rel */
			_cleanup_free_ char *tarp = pl_xasprintf("%s/from.tar", b->tmp);
			_cleanup_close_ int tfd =
			    open(tarp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
			_cleanup_free_ char *cpath = pl_xasprintf("/%s", rel);
			_cleanup_free_ char *parent = pl_xasprintf("%s/%s", fromdir, rel);
			char *sl = strrchr(parent, '/');
			*sl = '\0';
			if (tfd < 0 || mkdir_p(parent) < 0) {
				failf(b, 0, "COPY --from: %s", strerror(errno));
				goto done;
			}
			if (pl_container_archive_get(b->c, fromctr, cpath, write_fd, &tfd, &err) <
			    0) {
				failf(b, 0, "COPY --from=%s: %s: %s", from, cpath, err->msg);
				goto done;
			}
			lseek(tfd, 0, SEEK_SET);
			if (bx_extract(tfd, parent, DEFAULT_CONTEXT_MAX, &err) < 0) {
				failf(b, 0, "COPY --from=%s: %s", from, err->msg);
				goto done;
			}
		}
		if (has_glob(rel))
			matches = bx_glob(root, rel);
		else {
			matches = pl_xcalloc(2, sizeof(*matches));
			matches[0] = pl_xstrdup(rel);
		}
		if (!matches[0]) {
			df_strv_free(matches);
			failf(b, 0, "COPY failed: no source files were specified");
			goto done;
		}
		if (matches[1])
			many = true;
		for (char **m = matches; *m; m++) {
			_cleanup_free_ char *full =
			    **m ? pl_xasprintf("%s/%s", root, *m) : pl_xstrdup(root);
			struct stat st;
			if (lstat(full, &st) < 0 ||
			    (cp.ignore && **m && di_excluded(cp.ignore, *m))) {
				failf(b, 0,
				      "COPY failed: file not found in build context or "
				      "excluded by .dockerignore: stat %s: file does not exist",
				      *m);
				df_strv_free(matches);
				goto done;
			}
			const char *base = strrchr(*m, '/') ? strrchr(*m, '/') + 1 : *m;
			bool into = many || dest[strlen(dest) - 1] == '/' || S_ISDIR(st.st_mode);
			bool unpack = add && S_ISREG(st.st_mode) && bx_is_archive(full);
			_cleanup_free_ char *d =
			    S_ISDIR(st.st_mode) || unpack ? pl_xstrdup(dest + 1)
			    : into			  ? pl_xasprintf("%s%s%s", dest + 1,
							 dest[strlen(dest) - 1] == '/' ? "" : "/", base)
							  : pl_xstrdup(dest + 1);
			size_t dl = strlen(d);
			while (dl && d[dl - 1] == '/')
				d[--dl] = '\0';
			bx_copy_add(&cp, full, *m, d, unpack);
		}
		df_strv_free(matches);
	}
	char sum[65];
	if (bx_checksum(&cp, sum, &err) < 0) {
		failf(b, 0, "COPY failed: %s", err->msg);
		goto done;
	}
	created_by = pl_xasprintf("/bin/sh -c #(nop) %s %s:%.16s in %s ", add ? "ADD" : "COPY",
				  cp.n > 1 ? "multi" : "file", sum, dest);
	keyextra = pl_xasprintf("%s chown=%s", sum, chown ? chown : "");
	key = cache_key(b, created_by, keyextra);
	hit = cache_get(b, key);
	if (hit) {
		out(b, " ---> Using cache\n");
		set_image(b, hit);
		rc = 0;
		goto done;
	}
	static const char *const nop[] = {"/bin/sh", "-c", "#(nop)", NULL};
	ctr = make_container(b, nop, NULL, NULL);
	if (!ctr)
		goto done;
	out(b, " ---> Running in %s\n", short_id(ctr));
	/* the destination directory (or a file's directory) must exist for the tar's
	 * entries; only missing ones are made, so existing modes stay */
	ddir = pl_xstrdup(dest);
	bool dest_is_dir = many || dest[strlen(dest) - 1] == '/' ||
			   (cp.n == 1 && strcmp(cp.items[0].dest, dest + 1));
	if (!dest_is_dir && cp.n == 1) {
		struct stat st;
		if (lstat(cp.items[0].src, &st) == 0 && S_ISDIR(st.st_mode))
			dest_is_dir = true;
		if (cp.items[0].unpack)
			dest_is_dir = true;
	}
	if (!dest_is_dir) {
		char *sl = strrchr(ddir, '/');
		sl[sl == ddir ? 1 : 0] = '\0';
	}
	size_t dl = strlen(ddir);
	while (dl > 1 && ddir[dl - 1] == '/')
		ddir[--dl] = '\0';
	dirs = strcmp(ddir, "/") ? missing_dirs(b, ctr, ddir) : pl_xcalloc(1, sizeof(char *));
	if (chown) {
		if (resolve_chown(b, ctr, chown, &cp.uid, &cp.gid) < 0)
			goto done;
		cp.chown = true;
	}
	if (put_tar(b, ctr, &cp, dirs) < 0)
		goto done;
	rc = commit(b, ctr, created_by, false, key);
done:
	if (ctr)
		end_container(b, ctr, rc < 0);
	if (fromctr)
		pl_container_remove(b->c, fromctr, true, NULL);
	free(ctr);
	free(fromctr);
	free(fromdir);
	df_strv_free(dirs);
	bx_copy_clear(&cp);
	df_strv_free(words);
	return rc;
}

/* ---- instructions ---- */

static int64_t go_duration(const char *s)
{
	/* "30s", "1m30s", "500ms", "1h" -> nanoseconds; -1 when malformed */
	int64_t total = 0;
	if (!*s)
		return -1;
	while (*s) {
		char *e;
		double v = strtod(s, &e);
		if (e == s)
			return -1;
		int64_t unit;
		if (!strncmp(e, "ms", 2)) {
			unit = 1000000;
			e += 2;
		} else if (!strncmp(e, "us", 2)) {
			unit = 1000;
			e += 2;
		} else if (!strncmp(e, "ns", 2)) {
			unit = 1;
			e += 2;
		} else if (*e == 's') {
			unit = 1000000000;
			e++;
		} else if (*e == 'm') {
			unit = 60LL * 1000000000;
			e++;
		} else if (*e == 'h') {
			unit = 3600LL * 1000000000;
			e++;
		} else {
			return -1;
		}
		total += (int64_t)(v * (double)unit);
		s = e;
	}
	return total;
}

static json_t *strv_json(char *const *v)
{
	json_t *a = json_array();
	for (char *const *p = v; p && *p; p++)
		json_array_append_new(a, json_string(*p));
	return a;
}

static int dispatch(bctx_t *b, const df_instr_t *in, bool trigger);

/* As Docker (and routes.c): registries on localhost and 127.0.0.0/8 are insecure. */
static bool loopback_registry(const char *ref)
{
	const char *slash = strchr(ref, '/');
	if (!slash)
		return false;
	return !strncmp(ref, "localhost", 9) || !strncmp(ref, "127.", 4);
}

static int from_step(bctx_t *b, const df_instr_t *in, const char *target, bool *stop)
{
	_cleanup_error_ pl_error_t *err = NULL;
	static const char *const fflags[] = {"platform", NULL};
	if (df_check_flags(in, fflags, &err) < 0)
		return fail(b, err->msg, 0);
	char **w = df_expand_words(in->rest, b->df.escape, global_lookup, b, &err);
	if (!w)
		return fail(b, err->msg, 0);
	size_t n = df_strv_len(w);
	int rc = -1;
	if (n != 1 && !(n == 3 && !strcasecmp(w[1], "as"))) {
		failf(b, 0, "FROM requires either one or three arguments");
		goto done;
	}
	const char *platform = df_flag(in, "platform");
	if (platform && *platform) {
		_cleanup_free_ char *p = df_expand(platform, b->df.escape, global_lookup, b, NULL);
		if (p && strcmp(p, "linux/amd64") && strcmp(p, "linux") &&
		    strcmp(p, "linux/x86_64")) {
			failf(b, 0, "FROM --platform=%s: only linux/amd64 can be built here", p);
			goto done;
		}
	}
	/* a new stage: config and args start again */
	if (b->cfg)
		json_decref(b->cfg);
	b->cfg = json_object();
	json_object_clear(b->args);
	b->cmd_set = false;
	free(b->image);
	b->image = NULL;
	b->stages = pl_xrealloc(b->stages, (b->nstages + 1) * sizeof(*b->stages));
	b->stages[b->nstages++] = (stage_t){n == 3 ? pl_xstrdup(w[2]) : NULL, NULL};
	const char *ref = w[0];
	if (!strcasecmp(ref, "scratch")) {
		out(b, " ---> Running in scratch\n");
		rc = 0;
		goto done;
	}
	for (size_t i = 0; i + 1 < b->nstages; i++)
		if (b->stages[i].name && !strcasecmp(b->stages[i].name, ref)) {
			b->image = b->stages[i].image ? pl_xstrdup(b->stages[i].image) : NULL;
			break;
		}
	if (!b->image) {
		pl_image_info_t *im = b->pull ? NULL : pl_image_inspect(b->c, ref, NULL);
		if (!im) {
			out(b, "Pulling %s\n", ref);
			char *user = NULL, *pass = NULL;
			rc_credentials(b->auths, ref, &user, &pass);
			int pr = pl_image_pull_auth(b->c, ref, loopback_registry(ref), user, pass,
						    NULL, NULL, &err);
			free(user);
			pl_free_secret(pass);
			if (pr < 0 || !(im = pl_image_inspect(b->c, ref, &err))) {
				failf(b, 0, "pull access denied for %s: %s", ref,
				      err ? err->msg : "not found");
				goto done;
			}
		}
		b->image = pl_xstrdup(im->id);
		json_t *c = json_object_get(im->config, "config");
		if (json_is_object(c)) {
			json_decref(b->cfg);
			b->cfg = json_deep_copy(c);
		}
		pl_image_info_free(im);
	}
	if (b->image) {
		pl_image_info_t *im = pl_image_inspect(b->c, b->image, NULL);
		json_t *c = im ? json_object_get(im->config, "config") : NULL;
		if (json_is_object(c)) {
			json_decref(b->cfg);
			b->cfg = json_deep_copy(c);
		}
		pl_image_info_free(im);
	}
	out(b, " ---> %s\n", short_id(b->image));
	b->stages[b->nstages - 1].image = b->image ? pl_xstrdup(b->image) : NULL;
	/* ONBUILD triggers of the base image run now */
	json_t *ob = json_incref(json_object_get(b->cfg, "OnBuild"));
	json_object_del(b->cfg, "OnBuild");
	if (json_array_size(ob))
		out(b, "# Executing %zu build trigger%s\n", json_array_size(ob),
		    json_array_size(ob) > 1 ? "s" : "");
	size_t i;
	json_t *t;
	rc = 0;
	json_array_foreach(ob, i, t)
	{
		df_instr_t ti;
		if (df_parse_line(json_string_value(t), b->df.escape, in->line, &ti, &err) < 0) {
			rc = fail(b, err->msg, 0);
			break;
		}
		rc = dispatch(b, &ti, true);
		df_instr_clear(&ti);
		if (rc < 0)
			break;
	}
	if (ob)
		json_decref(ob);
	if (rc == 0 && target && *target && n == 3 && !strcasecmp(w[2], target))
		*stop = true;
done:
	df_strv_free(w);
	return rc;
}

static int dispatch(bctx_t *b, const df_instr_t *in, bool trigger)
{
	_cleanup_error_ pl_error_t *err = NULL;
	const char *cmd = in->cmd;
	char esc = b->df.escape;
	if (!strcmp(cmd, "run")) {
		for (char **f = in->flags; f && *f; f++)
			if (!strncmp(*f, "--network", 9) || !strncmp(*f, "--mount", 7) ||
			    !strncmp(*f, "--security", 10))
				return failf(b, 0, "the %.*s option requires BuildKit",
					     (int)strcspn(*f, "="), *f);
		if (df_check_flags(in, NULL, &err) < 0)
			return fail(b, err->msg, 0);
		return run_step(b, in);
	}
	if (!strcmp(cmd, "copy") || !strcmp(cmd, "add"))
		return copy_step(b, in, !strcmp(cmd, "add"));
	if (!strcmp(cmd, "cmd") || !strcmp(cmd, "entrypoint")) {
		json_t *v;
		if (!in->rest[0] && !strcmp(cmd, "entrypoint"))
			v = json_null();
		else {
			char **w = shell_words(b, in);
			v = strv_json(w);
			df_strv_free(w);
		}
		json_object_set_new(b->cfg, !strcmp(cmd, "cmd") ? "Cmd" : "Entrypoint", v);
		if (!strcmp(cmd, "cmd"))
			b->cmd_set = true;
		else if (!b->cmd_set)
			json_object_del(b->cfg, "Cmd"); /* as Docker: a new ENTRYPOINT resets CMD */
		_cleanup_free_ char *t =
		    json_dumps(json_is_null(v) ? json_array() : v, JSON_COMPACT);
		_cleanup_free_ char *what =
		    pl_xasprintf("%s %s", !strcmp(cmd, "cmd") ? "CMD" : "ENTRYPOINT", t);
		return meta_step(b, what);
	}
	if (!strcmp(cmd, "env") || !strcmp(cmd, "label")) {
		bool env = !strcmp(cmd, "env");
		char **kv = df_name_values(in->rest, env ? "ENV" : "LABEL", esc, lookup, b, &err);
		if (!kv)
			return fail(b, err->msg, 0);
		_cleanup_free_ char *what = pl_xstrdup(env ? "ENV" : "LABEL");
		for (size_t i = 0; kv[i]; i += 2) {
			if (env) {
				env_set(b->cfg, kv[i], kv[i + 1]);
			} else {
				json_t *l = json_object_get(b->cfg, "Labels");
				if (!json_is_object(l)) {
					l = json_object();
					json_object_set_new(b->cfg, "Labels", l);
				}
				json_object_set_new(l, kv[i], json_string(kv[i + 1]));
			}
			char *nw = pl_xasprintf("%s %s=%s", what, kv[i], kv[i + 1]);
			free(what);
			what = nw;
		}
		df_strv_free(kv);
		return meta_step(b, what);
	}
	if (!strcmp(cmd, "arg")) {
		char **w = df_split_words(in->rest, esc);
		for (char **p = w; *p; p++) {
			char *eq = strchr(*p, '=');
			if (eq)
				*eq = '\0';
			const char *given = json_string_value(json_object_get(b->buildargs, *p));
			json_object_set_new(b->used, *p, json_true());
			if (given) {
				json_object_set_new(b->args, *p, json_string(given));
			} else if (eq) {
				char *v = df_expand(eq + 1, esc, lookup, b, &err);
				if (!v) {
					df_strv_free(w);
					return fail(b, err->msg, 0);
				}
				json_object_set_new(b->args, *p, json_string(v));
				free(v);
			} else if (json_object_get(b->global_args, *p)) {
				json_object_set(b->args, *p, json_object_get(b->global_args, *p));
			} else {
				json_object_set_new(b->args, *p, json_null());
			}
		}
		df_strv_free(w);
		_cleanup_free_ char *what = pl_xasprintf("ARG %s", in->rest);
		return meta_step(b, what);
	}
	if (!strcmp(cmd, "expose") || !strcmp(cmd, "volume")) {
		bool expose = !strcmp(cmd, "expose");
		char **w = in->json ? df_json_array(in->rest)
				    : df_expand_words(in->rest, esc, lookup, b, &err);
		if (!w)
			return fail(b, err->msg, 0);
		const char *key = expose ? "ExposedPorts" : "Volumes";
		json_t *o = json_object_get(b->cfg, key);
		if (!json_is_object(o)) {
			o = json_object();
			json_object_set_new(b->cfg, key, o);
		}
		for (char **p = w; *p; p++) {
			if (!**p)
				continue;
			if (expose) {
				/* "80", "80/udp", "8000-8002/tcp": one entry a port */
				const char *proto = strchr(*p, '/') ? strchr(*p, '/') + 1 : "tcp";
				char *e1, *e2;
				long lo = strtol(*p, &e1, 10), hi = lo;
				if (*e1 == '-')
					hi = strtol(e1 + 1, &e2, 10);
				if (e1 == *p || lo < 1 || hi > 65535 || hi < lo) {
					df_strv_free(w);
					return failf(b, 0, "Invalid containerPort: %s", *p);
				}
				for (long port = lo; port <= hi; port++) {
					char k[32];
					snprintf(k, sizeof(k), "%ld/%s", port, proto);
					json_object_set_new(o, k, json_object());
				}
				continue;
			}
			json_object_set_new(o, *p, json_object());
		}
		_cleanup_free_ char *j = join(w);
		df_strv_free(w);
		_cleanup_free_ char *what = pl_xasprintf("%s %s", expose ? "EXPOSE" : "VOLUME", j);
		return meta_step(b, what);
	}
	if (!strcmp(cmd, "user") || !strcmp(cmd, "stopsignal") || !strcmp(cmd, "maintainer")) {
		_cleanup_free_ char *v = df_expand(in->rest, esc, lookup, b, &err);
		if (!v)
			return fail(b, err->msg, 0);
		if (!strcmp(cmd, "user"))
			json_object_set_new(b->cfg, "User", json_string(v));
		else if (!strcmp(cmd, "stopsignal"))
			json_object_set_new(b->cfg, "StopSignal", json_string(v));
		_cleanup_free_ char *what =
		    pl_xasprintf("%s %s",
				 !strcmp(cmd, "user")	      ? "USER"
				 : !strcmp(cmd, "stopsignal") ? "STOPSIGNAL"
							      : "MAINTAINER",
				 v);
		return meta_step(b, what);
	}
	if (!strcmp(cmd, "workdir")) {
		_cleanup_free_ char *v = df_expand(in->rest, esc, lookup, b, &err);
		if (!v)
			return fail(b, err->msg, 0);
		_cleanup_free_ char *abs = abs_dest(b, v);
		size_t l = strlen(abs);
		while (l > 1 && abs[l - 1] == '/')
			abs[--l] = '\0';
		json_object_set_new(b->cfg, "WorkingDir", json_string(abs));
		_cleanup_free_ char *what = pl_xasprintf("WORKDIR %s", abs);
		return workdir_step(b, abs, what);
	}
	if (!strcmp(cmd, "shell")) {
		if (!in->json)
			return failf(b, 0, "SHELL requires the arguments to be in JSON form");
		json_object_set_new(b->cfg, "Shell", strv_json(in->argv));
		_cleanup_free_ char *what = pl_xasprintf("SHELL %s", in->rest);
		return meta_step(b, what);
	}
	if (!strcmp(cmd, "onbuild")) {
		if (trigger)
			return failf(b, 0, "ONBUILD cannot be used in an ONBUILD trigger");
		json_t *o = json_object_get(b->cfg, "OnBuild");
		if (!json_is_array(o)) {
			o = json_array();
			json_object_set_new(b->cfg, "OnBuild", o);
		}
		json_array_append_new(o, json_string(in->rest));
		_cleanup_free_ char *what = pl_xasprintf("ONBUILD %s", in->rest);
		return meta_step(b, what);
	}
	if (!strcmp(cmd, "healthcheck")) {
		static const char *const hf[] = {"interval", "timeout", "start-period", "retries",
						 NULL};
		if (df_check_flags(in, hf, &err) < 0)
			return fail(b, err->msg, 0);
		json_t *hc = json_object();
		if (!strcasecmp(in->rest, "none")) {
			json_object_set_new(hc, "Test", json_pack("[s]", "NONE"));
		} else {
			if (strncasecmp(in->rest, "cmd", 3) ||
			    (in->rest[3] && in->rest[3] != ' ')) {
				json_decref(hc);
				return failf(b, 0, "Unknown type \"%s\" in HEALTHCHECK (try CMD)",
					     in->rest);
			}
			const char *a = in->rest + 3;
			while (*a == ' ')
				a++;
			char **arr = a[0] == '[' ? df_json_array(a) : NULL;
			json_t *test = json_array();
			json_array_append_new(test, json_string(arr ? "CMD" : "CMD-SHELL"));
			if (arr) {
				json_t *x = strv_json(arr);
				json_array_extend(test, x);
				json_decref(x);
				df_strv_free(arr);
			} else
				json_array_append_new(test, json_string(a));
			json_object_set_new(hc, "Test", test);
			static const char *const dur[][2] = {{"interval", "Interval"},
							     {"timeout", "Timeout"},
							     {"start-period", "StartPeriod"}};
			for (size_t i = 0; i < 3; i++) {
				const char *f = df_flag(in, dur[i][0]);
				if (!f)
					continue;
				int64_t ns = go_duration(f);
				if (ns < 0) {
					json_decref(hc);
					return failf(b, 0, "HEALTHCHECK --%s=%s: not a duration",
						     dur[i][0], f);
				}
				json_object_set_new(hc, dur[i][1], json_integer(ns));
			}
			const char *r = df_flag(in, "retries");
			if (r)
				json_object_set_new(hc, "Retries", json_integer(atoi(r)));
		}
		json_object_set_new(b->cfg, "Healthcheck", hc);
		_cleanup_free_ char *what = pl_xasprintf("HEALTHCHECK %s", in->rest);
		return meta_step(b, what);
	}
	return failf(b, 0, "unknown instruction: %s", in->original);
}

/* ---- the job ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 ? 0 : 0;
}

static char *read_small(const char *path, size_t max, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	char *buf = pl_xmalloc(max + 1);
	size_t n = 0;
	ssize_t r;
	while (n < max && (r = read(fd, buf + n, max - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	*len = n;
	return buf;
}

void dk_build_prune(dk_job_t *j)
{
	pl_client_t *c = dk_job_client(j);
	_cleanup_error_ pl_error_t *err = NULL;
	char **keys = pl_kv_keys(c, CACHE_PREFIX, &err);
	if (!keys) {
		dk_job_reply_error(j, err);
		return;
	}
	json_t *deleted = json_array();
	for (char **k = keys; *k; k++) {
		pl_error_t *e = NULL;
		if (pl_kv_delete(c, *k, &e) == 0)
			json_array_append_new(deleted, json_string(*k + strlen(CACHE_PREFIX)));
		pl_error_free(e);
	}
	pl_strv_free(keys);
	dk_job_reply_json(j, 200,
			  json_pack("{s:o,s:i}", "CachesDeleted", deleted, "SpaceReclaimed", 0));
}

/* isolation= as Docker words it: "" / "default" / "process" share the host kernel,
 * "hyperv" gives every RUN container a dedicated kernel (the vm mechanism), refused up
 * front when portlayerd has no vm mechanism. Replies 400 and returns -1 on refusal. */
static int set_isolation(bctx_t *b, const char *iso)
{
	if (!iso || !*iso || !strcmp(iso, "default") || !strcmp(iso, "process"))
		return 0;
	if (strcmp(iso, "hyperv")) {
		dk_job_reply_message(b->job, 400, "Unsupported isolation: \"%s\"", iso);
		return -1;
	}
	_cleanup_error_ pl_error_t *err = NULL;
	pl_system_info_t *si = pl_system_info(b->c, &err);
	if (!si) {
		dk_job_reply_message(b->job, 500, "isolation=hyperv: %s", err->msg);
		return -1;
	}
	/* a dedicated-kernel mechanism that is up, and whose domains' files the port layer
	 * can commit (the vm mechanism keeps them inside the guest for now) */
	bool vm = false, commits = false;
	const char *reason = NULL;
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(si->raw, "mechanisms"), i, m)
	{
		if (strcmp(json_string_value(json_object_get(m, "kernel")) ?: "", "dedicated"))
			continue;
		if (!json_is_true(json_object_get(m, "available"))) {
			reason = reason ?: json_string_value(json_object_get(m, "reason"));
			continue;
		}
		vm = true;
		commits = commits || json_is_true(json_object_get(m, "files_on_host"));
	}
	if (!vm) {
		dk_job_reply_message(b->job, 400,
				     "isolation=hyperv needs a dedicated kernel for every RUN, "
				     "but the vm mechanism is unavailable on this daemon%s%s",
				     reason ? ": " : "", reason ? reason : "");
		pl_system_info_free(si);
		return -1;
	}
	pl_system_info_free(si);
	if (!commits) {
		dk_job_reply_message(
		    b->job, 501,
		    "isolation=hyperv: a RUN step in a dedicated kernel cannot be "
		    "committed yet (the vm mechanism keeps a domain's files inside "
		    "the guest; commit needs a shared kernel)");
		return -1;
	}
	b->kernel = "dedicated";
	return 0;
}

void dk_build(dk_job_t *j)
{
	bctx_t bb = {.job = j, .c = dk_job_client(j)}, *b = &bb;
	_cleanup_free_ char *ign = NULL, *itext = NULL, *dfrel = NULL, *dfpath = NULL, *text = NULL;
	_cleanup_json_ json_t *labels = NULL, *unused = NULL;
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_json_ json_t *tags = take_tags(dk_job_body_fd(j));
	if (!tags) {
		tags = json_array();
		const char *t = dk_job_query(j, "t");
		if (t && *t)
			json_array_append_new(tags, json_string(t));
	}
	const char *remote = dk_job_query(j, "remote");
	if (remote && *remote) {
		dk_job_reply_message(j, 400, "remote build contexts (%s) are not supported",
				     remote);
		return;
	}
	int fd = dk_job_body_fd(j);
	if (fd < 0) {
		dk_job_reply_message(j, 400, "a build context (a tar body) is required");
		return;
	}
	b->nocache = dk_job_query_bool(j, "nocache", false);
	b->quiet = dk_job_query_bool(j, "q", false);
	b->rm = dk_job_query_bool(j, "rm", true);
	b->forcerm = dk_job_query_bool(j, "forcerm", false);
	b->pull = dk_job_query_bool(j, "pull", false);
	b->network = dk_job_query(j, "networkmode");
	b->auths = rc_parse(dk_job_header(j, "X-Registry-Config"), &err);
	if (!b->auths) {
		dk_job_reply_message(j, 400, "%s", err->msg);
		return;
	}
	if (set_isolation(b, dk_job_query(j, "isolation")) < 0) {
		json_decref(b->auths);
		return;
	}
	const char *ba = dk_job_query(j, "buildargs");
	b->buildargs = ba && *ba ? json_loads(ba, 0, NULL) : NULL;
	if (!b->buildargs)
		b->buildargs = json_object();
	b->used = json_object();
	b->global_args = json_object();
	b->args = json_object();
	b->cfg = json_object();
	const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
	b->tmp = pl_xasprintf("%s/pl-build.XXXXXX", tmpdir);
	dk_job_stream(j, 200, "application/json");
	if (!mkdtemp(b->tmp)) {
		failf(b, 0, "make a build directory: %s", strerror(errno));
		free(b->tmp);
		b->tmp = NULL;
		goto out;
	}
	b->ctxdir = pl_xasprintf("%s/context", b->tmp);
	b->scratch = pl_xasprintf("%s/scratch", b->tmp);
	mkdir(b->ctxdir, 0755);
	mkdir(b->scratch, 0755);
	int64_t max = DEFAULT_CONTEXT_MAX;
	const char *mx = getenv("PL_DOCKERD_BUILD_CONTEXT_MAX");
	if (mx && *mx)
		max = strtoll(mx, NULL, 10);
	unsigned char head[512];
	ssize_t hn = pread(fd, head, sizeof(head), 0);
	if (hn > 0 && !bx_looks_like_archive(head, (size_t)hn)) {
		/* `docker build - < Dockerfile`: the body is the Dockerfile, no context */
		_cleanup_free_ char *p = pl_xasprintf("%s/Dockerfile", b->ctxdir);
		_cleanup_close_ int dfd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		char buf[65536];
		ssize_t n;
		off_t total = 0;
		lseek(fd, 0, SEEK_SET);
		while (dfd >= 0 && (n = read(fd, buf, sizeof(buf))) > 0 && total < (4 << 20)) {
			if (write(dfd, buf, (size_t)n) != n)
				break;
			total += n;
		}
	} else if (bx_extract(fd, b->ctxdir, max, &err) < 0) {
		fail(b, err->msg, 0);
		goto out;
	}
	size_t len = 0;
	ign = pl_xasprintf("%s/.dockerignore", b->ctxdir);
	itext = read_small(ign, 1 << 20, &len);
	if (itext)
		di_parse(itext, len, &b->ignore);
	const char *dfname = dk_job_query(j, "dockerfile");
	if (!dfname || !*dfname)
		dfname = "Dockerfile";
	dfrel = clean_rel(dfname);
	if (!dfrel) {
		failf(b, 0, "the Dockerfile (%s) must be within the build context", dfname);
		goto out;
	}
	dfpath = pl_xasprintf("%s/%s", b->ctxdir, dfrel);
	struct stat st;
	if (lstat(dfpath, &st) < 0 || !S_ISREG(st.st_mode)) {
		failf(b, 0, "Cannot locate specified Dockerfile: %s", dfname);
		goto out;
	}
	text = read_small(dfpath, 4 << 20, &len);
	if (!text || df_parse(text, len, &b->df, &err) < 0) {
		fail(b, err ? err->msg : "read the Dockerfile", 0);
		goto out;
	}
	const char *target = dk_job_query(j, "target");
	/* global ARGs (before the first FROM) and the step count */
	size_t first = 0;
	while (first < b->df.n && !strcmp(b->df.v[first].cmd, "arg")) {
		char **w = df_split_words(b->df.v[first].rest, b->df.escape);
		for (char **p = w; *p; p++) {
			char *eq = strchr(*p, '=');
			if (eq)
				*eq = '\0';
			json_object_set_new(b->used, *p, json_true());
			const char *given = json_string_value(json_object_get(b->buildargs, *p));
			_cleanup_free_ char *dv =
			    eq ? df_expand(eq + 1, b->df.escape, global_lookup, b, NULL) : NULL;
			if (given || dv)
				json_object_set_new(b->global_args, *p,
						    json_string(given ? given : dv));
		}
		df_strv_free(w);
		first++;
	}
	if (first == b->df.n || strcmp(b->df.v[first].cmd, "from")) {
		failf(b, 0,
		      "failed to parse Dockerfile: Dockerfile line %d: the first instruction must "
		      "be FROM",
		      first < b->df.n ? b->df.v[first].line : 1);
		goto out;
	}
	b->nsteps = (int)b->df.n;
	bool reached = !target || !*target, stop = false;
	for (size_t i = 0; i < b->df.n && !stop; i++) {
		const df_instr_t *in = &b->df.v[i];
		out(b, "Step %d/%d : %s\n", (int)i + 1, b->nsteps, in->original);
		int r;
		if (i < first) {
			r = 0;
		} else if (!strcmp(in->cmd, "from")) {
			r = from_step(b, in, target, &stop);
			if (stop)
				reached = true;
			/* --target: the later stages need not run */
		} else {
			r = dispatch(b, in, false);
			if (r == 0)
				out(b, " ---> %s\n", short_id(b->image));
		}
		if (b->nstages && b->image) {
			free(b->stages[b->nstages - 1].image);
			b->stages[b->nstages - 1].image = pl_xstrdup(b->image);
		}
		if (r < 0)
			goto out;
		if (stop) {
			/* run this stage to its end, then stop */
			size_t k = i + 1;
			for (; k < b->df.n && strcmp(b->df.v[k].cmd, "from"); k++) {
				out(b, "Step %d/%d : %s\n", (int)k + 1, b->nsteps,
				    b->df.v[k].original);
				if (dispatch(b, &b->df.v[k], false) < 0)
					goto out;
				out(b, " ---> %s\n", short_id(b->image));
			}
			break;
		}
	}
	if (!reached) {
		failf(b, 0, "failed to reach build target %s in Dockerfile", target);
		goto out;
	}
	const char *lbl = dk_job_query(j, "labels");
	labels = lbl && *lbl ? json_loads(lbl, 0, NULL) : NULL;
	if (json_object_size(labels)) {
		json_t *l = json_object_get(b->cfg, "Labels");
		if (!json_is_object(l)) {
			l = json_object();
			json_object_set_new(b->cfg, "Labels", l);
		}
		json_object_update(l, labels);
		if (meta_step(b, "LABEL (from --label)") < 0)
			goto out;
	}
	if (!b->image) {
		failf(b, 0, "No image was generated. Is your Dockerfile empty?");
		goto out;
	}
	unused = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(b->buildargs, k, v) if (!json_object_get(b->used, k))
	    json_array_append_new(unused, json_string(k));
	if (json_array_size(unused)) {
		_cleanup_free_ char *u = json_dumps(unused, JSON_COMPACT);
		out(b, "[Warning] One or more build-args %s were not consumed\n", u);
	}
	emit(b, json_pack("{s:{s:s}}", "aux", "ID", b->image));
	if (b->quiet) /* the CLI's -q prints what the stream says: the id alone */
		emit(b, json_pack("{s:s+}", "stream", b->image, "\n"));
	out(b, "Successfully built %s\n", short_id(b->image));
	size_t i;
	json_array_foreach(tags, i, v)
	{
		const char *t = json_string_value(v);
		const char *slash = strrchr(t, '/');
		bool has_tag = strchr(slash ? slash : t, ':') != NULL;
		_cleanup_free_ char *name = has_tag ? pl_xstrdup(t) : pl_xasprintf("%s:latest", t);
		pl_error_t *te = NULL;
		if (pl_image_tag(b->c, b->image, name, &te) < 0) {
			failf(b, 0, "tag %s: %s", name, te->msg);
			pl_error_free(te);
			goto out;
		}
		out(b, "Successfully tagged %s\n", name);
	}
out:
	if (b->tmp)
		nftw(b->tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(b->tmp);
	free(b->ctxdir);
	free(b->scratch);
	free(b->image);
	di_clear(&b->ignore);
	df_file_clear(&b->df);
	for (size_t s = 0; s < b->nstages; s++) {
		free(b->stages[s].name);
		free(b->stages[s].image);
	}
	free(b->stages);
	json_decref(b->buildargs);
	json_decref(b->used);
	json_decref(b->global_args);
	json_decref(b->args);
	json_decref(b->cfg);
	json_decref(b->auths);
}
