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
