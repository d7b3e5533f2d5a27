/* Route handlers: HTTP requests → libportlayer calls. Requests that wait on a container
 * (start, stop, wait, logs -f) are parked with a waiter and settled from the library's
 * change notifications, a timer, or inotify on the container's log. */
#include "daemon/routes.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "mechanism/mechanism.h"
#include "portlayer/logs.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

typedef enum wait_kind {
	W_START,
	W_EXIT, /* wait and stop: settled when the exit counter passes target */
	W_LOGS,
} wait_kind_t;

typedef struct waiter {
	wait_kind_t kind;
	pl_app_t *app;
	pl_req_t *req;
	char id[PL_ID_LEN + 1];
	uint64_t target;    /* W_EXIT: settled once exits >= target */
	bool reply_status;  /* W_EXIT: answer with the exit status (wait) or 204 (stop) */
	pl_timer_t *timer;
	pl_log_cursor_t *cursor; /* W_LOGS */
	bool follow;
} waiter_t;

static void waiter_free(void *data)
{
	waiter_t *w = data;
	if (!w)
		return;
	w->timer = pl_loop_timer_cancel(w->app->loop, w->timer);
	free(w);
}

static waiter_t *waiter_new(pl_app_t *app, pl_req_t *req, wait_kind_t kind, const char *id)
{
	waiter_t *w = pl_xcalloc(1, sizeof(*w));
	w->kind = kind;
	w->app = app;
	w->req = req;
	snprintf(w->id, sizeof(w->id), "%s", id);
	return w;
}

static void park(waiter_t *w)
{
	pl_req_park(w->req, w);
	pl_req_set_wait_free(w->req, waiter_free);
}

static void fail(pl_req_t *r, pl_error_t *e)
{
	pl_reply_error(r, e);
	pl_error_free(e);
}

static pl_container_t *lookup(pl_req_t *r, pl_app_t *app)
{
	pl_error_t *e = NULL;
	pl_container_t *c = pl_container_find(app->pl, pl_req_param(r), &e);
	if (!c)
		fail(r, e);
	return c;
}

/* --- system --- */

static void h_ping(pl_req_t *r, void *app)
{
	pl_reply_text(r, 200, "OK");
}

static void h_info(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_counts_t n = pl_portlayer_counts(app->pl);
	json_t *mechs = json_array();
	for (const pl_mechanism_t *const *m = pl_mechanisms_all(); *m; m++) {
		const char *reason = NULL;
		bool ok = (*m)->available(*m, &reason);
		json_t *j = json_pack("{s:s, s:s, s:b}", "name", (*m)->name, "kernel",
				      pl_kernel_name((*m)->kernel), "available", ok);
		if (!ok && reason)
			json_object_set_new(j, "reason", json_string(reason));
		json_array_append_new(mechs, j);
	}
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	pl_reply_json(r, 200,
		      json_pack("{s:s, s:s, s:s, s:s, s:o, s:{s:i, s:i, s:i, s:i}}", "version",
				PL_VERSION, "api_version", PL_API_VERSION, "host", host,
				"cgroup_layout", pl_linux_cgroup_layout(), "mechanisms", mechs,
				"containers", "total", n.total, "created", n.created, "running",
				n.running, "stopped", n.stopped));
}

/* --- containers --- */

static void h_list(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	json_t *arr = json_array();
	for (pl_container_t *c = pl_container_first(app->pl); c; c = pl_container_next(c))
		json_array_append_new(arr, pl_container_summary_json(c));
	pl_reply_json(r, 200, arr);
}

static void h_create(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *body = pl_req_json(r, &e);
	if (!body)
		return fail(r, e);
	pl_container_t *c = pl_container_create(app->pl, body, &e);
	if (!c)
		return fail(r, pl_error_wrap(&e, "create container") ? e : e);
	/* the handle model arrives with the handles work; until then the handle names the
	 * container's first config version */
	char handle[PL_ID_LEN + 8];
	snprintf(handle, sizeof(handle), "%s.1", pl_container_id(c));
	pl_log_info("created container %.12s", pl_container_id(c));
	pl_reply_json(r, 201, json_pack("{s:s, s:s}", "id", pl_container_id(c), "handle", handle));
}

static void h_inspect(pl_req_t *r, void *data)
{
	pl_container_t *c = lookup(r, data);
	if (c)
		pl_reply_json(r, 200, pl_container_inspect_json(c));
}

static void on_started(pl_portlayer_t *pl, const char *id, const pl_error_t *err, void *data)
{
	waiter_t *w = data;
	if (err)
		pl_reply_error(w->req, err);
	else
		pl_reply_empty(w->req, 204);
}

static void h_start(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = lookup(r, app);
	if (!c)
		return;
	waiter_t *w = waiter_new(app, r, W_START, pl_container_id(c));
	pl_error_t *e = NULL;
	int rc = pl_container_start(app->pl, c, on_started, w, &e);
	if (rc != 0) {
		free(w);
		if (rc < 0)
			return fail(r, e);
		return pl_reply_empty(r, 304);
	}
	park(w);
}

