/* SPDX-License-Identifier: Apache-2.0 */
#include "docker/docker.h"
#include "common/util.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void dk_pump(int client_fd, const char *extra, size_t extra_len, int pl_fd, bool tty,
	     const char *detach_keys)
{
	uint8_t keys[16];
	int nkeys = pl_detach_keys_parse(detach_keys ? detach_keys : "ctrl-p,ctrl-q", keys);
	if (extra_len)
		write_all(pl_fd, extra, extra_len);
	bool client_open = true;
	char buf[32 * 1024];
	for (;;) {
		struct pollfd p[2] = {{.fd = pl_fd, .events = POLLIN},
				      {.fd = client_open ? client_fd : -1, .events = POLLIN}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents) {
			ssize_t n = read(pl_fd, buf, sizeof(buf));
			if (n <= 0)
				break; /* the session ended (or detached) */
			if (write_all(client_fd, buf, (size_t)n) < 0)
				break;
		}
		if (client_open && p[1].revents) {
			ssize_t n = read(client_fd, buf, sizeof(buf));
			if (n <= 0 && tty) {
				/* As Docker: a terminal's client going away (the CLI spots the
				 * detach keys itself and just leaves) leaves the process and its
				 * stdin alone. The port layer detaches on the same keys. */
				if (nkeys > 0 &&
				    write_all(pl_fd, (const char *)keys, (size_t)nkeys) == 0)
					while (read(pl_fd, buf, sizeof(buf)) > 0)
						;
				break;
			} else if (n <= 0) {
				/* the client half-closed: the process's stdin ends */
				client_open = false;
				shutdown(pl_fd, SHUT_WR);
			} else if (write_all(pl_fd, buf, (size_t)n) < 0) {
				client_open = false;
			}
		}
	}
	shutdown(client_fd, SHUT_WR);
}
