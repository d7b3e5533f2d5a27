/* SPDX-License-Identifier: Apache-2.0 */
/* The set-up of a prepared domain at its take, run by pl-tether itself: the prepared domain
 * execs tether before any container is known ("pl-tether --prepared"), so neither the exec
 * nor tether's start-up is on a start's critical path, and no copy of the daemon's memory
 * is in the domain when its container arrives. What it does is what a cloned domain's
 * first process does before it execs tether (linux.c, rootfs.c): read the description,
 * copy the daemon's mount namespace, mount the rootfs, wait for GO, cgroup namespace,
 * pivot_root. Linked into both the daemon and pl-tether (no daemon state in it). */
#pragma once

#include "common/error.h"
#include "mechanism/mechanism.h"

#include <jansson.h>

/* fds that come with a description: log, exit record, reconnect socket, the daemon's mount
 * namespace, [a pooled network namespace] */
#define PL_SPEC_FDS 5

/* The caller's mount table as a digest ("%016llx" into out[17]) of what a copy of it keeps:
 * each mount's device, root, mount point, options, type, source and filesystem options,
 * with those of the mount it is on, in any order (ids and propagation differ in a copy), leaving
 * out the mounts at and under skip (a prepared domain's staging directory; NULL: none). Said by the
 * daemon at a take when its table saw events since the domain was made (a mount and its unmount
 * leave it unchanged): the domain keeps its own copy when its digest is the same. -1 when the table
 * cannot be read. */
int pl_linux_mounts_digest(const char *skip, char out[17]);
/* Reads a description (a length, the JSON, and its fds by SCM_RIGHTS); NULL at EOF. */
json_t *pl_linux_spec_receive(int ctl, int fds[PL_SPEC_FDS], int *nfds);
/* Reads the daemon's GO frame: it has placed the domain in every cgroup and plumbed its
 * endpoints. */
int pl_linux_wait_go(int ctl, pl_error_t **err);
/* The domain's own last steps, before GO (the daemon makes its endpoints meanwhile): a
 * cgroup namespace of its own, the pivot onto root (rootfs.h: pl_rootfs_enter, or
 * pl_rootfs_enter_ahead with the root made ahead, ahead >= 0) and a session keyring of its
 * own. Anything that needs the host's /proc afterwards holds an fd opened
 * before. */
int pl_linux_enter_root(int root, int ahead, pl_error_t **err);
/* In tether started with --prepared STAGE_DIR (control socket on fd 3, the phase page's memfd
 * on fd 4): builds the kernel trees ahead at stage_dir (rootfs.h, pl_rootfs_stage; NULL:
 * none), waits for the take and sets the domain up. Returns 0 with fds 3-6 as tether-protocol.md
 * says and the root pivoted; a failure goes to the daemon as an ERROR frame and ends the
 * process, as does the daemon's going away before the take. */
int pl_linux_prepared_setup(const char *stage_dir);
