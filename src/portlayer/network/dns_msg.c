/* SPDX-License-Identifier: Apache-2.0 */
/* The DNS responder's pure message functions (see dns.h): parsing, building, the per-query
 * decision. No sockets, no allocation. Every read of a message goes through a length check
 * against the buffer it came in; nothing here trusts a count or an offset found inside a
 * message. */
#include "portlayer/network/dns.h"
#include "common/cleanup.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <string.h>

/* An answer record's fixed part with a compressed name: pointer, type, class, ttl, rdlength. */
#define RR_HEAD_LEN 12

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static void put32(uint8_t *p, uint32_t v)
{
	pl_dns_put16(p, (uint16_t)(v >> 16));
	pl_dns_put16(p + 2, (uint16_t)v);
}

/* Its name a pointer to the question's (offset 12). */
static void put_rr_head(uint8_t *p, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	pl_dns_put16(p, 0xc000 | PL_DNS_HDR_LEN);
	pl_dns_put16(p + 2, type);
	pl_dns_put16(p + 4, PL_DNS_CLASS_IN);
	put32(p + 6, ttl);
	pl_dns_put16(p + 10, rdlen);
}

/* Reads the name starting at off into m's qname fields; *end is the offset just past the name
 * where it started (after its first pointer, or its root label). A pointer must land before
 * the start of every stretch of labels read so far, so pointer chains strictly move backwards
 * and cannot loop; the hop count is a second, belt-and-braces bound. */
static int read_name(const uint8_t *msg, size_t len, size_t off, pl_dns_msg_t *m, size_t *end)
{
	size_t pos = off, limit = off, wlen = 0, tlen = 0;
	int hops = 0;
	bool jumped = false;

	m->qname_plain = true;
	for (;;) {
		if (pos >= len)
			return -1;
		uint8_t c = msg[pos];
		if ((c & 0xc0) == 0xc0) {
			if (pos + 1 >= len)
				return -1;
			size_t target = ((size_t)(c & 0x3f) << 8) | msg[pos + 1];
			if (!jumped) {
				*end = pos + 2;
				jumped = true;
			}
			if (target >= limit || target < PL_DNS_HDR_LEN ||
			    ++hops > PL_DNS_MAX_POINTERS)
				return -1;
			limit = pos = target;
			continue;
		}
		if (c & 0xc0) /* 0x40 and 0x80: obsolete extended and reserved label types */
			return -1;
		/* Room for this label and the root label that must follow. */
		if (wlen + 1 + c + (c ? 1 : 0) > PL_DNS_MAX_WIRE_NAME)
			return -1;
		if (c == 0) {
			m->qname_wire[wlen++] = 0;
			if (!jumped)
				*end = pos + 1;
			break;
		}
		if (c > len - pos - 1) /* pos < len, so no underflow */
			return -1;
		m->qname_wire[wlen++] = c;
		memcpy(m->qname_wire + wlen, msg + pos + 1, c);
		wlen += c;
		/* wire <= 254 octets before the root bounds the text to 253 characters. */
		if (tlen > 0)
			m->qname[tlen++] = '.';
		for (size_t i = 0; i < c; i++) {
			uint8_t b = msg[pos + 1 + i];
			if (b < 0x21 || b > 0x7e || b == '.' || b == '\\')
				m->qname_plain = false;
			m->qname[tlen++] = (char)((b >= 'A' && b <= 'Z') ? b + ('a' - 'A') : b);
		}
		pos += 1 + (size_t)c;
	}
	m->qname[tlen] = '\0';
	m->qname_wire_len = wlen;
	return 0;
}

int pl_dns_parse(const uint8_t *msg, size_t len, pl_dns_msg_t *m)
{
	memset(m, 0, sizeof(*m));
	if (!msg || len < PL_DNS_HDR_LEN)
		return PL_DNS_ESHORT;
	m->id = get16(msg);
	m->flags = get16(msg + 2);
	m->qdcount = get16(msg + 4);
	m->ancount = get16(msg + 6);
	m->nscount = get16(msg + 8);
	m->arcount = get16(msg + 10);
	if (m->qdcount == 0)
		return PL_DNS_EFORMAT;
	size_t end = 0;
	if (read_name(msg, len, PL_DNS_HDR_LEN, m, &end) < 0 || end > len || len - end < 4) {
		m->qname[0] = '\0';
		m->qname_wire_len = 0;
		return PL_DNS_EFORMAT;
	}
	m->qtype = get16(msg + end);
	m->qclass = get16(msg + end + 2);
	m->question_end = end + 4;
	m->has_question = true;
	return 0;
}

