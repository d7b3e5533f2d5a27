/* SPDX-License-Identifier: Apache-2.0 */
#include "daemon/http.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>

#define MAX_BODY  (1u << 20)
#define MAX_SPOOL (64ull << 30)

typedef struct listener {
	struct MHD_Daemon *mhd;
	pl_watch_t *watch;  /* MHD's epoll fd */
	int fd;		    /* the listening socket: we accept, MHD serves */
	pl_watch_t *lwatch; /* on fd; its events are 0 while the connection limit is reached */
	bool armed;
	pl_timer_t *retry; /* after EMFILE/ENFILE: accept again a little later */
	pl_http_t *h;
} listener_t;

struct pl_http {
	listener_t lis[2]; /* the unix socket, and optionally TCP with mutual TLS */
	size_t n;
	unsigned max_conns;    /* per listener */
	unsigned idle_timeout; /* seconds; 0: none */
	size_t conn_memory;
	pl_loop_t *loop;
	const pl_route_t *routes;
	void *app;
	bool resumed; /* a parked request was resumed: MHD must run again before we sleep */
	char *spool_dir;
	pl_req_t *parked;
	pl_path_fn path_fn;
	char *server;
	unsigned api_min, api_max; /* "/vN/..." served for min <= N <= max; 0: no prefixes */
	pl_http_observe_fn observe;
	void *observe_data;
};

typedef struct stream {
	pl_req_t *req; /* NULL once the request is gone */
	pl_stream_fn fn;
	void *data;
	pl_stream_free_fn free_fn;
} stream_t;

struct pl_req {
	pl_http_t *h;
	struct MHD_Connection *conn;
	char *param[2];
	char *body;
	size_t body_len;
	int body_fd; /* spooled body, or -1 */
	uint64_t spooled;
	bool body_too_big, dispatched, suspended, parked;
	bool gone;	       /* the client hung up while the request was parked */
	pl_watch_t *hup_watch; /* on the connection's fd while it may sit parked */
	struct MHD_Response *pending;
	unsigned pending_status;
	stream_t *stream;
	json_t *headers; /* extra response headers (name → value), or NULL */
	void *wait_data;
	void (*wait_free)(void *);
	pl_req_t *pprev, *pnext;
	const pl_route_t *route; /* the route dispatched to, NULL when none matched */
	const char *path;	 /* the URL with any "/vN" prefix removed (points into it) */
	unsigned api_version;	 /* N of a "/vN" prefix, 0 without one */
	int64_t t0_ns;		 /* when the request's head arrived */
	bool observed;
};

static int64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void resume(pl_req_t *r);

/* A parked request is invisible to MHD (a suspended connection is not polled), so a client
 * that hangs up on logs -f, events or wait would only be noticed at the next write. We
 * watch the connection for the peer's hang-up ourselves, from the first park until the
 * request completes, and then let MHD close it. */
static void on_hup(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	pl_req_t *r = data;
	r->hup_watch = pl_loop_unwatch(loop, r->hup_watch);
	r->gone = true;
	pl_log_debug("http: client of a parked request hung up");
	resume(r); /* MHD calls us again: on_request or stream_reader close the connection */
}

static void watch_hup(pl_req_t *r)
{
	if (r->hup_watch || r->gone)
		return;
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (!ci || ci->connect_fd < 0)
		return;
	pl_error_t *e = NULL;
	r->hup_watch = pl_loop_watch(r->h->loop, ci->connect_fd, EPOLLRDHUP, on_hup, r, &e);
	pl_error_free(e);
}

static void unpark(pl_req_t *r)
{
	if (!r->parked)
		return;
	if (r->pprev)
		r->pprev->pnext = r->pnext;
	else
		r->h->parked = r->pnext;
	if (r->pnext)
		r->pnext->pprev = r->pprev;
	r->pprev = r->pnext = NULL;
	r->parked = false;
}

static void add_parked(pl_req_t *r)
{
	watch_hup(r);
	if (r->parked)
		return;
	r->parked = true;
	r->pprev = NULL;
	r->pnext = r->h->parked;
	if (r->h->parked)
		r->h->parked->pprev = r;
	r->h->parked = r;
}

