/* SPDX-License-Identifier: Apache-2.0 */
/* Scopes, their persistence and allocators, and the network side of a container: its
 * config fields, the endpoints the mechanism plumbs and tether's "network" object. */
#include "portlayer/network/scope.h"
#include "portlayer/network/dns.h"
#include "portlayer/container.h"
#include "portlayer/network/hostnets.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "host/linux/netdev.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_SCOPE  "bridge"
#define DEFAULT_BRIDGE "pl0"
#define DEFAULT_MTU    1500

#define RANDOM_PORT_LO 49153
#define RANDOM_PORT_HI 60999

static int parse_options(struct pl_network_opts *o, const char *pool, int netns_pool,
			 pl_error_t **err)
{
	o->n = 0;
	o->netns_pool = netns_pool;
	if (!pool) {
		for (unsigned b = 17; b <= 31; b++) {
			o->nets[o->n] = (172u << 24) | (b << 16);
			o->lens[o->n++] = 16;
		}
		for (unsigned c = 0; c < 256; c += 16) {
			o->nets[o->n] = (192u << 24) | (168u << 16) | (c << 8);
			o->lens[o->n++] = 20;
		}
		return 0;
	}
	_cleanup_free_ char *copy = pl_xstrdup(pool);
	char *save = NULL;
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (o->n == PL_ARRAY_SIZE(o->nets))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "address pool: too many subnets");
		if (pl_ipam_parse_cidr(t, &o->nets[o->n], &o->lens[o->n], err) < 0)
			return pl_error_wrap(err, "address pool");
		o->n++;
	}
	if (!o->n)
		return pl_error_set(err, PL_ERR_INVALID, 0, "address pool is empty");
	return 0;
}

static bool overlaps(uint32_t a, unsigned alen, uint32_t b, unsigned blen)
{
	unsigned l = alen < blen ? alen : blen;
	return (a & pl_ipam_mask(l)) == (b & pl_ipam_mask(l));
}

/* By exact name first: a name that looks like another scope's id prefix is still its own */
static pl_scope_t *find_scope(pl_network_t *n, const char *name)
{
	for (pl_scope_t *s = n->scopes; s; s = s->next)
		if (strcmp(s->name, name) == 0)
			return s;
	for (pl_scope_t *s = n->scopes; s; s = s->next)
		if (strlen(name) >= 12 && !strncmp(s->id, name, strlen(name)))
			return s;
	return NULL;
}

pl_scope_t *pl_scope_find(pl_network_t *n, const char *name)
{
	return find_scope(n, name);
}

static pl_scope_t *scope_free(pl_scope_t *s)
{
	if (!s)
		return NULL;
	free(s->name);
	free(s->parent);
	if (s->labels)
		json_decref(s->labels);
	if (s->options)
		json_decref(s->options);
	pl_ipam_free(s->ipam);
	free(s);
	return NULL;
}

static void scope_freep(pl_scope_t **s)
{
	scope_free(*s);
}

static const char *fmt(uint32_t a, char b[16])
{
	return pl_ipam_format(a, b);
}

static json_t *scope_json(const pl_scope_t *s)
{
	char sub[24], gw[16], r[24];
	snprintf(sub, sizeof(sub), "%s/%u", fmt(s->subnet, gw), s->len);
	fmt(s->gateway, gw);
	json_t *j =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:i}", "name", s->name, "id", s->id,
		      "driver", s->external ? "external" : "bridge", "subnet", sub, "gateway", gw,
		      "internal", s->internal, "masquerade", s->masquerade, "mtu", s->mtu);
	if (s->range_len) {
		char a[16];
		snprintf(r, sizeof(r), "%s/%u", fmt(s->range, a), s->range_len);
		json_object_set_new(j, "ip_range", json_string(r));
	}
	if (s->external)
		json_object_set_new(j, "parent", json_string(s->parent));
	else
		json_object_set_new(j, "device", json_string(s->device));
	char when[48];
	pl_time_format(s->created_ns, when, sizeof(when));
	json_object_set_new(j, "created", json_string(when));
	json_object_set_new(j, "created_ns", json_integer(s->created_ns));
	json_object_set_new(j, "labels", s->labels ? json_deep_copy(s->labels) : json_object());
	json_object_set_new(j, "options", s->options ? json_deep_copy(s->options) : json_object());
	return j;
}

/* Parses a create body (or a stored scope) into a record; addresses from the pool when the
 * caller gave no subnet. */
