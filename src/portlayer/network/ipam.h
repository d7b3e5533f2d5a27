/* SPDX-License-Identifier: Apache-2.0 */
/* IPv4 address management for one subnet: a pure allocator (no I/O) over the subnet or an
 * address range inside it. The network, broadcast and gateway addresses are never handed
 * out. Addresses are host-order uint32_t; the allocator keeps no record of who holds an
 * address: the containers' configs are the truth and the state is rebuilt from them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include "common/error.h"

typedef struct pl_ipam pl_ipam_t;

/* The netmask of a prefix length, host order. */
static inline uint32_t pl_ipam_mask(unsigned len)
{
	return len == 0 ? 0 : ~0u << (32 - len);
}

/* Parses "a.b.c.d/len" (len 8..30, host bits zero) into host order. */
int pl_ipam_parse_cidr(const char *s, uint32_t *net, unsigned *len, pl_error_t **err);
/* Parses a dotted IPv4 address into host order; -EINVAL when it is not one. */
int pl_ipam_parse_addr(const char *s, uint32_t *addr);
/* Whether s is a dotted IPv4 address. */
bool pl_ipam_is_addr(const char *s);
/* "a.b.c.d" of a host-order address into buf (16 bytes). */
const char *pl_ipam_format(uint32_t addr, char buf[16]);

/* An allocator for net/len handing out addresses of range (range_len 0: the whole subnet).
 * The range must lie within the subnet; gateway must be a host address of it. */
pl_ipam_t *pl_ipam_new(uint32_t net, unsigned len, uint32_t range, unsigned range_len,
		       uint32_t gateway, pl_error_t **err);
pl_ipam_t *pl_ipam_free(pl_ipam_t *ipam);
/* Whether addr is an address of the subnet (any, reserved ones included). */
bool pl_ipam_contains(const pl_ipam_t *ipam, uint32_t addr);
/* The next free address of the range after the last one handed out (round robin, so a
 * released address is not reused at once); CONFLICT when none is left. */
int pl_ipam_alloc(pl_ipam_t *ipam, uint32_t *out, pl_error_t **err);
/* Takes a given address: INVALID when outside the subnet or a reserved address, CONFLICT
 * when already taken. Static addresses may lie outside the range (but inside the subnet). */
int pl_ipam_reserve(pl_ipam_t *ipam, uint32_t addr, pl_error_t **err);
/* Gives an address back; unknown or free addresses are ignored. */
void pl_ipam_release(pl_ipam_t *ipam, uint32_t addr);
/* Forgets every allocation (before a rebuild from the containers' configs). */
void pl_ipam_reset(pl_ipam_t *ipam);
/* Addresses in use (reserved ones not counted). */
unsigned pl_ipam_used(const pl_ipam_t *ipam);
