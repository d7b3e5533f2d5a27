/* SPDX-License-Identifier: Apache-2.0 */
#include "daemon/attach.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "portlayer/logs.h"
#include "portlayer/session.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

typedef struct attach {
	pl_sink_t sink; /* first: the session hands us back this pointer */
	pl_app_t *app;
	char cid[PL_ID_LEN + 1];
	uint32_t session;
	bool tty;
	pl_attach_opts_t opts;
	uint8_t detach[16];
	int detach_len, detach_match;
	int fd;
	void *handle;
	pl_watch_t *watch;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	bool reading, ended;
	bool explicit_keys;
	struct attach *next;
} attach_t;

static pl_container_t *container_of_attach(attach_t *a)
{
	return pl_container_find(a->app->pl, a->cid, NULL);
}

static void attach_free(attach_t *a)
{
	pl_container_t *c = container_of_attach(a);
	if (c && !a->ended)
		pl_session_detach(c, a->session, &a->sink);
	for (attach_t **p = &a->app->attaches; *p; p = &(*p)->next)
		if (*p == a) {
			*p = a->next;
			break;
		}
	a->watch = pl_loop_unwatch(a->app->loop, a->watch);
	pl_upgrade_close(a->handle); /* closes the socket */
	free(a->out);
	free(a);
}

static void set_events(attach_t *a)
{
	uint32_t ev = (a->reading ? EPOLLIN : 0) | (a->out_off < a->out_len ? EPOLLOUT : 0);
	if (a->watch)
		pl_loop_watch_modify(a->app->loop, a->watch, ev);
}

/* Writes what the client takes; returns false when the stream is over. */
static bool flush(attach_t *a)
{
	size_t before = a->out_off;
	while (a->out_off < a->out_len) {
		ssize_t n = write(a->fd, a->out + a->out_off, a->out_len - a->out_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return false; /* the client went away */
		a->out_off += (size_t)n;
	}
	size_t written = a->out_off - before;
	if (a->out_off == a->out_len)
		a->out_off = a->out_len = 0;
	pl_container_t *c = container_of_attach(a);
	if (written && c && !a->ended)
		pl_session_consumed(c, a->session, &a->sink, written);
	if (a->ended && a->out_len == 0)
		return false;
	set_events(a);
	return true;
}

static void queue(attach_t *a, int stream, const uint8_t *buf, size_t len)
{
	size_t need = len + (a->tty ? 0 : 8);
	if (a->out_len + need > a->out_cap) {
		if (a->out_off) {
			memmove(a->out, a->out + a->out_off, a->out_len - a->out_off);
			a->out_len -= a->out_off;
			a->out_off = 0;
		}
		if (a->out_len + need > a->out_cap) {
			a->out_cap = (a->out_len + need) * 2;
			a->out = pl_xrealloc(a->out, a->out_cap);
		}
	}
	if (!a->tty) { /* the Docker API's multiplexed framing */
		uint8_t *h = a->out + a->out_len;
		h[0] = (uint8_t)stream;
		h[1] = h[2] = h[3] = 0;
		h[4] = (uint8_t)(len >> 24);
		h[5] = (uint8_t)(len >> 16);
		h[6] = (uint8_t)(len >> 8);
		h[7] = (uint8_t)len;
		a->out_len += 8;
	}
	memcpy(a->out + a->out_len, buf, len);
	a->out_len += len;
}

static void on_data(pl_sink_t *s, int stream, const uint8_t *buf, size_t len)
{
	attach_t *a = (attach_t *)s;
	bool wanted = (stream == 1 && a->opts.out) || (stream == 2 && a->opts.err);
	if (wanted)
		queue(a, stream, buf, len);
	else
		a->sink.consumed += len; /* nobody waits for it: credit flows back at once */
	if (!flush(a))
		attach_free(a);
}

static void on_ended(pl_sink_t *s)
{
	attach_t *a = (attach_t *)s;
	a->ended = true;
	a->reading = false;
	if (!flush(a))
		attach_free(a);
}

/* Feeds client bytes to stdin; false when the detach sequence completed (the bytes of the
 * sequence within this read are not forwarded; the process keeps running). */
static bool feed_stdin(attach_t *a, pl_container_t *c, const uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n && a->detach_len > 0; i++) {
		if (buf[i] == a->detach[a->detach_match]) {
			if (++a->detach_match == a->detach_len) {
				size_t in_this =
				    (size_t)a->detach_len > i + 1 ? i + 1 : (size_t)a->detach_len;
				if (a->opts.in && i + 1 > in_this)
					pl_session_write(c, a->session, buf, i + 1 - in_this);
				pl_log_debug("attach %.12s: detach keys", a->cid);
				return false;
			}
		} else {
			a->detach_match = buf[i] == a->detach[0] ? 1 : 0;
		}
	}
	if (a->opts.in)
		pl_session_write(c, a->session, buf, n);
	return true;
}

