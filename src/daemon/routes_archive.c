/* SPDX-License-Identifier: Apache-2.0 */
#include "daemon/routes_archive.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "common/worker.h"
#include "daemon/routes.h"
#include "portlayer/jobs.h"
#include "portlayer/storage/archive.h"
#include "portlayer/storage/commit.h"
#include "portlayer/storage/images.h"
#include "portlayer/storage/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

typedef enum ajob_kind {
	A_EXPORT,
	A_GET,
	A_STAT,
	A_PUT,
	A_CHANGES,
	A_COMMIT,
	A_PULL, /* a registry pull with its progress streamed */
	A_SAVE, /* images as a docker-archive or OCI layout tar */
} ajob_kind_t;

/* One archive job. Streaming kinds (export, get) hand the tar over a pipe: the worker first
 * writes one line of JSON (the stat of what follows, or {}), then the tar. Nothing on the pipe
 * before the worker ended means it failed before streaming, and its error is the answer. */
typedef struct ajob {
	int refs; /* the worker's completion, and the stream while it exists */
	pl_app_t *app;
	pl_req_t *req; /* NULL once the client is gone */
	ajob_kind_t kind;
	char id[PL_ID_LEN + 1];
	char *dir, *lowers, *path;
	json_t *mounts; /* a stopped container's volumes and binds */
	int pidfd, in_fd;
	int rfd, wfd; /* the data pipe */
	pl_watch_t *watch;
	bool started, eof, done;
	bool ending; /* the daemon is going: the stream ends at its next read */
	pl_error_t *err;
	char *pre;
	size_t pre_len;
	char *buf;
	size_t blen, boff;
	pl_commit_opts_t commit;
	pl_userns_t ids; /* the container's maps (owners in and out of a remapped one) */
	/* A_PULL */
	char *ref, *platform, *username, *password;
	bool insecure;
	char *tail; /* the last line, once the pull ended */
	/* A_SAVE */
	json_t *save; /* [{"id","names"}] */
	bool oci;
	size_t tail_off;
} ajob_t;

static void ajob_unref(void *data)
{
	ajob_t *j = data;
	if (--j->refs > 0)
		return;
	j->watch = pl_loop_unwatch(j->app->loop, j->watch);
	if (j->rfd >= 0)
		close(j->rfd);
	free(j->dir);
	free(j->lowers);
	free(j->path);
	if (j->mounts)
		json_decref(j->mounts);
	free(j->pre);
	free(j->buf);
	pl_commit_opts_clear(&j->commit);
	free(j->ref);
	free(j->platform);
	free(j->username);
	pl_free_secret(j->password);
	free(j->tail);
	if (j->save)
		json_decref(j->save);
	pl_error_free(j->err);
	free(j);
}

static int write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

static int preface(ajob_t *j, json_t *pre, pl_error_t **err)
{
	_cleanup_free_ char *s = pl_json_dump(pre);
	json_decref(pre);
	if (write_all(j->wfd, s, strlen(s)) < 0 || write_all(j->wfd, "\n", 1) < 0)
		return pl_error_errno(err, "the client went away");
	return 0;
}

