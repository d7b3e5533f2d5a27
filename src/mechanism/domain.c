/* SPDX-License-Identifier: Apache-2.0 */
/* What every mechanism does the same way with a domain's first process: see domain.h. */
#include "mechanism/mechanism.h"
#include "host/linux/proc.h"
#include "proto/frame.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

_Noreturn void pl_domain_fail(int ctl, pl_error_t *e, const char *fallback)
{
	/* the kind travels too: a mount target through a symlink is the caller's fault */
	json_t *j = json_pack("{s:s, s:i}", "message", e && e->msg ? e->msg : fallback, "kind",
			      e ? (int)e->kind : (int)PL_ERR_INTERNAL);
	char *s = json_dumps(j, JSON_COMPACT);
	if (ctl >= 0 && s)
		pl_frame_send(ctl, PL_MSG_ERROR, 0, s, strlen(s));
	_exit(1);
}

int pl_domain_reattach(pid_t pid, unsigned long long start_time, int run_dirfd,
		       const char *socket_name, pl_domain_t *out, pl_error_t **err)
{
	if (pid <= 0)
		return 0;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return errno == ESRCH ? 0 : pl_error_errno(err, "pidfd_open %d", pid);
	/* the pid may have been reused by an unrelated process since */
	if (start_time == 0 || pl_proc_start_time(pid) != start_time) {
		close(pidfd);
		return 0;
	}
	out->pid = pid;
	out->pidfd = pidfd;
	out->start_time = start_time;
	out->ctl_fd = pl_unix_connect_at(run_dirfd, socket_name);
	return 1;
}

int64_t pl_userns_host_id(const pl_idmap_t *map, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (id >= map[i].container_id && id - map[i].container_id < map[i].size)
			return (int64_t)map[i].host_id + (id - map[i].container_id);
	return -1;
}

int64_t pl_userns_container_id(const pl_idmap_t *map, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (id >= map[i].host_id && id - map[i].host_id < map[i].size)
			return (int64_t)map[i].container_id + (id - map[i].host_id);
	return -1;
}
