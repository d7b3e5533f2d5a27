/* SPDX-License-Identifier: Apache-2.0 */
/* security.userns: validation of the id maps and allocation of host ranges (userns.h). */
#include "portlayer/userns.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define HOST_IDS_RESERVED 65536u	/* the host's own users and groups: 0..65535 */
#define ID_LIMIT	  4294967295ull /* (uid_t)-1 is not an id */

int pl_userns_parse_range(const char *s, uint32_t *start, uint32_t *count, pl_error_t **err)
{
	char *end;
	errno = 0;
	unsigned long long a = strtoull(s, &end, 10), b = 0;
	bool ok = errno == 0 && end != s && *end == ':' && s[0] >= '0' && s[0] <= '9';
	if (ok) {
		const char *c = end + 1;
		b = strtoull(c, &end, 10);
		ok = errno == 0 && end != c && !*end && c[0] >= '0' && c[0] <= '9';
	}
	if (!ok)
		return pl_error_set(err, PL_ERR_INVALID, 0, "--userns-range %s: want START:COUNT",
				    s);
	if (a > UINT32_MAX || b > UINT32_MAX || a + b >= ID_LIMIT)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "--userns-range %s: the range must end below %llu", s,
				    ID_LIMIT);
	if (a < HOST_IDS_RESERVED)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "--userns-range %s: START must be at least %u (host ids "
				    "0..%u are never handed to containers)",
				    s, HOST_IDS_RESERVED, HOST_IDS_RESERVED - 1);
	if (b < PL_USERNS_SLICE || b % PL_USERNS_SLICE)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "--userns-range %s: COUNT must be a non-zero multiple of %u "
				    "(one slice per container)",
				    s, PL_USERNS_SLICE);
	*start = (uint32_t)a;
	*count = (uint32_t)b;
	return 0;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int pl_userns_check_reserved(uint32_t start, uint32_t count, uint32_t rstart, uint32_t rcount,
			     const char *who, pl_error_t **err)
{
	if (rcount && overlaps(start, count, rstart, rcount))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "--userns-range %u:%u: overlaps %u..%u, the ids %s's own "
				    "processes run as",
				    start, count, rstart, (uint32_t)((uint64_t)rstart + rcount - 1),
				    who);
	return 0;
}

static int parse_map(const json_t *v, const char *field, bool allow_host_ids, pl_idmap_t *out,
		     size_t *n, pl_error_t **err)
{
	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > PL_IDMAP_MAX)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "security.userns.%s must be an array of 1..%d "
				    "{container_id, host_id, size} objects",
				    field, PL_IDMAP_MAX);
	static const char *const keys[] = {"container_id", "host_id", "size", NULL};
	uint64_t total = 0;
	bool has_root = false;
	size_t i;
	json_t *e;
	json_array_foreach(v, i, e)
	{
		_cleanup_free_ char *what = pl_xasprintf("security.userns.%s[%zu]", field, i);
		if (pl_json_check_keys(e, what, keys, err) < 0)
			return -EINVAL;
		json_t *c = json_object_get(e, "container_id"), *h = json_object_get(e, "host_id"),
		       *s = json_object_get(e, "size");
		if (!json_is_integer(c) || !json_is_integer(h) || !json_is_integer(s) ||
		    json_integer_value(c) < 0 || json_integer_value(h) < 0 ||
		    json_integer_value(s) < 1 || json_integer_value(s) > PL_USERNS_SLICE)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "%s: container_id and host_id must be integers >= 0, "
					    "size an integer in 1..%u",
					    what, PL_USERNS_SLICE);
		uint64_t cid = (uint64_t)json_integer_value(c),
			 hid = (uint64_t)json_integer_value(h),
			 sz = (uint64_t)json_integer_value(s);
		if (cid + sz > ID_LIMIT || hid + sz > ID_LIMIT)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "%s: the range must end below %llu", what, ID_LIMIT);
		if (hid == 0)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "%s: host id 0 is never mapped (the host's root; use "
					    "mode \"host\" for that)",
					    what);
		if (!allow_host_ids && overlaps(hid, sz, 0, HOST_IDS_RESERVED))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "%s: host ids %" PRIu64 "..%" PRIu64
					    " overlap the host's own ids "
					    "0..%u (set security.userns.allow_host_ids to mean it)",
					    what, hid, hid + sz - 1, HOST_IDS_RESERVED - 1);
		for (size_t j = 0; j < i; j++) {
			if (overlaps(cid, sz, out[j].container_id, out[j].size) ||
			    overlaps(hid, sz, out[j].host_id, out[j].size))
				return pl_error_set(err, PL_ERR_INVALID, 0,
						    "%s overlaps security.userns.%s[%zu]", what,
						    field, j);
		}
		total += sz;
		has_root |= cid == 0;
		out[i] = (pl_idmap_t){(uint32_t)cid, (uint32_t)hid, (uint32_t)sz};
	}
	if (total > PL_USERNS_SLICE)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "security.userns.%s maps %" PRIu64 " ids: at most %u", field,
				    total, PL_USERNS_SLICE);
	if (!has_root)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "security.userns.%s must map container id 0 (the domain's "
				    "agent runs as root inside)",
				    field);
	*n = json_array_size(v);
	return 0;
}

