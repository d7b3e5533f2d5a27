/* SPDX-License-Identifier: Apache-2.0 */
/* Network scopes and endpoints: bridge scopes (a Linux bridge with a subnet, a gateway and
 * IPAM, NAT and published ports through nftables), external scopes (macvlan on an existing
 * interface), and what a container on them needs: the endpoints the mechanism plumbs before
 * the domain starts and the "network" object of tether's CONFIG. Owns every scope (persisted
 * as ROOT/network/<name>.json) and the allocator state, which is derived: rebuilt from the
 * containers' configs (where assigned addresses and host ports are recorded). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include "common/error.h"
#include "common/loop.h"
#include "mechanism/domain.h"
#include "portlayer/config.h"

#define PL_NETWORK_MAX_SCOPES 8 /* scopes one container may join */

typedef struct pl_network pl_network_t;
struct pl_portlayer;
struct pl_container;

/* Loads the scopes, makes sure the default bridge scope exists, recreates missing bridges,
 * rebuilds the allocators from the containers and writes the nftables table once.
 * address_pool: the candidate subnets for scopes created without one ("CIDR,CIDR,...";
 * NULL: 172.17-31.0.0/16 then 192.168.N.0/20); netns_pool: the size of the network
 * namespace pool (0 disables it). */
pl_network_t *pl_network_open(struct pl_portlayer *pl, const char *root, pl_loop_t *loop,
			      const char *address_pool, int netns_pool, pl_error_t **err);
/* Drops the daemon's view; bridges and rules stay (containers outlive the daemon). */
pl_network_t *pl_network_free(pl_network_t *n);

/* Scopes API: {"name","driver","subnet","gateway","ip_range","internal","masquerade",
 * "parent","mtu"} */
json_t *pl_network_create(pl_network_t *n, const json_t *body, pl_error_t **err);
json_t *pl_network_list(pl_network_t *n);
json_t *pl_network_inspect(pl_network_t *n, const char *name, pl_error_t **err);
/* CONFLICT while a container is on the scope; removes the bridge and its rules. */
int pl_network_remove(pl_network_t *n, const char *name, pl_error_t **err);

/* config.c: the network fields of a create body (shape only; scopes are checked by
 * pl_network_attach): network_mode, networks, ports. */
int pl_network_config_parse(pl_config_t *c, const json_t *body, pl_error_t **err);
void pl_network_config_to_json(const pl_config_t *c, json_t *j);
void pl_network_config_clear(pl_config_t *c);

/* A new config (create, or a handle's staged change): the scopes exist, addresses are
 * assigned (static ones taken: CONFLICT when held, INVALID outside the subnet) and host
 * ports chosen (0: a free one; CONFLICT when another container publishes it). The
 * assignments are written into cfg. self: the container whose old config cfg replaces. */
int pl_network_attach(pl_network_t *n, pl_config_t *cfg, const struct pl_container *self,
		      pl_error_t **err);
/* The allocators are to be derived again from every container's config, at the next attach
 * (after a failed commit or create gave addresses back). */
void pl_network_rebuild(pl_network_t *n);

/* What the mechanism plumbs on the host for c (mechanism/domain.h): how many, in *out
 * (free()); one per network of c's config whose scope still exists, in the config's order. */
size_t pl_network_endpoints(pl_network_t *n, const struct pl_container *c,
			    pl_domain_endpoint_t **out);
/* The first scope of cfg's networks that sits on an external interface, or NULL. */
const char *pl_network_external_scope(pl_network_t *n, const pl_config_t *cfg);
/* tether's CONFIG "network" object for c, NULL when c has no network of its own. */
json_t *pl_network_tether_json(pl_network_t *n, const struct pl_container *c);
/* Before c's domain starts: the nftables table matches the state (a pending or failed
 * write is done now, synchronously); -1 when it cannot be written (c must not run
 * unisolated). */
int pl_network_prepare(pl_network_t *n, const struct pl_container *c, pl_error_t **err);
/* c started or stopped: published ports follow (the table is rewritten only when c
 * publishes any). */
void pl_network_container_changed(pl_network_t *n, const struct pl_container *c);
/* The ports c publishes: [{"container_port","protocol","host_ip","host_port"}]. */
json_t *pl_network_ports_json(const struct pl_container *c);
/* inspect's "network" object: mode, endpoints with addresses, ports. */
json_t *pl_network_container_json(pl_network_t *n, const struct pl_container *c);
/* Whether the table may not match the state yet: a write running, queued or failed. */
bool pl_network_rules_pending(const pl_network_t *n);
/* The netns pool: an fd of a fresh network namespace, or -1 (pool off or empty). The
 * caller owns the fd. Refilled off the hot path. */
int pl_network_netns_take(pl_network_t *n);
