/* SPDX-License-Identifier: Apache-2.0 */
/* Network changes of a running container (docker network connect/disconnect): a committed
 * "network" change reaches the live domain through the mechanism's net_connect and
 * net_disconnect before the config records it. A mechanism without them (a VM: no NIC
 * hot-plug) refuses with CONFLICT and the reason. Endpoints are named by their position, so
 * a running container loses only its last networks (CONFLICT otherwise: stop it first). */
#pragma once

#include "common/error.h"
#include "portlayer/container.h"

/* At staging: may this change (action "connect"/"disconnect" of scope) reach c while it
 * runs? 0 when it may (or c is not running). */
int pl_netlive_check(const pl_container_t *c, const pl_config_t *cfg, const char *action,
		     const char *scope, pl_error_t **err);
/* At commit, before cfg replaces c's config: plumbs the difference into the running domain
 * (nothing when c is not running or its networks did not change). Returns 1 when it
 * changed the domain (the caller then lets published ports follow), 0, or -1. */
int pl_netlive_apply(pl_portlayer_t *pl, pl_container_t *c, pl_config_t *cfg, pl_error_t **err);
/* After the config records the change: c (and the containers in its network namespace)
 * get /etc/hosts and /etc/resolv.conf written again by tether (NETWORK). */
void pl_netlive_refresh_names(pl_portlayer_t *pl, pl_container_t *c);
