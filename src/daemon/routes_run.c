/* SPDX-License-Identifier: Apache-2.0 */
/* POST /containers?follow=1: create, start, then the output and the exit status, in one
 * request. A foreground run (plctl run) otherwise needs a logs follow, a wait and, for --rm,
 * a remove after the create; with auto_remove set the container may be gone before any of
 * them arrives, so only a request that is there from the start can be sure to see its exit
 * status. The answer is the multiplexed stream of GET /containers/{id}/logs with two more
 * frames on stream 3, each one JSON object: {"id": ...} first, the exit status (what POST
 * /containers/{id}/wait answers) last. A stream that ends without the last frame did not
 * see the exit (the daemon is shutting down).
 *
 * The follower is on its own list (app->runs) rather than only among the parked requests:
 * a stream being written is not parked, and the exit of an auto_remove container is told
 * once, just before the container goes. */
#include "daemon/routes_run.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "portlayer/api.h"
#include "portlayer/logs.h"

#include <string.h>
#include <sys/inotify.h>

#define STATUS_STREAM 3

typedef struct run_follow {
	pl_waiter_t w;
	struct run_follow *next, **pprev; /* app->runs */
	pl_log_cursor_t *cursor;
	bool auto_remove; /* its exit is final once it is being removed */
	bool ending;	  /* the daemon is going: end without the status */
	bool status_sent;
	json_t *exit; /* the exit status, once it stopped */
	char *ctl;    /* a status frame being written */
	size_t ctl_len, ctl_pos;
} run_follow_t;

static void follow_wake(pl_waiter_t *w)
{
	pl_req_wake(w->req);
}

static void follow_shutdown(pl_waiter_t *w)
{
	run_follow_t *f = (run_follow_t *)w;
	if (pl_req_is_streaming(w->req)) { /* else: still starting, answered 500 */
		f->ending = true;
		follow_wake(w);
	}
}

static void follow_clear(pl_waiter_t *w)
{
	run_follow_t *f = (run_follow_t *)w;
	if (f->pprev) {
		*f->pprev = f->next;
		if (f->next)
			f->next->pprev = f->pprev;
	}
	pl_log_close(f->cursor);
	json_decref(f->exit);
	free(f->ctl);
}

static const pl_waiter_type_t follow_type = {
    .log_grew = follow_wake, .shutdown = follow_shutdown, .clear = follow_clear};

/* A stream-3 frame of obj (taken) to write next. */
static void queue_status_frame(run_follow_t *f, json_t *obj)
{
	_cleanup_free_ char *text = pl_json_dump(obj);
	json_decref(obj);
	size_t n = strlen(text);
	free(f->ctl);
	f->ctl = pl_xmalloc(8 + n);
	uint8_t h[8] = {STATUS_STREAM,	   0,	      0, 0, (uint8_t)(n >> 24), (uint8_t)(n >> 16),
			(uint8_t)(n >> 8), (uint8_t)n};
	memcpy(f->ctl, h, 8);
	memcpy(f->ctl + 8, text, n);
	f->ctl_len = 8 + n;
	f->ctl_pos = 0;
}

static ssize_t follow_produce(pl_req_t *r, char *buf, size_t max, void *data)
{
	run_follow_t *f = data;
	if (f->ctl_pos < f->ctl_len)
		return (ssize_t)pl_buf_take(buf, max, f->ctl, f->ctl_len, &f->ctl_pos);
	ssize_t n = pl_log_read(f->cursor, buf, max);
	if (n > 0)
		return n;
	if (n < 0)
		return -2; /* the client must not take the output as complete */
	if (f->status_sent || f->ending)
		return -1;
	if (!f->exit)
		return 0; /* parked until the log grows or it exits */
	/* everything it wrote is in the log by now: its writer (tether) has gone */
	f->status_sent = true;
	queue_status_frame(f, json_incref(f->exit));
	return follow_produce(r, buf, max, data);
}

/* Started: the answer becomes the stream, from the log's first byte. */
static void begin_stream(run_follow_t *f)
{
	pl_app_t *app = f->w.app;
	pl_req_t *r = f->w.req;
	pl_error_t *e = NULL;
	pl_container_t *c = pl_container_find(app->pl, f->w.id, &e);
	if (c) {
		pl_log_opts_t o = {.out = true, .err = true, .tail = -1};
		f->cursor = pl_log_open(pl_container_dirfd(c), &o, &e);
	}
	if (!f->cursor) {
		pl_error_wrap(&e, "follow container %.12s", f->w.id);
		return pl_route_fail(r, e);
	}
	/* the directory, not the file: a rotated log is a new container.log */
	if (inotify_add_watch(app->inotify_fd, pl_container_dir(c), IN_MODIFY | IN_CREATE) < 0)
		pl_log_warn("inotify %s: %m", pl_container_dir(c));
	queue_status_frame(f, json_pack("{s:s}", "id", f->w.id));
	pl_req_set_wait_free(r, NULL); /* the stream frees f from now on */
	pl_waiter_stream(&f->w, "application/vnd.docker.multiplexed-stream", follow_produce);
}

static void on_started(pl_portlayer_t *pl, const char *id, const pl_error_t *err, void *data)
{
	run_follow_t *f = (run_follow_t *)pl_waiter_unlink(data);
	if (!f) /* the client is gone */
		return;
	if (err)
		return pl_reply_error(f->w.req, err);
	begin_stream(f);
}

void pl_route_run_follow(pl_app_t *app, pl_req_t *r, const json_t *body)
{
	pl_error_t *e = NULL;
	run_follow_t *f = pl_waiter_new(sizeof(*f), &follow_type, app, r, NULL);
	f->auto_remove = json_is_true(json_object_get(body, "auto_remove"));
	int progress;
	/* a failed start leaves the container to inspect, as a start of a created one does,
	 * unless it is to be removed anyway */
	pl_container_t *c = pl_container_run_keep(app->pl, body, !f->auto_remove, &progress,
						  on_started, pl_waiter_link(&f->w), &e);
	if (!c || progress != PL_STATE_STARTING)
		pl_waiter_link_unused(&f->w); /* on_started will not be called */
	if (!c) {
		pl_waiter_free(&f->w);
		return pl_route_fail(r, e);
	}
	snprintf(f->w.id, sizeof(f->w.id), "%s", pl_container_id(c));
	pl_log_info("created container %.12s (starting, followed)", f->w.id);
	f->next = app->runs;
	if (f->next)
		f->next->pprev = &f->next;
	f->pprev = &app->runs;
	app->runs = f;
	pl_waiter_park(&f->w);
	if (progress != PL_STATE_STARTING)
		begin_stream(f);
}

void pl_routes_run_changed(pl_app_t *app, pl_container_t *c)
{
	const char *id = pl_container_id(c);
	for (run_follow_t *f = app->runs; f; f = f->next) {
		if (f->exit || strcmp(f->w.id, id) != 0)
			continue;
		/* an auto_remove container's exit is told once more as it goes: the client's
		 * answer ends after it is gone, as `docker run --rm` returns */
		bool removing = pl_container_status(c) == PL_STATUS_REMOVING;
		if (!removing && (f->auto_remove || pl_container_exits(c) == 0))
			continue;
		f->exit = pl_container_exit_json(c);
		follow_wake(&f->w);
	}
}
