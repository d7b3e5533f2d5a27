/* SPDX-License-Identifier: Apache-2.0 */
#include "docker/job.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef enum msg_kind {
	MSG_REPLY,
	MSG_STREAM,
	MSG_UPGRADE,
	MSG_DONE,
} msg_kind_t;

typedef struct msg {
	struct msg *next;
	dk_job_t *job;
	msg_kind_t kind;
	unsigned status;
	json_t *body; /* MSG_REPLY: NULL for an empty answer */
	char *content_type;
} msg_t;

struct dk_server {
	pl_loop_t *loop;
	char *portlayer;
	int qfd; /* eventfd: the queue has messages */
	pl_watch_t *qwatch;
	pthread_mutex_t lock;
	msg_t *head, *tail;
};

struct dk_job {
	dk_server_t *srv;
	dk_job_fn fn;
	int refs;      /* the thread's and the request's; under srv->lock */
	pl_req_t *req; /* loop side; NULL once the request ended */
	char *param, *arg;
	json_t *query, *query_all, *headers, *body, *extra_headers;
	int body_fd;
	pl_client_t *client;
	bool answered;
	/* streaming */
	bool streaming; /* dk_job_stream was called; under srv->lock */
	int pipe_r, pipe_w;
	pl_watch_t *pipe_watch;
	/* upgrade */
	pthread_cond_t cond;
	int up_fd;
	bool up_ready, up_failed;
	char *up_extra;
	size_t up_extra_len;
	void *up_handle;
};

static void job_unref(dk_job_t *j)
{
	pthread_mutex_lock(&j->srv->lock);
	bool last = --j->refs == 0;
	pthread_mutex_unlock(&j->srv->lock);
	if (!last)
		return;
	free(j->param);
	free(j->arg);
	if (j->query)
		json_decref(j->query);
	if (j->query_all)
		json_decref(j->query_all);
	if (j->headers)
		json_decref(j->headers);
	if (j->body)
		json_decref(j->body);
	if (j->extra_headers)
		json_decref(j->extra_headers);
	pl_close(j->body_fd);
	pl_close(j->pipe_r);
	pl_close(j->pipe_w);
	free(j->up_extra);
	pthread_cond_destroy(&j->cond);
	free(j);
}

static void post(dk_job_t *j, msg_t *m)
{
	dk_server_t *s = j->srv;
	m->job = j;
	pthread_mutex_lock(&s->lock);
	if (s->tail)
		s->tail->next = m;
	else
		s->head = m;
	s->tail = m;
	pthread_mutex_unlock(&s->lock);
	uint64_t one = 1;
	if (write(s->qfd, &one, sizeof(one)) < 0)
		pl_log_warn("dockerd: wake the loop: %m");
}

/* ---- loop side ---- */

static void on_req_gone(void *data)
{
	dk_job_t *j = data;
	pthread_mutex_lock(&j->srv->lock);
	j->req = NULL;
	if (!j->up_ready) {
		j->up_failed = true;
		pthread_cond_broadcast(&j->cond);
	}
	/* a thread still waiting on the port layer for the next byte of a stream nobody
	 * reads any more (an idle logs -f, events) ends now instead of at that byte */
	if (j->streaming && j->client)
		pl_client_interrupt(j->client);
	pthread_mutex_unlock(&j->srv->lock);
	if (j->pipe_watch)
		j->pipe_watch = pl_loop_unwatch(j->srv->loop, j->pipe_watch);
	j->pipe_r = pl_close(j->pipe_r); /* a writer still at it gets EPIPE */
	job_unref(j);
}

static ssize_t stream_produce(pl_req_t *req, char *buf, size_t max, void *data)
{
	dk_job_t *j = data;
	if (j->pipe_r < 0)
		return -1;
	ssize_t n = read(j->pipe_r, buf, max);
	if (n > 0)
		return n;
	if (n == 0)
		return -1; /* the job closed its end */
	return errno == EAGAIN ? 0 : -2;
}

static void on_pipe(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	dk_job_t *j = data;
	if (j->req)
		pl_req_wake(j->req);
}

