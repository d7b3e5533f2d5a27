/* SPDX-License-Identifier: Apache-2.0 */
/* Archives of a container's filesystem: export, diff against its image, copy in and out,
 * stat, and the layer a commit makes of its upper directory. Everything here runs in a
 * worker process, because getting a view of the container's files means entering its mount
 * namespace (running) or mounting its overlay in a private one (stopped): neither may
 * happen in the daemon. Paths inside the container are resolved with
 * openat2(RESOLVE_IN_ROOT), so no symbolic link, however hostile, leads out of the root. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include "common/error.h"
#include "portlayer/storage/extract.h"

typedef struct pl_archive_target {
	const char *dir;      /* the domain directory: upper/, work/, merged/ */
	const char *lowers;   /* the overlay's lowerdir: top first, ':'-separated */
	int pidfd;	      /* >= 0: a running linux domain's tether (its mount namespace) */
	const json_t *mounts; /* a stopped one's volumes and binds (host sources), or NULL */
} pl_archive_target_t;

typedef enum pl_archive_view {
	/* what the container's processes see (volumes included) when running; the
	 * overlay of its layers with its volumes and binds (those whose target exists)
	 * otherwise. Read-only. */
	PL_VIEW_READ,
	/* the same, writable: a stopped container's overlay is mounted read-write, so the
	 * kernel applies overlay semantics (a replaced lower file is hidden, a removed one
	 * becomes a whiteout) */
	PL_VIEW_WRITE,
	/* the image layers plus the upper directory only (no volumes, no /proc), read-only:
	 * what export archives */
	PL_VIEW_ROOTFS,
	/* the image layers alone (what changes compare the upper directory with) */
	PL_VIEW_LOWER,
} pl_archive_view_t;

/* Enters the view (this process's mount namespace changes: workers only) and returns a
 * directory fd of the container's root. */
int pl_archive_open_view(const pl_archive_target_t *t, pl_archive_view_t view, pl_error_t **err);

/* Resolves path beneath root: every component but the last follows symbolic links inside
 * the root; the last is not followed unless path ends in "/" or "/.". Returns an O_PATH fd
 * of the parent directory and the leaf name (malloc'd; "." for the root itself). */
int pl_archive_resolve(int root, const char *path, char **leaf, pl_error_t **err);

/* Stat of path in Docker's X-Docker-Container-Path-Stat shape: {name, size, mode (Go's
 * os.FileMode bits), mtime (RFC 3339), linkTarget}. */
json_t *pl_archive_stat(int root, const char *path, pl_error_t **err);

/* Writes a tar of path (a file, or a tree) to out_fd; entries are named from path's last
 * component, as `docker cp` does. NOTFOUND when path does not exist. */
int pl_archive_get(int root, const char *path, int out_fd, const pl_userns_t *ids,
		   pl_error_t **err);

/* Writes a tar of the whole tree below root (export): names relative, no whiteouts. */
int pl_archive_export(int root, int out_fd, const pl_userns_t *ids, pl_error_t **err);

/* Extracts the tar from in_fd into path (an existing directory; symbolic links in path
 * followed inside the root) under the layer extraction rules of pol. */
int pl_archive_put(int root, const char *path, int in_fd, const pl_extract_policy_t *pol,
		   pl_error_t **err);

/* The changes of an upper directory against the lower view: [{"Path","Kind"}] sorted by
 * path, Kind 0 changed, 1 added, 2 deleted (Docker's numbers). */
json_t *pl_archive_changes(int upper, int lower, pl_error_t **err);

/* Writes an upper directory as an OCI layer tar: overlay whiteouts become ".wh.NAME",
 * opaque directories get ".wh..wh..opq". A plain directory (a rootfs) gives a base layer. */
int pl_archive_layer(int dir, int out_fd, const pl_userns_t *ids, pl_error_t **err);
