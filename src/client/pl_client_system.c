/* SPDX-License-Identifier: Apache-2.0 */
#include "client/portlayer-client.h"
#include "client/pl_client_util.h"
#include "common/cleanup.h"
#include "common/json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

pl_system_info_t *pl_system_info_free(pl_system_info_t *i)
{
	if (!i)
		return NULL;
	free(i->version);
	free(i->api_version);
	free(i->host);
	free(i->cgroup_layout);
	if (i->raw)
		json_decref(i->raw);
	free(i);
	return NULL;
}

pl_system_info_t *pl_system_info(pl_client_t *c, pl_error_t **err)
{
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "GET", "/info", NULL, NULL, &resp, err) < 0)
		return NULL;
	pl_system_info_t *i = pl_xcalloc(1, sizeof(*i));
	i->raw = json_incref(resp);
	i->version = pl_cj_str(resp, "version");
	i->api_version = pl_cj_str(resp, "api_version");
	i->host = pl_cj_str(resp, "host");
	i->cgroup_layout = pl_cj_str(resp, "cgroup_layout");
	const json_t *cs = json_object_get(resp, "containers");
	i->containers = (int)pl_cj_int(cs, "total", 0);
	i->running = (int)pl_cj_int(cs, "running", 0);
	i->stopped = (int)pl_cj_int(cs, "stopped", 0);
	i->created = (int)pl_cj_int(cs, "created", 0);
	size_t k;
	const json_t *m;
	json_array_foreach(json_object_get(resp, "mechanisms"), k, m)
	{
		const char *name = json_string_value(json_object_get(m, "name"));
		if (name && !strcmp(name, "vm"))
			i->vm_available = json_is_true(json_object_get(m, "available"));
	}
	return i;
}

typedef struct events_ctx {
	pl_event_fn fn;
	void *userdata;
} events_ctx_t;

static int on_event_line(json_t *value, const char *line, size_t len, void *userdata)
{
	events_ctx_t *ctx = userdata;
	pl_event_t ev = {
	    .seq = pl_cj_int(value, "seq", 0),
	    .time_ns = pl_cj_int(value, "time_ns", 0),
	    .type = json_string_value(json_object_get(value, "type")),
	    .action = json_string_value(json_object_get(value, "action")),
	    .id = json_string_value(json_object_get(value, "id")),
	    .attributes = json_object_get(value, "attributes"),
	    .raw = value,
	};
	return ctx->fn(&ev, ctx->userdata);
}

int pl_events_stream(pl_client_t *c, const char *since, const char *until, const char *filters,
		     pl_event_fn fn, void *userdata, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_xstrdup("/events");
	if (since && *since)
		pl_client_add_query(c, &path, "since", since);
	if (until && *until)
		pl_client_add_query(c, &path, "until", until);
	if (filters && *filters)
		pl_client_add_query(c, &path, "filters", filters);
	events_ctx_t ctx = {fn, userdata};
	pl_ndjson_t nd;
	pl_ndjson_init(&nd, on_event_line, &ctx);
	int r = pl_client_stream(c, path, pl_ndjson_feed_cb, &nd, err);
	bool cut = r >= 0 && !pl_ndjson_at_boundary(&nd);
	pl_ndjson_done(&nd);
	if (cut)
		return pl_error_set(err, PL_ERR_INTERNAL, 0,
				    "the event stream ended in the middle of a line");
	return r;
}

int pl_kv_put(pl_client_t *c, const char *key, const char *value, int64_t if_match,
	      int64_t *revision, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_xasprintf("/kv/%s", key);
	_cleanup_json_ json_t *body = json_pack("{s:s}", "value", value);
	_cleanup_json_ json_t *resp = NULL;
	char rev[24];
	snprintf(rev, sizeof(rev), "%lld", (long long)if_match);
	if (pl_client_request_if_match(c, "PUT", path, body, if_match >= 0 ? rev : NULL, &resp,
				       err) < 0)
		return -1;
	if (revision)
		*revision = pl_cj_int(resp, "revision", 0);
	return 0;
}

int pl_kv_get(pl_client_t *c, const char *key, char **value, int64_t *revision, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_xasprintf("/kv/%s", key);
	_cleanup_json_ json_t *resp = NULL;
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return -1;
	*value = pl_cj_str(resp, "value");
	if (!*value)
		*value = pl_xstrdup("");
	if (revision)
		*revision = pl_cj_int(resp, "revision", 0);
	return 0;
}

int pl_kv_delete(pl_client_t *c, const char *key, pl_error_t **err)
{
	return pl_cj_call(c, "DELETE", pl_xasprintf("/kv/%s", key), err);
}

char **pl_kv_keys(pl_client_t *c, const char *prefix, pl_error_t **err)
{
	_cleanup_free_ char *path = pl_xstrdup("/kv");
	pl_client_add_query(c, &path, "prefix", prefix);
	_cleanup_json_ json_t *resp = NULL, *keys = json_array();
	if (pl_client_request(c, "GET", path, NULL, NULL, &resp, err) < 0)
		return NULL;
	size_t i;
	json_t *item;
	json_array_foreach(resp, i, item)
	{
		json_t *k = json_object_get(item, "key");
		if (json_is_string(k))
			json_array_append(keys, k);
	}
	return pl_strv_from_json(keys);
}