static pl_scope_t *scope_parse(pl_network_t *n, const json_t *b, bool stored, pl_error_t **err)
{
	static const char *const keys[] = {
	    "name", "driver", "subnet", "gateway", "ip_range",	 "internal", "masquerade", "parent",
	    "mtu",  "id",     "device", "created", "created_ns", "labels",   "options",	   NULL};
	static const char *const api_keys[] = {
	    "name",   "driver", "subnet", "gateway", "ip_range", "internal", "masquerade",
	    "parent", "mtu",	"labels", "options", "bridge",	 NULL};
	if (pl_json_check_keys(b, "network", stored ? keys : api_keys, err) < 0)
		return NULL;
	const char *name = NULL, *driver = NULL, *subnet = NULL, *gw = NULL, *range = NULL,
		   *parent = NULL, *id = NULL, *device = NULL;
	if (pl_json_get_string(b, "name", &name, err) < 0 ||
	    pl_json_get_string(b, "driver", &driver, err) < 0 ||
	    pl_json_get_string(b, "subnet", &subnet, err) < 0 ||
	    pl_json_get_string(b, "gateway", &gw, err) < 0 ||
	    pl_json_get_string(b, "ip_range", &range, err) < 0 ||
	    pl_json_get_string(b, "parent", &parent, err) < 0 ||
	    pl_json_get_string(b, "id", &id, err) < 0 ||
	    pl_json_get_string(b, "device", &device, err) < 0)
		return NULL;
	/* the API's "bridge": the name of the bridge device to make (stored as "device") */
	const char *bridge = NULL;
	if (!stored && pl_json_get_string(b, "bridge", &bridge, err) < 0)
		return NULL;
	if (bridge) {
		bool ok = *bridge && strlen(bridge) < 16 && strcmp(bridge, ".") &&
			  strcmp(bridge, "..") && !(driver && !strcmp(driver, "external"));
		for (const char *p = bridge; ok && *p; p++)
			ok = isalnum((unsigned char)*p) || strchr("_.-", *p);
		if (!ok) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "bridge \"%s\": a bridge scope's device name, "
				     "[a-zA-Z0-9_.-]{1,15}",
				     bridge);
			return NULL;
		}
		if (pl_scope_branch_name(bridge)) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "bridge \"%s\": pl[bud] and 12 hex digits name a scope's "
				     "branch bridges and their links",
				     bridge);
			return NULL;
		}
		/* made, not adopted: removing the scope deletes it */
		if (pl_netdev_exists(bridge)) {
			pl_error_set(err, PL_ERR_CONFLICT, 0,
				     "bridge %s already exists on the host", bridge);
			return NULL;
		}
		device = bridge;
	}
	if (!name || !pl_name_valid(name)) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "name \"%s\" must match [a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}",
			     name ? name : "");
		return NULL;
	}
	json_t *internal = json_object_get(b, "internal"), *masq = json_object_get(b, "masquerade"),
	       *mtu = json_object_get(b, "mtu");
	if ((internal && !json_is_boolean(internal)) || (masq && !json_is_boolean(masq))) {
		pl_error_set(err, PL_ERR_INVALID, 0, "internal and masquerade are booleans");
		return NULL;
	}
	if (mtu && (!json_is_integer(mtu) || json_integer_value(mtu) < 68 ||
		    json_integer_value(mtu) > 65535)) {
		pl_error_set(err, PL_ERR_INVALID, 0, "mtu must be an integer in [68, 65535]");
		return NULL;
	}
	const json_t *labels = json_object_get(b, "labels"),
		     *options = json_object_get(b, "options");
	if ((labels && pl_config_parse_string_map(labels, "labels", err) < 0) ||
	    (options && pl_config_parse_string_map(options, "options", err) < 0))
		return NULL;
	bool external = driver && strcmp(driver, "external") == 0;
	if (driver && !external && strcmp(driver, "bridge") != 0) {
		pl_error_set(err, PL_ERR_INVALID, 0, "driver \"%s\" must be bridge or external",
			     driver);
		return NULL;
	}
	if (external && (!parent || !*parent || strlen(parent) >= 16 || strchr(parent, '/'))) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "parent: the external driver needs the host interface to attach to");
		return NULL;
	}
	if (!external && parent) {
		pl_error_set(err, PL_ERR_INVALID, 0, "parent applies to the external driver only");
		return NULL;
	}
	if (external && !subnet) {
		pl_error_set(err, PL_ERR_INVALID, 0, "subnet: the external driver needs one");
		return NULL;
	}
	_cleanup_(scope_freep) pl_scope_t *s = pl_xcalloc(1, sizeof(*s));
	s->name = pl_xstrdup(name);
	s->external = external;
	s->labels = labels ? json_deep_copy(labels) : json_object();
	s->options = options ? json_deep_copy(options) : json_object();
	s->parent = parent ? pl_xstrdup(parent) : NULL;
	s->internal = json_is_true(internal);
	s->masquerade = masq ? json_is_true(masq) : !s->internal;
	s->mtu = mtu ? (int)json_integer_value(mtu) : DEFAULT_MTU;
	s->created_ns = json_integer_value(json_object_get(b, "created_ns"));
	if (subnet) {
		if (pl_ipam_parse_cidr(subnet, &s->subnet, &s->len, err) < 0) {
			pl_error_wrap(err, "subnet");
			return NULL;
		}
	} else if (gw || range) {
		pl_error_set(err, PL_ERR_INVALID, 0, "gateway and ip_range need a subnet");
		return NULL;
	} else {
		/* the first candidate no scope and no host address overlaps */
		struct ifaddrs *ifa = NULL;
		getifaddrs(&ifa);
		bool found = false;
		for (size_t i = 0; i < n->opts.n && !found; i++) {
			bool used = false;
			for (pl_scope_t *o = n->scopes; o && !used; o = o->next)
				used =
				    overlaps(o->subnet, o->len, n->opts.nets[i], n->opts.lens[i]);
			for (struct ifaddrs *a = ifa; a && !used; a = a->ifa_next) {
				if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET)
					continue;
				uint32_t ad =
				    ntohl(((struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr);
				used = (ad & pl_ipam_mask(n->opts.lens[i])) == n->opts.nets[i];
			}
			char why[96];
			used = used || pl_subnet_reserved(n->opts.nets[i], n->opts.lens[i]) ||
			       pl_subnet_host_conflict(n->opts.nets[i], n->opts.lens[i], why,
						       sizeof(why));
			if (!used) {
				s->subnet = n->opts.nets[i];
				s->len = n->opts.lens[i];
				found = true;
			}
		}
		if (ifa)
			freeifaddrs(ifa);
		if (!found) {
			pl_error_set(err, PL_ERR_CONFLICT, 0,
				     "no free subnet left in the address pool: give one");
			return NULL;
		}
	}
	if (gw) {
		if (pl_ipam_parse_addr(gw, &s->gateway) < 0) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "gateway \"%s\" is not an IPv4 address", gw);
			return NULL;
		}
	} else {
		s->gateway = s->subnet + 1;
	}
	if (range && pl_ipam_parse_cidr(range, &s->range, &s->range_len, err) < 0) {
		pl_error_wrap(err, "ip_range");
		return NULL;
	}
	s->ipam = pl_ipam_new(s->subnet, s->len, s->range, s->range_len, s->gateway, err);
	if (!s->ipam)
		return NULL;
	if (id && strlen(id) == PL_ID_LEN)
		snprintf(s->id, sizeof(s->id), "%s", id);
	else if (pl_id_generate(s->id, err) < 0)
		return NULL;
	if (!external) {
		if (device && strlen(device) < sizeof(s->device))
			snprintf(s->device, sizeof(s->device), "%s", device);
		else if (strcmp(name, DEFAULT_SCOPE) == 0)
			snprintf(s->device, sizeof(s->device), DEFAULT_BRIDGE);
		else
			snprintf(s->device, sizeof(s->device), "pl-%.10s", s->id);
	}
	return TAKE_PTR(s);
}

