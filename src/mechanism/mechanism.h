/* SPDX-License-Identifier: Apache-2.0 */
/* The mechanism interface: how an isolation domain is made, placed, signalled and torn
 * down. The portable core (src/portlayer) picks a mechanism from the isolation criteria and
 * the capabilities each mechanism declares (never from its name), and talks only to this
 * interface and to tether over the protocol; everything kernel- or hypervisor-specific lives
 * behind it (src/mechanism/linux, src/mechanism/vm, using the host layer src/host/linux).
 * Nothing here includes the core: the domain is described by mechanism/domain.h's plain
 * types. This header owns the descriptions passed across; implementations own their state,
 * and each one's own settings are in its public header (mechanism/linux.h, mechanism/vm.h). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include "common/error.h"
#include "mechanism/domain.h"

/* What a mechanism can do beyond the minimum; the core decides from these. */
typedef enum pl_mech_caps {
	/* the domain runs its own kernel (criterion "dedicated"); without it, the host's */
	PL_MECH_DEDICATED_KERNEL = 1u << 0,
	/* the domain's namespaces are the host kernel's: it can share the host's (network_mode
	 * "host"), and tether's pidfd reaches its namespaces from the host (setns) */
	PL_MECH_SHARES_HOST_NS = 1u << 1,
	/* enters a pre-created network namespace (spec.netns_fd) instead of making one */
	PL_MECH_NETNS_POOL = 1u << 2,
	/* plumbs macvlan endpoints (scopes on an external interface) */
	PL_MECH_MACVLAN = 1u << 3,
	/* network endpoints can be added to and removed from a running domain (net_connect and
	 * net_disconnect are set) */
	PL_MECH_HOTPLUG_NIC = 1u << 4,
	/* pause/is_paused freeze and thaw the domain */
	PL_MECH_PAUSE = 1u << 5,
	/* the domain's files are its overlay in the domain directory (layers + upper/), so
	 * archives and commit can work on them; not so when they live elsewhere (a VM's disk) */
	PL_MECH_FILES_ON_HOST = 1u << 6,
	/* stats come from inside the domain (tether's STATS): stats() is what the domain costs
	 * the host, shown beside them and instead of them until tether has answered */
	PL_MECH_GUEST_STATS = 1u << 7,
	/* SIGKILL ends a paused domain as it is (a VM: QEMU stopped by QMP still dies), so the
	 * core does not resume it first. Without it: resumed before (a v1-frozen task). */
	PL_MECH_KILLS_PAUSED = 1u << 8,
	/* tether writes container.log through a host file it holds, so the core can rotate the
	 * log by handing it a fresh one (LOG_ROTATED); without it the log is written elsewhere
	 * (a VM's QEMU) and a LOG_ROTATE from the domain is ignored */
	PL_MECH_LOG_ROTATE = 1u << 9,
} pl_mech_caps_t;

/* What the caller asks of a domain, resolved to host paths. At validate and tether_config
 * time only the description is filled (security, resources, host, mounts as requested,
 * host_network, hostname as configured: NULL when not given); the paths, fds and endpoints
 * are -1/NULL. Something new a domain can be asked for (devices,
 * a cgroup parent, namespaces to join) is a field here or in domain.h, filled from the
 * config by portlayer/placement.c (pl_placement_describe) and, when only some mechanisms
 * can do it, a capability the core requires in pl_placement_criteria. */
