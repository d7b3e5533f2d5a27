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
/* Settings before pl_mechanisms_init: accel "auto" (probe KVM once, else TCG), "kvm" or
 * "tcg"; kernel_dir an unpacked linux-image package (NULL: the default); caches go under
 * state_root/vm. NULL arguments keep the defaults. */
int pl_vm_configure(const char *accel, const char *kernel_dir, const char *state_root,
		    pl_error_t **err);
/* VM templates (dedicated kernels start as clones of a booted, saved guest): enabled, their
 * directory (NULL: state_root/vm/templates), and sizes built ahead at start-up
 * ("CPUSxMIB,...", NULL: none; others are built at their first use). */
int pl_vm_configure_templates(bool enabled, const char *dir, const char *prebuild,
			      pl_error_t **err);
int pl_vm_init(pl_mechanism_t *m, const char *tether_path, pl_error_t **err);
/* The guest kernel's version (NULL when none was found) and the accelerator setting. */
const char *pl_vm_kernel_version(void);
const char *pl_vm_accel_name(void);
