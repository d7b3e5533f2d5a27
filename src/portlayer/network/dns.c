/* SPDX-License-Identifier: Apache-2.0 */
/* The per-scope DNS responder's server (see dns.h): UDP and TCP listeners on the loop, the
 * table of forwards waiting for an upstream, and the TCP connections of clients. Each query
 * goes through pl_dns_respond (dns_msg.c); what it does not answer is forwarded over the
 * transport the client used. Single-threaded, non-blocking throughout. */
#include "portlayer/network/dns.h"
#include "common/cleanup.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#define TCP_MAX_CONNS	      64   /* client connections per scope; more are closed at once */
#define TCP_MAX_FORWARDS      64   /* forwards over TCP in flight per scope (one fd each) */
#define TCP_MAX_CONN_INFLIGHT 16   /* forwards one client connection may have in flight */
#define TCP_IDLE_MS	      8000 /* an idle client connection is closed (miekg/dns's figure) */
#define TCP_MAX_OUT	      (256 * 1024) /* unread answers a client may let pile up */
#define TCP_FRAME_MAX	      (2 + PL_DNS_MSG_MAX)
#define BATCH		      64 /* datagrams or connections taken per wake-up */

typedef struct conn conn_t;

/* A forwarded query waiting for an upstream answer. Pending entries sit in one list ordered
 * by deadline, so a single loop timer (armed for the head) serves them all. */
typedef struct pending {
	struct pending *prev, *next;
	bool linked;
	pl_dns_t *d;
	uint16_t orig_id, up_id;
	int upstream; /* index of the upstream asked last */
	uint64_t deadline_ms;
	struct sockaddr_in client; /* a UDP client */
	conn_t *conn;		   /* a TCP client: forwarded over TCP, answered on conn */
	/* The TCP forward to the current upstream. */
	int tfd;
	pl_watch_t *tw;
	size_t toff;   /* bytes of the framed query written */
	uint8_t tl[2]; /* the answer's length prefix */
	size_t thave;  /* bytes of the framed answer read */
	uint8_t *tin;
	pl_dns_msg_t q; /* for matching the answer and for a SERVFAIL */
	size_t len;
	uint8_t query[]; /* 2-byte length, then the query as the client sent it, id rewritten */
} pending_t;

struct conn {
	struct conn *prev, *next; /* ordered by idle deadline */
	pl_dns_t *d;
	int fd;
	struct in_addr peer;
	pl_watch_t *w;
	uint32_t events;
	uint8_t *in;
	size_t in_len;
	uint8_t *out;
	size_t out_len, out_off;
	uint64_t deadline_ms;
	int inflight;
	bool eof, broken; /* broken: closed at the end of the current callback */
};

struct pl_dns {
	pl_loop_t *loop;
	struct in_addr listen;
	uint16_t port;
	pl_dns_lookup_fn lookup;
	void *ctx;
	pl_dns_reverse_fn reverse;
	void *rctx;
	struct in_addr asker; /* the source of the query being answered (pl_dns_asker) */

	int udp_fd, tcp_fd;
	pl_watch_t *udp_watch, *tcp_watch;

	struct in_addr upstreams[PL_DNS_MAX_UPSTREAMS];
	int nupstreams;
	uint16_t upstream_port;
	unsigned timeout_ms;
	/* One socket for every UDP forward: a socket per query would cost up to
	 * PL_DNS_MAX_PENDING fds per scope. */
	int up_fd;
	pl_watch_t *up_watch;

	pending_t *head, *tail;
	int npending, ntcp_forwards;
	uint8_t ids_in_use[65536 / 8];

	conn_t *chead, *ctail;
	int nconns;
	uint64_t accept_paused_until; /* out of fds: accepting resumes then (0: not paused) */

	struct in_addr client_net, client_mask; /* mask 0: every source is a client */

	pl_timer_t *timer;
	uint64_t timer_deadline_ms;

	uint16_t rnd[64]; /* random ids drawn in batches */
	size_t nrnd;