static int scope_save(pl_network_t *n, const pl_scope_t *s, pl_error_t **err)
{
	_cleanup_json_ json_t *j = scope_json(s);
	json_object_del(j, "created");
	_cleanup_free_ char *txt = pl_json_dump(j);
	_cleanup_free_ char *file = pl_xasprintf("%s.json", s->name);
	return pl_atomic_write(n->dirfd, file, txt, strlen(txt), err);
}

/* Brings up what the kernel side of a scope needs (after a reboot the bridge is gone). */
static int scope_plumb(pl_scope_t *s, pl_error_t **err)
{
	if (s->external) {
		if (!pl_netdev_exists(s->parent))
			return pl_error_set(err, PL_ERR_INVALID, ENODEV, "parent interface %s",
					    s->parent);
		return 0;
	}
	return pl_netdev_bridge_ensure(s->device, s->gateway, s->len, err);
}

static void link_scope(pl_network_t *n, pl_scope_t *s)
{
	/* in creation order, whatever order the directory lists them in */
	pl_scope_t **at = &n->scopes;
	while (*at && (*at)->created_ns <= s->created_ns)
		at = &(*at)->next;
	s->next = *at;
	*at = s;
}

/* --- allocation --- */

/* Takes cfg's recorded addresses in the allocators (a rebuild: conflicts are logged). */
static void take_recorded(pl_network_t *n, const pl_config_t *cfg, const char *who)
{
	size_t i;
	json_t *e;
	json_array_foreach(cfg->networks, i, e)
	{
		pl_scope_t *s = find_scope(n, json_string_value(json_object_get(e, "scope")));
		uint32_t a = pl_endpoint_ip(e);
		pl_error_t *er = NULL;
		if (s && a && pl_ipam_reserve(s->ipam, a, &er) < 0) {
			pl_log_warn("container %.12s: %s: %s", who, s->name, er->msg);
			pl_error_free(er);
			n->alloc_conflicts = true;
		}
	}
}

static void rebuild_except(pl_network_t *n, const pl_container_t *self)
{
	n->alloc_conflicts = false;
	for (pl_scope_t *s = n->scopes; s; s = s->next)
		pl_ipam_reset(s->ipam);
	for (pl_container_t *c = pl_container_first(n->pl); c; c = pl_container_next(c))
		if (c != self)
			take_recorded(n, pl_container_config(c), pl_container_id(c));
	pl_hostends_reserve(n, self); /* addresses whose host ends are still being deleted */
	/* with self left out the allocators hold what a commit may still refuse */
	n->alloc_stale = self != NULL;
}

void pl_network_rebuild(pl_network_t *n)
{
	if (n)
		n->alloc_stale =
		    true; /* derived at the next attach: one walk, not one per change */
}

/* c is gone (its host ends too): its addresses go back, unless the allocators are to be
 * derived anyway or two records claimed one address (then the other keeps it: derive
 * again). */
void pl_network_give_back(pl_network_t *n, const json_t *networks)
{
	if (n->alloc_stale || n->alloc_conflicts) {
		n->alloc_stale = true;
		return;
	}
	size_t i;
	json_t *e;
	json_array_foreach(networks, i, e)
	{
		pl_scope_t *s = find_scope(n, json_string_value(json_object_get(e, "scope")));
		uint32_t a = pl_endpoint_ip(e);
		if (s && a)
			pl_ipam_release(s->ipam, a);
	}
}

