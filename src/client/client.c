/* SPDX-License-Identifier: Apache-2.0 */
/* The transport: HTTP/1.1 over the daemon's unix socket, spoken directly. The port layer's
 * API needs nothing more than one keep-alive connection, Content-Length or chunked bodies
 * and an upgrade; a general HTTP library (and the TLS, Kerberos, LDAP and IDN stacks it
 * loads) would cost every plctl run more in dynamic linking than the request itself. */
#include "client/client.h"
#include "common/cleanup.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct pl_client {
	char *host;   /* as given, for messages */
	char *socket; /* filesystem path of the unix socket */
	int fd;	      /* the keep-alive connection, or -1 until the next request makes one */
	/* pl_client_interrupt's: fd changes and the flag under the lock, so that another
	 * thread never shuts down a descriptor number that was closed and reused */
	pthread_mutex_t lock;
	bool interrupted;
	/* bytes read from fd past the last response (none normally: answers are not
	 * pipelined), and the read buffer */
	char rbuf[16 * 1024];
	size_t rpos, rlen;
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
	pl_client_t *c = pl_xcalloc(1, sizeof(*c));
	c->host = pl_xstrdup(host);
	c->socket = pl_xstrdup(path);
	c->fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

static void drop_connection(pl_client_t *c)
{
	pthread_mutex_lock(&c->lock);
	c->fd = pl_close(c->fd);
	pthread_mutex_unlock(&c->lock);
	c->rpos = c->rlen = 0;
}

void pl_client_interrupt(pl_client_t *c)
{
	pthread_mutex_lock(&c->lock);
	c->interrupted = true;
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&c->lock);
}

pl_client_t *pl_client_free(pl_client_t *c)
{
	if (!c)
		return NULL;
	drop_connection(c);
	pthread_mutex_destroy(&c->lock);
	free(c->host);
	free(c->socket);
	free(c);
	return NULL;
}

const char *pl_client_host(const pl_client_t *c)
{
	return c->host;
}

const char *pl_client_socket_path(const pl_client_t *c)
{
	return c->socket;
}

/* RFC 3986: unreserved characters stay, every other byte is %XX (as curl_easy_escape). */
char *pl_client_escape(pl_client_t *c, const char *s)
{
	(void)c;
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = pl_xmalloc(3 * n + 1), *o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			*o++ = (char)*p;
		} else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