int pl_dns_parse_query(const uint8_t *msg, size_t len, pl_dns_msg_t *m)
{
	int r = pl_dns_parse(msg, len, m);
	if (r == PL_DNS_ESHORT || (m->flags & PL_DNS_F_QR))
		return -1; /* answering a response could start a loop between two servers */
	if (PL_DNS_OPCODE(m->flags) != 0)
		return PL_DNS_RC_NOTIMP;
	if (r < 0 || m->qdcount != 1)
		return PL_DNS_RC_FORMERR;
	return 0;
}

int pl_dns_parse_a_answers(const uint8_t *msg, size_t len, const pl_dns_msg_t *m,
			   struct in_addr *out, int max, uint32_t *ttl)
{
	if (!msg || !m || !m->has_question || m->qdcount != 1 || m->question_end > len)
		return -1;
	size_t pos = m->question_end;
	int n = 0;
	for (unsigned i = 0; i < m->ancount; i++) {
		pl_dns_msg_t scratch;
		size_t end = 0;
		if (read_name(msg, len, pos, &scratch, &end) < 0 || end > len ||
		    len - end < RR_HEAD_LEN - 2)
			return -1;
		uint16_t type = get16(msg + end), class = get16(msg + end + 2);
		uint32_t t = (uint32_t)get16(msg + end + 4) << 16 | get16(msg + end + 6);
		size_t rdlen = get16(msg + end + 8);
		pos = end + RR_HEAD_LEN - 2;
		if (rdlen > len - pos)
			return -1;
		if (type == PL_DNS_TYPE_A && class == PL_DNS_CLASS_IN) {
			if (rdlen != 4)
				return -1;
			if (n < max && out)
				memcpy(&out[n].s_addr, msg + pos, 4);
			if (ttl)
				*ttl = t;
			n++;
		}
		pos += rdlen;
	}
	return n;
}

/* Header and echoed question; returns the offset after them or -1. */
static ssize_t put_head(const pl_dns_msg_t *q, int rcode, bool aa, uint8_t *out, size_t cap)
{
	size_t qlen = q->has_question ? q->qname_wire_len + 4 : 0;
	if (!out || cap < PL_DNS_HDR_LEN + qlen)
		return -1;
	uint16_t flags = PL_DNS_F_QR | (q->flags & (PL_DNS_F_OPCODE | PL_DNS_F_RD)) | PL_DNS_F_RA |
			 (aa ? PL_DNS_F_AA : 0) | (uint16_t)(rcode & PL_DNS_F_RCODE);
	pl_dns_put16(out, q->id);
	pl_dns_put16(out + 2, flags);
	pl_dns_put16(out + 4, q->has_question ? 1 : 0);
	memset(out + 6, 0, 6);
	if (q->has_question) {
		memcpy(out + PL_DNS_HDR_LEN, q->qname_wire, q->qname_wire_len);
		pl_dns_put16(out + PL_DNS_HDR_LEN + q->qname_wire_len, q->qtype);
		pl_dns_put16(out + PL_DNS_HDR_LEN + q->qname_wire_len + 2, q->qclass);
	}
	return (ssize_t)(PL_DNS_HDR_LEN + qlen);
}

ssize_t pl_dns_build_reply(const pl_dns_msg_t *q, int rcode, bool authoritative,
			   const struct in_addr *addrs, int naddrs, uint32_t ttl, uint8_t *out,
			   size_t cap)
{
	if (!q || naddrs < 0 || (naddrs > 0 && (!q->has_question || !addrs)))
		return -1;
	ssize_t n = put_head(q, rcode, authoritative, out, cap);
	if (n < 0)
		return -1;
	size_t pos = (size_t)n;
	uint16_t an = 0;
	for (int i = 0; i < naddrs; i++) {
		if (cap - pos < RR_HEAD_LEN + 4) {
			out[2] |= PL_DNS_F_TC >> 8;
			break;
		}
		put_rr_head(out + pos, PL_DNS_TYPE_A, ttl, 4);
		memcpy(out + pos + RR_HEAD_LEN, &addrs[i].s_addr, 4); /* already network order */
		pos += RR_HEAD_LEN + 4;
		an++;
	}
	pl_dns_put16(out + 6, an);
	return (ssize_t)pos;
}

