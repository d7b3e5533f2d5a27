/* SPDX-License-Identifier: Apache-2.0 */
/* Blocking work off the event loop (layer extraction, imports): each job runs in a forked
 * child process, so the daemon itself stays single-threaded (clone3 of a domain must never
 * race a thread holding a libc lock). The job's result travels back as JSON through a
 * pipe and is handed to a completion callback on the loop. */
#pragma once

#include <jansson.h>
#include "common/error.h"
#include "common/loop.h"

typedef struct pl_workers pl_workers_t;
/* Runs in the child: returns a result object (stolen) or NULL with *err filled. */
typedef json_t *(*pl_work_fn)(void *data, pl_error_t **err);
/* Runs on the loop: result (borrowed) or err (borrowed), never both. */
typedef void (*pl_done_fn)(void *data, const json_t *result, const pl_error_t *err);

pl_workers_t *pl_workers_new(pl_loop_t *loop);
/* Ends the jobs still running (their workers killed, each one's done called with an error),
 * then frees w. */
pl_workers_t *pl_workers_free(pl_workers_t *w);
int pl_work_submit(pl_workers_t *w, pl_work_fn fn, pl_done_fn done, void *data, pl_error_t **err);
