/* SPDX-License-Identifier: Apache-2.0 */
/* The daemon's open-file limit: one daemon holds a few fds per container (pidfd, tether
 * socket, directory fds), so the soft limit is raised to the hard limit at start-up. The
 * processes it starts get the limit the daemon was started with, not the raised one. */
#pragma once

#include <sys/resource.h>

/* Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit. */
rlim_t pl_nofile_raise(void);
/* In a child about to exec something else: back to the limit the daemon started with. */
void pl_nofile_restore(void);
