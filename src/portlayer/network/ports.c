/* SPDX-License-Identifier: Apache-2.0 */
/* The project's nftables table (`ip portlayer`): 127/8 accepted from loopback only,
 * masquerade per scope, forwarding dropped for internal scopes and between scopes and into
 * a scope unless it answers or is a published port, and DNAT for the running containers'
 * published ports in prerouting (from outside) and output (from the host itself, loopback
 * included).
 * The whole table is rewritten in one `nft -f -` transaction that touches no other table.
 * nft runs in a child (mechanism/netfilter.h) the loop watches; a failed write is retried
 * with backoff and reported; callers that need the rules in place (network create, a
 * container's start) write synchronously. */
#include "portlayer/network/scope.h"
#include "portlayer/container.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"
#include "host/linux/netfilter.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

struct pl_nft {
	pl_loop_t *loop;
	pl_netfilter_run_t *run; /* the write in flight */
	pl_watch_t *watch;
	bool again;	   /* a change arrived while nft ran */
	char *error;	   /* the last write's failure, until one lands */
	char *landed;	   /* the text of the last write that landed */
	char *inflight;	   /* the text of the write in flight */
	unsigned failures; /* in a row */
	pl_timer_t *retry;
	pl_network_t *net;
};

typedef struct buf {
	char *p;
	size_t len, cap;
} buf_t;

__attribute__((format(printf, 2, 3))) static void put(buf_t *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	size_t n = strlen(s);
	if (b->len + n + 1 > b->cap) {
		b->cap = (b->len + n + 1) * 2;
		b->p = pl_xrealloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, s, n + 1);
	b->len += n;
	free(s);
}