static void resume(pl_req_t *r)
{
	if (!r->suspended)
		return;
	r->suspended = false;
	r->h->resumed = true;
	MHD_resume_connection(r->conn);
}

static void set_response(pl_req_t *r, unsigned status, struct MHD_Response *resp)
{
	if (r->pending) { /* a second reply is a bug in a handler: keep the first */
		MHD_destroy_response(resp);
		return;
	}
	MHD_add_response_header(resp, "Server",
				r->h->server ? r->h->server : "portlayerd/" PL_VERSION);
	if (r->h->api_max) {
		char v[16];
		snprintf(v, sizeof(v), "%u", r->h->api_max);
		MHD_add_response_header(resp, "API-Version", v);
		snprintf(v, sizeof(v), "%u", r->h->api_min);
		MHD_add_response_header(resp, "Min-API-Version", v);
	}
	const char *k;
	json_t *v;
	json_object_foreach(r->headers, k, v)
	    MHD_add_response_header(resp, k, json_string_value(v));
	r->pending = resp;
	r->pending_status = status;
	unpark(r);
	resume(r);
}

/* A message for {"message": ...}: client bytes in it (a path, a name) need not be UTF-8,
 * which JSON strings must be; such bytes become '?'. */
static json_t *message_json(const char *msg)
{
	json_t *s = json_string(msg);
	if (s)
		return s;
	char *copy = pl_xstrdup(msg);
	for (char *p = copy; *p; p++)
		if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
			*p = '?';
	s = json_string(copy);
	free(copy);
	return s;
}

static json_t *message_body(const char *msg)
{
	json_t *o = json_object();
	json_object_set_new(o, "message", message_json(msg));
	return o;
}

void pl_reply_json(pl_req_t *r, unsigned status, json_t *body)
{
	if (!body) { /* a handler's json_pack failed (e.g. on bytes that are not UTF-8) */
		pl_log_warn("http: a reply could not be encoded");
		status = 500;
		body = message_body("internal error: the reply could not be encoded");
	}
	char *s = pl_json_dump(body);
	json_decref(body);
	size_t n = strlen(s);
	s = pl_xrealloc(s, n + 2);
	s[n] = '\n';
	s[n + 1] = '\0';
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(n + 1, s, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	set_response(r, status, resp);
}

void pl_reply_json_text(pl_req_t *r, unsigned status, char *text, size_t len)
{
	text = pl_xrealloc(text, len + 1);
	text[len] = '\n';
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len + 1, text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	set_response(r, status, resp);
}

void pl_req_add_header(pl_req_t *r, const char *name, const char *value)
{
	if (!r->headers)
		r->headers = json_object();
	json_object_set_new(r->headers, name, json_string(value));
}

void pl_reply_empty(pl_req_t *r, unsigned status)
{
	set_response(r, status, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT));
}

void pl_reply_text(pl_req_t *r, unsigned status, const char *text)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(resp, "Content-Type", "text/plain; charset=utf-8");
	set_response(r, status, resp);
}

void pl_reply_error(pl_req_t *r, const pl_error_t *e)
{
	unsigned status = (unsigned)pl_error_http_status(e->kind);
	if (status == 500)
		pl_log_warn("%s", e->msg);
	pl_reply_json(r, status, message_body(e->msg));
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	stream_t *s = cls;
	if (!s->req || s->req->gone)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	ssize_t n = s->fn(s->req, buf, max, s->data);
	if (n > 0)
		return n;
	if (n == -1)
		return MHD_CONTENT_READER_END_OF_STREAM;
	if (n < 0) /* the producer failed midway: the client must not take it as complete */
		return MHD_CONTENT_READER_END_WITH_ERROR;
	/* nothing yet: park until the producer has more */
	pl_req_t *r = s->req;
	add_parked(r);
	r->suspended = true;
	MHD_suspend_connection(r->conn);
	return 0;
}

static void stream_free(void *cls)
{
	stream_t *s = cls;
	if (s->req)
		s->req->stream = NULL;
	if (s->free_fn)
		s->free_fn(s->data);
	free(s);
}

