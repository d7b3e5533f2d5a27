/* SPDX-License-Identifier: Apache-2.0 */
#include "docker/build/context.h"
#include "common/cleanup.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int bx_extract(int fd, const char *dir, int64_t max, pl_error_t **err)
{
	struct archive *in = archive_read_new(), *out = archive_write_disk_new();
	archive_read_support_format_tar(in);
	archive_read_support_format_empty(in);
	archive_read_support_filter_all(in);
	archive_write_disk_set_options(out, ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
						ARCHIVE_EXTRACT_SECURE_NODOTDOT |
						ARCHIVE_EXTRACT_SECURE_SYMLINKS);
	int rc = -1;
	int64_t total = 0;
	if (archive_read_open_fd(in, fd, 65536) != ARCHIVE_OK) {
		pl_error_set(err, PL_ERR_INVALID, 0, "the build context is not a tar: %s",
			     archive_error_string(in));
		goto out;
	}
	for (;;) {
		struct archive_entry *e;
		int r = archive_read_next_header(in, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			pl_error_set(err, PL_ERR_INVALID, 0, "read the build context: %s",
				     archive_error_string(in));
			goto out;
		}
		/* a copy: the entry's own name is replaced below */
		_cleanup_free_ char *name =
		    archive_entry_pathname(e) ? pl_xstrdup(archive_entry_pathname(e)) : NULL;
		if (!name || name[0] == '/' || !strcmp(name, "..") || !strncmp(name, "../", 3) ||
		    strstr(name, "/../") ||
		    (strlen(name) >= 3 && !strcmp(name + strlen(name) - 3, "/.."))) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "the build context has an entry outside it: %s",
				     name ? name : "(none)");
			goto out;
		}
		const char *hl = archive_entry_hardlink(e);
		if (hl && (hl[0] == '/' || strstr(hl, ".."))) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "the build context has a hard link outside it: %s", name);
			goto out;
		}
		mode_t type = archive_entry_filetype(e);
		if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK)
			continue; /* devices, fifos: nothing a build copies */
		total += archive_entry_size(e);
		if (total > max) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "the build context is too large: over %lld bytes (the "
				     "limit; see PL_DOCKERD_BUILD_CONTEXT_MAX)",
				     (long long)max);
			goto out;
		}
		_cleanup_free_ char *full = pl_xasprintf("%s/%s", dir, name);
		archive_entry_copy_pathname(e, full);
		if (hl) {
			_cleanup_free_ char *fh = pl_xasprintf("%s/%s", dir, hl);
			archive_entry_copy_hardlink(e, fh);
		}
		archive_entry_set_uid(e, 0);
		archive_entry_set_gid(e, 0);
		if (archive_write_header(out, e) != ARCHIVE_OK) {
			pl_error_set(err, PL_ERR_INVALID, 0, "unpack the build context: %s: %s",
				     name, archive_error_string(out));
			goto out;
		}
		const void *buf;
		size_t len;
		la_int64_t off;
		while ((r = archive_read_data_block(in, &buf, &len, &off)) == ARCHIVE_OK)
			if (archive_write_data_block(out, buf, len, off) != ARCHIVE_OK)
				break;
		if (r != ARCHIVE_EOF && r != ARCHIVE_OK) {
			pl_error_set(err, PL_ERR_INVALID, 0, "read the build context: %s",
				     archive_error_string(in));
			goto out;
		}
		archive_write_finish_entry(out);
	}
	rc = 0;
out:
	archive_read_free(in);
	archive_write_free(out);
	return rc;
}

void bx_copy_clear(bx_copy_t *cp)
{
	for (size_t i = 0; i < cp->n; i++) {
		free(cp->items[i].src);
		free(cp->items[i].rel);
		free(cp->items[i].dest);
	}
	free(cp->items);
	cp->items = NULL;
	cp->n = 0;
}

void bx_copy_add(bx_copy_t *cp, const char *src, const char *rel, const char *dest, bool unpack)
{
	cp->items = pl_xrealloc(cp->items, (cp->n + 1) * sizeof(*cp->items));
	cp->items[cp->n++] =
	    (bx_item_t){pl_xstrdup(src), pl_xstrdup(rel), pl_xstrdup(dest), unpack};
}

