/* /volumes: named volumes. */
#include "daemon/routes.h"
#include "daemon/routes_list.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "portlayer/events.h"
#include "portlayer/storage/volumes.h"

static void h_volume_create(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *body = pl_req_has_body(r) ? pl_req_json(r, &e) : json_object();
	json_t *vol = body ? pl_volume_create(pl_portlayer_volumes(app->pl), body, &e) : NULL;
	if (!vol)
		return pl_route_fail(r, e);
	pl_events_emit(pl_portlayer_events(app->pl), "volume", "create",
		       json_string_value(json_object_get(vol, "name")), NULL, NULL);
	pl_reply_json(r, 201, vol);
}

static void h_volume_inspect(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	json_t *vol = pl_volume_get(pl_portlayer_volumes(app->pl), pl_req_param(r), false, &e);
	if (!vol)
		return pl_route_fail(r, e);
	pl_reply_json(r, 200, vol);
}

static void h_volume_remove(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	bool force;
	const char *name = pl_req_param(r);
	if (pl_req_query_bool(r, "force", false, &force, &e) < 0)
		return pl_route_fail(r, e);
	/* force detaches stopped users only: a running container keeps its data */
	if (pl_portlayer_volume_in_use(app->pl, name, force)) {
		pl_error_set(&e, PL_ERR_CONFLICT, 0, "volume %s is in use by a %scontainer", name,
			     force ? "running " : "");
		return pl_route_fail(r, e);
	}
	if (pl_volume_remove(pl_portlayer_volumes(app->pl), name, &e) < 0)
		return pl_route_fail(r, e);
	pl_events_emit(pl_portlayer_events(app->pl), "volume", "remove", name, NULL, NULL);
	pl_reply_empty(r, 204);
}

const pl_route_t pl_routes_volumes[] = {
    {"POST", "/volumes", h_volume_create},
    {"GET", "/volumes", pl_h_volumes_list},
    {"GET", "/volumes/{name}", h_volume_inspect},
    {"DELETE", "/volumes/{name}", h_volume_remove},
    {NULL, NULL, NULL},
};