static void on_upgraded(void *data, int fd, const char *extra, size_t extra_len, void *handle)
{
	dk_job_t *j = data;
	pthread_mutex_lock(&j->srv->lock);
	j->up_fd = fd;
	j->up_handle = handle;
	if (extra_len) {
		j->up_extra = pl_xmalloc(extra_len);
		memcpy(j->up_extra, extra, extra_len);
		j->up_extra_len = extra_len;
	}
	j->up_ready = true;
	pthread_cond_broadcast(&j->cond);
	pthread_mutex_unlock(&j->srv->lock);
}

static void apply_headers(dk_job_t *j)
{
	const char *k;
	json_t *v;
	json_object_foreach(j->extra_headers, k, v)
	    pl_req_add_header(j->req, k, json_string_value(v));
}

static void handle_msg(dk_server_t *s, msg_t *m)
{
	dk_job_t *j = m->job;
	switch (m->kind) {
	case MSG_REPLY:
		if (j->req) {
			apply_headers(j);
			if (m->body)
				pl_reply_json(j->req, m->status, TAKE_PTR(m->body));
			else
				pl_reply_empty(j->req, m->status);
		}
		break;
	case MSG_STREAM:
		if (j->req) {
			apply_headers(j);
			pl_error_t *err = NULL;
			j->pipe_watch =
			    pl_loop_watch(s->loop, j->pipe_r, EPOLLIN | EPOLLET, on_pipe, j, &err);
			if (!j->pipe_watch) {
				pl_log_warn("dockerd: %s", err->msg);
				pl_error_free(err);
			}
			pl_reply_stream(j->req, m->status, m->content_type, stream_produce, j,
					NULL);
		} else {
			j->pipe_r = pl_close(j->pipe_r); /* the writer gets EPIPE */
		}
		break;
	case MSG_UPGRADE:
		if (j->req) {
			apply_headers(j);
			pl_reply_upgrade(j->req, m->content_type, on_upgraded, j);
		} else {
			pthread_mutex_lock(&s->lock);
			j->up_failed = true;
			pthread_cond_broadcast(&j->cond);
			pthread_mutex_unlock(&s->lock);
		}
		break;
	case MSG_DONE:
		if (j->up_handle)
			pl_upgrade_close(j->up_handle);
		else if (j->req && !j->answered)
			pl_reply_json(
			    j->req, 500,
			    json_pack("{s:s}", "message", "request ended without an answer"));
		job_unref(j);
		break;
	default:
		break;
	}
	if (m->body)
		json_decref(m->body);
	free(m->content_type);
	free(m);
}

static void on_queue(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	dk_server_t *s = data;
	uint64_t n;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		pl_log_warn("dockerd: queue: %m");
	for (;;) {
		pthread_mutex_lock(&s->lock);
		msg_t *m = s->head;
		if (m) {
			s->head = m->next;
			if (!s->head)
				s->tail = NULL;
		}
		pthread_mutex_unlock(&s->lock);
		if (!m)
			break;
		handle_msg(s, m);
	}
}

dk_server_t *dk_server_new(pl_loop_t *loop, const char *portlayer_host, pl_error_t **err)
{
	dk_server_t *s = pl_xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->portlayer = pl_xstrdup(portlayer_host);
	pthread_mutex_init(&s->lock, NULL);
	s->qfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->qfd < 0) {
		pl_error_errno(err, "eventfd");
		return dk_server_free(s);
	}
	s->qwatch = pl_loop_watch(loop, s->qfd, EPOLLIN, on_queue, s, err);
	if (!s->qwatch)
		return dk_server_free(s);
	return s;
}

dk_server_t *dk_server_free(dk_server_t *s)
{
	if (!s)
		return NULL;
	if (s->qwatch)
		pl_loop_unwatch(s->loop, s->qwatch);
	pl_close(s->qfd);
	free(s->portlayer);
	free(s);
	return NULL;
}

const char *dk_server_portlayer(const dk_server_t *s)
{
	return s->portlayer;
}

static void *job_thread(void *data)
{
	dk_job_t *j = data;
	j->fn(j);
	if (j->pipe_w >= 0)
		j->pipe_w = pl_close(j->pipe_w); /* the end of a streamed body */
	pthread_mutex_lock(&j->srv->lock);
	pl_client_t *c = TAKE_PTR(j->client); /* on_req_gone may be interrupting it */
	pthread_mutex_unlock(&j->srv->lock);
	pl_client_free(c);
	msg_t *m = pl_xcalloc(1, sizeof(*m));
	m->kind = MSG_DONE;
	post(j, m);
	return NULL;
}

