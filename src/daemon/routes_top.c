/* SPDX-License-Identifier: Apache-2.0 */
/* GET /containers/{id}/top: the process list tether gathers inside the domain. The request
 * waits for tether's TOP (the library's change notification says when it arrived), at most
 * 10 s. */
#include "daemon/routes.h"
#include "common/json.h"

typedef struct top_wait {
	pl_waiter_t w;
	uint64_t target; /* settled once this many answers have arrived */
} top_wait_t;

static void top_wait_changed(pl_waiter_t *w, pl_container_t *c)
{
	top_wait_t *t = (top_wait_t *)w;
	pl_error_t *e = NULL;
	if (pl_container_top_seq(c) >= t->target) {
		json_t *top = pl_container_top_json(c);
		const char *err = json_string_value(json_object_get(top, "error"));
		if (!err)
			return pl_reply_json(w->req, 200, top);
		pl_error_set(&e, PL_ERR_INTERNAL, 0, "container %.12s: top: %s", w->id, err);
		json_decref(top);
		return pl_route_fail(w->req, e);
	}
	if (!pl_container_is_running(c) || pl_container_status(c) == PL_STATUS_REMOVING) {
		pl_error_set(&e, PL_ERR_CONFLICT, 0, "container %.12s stopped", w->id);
		pl_route_fail(w->req, e);
	}
}

static const pl_waiter_type_t top_wait_type = {.changed = top_wait_changed};

static void on_top_timeout(pl_loop_t *loop, void *data)
{
	pl_waiter_t *w = data;
	w->timer = NULL;
	pl_error_t *e = NULL;
	pl_error_set(&e, PL_ERR_TIMEOUT, 0, "container %.12s: tether did not answer", w->id);
	pl_route_fail(w->req, e);
}

static void h_container_top(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = pl_route_container(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	uint64_t target = pl_container_top_request(c, &e);
	if (!target)
		return pl_route_fail(r, e);
	top_wait_t *t = pl_waiter_new(sizeof(*t), &top_wait_type, app, r, pl_container_id(c));
	t->target = target;
	pl_waiter_park_until(&t->w, 10, on_top_timeout);
}

const pl_route_t pl_routes_top[] = {
    {"GET", "/containers/{id}/top", h_container_top},
    {NULL, NULL, NULL},
};
