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

/* Reads a description (a length, the JSON, and its fds by SCM_RIGHTS); NULL at EOF. */
json_t *pl_linux_spec_receive(int ctl, int fds[PL_SPEC_FDS], int *nfds);
/* Reads the daemon's GO frame: it has placed the domain in every cgroup and plumbed its
 * endpoints. */
int pl_linux_wait_go(int ctl, pl_error_t **err);
/* In tether started with --prepared (control socket on fd 3, the phase page's memfd on fd
 * 4): waits for the take and sets the domain up. Returns 0 with fds 3-6 as tether-protocol.md
 * says and the root pivoted; a failure goes to the daemon as an ERROR frame and ends the
 * process, as does the daemon's going away before the take. */
int pl_linux_prepared_setup(void);