	uint8_t buf[PL_DNS_MSG_MAX + 1];
	uint8_t reply[PL_DNS_MSG_MAX];
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

/* ---- the timer: one for the earliest pending deadline and idle connection ---- */

static void on_timer(pl_loop_t *loop, void *data);

static uint64_t earliest(const pl_dns_t *d)
{
	uint64_t t = UINT64_MAX;
	if (d->head)
		t = d->head->deadline_ms;
	if (d->chead && d->chead->deadline_ms < t)
		t = d->chead->deadline_ms;
	if (d->accept_paused_until && d->accept_paused_until < t)
		t = d->accept_paused_until;
	return t;
}

/* A timer that fires early is harmless: on_timer handles what expired and re-arms. */
static void arm_timer(pl_dns_t *d)
{
	uint64_t when = earliest(d);
	if (when == UINT64_MAX || (d->timer && d->timer_deadline_ms <= when))
		return;
	d->timer = pl_loop_timer_cancel(d->loop, d->timer);
	uint64_t now = now_ms();
	_cleanup_error_ pl_error_t *err = NULL;
	d->timer = pl_loop_timer(d->loop, when > now ? when - now : 0, on_timer, d, &err);
	if (!d->timer) {
		/* Out of fds: forwards then only end with an answer or at stop. */
		pl_log_warn("dns %s:%u: %s", ipstr(d->listen).s, d->port, err->msg);
		return;
	}
	d->timer_deadline_ms = when;
}

/* ---- TCP client connections ---- */

/* Also called on a connection not in the list yet (neighbours NULL, not the head). */
static void conn_unlink(pl_dns_t *d, conn_t *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else if (d->chead == c)
		d->chead = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else if (d->ctail == c)
		d->ctail = c->prev;
	c->prev = c->next = NULL;
}

/* Activity: the idle deadline moves on and the connection goes to the list's tail. */
static void conn_touch(pl_dns_t *d, conn_t *c)
{
	conn_unlink(d, c);
	c->deadline_ms = now_ms() + TCP_IDLE_MS;
	c->prev = d->ctail;
	if (d->ctail)
		d->ctail->next = c;
	else
		d->chead = c;
	d->ctail = c;
	arm_timer(d);
}

static void conn_update_events(pl_dns_t *d, conn_t *c)
{
	uint32_t ev = (c->eof ? 0 : EPOLLIN) | (c->out_off < c->out_len ? EPOLLOUT : 0);
	if (ev != c->events && pl_loop_watch_modify(d->loop, c->w, ev) == 0)
		c->events = ev;
}

/* Done when the client has closed its side and has nothing more coming. */
static void conn_check_done(conn_t *c)
{
	if (c->eof && c->inflight == 0 && c->out_off == c->out_len)
		c->broken = true;
}

static void conn_flush(pl_dns_t *d, conn_t *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				c->broken = true;
			break;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	conn_update_events(d, c);
	conn_check_done(c);
}

/* Queues one framed message; never closes c here (callers may be iterating it). */
static void conn_send(pl_dns_t *d, conn_t *c, const uint8_t *msg, size_t len)
{
	if (c->broken)
		return;
	if (c->out_off > 0) { /* compact before growing */
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + 2 + len > TCP_MAX_OUT) {
		pl_log_debug("dns %s:%u: tcp client does not read its answers, closing",
			     ipstr(d->listen).s, d->port);
		c->broken = true;
		return;
	}
	c->out = pl_xrealloc(c->out, c->out_len + 2 + len);
	pl_dns_put16(c->out + c->out_len, (uint16_t)len);
	memcpy(c->out + c->out_len + 2, msg, len);
	c->out_len += 2 + len;
	conn_flush(d, c);
	conn_touch(d, c);
}

static void pending_free(pl_dns_t *d, pending_t *p);

static void conn_close(pl_dns_t *d, conn_t *c)
{
	/* Forwards for it have nobody left to answer. */
	for (pending_t *p = d->head, *next; p; p = next) {
		next = p->next;
		if (p->conn == c)
			pending_free(d, p);
	}
	conn_unlink(d, c);
	pl_loop_unwatch(d->loop, c->w);
	pl_close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
	d->nconns--;
}

/* Connections found broken during a callback are closed at its end, when nothing holds them. */
static void reap_conns(pl_dns_t *d)
{
	for (conn_t *c = d->chead, *next; c; c = next) {
		next = c->next;
		if (c->broken)
			conn_close(d, c);
	}
}

/* ---- answering ---- */

static void send_udp(pl_dns_t *d, const struct sockaddr_in *to, const uint8_t *msg, size_t len)
{
	/* UDP: when the socket buffer is full the answer is dropped and the client retries. */
	if (sendto(d->udp_fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL, (const struct sockaddr *)to,
		   sizeof(*to)) < 0)
		pl_log_debug("dns %s:%u: reply to %s:%u: %s", ipstr(d->listen).s, d->port,
			     ipstr(to->sin_addr).s, ntohs(to->sin_port), strerror(errno));
}

static void deliver(pl_dns_t *d, conn_t *c, const struct sockaddr_in *to, const uint8_t *msg,
		    size_t len)
{
	if (c) {
		conn_send(d, c, msg, len);
		conn_check_done(c);
	} else {
		send_udp(d, to, msg, len);
	}
}

static void reply_rcode(pl_dns_t *d, conn_t *c, const struct sockaddr_in *to, const pl_dns_msg_t *q,
			int rcode)
{
	uint8_t out[PL_DNS_UDP_MAX];
	ssize_t n = pl_dns_build_reply(q, rcode, false, NULL, 0, 0, out, sizeof(out));
	if (n > 0)
		deliver(d, c, to, out, (size_t)n);
}

/* ---- forwarding ---- */

static void list_unlink(pl_dns_t *d, pending_t *p)
{
	if (!p->linked)
		return;
	if (p->prev)
		p->prev->next = p->next;
	else
		d->head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	else
		d->tail = p->prev;
	p->prev = p->next = NULL;
	p->linked = false;
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
	p->linked = true;
}

static void tcp_forward_reset(pl_dns_t *d, pending_t *p)
{
	p->tw = pl_loop_unwatch(d->loop, p->tw);
	p->tfd = pl_close(p->tfd);
	free(p->tin);
	p->tin = NULL;
	p->toff = p->thave = 0;
}

static void pending_free(pl_dns_t *d, pending_t *p)
{
	list_unlink(d, p);
	tcp_forward_reset(d, p);
	id_mark(d, p->up_id, false);
	d->npending--;
	if (p->conn) {
		d->ntcp_forwards--;
		p->conn->inflight--; /* done-ness is checked once its answer is queued */
	}
	free(p);
}

static void advance(pl_dns_t *d, pending_t *p);

static bool answer_matches(const pending_t *p, const uint8_t *msg, size_t len, pl_dns_msg_t *r)
{
	/* With the id and the upstream's address, the question is what a spoofer would have
	 * to guess. Case is compared loosely as some resolvers normalise it. */
	return pl_dns_parse(msg, len, r) == 0 && (r->flags & PL_DNS_F_QR) && r->id == p->up_id &&
	       r->qtype == p->q.qtype && r->qclass == p->q.qclass &&
	       r->qname_wire_len == p->q.qname_wire_len && strcmp(r->qname, p->q.qname) == 0;
}

/* The upstream's answer, id restored, goes to the client; the forward ends. */
static void finish(pl_dns_t *d, pending_t *p, uint8_t *msg, size_t len)
{
	pl_dns_put16(msg, p->orig_id);
	conn_t *c = p->conn;
	struct sockaddr_in to = p->client;
	pending_free(d, p);
	deliver(d, c, &to, msg, len);
}

static void on_tcp_forward(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	pending_t *p = data;
	pl_dns_t *d = p->d;
	size_t flen = p->len + 2;
	if (p->toff < flen) {
		if (p->toff == 0) {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
				advance(d, p); /* refused or unreachable: the next upstream */
				goto out;
			}
		}
		ssize_t n =
		    send(fd, p->query + p->toff, flen - p->toff, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				advance(d, p);
			goto out;
		}
		p->toff += (size_t)n;
		if (p->toff == flen)
			pl_loop_watch_modify(loop, p->tw, EPOLLIN);
		goto out;
	}
	for (;;) {
		ssize_t n;
		size_t need = p->thave < 2 ? 2 : 2 + (size_t)(p->tl[0] << 8 | p->tl[1]);
		if (p->thave < 2)
			n = recv(fd, p->tl + p->thave, 2 - p->thave, MSG_DONTWAIT);
		else
			n = recv(fd, p->tin + p->thave - 2, need - p->thave, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			break;
		if (n <= 0) { /* closed or failed before a whole answer */
			advance(d, p);
			break;
		}
		p->thave += (size_t)n;
		if (p->thave == 2) {
			size_t alen = (size_t)(p->tl[0] << 8 | p->tl[1]);
			if (alen < PL_DNS_HDR_LEN) {
				advance(d, p);
				break;
			}
			p->tin = pl_xmalloc(alen);
			continue;
		}
		if (p->thave < 2 || p->thave < need)
			continue;
		pl_dns_msg_t r;
		size_t alen = need - 2;
		if (!answer_matches(p, p->tin, alen, &r)) {
			advance(d, p);
			break;
		}
		_cleanup_free_ uint8_t *msg = TAKE_PTR(p->tin);
		finish(d, p, msg, alen);
		break;
	}
out:
	reap_conns(d);
	arm_timer(d);
}

static int tcp_forward_start(pl_dns_t *d, pending_t *p, const struct sockaddr_in *to)
{
	tcp_forward_reset(d, p);
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0 && errno != EINPROGRESS)
		return -errno;
	p->tw = pl_loop_watch(d->loop, fd, EPOLLOUT, on_tcp_forward, p, NULL);
	if (!p->tw)
		return -EMFILE;
	p->tfd = TAKE_FD(fd);
	return 0;
}

