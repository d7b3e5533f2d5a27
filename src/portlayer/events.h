/* SPDX-License-Identifier: Apache-2.0 */
/* The event stream: every state change a caller could care about (create, start, die,
 * oom, stop, kill, rename, remove, restart, ...), caused by the API or by the mechanism
 * alike. Events get a sequence number and a timestamp, go to one subscriber (the daemon
 * fans them out) and to a bounded journal in ROOT (events.jsonl, rotated once to
 * events.jsonl.1) so `since` works across daemon restarts. */
#pragma once

#include <jansson.h>
#include <stdint.h>
#include "common/error.h"

#define PL_EVENTS_ROTATE_BYTES (4u << 20)

typedef struct pl_events pl_events_t;
/* ev is borrowed; line is its serialised form with a trailing newline. */
typedef void (*pl_event_fn)(const json_t *ev, const char *line, void *data);

pl_events_t *pl_events_open(const char *root, const char *host, pl_error_t **err);
pl_events_t *pl_events_free(pl_events_t *ev);
void pl_events_subscribe(pl_events_t *ev, pl_event_fn fn, void *data);
/* Records and publishes an event. attrs (may be NULL) is stolen. */
void pl_events_emit(pl_events_t *ev, const char *type, const char *action, const char *id,
		    const char *name, json_t *attrs);
/* Calls fn for journaled events with since_ns <= time <= until_ns (0 = unbounded). */
int pl_events_replay(pl_events_t *ev, int64_t since_ns, int64_t until_ns, pl_event_fn fn,
		     void *data);
uint64_t pl_events_last_seq(const pl_events_t *ev);
