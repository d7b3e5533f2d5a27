/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/storage/registry.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include "common/fs.h"

#define MANIFEST_MAX (4u << 20)
#define CONFIG_MAX   (16u << 20)
#define TOKEN_MAX    (1u << 20)
#define ERRBODY_MAX  (64u << 10)
#define LAYERS_MAX   256
#define PARALLEL     4 /* blob downloads at once per host */

static const char ACCEPT[] = "Accept: application/vnd.oci.image.manifest.v1+json, "
			     "application/vnd.oci.image.index.v1+json, "
			     "application/vnd.docker.distribution.manifest.v2+json, "
			     "application/vnd.docker.distribution.manifest.list.v2+json";

/* --- references --- */

static bool digest_ok(const char *d)
{
	return d && strncmp(d, "sha256:", 7) == 0 && pl_id_is_full(d + 7);
}

/* path components: [a-z0-9]+ joined by separators [._-], as the distribution grammar */
static bool repo_ok(const char *s)
{
	size_t len = strlen(s);
	if (!len || len > 255)
		return false;
	bool start = true;
	for (const char *p = s; *p; p++) {
		bool alnum = islower((unsigned char)*p) || isdigit((unsigned char)*p);
		if (*p == '/') {
			if (start)
				return false;
			start = true;
		} else if (alnum) {
			start = false;
		} else if (!strchr("._-", *p) || start || p[1] == '/' || !p[1]) {
			return false;
		}
	}
	return !start;
}

static bool tag_ok(const char *t)
{
	size_t len = strlen(t);
	if (!len || len > 128 || !(isalnum((unsigned char)t[0]) || t[0] == '_'))
		return false;
	for (const char *p = t; *p; p++)
		if (!(isalnum((unsigned char)*p) || strchr("_.-", *p)))
			return false;
	return true;
}

/* a name or an IPv4 address, with an optional port (IPv6 literals are not image names) */
static bool host_ok(const char *h, size_t len)
{
	if (!len || len > 255 || !isalnum((unsigned char)h[0]))
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(isalnum((unsigned char)h[i]) || strchr(".-:", h[i])))
			return false;
	return true;
}

void pl_registry_ref_clear(pl_registry_ref_t *r)
{
	free(r->host);
	free(r->api);
	free(r->repo);
	free(r->tag);
	free(r->digest);
	memset(r, 0, sizeof(*r));
}

int pl_registry_ref_parse(const char *ref, pl_registry_ref_t *out, pl_error_t **err)
{
	memset(out, 0, sizeof(*out));
	_cleanup_free_ char *s = pl_xstrdup(ref);
	char *at = strchr(s, '@');
	if (at) {
		*at = '\0';
		if (!digest_ok(at + 1))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "reference \"%s\": the digest is not sha256:<64 hex>",
					    ref);
		out->digest = pl_xstrdup(at + 1);
	}
	char *name = s, *slash = strchr(s, '/');
	size_t hl = slash ? (size_t)(slash - s) : 0;
	if (slash && (memchr(s, '.', hl) || memchr(s, ':', hl) ||
		      (hl == 9 && strncmp(s, "localhost", 9) == 0))) {
		if (!host_ok(s, hl)) {
			pl_registry_ref_clear(out);
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "reference \"%s\": bad registry host", ref);
		}
		out->host = pl_xasprintf("%.*s", (int)hl, s);
		name = slash + 1;
	}
	char *colon = strrchr(name, ':');
	if (colon) {
		*colon = '\0';
		if (!tag_ok(colon + 1)) {
			pl_registry_ref_clear(out);
			return pl_error_set(err, PL_ERR_INVALID, 0, "reference \"%s\": bad tag",
					    ref);
		}
		out->tag = pl_xstrdup(colon + 1);
	}
	if (!repo_ok(name)) {
		pl_registry_ref_clear(out);
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "reference \"%s\": bad repository name (lowercase letters, "
				    "digits, separators . _ - and /)",
				    ref);
	}
	if (!out->tag && !out->digest)
		out->tag = pl_xstrdup("latest");
	if (!out->host || !strcmp(out->host, "docker.io") ||
	    !strcmp(out->host, "index.docker.io")) {
		free(out->host);
		out->host = pl_xstrdup("docker.io");
		out->api = pl_xstrdup("registry-1.docker.io");
		out->repo = strchr(name, '/') ? pl_xstrdup(name) : pl_xasprintf("library/%s", name);
	} else {
		out->api = pl_xstrdup(out->host);
		out->repo = pl_xstrdup(name);
	}
	return 0;
}

#include "portlayer/storage/registry_xfer.h"

int pl_xfer_open(pull_t *p, pl_error_t **err)
{
	/* a worker process of its own: nothing else in it uses libcurl */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "libcurl initialisation failed");
	p->multi = curl_multi_init();
	if (!p->multi)
		abort(); /* out of memory */
	return 0;
}

void pl_xfer_init(xfer_t *x, pull_t *p, char *path, char *url, size_t max, int fd)
{
	memset(x, 0, sizeof(*x));
	x->p = p;
	x->path = path;
	x->url = url;
	x->max = max;
	x->fd = fd;
	x->up_fd = -1;
}

