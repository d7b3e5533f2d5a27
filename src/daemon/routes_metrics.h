/* SPDX-License-Identifier: Apache-2.0 */
/* GET /metrics (table pl_routes_metrics): the daemon's and the library's counters in the
 * Prometheus text format (version 0.0.4), and the per-route request counts and latencies
 * the HTTP front reports through its observer. The library's counters live in
 * portlayer/metrics. */
#pragma once

#include "daemon/routes.h"

/* Installs the request observer on app->http and the state it counts into. */
void pl_metrics_routes_init(pl_app_t *app);
void pl_metrics_routes_free(pl_app_t *app);
