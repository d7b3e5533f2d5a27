/* SPDX-License-Identifier: Apache-2.0 */
/* Safe tar extraction: the one place untrusted archives (image layers, copies into
 * containers) touch the disk. Every entry is created relative to a root directory fd with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) on its parent, never
 * by joining strings onto a path. What it refuses, with an error naming the entry: ".."
 * escapes, writing through a symbolic link, hard links to anything but a regular file
 * already extracted, device nodes (unless allowed), duplicates, names over PATH_MAX, and
 * archives over the size or entry limits. Absolute names are neutralised (made relative),
 * as Docker does. Ownership, modes, mtimes and xattrs (security.capability too) are kept. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include "common/error.h"
#include "portlayer/storage/digest.h"
#include "portlayer/userns.h"

typedef struct pl_extract_policy {
	uint64_t max_bytes;   /* sum of regular file sizes; 0 = default (16 GiB) */
	uint64_t max_entries; /* 0 = default (1,000,000) */
	bool allow_devices;   /* character/block device nodes */
	bool strip_setid;     /* clear setuid/setgid bits */
	bool whiteouts;	      /* OCI whiteouts → overlayfs form (image layers) */
	/* check every entry against the rules and the directory as it is, writing nothing:
	 * run first where a refusal must leave the target untouched (copies into containers),
	 * then extract for real from the start of the stream */
	bool dry_run;
	/* a remapped container's maps: owners in the tar are its ids and are written as the
	 * host ids they map to (an owner it does not map is refused); NULL keeps them as is */
	const pl_userns_t *ids;
} pl_extract_policy_t;

typedef struct pl_extract_result {
	char diff_id[PL_DIGEST_LEN + 1];     /* sha256 of the uncompressed tar stream */
	char blob_digest[PL_DIGEST_LEN + 1]; /* sha256 of the bytes as read (compressed) */
	uint64_t entries, bytes;
} pl_extract_result_t;

/* Reads a tar stream (plain, gzip or zstd; detected) from in_fd to its end. */
int pl_extract_tar(int in_fd, int root_fd, const pl_extract_policy_t *pol, pl_extract_result_t *res,
		   pl_error_t **err);

/* pl_open_in_root: host/linux/resolve.h */

/* Normalises an entry name: strips leading "/" and "./", collapses "//" and "/./".
 * Returns NULL (INVALID) for ".." components, empty or overlong names. Caller frees. */
char *pl_extract_clean_path(const char *name, pl_error_t **err);
