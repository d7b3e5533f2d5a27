/* SPDX-License-Identifier: Apache-2.0 */
/* Flow control between tether and the daemon, as pure arithmetic (docs/tether-protocol.md):
 * output credit the daemon grants (CREDIT), and the stdin window tether grants. */
#pragma once

#include <stdint.h>

/* Output bytes of one DATA frame at most. */
#define PL_FRAME_DATA_MAX (32 * 1024)
/* Credit saturates here instead of wrapping. */
#define PL_CREDIT_MAX ((uint64_t)1 << 62)
/* The stdin window: what the daemon may have in flight plus what the process has not taken
 * yet never exceeds PL_STDIN_WINDOW, so that is all tether ever buffers. Bytes the process
 * took are granted back in batches of PL_STDIN_BATCH (or at once when nothing is left
 * waiting). */
#define PL_STDIN_WINDOW (1024 * 1024)
#define PL_STDIN_BATCH	(64 * 1024)

/* Output credit after a CREDIT of `add` bytes. */
static inline uint64_t pl_credit_add(uint64_t credit, uint64_t add)
{
	return add > PL_CREDIT_MAX - credit ? PL_CREDIT_MAX : credit + add;
}

/* The stdin bytes to grant now (0: none): the window's free space, once it is a batch or
 * nothing is left waiting. pending: received, not yet taken by the process; granted: granted
 * and not yet received. */
static inline uint64_t pl_stdin_grant(uint64_t pending, uint64_t granted)
{
	uint64_t used = pending + granted;
	uint64_t free_bytes = used >= PL_STDIN_WINDOW ? 0 : PL_STDIN_WINDOW - used;
	if (free_bytes == 0 || (free_bytes < PL_STDIN_BATCH && pending > 0))
		return 0;
	return free_bytes;
}
