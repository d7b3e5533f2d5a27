#include "daemon/routes_netlive.h"
#include "daemon/routes.h"
#include "common/json.h"
#include "portlayer/events.h"
#include "portlayer/network/network.h"

#include <string.h>

/* One handle, one change, one commit. */
static int change(pl_app_t *app, pl_container_t *c, const json_t *arg, pl_error_t **err)
{
	pl_handle_t *h = pl_handle_get(app->handles, pl_handle_take(app->handles, c), err);
	if (!h)
		return -1;
	const char *token = pl_handle_mutate(app->handles, app->pl, h, "network", arg, err);
	pl_handle_drop(app->handles, h);
	pl_handle_t *staged = token ? pl_handle_get(app->handles, token, err) : NULL;
	if (!staged)
		return -1;
	pl_commit_result_t res;
	int rc = pl_handle_commit(app->pl, staged, &res, err);
	pl_handle_drop(app->handles, staged);
	return rc;
}

static void connect_or_disconnect(pl_req_t *r, pl_app_t *app, bool connect)
{
	static const char *const ckeys[] = {"container", "ip", "aliases", NULL};
	static const char *const dkeys[] = {"container", "force", NULL};
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *body = pl_req_json(r, &e);
	if (!body || pl_json_check_keys(body, connect ? "connect" : "disconnect",
					connect ? ckeys : dkeys, &e) < 0)
		return pl_route_fail(r, e);
	const char *id = NULL;
	if (pl_json_get_string(body, "container", &id, &e) < 0)
		return pl_route_fail(r, e);
	json_t *force = json_object_get(body, "force");
	if (!id || (force && !json_is_boolean(force))) {
		pl_error_set(&e, PL_ERR_INVALID, 0,
			     "container (an id or name) is required; force is a boolean");
		return pl_route_fail(r, e);
	}
	pl_container_t *c = pl_container_find(app->pl, id, &e);
	_cleanup_json_ json_t *net =
	    c ? pl_network_inspect(pl_portlayer_network(app->pl), pl_req_param(r), &e) : NULL;
	if (!net)
		return pl_route_fail(r, e);
	json_t *arg = json_pack("{s:s, s:O}", "action", connect ? "connect" : "disconnect", "scope",
				json_object_get(net, "name"));
	if (connect) {
		if (json_object_get(body, "ip"))
			json_object_set(arg, "ip", json_object_get(body, "ip"));
		if (json_object_get(body, "aliases"))
			json_object_set(arg, "aliases", json_object_get(body, "aliases"));
	}
	int rc = change(app, c, arg, &e);
	json_decref(arg);
	/* force: not being on it is what was asked for */
	if (rc < 0 && !connect && json_is_true(force) && e && e->kind == PL_ERR_NOTFOUND) {
		pl_error_free(e);
		rc = 0;
	}
	if (rc < 0)
		return pl_route_fail(r, e);
	pl_events_emit(pl_portlayer_events(app->pl), "network", connect ? "connect" : "disconnect",
		       json_string_value(json_object_get(net, "id")),
		       json_string_value(json_object_get(net, "name")),
		       json_pack("{s:s}", "container", pl_container_id(c)));
	pl_reply_empty(r, 204);
}

void pl_h_network_connect(pl_req_t *r, void *data)
{
	connect_or_disconnect(r, data, true);
}

void pl_h_network_disconnect(pl_req_t *r, void *data)
{
	connect_or_disconnect(r, data, false);
}
