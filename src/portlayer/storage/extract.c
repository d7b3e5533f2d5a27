/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/storage/extract.h"
#include "common/cleanup.h"
#include "host/linux/resolve.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <limits.h>
#include <search.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#define DEFAULT_MAX_BYTES   (16ull << 30)
#define DEFAULT_MAX_ENTRIES 1000000ull
#define WH_PREFIX	    ".wh."
#define WH_OPAQUE	    ".wh..wh..opq"

char *pl_extract_clean_path(const char *name, pl_error_t **err)
{
	if (!name || strlen(name) >= PATH_MAX) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "entry name is missing or longer than PATH_MAX");
		return NULL;
	}
	char *out = pl_xmalloc(strlen(name) + 1);
	size_t o = 0;
	const char *p = name;
	while (*p) {
		while (*p == '/')
			p++;
		const char *end = strchrnul(p, '/');
		size_t n = (size_t)(end - p);
		if (n == 0)
			break;
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			free(out);
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "entry \"%s\": \"..\" escapes the root", name);
			return NULL;
		}
		if (!(n == 1 && p[0] == '.')) {
			if (o)
				out[o++] = '/';
			memcpy(out + o, p, n);
			o += n;
		}
		p = end;
	}
	out[o] = '\0';
	return out;
}

/* Creates the directories of path below root one component at a time; returns the last. */
static int mkdir_p_in_root(int root, const char *path)
{
	int cur = fcntl(root, F_DUPFD_CLOEXEC, 3);
	_cleanup_free_ char *copy = pl_xstrdup(path);
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); c && cur >= 0; c = strtok_r(NULL, "/", &save)) {
		int next = mkdirat(cur, c, 0755) < 0 && errno != EEXIST
			       ? -errno
			       : pl_open_in_root(cur, c, O_RDONLY | O_DIRECTORY);
		close(cur);
		cur = next;
	}
	return cur;
}

/* The parent directory of path (created as needed), opened beneath root; *leaf points
 * into path. Any symbolic link on the way is refused. */
static int open_parent(int root, char *path, const char **leaf, pl_error_t **err)
{
	char *slash = strrchr(path, '/');
	*leaf = slash ? slash + 1 : path;
	if (!slash)
		return fcntl(root, F_DUPFD_CLOEXEC, 3);
	*slash = '\0';
	int fd = pl_open_in_root(root, path, O_RDONLY | O_DIRECTORY);
	if (fd == -ENOENT)
		fd = mkdir_p_in_root(root, path);
	*slash = '/';
	if (fd < 0)
		return pl_error_set(err, PL_ERR_INVALID, -fd,
				    "entry \"%s\": its directory cannot be reached without "
				    "leaving the root or following a symbolic link",
				    path);
	return fd;
}

/* Something may already be at the leaf (a tar may replace a lower entry): remove all but
 * directories, which an entry of directory type keeps. */
static void clear_leaf(int dirfd, const char *leaf, bool keep_dir)
{
	struct stat st;
	if (fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		if (!keep_dir)
			unlinkat(dirfd, leaf, AT_REMOVEDIR);
		return;
	}
	unlinkat(dirfd, leaf, 0);
}

typedef struct ctx {
	int root;
	const pl_extract_policy_t *pol;
	void *seen;	       /* tsearch tree of cleaned names */
	void *nondirs, *regs;  /* dry run: entries that are not directories, regular files */
	struct archive *outer; /* decompressor, format raw */
	gnutls_hash_hd_t diff_hash;
	gnutls_hash_hd_t blob_hash;
	int in_fd;
	uint8_t inbuf[65536];
	uint64_t bytes, entries;
	/* directories' times, set after their contents (which would change them) */
	struct dir_time {
		char *path;
		struct timespec ts[2];
	} * dirs;
	size_t n_dirs, cap_dirs;
} ctx_t;

/* outer archive's read callback: the compressed bytes, hashed on the way */
static la_ssize_t read_in(struct archive *a, void *data, const void **buf)
{
	ctx_t *x = data;
	ssize_t n;
	do
		n = read(x->in_fd, x->inbuf, sizeof(x->inbuf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "read: %s", strerror(errno));
		return -1;
	}
	gnutls_hash(x->blob_hash, x->inbuf, (size_t)n);
	*buf = x->inbuf;
	return n;
}

