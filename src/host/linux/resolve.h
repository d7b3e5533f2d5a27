/* SPDX-License-Identifier: Apache-2.0 */
/* Opening a path beneath a directory so that nothing in the path (a symbolic link, "..", a
 * magic link in /proc) leads out of it: what the core's storage needs to copy into and out of
 * a container's files and to unpack layers without trusting their contents. The linux
 * implementation (resolve.c) is openat2(2) with RESOLVE_IN_ROOT; another host OS gives the
 * same guarantees its own way. */
#pragma once

/* Beneath root: RESOLVE_IN_ROOT, no symbolic links, no magic links. The fd, or -errno. */
int pl_open_in_root(int root, const char *path, int flags);
/* Beneath root with symbolic links followed, but never out of it (absolute ones and ".."
 * stop at root), no magic links; "" is root itself. The fd, or -errno. */
int pl_open_in_root_follow(int root, const char *path, int flags);
