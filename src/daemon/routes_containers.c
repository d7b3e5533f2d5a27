/* SPDX-License-Identifier: Apache-2.0 */
/* /containers: create, list, inspect, remove, and the state changes (start, stop, kill,
 * wait, pause, update). A start waits for the library's answer; a stop or wait waits for the
 * container's next exit. */
#include "daemon/routes_containers.h"
#include "daemon/routes_run.h"
#include "daemon/routes_wait.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "portlayer/listing.h"
#include "common/log.h"
#include "common/util.h"
#include "portlayer/api.h"
#include "portlayer/handle.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>

/* --- waiting for an exit (wait, stop) --- */

typedef struct exit_wait {
	pl_waiter_t w;
	uint64_t target;   /* settled once the container's exits reach it */
	bool reply_status; /* answer with the exit status (wait), or `reply` / 204 (stop) */
	json_t *reply;
} exit_wait_t;

static void exit_wait_changed(pl_waiter_t *w, pl_container_t *c)
{
	exit_wait_t *x = (exit_wait_t *)w;
	if (pl_container_exits(c) >= x->target) {
		if (x->reply_status)
			pl_reply_json(w->req, 200, pl_container_exit_json(c));
		else if (x->reply)
			pl_reply_json(w->req, 200, json_incref(x->reply));
		else
			pl_reply_empty(w->req, 204);
	} else if (pl_container_status(c) == PL_STATUS_REMOVING) {
		pl_error_t *e = NULL;
		pl_error_set(&e, PL_ERR_NOTFOUND, 0, "container %.12s was removed", w->id);
		pl_route_fail(w->req, e);
	}
}

static void exit_wait_clear(pl_waiter_t *w)
{
	exit_wait_t *x = (exit_wait_t *)w;
	if (x->reply)
		json_decref(x->reply);
}

static const pl_waiter_type_t exit_wait_type = {.changed = exit_wait_changed,
						.clear = exit_wait_clear};

static void on_exit_timeout(pl_loop_t *loop, void *data)
{
	pl_waiter_t *w = data;
	w->timer = NULL;
	pl_error_t *e = NULL;
	pl_error_set(&e, PL_ERR_TIMEOUT, 0, "container %.12s is still running", w->id);
	pl_route_fail(w->req, e);
}

/* Parks r until the container's exits reach target. */
static void park_exit(pl_app_t *app, pl_req_t *r, const char *id, uint64_t target, bool status,
		      double timeout, json_t *reply)
{
	exit_wait_t *x = pl_waiter_new(sizeof(*x), &exit_wait_type, app, r, id);
	x->target = target;
	x->reply_status = status;
	x->reply = reply;
	pl_waiter_park_until(&x->w, timeout, on_exit_timeout);
}

/* --- waiting for a run-state change (start, stop, handle commit) --- */

struct pl_route_state {
	pl_waiter_t w;
	uint64_t exits; /* the container's exits before the change */
	json_t *reply;	/* the body to answer with (NULL: 204) */
	int status;	/* of that answer: 200 unless set */
};

static void state_wait_clear(pl_waiter_t *w)
{
	pl_route_state_t *s = (pl_route_state_t *)w;
	if (s->reply)
		json_decref(s->reply);
}

static const pl_waiter_type_t state_wait_type = {.clear = state_wait_clear};

pl_route_state_t *pl_route_state_begin(pl_app_t *app, pl_req_t *r, pl_container_t *c)
{
	pl_route_state_t *s =
	    pl_waiter_new(sizeof(*s), &state_wait_type, app, r, c ? pl_container_id(c) : NULL);
	s->exits = c ? pl_container_exits(c) : 0;
	return s;
}

void pl_route_state_started(pl_portlayer_t *pl, const char *id, const pl_error_t *err, void *data)
{
	pl_route_state_t *s = (pl_route_state_t *)pl_waiter_unlink(data);
	if (!s) /* the client is gone */
		return;
	if (err)
		pl_reply_error(s->w.req, err);
	else if (s->reply)
		pl_reply_json(s->w.req, s->status ? s->status : 200, json_incref(s->reply));
	else
		pl_reply_empty(s->w.req, 204);
}

void *pl_route_state_link(pl_route_state_t *s)
{
	return pl_waiter_link(&s->w);
}

void pl_route_state_cancel(pl_route_state_t *s)
{
	pl_waiter_link_unused(&s->w);
	pl_waiter_free(&s->w);
}

