/* SPDX-License-Identifier: Apache-2.0 */
/* Which IPv4 subnets a scope may take: never a reserved range (loopback, "this network",
 * link-local, shared address space, multicast, class E), and never one the host already
 * reaches through an interface address or a route (a bridge there would shadow it). */
#include "portlayer/network/hostnets.h"
#include "portlayer/network/ipam.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static bool overlaps(uint32_t a, unsigned alen, uint32_t b, unsigned blen)
{
	unsigned l = alen < blen ? alen : blen;
	return (a & pl_ipam_mask(l)) == (b & pl_ipam_mask(l));
}

static const struct {
	uint32_t net;
	unsigned len;
	const char *what;
} reserved[] = {
    {0x00000000u, 8, "0.0.0.0/8 (\"this network\")"},
    {0x7f000000u, 8, "127.0.0.0/8 (loopback)"},
    {0xa9fe0000u, 16, "169.254.0.0/16 (link-local)"},
    {0x64400000u, 10, "100.64.0.0/10 (shared address space)"},
    {0xe0000000u, 4, "224.0.0.0/4 (multicast)"},
    {0xf0000000u, 4, "240.0.0.0/4 (reserved)"},
};

const char *pl_subnet_reserved(uint32_t net, unsigned len)
{
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (overlaps(net, len, reserved[i].net, reserved[i].len))
			return reserved[i].what;
	return NULL;
}

static void fmt(uint32_t a, unsigned len, char *out, size_t cap)
{
	struct in_addr in = {.s_addr = htonl(a)};
	char b[INET_ADDRSTRLEN];
	snprintf(out, cap, "%s/%u", inet_ntop(AF_INET, &in, b, sizeof(b)), len);
}

static unsigned prefix_of(uint32_t mask)
{
	unsigned n = 0;
	while (n < 32 && (mask & (0x80000000u >> n)))
		n++;
	return n;
}

bool pl_subnet_host_conflict(uint32_t net, unsigned len, char *what, size_t cap)
{
	bool hit = false;
	struct ifaddrs *ifa = NULL;
	if (getifaddrs(&ifa) == 0) {
		for (struct ifaddrs *a = ifa; a && !hit; a = a->ifa_next) {
			if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET || !a->ifa_netmask)
				continue;
			uint32_t ad = ntohl(((struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr);
			uint32_t m = ntohl(((struct sockaddr_in *)a->ifa_netmask)->sin_addr.s_addr);
			unsigned l = prefix_of(m);
			if (overlaps(net, len, ad & m, l)) {
				char s[32];
				fmt(ad & m, l, s, sizeof(s));
				snprintf(what, cap, "%s on interface %s", s, a->ifa_name);
				hit = true;
			}
		}
		freeifaddrs(ifa);
	}
	FILE *f = hit ? NULL : fopen("/proc/net/route", "re");
	char line[256];
	if (f && !fgets(line, sizeof(line), f)) /* the header */
		line[0] = '\0';
	while (f && !hit && fgets(line, sizeof(line), f)) {
		char dev[64];
		unsigned dst, gw, flags, mask;
		if (sscanf(line, "%63s %x %x %x %*d %*d %*d %x", dev, &dst, &gw, &flags, &mask) !=
		    5)
			continue;
		uint32_t d = ntohl(dst), m = ntohl(mask);
		unsigned l = prefix_of(m);
		if (l == 0)
			continue; /* the default route overlaps everything: it is not a claim */
		if (overlaps(net, len, d & m, l)) {
			char s[32];
			fmt(d & m, l, s, sizeof(s));
			snprintf(what, cap, "the route to %s via %s", s, dev);
			hit = true;
		}
	}
	if (f)
		fclose(f);
	return hit;
}
