/* SPDX-License-Identifier: Apache-2.0 */
/* cgroups for the linux mechanism: detects the host's layout once (v2, v1, or hybrid =
 * v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified) and keeps one cgroup per
 * container under a "portlayer" parent in every hierarchy it uses. Never remounts. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include "common/error.h"

typedef enum pl_cg_layout {
	PL_CG_V2 = 0,
	PL_CG_V1,
	PL_CG_HYBRID,
} pl_cg_layout_t;

int pl_cgroup_init(const char *mountpoint, pl_error_t **err);
pl_cg_layout_t pl_cgroup_layout(void);
const char *pl_cgroup_layout_name(void);
/* Creates the container's cgroups. Returns an O_DIRECTORY fd of its cgroup2 directory for
 * CLONE_INTO_CGROUP, or -1 (no error) when there is no cgroup2 hierarchy. */
int pl_cgroup_create(const char *id, pl_error_t **err);
/* Moves pid into the container's v1 cgroups (no-op on pure v2): for a process that may have
 * threads (a VM's launcher). A process not yet running anything joins itself instead: */
int pl_cgroup_attach_v1(const char *id, pid_t pid, pl_error_t **err);
/* Opens the container's v1 `tasks` files (write-only, close-on-exec) into fds (room for
 * PL_CGROUP_MAX_V1); returns how many (0 on pure v2). Before the clone. */
#define PL_CGROUP_MAX_V1 16
int pl_cgroup_join_fds(const char *id, int fds[], pl_error_t **err);
/* In the new single-threaded child: moves itself through those fds ("0", this thread). A
 * thread moving itself skips the global threadgroup lock, whose first write-lock waits out an
 * RCU grace period while holding cgroup_mutex (a cgroup.procs write took 5-19 ms here and
 * stalled every other cgroup operation on the host meanwhile; this takes ~0.05 ms).
 * Async-signal-safe; returns 0 or -errno. */
int pl_cgroup_join_self(const int fds[], int n);
void pl_cgroup_join_close(int fds[], int n);
/* Writes the container's resource limits into its cgroups (at creation and on update). */
struct pl_resources;
int pl_cgroup_apply(const char *id, const struct pl_resources *r, pl_error_t **err);
/* How many times the kernel's OOM killer fired in the container's memory cgroup. */
long pl_cgroup_oom_kills(const char *id);
/* Freezes (pause) or thaws the container's processes. */
int pl_cgroup_freeze(const char *id, bool frozen, pl_error_t **err);
/* Whether the container's cgroup is frozen right now (the truth behind "paused"). */
bool pl_cgroup_is_frozen(const char *id);
/* Usage figures from the container's cgroups: cpu, memory, pids, blkio. */
#include <jansson.h>
json_t *pl_cgroup_stats(const char *id);
/* Kills whatever is left in the container's cgroups and removes them. Idempotent. */
int pl_cgroup_destroy(const char *id, pl_error_t **err);

/* Places the container's cgroups under parent (a path relative to each hierarchy's root,
 * made as needed) instead of our own; NULL or "" puts it back under ours. Before create. */
int pl_cgroup_place(const char *id, const char *parent, pl_error_t **err);
/* The container's cgroup relative to each hierarchy's root (malloc'd). */
char *pl_cgroup_path(const char *id);
/* Learns where a live domain's cgroups are from its process (after a daemon restart). */
void pl_cgroup_adopt(const char *id, pid_t pid);
/* Prepared domains (mechanism/linux/prepared.c) are made in cgroups named
 * PL_CGROUP_POOL_PREFIX<daemon tag>-<n> and given to a container at start: its v1
 * directories are renamed to the container's id, its cgroup2 directory (which cannot be
 * renamed) keeps the pool name and is remembered for the id (pl_cgroup_adopt finds it again
 * after a restart). */
#define PL_CGROUP_POOL_PREFIX "pool-"
int pl_cgroup_take(const char *pool_name, const char *id, pl_error_t **err);
/* Kills and removes every cgroup named prefix* that no container holds (prepared domains a
 * killed daemon left, or ours at shutdown). */
void pl_cgroup_sweep(const char *prefix);
/* The container's device rules: all (privileged), or Docker's default set plus these. */
typedef struct pl_cgroup_device {
	char type; /* 'c' or 'b' */
	unsigned major, minor;
	char perms[4]; /* letters of "rwm" */
} pl_cgroup_device_t;
int pl_cgroup_devices(const char *id, const pl_cgroup_device_t *devs, size_t n, bool all,
		      pl_error_t **err);
/* devbpf.c: attaches a cgroup v2 device filter allowing exactly these rules ("c 1:3 rwm",
 * "b *:* m", "a") to the cgroup2 directory fd. */
int pl_devbpf_attach(int cgroup_fd, const char *const *rules, size_t n, pl_error_t **err);
