/* /networks and /containers/{id}/ports: HTTP over portlayer/network. */
#include "daemon/routes.h"
#include "daemon/routes_list.h"
#include "daemon/routes_netlive.h"
#include "common/json.h"
#include "portlayer/events.h"
#include "portlayer/network/network.h"

static void h_network_create(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *body = pl_req_json(r, &e);
	json_t *net = body ? pl_network_create(pl_portlayer_network(app->pl), body, &e) : NULL;
	if (!net)
		return pl_route_fail(r, e);
	pl_events_emit(pl_portlayer_events(app->pl), "network", "create",
		       json_string_value(json_object_get(net, "id")),
		       json_string_value(json_object_get(net, "name")), NULL);
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
	_cleanup_json_ json_t *net =
	    pl_network_inspect(pl_portlayer_network(app->pl), pl_req_param(r), &e);
	if (!net || pl_network_remove(pl_portlayer_network(app->pl), pl_req_param(r), &e) < 0)
		return pl_route_fail(r, e);
	pl_events_emit(pl_portlayer_events(app->pl), "network", "destroy",
		       json_string_value(json_object_get(net, "id")),
		       json_string_value(json_object_get(net, "name")), NULL);
	pl_reply_empty(r, 204);
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

const pl_route_t pl_routes_networks[] = {
    {"POST", "/networks", h_network_create},
    {"GET", "/networks", pl_h_networks_list},
    {"POST", "/networks/{name}/connect", pl_h_network_connect},
    {"POST", "/networks/{name}/disconnect", pl_h_network_disconnect},
    {"GET", "/networks/{name}", h_network_inspect},
    {"DELETE", "/networks/{name}", h_network_remove},
    {"GET", "/containers/{id}/ports", h_container_ports},
    {NULL, NULL, NULL},
};
