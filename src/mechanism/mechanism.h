/* The mechanism interface: how an isolation domain is made, placed, signalled and torn
 * down. The portable core (src/portlayer) picks a mechanism from the isolation criteria and
 * talks only to this interface and to tether over the protocol; everything kernel- or
 * hypervisor-specific lives behind it (src/mechanism/linux, later src/mechanism/vm).
 * This header owns the descriptions passed across; implementations own their state. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include "common/error.h"
#include "portlayer/config.h"

/* What the caller asks of a domain, resolved to host paths. */
typedef struct pl_domain_spec {
	const char *id;
	int domain_dirfd;	/* the container's domain directory (logs, exit record, layers) */
	const char *domain_dir; /* its path, for mount options */
	int run_dirfd;		/* the container's volatile dir (tether's reconnect socket) */
	const pl_config_t *config;
	const char *hostname;
	const char *lowerdir; /* overlayfs lower layers, top first, ':'-separated */
	/* [{"source": host path, "target", "readonly", "propagation", "populate": marker path
	 * (a fresh volume: copy the image's content at target first, then create the marker)}] */
	const json_t *mounts;
	/* network: share the daemon's namespace (host mode), or a fresh one with these
	 * endpoints plumbed on the host side before GO, see mechanism/netdev.h:
	 * [{"kind":"veth","bridge","host_ifname","ifname","mac","mtu"} |
	 *  {"kind":"macvlan","parent","ifname","mac","mtu"}]; tether configures the inside */
	bool host_network;
	const json_t *endpoints;
	bool netns_pooled; /* enter netns_fd (a pre-created namespace) instead of a new one */
	int netns_fd;
} pl_domain_spec_t;

/* A live domain as the core sees it: tether's process and its protocol channel. */
typedef struct pl_domain {
	pid_t pid;		       /* tether's pid on the host */
	int pidfd;		       /* polls readable when tether (and so the domain) is gone */
	int ctl_fd;		       /* the tether protocol stream; -1 when not connected */
	unsigned long long start_time; /* tether's start time (clock ticks), guards pid reuse */
} pl_domain_t;

typedef struct pl_mechanism {
	const char *name;
	pl_kernel_t kernel; /* which isolation criterion it satisfies */
	/* the domain's files are its overlay in the domain directory (layers + upper/), so
	 * archives and commit can work on them; false when they live elsewhere (a VM's disk) */
	bool files_on_host;
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
	int (*validate)(const struct pl_mechanism *m, const pl_config_t *cfg, pl_error_t **err);
	/* Adds mechanism-specific settings to tether's CONFIG message. */
	int (*tether_config)(const struct pl_mechanism *m, const pl_config_t *cfg, json_t *msg,
			     pl_error_t **err);
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
	/* Optional. The domain's process ended and tether left no exit record: judges the exit
	 * code and signal from the process's wait status (reaped false: not our child, no
	 * status) and returns the reason to record, or NULL. Without it the status is the
	 * container's (linux: the process is tether). */
	const char *(*unreported_end)(const struct pl_mechanism *m, bool reaped, int code,
				      int signo, bool killed_by_us, int *exit_code, int *signal);
	/* Optional. What inspect shows about a domain beyond the mechanism's name (a VM's
	 * kernel version and accelerator), read from its domain directory; NULL for nothing. */
	json_t *(*describe)(const struct pl_mechanism *m, int domain_dirfd);
	/* stats come from inside the domain (tether's STATS): stats() is what the domain costs
	 * the host, shown beside them and instead of them until tether has answered */
	bool guest_stats;
	/* SIGKILL ends a paused domain as it is (a VM: QEMU stopped by QMP still dies), so the
	 * core does not resume it first. False: it is resumed before (a v1-frozen task). */
	bool kills_paused;
	void *priv;
} pl_mechanism_t;

/* Helpers every mechanism uses the same way (domain.c). In a domain's set-up process:
 * reports e on ctl as the protocol's ERROR frame (with its kind), then exits 1. */
_Noreturn void pl_domain_fail(int ctl, pl_error_t *e, const char *fallback);
/* The common reattach: 1 and out filled (pidfd, a fresh connection to dirfd/socket_name or
 * -1) when pid still runs with that start time, 0 when it is gone or the pid was reused. */
int pl_domain_reattach(pid_t pid, unsigned long long start_time, int run_dirfd,
		       const char *socket_name, pl_domain_t *out, pl_error_t **err);

/* Initialises the mechanisms compiled in; tether_path is the agent binary to run. */
int pl_mechanisms_init(const char *tether_path, pl_error_t **err);
/* The mechanism for a criterion, or NULL with an UNSUPPORTED error naming why. */
const pl_mechanism_t *pl_mechanism_for(pl_kernel_t kernel, pl_error_t **err);
const pl_mechanism_t *pl_mechanism_by_name(const char *name);
/* All mechanisms known (available or not), NULL-terminated. */
const pl_mechanism_t *const *pl_mechanisms_all(void);

extern pl_mechanism_t pl_mechanism_linux;
int pl_linux_init(pl_mechanism_t *m, const char *tether_path, pl_error_t **err);
const char *pl_linux_cgroup_layout(void);

/* Where scripts/deps.sh unpacks the guest kernel package. */
#define PL_VM_DEFAULT_KERNEL_DIR "/usr/local/lib/portlayer/kernel"
/* The host ids a VM's QEMU runs as (PL_VM_IDS_START + its pid; pid_max is at most 2^22):
 * --userns-range may not hand them to containers. */
#define PL_VM_IDS_START 0x7f000000u
#define PL_VM_IDS_COUNT (1u << 22)
extern pl_mechanism_t pl_mechanism_vm;
/* Settings before pl_mechanisms_init: accel "auto" (probe KVM once, else TCG), "kvm" or
 * "tcg"; kernel_dir an unpacked linux-image package (NULL: the default); caches go under
 * state_root/vm. NULL arguments keep the defaults. */
int pl_vm_configure(const char *accel, const char *kernel_dir, const char *state_root,
		    pl_error_t **err);
int pl_vm_init(pl_mechanism_t *m, const char *tether_path, pl_error_t **err);
/* The guest kernel's version (NULL when none was found) and the accelerator setting. */
const char *pl_vm_kernel_version(void);
const char *pl_vm_accel_name(void);
