/* SPDX-License-Identifier: Apache-2.0 */
/* Interaction with a container's processes: attach to its primary session, exec sessions
 * (create, start attached or detached, wait, remove), and terminal resizes. */
#include "daemon/routes.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"
#include "daemon/attach.h"
#include "portlayer/api.h"
#include "portlayer/session.h"

#include <stdio.h>

static int attach_opts(pl_req_t *r, pl_attach_opts_t *o, bool def_in, pl_error_t **e)
{
	bool stream;
	if (pl_req_query_bool(r, "stream", true, &stream, e) < 0 ||
	    pl_req_query_bool(r, "stdin", def_in, &o->in, e) < 0 ||
	    pl_req_query_bool(r, "stdout", true, &o->out, e) < 0 ||
	    pl_req_query_bool(r, "stderr", true, &o->err, e) < 0 ||
	    pl_req_query_bool(r, "logs", false, &o->logs, e) < 0)
		return -1;
	if (!stream)
		return pl_error_set(e, PL_ERR_INVALID, 0,
				    "stream=0: use GET /containers/{id}/logs for past output");
	o->detach_keys = pl_req_query(r, "detachKeys");
	o->close_stdin_on_eof = true;
	return 0;
}

static void h_container_attach(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = pl_route_container(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	pl_attach_opts_t o = {0};
	if (attach_opts(r, &o, false, &e) < 0)
		return pl_route_fail(r, e);
	/* a created (or stopped) container may be attached before its start: the stream
	 * carries its output from the first byte */
	if (pl_container_status(c) == PL_STATUS_REMOVING) {
		pl_error_set(&e, PL_ERR_CONFLICT, 0, "container %.12s is being removed",
			     pl_container_id(c));
		return pl_route_fail(r, e);
	}
	if (pl_attach_start(app, r, c, PL_SESSION_PRIMARY, &o, &e) < 0)
		return pl_route_fail(r, e);
}

static int query_size(pl_req_t *r, unsigned *rows, unsigned *cols, pl_error_t **e)
{
	int64_t h, w;
	if (pl_parse_int64(pl_req_query(r, "h"), 1, 10000, &h) < 0 ||
	    pl_parse_int64(pl_req_query(r, "w"), 1, 10000, &w) < 0)
		return pl_error_set(e, PL_ERR_INVALID, 0,
				    "resize needs h (rows) and w (columns), 1..10000");
	*rows = (unsigned)h;
	*cols = (unsigned)w;
	return 0;
}

static void h_container_resize(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = pl_route_container(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	unsigned rows, cols;
	if (query_size(r, &rows, &cols, &e) < 0 ||
	    pl_session_resize(c, PL_SESSION_PRIMARY, rows, cols, &e) < 0)
		return pl_route_fail(r, e);
	pl_reply_empty(r, 204);
}

static void h_exec_create(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = pl_route_container(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *body = pl_req_json(r, &e);
	pl_exec_t *ex = body ? pl_exec_create(app->pl, c, body, &e) : NULL;
	if (!ex)
		return pl_route_fail(r, e);
	pl_reply_json(r, 201, json_pack("{s:s}", "id", pl_exec_id(ex)));
}

static pl_exec_t *lookup_exec(pl_req_t *r, pl_app_t *app)
{
	pl_error_t *e = NULL;
	pl_exec_t *ex = pl_exec_find(app->pl, pl_req_param(r), &e);
	if (!ex)
		pl_route_fail(r, e);
	return ex;
}

/* A detached start waits for the library to say the process runs. */
static const pl_waiter_type_t exec_start_wait_type = {0};

static void on_exec_started(pl_portlayer_t *pl, const char *id, const pl_error_t *err, void *data)
{
	pl_waiter_t *w = pl_waiter_unlink(data);
	if (!w) /* the client is gone */
		return;
	if (err)
		pl_reply_error(w->req, err);
	else
		pl_reply_empty(w->req, 204);
}

static void h_exec_start(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_exec_t *ex = lookup_exec(r, app);
	if (!ex)
		return;
	pl_error_t *e = NULL;
	bool detach;
	if (pl_req_query_bool(r, "detach", false, &detach, &e) < 0)
		return pl_route_fail(r, e);
	if (pl_exec_running(ex) || pl_exec_exited(ex)) {
		pl_error_set(&e, PL_ERR_CONFLICT, 0, "exec %.12s was started already",
			     pl_exec_id(ex));
		return pl_route_fail(r, e);
	}
	if (detach) {
		pl_waiter_t *w = pl_waiter_new(sizeof(*w), &exec_start_wait_type, app, r,
					       pl_container_id(pl_exec_container(ex)));
		if (pl_exec_start_detached(app->pl, ex, on_exec_started, pl_waiter_link(w), &e) <
		    0) {
			pl_waiter_link_unused(w);
			pl_waiter_free(w);
			return pl_route_fail(r, e);
		}
		return pl_waiter_park(w);
	}
	pl_attach_opts_t o = {0};
	if (attach_opts(r, &o, true, &e) < 0)
		return pl_route_fail(r, e);
	o.exec_id = pl_exec_id(ex);
	if (pl_attach_start(app, r, pl_exec_container(ex), pl_exec_session(ex), &o, &e) < 0)
		return pl_route_fail(r, e);
}

static void h_exec_inspect(pl_req_t *r, void *data)
{
	pl_exec_t *ex = lookup_exec(r, data);
	if (ex)
		pl_reply_json(r, 200, pl_exec_inspect_json(ex));
}

static void h_exec_resize(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_exec_t *ex = lookup_exec(r, app);
	if (!ex)
		return;
	pl_error_t *e = NULL;
	unsigned rows, cols;
	if (query_size(r, &rows, &cols, &e) < 0 ||
	    pl_session_resize(pl_exec_container(ex), pl_exec_session(ex), rows, cols, &e) < 0)
		return pl_route_fail(r, e);
	pl_reply_empty(r, 204);
}

/* An exec's wait: settled when its process exited (its container changes then). */
typedef struct exec_wait {
	pl_waiter_t w;
	char exec_id[PL_ID_LEN + 1];
} exec_wait_t;

static void exec_wait_changed(pl_waiter_t *w, pl_container_t *c)
{
	exec_wait_t *x = (exec_wait_t *)w;
	pl_exec_t *ex = pl_exec_find(w->app->pl, x->exec_id, NULL);
	if (!ex)
		pl_reply_empty(w->req, 404);
	else if (!pl_exec_running(ex))
		pl_reply_json(w->req, 200, pl_exec_inspect_json(ex));
}

static const pl_waiter_type_t exec_wait_type = {.changed = exec_wait_changed};

static void on_exec_wait_timeout(pl_loop_t *loop, void *data)
{
	exec_wait_t *x = data;
	x->w.timer = NULL;
	pl_error_t *e = NULL;
	pl_error_set(&e, PL_ERR_TIMEOUT, 0, "exec %.12s is still running", x->exec_id);
	pl_route_fail(x->w.req, e);
}

static void h_exec_wait(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_exec_t *ex = lookup_exec(r, app);
	if (!ex)
		return;
	pl_error_t *e = NULL;
	double timeout;
	if (pl_route_query_seconds(r, "timeout", -1, &timeout, &e) < 0)
		return pl_route_fail(r, e);
	if (!pl_exec_running(ex))
		return pl_reply_json(r, 200, pl_exec_inspect_json(ex));
	exec_wait_t *x = pl_waiter_new(sizeof(*x), &exec_wait_type, app, r,
				       pl_container_id(pl_exec_container(ex)));
	snprintf(x->exec_id, sizeof(x->exec_id), "%s", pl_exec_id(ex));
	pl_waiter_park_until(&x->w, timeout, on_exec_wait_timeout);
}

static void h_exec_remove(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_exec_t *ex = lookup_exec(r, app);
	if (!ex)
		return;
	pl_error_t *e = NULL;
	if (pl_exec_remove(app->pl, ex, &e) < 0)
		return pl_route_fail(r, e);
	pl_reply_empty(r, 204);
}

const pl_route_t pl_routes_exec[] = {
    {"POST", "/containers/{id}/attach", h_container_attach},
    {"POST", "/containers/{id}/resize", h_container_resize},
    {"POST", "/containers/{id}/exec", h_exec_create},
    {"POST", "/exec/{id}/start", h_exec_start},
    {"GET", "/exec/{id}/json", h_exec_inspect},
    {"POST", "/exec/{id}/resize", h_exec_resize},
    {"POST", "/exec/{id}/wait", h_exec_wait},
    {"DELETE", "/exec/{id}", h_exec_remove},
    {NULL, NULL, NULL},
};
