/* SPDX-License-Identifier: Apache-2.0 */
/* The client's HTTP/1.1 transport (src/client/client.c) against a scripted server on a unix
 * socket: Content-Length and chunked answers, a keep-alive connection the server closed while
 * idle (the request is sent again once on a new one), error answers, uploads, and the
 * one-segment escaping of ids. The server is a thread of this test: each scripted answer is
 * written whole after the request (head and its Content-Length body) was read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client/client.h"
#include "common/cleanup.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { MAX_STEPS = 8 };

/* One scripted exchange: the answer to write, then whether to close the connection. */
typedef struct step {
	const char *answer;
	bool close_after;
} step_t;

typedef struct server {
	char path[108];
	int listen_fd;
	pthread_t thread;
	step_t steps[MAX_STEPS];
	int n_steps;
	int connections;		/* accepted so far */
	char requests[MAX_STEPS][4096]; /* each request as read (head and body) */
} server_t;

/* Reads one request: the head, then Content-Length bytes or a chunked body to its end. */
static ssize_t read_request(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	for (;;) {
		buf[len] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (end) {
			size_t head = (size_t)(end + 4 - buf);
			const char *cl = strcasestr(buf, "Content-Length:");
			size_t want = head + (cl && cl < end ? strtoul(cl + 15, NULL, 10) : 0);
			bool chunked = strcasestr(buf, "Transfer-Encoding: chunked") != NULL;
			if (chunked ? strstr(end + 4, "0\r\n\r\n") != NULL : len >= want)
				return (ssize_t)len;
		}
		if (len + 1 >= cap)
			return -EMSGSIZE;
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			return n < 0 ? -errno : 0;
		len += (size_t)n;
	}
}

static void *serve(void *arg)
{
	server_t *s = arg;
	int fd = -1;
	for (int i = 0; i < s->n_steps; i++) {
		if (fd < 0) {
			fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0)
				return NULL;
			s->connections++;
		}
		if (read_request(fd, s->requests[i], sizeof(s->requests[i])) <= 0) {
			/* the client dropped this connection: take the step on the next one */
			fd = pl_close(fd);
			i--;
			continue;
		}
		const char *a = s->steps[i].answer;
		if (write(fd, a, strlen(a)) != (ssize_t)strlen(a))
			break;
		if (s->steps[i].close_after)
			fd = pl_close(fd);
	}
	pl_close(fd);
	return NULL;
}

static server_t *server_start(const step_t *steps, int n)
{
	server_t *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	snprintf(s->path, sizeof(s->path), "/tmp/pl-test-client-%d-%p.sock", getpid(), (void *)s);
	unlink(s->path);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
	assert_int_equal(bind(s->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->listen_fd, 4), 0);
	memcpy(s->steps, steps, (size_t)n * sizeof(*steps));
	s->n_steps = n;
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
	return s;
}

/* Waits for the script's end; the caller reads what the server saw, then frees it. */
static void server_stop(server_t *s)
{
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
	unlink(s->path);
}

static char *ok_json(const char *body)
{
	char *s = NULL;
	assert_true(asprintf(&s,
			     "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			     "Content-Length: %zu\r\n\r\n%s",
			     strlen(body), body) > 0);
	return s;
}

/* Two requests on one keep-alive connection: Content-Length, then chunked with the chunks
 * delivered in order. */
static int collect(const char *data, size_t len, void *userdata)
{
	strncat(userdata, data, len);
	return 0;
}

static void test_keepalive_and_chunked(void **state)
{
	_cleanup_free_ char *first = ok_json("{\"a\":1}");
	step_t steps[] = {
	    {first, false},
	    {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	     "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
	     false},
	};
	server_t *s = server_start(steps, 2);
	_cleanup_error_ pl_error_t *err = NULL;
	pl_client_t *c = pl_client_new(s->path, &err);
	assert_non_null(c);
	json_t *resp = NULL, *body = json_pack("{s:s}", "k", "v");
	long status = 0;
	assert_int_equal(pl_client_request(c, "POST", "/things", body, &status, &resp, &err), 0);
	json_decref(body); /* the caller's still */
	assert_int_equal(status, 200);
	assert_int_equal(json_integer_value(json_object_get(resp, "a")), 1);
	json_decref(resp);
	char got[64] = "";
	assert_int_equal(pl_client_stream(c, "/logs?follow=1", collect, got, &err), 0);
	assert_string_equal(got, "hello world");
	pl_client_free(c);
	server_stop(s);
	assert_int_equal(s->connections, 1);
	assert_non_null(strstr(s->requests[0], "POST /v1/things HTTP/1.1\r\n"));
	assert_non_null(strstr(s->requests[0], "\r\n\r\n{\"k\":\"v\"}"));
	assert_non_null(strstr(s->requests[1], "GET /v1/logs?follow=1 HTTP/1.1\r\n"));
	free(s);
}