/* In the worker process. */
static json_t *ajob_work(void *data, pl_error_t **err)
{
	ajob_t *j = data;
	if (j->rfd >= 0)
		close(j->rfd);
	if (j->kind == A_COMMIT)
		return pl_commit_job(pl_portlayer_images(j->app->pl), &j->commit, err);
	if (j->kind == A_SAVE) {
		int rc = preface(j, json_object(), err);
		if (rc >= 0)
			rc = pl_images_save(pl_portlayer_images(j->app->pl), j->save, j->oci,
					    j->wfd, err);
		close(j->wfd);
		return rc < 0 ? NULL : json_object();
	}
	if (j->kind == A_PULL) {
		pl_pull_opts_t o = {.ref = j->ref,
				    .platform = j->platform,
				    .username = j->username,
				    .password = j->password,
				    .insecure = j->insecure,
				    .progress_fd = j->wfd};
		return pl_registry_pull(pl_portlayer_images(j->app->pl), &o, err);
	}
	pl_archive_target_t t = {
	    .dir = j->dir, .lowers = j->lowers, .pidfd = j->pidfd, .mounts = j->mounts};
	if (j->kind == A_CHANGES) {
		_cleanup_free_ char *up = pl_xasprintf("%s/upper", j->dir);
		_cleanup_close_ int upper = open(up, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (upper < 0) {
			pl_error_errno(err, "open the container's upper directory");
			return NULL;
		}
		_cleanup_close_ int lower = pl_archive_open_view(&t, PL_VIEW_LOWER, err);
		if (lower < 0)
			return NULL;
		json_t *ch = pl_archive_changes(upper, lower, err);
		return ch ? json_pack("{s:o}", "changes", ch) : NULL;
	}
	pl_archive_view_t view = j->kind == A_EXPORT ? PL_VIEW_ROOTFS
				 : j->kind == A_PUT  ? PL_VIEW_WRITE
						     : PL_VIEW_READ;
	_cleanup_close_ int root = pl_archive_open_view(&t, view, err);
	if (root < 0)
		return NULL;
	int rc = 0;
	switch (j->kind) {
	case A_EXPORT:
		rc = preface(j, json_object(), err);
		if (rc >= 0)
			rc = pl_archive_export(root, j->wfd, &j->ids, err);
		break;
	case A_GET: {
		json_t *st = pl_archive_stat(root, j->path, err);
		if (!st)
			return NULL;
		rc = preface(j, json_pack("{s:o}", "stat", st), err);
		if (rc >= 0)
			rc = pl_archive_get(root, j->path, j->wfd, &j->ids, err);
		break;
	}
	case A_STAT: {
		json_t *st = pl_archive_stat(root, j->path, err);
		return st ? json_pack("{s:o}", "stat", st) : NULL;
	}
	case A_PUT: {
		pl_extract_policy_t pol = {.whiteouts = false, .ids = &j->ids};
		rc = pl_archive_put(root, j->path, j->in_fd, &pol, err);
		break;
	}
	case A_CHANGES:
	case A_COMMIT:
	case A_PULL:
	case A_SAVE:
	default:
		break;
	}
	if (j->wfd >= 0)
		close(j->wfd);
	return rc < 0 ? NULL : json_object();
}

static void reply_failure(ajob_t *j)
{
	if (!j->req)
		return;
	pl_error_t *e = NULL;
	pl_error_set(&e, j->err ? j->err->kind : PL_ERR_INTERNAL, 0, "%s",
		     j->err ? j->err->msg : "the archive worker ended without output");
	pl_route_fail(j->req, e);
	j->req = NULL;
}

static void on_readable(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	ajob_t *j = data;
	j->watch = pl_loop_unwatch(loop, j->watch);
	if (j->req)
		pl_req_wake(j->req);
}

static ssize_t produce(pl_req_t *r, char *buf, size_t max, void *data)
{
	ajob_t *j = data;
	if (j->ending) /* cut: the client sees a body without its end */
		return -2;
	if (j->boff < j->blen)
		return (ssize_t)pl_buf_take(buf, max, j->buf, j->blen, &j->boff);
	if (!j->eof) {
		ssize_t n = read(j->rfd, buf, max);
		if (n > 0)
			return n;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -2;
		if (n == 0) {
			j->eof = true;
		} else {
			if (!j->watch)
				j->watch = pl_loop_watch(j->app->loop, j->rfd, EPOLLIN, on_readable,
							 j, NULL);
			return 0;
		}
	}
	/* the pipe ended: complete only when the worker says it succeeded */
	if (!j->done)
		return 0; /* woken by the completion */
	if (j->tail) {	  /* a pull's outcome, as the stream's last line */
		size_t left = strlen(j->tail) - j->tail_off;
		size_t n = left < max ? left : max;
		memcpy(buf, j->tail + j->tail_off, n);
		j->tail_off += n;
		return n ? (ssize_t)n : -1;
	}
	return j->err ? -2 : -1;
}

static void stream_gone(void *data)
{
	ajob_t *j = data;
	j->req = NULL;
	j->watch = pl_loop_unwatch(j->app->loop, j->watch);
	if (j->rfd >= 0) /* the worker gets EPIPE and ends */
		j->rfd = pl_close(j->rfd);
	ajob_unref(j);
}

/* The parked request is over (answered, or its client gone). */
static void req_gone(pl_waiter_t *w)
{
	ajob_t *j = pl_waiter_job(w);
	j->req = NULL;
	ajob_unref(j);
}

/* The daemon is going: a stream ends at its next read (the request is then no longer
 * parked); a request still waiting for its job gets the default answer (500). */
static void ajob_shutdown(pl_waiter_t *w)
{
	if (!pl_req_is_streaming(w->req))
		return;
	((ajob_t *)pl_waiter_job(w))->ending = true;
	pl_req_wake(w->req);
}

static const pl_waiter_type_t ajob_waiter = {.shutdown = ajob_shutdown, .clear = req_gone};

/* The request's own reference of the job: its client may go before the job ends, and the
 * job must then answer nobody. */
static void park(pl_req_t *r, ajob_t *j)
{
	j->refs++;
	pl_waiter_park_job(r, j->app, &ajob_waiter, j);
}

/* Docker's path stat: base64 of the JSON, in a header */
static void add_stat_header(pl_req_t *r, const json_t *st)
{
	_cleanup_free_ char *s = pl_json_dump(st);
	gnutls_datum_t in = {.data = (unsigned char *)s, .size = (unsigned)strlen(s)}, out;
	if (gnutls_base64_encode2(&in, &out) == 0) {
		pl_req_add_header(r, "X-Docker-Container-Path-Stat", (char *)out.data);
		gnutls_free(out.data);
	}
}

static void start_stream(ajob_t *j)
{
	_cleanup_json_ json_t *pre = pl_json_parse(j->pre, j->pre_len, "preface", NULL);
	json_t *st = json_object_get(pre, "stat");
	if (st)
		add_stat_header(j->req, st);
	j->started = true;
	pl_reply_stream(j->req, 200, "application/x-tar", produce, j, stream_gone);
}

/* Before the stream: collect the preface line. */
static void on_preface(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	ajob_t *j = data;
	for (;;) {
		char tmp[65536];
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			j->eof = true;
			j->watch = pl_loop_unwatch(loop, j->watch);
			if (j->done)
				reply_failure(j);
			ajob_unref(j); /* the preface phase's */
			return;
		}
		j->buf = pl_xrealloc(j->buf, j->blen + (size_t)n);
		memcpy(j->buf + j->blen, tmp, (size_t)n);
		j->blen += (size_t)n;
		char *nl = memchr(j->buf, '\n', j->blen);
		if (!nl)
			continue;
		j->pre_len = (size_t)(nl - j->buf);
		j->pre = pl_xmalloc(j->pre_len + 1);
		memcpy(j->pre, j->buf, j->pre_len);
		j->pre[j->pre_len] = '\0';
		j->boff = j->pre_len + 1;
		j->watch = pl_loop_unwatch(loop, j->watch);
		if (j->req) {
			start_stream(j);
		} else { /* nobody to stream to: the worker's next write fails (EPIPE) */
			j->rfd = pl_close(j->rfd);
			ajob_unref(j);
		}
		return;
	}
}

