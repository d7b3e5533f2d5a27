/* SPDX-License-Identifier: Apache-2.0 */
/* docker build (POST /build), the classic builder, out of port layer primitives: a
 * container per step made from the previous step's image, files copied in through
 * PUT /containers/{id}/archive, RUN as start + wait, each step's image made by POST /commit
 * (config-only for metadata steps), names by image tag. The build cache lives in the port
 * layer's KV store ("docker-build/cache/<sha256 of parent, step, config, sources>" -> image
 * id), so pl-dockerd keeps no state. */
#pragma once

#include "docker/docker.h"

void dk_build(dk_job_t *j);
/* The route handler: collects every t= (the job's query keeps one) then runs dk_build. */
void dk_build_route(pl_req_t *req, void *app);
/* POST /build/prune: forgets the build cache (the KV entries steps are found by); the
 * images it named stay until an image prune removes the untagged ones. */
void dk_build_prune(dk_job_t *j);