/* inner (tar) archive's read callback: the decompressed stream, hashed on the way */
static la_ssize_t read_tar(struct archive *a, void *data, const void **buf)
{
	ctx_t *x = data;
	const void *block;
	size_t size;
	la_int64_t off;
	int r = archive_read_data_block(x->outer, &block, &size, &off);
	if (r == ARCHIVE_EOF)
		return 0;
	if (r != ARCHIVE_OK) {
		archive_set_error(a, archive_errno(x->outer), "%s", archive_error_string(x->outer));
		return -1;
	}
	gnutls_hash(x->diff_hash, block, size);
	*buf = block;
	return (la_ssize_t)size;
}

/* The entry's owner on disk: as in the tar, or through a remapped container's maps. */
static int owner_of(const ctx_t *x, struct archive_entry *e, const char *name, uid_t *uid,
		    gid_t *gid, pl_error_t **err)
{
	const pl_userns_t *u = x->pol->ids;
	int64_t a = archive_entry_uid(e), b = archive_entry_gid(e);
	if (u && u->remap) {
		a = a < 0 || a > UINT32_MAX ? -1
					    : pl_userns_host_id(u->uid_map, u->n_uid, (uint32_t)a);
		b = b < 0 || b > UINT32_MAX ? -1
					    : pl_userns_host_id(u->gid_map, u->n_gid, (uint32_t)b);
		if (a < 0 || b < 0)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "entry \"%s\": owner %lld:%lld is not mapped in the "
					    "container's user namespace",
					    name, (long long)archive_entry_uid(e),
					    (long long)archive_entry_gid(e));
	}
	*uid = (uid_t)a;
	*gid = (gid_t)b;
	return 0;
}

