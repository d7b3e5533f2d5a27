/* SPDX-License-Identifier: Apache-2.0 */
/* POST /containers?follow=1: a whole foreground run in one request (routes_run.c). */
#pragma once

#include "daemon/routes.h"

/* Creates and starts the container body describes (without "start") and answers with its
 * output followed by its exit status; a create or start that fails is answered as POST
 * /containers with "start": true answers it. */
void pl_route_run_follow(pl_app_t *app, pl_req_t *r, const json_t *body);
/* The library's change notification, for the runs being followed (routes.c's on_change). */
void pl_routes_run_changed(pl_app_t *app, pl_container_t *c);