void pl_reply_stream(pl_req_t *r, unsigned status, const char *content_type, pl_stream_fn fn,
		     void *data, pl_stream_free_fn free_fn)
{
	stream_t *s = pl_xcalloc(1, sizeof(*s));
	s->req = r;
	s->fn = fn;
	s->data = data;
	s->free_fn = free_fn;
	r->stream = s;
	struct MHD_Response *resp = MHD_create_response_from_callback(
	    MHD_SIZE_UNKNOWN, 64 * 1024, stream_reader, s, stream_free);
	MHD_add_response_header(resp, "Content-Type", content_type);
	set_response(r, status, resp);
}

typedef struct upgrade {
	pl_upgrade_fn fn;
	void *data;
} upgrade_t;

static void on_upgraded(void *cls, struct MHD_Connection *conn, void *req_cls, const char *extra,
			size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	upgrade_t *u = cls;
	fcntl(sock, F_SETFL, fcntl(sock, F_GETFL) | O_NONBLOCK);
	u->fn(u->data, sock, extra, extra_len, urh);
	free(u);
}

bool pl_req_wants_upgrade(const pl_req_t *r)
{
	const char *conn = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Connection");
	const char *up = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Upgrade");
	const union MHD_ConnectionInfo *tls =
	    MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	return conn && up && strcasestr(conn, "upgrade") && !(tls && tls->tls_session);
}

void pl_reply_upgrade(pl_req_t *r, const char *content_type, pl_upgrade_fn fn, void *data)
{
	upgrade_t *u = pl_xcalloc(1, sizeof(*u));
	u->fn = fn;
	u->data = data;
	struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgraded, u);
	const char *proto = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Upgrade");
	MHD_add_response_header(resp, "Upgrade", proto ? proto : "tcp");
	MHD_add_response_header(resp, "Content-Type", content_type);
	set_response(r, 101, resp);
}

void pl_upgrade_close(void *handle)
{
	MHD_upgrade_action(handle, MHD_UPGRADE_ACTION_CLOSE);
}

const char *pl_req_param(const pl_req_t *r)
{
	return r->param[0];
}

const char *pl_req_param2(const pl_req_t *r)
{
	return r->param[1];
}

typedef struct each {
	void (*fn)(const char *key, const char *value, void *data);
	void *data;
} each_t;

static enum MHD_Result each_value(void *cls, enum MHD_ValueKind kind, const char *key,
				  const char *value)
{
	each_t *e = cls;
	e->fn(key, value ? value : "", e->data);
	return MHD_YES;
}

void pl_req_each(const pl_req_t *r, bool headers,
		 void (*fn)(const char *key, const char *value, void *data), void *data)
{
	each_t e = {fn, data};
	MHD_get_connection_values(r->conn, headers ? MHD_HEADER_KIND : MHD_GET_ARGUMENT_KIND,
				  each_value, &e);
}

void pl_http_set_path_hook(pl_http_t *h, pl_path_fn fn)
{
	h->path_fn = fn;
}

void pl_http_set_server(pl_http_t *h, const char *server)
{
	free(h->server);
	h->server = pl_xstrdup(server);
}

const char *pl_req_query(const pl_req_t *r, const char *key)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

int pl_req_query_bool(const pl_req_t *r, const char *key, bool def, bool *out, pl_error_t **err)
{
	const char *v = pl_req_query(r, key);
	if (!v) {
		*out = def;
		return 0;
	}
	if (!*v || !strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes")) {
		*out = *v ? true : def;
		if (!*v)
			*out = true; /* "?follow" alone means yes */
		return 0;
	}
	if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no")) {
		*out = false;
		return 0;
	}
	return pl_error_set(err, PL_ERR_INVALID, 0, "query parameter %s=\"%s\" is not a boolean",
			    key, v);
}

bool pl_req_has_body(const pl_req_t *r)
{
	return r->body_len > 0;
}