/* The server closes the keep-alive connection while idle: the next request finds it dead
 * before any answer, and is sent once more on a new connection. */
static void test_idle_close_is_retried(void **state)
{
	_cleanup_free_ char *a = ok_json("{\"n\":1}"), *b = ok_json("{\"n\":2}");
	step_t steps[] = {{a, true}, {b, false}};
	server_t *s = server_start(steps, 2);
	_cleanup_error_ pl_error_t *err = NULL;
	pl_client_t *c = pl_client_new(s->path, &err);
	json_t *resp = NULL;
	assert_int_equal(pl_client_request(c, "GET", "/one", NULL, NULL, &resp, &err), 0);
	json_decref(resp);
	assert_int_equal(pl_client_request(c, "GET", "/two", NULL, NULL, &resp, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(resp, "n")), 2);
	json_decref(resp);
	pl_client_free(c);
	server_stop(s);
	assert_int_equal(s->connections, 2);
	free(s);
}

/* An error answer becomes *err: the daemon's message, the kind from the status. */
static void test_error_answer(void **state)
{
	step_t steps[] = {{"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
			   "Content-Length: 35\r\n\r\n{\"message\":\"no such container: x1\"}",
			   false}};
	server_t *s = server_start(steps, 1);
	_cleanup_error_ pl_error_t *err = NULL;
	pl_client_t *c = pl_client_new(s->path, &err);
	long status = 0;
	assert_true(pl_client_request(c, "DELETE", "/containers/x1", NULL, &status, NULL, &err) <
		    0);
	assert_int_equal(status, 404);
	assert_int_equal(err->kind, PL_ERR_NOTFOUND);
	assert_string_equal(err->msg, "no such container: x1");
	pl_client_free(c);
	server_stop(s);
	assert_non_null(strstr(s->requests[0], "Content-Length: 0\r\n"));
	free(s);
}

/* An upload of unknown size goes chunked; the answer's JSON comes back. */
static void test_upload_chunked(void **state)
{
	_cleanup_free_ char *a = ok_json("{\"ok\":true}");
	step_t steps[] = {{a, false}};
	server_t *s = server_start(steps, 1);
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "tardata", 7), 7);
	close(p[1]);
	_cleanup_error_ pl_error_t *err = NULL;
	pl_client_t *c = pl_client_new(s->path, &err);
	json_t *resp = NULL;
	assert_int_equal(pl_client_upload(c, "PUT", "/archive?path=%2F", p[0], -1,
					  "application/x-tar", NULL, &resp, &err),
			 0);
	assert_true(json_is_true(json_object_get(resp, "ok")));
	json_decref(resp);
	close(p[0]);
	pl_client_free(c);
	server_stop(s);
	assert_non_null(strstr(s->requests[0], "Transfer-Encoding: chunked\r\n"));
	assert_non_null(strstr(s->requests[0], "\r\n\r\n7\r\ntardata\r\n0\r\n\r\n"));
	free(s);
}

/* No server: the connect's errno and the host in the message. */
static void test_no_daemon(void **state)
{
	_cleanup_error_ pl_error_t *err = NULL;
	pl_client_t *c = pl_client_new("unix:///nonexistent/pl-test.sock", &err);
	assert_non_null(c); /* no I/O until a request */
	assert_true(pl_client_ping(c, &err) < 0);
	assert_non_null(strstr(err->msg, "cannot connect to the port layer at"));
	pl_client_free(c);
}

static void test_escape(void **state)
{
	_cleanup_free_ char *e = pl_client_escape(NULL, "a b/c:d~_.-é");
	assert_string_equal(e, "a%20b%2Fc%3Ad~_.-%C3%A9");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keepalive_and_chunked),
	    cmocka_unit_test(test_idle_close_is_retried),
	    cmocka_unit_test(test_error_answer),
	    cmocka_unit_test(test_upload_chunked),
	    cmocka_unit_test(test_no_daemon),
	    cmocka_unit_test(test_escape),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
