/* SPDX-License-Identifier: Apache-2.0 */
/* Client for the port layer REST API (api/portlayer.yaml): HTTP/1.1 + JSON over the
 * daemon's unix socket, spoken directly (no HTTP library: see client.c).
 *
 * Ownership:
 * - A pl_client_t owns one keep-alive connection (made by its first request, remade when the
 *   daemon closed it) and a copy of the socket path. It is not thread-safe: a thread that
 *   talks to the daemon concurrently needs its own client. pl_client_new does no I/O.
 * - Strings and JSON the caller passes in stay the caller's; JSON handed back through
 *   `json_t **` is a new reference the caller json_decref()s; strings handed back are
 *   malloc'd and the caller free()s them.
 * - No call has a timeout: wait, stop and followed logs legitimately block for as long as the
 *   container runs.
 *
 * Errors from the daemon become a pl_error_t carrying the daemon's "message" and a kind
 * derived from the HTTP status (400 INVALID, 404 NOTFOUND, 408 TIMEOUT, 409 CONFLICT,
 * 501 UNSUPPORTED, anything else INTERNAL). Transport failures are INTERNAL with the
 * socket errno. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/error.h"

#define PL_CLIENT_DEFAULT_HOST "unix:///run/portlayer/portlayer.sock"
/* Every path the client sends is under this prefix: the API version it was written against
 * (a daemon that dropped it answers 404 "API version ... is not supported"). Paths passed
 * to the functions below are unversioned ("/containers"). */
#define PL_CLIENT_API_PREFIX "/v1"

typedef struct pl_client pl_client_t;

/* host is "unix:///path/to.sock" or a bare absolute path; NULL means the default. */
pl_client_t *pl_client_new(const char *host, pl_error_t **err);
pl_client_t *pl_client_free(pl_client_t *c);
static inline void pl_client_freep(pl_client_t **c)
{
	pl_client_free(*c);
}
#define _cleanup_client_ __attribute__((cleanup(pl_client_freep)))

/* From another thread: ends the request blocked on c (an idle stream whose reader went
 * away) by shutting its connection down; that call and every later one on c fail. Safe
 * at any time until pl_client_free, which the caller must not run concurrently. */
void pl_client_interrupt(pl_client_t *c);

/* The host string the client was made with (owned by the client): pass it to pl_client_new
 * to get a second client for another thread. */
const char *pl_client_host(const pl_client_t *c);
/* The path of the unix socket it connects to (from the host it was made with). */
const char *pl_client_socket_path(const pl_client_t *c);

/* URL-escapes s for use as one path segment or query value (container names, ids, times).
 * Returns a malloc'd string. */
char *pl_client_escape(pl_client_t *c, const char *s);

/* Appends "?key=value" or "&key=value" (value escaped) to the malloc'd *path, replacing it. */
void pl_client_add_query(pl_client_t *c, char **path, const char *key, const char *value);

/* One JSON request. method is "GET", "POST", "DELETE", ...; path includes the query
 * ("/containers/web/stop?timeout=5"). body may be NULL (no request body). On any HTTP
 * response *status (if non-NULL) is set. On a 2xx/3xx answer returns 0 and, if response is
 * non-NULL, sets *response to the parsed body or NULL when the body is empty. On an error
 * status or a transport failure returns < 0, fills *err, and leaves *response NULL. */
int pl_client_request(pl_client_t *c, const char *method, const char *path, json_t *body,
		      long *status, json_t **response, pl_error_t **err);

/* pl_client_request with "If-Match: revision" (the KV store's compare-and-set); revision
 * NULL sends none. */
int pl_client_request_if_match(pl_client_t *c, const char *method, const char *path, json_t *body,
			       const char *revision, json_t **response, pl_error_t **err);

/* Like pl_client_request, but the request body is the bytes read from fd until its end,
 * sent as content_type (e.g. "application/x-tar") without being held in memory: with
 * Content-Length when size >= 0, chunked when size < 0 (a pipe). fd stays the caller's. A
 * read error on fd fails the call with that errno. */
int pl_client_upload(pl_client_t *c, const char *method, const char *path, int fd, int64_t size,
		     const char *content_type, long *status, json_t **response, pl_error_t **err);

/* GET /_ping: 0 when the daemon answers 200. */
int pl_client_ping(pl_client_t *c, pl_error_t **err);

/* Receives each piece of a streamed body as it is read; pieces follow the transport,
 * not any framing. Return < 0 (a negative errno) to abort the transfer. */
typedef int (*pl_client_data_fn)(const char *data, size_t len, void *userdata);

/* GET path and feed a 2xx body to fn until the server ends it. An error status is turned
 * into *err without calling fn. If fn aborts, returns its negative value with an error
 * whose errnum is -that value. */
