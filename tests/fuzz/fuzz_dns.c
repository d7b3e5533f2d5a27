/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: the DNS responder's message handling, the part of the daemon anyone on a
 * scope can send bytes to. Whatever a datagram holds, pl_dns_respond must drop it, forward it
 * with one well-formed question, or produce a reply that fits its buffer and parses back with
 * the query's id and question; the other parsers must stay inside their buffers. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "portlayer/network/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The first input bytes steer the callbacks, so odd answers (too many addresses, a name the
 * encoder refuses) are explored too. */
static uint8_t knob;

static int lookup(void *ctx, const char *name, struct in_addr *out, int max)
{
	size_t l = strlen(name);
	if (l > PL_DNS_MAX_NAME)
		abort();
	int n = knob % 8 == 7 ? max + 5 : (int)(knob % 8); /* the server must clamp */
	for (int i = 0; i < n && i < max; i++)
		out[i].s_addr = htonl(0x0a000000u + (uint32_t)i + (uint32_t)l);
	return n;
}

static int reverse(void *ctx, struct in_addr addr, char *name, size_t cap)
{
	const char *names[] = {"web.scope", "a..b", "", "x."};
	if (knob & 0x80)
		return 0;
	size_t i = (knob >> 4) & 3;
	strncpy(name, names[i], cap - 1);
	name[cap - 1] = '\0';
	if ((knob >> 4) & 4) /* a name no encoder takes: too long a label */
		memset(name, 'a', cap - 1);
	return 1;
}

static void check_reply(const uint8_t *msg, size_t len, const uint8_t *r, size_t rlen, size_t cap)
{
	if (rlen > cap || rlen < PL_DNS_HDR_LEN)
		abort();
	pl_dns_msg_t q, a;
	int qr = pl_dns_parse(msg, len, &q);
	int ar = pl_dns_parse(r, rlen, &a);
	if (ar == PL_DNS_ESHORT || !(a.flags & PL_DNS_F_QR) || a.id != q.id)
		abort();
	if (ar == 0) {
		/* A reply's question is the query's, byte for byte. */
		if (qr != 0 || a.qname_wire_len != q.qname_wire_len ||
		    memcmp(a.qname_wire, q.qname_wire, a.qname_wire_len) != 0 ||
		    a.qtype != q.qtype || a.qclass != q.qclass)
			abort();
		int n = pl_dns_parse_a_answers(r, rlen, &a, NULL, 0, NULL);
		if (n < 0 || n > a.ancount || (a.qtype != PL_DNS_TYPE_PTR && n != a.ancount))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	knob = data[0];
	size_t cap = data[1] % 2 ? PL_DNS_UDP_MAX : (size_t)data[1] * 2;
	data += 2;
	size -= 2;

	/* Exact-size copies: ASan then flags any read or write one byte past the end. */
	uint8_t *msg = malloc(size ? size : 1);
	memcpy(msg, data, size);
	uint8_t *out = malloc(cap ? cap : 1);
	pl_dns_msg_t q;
	ssize_t n = pl_dns_respond(msg, size, lookup, NULL, reverse, NULL, &q, out, cap);
	if (n > 0) {
		check_reply(msg, size, out, (size_t)n, cap);
	} else if (n == 0) {
		/* Forwarded: exactly one well-formed question in a plain query. */
		if (!q.has_question || q.qdcount != 1 || (q.flags & PL_DNS_F_QR) ||
		    PL_DNS_OPCODE(q.flags) != 0 || q.question_end > size)
			abort();
		if (q.qname_plain) {
			/* The text form encodes back to the wire form, lowercased. */
			uint8_t w[PL_DNS_MAX_WIRE_NAME];
			ssize_t wl = pl_dns_encode_name(q.qname, w, sizeof(w));
			if (wl != (ssize_t)q.qname_wire_len)
				abort();
			for (size_t i = 0; i < q.qname_wire_len; i++)
				if (w[i] != (uint8_t)tolower(q.qname_wire[i]))
					abort();
		}
	}

	/* The same bytes read as an upstream's answer. */
	pl_dns_msg_t m;
	if (pl_dns_parse(msg, size, &m) == 0) {
		struct in_addr addrs[4];
		pl_dns_parse_a_answers(msg, size, &m, addrs, 4, NULL);
	}

	/* And as text: resolv.conf, a reverse name, a name to encode. */
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	struct in_addr ns[PL_DNS_MAX_UPSTREAMS], a;
	if (pl_dns_parse_resolv_conf(text, ns, PL_DNS_MAX_UPSTREAMS) > PL_DNS_MAX_UPSTREAMS)
		abort();
	pl_dns_parse_reverse(text, &a);
	uint8_t w[PL_DNS_MAX_WIRE_NAME];
	ssize_t wl = pl_dns_encode_name(text, w, sizeof(w));
	if (wl > PL_DNS_MAX_WIRE_NAME)
		abort();

	free(text);
	free(out);
	free(msg);
	return 0;
}
