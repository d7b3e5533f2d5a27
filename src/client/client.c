/* SPDX-License-Identifier: Apache-2.0 */
#include "client/client.h"
#include "common/cleanup.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct pl_client {
	CURL *curl;
	char *host;			 /* as given, for messages */
	char *socket;			 /* filesystem path of the unix socket */
	struct curl_slist *json_headers; /* for requests with a JSON body */
	struct curl_slist *bare_headers; /* for the rest */
	char errbuf[CURL_ERROR_SIZE];
};

/* A growable byte buffer for response bodies. */
typedef struct buf {
	char *data;
	size_t len, cap;
} buf_t;

static void buf_append(buf_t *b, const char *data, size_t len)
{
	if (b->len + len + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + len + 1)
			cap *= 2;
		b->data = pl_xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static void buf_done(buf_t *b)
{
	free(b->data);
}

static bool curl_ready;

pl_client_t *pl_client_new(const char *host, pl_error_t **err)
{
	if (!host || !*host)
		host = PL_CLIENT_DEFAULT_HOST;

	const char *path = NULL;
	if (strncmp(host, "unix://", 7) == 0)
		path = host + 7;
	else if (host[0] == '/')
		path = host;
	if (!path || !*path) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "unsupported host '%s' (want unix:///path/to.sock)", host);
		return NULL;
	}

	if (!curl_ready) {
		CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
		if (rc != CURLE_OK) {
			pl_error_set(err, PL_ERR_INTERNAL, 0, "initialise libcurl: %s",
				     curl_easy_strerror(rc));
			return NULL;
		}
		curl_ready = true;
	}

	pl_client_t *c = pl_xcalloc(1, sizeof(*c));
	c->host = pl_xstrdup(host);
	c->socket = pl_xstrdup(path);
	c->curl = curl_easy_init();
	if (!c->curl) {
		pl_client_free(c);
		pl_error_set(err, PL_ERR_INTERNAL, 0, "initialise libcurl handle");
		return NULL;
	}
	/* Expect: 100-continue only adds a round trip on a local socket; a bodiless POST would
	 * otherwise claim to carry a form (curl's default Content-Type). */
	c->json_headers = curl_slist_append(NULL, "Content-Type: application/json");
	c->json_headers = curl_slist_append(c->json_headers, "Expect:");
	c->bare_headers = curl_slist_append(NULL, "Content-Type:");
	c->bare_headers = curl_slist_append(c->bare_headers, "Expect:");
	if (!c->json_headers || !c->bare_headers)
		abort();
	return c;
}

pl_client_t *pl_client_free(pl_client_t *c)
{
	if (!c)
		return NULL;
	if (c->curl)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->json_headers);
	curl_slist_free_all(c->bare_headers);
	free(c->host);
	free(c->socket);
	free(c);
	return NULL;
}

const char *pl_client_host(const pl_client_t *c)
{
	return c->host;
}

char *pl_client_escape(pl_client_t *c, const char *s)
{
	char *e = curl_easy_escape(c->curl, s, 0);
	if (!e)
		abort();
	char *r = pl_xstrdup(e);
	curl_free(e);
	return r;
}

void pl_client_add_query(pl_client_t *c, char **path, const char *key, const char *value)
{
	_cleanup_free_ char *esc = pl_client_escape(c, value);
	char *next = pl_xasprintf("%s%c%s=%s", *path, strchr(*path, '?') ? '&' : '?', key, esc);
	free(*path);
	*path = next;
}

/* Resets the handle (keeping its connection) and points it at path on the socket. */
static void prepare(pl_client_t *c, const char *method, const char *path, const char *body,
		    size_t body_len)
{
	CURL *h = c->curl;
	curl_easy_reset(h);
	_cleanup_free_ char *url = pl_xasprintf("http://localhost" PL_CLIENT_API_PREFIX "%s", path);
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->socket);
	curl_easy_setopt(h, CURLOPT_URL, url); /* curl copies it */
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, body ? c->json_headers : c->bare_headers);
	c->errbuf[0] = '\0';

	if (strcmp(method, "GET") == 0 && !body) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
		return;
	}
	if (strcmp(method, "HEAD") == 0) { /* an answer without a body: do not wait for one */
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
		return;
	}
	if (strcmp(method, "POST") == 0 || body) {
		/* Always give POST a (possibly empty) body: without POSTFIELDS curl would read
		 * the body from stdin. */
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
	}
	if (strcmp(method, "POST") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
}

