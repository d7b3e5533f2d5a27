/* SPDX-License-Identifier: Apache-2.0 */
/* The IPv4 allocator: one bit per address of the subnet. */
#include "portlayer/network/ipam.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pl_ipam {
	uint32_t net, gateway;
	unsigned len;
	uint32_t first, last; /* the range handed out by alloc, inclusive */
	uint32_t next;	      /* where the next search starts */
	unsigned used;
	uint8_t *bits; /* one per subnet address */
};

bool pl_ipam_is_addr(const char *s)
{
	uint32_t a;
	return pl_ipam_parse_addr(s, &a) == 0;
}

int pl_ipam_parse_addr(const char *s, uint32_t *addr)
{
	struct in_addr a;
	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*addr = ntohl(a.s_addr);
	return 0;
}

const char *pl_ipam_format(uint32_t addr, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 255, (addr >> 8) & 255,
		 addr & 255);
	return buf;
}

int pl_ipam_parse_cidr(const char *s, uint32_t *net, unsigned *len, pl_error_t **err)
{
	char buf[32];
	const char *slash = s ? strchr(s, '/') : NULL;
	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "\"%s\" is not an IPv4 CIDR (a.b.c.d/len)", s ? s : "");
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	int64_t l;
	uint32_t a;
	if (pl_ipam_parse_addr(buf, &a) < 0 || pl_parse_int64(slash + 1, 8, 30, &l) < 0)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "\"%s\" is not an IPv4 CIDR with a prefix length of 8 to 30",
				    s);
	if (a & ~pl_ipam_mask((unsigned)l))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "\"%s\" has host bits set (the network is %u.%u.%u.%u/%u)", s,
				    (a & pl_ipam_mask((unsigned)l)) >> 24,
				    ((a & pl_ipam_mask((unsigned)l)) >> 16) & 255,
				    ((a & pl_ipam_mask((unsigned)l)) >> 8) & 255,
				    a & pl_ipam_mask((unsigned)l) & 255, (unsigned)l);
	*net = a;
	*len = (unsigned)l;
	return 0;
}

static bool bit(const pl_ipam_t *p, uint32_t addr)
{
	uint32_t i = addr - p->net;
	return p->bits[i / 8] >> (i % 8) & 1;
}

static void set_bit(pl_ipam_t *p, uint32_t addr, bool on)
{
	uint32_t i = addr - p->net;
	if (on)
		p->bits[i / 8] |= (uint8_t)(1u << (i % 8));
	else
		p->bits[i / 8] &= (uint8_t) ~(1u << (i % 8));
}

static uint32_t broadcast_of(const pl_ipam_t *p)
{
	return p->net | ~pl_ipam_mask(p->len);
}

static bool reserved(const pl_ipam_t *p, uint32_t addr)
{
	return addr == p->net || addr == broadcast_of(p) || addr == p->gateway;
}

pl_ipam_t *pl_ipam_new(uint32_t net, unsigned len, uint32_t range, unsigned range_len,
		       uint32_t gateway, pl_error_t **err)
{
	if (len < 8 || len > 30 || (net & ~pl_ipam_mask(len))) {
		pl_error_set(err, PL_ERR_INVALID, 0, "subnet must be a /8 to /30 network");
		return NULL;
	}
	pl_ipam_t *p = pl_xcalloc(1, sizeof(*p));
	p->net = net;
	p->len = len;
	p->gateway = gateway;
	if (!pl_ipam_contains(p, gateway) || gateway == net || gateway == broadcast_of(p)) {
		char g[16];
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "gateway %s is not a host address of the subnet",
			     pl_ipam_format(gateway, g));
		free(p);
		return NULL;
	}
	if (range_len == 0) {
		range = net;
		range_len = len;
	}
	if (range_len < len || (range & pl_ipam_mask(len)) != net ||
	    (range & ~pl_ipam_mask(range_len))) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "ip range must be a network inside the subnet");
		free(p);
		return NULL;
	}
	p->first = range;
	p->last = range | ~pl_ipam_mask(range_len);
	p->next = p->first;
	p->bits = pl_xcalloc(((size_t)1 << (32 - len)) / 8 + 1, 1);
	return p;
}

pl_ipam_t *pl_ipam_free(pl_ipam_t *p)
{
	if (p) {
		free(p->bits);
		free(p);
	}
	return NULL;
}

bool pl_ipam_contains(const pl_ipam_t *p, uint32_t addr)
{
	return (addr & pl_ipam_mask(p->len)) == p->net;
}

int pl_ipam_alloc(pl_ipam_t *p, uint32_t *out, pl_error_t **err)
{
	uint64_t n = (uint64_t)p->last - p->first + 1;
	uint32_t a = p->next < p->first || p->next > p->last ? p->first : p->next;
	for (uint64_t i = 0; i < n; i++) {
		if (!reserved(p, a) && !bit(p, a)) {
			set_bit(p, a, true);
			p->used++;
			p->next = a == p->last ? p->first : a + 1;
			*out = a;
			return 0;
		}
		a = a == p->last ? p->first : a + 1;
	}
	return pl_error_set(err, PL_ERR_CONFLICT, 0, "no free address left in the range");
}

int pl_ipam_reserve(pl_ipam_t *p, uint32_t addr, pl_error_t **err)
{
	char b[16];
	if (!pl_ipam_contains(p, addr))
		return pl_error_set(err, PL_ERR_INVALID, 0, "address %s is outside the subnet",
				    pl_ipam_format(addr, b));
	if (reserved(p, addr))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "address %s is the network, broadcast or gateway address",
				    pl_ipam_format(addr, b));
	if (bit(p, addr))
		return pl_error_set(err, PL_ERR_CONFLICT, 0, "address %s is already in use",
				    pl_ipam_format(addr, b));
	set_bit(p, addr, true);
	p->used++;
	return 0;
}

void pl_ipam_release(pl_ipam_t *p, uint32_t addr)
{
	if (!pl_ipam_contains(p, addr) || reserved(p, addr) || !bit(p, addr))
		return;
	set_bit(p, addr, false);
	p->used--;
}

void pl_ipam_reset(pl_ipam_t *p)
{
	memset(p->bits, 0, ((size_t)1 << (32 - p->len)) / 8 + 1);
	p->used = 0;
	/* the cursor stays: a rebuild must not make a just released address the next one */
}

unsigned pl_ipam_used(const pl_ipam_t *p)
{
	return p->used;
}
