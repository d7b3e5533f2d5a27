/* SPDX-License-Identifier: Apache-2.0 */
/* Tether protocol framing, shared by the port layer and every tether.
 * A frame is a 12-byte header (big-endian: u32 payload length, u16 type, u16 flags,
 * u32 channel) followed by the payload. Control messages carry one JSON object; data
 * frames carry raw bytes. This unit owns encoding/decoding and an incremental reader; it
 * does no I/O except pl_frame_send. See docs/tether-protocol.md. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define PL_PROTO_VERSION     1
#define PL_FRAME_HDR_LEN     12
#define PL_FRAME_MAX_PAYLOAD (1u << 20) /* 1 MiB: anything larger is a protocol error */

typedef enum pl_msg_type {
	PL_MSG_HELLO = 1,   /* both directions, first frame: {"version":1,"agent":"..."} */
	PL_MSG_CONFIG = 2,  /* port layer -> tether: the primary process to run */
	PL_MSG_STARTED = 3, /* tether -> port layer: {"pid":N} */
	PL_MSG_EXITED = 4,  /* tether -> port layer: {"exit_code":N,"signal":N,"error":"..."} */
	PL_MSG_SIGNAL = 5,  /* port layer -> tether: {"signal":N,"group":bool} */
	PL_MSG_ERROR = 6,   /* either direction: {"message":"...","type":N} */
	PL_MSG_PING = 7,    /* either direction; answered with PONG carrying the same payload */
	PL_MSG_PONG = 8,
	PL_MSG_GO = 9,	  /* port layer -> setup child: placement done, continue (no payload) */
	PL_MSG_EXEC = 10, /* port layer -> tether: start an exec session */
	PL_MSG_CLOSE_STDIN = 11, /* port layer -> tether: {"session"} */
	PL_MSG_RESIZE = 12,	 /* port layer -> tether: {"session","rows","cols"} */
	PL_MSG_ATTACH = 13,	 /* port layer -> tether: {"session","since_seq"} */
	PL_MSG_DETACH = 14,	 /* port layer -> tether: {"session"} */
	PL_MSG_CREDIT = 15,	 /* port layer -> tether: {"session","bytes"} */
	PL_MSG_DATA = 16, /* stdio bytes: chan = session, flags = stream (0 in, 1 out, 2 err) */
	PL_MSG_STATS_REQUEST = 17, /* port layer -> tether: {} */
	PL_MSG_STATS = 18, /* tether -> port layer: {"cpu","memory","pids","blkio","networks"} */
	PL_MSG_TOP_REQUEST = 19, /* port layer -> tether: {} */
	PL_MSG_TOP = 20,	 /* tether -> port layer: {"processes":[...]} */
	PL_MSG_NETWORK = 21, /* port layer -> tether: {"hosts","dns"} after a live network change */

	PL_MSG_LOG_ROTATE = 22,	 /* tether -> port layer: the log reached its size (no payload) */
	PL_MSG_LOG_ROTATED = 23, /* port layer -> tether: the fresh log file, as SCM_RIGHTS */
	/* port layer -> tether: a BPF program (struct sock_filter array, raw bytes) for the next
	 * CONFIG's "seccomp_frame" */
	PL_MSG_SECCOMP = 24,
	PL_MSG_TYPE_MAX = 24,
} pl_msg_type_t;

typedef struct pl_frame_hdr {
	uint32_t len;
	uint16_t type;
	uint16_t flags;
	uint32_t chan;
} pl_frame_hdr_t;

void pl_frame_hdr_encode(const pl_frame_hdr_t *h, uint8_t out[PL_FRAME_HDR_LEN]);
/* Returns 0, or -EMSGSIZE when len exceeds PL_FRAME_MAX_PAYLOAD, -EPROTO for type 0.
 * Unknown (but non-zero) types decode fine: the receiver answers them with PL_MSG_ERROR. */
int pl_frame_hdr_decode(const uint8_t in[PL_FRAME_HDR_LEN], pl_frame_hdr_t *h);

/* Incremental reader over a byte stream. Feed whatever arrived; take whole frames. */
typedef struct pl_frame_reader {
	uint8_t *buf;
	size_t len, cap, off;
} pl_frame_reader_t;

void pl_frame_reader_init(pl_frame_reader_t *r);
void pl_frame_reader_free(pl_frame_reader_t *r);
/* Returns 0 or -ENOMEM (never aborts: tether has no xmalloc). Buffered bytes are bounded
 * by one header + PL_FRAME_MAX_PAYLOAD + the feed size. */
int pl_frame_reader_feed(pl_frame_reader_t *r, const void *data, size_t n);
/* Reads from fd (non-blocking or not) into the reader. Returns bytes read, 0 on EOF,
 * -EAGAIN when nothing is available, -errno otherwise. */
long pl_frame_reader_fill(pl_frame_reader_t *r, int fd);
/* 1: a whole frame is available (*payload points into the reader, valid until the next
 * feed/fill call); 0: need more bytes;
 * <0: the stream is corrupt (-EMSGSIZE, -EPROTO) and must be closed. */
int pl_frame_reader_next(pl_frame_reader_t *r, pl_frame_hdr_t *h, const uint8_t **payload);

/* A SECCOMP frame's payload: whole 8-byte BPF instructions (struct sock_filter), at least
 * one and at most PL_SECCOMP_MAX_INSNS (the kernel's BPF_MAXINSNS). Returns the number of
 * instructions, or -EINVAL. */
#define PL_SECCOMP_INSN_LEN  8
#define PL_SECCOMP_MAX_INSNS 4096
long pl_frame_seccomp_check(size_t len);

/* Encodes header+payload into a freshly malloc'd buffer (NULL on ENOMEM/oversize). */
uint8_t *pl_frame_encode(uint16_t type, uint32_t chan, const void *payload, size_t len,
			 size_t *out_len);
uint8_t *pl_frame_encode_flags(uint16_t type, uint16_t flags, uint32_t chan, const void *payload,
			       size_t len, size_t *out_len);
/* Writes one whole frame to a blocking fd. Returns 0 or -errno. */
int pl_frame_send(int fd, uint16_t type, uint32_t chan, const void *payload, size_t len);
/* The same with header flags (DATA frames carry the stream there). */
int pl_frame_send_flags(int fd, uint16_t type, uint16_t flags, uint32_t chan, const void *payload,
			size_t len);
