/* SPDX-License-Identifier: Apache-2.0 */
/* /kv: GET /kv?prefix=P, GET|PUT|DELETE /kv/{key}. If-Match: REV makes a write conditional
 * (409 when stale; 0 means the key must not exist). A PUT body is spooled, so a value past
 * the limit gets a clear 413 rather than a body-size 400. */
#include "daemon/routes.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/util.h"
#include "portlayer/kv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A JSON-escaped value may take up to 6 bytes per byte; more than that is past the limit
 * whatever it holds. */
#define BODY_MAX (6u * PL_KV_VALUE_MAX + 4096)

static void too_large(pl_req_t *r)
{
	char msg[128];
	snprintf(msg, sizeof(msg), "a value is at most %u bytes", PL_KV_VALUE_MAX);
	pl_reply_json(r, 413, json_pack("{s:s}", "message", msg));
}

/* If-Match: absent → -1; a revision (digits, optionally quoted as an ETag) → it. */
static int if_match(pl_req_t *r, int64_t *out, pl_error_t **e)
{
	const char *v = pl_req_header(r, "If-Match");
	*out = -1;
	if (!v)
		return 0;
	char buf[32];
	size_t n = strlen(v);
	if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
		v++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(buf))
		return pl_error_set(e, PL_ERR_INVALID, 0, "If-Match must be a revision number");
	memcpy(buf, v, n);
	buf[n] = 0;
	int64_t rev;
	if (pl_parse_int64(buf, 0, INT64_MAX, &rev) < 0)
		return pl_error_set(e, PL_ERR_INVALID, 0,
				    "If-Match \"%s\" must be a revision number", buf);
	*out = rev;
	return 0;
}

static struct pl_kv *kv_of(void *data)
{
	pl_app_t *app = data;
	return pl_portlayer_kv(app->pl);
}

static void h_kv_list(pl_req_t *r, void *data)
{
	pl_reply_json(r, 200, pl_kv_list(kv_of(data), pl_req_query(r, "prefix")));
}

static void h_kv_get(pl_req_t *r, void *data)
{
	pl_error_t *e = NULL;
	json_t *j = pl_kv_get(kv_of(data), pl_req_param(r), &e);
	if (!j)
		return pl_route_fail(r, e);
	pl_reply_json(r, 200, j);
}

static void h_kv_put(pl_req_t *r, void *data)
{
	pl_error_t *e = NULL;
	int64_t expect;
	if (if_match(r, &expect, &e) < 0)
		return pl_route_fail(r, e);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int fd = pl_req_body_fd(r);
	if (fd >= 0) {
		if (pl_read_fd(fd, "request body", &buf, &len, BODY_MAX, &e) < 0) {
			if (e->errnum == EFBIG) {
				pl_error_free(e);
				return too_large(r);
			}
			return pl_route_fail(r, e);
		}
	}
	_cleanup_json_ json_t *body =
	    fd >= 0 ? json_loadb(buf ? buf : "", len, 0, NULL) : pl_req_json(r, &e);
	if (!body && !e)
		pl_error_set(&e, PL_ERR_INVALID, 0, "the body must be {\"value\": \"...\"}");
	if (!body)
		return pl_route_fail(r, e);
	static const char *const keys[] = {"value", NULL};
	json_t *v = json_object_get(body, "value");
	if (!json_is_object(body) || pl_json_check_keys(body, "body", keys, &e) < 0 ||
	    !json_is_string(v)) {
		if (!e)
			pl_error_set(&e, PL_ERR_INVALID, 0,
				     "the body must be {\"value\": \"...\"} (a string)");
		return pl_route_fail(r, e);
	}
	if (json_string_length(v) > PL_KV_VALUE_MAX)
		return too_large(r);
	json_t *res = pl_kv_put(kv_of(data), pl_req_param(r), json_string_value(v),
				json_string_length(v), expect, &e);
	if (!res)
		return pl_route_fail(r, e);
	pl_reply_json(r, 200, res);
}

static void h_kv_delete(pl_req_t *r, void *data)
{
	pl_error_t *e = NULL;
	int64_t expect;
	if (if_match(r, &expect, &e) < 0 ||
	    pl_kv_delete(kv_of(data), pl_req_param(r), expect, &e) < 0)
		return pl_route_fail(r, e);
	pl_reply_empty(r, 204);
}

const pl_route_t pl_routes_kv[] = {
    {"GET", "/kv", h_kv_list},
    {"GET", "/kv/{key*}", h_kv_get},
    {"PUT", "/kv/{key*}", h_kv_put, true},
    {"DELETE", "/kv/{key*}", h_kv_delete},
    {NULL, NULL, NULL},
};