static bool is_self(const pl_dns_t *d, struct in_addr up)
{
	return d->upstream_port == d->port &&
	       (up.s_addr == d->listen.s_addr || d->listen.s_addr == htonl(INADDR_ANY));
}

/* Sends p to the next upstream that takes it; false when none is left. */
static bool forward_next(pl_dns_t *d, pending_t *p)
{
	tcp_forward_reset(d, p);
	while (++p->upstream < d->nupstreams) {
		struct in_addr up = d->upstreams[p->upstream];
		if (is_self(d, up))
			continue; /* our own address in resolv.conf would loop forever */
		struct sockaddr_in to = {
		    .sin_family = AF_INET, .sin_port = htons(d->upstream_port), .sin_addr = up};
		int r = 0;
		if (p->conn)
			r = tcp_forward_start(d, p, &to);
		else if (sendto(d->up_fd, p->query + 2, p->len, MSG_DONTWAIT | MSG_NOSIGNAL,
				(struct sockaddr *)&to, sizeof(to)) < 0)
			r = -errno;
		if (r < 0) {
			pl_log_debug("dns %s:%u: forward to %s: %s", ipstr(d->listen).s, d->port,
				     ipstr(up).s, strerror(-r));
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
	pl_dns_msg_t q = p->q;
	q.id = p->orig_id;
	conn_t *c = p->conn;
	struct sockaddr_in to = p->client;
	pending_free(d, p);
	reply_rcode(d, c, &to, &q, PL_DNS_RC_SERVFAIL);
}

static void on_timer(pl_loop_t *loop, void *data)
{
	pl_dns_t *d = data;
	d->timer = NULL; /* one-shot: the loop already freed it */
	uint64_t now = now_ms();
	while (d->head && d->head->deadline_ms <= now)
		advance(d, d->head);
	while (d->chead && d->chead->deadline_ms <= now) {
		conn_t *c = d->chead;
		if (c->inflight > 0 || c->out_off < c->out_len) {
			conn_touch(d, c); /* waiting on us, not idle */
			continue;
		}
		conn_close(d, c);
	}
	if (d->accept_paused_until && d->accept_paused_until <= now) {
		d->accept_paused_until = 0;
		pl_loop_watch_modify(d->loop, d->tcp_watch, EPOLLIN);
	}
	reap_conns(d);
	arm_timer(d);
}

static void forward(pl_dns_t *d, conn_t *c, const struct sockaddr_in *client, const pl_dns_msg_t *q,
		    const uint8_t *msg, size_t len)
{
	bool full =
	    d->npending >= PL_DNS_MAX_PENDING ||
	    (c && (d->ntcp_forwards >= TCP_MAX_FORWARDS || c->inflight >= TCP_MAX_CONN_INFLIGHT));
	if (d->nupstreams == 0 || full) {
		if (full)
			pl_log_debug("dns %s:%u: %d forwards pending, refusing more",
				     ipstr(d->listen).s, d->port, d->npending);
		reply_rcode(d, c, client, q, PL_DNS_RC_SERVFAIL);
		return;
	}
	pending_t *p = pl_xcalloc(1, sizeof(*p) + 2 + len);
	p->d = d;
	p->tfd = -1;
	p->orig_id = q->id;
	do
		p->up_id = random_id(d);
	while (id_used(d, p->up_id));
	id_mark(d, p->up_id, true);
	p->upstream = -1;
	if (client)
		p->client = *client;
	p->conn = c;
	p->q = *q;
	p->len = len;
	pl_dns_put16(p->query, (uint16_t)len);
	memcpy(p->query + 2, msg, len);
	pl_dns_put16(p->query + 2, p->up_id);
	d->npending++;
	if (c) {
		d->ntcp_forwards++;
		c->inflight++;
	}
	if (!forward_next(d, p)) {
		pending_free(d, p);
		reply_rcode(d, c, client, q, PL_DNS_RC_SERVFAIL);
		return;
	}
	list_insert(d, p);
	arm_timer(d);
}

static bool is_client(const pl_dns_t *d, struct in_addr a)
{
	return (a.s_addr & d->client_mask.s_addr) == d->client_net.s_addr;
}

/* One query from a client: answered from the scope's names, or forwarded. */
static void handle_query(pl_dns_t *d, conn_t *c, const struct sockaddr_in *client,
			 const uint8_t *msg, size_t len)
{
	pl_dns_msg_t q;
	if (!c && !is_client(d, client->sin_addr)) {
		/* Not on the scope: not a resolver for it either (no open forwarding). */
		if (pl_dns_parse_query(msg, len, &q) >= 0)
			reply_rcode(d, NULL, client, &q, PL_DNS_RC_REFUSED);
		return;
	}
	/* Over UDP the plain DNS limit applies (TC tells the client to come back over TCP). */
	size_t cap = c ? sizeof(d->reply) : PL_DNS_UDP_MAX;
	d->asker = c ? c->peer : client->sin_addr;
	ssize_t n =
	    pl_dns_respond(msg, len, d->lookup, d->ctx, d->reverse, d->rctx, &q, d->reply, cap);
	if (n > 0)
		deliver(d, c, client, d->reply, (size_t)n);
	else if (n == 0)
		forward(d, c, client, &q, msg, len);
}

/* One IPv4 datagram from fd into d->buf: its length; -EAGAIN when none is queued; another
 * negative errno for one to pass over (a queued ICMP error, a sender that is not IPv4). */
static ssize_t recv_v4(pl_dns_t *d, int fd, struct sockaddr_in *from)
{
	socklen_t fl = sizeof(*from);
	ssize_t n =
	    recvfrom(fd, d->buf, sizeof(d->buf), MSG_DONTWAIT, (struct sockaddr *)from, &fl);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if (fl != sizeof(*from) || from->sin_family != AF_INET)
		return -EAFNOSUPPORT;
	return n;
}

static void on_udp(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	pl_dns_t *d = data;
	/* Bounded so one busy scope cannot starve the rest of the loop. */
	for (int i = 0; i < BATCH; i++) {
		struct sockaddr_in from;
		ssize_t n = recv_v4(d, fd, &from);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			continue; /* an ICMP error queued for an earlier reply */
		handle_query(d, NULL, &from, d->buf, (size_t)n);
	}
}

static pending_t *find_udp_pending(pl_dns_t *d, const struct sockaddr_in *from,
				   const pl_dns_msg_t *r)
{
	if (!id_used(d, r->id))
		return NULL;
	for (pending_t *p = d->head; p; p = p->next) {
		if (p->up_id != r->id)
			continue;
		if (p->conn)
			return NULL;
		/* From an upstream already asked: a slow one may answer after we moved on. */
		bool asked = false;
		for (int i = 0; i <= p->upstream && i < d->nupstreams; i++)
			asked |= from->sin_addr.s_addr == d->upstreams[i].s_addr;
		if (!asked || ntohs(from->sin_port) != d->upstream_port)
			return NULL;
		return p;
	}
	return NULL;
}

static void on_upstream(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	pl_dns_t *d = data;
	for (int i = 0; i < BATCH; i++) {
		struct sockaddr_in from;
		ssize_t n = recv_v4(d, fd, &from);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			continue; /* ICMP errors (ECONNREFUSED...): the timeout moves on */
		pl_dns_msg_t r;
		if (pl_dns_parse(d->buf, (size_t)n, &r) != 0)
			continue;
		pending_t *p = find_udp_pending(d, &from, &r);
		if (!p || !answer_matches(p, d->buf, (size_t)n, &r))
			continue;
		/* Passed on as is, TC included: the client then asks again over TCP. */
		finish(d, p, d->buf, (size_t)n);
	}
	reap_conns(d);
	arm_timer(d);
}

static void on_conn(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	conn_t *c = data;
	pl_dns_t *d = c->d;
	/* A full hangup or an error: nothing can be written back any more (and epoll would
	 * report it on every round until the fd is gone). */
	if (events & (EPOLLHUP | EPOLLERR))
		c->broken = true;
	if ((events & EPOLLOUT) && !c->broken)
		conn_flush(d, c);
	if ((events & EPOLLIN) && !c->eof && !c->broken) {
		uint8_t tmp[4096];
		ssize_t n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n == 0) {
			c->eof = true; /* answers still owed are sent before closing */
			conn_update_events(d, c);
			conn_check_done(c);
		} else if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				c->broken = true;
		} else {
			conn_touch(d, c);
			c->in = pl_xrealloc(c->in, c->in_len + (size_t)n);
			memcpy(c->in + c->in_len, tmp, (size_t)n);
			c->in_len += (size_t)n;
			/* Queries may be pipelined: every whole frame is handled now. */
			size_t off = 0;
			while (!c->broken && c->in_len - off >= 2) {
				size_t flen = (size_t)(c->in[off] << 8 | c->in[off + 1]);
				if (c->in_len - off - 2 < flen)
					break;
				handle_query(d, c, NULL, c->in + off + 2, flen);
				off += 2 + flen;
			}
			memmove(c->in, c->in + off, c->in_len - off);
			c->in_len -= off;
		}
	}
	reap_conns(d);
	arm_timer(d);
}

