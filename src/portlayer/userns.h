/* SPDX-License-Identifier: Apache-2.0 */
/* User namespace remapping (security.userns): the API shape and its validation, and the
 * allocation of host id ranges out of the daemon's subordinate range. The ranges a container
 * holds are recorded in its config.json (as explicit uid_map/gid_map); the allocator derives
 * what is in use from the containers that exist, so there is no table to drift and a removed
 * container's range is free again at once. The kernel side lives in
 * src/mechanism/linux/userns.c. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/error.h"
#include "mechanism/domain.h"

#define PL_USERNS_SLICE 65536u /* ids one remapped container gets, and the most it may map */
/* The daemon's default subordinate range: 1024 slices far above any real user's ids. */
#define PL_USERNS_DEFAULT_START 100000000u
#define PL_USERNS_DEFAULT_COUNT (1024u * PL_USERNS_SLICE)

/* Parses security.userns ({"mode": "host"|"remap", "uid_map", "gid_map", "allow_host_ids"});
 * errors name the field. An absent or null v is host mode. */
int pl_userns_parse(const json_t *v, pl_userns_t *u, pl_error_t **err);
/* The canonical form (what config.json stores and inspect shows). */
json_t *pl_userns_to_json(const pl_userns_t *u);

/* "START:COUNT": START >= 65536 (never the host's ordinary ids), COUNT a multiple of
 * PL_USERNS_SLICE and at least one slice, START + COUNT below 2^32 - 1. */
int pl_userns_parse_range(const char *s, uint32_t *start, uint32_t *count, pl_error_t **err);
/* Fails when [start, +count) overlaps the host ids a mechanism (who) reserves for itself. */
int pl_userns_check_reserved(uint32_t start, uint32_t count, uint32_t rstart, uint32_t rcount,
			     const char *who, pl_error_t **err);
/* The host ids remapped containers are given slices of (pl_portlayer_options_t). */
typedef struct pl_userns_range {
	uint32_t start, count;
} pl_userns_range_t;

/* At create: explicit maps are checked against the daemon's range (unless allow_host_ids)
 * and must not overlap another container's (409); without maps a free slice is taken (409
 * when the range is full). others are the remapped containers that exist. */
int pl_userns_allocate(pl_userns_t *u, const pl_userns_t *const *others, size_t n_others,
		       const pl_userns_range_t *range, pl_error_t **err);