char *bx_tar_first_file(const char *tar, size_t len, size_t *out_len)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	char *out = NULL;
	if (archive_read_open_memory(a, tar, len) == ARCHIVE_OK) {
		struct archive_entry *e;
		while (!out && archive_read_next_header(a, &e) == ARCHIVE_OK) {
			if (archive_entry_filetype(e) != AE_IFREG)
				continue;
			int64_t sz = archive_entry_size(e);
			if (sz < 0 || sz > (8 << 20))
				break;
			out = pl_xmalloc((size_t)sz + 1);
			la_ssize_t n = archive_read_data(a, out, (size_t)sz);
			if (n < 0)
				n = 0;
			out[n] = '\0';
			*out_len = (size_t)n;
		}
	}
	archive_read_free(a);
	return out;
}

bool bx_looks_like_archive(const unsigned char *h, size_t len)
{
	if (len >= 2 && h[0] == 0x1f && h[1] == 0x8b)
		return true; /* gzip */
	if (len >= 3 && !memcmp(h, "BZh", 3))
		return true;
	if (len >= 6 && !memcmp(h,
				"\xfd"
				"7zXZ",
				5))
		return true;
	if (len >= 4 && !memcmp(h, "\x28\xb5\x2f\xfd", 4))
		return true; /* zstd */
	if (len >= 262 && !memcmp(h + 257, "ustar", 5))
		return true;
	return len == 0;
}

bool bx_is_archive(const char *path)
{
	struct archive *a = archive_read_new();
	archive_read_support_format_tar(a);
	archive_read_support_filter_all(a);
	bool ok = false;
	if (archive_read_open_filename(a, path, 65536) == ARCHIVE_OK) {
		struct archive_entry *e;
		ok = archive_read_next_header(a, &e) == ARCHIVE_OK;
	}
	archive_read_free(a);
	return ok;
}

/* ---- the walk shared by the checksum and the tar ---- */

typedef struct walker {
	const bx_copy_t *cp;
	int (*fn)(struct walker *w, const char *src, const char *dest, const struct stat *st,
		  const char *link, bool unpack, pl_error_t **err);
	gnutls_hash_hd_t hash;
	struct archive *ar;
} walker_t;