static bool port_clash(const json_t *a, const json_t *b)
{
	if (json_integer_value(json_object_get(a, "host_port")) !=
		json_integer_value(json_object_get(b, "host_port")) ||
	    strcmp(json_string_value(json_object_get(a, "protocol")),
		   json_string_value(json_object_get(b, "protocol"))))
		return false;
	const char *ha = json_string_value(json_object_get(a, "host_ip"));
	const char *hb = json_string_value(json_object_get(b, "host_ip"));
	return !*ha || !*hb || !strcmp(ha, hb);
}

/* Whether port p (with its host port set) clashes with another container's or with an
 * earlier entry of cfg. */
static const char *port_taken(pl_network_t *n, const pl_config_t *cfg, size_t upto, const json_t *p,
			      const pl_container_t *self)
{
	for (size_t k = 0; k < upto; k++)
		if (port_clash(json_array_get(cfg->ports, k), p))
			return "this container";
	for (pl_container_t *c = pl_container_first(n->pl); c; c = pl_container_next(c)) {
		if (c == self)
			continue;
		size_t i;
		json_t *q;
		json_array_foreach(pl_container_config(c)->ports, i,
				   q) if (port_clash(q, p)) return pl_container_id(c);
	}
	return NULL;
}

int pl_network_attach(pl_network_t *n, pl_config_t *cfg, const pl_container_t *self,
		      pl_error_t **err)
{
	/* a new container's addresses come from allocators that already hold every record's
	 * (kept as containers come and go); a replaced config is checked against all but
	 * its own */
	if (self || n->alloc_stale)
		rebuild_except(n, self);
	size_t i;
	json_t *e;
	json_array_foreach(cfg->networks, i, e)
	{
		const char *name = json_string_value(json_object_get(e, "scope"));
		pl_scope_t *s = find_scope(n, name);
		if (!s) {
			pl_error_set(err, PL_ERR_NOTFOUND, 0, "networks[%zu]: no such network: %s",
				     i, name);
			goto fail;
		}
		if (json_is_true(json_object_get(e, "default_route")) &&
		    (s->internal || s->external)) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "networks[%zu].default_route: %s is %s", i, s->name,
				     s->internal ? "internal (it has no outbound route)"
						 : "external (its gateway is not ours to promise)");
			goto fail;
		}
		/* a reference by id prefix is recorded by name */
		json_object_set_new(e, "scope", json_string(s->name));
		uint32_t a = pl_endpoint_ip(e);
		if ((a ? pl_ipam_reserve(s->ipam, a, err) : pl_ipam_alloc(s->ipam, &a, err)) < 0) {
			pl_error_wrap(err, "networks[%zu] (%s)", i, s->name);
			goto fail;
		}
		char b[16];
		json_object_set_new(e, "ip", json_string(fmt(a, b)));
	}
	const pl_scope_t *first =
	    json_array_size(cfg->ports)
		? find_scope(n, json_string_value(
				    json_object_get(json_array_get(cfg->networks, 0), "scope")))
		: NULL;
	if (first && first->internal) {
		/* published ports lead to the first scope's address: that would open the
		 * scope the caller asked to isolate */
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "ports: published ports lead to the first network, and %s is "
			     "internal: put a network that is not internal first",
			     first->name);
		goto fail;
	}
	json_array_foreach(cfg->ports, i, e)
	{
		json_t *hp = json_object_get(e, "host_port");
		if (json_integer_value(hp) == 0) {
			unsigned span = RANDOM_PORT_HI - RANDOM_PORT_LO + 1;
			unsigned start = (unsigned)(pl_now_ns() / 1000) % span;
			bool got = false;
			for (unsigned k = 0; k < span && !got; k++) {
				json_integer_set(hp, RANDOM_PORT_LO + (start + k) % span);
				got = !port_taken(n, cfg, i, e, self);
			}
			if (!got) {
				json_integer_set(hp, 0);
				pl_error_set(err, PL_ERR_CONFLICT, 0,
					     "ports[%zu]: no free host port", i);
				goto fail;
			}
			continue;
		}
		const char *who = port_taken(n, cfg, i, e, self);
		if (who) {
			pl_error_set(err, PL_ERR_CONFLICT, 0,
				     "ports[%zu]: host port %s/%lld is already published by %.12s",
				     i, json_string_value(json_object_get(e, "protocol")),
				     (long long)json_integer_value(hp), who);
			goto fail;
		}
	}
	/* the allocators now hold cfg's addresses instead of self's old ones: a caller whose
	 * commit fails after this rebuilds */
	return 0;
fail:
	pl_network_rebuild(n);
	return -1;
}

/* --- what a container's domain gets --- */

static bool mode_is(const pl_config_t *c, const char *m)
{
	return c->network_mode && strcmp(c->network_mode, m) == 0;
}

static void mac_of(uint32_t a, char out[18])
{
	snprintf(out, 18, "02:42:%02x:%02x:%02x:%02x", a >> 24, (a >> 16) & 255, (a >> 8) & 255,
		 a & 255);
}

