/* SPDX-License-Identifier: Apache-2.0 */
/* A linux domain's teardown handle: its mount namespace, held from the host. When the last
 * process of a mount namespace exits, that exit unmounts the whole tree (the overlay, proc,
 * sysfs, /dev, devpts, mqueue) and waits out an RCU grace period before the process is
 * gone (about 1 ms here, more on a loaded host): with a reference held elsewhere, tether's
 * exit only drops its own and its pidfd fires at once. The domain has no process left
 * either way; the namespace is reachable through this fd only, and closing it does the
 * unmounting. */
#include "mechanism/linux/shared.h"
#include "common/cleanup.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static bool same_file(int a, int b)
{
	struct stat x, y;
	return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_dev == y.st_dev &&
	       x.st_ino == y.st_ino;
}

int pl_linux_teardown_handle(const pl_mechanism_t *m, const pl_domain_t *dom)
{
	(void)m;
	if (dom->pid <= 0 || dom->pidfd < 0)
		return -1;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)dom->pid);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* still tether after the open (its pidfd has not fired): the pid was not reused */
	struct pollfd p = {.fd = dom->pidfd, .events = POLLIN};
	if (poll(&p, 1, 0) != 0)
		return -1;
	/* the host's own namespace (a domain that shares it) is not ours to hold */
	_cleanup_close_ int self = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (self < 0 || same_file(fd, self))
		return -1;
	return TAKE_FD(fd);
}