static void reset_response(xfer_t *x)
{
	free(x->ctype);
	free(x->challenge);
	free(x->dcd);
	free(x->location);
	x->ctype = x->challenge = x->dcd = x->location = NULL;
	x->len = 0;
	x->got = 0;
	x->status = 0;
	if (x->hash)
		gnutls_hash_deinit(x->hash, NULL);
	x->hash = NULL;
}

void pl_xfer_clear(xfer_t *x)
{
	reset_response(x);
	if (x->h)
		curl_easy_cleanup(x->h);
	curl_slist_free_all(x->hdrs);
	free(x->body);
	free(x->path);
	free(x->url);
	if (x->fd >= 0)
		close(x->fd);
	memset(x, 0, sizeof(*x));
	x->fd = -1;
}

static char *dup_value(const char *v, size_t n)
{
	while (n && (*v == ' ' || *v == '\t'))
		v++, n--;
	while (n && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' '))
		n--;
	return pl_xasprintf("%.*s", (int)n, v);
}

static size_t on_header(char *buf, size_t size, size_t n, void *data)
{
	xfer_t *x = data;
	size_t len = size * n;
	if (len > 5 && strncmp(buf, "HTTP/", 5) == 0) {
		char line[64];
		snprintf(line, sizeof(line), "%.*s", (int)(len < 63 ? len : 63), buf);
		reset_response(x);
		if (sscanf(line, "%*s %ld", &x->status) != 1)
			x->status = 0;
		if (x->status / 100 == 2) {
			gnutls_hash_init(&x->hash, GNUTLS_DIG_SHA256);
			if (x->fd >= 0 &&
			    (ftruncate(x->fd, 0) < 0 || lseek(x->fd, 0, SEEK_SET) < 0))
				x->werr = errno;
		}
		return x->werr ? 0 : len;
	}
	const char *colon = memchr(buf, ':', len);
	if (!colon)
		return len;
	size_t nl = (size_t)(colon - buf);
	const char *v = colon + 1;
	size_t vl = len - nl - 1;
	char **slot = NULL;
	if (nl == 12 && strncasecmp(buf, "content-type", nl) == 0)
		slot = &x->ctype;
	else if (nl == 16 && strncasecmp(buf, "www-authenticate", nl) == 0)
		slot = &x->challenge;
	else if (nl == 21 && strncasecmp(buf, "docker-content-digest", nl) == 0)
		slot = &x->dcd;
	else if (nl == 8 && strncasecmp(buf, "location", nl) == 0)
		slot = &x->location;
	if (slot) {
		free(*slot);
		*slot = dup_value(v, vl);
	}
	return len;
}

static void append(xfer_t *x, const char *buf, size_t len)
{
	if (x->len + len + 1 > x->cap) {
		x->cap = (x->len + len + 1) * 2;
		x->body = pl_xrealloc(x->body, x->cap);
	}
	memcpy(x->body + x->len, buf, len);
	x->len += len;
	x->body[x->len] = '\0';
}

static size_t on_body(char *buf, size_t size, size_t n, void *data)
{
	xfer_t *x = data;
	size_t len = size * n;
	if (x->status / 100 != 2) { /* an error document: keep its start */
		if (x->len < ERRBODY_MAX)
			append(x, buf, len < ERRBODY_MAX - x->len ? len : ERRBODY_MAX - x->len);
		return len;
	}
	if (x->got + len > x->max) {
		x->too_big = true;
		return 0;
	}
	x->got += len;
	gnutls_hash(x->hash, buf, len);
	if (x->progress_id && x->got - x->reported >= (1u << 20)) {
		x->reported = x->got;
		pl_pull_progress(x->p, x->progress_id, "Downloading", x->got,
				 x->max == SIZE_MAX ? 0 : x->max);
	}
	if (x->fd < 0) {
		append(x, buf, len);
		return len;
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(x->fd, buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			x->werr = w < 0 ? errno : EIO;
			return 0;
		}
		off += (size_t)w;
	}
	return len;
}

void pl_pull_progress(pull_t *p, const char *id, const char *status, uint64_t current,
		      uint64_t total)
{
	if (!p->o || p->o->progress_fd <= 0)
		return;
	json_t *j = json_pack("{s:s}", "status", status);
	if (id)
		json_object_set_new(j, "id", json_string(id));
	if (current || total)
		json_object_set_new(j, "progressDetail",
				    json_pack("{s:I, s:I}", "current", (json_int_t)current, "total",
					      (json_int_t)total));
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		return;
	size_t n = strlen(s);
	s[n] = '\n'; /* one write per line: lines never interleave */
	ssize_t w;
	do
		w = write(p->o->progress_fd, s, n + 1);
	while (w < 0 && errno == EINTR);
	free(s);
}

static size_t on_upload(char *buf, size_t size, size_t n, void *data)
{
	xfer_t *x = data;
	ssize_t r;
	do
		r = pread(x->up_fd, buf, size * n, (off_t)x->up_off);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return CURL_READFUNC_ABORT;
	x->up_off += (uint64_t)r;
	return (size_t)r;
}

