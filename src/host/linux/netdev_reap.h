/* SPDX-License-Identifier: Apache-2.0 */
/* Deleting host network devices off the event loop. Deleting a veth costs its caller an RCU
 * grace period (16-38 ms of wall time for ~2 ms of CPU): the daemon's one loop must not
 * wait for it. A helper process, forked while the daemon is single-threaded (the daemon has
 * no threads: clone3 of a domain must never race one holding a libc lock), deletes the
 * devices it is sent over a socketpair and answers each batch; the loop reads the answers
 * and reports each deletion, in the order they were queued. One batch is out at a time
 * (what queued meanwhile goes next, in one message). A daemon that dies leaves the helper
 * to finish the batch it holds (it ends at EOF); what was only queued is the next start's
 * to find. A helper that dies or hangs is replaced; without one, deletions run on the loop. */
#pragma once

#include <stdint.h>
#include "common/error.h"
#include "common/loop.h"

typedef struct pl_netdev_reaper pl_netdev_reaper_t;
/* On the loop, or inside pl_netdev_reaper_wait/free (never inside _delete): the deletion
 * of ticket is over, with 0 (the device is gone: deleted, or it was already) or -errno (it
 * may still exist). */
typedef void (*pl_netdev_reaped_fn)(void *data, uint64_t ticket, int result);

/* Forks the helper (in the caller's network namespace). Never NULL: a helper that cannot
 * be made is logged and the deletions run on the loop. */
pl_netdev_reaper_t *pl_netdev_reaper_new(pl_loop_t *loop, pl_netdev_reaped_fn fn, void *data);
/* The ticket the next _delete returns (tickets are consecutive from 1). */
uint64_t pl_netdev_reaper_next(const pl_netdev_reaper_t *r);
/* Queues the deletion of device name (at most IFNAMSIZ-1 bytes); returns its ticket. */
uint64_t pl_netdev_reaper_delete(pl_netdev_reaper_t *r, const char *name);
/* Blocks until every deletion up to ticket (0: every one queued) is over and reported. A
 * helper that answers nothing for 10 s is killed (it can delete nothing after that) and
 * replaced. */
void pl_netdev_reaper_wait(pl_netdev_reaper_t *r, uint64_t ticket);
/* Waits for every queued deletion (reported as usual), then ends the helper. */
pl_netdev_reaper_t *pl_netdev_reaper_free(pl_netdev_reaper_t *r);
