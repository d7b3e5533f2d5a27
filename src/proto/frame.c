/* SPDX-License-Identifier: Apache-2.0 */
#include "proto/frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

void pl_frame_hdr_encode(const pl_frame_hdr_t *h, uint8_t out[PL_FRAME_HDR_LEN])
{
	put32(out, h->len);
	put16(out + 4, h->type);
	put16(out + 6, h->flags);
	put32(out + 8, h->chan);
}

int pl_frame_hdr_decode(const uint8_t in[PL_FRAME_HDR_LEN], pl_frame_hdr_t *h)
{
	h->len = get32(in);
	h->type = get16(in + 4);
	h->flags = get16(in + 6);
	h->chan = get32(in + 8);
	if (h->len > PL_FRAME_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (h->type == 0)
		return -EPROTO;
	return 0;
}

void pl_frame_reader_init(pl_frame_reader_t *r)
{
	memset(r, 0, sizeof(*r));
}

void pl_frame_reader_free(pl_frame_reader_t *r)
{
	free(r->buf);
	memset(r, 0, sizeof(*r));
}

/* What a drained reader keeps of its buffer when small bytes come: a daemon holds one reader
 * per container, most of them idle between small control frames (a stream of big reads
 * keeps its buffer). */
#define READER_KEEP 4096

static int reserve(pl_frame_reader_t *r, size_t extra)
{
	if (r->off == r->len && r->cap > READER_KEEP && extra < READER_KEEP) {
		free(r->buf);
		r->buf = NULL;
		r->off = r->len = r->cap = 0;
	} else if (r->off > 0 && r->off == r->len) {
		r->off = r->len = 0;
	} else if (r->off > 0 && r->len + extra > r->cap) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	if (r->len + extra + 1 <= r->cap)
		return 0;
	size_t cap = r->cap ? r->cap : 4096;
	while (cap < r->len + extra + 1)
		cap *= 2;
	uint8_t *nb = realloc(r->buf, cap);
	if (!nb)
		return -ENOMEM;
	r->buf = nb;
	r->cap = cap;
	return 0;
}

int pl_frame_reader_feed(pl_frame_reader_t *r, const void *data, size_t n)
{
	if (n == 0) /* data may be NULL then, and memcpy(NULL) is undefined even for 0 bytes */
		return 0;
	if (reserve(r, n) < 0)
		return -ENOMEM;
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	return 0;
}

long pl_frame_reader_fill(pl_frame_reader_t *r, int fd)
{
	/* read on the stack and keep only what arrived: reading straight into the buffer made
	 * every reader hold 128 KiB for good (1000 containers: 128 MiB of daemon heap) */
	uint8_t tmp[65536];
	for (;;) {
		ssize_t n = read(fd, tmp, sizeof(tmp));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
		}
		if (pl_frame_reader_feed(r, tmp, (size_t)n) < 0)
			return -ENOMEM;
		return (long)n;
	}
}

int pl_frame_reader_next(pl_frame_reader_t *r, pl_frame_hdr_t *h, const uint8_t **payload)
{
	size_t avail = r->len - r->off;
	if (avail < PL_FRAME_HDR_LEN)
		return 0;
	int rc = pl_frame_hdr_decode(r->buf + r->off, h);
	if (rc < 0)
		return rc;
	if (avail < PL_FRAME_HDR_LEN + (size_t)h->len)
		return 0;
	*payload = r->buf + r->off + PL_FRAME_HDR_LEN;
	r->off += PL_FRAME_HDR_LEN + h->len;
	return 1;
}

uint8_t *pl_frame_encode(uint16_t type, uint32_t chan, const void *payload, size_t len,
			 size_t *out_len)
{
	return pl_frame_encode_flags(type, 0, chan, payload, len, out_len);
}

uint8_t *pl_frame_encode_flags(uint16_t type, uint16_t flags, uint32_t chan, const void *payload,
			       size_t len, size_t *out_len)
{
	if (len > PL_FRAME_MAX_PAYLOAD)
		return NULL;
	uint8_t *buf = malloc(PL_FRAME_HDR_LEN + len);
	if (!buf)
		return NULL;
	pl_frame_hdr_t h = {.len = (uint32_t)len, .type = type, .flags = flags, .chan = chan};
	pl_frame_hdr_encode(&h, buf);
	if (len)
		memcpy(buf + PL_FRAME_HDR_LEN, payload, len);
	*out_len = PL_FRAME_HDR_LEN + len;
	return buf;
}

int pl_frame_send(int fd, uint16_t type, uint32_t chan, const void *payload, size_t len)
{
	size_t n = 0;
	uint8_t *buf = pl_frame_encode(type, chan, payload, len, &n);
	if (!buf)
		return len > PL_FRAME_MAX_PAYLOAD ? -EMSGSIZE : -ENOMEM;
	size_t off = 0;
	int rc = 0;
	while (off < n) {
		ssize_t w = write(fd, buf + off, n - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		off += (size_t)w;
	}
	free(buf);
	return rc;
}

long pl_frame_seccomp_check(size_t len)
{
	if (len == 0 || len % PL_SECCOMP_INSN_LEN ||
	    len / PL_SECCOMP_INSN_LEN > PL_SECCOMP_MAX_INSNS)
		return -EINVAL;
	return (long)(len / PL_SECCOMP_INSN_LEN);
}