static int apply_meta(ctx_t *x, int dirfd, const char *leaf, struct archive_entry *e, bool is_link,
		      const char *name, pl_error_t **err)
{
	int flags = AT_SYMLINK_NOFOLLOW;
	uid_t uid;
	gid_t gid;
	if (owner_of(x, e, name, &uid, &gid, err) < 0)
		return -1;
	if (fchownat(dirfd, leaf, uid, gid, flags) < 0)
		return pl_error_errno(err, "entry \"%s\": chown", name);
	if (!is_link) {
		mode_t mode = archive_entry_perm(e);
		if (x->pol->strip_setid)
			mode &= ~(mode_t)(S_ISUID | S_ISGID);
		if (fchmodat(dirfd, leaf, mode, 0) < 0)
			return pl_error_errno(err, "entry \"%s\": chmod", name);
	}
	/* xattrs on a real fd (never on links, never through /proc: in a container's mount
	 * namespace /proc is the container's) */
	if (!is_link && archive_entry_xattr_reset(e) > 0) {
		const char *k;
		const void *v;
		size_t vlen;
		mode_t t = archive_entry_filetype(e);
		if (t == AE_IFCHR || t == AE_IFBLK)
			return pl_error_set(
			    err, PL_ERR_INVALID, 0,
			    "entry \"%s\": xattrs on device nodes are not supported", name);
		_cleanup_close_ int fd =
		    openat(dirfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return pl_error_errno(err, "entry \"%s\": open for xattrs", name);
		while (archive_entry_xattr_next(e, &k, &v, &vlen) == ARCHIVE_OK) {
			if (fsetxattr(fd, k, v, vlen, 0) < 0 && errno != ENOTSUP)
				return pl_error_errno(err, "entry \"%s\": xattr %s", name, k);
		}
	}
	struct timespec ts[2] = {
	    {.tv_sec = archive_entry_atime(e), .tv_nsec = archive_entry_atime_nsec(e)},
	    {.tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e)},
	};
	if (!archive_entry_atime_is_set(e))
		ts[0] = ts[1];
	utimensat(dirfd, leaf, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
}

static int copy_data(ctx_t *x, struct archive *in, int fd, const char *name, pl_error_t **err)
{
	for (;;) {
		const void *block;
		size_t size;
		la_int64_t off;
		int r = archive_read_data_block(in, &block, &size, &off);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK)
			return pl_error_set(err, PL_ERR_INVALID, 0, "entry \"%s\": %s", name,
					    archive_error_string(in));
		if (pwrite(fd, block, size, off) != (ssize_t)size)
			return pl_error_errno(err, "entry \"%s\": write", name);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void free_node(void *p)
{
	free(p);
}

static void remember(void **tree, const char *name)
{
	char *dup = pl_xstrdup(name);
	if (*(char **)tsearch(dup, tree, cmp_str) != dup)
		free(dup);
}

static bool known(void *const *tree, const char *name)
{
	return tfind(name, tree, cmp_str) != NULL;
}

/* The type of name beneath root, not following anything: 0 when absent. */
static mode_t type_in_root(int root, const char *name)
{
	_cleanup_close_ int fd = pl_open_in_root(root, name, O_PATH | O_NOFOLLOW);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return fd == -ENOENT ? 0 : S_IFLNK; /* unreachable counts as a link */
	return st.st_mode & S_IFMT;
}

/* What extract_entry would refuse, decided without writing (dry run). */
static int check_entry(ctx_t *x, struct archive_entry *e, const char *name, const char *raw,
		       pl_error_t **err)
{
	_cleanup_free_ char *p = pl_xstrdup(name);
	bool on_disk = true;
	for (char *c = p;; c++) {
		char *slash = strchr(c, '/');
		size_t len = slash ? (size_t)(slash - c) : strlen(c);
		if (len > NAME_MAX)
			return pl_error_set(err, PL_ERR_INVALID, ENAMETOOLONG, "entry \"%s\"", raw);
		if (!slash)
			break;
		*slash = '\0';
		mode_t t = on_disk ? type_in_root(x->root, p) : 0;
		if (known(&x->nondirs, p) || (t && t != S_IFDIR))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "entry \"%s\": its directory cannot be reached without "
					    "leaving the root or following a symbolic link",
					    raw);
		on_disk = on_disk && t;
		*slash = '/';
		c = slash;
	}
	const char *hard = archive_entry_hardlink(e);
	mode_t type = hard ? AE_IFREG : archive_entry_filetype(e);
	if (hard) {
		_cleanup_free_ char *target = pl_extract_clean_path(hard, err);
		if (!target)
			return pl_error_wrap(err, "hard link \"%s\"", raw);
		if (!known(&x->regs, target) &&
		    (known(&x->nondirs, target) || type_in_root(x->root, target) != S_IFREG))
			return pl_error_set(
			    err, PL_ERR_INVALID, 0,
			    "entry \"%s\": hard link target \"%s\" is not a regular "
			    "file extracted before it",
			    raw, hard);
	}
	switch (type) {
	case AE_IFREG:
		if (!hard) {
			const uint64_t max =
			    x->pol->max_bytes ? x->pol->max_bytes : DEFAULT_MAX_BYTES;
			if (archive_entry_size(e) < 0 ||
			    (x->bytes += (uint64_t)archive_entry_size(e)) > max)
				return pl_error_set(err, PL_ERR_INVALID, EFBIG,
						    "entry \"%s\": the archive exceeds %llu bytes",
						    raw, (unsigned long long)max);
		}
		break;
	case AE_IFCHR:
	case AE_IFBLK:
		if (!x->pol->allow_devices)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "entry \"%s\": device nodes are not allowed", raw);
		break;
	case AE_IFDIR:
	case AE_IFLNK:
	case AE_IFIFO:
		break;
	default:
		return pl_error_set(err, PL_ERR_INVALID, 0, "entry \"%s\": unsupported type 0%o",
				    raw, (unsigned)type);
	}
	if (type != AE_IFDIR && on_disk && type_in_root(x->root, name) == S_IFDIR)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "entry \"%s\": would replace a directory with a non-directory",
				    raw);
	if (type != AE_IFDIR)
		remember(&x->nondirs, name);
	if (type == AE_IFREG)
		remember(&x->regs, name);
	return 0;
}

