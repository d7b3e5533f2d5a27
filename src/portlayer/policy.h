/* SPDX-License-Identifier: Apache-2.0 */
/* The privilege and resource parts of the isolation criteria: what a container may do
 * (capabilities, no_new_privs, seccomp, read-only root, sysctls, rlimits, tmpfs mounts,
 * oom_score_adj) and how much it may use (memory, CPU, pids, block IO). This unit owns
 * their validation and canonical JSON; mechanisms enforce them. The types themselves are
 * part of the domain description (mechanism/domain.h). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "common/error.h"
#include "mechanism/domain.h"
#include "portlayer/fields.h"
#include "portlayer/userns.h"

/* Defaults: Docker's capability set, no_new_privs on, default seccomp. */
void pl_security_init(pl_security_t *s);
int pl_security_parse(const json_t *v, pl_security_t *s, pl_error_t **err);
void pl_security_clear(pl_security_t *s);
json_t *pl_security_to_json(const pl_security_t *s);

void pl_resources_init(pl_resources_t *r);
/* Parses over r: fields present in v replace r's (so an update can be partial). */
int pl_resources_parse(const json_t *v, pl_resources_t *r, pl_error_t **err);
void pl_resources_clear(pl_resources_t *r);
json_t *pl_resources_to_json(const pl_resources_t *r);
bool pl_resources_any(const pl_resources_t *r);