int pl_client_stream(pl_client_t *c, const char *path, pl_client_data_fn fn, void *userdata,
		     pl_error_t **err);
/* The same for any method, with an optional JSON body (POST /images/pull?progress=1). */
int pl_client_stream_body(pl_client_t *c, const char *method, const char *path, json_t *body,
			  pl_client_data_fn fn, void *userdata, pl_error_t **err);

/* pl_client_stream for GET or HEAD that also hands back one response header's value
 * (*value malloc'd, or NULL when absent; set on errors too). fn may be NULL for HEAD. */
int pl_client_stream_header(pl_client_t *c, const char *method, const char *path,
			    const char *header, char **value, pl_client_data_fn fn, void *userdata,
			    pl_error_t **err);

/* An upgraded connection (attach, exec start): the HTTP exchange is done here, on a
 * connection of its own (not the client's keep-alive one), which the caller then owns. From then on
 * the fd carries the raw bidirectional stream; the caller owns it and closes it. */
typedef struct pl_upgraded {
	int fd;	  /* blocking, close-on-exec; no byte of the stream has been read from it */
	bool raw; /* raw bytes (a tty session), else the multiplexed framing below */
} pl_upgraded_t;

/* Sends `method path` (body: JSON or NULL) with "Connection: Upgrade" and "Upgrade: tcp"
 * and reads the answer's head. On 101 fills *up and returns 0; an error status becomes
 * *err as for pl_client_request (the daemon's message, kind from the status). */
int pl_client_upgrade(pl_client_t *c, const char *method, const char *path, json_t *body,
		      pl_upgraded_t *up, pl_error_t **err);

/* Demultiplexer for the log stream framing (the Docker Engine API's): an 8-byte header
 * (byte 0 stream: 0 stdin, 1 stdout, 2 stderr; bytes 4-7 big-endian payload length) then the
 * payload. It keeps only the partial header between feeds, so frames and headers may be
 * split anywhere across pl_demux_feed calls. Owns nothing; plain struct, no destructor. */
enum {
	PL_STREAM_STDIN = 0,
	PL_STREAM_STDOUT = 1,
	PL_STREAM_STDERR = 2,
};

/* Receives payload bytes of one frame, possibly in several calls (a frame's payload is
 * delivered as it arrives, never buffered whole). Zero-length frames are not reported.
 * Return < 0 (a negative errno) to stop. */
typedef int (*pl_demux_fn)(int stream, const char *data, size_t len, void *userdata);

typedef struct pl_demux {
	pl_demux_fn fn;
	void *userdata;
	unsigned char header[8];
	size_t header_len;  /* bytes of the current header seen so far */
	uint32_t remaining; /* payload bytes of the current frame still to come */
	int stream;
} pl_demux_t;

void pl_demux_init(pl_demux_t *d, pl_demux_fn fn, void *userdata);
/* Consumes len bytes; returns 0 or fn's negative return. */
int pl_demux_feed(pl_demux_t *d, const char *data, size_t len);
/* True when the input so far ended exactly on a frame boundary (not mid-header or
 * mid-payload): a stream that ends while this is false was truncated. */
bool pl_demux_at_boundary(const pl_demux_t *d);
/* Adapter so a demuxer can be passed straight to pl_client_stream as (fn, demux). */
int pl_demux_feed_cb(const char *data, size_t len, void *demux);

/* Splitter for a JSON-lines stream (GET /events): one JSON value per line. It buffers only
 * an incomplete last line between feeds, so lines may be split anywhere across
 * pl_ndjson_feed calls. Owns that buffer: pl_ndjson_done frees it. */
typedef int (*pl_ndjson_fn)(json_t *value, const char *line, size_t len, void *userdata);

typedef struct pl_ndjson {
	pl_ndjson_fn fn; /* gets each line parsed (borrowed) and raw (no newline, not
			  * NUL-terminated); returns < 0 (a negative errno) to stop */
	void *userdata;
	char *partial; /* the incomplete line so far */
	size_t len, cap;
} pl_ndjson_t;

void pl_ndjson_init(pl_ndjson_t *n, pl_ndjson_fn fn, void *userdata);
void pl_ndjson_done(pl_ndjson_t *n);
/* Consumes len bytes; returns 0, fn's negative return, or -EBADMSG for a line that is not
 * JSON. Empty lines are skipped. */
int pl_ndjson_feed(pl_ndjson_t *n, const char *data, size_t len);
/* True when the input so far ended at the end of a line: a stream that ends while this is
 * false was truncated. */
bool pl_ndjson_at_boundary(const pl_ndjson_t *n);
/* Adapter so a splitter can be passed straight to pl_client_stream as (fn, splitter). */
int pl_ndjson_feed_cb(const char *data, size_t len, void *ndjson);
