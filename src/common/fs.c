/* SPDX-License-Identifier: Apache-2.0 */
#include "common/fs.h"
#include "common/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int pl_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int pl_read_exact(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int pl_atomic_write(int dirfd, const char *name, const void *data, size_t len, pl_error_t **err)
{
	_cleanup_free_ char *tmp = pl_xasprintf(".%s.tmp", name);
	_cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return pl_error_errno(err, "create %s", tmp);
	if (pl_write_all(fd, data, len) < 0 || fsync(fd) < 0) {
		int r = pl_error_errno(err, "write %s", tmp);
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		int r = pl_error_errno(err, "rename %s", name);
		unlinkat(dirfd, tmp, 0);
		return r;
	}
	if (fsync(dirfd) < 0)
		return pl_error_errno(err, "fsync directory of %s", name);
	return 0;
}

int pl_read_file_at(int dirfd, const char *name, char **out, size_t *len, size_t max,
		    pl_error_t **err)
{
	_cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return pl_error_set(err, PL_ERR_NOTFOUND, ENOENT, "open %s", name);
		return pl_error_errno(err, "open %s", name);
	}
	return pl_read_fd(fd, name, out, len, max, err);
}

int pl_read_fd(int fd, const char *name, char **out, size_t *len, size_t max, pl_error_t **err)
{
	size_t cap = 4096, n = 0;
	_cleanup_free_ char *buf = pl_xmalloc(cap);
	for (;;) {
		if (n + 1 >= cap) {
			if (cap >= max)
				return pl_error_set(err, PL_ERR_INVALID, EFBIG, "read %s", name);
			cap *= 2;
			buf = pl_xrealloc(buf, cap);
		}
		ssize_t r = read(fd, buf + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return pl_error_errno(err, "read %s", name);
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	if (len)
		*len = n;
	*out = TAKE_PTR(buf);
	return 0;
}

/* A tree may be nested deeper than a process has fds (one per level open) or stack (a
 * container makes its upper directory as deep as it likes): a directory this deep below the
 * top is moved up into the top and deleted by the next pass. */
#define REMOVE_DEPTH 128

typedef struct removal {
	int top;	/* the tree's own directory */
	unsigned moved; /* directories moved up into it, ever (their names) */
	bool again;	/* moved some in this pass */
} removal_t;

/* name below dirfd: 1 a directory to empty, 0 gone (a file unlinked, or missing). */
static int examine(int dirfd, const char *name, pl_error_t **err)
{
	struct stat st, parent;
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : pl_error_errno(err, "stat %s", name);
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
			return pl_error_errno(err, "unlink %s", name);
		return 0;
	}
	if (fstat(dirfd, &parent) == 0 && parent.st_dev != st.st_dev)
		return pl_error_set(err, PL_ERR_INTERNAL, EBUSY, "remove %s: mount point", name);
	return 1;
}

static int remove_entry(removal_t *t, int dirfd, const char *name, unsigned depth,
			pl_error_t **err);

/* Takes dfd. */
static int remove_children(removal_t *t, int dfd, unsigned depth, pl_error_t **err)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return pl_error_errno(err, "opendir");
	}
	int r = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = remove_entry(t, dirfd(d), de->d_name, depth, err);
		if (r < 0)
			break;
	}
	closedir(d);
	return r;
}

/* Moves directory name (below dirfd) up into the top, under a name of its own: false when
 * the filesystem will not (then it is descended into, as any other). */
static bool move_up(removal_t *t, int dirfd, const char *name)
{
	for (;;) {
		char up[32];
		snprintf(up, sizeof(up), ".pl-deep-%u", t->moved++);
		if (renameat2(dirfd, name, t->top, up, RENAME_NOREPLACE) == 0)
			return t->again = true;
		if (errno != EEXIST)
			return false;
	}
}

static int remove_entry(removal_t *t, int dirfd, const char *name, unsigned depth, pl_error_t **err)
{
	int r = examine(dirfd, name, err);
	if (r <= 0)
		return r;
	if (depth >= REMOVE_DEPTH && move_up(t, dirfd, name))
		return 0;
	int dfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return pl_error_errno(err, "open %s", name);
	if (remove_children(t, dfd, depth + 1, err) < 0)
		return pl_error_wrap(err, "%s", name);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return pl_error_errno(err, "rmdir %s", name);
	return 0;
}

int pl_remove_tree_at(int dirfd, const char *name, pl_error_t **err)
{
	int r = examine(dirfd, name, err);
	if (r <= 0)
		return r;
	removal_t t = {.top = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)};
	if (t.top < 0)
		return pl_error_errno(err, "open %s", name);
	do { /* a pass per REMOVE_DEPTH levels of the deepest branch */
		t.again = false;
		int pass = openat(t.top, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = pass < 0 ? pl_error_errno(err, "open") : remove_children(&t, pass, 1, err);
	} while (r == 0 && t.again);
	close(t.top);
	if (r < 0)
		return pl_error_wrap(err, "%s", name);
	if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
		return pl_error_errno(err, "rmdir %s", name);
	return 0;
}

int pl_mkdir_p(const char *path, unsigned mode, pl_error_t **err)
{
	_cleanup_free_ char *p = pl_xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST)
			return pl_error_errno(err, "mkdir %s", p);
		*s = '/';
	}
	if (mkdir(p, mode) < 0 && errno != EEXIST)
		return pl_error_errno(err, "mkdir %s", p);
	return 0;
}

ssize_t pl_send_fds(int sock, const void *buf, size_t len, const int *fds, size_t nfds, int flags)
{
	if (nfds > PL_SEND_FDS_MAX) {
		errno = EINVAL;
		return -1;
	}
	union {
		char b[CMSG_SPACE(sizeof(int) * PL_SEND_FDS_MAX)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds) {
		memset(ctl.b, 0, CMSG_SPACE(sizeof(int) * nfds));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t n;
	do
		n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

bool pl_path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}
