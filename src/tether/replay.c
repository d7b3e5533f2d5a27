/* SPDX-License-Identifier: Apache-2.0 */
/* Session 1's replay ring (replay.h). */
#include "tether/replay.h"
#include "tether/flow.h"

#include <stdlib.h>
#include <string.h>

typedef struct rec {
	uint64_t seq;
	uint32_t len;
	uint32_t stream;
} rec_t;

#define FIFO_CAP (2 * PL_REPLAY_MAX + PL_FRAME_DATA_MAX + sizeof(rec_t))

static bool fifo_empty(const pl_replay_fifo_t *f)
{
	return f->head == f->tail;
}

static rec_t rec_at(const pl_replay_fifo_t *f, size_t off)
{
	rec_t r;
	memcpy(&r, f->buf + off, sizeof(r));
	return r;
}

static void fifo_pop(pl_replay_fifo_t *f)
{
	rec_t r = rec_at(f, f->head);
	f->head += sizeof(r) + r.len;
	f->cost -= sizeof(r) + r.len;
	if (f->head == f->tail)
		f->head = f->tail = f->last = 0;
}

static bool fifo_push(pl_replay_fifo_t *f, rec_t r, const void *data)
{
	size_t need = sizeof(r) + r.len;
	if (!f->buf && !(f->buf = malloc(FIFO_CAP)))
		return false;
	if (f->tail + need > FIFO_CAP) {
		memmove(f->buf, f->buf + f->head, f->tail - f->head);
		f->tail -= f->head;
		f->last -= f->head;
		f->head = 0;
	}
	f->last = f->tail;
	memcpy(f->buf + f->tail, &r, sizeof(r));
	memcpy(f->buf + f->tail + sizeof(r), data, r.len);
	f->tail += need;
	f->cost += need;
	return true;
}

/* Grows the newest record when it is of the same stream and stays within a frame. */
static bool fifo_extend(pl_replay_fifo_t *f, uint32_t stream, const void *data, size_t n)
{
	if (fifo_empty(f))
		return false;
	rec_t r = rec_at(f, f->last);
	if (r.stream != stream || r.len + n > PL_FRAME_DATA_MAX || f->tail + n > FIFO_CAP)
		return false;
	memcpy(f->buf + f->tail, data, n);
	r.len += (uint32_t)n;
	memcpy(f->buf + f->last, &r, sizeof(r));
	f->tail += n;
	f->cost += n;
	return true;
}

/* Drops the first n bytes of the oldest record: its header moves forward over them. */
static void fifo_trim_front(pl_replay_fifo_t *f, size_t n)
{
	rec_t r = rec_at(f, f->head);
	if (n >= r.len) {
		fifo_pop(f);
		return;
	}
	bool newest = f->last == f->head;
	r.len -= (uint32_t)n;
	f->head += n;
	f->cost -= n;
	memcpy(f->buf + f->head, &r, sizeof(r));
	if (newest)
		f->last = f->head;
}

void pl_replay_append(pl_replay_t *r, unsigned stream, const void *data, size_t n)
{
	while (r->sent.cost + r->unsent.cost + sizeof(rec_t) + n > PL_REPLAY_MAX) {
		if (!fifo_empty(&r->sent))
			fifo_pop(&r->sent);
		else if (!fifo_empty(&r->unsent))
			fifo_pop(&r->unsent);
		else
			break;
	}
	if (!fifo_extend(&r->unsent, stream, data, n))
		fifo_push(&r->unsent, (rec_t){.len = (uint32_t)n, .stream = stream}, data);
}

void pl_replay_flush(pl_replay_t *r, uint64_t *credit, uint64_t *seq, pl_replay_send_fn send,
		     void *ctx)
{
	size_t off = r->sent.head;
	bool up = true;
	while (up && *credit > 0) {
		if (r->resend_from <= *seq) {
			while (off < r->sent.tail && rec_at(&r->sent, off).seq < r->resend_from)
				off += sizeof(rec_t) + rec_at(&r->sent, off).len;
			if (off >= r->sent.tail) { /* nothing older is left */
				r->resend_from = *seq + 1;
				continue;
			}
			rec_t h = rec_at(&r->sent, off);
			if (h.len > *credit)
				return;
			up = send(ctx, h.stream, h.seq, r->sent.buf + off + sizeof(h), h.len);
			*credit -= h.len;
			r->resend_from = h.seq + 1;
			continue;
		}
		if (fifo_empty(&r->unsent))
			return;
		rec_t h = rec_at(&r->unsent, r->unsent.head);
		const uint8_t *data = r->unsent.buf + r->unsent.head + sizeof(h);
		size_t k = h.len < *credit ? h.len : (size_t)*credit;
		if (k > PL_FRAME_DATA_MAX)
			k = PL_FRAME_DATA_MAX;
		up = send(ctx, h.stream, ++*seq, data, k);
		*credit -= k;
		r->resend_from = *seq + 1;
		fifo_push(&r->sent, (rec_t){.seq = *seq, .len = (uint32_t)k, .stream = h.stream},
			  data);
		fifo_trim_front(&r->unsent, k);
		while (r->sent.cost + r->unsent.cost > PL_REPLAY_MAX && !fifo_empty(&r->sent))
			fifo_pop(&r->sent);
		off = r->sent.head;
	}
}

void pl_replay_attach(pl_replay_t *r, uint64_t since, uint64_t seq)
{
	if (since == 0) { /* only new output */
		while (!fifo_empty(&r->unsent))
			fifo_pop(&r->unsent);
		r->resend_from = seq + 1;
	} else {
		r->resend_from = since + 1;
	}
}

size_t pl_replay_unsent(const pl_replay_t *r)
{
	return r->unsent.cost;
}

size_t pl_replay_held(const pl_replay_t *r)
{
	return r->sent.cost + r->unsent.cost;
}

bool pl_replay_owes(const pl_replay_t *r, uint64_t seq)
{
	return !fifo_empty(&r->unsent) || r->resend_from <= seq;
}

void pl_replay_clear(pl_replay_t *r)
{
	free(r->sent.buf);
	free(r->unsent.buf);
	*r = (pl_replay_t){0};
}
