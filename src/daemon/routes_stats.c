/* SPDX-License-Identifier: Apache-2.0 */
/* GET /containers/{id}/stats: one sample, or a stream of one a second. Where the figures
 * come from inside the domain (a VM), each sample waits for tether's answer (the container
 * changes when it arrives), with a deadline after which the host's figures go out. */
#include "daemon/routes.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"

#include <string.h>

#define GUEST_STATS_TIMEOUT_MS	   3000
#define GUEST_STATS_STREAM_WAIT_MS 1000

/* --- a stream of samples --- */

typedef struct stats_stream {
	pl_waiter_t w;
	uint64_t target; /* the guest's answer waited for (0: none) */
	char *buf;	 /* sample lines not yet taken */
	size_t len, off, cap;
	bool done;
} stats_stream_t;

static void stats_sample(stats_stream_t *s);

/* A sample whose figures tether was asked for did not come in time: the last known ones
 * (or the host's) go out instead. */
static void on_stats_late(pl_loop_t *loop, void *data)
{
	stats_stream_t *s = data;
	s->w.timer = NULL;
	s->target = 0;
	stats_sample(s);
	pl_req_wake(s->w.req);
}

/* The next sample: now, or once tether's answer arrives (stats_changed) or
 * GUEST_STATS_STREAM_WAIT_MS passed. */
static void stats_next(stats_stream_t *s)
{
	pl_container_t *c = pl_container_find(s->w.app->pl, s->w.id, NULL);
	uint64_t target = c ? pl_container_stats_request(c) : 0;
	if (target) {
		s->target = target;
		s->w.timer = pl_loop_timer(s->w.app->loop, GUEST_STATS_STREAM_WAIT_MS,
					   on_stats_late, s, NULL);
		if (s->w.timer)
			return;
		s->target = 0;
	}
	stats_sample(s);
}

static void on_stats_tick(pl_loop_t *loop, void *data)
{
	stats_stream_t *s = data;
	s->w.timer = NULL;
	stats_next(s);
	pl_req_wake(s->w.req);
}

/* Appends one sample line, or ends the stream when the container is not running. */
static void stats_sample(stats_stream_t *s)
{
	pl_container_t *c = pl_container_find(s->w.app->pl, s->w.id, NULL);
	json_t *j = c ? pl_container_stats_json(c, NULL) : NULL;
	if (!j) {
		s->done = true;
		return;
	}
	char *line = pl_json_dump(j);
	json_decref(j);
	size_t n = strlen(line);
	if (s->len - s->off < 64 * 1024) { /* a reader that does not read loses samples */
		if (s->len + n + 1 > s->cap) {
			s->cap = (s->len + n + 1) * 2;
			s->buf = pl_xrealloc(s->buf, s->cap);
		}
		memcpy(s->buf + s->len, line, n);
		s->buf[s->len + n] = '\n';
		s->len += n + 1;
	}
	free(line);
	s->w.timer = pl_loop_timer(s->w.app->loop, 1000, on_stats_tick, s, NULL);
}

static ssize_t stats_produce(pl_req_t *r, char *buf, size_t max, void *data)
{
	stats_stream_t *s = data;
	size_t n = s->len - s->off;
	if (n == 0)
		return s->done ? -1 : 0;
	if (n > max)
		n = max;
	memcpy(buf, s->buf + s->off, n);
	s->off += n;
	if (s->off == s->len)
		s->off = s->len = 0;
	return (ssize_t)n;
}

static void stats_stream_changed(pl_waiter_t *w, pl_container_t *c)
{
	stats_stream_t *s = (stats_stream_t *)w;
	if (s->target && (pl_container_stats_seq(c) >= s->target || !pl_container_is_running(c))) {
		w->timer = pl_loop_timer_cancel(w->app->loop, w->timer);
		s->target = 0;
		stats_sample(s);
		pl_req_wake(w->req);
	}
}

static void stats_stream_shutdown(pl_waiter_t *w)
{
	((stats_stream_t *)w)->done = true;
	pl_req_wake(w->req);
}

static void stats_stream_clear(pl_waiter_t *w)
{
	free(((stats_stream_t *)w)->buf);
}

static const pl_waiter_type_t stats_stream_type = {.changed = stats_stream_changed,
						   .shutdown = stats_stream_shutdown,
						   .clear = stats_stream_clear};

/* --- one sample from inside the domain --- */

typedef struct guest_stats_wait {
	pl_waiter_t w;
	uint64_t target; /* settled once tether's answer `target` arrived */
} guest_stats_wait_t;

/* The guest's figures when they came, the host's if not. */
static void settle_guest_stats(pl_waiter_t *w)
{
	pl_error_t *e = NULL;
	pl_container_t *c = pl_container_find(w->app->pl, w->id, &e);
	json_t *j = c ? pl_container_stats_json(c, &e) : NULL;
	if (!j)
		return pl_route_fail(w->req, e);
	pl_reply_json(w->req, 200, j);
}

static void guest_stats_changed(pl_waiter_t *w, pl_container_t *c)
{
	if (pl_container_stats_seq(c) >= ((guest_stats_wait_t *)w)->target ||
	    !pl_container_is_running(c))
		settle_guest_stats(w);
}

static const pl_waiter_type_t guest_stats_type = {.changed = guest_stats_changed};

static void on_guest_stats_timeout(pl_loop_t *loop, void *data)
{
	pl_waiter_t *w = data;
	w->timer = NULL;
	settle_guest_stats(w);
}

static void h_container_stats(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = pl_route_container(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	bool stream;
	if (pl_req_query_bool(r, "stream", true, &stream, &e) < 0)
		return pl_route_fail(r, e);
	if (!stream) {
		/* figures from inside the domain: answered when tether's arrive, or from the
		 * host after GUEST_STATS_TIMEOUT_MS (an unresponsive guest) */
		uint64_t target = pl_container_stats_request(c);
		if (target) {
			guest_stats_wait_t *g = pl_waiter_new(sizeof(*g), &guest_stats_type, app, r,
							      pl_container_id(c));
			g->target = target;
			pl_waiter_park_until(&g->w, GUEST_STATS_TIMEOUT_MS / 1000.0,
					     on_guest_stats_timeout);
			return;
		}
	}
	json_t *first = pl_container_stats_json(c, &e);
	if (!first)
		return pl_route_fail(r, e);
	if (!stream)
		return pl_reply_json(r, 200, first);
	json_decref(first);
	stats_stream_t *s =
	    pl_waiter_new(sizeof(*s), &stats_stream_type, app, r, pl_container_id(c));
	stats_next(s);
	pl_waiter_stream(&s->w, "application/x-ndjson", stats_produce);
}

const pl_route_t pl_routes_stats[] = {
    {"GET", "/containers/{id}/stats", h_container_stats},
    {NULL, NULL, NULL},
};
