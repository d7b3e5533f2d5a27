/* SPDX-License-Identifier: Apache-2.0 */
#include "common/json.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <string.h>

int pl_json_check_keys(const json_t *obj, const char *what, const char *const *allowed,
		       pl_error_t **err)
{
	if (!json_is_object(obj))
		return pl_error_set(err, PL_ERR_INVALID, 0, "%s must be a JSON object", what);
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)obj, key, val)
	{
		bool ok = false;
		for (const char *const *a = allowed; *a && !ok; a++)
			ok = strcmp(*a, key) == 0;
		if (!ok)
			return pl_error_set(err, PL_ERR_INVALID, 0, "%s: unknown field \"%s\"",
					    what, key);
	}
	return 0;
}

int pl_json_get_string(const json_t *obj, const char *key, const char **out, pl_error_t **err)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return pl_error_set(err, PL_ERR_INVALID, 0, "field \"%s\" must be a string", key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return pl_error_set(err, PL_ERR_INVALID, 0, "field \"%s\" contains a NUL byte",
				    key);
	*out = json_string_value(v);
	return 0;
}

int pl_json_get_string_array(const json_t *obj, const char *key, const json_t **out,
			     pl_error_t **err)
{
	json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "field \"%s\" must be an array of strings", key);
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "field \"%s\"[%zu] must be a string", key, i);
		if (strlen(json_string_value(e)) != json_string_length(e))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "field \"%s\"[%zu] contains a NUL byte", key, i);
	}
	*out = v;
	return 0;
}

char *pl_json_dump(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	if (!s)
		abort();
	return s;
}

json_t *pl_json_parse(const char *buf, size_t len, const char *what, pl_error_t **err)
{
	json_error_t je;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		pl_error_set(err, PL_ERR_INVALID, 0, "%s: invalid JSON at line %d column %d: %s",
			     what, je.line, je.column, je.text);
	return j;
}

json_t *pl_json_time(int64_t ns)
{
	if (ns <= 0)
		return json_string("");
	char buf[48];
	pl_time_format(ns, buf, sizeof(buf));
	return json_string(buf);
}
