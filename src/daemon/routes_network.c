/* SPDX-License-Identifier: Apache-2.0 */
/* /networks and /containers/{id}/ports: HTTP over portlayer/network. */
#include "daemon/routes.h"
#include "common/json.h"
#include "portlayer/listing.h"
#include "portlayer/api.h"
#include "portlayer/network/network.h"

static void h_network_create(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *body = pl_req_json(r, &e);
	json_t *net = body ? pl_portlayer_network_create(app->pl, body, &e) : NULL;
	if (!net)
		return pl_route_fail(r, e);
	pl_reply_json(r, 201, net);
}

static void h_network_inspect(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	json_t *net = pl_network_inspect(pl_portlayer_network(app->pl), pl_req_param(r), &e);
	if (!net)
		return pl_route_fail(r, e);
	pl_reply_json(r, 200, net);
}

static void h_network_remove(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	if (pl_portlayer_network_remove(app->pl, pl_req_param(r), &e) < 0)
		return pl_route_fail(r, e);
	pl_reply_empty(r, 204);
}

/* POST /networks/{name}/connect and /disconnect: a container joins or leaves a scope. */
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
	if (pl_portlayer_network_connect(app->pl, app->handles, pl_req_param(r), id, connect, body,
					 json_is_true(force), &e) < 0)
		return pl_route_fail(r, e);
	pl_reply_empty(r, 204);
}

static void h_network_connect(pl_req_t *r, void *data)
{
	connect_or_disconnect(r, data, true);
}

static void h_network_disconnect(pl_req_t *r, void *data)
{
	connect_or_disconnect(r, data, false);
}

static void h_container_ports(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	pl_container_t *c = pl_container_find(app->pl, pl_req_param(r), &e);
	if (!c)
		return pl_route_fail(r, e);
	pl_reply_json(r, 200, pl_network_ports_json(c));
}

/* ?filters= (Docker's JSON), the logic in portlayer/listing.c */
static void h_network_list(pl_req_t *r, void *data)
{
	static const char *const keys[] = {"name",     "id",   "label", "driver",
					   "dangling", "type", NULL};
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *f = pl_filters_parse(pl_req_query(r, "filters"), keys, &e);
	json_t *list = f ? pl_networks_list_filtered(app->pl, f, &e) : NULL;
	if (!list)
		return pl_route_fail(r, e);
	pl_reply_json(r, 200, list);
}

const pl_route_t pl_routes_networks[] = {
    {"POST", "/networks", h_network_create},
    {"GET", "/networks", h_network_list},
    {"POST", "/networks/{name}/connect", h_network_connect},
    {"POST", "/networks/{name}/disconnect", h_network_disconnect},
    {"GET", "/networks/{name}", h_network_inspect},
    {"DELETE", "/networks/{name}", h_network_remove},
    {"GET", "/containers/{id}/ports", h_container_ports},
    {NULL, NULL, NULL},
};
