/* SPDX-License-Identifier: Apache-2.0 */
/* Counters for operators (GET /metrics). The container core counts what happens as it runs
 * (starts, failed starts, exits, OOM kills, start latency) into the pl_metrics_t its
 * pl_portlayer_t owns; pl_metrics_snapshot reads what it holds right now (containers by
 * state, running domains by mechanism, connected tethers, the event journal's size). Plain
 * numbers on the loop thread, no locking. Rendering is the daemon's business. */
#pragma once

#include <stdint.h>

struct pl_portlayer;

/* Upper bounds (seconds) of the latency buckets, ascending; +Inf is implicit. */
#define PL_LATENCY_BUCKETS 14
extern const double pl_latency_bounds[PL_LATENCY_BUCKETS];

typedef struct pl_histogram {
	uint64_t bucket[PL_LATENCY_BUCKETS]; /* observations <= bound[i] and > bound[i-1] */
	uint64_t count;
	double sum; /* seconds */
} pl_histogram_t;

void pl_histogram_observe(pl_histogram_t *h, double seconds);

typedef struct pl_metrics {
	uint64_t starts;	 /* domains that came up (the process ran) */
	uint64_t start_failures; /* starts that failed, synchronously or once spawned */
	uint64_t exits;		 /* domains that ended (their process exited or was killed) */
	uint64_t oom_kills;
	pl_histogram_t start_latency; /* from the start call until the process ran */
} pl_metrics_t;

typedef struct pl_metrics_snapshot {
	unsigned created, starting, running, paused, stopping, stopped, removing;
	unsigned linux_running, vm_running; /* running domains by mechanism */
	unsigned tethers;		    /* domains whose tether is connected */
	uint64_t journal_bytes;		    /* events.jsonl and its rotated predecessor */
} pl_metrics_snapshot_t;

const pl_metrics_t *pl_portlayer_metrics(const struct pl_portlayer *pl);
pl_metrics_snapshot_t pl_metrics_snapshot(struct pl_portlayer *pl);
/* A monotonic clock for latencies, in nanoseconds. */
int64_t pl_metrics_now_ns(void);
