/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/netlive.h"
#include "portlayer/internal.h"
#include "portlayer/link.h"
#include "portlayer/network/network.h"
#include "portlayer/pods.h"
#include "proto/frame.h"
#include "common/cleanup.h"
#include "common/json.h"

#include <stdio.h>
#include <string.h>

static bool on_scope(const json_t *nets, const char *scope)
{
	size_t i;
	json_t *e;
	json_array_foreach(nets, i, e)
	{
		if (!strcmp(json_string_value(json_object_get(e, "scope")), scope))
			return true;
	}
	return false;
}

int pl_netlive_check(const pl_container_t *c, const pl_config_t *cfg, const char *action,
		     const char *scope, pl_error_t **err)
{
	if (!pl_container_is_running(c))
		return 0;
	if (!pl_mech_has(c->mech, PL_MECH_HOTPLUG_NIC))
		return pl_error_set(err, PL_ERR_CONFLICT, 0,
				    "container %.12s runs on the %s mechanism, which cannot add or "
				    "remove network interfaces while it runs: stop it first",
				    c->id, c->mech->name);
	if (!strcmp(action, "disconnect")) {
		size_t n = json_array_size(cfg->networks);
		const json_t *last = json_array_get(cfg->networks, n ? n - 1 : 0);
		if (n && strcmp(json_string_value(json_object_get(last, "scope")), scope) &&
		    on_scope(cfg->networks, scope))
			return pl_error_set(
			    err, PL_ERR_CONFLICT, 0,
			    "container %.12s is running: only its last network "
			    "(%s) can go now; disconnect those after %s first or "
			    "stop it",
			    c->id, json_string_value(json_object_get(last, "scope")), scope);
	}
	return 0;
}

int pl_netlive_apply(pl_portlayer_t *pl, pl_container_t *c, pl_config_t *cfg, pl_error_t **err)
{
	if (!pl_container_is_running(c) || json_equal(c->config->networks, cfg->networks))
		return 0;
	if (!pl_mech_has(c->mech, PL_MECH_HOTPLUG_NIC))
		return pl_error_set(err, PL_ERR_CONFLICT, 0,
				    "container %.12s cannot change networks while it runs", c->id);
	pl_network_t *n = pl->net;
	/* what leaves: the old endpoints, by position */
	_cleanup_free_ pl_domain_endpoint_t *old_eps = NULL;
	size_t n_old = pl_network_endpoints(n, c, &old_eps);
	size_t i;
	json_t *e;
	json_array_foreach(c->config->networks, i, e)
	{
		const char *scope = json_string_value(json_object_get(e, "scope"));
		if (on_scope(cfg->networks, scope))
			continue;
		if (i >= n_old)
			return pl_error_set(err, PL_ERR_INTERNAL, 0, "no endpoint for %s", scope);
		if (c->mech->net_disconnect(c->mech, &c->dom, &old_eps[i], err) < 0)
			return pl_error_wrap(err, "disconnect %s", scope);
	}
	/* what arrives: the new config's endpoints, seen through the container */
	pl_config_t *old = c->config;
	c->config = cfg;
	_cleanup_free_ pl_domain_endpoint_t *eps = NULL;
	size_t n_eps = pl_network_endpoints(n, c, &eps);
	_cleanup_json_ json_t *info = pl_network_container_json(n, c);
	c->config = old;
	bool had_route = json_array_size(old->networks) > 0;
	json_array_foreach(cfg->networks, i, e)
	{
		const char *scope = json_string_value(json_object_get(e, "scope"));
		if (on_scope(old->networks, scope))
			continue;
		json_t *about = json_array_get(json_object_get(info, "endpoints"), i);
		const char *ip = json_string_value(json_object_get(about, "ip"));
		if (i >= n_eps || !ip)
			return pl_error_set(err, PL_ERR_INTERNAL, 0, "no endpoint for %s", scope);
		pl_domain_endpoint_t spec = eps[i];
		snprintf(spec.address, sizeof(spec.address), "%s/%lld", ip,
			 (long long)json_integer_value(json_object_get(about, "prefix_len")));
		_cleanup_json_ json_t *scope_j = pl_network_inspect(n, scope, NULL);
		const char *gw = json_string_value(json_object_get(about, "gateway"));
		if (!had_route && !json_is_true(json_object_get(scope_j, "internal")) && gw) {
			snprintf(spec.gateway, sizeof(spec.gateway), "%s", gw);
			had_route = true;
		}
		if (c->mech->net_connect(c->mech, &c->dom, &spec, err) < 0)
			return pl_error_wrap(err, "connect %s", scope);
	}
	return 1;
}

void pl_netlive_refresh_names(pl_portlayer_t *pl, pl_container_t *c)
{
	for (pl_container_t *o = pl->head; o; o = o->next) {
		const char *t = pl_hostcfg_target(o->config->network_mode);
		if ((o != c && !(t && !strcmp(t, c->id))) || !pl_container_is_running(o) ||
		    o->dom.ctl_fd < 0)
			continue;
		char hb[13];
		snprintf(hb, sizeof(hb), "%.12s", o->id);
		json_t *net =
		    pl_pods_tether_network(pl, o, o->config->hostname ? o->config->hostname : hb);
		if (!net) /* no network left: loopback names only */
			net = json_pack("{s:[[s,s,s],[s,s,s,s]]}", "hosts", "127.0.0.1",
					"localhost", o->config->hostname ? o->config->hostname : hb,
					"::1", "localhost", "ip6-localhost", "ip6-loopback");
		json_object_del(net, "interfaces");
		json_object_del(net, "routes");
		pl_container_send(o, PL_MSG_NETWORK, net);
	}
}