const char *pl_network_external_scope(pl_network_t *n, const pl_config_t *cfg)
{
	if (!n || !mode_is(cfg, "bridge"))
		return NULL;
	size_t i;
	json_t *e;
	json_array_foreach(cfg->networks, i, e)
	{
		pl_scope_t *s = find_scope(n, json_string_value(json_object_get(e, "scope")));
		if (s && s->external)
			return s->name;
	}
	return NULL;
}

/* The scope of a container's i-th endpoint e (NULL when the scope is gone) and the
 * interface's name and MAC, on which the mechanism's link and the tether's addressing agree. */
static pl_scope_t *endpoint_iface(pl_network_t *n, json_t *e, size_t i, char mac[18],
				  char ifname[24])
{
	pl_scope_t *s = find_scope(n, json_string_value(json_object_get(e, "scope")));
	if (!s)
		return NULL;
	mac_of(pl_endpoint_ip(e), mac);
	snprintf(ifname, 24, "eth%zu", i);
	return s;
}

/* The host end of endpoint i of c (a veth's, or a VM's tap). */
static void host_ifname(const pl_container_t *c, size_t i, char *buf, size_t size)
{
	snprintf(buf, size, "pv%.10s%x", pl_container_id(c), (unsigned)i & 0xf);
}

void pl_scope_host_ifname(const pl_container_t *c, size_t i, char *buf, size_t size)
{
	host_ifname(c, i, buf, size);
}

size_t pl_network_endpoints(pl_network_t *n, const pl_container_t *c, pl_domain_endpoint_t **out)
{
	*out = NULL;
	if (!n || !mode_is(pl_container_config(c), "bridge"))
		return 0;
	const json_t *nets = pl_container_config(c)->networks;
	pl_domain_endpoint_t *v = pl_xcalloc(json_array_size(nets) + 1, sizeof(*v));
	size_t i, k = 0;
	json_t *e;
	json_array_foreach(nets, i, e)
	{
		char mac[18], ifname[24];
		pl_scope_t *s = endpoint_iface(n, e, i, mac, ifname);
		if (!s)
			continue;
		pl_domain_endpoint_t *ep = &v[k++];
		snprintf(ep->ifname, sizeof(ep->ifname), "%.15s", ifname);
		snprintf(ep->mac, sizeof(ep->mac), "%s", mac);
		ep->mtu = s->mtu;
		if (s->external) {
			ep->kind = PL_ENDPOINT_MACVLAN;
			snprintf(ep->parent, sizeof(ep->parent), "%s", s->parent);
		} else {
			ep->kind = PL_ENDPOINT_VETH;
			pl_scope_bridge_for(s, pl_endpoint_ip(e), ep->bridge);
			host_ifname(c, i, ep->host_ifname, sizeof(ep->host_ifname));
		}
	}
	*out = v;
	return k;
}

/* The host's nameservers, for scopes without a responder (loopback ones cannot serve a
 * container). */
static json_t *host_nameservers(void)
{
	json_t *out = json_array();
	_cleanup_free_ char *txt = NULL;
	if (pl_read_file_at(AT_FDCWD, "/etc/resolv.conf", &txt, NULL, 1 << 16, NULL) < 0)
		return out;
	struct in_addr ns[16];
	int k = pl_dns_parse_resolv_conf(txt, ns, (int)PL_ARRAY_SIZE(ns));
	for (int i = 0; i < k; i++) {
		char b[16];
		uint32_t a = ntohl(ns[i].s_addr);
		if (a >> 24 != 127)
			json_array_append_new(out, json_string(pl_ipam_format(a, b)));
	}
	return out;
}

/* Without a name server on the scope, the containers running on it when c starts are
 * written to c's /etc/hosts (later ones are not seen: the responder is the real answer). */
static void add_peers(pl_network_t *n, const pl_container_t *c, const pl_scope_t *s, json_t *hosts)
{
	for (pl_container_t *o = pl_container_first(n->pl); o; o = pl_container_next(o)) {
		if (o == c || !pl_container_is_running(o))
			continue;
		size_t i;
		json_t *e;
		json_array_foreach(pl_container_config(o)->networks, i, e)
		{
			if (strcmp(json_string_value(json_object_get(e, "scope")), s->name))
				continue;
			char sid[13];
			snprintf(sid, sizeof(sid), "%.12s", pl_container_id(o));
			json_t *h = json_pack("[O,s]", json_object_get(e, "ip"), sid);
			if (pl_container_config(o)->name)
				json_array_append_new(h, json_string(pl_container_config(o)->name));
			json_array_extend(h, json_object_get(e, "aliases"));
			json_array_append_new(hosts, h);
		}
	}
}

static bool default_route_asked(const json_t *nets)
{
	size_t i;
	json_t *e;
	json_array_foreach(nets, i, e)
	{
		if (json_is_true(json_object_get(e, "default_route")))
			return true;
	}
	return false;
}