static void xfer_setup(xfer_t *x)
{
	pull_t *p = x->p;
	if (x->h)
		curl_easy_reset(x->h);
	else
		x->h = curl_easy_init();
	if (!x->h)
		abort(); /* out of memory */
	if (x->path) {
		free(x->url);
		x->url =
		    pl_xasprintf("%s://%s/v2/%s/%s", p->scheme, p->ref.api, p->ref.repo, x->path);
	}
	curl_slist_free_all(x->hdrs);
	x->hdrs = NULL;
	if (x->accept_manifests)
		x->hdrs = curl_slist_append(x->hdrs, ACCEPT);
	if (x->ctype_out)
		x->hdrs = curl_slist_append(x->hdrs, x->ctype_out);
	if ((x->path || x->reg) && p->authz)
		x->hdrs = curl_slist_append(x->hdrs, p->authz);
	/* the credentials: Basic to the registry when it asked, always to a token realm;
	 * libcurl sends neither them nor our Authorization header across a redirect to
	 * another host (blob storage) */
	if (p->o->username && (!(x->path || x->reg) || p->basic)) {
		curl_easy_setopt(x->h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(x->h, CURLOPT_USERNAME, p->o->username);
		curl_easy_setopt(x->h, CURLOPT_PASSWORD, p->o->password ? p->o->password : "");
	}
	curl_easy_setopt(x->h, CURLOPT_URL, x->url);
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
	curl_easy_setopt(x->h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(x->h, CURLOPT_MAXREDIRS, 10L);
	curl_easy_setopt(x->h, CURLOPT_CONNECTTIMEOUT, 30L);
	/* no overall deadline (layers can be large), but a stalled transfer ends */
	curl_easy_setopt(x->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(x->h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(x->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->h, CURLOPT_USERAGENT, "portlayer/" PL_VERSION);
	curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYPEER, p->o->insecure ? 0L : 1L);
	curl_easy_setopt(x->h, CURLOPT_SSL_VERIFYHOST, p->o->insecure ? 0L : 2L);
	curl_easy_setopt(x->h, CURLOPT_ERRORBUFFER, x->errbuf);
	curl_easy_setopt(x->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(x->h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
	if (x->method && !strcmp(x->method, "HEAD")) {
		curl_easy_setopt(x->h, CURLOPT_NOBODY, 1L);
	} else if (x->method && x->up_fd >= 0) { /* a blob, from its start on every try */
		x->up_off = 0;
		curl_easy_setopt(x->h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(x->h, CURLOPT_READFUNCTION, on_upload);
		curl_easy_setopt(x->h, CURLOPT_READDATA, x);
		curl_easy_setopt(x->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->up_size);
		curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, x->method);
	} else if (x->method) {
		curl_easy_setopt(x->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->up_len);
		curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->up_buf ? x->up_buf : "");
		curl_easy_setopt(x->h, CURLOPT_CUSTOMREQUEST, x->method);
	}
	x->errbuf[0] = '\0';
	x->too_big = false;
	x->werr = 0;
	x->rc = CURLE_OK;
	reset_response(x);
}

static int authenticate(pull_t *p, const xfer_t *x, pl_error_t **err);

/* Runs the transfers not done yet, in parallel, to their final answer: falls back to http
 * once on an insecure pull whose https failed, answers a 401's challenge once. The caller
 * judges each status. */
int pl_xfer_run(pull_t *p, xfer_t **xs, size_t n, pl_error_t **err)
{
	for (;;) {
		size_t pending = 0;
		for (size_t i = 0; i < n; i++) {
			if (xs[i]->done)
				continue;
			xfer_setup(xs[i]);
			curl_multi_add_handle(p->multi, xs[i]->h);
			pending++;
		}
		if (!pending)
			return 0;
		int running = 1;
		while (running) {
			CURLMcode mc = curl_multi_perform(p->multi, &running);
			if (mc == CURLM_OK && running)
				mc = curl_multi_poll(p->multi, NULL, 0, 1000, NULL);
			if (mc != CURLM_OK) {
				for (size_t i = 0; i < n; i++)
					if (!xs[i]->done)
						curl_multi_remove_handle(p->multi, xs[i]->h);
				return pl_error_set(err, PL_ERR_INTERNAL, 0, "libcurl: %s",
						    curl_multi_strerror(mc));
			}
		}
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(p->multi, &left))) {
			xfer_t *x = NULL;
			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
			x->rc = m->data.result;
		}
		for (size_t i = 0; i < n; i++)
			if (!xs[i]->done)
				curl_multi_remove_handle(p->multi, xs[i]->h);
		bool fallback = false;
		const xfer_t *challenged = NULL;
		for (size_t i = 0; i < n; i++) {
			xfer_t *x = xs[i];
			if (x->done)
				continue;
			x->done = true;
			if (x->too_big)
				return pl_error_set(err, PL_ERR_INVALID, 0,
						    "%s: more than the %zu bytes expected", x->url,
						    x->max);
			if (x->werr)
				return pl_error_set(err, PL_ERR_INTERNAL, x->werr,
						    "%s: write to the store's tmp", x->url);
			if (x->rc != CURLE_OK) {
				if ((x->path || x->reg) && !p->scheme_known && p->o->insecure &&
				    !strcmp(p->scheme, "https")) {
					x->done = false;
					fallback = true;
					continue;
				}
				return pl_error_set(err, PL_ERR_INTERNAL, 0, "%s %s: %s",
						    x->method ? x->method : "GET", x->url,
						    x->errbuf[0] ? x->errbuf
								 : curl_easy_strerror(x->rc));
			}
			if (x->path || x->reg)
				p->scheme_known = true;
			if (x->status == 401 && (x->path || x->reg) && !x->authed) {
				challenged = x;
				x->done = false;
			}
		}
		if (fallback) {
			p->scheme = "http";
			p->scheme_known = true;
			continue;
		}
		if (challenged) {
			if (authenticate(p, challenged, err) < 0)
				return -1;
			for (size_t i = 0; i < n; i++)
				if (!xs[i]->done)
					xs[i]->authed = true;
		}
	}
}

/* The registry's own words: {"errors":[{"code","message"}]} */
int pl_xfer_status_error(const xfer_t *x, const char *what, pl_error_t **err)
{
	_cleanup_json_ json_t *j = x->len ? json_loadb(x->body, x->len, 0, NULL) : NULL;
	json_t *e0 = json_array_get(json_object_get(j, "errors"), 0);
	const char *msg = json_string_value(json_object_get(e0, "message"));
	const char *code = json_string_value(json_object_get(e0, "code"));
	pl_errkind_t kind = PL_ERR_INTERNAL;
	if (x->status == 404)
		kind = PL_ERR_NOTFOUND;
	else if (x->status >= 400 && x->status < 500 && x->status != 408 && x->status != 429)
		kind = PL_ERR_INVALID;
	const char *hint = x->status == 401 || x->status == 403 ? " (access denied)" : "";
	if (msg)
		return pl_error_set(err, kind, 0, "%s: %s%s [%s, HTTP %ld]", what, msg, hint,
				    code ? code : "", x->status);
	return pl_error_set(err, kind, 0, "%s: the registry answered HTTP %ld%s", what, x->status,
			    hint);
}

void pl_xfer_digest(xfer_t *x, char out[PL_DIGEST_LEN + 1])
{
	unsigned char d[32];
	if (!x->hash)
		gnutls_hash_init(&x->hash, GNUTLS_DIG_SHA256);
	gnutls_hash_output(x->hash, d);
	strcpy(out, "sha256:");
	for (int i = 0; i < 32; i++)
		snprintf(out + 7 + 2 * i, 3, "%02x", d[i]);
}

/* --- authentication --- */

typedef struct challenge {
	char scheme[16];
	char *realm, *service, *scope;
} challenge_t;

static void challenge_clear(challenge_t *c)
{
	free(c->realm);
	free(c->service);
	free(c->scope);
}

/* Bearer realm="https://auth.example/token",service="registry",scope="repository:x:pull" */
static void parse_challenge(const char *h, challenge_t *c)
{
	memset(c, 0, sizeof(*c));
	size_t sl = strcspn(h, " \t");
	snprintf(c->scheme, sizeof(c->scheme), "%.*s", (int)sl, h);
	const char *s = h + sl;
	while (*s) {
		s += strspn(s, " \t,");
		size_t kl = strcspn(s, "=, \t");
		const char *key = s;
		s += kl;
		if (*s != '=')
			continue;
		s++;
		_cleanup_free_ char *val = pl_xmalloc(strlen(s) + 1);
		size_t vl = 0;
		if (*s == '"') {
			for (s++; *s && *s != '"'; s++) {
				if (*s == '\\' && s[1])
					s++;
				val[vl++] = *s;
			}
			if (*s == '"')
				s++;
		} else {
			while (*s && *s != ',' && *s != ' ')
				val[vl++] = *s++;
		}
		val[vl] = '\0';
		char **slot = NULL;
		if (kl == 5 && !strncasecmp(key, "realm", 5))
			slot = &c->realm;
		else if (kl == 7 && !strncasecmp(key, "service", 7))
			slot = &c->service;
		else if (kl == 5 && !strncasecmp(key, "scope", 5))
			slot = &c->scope;
		if (slot) {
			free(*slot);
			*slot = TAKE_PTR(val);
		}
	}
}

static int bearer_token(pull_t *p, const challenge_t *c, pl_error_t **err)
{
	if (!c->realm || (strncmp(c->realm, "https://", 8) && strncmp(c->realm, "http://", 7)))
		return pl_error_set(err, PL_ERR_INTERNAL, 0,
				    "the registry's Bearer challenge has no http(s) realm");
	if (p->o->username && !p->o->insecure && strncmp(c->realm, "https://", 8))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "credentials go to the token realm %s over plain http only "
				    "on an insecure pull",
				    c->realm);
	_cleanup_free_ char *scope_default =
	    pl_xasprintf("repository:%s:%s", p->ref.repo, p->push ? "pull,push" : "pull");
	const char *scope = c->scope ? c->scope : scope_default;
	char *esc_scope = curl_easy_escape(NULL, scope, 0);
	char *esc_service = c->service ? curl_easy_escape(NULL, c->service, 0) : NULL;
	char *url = pl_xasprintf("%s%cscope=%s%s%s", c->realm, strchr(c->realm, '?') ? '&' : '?',
				 esc_scope ? esc_scope : "", esc_service ? "&service=" : "",
				 esc_service ? esc_service : "");
	curl_free(esc_scope);
	curl_free(esc_service);
	xfer_t t;
	pl_xfer_init(&t, p, NULL, url, TOKEN_MAX, -1);
	xfer_t *list[] = {&t};
	int r = pl_xfer_run(p, list, 1, err);
	if (r == 0 && t.status != 200)
		r = pl_xfer_status_error(&t, "token", err);
	_cleanup_json_ json_t *j = NULL;
	if (r == 0) {
		j = pl_json_parse(t.body ? t.body : "", t.len, "token answer", err);
		r = j ? 0 : -1;
	}
	const char *tok = json_string_value(json_object_get(j, "token"));
	if (!tok)
		tok = json_string_value(json_object_get(j, "access_token"));
	if (r == 0 && (!tok || !*tok || strpbrk(tok, "\r\n")))
		r = pl_error_set(err, PL_ERR_INTERNAL, 0, "the token answer has no token");
	if (r == 0) {
		free(p->authz);
		p->authz = pl_xasprintf("Authorization: Bearer %s", tok);
	}
	pl_xfer_clear(&t);
	return r < 0 ? pl_error_wrap(err, "get a token from %s", c->realm) : 0;
}

static int authenticate(pull_t *p, const xfer_t *x, pl_error_t **err)
{
	if (!x->challenge)
		return pl_xfer_status_error(x, "the registry refused without a challenge", err);
	challenge_t c;
	parse_challenge(x->challenge, &c);
	int r;
	if (!strcasecmp(c.scheme, "Bearer")) {
		r = bearer_token(p, &c, err);
	} else if (!strcasecmp(c.scheme, "Basic")) {
		if (!p->o->username)
			r = pl_error_set(err, PL_ERR_INVALID, 0,
					 "registry %s asks for credentials (Basic): give "
					 "username and password",
					 p->ref.host);
		else if (!p->o->insecure && strcmp(p->scheme, "https"))
			r = pl_error_set(err, PL_ERR_INVALID, 0,
					 "credentials go over plain http only on an insecure pull");
		else
			r = 0;
		p->basic = true;
	} else {
		r = pl_error_set(err, PL_ERR_UNSUPPORTED, 0,
				 "registry %s asks for an unknown authentication scheme \"%s\"",
				 p->ref.host, c.scheme);
	}
	challenge_clear(&c);
	return r;
}

/* --- manifests --- */

static bool is_index(const char *mt, const json_t *man)
{
	if (mt)
		return strstr(mt, "image.index") || strstr(mt, "manifest.list");
	return json_is_array(json_object_get(man, "manifests")) && !json_object_get(man, "layers");
}

/* Fetches a manifest by tag or digest; checks it against the digest asked for (or, by tag,
 * the digest the registry states). *mt: its media type (caller frees). */
static json_t *fetch_manifest(pull_t *p, const char *ref, const char *want, char **mt,
			      pl_error_t **err)
{
	xfer_t x;
	pl_xfer_init(&x, p, pl_xasprintf("manifests/%s", ref), NULL, MANIFEST_MAX, -1);
	x.accept_manifests = true;
	xfer_t *list[] = {&x};
	json_t *man = NULL;
	char got[PL_DIGEST_LEN + 1];
	if (pl_xfer_run(p, list, 1, err) < 0)
		goto out;
	if (x.status != 200) {
		_cleanup_free_ char *what = pl_xasprintf("manifest %s", ref);
		pl_xfer_status_error(&x, what, err);
		goto out;
	}
	pl_xfer_digest(&x, got);
	if (!p->top_digest[0])
		snprintf(p->top_digest, sizeof(p->top_digest), "%s", got);
	if (want && strcmp(want, got)) {
		pl_error_set(err, PL_ERR_INVALID, 0, "manifest %s: digest mismatch (got %s)", want,
			     got);
		goto out;
	}
	if (!want && x.dcd && !strncmp(x.dcd, "sha256:", 7) && strcmp(x.dcd, got)) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "manifest %s: the registry says its digest is %s, its content has %s",
			     ref, x.dcd, got);
		goto out;
	}
	man = pl_json_parse(x.body ? x.body : "", x.len, "manifest", err);
	if (man && !json_is_object(man)) {
		pl_error_set(err, PL_ERR_INVALID, 0, "manifest %s is not a JSON object", ref);
		json_decref(man);
		man = NULL;
	}
	if (!man)
		goto out;
	const char *t = json_string_value(json_object_get(man, "mediaType"));
	if (!t && x.ctype)
		t = x.ctype;
	*mt = t ? pl_xasprintf("%.*s", (int)strcspn(t, "; "), t) : NULL;
	if (json_integer_value(json_object_get(man, "schemaVersion")) != 2 ||
	    (*mt && strstr(*mt, "distribution.manifest.v1"))) {
		pl_error_set(err, PL_ERR_UNSUPPORTED, 0,
			     "manifest %s: Docker schema 1 manifests are not supported", ref);
		json_decref(man);
		man = NULL;
		free(*mt);
		*mt = NULL;
	}
