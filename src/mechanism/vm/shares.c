/* SPDX-License-Identifier: Apache-2.0 */
/* Volumes and bind mounts of a vm domain, served to the guest over virtio-fs. In the launcher,
 * before QEMU runs: one virtiofsd per VM (QEMU's own, /usr/lib/qemu/virtiofsd) in a private
 * mount namespace whose shared directory is a small tmpfs holding each mount's host source
 * bound at "0", "1", ... (read-only ones made read-only there, on the host side) and "list",
 * the JSON tether reads to place them (target, readonly, file, populate). virtiofsd's own
 * sandbox pivots into that directory, so nothing outside the sources is reachable from the
 * guest. QEMU gets the connected end of the vhost-user socket as a chardev fd. Whether a
 * fresh volume is populated is decided here from its marker on the host; the copy itself
 * runs in the guest, which alone sees the container's root disk. */
#include "mechanism/vm/vm.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define VIRTIOFSD     "/usr/lib/qemu/virtiofsd"
#define STAGING	      "vm-shares"
#define FS_SOCKET     "vm-fs.sock"
#define VIRTIOFSD_LOG "vm-virtiofsd.log"

const char *pl_vm_virtiofsd_binary(void)
{
	return VIRTIOFSD;
}

int pl_vm_shares_check(const pl_domain_mount_t *mounts, size_t n, pl_error_t **err)
{
	for (size_t i = 0; i < n; i++) {
		/* mount events cannot cross between the host's kernel and the guest's */
		const char *prop = mounts[i].propagation;
		if (prop && strcmp(prop, "rprivate") != 0 && strcmp(prop, "private") != 0)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "mounts[%zu].propagation \"%s\": a dedicated kernel "
					    "shares no mount events with the host (private only)",
					    i, prop);
	}
	if (n > 0 && access(VIRTIOFSD, X_OK) != 0)
		return pl_error_set(err, PL_ERR_UNSUPPORTED, errno,
				    "mounts: a dedicated kernel reaches host directories through "
				    "virtio-fs, and %s is missing (Debian: qemu-system-common)",
				    VIRTIOFSD);
	return 0;
}

