/* SPDX-License-Identifier: Apache-2.0 */
/* Worker jobs of the library (image store writes, registry transfers, a container's
 * filesystem as archives) with the rules around them: the image store's job bracket (no
 * layer collection while one runs), the names a job reported recorded, a start refused
 * while an archive is copied into the stopped container, and the events each job's
 * success means. An API surface builds the job's work (a library call in the worker) and
 * renders its result; everything else is here, once. */
#pragma once

#include <stdbool.h>
#include "common/worker.h"
#include "portlayer/container.h"

typedef enum pl_job_kind {
	PL_JOB_READ,	    /* reads only (stat, changes): no rules, no events */
	PL_JOB_LAYER,	    /* a layer written into the image store */
	PL_JOB_IMPORT,	    /* images imported from an archive */
	PL_JOB_PULL,	    /* images pulled from a registry */
	PL_JOB_PUSH,	    /* image `subject` pushed as `ref` */
	PL_JOB_COMMIT,	    /* container `subject` committed to an image */
	PL_JOB_EXPORT,	    /* container `subject`'s filesystem exported */
	PL_JOB_ARCHIVE_GET, /* `path` read out of container `subject` */
	PL_JOB_ARCHIVE_PUT, /* an archive extracted into container `subject` at `path` */
	PL_JOB_SAVE,	    /* images written out as an archive: the store is read, not changed */
} pl_job_kind_t;

typedef struct pl_job {
	pl_job_kind_t kind;
	const char *subject; /* the image id (push) or the container id */
	const char *ref;     /* push: the reference pushed */
	const char *path;    /* archive get/put: the path in the container */
	bool copy_in; /* archive put that mounts the stopped container's overlay: no start meanwhile
		       */
	pl_work_fn work; /* runs in a worker process */
	pl_done_fn done; /* runs on the loop once the library took the result (names recorded,
			  * events emitted); err then includes a failure to record names */
	void *data;
} pl_job_t;

/* Submits the job (the strings are copied). On failure nothing was started and done will
 * not run. */
int pl_portlayer_job(pl_portlayer_t *pl, pl_workers_t *workers, const pl_job_t *job,
		     pl_error_t **err);
/* Whether the container's files can be worked on by an archive job (export, copy, stat,
 * changes, commit) now: CONFLICT while it starts, stops or goes; UNSUPPORTED where only its
 * mechanism reaches them (a VM's disk); CONFLICT for a copy (write) into a stopped
 * container with its own user namespace. */
int pl_container_archive_check(pl_container_t *c, bool write, pl_error_t **err);
/* The commit of a container: o's dir, ids, base (its image's config) or rootfs, and
 * container (its process) filled in; the caller adds changes, name, comment, author. */
struct pl_commit_opts;
int pl_container_commit_opts(pl_portlayer_t *pl, pl_container_t *c, struct pl_commit_opts *o,
			     pl_error_t **err);
/* Whether an archive is being copied into the container right now (a start would mount
 * the same upper directory twice). */
bool pl_portlayer_copy_in_active(pl_portlayer_t *pl, const char *id);
