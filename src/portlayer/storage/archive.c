/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/storage/archive.h"
#include "common/cleanup.h"
#include "host/linux/resolve.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#define PROC_MAGIC  0x9fa0
#define SYSFS_MAGIC 0x62656572

/* A stopped container's volumes and binds over its overlay, so copies reach them as they
 * would in the running container. Targets are resolved beneath the root without following
 * any symbolic link; a target the overlay lacks is skipped (creating it would change the
 * container), and a read-only mount stays read-only. */
static int mount_volumes(int root, const json_t *mounts, bool write, pl_error_t **err)
{
	size_t i;
	json_t *m;
	json_array_foreach(mounts, i, m)
	{
		const char *src = json_string_value(json_object_get(m, "source"));
		const char *dst = json_string_value(json_object_get(m, "target"));
		if (!src || !dst || dst[0] != '/')
			continue;
		_cleanup_close_ int sfd = open(src, O_PATH | O_CLOEXEC);
		_cleanup_close_ int tfd = pl_open_in_root(root, dst + 1, O_PATH);
		if (sfd < 0 || tfd < 0)
			continue;
		char s[64], t[64];
		snprintf(s, sizeof(s), "/proc/self/fd/%d", sfd);
		snprintf(t, sizeof(t), "/proc/self/fd/%d", tfd);
		if (mount(s, t, NULL, MS_BIND | MS_REC, NULL) < 0)
			return pl_error_errno(err, "bind %s on %s", src, dst);
		if (json_is_true(json_object_get(m, "readonly")) || !write) {
			_cleanup_close_ int top = pl_open_in_root(root, dst + 1, O_PATH);
			snprintf(t, sizeof(t), "/proc/self/fd/%d", top);
			if (top < 0 ||
			    mount(NULL, t, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
				return pl_error_errno(err, "read-only %s", dst);
		}
	}
	return 0;
}

static int mount_overlay(const char *dir, const char *opts, unsigned long flags, pl_error_t **err)
{
	if (unshare(CLONE_NEWNS) < 0)
		return pl_error_errno(err, "unshare mount namespace");
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return pl_error_errno(err, "make / private");
	_cleanup_free_ char *merged = pl_xasprintf("%s/merged", dir);
	if (mount("overlay", merged, "overlay", flags | MS_NODEV, opts) < 0)
		return pl_error_errno(err, "mount the container's overlay");
	int fd = open(merged, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? pl_error_errno(err, "open the container's root") : fd;
}

int pl_archive_open_view(const pl_archive_target_t *t, pl_archive_view_t view, pl_error_t **err)
{
	if (t->pidfd >= 0 && (view == PL_VIEW_READ || view == PL_VIEW_WRITE)) {
		/* the running container's own mount namespace: its volumes, its tmpfs mounts,
		 * exactly what its processes see; setns moves our root there. Through the
		 * pidfd, so a recycled pid can never lead elsewhere. */
		if (setns(t->pidfd, CLONE_NEWNS) < 0)
			return pl_error_errno(err, "enter the container's mount namespace");
		int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return fd < 0 ? pl_error_errno(err, "open the container's root") : fd;
	}
	_cleanup_free_ char *opts = NULL;
	unsigned long flags = MS_RDONLY;
	switch (view) {
	case PL_VIEW_WRITE:
		opts = pl_xasprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work", t->lowers,
				    t->dir, t->dir);
		flags = 0;
		break;
	case PL_VIEW_LOWER:
		if (!strchr(t->lowers, ':')) { /* one lower: overlayfs needs two without upper */
			int fd = open(t->lowers, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			return fd < 0 ? pl_error_errno(err, "open the container's image") : fd;
		}
		opts = pl_xasprintf("lowerdir=%s", t->lowers);
		break;
	case PL_VIEW_READ:
	case PL_VIEW_ROOTFS:
	default:
		/* the upper directory as the top lower layer: nothing is written, and no
		 * work directory is shared with a running container */
		opts = pl_xasprintf("lowerdir=%s/upper:%s", t->dir, t->lowers);
		break;
	}
	int root = mount_overlay(t->dir, opts, flags, err);
	if (root >= 0 && t->mounts && (view == PL_VIEW_READ || view == PL_VIEW_WRITE) &&
	    mount_volumes(root, t->mounts, view == PL_VIEW_WRITE, err) < 0)
		root = pl_close(root);
	return root;
}

/* A request's container path, which must be absolute and free of "..", cleaned
 * (pl_extract_clean_path); NULL with INVALID naming the path otherwise. */
static char *clean_abs_path(const char *path, pl_error_t **err)
{
	if (!path || path[0] != '/') {
		pl_error_set(err, PL_ERR_INVALID, 0, "path \"%s\" must be absolute",
			     path ? path : "");
		return NULL;
	}
	pl_error_t *e = NULL;
	char *clean = pl_extract_clean_path(path, &e);
	if (!clean) {
		pl_error_free(e);
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "path \"%s\": \"..\" components are not allowed", path);
	}
	return clean;
}

int pl_archive_resolve(int root, const char *path, char **leaf, pl_error_t **err)
{
	*leaf = NULL;
	_cleanup_free_ char *clean = clean_abs_path(path, err);
	if (!clean)
		return -EINVAL;
	size_t n = strlen(path);
	bool follow = path[n - 1] == '/' || (n >= 2 && !strcmp(path + n - 2, "/."));
	if (!*clean)
		follow = true;
	char *slash = follow ? NULL : strrchr(clean, '/');
	const char *parent = follow ? clean : slash ? clean : "";
	if (slash)
		*slash = '\0';
	int fd = pl_open_in_root_follow(root, parent, O_PATH | O_DIRECTORY);
	if (fd < 0)
		return pl_error_set(err, fd == -ENOENT ? PL_ERR_NOTFOUND : PL_ERR_INVALID, -fd,
				    "path \"%s\"", path);
	*leaf = pl_xstrdup(follow ? "." : slash ? slash + 1 : clean);
	return fd;
}

/* Go's os.FileMode, which Docker's path stat carries */
static uint32_t go_mode(mode_t m)
{
	uint32_t g = m & 0777;
	if (S_ISDIR(m))
		g |= 1u << 31;
	if (S_ISLNK(m))
		g |= 1u << 27;
	if (S_ISBLK(m))
		g |= 1u << 26;
	if (S_ISCHR(m))
		g |= (1u << 26) | (1u << 21);
	if (S_ISFIFO(m))
		g |= 1u << 25;
	if (S_ISSOCK(m))
		g |= 1u << 24;
	if (m & S_ISUID)
		g |= 1u << 23;
	if (m & S_ISGID)
		g |= 1u << 22;
	if (m & S_ISVTX)
		g |= 1u << 20;
	return g;
}

json_t *pl_archive_stat(int root, const char *path, pl_error_t **err)
{
	_cleanup_free_ char *leaf = NULL;
	_cleanup_close_ int dfd = pl_archive_resolve(root, path, &leaf, err);
	if (dfd < 0)
		return NULL;
	struct stat st;
	if (fstatat(dfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		pl_error_set(err, errno == ENOENT ? PL_ERR_NOTFOUND : PL_ERR_INTERNAL, errno,
			     "path \"%s\"", path);
		return NULL;
	}
	char target[PATH_MAX] = "";
	if (S_ISLNK(st.st_mode)) {
		ssize_t k = readlinkat(dfd, leaf, target, sizeof(target) - 1);
		target[k > 0 ? k : 0] = '\0';
	}
	char mtime[64];
	struct tm tm;
	gmtime_r(&st.st_mtim.tv_sec, &tm);
	size_t k = strftime(mtime, sizeof(mtime), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(mtime + k, sizeof(mtime) - k, ".%09ldZ", st.st_mtim.tv_nsec);
	const char *name = strcmp(leaf, ".") ? leaf : strrchr(path, '/') ? "." : path;
	return json_pack("{s:s, s:I, s:I, s:s, s:s}", "name", name, "size", (json_int_t)st.st_size,
			 "mode", (json_int_t)go_mode(st.st_mode), "mtime", mtime, "linkTarget",
			 target);
}

/* --- writing tars ------------------------------------------------------------------ */

typedef struct wr {
	struct archive *a;
	struct archive_entry_linkresolver *lr;
	bool whiteouts;		/* overlay whiteouts → OCI (layers) */
	bool skip_kernfs;	/* do not descend into /proc or /sys mounts */
	const pl_userns_t *ids; /* a remapped container's: host owners are shown as its own */
	char buf[65536];
} wr_t;

/* A remapped container's files carry host ids (START + id) where it wrote them, and its
 * own ids in the image's layers: the first are mapped back, the rest (outside its slice)
 * are already its own. */
static void own_ids(const wr_t *w, struct archive_entry *e, const struct stat *st)
{
	if (!w->ids || !w->ids->remap)
		return;
	int64_t u = pl_userns_container_id(w->ids->uid_map, w->ids->n_uid, st->st_uid),
		g = pl_userns_container_id(w->ids->gid_map, w->ids->n_gid, st->st_gid);
	if (u >= 0)
		archive_entry_set_uid(e, u);
	if (g >= 0)
		archive_entry_set_gid(e, g);
}

static int write_entry(wr_t *w, struct archive_entry *e, int fd, const char *arc, pl_error_t **err)
{
	struct archive_entry *spare = NULL;
	archive_entry_linkify(w->lr, &e, &spare);
	if (e) {
		if (archive_write_header(w->a, e) != ARCHIVE_OK)
			return pl_error_set(err, PL_ERR_INTERNAL, 0, "%s: %s", arc,
					    archive_error_string(w->a));
		if (fd >= 0 && archive_entry_size(e) > 0) {
			int64_t left = archive_entry_size(e);
			while (left > 0) {
				ssize_t n = read(fd, w->buf,
						 (size_t)(left < (int64_t)sizeof(w->buf)
							      ? left
							      : (int64_t)sizeof(w->buf)));
				if (n < 0 && errno == EINTR)
					continue;
				if (n < 0)
					return pl_error_errno(err, "read %s", arc);
				if (n == 0) /* the file shrank: pad, the header is out already */
					memset(
					    w->buf, 0,
					    (size_t)(n = (ssize_t)(left < 65536 ? left : 65536)));
				if (archive_write_data(w->a, w->buf, (size_t)n) < 0)
					return pl_error_set(err, PL_ERR_INTERNAL, 0, "%s: %s", arc,
							    archive_error_string(w->a));
				left -= n;
			}
		}
	}
	if (spare)
		archive_entry_free(spare);
	return 0;
}

static void copy_xattrs(struct archive_entry *e, int fd)
{
	char names[4096];
	ssize_t n = flistxattr(fd, names, sizeof(names));
	for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t)strlen(names + off) + 1) {
		const char *k = names + off;
		if (strncmp(k, "user.", 5) != 0 && strcmp(k, "security.capability") != 0)
			continue; /* trusted.overlay.* and the like are the host's business */
		char v[4096];
		ssize_t vl = fgetxattr(fd, k, v, sizeof(v));
		if (vl >= 0)
			archive_entry_xattr_add_entry(e, k, v, (size_t)vl);
	}
}

static int add_tree(wr_t *w, int dirfd, const char *name, const char *arc, bool top,
		    pl_error_t **err);

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in a directory, sorted (so the same tree gives the same tar). */
static char **list_dir(int dfd, size_t *count)
{
	int dup = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
	if (!d) {
		if (dup >= 0)
			close(dup);
		*count = 0;
		return NULL;
	}
	char **v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			v = pl_xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = pl_xstrdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), cmp_names);
	*count = n;
	return v;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int add_whiteout(wr_t *w, const char *arc, const struct stat *st, pl_error_t **err)
{
	const char *slash = strrchr(arc, '/');
	_cleanup_free_ char *name =
	    slash ? pl_xasprintf("%.*s/.wh.%s", (int)(slash - arc), arc, slash + 1)
		  : pl_xasprintf(".wh.%s", arc);
	struct archive_entry *e = archive_entry_new();
	archive_entry_set_pathname(e, name);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0);
	archive_entry_set_size(e, 0);
	archive_entry_set_mtime(e, 0, 0); /* the store keeps no time for a whiteout */
	int rc = write_entry(w, e, -1, name, err);
	archive_entry_free(e);
	return rc;
}

