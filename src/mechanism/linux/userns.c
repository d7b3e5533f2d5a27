/* SPDX-License-Identifier: Apache-2.0 */
/* User namespaces for the linux mechanism: maps, idmapped mounts, and the GO hand-over
 * (userns.h; why idmapped mounts: docs/design-decisions.md). */
#include "mechanism/linux/userns.h"
#include "mechanism/linux/rootfs.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/util.h"
#include "proto/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

bool pl_userns_wanted(const pl_domain_spec_t *spec)
{
	return spec->security->userns.remap;
}

int pl_userns_validate(const pl_domain_spec_t *spec, pl_error_t **err)
{
	if (spec->security->userns.remap && spec->n_mounts > PL_USERNS_MAX_MOUNTS)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "mounts: at most %d with security.userns mode \"remap\"",
				    PL_USERNS_MAX_MOUNTS);
	return 0;
}

void pl_userns_fds_init(pl_userns_fds_t *fds)
{
	fds->overlay = fds->merged = -1;
	fds->n_mounts = 0;
	for (size_t i = 0; i < PL_USERNS_MAX_MOUNTS; i++)
		fds->mounts[i] = -1;
}

void pl_userns_fds_close(pl_userns_fds_t *fds)
{
	fds->overlay = pl_close(fds->overlay);
	fds->merged = pl_close(fds->merged);
	for (size_t i = 0; i < fds->n_mounts; i++)
		fds->mounts[i] = pl_close(fds->mounts[i]);
	fds->n_mounts = 0;
}

static int write_map(pid_t pid, const char *file, const pl_idmap_t *m, size_t n, pl_error_t **err)
{
	char buf[PL_IDMAP_MAX * 40] = "";
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n",
					m[i].container_id, m[i].host_id, m[i].size);
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	/* the kernel takes a map in one write, or not at all */
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		return pl_error_errno(err, "write %s", file);
	return 0;
}

/* A detached copy of path's mount, idmapped through the container's user namespace when
 * userns_fd >= 0: what is uid 0 on disk is the container's root. attrs (MOUNT_ATTR_RDONLY,
 * NOSUID, ...) are set on the whole tree here, where the container cannot undo them with a
 * remount of the top mount only. */
static int detached_tree(const char *path, int userns_fd, bool recursive, uint64_t attrs,
			 pl_error_t **err)
{
	_cleanup_close_ int fd = open_tree(
	    AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
	if (fd < 0)
		return pl_error_errno(err, "open_tree %s", path);
	if (userns_fd >= 0 || attrs) {
		struct mount_attr attr = {.attr_set = attrs};
		if (userns_fd >= 0) {
			attr.attr_set |= MOUNT_ATTR_IDMAP;
			attr.userns_fd = (uint64_t)userns_fd;
		}
		if (mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr,
				  sizeof(attr)) < 0)
			return pl_error_errno(err, "mount attributes of %s", path);
	}
	return TAKE_FD(fd);
}

/* The kernel's own words on a failed overlay (fsopen's message log), for the error. */
static int overlay_error(int fs, pl_error_t **err)
{
	int saved = errno;
	char buf[512] = "", msg[256];
	size_t len = 0;
	ssize_t n;
	while ((n = read(fs, msg, sizeof(msg) - 1)) > 0) {
		msg[n] = '\0';
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", len ? "; " : "", msg);
		if (len >= sizeof(buf) - 1)
			break;
	}
	errno = saved;
	return pl_error_errno(err, "mount overlay rootfs%s%s", *buf ? ": " : "", buf);
}

/* The overlay over idmapped lower layers, as a detached mount. Mounted from the host's
 * user namespace: the layers stay untouched, the upper directory gets the mapped ids. */