void pl_route_state_end(pl_route_state_t *s, int progress, pl_error_t *e, json_t *reply,
			bool not_modified)
{
	pl_req_t *r = s->w.req;
	if (progress == PL_STATE_STARTING) {
		s->reply = reply;
		return pl_waiter_park(&s->w);
	}
	pl_app_t *app = s->w.app;
	_cleanup_free_ char *id = pl_xstrdup(s->w.id);
	uint64_t target = s->exits + 1;
	int status = s->status ? s->status : 200;
	pl_route_state_cancel(s); /* no callback comes */
	if (progress < 0) {
		if (reply)
			json_decref(reply);
		return pl_route_fail(r, e);
	}
	if (progress == PL_STATE_STOPPING)
		return park_exit(app, r, id, target, false, -1, reply);
	if (not_modified)
		pl_reply_empty(r, 304);
	else if (reply)
		pl_reply_json(r, status, reply);
	else
		pl_reply_empty(r, 204);
}

/* --- handlers --- */

/* create with "start": true, one round trip for a run (pl_container_run): the answer
 * (201, as for a create) comes once its process runs and the fsyncs are done. A failed
 * start removes the container again. */
static void create_started(pl_app_t *app, pl_req_t *r, const json_t *body)
{
	pl_error_t *e = NULL;
	pl_route_state_t *s = pl_route_state_begin(app, r, NULL); /* a new container: no exits */
	s->status = 201;
	int progress;
	pl_container_t *c = pl_container_run(app->pl, body, &progress, pl_route_state_started,
					     pl_route_state_link(s), &e);
	json_t *reply = NULL;
	if (c) {
		pl_log_info("created container %.12s (starting)", pl_container_id(c));
		reply = json_pack("{s:s, s:s, s:I}", "id", pl_container_id(c), "handle",
				  pl_handle_take(app->handles, c), "version",
				  (json_int_t)pl_container_version(c));
	}
	pl_route_state_end(s, progress, e, reply, false);
}

static void h_container_create(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *body = pl_req_json(r, &e);
	if (!body)
		return pl_route_fail(r, e);
	json_t *start = json_object_get(body, "start");
	if (start && !json_is_boolean(start)) {
		pl_error_set(&e, PL_ERR_INVALID, 0, "start must be a boolean");
		return pl_route_fail(r, e);
	}
	bool follow; /* started, and answered with its output and exit status (routes_run.c) */
	if (pl_req_query_bool(r, "follow", false, &follow, &e) < 0)
		return pl_route_fail(r, e);
	if (follow && start && !json_is_true(start)) {
		pl_error_set(&e, PL_ERR_INVALID, 0,
			     "follow=1 starts the container: not with start false");
		return pl_route_fail(r, e);
	}
	if (start || follow) {
		_cleanup_json_ json_t *copy = json_copy(body);
		json_object_del(copy, "start");
		if (follow)
			return pl_route_run_follow(app, r, copy);
		if (json_is_true(start))
			return create_started(app, r, copy);
		json_decref(body);
		body = json_incref(copy);
	}
	pl_container_t *c = pl_container_create(app->pl, body, &e);
	if (!c)
		return pl_route_fail(r, pl_error_wrap(&e, "create container") ? e : e);
	pl_log_info("created container %.12s", pl_container_id(c));
	pl_reply_json(r, 201,
		      json_pack("{s:s, s:s, s:I}", "id", pl_container_id(c), "handle",
				pl_handle_take(app->handles, c), "version",
				(json_int_t)pl_container_version(c)));
}

static void h_container_inspect(pl_req_t *r, void *data)
{
	pl_container_t *c = pl_route_container(r, data);
	if (c)
		pl_reply_json(r, 200, pl_container_inspect_json(c));
}