static void on_accept(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	pl_dns_t *d = data;
	for (int i = 0; i < BATCH; i++) {
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		int cfd = accept4(fd, (struct sockaddr *)&from, &fl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* The pending connection stays queued and the listener readable:
				 * pause rather than spin, and try again in a second. */
				pl_log_warn("dns %s:%u: accept: %s", ipstr(d->listen).s, d->port,
					    strerror(errno));
				pl_loop_watch_modify(loop, d->tcp_watch, 0);
				d->accept_paused_until = now_ms() + 1000;
				arm_timer(d);
			}
			break;
		}
		if (d->nconns >= TCP_MAX_CONNS || fl != sizeof(from) ||
		    !is_client(d, from.sin_addr)) {
			close(cfd);
			continue;
		}
		conn_t *c = pl_xcalloc(1, sizeof(*c));
		c->d = d;
		c->fd = cfd;
		c->peer = from.sin_addr;
		c->events = EPOLLIN;
		c->w = pl_loop_watch(loop, cfd, EPOLLIN, on_conn, c, NULL);
		if (!c->w) {
			close(cfd);
			free(c);
			continue;
		}
		d->nconns++;
		conn_touch(d, c);
	}
}

/* ---- start and stop ---- */

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

static int open_socket(int type, struct in_addr addr, uint16_t port, pl_error_t **err)
{
	_cleanup_close_ int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		pl_error_errno(err, "socket");
		return -1;
	}
	int one = 1;
	/* A restarted daemon must not wait out TIME_WAIT connections of the previous one. */
	if (type == SOCK_STREAM &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		pl_error_errno(err, "setsockopt SO_REUSEADDR");
		return -1;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr = addr};
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		pl_error_errno(err, "bind %s %s:%u", type == SOCK_STREAM ? "tcp" : "udp",
			       ipstr(addr).s, port);
		return -1;
	}
	if (type == SOCK_STREAM && listen(fd, 64) < 0) {
		pl_error_errno(err, "listen");
		return -1;
	}
	return TAKE_FD(fd);
}

