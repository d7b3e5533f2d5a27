/* SPDX-License-Identifier: Apache-2.0 */
/* The HTTP front of portlayerd: libmicrohttpd in external-epoll mode on the daemon's loop,
 * a route table, JSON replies, and parking of requests that wait on a container (start,
 * stop, wait, logs -f) without blocking the loop. Owns the MHD daemon and every request
 * context; handlers never see MHD types. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/error.h"
#include "common/loop.h"

typedef struct pl_http pl_http_t;
typedef struct pl_req pl_req_t;

typedef void (*pl_handler_fn)(pl_req_t *req, void *app);

typedef struct pl_route {
	const char *method;
	const char *pattern; /* "/containers/{id}/start": up to two {param} segments;
			      * routes are tried in order, so specific ones go first;
			      * "{ref*}" takes the rest of the path, slashes included,
			      * or up to a literal suffix ("{ref*}/push") */
	pl_handler_fn fn;
	bool spool; /* the body is streamed to a temporary file (layers, imports) */
} pl_route_t;

/* A streaming body producer: fills buf, returns bytes, 0 when it must wait (the request is
 * then parked until pl_req_wake), -1 at the end, -2 when it failed midway (the connection
 * is closed without the end marker, so the client sees a truncated body). */
typedef ssize_t (*pl_stream_fn)(pl_req_t *req, char *buf, size_t max, void *data);
typedef void (*pl_stream_free_fn)(void *data);

/* PEM texts for a mutual-TLS listener. */
typedef struct pl_tls {
	const char *cert, *key; /* the server's */
	const char *client_ca;	/* clients must present a certificate it signed */
} pl_tls_t;

pl_http_t *pl_http_new(pl_loop_t *loop, const pl_route_t *routes, void *app);
/* Connections served at once per listener (more wait in the listen backlog), and seconds a
 * connection may sit idle mid-request or between requests (0: forever); parked requests
 * (wait, logs -f, events) and attach streams are not idle. Call before pl_http_listen. */
#define PL_HTTP_DEFAULT_MAX_CONNECTIONS 512u
#define PL_HTTP_DEFAULT_IDLE_TIMEOUT	60u
void pl_http_set_limits(pl_http_t *h, unsigned max_connections, unsigned idle_timeout);
/* Each connection's memory in bytes (libmicrohttpd's pool: request line, headers, read
 * buffer), which bounds a request's headers to a little less; bodies stream through it.
 * Default 32 KiB (http.c says why). Call before pl_http_listen. */
#define PL_HTTP_DEFAULT_CONNECTION_MEMORY ((size_t)32 * 1024)
void pl_http_set_connection_memory(pl_http_t *h, size_t bytes);
/* Serves the routes on a listening socket; with tls, only to verified clients. */
int pl_http_listen(pl_http_t *h, int listen_fd, const pl_tls_t *tls, pl_error_t **err);
pl_http_t *pl_http_free(pl_http_t *h);

/* Maps a request path before routing (pl-dockerd strips Docker's "/v1.43" prefix):
 * returns a pointer into url (a suffix of it) or url itself. */
typedef const char *(*pl_path_fn)(const char *url);
void pl_http_set_path_hook(pl_http_t *h, pl_path_fn fn);
/* The value the server names itself with ("portlayerd/VERSION" by default; copied). */
void pl_http_set_server(pl_http_t *h, const char *server);
/* The versioned API: "/vN/rest" is served as "/rest" for min <= N <= max, other "/vN/"
 * prefixes are a 404, and a path without a prefix is an alias of the newest version. Every
 * answer carries "API-Version: max" and "Min-API-Version: min" headers. Without this call
 * no prefix is recognised. */
void pl_http_set_api_versions(pl_http_t *h, unsigned min, unsigned max);
/* The version a request asked for (its prefix, or the newest when it had none). */
unsigned pl_req_api_version(const pl_req_t *r);

/* Called once per request when its answer's head is queued: the route it was dispatched to
 * (NULL when none matched), the method, the status, and the time since its head arrived. */
typedef void (*pl_http_observe_fn)(const pl_route_t *route, const char *method, unsigned status,
				   int64_t elapsed_ns, void *data);
void pl_http_set_observer(pl_http_t *h, pl_http_observe_fn fn, void *data);

/* Request accessors */
/* Calls fn for every query argument (headers=false) or request header (headers=true). */
void pl_req_each(const pl_req_t *r, bool headers,
		 void (*fn)(const char *key, const char *value, void *data), void *data);
const char *pl_req_param(const pl_req_t *r);  /* the first {param} segment */
const char *pl_req_param2(const pl_req_t *r); /* the second, or NULL */
const char *pl_req_query(const pl_req_t *r, const char *key);
/* A request header (case-insensitive name), or NULL. */
const char *pl_req_header(const pl_req_t *r, const char *name);
/* Query boolean: 1/true/yes → true, 0/false/no/"" → false; others are an INVALID error. */
int pl_req_query_bool(const pl_req_t *r, const char *key, bool def, bool *out, pl_error_t **err);
/* Spooled bodies: an fd positioned at the start (owned by the request), -1 otherwise. */
int pl_req_body_fd(pl_req_t *r);
/* Where spooled bodies go (a directory on the state disk). */
void pl_http_set_spool_dir(pl_http_t *h, const char *dir);

/* Parses the body as a JSON object (INVALID error when empty or malformed). */
json_t *pl_req_json(pl_req_t *r, pl_error_t **err);
/* Whether an in-memory body came with the request (for optional JSON bodies). */
bool pl_req_has_body(const pl_req_t *r);

/* Replies (exactly one per request; after parking, from any later callback) */
void pl_reply_json(pl_req_t *r, unsigned status, json_t *body); /* steals body */
/* A body already rendered as JSON (malloc'd, len bytes; stolen). */
void pl_reply_json_text(pl_req_t *r, unsigned status, char *text, size_t len);
void pl_reply_empty(pl_req_t *r, unsigned status);
/* An extra header on the reply still to come (before any pl_reply_*). */
void pl_req_add_header(pl_req_t *r, const char *name, const char *value);
void pl_reply_text(pl_req_t *r, unsigned status, const char *text);
void pl_reply_error(pl_req_t *r, const pl_error_t *e);
void pl_reply_stream(pl_req_t *r, unsigned status, const char *content_type, pl_stream_fn fn,
		     void *data, pl_stream_free_fn free_fn);

/* Connection upgrade (attach): after the 101 answer, fn gets the client's socket (ours from
 * then on, non-blocking), the bytes the client sent past the headers, and a handle to give
 * back to pl_upgrade_close when done. Only on the unix socket listener. */
typedef void (*pl_upgrade_fn)(void *data, int fd, const char *extra, size_t extra_len,
			      void *handle);
bool pl_req_wants_upgrade(const pl_req_t *r);
void pl_reply_upgrade(pl_req_t *r, const char *content_type, pl_upgrade_fn fn, void *data);
void pl_upgrade_close(void *handle);

/* Parking: the handler returns without replying; the request stays open until replied
 * to. Parked requests are kept in a list the application can walk on state changes. */
void pl_req_park(pl_req_t *r, void *wait_data);
void *pl_req_wait_data(const pl_req_t *r);
pl_req_t *pl_http_parked_first(pl_http_t *h);
pl_req_t *pl_req_parked_next(pl_req_t *r);
/* A parked streaming response has more to give: resume it. */
void pl_req_wake(pl_req_t *r);
bool pl_req_is_streaming(const pl_req_t *r);
/* Frees wait_data when the request ends (client gone or replied). */
void pl_req_set_wait_free(pl_req_t *r, void (*fn)(void *));