/* Optional non-negative number of seconds; def when absent. */
static int query_seconds(pl_req_t *r, const char *key, double def, double *out, pl_error_t **e)
{
	const char *v = pl_req_query(r, key);
	*out = def;
	if (!v)
		return 0;
	char *end = NULL;
	errno = 0;
	double d = strtod(v, &end);
	if (!*v || *end || errno || !isfinite(d) || d < 0 || d > 1e9)
		return pl_error_set(e, PL_ERR_INVALID, 0,
				    "query parameter %s=\"%s\" must be a non-negative number of seconds",
				    key, v);
	*out = d;
	return 0;
}

static void on_wait_timeout(pl_loop_t *loop, void *data)
{
	waiter_t *w = data;
	w->timer = NULL;
	pl_error_t *e = NULL;
	pl_error_set(&e, PL_ERR_TIMEOUT, 0, "container %.12s is still running", w->id);
	fail(w->req, e);
}

static void settle_exit(waiter_t *w, pl_container_t *c)
{
	if (w->reply_status)
		pl_reply_json(w->req, 200, pl_container_exit_json(c));
	else
		pl_reply_empty(w->req, 204);
}

static void park_exit(pl_app_t *app, pl_req_t *r, pl_container_t *c, bool status, double timeout)
{
	waiter_t *w = waiter_new(app, r, W_EXIT, pl_container_id(c));
	w->target = pl_container_exits(c) + 1;
	w->reply_status = status;
	if (timeout >= 0) {
		pl_error_t *e = NULL;
		w->timer = pl_loop_timer(app->loop, (uint64_t)(timeout * 1000), on_wait_timeout, w, &e);
		if (!w->timer) {
			free(w);
			return fail(r, e);
		}
	}
	park(w);
}