static dk_job_t *job_new(dk_server_t *s, dk_job_fn fn)
{
	dk_job_t *j = pl_xcalloc(1, sizeof(*j));
	j->srv = s;
	j->fn = fn;
	j->body_fd = j->pipe_r = j->pipe_w = j->up_fd = -1;
	pthread_cond_init(&j->cond, NULL);
	return j;
}

static void start_thread(dk_job_t *j)
{
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 512 * 1024);
	pthread_t t;
	int rc = pthread_create(&t, &attr, job_thread, j);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		pl_log_error("dockerd: start a request thread: %s", strerror(rc));
		job_thread(j); /* still answers (and frees) from here */
	}
}

static void collect(const char *key, const char *value, void *data)
{
	json_object_set_new(data, key, json_string(value));
}

/* every value of a repeated query key (names=a&names=b), in order */
static void collect_all(const char *key, const char *value, void *data)
{
	json_t *a = json_object_get(data, key);
	if (!a) {
		a = json_array();
		json_object_set_new(data, key, a);
	}
	json_array_append_new(a, json_string(value ? value : ""));
}

void dk_job_spawn(dk_server_t *s, pl_req_t *req, dk_job_fn fn)
{
	dk_job_t *j = job_new(s, fn);
	j->refs = 2;
	j->req = req;
	j->param = pl_req_param(req) ? pl_xstrdup(pl_req_param(req)) : NULL;
	j->query = json_object();
	pl_req_each(req, false, collect, j->query);
	j->query_all = json_object();
	pl_req_each(req, false, collect_all, j->query_all);
	j->headers = json_object();
	pl_req_each(req, true, collect, j->headers);
	if (pl_req_has_body(req)) {
		pl_error_t *e = NULL;
		j->body = pl_req_json(req, &e);
		pl_error_free(e);
	}
	int fd = pl_req_body_fd(req);
	if (fd >= 0)
		j->body_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	pl_req_park(req, j);
	pl_req_set_wait_free(req, on_req_gone);
	start_thread(j);
}

void dk_job_background(dk_server_t *s, dk_job_fn fn, char *arg_owned)
{
	dk_job_t *j = job_new(s, fn);
	j->refs = 1;
	j->answered = true;
	j->arg = arg_owned;
	j->query = json_object();
	j->headers = json_object();
	start_thread(j);
}

/* ---- thread side ---- */

const char *dk_job_param(const dk_job_t *j)
{
	return j->param;
}

const char *dk_job_arg(const dk_job_t *j)
{
	return j->arg;
}

const char *dk_job_query(const dk_job_t *j, const char *key)
{
	return json_string_value(json_object_get(j->query, key));
}

const json_t *dk_job_query_all(const dk_job_t *j, const char *key)
{
	return json_object_get(j->query_all, key);
}

bool dk_job_query_bool(const dk_job_t *j, const char *key, bool def)
{
	const char *v = dk_job_query(j, key);
	if (!v)
		return def;
	return !*v || !strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes");
}

const char *dk_job_header(const dk_job_t *j, const char *name)
{
	const char *k;
	json_t *v;
	json_object_foreach(j->headers, k, v)
	{
		if (!strcasecmp(k, name))
			return json_string_value(v);
	}
	return NULL;
}

json_t *dk_job_body(dk_job_t *j)
{
	return j->body;
}

int dk_job_body_fd(const dk_job_t *j)
{
	if (j->body_fd >= 0)
		lseek(j->body_fd, 0, SEEK_SET);
	return j->body_fd;
}

pl_client_t *dk_job_client(dk_job_t *j)
{
	if (!j->client) {
		pl_error_t *e = NULL;
		pl_client_t *c = pl_client_new(j->srv->portlayer, &e);
		if (!c) { /* only a malformed host fails here, and main checked it */
			pl_log_error("dockerd: %s", e->msg);
			abort();
		}
		pthread_mutex_lock(&j->srv->lock);
		j->client = c;
		/* a stream whose client went before this connection existed (on_req_gone
		 * and dk_job_stream had none to interrupt) would wait for nobody */
		if (j->streaming && !j->req)
			pl_client_interrupt(c);
		pthread_mutex_unlock(&j->srv->lock);
	}
	return j->client;
}

