/* SPDX-License-Identifier: Apache-2.0 */
/* Route helpers of the containers group that the handles group shares. */
#pragma once

#include "daemon/routes.h"

/* A request answered once a run-state change has happened (start, stop, a handle commit):
 * begin before the library call, give it pl_route_state_started with pl_route_state_link
 * as its callback (the library may call it after the client hung up), and end with the
 * call's result (a pl_state_progress_t, or -1 with e, which is taken). reply (stolen)
 * answers the change (NULL: 204); not_modified answers 304 when there was nothing to do.
 * c NULL: a container the call creates (no exits yet). */
typedef struct pl_route_state pl_route_state_t;
pl_route_state_t *pl_route_state_begin(pl_app_t *app, pl_req_t *r, pl_container_t *c);
void pl_route_state_started(pl_portlayer_t *pl, const char *id, const pl_error_t *err, void *data);
void *pl_route_state_link(pl_route_state_t *s);
void pl_route_state_end(pl_route_state_t *s, int progress, pl_error_t *e, json_t *reply,
			bool not_modified);
/* Frees a state wait that will not be used (the request is answered otherwise). */
void pl_route_state_cancel(pl_route_state_t *s);
