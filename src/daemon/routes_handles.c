/* SPDX-License-Identifier: Apache-2.0 */
/* /handles: the handle model. A handle is a versioned, staged change of one container;
 * mutations return a new handle, a commit applies it and carries out the state it asks. */
#include "daemon/routes.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "daemon/routes_containers.h"
#include "portlayer/api.h"
#include "portlayer/handle.h"

static void h_handle_take(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = pl_route_container(r, app);
	if (!c)
		return;
	const char *token = pl_handle_take(app->handles, c);
	pl_reply_json(r, 200,
		      json_pack("{s:s, s:s, s:I}", "handle", token, "id", pl_container_id(c),
				"version", (json_int_t)pl_container_version(c)));
}

static pl_handle_t *lookup_handle(pl_req_t *r, pl_app_t *app)
{
	pl_error_t *e = NULL;
	pl_handle_t *h = pl_handle_get(app->handles, pl_req_param(r), &e);
	if (!h)
		pl_route_fail(r, e);
	return h;
}

static void h_handle_inspect(pl_req_t *r, void *data)
{
	pl_handle_t *h = lookup_handle(r, data);
	if (h)
		pl_reply_json(r, 200, pl_handle_json(h));
}

static void h_handle_drop(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_handle_t *h = lookup_handle(r, app);
	if (!h)
		return;
	pl_handle_drop(app->handles, h);
	pl_reply_empty(r, 204);
}

static void h_handle_mutate(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_handle_t *h = lookup_handle(r, app);
	if (!h)
		return;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *body = pl_req_json(r, &e);
	if (!body)
		return pl_route_fail(r, e);
	const char *token = pl_handle_mutate(app->handles, app->pl, h, pl_req_param2(r), body, &e);
	if (!token)
		return pl_route_fail(r, e);
	pl_reply_json(r, 200, json_pack("{s:s}", "handle", token));
}

static void h_handle_commit(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_handle_t *h = lookup_handle(r, app);
	if (!h)
		return;
	pl_error_t *e = NULL;
	pl_container_t *c = pl_container_find(app->pl, pl_handle_container_id(h), &e);
	if (!c)
		return pl_route_fail(r, e);
	pl_route_state_t *s = pl_route_state_begin(app, r, c);
	pl_commit_result_t res;
	int progress = pl_handle_commit_apply(app->pl, h, &res, pl_route_state_started,
					      pl_route_state_link(s), &e);
	if (progress < 0 && !res.version && e->kind == PL_ERR_CONFLICT) {
		/* a stale handle: the answer carries the current version */
		pl_route_state_cancel(s);
		pl_reply_json(r, 409,
			      json_pack("{s:s, s:I}", "message", e->msg, "version",
					(json_int_t)pl_container_version(c)));
		pl_error_free(e);
		return;
	}
	json_t *reply = res.version ? json_pack("{s:s, s:I}", "id", pl_container_id(c), "version",
						(json_int_t)res.version)
				    : NULL;
	if (res.version)
		pl_handle_drop(app->handles, h); /* spent: its version is gone */
	pl_route_state_end(s, progress, e, reply, false);
}

const pl_route_t pl_routes_handles[] = {
    {"GET", "/containers/{id}/handle", h_handle_take},
    {"GET", "/handles/{handle}", h_handle_inspect},
    {"DELETE", "/handles/{handle}", h_handle_drop},
    {"POST", "/handles/{handle}/commit", h_handle_commit},
    {"POST", "/handles/{handle}/{op}", h_handle_mutate},
    {NULL, NULL, NULL},
};
