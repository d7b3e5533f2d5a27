/* SPDX-License-Identifier: Apache-2.0 */
/* Prepared domains: a small pool of linux domains made ahead of any request — fresh pid,
 * mount, uts, ipc and network namespaces in cgroups of their own, the first process
 * waiting for its container's description — so a start skips clone3, the cgroup mkdirs
 * and the first v1 cgroup.procs write (an RCU grace period) on its critical path. A maker
 * process forked from the daemon makes them off the event loop (clone3 with CLONE_PARENT,
 * so the daemon is their parent and reaps them) and hands each over with its pidfd and
 * control socket. Each one serves one container, once: what depends on the container's
 * config (overlay rootfs, mounts, hostname, sysctls, limits) is done after the take. A
 * daemon that dies leaves only their cgroups (the processes die with their control socket);
 * the next start sweeps them. */
#pragma once

#include "common/error.h"
#include "common/loop.h"
#include "mechanism/mechanism.h"

/* Sets the pool's size (0: off), the daemon's tag (kept apart from other daemons') and its
 * run directory (where the waiting domains' staging directory is made; NULL: none). */
void pl_prepared_configure(int size, const char *tag, const char *run_root);
/* After recovery (a running container keeps its prepared cgroup): sweeps what an earlier
 * daemon of this tag left and starts filling the pool on loop. */
int pl_prepared_start(pl_loop_t *loop, pl_error_t **err);
/* Kills the waiting domains and the maker, removes their cgroups. */
void pl_prepared_stop(void);
/* Whether spec can run in a prepared domain (the default profile: its own namespaces, no
 * user namespace, no cgroup_parent, devices or privilege) and one is ready. */
bool pl_prepared_usable(const pl_domain_spec_t *spec);
/* Gives a prepared domain to the container: renames its cgroups, writes res, sends the
 * description and the files tether needs (log, exit record, reconnect socket), plumbs the
 * endpoints and says GO. 1: none was ready (use the ordinary path); 0: out filled. */
int pl_prepared_take(const pl_domain_spec_t *spec, const pl_resources_t *res, int logfd, int exitfd,
		     int listenfd, pl_domain_t *out, pl_error_t **err);

/* A start is done (the mechanism's started): a refill that waits for one runs now. */
void pl_prepared_started(void);

/* linux.c: the tail every domain's first process runs (fds arranged, rootfs, GO, pivot,
 * exec tether); and the sealed tether binary. */
_Noreturn void pl_linux_child_run(const pl_domain_spec_t *spec, int ctl, int logfd, int exitfd,
				  int listenfd);
int pl_linux_tether_memfd(void);