static void ajob_done(void *data, const json_t *result, const pl_error_t *err)
{
	ajob_t *j = data;
	j->done = true;
	if (err)
		pl_error_set(&j->err, err->kind, 0, "%s", err->msg);
	if (j->kind == A_PULL) {
		json_t *line;
		if (err) {
			line = json_pack("{s:s, s:{s:s, s:i}}", "error", err->msg, "errorDetail",
					 "message", err->msg, "status",
					 pl_error_http_status(err->kind));
		} else {
			line = json_pack("{s:s, s:O}", "status", "Pulled", "images",
					 json_object_get(result, "images"));
		}
		char *t = pl_json_dump(line);
		json_decref(line);
		j->tail = pl_xasprintf("%s\n", t);
		free(t);
		if (j->req)
			pl_req_wake(j->req);
		ajob_unref(j);
		return;
	}
	if (j->kind == A_EXPORT || j->kind == A_GET || j->kind == A_SAVE) {
		if (j->started && j->req)
			pl_req_wake(j->req);
		else if (!j->started && j->eof)
			reply_failure(j);
		ajob_unref(j);
		return;
	}
	if (j->req) {
		if (err) {
			pl_reply_error(j->req, err);
		} else if (j->kind == A_STAT) {
			add_stat_header(j->req, json_object_get(result, "stat"));
			pl_reply_empty(j->req, 200);
		} else if (j->kind == A_CHANGES) {
			pl_reply_json(j->req, 200, json_incref(json_object_get(result, "changes")));
		} else if (j->kind == A_COMMIT) {
			json_t *img = json_array_get(json_object_get(result, "images"), 0);
			pl_reply_json(j->req, 201, json_deep_copy(img));
		} else {
			pl_reply_empty(j->req, 200);
		}
	}
	ajob_unref(j);
}

