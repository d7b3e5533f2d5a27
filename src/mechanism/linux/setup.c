/* SPDX-License-Identifier: Apache-2.0 */
/* A prepared domain's set-up at its take (setup.h), linked into pl-tether. */
#include "mechanism/linux/setup.h"
#include "mechanism/linux/rootfs.h"
#include "common/fs.h"
#include "common/util.h"
#include "common/cleanup.h"
#include "common/phase.h"
#include "proto/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SPEC_MAX (1 << 20)

int pl_linux_wait_go(int ctl, pl_error_t **err)
{
	uint8_t hdr[PL_FRAME_HDR_LEN];
	int r = pl_read_exact(ctl, hdr, sizeof(hdr));
	if (r < 0)
		return pl_error_set(err, PL_ERR_INTERNAL, -r, "wait for placement");
	pl_frame_hdr_t h;
	if (pl_frame_hdr_decode(hdr, &h) < 0 || h.type != PL_MSG_GO || h.len != 0)
		return pl_error_set(err, PL_ERR_INTERNAL, EPROTO, "wait for placement");
	return 0;
}

/* The domain's last steps of its own before GO, taken while the daemon makes its network
 * endpoints (which the pivot does not need: their ends are set up through fds and the
 * daemon): its cgroup namespace (its cgroups are its own since before the spec or the
 * clone), the pivot onto its root, a keyring of its own (the daemon's session keys are
 * not the container's). */
int pl_linux_enter_root(int root, int ahead, pl_error_t **err)
{
	if (unshare(CLONE_NEWCGROUP) < 0)
		return pl_error_errno(err, "unshare cgroup namespace");
	pl_phase_child_mark("dom.cgroupns");
	if ((ahead >= 0 ? pl_rootfs_enter_ahead(root, ahead, err) : pl_rootfs_enter(root, err)) < 0)
		return -1;
	pl_phase_child_mark("dom.pivot_root");
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0)
		return pl_error_errno(err, "join a new session keyring");
	return 0;
}

typedef struct mount_line {
	long id, parent;
	uint64_t own; /* its own fields' hash */
} mount_line_t;

static int by_id(const void *a, const void *b)
{
	long x = ((const mount_line_t *)a)->id, y = ((const mount_line_t *)b)->id;
	return (x > y) - (x < y);
}

int pl_linux_mounts_digest(const char *skip, char out[17])
{
	_cleanup_free_ char *table = NULL;
	size_t len = 0;
	if (pl_read_file_at(AT_FDCWD, "/proc/self/mountinfo", &table, &len, 1 << 22, NULL) < 0)
		return -1;
	size_t cap = 1;
	for (size_t i = 0; i < len; i++)
		cap += table[i] == '\n';
	_cleanup_free_ mount_line_t *m = pl_xcalloc(cap, sizeof(*m));
	size_t n_m = 0;
	char *lsave = NULL;
	for (char *line = strtok_r(table, "\n", &lsave); line && n_m < cap;
	     line = strtok_r(NULL, "\n", &lsave)) {
		/* id parent maj:min root point options [optional...] - type source superopts */
		char *save = NULL, *field[16];
		int n = 0;
		for (char *t = strtok_r(line, " ", &save); t && n < 16;
		     t = strtok_r(NULL, " ", &save))
			field[n++] = t;
		int dash = 6;
		while (dash < n && strcmp(field[dash], "-") != 0)
			dash++;
		if (n < 6 || dash >= n || (skip && pl_path_under(field[4], skip)))
			continue;
		uint64_t h = PL_FNV1A_INIT;
		for (int i = 2; i < n; i++)
			if (i < 6 || i > dash)
				h = pl_fnv1a(field[i], strlen(field[i]) + 1, h);
		m[n_m++] = (mount_line_t){.id = atol(field[0]), .parent = atol(field[1]), .own = h};
	}
	/* each mount with what it is mounted on (ids differ in a copy, what they name does
	 * not): mounts stacked in another order give another digest */
	qsort(m, n_m, sizeof(*m), by_id);
	uint64_t sum = 0;
	for (size_t i = 0; i < n_m; i++) {
		mount_line_t key = {.id = m[i].parent};
		const mount_line_t *p = bsearch(&key, m, n_m, sizeof(*m), by_id);
		uint64_t under_it = p ? p->own : 0;
		sum += pl_fnv1a(&under_it, sizeof(under_it), m[i].own);
	}
	snprintf(out, 17, "%016llx", (unsigned long long)(sum ^ (n_m * 0x9e3779b97f4a7c15ULL)));
	return 0;
}

