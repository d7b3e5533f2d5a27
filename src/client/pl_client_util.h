/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the typed client's files (not installed): JSON to struct field copies
 * and escaped path building. */
#pragma once

#include <jansson.h>

#include "client/portlayer-client.h"

/* A malloc'd copy of obj[key] when it is a string, else NULL. */
char *pl_cj_str(const json_t *obj, const char *key);
/* obj[key] as an integer (def when absent or not a number). */
int64_t pl_cj_int(const json_t *obj, const char *key, int64_t def);
/* "/prefix/<escaped id>suffix", malloc'd. */
char *pl_cj_path(pl_client_t *c, const char *prefix, const char *id, const char *suffix);
/* A JSON array of strings from a NULL-terminated vector (NULL gives NULL). */
json_t *pl_cj_strv(const char *const *v);
/* A JSON object {k: v} from "k=v" strings ("k" alone gives ""). */
json_t *pl_cj_kv(const char *const *v);
/* The hijacked stream's query (stream, stdin, stdout, stderr, logs, detachKeys) on *path,
 * then the upgrade: attach and exec start share it. */
int pl_cj_upgrade_stream(pl_client_t *c, char *path_owned, const pl_attach_opts_t *o,
			 pl_upgraded_t *up, pl_error_t **err);
/* Runs one request without a body and drops the answer. */
int pl_cj_call(pl_client_t *c, const char *method, char *path_owned, pl_error_t **err);
