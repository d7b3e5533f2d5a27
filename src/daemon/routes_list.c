#include "daemon/routes_list.h"
#include "daemon/routes.h"
#include "common/json.h"
#include "portlayer/listing.h"

static json_t *filters_of(pl_req_t *r, const char *const *allowed, pl_error_t **err)
{
	return pl_filters_parse(pl_req_query(r, "filters"), allowed, err);
}

void pl_h_containers_list(pl_req_t *r, void *data)
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
	_cleanup_json_ json_t *f = filters_of(r, keys, &e);
	json_t *list = f ? pl_containers_list(app->pl, f, all, size, &e) : NULL;
	if (!list)
		return pl_route_fail(r, e);
	pl_reply_json(r, 200, list);
}

void pl_h_images_list(pl_req_t *r, void *data)
{
	static const char *const keys[] = {"reference", "label", "dangling", NULL};
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *f = filters_of(r, keys, &e);
	json_t *list = f ? pl_images_list_filtered(app->pl, f, &e) : NULL;
	if (!list)
		return pl_route_fail(r, e);
	pl_reply_json(r, 200, list);
}

void pl_h_volumes_list(pl_req_t *r, void *data)
{
	static const char *const keys[] = {"name", "label", "dangling", "driver", NULL};
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *f = filters_of(r, keys, &e);
	json_t *list = f ? pl_volumes_list_filtered(app->pl, f, &e) : NULL;
	if (!list)
		return pl_route_fail(r, e);
	pl_reply_json(r, 200, list);
}

void pl_h_networks_list(pl_req_t *r, void *data)
{
	static const char *const keys[] = {"name",     "id",   "label", "driver",
					   "dangling", "type", NULL};
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *f = filters_of(r, keys, &e);
	json_t *list = f ? pl_networks_list_filtered(app->pl, f, &e) : NULL;
	if (!list)
		return pl_route_fail(r, e);
	pl_reply_json(r, 200, list);
}
