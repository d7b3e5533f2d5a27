/* SPDX-License-Identifier: Apache-2.0 */
/* docker build's files on the pl-dockerd side: the context tar unpacked into a private
 * directory (no entry may land outside it, a size cap), and the tars that carry COPY/ADD
 * sources into a build container (PUT /containers/{id}/archive at "/"), with the content
 * checksum the build cache keys on. Symbolic links are never followed: a link is copied as
 * a link. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "docker/build/ignore.h"

/* Unpacks the tar read from fd into dir (which exists). Entries with "..", absolute names
 * or that would be written through a symbolic link are refused; more than max bytes of
 * file data fails with a message naming the cap. */
int bx_extract(int fd, const char *dir, int64_t max, pl_error_t **err);

typedef struct bx_item {
	char *src;   /* absolute host path (under a context or a --from directory) */
	char *rel;   /* the path relative to its root, for .dockerignore ("" for the root) */
	char *dest;  /* the path in the container, no leading '/' */
	bool unpack; /* ADD of a local archive: its entries go under dest */
} bx_item_t;

typedef struct bx_copy {
	bx_item_t *items;
	size_t n;
	const di_rules_t *ignore; /* NULL: nothing excluded */
	int uid, gid;		  /* the owner of what is written */
	bool chown;		  /* uid/gid given, else 0:0 */
} bx_copy_t;

void bx_copy_clear(bx_copy_t *cp);
void bx_copy_add(bx_copy_t *cp, const char *src, const char *rel, const char *dest, bool unpack);

/* sha256 hex of names, kinds, modes, owners, link targets and contents (not times). */
int bx_checksum(const bx_copy_t *cp, char out[65], pl_error_t **err);
/* Writes the tar into fd: first the directories in mkdirs (no leading '/', 0755, root),
 * then every item. */
int bx_write_tar(const bx_copy_t *cp, char *const *mkdirs, int fd, pl_error_t **err);
/* The first regular file's contents in a tar held in memory (malloc'd, NUL-terminated), or
 * NULL. */
char *bx_tar_first_file(const char *tar, size_t len, size_t *out_len);
/* True when the first bytes of a body (at least 512 when it is that long) look like a tar
 * or a compressed stream, rather than a bare Dockerfile. */
bool bx_looks_like_archive(const unsigned char *head, size_t len);
/* True when path is an archive libarchive reads (tar, possibly compressed). */
bool bx_is_archive(const char *path);
/* Expands a glob (fnmatch, '/' matched literally) over the files under root: relative
 * paths, sorted, NULL-terminated; an empty vector when nothing matches. */
char **bx_glob(const char *root, const char *pattern);
