/* SPDX-License-Identifier: Apache-2.0 */
/* The key-value store: small persistent state for the layers above the port layer (a
 * personality's own records, say), under ROOT/kv/. This unit owns the keys, their values and
 * their revisions. Every write is atomic and durable before it is acknowledged (one file per
 * key, replaced by rename after fsync), so a daemon killed at any point leaves each key with
 * its old value or its new one, never a torn one. Revisions come from one counter that only
 * increases, across keys, deletions and restarts: a revision names one write for ever, which
 * is what makes compare-and-set safe. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/error.h"

#define PL_KV_VALUE_MAX (1u << 20) /* bytes of one value */
#define PL_KV_KEY_MAX	256

typedef struct pl_kv pl_kv_t;

pl_kv_t *pl_kv_open(const char *root, pl_error_t **err);
pl_kv_t *pl_kv_free(pl_kv_t *kv);

/* [A-Za-z0-9._/-], 1..256 bytes, no ".." */
bool pl_kv_key_valid(const char *key);

/* expect: < 0 writes unconditionally; 0 only when the key does not exist; N > 0 only when
 * its revision is N (CONFLICT otherwise). Returns {"key","revision"}. A value over
 * PL_KV_VALUE_MAX is INVALID (the HTTP front answers 413 before it gets here). */
json_t *pl_kv_put(pl_kv_t *kv, const char *key, const char *value, size_t len, int64_t expect,
		  pl_error_t **err);
/* {"key","value","revision"}; NOTFOUND when absent. */
json_t *pl_kv_get(pl_kv_t *kv, const char *key, pl_error_t **err);
/* [{"key","value","revision"}] of the keys starting with prefix, sorted by key. */
json_t *pl_kv_list(pl_kv_t *kv, const char *prefix);
/* expect as for put (0 is CONFLICT for an existing key). NOTFOUND when absent. */
int pl_kv_delete(pl_kv_t *kv, const char *key, int64_t expect, pl_error_t **err);