out:
	pl_xfer_clear(&x);
	return man;
}

static const char *pick_platform(pull_t *p, const json_t *index, pl_error_t **err)
{
	json_t *manifests = json_object_get(index, "manifests"), *m;
	size_t i;
	json_array_foreach(manifests, i, m)
	{
		json_t *pf = json_object_get(m, "platform");
		const char *os = json_string_value(json_object_get(pf, "os"));
		const char *arch = json_string_value(json_object_get(pf, "architecture"));
		const char *var = json_string_value(json_object_get(pf, "variant"));
		if (!pf && json_array_size(manifests) == 1)
			return json_string_value(json_object_get(m, "digest"));
		if (!os || !arch || strcmp(os, p->os) || strcmp(arch, p->arch))
			continue;
		if (p->variant[0] && (!var || strcmp(var, p->variant)))
			continue;
		return json_string_value(json_object_get(m, "digest"));
	}
	pl_error_set(err, PL_ERR_NOTFOUND, 0, "no manifest for %s/%s%s%s in the image index", p->os,
		     p->arch, p->variant[0] ? "/" : "", p->variant);
	return NULL;
}

static int parse_platform(pull_t *p, const char *s, pl_error_t **err)
{
	if (!s || !*s)
		s = "linux/amd64";
	char os[32] = "", arch[32] = "", var[32] = "";
	int n = sscanf(s, "%31[^/]/%31[^/]/%31s", os, arch, var);
	if (n < 2 || strlen(s) != strlen(os) + strlen(arch) + 1 + (var[0] ? strlen(var) + 1 : 0))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "platform \"%s\" is not os/architecture[/variant]", s);
	memcpy(p->os, os, sizeof(os));
	memcpy(p->arch, arch, sizeof(arch));
	memcpy(p->variant, var, sizeof(var));
	return 0;
}