static void h_wait(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = lookup(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	double timeout;
	if (query_seconds(r, "timeout", -1, &timeout, &e) < 0)
		return fail(r, e);
	const char *cond = pl_req_query(r, "condition");
	bool next_exit = cond && strcmp(cond, "next-exit") == 0;
	if (cond && !next_exit && strcmp(cond, "not-running") != 0) {
		pl_error_set(&e, PL_ERR_INVALID, 0,
			     "condition \"%s\" must be \"not-running\" or \"next-exit\"", cond);
		return fail(r, e);
	}
	if (!next_exit && !pl_container_is_running(c))
		return pl_reply_json(r, 200, pl_container_exit_json(c));
	park_exit(app, r, c, true, timeout);
}

static void h_stop(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = lookup(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	double timeout;
	if (query_seconds(r, "timeout", 10, &timeout, &e) < 0)
		return fail(r, e);
	if (!pl_container_is_running(c))
		return pl_reply_empty(r, 204);
	if (pl_container_stop(app->pl, c, (int64_t)ceil(timeout), &e) < 0)
		return fail(r, e);
	park_exit(app, r, c, false, -1);
}

static void h_kill(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = lookup(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	const char *name = pl_req_query(r, "signal");
	int signo = SIGKILL;
	if (name && pl_signal_parse(name, &signo) < 0) {
		pl_error_set(&e, PL_ERR_INVALID, 0, "invalid signal \"%s\"", name);
		return fail(r, e);
	}
	if (pl_container_kill(app->pl, c, signo, &e) < 0)
		return fail(r, e);
	pl_reply_empty(r, 204);
}

static void h_remove(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	bool force;
	if (pl_req_query_bool(r, "force", false, &force, &e) < 0)
		return fail(r, e);
	const char *ref = pl_req_param(r);
	pl_container_t *c = pl_container_find(app->pl, ref, &e);
	if (!c) {
		/* ids are never reused: a full id that is gone was removed already */
		if (pl_id_is_full(ref) && e->kind == PL_ERR_NOTFOUND) {
			pl_error_free(e);
			return pl_reply_empty(r, 204);
		}
		return fail(r, e);
	}
	_cleanup_free_ char *id = pl_xstrdup(pl_container_id(c));
	if (pl_container_remove(app->pl, c, force, &e) < 0)
		return fail(r, e);
	pl_log_info("removed container %.12s", id);
	pl_reply_empty(r, 204);
}

/* --- logs --- */

static ssize_t logs_produce(pl_req_t *r, char *buf, size_t max, void *data)
{
	waiter_t *w = data;
	ssize_t n = pl_log_read(w->cursor, buf, max);
	if (n != 0)
		return n;
	if (!w->follow)
		return -1;
	pl_container_t *c = pl_container_find(w->app->pl, w->id, NULL);
	if (!c || !pl_container_is_running(c))
		return -1;
	return 0;
}

static void logs_free(void *data)
{
	waiter_t *w = data;
	pl_log_close(w->cursor);
	waiter_free(w);
}

static int parse_time_param(pl_req_t *r, const char *key, int64_t *out, pl_error_t **e)
{
	const char *v = pl_req_query(r, key);
	*out = 0;
	if (!v || !*v || strcmp(v, "0") == 0)
		return 0;
	if (pl_time_parse(v, out) < 0)
		return pl_error_set(e, PL_ERR_INVALID, 0,
				    "query parameter %s=\"%s\" must be RFC 3339 or unix seconds",
				    key, v);
	return 0;
}

static void h_logs(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = lookup(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	pl_log_opts_t o = {.tail = -1};
	bool follow;
	if (pl_req_query_bool(r, "follow", false, &follow, &e) < 0 ||
	    pl_req_query_bool(r, "stdout", true, &o.out, &e) < 0 ||
	    pl_req_query_bool(r, "stderr", true, &o.err, &e) < 0 ||
	    pl_req_query_bool(r, "timestamps", false, &o.timestamps, &e) < 0 ||
	    parse_time_param(r, "since", &o.since_ns, &e) < 0 ||
	    parse_time_param(r, "until", &o.until_ns, &e) < 0)
		return fail(r, e);
	const char *tail = pl_req_query(r, "tail");
	if (tail && *tail && strcmp(tail, "all") != 0) {
		int64_t t;
		if (pl_parse_int64(tail, 0, INT32_MAX, &t) < 0) {
			pl_error_set(&e, PL_ERR_INVALID, 0,
				     "query parameter tail=\"%s\" must be a number or \"all\"", tail);
			return fail(r, e);
		}
		o.tail = (long)t;
	}
	waiter_t *w = waiter_new(app, r, W_LOGS, pl_container_id(c));
	w->follow = follow;
	w->cursor = pl_log_open(pl_container_dirfd(c), &o, &e);
	if (!w->cursor) {
		free(w);
		return fail(r, e);
	}
	if (follow) {
		_cleanup_free_ char *path = pl_xasprintf("%s/container.log", pl_container_dir(c));
		if (inotify_add_watch(app->inotify_fd, path, IN_MODIFY) < 0)
			pl_log_warn("inotify %s: %m", path);
	}
	w->req = r;
	pl_req_park(r, w);
	pl_reply_stream(r, 200, "application/vnd.docker.multiplexed-stream", logs_produce, w,
			logs_free);
}

/* --- change notifications --- */

static void on_change(pl_portlayer_t *pl, pl_container_t *c, void *data)
{
	pl_app_t *app = data;
	const char *id = pl_container_id(c);
	bool gone = pl_container_status(c) == PL_STATUS_REMOVING;
	pl_req_t *next;
	for (pl_req_t *r = pl_http_parked_first(app->http); r; r = next) {
		next = pl_req_parked_next(r);
		waiter_t *w = pl_req_wait_data(r);
		if (!w || strcmp(w->id, id) != 0)
			continue;
		if (w->kind == W_LOGS) {
			pl_req_wake(r);
		} else if (w->kind == W_EXIT) {
			if (pl_container_exits(c) >= w->target) {
				settle_exit(w, c);
			} else if (gone) {
				pl_error_t *e = NULL;
				pl_error_set(&e, PL_ERR_NOTFOUND, 0, "container %.12s was removed", id);
				fail(r, e);
			}
		}
	}
}

static void on_inotify(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	pl_app_t *app = data;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pl_req_t *next;
	for (pl_req_t *r = pl_http_parked_first(app->http); r; r = next) {
		next = pl_req_parked_next(r);
		waiter_t *w = pl_req_wait_data(r);
		if (w && w->kind == W_LOGS)
			pl_req_wake(r);
	}
}

static const pl_route_t routes[] = {
	{"GET", "/_ping", h_ping},
	{"GET", "/info", h_info},
	{"GET", "/containers", h_list},
	{"POST", "/containers", h_create},
	{"GET", "/containers/{id}", h_inspect},
	{"DELETE", "/containers/{id}", h_remove},
	{"POST", "/containers/{id}/start", h_start},
	{"POST", "/containers/{id}/stop", h_stop},
	{"POST", "/containers/{id}/kill", h_kill},
	{"POST", "/containers/{id}/wait", h_wait},
	{"GET", "/containers/{id}/logs", h_logs},
	{NULL, NULL, NULL},
};

int pl_routes_init(pl_app_t *app, int listen_fd, pl_error_t **err)
{
	app->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (app->inotify_fd < 0)
		return pl_error_errno(err, "inotify_init");
	if (!pl_loop_watch(app->loop, app->inotify_fd, EPOLLIN, on_inotify, app, err))
		return -1;
	app->http = pl_http_new(app->loop, listen_fd, routes, app, err);
	if (!app->http)
		return -1;
	pl_portlayer_on_change(app->pl, on_change, app);
	return 0;
}

void pl_routes_shutdown(pl_app_t *app)
{
	/* answer whoever still waits: the daemon is going, the containers are not */
	pl_req_t *r;
	while ((r = pl_http_parked_first(app->http))) {
		pl_error_t *e = NULL;
		pl_error_set(&e, PL_ERR_INTERNAL, 0, "the daemon is shutting down");
		waiter_t *w = pl_req_wait_data(r);
		if (w && w->kind == W_LOGS) {
			/* the stream ends at its next read */
			w->follow = false;
			pl_req_wake(r);
			pl_error_free(e);
			continue;
		}
		fail(r, e);
	}
	app->http = pl_http_free(app->http);
	if (app->inotify_fd >= 0)
		close(app->inotify_fd);
}
