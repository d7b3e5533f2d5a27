/* SPDX-License-Identifier: Apache-2.0 */
/* Lists with filters and summaries, so an engine never needs one inspect per object:
 * containers (label, name, id, status, ancestor, network, volume, exited), images
 * (reference, label, dangling), volumes (name, label, dangling, driver) and networks (name,
 * id, label, driver, dangling). Filters take Docker's JSON: {"key": ["v1", "v2"]} (or the
 * older {"key": {"v1": true}}); values of one key are alternatives, keys all apply. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include "common/error.h"
#include "portlayer/container.h"

/* Parses a filters query value (NULL or "": none) into {"key": ["value", ...]}, checking
 * the keys against allowed (NULL-terminated); INVALID names an unknown one. */
json_t *pl_filters_parse(const char *text, const char *const *allowed, pl_error_t **err);

/* Container summaries: {"id","name","image","image_id","args","labels","ports","state",
 * "status" (human: "Up 5 seconds"),"created","exit_code","mechanism","networks"} plus
 * "size_rw" and "size_root_fs" with size. all false: running (and paused) ones only. The
 * JSON array as text (malloc'd, *len bytes): a list of 1000 is built from each container's
 * cached summary, not from objects made and dumped per request. */
char *pl_containers_list(pl_portlayer_t *pl, const json_t *filters, bool all, bool size,
			 size_t *len, pl_error_t **err);
/* The image list ({"id","tags","size","created"} + "labels", "digests") filtered. */
json_t *pl_images_list_filtered(pl_portlayer_t *pl, const json_t *filters, pl_error_t **err);
json_t *pl_volumes_list_filtered(pl_portlayer_t *pl, const json_t *filters, pl_error_t **err);
json_t *pl_networks_list_filtered(pl_portlayer_t *pl, const json_t *filters, pl_error_t **err);

/* Docker's human duration ("Less than a second", "5 seconds", "About a minute", ...). */
void pl_human_duration(int64_t ns, char *buf, size_t len);
/* The duration (> ns) at which pl_human_duration's text for ns changes next. */
int64_t pl_human_duration_until(int64_t ns);
