/* SPDX-License-Identifier: Apache-2.0 */
/* /volumes: named volumes. */
#include "daemon/routes.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "portlayer/listing.h"
#include "portlayer/api.h"
#include "portlayer/storage/volumes.h"

static void h_volume_create(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *body = pl_req_has_body(r) ? pl_req_json(r, &e) : json_object();
	json_t *vol = body ? pl_portlayer_volume_create(app->pl, body, &e) : NULL;
	if (!vol)
		return pl_route_fail(r, e);
	pl_reply_json(r, 201, vol);
}

/* ?size=1: "size", the bytes used under the volume's directory, computed now */
static void add_size(pl_app_t *app, json_t *vol)
{
	const char *name = json_string_value(json_object_get(vol, "name"));
	if (name)
		json_object_set_new(
		    vol, "size",
		    json_integer((json_int_t)pl_volume_size(pl_portlayer_volumes(app->pl), name)));
}

static void h_volume_inspect(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	bool size;
	if (pl_req_query_bool(r, "size", false, &size, &e) < 0)
		return pl_route_fail(r, e);
	json_t *vol = pl_volume_get(pl_portlayer_volumes(app->pl), pl_req_param(r), false, &e);
	if (!vol)
		return pl_route_fail(r, e);
	if (size)
		add_size(app, vol);
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
	if (pl_portlayer_volume_remove(app->pl, name, force, &e) < 0)
		return pl_route_fail(r, e);
	pl_reply_empty(r, 204);
}

/* ?filters= (Docker's JSON), the logic in portlayer/listing.c */
static void h_volume_list(pl_req_t *r, void *data)
{
	static const char *const keys[] = {"name", "label", "dangling", "driver", NULL};
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	bool size;
	if (pl_req_query_bool(r, "size", false, &size, &e) < 0)
		return pl_route_fail(r, e);
	_cleanup_json_ json_t *f = pl_filters_parse(pl_req_query(r, "filters"), keys, &e);
	json_t *list = f ? pl_volumes_list_filtered(app->pl, f, &e) : NULL;
	if (!list)
		return pl_route_fail(r, e);
	size_t i;
	json_t *vol;
	if (size)
		json_array_foreach(list, i, vol) add_size(app, vol);
	pl_reply_json(r, 200, list);
}

const pl_route_t pl_routes_volumes[] = {
    {"POST", "/volumes", h_volume_create},
    {"GET", "/volumes", h_volume_list},
    {"GET", "/volumes/{name}", h_volume_inspect},
    {"DELETE", "/volumes/{name}", h_volume_remove},
    {NULL, NULL, NULL},
};