json_t *pl_network_tether_json(pl_network_t *n, const pl_container_t *c)
{
	if (!n || !mode_is(pl_container_config(c), "bridge"))
		return NULL;
	json_t *ifs = json_array(), *routes = json_array(), *servers = json_array();
	json_t *hosts = json_pack("[[s,s],[s,s,s,s]]", "127.0.0.1", "localhost", "::1", "localhost",
				  "ip6-localhost", "ip6-loopback");
	/* the default route: the scope asked for, else the first that is not internal */
	bool have_default = default_route_asked(pl_container_config(c)->networks);
	char hb[13];
	const char *hostname = pl_container_config(c)->hostname;
	if (!hostname) {
		snprintf(hb, sizeof(hb), "%.12s", pl_container_id(c));
		hostname = hb;
	}
	size_t i;
	json_t *e;
	json_array_foreach(pl_container_config(c)->networks, i, e)
	{
		char mac[18], ifname[24], addr[24], ip[16], gw[16], sid[13];
		pl_scope_t *s = endpoint_iface(n, e, i, mac, ifname);
		if (!s)
			continue;
		uint32_t a = pl_endpoint_ip(e);
		snprintf(addr, sizeof(addr), "%s/%u", fmt(a, ip), s->len);
		json_array_append_new(ifs, json_pack("{s:s, s:s, s:[s], s:i}", "name", ifname,
						     "mac", mac, "addresses", addr, "mtu", s->mtu));
		fmt(s->gateway, gw);
		if (json_is_true(json_object_get(e, "default_route")) ||
		    (!s->internal && !have_default)) {
			json_array_append_new(
			    routes, json_pack("{s:s, s:s}", "dst", "0.0.0.0/0", "gateway", gw));
			have_default = true;
		}
		if (s->dns && !s->external)
			json_array_append_new(servers, json_string(gw));
		json_t *h = json_pack("[s,s]", ip, hostname);
		snprintf(sid, sizeof(sid), "%.12s", pl_container_id(c));
		if (pl_container_config(c)->name && strcmp(pl_container_config(c)->name, hostname))
			json_array_append_new(h, json_string(pl_container_config(c)->name));
		if (strcmp(sid, hostname))
			json_array_append_new(h, json_string(sid));
		json_array_extend(h, json_object_get(e, "aliases"));
		json_array_append_new(hosts, h);
		if (!s->dns)
			add_peers(n, c, s, hosts);
	}
	if (!json_array_size(servers)) {
		json_decref(servers);
		servers = host_nameservers();
	}
	return json_pack("{s:o, s:o, s:o, s:{s:o, s:[], s:[]}}", "interfaces", ifs, "routes",
			 routes, "hosts", hosts, "dns", "servers", servers, "search", "options");
}

json_t *pl_network_ports_json(const pl_container_t *c)
{
	return json_deep_copy(pl_container_config(c)->ports);
}

json_t *pl_network_container_json(pl_network_t *n, const pl_container_t *c)
{
	json_t *eps = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(pl_container_config(c)->networks, i, e)
	{
		pl_scope_t *s =
		    n ? find_scope(n, json_string_value(json_object_get(e, "scope"))) : NULL;
		char mac[18], gw[16], ifname[24];
		mac_of(pl_endpoint_ip(e), mac);
		snprintf(ifname, sizeof(ifname), "eth%zu", i);
		json_t *ep = json_pack("{s:s, s:O, s:s, s:s, s:O}", "scope",
				       json_string_value(json_object_get(e, "scope")), "ip",
				       json_object_get(e, "ip"), "mac", mac, "ifname", ifname,
				       "aliases", json_object_get(e, "aliases"));
		if (s) {
			json_object_set_new(ep, "prefix_len", json_integer(s->len));
			json_object_set_new(ep, "gateway", json_string(fmt(s->gateway, gw)));
		}
		json_array_append_new(eps, ep);
	}
	return json_pack("{s:s, s:o, s:o}", "mode",
			 pl_container_config(c)->network_mode ? pl_container_config(c)->network_mode
							      : "none",
			 "endpoints", eps, "ports", pl_network_ports_json(c));
}

void pl_network_container_changed(pl_network_t *n, const pl_container_t *c)
{
	if (n && json_array_size(pl_container_config(c)->ports))
		pl_nft_write(n, false, NULL);
}

int pl_network_prepare(pl_network_t *n, const pl_container_t *c, pl_error_t **err)
{
	if (!n)
		return 0;
	/* its host ends of the last run are gone before this run's take their names */
	pl_hostends_wait(n, c);
	if (!mode_is(pl_container_config(c), "bridge"))
		return 0;
	/* its scopes' isolation must be in place before it runs (scopes are written when
	 * created: what can still be pending is a failed write, or a stale DNAT to one of
	 * its addresses) */
	_cleanup_json_ json_t *ips = json_array();
	size_t i;
	json_t *e;
	json_array_foreach(pl_container_config(c)->networks, i, e)
	{
		json_array_append(ips, json_object_get(e, "ip"));
	}
	return pl_nft_settle(n, ips, err);
}

bool pl_network_rules_pending(const pl_network_t *n)
{
	return pl_nft_pending(n->nft);
}

/* --- scopes API --- */

static json_t *endpoints_of(pl_network_t *n, const pl_scope_t *s)
{
	json_t *out = json_array();
	for (pl_container_t *c = pl_container_first(n->pl); c; c = pl_container_next(c)) {
		size_t i;
		json_t *e;
		json_array_foreach(pl_container_config(c)->networks, i, e)
		{
			if (strcmp(json_string_value(json_object_get(e, "scope")), s->name))
				continue;
			char mac[18];
			mac_of(pl_endpoint_ip(e), mac);
			json_array_append_new(
			    out, json_pack("{s:s, s:s, s:O, s:s, s:O, s:b}", "container",
					   pl_container_id(c), "name", pl_container_name(c), "ip",
					   json_object_get(e, "ip"), "mac", mac, "aliases",
					   json_object_get(e, "aliases"), "running",
					   pl_container_is_running(c)));
		}
	}
	return out;
}

