/* SPDX-License-Identifier: Apache-2.0 */
#include "mechanism/linux/rootfs.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/phase.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

static int openat2_beneath(int dirfd, const char *name, int flags)
{
	struct open_how how = {
	    .flags = (unsigned long long)(flags | O_CLOEXEC | O_NOFOLLOW),
	    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

/* Opens (creating as needed) a directory below root, one component at a time, refusing
 * symlinks anywhere on the way. */
static int open_dir_beneath(int root_fd, const char *rel, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_xstrdup(rel);
	_cleanup_close_ int cur = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
	char *save = NULL;
	for (char *c = strtok_r(path, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (mkdirat(cur, c, 0755) < 0 && errno != EEXIST)
			return pl_error_errno(err, "mkdir /%s", rel);
		int next = openat2_beneath(cur, c, O_PATH | O_DIRECTORY);
		if (next < 0)
			return pl_error_set(err, PL_ERR_INVALID, -next,
					    "mount target /%s (component \"%s\")", rel, c);
		close(cur);
		cur = next;
	}
	return TAKE_FD(cur);
}

static int mount_at(int root_fd, const char *rel, const char *src, const char *type,
		    unsigned long flags, const char *data, pl_error_t **err)
{
	_cleanup_close_ int fd = open_dir_beneath(root_fd, rel, err);
	if (fd < 0)
		return fd;
	char target[64];
	snprintf(target, sizeof(target), "/proc/self/fd/%d", fd);
	if (mount(src, target, type, flags, data) < 0)
		return pl_error_errno(err, "mount %s on /%s", type, rel);
	return 0;
}

static const struct {
	const char *name;
	unsigned maj, min;
} devices[] = {
    {"null", 1, 3},   {"zero", 1, 5},	 {"full", 1, 7},
    {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
};

/* In a user namespace mknod is refused: the host's nodes are bound onto empty files. */
static int bind_device(int dfd, const char *name, pl_error_t **err)
{
	_cleanup_close_ int f = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (f < 0)
		return pl_error_errno(err, "create /dev/%s", name);
	char src[64], dst[64];
	snprintf(src, sizeof(src), "/dev/%s", name);
	_cleanup_close_ int s = open(src, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (s < 0 || fstat(s, &st) < 0 || !S_ISCHR(st.st_mode))
		return pl_error_errno(err, "host device %s", src);
	snprintf(src, sizeof(src), "/proc/self/fd/%d", s);
	snprintf(dst, sizeof(dst), "/proc/self/fd/%d", f);
	if (mount(src, dst, NULL, MS_BIND, NULL) < 0)
		return pl_error_errno(err, "bind /dev/%s", name);
	return 0;
}

static int populate_dev(int root_fd, bool userns, pl_error_t **err)
{
	_cleanup_close_ int dev = open_dir_beneath(root_fd, "dev", err);
	if (dev < 0)
		return dev;
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", dev);
	_cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return pl_error_errno(err, "open /dev");
	mode_t old = umask(0);
	for (size_t i = 0; i < PL_ARRAY_SIZE(devices); i++) {
		if (userns) {
			if (bind_device(dfd, devices[i].name, err) < 0) {
				umask(old);
				return -1;
			}
			continue;
		}
		if (mknodat(dfd, devices[i].name, S_IFCHR | 0666,
			    makedev(devices[i].maj, devices[i].min)) < 0) {
			umask(old);
			return pl_error_errno(err, "mknod /dev/%s", devices[i].name);
		}
	}
	umask(old);
	static const char *const links[][2] = {
	    {"pts/ptmx", "ptmx"},	   {"/proc/self/fd", "fd"},
	    {"/proc/self/fd/0", "stdin"},  {"/proc/self/fd/1", "stdout"},
	    {"/proc/self/fd/2", "stderr"},
	};
	for (size_t i = 0; i < PL_ARRAY_SIZE(links); i++)
		if (symlinkat(links[i][0], dfd, links[i][1]) < 0)
			return pl_error_errno(err, "symlink /dev/%s", links[i][1]);
	return 0;
}

int pl_rootfs_loopback_up(pl_error_t **err)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return pl_error_errno(err, "socket");
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return pl_error_errno(err, "get lo flags");
	if (ifr.ifr_flags & IFF_UP) /* a prepared domain's, up ahead: no RTNL to wait for */
		return 0;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return pl_error_errno(err, "bring lo up");
	return 0;
}

void pl_rootfs_endpoints_no_ipv6(const pl_domain_spec_t *spec, int v6conf)
{
	/* the container's own choice, made by its sysctls, stands */
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)spec->security->sysctls, k, v)
	{
		if (!strncmp(k, "net.ipv6.", strlen("net.ipv6.")))
			return;
	}
	if (v6conf < 0) /* the kernel has no IPv6 (the directory could not be opened) */
		return;
	for (size_t i = 0; i < spec->n_endpoints; i++) {
		char path[80];
		snprintf(path, sizeof(path), "%s/disable_ipv6", spec->endpoints[i].ifname);
		int fd = openat(v6conf, path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (write(fd, "1", 1) < 0) { /* best effort: it keeps IPv6 */
		}
		close(fd);
	}
}

/* Paths hidden from containers (Docker's list): files get /dev/null, directories an empty
 * read-only tmpfs, one for all of them (binds of the first: a superblock is kernel state
 * some costs of which grow with the host's count of them, see mask_paths). */
static const char *const masked_paths[] = {
    "proc/asound",
    "proc/acpi",
    "proc/kcore",
    "proc/keys",
    "proc/latency_stats",
    "proc/timer_list",
    "proc/timer_stats",
    "proc/sched_debug",
    "proc/scsi",
    "sys/firmware",
    "sys/devices/virtual/powercap",
    NULL,
};

/* Paths containers may read but never write. */
static const char *const readonly_paths[] = {
    "proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger", NULL,
};

/* Opens an existing path below root (no symlinks anywhere); -ENOENT when absent. */
static int open_existing(int root_fd, const char *rel)
{
	return openat2_beneath(root_fd, rel, O_PATH);
}

static int fd_target(char *buf, size_t n, int fd)
{
	return snprintf(buf, n, "/proc/self/fd/%d", fd);
}

/* empty: an empty read-only directory to bind onto the masked directories (the staging
 * tmpfs's), or -1: a tmpfs of their own. */
static int mask_paths(int root_fd, int empty_dir, pl_error_t **err)
{
	_cleanup_close_ int null = open_existing(root_fd, "dev/null");
	if (null < 0)
		return pl_error_set(err, PL_ERR_INTERNAL, -null, "open /dev/null to mask with");
	char src[64], dst[64], empty[64];
	fd_target(src, sizeof(src), null);
	/* the first directory's tmpfs, bound onto the others: a bind keeps its mount's flags
	 * (read-only, nosuid, nodev, noexec) and its superblock is read-only too. Every
	 * superblock is a shrinker, and a memory cgroup's creation allocates per shrinker on
	 * the host (a mkdir cost that grows with the containers running) */
	_cleanup_close_ int own = -1; /* that first tmpfs, when no empty_dir was given */
	if (empty_dir >= 0)
		fd_target(empty, sizeof(empty), empty_dir);
	for (const char *const *p = masked_paths; *p; p++) {
		_cleanup_close_ int fd = open_existing(root_fd, *p);
		if (fd == -ENOENT)
			continue;
		if (fd < 0)
			return pl_error_set(err, PL_ERR_INTERNAL, -fd, "mask /%s", *p);
		struct stat st;
		if (fstat(fd, &st) < 0)
			return pl_error_errno(err, "mask /%s", *p);
		fd_target(dst, sizeof(dst), fd);
		int r;
		if (!S_ISDIR(st.st_mode))
			r = mount(src, dst, NULL, MS_BIND, NULL);
		else if (empty_dir >= 0 || own >= 0)
			r = mount(empty, dst, NULL, MS_BIND, NULL);
		else if ((r = mount("tmpfs", dst, "tmpfs",
				    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")) == 0) {
			/* the path again: it now leads to the tmpfs */
			if ((own = open_existing(root_fd, *p)) < 0)
				return pl_error_set(err, PL_ERR_INTERNAL, -own, "mask /%s", *p);
			fd_target(empty, sizeof(empty), own);
		}
		if (r < 0)
			return pl_error_errno(err, "mask /%s", *p);
	}
	return 0;
}

static int readonly_paths_apply(int root_fd, pl_error_t **err)
{
	char dst[64];
	for (const char *const *p = readonly_paths; *p; p++) {
		_cleanup_close_ int fd = open_existing(root_fd, *p);
		if (fd == -ENOENT)
			continue;
		if (fd < 0)
			return pl_error_set(err, PL_ERR_INTERNAL, -fd, "read-only /%s", *p);
		fd_target(dst, sizeof(dst), fd);
		if (mount(dst, dst, NULL, MS_BIND | MS_REC, NULL) < 0)
			return pl_error_errno(err, "bind /%s", *p);
		/* the new bind sits on top: reach it through a fresh fd */
		_cleanup_close_ int top = open_existing(root_fd, *p);
		if (top < 0)
			return pl_error_set(err, PL_ERR_INTERNAL, -top, "read-only /%s", *p);
		fd_target(dst, sizeof(dst), top);
		if (mount(NULL, dst, NULL,
			  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  NULL) < 0)
			return pl_error_errno(err, "remount /%s read-only", *p);
	}
	return 0;
}

/* Namespaced sysctls only (validated at create): they change this container's view. */
static int write_sysctls(int root_fd, const json_t *sysctls, pl_error_t **err)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)sysctls, k, v)
	{
		_cleanup_free_ char *rel = pl_xasprintf("proc/sys/%s", k);
		for (char *c = rel + strlen("proc/sys/"); *c; c++)
			if (*c == '.')
				*c = '/';
		int fd = openat2_beneath(root_fd, rel, O_WRONLY);
		if (fd < 0)
			return pl_error_set(err, PL_ERR_INVALID, -fd, "sysctl %s", k);
		const char *val = json_string_value(v);
		ssize_t n = write(fd, val, strlen(val));
		int saved = errno;
		close(fd);
		if (n != (ssize_t)strlen(val))
			return pl_error_set(err, PL_ERR_INVALID, saved, "sysctl %s=%s", k, val);
	}
	return 0;
}

static int write_oom_score_adj(int adj, pl_error_t **err)
{
	_cleanup_close_ int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%d", adj);
	if (fd < 0 || write(fd, buf, (size_t)n) != n)
		return pl_error_errno(err, "oom_score_adj");
	return 0;
}

static int mount_tmpfs_list(int root_fd, const json_t *tmpfs, pl_error_t **err)
{
	const char *path;
	json_t *opts;
	json_object_foreach((json_t *)tmpfs, path, opts)
	{
		const char *o = json_string_value(opts);
		if (mount_at(root_fd, path + 1, "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV,
			     *o ? o : NULL, err) < 0)
			return -1;
	}
	return 0;
}

/* The files tether writes for a domain with a network must exist before a read-only root
 * stops accepting new ones: tether then binds its content over them. */
static int network_files(int root_fd, pl_error_t **err)
{
	/* /etc may be a symlink: resolved as if root were /, so never out of it */
	struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
			       .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
	_cleanup_close_ int etc = (int)syscall(SYS_openat2, root_fd, "etc", &how, sizeof(how));
	if (etc < 0 && errno == ENOENT)
		etc = open_dir_beneath(root_fd, "etc", err);
	else if (etc < 0)
		return pl_error_errno(err, "open /etc");
	if (etc < 0)
		return -1;
	static const char *const names[] = {"hosts", "resolv.conf"};
	for (size_t i = 0; i < 2; i++) {
		/* a symlink would leave tether nothing to mount over: a file replaces it (in
		 * the container's own layer) */
		struct stat st;
		if (fstatat(etc, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode) &&
		    unlinkat(etc, names[i], 0) < 0)
			return pl_error_errno(err, "replace the symlink /etc/%s", names[i]);
		_cleanup_close_ int fd =
		    openat(etc, names[i], O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fd < 0 && errno != EISDIR)
			return pl_error_errno(err, "create /etc/%s", names[i]);
	}
	return 0;
}

/* Makes the overlay read-only through a read-only bind of itself; returns the new root. In
 * a user namespace (merged NULL) the overlay is our own mount: it turns read-only itself. */
static int read_only_root(const char *merged, int root_fd, const json_t *tmpfs, pl_error_t **err)
{
	/* mount points must exist before the root stops accepting new directories */
	static const char *const dirs[] = {"proc", "sys", "dev", NULL};
	for (const char *const *d = dirs; *d; d++) {
		int fd = open_dir_beneath(root_fd, *d, err);
		if (fd < 0)
			return -1;
		close(fd);
	}
	const char *path;
	json_t *v;
	json_object_foreach((json_t *)tmpfs, path, v)
	{
		int fd = open_dir_beneath(root_fd, path + 1, err);
		if (fd < 0)
			return -1;
		close(fd);
	}
	if (!merged) {
		struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NODEV};
		if (mount_setattr(root_fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
			return pl_error_errno(err, "make the root file system read-only");
		return fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
	}
	if (mount(merged, merged, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, merged, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NODEV, NULL) < 0)
		return pl_error_errno(err, "make the root file system read-only");
	int fd = open(merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? pl_error_errno(err, "open read-only rootfs") : fd;
}

static bool dir_empty(int fd)
{
	int dup = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dup >= 0 ? fdopendir(dup) : NULL;
	bool empty = true;
	for (struct dirent *de; d && empty && (de = readdir(d));)
		empty = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..");
	if (d)
		closedir(d);
	return empty;
}

/* copy_file_range, or plain reads and writes where it cannot cross (overlayfs → ext4). */
static int copy_data(int in, int out)
{
	for (;;) {
		ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
		if (n == 0)
			return 0;
		if (n > 0)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
			return -1;
		break;
	}
	char buf[65536];
	for (;;) {
		ssize_t n = read(in, buf, sizeof(buf));
		if (n == 0)
			return 0;
		if (n < 0 || write(out, buf, (size_t)n) != n)
			return -1;
	}
}

/* Copies a directory tree (dirs, files, symlinks; modes and owners) from src to dst: a fresh
 * volume takes the image's content at its mount point, as in Docker. */
static int copy_tree(int src, int dst, pl_error_t **err)
{
	int sfd = fcntl(src, F_DUPFD_CLOEXEC, 3);
	DIR *d = sfd >= 0 ? fdopendir(sfd) : NULL;
	if (!d)
		return pl_error_errno(err, "populate volume: read directory");
	int rc = 0;
	for (struct dirent *de; rc == 0 && (de = readdir(d));) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		struct stat st;
		if (fstatat(src, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (mkdirat(dst, de->d_name, st.st_mode & 07777) < 0 && errno != EEXIST) {
				rc = pl_error_errno(err, "populate volume: mkdir %s", de->d_name);
				break;
			}
			_cleanup_close_ int s2 = openat(
			    src, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			_cleanup_close_ int d2 = openat(
			    dst, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (s2 >= 0 && d2 >= 0)
				rc = copy_tree(s2, d2, err);
		} else if (S_ISLNK(st.st_mode)) {
			char target[4096];
			ssize_t n = readlinkat(src, de->d_name, target, sizeof(target) - 1);
			if (n >= 0) {
				target[n] = '\0';
				symlinkat(target, dst, de->d_name);
			}
		} else if (S_ISREG(st.st_mode)) {
			_cleanup_close_ int in =
			    openat(src, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
			_cleanup_close_ int out = openat(
			    dst, de->d_name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
			    st.st_mode & 07777);
			if (in < 0 || out < 0 || copy_data(in, out) < 0) {
				rc = pl_error_errno(err, "populate volume: copy %s", de->d_name);
				break;
			}
		} else {
			continue; /* devices, fifos, sockets stay behind */
		}
		fchownat(dst, de->d_name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
	}
	closedir(d);
	return rc;
}

static void empty_dir(int fd)
{
	int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		pl_close(dfd);
		return;
	}
	for (struct dirent *de; (de = readdir(d));) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			pl_error_t *e = NULL;
			pl_remove_tree_at(fd, de->d_name, &e);
			pl_error_free(e);
		}
	}
	closedir(d);
}

/* Bind mounts and volumes: the source (a trusted host path) opened O_PATH, the target
 * created beneath the root without following symlinks, mounted fd to fd. */
static int apply_mounts(int root, const pl_domain_mount_t *mounts, size_t n,
			const pl_userns_fds_t *userns, pl_error_t **err)
{
	for (size_t i = 0; i < n; i++) {
		const pl_domain_mount_t *m = &mounts[i];
		const char *src = m->source;
		const char *dst = m->target;
		const char *marker = m->populate;
		const char *prop = m->propagation ? m->propagation : "rprivate";
		/* in a user namespace the daemon made it: a detached tree to attach */
		_cleanup_close_ int sfd = userns ? fcntl(userns->mounts[i], F_DUPFD_CLOEXEC, 3)
						 : open(src, O_PATH | O_CLOEXEC);
		struct stat st;
		if (sfd < 0 || fstat(sfd, &st) < 0)
			return pl_error_set(err, PL_ERR_INVALID, errno, "mount source %s", src);
		_cleanup_close_ int tfd = -1;
		if (S_ISDIR(st.st_mode)) {
			tfd = open_dir_beneath(root, dst + 1, err);
		} else {
			/* a file: its directory beneath the root, then the file itself */
			_cleanup_free_ char *dir = pl_xstrdup(dst + 1);
			char *slash = strrchr(dir, '/');
			const char *leaf = slash ? slash + 1 : dir;
			if (slash)
				*slash = '\0';
			_cleanup_close_ int dfd = slash ? open_dir_beneath(root, dir, err)
							: fcntl(root, F_DUPFD_CLOEXEC, 3);
			if (dfd < 0)
				return -1;
			/* read-only: an existing target on a read-only root is not refused */
			_cleanup_close_ int f =
			    openat(dfd, leaf, O_RDONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
			if (f < 0)
				return pl_error_errno(err, "mount target %s", dst);
			tfd = openat2_beneath(dfd, leaf, O_PATH);
		}
		if (tfd < 0)
			return tfd == -1 ? -1
					 : pl_error_set(err, PL_ERR_INVALID, -tfd,
							"mount target %s", dst);
		if (marker && faccessat(AT_FDCWD, marker, F_OK, 0) < 0 && S_ISDIR(st.st_mode)) {
			char from[64], to[64];
			snprintf(from, sizeof(from), "/proc/self/fd/%d", tfd);
			snprintf(to, sizeof(to), "/proc/self/fd/%d", sfd);
			_cleanup_close_ int fd_from =
			    open(from, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			_cleanup_close_ int fd_to = open(to, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			/* only an empty volume is filled (as Docker does): data is never replaced
			 */
			if (fd_from < 0 || fd_to < 0)
				return pl_error_errno(err, "volume at %s", dst);
			if (dir_empty(fd_to) && copy_tree(fd_from, fd_to, err) < 0) {
				/* a failed populate leaves the volume as it was: empty */
				empty_dir(fd_to);
				return pl_error_wrap(err, "volume at %s", dst);
			}
			close(open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
		}
		char s[64], t[64];
		snprintf(s, sizeof(s), "/proc/self/fd/%d", sfd);
		snprintf(t, sizeof(t), "/proc/self/fd/%d", tfd);
		if (userns ? move_mount(sfd, "", tfd, "",
					MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH)
			   : mount(s, t, NULL, MS_BIND | MS_REC, NULL))
			return pl_error_errno(err, "bind %s on %s", src, dst);
		/* flags apply to the new mount: reach it through a fresh fd */
		_cleanup_close_ int top = openat2_beneath(root, dst + 1, O_PATH);
		if (top < 0)
			return pl_error_set(err, PL_ERR_INTERNAL, -top, "mount %s", dst);
		snprintf(t, sizeof(t), "/proc/self/fd/%d", top);
		if (m->readonly && mount(NULL, t, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
			return pl_error_errno(err, "read-only %s", dst);
		unsigned long pf = !strcmp(prop, "shared") || !strcmp(prop, "rshared") ? MS_SHARED
				   : !strcmp(prop, "slave") || !strcmp(prop, "rslave") ? MS_SLAVE
										       : MS_PRIVATE;
		if (prop[0] == 'r')
			pf |= MS_REC;
		if (mount(NULL, t, NULL, pf, NULL) < 0)
			return pl_error_errno(err, "propagation of %s", dst);
	}
	return 0;
}

/* /dev/shm: a tmpfs of shm_size, or the IPC owner's (a pod shares POSIX shared memory with
 * its IPC namespace, as Docker does). */
static int shm_mount(int root, const pl_domain_spec_t *spec, pl_error_t **err)
{
	const char *shared = spec->join ? spec->join->shm_dir : NULL;
	if (!shared) {
		char opts[64];
		snprintf(opts, sizeof(opts), "mode=1777,size=%lld", (long long)spec->host.shm_size);
		return mount_at(root, "dev/shm", "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
				opts, err);
	}
	_cleanup_close_ int src = open(shared, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (src < 0)
		return pl_error_errno(err, "shared /dev/shm %s", shared);
	_cleanup_close_ int dst = open_dir_beneath(root, "dev/shm", err);
	if (dst < 0)
		return -1;
	char s[64], t[64];
	snprintf(s, sizeof(s), "/proc/self/fd/%d", src);
	snprintf(t, sizeof(t), "/proc/self/fd/%d", dst);
	if (mount(s, t, NULL, MS_BIND, NULL) < 0)
		return pl_error_errno(err, "bind shared /dev/shm");
	return 0;
}

/* Host devices passed through: a node of the same type, numbers and mode (a bind of the
 * host's in a user namespace, where mknod is refused). Access is the cgroup's to allow. */
static int host_devices(int root, const pl_domain_spec_t *spec, bool userns, pl_error_t **err)
{
	size_t i;
	json_t *d;
	json_array_foreach(spec->host.devices, i, d)
	{
		const char *host = json_string_value(json_object_get(d, "path_on_host"));
		const char *in = json_string_value(json_object_get(d, "path_in_container"));
		struct stat st;
		if (stat(host, &st) < 0 || !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
			return pl_error_set(err, PL_ERR_INVALID, errno, "device %s", host);
		_cleanup_free_ char *dir = pl_xstrdup(in + 1);
		char *slash = strrchr(dir, '/');
		*slash = '\0';
		_cleanup_close_ int dfd0 = open_dir_beneath(root, dir, err);
		if (dfd0 < 0)
			return -1;
		char p[64];
		snprintf(p, sizeof(p), "/proc/self/fd/%d", dfd0);
		_cleanup_close_ int dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			return pl_error_errno(err, "open %s", dir);
		const char *leaf = slash + 1;
		unlinkat(dfd, leaf, 0); /* a default node of the same name gives way */
		mode_t old = umask(0);
		int r =
		    userns ? -1 : mknodat(dfd, leaf, (st.st_mode & (S_IFMT | 07777)), st.st_rdev);
		umask(old);
		if (userns) {
			_cleanup_close_ int f =
			    openat(dfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			_cleanup_close_ int src = open(host, O_PATH | O_CLOEXEC);
			char a[64], b[64];
			snprintf(a, sizeof(a), "/proc/self/fd/%d", src);
			snprintf(b, sizeof(b), "/proc/self/fd/%d", f);
			r = f < 0 || src < 0 ? -1 : mount(a, b, NULL, MS_BIND, NULL);
		}
		if (r < 0)
			return pl_error_errno(err, "device %s at %s", host, in);
		if (!userns)
			fchownat(dfd, leaf, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW);
	}
	return 0;
}

/* The overlay the daemon made (userns.c), attached at the domain's merged directory. */
static int attach_overlay(const pl_userns_fds_t *userns, pl_error_t **err)
{
	if (move_mount(userns->overlay, "", userns->merged, "",
		       MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return pl_error_errno(err, "attach overlay rootfs");
	int root = fcntl(userns->overlay, F_DUPFD_CLOEXEC, 3);
	return root < 0 ? pl_error_errno(err, "open rootfs") : root;
}

/* devpts' "gid=5" (tty) only where the container has a gid 5: an explicit gid_map may
 * leave it out, and the kernel refuses an unmapped gid. */
static bool devpts_gid_mapped(const pl_domain_spec_t *spec)
{
	const pl_userns_t *u = &spec->security->userns;
	return !u->remap || pl_userns_host_id(u->gid_map, u->n_gid, 5) >= 0;
}

/* /proc/sys/net/ipv6/conf of the /proc just mounted in root, for pl_rootfs_endpoints_no_ipv6
 * (an fd above 63, or -1 when the kernel has no IPv6): opened before /proc/sys is made
 * read-only, and through this new /proc, not the host's, whose /proc/sys holds one "net"
 * dentry per network namespace that looked, all in one hash chain (proc_sys_compare walks
 * it: a cost of every lookup that grows with the containers running). Names below it are
 * those of the caller's network namespace. */
static int ipv6_conf_dir(int root)
{
	_cleanup_close_ int fd = openat2_beneath(root, "proc/sys/net/ipv6/conf", O_DIRECTORY);
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, 64);
}

/* /proc, /sys and /dev as every container gets them, in root (a directory): the mounts of a
 * domain's set-up that do not depend on its container (userns: none made here). v6conf, when
 * not NULL and not yet open, gets ipv6_conf_dir's. */
static int kernel_trees(int root, const pl_domain_spec_t *spec, bool userns, int *v6conf,
			pl_error_t **err)
{
	const pl_security_t *sec = spec->security;
	const unsigned long nse = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	const unsigned long sys_flags = nse | (sec->privileged ? 0 : MS_RDONLY);
	if (mount_at(root, "proc", "proc", "proc", nse, NULL, err) < 0)
		return -1;
	if (v6conf && *v6conf < 0)
		*v6conf = ipv6_conf_dir(root);
	pl_phase_child_mark("dom.mount_proc");
	if (mount_at(root, "sys", "sysfs", "sysfs", sys_flags, NULL, err) < 0)
		return -1;
	pl_phase_child_mark("dom.mount_sys");
	if (mount_at(root, "dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME,
		     "mode=755,size=65536k", err) < 0 ||
	    populate_dev(root, userns, err) < 0)
		return -1;
	pl_phase_child_mark("dom.mount_dev");
	if (mount_at(root, "dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC,
		     devpts_gid_mapped(spec) ? "newinstance,ptmxmode=0666,mode=0620,gid=5"
					     : "newinstance,ptmxmode=0666,mode=0620",
		     err) < 0 ||
	    shm_mount(root, spec, err) < 0 ||
	    mount_at(root, "dev/mqueue", "mqueue", "mqueue", nse, NULL, err) < 0)
		return -1;
	pl_phase_child_mark("dom.mount_pts_shm_mqueue");
	return 0;
}

/* Docker's masked and read-only paths, all of them under /proc and /sys (empty_dir: see
 * mask_paths). */
static int protect_kernel_trees(int root, const pl_domain_spec_t *spec, int empty_dir,
				pl_error_t **err)
{
	if (!spec->security->privileged && mask_paths(root, empty_dir, err) < 0)
		return -1;
	pl_phase_child_mark("dom.mask_paths");
	if (!spec->security->privileged && readonly_paths_apply(root, err) < 0)
		return -1;
	pl_phase_child_mark("dom.readonly_paths");
	return 0;
}

#define STAGE_SHM (64LL << 20) /* Docker's /dev/shm, the port layer's default */
static const char *const staged_trees[] = {"proc", "sys", "dev"};

int pl_rootfs_stage(const char *stage_dir, int *v6conf)
{
	if (!stage_dir || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", stage_dir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") < 0)
		return -1;
	int fd = open(stage_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	pl_security_t sec = {0};
	pl_domain_spec_t spec = {.security = &sec, .host = {.shm_size = STAGE_SHM}};
	pl_error_t *e = NULL;
	/* the staging tmpfs serves for the rest too, read-only from the start of its use: an
	 * empty directory for the masked ones (mask_paths), the root of the pivot ahead;
	 * neither is then a superblock of its own. Its options and the empty directory's mode
	 * are those of mask_paths' own tmpfs: a container sees the same on either path */
	int empty = -1;
	if (kernel_trees(fd, &spec, false, v6conf, &e) < 0 || mkdirat(fd, "empty", 0700) < 0 ||
	    fchmodat(fd, "empty", 01777, 0) < 0 || mkdirat(fd, "r", 0755) < 0 ||
	    mkdirat(fd, "r/oldroot", 0700) < 0 ||
	    mount(NULL, stage_dir, NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL) < 0 ||
	    (empty = openat(fd, "empty", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
	    protect_kernel_trees(fd, &spec, empty, &e) < 0) {
		pl_error_free(e);
		pl_close(empty);
		close(fd);
		return -1;
	}
	close(empty);
	int high = fcntl(fd, F_DUPFD_CLOEXEC, 64);
	close(fd);
	return high;
}

static bool under_kernel_trees(const char *path)
{
	return pl_path_under(path, "/proc") || pl_path_under(path, "/sys");
}

/* Whether the staged trees are what this container's set-up would mount: its own
 * mounts and tmpfs go on top as before, but none may come under /proc or /sys, which the
 * staged trees already protect. */
static bool stage_fits(const pl_domain_spec_t *spec, bool userns)
{
	const pl_security_t *sec = spec->security;
	if (userns || sec->privileged || spec->host.shm_size != STAGE_SHM ||
	    (spec->join && spec->join->shm_dir) || json_array_size(spec->host.devices) ||
	    json_object_size(sec->sysctls)) /* written before /proc/sys is made read-only */
		return false;
	for (size_t i = 0; i < spec->n_mounts; i++)
		if (under_kernel_trees(spec->mounts[i].target))
			return false;
	const char *path;
	json_t *v;
	json_object_foreach((json_t *)sec->tmpfs, path, v)
	{
		if (under_kernel_trees(path))
			return false;
	}
	return true;
}

/* Attaches copies of the staged trees (with what is mounted under them) onto root's: copies,
 * not the trees themselves, so that they come after the root in the mount table as a
 * fresh mount would (a copy shares the staged superblocks, none of which any other domain
 * has). */
static int attach_staged(int staged, int root, pl_error_t **err)
{
	for (size_t i = 0; i < PL_ARRAY_SIZE(staged_trees); i++) {
		const char *t = staged_trees[i];
		_cleanup_close_ int src =
		    open_tree(staged, t, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
		if (src < 0)
			return pl_error_errno(err, "copy the staged /%s", t);
		_cleanup_close_ int dst = open_dir_beneath(root, t, err);
		if (dst < 0)
			return -1;
		if (move_mount(src, "", dst, "",
			       MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
			return pl_error_errno(err, "attach the staged /%s", t);
	}
	pl_phase_child_mark("dom.mounts_staged");
	return 0;
}

int pl_rootfs_volatile_ready(const char *domain_dir, pl_error_t **err)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/work/work/incompat/volatile", domain_dir);
	struct stat st;
	if (lstat(p, &st) < 0)
		return 0; /* never mounted volatile */
	/* the kernel made the mark at the mount: made before this boot, the host went down
	 * while the overlay was mounted, and its unsynced writes may be torn */
	struct timespec now, up;
	clock_gettime(CLOCK_REALTIME, &now);
	clock_gettime(CLOCK_BOOTTIME, &up);
	if (st.st_mtim.tv_sec + 1 < now.tv_sec - up.tv_sec)
		return pl_error_set(
		    err, PL_ERR_CONFLICT, 0,
		    "the rootfs was in use when the host went down, and an auto_remove "
		    "container's writes are never synced: remove the container");
	rmdir(p);
	*strrchr(p, '/') = '\0';
	rmdir(p);
	return 0;
}

/* A disposable rootfs's overlay is "volatile" (no sync of the upper layer, at its unmount
 * neither: that would sync the host's whole filesystem), where the kernel knows it (5.10). */
static int mount_overlay(const char *merged, const char *opts, bool disposable)
{
	if (disposable) {
		_cleanup_free_ char *v = pl_xasprintf("%s,volatile", opts);
		if (mount("overlay", merged, "overlay", MS_NODEV, v) == 0)
			return 0;
		if (errno != EINVAL)
			return -1;
	}
	return mount("overlay", merged, "overlay", MS_NODEV, opts);
}

int pl_rootfs_prepare(const pl_domain_spec_t *spec, const pl_userns_fds_t *userns, int staged,
		      int *v6conf, pl_error_t **err)
{
	const pl_security_t *sec = spec->security;
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return pl_error_errno(err, "make / private");
	pl_phase_child_mark("dom.mount_private");
	_cleanup_free_ char *merged = pl_xasprintf("%s/merged", spec->domain_dir);
	_cleanup_free_ char *opts =
	    pl_xasprintf("lowerdir=%s,upperdir=%s/upper,workdir=%s/work", spec->lowerdir,
			 spec->domain_dir, spec->domain_dir);
	if (!userns && spec->disposable_rootfs &&
	    pl_rootfs_volatile_ready(spec->domain_dir, err) < 0)
		return -1;
	if (!userns && mount_overlay(merged, opts, spec->disposable_rootfs) < 0)
		return pl_error_errno(err, "mount overlay rootfs");
	_cleanup_close_ int root =
	    userns ? attach_overlay(userns, err) : open(merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return userns ? -1 : pl_error_errno(err, "open rootfs");
	if (sec->read_only_rootfs) {
		if (spec->n_endpoints && network_files(root, err) < 0)
			return -1;
		int ro = read_only_root(userns ? NULL : merged, root, sec->tmpfs, err);
		if (ro < 0)
			return -1;
		close(root);
		root = ro;
	}
	pl_phase_child_mark("dom.mount_overlay");

	/* made ahead when they fit (a prepared domain, pl_rootfs_stage): moved in */
	bool moved = staged >= 0 && stage_fits(spec, userns != NULL);
	if (moved && attach_staged(staged, root, err) < 0)
		return -1;
	if (!moved && (kernel_trees(root, spec, userns != NULL, v6conf, err) < 0 ||
		       host_devices(root, spec, userns != NULL, err) < 0))
		return -1;
	if (sec->tmpfs && mount_tmpfs_list(root, sec->tmpfs, err) < 0)
		return -1;
	if (spec->n_mounts && apply_mounts(root, spec->mounts, spec->n_mounts, userns, err) < 0)
		return -1;
	if (sec->sysctls && write_sysctls(root, sec->sysctls, err) < 0)
		return -1;
	/* in a user namespace the daemon writes it (userns.c): lowering it takes the host's
	 * CAP_SYS_RESOURCE */
	if (!userns && sec->has_oom_score_adj && write_oom_score_adj(sec->oom_score_adj, err) < 0)
		return -1;
	pl_phase_child_mark("dom.mount_user_sysctls");
	if (!moved && protect_kernel_trees(root, spec, -1, err) < 0)
		return -1;
	const pl_ns_join_t *join = spec->join;
	const char *dn = spec->host.domainname;
	if (!(join && join->host_uts) && sethostname(spec->hostname, strlen(spec->hostname)) < 0)
		return pl_error_errno(err, "sethostname");
	if (!(join && join->host_uts) && dn && setdomainname(dn, strlen(dn)) < 0)
		return pl_error_errno(err, "setdomainname");
	if (pl_rootfs_loopback_up(err) < 0)
		return -1;
	pl_phase_child_mark("dom.hostname_loopback");
	return TAKE_FD(root);
}

int pl_rootfs_pivot_ahead(const char *stage_dir)
{
	char r[PATH_MAX], old[PATH_MAX + 8];
	snprintf(r, sizeof(r), "%s/r", stage_dir);
	snprintf(old, sizeof(old), "%s/oldroot", r);
	/* the staging tmpfs's r (pl_rootfs_stage), read-only: a mount of its own to pivot onto */
	if (mount(r, r, NULL, MS_BIND, NULL) < 0)
		return -1;
	if (syscall(SYS_pivot_root, r, old) < 0)
		return -1;
	/* from here on, a failure leaves the process without the host's paths: it ends */
	int ahead = -1;
	if (chdir("/") < 0 ||
	    mount(NULL, "/", NULL,
		  MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 ||
	    (ahead = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 || chroot("/oldroot") < 0 ||
	    chdir("/") < 0)
		_exit(1);
	int high = fcntl(ahead, F_DUPFD_CLOEXEC, 64);
	close(ahead);
	if (high < 0)
		_exit(1);
	return high;
}

int pl_rootfs_enter_ahead(int root_fd, int ahead, pl_error_t **err)
{
	/* the container's root onto the prepared root's /, stacked as switch_root does */
	if (move_mount(root_fd, "", ahead, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) <
	    0)
		return pl_error_errno(err, "move the root");
	pl_phase_child_mark("dom.pivot_call");
	/* the host's tree, below the prepared root, goes */
	if (fchdir(ahead) < 0 || chroot(".") < 0 || umount2("oldroot", MNT_DETACH) < 0)
		return pl_error_errno(err, "detach old root");
	pl_phase_child_mark("dom.umount_old_root");
	if (fchdir(root_fd) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return pl_error_errno(err, "enter the root");
	return 0;
}

int pl_rootfs_enter(int root_fd, pl_error_t **err)
{
	if (fchdir(root_fd) < 0)
		return pl_error_errno(err, "chdir rootfs");
	/* pivot onto itself, then detach the old root stacked underneath */
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return pl_error_errno(err, "pivot_root");
	pl_phase_child_mark("dom.pivot_call");
	if (umount2(".", MNT_DETACH) < 0)
		return pl_error_errno(err, "detach old root");
	pl_phase_child_mark("dom.umount_old_root");
	if (chdir("/") < 0)
		return pl_error_errno(err, "chdir /");
	return 0;
}