void dk_job_add_header(dk_job_t *j, const char *name, const char *value)
{
	if (!j->extra_headers)
		j->extra_headers = json_object();
	json_object_set_new(j->extra_headers, name, json_string(value));
}

static bool claim(dk_job_t *j)
{
	if (j->answered)
		return false;
	j->answered = true;
	return true;
}

void dk_job_reply_json(dk_job_t *j, unsigned status, json_t *body)
{
	if (!claim(j)) {
		json_decref(body);
		return;
	}
	msg_t *m = pl_xcalloc(1, sizeof(*m));
	m->kind = MSG_REPLY;
	m->status = status;
	m->body = body;
	post(j, m);
}

void dk_job_reply_empty(dk_job_t *j, unsigned status)
{
	if (!claim(j))
		return;
	msg_t *m = pl_xcalloc(1, sizeof(*m));
	m->kind = MSG_REPLY;
	m->status = status;
	post(j, m);
}

void dk_job_reply_error(dk_job_t *j, const pl_error_t *e)
{
	unsigned status = e ? (unsigned)pl_error_http_status(e->kind) : 500;
	/* the port layer's 501 (no mechanism) is a bad request in Docker's terms */
	dk_job_reply_json(j, status, json_pack("{s:s}", "message", e ? e->msg : "error"));
}

void dk_job_reply_vmessage(dk_job_t *j, unsigned status, const char *fmt, va_list ap)
{
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	dk_job_reply_json(j, status, json_pack("{s:s}", "message", msg));
	free(msg);
}

void dk_job_reply_message(dk_job_t *j, unsigned status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	dk_job_reply_vmessage(j, status, fmt, ap);
	va_end(ap);
}

void dk_job_stream(dk_job_t *j, unsigned status, const char *content_type)
{
	if (!claim(j))
		return;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		j->answered = false;
		dk_job_reply_message(j, 500, "pipe: %s", strerror(errno));
		return;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	j->pipe_r = p[0];
	j->pipe_w = p[1];
	msg_t *m = pl_xcalloc(1, sizeof(*m));
	m->kind = MSG_STREAM;
	m->status = status;
	m->content_type = pl_xstrdup(content_type);
	pthread_mutex_lock(&j->srv->lock);
	j->streaming = true;
	if (!j->req && j->client) /* gone already: the stream would wait for nobody */
		pl_client_interrupt(j->client);
	pthread_mutex_unlock(&j->srv->lock);
	post(j, m);
}

int dk_job_write(dk_job_t *j, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		if (j->pipe_w < 0)
			return -EPIPE;
		ssize_t n = write(j->pipe_w, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -EPIPE;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int dk_job_upgrade(dk_job_t *j, const char *content_type, char **extra, size_t *extra_len)
{
	if (!claim(j))
		return -1;
	msg_t *m = pl_xcalloc(1, sizeof(*m));
	m->kind = MSG_UPGRADE;
	m->content_type = pl_xstrdup(content_type);
	post(j, m);
	pthread_mutex_lock(&j->srv->lock);
	while (!j->up_ready && !j->up_failed)
		pthread_cond_wait(&j->cond, &j->srv->lock);
	int fd = j->up_ready ? j->up_fd : -1;
	if (fd >= 0) {
		*extra = TAKE_PTR(j->up_extra);
		*extra_len = j->up_extra_len;
	}
	pthread_mutex_unlock(&j->srv->lock);
	if (fd < 0)
		return -1;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	/* Wait (bounded) until the client has read the 101 head: clients that parse it
	 * through a buffered reader and then switch to the raw socket (docker-py) lose
	 * whatever stream bytes shared a read with the head. On a unix socket SIOCOUTQ is
	 * what the peer has not read yet. */
	for (int i = 0; i < 2000; i++) {
		int queued = 0;
		if (ioctl(fd, SIOCOUTQ, &queued) < 0 || queued == 0)
			break;
		struct timespec ts = {0, 500 * 1000};
		nanosleep(&ts, NULL);
	}
	return fd;
}