const char *pl_req_header(const pl_req_t *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

json_t *pl_req_json(pl_req_t *r, pl_error_t **err)
{
	if (!r->body_len) {
		pl_error_set(err, PL_ERR_INVALID, 0, "request body is required");
		return NULL;
	}
	json_t *j = pl_json_parse(r->body, r->body_len, "request body", err);
	if (j && !json_is_object(j)) {
		json_decref(j);
		pl_error_set(err, PL_ERR_INVALID, 0, "request body must be a JSON object");
		return NULL;
	}
	return j;
}

void pl_req_park(pl_req_t *r, void *wait_data)
{
	r->wait_data = wait_data;
	add_parked(r);
}

void *pl_req_wait_data(const pl_req_t *r)
{
	return r->wait_data;
}

void pl_req_set_wait_free(pl_req_t *r, void (*fn)(void *))
{
	r->wait_free = fn;
}

pl_req_t *pl_http_parked_first(pl_http_t *h)
{
	return h->parked;
}

pl_req_t *pl_req_parked_next(pl_req_t *r)
{
	return r->pnext;
}

void pl_req_wake(pl_req_t *r)
{
	if (r->stream) {
		unpark(r);
		resume(r);
	}
}

bool pl_req_is_streaming(const pl_req_t *r)
{
	return r->stream != NULL;
}

/* Matches path against pattern; the {..} segments go to param[0..1] (malloc'd). */
static bool match(const char *pattern, const char *path, char *param[2])
{
	const char *p = pattern, *u = path;
	int n = 0;
	while (*p && *u) {
		if (*p == '{') {
			const char *pe = strchr(p, '}');
			const char *ue = strchr(u, '/');
			if (!ue || (pe && pe[-1] == '*'))
				ue = u + strlen(u);
			if (pe && pe[-1] == '*' && pe[1]) { /* "{ref*}/push": up to the suffix */
				size_t sl = strlen(pe + 1), ul = strlen(u);
				if (ul <= sl || strcmp(u + ul - sl, pe + 1) != 0)
					break;
				ue = u + ul - sl;
			}
			if (ue == u || !pe || n == 2)
				break;
			param[n++] = strndup(u, (size_t)(ue - u));
			p = pe + 1;
			u = ue;
			continue;
		}
		if (*p != *u)
			break;
		p++;
		u++;
	}
	if (!*p && !*u)
		return true;
	for (int i = 0; i < n; i++) {
		free(param[i]);
		param[i] = NULL;
	}
	return false;
}

static bool wants_spool(pl_http_t *h, const char *url, const char *method)
{
	for (const pl_route_t *rt = h->routes; rt->method; rt++) {
		char *param[2] = {NULL, NULL};
		if (!match(rt->pattern, url, param))
			continue;
		free(param[0]);
		free(param[1]);
		if (strcmp(rt->method, method) == 0)
			return rt->spool;
	}
	return false;
}

int pl_req_body_fd(pl_req_t *r)
{
	if (r->body_fd >= 0)
		lseek(r->body_fd, 0, SEEK_SET);
	return r->body_fd;
}

void pl_http_set_spool_dir(pl_http_t *h, const char *dir)
{
	free(h->spool_dir);
	h->spool_dir = pl_xstrdup(dir);
}

/* A path some route names literally ("/images/import") is never a parameter of another
 * ("/images/{ref*}"): the wrong method on it is a 405, not a lookup of "import". */
static bool literal_route(const pl_route_t *routes, const char *url)
{
	for (const pl_route_t *rt = routes; rt->method; rt++)
		if (!strchr(rt->pattern, '{') && strcmp(rt->pattern, url) == 0)
			return true;
	return false;
}

/* Likewise a path a "{ref*}/suffix" route matches ("/images/x/push") is never a "{ref*}"
 * of a route without the suffix. */
static bool suffix_route(const pl_route_t *routes, const char *url)
{
	for (const pl_route_t *rt = routes; rt->method; rt++) {
		const char *star = strstr(rt->pattern, "*}/");
		char *param[2] = {NULL, NULL};
		if (star && match(rt->pattern, url, param)) {
			free(param[0]);
			free(param[1]);
			return true;
		}
	}
	return false;
}

static bool ends_with_star(const char *pattern)
{
	size_t n = strlen(pattern);
	return n >= 2 && !strcmp(pattern + n - 2, "*}");
}

static void dispatch(pl_req_t *r, const char *url, const char *method)
{
	bool path_known = false;
	bool literal = literal_route(r->h->routes, url);
	bool suffixed = suffix_route(r->h->routes, url);
	for (const pl_route_t *rt = r->h->routes; rt->method; rt++) {
		char *param[2] = {NULL, NULL};
		if ((literal && strchr(rt->pattern, '{')) ||
		    (suffixed && ends_with_star(rt->pattern)) || !match(rt->pattern, url, param))
			continue;
		path_known = true;
		if (strcmp(rt->method, method) != 0) {
			free(param[0]);
			free(param[1]);
			continue;
		}
		r->param[0] = param[0];
		r->param[1] = param[1];
		r->route = rt;
		if (r->body_too_big) {
			pl_error_t *e = NULL;
			pl_error_set(&e, PL_ERR_INVALID, 0, "request body exceeds %u bytes",
				     MAX_BODY);
			pl_reply_error(r, e);
			pl_error_free(e);
			return;
		}
		rt->fn(r, r->h->app);
		return;
	}
	pl_error_t *e = NULL;
	if (path_known)
		pl_error_set(&e, PL_ERR_INVALID, 0, "method %s not allowed on %s", method, url);
	else
		pl_error_set(&e, PL_ERR_NOTFOUND, 0, "no such route: %s %s", method, url);
	pl_reply_json(r, path_known ? 405 : 404, message_body(e->msg));
	pl_error_free(e);
}

/* "/v1/containers" → "/containers" with *version 1; a path without a version prefix is served
 * as the newest version (*version 0). NULL for a prefix outside [api_min, api_max]. */
static const char *strip_version(const pl_http_t *h, const char *url, unsigned *version)
{
	*version = 0;
	if (!h->api_max || url[0] != '/' || url[1] != 'v' || url[2] < '0' || url[2] > '9')
		return url;
	char *end;
	unsigned long n = strtoul(url + 2, &end, 10);
	if (*end != '/' && *end != '\0')
		return url; /* "/volumes", "/v1x": not a prefix */
	if (n < h->api_min || n > h->api_max)
		return NULL;
	*version = (unsigned)n;
	return *end ? end : "/";
}

static void unsupported_version(pl_req_t *r, const char *url)
{
	_cleanup_free_ char *msg =
	    pl_xasprintf("API version in %s is not supported: this daemon serves v%u to v%u", url,
			 r->h->api_min, r->h->api_max);
	pl_reply_json(r, 404, message_body(msg));
}

void pl_http_set_api_versions(pl_http_t *h, unsigned min, unsigned max)
{
	h->api_min = min;
	h->api_max = max;
}

unsigned pl_req_api_version(const pl_req_t *r)
{
	return r->api_version ? r->api_version : r->h->api_max;
}

void pl_http_set_observer(pl_http_t *h, pl_http_observe_fn fn, void *data)
{
	h->observe = fn;
	h->observe_data = data;
}

/* On a TLS listener, true only when the client presented a certificate that verifies
 * against the client CA; plain (unix socket) connections pass. */
static bool client_verified(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (!ci || !ci->tls_session)
		return true;
	unsigned status = 0;
	int rc = gnutls_certificate_verify_peers2((gnutls_session_t)ci->tls_session, &status);
	if (rc < 0 || status != 0) {
		pl_log_info("refused a TLS client: %s",
			    rc < 0 ? gnutls_strerror(rc) : "certificate does not verify");
		return false;
	}
	return true;
}

/* The raw request target, before MHD decodes it (in place). on_request's url is the same
 * buffer, decoded; MHD also hands it as a C string, so "a%00b" or a raw NUL byte in the
 * line would make it "a". What on_request needs to tell is passed as a tagged integer in
 * the request context (odd, so never a pl_req_t; nothing to free if no call follows):
 * bit 1 a %00, bits 2.. the raw target's length as a C string. With a raw NUL the HTTP
 * version does not follow that length. */
#define URI_TAG	      1u
#define URI_PCT00     2u
#define URI_TAGGED(p) (((uintptr_t)(p)&URI_TAG) != 0)

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	if (!uri)
		return NULL;
	uintptr_t len = strlen(uri);
	return (void *)((len << 2) | (strstr(uri, "%00") ? URI_PCT00 : 0) | URI_TAG);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	pl_http_t *h = cls;
	pl_req_t *r = *con_cls;
	bool nul = false;
	if (URI_TAGGED(r)) {
		uintptr_t tag = (uintptr_t)r;
		nul = (tag & URI_PCT00) || (version && *version && url + (tag >> 2) + 1 != version);
		r = *con_cls = NULL;
	}
	if (h->path_fn)
		url = h->path_fn(url);
	if (!r && !client_verified(conn))
		return MHD_NO; /* closes the connection: no valid client certificate */
	if (!r) {
		r = pl_xcalloc(1, sizeof(*r));
		r->h = h;
		r->conn = conn;
		r->body_fd = -1;
		r->t0_ns = mono_ns();
		r->path = strip_version(h, url, &r->api_version);
		*con_cls = r;
		if (nul) { /* MHD hands us the decoded URL as a C string: "a%00b" would be "a" */
			r->dispatched = true;
			pl_reply_json(r, 400,
				      message_body("the request target contains a NUL byte (%00)"));
			return MHD_YES;
		}
		if (r->path && wants_spool(h, r->path, method) && h->spool_dir)
			r->body_fd = open(h->spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		return MHD_YES;
	}
	if (r->gone)
		return MHD_NO; /* the client hung up while parked: close */
	if (r->dispatched && r->body_fd < 0 && *upload_size) {
		*upload_size = 0; /* a body after an early reply (%00) is read and dropped */
		return MHD_YES;
	}
	if (*upload_size && r->body_fd >= 0) {
		r->spooled += *upload_size;
		if (r->spooled > MAX_SPOOL ||
		    write(r->body_fd, upload, *upload_size) != (ssize_t)*upload_size)
			r->body_too_big = true;
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->body_len + *upload_size > MAX_BODY) {
			r->body_too_big = true;
		} else {
			r->body = pl_xrealloc(r->body, r->body_len + *upload_size + 1);
			memcpy(r->body + r->body_len, upload, *upload_size);
			r->body_len += *upload_size;
			r->body[r->body_len] = '\0';
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (!r->dispatched) {
		r->dispatched = true;
		if (r->path)
			dispatch(r, r->path, method);
		else
			unsupported_version(r, url);
	}
	if (r->pending) {
		if (h->observe && !r->observed) {
			r->observed = true;
			h->observe(r->route, method, r->pending_status, mono_ns() - r->t0_ns,
				   h->observe_data);
		}
		struct MHD_Response *resp = TAKE_PTR(r->pending);
		enum MHD_Result rc = MHD_queue_response(conn, r->pending_status, resp);
		MHD_destroy_response(resp);
		return rc;
	}
	/* parked: wait for a reply from a later callback */
	r->suspended = true;
	MHD_suspend_connection(conn);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	pl_req_t *r = *con_cls;
	if (!r || URI_TAGGED(r))
		return;
	r->hup_watch = pl_loop_unwatch(r->h->loop, r->hup_watch);
	unpark(r);
	if (r->stream)
		r->stream->req = NULL;
	if (r->pending)
		MHD_destroy_response(r->pending);
	if (r->headers)
		json_decref(r->headers);
	if (r->wait_free)
		r->wait_free(r->wait_data);
	free(r->param[0]);
	free(r->param[1]);
	free(r->body);
	if (r->body_fd >= 0)
		close(r->body_fd);
	free(r);
	*con_cls = NULL;
}

static void on_mhd(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	/* the work happens in the idle hook, once per loop iteration */
}

static unsigned conn_count(listener_t *l)
{
	const union MHD_DaemonInfo *info =
	    MHD_get_daemon_info(l->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
	return info ? info->num_connections : 0;
}

static void arm(listener_t *l, bool on)
{
	if (l->armed == on || !l->lwatch)
		return;
	if (pl_loop_watch_modify(l->h->loop, l->lwatch, on ? EPOLLIN : 0) == 0)
		l->armed = on;
}

static void on_retry(pl_loop_t *loop, void *data)
{
	listener_t *l = data;
	l->retry = NULL;
	arm(l, true);
}

/* We accept, not MHD: at the connection limit the listening socket is left unwatched (new
 * clients wait in the backlog) and run_mhd watches it again as soon as a connection is
 * gone, whatever the loop was doing meanwhile. */
static void on_listen(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	listener_t *l = data;
	for (int i = 0; i < 64; i++) {
		if (conn_count(l) >= l->h->max_conns) {
			arm(l, false);
			return;
		}
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int c = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				pl_log_warn("http: accept: %s; pausing new connections",
					    strerror(errno));
				arm(l, false);
				if (!l->retry)
					l->retry = pl_loop_timer(loop, 100, on_retry, l, NULL);
			}
			return;
		}
		if (ss.ss_family == AF_UNIX) {
			len = sizeof(sa_family_t); /* unnamed peer */
			/* room for a whole list of 1000 containers (~450 KiB) in one write: on a
			 * loaded host, handing it over in 200 KiB turns of both processes made
			 * its tail latency (memory is only taken while an answer is queued) */
			int sz = 1 << 20;
			if (setsockopt(c, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz)) < 0)
				setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
		}
		if (MHD_add_connection(l->mhd, c, (struct sockaddr *)&ss, len) != MHD_YES)
			pl_log_debug("http: a new connection was refused"); /* MHD closed it */
	}
}

