/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the create-request parser and validator (the API's largest input).
 * Whatever the bytes, parsing either yields a config whose canonical form parses again to
 * the same thing, or an error with a message. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "portlayer/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the engine fields promise once accepted: auto_remove never with a restart policy; a
 * healthcheck in canonical form (a known test kind, every default filled, numbers in range),
 * and anonymous marks only on volumes. */
static void check_engine_fields(const pl_config_t *c)
{
	if (c->auto_remove && c->restart != PL_RESTART_NO)
		abort();
	size_t i;
	json_t *m;
	json_array_foreach(c->mounts, i, m)
	{
		const char *type = json_string_value(json_object_get(m, "type"));
		if (json_is_true(json_object_get(m, "anonymous")) && strcmp(type, "volume") != 0)
			abort();
	}
	const json_t *hc = c->healthcheck;
	if (!hc)
		return;
	const json_t *test = json_object_get(hc, "test");
	const char *kind = json_string_value(json_array_get(test, 0));
	size_t n = json_array_size(test);
	if (!kind || !((!strcmp(kind, "CMD") && n >= 2) || (!strcmp(kind, "CMD-SHELL") && n == 2) ||
		       (!strcmp(kind, "NONE") && n == 1)))
		abort();
	for (const char **k = (const char *[]){"interval", "timeout", NULL}; *k; k++) {
		const json_t *v = json_object_get(hc, *k);
		if (!json_is_real(v) || !(json_real_value(v) > 0))
			abort();
	}
	if (!json_is_real(json_object_get(hc, "start_period")) ||
	    json_real_value(json_object_get(hc, "start_period")) < 0 ||
	    json_integer_value(json_object_get(hc, "retries")) < 1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pl_error_t *err = NULL;
	json_t *j = pl_json_parse((const char *)data, size, "fuzz", &err);
	if (!j) {
		if (!err || !err->msg)
			abort();
		pl_error_free(err);
		return 0;
	}
	pl_config_t *c = pl_config_parse(j, false, &err);
	if (c)
		check_engine_fields(c);
	if (c) {
		json_t *canon = pl_config_to_json(c);
		pl_config_t *again = pl_config_parse(canon, false, NULL);
		if (!again)
			abort();
		json_t *canon2 = pl_config_to_json(again);
		if (!json_equal(canon, canon2))
			abort();
		json_decref(canon);
		json_decref(canon2);
		pl_config_free(again);
		pl_config_free(c);
	} else if (!err || !err->msg || !*err->msg) {
		abort();
	}
	pl_error_free(err);
	json_decref(j);
	return 0;
}
