/* SPDX-License-Identifier: Apache-2.0 */
/* wait?condition=removed answers with the exit status once the container is gone (the change
 * notification of its removal still has it); wait?condition=healthy answers with
 * state.health once a check passed, 409 when the container stops or goes first. */
#include "daemon/routes_wait.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "portlayer/health.h"

#include <string.h>

typedef struct cond_wait {
	pl_waiter_t w;
	bool healthy; /* else: removed */
} cond_wait_t;

/* Answers if the wait is settled; true then. */
static bool settle(cond_wait_t *x, pl_container_t *c)
{
	pl_waiter_t *w = &x->w;
	bool gone = pl_container_status(c) == PL_STATUS_REMOVING;
	if (!x->healthy) {
		if (gone)
			pl_reply_json(w->req, 200, pl_container_exit_json(c));
		return gone;
	}
	const char *st = gone ? NULL : pl_health_status(c);
	if (st && !strcmp(st, "healthy")) {
		pl_reply_json(w->req, 200, pl_health_json(c));
		return true;
	}
	if (gone || !pl_container_is_running(c)) {
		pl_error_t *e = NULL;
		pl_error_set(&e, PL_ERR_CONFLICT, 0, "container %.12s %s before it was healthy",
			     w->id, gone ? "was removed" : "stopped");
		pl_route_fail(w->req, e);
		return true;
	}
	return false;
}

static void cond_wait_changed(pl_waiter_t *w, pl_container_t *c)
{
	settle((cond_wait_t *)w, c);
}

static const pl_waiter_type_t cond_wait_type = {.changed = cond_wait_changed};

static void on_timeout(pl_loop_t *loop, void *data)
{
	cond_wait_t *x = data;
	x->w.timer = NULL;
	pl_error_t *e = NULL;
	pl_error_set(&e, PL_ERR_TIMEOUT, 0, "container %.12s %s", x->w.id,
		     x->healthy ? "is not healthy yet" : "still exists");
	pl_route_fail(x->w.req, e);
}

void pl_route_wait_condition(pl_app_t *app, pl_req_t *r, pl_container_t *c, const char *cond,
			     double timeout)
{
	bool healthy = !strcmp(cond, "healthy");
	_cleanup_json_ json_t *health = healthy ? pl_health_json(c) : NULL;
	if (healthy && !health) {
		pl_error_t *e = NULL;
		pl_error_set(&e, PL_ERR_INVALID, 0, "container %.12s has no health check",
			     pl_container_id(c));
		return pl_route_fail(r, e);
	}
	cond_wait_t *x = pl_waiter_new(sizeof(*x), &cond_wait_type, app, r, pl_container_id(c));
	x->healthy = healthy;
	if (healthy && settle(x, c)) {
		pl_waiter_free(&x->w);
		return;
	}
	pl_waiter_park_until(&x->w, timeout, on_timeout);
}
