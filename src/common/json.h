/* SPDX-License-Identifier: Apache-2.0 */
/* Strict JSON field access over jansson: every getter names the offending field in its
 * error, and pl_json_check_keys rejects unknown fields, so bad input gets a clear 400. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "common/error.h"

static inline void pl_json_decrefp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define _cleanup_json_ __attribute__((cleanup(pl_json_decrefp)))

/* Fails (INVALID) if obj is not an object or has a key not in the NULL-terminated list. */
int pl_json_check_keys(const json_t *obj, const char *what, const char *const *allowed,
		       pl_error_t **err);
/* Optional string field: *out stays NULL when absent; wrong type is an error. */
int pl_json_get_string(const json_t *obj, const char *key, const char **out, pl_error_t **err);
/* Optional array of strings; *out stays NULL when absent. */
int pl_json_get_string_array(const json_t *obj, const char *key, const json_t **out,
			     pl_error_t **err);
/* A time in ns since the epoch as an RFC 3339 string (the API's form); "" for 0 (unset). */
json_t *pl_json_time(int64_t ns);
/* Serialises compactly; aborts on OOM. Caller frees. */
char *pl_json_dump(const json_t *j);
/* Parses a buffer; INVALID error with jansson's position on failure. */
json_t *pl_json_parse(const char *buf, size_t len, const char *what, pl_error_t **err);