static int extract_entry(ctx_t *x, struct archive *in, struct archive_entry *e, pl_error_t **err)
{
	const char *raw = archive_entry_pathname(e);
	_cleanup_free_ char *name = pl_extract_clean_path(raw, err);
	if (!name)
		return -1;
	if (!*name)
		return 0; /* "." or "/": the root itself */
	char *dup = pl_xstrdup(name);
	void *found = tsearch(dup, &x->seen, cmp_str);
	if (*(char **)found != dup) {
		free(dup);
		return pl_error_set(err, PL_ERR_INVALID, 0, "entry \"%s\": duplicate entry", raw);
	}
	if (x->pol->dry_run) {
		uid_t uid;
		gid_t gid;
		if (owner_of(x, e, raw, &uid, &gid, err) < 0)
			return -1;
		return check_entry(x, e, name, raw, err);
	}
	const char *leaf;
	_cleanup_close_ int dfd = open_parent(x->root, name, &leaf, err);
	if (dfd < 0)
		return -1;

	if (x->pol->whiteouts && strncmp(leaf, WH_PREFIX, strlen(WH_PREFIX)) == 0) {
		if (strcmp(leaf, WH_OPAQUE) == 0) { /* overlayfs: an opaque directory */
			if (fsetxattr(dfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
				return pl_error_errno(err, "entry \"%s\": mark opaque", raw);
			return 0;
		}
		const char *victim = leaf + strlen(WH_PREFIX);
		if (!*victim || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0)
			return pl_error_set(err, PL_ERR_INVALID, 0, "entry \"%s\": bad whiteout",
					    raw);
		clear_leaf(dfd, victim, false);
		if (mknodat(dfd, victim, S_IFCHR | 0000, makedev(0, 0)) < 0) /* overlay whiteout */
			return pl_error_errno(err, "entry \"%s\": whiteout", raw);
		return 0;
	}

	const char *hard = archive_entry_hardlink(e);
	if (hard) {
		_cleanup_free_ char *target = pl_extract_clean_path(hard, err);
		if (!target)
			return pl_error_wrap(err, "hard link \"%s\"", raw);
		_cleanup_close_ int tfd = pl_open_in_root(x->root, target, O_PATH | O_NOFOLLOW);
		struct stat st;
		if (tfd < 0 || fstat(tfd, &st) < 0 || !S_ISREG(st.st_mode))
			return pl_error_set(
			    err, PL_ERR_INVALID, tfd < 0 ? -tfd : 0,
			    "entry \"%s\": hard link target \"%s\" is not a regular "
			    "file extracted before it",
			    raw, hard);
		clear_leaf(dfd, leaf, false);
		if (linkat(tfd, "", dfd, leaf, AT_EMPTY_PATH) < 0)
			return pl_error_errno(err, "entry \"%s\": link", raw);
		return 0;
	}

	mode_t type = archive_entry_filetype(e);
	switch (type) {
	case AE_IFDIR:
		clear_leaf(dfd, leaf, true);
		if (mkdirat(dfd, leaf, 0700) < 0 && errno != EEXIST)
			return pl_error_errno(err, "entry \"%s\": mkdir", raw);
		if (x->n_dirs == x->cap_dirs) {
			x->cap_dirs = x->cap_dirs ? x->cap_dirs * 2 : 64;
			x->dirs = pl_xrealloc(x->dirs, x->cap_dirs * sizeof(*x->dirs));
		}
		x->dirs[x->n_dirs++] =
		    (struct dir_time){.path = pl_xstrdup(name),
				      .ts = {{.tv_sec = archive_entry_mtime(e),
					      .tv_nsec = archive_entry_mtime_nsec(e)},
					     {.tv_sec = archive_entry_mtime(e),
					      .tv_nsec = archive_entry_mtime_nsec(e)}}};
		return apply_meta(x, dfd, leaf, e, false, raw, err);
	case AE_IFREG: {
		/* the declared size counts, not the data present: a sparse file cannot slip a
		 * huge size past the limit */
		const uint64_t max = x->pol->max_bytes ? x->pol->max_bytes : DEFAULT_MAX_BYTES;
		if (archive_entry_size(e) < 0 ||
		    (x->bytes += (uint64_t)archive_entry_size(e)) > max)
			return pl_error_set(err, PL_ERR_INVALID, EFBIG,
					    "entry \"%s\": the archive exceeds %llu bytes", raw,
					    (unsigned long long)max);
		clear_leaf(dfd, leaf, false);
		_cleanup_close_ int fd =
		    openat(dfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return pl_error_errno(err, "entry \"%s\": create", raw);
		if (copy_data(x, in, fd, raw, err) < 0)
			return -1;
		if (ftruncate(fd, archive_entry_size(e)) < 0)
			return pl_error_errno(err, "entry \"%s\": size", raw);
		return apply_meta(x, dfd, leaf, e, false, raw, err);
	}
	case AE_IFLNK:
		clear_leaf(dfd, leaf, false);
		/* the target is stored as is: it is only ever followed inside a root */
		if (symlinkat(archive_entry_symlink(e) ? archive_entry_symlink(e) : "", dfd, leaf) <
		    0)
			return pl_error_errno(err, "entry \"%s\": symlink", raw);
		return apply_meta(x, dfd, leaf, e, true, raw, err);
	case AE_IFCHR:
	case AE_IFBLK:
		if (!x->pol->allow_devices)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "entry \"%s\": device nodes are not allowed", raw);
		/* fallthrough */
	case AE_IFIFO:
		clear_leaf(dfd, leaf, false);
		if (mknodat(dfd, leaf, type | (archive_entry_perm(e) & 07777),
			    archive_entry_rdev(e)) < 0)
			return pl_error_errno(err, "entry \"%s\": mknod", raw);
		return apply_meta(x, dfd, leaf, e, false, raw, err);
	default:
		return pl_error_set(err, PL_ERR_INVALID, 0, "entry \"%s\": unsupported type 0%o",
				    raw, (unsigned)type);
	}
}

static void hex_digest(gnutls_hash_hd_t h, char out[PL_DIGEST_LEN + 1])
{
	unsigned char d[32];
	gnutls_hash_deinit(h, d);
	memcpy(out, "sha256:", 7);
	for (int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", d[i]);
}

int pl_extract_tar(int in_fd, int root_fd, const pl_extract_policy_t *pol, pl_extract_result_t *res,
		   pl_error_t **err)
{
	ctx_t x = {.root = root_fd, .pol = pol, .in_fd = in_fd};
	const uint64_t max_entries = pol->max_entries ? pol->max_entries : DEFAULT_MAX_ENTRIES;
	if (gnutls_hash_init(&x.diff_hash, GNUTLS_DIG_SHA256) < 0 ||
	    gnutls_hash_init(&x.blob_hash, GNUTLS_DIG_SHA256) < 0)
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "sha256");
	struct archive *outer = archive_read_new(), *in = archive_read_new();
	x.outer = outer;
	int rc = -1;
	archive_read_support_filter_gzip(outer);
	archive_read_support_filter_zstd(outer);
	archive_read_support_format_raw(outer);
	archive_read_support_format_tar(in);
	struct archive_entry *e;
	if (archive_read_open(outer, &x, NULL, read_in, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(outer, &e) != ARCHIVE_OK) {
		pl_error_set(err, PL_ERR_INVALID, 0, "layer stream: %s",
			     archive_error_string(outer));
		goto out;
	}
	if (archive_read_open(in, &x, NULL, read_tar, NULL) != ARCHIVE_OK) {
		pl_error_set(err, PL_ERR_INVALID, 0, "tar: %s", archive_error_string(in));
		goto out;
	}
	for (;;) {
		int r = archive_read_next_header(in, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
			pl_error_set(err, PL_ERR_INVALID, 0, "tar: %s", archive_error_string(in));
			goto out;
		}
		if (++x.entries > max_entries) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "the archive has more than %llu entries",
				     (unsigned long long)max_entries);
			goto out;
		}
		if (extract_entry(&x, in, e, err) < 0)
			goto out;
	}
	/* the rest of the stream (tar padding) counts in the digest too */
	const void *blk;
	while (read_tar(in, &x, &blk) > 0)
		;
	/* innermost first, so a parent's time is set after its children's */
	for (size_t i = x.n_dirs; i-- > 0;) {
		_cleanup_close_ int dfd =
		    pl_open_in_root(root_fd, x.dirs[i].path, O_RDONLY | O_DIRECTORY);
		if (dfd >= 0)
			futimens(dfd, x.dirs[i].ts);
	}
	rc = 0;
out:
	for (size_t i = 0; i < x.n_dirs; i++)
		free(x.dirs[i].path);
	free(x.dirs);
	/* names the kernel refuses (too long, not a directory...) are the archive's fault */
	if (rc < 0 && err && *err && (*err)->kind == PL_ERR_INTERNAL &&
	    ((*err)->errnum == ENAMETOOLONG || (*err)->errnum == ENOTDIR ||
	     (*err)->errnum == EISDIR || (*err)->errnum == EEXIST || (*err)->errnum == ELOOP ||
	     (*err)->errnum == EINVAL || (*err)->errnum == ENOTEMPTY || (*err)->errnum == EROFS))
		(*err)->kind = PL_ERR_INVALID;
	archive_read_free(in);
	archive_read_free(outer);
	tdestroy(x.seen, free_node);
	tdestroy(x.nondirs, free_node);
	tdestroy(x.regs, free_node);
	if (res) {
		res->entries = x.entries;
		res->bytes = x.bytes;
		hex_digest(x.diff_hash, res->diff_id);
		hex_digest(x.blob_hash, res->blob_digest);
	} else {
		gnutls_hash_deinit(x.diff_hash, NULL);
		gnutls_hash_deinit(x.blob_hash, NULL);
	}
	return rc;
}