typedef struct pl_domain_spec {
	const char *id;
	int domain_dirfd;	/* the container's domain directory (logs, exit record, layers) */
	const char *domain_dir; /* its path, for mount options */
	int run_dirfd;		/* the container's volatile dir (tether's reconnect socket) */
	const pl_security_t *security;
	const pl_resources_t *resources;
	pl_domain_host_t host;
	const char *hostname;
	const char *lowerdir; /* overlayfs lower layers, top first, ':'-separated */
	/* its writes need not outlive a crash (the container is removed when it ends): the
	 * rootfs's upper layer is never synced (linux: overlayfs "volatile", so its unmount
	 * does not sync the host's filesystem) */
	bool disposable_rootfs;
	/* volumes and bind mounts, in the config's order (domain.h) */
	const pl_domain_mount_t *mounts;
	size_t n_mounts;
	/* network: share the daemon's namespace (host mode), or a fresh one with these
	 * endpoints plumbed on the host side before GO (domain.h); tether configures the
	 * inside */
	bool host_network;
	const pl_domain_endpoint_t *endpoints;
	size_t n_endpoints;
	bool netns_pooled; /* enter netns_fd (a pre-created namespace) instead of a new one */
	int netns_fd;
	/* namespaces shared instead of made (pods, see portlayer/pods.c); NULL: all own.
	 * A joined network namespace comes as netns_pooled with netns_fd. */
	const struct pl_ns_join *join;
} pl_domain_spec_t;

typedef struct pl_ns_join {
	int ipc_fd, pid_fd;		   /* another domain's namespace to enter, or -1 */
	bool host_ipc, host_pid, host_uts; /* the host's own */
	char *shm_dir;			   /* a /dev/shm to share (the ipc owner's), or NULL */
} pl_ns_join_t;

/* A live domain as the core sees it: tether's process and its protocol channel. */
typedef struct pl_domain {
	pid_t pid;		       /* tether's pid on the host */
	int pidfd;		       /* polls readable when tether (and so the domain) is gone */
	int ctl_fd;		       /* the tether protocol stream; -1 when not connected */
	unsigned long long start_time; /* tether's start time (clock ticks), guards pid reuse */
	/* spawn: a warning about how the domain was made (a VM fell back to a cold boot), for
	 * the daemon's log and a "warning" event; the mechanism's, valid until its next call */
	const char *warning;
} pl_domain_t;

typedef struct pl_mechanism {
	const char *name; /* for inspect and the domain record; the core never branches on it */
	unsigned caps;	  /* pl_mech_caps_t */
	/* host ids the mechanism's own processes run as (count 0: none), which user namespace
	 * remapping must not hand to containers */
	uint32_t reserved_ids_start, reserved_ids_count;
	/* Probes the host once; false with a reason when this mechanism cannot run here. */
	bool (*available)(const struct pl_mechanism *m, const char **reason);
	/* Creates the domain and starts tether in it. On success the domain waits for the
	 * protocol's HELLO exchange; failures inside the domain arrive as an ERROR frame. */
	int (*spawn)(const struct pl_mechanism *m, const pl_domain_spec_t *spec, pl_domain_t *out,
		     pl_error_t **err);
	/* Finds a domain that outlived a daemon restart: fills out and returns 1 when tether
	 * pid with that start time is still alive, 0 when it is gone. ctl_fd is a fresh
	 * connection to tether's reconnect socket (tether greets with a resumed HELLO), or -1
	 * when it cannot be reached. */
	int (*reattach)(const struct pl_mechanism *m, const char *id, int run_dirfd, pid_t pid,
			unsigned long long start_time, pl_domain_t *out, pl_error_t **err);
	/* Checks what only this mechanism can judge (a seccomp profile compiles, ...). */
	int (*validate)(const struct pl_mechanism *m, const pl_domain_spec_t *spec,
			pl_error_t **err);
	/* Adds mechanism-specific settings to tether's CONFIG message. */
	int (*tether_config)(const struct pl_mechanism *m, const pl_domain_spec_t *spec,
			     json_t *msg, pl_error_t **err);
	/* Changes the resource limits of a live domain. */
	int (*update)(const struct pl_mechanism *m, const char *id, const pl_resources_t *r,
		      pl_error_t **err);
	/* How many times the domain's processes were killed for want of memory. */
	long (*oom_kills)(const struct pl_mechanism *m, const char *id);
	/* Freezes / thaws every process of the domain; is_paused reads the truth back. */
	int (*pause)(const struct pl_mechanism *m, const char *id, bool paused, pl_error_t **err);
	bool (*is_paused)(const struct pl_mechanism *m, const char *id);
	/* Usage of a live domain: {"cpu","memory","pids","blkio","networks"}. */
	json_t *(*stats)(const struct pl_mechanism *m, const char *id, const pl_domain_t *dom);
	/* Releases what the domain held on the host after tether is gone (cgroups, ...).
	 * Kills anything still left in it first. Idempotent. */
	int (*destroy)(const struct pl_mechanism *m, const char *id, pl_error_t **err);
	/* Optional. Taken while tether runs: an fd holding what is costly to tear down of the
	 * domain (linux: its mount namespace), so that tether's exit is quick and the teardown
	 * happens where the fd is closed (the janitor's process, after the answer). -1: none. */
	int (*teardown_handle)(const struct pl_mechanism *m, const pl_domain_t *dom);
	/* Optional. The domain's start is done and answered (its process runs): work the
	 * mechanism put off so as not to slow the start (linux: refilling the prepared
	 * domains) may run now. */
	void (*started)(const struct pl_mechanism *m, const pl_domain_t *dom);
	/* Optional. The domain's process ended and tether left no exit record: judges the exit
	 * code and signal from the process's wait status (reaped false: not our child, no
	 * status) and returns the reason to record, or NULL. Without it the status is the
	 * container's (linux: the process is tether). */
	const char *(*unreported_end)(const struct pl_mechanism *m, bool reaped, int code,
				      int signo, bool killed_by_us, int *exit_code, int *signal);
	/* Optional (NULL: a running domain's network cannot change, no hot-plug). Plumbs one
	 * more endpoint into the running domain and configures its inside end: ep as in
	 * pl_domain_spec_t's endpoints with its address (and gateway when it is to hold the
	 * default route) filled. net_disconnect takes it away again. */
	int (*net_connect)(const struct pl_mechanism *m, const pl_domain_t *dom,
			   const pl_domain_endpoint_t *ep, pl_error_t **err);
	int (*net_disconnect)(const struct pl_mechanism *m, const pl_domain_t *dom,
			      const pl_domain_endpoint_t *ep, pl_error_t **err);
	/* Optional. What inspect shows about a domain beyond the mechanism's name (a VM's
	 * kernel version and accelerator), read from its domain directory; NULL for nothing. */
	json_t *(*describe)(const struct pl_mechanism *m, int domain_dirfd);
	void *priv;
} pl_mechanism_t;