static void run_mhd(pl_loop_t *loop, void *data)
{
	pl_http_t *h = data;
	for (int i = 0; i < 8; i++) {
		h->resumed = false;
		for (size_t k = 0; k < h->n; k++)
			MHD_run(h->lis[k].mhd);
		if (!h->resumed)
			break;
	}
	for (size_t k = 0; k < h->n; k++) {
		listener_t *l = &h->lis[k];
		if (!l->armed && !l->retry && conn_count(l) < h->max_conns)
			arm(l, true);
	}
}

static int64_t mhd_timeout(void *data)
{
	pl_http_t *h = data;
	if (h->resumed)
		return 0;
	int64_t best = -1;
	for (size_t k = 0; k < h->n; k++) {
		MHD_UNSIGNED_LONG_LONG t;
		if (MHD_get_timeout(h->lis[k].mhd, &t) == MHD_YES &&
		    (best < 0 || (int64_t)t < best))
			best = (int64_t)t;
	}
	return best;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char buf[512];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* connections we add do not tell MHD they are unix sockets: it tries TCP options on
	 * them, fails harmlessly, and says so for every connection */
	if (strstr(buf, "TCP_NODELAY") || strstr(buf, "TCP_CORK") ||
	    strstr(buf, "Failed to push the data"))
		return;
	pl_log_debug("http: %s", buf);
}

