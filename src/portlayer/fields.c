/* SPDX-License-Identifier: Apache-2.0 */
/* Field checks the config's parsers share (fields.h). */
#include "portlayer/fields.h"
#include "portlayer/config.h"
#include "common/cleanup.h"
#include "common/error.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>

bool pl_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n > PL_NAME_MAX || !isalnum((unsigned char)name[0]))
		return false;
	for (size_t i = 1; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (!isalnum(ch) && ch != '_' && ch != '.' && ch != '-')
			return false;
	}
	return true;
}

bool pl_user_name_valid(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 255 || s[0] == ':' || s[n - 1] == ':' || strchr(s, ':') != strrchr(s, ':'))
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("._-:$", *p))
			return false;
	return s[0] != '-';
}

int pl_config_parse_string_map(const json_t *v, const char *field, pl_error_t **err)
{
	if (!json_is_object(v))
		return pl_error_set(err, PL_ERR_INVALID, 0, "%s must be an object of strings",
				    field);
	const char *k;
	json_t *e;
	json_object_foreach((json_t *)v, k, e)
	{
		if (!*k || !json_is_string(e) ||
		    strlen(json_string_value(e)) != json_string_length(e))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "%s[\"%s\"] must be a string (keys non-empty)", field,
					    k);
	}
	return 0;
}

bool pl_path_is_clean_abs(const char *p)
{
	size_t n = strlen(p);
	if (p[0] != '/' || n >= PATH_MAX || n == 1 || p[n - 1] == '/' || strstr(p, "//"))
		return false;
	for (const char *c = p; *c; c++)
		if (*c == ',' || *c == ':')
			return false;
	_cleanup_free_ char *copy = pl_xstrdup(p);
	char *save = NULL;
	for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save))
		if (strcmp(t, "..") == 0 || strcmp(t, ".") == 0)
			return false;
	return true;
}