static void h_container_wait(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = pl_route_container(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	double timeout;
	if (pl_route_query_seconds(r, "timeout", -1, &timeout, &e) < 0)
		return pl_route_fail(r, e);
	const char *cond = pl_req_query(r, "condition");
	bool next_exit = cond && strcmp(cond, "next-exit") == 0;
	if (cond && (!strcmp(cond, "removed") || !strcmp(cond, "healthy")))
		return pl_route_wait_condition(app, r, c, cond, timeout);
	if (cond && !next_exit && strcmp(cond, "not-running") != 0) {
		pl_error_set(&e, PL_ERR_INVALID, 0,
			     "condition \"%s\" must be \"not-running\", \"next-exit\", "
			     "\"removed\" or \"healthy\"",
			     cond);
		return pl_route_fail(r, e);
	}
	if (!next_exit && !pl_container_is_running(c))
		return pl_reply_json(r, 200, pl_container_exit_json(c));
	park_exit(app, r, pl_container_id(c), pl_container_exits(c) + 1, true, timeout, NULL);
}

/* Start and stop: one library call, answered once the change happened. */
static void set_state(pl_app_t *app, pl_req_t *r, pl_container_t *c, pl_want_state_t want,
		      int64_t stop_timeout)
{
	pl_error_t *e = NULL;
	pl_route_state_t *s = pl_route_state_begin(app, r, c);
	int progress = pl_container_set_state(app->pl, c, want, stop_timeout,
					      pl_route_state_started, pl_route_state_link(s), &e);
	pl_route_state_end(s, progress, e, NULL, want == PL_WANT_RUNNING);
}

static void h_container_start(pl_req_t *r, void *data)
{
	pl_container_t *c = pl_route_container(r, data);
	if (c)
		set_state(data, r, c, PL_WANT_RUNNING, -1);
}

static void h_container_stop(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = pl_route_container(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	double timeout;
	if (pl_route_query_seconds(r, "timeout", -1, &timeout, &e) < 0)
		return pl_route_fail(r, e);
	set_state(app, r, c, PL_WANT_STOPPED, timeout < 0 ? -1 : (int64_t)ceil(timeout));
}

static void pause_or_unpause(pl_req_t *r, pl_app_t *app, bool pause)
{
	pl_container_t *c = pl_route_container(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	if (pl_container_pause(app->pl, c, pause, &e) < 0)
		return pl_route_fail(r, e);
	pl_reply_empty(r, 204);
}

static void h_container_pause(pl_req_t *r, void *data)
{
	pause_or_unpause(r, data, true);
}

static void h_container_unpause(pl_req_t *r, void *data)
{
	pause_or_unpause(r, data, false);
}

/* A convenience over the handle model: one commit of one resources change. */
static void h_container_update(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = pl_route_container(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *body = pl_req_json(r, &e);
	static const char *const keys[] = {"resources", NULL};
	if (!body || pl_json_check_keys(body, "update", keys, &e) < 0)
		return pl_route_fail(r, e);
	json_t *res_arg = json_object_get(body, "resources");
	if (!res_arg) {
		pl_error_set(&e, PL_ERR_INVALID, 0, "update: \"resources\" is required");
		return pl_route_fail(r, e);
	}
	pl_commit_result_t res;
	if (pl_container_change(app->pl, app->handles, c, "resources", res_arg, &res, &e) < 0)
		return pl_route_fail(r, e);
	pl_reply_json(
	    r, 200,
	    json_pack("{s:s, s:I}", "id", pl_container_id(c), "version", (json_int_t)res.version));
}

static void h_container_kill(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = pl_route_container(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	const char *name = pl_req_query(r, "signal");
	int signo = SIGKILL;
	if (name && pl_signal_parse(name, &signo) < 0) {
		pl_error_set(&e, PL_ERR_INVALID, 0, "invalid signal \"%s\"", name);
		return pl_route_fail(r, e);
	}
	if (pl_container_kill(app->pl, c, signo, &e) < 0)
		return pl_route_fail(r, e);
	pl_reply_empty(r, 204);
}

static void h_container_remove(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	bool force;
	if (pl_req_query_bool(r, "force", false, &force, &e) < 0)
		return pl_route_fail(r, e);
	const char *ref = pl_req_param(r);
	if (pl_portlayer_container_remove(app->pl, ref, force, &e) < 0)
		return pl_route_fail(r, e);
	pl_log_info("removed container %.*s", pl_id_is_full(ref) ? 12 : (int)strlen(ref), ref);
	pl_reply_empty(r, 204);
}

/* ?filters= (Docker's JSON), the logic in portlayer/listing.c */
static void h_container_list(pl_req_t *r, void *data)
{
	static const char *const keys[] = {"label",   "name",	"id",	  "status", "ancestor",
					   "network", "volume", "exited", NULL};
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	bool all, size;
	/* all defaults to true: this API always listed every container */
	if (pl_req_query_bool(r, "all", true, &all, &e) < 0 ||
	    pl_req_query_bool(r, "size", false, &size, &e) < 0)
		return pl_route_fail(r, e);
	_cleanup_json_ json_t *f = pl_filters_parse(pl_req_query(r, "filters"), keys, &e);
	size_t len = 0;
	char *list = f ? pl_containers_list(app->pl, f, all, size, &len, &e) : NULL;
	if (!list)
		return pl_route_fail(r, e);
	pl_reply_json_text(r, 200, list, len);
}

const pl_route_t pl_routes_containers[] = {
    {"GET", "/containers", h_container_list},
    {"POST", "/containers", h_container_create},
    {"GET", "/containers/{id}", h_container_inspect},
    {"DELETE", "/containers/{id}", h_container_remove},
    {"POST", "/containers/{id}/start", h_container_start},
    {"POST", "/containers/{id}/stop", h_container_stop},
    {"POST", "/containers/{id}/kill", h_container_kill},
    {"POST", "/containers/{id}/wait", h_container_wait},
    {"POST", "/containers/{id}/pause", h_container_pause},
    {"POST", "/containers/{id}/unpause", h_container_unpause},
    {"POST", "/containers/{id}/update", h_container_update},
    {NULL, NULL, NULL},
};