static void on_client(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	attach_t *a = data;
	if (events & EPOLLOUT && !flush(a)) {
		attach_free(a);
		return;
	}
	if (events & (EPOLLHUP | EPOLLERR) && !a->reading) {
		/* the client is gone for good (a half-close is only EPOLLRDHUP): nothing
		 * would notice before the next output, which a quiet container never makes */
		attach_free(a);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || !a->reading)
		return;
	pl_container_t *c = container_of_attach(a);
	uint8_t buf[32768];
	ssize_t n = read(fd, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0 || !c) {
		/* the client closed its side: EOF for the process, output may go on */
		a->reading = false;
		if (c && a->opts.in && a->opts.close_stdin_on_eof)
			pl_session_close_stdin(c, a->session);
		if (n < 0 || !c || !a->opts.out) {
			attach_free(a);
			return;
		}
		set_events(a);
		return;
	}
	if (!feed_stdin(a, c, buf, (size_t)n)) {
		attach_free(a);
		return;
	}
	if (pl_session_stdin_backlog(c, a->session) >= PL_STDIN_HIGH_WATER) {
		a->reading = false; /* resumed by pl_attach_link_drained */
		set_events(a);
	}
}

void pl_attach_link_drained(pl_app_t *app, pl_container_t *c)
{
	for (attach_t *a = app->attaches; a; a = a->next) {
		if (!a->reading && !a->ended && strcmp(a->cid, pl_container_id(c)) == 0 &&
		    pl_session_stdin_backlog(c, a->session) < PL_STDIN_HIGH_WATER && a->opts.in) {
			a->reading = true;
			set_events(a);
		}
	}
}

void pl_attach_close_all(pl_app_t *app)
{
	while (app->attaches)
		attach_free(app->attaches);
}

typedef struct pending {
	pl_app_t *app;
	char cid[PL_ID_LEN + 1];
	uint32_t session;
	pl_attach_opts_t opts;
	uint8_t detach[16];
	int detach_len;
	char exec_id[PL_ID_LEN + 1];
	bool explicit_keys;
} pending_t;

static void write_history(attach_t *a, pl_container_t *c)
{
	pl_log_opts_t lo = {.out = a->opts.out, .err = a->opts.err, .tail = -1};
	pl_log_cursor_t *cur = pl_log_open(pl_container_dirfd(c), &lo, NULL);
	if (!cur)
		return;
	uint8_t buf[65536];
	ssize_t n;
	/* the cursor frames records already; a tty client wants raw bytes */
	while ((n = pl_log_read(cur, (char *)buf, sizeof(buf))) > 0) {
		if (a->tty) {
			for (ssize_t i = 0; i + 8 <= n;) {
				size_t len = (size_t)buf[i + 4] << 24 | (size_t)buf[i + 5] << 16 |
					     (size_t)buf[i + 6] << 8 | buf[i + 7];
				if (i + 8 + (ssize_t)len > n)
					break;
				queue(a, buf[i], buf + i + 8, len);
				i += 8 + (ssize_t)len;
			}
		} else {
			/* already in the multiplexed framing */
			if (a->out_len + (size_t)n > a->out_cap) {
				a->out_cap = (a->out_len + (size_t)n) * 2;
				a->out = pl_xrealloc(a->out, a->out_cap);
			}
			memcpy(a->out + a->out_len, buf, (size_t)n);
			a->out_len += (size_t)n;
		}
	}
	pl_log_close(cur);
}

