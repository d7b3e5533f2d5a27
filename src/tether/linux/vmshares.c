/* SPDX-License-Identifier: Apache-2.0 */
/* A vm domain's volumes and bind mounts, inside the guest (see vmshares.h). Runs in the
 * initramfs before the switch into the root disk: the shares file system is mounted at
 * /shares, each share is bound onto its target beneath the new root, then /shares is
 * detached, so the container sees only its mounts. Targets are opened one component at a
 * time with openat2's RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, as the linux mechanism does on
 * the host: a symlink in the root disk or in an earlier share cannot redirect a mount. */
#include "tether/linux/vmshares.h"
#include "tether/linux/osutil.h"
#include "common/error.h"
#include "proto/frame.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SHARES_TAG   "pl.shares"
#define SHARES_DIR   "/shares"
#define VIRTIO_ID_FS "0x001a"

void pl_vm_boot_error(const char *m)
{
	char line[600];
	int n = snprintf(line, sizeof(line), "pl-tether: %s\n", m);
	if (n > 0)
		(void)!write(STDOUT_FILENO, line,
			     (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	json_t *j = json_pack("{s:s, s:i}", "message", m, "kind", (int)PL_ERR_INVALID);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	/* the port is non-blocking: give the host side a moment to take it */
	struct pollfd p = {.fd = 3, .events = POLLOUT};
	if (s && poll(&p, 1, 2000) > 0)
		pl_frame_send(3, PL_MSG_ERROR, 0, s, strlen(s));
	free(s);
}

bool pl_vm_shares_present(void)
{
	DIR *d = opendir("/sys/bus/virtio/devices");
	if (!d)
		return false;
	bool found = false;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[300], id[16] = "";
		snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/device", de->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? read(fd, id, sizeof(id) - 1) : -1;
		if (fd >= 0)
			close(fd);
		found = n >= (ssize_t)strlen(VIRTIO_ID_FS) &&
			strncmp(id, VIRTIO_ID_FS, strlen(VIRTIO_ID_FS)) == 0;
	}
	closedir(d);
	return found;
}

static const char *load_share_modules(void)
{
	char list[1024];
	int fd = open("/modules/shares", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL; /* built into the kernel */
	ssize_t n = read(fd, list, sizeof(list) - 1);
	close(fd);
	list[n > 0 ? n : 0] = 0;
	for (char *save = NULL, *name = strtok_r(list, "\n", &save); name;
	     name = strtok_r(NULL, "\n", &save)) {
		char path[160];
		snprintf(path, sizeof(path), "/modules/%s.ko", name);
		int mfd = open(path, O_RDONLY | O_CLOEXEC);
		if (mfd < 0)
			return pl_os_failf("virtio-fs module %s: %s", path, strerror(errno));
		long r = syscall(SYS_finit_module, mfd, "", 0);
		int e = errno;
		close(mfd);
		if (r < 0 && e != EEXIST)
			return pl_os_failf("load module %s: %s", name, strerror(e));
	}
	return NULL;
}

static int beneath(int dirfd, const char *name, int flags)
{
	struct open_how how = {
	    .flags = (unsigned long long)(flags | O_CLOEXEC | O_NOFOLLOW),
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

/* The directory rel beneath root, created as needed, symlinks refused on the way (O_PATH). */
static int dir_beneath(int root, const char *rel, const char *target)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s", rel);
	int cur = fcntl(root, F_DUPFD_CLOEXEC, 3);
	char *save = NULL;
	for (char *c = strtok_r(path, "/", &save); c && cur >= 0; c = strtok_r(NULL, "/", &save)) {
		if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST) {
			pl_os_failf("mounts: target %s: mkdir \"%s\": %s", target, c,
				    strerror(errno));
			close(cur);
			return -1;
		}
		int next = beneath(cur, c, O_PATH | O_DIRECTORY);
		close(cur);
		if (next < 0) {
			pl_os_failf("mounts: target %s (component \"%s\"): %s", target, c,
				    strerror(-next));
			return -1;
		}
		cur = next;
	}
	return cur;
}

static int target_fd(int root, const char *target, bool file)
{
	const char *rel = target + 1;
	if (!file)
		return dir_beneath(root, rel, target);
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", rel);
	char *slash = strrchr(dir, '/');
	const char *leaf = slash ? slash + 1 : dir;
	if (slash)
		*slash = 0;
	int dfd = slash ? dir_beneath(root, dir, target) : fcntl(root, F_DUPFD_CLOEXEC, 3);
	if (dfd < 0)
		return -1;
	int f = openat(dfd, leaf, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	int fd = f < 0 ? -errno : beneath(dfd, leaf, O_PATH);
	if (f >= 0)
		close(f);
	close(dfd);
	if (fd < 0)
		pl_os_failf("mounts: target %s: %s", target, strerror(-fd));
	return fd < 0 ? -1 : fd;
}

static int reopen_dir(int fd)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	return open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static bool dir_empty(int fd)
{
	int d2 = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
	if (!d)
		return false;
	bool empty = true;
	for (struct dirent *de; empty && (de = readdir(d));)
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	closedir(d);
	return empty;
}

static int copy_file(int in, int out)
{
	char buf[65536];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return (int)n;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, (size_t)(n - off));
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -1;
			off += w;
		}
	}
}

