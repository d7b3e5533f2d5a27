/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/metrics.h"
#include "portlayer/internal.h"
#include "common/cleanup.h"

#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* 5 ms .. 60 s: a linux start is tens of milliseconds, a VM under TCG several seconds. */
const double pl_latency_bounds[PL_LATENCY_BUCKETS] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60,
};

void pl_histogram_observe(pl_histogram_t *h, double seconds)
{
	h->count++;
	h->sum += seconds;
	for (unsigned i = 0; i < PL_LATENCY_BUCKETS; i++)
		if (seconds <= pl_latency_bounds[i]) {
			h->bucket[i]++;
			return;
		}
	/* above the last bound: only in count (the +Inf bucket) */
}

int64_t pl_metrics_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

const pl_metrics_t *pl_portlayer_metrics(const pl_portlayer_t *pl)
{
	return &pl->metrics;
}

static uint64_t file_size(const char *dir, const char *name)
{
	_cleanup_free_ char *p = pl_xasprintf("%s/%s", dir, name);
	struct stat st;
	return stat(p, &st) == 0 ? (uint64_t)st.st_size : 0;
}

pl_metrics_snapshot_t pl_metrics_snapshot(pl_portlayer_t *pl)
{
	pl_metrics_snapshot_t s = {0};
	for (pl_container_t *c = pl->head; c; c = c->next) {
		switch (c->status) {
		case PL_STATUS_CREATED:
			s.created++;
			break;
		case PL_STATUS_STARTING:
			s.starting++;
			break;
		case PL_STATUS_RUNNING:
			if (c->paused) /* no freezer read per container */
				s.paused++;
			else
				s.running++;
			if (pl_mech_has(c->mech, PL_MECH_DEDICATED_KERNEL))
				s.vm_running++;
			else
				s.linux_running++;
			break;
		case PL_STATUS_STOPPING:
			s.stopping++;
			break;
		case PL_STATUS_STOPPED:
			s.stopped++;
			break;
		case PL_STATUS_REMOVING:
			s.removing++;
			break;
		default:
			break;
		}
		if (c->dom.ctl_fd >= 0 &&
		    (c->status == PL_STATUS_STARTING || c->status == PL_STATUS_RUNNING ||
		     c->status == PL_STATUS_STOPPING))
			s.tethers++;
	}
	s.journal_bytes =
	    file_size(pl->root, "events.jsonl") + file_size(pl->root, "events.jsonl.1");
	return s;
}