/* --- the pull --- */

typedef struct layer {
	const char *digest, *diff_id;
	bool fetch, created;
	char short_id[13]; /* the blob's, for progress */
	xfer_t x;
} layer_t;

static bool layer_type_ok(const char *mt)
{
	/* OCI tar, tar+gzip, tar+zstd (and their non-distributable forms), Docker's
	 * rootfs.diff.tar.gzip: the extractor detects the compression itself */
	return !mt || strstr(mt, ".tar") || strstr(mt, "+tar") || strstr(mt, "layer.v1.tar");
}

/* One layer into the store, in a child process: reports {"created","bytes"} or
 * {"error","kind"} on fd. */
static _Noreturn void extract_child(pull_t *p, layer_t *l, int fd)
{
	pl_error_t *e = NULL;
	pl_extract_result_t res;
	bool created = false;
	json_t *rep;
	pl_pull_progress(p, l->short_id, "Extracting", 0, 0);
	if (lseek(l->x.fd, 0, SEEK_SET) < 0)
		pl_error_errno(&e, "rewind layer blob");
	if (!e && pl_images_layer_add(p->im, l->x.fd, l->diff_id, &res, &created, &e) == 0) {
		rep = json_pack("{s:b, s:I}", "created", created, "bytes", (json_int_t)res.bytes);
		pl_pull_progress(p, l->short_id, "Pull complete", 0, 0);
	} else {
		rep = json_pack("{s:s, s:i}", "error", e ? e->msg : "extraction failed", "kind",
				e ? (int)e->kind : (int)PL_ERR_INTERNAL);
	}
	char *s = json_dumps(rep, JSON_COMPACT);
	if (s) {
		ssize_t w = write(fd, s, strlen(s));
		(void)w;
	}
	_exit(0);
}

