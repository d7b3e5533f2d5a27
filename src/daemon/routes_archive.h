/* SPDX-License-Identifier: Apache-2.0 */
/* Routes for a container's filesystem as archives: export, changes, copy in and out, stat,
 * and commit; and a registry pull whose progress streams back. The work runs in worker processes
 * (src/portlayer/storage/archive.c); tars stream back to the client through a pipe as the worker
 * writes them. */
#pragma once

#include "daemon/http.h"

/* The handlers are in pl_routes_archive (routes.h). */

/* A pull answered with Docker's progress stream (newline-delimited JSON, one object per
 * step and layer; the last line says "Pulled" with the images, or carries the error). */
/* GET /images/get: the images ([{"id","names"}], taken) as a tar from a worker. */
void pl_save_stream(pl_req_t *r, void *app, json_t *images, bool oci);
void pl_pull_stream(pl_req_t *r, void *app, const char *ref, const char *platform,
		    const char *username, const char *password, bool insecure);
