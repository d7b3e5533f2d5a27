/* SPDX-License-Identifier: Apache-2.0 */
/* A bridge scope's branch bridges (scope.h): which bridge an endpoint joins, derived from its
 * address alone (no table of ports to keep), so that no bridge gets more than a few dozen
 * ports however many containers the scope has. */
#include "portlayer/network/scope.h"
#include "common/log.h"
#include "common/util.h"
#include "host/linux/netdev.h"

#include <stdio.h>
#include <string.h>

/* Addresses per bridge: 64, or more in a subnet so large that 512 bridges of 64 would not
 * cover it (the scope's bridge then has its own group and at most 511 links: under the
 * kernel's 1023 ports while a group is no larger than 512). */
static uint32_t branch_size(const pl_scope_t *s)
{
	uint64_t size = 1ULL << (32 - (s->len > 32 ? 32 : s->len));
	uint64_t k = size / PL_SCOPE_BRANCHES;
	return k < 64 ? 64 : (uint32_t)k;
}

/* Branch k's devices: named from a hash of the scope's bridge, which the check of an
 * existing branch's link makes safe against a collision (netdev.c). */
static unsigned long long branch_hash(const pl_scope_t *s)
{
	return pl_fnv1a(s->device, strlen(s->device), PL_FNV1A_INIT) & 0xfffffffffULL;
}

bool pl_scope_branch_name(const char *name)
{
	if (strlen(name) != 15 || strncmp(name, "pl", 2) || !strchr("bud", name[2]))
		return false;
	for (const char *p = name + 3; *p; p++)
		if (!strchr("0123456789abcdef", *p))
			return false;
	return true;
}

void pl_scope_branch_pattern(const pl_scope_t *s, char out[16])
{
	snprintf(out, 16, "plb%09llx*", branch_hash(s));
}

static void branch_names(const pl_scope_t *s, unsigned k, pl_netdev_branch_t *b)
{
	char *names[] = {b->name, b->uplink, b->downlink};
	for (size_t i = 0; i < 3; i++)
		snprintf(names[i], sizeof(b->name), "pl%c%09llx%03x", "bud"[i], branch_hash(s),
			 k & 0xfff);
}

static bool made(const pl_scope_t *s, unsigned k)
{
	return s->branches[k / 64] & (1ULL << (k % 64));
}

void pl_scope_bridge_for(pl_scope_t *s, uint32_t ip, char out[16])
{
	snprintf(out, 16, "%s", s->device);
	unsigned k = ip >= s->subnet ? (ip - s->subnet) / branch_size(s) : 0;
	if (k == 0 || k >= PL_SCOPE_BRANCHES)
		return;
	pl_netdev_branch_t b;
	branch_names(s, k, &b);
	/* checked once a run, and again when it went missing meanwhile */
	if (!made(s, k) || !pl_netdev_exists(b.name)) {
		pl_error_t *e = NULL;
		if (pl_netdev_branch_ensure(s->device, &b, s->mtu, &e) < 0) {
			pl_log_warn("network %s: %s (its endpoints join %s)", s->name, e->msg,
				    s->device);
			pl_error_free(e);
			return;
		}
		s->branches[k / 64] |= 1ULL << (k % 64);
	}
	snprintf(out, 16, "%s", b.name);
}

void pl_scope_each_bridge(const pl_scope_t *s, void (*fn)(const char *bridge, void *data),
			  void *data)
{
	fn(s->device, data);
	for (unsigned k = 1; k < PL_SCOPE_BRANCHES; k++) {
		pl_netdev_branch_t b;
		branch_names(s, k, &b);
		if (pl_netdev_exists(b.name))
			fn(b.name, data);
	}
}

void pl_scope_branches_delete(pl_scope_t *s)
{
	for (unsigned k = 1; k < PL_SCOPE_BRANCHES; k++) {
		pl_netdev_branch_t b;
		branch_names(s, k, &b);
		if (pl_netdev_exists(b.uplink) || pl_netdev_exists(b.name))
			pl_netdev_branch_delete(s->device, &b);
	}
	memset(s->branches, 0, sizeof(s->branches));
}