static pl_errkind_t kind_of_status(long status)
{
	switch (status) {
	case 400:
		return PL_ERR_INVALID;
	case 404:
		return PL_ERR_NOTFOUND;
	case 408:
		return PL_ERR_TIMEOUT;
	case 409:
		return PL_ERR_CONFLICT;
	case 501:
		return PL_ERR_UNSUPPORTED;
	default:
		return PL_ERR_INTERNAL;
	}
}

/* Turns an error answer into *err: the daemon's "message" (and "cause" if it sent one), or
 * the raw body, or just the status. */
static int status_error(long status, const buf_t *body, pl_error_t **err)
{
	pl_errkind_t kind = kind_of_status(status);
	if (body->len > 0) {
		_cleanup_(json_decrefp) json_t *j = json_loadb(body->data, body->len, 0, NULL);
		const char *msg = json_string_value(json_object_get(j, "message"));
		const char *cause = json_string_value(json_object_get(j, "cause"));
		if (msg && cause && *cause && !strstr(msg, cause))
			return pl_error_set(err, kind, 0, "%s: %s", msg, cause);
		if (msg)
			return pl_error_set(err, kind, 0, "%s", msg);
		if (!j) {
			size_t n = body->len;
			while (n > 0 && (body->data[n - 1] == '\n' || body->data[n - 1] == '\r'))
				n--;
			return pl_error_set(err, kind, 0, "HTTP %ld: %.*s", status, (int)n,
					    body->data);
		}
	}
	return pl_error_set(err, kind, 0, "HTTP %ld", status);
}

static int transport_error(pl_client_t *c, CURLcode rc, pl_error_t **err)
{
	long os_errno = 0;
	curl_easy_getinfo(c->curl, CURLINFO_OS_ERRNO, &os_errno);
	if (rc == CURLE_COULDNT_CONNECT && os_errno > 0)
		return pl_error_set(err, PL_ERR_INTERNAL, (int)os_errno,
				    "cannot connect to the port layer at %s", c->host);
	return pl_error_set(err, PL_ERR_INTERNAL, 0, "talk to the port layer at %s: %s", c->host,
			    c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
}

static size_t collect(char *data, size_t size, size_t nmemb, void *userdata)
{
	buf_append(userdata, data, size * nmemb);
	return size * nmemb;
}

/* The common end of a request: transport error, status, the JSON answer. */
static int finish_request(pl_client_t *c, CURLcode rc, const buf_t *out, const char *method,
			  const char *path, long *status, json_t **response, pl_error_t **err)
{
	if (rc != CURLE_OK)
		return transport_error(c, rc, err);
	long code = 0;
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
	if (status)
		*status = code;
	if (code < 200 || code >= 400)
		return status_error(code, out, err);
	if (response && out->len > 0) {
		json_error_t jerr;
		json_t *j = json_loadb(out->data, out->len, 0, &jerr);
		if (!j)
			return pl_error_set(err, PL_ERR_INTERNAL, 0,
					    "%s %s: invalid JSON in response: %s", method, path,
					    jerr.text);
		*response = j;
	}
	return 0;
}

int pl_client_request(pl_client_t *c, const char *method, const char *path, json_t *body,
		      long *status, json_t **response, pl_error_t **err)
{
	if (response)
		*response = NULL;
	if (status)
		*status = 0;

	_cleanup_free_ char *text = NULL;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			return pl_error_set(err, PL_ERR_INVALID, 0, "cannot encode request body");
	}
	prepare(c, method, path, text, text ? strlen(text) : 0);

	_cleanup_(buf_done) buf_t out = {0};
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &out);
	CURLcode rc = curl_easy_perform(c->curl);
	return finish_request(c, rc, &out, method, path, status, response, err);
}

int pl_client_request_if_match(pl_client_t *c, const char *method, const char *path, json_t *body,
			       const char *revision, json_t **response, pl_error_t **err)
{
	if (!revision)
		return pl_client_request(c, method, path, body, NULL, response, err);
	if (response)
		*response = NULL;
	_cleanup_free_ char *text = NULL;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			return pl_error_set(err, PL_ERR_INVALID, 0, "cannot encode request body");
	}
	prepare(c, method, path, text, text ? strlen(text) : 0);
	/* the client's usual headers plus If-Match, for this request only */
	struct curl_slist *hdrs = NULL;
	for (struct curl_slist *h = body ? c->json_headers : c->bare_headers; h; h = h->next)
		hdrs = curl_slist_append(hdrs, h->data);
	_cleanup_free_ char *line = pl_xasprintf("If-Match: %s", revision);
	hdrs = curl_slist_append(hdrs, line);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs);
	_cleanup_(buf_done) buf_t out = {0};
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &out);
	CURLcode rc = curl_easy_perform(c->curl);
	int r = finish_request(c, rc, &out, method, path, NULL, response, err);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hdrs);
	return r;
}