/* Extracts the fetched layers, EXTRACT_PARALLEL at a time, each in a child of this worker
 * (extraction is CPU and disk bound; the store's temp-dir-and-rename writes are safe
 * side by side). Every child is waited for, so the caller knows which layers it added. */
static int extract_layers(pull_t *p, layer_t *ls, size_t nl, uint64_t *size, pl_error_t **err)
{
	/* half the CPUs, at most 4: on a 2-core host two at a time showed no consistent gain
	 * (bench/storage, 4 layers of 16 MiB, pairs of runs: 906/805, 865/766, 571/620 ms for
	 * two/one at a time; the registry and the daemon compete for the same cores), so one
	 * at a time there. PL_PULL_EXTRACT_PARALLEL (1..4) overrides. */
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN) / 2;
	const char *knob = getenv("PL_PULL_EXTRACT_PARALLEL");
	if (knob && atoi(knob) >= 1)
		ncpu = atoi(knob);
	size_t par = ncpu > 1 ? (size_t)(ncpu < 4 ? ncpu : 4) : 1;
	int rc = 0;
	for (size_t i = 0; i < nl;) {
		pid_t pids[4];
		int fds[4];
		size_t idx[4], n = 0;
		for (; i < nl && n < par; i++) {
			if (!ls[i].fetch)
				continue;
			int pp[2];
			if (pipe2(pp, O_CLOEXEC) < 0) {
				rc = pl_error_errno(err, "pipe");
				break;
			}
			pid_t pid = fork();
			if (pid == 0) {
				close(pp[0]);
				extract_child(p, &ls[i], pp[1]);
			}
			close(pp[1]);
			if (pid < 0) {
				close(pp[0]);
				rc = pl_error_errno(err, "fork an extraction");
				break;
			}
			pids[n] = pid;
			fds[n] = pp[0];
			idx[n++] = i;
		}
		for (size_t k = 0; k < n; k++) {
			_cleanup_free_ char *buf = NULL;
			size_t len = 0;
			pl_error_t *e = NULL;
			pl_read_fd(fds[k], "extraction report", &buf, &len, 1 << 20, &e);
			pl_error_free(e);
			close(fds[k]);
			waitpid(pids[k], NULL, 0);
			layer_t *l = &ls[idx[k]];
			_cleanup_json_ json_t *rep = buf ? json_loadb(buf, len, 0, NULL) : NULL;
			const char *msg = json_string_value(json_object_get(rep, "error"));
			if (!rep || msg) {
				if (rc == 0) {
					pl_error_set(err,
						     rep ? (pl_errkind_t)json_integer_value(
							       json_object_get(rep, "kind"))
							 : PL_ERR_INTERNAL,
						     0, "layer %s: %s", l->digest,
						     msg ? msg : "the extraction process died");
					rc = -1;
				}
				continue;
			}
			l->created = json_is_true(json_object_get(rep, "created"));
			*size += (uint64_t)json_integer_value(json_object_get(rep, "bytes"));
			l->x.fd = pl_close(l->x.fd);
		}
		if (rc < 0)
			return rc;
	}
	return rc;
}

