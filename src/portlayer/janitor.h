/* SPDX-License-Identifier: Apache-2.0 */
/* Kernel and filesystem work that follows a container's end, off the request path.
 *
 * Trees: a removal renames the domain directory and its run directory away
 * (".removing-<id>") before it answers:
 * from then on the domain is gone for every reader, and a daemon that dies before the tree
 * is deleted finds the renamed directory at its next start and deletes it then
 * (pl_store_load_all).
 *
 * Teardown handles: an fd that holds a finished domain's costly kernel state (linux: its
 * mount namespace, so that tether's own exit does not unmount the overlay and wait out an
 * RCU grace period). Closing the last one does that work; the janitor closes it.
 *
 * Syncs: a create+start's fsyncs of the new domain (config.json, its directory, the domains'
 * directory), whose answer waits for them while the domain sets itself up.
 *
 * All are done by one long-lived child process, forked once when the janitor is made (the
 * daemon itself stays single-threaded and never forks per create or removal); it dies with the
 * daemon, taking its handles with it (the kernel closes them) and leaving its trees to the next
 * start. Handles are closed before any tree is deleted, in the order they came, and acknowledged:
 * pl_janitor_settle waits for one (a domain's upper directory must not be mounted again
 * while an earlier mount of it still exists). The janitor owns that child, the names and
 * handles still on their way to it, and the count of what it has not finished. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/loop.h"

typedef struct pl_janitor pl_janitor_t;

/* dirfd, run_dirfd: the directories the names live in (the domains' and their run
 * directories'; borrowed, kept open by the caller). */
pl_janitor_t *pl_janitor_new(pl_loop_t *loop, int dirfd, int run_dirfd);
/* Queues dirfd/name (run_dir: run_dirfd/name) for deletion. */
void pl_janitor_remove(pl_janitor_t *j, bool run_dir, const char *name);
/* Takes fd (a teardown handle) to be closed off the loop. Returns a ticket for
 * pl_janitor_settle (> 0). */
uint64_t pl_janitor_hand(pl_janitor_t *j, int fd);
/* True once the handle with that ticket is closed. */
bool pl_janitor_handle_closed(const pl_janitor_t *j, uint64_t ticket);
/* Blocks (at most timeout_ms) until the handle with that ticket is closed. */
void pl_janitor_settle(pl_janitor_t *j, uint64_t ticket, int timeout_ms);
/* Makes a new domain durable off the loop: fsyncs dirfd's config.json, dirfd itself and the
 * domains' directory (a thread of the child's, at normal priority), then calls cb(data, ok).
 * Returns its ticket; or 0 when it was done here and now (no child), with *ok set. */
typedef void (*pl_janitor_sync_fn)(void *data, bool ok);
uint64_t pl_janitor_sync(pl_janitor_t *j, int dirfd, pl_janitor_sync_fn cb, void *data, bool *ok);
/* The sync with that ticket calls nobody when it is done (its caller is gone). */
void pl_janitor_sync_cancel(pl_janitor_t *j, uint64_t ticket);
/* Blocks (at most timeout_ms) until the sync with that ticket is done (its cb called). */
void pl_janitor_sync_wait(pl_janitor_t *j, uint64_t ticket, int timeout_ms);
/* Trees and handles queued or being worked on (tests, /info). */
size_t pl_janitor_pending(const pl_janitor_t *j);
/* Stops watching and lets the child go (it exits when it sees our end close). Whatever it
 * had not deleted yet, the next start does (pl_store_load_all). */
pl_janitor_t *pl_janitor_free(pl_janitor_t *j);