/* MHD's own unescaping, except that "%00" is left as it is: a NUL in the middle of a path
 * would cut it short, and "/kv/a%00b" or "/containers/web%00x" would silently name "a" or
 * "web". Kept undecoded, it is a character no id, name or key may hold: a clear 400/404. */
static size_t unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	if (strstr(s, "%00"))
		return strlen(s);
	return MHD_http_unescape(s);
}

pl_http_t *pl_http_new(pl_loop_t *loop, const pl_route_t *routes, void *app)
{
	pl_http_t *h = pl_xcalloc(1, sizeof(*h));
	h->loop = loop;
	h->routes = routes;
	h->app = app;
	h->max_conns = PL_HTTP_DEFAULT_MAX_CONNECTIONS;
	h->idle_timeout = PL_HTTP_DEFAULT_IDLE_TIMEOUT;
	h->conn_memory = PL_HTTP_DEFAULT_CONNECTION_MEMORY;
	pl_loop_set_idle(loop, run_mhd, h);
	pl_loop_set_timeout_hook(loop, mhd_timeout, h);
	return h;
}

void pl_http_set_limits(pl_http_t *h, unsigned max_connections, unsigned idle_timeout)
{
	h->max_conns = max_connections ? max_connections : PL_HTTP_DEFAULT_MAX_CONNECTIONS;
	h->idle_timeout = idle_timeout;
}