/* UDP and TCP on the same port; with port 0 the kernel's UDP pick may be taken for TCP, so
 * a few picks are tried. */
static int open_listeners(pl_dns_t *d, uint16_t port, pl_error_t **err)
{
	for (int attempt = 0;; attempt++) {
		d->udp_fd = open_socket(SOCK_DGRAM, d->listen, port, err);
		if (d->udp_fd < 0)
			return -1;
		struct sockaddr_in bound;
		socklen_t bl = sizeof(bound);
		if (getsockname(d->udp_fd, (struct sockaddr *)&bound, &bl) < 0)
			return pl_error_errno(err, "getsockname");
		d->port = ntohs(bound.sin_port);
		_cleanup_error_ pl_error_t *terr = NULL;
		d->tcp_fd = open_socket(SOCK_STREAM, d->listen, d->port, &terr);
		if (d->tcp_fd >= 0)
			return 0;
		if (port != 0 || terr->errnum != EADDRINUSE || attempt >= 16) {
			if (err && !*err)
				*err = TAKE_PTR(terr);
			return -1;
		}
		d->udp_fd = pl_close(d->udp_fd);
	}
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
	d->udp_fd = d->tcp_fd = d->up_fd = -1;

	if (read_upstreams(d, resolv_conf, err) < 0 || open_listeners(d, port, err) < 0)
		goto fail;
	d->udp_watch = pl_loop_watch(loop, d->udp_fd, EPOLLIN, on_udp, d, err);
	if (!d->udp_watch)
		goto fail;
	d->tcp_watch = pl_loop_watch(loop, d->tcp_fd, EPOLLIN, on_accept, d, err);
	if (!d->tcp_watch)
		goto fail;
	if (d->nupstreams > 0) {
		d->up_fd = open_socket(SOCK_DGRAM, (struct in_addr){htonl(INADDR_ANY)}, 0, err);
		if (d->up_fd < 0)
			goto fail;
		d->up_watch = pl_loop_watch(loop, d->up_fd, EPOLLIN, on_upstream, d, err);
		if (!d->up_watch)
			goto fail;
	}
	char ups[PL_DNS_MAX_UPSTREAMS * (INET_ADDRSTRLEN + 1) + 8] = "none";
	for (int i = 0, off = 0; i < d->nupstreams; i++)
		off += snprintf(ups + off, sizeof(ups) - (size_t)off, "%s%s", i ? " " : "",
				ipstr(d->upstreams[i]).s);
	pl_log_debug("dns %s:%u: listening, upstreams: %s", ipstr(listen).s, d->port, ups);
	return d;
fail:
	pl_error_wrap(err, "dns responder on %s:%u", ipstr(listen).s, port);
	return pl_dns_stop(d);
}

