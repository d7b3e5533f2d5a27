/* SPDX-License-Identifier: Apache-2.0 */
/* The linux mechanism (namespaces + cgroups + seccomp on the host's kernel), as the
 * daemon sees it: its descriptor and its initialisation. Its internals are under
 * src/mechanism/linux/. */
#pragma once

#include <stdint.h>
#include "common/error.h"
#include "mechanism/mechanism.h"

extern pl_mechanism_t pl_mechanism_linux;
/* pids.max of linux containers created without resources.pids_limit (0: none). */
#define PL_DEFAULT_PIDS_LIMIT 32768
/* Its settings, given at init (the daemon's flags). */
typedef struct pl_linux_options {
	int64_t default_pids_limit; /* --default-pids-limit (0: none) */
	int prepared_domains;	    /* --prepared-domains: the pool's size (0: off) */
	/* names this daemon's prepared cgroups apart from other daemons' on the host (e.g. a
	 * hash of its state root); NULL: "0" */
	const char *instance_tag;
	/* the daemon's run directory: a prepared domain builds its kernel trees ahead on a
	 * directory made there (NULL: it does not) */
	const char *run_root;
} pl_linux_options_t;
int pl_linux_init(pl_mechanism_t *m, const char *tether_path, const pl_linux_options_t *o,
		  pl_error_t **err);
/* Prepared domains (mechanism/linux/prepared.h): started once the daemon has recovered
 * its containers (after pl_portlayer_open), stopped before it exits. */
#include "common/loop.h"
int pl_linux_prepared_start(pl_loop_t *loop, pl_error_t **err);
void pl_linux_prepared_stop(void);
/* The pool now: its size, domains waiting for a start, domains being made. */
typedef struct pl_linux_prepared_counts {
	int size, ready, making;
} pl_linux_prepared_counts_t;
pl_linux_prepared_counts_t pl_linux_prepared_counts(void);
/* The host's cgroup layout the mechanism found ("v2", "v1", "hybrid"). */
const char *pl_linux_cgroup_layout(void);
