/* SPDX-License-Identifier: Apache-2.0 */
/* The vm mechanism (a dedicated kernel in a QEMU microVM), as the daemon sees it: its
 * descriptor, its settings and what it reports about itself. Its internals are under
 * src/mechanism/vm/ (vm/vm.h is private to them). */
#pragma once

#include "common/error.h"
#include "mechanism/mechanism.h"

/* Where scripts/deps.sh unpacks the guest kernel package. */
#define PL_VM_DEFAULT_KERNEL_DIR "/usr/local/lib/portlayer/kernel"
/* The host ids a VM's QEMU runs as (PL_VM_IDS_START + its pid; pid_max is at most 2^22):
 * the descriptor reserves them (reserved_ids_*) so --userns-range may not hand them out. */
#define PL_VM_IDS_START 0x7f000000u
#define PL_VM_IDS_COUNT (1u << 22)
extern pl_mechanism_t pl_mechanism_vm;
/* Its settings, given at init (the daemon's --vm-* flags). accel "auto" (probe KVM once,
 * else TCG), "kvm" or "tcg"; kernel_dir an unpacked linux-image package; caches go under
 * state_root/vm (NULL: the mechanism is unavailable). VM templates (dedicated kernels start
 * as clones of a booted, saved guest): templates_off, their directory (NULL:
 * state_root/vm/templates), and sizes built ahead at start-up ("CPUSxMIB,...", NULL: none;
 * others are built at their first use). pool: clones started ahead and taken by starts of
 * their size ("CPUSxMIB[:N],...", NULL: none); their sockets live under run_root. NULL and
 * zero fields keep the defaults. */
typedef struct pl_vm_options {
	const char *accel, *kernel_dir, *state_root;
	bool templates_off;
	const char *template_dir, *template_prebuild;
	const char *pool, *run_root;
} pl_vm_options_t;
/* Checks the options (INVALID naming the flag) before it looks at the host. */
int pl_vm_init(pl_mechanism_t *m, const char *tether_path, const pl_vm_options_t *o,
	       pl_error_t **err);
/* Keeps the pool (--vm-pool) topped up from the daemon's loop: a size's slots start once
 * its template is there (a build finishes in the background, after start-up) and when a
 * slot died; takes refill at once. Nothing without a pool. */
#include "common/loop.h"
void pl_vm_pool_watch(pl_loop_t *loop);
void pl_vm_pool_unwatch(void);
/* The guest kernel's version (NULL when none was found) and the accelerator setting. */
const char *pl_vm_kernel_version(void);
const char *pl_vm_accel_name(void);