json_t *pl_linux_spec_receive(int ctl, int fds[PL_SPEC_FDS], int *nfds)
{
	uint32_t len = 0;
	char cbuf[CMSG_SPACE(sizeof(int) * PL_SPEC_FDS)];
	struct iovec iov = {.iov_base = &len, .iov_len = sizeof(len)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ssize_t n;
	do
		n = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(len) || len == 0 || len > SPEC_MAX)
		return NULL; /* the daemon is gone (EOF): so are we */
	*nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			*nfds = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			if (*nfds > PL_SPEC_FDS)
				*nfds = PL_SPEC_FDS;
			memcpy(fds, CMSG_DATA(c), sizeof(int) * (size_t)*nfds);
		}
	_cleanup_free_ char *buf = malloc(len + 1);
	if (!buf)
		return NULL;
	size_t got = 0;
	while (got < len) {
		n = read(ctl, buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		got += (size_t)n;
	}
	return json_loadb(buf, len, 0, NULL);
}

/* Puts fds at 4, 5, 6 whatever their numbers now (close-on-exec cleared: tether marks its
 * own). */
static int place(const int fds[3])
{
	int high[3];
	for (int i = 0; i < 3; i++)
		if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64)) < 0)
			return -1;
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	for (int i = 0; i < 3; i++) {
		if (dup2(high[i], 4 + i) < 0)
			return -1;
		close(high[i]);
	}
	return 0;
}

/* Runs in tether (PID 1 of the domain, exec'd before the take with the control socket on
 * fd 3 and the phase page on fd 4): everything the description decides. */
