/* The per-scope DNS responder; see dns.h. Skeleton: the interface builds, the implementation
 * follows. */
#include "portlayer/network/dns.h"
#include "common/cleanup.h"

struct pl_dns {
	pl_loop_t *loop;
};

pl_dns_t *pl_dns_start(pl_loop_t *loop, struct in_addr listen, uint16_t port,
		       const char *resolv_conf, pl_dns_lookup_fn lookup, void *ctx,
		       pl_error_t **err)
{
	pl_error_set(err, PL_ERR_UNSUPPORTED, 0, "dns responder: not implemented yet");
	return NULL;
}

pl_dns_t *pl_dns_stop(pl_dns_t *d)
{
	free(d);
	return NULL;
}

void pl_dns_set_reverse(pl_dns_t *d, pl_dns_reverse_fn reverse, void *ctx)
{
}

void pl_dns_set_upstream_port(pl_dns_t *d, uint16_t port)
{
}

void pl_dns_set_forward_timeout(pl_dns_t *d, unsigned ms)
{
}

int pl_dns_parse(const uint8_t *msg, size_t len, pl_dns_msg_t *m)
{
	return PL_DNS_ESHORT;
}

int pl_dns_parse_query(const uint8_t *msg, size_t len, pl_dns_msg_t *m)
{
	return -1;
}

ssize_t pl_dns_build_reply(const pl_dns_msg_t *q, int rcode, bool authoritative,
			   const struct in_addr *addrs, int naddrs, uint32_t ttl, uint8_t *out,
			   size_t cap)
{
	return -1;
}

ssize_t pl_dns_build_ptr_reply(const pl_dns_msg_t *q, const char *name, uint32_t ttl, uint8_t *out,
			       size_t cap)
{
	return -1;
}

ssize_t pl_dns_build_query(uint16_t id, const char *name, uint16_t qtype, uint8_t *out, size_t cap)
{
	return -1;
}

ssize_t pl_dns_encode_name(const char *name, uint8_t *out, size_t cap)
{
	return -1;
}

int pl_dns_parse_reverse(const char *name, struct in_addr *addr)
{
	return -1;
}

int pl_dns_parse_resolv_conf(const char *text, struct in_addr *out, int max)
{
	return 0;
}