static int make_overlay(const pl_domain_spec_t *spec, int userns_fd, pl_error_t **err)
{
	_cleanup_close_ int fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0)
		return pl_error_errno(err, "fsopen overlay");
	_cleanup_free_ char *lower = pl_xstrdup(spec->lowerdir);
	size_t n = 1;
	for (const char *c = lower; *c; c++)
		n += *c == ':';
	/* each detached layer lives while its fd does: until the overlay has cloned it */
	_cleanup_free_ int *layers = pl_xcalloc(n, sizeof(int));
	size_t got = 0;
	int rc = 0;
	char *save = NULL;
	for (char *l = strtok_r(lower, ":", &save); l && rc == 0; l = strtok_r(NULL, ":", &save)) {
		int layer = detached_tree(l, userns_fd, false, 0, err);
		if (layer < 0) {
			rc = pl_error_wrap(err, "rootfs layer");
			break;
		}
		layers[got++] = layer;
		/* "lowerdir+" appends: the first given is the top layer, as in lowerdir= */
		if (fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL, layer) < 0)
			rc = overlay_error(fs, err);
	}
	_cleanup_free_ char *upper = pl_xasprintf("%s/upper", spec->domain_dir);
	_cleanup_free_ char *work = pl_xasprintf("%s/work", spec->domain_dir);
	if (rc == 0 && (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
			fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work, 0) < 0))
		rc = overlay_error(fs, err);
	/* a disposable rootfs (rootfs.c, mount_overlay): a kernel without it keeps syncing */
	if (rc == 0 && spec->disposable_rootfs) {
		if (pl_rootfs_volatile_ready(spec->domain_dir, err) < 0)
			rc = -1;
		else
			(void)fsconfig(fs, FSCONFIG_SET_FLAG, "volatile", NULL, 0);
	}
	if (rc == 0 && fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		rc = overlay_error(fs, err);
	int mnt = -1;
	if (rc == 0 && (mnt = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV)) < 0)
		rc = pl_error_errno(err, "fsmount overlay");
	for (size_t i = 0; i < got; i++)
		close(layers[i]);
	return rc < 0 ? rc : mnt;
}

int pl_userns_setup(const pl_domain_spec_t *spec, pid_t pid, pl_userns_fds_t *fds, pl_error_t **err)
{
	const pl_userns_t *u = &spec->security->userns;
	if (write_map(pid, "uid_map", u->uid_map, u->n_uid, err) < 0 ||
	    write_map(pid, "gid_map", u->gid_map, u->n_gid, err) < 0)
		return pl_error_wrap(err, "user namespace");
	char path[64];
	const pl_security_t *sec = spec->security;
	if (sec->has_oom_score_adj) {
		/* inherited by tether and all it starts; lowering it is the host's privilege */
		char v[16];
		int len = snprintf(v, sizeof(v), "%d", sec->oom_score_adj);
		snprintf(path, sizeof(path), "/proc/%d/oom_score_adj", pid);
		_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, v, (size_t)len) != len)
			return pl_error_errno(err, "oom_score_adj");
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
	_cleanup_close_ int userns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (userns_fd < 0)
		return pl_error_errno(err, "open %s", path);
	/* the upper directory's root is the container's "/": its root owns it */
	int64_t root_uid = pl_userns_host_id(u->uid_map, u->n_uid, 0),
		root_gid = pl_userns_host_id(u->gid_map, u->n_gid, 0);
	if (fchownat(spec->domain_dirfd, "upper", (uid_t)root_uid, (gid_t)root_gid,
		     AT_SYMLINK_NOFOLLOW) < 0)
		return pl_error_errno(err, "give the upper directory to the container's root");
	fds->overlay = make_overlay(spec, userns_fd, err);
	if (fds->overlay < 0)
		return -1;
	for (size_t i = 0; i < spec->n_mounts; i++) {
		const pl_domain_mount_t *m = &spec->mounts[i];
		if (i >= PL_USERNS_MAX_MOUNTS)
			return pl_error_set(err, PL_ERR_INVALID, 0, "too many mounts");
		const char *src = m->source;
		/* volumes are the port layer's: stored with the container's own ids; a bind
		 * mount is the host's and keeps the host's owners (root shows as nobody) */
		bool volume = m->volume;
		/* a volume is shared with other containers, some perhaps not remapped: what a
		 * remapped root writes there as "uid 0" must never be setuid root or a device
		 * for them */
		uint64_t attrs = (volume ? MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV : 0) |
				 (m->readonly ? MOUNT_ATTR_RDONLY : 0);
		int fd = detached_tree(src, volume ? userns_fd : -1, !volume, attrs, err);
		if (fd < 0)
			return pl_error_wrap(err, "mount source %s", src);
		fds->mounts[fds->n_mounts++] = fd;
	}
	return 0;
}