void pl_client_add_query(pl_client_t *c, char **path, const char *key, const char *value)
{
	_cleanup_free_ char *esc = pl_client_escape(c, value);
	char *next = pl_xasprintf("%s%c%s=%s", *path, strchr(*path, '?') ? '&' : '?', key, esc);
	free(*path);
	*path = next;
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

/* ---- one exchange on the keep-alive connection ---- */

/* What a request sends and where its answer goes. */
typedef struct exchange {
	const char *method, *path;
	const char *content_type; /* of body or of the upload; NULL: none */
	const char *body;	  /* in memory, or NULL */
	size_t body_len;
	int upload_fd; /* >= 0: the body is read from it (upload_size bytes, < 0: to EOF) */
	int64_t upload_size;
	const char *if_match;	 /* If-Match value, or NULL */
	const char *header_name; /* a response header wanted back, or NULL */
	/* 2xx bodies go to fn when set (streams), else into out; error bodies into out */
	pl_client_data_fn fn;
	void *userdata;
	/* results */
	long status;
	char *header_value;
	buf_t out;
	int fn_ret;	  /* fn's negative return when it stopped the transfer */
	int upload_errno; /* reading upload_fd failed */
} exchange_t;

static void exchange_done(exchange_t *x)
{
	free(x->header_value);
	buf_done(&x->out);
}

/* Reads more bytes into the client's buffer: > 0 bytes, 0 at EOF, -errno. */
static ssize_t fill(pl_client_t *c)
{
	if (c->rpos == c->rlen)
		c->rpos = c->rlen = 0;
	for (;;) {
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		c->rlen += (size_t)n;
		return n;
	}
}

/* One line (CRLF or LF ended, without it) into line; -EMSGSIZE past max. */
static int read_line(pl_client_t *c, buf_t *line, size_t max)
{
	line->len = 0;
	buf_append(line, "", 0);
	for (;;) {
		char *nl = memchr(c->rbuf + c->rpos, '\n', c->rlen - c->rpos);
		size_t take = nl ? (size_t)(nl - (c->rbuf + c->rpos)) : c->rlen - c->rpos;
		if (line->len + take > max)
			return -EMSGSIZE;
		buf_append(line, c->rbuf + c->rpos, take);
		c->rpos += take;
		if (nl) {
			c->rpos++;
			if (line->len > 0 && line->data[line->len - 1] == '\r')
				line->data[--line->len] = '\0';
			return 0;
		}
		if (c->rpos == c->rlen) {
			/* keep the buffer compact: the partial line is in `line` already */
			ssize_t n = fill(c);
			if (n < 0)
				return (int)n;
			if (n == 0)
				return -ECONNRESET;
		}
	}
}

/* Hands body bytes on: to fn for a 2xx stream, else into out (an error body capped). */
static int deliver(exchange_t *x, const char *data, size_t len)
{
	bool ok = x->status >= 200 && x->status < 300;
	if (ok && x->fn) {
		int r = x->fn(data, len, x->userdata);
		if (r < 0)
			x->fn_ret = r;
		return r < 0 ? r : 0;
	}
	if (!ok && x->out.len >= 64 * 1024)
		return 0;
	buf_append(&x->out, data, len);
	return 0;
}

/* Exactly n body bytes (n < 0: to EOF) from the connection. */
static int read_body_bytes(pl_client_t *c, exchange_t *x, int64_t n)
{
	while (n != 0) {
		if (c->rpos == c->rlen) {
			ssize_t got = fill(c);
			if (got < 0)
				return (int)got;
			if (got == 0)
				return n < 0 ? 0 : -ECONNRESET;
		}
		size_t avail = c->rlen - c->rpos;
		size_t take = n >= 0 && (uint64_t)n < avail ? (size_t)n : avail;
		int r = deliver(x, c->rbuf + c->rpos, take);
		c->rpos += take;
		if (r < 0)
			return r;
		if (n > 0)
			n -= (int64_t)take;
	}
	return 0;
}

static int read_chunked(pl_client_t *c, exchange_t *x)
{
	_cleanup_(buf_done) buf_t line = {0};
	for (;;) {
		int r = read_line(c, &line, 1024);
		if (r < 0)
			return r;
		char *end;
		errno = 0;
		unsigned long long size = strtoull(line.data, &end, 16);
		if (end == line.data || errno)
			return -EBADMSG;
		if (size == 0)
			break;
		if ((r = read_body_bytes(c, x, (int64_t)size)) < 0)
			return r;
		if ((r = read_line(c, &line, 1024)) < 0) /* the CRLF after the data */
			return r;
	}
	for (;;) { /* trailers, up to the empty line */
		int r = read_line(c, &line, 16 * 1024);
		if (r < 0)
			return r;
		if (line.len == 0)
			return 0;
	}
}

/* Sends the request: the head, then the body from memory or from upload_fd (chunked when
 * its size is unknown). */
static int send_request(pl_client_t *c, exchange_t *x)
{
	bool has_body = x->body || x->upload_fd >= 0;
	bool chunked = x->upload_fd >= 0 && x->upload_size < 0;
	_cleanup_free_ char *length = NULL;
	if (chunked)
		length = pl_xstrdup("Transfer-Encoding: chunked\r\n");
	else if (x->upload_fd >= 0)
		length = pl_xasprintf("Content-Length: %lld\r\n", (long long)x->upload_size);
	else if (has_body || (strcmp(x->method, "GET") != 0 && strcmp(x->method, "HEAD") != 0))
		length = pl_xasprintf("Content-Length: %zu\r\n", x->body_len);
	_cleanup_free_ char *type = has_body && x->content_type
					? pl_xasprintf("Content-Type: %s\r\n", x->content_type)
					: NULL;
	_cleanup_free_ char *match =
	    x->if_match ? pl_xasprintf("If-Match: %s\r\n", x->if_match) : NULL;
	_cleanup_free_ char *head = pl_xasprintf(
	    "%s " PL_CLIENT_API_PREFIX "%s HTTP/1.1\r\nHost: localhost\r\n%s%s%s\r\n", x->method,
	    x->path, type ? type : "", length ? length : "", match ? match : "");
	if (x->body) { /* one write: the daemon reads the request in one go */
		size_t hl = strlen(head);
		_cleanup_free_ char *all = pl_xmalloc(hl + x->body_len);
		memcpy(all, head, hl);
		memcpy(all + hl, x->body, x->body_len);
		return send_all(c->fd, all, hl + x->body_len);
	}
	int r = send_all(c->fd, head, strlen(head));
	if (r < 0 || x->upload_fd < 0)
		return r;

	char data[64 * 1024];
	int64_t left = x->upload_size;
	for (;;) {
		size_t want = sizeof(data);
		if (!chunked && (uint64_t)left < want)
			want = (size_t)left;
		if (want == 0)
			break;
		ssize_t n = read(x->upload_fd, data, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			x->upload_errno = errno;
			return -errno;
		}
		if (n == 0) {
			if (!chunked) { /* shorter than announced */
				x->upload_errno = EPIPE;
				return -EPIPE;
			}
			break;
		}
		if (chunked) {
			char size[32];
			snprintf(size, sizeof(size), "%zx\r\n", (size_t)n);
			if ((r = send_all(c->fd, size, strlen(size))) < 0)
				return r;
		}
		if ((r = send_all(c->fd, data, (size_t)n)) < 0)
			return r;
		if (chunked && (r = send_all(c->fd, "\r\n", 2)) < 0)
			return r;
		if (!chunked)
			left -= n;
	}
	return chunked ? send_all(c->fd, "0\r\n\r\n", 5) : 0;
}

/* Reads the answer's head and body. *got_any: whether any byte of it came (a reused
 * connection the daemon closed while idle answers none, and the request may be resent). */
static int read_response(pl_client_t *c, exchange_t *x, bool *got_any)
{
	_cleanup_(buf_done) buf_t line = {0};
	*got_any = false;
	if (c->rpos == c->rlen) {
		ssize_t n = fill(c);
		if (n <= 0)
			return n < 0 ? (int)n : -ECONNRESET;
	}
	*got_any = true;
	for (;;) { /* skip 1xx answers */
		int r = read_line(c, &line, 16 * 1024);
		if (r < 0)
			return r;
		int status = 0;
		if (sscanf(line.data, "HTTP/1.%*d %d", &status) != 1)
			return -EBADMSG;
		x->status = status;
		int64_t length = -1;
		bool chunked = false, close_after = false;
		for (;;) {
			if ((r = read_line(c, &line, 16 * 1024)) < 0)
				return r;
			if (line.len == 0)
				break;
			char *colon = strchr(line.data, ':');
			if (!colon)
				continue;
			*colon = '\0';
			char *v = colon + 1;
			v += strspn(v, " \t");
			size_t vl = strlen(v);
			while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				v[--vl] = '\0';
			if (!strcasecmp(line.data, "Content-Length"))
				length = strtoll(v, NULL, 10);
			else if (!strcasecmp(line.data, "Transfer-Encoding"))
				chunked = strcasestr(v, "chunked") != NULL;
			else if (!strcasecmp(line.data, "Connection"))
				close_after = strcasestr(v, "close") != NULL;
			if (x->header_name && !strcasecmp(line.data, x->header_name)) {
				free(x->header_value);
				x->header_value = pl_xstrdup(v);
			}
		}
		if (status >= 100 && status < 200)
			continue;
		if (!strcmp(x->method, "HEAD") || status == 204 || status == 304)
			r = 0;
		else if (chunked)
			r = read_chunked(c, x);
		else if (length >= 0)
			r = read_body_bytes(c, x, length);
		else { /* delimited by the end of the connection */
			r = read_body_bytes(c, x, -1);
			close_after = true;
		}
		if (r < 0)
			return r;
		if (close_after)
			drop_connection(c);
		return 0;
	}
}

static int transport_error(pl_client_t *c, int r, const exchange_t *x, pl_error_t **err)
{
	if (r == -EBADMSG)
		return pl_error_set(err, PL_ERR_INTERNAL, 0,
				    "talk to the port layer at %s: %s %s: malformed answer",
				    c->host, x->method, x->path);
	return pl_error_set(err, PL_ERR_INTERNAL, -r, "talk to the port layer at %s", c->host);
}

/* One request and its answer, on the keep-alive connection (made when there is none). A
 * connection that was reused and answered nothing at all was closed by the daemon while
 * idle: the request is sent again once on a new one (not an upload, which cannot be read
 * twice: it always gets a fresh connection). On return x->status is the answer's status; a
 * transport failure (< 0) has filled *err. */
static int perform(pl_client_t *c, exchange_t *x, pl_error_t **err)
{
	if (x->upload_fd >= 0)
		drop_connection(c);
	for (int attempt = 0;; attempt++) {
		bool reused = c->fd >= 0;
		if (!reused) {
			int fd = connect_socket(c, err);
			if (fd < 0)
				return -1;
			pthread_mutex_lock(&c->lock);
			bool interrupted = c->interrupted;
			c->fd = interrupted ? pl_close(fd) : fd;
			pthread_mutex_unlock(&c->lock);
			if (interrupted)
				return pl_error_set(err, PL_ERR_INTERNAL, ECANCELED,
						    "the request was interrupted");
			c->rpos = c->rlen = 0;
		}
		bool got_any = false;
		int r = send_request(c, x);
		if (r >= 0 || r == -EPIPE || r == -ECONNRESET)
			if (x->upload_errno == 0)
				r = read_response(c, x, &got_any);
		if (r >= 0)
			return 0;
		drop_connection(c);
		if (x->upload_errno)
			return pl_error_set(err, PL_ERR_INTERNAL, x->upload_errno,
					    "read the request body");
		if (x->fn_ret < 0)
			return pl_error_set(err, PL_ERR_INTERNAL, -x->fn_ret, "write stream");
		if (reused && !got_any && attempt == 0 && x->upload_fd < 0)
			continue;
		return transport_error(c, r, x, err);
	}
}

/* The common end of a request: status, the JSON answer. */
static int finish_request(exchange_t *x, long *status, json_t **response, pl_error_t **err)
{
	if (status)
		*status = x->status;
	if (x->status < 200 || x->status >= 400)
		return status_error(x->status, &x->out, err);
	if (response && x->out.len > 0) {
		json_error_t jerr;
		json_t *j = json_loadb(x->out.data, x->out.len, 0, &jerr);
		if (!j)
			return pl_error_set(err, PL_ERR_INTERNAL, 0,
					    "%s %s: invalid JSON in response: %s", x->method,
					    x->path, jerr.text);
		*response = j;
	}
	return 0;
}

static int json_request(pl_client_t *c, const char *method, const char *path, json_t *body,
			const char *if_match, long *status, json_t **response, pl_error_t **err)
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
	_cleanup_(exchange_done) exchange_t x = {
	    .method = method,
	    .path = path,
	    .content_type = "application/json",
	    .body = text,
	    .body_len = text ? strlen(text) : 0,
	    .upload_fd = -1,
	    .if_match = if_match,
	};
	if (perform(c, &x, err) < 0)
		return -1;
	return finish_request(&x, status, response, err);
}