static ajob_t *ajob_new_for(pl_req_t *r, pl_app_t *app, ajob_kind_t kind, bool need_path,
			    const char *ref, pl_container_t **out)
{
	pl_error_t *e = NULL;
	pl_container_t *c = pl_container_find(app->pl, ref ? ref : "", &e);
	if (!c) {
		pl_route_fail(r, e);
		return NULL;
	}
	const char *path = pl_req_query(r, "path");
	if (need_path && (!path || path[0] != '/')) {
		pl_error_set(&e, PL_ERR_INVALID, 0,
			     "path: an absolute path in the container is "
			     "required (?path=/...)");
		pl_route_fail(r, e);
		return NULL;
	}
	if (pl_container_archive_check(c, kind == A_PUT, &e) < 0) {
		pl_route_fail(r, e);
		return NULL;
	}
	_cleanup_free_ char *lowers = pl_container_lowerdir(c, &e);
	if (!lowers) {
		pl_route_fail(r, e);
		return NULL;
	}
	ajob_t *j = pl_xcalloc(1, sizeof(*j));
	j->refs = 1;
	j->app = app;
	j->req = r;
	j->kind = kind;
	snprintf(j->id, sizeof(j->id), "%s", pl_container_id(c));
	j->dir = pl_xstrdup(pl_container_dir(c));
	j->lowers = TAKE_PTR(lowers);
	j->path = path ? pl_xstrdup(path) : NULL;
	j->pidfd = pl_container_ns_pidfd(c);
	j->ids = *pl_container_userns(c);
	if (j->pidfd < 0 && (kind == A_GET || kind == A_STAT || kind == A_PUT))
		j->mounts = pl_container_mounts(c);
	j->in_fd = j->rfd = j->wfd = -1;
	if (out)
		*out = c;
	return j;
}

static ajob_t *ajob_new(pl_req_t *r, pl_app_t *app, ajob_kind_t kind, bool need_path)
{
	return ajob_new_for(r, app, kind, need_path, pl_req_param(r), NULL);
}