int pl_linux_prepared_setup(const char *stage_dir)
{
	int ctl = 3;
	/* nothing in the domain may read tether's memory or fds (/proc/1/...), from now on */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	void *pg = mmap(NULL, sizeof(pl_phase_page_t), PROT_READ | PROT_WRITE, MAP_SHARED, 4, 0);
	pl_phase_child_page = pg == MAP_FAILED ? NULL : pg;
	close(4);
	int v6conf = -1;
	pl_phase_page_t *page = pl_phase_child_page; /* its steps count from the take */
	pl_phase_child_page = NULL;
	int staged = pl_rootfs_stage(stage_dir, &v6conf);
	pl_phase_child_page = page;
	/* our mount table's digest, for a take that finds the daemon's changed since we were
	 * made: ahead once the staging made our namespace private (nothing propagates into it
	 * or is mounted in it from now on), else at the take */
	char mine[17];
	bool have_mine = staged >= 0 && pl_linux_mounts_digest(stage_dir, mine) == 0;
	/* the pivot too, once our table's digest is taken (it changes the table) */
	int ahead = have_mine ? pl_rootfs_pivot_ahead(stage_dir) : -1;
	int fds[PL_SPEC_FDS] = {-1, -1, -1, -1, -1}, nfds = 0;
	json_t *j = pl_linux_spec_receive(ctl, fds, &nfds);
	if (!j || nfds < 4)
		_exit(0);
	pl_phase_child_mark("dom.prepared_receive");
	/* a container's process must outlive the daemon, as in the ordinary path */
	prctl(PR_SET_PDEATHSIG, 0);
	pl_security_t sec = {0};
	sec.read_only_rootfs = json_is_true(json_object_get(j, "read_only_rootfs"));
	sec.tmpfs = json_object_get(j, "tmpfs");
	sec.sysctls = json_object_get(j, "sysctls");
	json_t *oom = json_object_get(j, "oom_score_adj");
	sec.has_oom_score_adj = json_is_integer(oom);
	sec.oom_score_adj = (int)json_integer_value(oom);
	pl_domain_spec_t spec = {
	    .id = json_string_value(json_object_get(j, "id")),
	    .domain_dirfd = -1,
	    .domain_dir = json_string_value(json_object_get(j, "domain_dir")),
	    .run_dirfd = -1,
	    .security = &sec,
	    .hostname = json_string_value(json_object_get(j, "hostname")),
	    .lowerdir = json_string_value(json_object_get(j, "lowerdir")),
	    .disposable_rootfs = json_is_true(json_object_get(j, "disposable_rootfs")),
	    .netns_fd = -1,
	    .host = {.shm_size = json_integer_value(json_object_get(j, "shm_size")),
		     .domainname = json_string_value(json_object_get(j, "domainname"))},
	};
	pl_domain_mount_t *mounts = NULL;
	pl_domain_endpoint_t *endpoints = NULL;
	if (!spec.domain_dir || !spec.hostname || !spec.lowerdir ||
	    pl_domain_mounts_parse(json_object_get(j, "mounts"), &mounts, &spec.n_mounts) < 0 ||
	    pl_domain_endpoints_parse(json_object_get(j, "endpoints"), &endpoints,
				      &spec.n_endpoints) < 0)
		_exit(1);
	spec.mounts = mounts;
	spec.endpoints = endpoints;
	pl_error_t *e = NULL;
	/* the host's mounts as they are now, not as they were when we were made (a mount
	 * made since in a daemon with private propagation would be missing, and a bind of
	 * its path would bind what it covers): a fresh copy of the daemon's namespace. Unless
	 * the daemon saw no change of its mount table since before we were made: then ours,
	 * copied from it then, is what a fresh copy would be, and the copy (and dropping our
	 * first namespace, an RCU grace period) leave the critical path (prepared.c). */
	/* the daemon's table saw events since we were made: ours is still a true copy when
	 * what it holds is the same (a mount and its unmount since) */
	const char *digest = json_string_value(json_object_get(j, "mounts_digest"));
	bool same = json_is_true(json_object_get(j, "mounts_unchanged"));
	if (!same && digest && !have_mine)
		have_mine = pl_linux_mounts_digest(stage_dir, mine) == 0;
	same = same || (digest && have_mine && !strcmp(mine, digest));
	if (digest)
		pl_phase_child_mark("dom.mounts_compared");
	if (!same) {
		if (setns(fds[3], CLONE_NEWNS) < 0 || unshare(CLONE_NEWNS) < 0) {
			pl_error_errno(&e, "copy the daemon's mount namespace");
			pl_domain_fail(ctl, e, "domain set-up failed");
		}
		staged = pl_close(staged); /* made in our first namespace */
		ahead = pl_close(ahead);   /* so was the root made ahead */
		pl_phase_child_mark("dom.mounts_copy");
	}
	close(fds[3]);
	/* a pooled (or a pod's) network namespace instead of the one made for us */
	if (nfds > 4 && setns(fds[4], CLONE_NEWNET) < 0) {
		pl_error_errno(&e, "enter pooled network namespace");
		pl_domain_fail(ctl, e, "domain set-up failed");
	}
	if (nfds > 4) {
		close(fds[4]);
		v6conf = pl_close(v6conf); /* it was our first namespace's */
		staged = pl_close(staged); /* its sysfs too */
	}
	/* log, exit record, reconnect socket where tether finds them (tether-protocol.md) */
	if (place(fds) < 0) {
		pl_error_errno(&e, "arrange tether's fds");
		pl_domain_fail(ctl, e, "domain set-up failed");
	}
	int root = pl_rootfs_prepare(&spec, NULL, staged, &v6conf, &e);
	staged = pl_close(staged);
	if (root < 0)
		pl_domain_fail(ctl, e, "domain set-up failed");
	if (pl_linux_enter_root(root, ahead, &e) < 0)
		pl_domain_fail(ctl, e, "domain set-up failed");
	close(root);
	pl_close(ahead);
	if (pl_linux_wait_go(ctl, &e) < 0)
		pl_domain_fail(ctl, e, "domain set-up failed");
	pl_phase_child_mark("dom.wait_go");
	pl_rootfs_endpoints_no_ipv6(&spec, v6conf); /* after GO: its endpoints exist, still down */
	v6conf = pl_close(v6conf);
	/* nothing else the set-up opened may reach tether's loop (its 0-2 and 3-6 stay) */
	close_range(7, ~0U, 0);
	free(mounts);
	free(endpoints);
	json_decref(j);
	if (pl_phase_child_page)
		munmap(pl_phase_child_page, sizeof(pl_phase_page_t));
	pl_phase_child_page = NULL;
	return 0;
}
