/* SPDX-License-Identifier: Apache-2.0 */
/* Deleting the trees of removed domains off the request path. A removal renames the
 * domain directory away (".removing-<id>") before it answers: from then on the domain is
 * gone for every reader, and a daemon that dies before the tree is deleted finds the
 * renamed directory at its next start and deletes it then (pl_store_load_all). The trees
 * themselves are deleted by a forked child (it dies with the daemon), one batch at a time, so a
 * burst of removals costs one fork per batch, not one per container. The janitor owns that child
 * and the names still waiting for it. */
#pragma once

#include <stddef.h>
#include "common/loop.h"

typedef struct pl_janitor pl_janitor_t;

/* dirfd: the directory the names live in (borrowed; kept open by the caller). */
pl_janitor_t *pl_janitor_new(pl_loop_t *loop, int dirfd);
/* Queues dirfd/name for deletion. */
void pl_janitor_remove(pl_janitor_t *j, const char *name);
/* Names queued or being deleted (tests, /info). */
size_t pl_janitor_pending(const pl_janitor_t *j);
/* Stops watching. The child dies with the daemon (two deleting one tree would race):
 * whatever it had not deleted yet, the next start does (pl_store_load_all). */
pl_janitor_t *pl_janitor_free(pl_janitor_t *j);
