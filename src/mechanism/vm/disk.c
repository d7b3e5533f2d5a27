/* SPDX-License-Identifier: Apache-2.0 */
/* The guest's root disks. A rootfs directory or an image's layers become one raw ext4 base
 * disk (mkfs.ext4 -d over the merged view: the directory itself, or the layers mounted as a
 * read-only overlay in a private mount namespace of a helper process), built once and cached
 * under the state root by a key of the lower paths; each container boots from its own qcow2
 * overlay backed by that base (qemu-img), kept in its domain directory so its writes survive
 * restarts like the linux mechanism's upper directory. Everything here blocks and forks:
 * it runs in the launcher process of a VM, never on the daemon's loop. */
#define _XOPEN_SOURCE 700
#include "mechanism/vm/vm.h"
#include "host/linux/proc.h"
#include "common/cleanup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <gnutls/crypto.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* room the container may write into beyond what the image holds */
#define DISK_HEADROOM (256LL << 20)

typedef int (*pre_exec_fn)(void *data);

static int run_with(char *const argv[], pre_exec_fn pre, void *data, pl_error_t **err)
{
	int ep[2];
	if (pipe2(ep, O_CLOEXEC) < 0)
		return pl_error_errno(err, "pipe");
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		close(ep[0]);
		close(ep[1]);
		return pl_error_errno(err, "fork %s", argv[0]);
	}
	if (pid == 0) {
		/* a killed launcher takes its tools along (no half-built disk being written on);
		 * the launcher's listening sockets are QEMU's only */
		pl_proc_helper_child(parent, ep[1]);
		if (pre && pre(data) < 0) {
			dprintf(2, "%s", strerror(errno));
			_exit(126);
		}
		execv(argv[0], argv);
		dprintf(2, "exec: %s", strerror(errno));
		_exit(127);
	}
	close(ep[1]);
	char msg[1024];
	size_t used = 0;
	for (;;) {
		ssize_t n = read(ep[0], msg + used, sizeof(msg) - 1 - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		used += (size_t)n;
		if (used == sizeof(msg) - 1) /* keep the tail */
			used = 0;
	}
	msg[used] = 0;
	close(ep[0]);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	while (used > 0 && (msg[used - 1] == '\n' || msg[used - 1] == ' '))
		msg[--used] = 0;
	return pl_error_set(err, PL_ERR_INTERNAL, 0, "%s failed (status %d): %s", argv[0],
			    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
			    used ? msg : "no message");
}

int pl_vm_run(char *const argv[], pl_error_t **err)
{
	return run_with(argv, NULL, NULL, err);
}

static long long tree_bytes, tree_entries;

static int count(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	/* a block of slack per entry stands for its inode and directory record */
	tree_bytes += (long long)st->st_blocks * 512 + 4096;
	tree_entries++;
	return 0;
}

void pl_vm_disk_geometry(long long bytes, long long entries, long long *size_k, long long *inodes)
{
	*size_k = (bytes + bytes / 4 + DISK_HEADROOM) / 1024;
	/* mkfs' default (one inode per 16 KiB) runs out on trees of many small files; a
	 * quarter more than the tree holds, plus room for what the container creates */
	*inodes = entries + entries / 4 + 16384;
}

typedef struct merged {
	const char *lowerdir;
	const char *mnt;
} merged_t;

/* In mkfs' process, before exec: the layers as one read-only tree nobody else sees. */
static int mount_merged(void *data)
{
	merged_t *m = data;
	if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -1;
	_cleanup_free_ char *opts = pl_xasprintf("lowerdir=%s", m->lowerdir);
	return mount("overlay", m->mnt, "overlay", MS_RDONLY, opts);
}

static char *disk_key(const char *lowerdir)
{
	gnutls_hash_hd_t h;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return NULL;
	gnutls_hash(h, lowerdir, strlen(lowerdir) + 1);
	/* a rootfs directory may be replaced in place: its identity is part of the key */
	_cleanup_free_ char *dirs = pl_xstrdup(lowerdir);
	char *save = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		struct stat st;
		if (stat(d, &st) == 0) {
			long long v[3] = {(long long)st.st_ino, (long long)st.st_mtim.tv_sec,
					  (long long)st.st_mtim.tv_nsec};
			gnutls_hash(h, v, sizeof(v));
		}
	}
	uint8_t dg[32];
	gnutls_hash_deinit(h, dg);
	char *hex = pl_xmalloc(33);
	for (int i = 0; i < 16; i++)
		sprintf(hex + 2 * i, "%02x", dg[i]);
	return hex;
}