typedef struct upload_src {
	int fd;
	int read_errno; /* set when reading fd failed */
} upload_src_t;

static size_t upload_read(char *buffer, size_t size, size_t nitems, void *userdata)
{
	upload_src_t *src = userdata;
	for (;;) {
		ssize_t n = read(src->fd, buffer, size * nitems);
		if (n >= 0)
			return (size_t)n;
		if (errno == EINTR)
			continue;
		src->read_errno = errno;
		return CURL_READFUNC_ABORT;
	}
}

int pl_client_upload(pl_client_t *c, const char *method, const char *path, int fd, int64_t size,
		     const char *content_type, long *status, json_t **response, pl_error_t **err)
{
	if (response)
		*response = NULL;
	if (status)
		*status = 0;
	prepare(c, method, path, NULL, 0);
	CURL *h = c->curl;
	upload_src_t src = {.fd = fd};
	_cleanup_free_ char *ct = pl_xasprintf("Content-Type: %s", content_type);
	struct curl_slist *headers = curl_slist_append(NULL, ct);
	headers = curl_slist_append(headers, "Expect:");
	if (size < 0)
		headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
	if (!headers)
		abort();
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
	/* prepare() gave POST an empty in-memory body: the body comes from the callback */
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, upload_read);
	curl_easy_setopt(h, CURLOPT_READDATA, &src);
	/* -1: unknown, chunked (prepare() had set 0 for its empty body) */
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(size >= 0 ? size : -1));
	if (strcmp(method, "POST") != 0)
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);

	_cleanup_(buf_done) buf_t out = {0};
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
	CURLcode rc = curl_easy_perform(h);
	/* the list must outlive the transfer; the next prepare() resets the handle */
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(headers);
	if (src.read_errno)
		return pl_error_set(err, PL_ERR_INTERNAL, src.read_errno, "read the request body");
	return finish_request(c, rc, &out, method, path, status, response, err);
}

int pl_client_ping(pl_client_t *c, pl_error_t **err)
{
	long status = 0;
	int r = pl_client_request(c, "GET", "/_ping", NULL, &status, NULL, err);
	if (r < 0)
		return r;
	if (status != 200)
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "ping: HTTP %ld", status);
	return 0;
}

typedef struct stream_ctx {
	pl_client_t *c;
	pl_client_data_fn fn;
	void *userdata;
	long status; /* 0 until the first body bytes */
	buf_t error_body;
	int fn_ret;
} stream_ctx_t;

static void stream_ctx_done(stream_ctx_t *s)
{
	buf_done(&s->error_body);
}

static size_t stream_write(char *data, size_t size, size_t nmemb, void *userdata)
{
	stream_ctx_t *s = userdata;
	size_t n = size * nmemb;
	if (s->status == 0)
		curl_easy_getinfo(s->c->curl, CURLINFO_RESPONSE_CODE, &s->status);
	if (s->status < 200 || s->status >= 300) {
		/* An error body is small JSON; keep it for the message. */
		if (s->error_body.len < 64 * 1024)
			buf_append(&s->error_body, data, n);
		return n;
	}
	int r = s->fn ? s->fn(data, n, s->userdata) : 0;
	if (r < 0) {
		s->fn_ret = r;
		return 0; /* anything but n aborts the transfer */
	}
	return n;
}

int pl_client_stream(pl_client_t *c, const char *path, pl_client_data_fn fn, void *userdata,
		     pl_error_t **err)
{
	return pl_client_stream_body(c, "GET", path, NULL, fn, userdata, err);
}

int pl_client_stream_body(pl_client_t *c, const char *method, const char *path, json_t *body,
			  pl_client_data_fn fn, void *userdata, pl_error_t **err)
{
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	prepare(c, method, path, text, text ? strlen(text) : 0);
	_cleanup_(stream_ctx_done) stream_ctx_t s = {.c = c, .fn = fn, .userdata = userdata};
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, stream_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
	CURLcode rc = curl_easy_perform(c->curl);

	if (s.fn_ret < 0)
		return pl_error_set(err, PL_ERR_INTERNAL, -s.fn_ret, "write stream");
	if (rc != CURLE_OK)
		return transport_error(c, rc, err);
	long code = 0;
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code >= 300)
		return status_error(code, &s.error_body, err);
	return 0;
}

typedef struct header_ctx {
	const char *name;
	char *value;
} header_ctx_t;

