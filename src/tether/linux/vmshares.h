/* SPDX-License-Identifier: Apache-2.0 */
/* The guest side of a vm domain's volumes and bind mounts (vmshares.c), used by vm.c's
 * boot: the host serves them as one virtio-fs file system (tag "pl.shares") holding each
 * share at "0", "1", ... and "list" saying where they go. */
#pragma once

#include <stdbool.h>

/* QEMU gave this guest a virtio-fs device (after the transport's module is loaded). */
bool pl_vm_shares_present(void);
/* Loads the virtio-fs modules, mounts the tag, places every share at its target beneath root
 * (created without following symlinks; a fresh volume first takes the content the root disk
 * has there when the share is empty), then drops the tag's own mount. With ro_root, root is
 * made read-only afterwards (its mount points had to be created first). NULL, or why not. */
const char *pl_vm_shares_mount(const char *root, bool ro_root);
/* Says why the guest cannot come up: on the console, and as the protocol's ERROR frame on
 * the control port (fd 3), which the daemon reports as the start's failure. */
void pl_vm_boot_error(const char *msg);
