/* SPDX-License-Identifier: Apache-2.0 */
/* The vm mechanism's internal interface between its files: guest.c owns the guest kernel
 * (finding it) and the initramfs (building and caching it), disk.c the root disks (per-image
 * base, per-container overlay), qemu.c QEMU's command line, the accelerator verdict and the
 * QMP client; vm.c holds the pl_mechanism_t operations. Only vm.c is seen from outside. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "common/error.h"
#include "mechanism/domain.h"

typedef struct pl_vm_kernel {
	char *dir;     /* an unpacked linux-image package: boot/vmlinuz-V, lib/modules/V */
	char *version; /* V */
	char *vmlinuz;
	char *moddir;
} pl_vm_kernel_t;

/* ---- guest.c */

/* The newest kernel with modules under dir. */
int pl_vm_kernel_find(const char *dir, pl_vm_kernel_t *k, pl_error_t **err);
void pl_vm_kernel_clear(pl_vm_kernel_t *k);
/* The initramfs for this tether and kernel under cache_dir (tether as /init, the virtio
 * modules in load order), built when missing; keyed by their hashes. Returns its path. */
char *pl_vm_initramfs(const char *cache_dir, const char *tether_path, const pl_vm_kernel_t *k,
		      pl_error_t **err);

/* ---- disk.c */

/* The read-only base disk (raw ext4) holding the merged view of lowerdir (a rootfs directory
 * or overlay layers top first, ':'-separated), built once under cache_dir. Returns its path.
 * Runs external tools and may unshare the mount namespace: call it in a child process. */
char *pl_vm_base_disk(const char *cache_dir, const char *lowerdir, pl_error_t **err);
/* The container's copy-on-write disk (qcow2 over base) at path, created when missing. */
int pl_vm_overlay_disk(const char *path, const char *base, pl_error_t **err);
/* The base disk's size (KiB) and inode count for a tree of bytes (allocated, with a block
 * of slack per entry) in entries files, directories and links. */
void pl_vm_disk_geometry(long long bytes, long long entries, long long *size_k, long long *inodes);
/* The base disk for lowerdir when it is built already (a few stats: the daemon's loop may
 * call it), else NULL. */
char *pl_vm_base_disk_cached(const char *cache_dir, const char *lowerdir);
/* A qcow2 image's virtual size (bytes), from its header; -1 when it is not one. */
long long pl_vm_disk_size(const char *qcow2);
/* Removes what launchers that no longer run left in cache_dir (NAME.PID.tmp, merge.PID,
 * probe.PID.console): a launcher killed mid-build never cleans up after itself. */
void pl_vm_cache_clean(const char *cache_dir);
/* Runs argv (a path in argv[0]) to completion with stdout and stderr to /dev/null, except
 * that the last lines of stderr end up in the error. */
int pl_vm_run(char *const argv[], pl_error_t **err);

/* ---- qemu.c */

typedef enum pl_vm_accel {
	PL_VM_ACCEL_AUTO = 0,
	PL_VM_ACCEL_KVM,
	PL_VM_ACCEL_TCG,
} pl_vm_accel_t;

const char *pl_vm_qemu_binary(void);
/* Whether pid runs QEMU (a launcher has exec'd it yet: before, nothing serves QMP). */
bool pl_vm_is_qemu(pid_t pid);
/* QEMU runs as uid/gid PL_VM_IDS_START + its pid (mechanism/vm.h), chrooted into dir
 * (an empty directory); NULL: as root, unconfined but for its seccomp sandbox. */
void pl_vm_qemu_jail(const char *dir);
/* The accelerator to use (*out): forced, or the cached verdict of a boot probe under KVM
 * (keyed by the guest kernel and the QEMU binary; a probe that timed out is not cached).
 * Fails when kvm is forced without /dev/kvm or the cache cannot be used. */
int pl_vm_accel_resolve(pl_vm_accel_t wanted, const char *cache_dir, const pl_vm_kernel_t *k,
			const char *initramfs, pl_vm_accel_t *out, pl_error_t **err);
/* The host's TSC rate in kHz, measured against CLOCK_MONOTONIC (~20 ms); 0 when unknown. */
long pl_vm_host_tsc_khz(void);

typedef enum pl_vm_boot_mode {
	PL_VM_BOOT_COLD = 0,
	/* boots to tether's wait for a clone (pl_template) with its RAM in mem_path, shared:
	 * the file is the guest's memory; no container's disk, log or NICs (placeholders of
	 * the same layout: n_nics hub ports) */
	PL_VM_BOOT_TEMPLATE,
	/* restores the template's device state from state_fd (-incoming), its RAM mem_path
	 * mapped privately (copy-on-write; x-ignore-shared: the stream carries none of it) */
	PL_VM_BOOT_CLONE,
	/* a clone started ahead for a pool (pool.c): as a clone, but no container's backends
	 * yet: its disk a zero-sized placeholder under a raw node a take swaps, its files in
	 * domain_dir (the pool slot's), a port (pool_port_fd) and a monitor (pool_mon_fd) the
	 * daemon holds */
	PL_VM_BOOT_POOL,
} pl_vm_boot_mode_t;