static void submit(pl_req_t *r, ajob_t *j)
{
	pl_error_t *e = NULL;
	bool stream = j->kind == A_EXPORT || j->kind == A_GET || j->kind == A_SAVE;
	if (stream || j->kind == A_PULL) { /* a tar, or pull's progress lines */
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0) {
			pl_error_errno(&e, "pipe");
			ajob_unref(j);
			return pl_route_fail(r, e);
		}
		j->rfd = p[0];
		j->wfd = p[1];
		fcntl(j->rfd, F_SETFL, O_NONBLOCK);
	}
	static const pl_job_kind_t kinds[] = {
	    [A_EXPORT] = PL_JOB_EXPORT,	  [A_GET] = PL_JOB_ARCHIVE_GET, [A_STAT] = PL_JOB_READ,
	    [A_PUT] = PL_JOB_ARCHIVE_PUT, [A_CHANGES] = PL_JOB_READ,	[A_COMMIT] = PL_JOB_COMMIT,
	    [A_PULL] = PL_JOB_PULL,	  [A_SAVE] = PL_JOB_SAVE};
	pl_job_t job = {.kind = kinds[j->kind],
			.subject = j->id,
			.path = j->path,
			.copy_in = j->kind == A_PUT && j->pidfd < 0,
			.work = ajob_work,
			.done = ajob_done,
			.data = j};
	int rc = pl_portlayer_job(j->app->pl, j->app->workers, &job, &e);
	if (j->wfd >= 0) /* the worker has its copy; ours must go so EOF can be seen */
		j->wfd = pl_close(j->wfd);
	if (rc < 0) {
		ajob_unref(j);
		return pl_route_fail(r, e);
	}
	if (j->kind == A_PULL) { /* the stream starts now: errors come as its last line */
		j->started = true;
		park(r, j);
		j->refs++;
		pl_reply_stream(r, 200, "application/x-ndjson", produce, j, stream_gone);
		return;
	}
	if (stream) {
		/* the preface phase holds a reference, which the stream then takes over */
		j->refs++;
		j->watch = pl_loop_watch(j->app->loop, j->rfd, EPOLLIN, on_preface, j, NULL);
	}
	park(r, j);
}

/* The export, changes, GET and HEAD handlers: a job of the kind, submitted (a bad request
 * is answered by ajob_new). */
static void start_job(pl_req_t *r, void *app, ajob_kind_t kind, bool need_path)
{
	ajob_t *j = ajob_new(r, app, kind, need_path);
	if (j)
		submit(r, j);
}

static void h_container_export(pl_req_t *r, void *app)
{
	start_job(r, app, A_EXPORT, false);
}

static void h_container_changes(pl_req_t *r, void *app)
{
	start_job(r, app, A_CHANGES, false);
}

static void h_archive_get(pl_req_t *r, void *app)
{
	start_job(r, app, A_GET, true);
}

static void h_archive_head(pl_req_t *r, void *app)
{
	start_job(r, app, A_STAT, true);
}

static void h_archive_put(pl_req_t *r, void *app)
{
	int fd = pl_req_body_fd(r);
	if (fd < 0) {
		pl_error_t *e = NULL;
		pl_error_set(&e, PL_ERR_INVALID, 0, "a tar body is required");
		return pl_route_fail(r, e);
	}
	ajob_t *j = ajob_new(r, app, A_PUT, true);
	if (!j)
		return;
	j->in_fd = fd;
	submit(r, j);
}

