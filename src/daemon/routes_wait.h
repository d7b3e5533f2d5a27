/* SPDX-License-Identifier: Apache-2.0 */
/* The wait conditions of the engine primitives: removed (auto_remove) and healthy (health
 * checks). POST /containers/{id}/wait (routes_containers.c) hands them over. */
#pragma once

#include "daemon/routes.h"

/* cond is "removed" or "healthy"; timeout in seconds, negative for none. */
void pl_route_wait_condition(pl_app_t *app, pl_req_t *r, pl_container_t *c, const char *cond,
			     double timeout);