static size_t header_line(char *data, size_t size, size_t nmemb, void *userdata)
{
	header_ctx_t *h = userdata;
	size_t n = size * nmemb, nl = strlen(h->name);
	if (n > nl + 1 && !strncasecmp(data, h->name, nl) && data[nl] == ':') {
		const char *v = data + nl + 1;
		size_t vl = n - nl - 1;
		while (vl && (*v == ' ' || *v == '\t'))
			v++, vl--;
		while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
			vl--;
		free(h->value);
		h->value = strndup(v, vl);
	}
	return n;
}

int pl_client_stream_header(pl_client_t *c, const char *method, const char *path,
			    const char *header, char **value, pl_client_data_fn fn, void *userdata,
			    pl_error_t **err)
{
	prepare(c, method, path, NULL, 0);
	_cleanup_(stream_ctx_done) stream_ctx_t s = {.c = c, .fn = fn, .userdata = userdata};
	header_ctx_t h = {.name = header};
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, header_line);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, &h);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, stream_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &s);
	CURLcode rc = curl_easy_perform(c->curl);
	if (value)
		*value = h.value;
	else
		free(h.value);
	if (s.fn_ret < 0)
		return pl_error_set(err, PL_ERR_INTERNAL, -s.fn_ret, "write stream");
	if (rc != CURLE_OK)
		return transport_error(c, rc, err);
	long code = 0;
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code >= 300) {
		if (code == 404 && !s.error_body.len)
			return pl_error_set(err, PL_ERR_NOTFOUND, 0, "not found");
		return status_error(code, &s.error_body, err);
	}
	return 0;
}

/* ---- upgraded connections ---- */

static int connect_socket(const pl_client_t *c, pl_error_t **err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(c->socket) >= sizeof(sa.sun_path))
		return pl_error_set(err, PL_ERR_INVALID, 0, "socket path too long: %s", c->socket);
	memcpy(sa.sun_path, c->socket, strlen(c->socket) + 1);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return pl_error_errno(err, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return pl_error_set(err, PL_ERR_INTERNAL, errno,
				    "cannot connect to the port layer at %s", c->host);
	return TAKE_FD(fd);
}

static int send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads the response head up to and including the blank line, one byte at a time so that
 * not a byte of the stream behind it is consumed. */
static int read_head(int fd, buf_t *head)
{
	enum { MAX_HEAD = 16 * 1024 };
	while (head->len < 4 || memcmp(head->data + head->len - 4, "\r\n\r\n", 4) != 0) {
		char ch;
		ssize_t n = read(fd, &ch, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET;
		if (head->len >= MAX_HEAD)
			return -EMSGSIZE;
		buf_append(head, &ch, 1);
	}
	return 0;
}

/* The value of header name in head (a NUL-terminated response head), or NULL; copied. */
static char *head_value(const char *head, const char *name)
{
	size_t nlen = strlen(name);
	for (const char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
		line += 2;
		if (strncasecmp(line, name, nlen) != 0 || line[nlen] != ':')
			continue;
		const char *v = line + nlen + 1;
		v += strspn(v, " \t");
		size_t vlen = strcspn(v, "\r\n");
		while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
			vlen--;
		return pl_xasprintf("%.*s", (int)vlen, v);
	}
	return NULL;
}

/* An error answer's body: Content-Length bytes, or up to EOF; capped, it is only read for
 * the message. */
static void read_error_body(int fd, const char *head, buf_t *body)
{
	enum { MAX_BODY = 64 * 1024 };
	_cleanup_free_ char *cl = head_value(head, "Content-Length");
	long long want = cl ? strtoll(cl, NULL, 10) : MAX_BODY;
	if (want < 0 || want > MAX_BODY)
		want = MAX_BODY;
	char buf[4096];
	while (body->len < (size_t)want) {
		size_t room = (size_t)want - body->len;
		ssize_t n = read(fd, buf, room < sizeof(buf) ? room : sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf_append(body, buf, (size_t)n);
	}
}

int pl_client_upgrade(pl_client_t *c, const char *method, const char *path, json_t *body,
		      pl_upgraded_t *up, pl_error_t **err)
{
	*up = (pl_upgraded_t){.fd = -1};
	_cleanup_free_ char *text = NULL;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			return pl_error_set(err, PL_ERR_INVALID, 0, "cannot encode request body");
	}
	_cleanup_close_ int fd = connect_socket(c, err);
	if (fd < 0)
		return -1;
	_cleanup_free_ char *req =
	    pl_xasprintf("%s " PL_CLIENT_API_PREFIX "%s HTTP/1.1\r\nHost: localhost\r\n"
			 "Connection: Upgrade\r\nUpgrade: tcp\r\n%sContent-Length: %zu\r\n\r\n%s",
			 method, path, text ? "Content-Type: application/json\r\n" : "",
			 text ? strlen(text) : 0, text ? text : "");
	int r = send_all(fd, req, strlen(req));
	if (r < 0)
		return pl_error_set(err, PL_ERR_INTERNAL, -r, "%s %s: send request", method, path);
	_cleanup_(buf_done) buf_t head = {0};
	r = read_head(fd, &head);
	if (r < 0)
		return pl_error_set(err, PL_ERR_INTERNAL, -r, "%s %s: read the answer", method,
				    path);
	int status = 0;
	if (sscanf(head.data, "HTTP/1.%*d %d", &status) != 1)
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "%s %s: not an HTTP answer: %.40s",
				    method, path, head.data);
	if (status != 101) {
		_cleanup_(buf_done) buf_t err_body = {0};
		read_error_body(fd, head.data, &err_body);
		if (status >= 200 && status < 300)
			return pl_error_set(err, PL_ERR_INTERNAL, 0,
					    "%s %s: the daemon answered %d instead of switching "
					    "protocols",
					    method, path, status);
		return status_error(status, &err_body, err);
	}
	_cleanup_free_ char *type = head_value(head.data, "Content-Type");
	up->raw = type && strstr(type, "raw-stream");
	up->fd = TAKE_FD(fd);
	return 0;
}

