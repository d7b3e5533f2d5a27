/* SPDX-License-Identifier: Apache-2.0 */
#include "docker/build/regconfig.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <stdbool.h>
#include <string.h>

json_t *rc_parse(const char *header, pl_error_t **err)
{
	if (!header || !*header)
		return json_object();
	size_t len = 0;
	char *text = pl_base64_decode(header, true, &len);
	if (!text) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "invalid X-Registry-Config header: illegal base64 data");
		return NULL;
	}
	json_error_t je;
	json_t *v = json_loadb(text, len, JSON_DECODE_ANY, &je);
	pl_free_secret(text); /* it holds passwords */
	if (!v) {
		pl_error_set(err, PL_ERR_INVALID, 0, "invalid X-Registry-Config header: %s",
			     je.text);
		return NULL;
	}
	if (json_is_null(v)) {
		json_decref(v);
		return json_object();
	}
	const char *k;
	json_t *e;
	bool ok = json_is_object(v);
	if (ok)
		json_object_foreach(v, k, e)
		{
			if (!json_is_object(e) && !json_is_null(e))
				ok = false;
		}
	if (!ok) {
		json_decref(v);
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "invalid X-Registry-Config header: json: cannot unmarshal into "
			     "a map of registry to auth config");
		return NULL;
	}
	return v;
}

char *rc_registry_of(const char *ref)
{
	const char *slash = strchr(ref, '/');
	if (slash) {
		size_t n = (size_t)(slash - ref);
		if (memchr(ref, '.', n) || memchr(ref, ':', n) ||
		    (n == 9 && !strncmp(ref, "localhost", 9)))
			return pl_xasprintf("%.*s", (int)n, ref);
	}
	return pl_xstrdup("docker.io");
}

/* A server address as a host: scheme and path dropped, Docker Hub's names folded. */
static char *normalise(const char *key)
{
	if (!strncmp(key, "http://", 7))
		key += 7;
	else if (!strncmp(key, "https://", 8))
		key += 8;
	const char *slash = strchr(key, '/');
	char *h = slash ? pl_xasprintf("%.*s", (int)(slash - key), key) : pl_xstrdup(key);
	if (!strcmp(h, "index.docker.io") || !strcmp(h, "registry-1.docker.io")) {
		free(h);
		h = pl_xstrdup("docker.io");
	}
	return h;
}

void rc_credentials(const json_t *cfg, const char *ref, char **user, char **pass)
{
	*user = *pass = NULL;
	_cleanup_free_ char *reg = rc_registry_of(ref);
	const char *k;
	json_t *e;
	json_object_foreach((json_t *)cfg, k, e)
	{
		_cleanup_free_ char *h = normalise(k);
		if (strcmp(h, reg) || !json_is_object(e))
			continue;
		const char *u = json_string_value(json_object_get(e, "username"));
		const char *p = json_string_value(json_object_get(e, "password"));
		if (u && *u) {
			*user = pl_xstrdup(u);
			*pass = pl_xstrdup(p ? p : "");
			return;
		}
		const char *a = json_string_value(json_object_get(e, "auth"));
		size_t len = 0;
		char *up = a && *a ? pl_base64_decode(a, true, &len) : NULL;
		char *colon = up ? strchr(up, ':') : NULL;
		if (colon) {
			*colon = '\0';
			*user = pl_xstrdup(up);
			*pass = pl_xstrdup(colon + 1);
			*colon = ':';
		}
		pl_free_secret(up);
		if (*user)
			return;
	}
}
