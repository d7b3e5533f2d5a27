/* SPDX-License-Identifier: Apache-2.0 */
/* The DNS responder of one network scope: UDP and TCP listeners on the daemon's loop that
 * answer A (and PTR) queries for names the scope knows, through callbacks the scope owns, and
 * forward every other query, unchanged but for its id, to the host's nameservers. Owns its
 * sockets, its timer, its client connections and the table of pending forwards (dns.c); the
 * names stay the caller's. The callbacks run on the loop, once per query: they must not
 * block, and name/out are only valid during the call.
 *
 * The message functions underneath (pl_dns_parse*, pl_dns_build*, pl_dns_respond; dns_msg.c)
 * are pure: no sockets, no allocation, bounds-checked against the buffer they are given, so
 * they are unit-tested and fuzzed directly. */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "common/error.h"
#include "common/loop.h"

typedef struct pl_dns pl_dns_t;

/* name: lowercased, without the trailing dot. Returns the number of IPv4 addresses written to
 * out (<= max); 0 = not ours: the query is forwarded upstream. */
typedef int (*pl_dns_lookup_fn)(void *ctx, const char *name, struct in_addr *out, int max);

/* Optional reverse lookup (PTR): writes the lowercased name (without the trailing dot) owning
 * addr into name (cap bytes, NUL-terminated) and returns 1, or returns 0 when the address is
 * not ours (the PTR query is then forwarded like any other). */
typedef int (*pl_dns_reverse_fn)(void *ctx, struct in_addr addr, char *name, size_t cap);

/* Listens on UDP and TCP listen:port (port 53 in production; tests pass another) on the
 * daemon's loop. resolv_conf: the file whose `nameserver` lines are the upstreams (the host's
 * /etc/resolv.conf; read once here). NULL, a missing file or one without IPv4 nameservers
 * means no upstreams: forwarded names get SERVFAIL (what an internal scope wants). */
pl_dns_t *pl_dns_start(pl_loop_t *loop, struct in_addr listen, uint16_t port,
		       const char *resolv_conf, pl_dns_lookup_fn lookup, void *ctx,
		       pl_error_t **err);
/* Closes everything, cancels pending forwards (their clients get nothing); returns NULL. */
pl_dns_t *pl_dns_stop(pl_dns_t *d);

/* During a lookup or reverse callback: the address the query came from (so a scope can
 * answer with what that client may see, e.g. names on its other scopes too). */
struct in_addr pl_dns_asker(const pl_dns_t *d);
/* The port actually listened on (the kernel's pick when port 0 was asked for). */
uint16_t pl_dns_port(const pl_dns_t *d);

/* Enables PTR answers for in-addr.arpa names whose address the scope knows. */
void pl_dns_set_reverse(pl_dns_t *d, pl_dns_reverse_fn reverse, void *ctx);
/* Serves only sources inside net/prefix (the scope's subnet): others get REFUSED over UDP and
 * a closed connection over TCP. The listener sits on a host address, and a responder that
 * forwards for anyone who can route to it would be an open resolver. Default: every source
 * (prefix 0). */
void pl_dns_set_client_subnet(pl_dns_t *d, struct in_addr net, int prefix);
/* For tests only: resolv.conf has no port syntax, so a fake upstream on another loopback port
 * is reached by overriding the upstream port (53 otherwise). */
void pl_dns_set_upstream_port(pl_dns_t *d, uint16_t port);
/* Per-upstream timeout of a forwarded query (PL_DNS_FORWARD_TIMEOUT_MS otherwise); tests
 * shorten it. */
void pl_dns_set_forward_timeout(pl_dns_t *d, unsigned ms);

/* ---- limits and constants ---- */

#define PL_DNS_TTL		  600  /* seconds; what Docker's embedded server answers */
#define PL_DNS_FORWARD_TIMEOUT_MS 2000 /* per upstream attempt */
#define PL_DNS_MAX_PENDING	  1024 /* forwards in flight per scope; beyond: SERVFAIL */
#define PL_DNS_MAX_UPSTREAMS	  3    /* like glibc's MAXNS */
#define PL_DNS_HDR_LEN		  12
#define PL_DNS_UDP_MAX		  512 /* plain DNS over UDP (we do not read EDNS) */
#define PL_DNS_MSG_MAX		  65535
#define PL_DNS_MAX_LABEL	  63
#define PL_DNS_MAX_WIRE_NAME	  255 /* length octets and the root label included */
#define PL_DNS_MAX_NAME		  253 /* text form, without the trailing dot */
#define PL_DNS_MAX_POINTERS	  64  /* compression pointers followed in one name */
#define PL_DNS_MAX_ADDRS	  64  /* addresses asked of the lookup */

/* Header flag bits. */
#define PL_DNS_F_QR	 0x8000
#define PL_DNS_F_OPCODE	 0x7800
#define PL_DNS_F_AA	 0x0400
#define PL_DNS_F_TC	 0x0200
#define PL_DNS_F_RD	 0x0100
#define PL_DNS_F_RA	 0x0080
#define PL_DNS_F_RCODE	 0x000f
#define PL_DNS_OPCODE(f) (((f)&PL_DNS_F_OPCODE) >> 11)

#define PL_DNS_TYPE_A	 1
#define PL_DNS_TYPE_PTR	 12
#define PL_DNS_TYPE_AAAA 28
#define PL_DNS_TYPE_ANY	 255
#define PL_DNS_CLASS_IN	 1

