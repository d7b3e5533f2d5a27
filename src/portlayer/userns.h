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

#define PL_IDMAP_MAX	5      /* entries per map (the kernel takes 340; nobody needs that) */
#define PL_USERNS_SLICE 65536u /* ids one remapped container gets, and the most it may map */
/* The daemon's default subordinate range: 1024 slices far above any real user's ids. */
#define PL_USERNS_DEFAULT_START 100000000u
#define PL_USERNS_DEFAULT_COUNT (1024u * PL_USERNS_SLICE)

typedef struct pl_idmap {
	uint32_t container_id, host_id, size;
} pl_idmap_t;

typedef struct pl_userns {
	bool remap;	     /* false: the host's user namespace (the default) */
	bool allow_host_ids; /* explicit maps may leave the daemon's range (never host id 0) */
	size_t n_uid, n_gid; /* 0 until allocated when remap came without explicit maps */
	pl_idmap_t uid_map[PL_IDMAP_MAX], gid_map[PL_IDMAP_MAX];
} pl_userns_t;

/* Parses security.userns ({"mode": "host"|"remap", "uid_map", "gid_map", "allow_host_ids"});
 * errors name the field. An absent or null v is host mode. */
int pl_userns_parse(const json_t *v, pl_userns_t *u, pl_error_t **err);
/* The canonical form (what config.json stores and inspect shows). */
json_t *pl_userns_to_json(const pl_userns_t *u);

/* "START:COUNT": START >= 65536 (never the host's ordinary ids), COUNT a multiple of
 * PL_USERNS_SLICE and at least one slice, START + COUNT below 2^32 - 1. */
int pl_userns_parse_range(const char *s, uint32_t *start, uint32_t *count, pl_error_t **err);
/* The daemon's range for the process (set once at start-up; the default otherwise). */
void pl_userns_set_range(uint32_t start, uint32_t count);
void pl_userns_get_range(uint32_t *start, uint32_t *count);

/* At create: explicit maps are checked against the daemon's range (unless allow_host_ids)
 * and must not overlap another container's (409); without maps a free slice is taken (409
 * when the range is full). others are the remapped containers that exist. */
int pl_userns_allocate(pl_userns_t *u, const pl_userns_t *const *others, size_t n_others,
		       pl_error_t **err);
/* The host id container id `id` maps to, or -1 when unmapped. */
int64_t pl_userns_host_id(const pl_idmap_t *map, size_t n, uint32_t id);
/* The container id host id `id` is, or -1 when the map does not cover it. */
int64_t pl_userns_container_id(const pl_idmap_t *map, size_t n, uint32_t id);
