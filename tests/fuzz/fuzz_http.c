/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the HTTP request path as the daemon runs it: libmicrohttpd in external
 * epoll mode on our loop, our accept, the %00 check, route matching ({param}, {ref*},
 * suffixes, 404/405), query and header lookups, JSON bodies and a streamed reply. The
 * input is what a client writes on the socket; whatever it is, the daemon answers with
 * something that starts like HTTP or closes, and never crashes or leaks. */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/loop.h"
#include "daemon/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void h_echo(pl_req_t *r, void *app)
{
	json_t *o = json_object();
	const char *p = pl_req_param(r), *p2 = pl_req_param2(r);
	json_object_set_new(o, "param", p ? json_string(p) : json_null());
	json_object_set_new(o, "param2", p2 ? json_string(p2) : json_null());
	const char *q = pl_req_query(r, "filters");
	if (q)
		json_object_set_new(o, "filters", json_string(q));
	bool b;
	pl_error_t *e = NULL;
	if (pl_req_query_bool(r, "force", false, &b, &e) < 0) {
		pl_reply_error(r, e);
		pl_error_free(e);
		json_decref(o);
		return;
	}
	json_object_set_new(o, "upgrade", json_boolean(pl_req_wants_upgrade(r)));
	pl_reply_json(r, 200, o);
}

static void h_body(pl_req_t *r, void *app)
{
	pl_error_t *e = NULL;
	json_t *j = pl_req_json(r, &e);
	if (!j) {
		pl_reply_error(r, e);
		pl_error_free(e);
		return;
	}
	pl_reply_json(r, 201, j);
}

static ssize_t stream3(pl_req_t *r, char *buf, size_t max, void *data)
{
	int *n = data;
	if ((*n)++ >= 3)
		return -1;
	return snprintf(buf, max, "chunk %d\n", *n);
}

static void h_stream(pl_req_t *r, void *app)
{
	int *n = calloc(1, sizeof(*n));
	pl_reply_stream(r, 200, "text/plain", stream3, n, free);
}

static const pl_route_t routes[] = {
    {"GET", "/_ping", h_echo},
    {"POST", "/containers", h_body},
    {"GET", "/containers/{id}", h_echo},
    {"DELETE", "/containers/{id}", h_echo},
    {"GET", "/containers/{id}/logs", h_stream},
    {"POST", "/containers/{id}/exec", h_body},
    {"POST", "/images/import", h_body},
    {"POST", "/images/{ref*}/push", h_echo},
    {"GET", "/images/{ref*}", h_echo},
    {"DELETE", "/images/{ref*}", h_echo},
    {"PUT", "/kv/{key*}", h_body},
    {"POST", "/handles/{h}/{op}", h_body},
    {NULL, NULL, NULL},
};

static pl_loop_t *loop;
static pl_http_t *http;
static struct sockaddr_un addr;

static void quit(pl_loop_t *l, void *data)
{
	pl_loop_quit(l);
}

static void spin(void)
{
	pl_loop_timer(loop, 0, quit, NULL, NULL); /* one pass over what is ready */
	if (pl_loop_run(loop, NULL) < 0)
		abort();
}

static void setup(void)
{
	pl_log_set_level(PL_LOG_ERROR);
	loop = pl_loop_new(NULL);
	http = pl_http_new(loop, routes, NULL);
	pl_http_set_limits(http, 8, 1);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	addr.sun_family = AF_UNIX;
	snprintf(addr.sun_path + 1, sizeof(addr.sun_path) - 1, "pl-fuzz-http-%d", getpid());
	socklen_t len =
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(addr.sun_path + 1));
	if (!loop || !http || lfd < 0 || bind(lfd, (struct sockaddr *)&addr, len) < 0 ||
	    listen(lfd, 16) < 0 || pl_http_listen(http, lfd, NULL, NULL) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!loop)
		setup();
	int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	socklen_t len =
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(addr.sun_path + 1));
	if (c < 0 || connect(c, (struct sockaddr *)&addr, len) < 0)
		abort();
	fcntl(c, F_SETFL, O_NONBLOCK);
	size_t off = 0;
	char buf[4096];
	bool eof = false, first = true;
	for (int i = 0; i < 400 && !eof; i++) {
		if (off < size) {
			ssize_t n = write(c, data + off, size - off);
			if (n > 0)
				off += (size_t)n;
			if (off == size)
				shutdown(c, SHUT_WR);
		} else if (off == 0 && size == 0 && i == 0) {
			shutdown(c, SHUT_WR);
		}
		spin();
		for (;;) {
			ssize_t n = read(c, buf, sizeof(buf));
			if (n == 0) {
				eof = true;
				break;
			}
			if (n < 0)
				break;
			if (first && (n < 5 || memcmp(buf, "HTTP/", 5) != 0))
				abort(); /* an answer that is not HTTP */
			first = false;
		}
	}
	close(c);
	/* let the daemon side see the close and free the connection */
	for (int i = 0; i < 3; i++)
		spin();
	return 0;
}