char *pl_nft_ruleset(pl_network_t *n)
{
	buf_t b = {0};
	char a[16];
	put(&b, "table ip portlayer {}\ndelete table ip portlayer\ntable ip portlayer {\n");
	/* loopback addresses arrive from loopback only: bridges have route_localnet (published
	 * ports DNAT 127.0.0.1 onto them), so a frame a container or a neighbour aims at the
	 * host's MAC with destination 127.0.0.1 would otherwise reach the host's loopback
	 * services, or a port published on 127.0.0.1 (CVE-2020-8558). At raw priority: before
	 * conntrack and NAT, so the answers of host -> 127.0.0.1:PORT -> container (which come
	 * back to the bridge's address and are un-NATed to 127.0.0.1 later) pass. */
	put(&b, "  chain raw_prerouting {\n    type filter hook prerouting priority raw; policy "
		"accept;\n    iifname != \"lo\" ip daddr 127.0.0.0/8 drop\n");
	/* a frame crossing a scope's branch bridge (br_netfilter shows it to these hooks with
	 * the branch as its devices) is not tracked there: connection tracking and NAT decide
	 * on the scope's bridge, where the veth link brings it next with its conntrack reset
	 * (tracked on the branch, a NAT decision made there would stick: no masquerade on the
	 * way out, a DNAT routed from the branch, which does not route) */
	for (pl_scope_t *s = n->scopes; s; s = s->next) {
		char branches[16];
		if (!s->external) {
			pl_scope_branch_pattern(s, branches);
			put(&b, "    iifname \"%s\" notrack\n", branches);
		}
	}
	put(&b, "  }\n");
	put(&b,
	    "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n"
	    "    fib daddr type local jump ports\n  }\n");
	put(&b, "  chain output {\n    type nat hook output priority -100; policy accept;\n"
		"    fib daddr type local jump ports\n  }\n");
	put(&b, "  chain ports {\n");
	for (pl_container_t *c = pl_container_first(n->pl); c; c = pl_container_next(c)) {
		if (!pl_container_is_running(c) ||
		    !json_array_size(pl_container_config(c)->ports) ||
		    !json_array_size(pl_container_config(c)->networks))
			continue;
		/* published on the container's first scope's address */
		const char *ip = json_string_value(
		    json_object_get(json_array_get(pl_container_config(c)->networks, 0), "ip"));
		size_t i;
		json_t *p;
		json_array_foreach(pl_container_config(c)->ports, i, p)
		{
			const char *proto = json_string_value(json_object_get(p, "protocol"));
			const char *hip = json_string_value(json_object_get(p, "host_ip"));
			put(&b, "    %s%s%s %s dport %lld dnat to %s:%lld comment \"%.12s\"\n",
			    *hip ? "ip daddr " : "", hip, *hip ? "" : "", proto,
			    (long long)json_integer_value(json_object_get(p, "host_port")), ip,
			    (long long)json_integer_value(json_object_get(p, "container_port")),
			    pl_container_id(c));
		}
	}
	put(&b, "  }\n");
	put(&b, "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy "
		"accept;\n");
	for (pl_scope_t *s = n->scopes; s; s = s->next) {
		if (s->external)
			continue;
		/* published ports reached through 127.0.0.1, or from the scope itself through a
		 * host address, leave with the bridge's address (so the answer comes back) */
		put(&b, "    oifname \"%s\" ip saddr 127.0.0.0/8 masquerade\n", s->device);
		put(&b, "    oifname \"%s\" ip saddr %s/%u ct status dnat masquerade\n", s->device,
		    pl_ipam_format(s->subnet, a), s->len);
		if (s->masquerade && !s->internal)
			put(&b, "    ip saddr %s/%u oifname != \"%s\" masquerade\n",
			    pl_ipam_format(s->subnet, a), s->len, s->device);
	}
	put(&b, "  }\n");
	put(&b,
	    "  chain forward {\n    type filter hook forward priority filter; policy accept;\n");
	/* nothing is routed in from a branch bridge (its forwarding is off; this holds should
	 * anything turn it on): only frames crossing it, in and out through it */
	for (pl_scope_t *s = n->scopes; s; s = s->next) {
		char branches[16];
		if (!s->external) {
			pl_scope_branch_pattern(s, branches);
			put(&b, "    iifname \"%s\" oifname != \"%s\" drop\n", branches, branches);
		}
	}
	put(&b, "    ct status dnat accept\n");
	for (pl_scope_t *s = n->scopes; s; s = s->next) {
		if (s->external)
			continue;
		/* within a scope (seen here when br_netfilter hands bridged frames to ip) */
		put(&b, "    iifname \"%s\" oifname \"%s\" accept\n", s->device, s->device);
		if (s->internal) {
			put(&b, "    iifname \"%s\" drop\n    oifname \"%s\" drop\n", s->device,
			    s->device);
			continue;
		}
		for (pl_scope_t *o = n->scopes; o; o = o->next)
			if (o != s && !o->external)
				put(&b, "    iifname \"%s\" oifname \"%s\" drop\n", s->device,
				    o->device);
		/* into the scope: answers only (published ports were accepted above), so a
		 * neighbour routing the subnet through the host reaches no unpublished port */
		put(&b,
		    "    oifname \"%s\" ct state established,related accept\n"
		    "    oifname \"%s\" drop\n",
		    s->device, s->device);
	}
	put(&b, "  }\n}\n");
	return b.p;
}

pl_nft_t *pl_nft_new(pl_loop_t *loop)
{
	pl_nft_t *t = pl_xcalloc(1, sizeof(*t));
	t->loop = loop;
	return t;
}

bool pl_nft_pending(const pl_nft_t *t)
{
	return t->run || t->again || t->error;
}

const char *pl_nft_error(const pl_nft_t *t)
{
	return t->error;
}

static void on_retry(pl_loop_t *loop, void *data)
{
	pl_nft_t *t = data;
	t->retry = NULL;
	pl_nft_write(t->net, false, NULL);
}

/* Records how the write went; a failed one is retried with backoff (100 ms doubling to
 * 30 s) until one lands, and stays visible (pl_nft_error) meanwhile. */