int pl_userns_send_go(int ctl, const pl_userns_fds_t *fds)
{
	int all[1 + PL_USERNS_MAX_MOUNTS];
	size_t n = 0;
	all[n++] = fds->overlay;
	for (size_t i = 0; i < fds->n_mounts; i++)
		all[n++] = fds->mounts[i];
	uint8_t hdr[PL_FRAME_HDR_LEN];
	pl_frame_hdr_t h = {.type = PL_MSG_GO};
	pl_frame_hdr_encode(&h, hdr);
	ssize_t w = pl_send_fds(ctl, hdr, sizeof(hdr), all, n, 0);
	if (w < 0)
		return -errno;
	/* the fds went with the first byte; the rest of a short write is plain bytes */
	for (size_t off = (size_t)w; off < sizeof(hdr);) {
		ssize_t k = write(ctl, hdr + off, sizeof(hdr) - off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return k < 0 ? -errno : -EPIPE;
		off += (size_t)k;
	}
	return 0;
}

int pl_userns_wait_go(int ctl, const char *merged, size_t n_mounts, pl_userns_fds_t *fds,
		      pl_error_t **err)
{
	pl_userns_fds_init(fds);
	uint8_t hdr[PL_FRAME_HDR_LEN];
	union {
		char buf[CMSG_SPACE(sizeof(int) * (1 + PL_USERNS_MAX_MOUNTS))];
		struct cmsghdr align;
	} ctrl;
	struct iovec iov = {.iov_base = hdr, .iov_len = sizeof(hdr)};
	struct msghdr msg = {.msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = ctrl.buf,
			     .msg_controllen = sizeof(ctrl)};
	ssize_t n;
	do
		n = recvmsg(ctl, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return pl_error_set(err, PL_ERR_INTERNAL, n < 0 ? errno : EPIPE,
				    "wait for placement");
	size_t want = 1 + n_mounts, got_fds = 0;
	int all[1 + PL_USERNS_MAX_MOUNTS];
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
		got_fds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		memcpy(all, CMSG_DATA(c), got_fds * sizeof(int));
	}
	int r = pl_read_exact(ctl, hdr + n, sizeof(hdr) - (size_t)n);
	if (r < 0)
		return pl_error_set(err, PL_ERR_INTERNAL, -r, "wait for placement");
	pl_frame_hdr_t h;
	if (got_fds != want || (msg.msg_flags & MSG_CTRUNC) || pl_frame_hdr_decode(hdr, &h) < 0 ||
	    h.type != PL_MSG_GO || h.len != 0)
		return pl_error_set(err, PL_ERR_INTERNAL, EPROTO, "wait for placement");
	fds->overlay = all[0];
	for (size_t i = 0; i < n_mounts; i++)
		fds->mounts[i] = all[1 + i];
	fds->n_mounts = n_mounts;
	/* Until now the child held the host's uid 0, unmapped here: it acts as the owner of
	 * every root-owned host file, so it can still reach the mount point in the daemon's
	 * private directory (opened here: a mount target must be in our own mount namespace,
	 * which an fd from the daemon is not). From here on it is the mapped root only. */
	fds->merged = open(merged, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fds->merged < 0)
		return pl_error_errno(err, "open rootfs mount point");
	if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0)
		return pl_error_errno(err, "become root of the user namespace");
	return 0;
}