pl_dns_t *pl_dns_stop(pl_dns_t *d)
{
	if (!d)
		return NULL;
	while (d->chead)
		conn_close(d, d->chead);
	while (d->head)
		pending_free(d, d->head);
	d->timer = pl_loop_timer_cancel(d->loop, d->timer);
	d->udp_watch = pl_loop_unwatch(d->loop, d->udp_watch);
	d->tcp_watch = pl_loop_unwatch(d->loop, d->tcp_watch);
	d->up_watch = pl_loop_unwatch(d->loop, d->up_watch);
	pl_close(d->udp_fd);
	pl_close(d->tcp_fd);
	pl_close(d->up_fd);
	free(d);
	return NULL;
}

struct in_addr pl_dns_asker(const pl_dns_t *d)
{
	return d->asker;
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

void pl_dns_set_client_subnet(pl_dns_t *d, struct in_addr net, int prefix)
{
	uint32_t mask = prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffffu : ~(0xffffffffu >> prefix);
	d->client_mask.s_addr = htonl(mask);
	d->client_net.s_addr = net.s_addr & d->client_mask.s_addr;
}

void pl_dns_set_upstream_port(pl_dns_t *d, uint16_t port)
{
	d->upstream_port = port;
}

void pl_dns_set_forward_timeout(pl_dns_t *d, unsigned ms)
{
	d->timeout_ms = ms;
}
