/* SPDX-License-Identifier: Apache-2.0 */
/* Host network devices for the port layer's scopes and the domains' endpoints: bridges
 * (one per bridge scope, the gateway address on it) and the host side of an endpoint
 * (a veth pair whose inside end is created directly in the domain's network namespace, or
 * a macvlan on an existing interface). The linux implementation (host/linux/netdev.c)
 * speaks rtnetlink; nothing here configures the inside of a domain: tether does that.
 * Addresses are IPv4 in host byte order. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/error.h"
#include "mechanism/domain.h"

/* Creates the bridge unless it exists, gives it addr/prefix (the scope's gateway), brings
 * it up, and lets it carry DNAT'ed loopback traffic (route_localnet) and forwarding. */
int pl_netdev_bridge_ensure(const char *name, uint32_t addr, unsigned prefix, pl_error_t **err);
/* Deletes a device (a bridge, a left-over veth); a missing one is not an error. */
int pl_netdev_delete(const char *name, pl_error_t **err);
bool pl_netdev_exists(const char *name);
/* The devices enslaved to bridge (its ports): how many, their names in *names (free()). A
 * missing bridge has none. */
int pl_netdev_bridge_ports(const char *bridge, char (**names)[16], pl_error_t **err);
/* Plumbs one endpoint (a veth on its bridge, or a macvlan on its parent) into the network
 * namespace of pid (netns_fd >= 0 wins over pid). The inside end stays down: tether brings
 * it up with its addresses. */
int pl_netdev_endpoint_add(pid_t pid, int netns_fd, const pl_domain_endpoint_t *ep,
			   pl_error_t **err);
/* Every endpoint of a domain (eps[0..n)), in order; the error names the one that failed. */
int pl_netdev_endpoints_add(pid_t pid, int netns_fd, const pl_domain_endpoint_t *eps, size_t n,
			    pl_error_t **err);
/* A new network namespace, as an fd, without moving the caller: it steps in and straight
 * back (the daemon is single-threaded). -errno on failure. */
int pl_netdev_netns_new(void);