char *pl_vm_base_disk(const char *cache_dir, const char *lowerdir, pl_error_t **err)
{
	_cleanup_free_ char *key = disk_key(lowerdir);
	if (!key) {
		pl_error_set(err, PL_ERR_INTERNAL, 0, "sha256");
		return NULL;
	}
	char *out = pl_xasprintf("%s/base-%s.ext4", cache_dir, key);
	if (access(out, R_OK) == 0)
		return out;
	tree_bytes = tree_entries = 0;
	_cleanup_free_ char *dirs = pl_xstrdup(lowerdir);
	char *save = NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if (nftw(d, count, 32, FTW_PHYS) < 0) {
			pl_error_errno(err, "root disk: measure %s", d);
			free(out);
			return NULL;
		}
	}
	long long size_k, inodes;
	pl_vm_disk_geometry(tree_bytes, tree_entries, &size_k, &inodes);
	char size[32], ninodes[32];
	snprintf(size, sizeof(size), "%lldk", size_k);
	snprintf(ninodes, sizeof(ninodes), "%lld", inodes);
	_cleanup_free_ char *tmp = pl_xasprintf("%s.%d.tmp", out, (int)getpid());
	_cleanup_free_ char *mnt = NULL;
	merged_t m = {.lowerdir = lowerdir};
	const char *src = lowerdir;
	if (strchr(lowerdir, ':')) {
		mnt = pl_xasprintf("%s/merge.%d", cache_dir, (int)getpid());
		if (mkdir(mnt, 0700) < 0 && errno != EEXIST) {
			pl_error_errno(err, "root disk: mkdir %s", mnt);
			free(out);
			return NULL;
		}
		m.mnt = src = mnt;
	}
	char *const argv[] = {"/usr/sbin/mkfs.ext4",
			      "-q",
			      "-F",
			      "-m",
			      "0",
			      "-L",
			      "pl-root",
			      "-E",
			      "lazy_itable_init=0,lazy_journal_init=0",
			      "-N",
			      ninodes,
			      "-d",
			      (char *)src,
			      tmp,
			      size,
			      NULL};
	int r = run_with(argv, mnt ? mount_merged : NULL, &m, err);
	if (mnt)
		rmdir(mnt);
	if (r == 0 && rename(tmp, out) < 0)
		r = pl_error_errno(err, "rename %s", tmp);
	if (r < 0) {
		unlink(tmp);
		free(out);
		pl_error_wrap(err, "root disk from %s", lowerdir);
		return NULL;
	}
	return out;
}

int pl_vm_overlay_disk(const char *path, const char *base, pl_error_t **err)
{
	if (access(path, F_OK) == 0)
		return 0;
	_cleanup_free_ char *tmp = pl_xasprintf("%s.tmp", path);
	char *const argv[] = {"/usr/bin/qemu-img", "create", "-q",  "-f", "qcow2", "-b",
			      (char *)base,	   "-F",     "raw", tmp,  NULL};
	if (run_with(argv, NULL, NULL, err) < 0 || rename(tmp, path) < 0) {
		if (err && !*err)
			pl_error_errno(err, "rename %s", tmp);
		unlink(tmp);
		return pl_error_wrap(err, "container disk");
	}
	return 0;
}

/* Whether pid runs (a zombie does not: it writes nothing, and its pid is not reused until
 * someone reaps it). */
static bool pid_runs(long pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno != ENOENT;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return true;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return !(p && p[1] == ' ' && p[2] == 'Z');
}

void pl_vm_cache_clean(const char *cache_dir)
{
	_cleanup_close_ int dfd = open(cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(fcntl(dfd, F_DUPFD_CLOEXEC, 3)) : NULL;
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		/* NAME.PID.tmp files, merge.PID and probe.PID.console of a launcher that is gone */
		const char *n = de->d_name, *dot = NULL;
		bool dir = false;
		size_t len = strlen(n);
		if (len > 4 && strcmp(n + len - 4, ".tmp") == 0) {
			const char *p = n + len - 5;
			while (p > n && *p >= '0' && *p <= '9')
				p--;
			dot = *p == '.' ? p + 1 : NULL;
		} else if (strncmp(n, "merge.", 6) == 0) {
			dot = n + 6;
			dir = true;
		} else if (strncmp(n, "probe.", 6) == 0) {
			dot = n + 6;
		}
		if (!dot)
			continue;
		char *end;
		long pid = strtol(dot, &end, 10);
		if (end == dot || pid <= 0 || pid_runs(pid))
			continue;
		unlinkat(dfd, n, dir ? AT_REMOVEDIR : 0);
	}
	closedir(d);
}

char *pl_vm_base_disk_cached(const char *cache_dir, const char *lowerdir)
{
	_cleanup_free_ char *key = disk_key(lowerdir);
	if (!key)
		return NULL;
	char *out = pl_xasprintf("%s/base-%s.ext4", cache_dir, key);
	if (access(out, R_OK) == 0)
		return out;
	free(out);
	return NULL;
}

long long pl_vm_disk_size(const char *qcow2)
{
	/* QCowHeader: magic "QFI\xfb", version, backing file offset and size, cluster bits,
	 * then the virtual size (big-endian) at byte 24 */
	uint8_t h[32];
	_cleanup_close_ int fd = open(qcow2, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || pread(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    memcmp(h, "QFI\xfb", 4) != 0)
		return -1;
	long long size = 0;
	for (int i = 24; i < 32; i++)
		size = (size << 8) | h[i];
	return size;
}
