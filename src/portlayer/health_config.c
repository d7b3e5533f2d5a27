/* SPDX-License-Identifier: Apache-2.0 */
/* The create body's "healthcheck" field: validation and its canonical form (defaults filled
 * in: interval 30 s, timeout 30 s, retries 3, start_period 0). Kept apart from the checks
 * themselves (health.c) so the config parser and its fuzzer need nothing of the runtime. */
#include "portlayer/health.h"
#include "common/json.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#define DEF_INTERVAL 30.0
#define DEF_TIMEOUT  30.0
#define DEF_RETRIES  3
#define MAX_SECONDS  (365.0 * 24 * 3600)
#define MIN_SECONDS  0.001

static int seconds_field(const json_t *hc, const char *key, double def, double min, double *out,
			 pl_error_t **err)
{
	const json_t *v = json_object_get(hc, key);
	*out = def;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < min ||
	    json_number_value(v) > MAX_SECONDS)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "healthcheck.%s must be a number of seconds %s %g and at most "
				    "a year",
				    key, min > 0 ? ">=" : ">=", min);
	*out = json_number_value(v);
	return 0;
}

int pl_health_config_parse(pl_config_t *c, const json_t *body, pl_error_t **err)
{
	const json_t *hc = json_object_get(body, "healthcheck");
	if (!hc || json_is_null(hc))
		return 0;
	static const char *const keys[] = {"test",    "interval",     "timeout",
					   "retries", "start_period", NULL};
	if (!json_is_object(hc))
		return pl_error_set(err, PL_ERR_INVALID, 0, "healthcheck must be an object");
	if (pl_json_check_keys(hc, "healthcheck", keys, err) < 0)
		return -EINVAL;
	const json_t *test = json_object_get(hc, "test");
	size_t n = json_array_size(test);
	if (!json_is_array(test) || n == 0)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "healthcheck.test must be [\"CMD\", ARG...], "
				    "[\"CMD-SHELL\", COMMAND] or [\"NONE\"]");
	for (size_t i = 0; i < n; i++) {
		const char *s = json_string_value(json_array_get(test, i));
		if (!s || (i == 1 && !*s) || strlen(s) > 65536)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "healthcheck.test[%zu] must be a non-empty string", i);
	}
	const char *kind = json_string_value(json_array_get(test, 0));
	bool ok = (!strcmp(kind, "CMD") && n >= 2) || (!strcmp(kind, "CMD-SHELL") && n == 2) ||
		  (!strcmp(kind, "NONE") && n == 1);
	if (!ok)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "healthcheck.test must be [\"CMD\", ARG...], "
				    "[\"CMD-SHELL\", COMMAND] or [\"NONE\"]");
	double interval, timeout, start;
	if (seconds_field(hc, "interval", DEF_INTERVAL, MIN_SECONDS, &interval, err) < 0 ||
	    seconds_field(hc, "timeout", DEF_TIMEOUT, MIN_SECONDS, &timeout, err) < 0 ||
	    seconds_field(hc, "start_period", 0, 0, &start, err) < 0)
		return -EINVAL;
	const json_t *r = json_object_get(hc, "retries");
	json_int_t retries = DEF_RETRIES;
	if (r && !json_is_null(r)) {
		if (!json_is_integer(r) || json_integer_value(r) < 0 ||
		    json_integer_value(r) > 1000000)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "healthcheck.retries must be an integer from 0 to "
					    "1000000 (0: the default, 3)");
		if (json_integer_value(r) > 0)
			retries = json_integer_value(r);
	}
	c->healthcheck = json_pack("{s:O, s:f, s:f, s:I, s:f}", "test", test, "interval", interval,
				   "timeout", timeout, "retries", retries, "start_period", start);
	return 0;
}

void pl_health_config_to_json(const pl_config_t *c, json_t *j)
{
	if (c->healthcheck)
		json_object_set_new(j, "healthcheck", json_deep_copy(c->healthcheck));
}
