/* SPDX-License-Identifier: Apache-2.0 */
/* The network side of a container's config: network_mode, networks and ports parsed and
 * validated from a create body, and their canonical JSON. Pure (no scopes, no kernel), so
 * the create-request fuzzer links it alone; binding to scopes is network.c's. */
#include "portlayer/network/network.h"
#include "portlayer/network/ipam.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"
#include <errno.h>
#include <string.h>

int pl_network_config_parse(pl_config_t *c, const json_t *body, pl_error_t **err)
{
	c->networks = json_array();
	c->ports = json_array();
	const char *mode = NULL;
	if (pl_json_get_string(body, "network_mode", &mode, err) < 0)
		return -EINVAL;
	json_t *nets = json_object_get(body, "networks"), *ports = json_object_get(body, "ports");
	if (nets && !json_is_null(nets) && !json_is_array(nets))
		return pl_error_set(err, PL_ERR_INVALID, 0, "networks must be an array");
	if (ports && !json_is_null(ports) && !json_is_array(ports))
		return pl_error_set(err, PL_ERR_INVALID, 0, "ports must be an array");
	if (!mode)
		mode = json_array_size(nets) ? "bridge" : "none";
	const char *target = pl_hostcfg_target(mode); /* a pod: another container's network */
	if (strcmp(mode, "none") && strcmp(mode, "bridge") && strcmp(mode, "host") &&
	    !(target && pl_name_valid(target)))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "network_mode \"%s\" must be none, bridge, host or "
				    "container:<id>",
				    mode);
	bool bridge = strcmp(mode, "bridge") == 0;
	if (!bridge && json_array_size(nets))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "networks: network_mode %s joins no scope", mode);
	if (bridge && !json_array_size(nets))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "networks: network_mode bridge needs at least one scope");
	if (!bridge && json_array_size(ports))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "ports: publishing needs network_mode bridge");
	if (json_array_size(nets) > PL_NETWORK_MAX_SCOPES)
		return pl_error_set(err, PL_ERR_INVALID, 0, "networks: at most %d scopes",
				    PL_NETWORK_MAX_SCOPES);
	c->network_mode = pl_xstrdup(mode);
	size_t i;
	json_t *e;
	int n_default_route = 0;
	json_array_foreach(nets, i, e)
	{
		static const char *const keys[] = {"scope", "ip", "aliases", "default_route", NULL};
		if (pl_json_check_keys(e, "networks[]", keys, err) < 0)
			return -EINVAL;
		const json_t *dr = json_object_get(e, "default_route");
		if (dr && !json_is_boolean(dr))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "networks[%zu].default_route must be a boolean", i);
		if (json_is_true(dr) && (n_default_route++ > 0))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "networks[%zu].default_route: only one scope can hold "
					    "the default route",
					    i);
		const char *scope = NULL, *ip = NULL;
		const json_t *aliases = NULL;
		if (pl_json_get_string(e, "scope", &scope, err) < 0 ||
		    pl_json_get_string(e, "ip", &ip, err) < 0 ||
		    pl_json_get_string_array(e, "aliases", &aliases, err) < 0)
			return pl_error_wrap(err, "networks[%zu]", i);
		if (!scope || !pl_name_valid(scope))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "networks[%zu].scope must name a network", i);
		if (ip && *ip && !pl_ipam_is_addr(ip))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "networks[%zu].ip \"%s\" is not an IPv4 address", i,
					    ip);
		size_t k;
		json_t *a;
		json_array_foreach(aliases, k, a)
		{
			if (!pl_name_valid(json_string_value(a)))
				return pl_error_set(err, PL_ERR_INVALID, 0,
						    "networks[%zu].aliases[%zu] \"%s\" is not a "
						    "valid name",
						    i, k, json_string_value(a));
		}
		for (size_t p = 0; p < i; p++)
			if (!strcmp(json_string_value(
					json_object_get(json_array_get(nets, p), "scope")),
				    scope))
				return pl_error_set(err, PL_ERR_INVALID, 0,
						    "networks: scope %s appears twice", scope);
		json_t *canon = json_pack("{s:s, s:o}", "scope", scope, "aliases",
					  aliases ? json_deep_copy(aliases) : json_array());
		if (ip && *ip)
			json_object_set_new(canon, "ip", json_string(ip));
		if (json_is_true(dr))
			json_object_set_new(canon, "default_route", json_true());
		json_array_append_new(c->networks, canon);
	}
	json_array_foreach(ports, i, e)
	{
		static const char *const keys[] = {"host_ip", "host_port", "container_port",
						   "protocol", NULL};
		if (pl_json_check_keys(e, "ports[]", keys, err) < 0)
			return -EINVAL;
		const char *hip = NULL, *proto = NULL;
		if (pl_json_get_string(e, "host_ip", &hip, err) < 0 ||
		    pl_json_get_string(e, "protocol", &proto, err) < 0)
			return pl_error_wrap(err, "ports[%zu]", i);
		json_t *cp = json_object_get(e, "container_port"),
		       *hp = json_object_get(e, "host_port");
		if (!json_is_integer(cp) || json_integer_value(cp) < 1 ||
		    json_integer_value(cp) > 65535)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "ports[%zu].container_port must be an integer in "
					    "[1, 65535]",
					    i);
		if (hp && (!json_is_integer(hp) || json_integer_value(hp) < 0 ||
			   json_integer_value(hp) > 65535))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "ports[%zu].host_port must be an integer in [0, 65535]",
					    i);
		if (proto && strcmp(proto, "tcp") && strcmp(proto, "udp"))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "ports[%zu].protocol \"%s\" must be tcp or udp", i,
					    proto);
		if (hip && *hip && !pl_ipam_is_addr(hip))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "ports[%zu].host_ip \"%s\" is not an IPv4 address", i,
					    hip);
		json_array_append_new(
		    c->ports, json_pack("{s:I, s:s, s:s, s:I}", "container_port",
					json_integer_value(cp), "protocol", proto ? proto : "tcp",
					"host_ip", hip && strcmp(hip, "0.0.0.0") ? hip : "",
					"host_port", hp ? json_integer_value(hp) : (json_int_t)0));
	}
	return 0;
}

void pl_network_config_to_json(const pl_config_t *c, json_t *j)
{
	json_object_set_new(j, "network_mode",
			    json_string(c->network_mode ? c->network_mode : "none"));
	json_object_set_new(j, "networks",
			    c->networks ? json_deep_copy(c->networks) : json_array());
	json_object_set_new(j, "ports", c->ports ? json_deep_copy(c->ports) : json_array());
}

void pl_network_config_clear(pl_config_t *c)
{
	free(c->network_mode);
	if (c->networks)
		json_decref(c->networks);
	if (c->ports)
		json_decref(c->ports);
	c->network_mode = NULL;
	c->networks = c->ports = NULL;
}