static int settle(pl_nft_t *t, pl_error_t *e, pl_error_t **err)
{
	free(t->error);
	t->error = NULL;
	if (!e) {
		t->failures = 0;
		t->retry = pl_loop_timer_cancel(t->loop, t->retry);
		return 0;
	}
	t->error = pl_xasprintf("writing the nftables table ip portlayer failed: %s", e->msg);
	pl_error_free(e);
	unsigned shift = t->failures < 9 ? t->failures : 9;
	uint64_t ms = 100ull << shift;
	t->failures++;
	pl_log_error("%s (attempt %u; next in %llu ms)", t->error, t->failures,
		     (unsigned long long)(ms < 30000 ? ms : 30000));
	if (!t->retry)
		t->retry = pl_loop_timer(t->loop, ms < 30000 ? ms : 30000, on_retry, t, NULL);
	return pl_error_set(err, PL_ERR_INTERNAL, 0, "%s", t->error);
}

static int finish(pl_nft_t *t, pl_error_t **err)
{
	t->watch = pl_loop_unwatch(t->loop, t->watch);
	pl_error_t *e = NULL;
	if (pl_netfilter_finish(TAKE_PTR(t->run), &e) == 0) {
		free(t->landed);
		t->landed = TAKE_PTR(t->inflight);
	}
	free(t->inflight);
	t->inflight = NULL;
	return settle(t, e, err);
}

static void on_exit_nft(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	pl_nft_t *t = data;
	finish(t, NULL);
	if (t->again)
		pl_nft_write(t->net, false, NULL);
}

int pl_nft_write(pl_network_t *n, bool sync, pl_error_t **err)
{
	pl_nft_t *t = n->nft;
	t->net = n;
	if (t->run && !sync) {
		t->again = true;
		return 0;
	}
	if (t->run) /* superseded by this write */
		finish(t, NULL);
	t->again = false;
	char *rules = pl_nft_ruleset(n);
	pl_error_t *e = NULL;
	t->run = pl_netfilter_start(rules, &e);
	if (!t->run) {
		free(rules);
		return settle(t, e, err);
	}
	t->inflight = rules;
	if (sync || pl_netfilter_fd(t->run) < 0)
		return finish(t, err);
	t->watch = pl_loop_watch(t->loop, pl_netfilter_fd(t->run), EPOLLIN, on_exit_nft, t, NULL);
	return 0;
}

static bool sends_to(const char *text, const char *ip)
{
	_cleanup_free_ char *pat = pl_xasprintf("dnat to %s:", ip);
	return text && strstr(text, pat);
}

int pl_nft_settle(pl_network_t *n, const json_t *ips, pl_error_t **err)
{
	pl_nft_t *t = n->nft;
	if (!pl_nft_pending(t))
		return 0;
	/* a failed write always; otherwise a pending one only changes published ports, which
	 * matter here when the table in the kernel (or on its way) still sends some to one
	 * of these addresses: a stale DNAT of the address's previous holder */
	bool wait = t->error != NULL;
	size_t i;
	json_t *ip;
	json_array_foreach(ips, i, ip)
	{
		wait = wait || sends_to(t->landed, json_string_value(ip)) ||
		       sends_to(t->inflight, json_string_value(ip));
	}
	if (!wait)
		return 0;
	/* the write in flight already holds the current state: waiting for it is enough */
	if (t->run && !t->again)
		return finish(t, err);
	return pl_nft_write(n, true, err);
}

pl_nft_t *pl_nft_free(pl_nft_t *t)
{
	if (!t)
		return NULL;
	if (t->run) /* the last write must land: it is the truth after restart */
		finish(t, NULL);
	t->retry = pl_loop_timer_cancel(t->loop, t->retry);
	free(t->error);
	free(t->landed);
	free(t->inflight);
	free(t);
	return NULL;
}
