/* SPDX-License-Identifier: Apache-2.0 */
/* Commit: a container's writable layer (its overlay upper directory) becomes a new layer in
 * the store, and a new image is recorded whose config is the container's over its image's.
 * A container made from a rootfs directory gets that directory as the base layer. Runs in a
 * worker process; the store's names are applied by the daemon from the result. */
#pragma once

#include <jansson.h>
#include "common/error.h"
#include "portlayer/storage/images.h"

typedef struct pl_commit_opts {
	char *dir;	   /* the domain directory (its upper/ is committed) */
	char *rootfs;	   /* a rootfs container's directory (the base layer), or NULL */
	json_t *base;	   /* the image's OCI config (deep copy), or NULL */
	json_t *container; /* {"args","env","cwd","labels"}: the container's process */
	json_t *changes;   /* OCI config fields that override (validated), or NULL */
	char *name;	   /* "repo[:tag]" or NULL: an unnamed image */
	char *comment, *author;
	char *created_by; /* the history entry's created_by, or NULL ("portlayer commit") */
	bool empty_layer; /* config only: no layer, the history entry marked empty_layer */
	pl_userns_t ids;  /* the container's maps: its upper holds host ids when remapped */
} pl_commit_opts_t;

void pl_commit_opts_clear(pl_commit_opts_t *o);
/* Checks a changes object: only Cmd, Entrypoint, Env, WorkingDir, User, Labels,
 * ExposedPorts, Volumes, StopSignal, Healthcheck, Shell, OnBuild, each of its OCI (Docker)
 * type. */
int pl_commit_check_changes(const json_t *changes, pl_error_t **err);
/* → {"images":[{"id","tags"}]} */
json_t *pl_commit_job(pl_images_t *im, const pl_commit_opts_t *o, pl_error_t **err);
