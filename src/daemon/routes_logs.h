/* SPDX-License-Identifier: Apache-2.0 */
/* GET /containers/{id}/logs, following the log file by inotify. */
#pragma once

#include "daemon/routes.h"

/* The inotify watch that wakes following readers; closed by pl_routes_logs_shutdown. */
int pl_routes_logs_init(pl_app_t *app, pl_error_t **err);
void pl_routes_logs_shutdown(pl_app_t *app);
