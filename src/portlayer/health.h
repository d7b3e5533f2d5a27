/* SPDX-License-Identifier: Apache-2.0 */
/* Health checks: the create body's "healthcheck" field, and the checks themselves, which the
 * port layer runs as exec sessions in a running container (a check is an exec like any other,
 * so it works on every mechanism tether runs on). This unit owns each container's health
 * record: status (starting, healthy, unhealthy), the failing streak and the last results,
 * kept in the domain directory as health.json so a restarted daemon carries on from them
 * instead of starting over. Status changes are "health_status" events and change
 * notifications (wait?condition=healthy). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include "common/error.h"
#include "portlayer/config.h"

typedef struct pl_container pl_container_t;
typedef struct pl_portlayer pl_portlayer_t;

/* Parses body.healthcheck into c->healthcheck (canonical form, defaults filled). */
int pl_health_config_parse(pl_config_t *c, const json_t *body, pl_error_t **err);
void pl_health_config_to_json(const pl_config_t *c, json_t *j);

/* Follows the containers' lifecycle (pl_portlayer_subscribe): checks start when the
 * primary process runs (or a reattached domain is linked again: its record is read back)
 * and stop when the domain ends or the daemon lets go of it. Called once by
 * pl_portlayer_open. */
void pl_health_follow(pl_portlayer_t *pl);
/* The record goes with the container's (pl_container_free_record). */
void pl_health_free(pl_container_t *c);
/* {"status","failing_streak","log":[{"start","end","exit_code","output"}]}, or NULL when the
 * container has no check (none configured, or ["NONE"]). */
json_t *pl_health_json(const pl_container_t *c);
/* "starting", "healthy", "unhealthy", or NULL (no check, or not running). */
const char *pl_health_status(const pl_container_t *c);
