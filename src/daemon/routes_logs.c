/* SPDX-License-Identifier: Apache-2.0 */
/* A container's log as a stream: what is there, and with follow=1 what comes while the
 * container runs (woken by inotify on the log file and by the container's changes). */
#include "daemon/routes_logs.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "portlayer/logs.h"

#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

typedef struct logs_wait {
	pl_waiter_t w;
	pl_log_cursor_t *cursor;
	bool follow;
} logs_wait_t;

static void logs_wake(pl_waiter_t *w)
{
	pl_req_wake(w->req);
}

static void logs_changed(pl_waiter_t *w, pl_container_t *c)
{
	logs_wake(w);
}

/* the stream ends at its next read */
static void logs_shutdown(pl_waiter_t *w)
{
	((logs_wait_t *)w)->follow = false;
	logs_wake(w);
}

static void logs_clear(pl_waiter_t *w)
{
	pl_log_close(((logs_wait_t *)w)->cursor);
}

static const pl_waiter_type_t logs_wait_type = {
    .changed = logs_changed, .log_grew = logs_wake, .shutdown = logs_shutdown, .clear = logs_clear};

static ssize_t logs_produce(pl_req_t *r, char *buf, size_t max, void *data)
{
	logs_wait_t *l = data;
	ssize_t n = pl_log_read(l->cursor, buf, max);
	if (n != 0)
		return n;
	if (!l->follow)
		return -1;
	pl_container_t *c = pl_container_find(l->w.app->pl, l->w.id, NULL);
	if (!c || !pl_container_is_running(c))
		return -1;
	return 0;
}

static void h_container_logs(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = pl_route_container(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	pl_log_opts_t o = {.tail = -1};
	bool follow;
	if (pl_req_query_bool(r, "follow", false, &follow, &e) < 0 ||
	    pl_req_query_bool(r, "stdout", true, &o.out, &e) < 0 ||
	    pl_req_query_bool(r, "stderr", true, &o.err, &e) < 0 ||
	    pl_req_query_bool(r, "timestamps", false, &o.timestamps, &e) < 0 ||
	    pl_route_query_time(r, "since", &o.since_ns, &e) < 0 ||
	    pl_route_query_time(r, "until", &o.until_ns, &e) < 0)
		return pl_route_fail(r, e);
	const char *tail = pl_req_query(r, "tail");
	if (tail && *tail && strcmp(tail, "all") != 0) {
		int64_t t;
		if (pl_parse_int64(tail, 0, INT32_MAX, &t) < 0) {
			pl_error_set(&e, PL_ERR_INVALID, 0,
				     "query parameter tail=\"%s\" must be a number or \"all\"",
				     tail);
			return pl_route_fail(r, e);
		}
		o.tail = (long)t;
	}
	pl_log_cursor_t *cursor = pl_log_open(pl_container_dirfd(c), &o, &e);
	if (!cursor)
		return pl_route_fail(r, e);
	logs_wait_t *l = pl_waiter_new(sizeof(*l), &logs_wait_type, app, r, pl_container_id(c));
	l->follow = follow;
	l->cursor = cursor;
	if (follow) {
		/* the directory, not the file: a rotated log is a new container.log */
		const char *path = pl_container_dir(c);
		if (inotify_add_watch(app->inotify_fd, path, IN_MODIFY | IN_CREATE) < 0)
			pl_log_warn("inotify %s: %m", path);
	}
	pl_waiter_stream(&l->w, "application/vnd.docker.multiplexed-stream", logs_produce);
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
		pl_waiter_t *w = pl_req_wait_data(r);
		if (w && w->type->log_grew)
			w->type->log_grew(w);
	}
}

int pl_routes_logs_init(pl_app_t *app, pl_error_t **err)
{
	app->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (app->inotify_fd < 0)
		return pl_error_errno(err, "inotify_init");
	app->inotify_watch =
	    pl_loop_watch(app->loop, app->inotify_fd, EPOLLIN, on_inotify, app, err);
	if (!app->inotify_watch)
		return -1;
	return 0;
}

void pl_routes_logs_shutdown(pl_app_t *app)
{
	app->inotify_watch = pl_loop_unwatch(app->loop, app->inotify_watch);
	if (app->inotify_fd >= 0)
		close(app->inotify_fd);
	app->inotify_fd = -1;
}

const pl_route_t pl_routes_logs[] = {
    {"GET", "/containers/{id}/logs", h_container_logs},
    {NULL, NULL, NULL},
};