ssize_t pl_dns_build_ptr_reply(const pl_dns_msg_t *q, const char *name, uint32_t ttl, uint8_t *out,
			       size_t cap)
{
	uint8_t wire[PL_DNS_MAX_WIRE_NAME];
	ssize_t wlen = name ? pl_dns_encode_name(name, wire, sizeof(wire)) : -1;
	if (!q || !q->has_question || wlen < 0)
		return -1;
	ssize_t n = put_head(q, PL_DNS_RC_NOERROR, true, out, cap);
	if (n < 0)
		return -1;
	size_t pos = (size_t)n;
	if (cap - pos < RR_HEAD_LEN + (size_t)wlen) {
		out[2] |= PL_DNS_F_TC >> 8;
		return (ssize_t)pos;
	}
	put_rr_head(out + pos, PL_DNS_TYPE_PTR, ttl, (uint16_t)wlen);
	memcpy(out + pos + RR_HEAD_LEN, wire, (size_t)wlen);
	pl_dns_put16(out + 6, 1);
	return (ssize_t)(pos + RR_HEAD_LEN + (size_t)wlen);
}

ssize_t pl_dns_encode_name(const char *name, uint8_t *out, size_t cap)
{
	if (!name || !out)
		return -1;
	size_t len = strlen(name), pos = 0, i = 0;
	if (len > 0 && name[len - 1] == '.')
		len--;
	while (i < len) {
		size_t j = i;
		while (j < len && name[j] != '.')
			j++;
		size_t l = j - i;
		if (l == 0 || l > PL_DNS_MAX_LABEL || pos + 1 + l + 1 > PL_DNS_MAX_WIRE_NAME ||
		    pos + 1 + l + 1 > cap)
			return -1;
		out[pos++] = (uint8_t)l;
		memcpy(out + pos, name + i, l);
		pos += l;
		i = j + 1;
		if (j < len && i == len) /* "a..": an empty last label */
			return -1;
	}
	if (pos + 1 > cap)
		return -1;
	out[pos++] = 0;
	return (ssize_t)pos;
}

ssize_t pl_dns_build_query(uint16_t id, const char *name, uint16_t qtype, uint8_t *out, size_t cap)
{
	if (!out || cap < PL_DNS_HDR_LEN)
		return -1;
	ssize_t w = pl_dns_encode_name(name, out + PL_DNS_HDR_LEN, cap - PL_DNS_HDR_LEN);
	if (w < 0 || cap - PL_DNS_HDR_LEN - (size_t)w < 4)
		return -1;
	pl_dns_put16(out, id);
	pl_dns_put16(out + 2, PL_DNS_F_RD);
	pl_dns_put16(out + 4, 1);
	memset(out + 6, 0, 6);
	size_t pos = PL_DNS_HDR_LEN + (size_t)w;
	pl_dns_put16(out + pos, qtype);
	pl_dns_put16(out + pos + 2, PL_DNS_CLASS_IN);
	return (ssize_t)(pos + 4);
}

/* One decimal octet without sign or leading zeros, ending at '.' (or end when last). */
static int octet(const char **s, bool last, uint32_t *v)
{
	const char *p = *s;
	if (!isdigit((unsigned char)*p))
		return -1;
	uint32_t n = 0;
	int digits = 0;
	while (isdigit((unsigned char)*p)) {
		n = n * 10 + (uint32_t)(*p++ - '0');
		if (++digits > 3)
			return -1;
	}
	if (n > 255 || (digits > 1 && **s == '0') || (last ? *p != '\0' : *p != '.'))
		return -1;
	*v = n;
	*s = last ? p : p + 1;
	return 0;
}

