/* SPDX-License-Identifier: Apache-2.0 */
/* Pods: containers that share another container's namespaces ("container:<id>" network,
 * ipc and pid modes) or the host's (host ipc, pid, uts). The container core asks this unit
 * at create (references resolved to full ids; what the mechanism cannot share refused,
 * naming the field), at start (every target running, else CONFLICT naming it; the
 * namespaces to enter), at remove (a target with running joiners stays unless forced) and
 * for tether's network files (a joiner writes its target's /etc/hosts and resolv.conf). */
#pragma once

#include <jansson.h>
#include "common/error.h"
#include "mechanism/mechanism.h"
#include "portlayer/container.h"

int pl_pods_resolve(pl_portlayer_t *pl, pl_config_t *cfg, pl_error_t **err);
/* Fills join (and *netns_fd, a joined network namespace, or -1) for c's start. */
int pl_pods_prepare(pl_portlayer_t *pl, pl_container_t *c, pl_ns_join_t *join, int *netns_fd,
		    pl_error_t **err);
void pl_pods_release(pl_ns_join_t *join);
/* c's domain ended (or c goes): what it shared on the host is released. */
void pl_pods_domain_gone(pl_container_t *c);
/* CONFLICT when running containers share c's namespaces (and force is false). */
int pl_pods_check_remove(pl_portlayer_t *pl, pl_container_t *c, bool force, pl_error_t **err);
/* tether's CONFIG "network" for c: its own (network.c) or its network target's, with the
 * names of hostcfg.c applied; NULL when it has none. */
json_t *pl_pods_tether_network(pl_portlayer_t *pl, pl_container_t *c, const char *hostname);