/* Helpers every mechanism uses the same way (domain.c). In a domain's set-up process:
 * reports e on ctl as the protocol's ERROR frame (with its kind), then exits 1. */
_Noreturn void pl_domain_fail(int ctl, pl_error_t *e, const char *fallback);
/* The common reattach: 1 and out filled (pidfd, a fresh connection to dirfd/socket_name or
 * -1) when pid still runs with that start time, 0 when it is gone or the pid was reused. */
int pl_domain_reattach(pid_t pid, unsigned long long start_time, int run_dirfd,
		       const char *socket_name, pl_domain_t *out, pl_error_t **err);

static inline bool pl_mech_has(const pl_mechanism_t *m, unsigned caps)
{
	return (m->caps & caps) == caps;
}

/* What a domain needs of its mechanism. */
typedef struct pl_mech_criteria {
	bool dedicated_kernel;
	unsigned need; /* pl_mech_caps_t every candidate must have */
} pl_mech_criteria_t;

/* The first mechanism of list (NULL-terminated) that is available and meets crit. NULL with
 * an error: UNSUPPORTED when no mechanism of that kernel is available here, INVALID naming
 * the capabilities none of them has (and *missing set to those, when not NULL). */
const pl_mechanism_t *pl_mechanism_select(const pl_mechanism_t *const *list,
					  const pl_mech_criteria_t *crit, unsigned *missing,
					  pl_error_t **err);
const pl_mechanism_t *pl_mechanism_by_name(const pl_mechanism_t *const *list, const char *name);
/* What a capability flag means, for messages ("shares the host's namespaces"). */
const char *pl_mech_cap_describe(unsigned cap);

/* The compiled-in set and its initialisation with each one's settings: mechanism/builtin.h. */
