/* Route helpers of the containers group that the handles group shares. */
#pragma once

#include "daemon/routes.h"

/* Carries out a state change (POST start/stop, or a committed handle) and answers once it
 * has happened: with reply (stolen; NULL answers 204), or 304 when `not_modified` applies. */
void pl_route_change_state(pl_app_t *app, pl_req_t *r, pl_container_t *c, pl_want_state_t want,
			   int64_t stop_timeout, json_t *reply, bool not_modified);