/* POST /commit?container=ID[&repo=NAME[&tag=TAG]], body {"changes","comment","author"}. */
static void h_container_commit(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	const char *ref = pl_req_query(r, "container");
	if (!ref || !*ref) {
		pl_error_set(&e, PL_ERR_INVALID, 0, "container: ?container=ID or name is required");
		return pl_route_fail(r, e);
	}
	const char *repo = pl_req_query(r, "repo"), *tag = pl_req_query(r, "tag");
	if (tag && *tag && !(repo && *repo)) {
		pl_error_set(&e, PL_ERR_INVALID, 0, "tag: a tag needs a repo");
		return pl_route_fail(r, e);
	}
	if (tag && *tag && (strchr(tag, ':') || strchr(tag, '/') || strchr(tag, '@'))) {
		pl_error_set(&e, PL_ERR_INVALID, 0, "tag \"%s\" is not a valid tag", tag);
		return pl_route_fail(r, e);
	}
	_cleanup_json_ json_t *body = NULL;
	const char *comment = NULL, *author = NULL, *created_by = NULL;
	json_t *changes = NULL;
	if (pl_req_has_body(r)) {
		static const char *const keys[] = {"changes",	 "comment",	"author",
						   "created_by", "empty_layer", NULL};
		body = pl_req_json(r, &e);
		if (!body || pl_json_check_keys(body, "commit", keys, &e) < 0 ||
		    pl_json_get_string(body, "comment", &comment, &e) < 0 ||
		    pl_json_get_string(body, "created_by", &created_by, &e) < 0 ||
		    pl_json_get_string(body, "author", &author, &e) < 0)
			return pl_route_fail(r, e);
		changes = json_object_get(body, "changes");
		if (changes && pl_commit_check_changes(changes, &e) < 0)
			return pl_route_fail(r, e);
	}
	pl_container_t *c = NULL;
	ajob_t *j = ajob_new_for(r, app, A_COMMIT, false, ref, &c);
	if (!j)
		return;
	pl_commit_opts_t *o = &j->commit;
	if (pl_container_commit_opts(app->pl, c, o, &e) < 0) {
		ajob_unref(j);
		return pl_route_fail(r, e);
	}
	o->changes = changes ? json_deep_copy(changes) : NULL;
	/* Docker's shape carries them as query parameters */
	if (!comment)
		comment = pl_req_query(r, "comment");
	if (!author)
		author = pl_req_query(r, "author");
	o->comment = comment && *comment ? pl_xstrdup(comment) : NULL;
	o->author = author && *author ? pl_xstrdup(author) : NULL;
	o->created_by = created_by ? pl_xstrdup(created_by) : NULL;
	o->empty_layer = json_is_true(json_object_get(body, "empty_layer"));
	if (repo && *repo)
		o->name = tag && *tag ? pl_xasprintf("%s:%s", repo, tag) : pl_xstrdup(repo);
	submit(r, j);
}

void pl_pull_stream(pl_req_t *r, void *data, const char *ref, const char *platform,
		    const char *username, const char *password, bool insecure)
{
	pl_app_t *app = data;
	ajob_t *j = pl_xcalloc(1, sizeof(*j));
	j->refs = 1;
	j->app = app;
	j->req = r;
	j->kind = A_PULL;
	j->pidfd = j->in_fd = j->rfd = j->wfd = -1;
	j->ref = pl_xstrdup(ref);
	j->platform = platform && *platform ? pl_xstrdup(platform) : NULL;
	j->username = username && *username ? pl_xstrdup(username) : NULL;
	j->password = password ? pl_xstrdup(password) : NULL;
	j->insecure = insecure;
	submit(r, j);
}

void pl_save_stream(pl_req_t *r, void *data, json_t *images, bool oci)
{
	pl_app_t *app = data;
	ajob_t *j = pl_xcalloc(1, sizeof(*j));
	j->refs = 1;
	j->app = app;
	j->req = r;
	j->kind = A_SAVE;
	j->pidfd = j->in_fd = j->rfd = j->wfd = -1;
	j->save = images;
	j->oci = oci;
	submit(r, j);
}

const pl_route_t pl_routes_archive[] = {
    {"GET", "/containers/{id}/export", h_container_export},
    {"GET", "/containers/{id}/changes", h_container_changes},
    {"GET", "/containers/{id}/archive", h_archive_get},
    {"HEAD", "/containers/{id}/archive", h_archive_head},
    {"PUT", "/containers/{id}/archive", h_archive_put, true},
    {"POST", "/commit", h_container_commit},
    {NULL, NULL, NULL},
};
