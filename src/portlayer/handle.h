/* SPDX-License-Identifier: Apache-2.0 */
/* Handles: transactional change sets on a container (DESIGN.md principle 3). A handle is
 * an opaque token naming (container id, config version, staged changes). Mutators never
 * modify a handle: each returns a new one with one more change. Nothing is applied until
 * commit, which applies every staged change or none, and refuses (CONFLICT, with the
 * current version) a handle whose version is no longer the container's.
 * Handles live in memory only: bounded (least recently used go first) and expiring. */
#pragma once

#include <jansson.h>
#include <stdint.h>
#include "common/error.h"
#include "portlayer/container.h"

#define PL_HANDLE_TOKEN_LEN 32
#define PL_HANDLE_MAX	    4096
#define PL_HANDLE_TTL_S	    600

typedef struct pl_handles pl_handles_t;
typedef struct pl_handle pl_handle_t;

/* What a commit asks of the container's run state after the config is written. */
typedef enum pl_want_state {
	PL_WANT_UNCHANGED = 0,
	PL_WANT_RUNNING,
	PL_WANT_STOPPED,
} pl_want_state_t;

typedef struct pl_commit_result {
	uint64_t version;	/* the container's config version after the commit */
	pl_want_state_t state;	/* the state change the caller must carry out */
	int64_t stop_timeout;	/* for PL_WANT_STOPPED; -1 = the container's default */
	bool resources_changed; /* a resources change must reach the live domain */
} pl_commit_result_t;

pl_handles_t *pl_handles_new(void);
pl_handles_t *pl_handles_free(pl_handles_t *hs);

/* A new handle on the container's current version; returns its token (owned by hs). */
const char *pl_handle_take(pl_handles_t *hs, const pl_container_t *c);
/* NOTFOUND for unknown or expired tokens. */
pl_handle_t *pl_handle_get(pl_handles_t *hs, const char *token, pl_error_t **err);
/* Stages one change (validated now against the container) on a copy; returns the new
 * handle's token. INVALID for an unknown mutator or a bad argument. */
const char *pl_handle_mutate(pl_handles_t *hs, pl_portlayer_t *pl, pl_handle_t *h, const char *op,
			     const json_t *arg, pl_error_t **err);
/* {"id","version","changes":[{"op","arg"}...]} */
json_t *pl_handle_json(const pl_handle_t *h);
/* The id of the container the handle is on. */
const char *pl_handle_container_id(const pl_handle_t *h);
void pl_handle_drop(pl_handles_t *hs, pl_handle_t *h);
/* The NULL-terminated list of mutator names (for the API spec test and errors). */
const char *const *pl_handle_mutators(void);

/* Applies every staged config change atomically (one config.json write, version + 1) and
 * reports the state change the caller must then perform. */
int pl_handle_commit(pl_portlayer_t *pl, pl_handle_t *h, pl_commit_result_t *res, pl_error_t **err);