#define PL_DNS_RC_NOERROR  0
#define PL_DNS_RC_FORMERR  1
#define PL_DNS_RC_SERVFAIL 2
#define PL_DNS_RC_NXDOMAIN 3
#define PL_DNS_RC_NOTIMP   4
#define PL_DNS_RC_REFUSED  5

/* Parse results of pl_dns_parse. */
#define PL_DNS_ESHORT  (-1) /* shorter than a header: nothing can be answered */
#define PL_DNS_EFORMAT (-2) /* header read, first question malformed or missing */

/* ---- pure message functions ---- */

typedef struct pl_dns_msg {
	uint16_t id, flags, qdcount, ancount, nscount, arcount;
	bool has_question; /* the fields below are valid */
	uint16_t qtype, qclass;
	/* The first question's name, uncompressed, in the case it was sent (0x20 randomisation
	 * survives the echo). */
	uint8_t qname_wire[PL_DNS_MAX_WIRE_NAME];
	size_t qname_wire_len;
	/* Lowercased text form without the trailing dot ("" is the root). */
	char qname[PL_DNS_MAX_NAME + 1];
	/* False when a label holds '.', '\\' or a byte outside printable ASCII: the text form
	 * would be ambiguous, so such a name is never offered to the lookup. */
	bool qname_plain;
	size_t question_end; /* offset just past the first question */
} pl_dns_msg_t;

/* Structural parse of any message: the header, then the first question when qdcount >= 1
 * (compression pointers followed backwards only, at most PL_DNS_MAX_POINTERS; labels <= 63,
 * names <= 255 octets). Returns 0, PL_DNS_ESHORT or PL_DNS_EFORMAT; on PL_DNS_EFORMAT the
 * header fields of m are valid. Never reads outside msg[0, len). */
int pl_dns_parse(const uint8_t *msg, size_t len, pl_dns_msg_t *m);

/* The server's policy for an incoming query, on top of pl_dns_parse: returns -1 when the
 * message must be dropped (no header, or it is a response), 0 when m holds one well-formed
 * question to answer or forward, otherwise the rcode to answer with (NOTIMP for an opcode
 * other than QUERY, FORMERR for a malformed question or a qdcount other than 1). */
int pl_dns_parse_query(const uint8_t *msg, size_t len, pl_dns_msg_t *m);

/* The whole decision for one query, without sockets (what the server runs on every datagram):
 * parses it (pl_dns_parse_query), answers the scope's names through lookup / reverse (either
 * may be NULL) into out, and returns the reply's length; 0 when the query is not ours and
 * must be forwarded (q then holds it); -1 when it is dropped. Known name: A (and ANY) get
 * every address, AA set, TTL PL_DNS_TTL, TC when they do not fit in cap; other types an empty
 * NOERROR. Only class IN is answered locally. */
ssize_t pl_dns_respond(const uint8_t *msg, size_t len, pl_dns_lookup_fn lookup, void *ctx,
		       pl_dns_reverse_fn reverse, void *rctx, pl_dns_msg_t *q, uint8_t *out,
		       size_t cap);

/* Reads the A/IN records of a response's answer section (whatever their owner name; other
 * records are skipped), m being its pl_dns_parse result with qdcount 1. Writes up to max
 * addresses and the last TTL seen (ttl may be NULL). Returns the number of A records, or -1
 * when the section is malformed (the same name rules as for questions, rdata in bounds).
 * Clients of the server (tests, probes) use it; the server itself never looks at answers. */
int pl_dns_parse_a_answers(const uint8_t *msg, size_t len, const pl_dns_msg_t *m,
			   struct in_addr *out, int max, uint32_t *ttl);

/* Builds the response to q into out (cap bytes): q's id, opcode and RD; QR and RA set; AA
 * when authoritative; rcode; q's question echoed when q->has_question; then one A record
 * (ttl) per address, name compressed to the question's. Records that do not fit in cap are
 * left out and TC is set. Returns the length, or -1 when not even the header (and question)
 * fits. */
ssize_t pl_dns_build_reply(const pl_dns_msg_t *q, int rcode, bool authoritative,
			   const struct in_addr *addrs, int naddrs, uint32_t ttl, uint8_t *out,
			   size_t cap);

/* Same, answering with one PTR record pointing at name (text, without the trailing dot). */
ssize_t pl_dns_build_ptr_reply(const pl_dns_msg_t *q, const char *name, uint32_t ttl, uint8_t *out,
			       size_t cap);

/* Builds a query for name (text, trailing dot optional) with RD set. Returns the length or
 * -1 (name invalid or out too small). Used by tests and by anything probing the server. */
ssize_t pl_dns_build_query(uint16_t id, const char *name, uint16_t qtype, uint8_t *out, size_t cap);

/* Encodes a text name into uncompressed wire form. Returns the length or -1 when a label is
 * empty or longer than 63, or the whole exceeds 255 octets. */
ssize_t pl_dns_encode_name(const char *name, uint8_t *out, size_t cap);

/* "d.c.b.a.in-addr.arpa" (lowercased, no trailing dot) → a.b.c.d. Returns 0 or -1. */
int pl_dns_parse_reverse(const char *name, struct in_addr *addr);

/* Reads the IPv4 `nameserver` lines of resolv.conf text (IPv6 and malformed ones skipped),
 * at most max. Returns the count. */
int pl_dns_parse_resolv_conf(const char *text, struct in_addr *out, int max);

/* A 16-bit field in network order (dns.c and dns_msg.c). */
static inline void pl_dns_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