static int add_tree(wr_t *w, int dirfd, const char *name, const char *arc, bool top,
		    pl_error_t **err)
{
	struct stat st;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT && !top)
			return 0; /* gone since we listed it */
		return pl_error_set(err, errno == ENOENT ? PL_ERR_NOTFOUND : PL_ERR_INTERNAL, errno,
				    "%s", arc);
	}
	if (S_ISSOCK(st.st_mode))
		return 0; /* tar has no sockets */
	if (w->whiteouts && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0))
		return add_whiteout(w, arc, &st, err);
	_cleanup_close_ int fd = -1;
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
		fd = openat(dirfd, name,
			    O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
				(S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
		if (fd < 0) {
			if (errno == ENOENT && !top)
				return 0;
			return pl_error_errno(err, "open %s", arc);
		}
		if (fstat(fd, &st) < 0) /* what we opened is what we archive */
			return pl_error_errno(err, "stat %s", arc);
	}
	struct archive_entry *e = archive_entry_new();
	_cleanup_free_ char *entry_name =
	    S_ISDIR(st.st_mode) ? pl_xasprintf("%s/", arc) : pl_xstrdup(arc);
	archive_entry_set_pathname(e, entry_name);
	archive_entry_copy_stat(e, &st);
	own_ids(w, e, &st);
	/* the same tree gives the same bytes: a layer written again from the store has the
	 * digest it was committed with */
	archive_entry_unset_atime(e);
	archive_entry_unset_ctime(e);
	archive_entry_unset_birthtime(e);
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t k = readlinkat(dirfd, name, target, sizeof(target) - 1);
		if (k < 0) {
			archive_entry_free(e);
			return pl_error_errno(err, "readlink %s", arc);
		}
		target[k] = '\0';
		archive_entry_set_symlink(e, target);
	}
	if (fd >= 0)
		copy_xattrs(e, fd);
	if (!S_ISREG(st.st_mode))
		archive_entry_set_size(e, 0);
	int rc = write_entry(w, e, S_ISREG(st.st_mode) ? fd : -1, arc, err);
	archive_entry_free(e);
	if (rc < 0 || !S_ISDIR(st.st_mode))
		return rc;

	char opq[2];
	if (w->whiteouts && fgetxattr(fd, "trusted.overlay.opaque", opq, 1) == 1 && opq[0] == 'y') {
		_cleanup_free_ char *o = pl_xasprintf("%s/.wh..wh..opq", arc);
		struct archive_entry *oe = archive_entry_new();
		archive_entry_set_pathname(oe, o);
		archive_entry_set_filetype(oe, AE_IFREG);
		archive_entry_set_perm(oe, 0);
		archive_entry_set_size(oe, 0);
		archive_entry_set_mtime(oe, 0, 0);
		rc = write_entry(w, oe, -1, o, err);
		archive_entry_free(oe);
		if (rc < 0)
			return rc;
	}
	struct statfs sf;
	if (w->skip_kernfs && fstatfs(fd, &sf) == 0 &&
	    (sf.f_type == PROC_MAGIC || sf.f_type == SYSFS_MAGIC))
		return 0;
	size_t n;
	char **names = list_dir(fd, &n);
	for (size_t i = 0; i < n && rc >= 0; i++) {
		_cleanup_free_ char *child = !strcmp(arc, ".")
						 ? pl_xasprintf("./%s", names[i])
						 : pl_xasprintf("%s/%s", arc, names[i]);
		rc = add_tree(w, fd, names[i], child, false, err);
	}
	free_list(names, n);
	return rc;
}

