/* The per-scope DNS responder (see dns.h): the pure message functions first, then the server
 * on the loop. Every read of a message goes through a length check against the buffer it
 * came in; nothing here trusts a count or an offset found inside a message. */
#include "portlayer/network/dns.h"
#include "common/cleanup.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

/* ---- pure message functions ---- */

/* An answer record's fixed part with a compressed name: pointer, type, class, ttl, rdlength. */
#define RR_HEAD_LEN 12

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* Its name a pointer to the question's (offset 12). */
static void put_rr_head(uint8_t *p, uint16_t type, uint32_t ttl, uint16_t rdlen)
{
	put16(p, 0xc000 | PL_DNS_HDR_LEN);
	put16(p + 2, type);
	put16(p + 4, PL_DNS_CLASS_IN);
	put32(p + 6, ttl);
	put16(p + 10, rdlen);
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
	put16(out, q->id);
	put16(out + 2, flags);
	put16(out + 4, q->has_question ? 1 : 0);
	memset(out + 6, 0, 6);
	if (q->has_question) {
		memcpy(out + PL_DNS_HDR_LEN, q->qname_wire, q->qname_wire_len);
		put16(out + PL_DNS_HDR_LEN + q->qname_wire_len, q->qtype);
		put16(out + PL_DNS_HDR_LEN + q->qname_wire_len + 2, q->qclass);
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
	put16(out + 6, an);
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
	put16(out + 6, 1);
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
	put16(out, id);
	put16(out + 2, PL_DNS_F_RD);
	put16(out + 4, 1);
	memset(out + 6, 0, 6);
	size_t pos = PL_DNS_HDR_LEN + (size_t)w;
	put16(out + pos, qtype);
	put16(out + pos + 2, PL_DNS_CLASS_IN);
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

/* ---- the server ---- */

/* A forwarded query waiting for an upstream answer. Pending entries sit in one list ordered
 * by deadline, so a single loop timer (armed for the head) serves them all. */
typedef struct pending {
	struct pending *prev, *next;
	uint16_t orig_id, up_id;
	int upstream; /* index of the upstream asked last */
	uint64_t deadline_ms;
	struct sockaddr_in client;
	pl_dns_msg_t q; /* for matching the answer and for a SERVFAIL */
	size_t len;
	uint8_t query[]; /* as the client sent it, id rewritten */
} pending_t;

struct pl_dns {
	pl_loop_t *loop;
	struct in_addr listen;
	uint16_t port;
	pl_dns_lookup_fn lookup;
	void *ctx;
	pl_dns_reverse_fn reverse;
	void *rctx;

	int udp_fd;
	pl_watch_t *udp_watch;

	struct in_addr upstreams[PL_DNS_MAX_UPSTREAMS];
	int nupstreams;
	uint16_t upstream_port;
	unsigned timeout_ms;
	int up_fd; /* one socket for all forwards: a socket per query would cost up to
		      PL_DNS_MAX_PENDING fds per scope */
	pl_watch_t *up_watch;

	pending_t *head, *tail;
	int npending;
	uint8_t ids_in_use[65536 / 8];
	pl_timer_t *timer;
	uint64_t timer_deadline_ms;

	uint16_t rnd[64]; /* random ids drawn in batches */
	size_t nrnd;

	uint8_t buf[PL_DNS_MSG_MAX + 1];
};

/* inet_ntoa's static buffer cannot serve two addresses in one message. */
typedef struct {
	char s[INET_ADDRSTRLEN];
} ipstr_t;

static ipstr_t ipstr(struct in_addr a)
{
	ipstr_t b;
	if (!inet_ntop(AF_INET, &a, b.s, sizeof(b.s)))
		snprintf(b.s, sizeof(b.s), "?");
	return b;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint16_t random_id(pl_dns_t *d)
{
	if (d->nrnd == 0) {
		ssize_t n = getrandom(d->rnd, sizeof(d->rnd), GRND_NONBLOCK);
		if (n != (ssize_t)sizeof(d->rnd)) {
			/* Only before the pool is seeded at early boot: weaker ids, not no DNS. */
			uint64_t x = now_ms() ^ (uint64_t)(uintptr_t)d;
			for (size_t i = 0; i < PL_ARRAY_SIZE(d->rnd); i++) {
				x = x * 6364136223846793005ull + 1442695040888963407ull;
				d->rnd[i] = (uint16_t)(x >> 48);
			}
		}
		d->nrnd = PL_ARRAY_SIZE(d->rnd);
	}
	return d->rnd[--d->nrnd];
}

static bool id_used(const pl_dns_t *d, uint16_t id)
{
	return d->ids_in_use[id >> 3] & (1u << (id & 7));
}

static void id_mark(pl_dns_t *d, uint16_t id, bool used)
{
	if (used)
		d->ids_in_use[id >> 3] |= (uint8_t)(1u << (id & 7));
	else
		d->ids_in_use[id >> 3] &= (uint8_t) ~(1u << (id & 7));
}

static void send_to_client(pl_dns_t *d, const struct sockaddr_in *to, const uint8_t *msg,
			   size_t len)
{
	/* UDP: when the socket buffer is full the answer is dropped and the client retries. */
	if (sendto(d->udp_fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)to,
		   sizeof(*to)) < 0)
		pl_log_debug("dns %s:%u: reply to %s:%u: %s", ipstr(d->listen).s, d->port,
			     ipstr(to->sin_addr).s, ntohs(to->sin_port), strerror(errno));
}

static void reply_rcode(pl_dns_t *d, const struct sockaddr_in *to, const pl_dns_msg_t *q, int rcode)
{
	uint8_t out[PL_DNS_UDP_MAX];
	ssize_t n = pl_dns_build_reply(q, rcode, false, NULL, 0, 0, out, sizeof(out));
	if (n > 0)
		send_to_client(d, to, out, (size_t)n);
}

static void list_unlink(pl_dns_t *d, pending_t *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		d->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		d->tail = p->prev;
	p->prev = p->next = NULL;
}

/* Keeps the list ordered by deadline; a new deadline is almost always the latest. */
static void list_insert(pl_dns_t *d, pending_t *p)
{
	pending_t *after = d->tail;
	while (after && after->deadline_ms > p->deadline_ms)
		after = after->prev;
	p->prev = after;
	p->next = after ? after->next : d->head;
	if (p->next)
		p->next->prev = p;
	else
		d->tail = p;
	if (after)
		after->next = p;
	else
		d->head = p;
}

static void pending_free(pl_dns_t *d, pending_t *p)
{
	list_unlink(d, p);
	id_mark(d, p->up_id, false);
	d->npending--;
	free(p);
}

static void on_timer(pl_loop_t *loop, void *data);

/* A timer that fires late or early is harmless: on_timer handles what expired and re-arms. */
static void arm_timer(pl_dns_t *d)
{
	if (!d->head)
		return;
	if (d->timer && d->timer_deadline_ms <= d->head->deadline_ms)
		return;
	d->timer = pl_loop_timer_cancel(d->loop, d->timer);
	uint64_t now = now_ms();
	uint64_t ms = d->head->deadline_ms > now ? d->head->deadline_ms - now : 0;
	_cleanup_error_ pl_error_t *err = NULL;
	d->timer = pl_loop_timer(d->loop, ms, on_timer, d, &err);
	if (!d->timer) {
		/* Out of fds: pending forwards are then only retired by answers or at stop. */
		pl_log_warn("dns %s:%u: %s", ipstr(d->listen).s, d->port, err->msg);
		return;
	}
	d->timer_deadline_ms = d->head->deadline_ms;
}

static bool is_self(const pl_dns_t *d, struct in_addr up)
{
	return d->upstream_port == d->port &&
	       (up.s_addr == d->listen.s_addr || d->listen.s_addr == htonl(INADDR_ANY));
}

/* Sends p to the next upstream that accepts it; false when none is left. */
static bool forward_next(pl_dns_t *d, pending_t *p)
{
	while (++p->upstream < d->nupstreams) {
		struct in_addr up = d->upstreams[p->upstream];
		if (is_self(d, up))
			continue; /* our own address in resolv.conf would loop forever */
		struct sockaddr_in to = {
		    .sin_family = AF_INET, .sin_port = htons(d->upstream_port), .sin_addr = up};
		if (sendto(d->up_fd, p->query, p->len, MSG_DONTWAIT | MSG_NOSIGNAL,
			   (struct sockaddr *)&to, sizeof(to)) < 0) {
			pl_log_debug("dns %s:%u: forward to %s: %s", ipstr(d->listen).s, d->port,
				     ipstr(up).s, strerror(errno));
			continue;
		}
		p->deadline_ms = now_ms() + d->timeout_ms;
		return true;
	}
	return false;
}

/* Moves p on to its next upstream, or answers SERVFAIL and retires it. */
static void advance(pl_dns_t *d, pending_t *p)
{
	list_unlink(d, p);
	if (forward_next(d, p)) {
		list_insert(d, p);
		return;
	}
	p->q.id = p->orig_id;
	reply_rcode(d, &p->client, &p->q, PL_DNS_RC_SERVFAIL);
	list_insert(d, p); /* pending_free unlinks */
	pending_free(d, p);
}

static void on_timer(pl_loop_t *loop, void *data)
{
	pl_dns_t *d = data;
	d->timer = NULL; /* one-shot: the loop already freed it */
	uint64_t now = now_ms();
	while (d->head && d->head->deadline_ms <= now)
		advance(d, d->head);
	arm_timer(d);
}

static void forward(pl_dns_t *d, const struct sockaddr_in *client, const pl_dns_msg_t *q,
		    const uint8_t *msg, size_t len)
{
	if (d->nupstreams == 0 || d->npending >= PL_DNS_MAX_PENDING) {
		if (d->npending >= PL_DNS_MAX_PENDING)
			pl_log_debug("dns %s:%u: %d forwards pending, refusing more",
				     ipstr(d->listen).s, d->port, d->npending);
		reply_rcode(d, client, q, PL_DNS_RC_SERVFAIL);
		return;
	}
	pending_t *p = pl_xcalloc(1, sizeof(*p) + len);
	p->orig_id = q->id;
	do
		p->up_id = random_id(d);
	while (id_used(d, p->up_id));
	p->upstream = -1;
	p->client = *client;
	p->q = *q;
	p->len = len;
	memcpy(p->query, msg, len);
	put16(p->query, p->up_id);
	id_mark(d, p->up_id, true);
	d->npending++;
	if (!forward_next(d, p)) {
		reply_rcode(d, client, q, PL_DNS_RC_SERVFAIL);
		id_mark(d, p->up_id, false);
		d->npending--;
		free(p);
		return;
	}
	list_insert(d, p);
	arm_timer(d);
}

/* A query a client sent: answered here (length returned) or forwarded (0). */
static ssize_t handle_query(pl_dns_t *d, const struct sockaddr_in *client, const uint8_t *msg,
			    size_t len, uint8_t *out, size_t cap)
{
	pl_dns_msg_t q;
	ssize_t n = pl_dns_respond(msg, len, d->lookup, d->ctx, d->reverse, d->rctx, &q, out, cap);
	if (n == 0)
		forward(d, client, &q, msg, len);
	return n;
}

static void on_udp(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	pl_dns_t *d = data;
	/* Bounded so one busy scope cannot starve the rest of the loop. */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, d->buf, sizeof(d->buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);
		if (n < 0)
			return; /* EAGAIN, or an ICMP error queued for an earlier reply */
		if (fl != sizeof(from) || from.sin_family != AF_INET)
			continue;
		uint8_t out[PL_DNS_UDP_MAX];
		ssize_t m = handle_query(d, &from, d->buf, (size_t)n, out, sizeof(out));
		if (m > 0)
			send_to_client(d, &from, out, (size_t)m);
	}
}

static pending_t *find_pending(pl_dns_t *d, const struct sockaddr_in *from, const pl_dns_msg_t *r)
{
	if (!id_used(d, r->id))
		return NULL;
	for (pending_t *p = d->head; p; p = p->next) {
		if (p->up_id != r->id)
			continue;
		/* The answer must come from an upstream already asked (a slow one may still
		 * answer after we moved on) and repeat the question: with the id, what a spoofer
		 * would have to guess. Case is compared loosely as some resolvers normalise it. */
		bool asked = false;
		for (int i = 0; i <= p->upstream && i < d->nupstreams; i++)
			asked |= from->sin_addr.s_addr == d->upstreams[i].s_addr;
		if (!asked || ntohs(from->sin_port) != d->upstream_port)
			return NULL;
		if (r->qtype != p->q.qtype || r->qclass != p->q.qclass ||
		    r->qname_wire_len != p->q.qname_wire_len || strcmp(r->qname, p->q.qname) != 0)
			return NULL;
		return p;
	}
	return NULL;
}

static void on_upstream(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	pl_dns_t *d = data;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, d->buf, sizeof(d->buf), MSG_DONTWAIT,
				     (struct sockaddr *)&from, &fl);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			continue; /* ICMP errors (ECONNREFUSED...): the timeout moves on */
		}
		if (fl != sizeof(from) || from.sin_family != AF_INET)
			continue;
		pl_dns_msg_t r;
		if (pl_dns_parse(d->buf, (size_t)n, &r) != 0 || !(r.flags & PL_DNS_F_QR))
			continue;
		pending_t *p = find_pending(d, &from, &r);
		if (!p)
			continue;
		/* Passed on as is, TC included: the client retries over TCP. */
		put16(d->buf, p->orig_id);
		send_to_client(d, &p->client, d->buf, (size_t)n);
		pending_free(d, p);
	}
}