int pl_userns_parse(const json_t *v, pl_userns_t *u, pl_error_t **err)
{
	memset(u, 0, sizeof(*u));
	if (!v || json_is_null(v))
		return 0;
	static const char *const keys[] = {"mode", "uid_map", "gid_map", "allow_host_ids", NULL};
	if (pl_json_check_keys(v, "security.userns", keys, err) < 0)
		return -EINVAL;
	json_t *mode = json_object_get(v, "mode"), *allow = json_object_get(v, "allow_host_ids");
	json_t *um = json_object_get(v, "uid_map"), *gm = json_object_get(v, "gid_map");
	const char *m = json_string_value(mode);
	if (!m || (strcmp(m, "host") != 0 && strcmp(m, "remap") != 0))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "security.userns.mode must be \"host\" or \"remap\"");
	if (allow && !json_is_boolean(allow))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "security.userns.allow_host_ids is a boolean");
	u->remap = strcmp(m, "remap") == 0;
	u->allow_host_ids = json_is_true(allow);
	if (!u->remap) {
		if (um || gm || u->allow_host_ids)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "security.userns: uid_map, gid_map and allow_host_ids "
					    "need mode \"remap\"");
		return 0;
	}
	if (gm && !um)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "security.userns.gid_map needs a uid_map");
	if (um && parse_map(um, "uid_map", u->allow_host_ids, u->uid_map, &u->n_uid, err) < 0)
		return -EINVAL;
	if (gm && parse_map(gm, "gid_map", u->allow_host_ids, u->gid_map, &u->n_gid, err) < 0)
		return -EINVAL;
	if (um && !gm) {
		memcpy(u->gid_map, u->uid_map, sizeof(u->gid_map));
		u->n_gid = u->n_uid;
	}
	return 0;
}

static json_t *map_json(const pl_idmap_t *m, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:I, s:I, s:I}", "container_id",
						   (json_int_t)m[i].container_id, "host_id",
						   (json_int_t)m[i].host_id, "size",
						   (json_int_t)m[i].size));
	return a;
}

json_t *pl_userns_to_json(const pl_userns_t *u)
{
	json_t *j = json_pack("{s:s}", "mode", u->remap ? "remap" : "host");
	if (u->n_uid)
		json_object_set_new(j, "uid_map", map_json(u->uid_map, u->n_uid));
	if (u->n_gid)
		json_object_set_new(j, "gid_map", map_json(u->gid_map, u->n_gid));
	if (u->allow_host_ids)
		json_object_set_new(j, "allow_host_ids", json_true());
	return j;
}

/* The other container (index) whose host range of the same kind overlaps [start, +len). */
static ssize_t taken_by(uint64_t start, uint64_t len, bool gids, const pl_userns_t *const *others,
			size_t n_others)
{
	for (size_t o = 0; o < n_others; o++) {
		const pl_idmap_t *m = gids ? others[o]->gid_map : others[o]->uid_map;
		size_t n = gids ? others[o]->n_gid : others[o]->n_uid;
		for (size_t i = 0; i < n; i++)
			if (overlaps(start, len, m[i].host_id, m[i].size))
				return (ssize_t)o;
	}
	return -1;
}

static int check_explicit(const pl_idmap_t *m, size_t n, bool gids, bool allow_host_ids,
			  const pl_userns_t *const *others, size_t n_others,
			  const pl_userns_range_t *range, pl_error_t **err)
{
	const char *field = gids ? "gid_map" : "uid_map";
	uint32_t range_start = range->start, range_count = range->count;
	for (size_t i = 0; i < n; i++) {
		if (!allow_host_ids &&
		    (m[i].host_id < range_start ||
		     (uint64_t)m[i].host_id + m[i].size > (uint64_t)range_start + range_count))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "security.userns.%s[%zu]: host ids %u..%u are outside "
					    "the daemon's range %u..%" PRIu64
					    " (set allow_host_ids to mean it)",
					    field, i, m[i].host_id, m[i].host_id + m[i].size - 1,
					    range_start, (uint64_t)range_start + range_count - 1);
		if (taken_by(m[i].host_id, m[i].size, gids, others, n_others) >= 0)
			return pl_error_set(err, PL_ERR_CONFLICT, 0,
					    "security.userns.%s[%zu]: host ids %u..%u overlap "
					    "another container's",
					    field, i, m[i].host_id, m[i].host_id + m[i].size - 1);
	}
	return 0;
}

int pl_userns_allocate(pl_userns_t *u, const pl_userns_t *const *others, size_t n_others,
		       const pl_userns_range_t *range, pl_error_t **err)
{
	uint32_t range_start = range->start, range_count = range->count;
	if (!u->remap)
		return 0;
	if (u->n_uid) {
		if (check_explicit(u->uid_map, u->n_uid, false, u->allow_host_ids, others, n_others,
				   range, err) < 0 ||
		    check_explicit(u->gid_map, u->n_gid, true, u->allow_host_ids, others, n_others,
				   range, err) < 0)
			return -1;
		return 0;
	}
	for (uint64_t off = 0; off + PL_USERNS_SLICE <= range_count; off += PL_USERNS_SLICE) {
		uint64_t start = range_start + off;
		if (taken_by(start, PL_USERNS_SLICE, false, others, n_others) >= 0 ||
		    taken_by(start, PL_USERNS_SLICE, true, others, n_others) >= 0)
			continue;
		u->uid_map[0] = u->gid_map[0] = (pl_idmap_t){0, (uint32_t)start, PL_USERNS_SLICE};
		u->n_uid = u->n_gid = 1;
		return 0;
	}
	return pl_error_set(err, PL_ERR_CONFLICT, 0,
			    "no free user namespace range: the daemon's %u ids from %u are all "
			    "held by remapped containers",
			    range_count, range_start);
}
