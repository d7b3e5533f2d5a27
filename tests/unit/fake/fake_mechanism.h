/* SPDX-License-Identifier: Apache-2.0 */
/* A fake mechanism for unit tests of the container core (state machine, recovery, handles,
 * sessions): it isolates nothing. spawn forks a real stand-in process that speaks tether's
 * protocol over a socketpair and plays a script chosen by the container's args[0]:
 *   "exit N"   starts, reports exit code N, ends
 *   "run"      starts and waits for SIGNAL frames: reports 128+signo and ends
 *              ("run ignore-term": SIGTERM is ignored, so a stop must kill)
 *   "echo"     starts; an exec session (EXEC) reports exit code = its args' count
 *   "vanish N" starts and ends with status N without reporting (tether died)
 *   "refuse"   answers CONFIG with a set-up ERROR (kind INVALID) and ends
 *   "flood"    session 1 writes without end, within the output credit it was granted
 *   "hang"     takes CONFIG and never starts the process (a domain stuck in set-up)
 * A stand-in keeps running when the core's end of the link closes (a daemon that went
 * away), and on SIGUSR1 writes exit.json {"exit_code": 42} into the domain directory and
 * ends, as a tether whose container ended while the daemon was down. */
#pragma once

#include <sys/types.h>
#include "mechanism/mechanism.h"

typedef struct fake_stats {
	unsigned spawned, destroyed, reattached, validated;
	bool paused;
	pid_t last_pid;
	bool fail_spawn; /* set by a test: spawns fail (a start that fails before a domain) */
	/* what the last spawn was handed across the boundary: counts, and the first mount */
	size_t n_mounts, n_endpoints;
	char mount_source[256], mount_target[128], mount_populate[256], mount_propagation[16];
	bool mount_volume, mount_readonly;
	pl_domain_endpoint_t endpoint; /* the first endpoint */
} fake_stats_t;

extern pl_mechanism_t fake_mechanism;	      /* shared kernel, pauses */
extern pl_mechanism_t fake_mechanism_nopause; /* shared kernel, PL_MECH_PAUSE not declared */
extern fake_stats_t fake_stats;
/* SIGKILLs and reaps every stand-in still alive (a test's teardown). */
void fake_kill_all(void);