/* The table is one for every scope: its last failure shows on each. */
static json_t *with_rules_error(pl_network_t *n, json_t *j)
{
	const char *e = pl_nft_error(n->nft);
	if (e)
		json_object_set_new(j, "rules_error", json_string(e));
	return j;
}

json_t *pl_network_list(pl_network_t *n)
{
	json_t *out = json_array();
	for (pl_scope_t *s = n->scopes; s; s = s->next)
		json_array_append_new(out, with_rules_error(n, scope_json(s)));
	return out;
}

json_t *pl_network_inspect(pl_network_t *n, const char *name, pl_error_t **err)
{
	pl_scope_t *s = find_scope(n, name);
	if (!s) {
		pl_error_set(err, PL_ERR_NOTFOUND, 0, "no such network: %s", name);
		return NULL;
	}
	json_t *j = with_rules_error(n, scope_json(s));
	json_object_set_new(j, "endpoints", endpoints_of(n, s));
	return j;
}

/* Removes s's file, responder, bridge and record: -1 with errno when the file stays. */
static int forget_scope(pl_network_t *n, pl_scope_t *s)
{
	_cleanup_free_ char *file = pl_xasprintf("%s.json", s->name);
	if (unlinkat(n->dirfd, file, 0) < 0 && errno != ENOENT)
		return -1;
	fsync(n->dirfd);
	pl_scope_dns_stop(s);
	pl_error_t *e = NULL;
	if (!s->external)
		pl_scope_branches_delete(s);
	if (!s->external && pl_netdev_delete(s->device, &e) < 0) {
		pl_log_warn("network %s: %s", s->name, e->msg);
		pl_error_free(e);
	}
	for (pl_scope_t **at = &n->scopes; *at; at = &(*at)->next) {
		if (*at == s) {
			*at = s->next;
			break;
		}
	}
	scope_free(s);
	return 0;
}

json_t *pl_network_create(pl_network_t *n, const json_t *body, pl_error_t **err)
{
	_cleanup_(scope_freep) pl_scope_t *s = scope_parse(n, body, false, err);
	if (!s)
		return NULL;
	char b[16], why[96];
	const char *rsv = pl_subnet_reserved(s->subnet, s->len);
	if (rsv) {
		pl_error_set(err, PL_ERR_INVALID, 0, "subnet %s/%u overlaps %s", fmt(s->subnet, b),
			     s->len, rsv);
		return NULL;
	}
	/* an external scope's subnet is its parent's LAN: the host reaching it is the point */
	if (!s->external && pl_subnet_host_conflict(s->subnet, s->len, why, sizeof(why))) {
		pl_error_set(err, PL_ERR_CONFLICT, 0, "subnet %s/%u overlaps %s on the host",
			     fmt(s->subnet, b), s->len, why);
		return NULL;
	}
	for (pl_scope_t *o = n->scopes; o; o = o->next) {
		if (!strcmp(o->name, s->name)) {
			pl_error_set(err, PL_ERR_CONFLICT, 0, "network %s already exists", s->name);
			return NULL;
		}
		if (overlaps(o->subnet, o->len, s->subnet, s->len)) {
			pl_error_set(err, PL_ERR_CONFLICT, 0, "subnet %s/%u overlaps network %s's",
				     fmt(s->subnet, b), s->len, o->name);
			return NULL;
		}
	}
	s->created_ns = pl_now_ns();
	if (scope_plumb(s, err) < 0 || scope_save(n, s, err) < 0) {
		if (!s->external)
			pl_netdev_delete(s->device, NULL);
		pl_error_wrap(err, "create network %s", s->name);
		return NULL;
	}
	pl_scope_t *added = TAKE_PTR(s);
	link_scope(n, added);
	pl_scope_dns_start(n, added);
	/* its rules (an internal scope's isolation) are in place before anyone can use it;
	 * when they cannot be written the scope is not created */
	if (pl_nft_write(n, true, err) < 0) {
		_cleanup_free_ char *name = pl_xstrdup(added->name);
		forget_scope(n, added);
		pl_error_wrap(err, "create network %s", name);
		return NULL;
	}
	return pl_network_inspect(n, added->name, err);
}

int pl_network_remove(pl_network_t *n, const char *name, pl_error_t **err)
{
	pl_scope_t *s = find_scope(n, name);
	if (!s)
		return pl_error_set(err, PL_ERR_NOTFOUND, 0, "no such network: %s", name);
	if (!strcmp(s->name, DEFAULT_SCOPE))
		return pl_error_set(err, PL_ERR_CONFLICT, 0,
				    "the default network %s cannot be removed", s->name);
	_cleanup_json_ json_t *eps = endpoints_of(n, s);
	if (json_array_size(eps))
		return pl_error_set(
		    err, PL_ERR_CONFLICT, 0,
		    "network %s has %zu endpoint(s) (container %.12s): "
		    "remove or disconnect them first",
		    s->name, json_array_size(eps),
		    json_string_value(json_object_get(json_array_get(eps, 0), "container")));
	pl_hostends_wait(n, NULL); /* no veth outlives its scope */
	if (forget_scope(n, s) < 0)
		return pl_error_errno(err, "remove network %s", name);
	pl_nft_write(n, false, NULL);
	return 0;
}