static int walk(walker_t *w, const char *src, const char *rel, const char *dest, bool unpack,
		bool top, pl_error_t **err)
{
	if (w->cp->ignore && *rel && di_excluded(w->cp->ignore, rel))
		return 0;
	struct stat st;
	if (lstat(src, &st) < 0)
		return pl_error_errno(err, "%s", rel && *rel ? rel : src);
	char link[4096] = "";
	if (S_ISLNK(st.st_mode)) {
		ssize_t n = readlink(src, link, sizeof(link) - 1);
		if (n < 0)
			return pl_error_errno(err, "readlink %s", rel);
		link[n] = '\0';
	}
	if (!S_ISDIR(st.st_mode) || !top) {
		if (w->fn(w, src, dest, &st, link, unpack && S_ISREG(st.st_mode), err) < 0)
			return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return 0;
	struct dirent **names = NULL;
	int n = scandir(src, &names, NULL, alphasort);
	if (n < 0)
		return pl_error_errno(err, "read %s", rel);
	int rc = 0;
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		if (rc == 0 && strcmp(nm, ".") && strcmp(nm, "..")) {
			_cleanup_free_ char *s = pl_xasprintf("%s/%s", src, nm);
			_cleanup_free_ char *r =
			    *rel ? pl_xasprintf("%s/%s", rel, nm) : pl_xstrdup(nm);
			_cleanup_free_ char *d =
			    *dest ? pl_xasprintf("%s/%s", dest, nm) : pl_xstrdup(nm);
			rc = walk(w, s, r, d, false, false, err);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

static int walk_all(walker_t *w, pl_error_t **err)
{
	for (size_t i = 0; i < w->cp->n; i++) {
		const bx_item_t *it = &w->cp->items[i];
		/* a source named outright is copied even when .dockerignore would skip it
		 * only if it is not excluded itself */
		if (walk(w, it->src, it->rel, it->dest, it->unpack, true, err) < 0)
			return -1;
	}
	return 0;
}

static void hash_str(gnutls_hash_hd_t h, const char *s)
{
	gnutls_hash(h, s, strlen(s) + 1);
}

static int hash_entry(walker_t *w, const char *src, const char *dest, const struct stat *st,
		      const char *link, bool unpack, pl_error_t **err)
{
	char meta[128];
	snprintf(meta, sizeof(meta), "%o %d:%d %d", (unsigned)st->st_mode,
		 w->cp->chown ? w->cp->uid : 0, w->cp->chown ? w->cp->gid : 0, unpack);
	hash_str(w->hash, dest);
	hash_str(w->hash, meta);
	hash_str(w->hash, link);
	if (!S_ISREG(st->st_mode))
		return 0;
	_cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return pl_error_errno(err, "open %s", src);
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		gnutls_hash(w->hash, buf, (size_t)n);
	return n < 0 ? pl_error_errno(err, "read %s", src) : 0;
}

int bx_checksum(const bx_copy_t *cp, char out[65], pl_error_t **err)
{
	walker_t w = {.cp = cp, .fn = hash_entry};
	if (gnutls_hash_init(&w.hash, GNUTLS_DIG_SHA256) < 0)
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "sha256");
	int rc = walk_all(&w, err);
	unsigned char d[32];
	gnutls_hash_deinit(w.hash, d);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return rc;
}

static int copy_data(struct archive *ar, int fd, pl_error_t **err)
{
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (archive_write_data(ar, buf, (size_t)n) < 0)
			return pl_error_set(err, PL_ERR_INTERNAL, 0, "write the copy tar: %s",
					    archive_error_string(ar));
	return n < 0 ? pl_error_errno(err, "read") : 0;
}

static int unpack_into(walker_t *w, const char *src, const char *dest, pl_error_t **err)
{
	struct archive *in = archive_read_new();
	archive_read_support_format_tar(in);
	archive_read_support_filter_all(in);
	int rc = -1;
	if (archive_read_open_filename(in, src, 65536) != ARCHIVE_OK) {
		pl_error_set(err, PL_ERR_INVALID, 0, "ADD %s: %s", src, archive_error_string(in));
		goto out;
	}
	struct archive_entry *e;
	int r;
	while ((r = archive_read_next_header(in, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		while (name[0] == '/' || (name[0] == '.' && name[1] == '/'))
			name++;
		if (!*name || !strcmp(name, "."))
			continue;
		_cleanup_free_ char *nn =
		    *dest ? pl_xasprintf("%s/%s", dest, name) : pl_xstrdup(name);
		archive_entry_copy_pathname(e, nn);
		const char *hl = archive_entry_hardlink(e);
		if (hl) {
			while (hl[0] == '/' || (hl[0] == '.' && hl[1] == '/'))
				hl++;
			_cleanup_free_ char *nh =
			    *dest ? pl_xasprintf("%s/%s", dest, hl) : pl_xstrdup(hl);
			archive_entry_copy_hardlink(e, nh);
		}
		if (archive_write_header(w->ar, e) != ARCHIVE_OK) {
			pl_error_set(err, PL_ERR_INTERNAL, 0, "ADD %s: %s", name,
				     archive_error_string(w->ar));
			goto out;
		}
		const void *buf;
		size_t len;
		la_int64_t off;
		while (archive_read_data_block(in, &buf, &len, &off) == ARCHIVE_OK)
			archive_write_data(w->ar, buf, len);
	}
	if (r != ARCHIVE_EOF) {
		pl_error_set(err, PL_ERR_INVALID, 0, "ADD %s: %s", src, archive_error_string(in));
		goto out;
	}
	rc = 0;
out:
	archive_read_free(in);
	return rc;
}

static int tar_entry(walker_t *w, const char *src, const char *dest, const struct stat *st,
		     const char *link, bool unpack, pl_error_t **err)
{
	if (unpack)
		return unpack_into(w, src, dest, err);
	struct archive_entry *e = archive_entry_new();
	archive_entry_copy_stat(e, st);
	archive_entry_copy_pathname(e, dest);
	archive_entry_set_uid(e, w->cp->chown ? w->cp->uid : 0);
	archive_entry_set_gid(e, w->cp->chown ? w->cp->gid : 0);
	archive_entry_set_nlink(e, 1);
	if (S_ISLNK(st->st_mode)) {
		archive_entry_copy_symlink(e, link);
		archive_entry_set_size(e, 0);
	} else if (!S_ISREG(st->st_mode)) {
		archive_entry_set_size(e, 0);
	}
	int rc = 0;
	if (archive_write_header(w->ar, e) != ARCHIVE_OK)
		rc = pl_error_set(err, PL_ERR_INTERNAL, 0, "write the copy tar: %s: %s", dest,
				  archive_error_string(w->ar));
	if (rc == 0 && S_ISREG(st->st_mode)) {
		_cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		rc = fd < 0 ? pl_error_errno(err, "open %s", src) : copy_data(w->ar, fd, err);
	}
	archive_entry_free(e);
	return rc;
}

int bx_write_tar(const bx_copy_t *cp, char *const *mkdirs, int fd, pl_error_t **err)
{
	walker_t w = {.cp = cp, .fn = tar_entry, .ar = archive_write_new()};
	archive_write_set_format_pax_restricted(w.ar);
	archive_write_set_bytes_in_last_block(w.ar, 1);
	if (archive_write_open_fd(w.ar, fd) != ARCHIVE_OK) {
		archive_write_free(w.ar);
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "write the copy tar");
	}
	int rc = 0;
	for (char *const *d = mkdirs; d && *d && rc == 0; d++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_copy_pathname(e, *d);
		archive_entry_set_filetype(e, AE_IFDIR);
		archive_entry_set_perm(e, 0755);
		archive_entry_set_mtime(e, time(NULL), 0);
		archive_entry_set_uid(e, cp->chown ? cp->uid : 0);
		archive_entry_set_gid(e, cp->chown ? cp->gid : 0);
		if (archive_write_header(w.ar, e) != ARCHIVE_OK)
			rc = pl_error_set(err, PL_ERR_INTERNAL, 0, "write the copy tar: %s",
					  archive_error_string(w.ar));
		archive_entry_free(e);
	}
	if (rc == 0)
		rc = walk_all(&w, err);
	if (archive_write_close(w.ar) != ARCHIVE_OK && rc == 0)
		rc = pl_error_set(err, PL_ERR_INTERNAL, 0, "write the copy tar: %s",
				  archive_error_string(w.ar));
	archive_write_free(w.ar);
	return rc;
}

typedef struct globber {
	const char *root, *pattern;
	char **v;
	size_t n;
} globber_t;

static void glob_walk(globber_t *g, const char *rel)
{
	_cleanup_free_ char *dir = *rel ? pl_xasprintf("%s/%s", g->root, rel) : pl_xstrdup(g->root);
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		if (strcmp(nm, ".") && strcmp(nm, "..")) {
			_cleanup_free_ char *r =
			    *rel ? pl_xasprintf("%s/%s", rel, nm) : pl_xstrdup(nm);
			if (fnmatch(g->pattern, r, FNM_PATHNAME) == 0) {
				g->v = pl_xrealloc(g->v, (g->n + 2) * sizeof(*g->v));
				g->v[g->n++] = pl_xstrdup(r);
				g->v[g->n] = NULL;
			} else if (names[i]->d_type == DT_DIR) {
				glob_walk(g, r);
			}
		}
		free(names[i]);
	}
	free(names);
}

char **bx_glob(const char *root, const char *pattern)
{
	globber_t g = {.root = root, .pattern = pattern};
	g.v = pl_xcalloc(1, sizeof(*g.v));
	glob_walk(&g, "");
	return g.v;
}
