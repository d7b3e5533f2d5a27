/* SPDX-License-Identifier: Apache-2.0 */
/* Named volumes (driver "local"): directories under ROOT/volumes/<name>/_data that outlive the
 * containers using them. A fresh volume is filled from the image's content at its mount
 * target on first use (marked by ROOT/volumes/<name>/populated). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "common/error.h"

typedef struct pl_volumes pl_volumes_t;

pl_volumes_t *pl_volumes_open(const char *root, pl_error_t **err);
pl_volumes_t *pl_volumes_free(pl_volumes_t *v);
/* body: {"name"?, "driver"?: "local", "labels"?}; CONFLICT when the name exists. */
json_t *pl_volume_create(pl_volumes_t *v, const json_t *body, pl_error_t **err);
/* The volume, created on the fly when absent and create is true (as Docker does). */
json_t *pl_volume_get(pl_volumes_t *v, const char *name, bool create, pl_error_t **err);
json_t *pl_volumes_list(pl_volumes_t *v);
int pl_volume_remove(pl_volumes_t *v, const char *name, pl_error_t **err);
/* The host directory holding the data. */
char *pl_volume_data_path(pl_volumes_t *v, const char *name);
char *pl_volume_marker_path(pl_volumes_t *v, const char *name);
bool pl_volume_name_valid(const char *name);
/* Bytes used under the volume's data directory (files' apparent sizes, hard links once,
 * not crossing mounts), walked now; -1 when the directory cannot be read. */
int64_t pl_volume_size(pl_volumes_t *v, const char *name);