int pl_dns_parse_reverse(const char *name, struct in_addr *addr)
{
	static const char suffix[] = ".in-addr.arpa";
	if (!name || !addr)
		return -1;
	size_t len = strlen(name), sl = sizeof(suffix) - 1;
	if (len <= sl || len - sl > 15 || strcmp(name + len - sl, suffix) != 0)
		return -1;
	char head[16];
	memcpy(head, name, len - sl);
	head[len - sl] = '\0';
	const char *p = head;
	uint32_t o[4];
	for (int i = 0; i < 4; i++)
		if (octet(&p, i == 3, &o[i]) < 0)
			return -1;
	/* The name lists the octets least significant first. */
	addr->s_addr = htonl(o[3] << 24 | o[2] << 16 | o[1] << 8 | o[0]);
	return 0;
}

int pl_dns_parse_resolv_conf(const char *text, struct in_addr *out, int max)
{
	int n = 0;
	const char *p = text;
	while (p && *p && n < max) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);
		while (ll > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			ll--;
		}
		static const char kw[] = "nameserver";
		size_t kl = sizeof(kw) - 1;
		if (ll > kl && memcmp(p, kw, kl) == 0 && (p[kl] == ' ' || p[kl] == '\t')) {
			size_t i = kl;
			while (i < ll && (p[i] == ' ' || p[i] == '\t'))
				i++;
			size_t j = i;
			while (j < ll && p[j] != ' ' && p[j] != '\t' && p[j] != '#' &&
			       p[j] != ';' && p[j] != '\r')
				j++;
			char addr[INET_ADDRSTRLEN];
			if (j - i > 0 && j - i < sizeof(addr)) {
				memcpy(addr, p + i, j - i);
				addr[j - i] = '\0';
				if (inet_pton(AF_INET, addr, &out[n]) == 1)
					n++;
			}
		}
		p = eol ? eol + 1 : NULL;
	}
	return n;
}

/* Answers from the scope's own names; false when the name is not ours. */
static bool answer_local(const pl_dns_msg_t *q, pl_dns_lookup_fn lookup, void *ctx,
			 pl_dns_reverse_fn reverse, void *rctx, uint8_t *out, size_t cap,
			 ssize_t *n)
{
	if (!q->qname_plain || q->qname[0] == '\0' || q->qclass != PL_DNS_CLASS_IN)
		return false;
	if (q->qtype == PL_DNS_TYPE_PTR && reverse) {
		struct in_addr a;
		char name[PL_DNS_MAX_NAME + 2] = "";
		if (pl_dns_parse_reverse(q->qname, &a) == 0 &&
		    reverse(rctx, a, name, sizeof(name)) == 1) {
			name[sizeof(name) - 1] = '\0';
			*n = pl_dns_build_ptr_reply(q, name, PL_DNS_TTL, out, cap);
			if (*n < 0) /* the callback gave an unencodable name: not an answer */
				*n = pl_dns_build_reply(q, PL_DNS_RC_SERVFAIL, false, NULL, 0, 0,
							out, cap);
			return true;
		}
	}
	struct in_addr addrs[PL_DNS_MAX_ADDRS] = {{0}};
	int na = lookup(ctx, q->qname, addrs, (int)PL_ARRAY_SIZE(addrs));
	if (na <= 0)
		return false;
	if (na > (int)PL_ARRAY_SIZE(addrs))
		na = (int)PL_ARRAY_SIZE(addrs);
	/* The name is ours: other types get an empty NOERROR (not NXDOMAIN, which would
	 * tell the client the A record does not exist either). */
	bool a = q->qtype == PL_DNS_TYPE_A || q->qtype == PL_DNS_TYPE_ANY;
	*n =
	    pl_dns_build_reply(q, PL_DNS_RC_NOERROR, true, addrs, a ? na : 0, PL_DNS_TTL, out, cap);
	return true;
}

ssize_t pl_dns_respond(const uint8_t *msg, size_t len, pl_dns_lookup_fn lookup, void *ctx,
		       pl_dns_reverse_fn reverse, void *rctx, pl_dns_msg_t *q, uint8_t *out,
		       size_t cap)
{
	int r = pl_dns_parse_query(msg, len, q);
	if (r < 0)
		return -1;
	if (r > 0)
		return pl_dns_build_reply(q, r, false, NULL, 0, 0, out, cap);
	ssize_t n = -1;
	if (lookup && answer_local(q, lookup, ctx, reverse, rctx, out, cap, &n))
		return n;
	return 0;
}
