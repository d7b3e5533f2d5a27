/* SPDX-License-Identifier: Apache-2.0 */
#include "common/listen.h"
#include "common/cleanup.h"

#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

int pl_listen_tcp(const char *flag, const char *addr, pl_error_t **err)
{
	_cleanup_free_ char *host = pl_xstrdup(addr);
	char *colon = strrchr(host, ':');
	if (!colon)
		return pl_error_set(err, PL_ERR_INVALID, 0, "%s%s: want ADDR:PORT", flag, addr);
	*colon = '\0';
	const char *h = host;
	if (*h == '[') { /* [::1]:2376 */
		h++;
		host[strlen(host) - 1] = '\0';
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(*h ? h : NULL, colon + 1, &hints, &res);
	if (rc != 0)
		return pl_error_set(err, PL_ERR_INVALID, 0, "%s%s: %s", flag, addr,
				    gai_strerror(rc));
	int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		rc = pl_error_errno(err, "listen on %s", addr);
		freeaddrinfo(res);
		pl_close(fd);
		return rc;
	}
	freeaddrinfo(res);
	return fd;
}