/* In the virtiofsd child: fails through the pipe the launcher reads, then dies. */
__attribute__((format(printf, 2, 3))) static _Noreturn void child_fail(int pipe_fd, const char *fmt,
								       ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(pipe_fd, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
	_exit(1);
}

static void fd_path(char *buf, size_t size, int fd)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* Builds the shared directory in a private mount namespace and execs virtiofsd on it. */
static _Noreturn void virtiofsd_main(const char *domain_dir, const pl_domain_mount_t *mounts,
				     size_t n, const char *list, int listen_fd, int pipe_fd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL); /* it serves this VM only: it dies with QEMU */
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		child_fail(pipe_fd, "virtio-fs: private mount namespace: %s", strerror(errno));
	_cleanup_free_ char *staging = pl_xasprintf("%s/" STAGING, domain_dir);
	if (mkdir(staging, 0700) < 0 && errno != EEXIST)
		child_fail(pipe_fd, "virtio-fs: mkdir %s: %s", staging, strerror(errno));
	if (mount("pl-shares", staging, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  "mode=0755,size=1m") < 0)
		child_fail(pipe_fd, "virtio-fs: tmpfs on %s: %s", staging, strerror(errno));
	int dirfd = open(staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		child_fail(pipe_fd, "virtio-fs: open %s: %s", staging, strerror(errno));
	for (size_t i = 0; i < n; i++) {
		const char *src = mounts[i].source;
		const char *dst = mounts[i].target;
		char name[24];
		snprintf(name, sizeof(name), "%zu", i);
		/* the source is a host path the caller named (or a volume's data directory) */
		_cleanup_close_ int sfd = open(src, O_PATH | O_CLOEXEC);
		struct stat st;
		if (sfd < 0 || fstat(sfd, &st) < 0)
			child_fail(pipe_fd, "mount source %s (for %s): %s", src, dst,
				   strerror(errno));
		int r =
		    S_ISDIR(st.st_mode)
			? mkdirat(dirfd, name, 0755)
			: close(openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
		_cleanup_close_ int tfd = r < 0 ? -1 : openat(dirfd, name, O_PATH | O_CLOEXEC);
		char s[64], t[64];
		fd_path(s, sizeof(s), sfd);
		fd_path(t, sizeof(t), tfd);
		if (tfd < 0 || mount(s, t, NULL, MS_BIND | MS_REC, NULL) < 0)
			child_fail(pipe_fd, "virtio-fs: bind %s for %s: %s", src, dst,
				   strerror(errno));
		if (mounts[i].readonly) {
			/* read-only on the host side: the guest's kernel cannot lift it */
			_cleanup_close_ int top = openat(dirfd, name, O_PATH | O_CLOEXEC);
			struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
			if (top < 0 ||
			    syscall(SYS_mount_setattr, top, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr,
				    sizeof(attr)) < 0)
				child_fail(pipe_fd, "virtio-fs: read-only %s: %s", dst,
					   strerror(errno));
		}
	}
	if (pl_atomic_write(dirfd, "list", list, strlen(list), NULL) < 0)
		child_fail(pipe_fd, "virtio-fs: write the share list: %s", strerror(errno));
	close(dirfd);
	/* the guest may not change the list, nor add to the directory */
	if (mount(NULL, staging, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		child_fail(pipe_fd, "virtio-fs: read-only staging: %s", strerror(errno));
	_cleanup_free_ char *log = pl_xasprintf("%s/" VIRTIOFSD_LOG, domain_dir);
	int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (lfd >= 0)
		dup2(lfd, 2);
	if (dup2(listen_fd, 3) < 0)
		child_fail(pipe_fd, "virtio-fs: dup: %s", strerror(errno));
	/* nothing else of the launcher's (the QMP socket, ...) crosses into virtiofsd */
	close_range(4, ~0U, CLOSE_RANGE_CLOEXEC);
	_cleanup_free_ char *source = pl_xasprintf("source=%s", staging);
	char *const argv[] = {
	    VIRTIOFSD, "--fd=3", "-o", source,
	    /* its own namespaces, pivot_root into the shared directory, seccomp */
	    "-o", "sandbox=namespace",
	    /* each share is its own file system in the guest (its own st_dev) */
	    "-o", "announce_submounts",
	    /* attributes cached for a second: a linux container on the same volume sees the
	     * guest's writes at once, the guest sees its changes within that */
	    "-o", "cache=auto", "-o", "log_level=warn", NULL};
	char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	execve(VIRTIOFSD, argv, envp);
	child_fail(pipe_fd, "virtio-fs: exec %s: %s", VIRTIOFSD, strerror(errno));
}

/* The list tether reads; decides which fresh volumes the guest populates. */
static char *share_list(const pl_domain_mount_t *mounts, size_t n)
{
	json_t *list = json_array();
	for (size_t i = 0; i < n; i++) {
		const pl_domain_mount_t *m = &mounts[i];
		const char *src = m->source;
		const char *marker = m->populate;
		bool ro = m->readonly;
		struct stat st;
		bool dir = stat(src, &st) == 0 && S_ISDIR(st.st_mode);
		/* a fresh volume takes the image's content at its target (only when empty:
		 * tether checks); the marker is set now, so it happens once. A read-only share
		 * cannot be written from the guest: it stays unpopulated and unmarked. */
		bool populate = marker && dir && !ro && access(marker, F_OK) != 0;
		if (populate)
			close(open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
		json_array_append_new(list, json_pack("{s:s, s:b, s:b, s:b}", "target", m->target,
						      "readonly", ro, "file", !dir, "populate",
						      populate));
	}
	char *s = json_dumps(list, JSON_COMPACT);
	json_decref(list);
	return s;
}

int pl_vm_shares_start(const char *domain_dir, const pl_domain_mount_t *mounts, size_t n_mounts,
		       pl_error_t **err)
{
	_cleanup_close_ int dirfd = open(domain_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return pl_error_errno(err, "virtio-fs: open %s", domain_dir);
	/* a listening socket for virtiofsd and our connection to it, queued in its backlog
	 * until it accepts; the name is gone before anyone else could look for it */
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/proc/self/fd/%d/" FS_SOCKET, dirfd);
	unlinkat(dirfd, FS_SOCKET, 0);
	_cleanup_close_ int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0)
		return pl_error_errno(err, "virtio-fs: socket");
	_cleanup_close_ int cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int r = cfd < 0 ? -1 : connect(cfd, (struct sockaddr *)&sa, sizeof(sa));
	unlinkat(dirfd, FS_SOCKET, 0);
	if (r < 0)
		return pl_error_errno(err, "virtio-fs: connect");
	_cleanup_free_ char *list = share_list(mounts, n_mounts);
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return pl_error_errno(err, "virtio-fs: pipe");
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return pl_error_errno(err, "virtio-fs: fork");
	}
	if (pid == 0) {
		close(p[0]);
		virtiofsd_main(domain_dir, mounts, n_mounts, list, lfd, p[1]);
	}
	close(p[1]);
	/* nothing arrives once virtiofsd runs (the pipe closes at its exec) */
	char msg[512];
	ssize_t n;
	do
		n = read(p[0], msg, sizeof(msg) - 1);
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n > 0) {
		msg[n] = 0;
		return pl_error_set(err, PL_ERR_INVALID, 0, "%s", msg);
	}
	/* QEMU inherits it (no close-on-exec) */
	int qfd = fcntl(cfd, F_DUPFD, 5);
	if (qfd < 0)
		return pl_error_errno(err, "virtio-fs: dup");
	return qfd;
}