int pl_client_request(pl_client_t *c, const char *method, const char *path, json_t *body,
		      long *status, json_t **response, pl_error_t **err)
{
	return json_request(c, method, path, body, NULL, status, response, err);
}

int pl_client_request_if_match(pl_client_t *c, const char *method, const char *path, json_t *body,
			       const char *revision, json_t **response, pl_error_t **err)
{
	return json_request(c, method, path, body, revision, NULL, response, err);
}

int pl_client_upload(pl_client_t *c, const char *method, const char *path, int fd, int64_t size,
		     const char *content_type, long *status, json_t **response, pl_error_t **err)
{
	if (response)
		*response = NULL;
	if (status)
		*status = 0;
	_cleanup_(exchange_done) exchange_t x = {
	    .method = method,
	    .path = path,
	    .content_type = content_type,
	    .upload_fd = fd,
	    .upload_size = size,
	};
	if (perform(c, &x, err) < 0)
		return -1;
	return finish_request(&x, status, response, err);
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

int pl_client_stream(pl_client_t *c, const char *path, pl_client_data_fn fn, void *userdata,
		     pl_error_t **err)
{
	return pl_client_stream_body(c, "GET", path, NULL, fn, userdata, err);
}

/* A streamed answer: 2xx bodies to fn, an error status into *err. */
static int finish_stream(exchange_t *x, pl_error_t **err)
{
	if (x->status < 200 || x->status >= 300) {
		if (x->status == 404 && !x->out.len)
			return pl_error_set(err, PL_ERR_NOTFOUND, 0, "not found");
		return status_error(x->status, &x->out, err);
	}
	return 0;
}

int pl_client_stream_body(pl_client_t *c, const char *method, const char *path, json_t *body,
			  pl_client_data_fn fn, void *userdata, pl_error_t **err)
{
	_cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	_cleanup_(exchange_done) exchange_t x = {
	    .method = method,
	    .path = path,
	    .content_type = "application/json",
	    .body = text,
	    .body_len = text ? strlen(text) : 0,
	    .upload_fd = -1,
	    .fn = fn,
	    .userdata = userdata,
	};
	if (perform(c, &x, err) < 0)
		return -1;
	return finish_stream(&x, err);
}

int pl_client_stream_header(pl_client_t *c, const char *method, const char *path,
			    const char *header, char **value, pl_client_data_fn fn, void *userdata,
			    pl_error_t **err)
{
	_cleanup_(exchange_done) exchange_t x = {
	    .method = method,
	    .path = path,
	    .upload_fd = -1,
	    .header_name = header,
	    .fn = fn,
	    .userdata = userdata,
	};
	int r = perform(c, &x, err);
	if (value)
		*value = TAKE_PTR(x.header_value);
	if (r < 0)
		return -1;
	return finish_stream(&x, err);
}

/* ---- upgraded connections ---- */

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