static json_t *do_pull(pull_t *p, pl_error_t **err)
{
	const pl_registry_ref_t *ref = &p->ref;
	_cleanup_free_ char *mt = NULL;
	_cleanup_json_ json_t *man =
	    fetch_manifest(p, ref->digest ? ref->digest : ref->tag, ref->digest, &mt, err);
	if (!man)
		return NULL;
	if (is_index(mt, man)) {
		const char *d = pick_platform(p, man, err);
		if (!d)
			return NULL;
		if (!digest_ok(d)) {
			pl_error_set(err, PL_ERR_UNSUPPORTED, 0,
				     "image index: manifest digest \"%s\" is not sha256", d);
			return NULL;
		}
		_cleanup_free_ char *dd = pl_xstrdup(d);
		json_decref(man);
		free(mt);
		mt = NULL;
		man = fetch_manifest(p, dd, dd, &mt, err);
		if (!man)
			return NULL;
		if (is_index(mt, man)) {
			pl_error_set(err, PL_ERR_UNSUPPORTED, 0, "nested image indexes");
			return NULL;
		}
	}
	json_t *cdesc = json_object_get(man, "config");
	const char *cd = json_string_value(json_object_get(cdesc, "digest"));
	const char *cmt = json_string_value(json_object_get(cdesc, "mediaType"));
	json_int_t csize = json_integer_value(json_object_get(cdesc, "size"));
	json_t *layers = json_object_get(man, "layers");
	if (!digest_ok(cd) || !json_is_array(layers)) {
		pl_error_set(err, PL_ERR_INVALID, 0, "manifest: no sha256 config or no layers");
		return NULL;
	}
	if (cmt && strcmp(cmt, "application/vnd.oci.image.config.v1+json") &&
	    strcmp(cmt, "application/vnd.docker.container.image.v1+json")) {
		pl_error_set(err, PL_ERR_UNSUPPORTED, 0, "not a container image (config is %s)",
			     cmt);
		return NULL;
	}
	if (csize < 0 || csize > CONFIG_MAX) {
		pl_error_set(err, PL_ERR_INVALID, 0, "config blob: size %lld out of bounds",
			     (long long)csize);
		return NULL;
	}
	size_t nl = json_array_size(layers);
	if (nl > LAYERS_MAX) {
		pl_error_set(err, PL_ERR_UNSUPPORTED, 0, "%zu layers: more than %d", nl,
			     LAYERS_MAX);
		return NULL;
	}

	{
		_cleanup_free_ char *from = pl_xasprintf("Pulling from %s", p->ref.repo);
		pl_pull_progress(p, ref->digest ? ref->digest : ref->tag, from, 0, 0);
	}
	/* the config: its digest is the image id */
	xfer_t cx;
	pl_xfer_init(&cx, p, pl_xasprintf("blobs/%s", cd), NULL, csize ? (size_t)csize : CONFIG_MAX,
		     -1);
	xfer_t *clist[] = {&cx};
	json_t *result = NULL, *cfg = NULL, *names = NULL;
	layer_t *ls = pl_xcalloc(nl ? nl : 1, sizeof(*ls));
	xfer_t **fetch = pl_xcalloc(nl ? nl : 1, sizeof(*fetch));
	size_t nf = 0;
	uint64_t size = 0;
	char got[PL_DIGEST_LEN + 1];
	for (size_t i = 0; i < nl; i++)
		ls[i].x.fd = -1;
	if (pl_xfer_run(p, clist, 1, err) < 0)
		goto out;
	if (cx.status != 200) {
		pl_xfer_status_error(&cx, "config blob", err);
		goto out;
	}
	pl_xfer_digest(&cx, got);
	if (strcmp(got, cd)) {
		pl_error_set(err, PL_ERR_INVALID, 0, "config blob %s: digest mismatch (got %s)", cd,
			     got);
		goto out;
	}
	cfg = pl_json_parse(cx.body ? cx.body : "", cx.len, "image config", err);
	if (!cfg)
		goto out;
	json_t *diff_ids = json_object_get(json_object_get(cfg, "rootfs"), "diff_ids");
	if (json_array_size(diff_ids) != nl) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "image config lists %zu layers, the manifest %zu",
			     json_array_size(diff_ids), nl);
		goto out;
	}

	/* layers the store lacks: fetched in parallel to unlinked temp files */
	for (size_t i = 0; i < nl; i++) {
		layer_t *l = &ls[i];
		json_t *desc = json_array_get(layers, i);
		l->digest = json_string_value(json_object_get(desc, "digest"));
		l->diff_id = json_string_value(json_array_get(diff_ids, i));
		json_int_t lsize = json_integer_value(json_object_get(desc, "size"));
		if (!digest_ok(l->digest) || !digest_ok(l->diff_id) || lsize < 0) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "layer %zu: bad digest, diff id or size", i);
			goto out;
		}
		if (!layer_type_ok(json_string_value(json_object_get(desc, "mediaType")))) {
			pl_error_set(err, PL_ERR_UNSUPPORTED, 0, "layer %zu: media type %s", i,
				     json_string_value(json_object_get(desc, "mediaType")));
			goto out;
		}
		snprintf(l->short_id, sizeof(l->short_id), "%.12s", l->digest + 7);
		bool dup = false;
		for (size_t k = 0; k < i; k++)
			dup |= !strcmp(ls[k].diff_id, l->diff_id);
		if (dup)
			continue;
		if (pl_images_has_layer(p->im, l->diff_id)) {
			size += pl_images_layer_size(p->im, l->diff_id);
			pl_pull_progress(p, l->short_id, "Already exists", 0, 0);
			continue;
		}
		pl_pull_progress(p, l->short_id, "Pulling fs layer", 0, 0);
		int fd = pl_images_tmpfile(p->im, err);
		if (fd < 0)
			goto out;
		/* a descriptor without a size (not valid OCI) is bounded by the extractor */
		pl_xfer_init(&l->x, p, pl_xasprintf("blobs/%s", l->digest), NULL,
			     lsize ? (size_t)lsize : SIZE_MAX, fd);
		l->fetch = true;
		l->x.progress_id = l->short_id;
		fetch[nf++] = &l->x;
	}
	if (pl_xfer_run(p, fetch, nf, err) < 0)
		goto out;
	for (size_t i = 0; i < nl; i++) {
		layer_t *l = &ls[i];
		if (!l->fetch)
			continue;
		if (l->x.status != 200) {
			pl_xfer_status_error(&l->x, "layer blob", err);
			goto out;
		}
		pl_xfer_digest(&l->x, got);
		if (strcmp(got, l->digest)) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "layer blob %s: digest mismatch (got %s)", l->digest, got);
			goto out;
		}
		if (l->x.max != SIZE_MAX && l->x.got != l->x.max) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "layer blob %s: %llu bytes, the manifest says %zu", l->digest,
				     (unsigned long long)l->x.got, l->x.max);
			goto out;
		}
		pl_pull_progress(p, l->short_id, "Verifying Checksum", 0, 0);
		pl_pull_progress(p, l->short_id, "Download complete", l->x.got, l->x.got);
	}

	/* every byte is verified: now into the store, several layers at once */
	if (extract_layers(p, ls, nl, &size, err) < 0)
		goto out;
	names = json_pack("[s]", p->o->ref);
	json_t *one = pl_images_record(p->im, cx.body, cx.len, size, names, err);
	if (one && p->top_digest[0]) { /* the daemon records it with the names */
		_cleanup_free_ char *rd = pl_registry_repo_digest(p->o->ref, p->top_digest);
		json_object_set_new(one, "repo_digests", json_pack("[s]", rd));
	}
	if (one) {
		result = json_pack("{s:[o]}", "images", one);
		_cleanup_free_ char *st = pl_xasprintf(nf ? "Status: Downloaded newer image for %s"
							  : "Status: Image is up to date for %s",
						       p->o->ref);
		pl_pull_progress(p, NULL, st, 0, 0);
	}
