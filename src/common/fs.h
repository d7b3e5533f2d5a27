/* SPDX-License-Identifier: Apache-2.0 */
/* File-system helpers shared by the daemon, the library and plctl: write-all, atomic replace,
 * whole-file read, recursive removal that never follows symlinks, mkdir -p. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "common/error.h"

/* Writes all of data to fd, retrying on EINTR and short writes. Returns 0 or -errno. */
int pl_write_all(int fd, const void *data, size_t len);
/* Reads exactly len bytes (EINTR retried): 0, or -errno (-EPIPE at an early end of file). */
int pl_read_exact(int fd, void *buf, size_t len);
/* Writes data to dir/name via a temp file: write, fsync, rename, fsync(dir). */
int pl_atomic_write(int dirfd, const char *name, const void *data, size_t len, pl_error_t **err);
/* Reads a whole (small) file; *out is NUL-terminated. Fails with NOTFOUND on ENOENT. */
int pl_read_file_at(int dirfd, const char *name, char **out, size_t *len, size_t max,
		    pl_error_t **err);
/* Reads a whole (small) file from an open fd; name is for messages. */
int pl_read_fd(int fd, const char *name, char **out, size_t *len, size_t max, pl_error_t **err);
/* Removes name (a file or a tree) below dirfd, without following symlinks or crossing
 * mount points. Missing is not an error. */
int pl_remove_tree_at(int dirfd, const char *name, pl_error_t **err);
/* mkdir -p with the given mode for every created component. */
int pl_mkdir_p(const char *path, unsigned mode, pl_error_t **err);
/* Whether path is dir or below it ("/proc" holds "/proc/sys", not "/processes"). */
bool pl_path_under(const char *path, const char *dir);

/* The most descriptors one pl_send_fds carries (the kernel's SCM_MAX_FD). */
#define PL_SEND_FDS_MAX 253
/* One sendmsg of len bytes at buf with nfds descriptors riding along (SCM_RIGHTS; none
 * when nfds is 0), flags | MSG_NOSIGNAL, retried on EINTR. Returns what sendmsg returns
 * (the fds went with the first byte; a short count leaves the rest to plain writes), or
 * -1 with errno (EINVAL past PL_SEND_FDS_MAX). */
ssize_t pl_send_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds, int flags);
