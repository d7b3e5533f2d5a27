/* SPDX-License-Identifier: Apache-2.0 */
/* The operations an API surface calls: one library call per request, with the rules and
 * the events that belong to it (as containerd's services under its gRPC adapters). The
 * HTTP routes parse, call one of these, and render; a second API surface (a Docker
 * personality) calls the same ones and so cannot forget a rule or an event.
 * Worker jobs (image writes, transfers, archives) are in jobs.h. */
#pragma once

#include <jansson.h>
#include "common/error.h"
#include "portlayer/container.h"
#include "portlayer/handle.h"
#include "portlayer/session.h"

/* --- containers --- */

/* How far pl_container_set_state got. */
typedef enum pl_state_progress {
	PL_STATE_REACHED = 0, /* the container was in that state already: nothing to wait for */
	PL_STATE_STARTING,    /* a start is under way: cb runs once it started or failed */
	PL_STATE_STOPPING,    /* a stop is under way: done once pl_container_exits passes the
			       * count it had before the call */
} pl_state_progress_t;

/* Brings the container to `want`: a stop of a stopped container still cancels a pending
 * restart; a start is refused (CONFLICT) while an archive is copied into the container.
 * stop_timeout: seconds before SIGKILL (-1: the container's own). Returns the progress, or
 * -1 with err (cb is then not called). */
int pl_container_set_state(pl_portlayer_t *pl, pl_container_t *c, pl_want_state_t want,
			   int64_t stop_timeout, pl_start_fn cb, void *data, pl_error_t **err);

/* Commits the handle (pl_handle_commit) and carries out the run state its changes ask
 * (pl_container_set_state). Returns the progress, or -1 with err. res->version is 0 unless
 * the commit itself happened (the handle is then spent even when the state change failed);
 * a CONFLICT with version 0 is a stale handle. */
int pl_handle_commit_apply(pl_portlayer_t *pl, pl_handle_t *h, pl_commit_result_t *res,
			   pl_start_fn cb, void *data, pl_error_t **err);

/* One handle mutation committed at once (POST /containers/{id}/update is "resources"):
 * a handle taken on the current version, the change staged and committed; res filled. */
int pl_container_change(pl_portlayer_t *pl, pl_handles_t *hs, pl_container_t *c, const char *op,
			const json_t *arg, pl_commit_result_t *res, pl_error_t **err);
/* Create and start in one round trip (a create body's "start": true): the fsyncs that make
 * the new container durable run in a child while its domain sets itself up. Returns the
 * container with *progress as pl_container_set_state's (PL_STATE_STARTING: cb runs once it
 * started or failed), or NULL with err ("create container: ..." when the create itself
 * failed). A start that fails, now or later, removes the container again (after cb). */
pl_container_t *pl_container_run(pl_portlayer_t *pl, const json_t *body, int *progress,
				 pl_start_fn cb, void *data, pl_error_t **err);
/* Likewise; with keep_failed a start that fails leaves the container (stopped, exit code 127
 * or 126 as a start of a created one would) instead of removing it. */
pl_container_t *pl_container_run_keep(pl_portlayer_t *pl, const json_t *body, bool keep_failed,
				      int *progress, pl_start_fn cb, void *data, pl_error_t **err);
/* Removes the container ref names (a running one needs force); a full id that is gone was
 * removed already (ids are never reused), which is no error. */
int pl_portlayer_container_remove(pl_portlayer_t *pl, const char *ref, bool force,
				  pl_error_t **err);

/* Starts an exec session nobody attaches to (detached): its output is taken and dropped
 * as it comes (as Docker discards it), so the process never blocks on a full pipe. cb as
 * for pl_exec_start. */
int pl_exec_start_detached(pl_portlayer_t *pl, pl_exec_t *ex, pl_start_fn cb, void *data,
			   pl_error_t **err);

/* --- images --- */

/* Names the image `ref` finds `name` (event: image tag). */
int pl_portlayer_image_tag(pl_portlayer_t *pl, const char *ref, const char *name, pl_error_t **err);
/* Removes the name `ref`, or the image when ref is an id (CONFLICT while a container uses
 * it; event: image untag). */
int pl_portlayer_image_remove(pl_portlayer_t *pl, const char *ref, pl_error_t **err);
/* What docker push NAME[:TAG] sends (tag NULL or "": NAME as it is): *ref the registry
 * reference, *image_id the store's image it names (both the caller's to free). NOT_FOUND
 * without such an image, INVALID when the name is not a registry reference. */
int pl_image_push_target(pl_portlayer_t *pl, const char *name, const char *tag, char **ref,
			 char **image_id, pl_error_t **err);

/* --- volumes --- */

/* Creates a volume from a create body (event: volume create); returns its description. */
json_t *pl_portlayer_volume_create(pl_portlayer_t *pl, const json_t *body, pl_error_t **err);
/* Removes a volume: CONFLICT while a container uses it (with force, while a running one
 * does: force detaches stopped users only). Event: volume remove. */
int pl_portlayer_volume_remove(pl_portlayer_t *pl, const char *name, bool force, pl_error_t **err);

/* --- networks --- */

/* Creates a scope (event: network create); returns its description. */
json_t *pl_portlayer_network_create(pl_portlayer_t *pl, const json_t *body, pl_error_t **err);
/* A container joins (connect) or leaves a scope in one step: a "network" handle change
 * committed at once (a running linux container gets the endpoint live). connect takes
 * opts "ip" and "aliases"; disconnect with force: not being on it is no error. Event:
 * network connect or disconnect. */
int pl_portlayer_network_connect(pl_portlayer_t *pl, pl_handles_t *hs, const char *network,
				 const char *container, bool connect, const json_t *opts,
				 bool force, pl_error_t **err);
/* Removes a scope by name or id (event: network destroy). */
int pl_portlayer_network_remove(pl_portlayer_t *pl, const char *ref, pl_error_t **err);