static void on_upgraded(void *data, int fd, const char *extra, size_t extra_len, void *handle)
{
	pending_t *p = data;
	attach_t *a = pl_xcalloc(1, sizeof(*a));
	a->sink.data = on_data;
	a->sink.ended = on_ended;
	a->app = p->app;
	memcpy(a->cid, p->cid, sizeof(a->cid));
	a->session = p->session;
	a->opts = p->opts;
	a->opts.detach_keys = NULL;
	memcpy(a->detach, p->detach, sizeof(a->detach));
	a->detach_len = p->detach_len;
	a->explicit_keys = p->explicit_keys;
	a->fd = fd;
	a->handle = handle;
	a->reading = true;
	pl_exec_t *ex = p->exec_id[0] ? pl_exec_find(p->app->pl, p->exec_id, NULL) : NULL;
	free(p);
	a->next = a->app->attaches;
	a->app->attaches = a;
	pl_error_t *e = NULL;
	pl_container_t *c = container_of_attach(a);
	a->watch = pl_loop_watch(a->app->loop, fd, EPOLLIN, on_client, a, &e);
	/* an exec session starts first; tether holds its output until the attach below */
	if (ex && pl_exec_start(a->app->pl, ex, NULL, NULL, &e) < 0)
		c = NULL;
	if (!c || !a->watch || pl_session_attach(c, a->session, &a->sink, &e) < 0) {
		pl_log_info("attach %.12s: %s", a->cid, e ? e->msg : "container is gone");
		pl_error_free(e);
		a->ended = true;
		attach_free(a);
		return;
	}
	a->tty = pl_session_tty(c, a->session);
	if (!a->tty && !a->explicit_keys)
		a->detach_len = 0; /* as in Docker: default detach keys apply to terminals only */
	if (a->opts.logs && a->session == PL_SESSION_PRIMARY)
		write_history(a, c);
	if ((extra_len && !feed_stdin(a, c, (const uint8_t *)extra, extra_len)) || !flush(a))
		attach_free(a);
}

int pl_attach_start(pl_app_t *app, pl_req_t *r, pl_container_t *c, uint32_t session,
		    const pl_attach_opts_t *opts, pl_error_t **err)
{
	if (!pl_req_wants_upgrade(r))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "attach needs \"Connection: Upgrade\" and \"Upgrade: tcp\" "
				    "(on the unix socket)");
	pending_t *p = pl_xcalloc(1, sizeof(*p));
	p->detach_len = pl_detach_keys_parse(
	    opts->detach_keys ? opts->detach_keys : "ctrl-p,ctrl-q", p->detach);
	if (p->detach_len < 0) {
		free(p);
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "detach keys \"%s\": want a comma-separated list of "
				    "characters or ctrl-<key>",
				    opts->detach_keys);
	}
	p->app = app;
	p->explicit_keys = opts->detach_keys != NULL;
	snprintf(p->cid, sizeof(p->cid), "%s", pl_container_id(c));
	p->session = session;
	p->opts = *opts;
	p->opts.detach_keys = NULL;
	p->opts.exec_id = NULL;
	if (opts->exec_id)
		snprintf(p->exec_id, sizeof(p->exec_id), "%s", opts->exec_id);
	pl_reply_upgrade(r,
			 pl_session_tty(c, session) ? "application/vnd.docker.raw-stream"
						    : "application/vnd.docker.multiplexed-stream",
			 on_upgraded, p);
	return 0;
}
