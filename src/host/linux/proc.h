/* SPDX-License-Identifier: Apache-2.0 */
/* Process and socket plumbing of the Linux host, shared by the mechanisms (linux, vm):
 * cloning a domain's first process with a pidfd (optionally straight into a cgroup), the
 * pid-reuse guard (a process's start time), the unix sockets a domain listens on in its run
 * directory, and a launcher's helper children. */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include "common/error.h"

/* clone3 with CLONE_PIDFD (and CLONE_INTO_CGROUP when cgfd >= 0); like fork otherwise. */
pid_t pl_clone_pidfd(uint64_t flags, int cgfd, int *pidfd);
struct clone_args;
/* clone3 with args plus CLONE_VM | CLONE_VFORK and a stack of its own: the child runs fn(arg)
 * and exits with its value, sharing the caller's memory until it execs or exits while the
 * caller waits. Nothing is copied (no page tables, no copy-on-write faults in the caller
 * afterwards, nothing for the exec to tear down), so fn may only make system calls on its own
 * stack: no malloc, no stdio, no locks, no writes to memory the caller reads. Where the
 * trampoline is not written (not x86-64) the child is a copy, as with fork. */
pid_t pl_clone_spawn(struct clone_args *args, int (*fn)(void *), void *arg);
/* In a helper process just forked from parent (a launcher's tool): dies with its parent
 * (exits at once when the parent is already gone), stdin and stdout on /dev/null, stderr on
 * err_fd (-1: /dev/null), and no other fd. */
void pl_proc_helper_child(pid_t parent, int err_fd);
/* Field 22 of /proc/PID/stat (clock ticks since boot), or 0 when it cannot be read. */
unsigned long long pl_proc_start_time(pid_t pid);
/* A listening unix socket at dirfd/name (any old one replaced), close-on-exec. */
int pl_unix_listen_at(int dirfd, const char *name, pl_error_t **err);
/* A connection to the unix socket at dirfd/name, or -1. */
int pl_unix_connect_at(int dirfd, const char *name);
