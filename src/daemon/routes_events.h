/* SPDX-License-Identifier: Apache-2.0 */
/* GET /events: the library's events as a newline-delimited JSON stream. */
#pragma once

#include "daemon/routes.h"

/* Subscribes to the library's events for the open streams. */
void pl_routes_events_init(pl_app_t *app);
/* Ends every open stream (each ends once its buffered events are taken). */
void pl_routes_events_shutdown(pl_app_t *app);
