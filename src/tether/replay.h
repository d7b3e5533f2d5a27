/* SPDX-License-Identifier: Apache-2.0 */
/* Session 1's replay ring: its recent output, so that a daemon that lost frames (a restart,
 * a reconnect) can have them again. Frames already sent keep their sequence number and bytes
 * in `sent`; output not yet sent waits in `unsent` (consecutive appends of one stream
 * coalesce) and gets its sequence number when it is cut into a frame, as large as the credit
 * allows. Both together hold at most PL_REPLAY_MAX bytes, record headers included; the
 * oldest output goes first (it stays in the log). Knows nothing of sessions or the
 * connection: frames go out through a callback, so it is unit-testable on its own. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PL_REPLAY_MAX (256 * 1024)

/* Records back to back in one buffer; compacted when the tail reaches the end, which the
 * slack (twice the bound) makes rare. */
typedef struct pl_replay_fifo {
	uint8_t *buf;
	size_t head, tail, last; /* last: the newest record, when not empty */
	size_t cost;		 /* headers + payloads held */
} pl_replay_fifo_t;

typedef struct pl_replay {
	pl_replay_fifo_t sent, unsent;
	uint64_t resend_from; /* the next sent frame to send again */
} pl_replay_t;

/* Sends one DATA frame; returns whether the connection still takes frames. */
typedef bool (*pl_replay_send_fn)(void *ctx, unsigned stream, uint64_t seq, const void *data,
				  size_t n);

/* New output of a stream (1 stdout, 2 stderr). */
void pl_replay_append(pl_replay_t *r, unsigned stream, const void *data, size_t n);
/* An ATTACH: since 0 wants only new output (what waits unsent is dropped); since N wants
 * every frame after N again. seq: the last frame number sent. */
void pl_replay_attach(pl_replay_t *r, uint64_t since, uint64_t seq);
/* Sends what the ring owes as far as *credit goes: first sent frames after the ATTACH's
 * since (each one whole, as it was), then unsent output in new frames (numbered from *seq + 1
 * on). Consumes *credit, advances *seq. */
void pl_replay_flush(pl_replay_t *r, uint64_t *credit, uint64_t *seq, pl_replay_send_fn send,
		     void *ctx);
/* Output bytes (with headers) waiting for credit. */
size_t pl_replay_unsent(const pl_replay_t *r);
/* Everything held, sent and unsent (at most PL_REPLAY_MAX). */
size_t pl_replay_held(const pl_replay_t *r);
/* Whether the ring still owes the daemon frames (last sent: seq). */
bool pl_replay_owes(const pl_replay_t *r, uint64_t seq);
/* Frees the buffers. */
void pl_replay_clear(pl_replay_t *r);