/* The image's content at a fresh volume's target into the volume: directories, files and
 * symlinks with modes and owners; devices, fifos and sockets stay behind (as on the host). */
static const char *copy_tree(int src, int dst, const char *target)
{
	int sfd = fcntl(src, F_DUPFD_CLOEXEC, 3);
	DIR *d = sfd >= 0 ? fdopendir(sfd) : NULL;
	if (!d)
		return pl_os_failf("populate volume at %s: %s", target, strerror(errno));
	const char *bad = NULL;
	for (struct dirent *de; !bad && (de = readdir(d));) {
		const char *n = de->d_name;
		if (!strcmp(n, ".") || !strcmp(n, ".."))
			continue;
		struct stat st;
		if (fstatat(src, n, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (mkdirat(dst, n, st.st_mode & 07777) < 0 && errno != EEXIST) {
				bad = pl_os_failf("populate volume at %s: mkdir %s: %s", target, n,
						  strerror(errno));
				break;
			}
			int s2 = openat(src, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			int d2 = openat(dst, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s2 >= 0 && d2 >= 0)
				bad = copy_tree(s2, d2, target);
			if (s2 >= 0)
				close(s2);
			if (d2 >= 0)
				close(d2);
		} else if (S_ISLNK(st.st_mode)) {
			char link[4096];
			ssize_t len = readlinkat(src, n, link, sizeof(link) - 1);
			if (len >= 0) {
				link[len] = 0;
				symlinkat(link, dst, n);
			}
		} else if (S_ISREG(st.st_mode)) {
			int in = openat(src, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			int out =
			    openat(dst, n, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
				   st.st_mode & 07777);
			if (in < 0 || out < 0 || copy_file(in, out) < 0)
				bad = pl_os_failf("populate volume at %s: copy %s: %s", target, n,
						  strerror(errno));
			if (in >= 0)
				close(in);
			if (out >= 0)
				close(out);
			if (bad)
				break;
		} else {
			continue;
		}
		fchownat(dst, n, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
		if (!S_ISLNK(st.st_mode))
			fchmodat(dst, n, st.st_mode & 07777, 0);
	}
	closedir(d);
	return bad;
}

static const char *place_share(int root, size_t i, json_t *e)
{
	const char *target = json_string_value(json_object_get(e, "target"));
	if (!target || target[0] != '/')
		return pl_os_failf("shares list: entry %zu has no absolute target", i);
	bool file = json_is_true(json_object_get(e, "file"));
	char src[64];
	snprintf(src, sizeof(src), SHARES_DIR "/%zu", i);
	int tfd = target_fd(root, target, file);
	if (tfd < 0)
		return pl_os_lastfail();
	const char *bad = NULL;
	if (json_is_true(json_object_get(e, "populate"))) {
		/* only an empty volume is filled: data is never replaced */
		int from = reopen_dir(tfd);
		int to = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (from < 0 || to < 0)
			bad = pl_os_failf("populate volume at %s: %s", target, strerror(errno));
		else if (dir_empty(to))
			bad = copy_tree(from, to, target);
		if (from >= 0)
			close(from);
		if (to >= 0)
			close(to);
	}
	char t[64];
	snprintf(t, sizeof(t), "/proc/self/fd/%d", tfd);
	if (!bad && mount(src, t, NULL, MS_BIND | MS_REC, NULL) < 0)
		bad = pl_os_failf("mounts: bind the share for %s: %s", target, strerror(errno));
	close(tfd);
	if (bad || !json_is_true(json_object_get(e, "readonly")))
		return bad;
	/* the host serves it read-only already; the guest's mount says so too */
	int top = beneath(root, target + 1, O_PATH);
	if (top < 0)
		return pl_os_failf("mounts: %s: %s", target, strerror(-top));
	snprintf(t, sizeof(t), "/proc/self/fd/%d", top);
	if (mount(NULL, t, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		bad = pl_os_failf("mounts: read-only %s: %s", target, strerror(errno));
	close(top);
	return bad;
}

const char *pl_vm_shares_mount(const char *root, bool ro_root)
{
	const char *bad = load_share_modules();
	if (bad)
		return bad;
	mkdir(SHARES_DIR, 0755);
	int r = -1;
	for (int tries = 0; tries < 200; tries++) {
		r = mount(SHARES_TAG, SHARES_DIR, "virtiofs", 0, NULL);
		if (r == 0 || errno != ENOENT)
			break;
		usleep(10000); /* the device is still being probed */
	}
	if (r < 0)
		return pl_os_failf("mount the virtio-fs shares: %s", strerror(errno));
	json_error_t je;
	json_t *list = json_load_file(SHARES_DIR "/list", 0, &je);
	int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (!json_is_array(list))
		bad = pl_os_failf("shares list: %s", je.text);
	else if (rootfd < 0)
		bad = pl_os_failf("open %s: %s", root, strerror(errno));
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e)
	{
		if (bad)
			break;
		bad = place_share(rootfd, i, e);
	}
	json_decref(list);
	if (rootfd >= 0)
		close(rootfd);
	/* the binds stay; the tag's own mount (and the list) leave the guest's view */
	umount2(SHARES_DIR, MNT_DETACH);
	if (!bad && ro_root && mount(NULL, root, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		bad = pl_os_failf("read-only root: %s", strerror(errno));
	return bad;
}