/* --- open / close --- */

static int load_scopes(pl_network_t *n, pl_error_t **err)
{
	int fd = fcntl(n->dirfd, F_DUPFD_CLOEXEC, 3);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return pl_error_errno(err, "read network directory");
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".json") || de->d_name[0] == '.')
			continue;
		_cleanup_free_ char *txt = NULL;
		pl_error_t *e = NULL;
		_cleanup_json_ json_t *j = NULL;
		pl_scope_t *s = NULL;
		if (pl_read_file_at(n->dirfd, de->d_name, &txt, NULL, 1 << 20, &e) == 0 &&
		    (j = pl_json_parse(txt, strlen(txt), de->d_name, &e)))
			s = scope_parse(n, j, true, &e);
		if (!s) {
			pl_log_warn("network %s: %s (skipped)", de->d_name, e ? e->msg : "?");
			pl_error_free(e);
			continue;
		}
		link_scope(n, s);
	}
	closedir(d);
	return 0;
}

/* The network follows containers: ports when they start and stop, addresses when they go. */
static void on_lifecycle(pl_portlayer_t *pl, pl_container_t *c, pl_lifecycle_t what, void *data)
{
	pl_network_t *n = data;
	switch (what) {
	case PL_LIFECYCLE_STOPPED:
		/* its veths go now, not when the kernel gets round to its network namespace
		 * (asynchronous, it can lag on a busy host), but off the loop: the exit and
		 * the answers waiting on it do not pay for the deletion */
		pl_hostends_stopped(n, c);
		pl_network_container_changed(n, c);
		break;
	case PL_LIFECYCLE_STARTED:
		pl_network_container_changed(n, c);
		break;
	case PL_LIFECYCLE_GONE:
		if (!pl_hostends_gone(n, c))
			pl_network_give_back(n, pl_container_config(c)->networks);
		break;
	case PL_LIFECYCLE_RUNNING:
	case PL_LIFECYCLE_RESUMED:
	case PL_LIFECYCLE_RELEASED:
	default:
		break;
	}
}

pl_network_t *pl_network_open(pl_portlayer_t *pl, const char *root, pl_loop_t *loop,
			      const char *address_pool, int netns_pool, pl_error_t **err)
{
	struct pl_network_opts opts = {0};
	if (parse_options(&opts, address_pool, netns_pool, err) < 0)
		return NULL;
	_cleanup_free_ char *dir = pl_xasprintf("%s/network", root);
	if (pl_mkdir_p(dir, 0700, err) < 0)
		return NULL;
	pl_network_t *n = pl_xcalloc(1, sizeof(*n));
	n->pl = pl;
	n->opts = opts;
	n->loop = loop;
	n->nft = pl_nft_new(loop);
	n->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (n->dirfd < 0) {
		pl_error_errno(err, "open %s", dir);
		return pl_network_free(n);
	}
	if (load_scopes(n, err) < 0)
		return pl_network_free(n);
	if (!find_scope(n, DEFAULT_SCOPE)) {
		/* without it the daemon still serves (none and host, other scopes): the
		 * operator sees why in the log and can free a subnet or give --address-pool */
		pl_error_t *e = NULL;
		json_t *b = json_pack("{s:s}", "name", DEFAULT_SCOPE);
		pl_scope_t *s = scope_parse(n, b, false, &e);
		json_decref(b);
		if (s)
			s->created_ns = pl_now_ns();
		if (s && scope_save(n, s, &e) < 0)
			s = scope_free(s);
		if (s)
			link_scope(n, s);
		else
			pl_log_error("network %s: %s", DEFAULT_SCOPE, e ? e->msg : "?");
		pl_error_free(e);
	}
	for (pl_scope_t *s = n->scopes; s; s = s->next) {
		pl_error_t *e = NULL;
		if (scope_plumb(s, &e) < 0) {
			pl_log_warn("network %s: %s", s->name, e->msg);
			pl_error_free(e);
			continue;
		}
		pl_scope_dns_start(n, s);
	}
	pl_hostends_open(n);
	pl_network_rebuild(n);
	/* without its table the daemon would run containers unisolated: fatal */
	if (pl_nft_write(n, true, err) < 0) {
		pl_error_wrap(err, "networking");
		return pl_network_free(n);
	}
	pl_netns_pool_init(n, n->opts.netns_pool);
	pl_portlayer_subscribe(pl, on_lifecycle, n);
	return n;
}

pl_network_t *pl_network_free(pl_network_t *n)
{
	if (!n)
		return NULL;
	pl_hostends_close(n); /* no veth outlives the daemon's shutdown */
	while (n->scopes) {
		pl_scope_t *s = n->scopes;
		n->scopes = s->next;
		pl_scope_dns_stop(s);
		scope_free(s);
	}
	n->nft = pl_nft_free(n->nft);
	pl_netns_pool_free(n);
	if (n->dirfd >= 0)
		close(n->dirfd);
	free(n);
	return NULL;
}
