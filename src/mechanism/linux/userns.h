/* SPDX-License-Identifier: Apache-2.0 */
/* User namespaces for the linux mechanism (security.userns mode "remap"). The setup child
 * is cloned with CLONE_NEWUSER besides its other namespaces, so its mount, network, ipc,
 * uts, pid and cgroup namespaces all belong to the container's user namespace and its root
 * has capabilities there only. The daemon, real root on the host, writes the child's uid and
 * gid maps and then builds what needs privilege over the host's file systems: idmapped
 * mounts of the rootfs's lower layers (an image file owned by host uid 0 shows as owned by
 * the container's root), the overlay over them (detached, via fsmount), and a detached tree
 * for every bind mount and volume (volumes idmapped, bind mounts not: they keep the host's
 * ownership). These cross to the child with the GO frame as SCM_RIGHTS; the child becomes
 * root of its namespace and attaches them with move_mount (rootfs.c). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include "common/error.h"
#include "mechanism/mechanism.h"

#define PL_USERNS_MAX_MOUNTS 128 /* bind mounts + volumes of a remapped container */

typedef struct pl_userns_fds {
	int overlay; /* the detached overlay mount: the container's root */
	int merged;  /* O_PATH of domain_dir/merged, where the overlay is attached (opened by
		      * the child: it must be in the child's mount namespace) */
	int mounts[PL_USERNS_MAX_MOUNTS]; /* spec->mounts[i] as a detached tree */
	size_t n_mounts;
} pl_userns_fds_t;

/* Does this domain get its own user namespace? */
bool pl_userns_wanted(const pl_domain_spec_t *spec);
/* Validation at create for what only the mechanism knows (mount count). */
int pl_userns_validate(const pl_domain_spec_t *spec, pl_error_t **err);

/* Daemon side, after the clone and before GO: writes pid's uid_map and gid_map, gives the
 * upper directory to the container's root and builds the mounts into fds. */
int pl_userns_setup(const pl_domain_spec_t *spec, pid_t pid, pl_userns_fds_t *fds,
		    pl_error_t **err);
/* Sends GO carrying fds. Returns 0 or -errno. */
int pl_userns_send_go(int ctl, const pl_userns_fds_t *fds);
void pl_userns_fds_init(pl_userns_fds_t *fds);
void pl_userns_fds_close(pl_userns_fds_t *fds);

/* Child side: waits for GO, takes its fds, opens the mount point merged, and becomes uid/gid
 * 0 of its namespace (until then the child still holds the host's uid 0, which its map does
 * not contain). */
int pl_userns_wait_go(int ctl, const char *merged, size_t n_mounts, pl_userns_fds_t *fds,
		      pl_error_t **err);
