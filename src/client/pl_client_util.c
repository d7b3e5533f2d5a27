/* SPDX-License-Identifier: Apache-2.0 */
#include "client/pl_client_util.h"
#include "client/portlayer-client.h"
#include "common/cleanup.h"
#include "common/json.h"

#include <string.h>

char *pl_cj_str(const json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? pl_xstrdup(s) : NULL;
}

int64_t pl_cj_int(const json_t *obj, const char *key, int64_t def)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_number(v) ? (int64_t)json_number_value(v) : def;
}

char *pl_cj_path(pl_client_t *c, const char *prefix, const char *id, const char *suffix)
{
	_cleanup_free_ char *esc = pl_client_escape(c, id);
	return pl_xasprintf("%s/%s%s", prefix, esc, suffix ? suffix : "");
}

int pl_cj_upgrade_stream(pl_client_t *c, char *path_owned, const pl_attach_opts_t *o,
			 pl_upgraded_t *up, pl_error_t **err)
{
	_cleanup_free_ char *path = path_owned;
	pl_client_add_query(c, &path, "stream", o->stream ? "1" : "0");
	pl_client_add_query(c, &path, "stdin", o->stdin_ ? "1" : "0");
	pl_client_add_query(c, &path, "stdout", o->stdout_ ? "1" : "0");
	pl_client_add_query(c, &path, "stderr", o->stderr_ ? "1" : "0");
	if (o->logs)
		pl_client_add_query(c, &path, "logs", "1");
	if (o->detach_keys)
		pl_client_add_query(c, &path, "detachKeys", o->detach_keys);
	return pl_client_upgrade(c, "POST", path, NULL, up, err);
}

json_t *pl_cj_strv(const char *const *v)
{
	if (!v)
		return NULL;
	json_t *a = json_array();
	for (; *v; v++)
		json_array_append_new(a, json_string(*v));
	return a;
}

json_t *pl_cj_kv(const char *const *v)
{
	if (!v)
		return NULL;
	json_t *o = json_object();
	for (; *v; v++) {
		const char *eq = strchr(*v, '=');
		_cleanup_free_ char *k = eq ? strndup(*v, (size_t)(eq - *v)) : pl_xstrdup(*v);
		json_object_set_new(o, k, json_string(eq ? eq + 1 : ""));
	}
	return o;
}

int pl_cj_call(pl_client_t *c, const char *method, char *path_owned, pl_error_t **err)
{
	_cleanup_free_ char *path = path_owned;
	json_t *resp = NULL;
	int r = pl_client_request(c, method, path, NULL, NULL, &resp, err);
	if (resp)
		json_decref(resp);
	return r;
}

char **pl_strv_from_json(const json_t *array)
{
	size_t n = json_is_array(array) ? json_array_size(array) : 0;
	char **v = pl_xcalloc(n + 1, sizeof(char *));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(array, i));
		if (s)
			v[k++] = pl_xstrdup(s);
	}
	return v;
}

void pl_strv_free(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}