static int write_tar(int dirfd, const char *name, const char *arc, int out_fd, bool whiteouts,
		     bool top_children, const pl_userns_t *ids, pl_error_t **err)
{
	wr_t *w = pl_xcalloc(1, sizeof(*w));
	w->ids = ids;
	w->a = archive_write_new();
	w->lr = archive_entry_linkresolver_new();
	w->whiteouts = whiteouts;
	w->skip_kernfs = true;
	archive_write_set_format_pax_restricted(w->a);
	archive_entry_linkresolver_set_strategy(w->lr, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
	archive_write_set_bytes_in_last_block(w->a, 1);
	int rc = -1;
	if (archive_write_open_fd(w->a, out_fd) != ARCHIVE_OK) {
		pl_error_set(err, PL_ERR_INTERNAL, 0, "tar: %s", archive_error_string(w->a));
		goto out;
	}
	if (top_children) { /* the tree's contents, names relative to it (export, layers) */
		_cleanup_close_ int fd =
		    openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			pl_error_errno(err, "open %s", arc);
			goto out;
		}
		size_t n;
		char **names = list_dir(fd, &n);
		rc = 0;
		for (size_t i = 0; i < n && rc >= 0; i++)
			rc = add_tree(w, fd, names[i], names[i], false, err);
		free_list(names, n);
	} else {
		rc = add_tree(w, dirfd, name, arc, true, err);
	}
	/* entries still waiting for their other hard links */
	struct archive_entry *e = NULL, *spare = NULL;
	for (archive_entry_linkify(w->lr, &e, &spare); rc >= 0 && e;
	     archive_entry_linkify(w->lr, &e, &spare)) {
		if (archive_write_header(w->a, e) != ARCHIVE_OK)
			rc = pl_error_set(err, PL_ERR_INTERNAL, 0, "tar: %s",
					  archive_error_string(w->a));
		archive_entry_free(e);
		e = NULL;
	}
	if (rc >= 0 && archive_write_close(w->a) != ARCHIVE_OK)
		rc = pl_error_set(err, PL_ERR_INTERNAL, 0, "tar: %s", archive_error_string(w->a));
out:
	archive_write_free(w->a);
	archive_entry_linkresolver_free(w->lr);
	free(w);
	return rc;
}