typedef struct pl_vm_boot {
	pl_vm_boot_mode_t mode;
	const char *mem_path; /* template, clone */
	int state_fd;	      /* clone */
	int restore_qmp_fd;   /* clone: a connected socket, a monitor to start the restore on */
	int disk_fds[2];      /* clone: the disk opened read-only and read-write */
	const char *append;   /* clone: the template's kernel command line (NULL: built) */
	size_t n_nics;	      /* template */
	pl_vm_accel_t accel;
	const pl_vm_kernel_t *kernel;
	const char *initramfs;
	const char *disk;	/* qcow2 */
	const char *domain_dir; /* logs, exit record, console */
	int ctl_fd, qmp_fd;	/* listening sockets QEMU serves */
	const char *hostname;
	bool read_only;
	int cpus;
	int64_t memory_mib;
	int shares_fd; /* > 0: QEMU's end of the virtio-fs connection (shares.c) */
	/* bridge endpoints (mechanism/domain.h) and their taps' fds, inherited by QEMU */
	const pl_domain_endpoint_t *endpoints;
	size_t n_endpoints;
	const int *tap_fds;
	long tsc_khz;		       /* the host's TSC rate, told to a TCG guest (0: not told) */
	int pool_port_fd, pool_mon_fd; /* pool: connected sockets */
} pl_vm_boot_t;

/* QEMU's argv (NULL-terminated; free with pl_vm_argv_free). */
char **pl_vm_qemu_argv(const pl_vm_boot_t *b);
/* The kernel command line a boot gets (cold and template; a clone keeps its template's). */
char *pl_vm_append(const pl_vm_boot_t *b);
/* The accelerator when it is known without a probe (forced, no usable /dev/kvm, or the
 * cached verdict): 1 and *out, else 0. */
int pl_vm_accel_known(pl_vm_accel_t wanted, const char *cache_dir, const pl_vm_kernel_t *k,
		      pl_vm_accel_t *out);
void pl_vm_argv_free(char **argv);
/* Execs QEMU (argv from pl_vm_qemu_argv) in the process state and environment it runs
 * with; returns only on failure (errno set). */
void pl_vm_qemu_exec(const pl_vm_boot_t *b, char **argv);
/* A QMP session its caller keeps (a template's builder) on a connected, non-blocking
 * socket: greeted and capabilities negotiated by open; each call with its own deadline,
 * arguments stolen, pass_fd (>= 0) sent along for "getfd". */
typedef struct pl_vm_qmp {
	int fd;
	size_t used;
	char buf[16384];
} pl_vm_qmp_t;
int pl_vm_qmp_open(pl_vm_qmp_t *q, int fd, int timeout_ms, pl_error_t **err);
json_t *pl_vm_qmp_call(pl_vm_qmp_t *q, const char *cmd, json_t *args, int pass_fd, int timeout_ms,
		       pl_error_t **err);
/* One QMP command on the monitor socket at path; the "return" value (new reference). */
json_t *pl_vm_qmp(const char *path, const char *command, pl_error_t **err);

/* ---- shares.c */

const char *pl_vm_virtiofsd_binary(void);
/* What a dedicated kernel cannot do with the config's mounts (propagation), or virtiofsd
 * missing. */
int pl_vm_shares_check(const pl_domain_mount_t *mounts, size_t n, pl_error_t **err);
/* In the launcher, for a non-empty mounts spec (pl_domain_spec_t's): starts the VM's
 * virtiofsd (our child, dying with us) serving the mounts' sources, marks the fresh volumes
 * the guest is to populate, and returns QEMU's end of the vhost-user connection (inheritable),
 * or -1. */
int pl_vm_shares_start(const char *domain_dir, const pl_domain_mount_t *mounts, size_t n,
		       pl_error_t **err);

/* ---- net.c */

/* Most networks a VM joins (one virtio-net device each). */
#define PL_VM_MAX_NICS 8
/* A tap per endpoint (bridge endpoints only: external scopes are refused), on its bridge and
 * up, into fds (close-on-exec; at most max). Returns how many, or -1 with nothing left. */
int pl_vm_net_open(const pl_domain_endpoint_t *endpoints, size_t n, int *fds, size_t max,
		   pl_error_t **err);
void pl_vm_net_close(int *fds, size_t n);

/* ---- template.c */

typedef struct pl_vm_tmpl_spec {
	const char *dir;  /* where templates live */
	const char *base; /* pl_vm_template_base's */
	const pl_vm_kernel_t *kernel;
	const char *initramfs;
	pl_vm_accel_t accel;
	int cpus;
	int64_t memory_mib;
	size_t n_nics;
} pl_vm_tmpl_spec_t;

/* What every template from this kernel, initramfs and QEMU binary shares in its name (a hash
 * of their identities); NULL on failure. */
char *pl_vm_template_base(const pl_vm_kernel_t *k, const char *initramfs);
/* The template's name (a directory under dir): base, accelerator, vCPUs, memory, NICs. */
char *pl_vm_template_key(const pl_vm_tmpl_spec_t *t);
/* 1: dir/key is a complete template for memory_mib (*append: its kernel command line), 0: there
 * is none, -1: it is unusable (damaged, incomplete); why says what. */
