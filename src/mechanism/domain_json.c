/* SPDX-License-Identifier: Apache-2.0 */
/* A description's mounts and endpoints as JSON and back (domain.h). */
#include "mechanism/domain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_str(json_t *o, const char *key, const char *v)
{
	if (v && *v)
		json_object_set_new(o, key, json_string(v));
}

json_t *pl_domain_mounts_json(const pl_domain_mount_t *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *m =
		    json_pack("{s:b, s:b}", "volume", v[i].volume, "readonly", v[i].readonly);
		set_str(m, "source", v[i].source);
		set_str(m, "target", v[i].target);
		set_str(m, "propagation", v[i].propagation);
		set_str(m, "populate", v[i].populate);
		json_array_append_new(a, m);
	}
	return a;
}

int pl_domain_mounts_parse(const json_t *j, pl_domain_mount_t **v, size_t *n)
{
	*v = NULL;
	*n = 0;
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_array(j))
		return -1;
	pl_domain_mount_t *out = calloc(json_array_size(j) + 1, sizeof(*out));
	if (!out)
		return -1;
	size_t i;
	json_t *m;
	json_array_foreach(j, i, m)
	{
		out[i] = (pl_domain_mount_t){
		    .source = json_string_value(json_object_get(m, "source")),
		    .target = json_string_value(json_object_get(m, "target")),
		    .volume = json_is_true(json_object_get(m, "volume")),
		    .readonly = json_is_true(json_object_get(m, "readonly")),
		    .propagation = json_string_value(json_object_get(m, "propagation")),
		    .populate = json_string_value(json_object_get(m, "populate"))};
		if (!json_is_object(m) || !out[i].target) {
			free(out);
			return -1;
		}
	}
	*v = out;
	*n = json_array_size(j);
	return 0;
}

json_t *pl_domain_endpoints_json(const pl_domain_endpoint_t *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_pack("{s:s, s:i}", "kind",
				      v[i].kind == PL_ENDPOINT_MACVLAN ? "macvlan" : "veth", "mtu",
				      v[i].mtu);
		set_str(e, "ifname", v[i].ifname);
		set_str(e, "mac", v[i].mac);
		set_str(e, "bridge", v[i].bridge);
		set_str(e, "host_ifname", v[i].host_ifname);
		set_str(e, "parent", v[i].parent);
		set_str(e, "address", v[i].address);
		set_str(e, "gateway", v[i].gateway);
		json_array_append_new(a, e);
	}
	return a;
}

/* Copies the string at key into a fixed field; false when it does not fit. */
static bool get_str(const json_t *o, const char *key, char *dst, size_t size)
{
	const char *s = json_string_value(json_object_get(o, key));
	if (!s)
		s = "";
	if (strlen(s) >= size)
		return false;
	memcpy(dst, s, strlen(s) + 1);
	return true;
}

int pl_domain_endpoints_parse(const json_t *j, pl_domain_endpoint_t **v, size_t *n)
{
	*v = NULL;
	*n = 0;
	if (!j || json_is_null(j))
		return 0;
	if (!json_is_array(j))
		return -1;
	pl_domain_endpoint_t *out = calloc(json_array_size(j) + 1, sizeof(*out));
	if (!out)
		return -1;
	size_t i;
	json_t *e;
	json_array_foreach(j, i, e)
	{
		const char *kind = json_string_value(json_object_get(e, "kind"));
		pl_domain_endpoint_t *ep = &out[i];
		ep->kind =
		    kind && !strcmp(kind, "macvlan") ? PL_ENDPOINT_MACVLAN : PL_ENDPOINT_VETH;
		ep->mtu = (int)json_integer_value(json_object_get(e, "mtu"));
		if (!kind || (strcmp(kind, "veth") && strcmp(kind, "macvlan")) ||
		    !get_str(e, "ifname", ep->ifname, sizeof(ep->ifname)) ||
		    !get_str(e, "mac", ep->mac, sizeof(ep->mac)) ||
		    !get_str(e, "bridge", ep->bridge, sizeof(ep->bridge)) ||
		    !get_str(e, "host_ifname", ep->host_ifname, sizeof(ep->host_ifname)) ||
		    !get_str(e, "parent", ep->parent, sizeof(ep->parent)) ||
		    !get_str(e, "address", ep->address, sizeof(ep->address)) ||
		    !get_str(e, "gateway", ep->gateway, sizeof(ep->gateway))) {
			free(out);
			return -1;
		}
	}
	*v = out;
	*n = json_array_size(j);
	return 0;
}
