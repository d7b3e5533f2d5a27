/* SPDX-License-Identifier: Apache-2.0 */
/* The write side of the link to tether (link.h). */
#include "portlayer/link.h"
#include "portlayer/internal.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

void pl_link_drop_queue(pl_container_t *c)
{
	while (c->wq) {
		pl_qframe_t *f = c->wq;
		c->wq = f->next;
		free(f);
	}
	c->wq_ctrl_tail = NULL;
	c->wq_bytes = 0;
}

#define LINK_HIGH_WATER (1u << 20)

size_t pl_container_link_backlog(const pl_container_t *c)
{
	return c->wq_bytes;
}

/* Writes what the socket takes; watches for EPOLLOUT while anything is left. */
void pl_link_flush(pl_container_t *c)
{
	size_t before = c->wq_bytes;
	while (c->wq && c->dom.ctl_fd >= 0) {
		pl_qframe_t *f = c->wq;
		ssize_t n = write(c->dom.ctl_fd, f->data + f->off, f->len - f->off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		f->off += (size_t)n;
		c->wq_bytes -= (size_t)n;
		if (f->off < f->len)
			break;
		c->wq = f->next;
		if (c->wq_ctrl_tail == f)
			c->wq_ctrl_tail = NULL;
		free(f);
	}
	if (c->ctl_watch)
		pl_loop_watch_modify(c->pl->loop, c->ctl_watch, EPOLLIN | (c->wq ? EPOLLOUT : 0));
	/* writers held back by the high-water mark may go on */
	if (before >= LINK_HIGH_WATER && c->wq_bytes < LINK_HIGH_WATER)
		pl_container_changed(c);
}

int pl_container_send_frame(pl_container_t *c, uint16_t type, uint16_t flags, uint32_t chan,
			    const void *payload, size_t len)
{
	if (c->dom.ctl_fd < 0)
		return -ENOTCONN;
	size_t n = 0;
	_cleanup_free_ uint8_t *frame = pl_frame_encode_flags(type, flags, chan, payload, len, &n);
	if (!frame)
		return -EMSGSIZE;
	pl_qframe_t *f = pl_xmalloc(sizeof(*f) + n);
	f->next = NULL;
	f->len = n;
	f->off = 0;
	/* a stdin's EOF keeps its place behind that stdin's data: ahead of it, tether would
	 * close the process's stdin and drop what was still queued */
	f->control = type != PL_MSG_DATA && type != PL_MSG_CLOSE_STDIN;
	memcpy(f->data, frame, n);
	c->wq_bytes += n;
	if (f->control) {
		/* after the control frames already ahead, and after a frame half written */
		pl_qframe_t **at = c->wq_ctrl_tail ? &c->wq_ctrl_tail->next : &c->wq;
		if (!c->wq_ctrl_tail && c->wq && c->wq->off > 0)
			at = &c->wq->next;
		f->next = *at;
		*at = f;
		c->wq_ctrl_tail = f;
	} else {
		pl_qframe_t **at = &c->wq;
		while (*at)
			at = &(*at)->next;
		*at = f;
	}
	pl_link_flush(c);
	return 0;
}

int pl_container_send(pl_container_t *c, uint16_t type, json_t *j)
{
	/* a mechanism's compiled seccomp program for a CONFIG, as raw bytes: its own SECCOMP frame
	 * just ahead, the CONFIG says how many instructions (tether-protocol.md) */
	json_t *bpf = type == PL_MSG_CONFIG ? json_object_get(j, "seccomp_frame") : NULL;
	if (json_is_string(bpf)) {
		size_t len = json_string_length(bpf);
		long n = pl_frame_seccomp_check(len);
		int r = n < 0 ? -EINVAL
			      : pl_container_send_frame(c, PL_MSG_SECCOMP, 0, 0,
							json_string_value(bpf), len);
		if (r < 0) {
			json_decref(j);
			return r;
		}
		json_object_set_new(j, "seccomp_frame", json_integer(n));
	}
	_cleanup_free_ char *s = pl_json_dump(j);
	json_decref(j);
	return pl_container_send_frame(c, type, 0, 0, s, strlen(s));
}

int pl_link_send_fd(pl_container_t *c, uint16_t type, int fd)
{
	if (c->dom.ctl_fd < 0)
		return -ENOTCONN;
	if (c->wq && c->wq->off > 0)
		return 0;
	uint8_t hdr[PL_FRAME_HDR_LEN];
	pl_frame_hdr_encode(&(pl_frame_hdr_t){.len = 0, .type = type}, hdr);
	ssize_t n = pl_send_fds(c->dom.ctl_fd, hdr, sizeof(hdr), &fd, 1, MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN ? 0 : -errno;
	if ((size_t)n < sizeof(hdr)) {
		/* the rest of the header goes first, as a frame half written */
		size_t rest = sizeof(hdr) - (size_t)n;
		pl_qframe_t *f = pl_xmalloc(sizeof(*f) + sizeof(hdr));
		memcpy(f->data, hdr, sizeof(hdr));
		f->len = sizeof(hdr);
		f->off = (size_t)n;
		f->control = true;
		f->next = c->wq;
		c->wq = f;
		c->wq_bytes += rest;
		pl_container_send_frame(c, PL_MSG_PING, 0, 0, NULL, 0); /* arms EPOLLOUT */
	}
	return 1;
}

bool pl_link_up(const pl_container_t *c)
{
	return c->dom.ctl_fd >= 0;
}

bool pl_link_mid_frame(const pl_container_t *c)
{
	return c->wq && c->wq->off > 0;
}