int pl_archive_get(int root, const char *path, int out_fd, const pl_userns_t *ids, pl_error_t **err)
{
	_cleanup_free_ char *leaf = NULL;
	_cleanup_close_ int dfd = pl_archive_resolve(root, path, &leaf, err);
	if (dfd < 0)
		return -1;
	/* O_PATH parents cannot be listed: reopen (it is the resolved directory itself) */
	_cleanup_close_ int dir = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return pl_error_errno(err, "path \"%s\"", path);
	struct stat st;
	if (fstatat(dir, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return pl_error_set(err, errno == ENOENT ? PL_ERR_NOTFOUND : PL_ERR_INTERNAL, errno,
				    "path \"%s\"", path);
	/* the archive's top entry is named after the path's last component; "dir/." copies
	 * the directory's contents under "." */
	size_t n = strlen(path);
	_cleanup_free_ char *clean = pl_extract_clean_path(path, NULL);
	const char *base = strcmp(leaf, ".")						  ? leaf
			   : (n >= 2 && !strcmp(path + n - 2, "/.")) || !clean || !*clean ? "."
			   : strrchr(clean, '/') ? strrchr(clean, '/') + 1
						 : clean;
	return write_tar(dir, leaf, base, out_fd, false, false, ids, err);
}

int pl_archive_export(int root, int out_fd, const pl_userns_t *ids, pl_error_t **err)
{
	return write_tar(root, ".", ".", out_fd, false, true, ids, err);
}

int pl_archive_layer(int dir, int out_fd, const pl_userns_t *ids, pl_error_t **err)
{
	return write_tar(dir, ".", ".", out_fd, true, true, ids, err);
}

/* A running container changes its own tree while we copy in (a directory swapped for a
 * symlink, a file removed): what the kernel then refuses is the caller's conflict with the
 * container's content, a 409, not our failure. Only errors of the machine itself (I/O,
 * space, memory, fds) stay internal. */
static int raced(pl_error_t **err, const char *path)
{
	pl_error_t *e = err ? *err : NULL;
	if (e && e->kind == PL_ERR_INTERNAL && e->errnum != 0 && e->errnum != EIO &&
	    e->errnum != ENOSPC && e->errnum != EDQUOT && e->errnum != ENOMEM &&
	    e->errnum != EMFILE && e->errnum != ENFILE)
		e->kind = PL_ERR_CONFLICT;
	return pl_error_wrap(err, "copy into %s", path);
}

int pl_archive_put(int root, const char *path, int in_fd, const pl_extract_policy_t *pol,
		   pl_error_t **err)
{
	_cleanup_free_ char *clean = clean_abs_path(path, err);
	if (!clean)
		return -EINVAL;
	/* the destination follows symbolic links (inside the root), as docker cp does */
	_cleanup_close_ int dir = pl_open_in_root_follow(root, clean, O_RDONLY | O_DIRECTORY);
	if (dir < 0)
		return pl_error_set(err, dir == -ENOENT ? PL_ERR_NOTFOUND : PL_ERR_INVALID, -dir,
				    "path \"%s\"%s", path,
				    dir == -ENOTDIR ? " is not a directory" : "");
	/* every entry is checked before anything is written, so a refused archive changes
	 * nothing; then the same stream again, for real */
	pl_extract_policy_t p = *pol;
	p.dry_run = true;
	if (pl_extract_tar(in_fd, dir, &p, NULL, err) < 0)
		return raced(err, path);
	if (lseek(in_fd, 0, SEEK_SET) < 0)
		return pl_error_errno(err, "rewind the archive");
	p.dry_run = false;
	if (pl_extract_tar(in_fd, dir, &p, NULL, err) < 0)
		return raced(err, path);
	return 0;
}

/* --- changes --------------------------------------------------------------------------- */

static void add_change(json_t *out, const char *path, int kind)
{
	json_array_append_new(out, json_pack("{s:s, s:i}", "Path", path, "Kind", kind));
}

static int changes_walk(int upper, int lower, const char *dir, json_t *out, pl_error_t **err)
{
	size_t n;
	char **names = list_dir(upper, &n);
	int rc = 0;
	for (size_t i = 0; i < n && rc >= 0; i++) {
		_cleanup_free_ char *path = pl_xasprintf("%s/%s", dir, names[i]);
		struct stat st, lst;
		if (fstatat(upper, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) {
			add_change(out, path, 2);
			continue;
		}
		_cleanup_close_ int lfd =
		    lower >= 0 ? pl_open_in_root(lower, path + 1, O_PATH | O_NOFOLLOW) : -1;
		bool in_lower = lfd >= 0 && fstat(lfd, &lst) == 0;
		add_change(out, path, in_lower ? 0 : 1);
		if (!S_ISDIR(st.st_mode))
			continue;
		_cleanup_close_ int sub =
		    openat(upper, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0)
			continue;
		bool lower_dir = in_lower && S_ISDIR(lst.st_mode);
		char opq[2];
		if (lower_dir && fgetxattr(sub, "trusted.overlay.opaque", opq, 1) == 1 &&
		    opq[0] == 'y') {
			/* an opaque directory hides everything the layers had in it */
			_cleanup_close_ int ld =
			    pl_open_in_root(lower, path + 1, O_RDONLY | O_DIRECTORY);
			size_t ln;
			char **lnames = ld >= 0 ? list_dir(ld, &ln) : NULL;
			for (size_t j = 0; lnames && j < ln; j++) {
				struct stat ust;
				if (fstatat(sub, lnames[j], &ust, AT_SYMLINK_NOFOLLOW) < 0) {
					_cleanup_free_ char *p =
					    pl_xasprintf("%s/%s", path, lnames[j]);
					add_change(out, p, 2);
				}
			}
			if (lnames)
				free_list(lnames, ln);
		}
		rc = changes_walk(sub, lower_dir ? lower : -1, path, out, err);
	}
	free_list(names, n);
	return rc;
}

static int cmp_change(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "Path")),
		      json_string_value(json_object_get(*(json_t *const *)b, "Path")));
}

json_t *pl_archive_changes(int upper, int lower, pl_error_t **err)
{
	json_t *out = json_array();
	if (changes_walk(upper, lower, "", out, err) < 0) {
		json_decref(out);
		return NULL;
	}
	size_t n = json_array_size(out);
	json_t **v = pl_xmalloc((n ? n : 1) * sizeof(*v));
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(out, i));
	qsort(v, n, sizeof(*v), cmp_change);
	json_array_clear(out);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, v[i]);
	free(v);
	return out;
}