/* Each connection's memory (libmicrohttpd's pool): the request line and headers, the read
 * buffer, the answer's headers. libmicrohttpd zeroes all of it after every request, and a pool
 * above 32 KiB is a fresh mmap per connection: at 256 KiB that was 64 page faults and a
 * munmap per connection, about 1 ms of the daemon's CPU on a PVM guest (60 us at 32 KiB;
 * docs/design-decisions.md). 32 KiB takes about 30 KB of headers (nginx's default is 4 x 8 KB);
 * more is answered 431. Bodies are streamed through it, never held whole. */
void pl_http_set_connection_memory(pl_http_t *h, size_t bytes)
{
	h->conn_memory = bytes;
}

int pl_http_listen(pl_http_t *h, int listen_fd, const pl_tls_t *tls, pl_error_t **err)
{
	if (h->n == PL_ARRAY_SIZE(h->lis))
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "too many listeners");
	const unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
			       MHD_USE_NO_LISTEN_SOCKET | (tls ? 0 : MHD_ALLOW_UPGRADE);
	/* the limit MHD enforces is a backstop; on_listen stops accepting at it first */
	const unsigned limit = h->max_conns + 1;
	struct MHD_Daemon *d;
	if (tls) {
		/* GnuTLS through libmicrohttpd; the client CA makes it ask for a certificate,
		 * and on_request refuses connections whose certificate does not verify */
		d = MHD_start_daemon(
		    flags | MHD_USE_TLS, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
		    mhd_log, h, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
		    MHD_OPTION_URI_LOG_CALLBACK, on_uri, h, MHD_OPTION_CONNECTION_LIMIT, limit,
		    MHD_OPTION_CONNECTION_TIMEOUT, h->idle_timeout ? h->idle_timeout : 60u,
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, h->conn_memory, MHD_OPTION_HTTPS_MEM_CERT,
		    tls->cert, MHD_OPTION_HTTPS_MEM_KEY, tls->key, MHD_OPTION_HTTPS_MEM_TRUST,
		    tls->client_ca, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_END);
	} else {
		d = MHD_start_daemon(
		    flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_URI_LOG_CALLBACK,
		    on_uri, h, MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_CONNECTION_TIMEOUT,
		    h->idle_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT, h->conn_memory,
		    MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_END);
	}
	if (!d)
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "start %s HTTP server",
				    tls ? "TLS" : "plain");
	listener_t *l = &h->lis[h->n];
	*l = (listener_t){.mhd = d, .fd = listen_fd, .h = h};
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
	l->watch = pl_loop_watch(h->loop, info->epoll_fd, EPOLLIN, on_mhd, h, err);
	if (l->watch)
		l->lwatch = pl_loop_watch(h->loop, listen_fd, EPOLLIN, on_listen, l, err);
	if (!l->lwatch) {
		l->watch = pl_loop_unwatch(h->loop, l->watch);
		MHD_stop_daemon(d);
		*l = (listener_t){.fd = -1};
		return -1;
	}
	l->armed = true;
	h->n++;
	return 0;
}

pl_http_t *pl_http_free(pl_http_t *h)
{
	if (!h)
		return NULL;
	/* MHD forbids stopping with suspended connections: resume them to be torn down */
	for (pl_req_t *r = h->parked; r; r = r->pnext)
		if (r->suspended) {
			r->suspended = false;
			MHD_resume_connection(r->conn);
		}
	for (size_t k = 0; k < h->n; k++) {
		listener_t *l = &h->lis[k];
		MHD_run(l->mhd);
		pl_loop_unwatch(h->loop, l->watch);
		pl_loop_unwatch(h->loop, l->lwatch);
		pl_loop_timer_cancel(h->loop, l->retry);
		MHD_stop_daemon(l->mhd);
	}
	free(h->spool_dir);
	free(h->server);
	free(h);
	return NULL;
}