static int read_upstreams(pl_dns_t *d, const char *path, pl_error_t **err)
{
	if (!path)
		return 0;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return pl_error_errno(err, "open %s", path);
	}
	/* resolv.conf is small; the first 64 KiB hold any sane one. */
	_cleanup_free_ char *text = pl_xmalloc(65536);
	size_t len = 0;
	while (len < 65535) {
		ssize_t n = read(fd, text + len, 65535 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return pl_error_errno(err, "read %s", path);
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	text[len] = '\0';
	d->nupstreams = pl_dns_parse_resolv_conf(text, d->upstreams, PL_DNS_MAX_UPSTREAMS);
	return 0;
}

static int open_udp(struct in_addr addr, uint16_t port, pl_error_t **err)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return pl_error_errno(err, "socket");
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = addr};
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return pl_error_errno(err, "bind udp %s:%u", ipstr(addr).s, port);
	return TAKE_FD(fd);
}

pl_dns_t *pl_dns_start(pl_loop_t *loop, struct in_addr listen, uint16_t port,
		       const char *resolv_conf, pl_dns_lookup_fn lookup, void *ctx,
		       pl_error_t **err)
{
	if (!loop || !lookup) {
		pl_error_set(err, PL_ERR_INVALID, 0, "dns responder: loop and lookup are required");
		return NULL;
	}
	pl_dns_t *d = pl_xcalloc(1, sizeof(*d));
	d->loop = loop;
	d->listen = listen;
	d->port = port;
	d->lookup = lookup;
	d->ctx = ctx;
	d->upstream_port = 53;
	d->timeout_ms = PL_DNS_FORWARD_TIMEOUT_MS;
	d->udp_fd = d->up_fd = -1;

	if (read_upstreams(d, resolv_conf, err) < 0)
		goto fail;
	d->udp_fd = open_udp(listen, port, err);
	if (d->udp_fd < 0)
		goto fail;
	struct sockaddr_in bound;
	socklen_t bl = sizeof(bound);
	if (getsockname(d->udp_fd, (struct sockaddr *)&bound, &bl) < 0) {
		pl_error_errno(err, "getsockname");
		goto fail;
	}
	d->port = ntohs(bound.sin_port);
	d->udp_watch = pl_loop_watch(loop, d->udp_fd, EPOLLIN, on_udp, d, err);
	if (!d->udp_watch)
		goto fail;
	if (d->nupstreams > 0) {
		d->up_fd = open_udp((struct in_addr){htonl(INADDR_ANY)}, 0, err);
		if (d->up_fd < 0)
			goto fail;
		d->up_watch = pl_loop_watch(loop, d->up_fd, EPOLLIN, on_upstream, d, err);
		if (!d->up_watch)
			goto fail;
	}
	return d;
fail:
	pl_error_wrap(err, "dns responder on %s:%u", ipstr(listen).s, port);
	return pl_dns_stop(d);
}

pl_dns_t *pl_dns_stop(pl_dns_t *d)
{
	if (!d)
		return NULL;
	while (d->head)
		pending_free(d, d->head);
	d->timer = pl_loop_timer_cancel(d->loop, d->timer);
	d->udp_watch = pl_loop_unwatch(d->loop, d->udp_watch);
	d->up_watch = pl_loop_unwatch(d->loop, d->up_watch);
	pl_close(d->udp_fd);
	pl_close(d->up_fd);
	free(d);
	return NULL;
}

uint16_t pl_dns_port(const pl_dns_t *d)
{
	return d->port;
}

void pl_dns_set_reverse(pl_dns_t *d, pl_dns_reverse_fn reverse, void *ctx)
{
	d->reverse = reverse;
	d->rctx = ctx;
}

void pl_dns_set_upstream_port(pl_dns_t *d, uint16_t port)
{
	d->upstream_port = port;
}

void pl_dns_set_forward_timeout(pl_dns_t *d, unsigned ms)
{
	d->timeout_ms = ms;
}
