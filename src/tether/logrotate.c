/* SPDX-License-Identifier: Apache-2.0 */
/* tether's half of log rotation. tether never holds a directory of the host (a container
 * with SYS_PTRACE could reach it through /proc/1/fd), so it cannot rename files: when its
 * log reaches log_max_size it asks the daemon (LOG_ROTATE); the daemon renames
 * container.log to container.log.1 (and so on, dropping the oldest), opens a fresh
 * container.log and sends it back on the control socket (LOG_ROTATED with the fd as
 * SCM_RIGHTS). Records keep going to the old file until then, so nothing is lost and the
 * files stay in order (a file may exceed the limit by what came meanwhile). While no
 * daemon answers (it is down), the log may grow to twice the limit and 1 MiB; past that
 * records are dropped (counted) rather than filling the disk. */
#include "tether/tether.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_QUEUED 4
#define OVERSHOOT  (1u << 20)

static struct {
	uint64_t max;  /* 0: no rotation */
	uint64_t size; /* of the file FD_LOG is */
	bool asked;    /* a LOG_ROTATE is outstanding */
	int fds[MAX_QUEUED];
	int nfds;
	uint64_t dropped;
} R;

void pl_logrot_configure(uint64_t max_size)
{
	R.max = max_size;
	struct stat st;
	R.size = fstat(FD_LOG, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Counts n bytes into the file and says whether to ask for a new one now. */
static bool count(size_t n, bool ready)
{
	R.size += n;
	if (!R.max || R.size < R.max || R.asked || !ready)
		return false;
	R.asked = true;
	return true;
}

bool pl_logrot_admit(size_t n, bool ready, bool *ask)
{
	/* a pipe read can hold 64 KiB of output, all logged before the daemon's answer is
	 * read: the cap leaves room for a few of those */
	*ask = false;
	if (R.max && R.size + n > 2 * R.max + OVERSHOOT) {
		R.dropped++;
		return false;
	}
	*ask = count(n, ready);
	return true;
}

bool pl_logrot_reconnected(bool ready)
{
	while (R.nfds > 0)
		close(R.fds[--R.nfds]);
	R.asked = false;
	return count(0, ready); /* asks again if the log is (still) full */
}

const char *pl_logrot_on_rotated(bool ready, bool *ask)
{
	*ask = false;
	if (R.nfds == 0)
		return "LOG_ROTATED without a file descriptor";
	int fd = R.fds[0];
	memmove(R.fds, R.fds + 1, (size_t)--R.nfds * sizeof(int));
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || dup2(fd, FD_LOG) < 0) {
		close(fd);
		return "LOG_ROTATED: not a usable log file";
	}
	close(fd);
	R.size = (uint64_t)st.st_size;
	R.asked = false;
	*ask = count(0, ready);
	return NULL;
}

/* pl_frame_reader_fill, with file descriptors that come along (SCM_RIGHTS) queued for
 * LOG_ROTATED; any others are closed. */
long pl_logrot_fill(pl_frame_reader_t *r, int fd)
{
	uint8_t buf[65536];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * MAX_QUEUED)];
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = ctl.b,
			   .msg_controllen = sizeof(ctl.b)};
	static bool not_socket; /* a VM's control channel is a virtio-serial port */
	if (not_socket)
		return pl_frame_reader_fill(r, fd);
	ssize_t n;
	do
		n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == ENOTSOCK) {
		not_socket = true;
		return pl_frame_reader_fill(r, fd);
	}
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *fds = (int *)CMSG_DATA(c);
		for (size_t i = 0; i < k; i++) {
			if (R.nfds < MAX_QUEUED)
				R.fds[R.nfds++] = fds[i];
			else
				close(fds[i]);
		}
	}
	if (n > 0 && pl_frame_reader_feed(r, buf, (size_t)n) < 0)
		return -ENOMEM;
	return (long)n;
}