int pl_vm_template_check(const char *dir, const char *key, int64_t memory_mib, char **append,
			 char *why, size_t why_size);
/* Builds it in this process: boots, waits for tether, saves (a minute or more under TCG). */
int pl_vm_template_build(const pl_vm_tmpl_spec_t *t, pl_error_t **err);
/* Starts a builder detached from the caller, unless one builds it already or a build failed
 * within the last minutes. Never waits for it. background: at the lowest CPU priority (a
 * build on first use, beside running VMs), not for builds asked for at start-up. */
void pl_vm_template_build_async(const pl_vm_tmpl_spec_t *t, bool background);
/* Removes dir/key (running clones keep their mappings). */
void pl_vm_template_remove(const char *dir, const char *key);
/* Removes templates of another base and what builders that no longer run left behind. */
void pl_vm_templates_clean(const char *dir, const char *base);

/* ---- vm.c, for pool.c */

/* The CPU priority of background VM work (template builds, pool refills) and of its
 * process's autogroup: below starts, but not so low that a busy host never finishes a
 * template (at 19 two nice-0 CPU hogs on two cores left a build no CPU for minutes, and
 * every start then paid a cold boot instead). */
#define PL_VM_BACKGROUND_NICE 10
/* Lowers the calling process (and its autogroup) to PL_VM_BACKGROUND_NICE. */
void pl_vm_background_priority(void);

/* every file QEMU writes (logs, console, exit record, the disk overlay) stops growing at the
 * root disk's size + 1/8 + the guest's memory + this (docs/design-decisions.md) */
#define PL_VM_FILE_SLACK (1LL << 30)
/* A pooled QEMU's limit is set before its container is known (only a process itself may
 * raise its own, and the daemon may lack CAP_SYS_RESOURCE): as for a root disk this big.
 * Containers whose disk is bigger are not pooled. */
#define PL_VM_POOL_DISK_MAX (8LL << 30)
/* In a launcher about to exec QEMU (this pid): a detached process that starts the restore
 * of the template's state (state_fd, QEMU's) on QEMU's monitor qmp_fd, and, for a clone's own
 * disk (disk_size > 0), announces its capacity after it. A pool's slot (pooled) whose daemon
 * is gone by then (its pool port closed before tether could see it open) is ended. */
void pl_vm_restore_helper(int qmp_fd, int state_fd, long long disk_size, bool pooled);

/* ---- pool.c */

/* The template a pool's slots are clones of. */
typedef struct pl_vm_pool_tmpl {
	const char *dir, *key, *append;
	pl_vm_accel_t accel;
	const pl_vm_kernel_t *kernel;
	const char *initramfs;
	int cpus;
	int64_t memory_mib;
	const char *warm_disk; /* pl_vm_pool_warm_disk's, or NULL */
} pl_vm_pool_tmpl_t;

/* What a take binds late: the container's disk (from lowerdir, in domain_dir) and record. */
typedef struct pl_vm_pool_take {
	const char *key; /* the template's: slots of it only */
	const char *cache_dir, *lowerdir, *domain_dir;
	const char *kernel_version, *accel;
	int cpus;
	int64_t memory_mib;
	long long file_size_limit; /* the slot's (PL_VM_POOL_DISK_MAX) */
	pid_t pid;		   /* filled by the take: the slot's QEMU */
} pl_vm_pool_take_t;

typedef struct pl_vm_pool_taken {
	pid_t pid;
	int pidfd, ctl_fd;
} pl_vm_pool_taken_t;

/* Removes what a previous daemon's pool left (killing its untaken QEMUs) and sets where
 * slots live: state_dir/pool (files), run_root/vm-pool (sockets). */
void pl_vm_pool_init(const char *state_dir, const char *run_root);
/* The small ext4 a slot's guest warms its disk paths up on (made once under state_dir), or
 * NULL when it cannot be made. */
const char *pl_vm_pool_warm_disk(const char *state_dir);
/* Slots of the template key (warming or ready), dead ones dropped. */
size_t pl_vm_pool_count(const char *key);
/* The file size limit of a pooled QEMU of that memory (RLIMIT_FSIZE, vm.c's rule for a disk
 * of PL_VM_POOL_DISK_MAX). */
long long pl_vm_pool_file_limit(int64_t memory_mib);
/* Starts one slot (a clone QEMU restoring t, at the lowest priority until taken). */
int pl_vm_pool_start(const pl_vm_pool_tmpl_t *t, pl_error_t **err);
/* Takes a ready slot of tk->key for a container: 1 and *out (QEMU's pid, a pidfd, the
 * daemon's connection to its control port; its files and sockets moved into the domain's
 * directories; the disk bound by a detached helper), 0 when none is ready, -1 on failure. */
int pl_vm_pool_take(pl_vm_pool_take_t *tk, int run_dirfd, int domain_dirfd, pl_vm_pool_taken_t *out,
		    pl_error_t **err);