out:
	if (!result)
		for (size_t i = 0; i < nl; i++)
			if (ls[i].created)
				pl_images_layer_drop(p->im, ls[i].diff_id);
	for (size_t i = 0; i < nl; i++)
		pl_xfer_clear(&ls[i].x);
	free(ls);
	free(fetch);
	pl_xfer_clear(&cx);
	if (cfg)
		json_decref(cfg);
	if (names)
		json_decref(names);
	return result;
}

char *pl_registry_repo_digest(const char *ref, const char *digest)
{
	_cleanup_free_ char *repo = pl_xstrdup(ref);
	char *at = strchr(repo, '@');
	if (at)
		*at = '\0';
	char *slash = strrchr(repo, '/');
	char *colon = strrchr(slash ? slash : repo, ':');
	if (colon)
		*colon = '\0';
	return pl_xasprintf("%s@%s", repo, digest);
}

json_t *pl_registry_pull(pl_images_t *im, const pl_pull_opts_t *o, pl_error_t **err)
{
	pull_t p = {.im = im, .o = o, .scheme = "https"};
	json_t *out = NULL;
	if (pl_registry_ref_parse(o->ref, &p.ref, err) < 0 ||
	    parse_platform(&p, o->platform, err) < 0)
		goto done;
	if (pl_xfer_open(&p, err) < 0)
		goto done;
	curl_multi_setopt(p.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)PARALLEL);
	out = do_pull(&p, err);
	curl_multi_cleanup(p.multi);
done:
	if (!out)
		pl_error_wrap(err, "pull %s", o->ref);
	pl_registry_ref_clear(&p.ref);
	free(p.authz);
	return out;
}