void pl_demux_init(pl_demux_t *d, pl_demux_fn fn, void *userdata)
{
	*d = (pl_demux_t){.fn = fn, .userdata = userdata};
}

int pl_demux_feed(pl_demux_t *d, const char *data, size_t len)
{
	while (len > 0) {
		if (d->remaining == 0) {
			size_t want = sizeof(d->header) - d->header_len;
			size_t take = len < want ? len : want;
			memcpy(d->header + d->header_len, data, take);
			d->header_len += take;
			data += take;
			len -= take;
			if (d->header_len < sizeof(d->header))
				return 0;
			d->header_len = 0;
			d->stream = d->header[0];
			d->remaining = (uint32_t)d->header[4] << 24 | (uint32_t)d->header[5] << 16 |
				       (uint32_t)d->header[6] << 8 | (uint32_t)d->header[7];
			continue;
		}
		size_t take = len < d->remaining ? len : d->remaining;
		d->remaining -= (uint32_t)take;
		int r = d->fn(d->stream, data, take, d->userdata);
		if (r < 0)
			return r;
		data += take;
		len -= take;
	}
	return 0;
}

bool pl_demux_at_boundary(const pl_demux_t *d)
{
	return d->header_len == 0 && d->remaining == 0;
}

int pl_demux_feed_cb(const char *data, size_t len, void *demux)
{
	return pl_demux_feed(demux, data, len);
}

void pl_ndjson_init(pl_ndjson_t *n, pl_ndjson_fn fn, void *userdata)
{
	*n = (pl_ndjson_t){.fn = fn, .userdata = userdata};
}

void pl_ndjson_done(pl_ndjson_t *n)
{
	free(n->partial);
	n->partial = NULL;
	n->len = n->cap = 0;
}

static int ndjson_line(pl_ndjson_t *n, const char *line, size_t len)
{
	while (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return 0;
	_cleanup_(json_decrefp) json_t *v = json_loadb(line, len, JSON_DECODE_ANY, NULL);
	if (!v)
		return -EBADMSG;
	return n->fn(v, line, len, n->userdata);
}

int pl_ndjson_feed(pl_ndjson_t *n, const char *data, size_t len)
{
	while (len > 0) {
		const char *nl = memchr(data, '\n', len);
		size_t take = nl ? (size_t)(nl - data) : len;
		if (!nl || n->len > 0) { /* only a line split across feeds is copied */
			if (n->len + take > n->cap) {
				n->cap = n->cap ? n->cap : 256;
				while (n->cap < n->len + take)
					n->cap *= 2;
				n->partial = pl_xrealloc(n->partial, n->cap);
			}
			memcpy(n->partial + n->len, data, take);
			n->len += take;
		}
		if (!nl)
			return 0;
		int r =
		    n->len > 0 ? ndjson_line(n, n->partial, n->len) : ndjson_line(n, data, take);
		n->len = 0;
		if (r < 0)
			return r;
		data += take + 1;
		len -= take + 1;
	}
	return 0;
}

bool pl_ndjson_at_boundary(const pl_ndjson_t *n)
{
	return n->len == 0;
}

int pl_ndjson_feed_cb(const char *data, size_t len, void *ndjson)
{
	return pl_ndjson_feed(ndjson, data, len);
}
