/* The project's nftables table (`ip portlayer`): masquerade per scope, forwarding dropped
 * for internal scopes and between scopes, and DNAT for the running containers' published
 * ports in prerouting (from outside) and output (from the host itself, loopback included).
 * The whole table is rewritten in one `nft -f -` transaction that touches no other table.
 * nft runs in a child watched through a pidfd, so the loop never waits for it. */
#include "portlayer/network/scope.h"
#include "portlayer/internal.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct pl_nft {
	pl_loop_t *loop;
	pid_t pid;
	int pidfd, errfd;
	pl_watch_t *watch;
	bool again; /* a change arrived while nft ran */
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
		"accept;\n    iifname != \"lo\" ip daddr 127.0.0.0/8 drop\n  }\n");
	put(&b,
	    "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n"
	    "    fib daddr type local jump ports\n  }\n");
	put(&b, "  chain output {\n    type nat hook output priority -100; policy accept;\n"
		"    fib daddr type local jump ports\n  }\n");
	put(&b, "  chain ports {\n");
	for (pl_container_t *c = pl_container_first(n->pl); c; c = pl_container_next(c)) {
		if (!pl_container_is_running(c) || !json_array_size(c->config->ports) ||
		    !json_array_size(c->config->networks))
			continue;
		/* published on the container's first scope's address */
		const char *ip = json_string_value(
		    json_object_get(json_array_get(c->config->networks, 0), "ip"));
		size_t i;
		json_t *p;
		json_array_foreach(c->config->ports, i, p)
		{
			const char *proto = json_string_value(json_object_get(p, "protocol"));
			const char *hip = json_string_value(json_object_get(p, "host_ip"));
			put(&b, "    %s%s%s %s dport %lld dnat to %s:%lld comment \"%.12s\"\n",
			    *hip ? "ip daddr " : "", hip, *hip ? "" : "", proto,
			    (long long)json_integer_value(json_object_get(p, "host_port")), ip,
			    (long long)json_integer_value(json_object_get(p, "container_port")),
			    c->id);
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
	put(&b, "  chain forward {\n    type filter hook forward priority filter; policy accept;\n"
		"    ct status dnat accept\n");
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
	t->pidfd = t->errfd = -1;
	return t;
}

bool pl_nft_pending(const pl_nft_t *t)
{
	return t->pid > 0 || t->again;
}

static int spawn_nft(pl_nft_t *t, const char *rules)
{
	_cleanup_close_ int in = memfd_create("pl-nft-rules", MFD_CLOEXEC);
	int errfd = memfd_create("pl-nft-err", MFD_CLOEXEC);
	if (in < 0 || errfd < 0 || write(in, rules, strlen(rules)) != (ssize_t)strlen(rules) ||
	    lseek(in, 0, SEEK_SET) < 0) {
		pl_close(errfd);
		return -errno;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, errfd, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	char *argv[] = {"nft", "-f", "-", NULL};
	pid_t pid;
	int r = posix_spawnp(&pid, "nft", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r != 0) {
		pl_close(errfd);
		return -r;
	}
	t->pid = pid;
	t->errfd = errfd;
	t->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	return 0;
}

/* Reaps nft; logs its complaint when it failed. */
static void finish(pl_nft_t *t, bool block)
{
	int status = 0;
	if (waitpid(t->pid, &status, block ? 0 : WNOHANG) == 0)
		return;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char msg[1024] = "";
		ssize_t k = pread(t->errfd, msg, sizeof(msg) - 1, 0);
		msg[k > 0 ? k : 0] = '\0';
		pl_log_error("nft: writing the portlayer table failed: %s", msg);
	}
	t->watch = pl_loop_unwatch(t->loop, t->watch);
	t->pid = 0;
	t->pidfd = pl_close(t->pidfd);
	t->errfd = pl_close(t->errfd);
}

static void on_exit_nft(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	pl_nft_t *t = data;
	finish(t, true);
	if (t->again) {
		t->again = false;
		pl_nft_write(t->net, false);
	}
}

void pl_nft_write(pl_network_t *n, bool sync)
{
	pl_nft_t *t = n->nft;
	t->net = n;
	if (t->pid > 0 && !sync) {
		t->again = true;
		return;
	}
	if (t->pid > 0)
		finish(t, true);
	_cleanup_free_ char *rules = pl_nft_ruleset(n);
	int r = spawn_nft(t, rules);
	if (r < 0) {
		pl_log_error("nft: %s", strerror(-r));
		return;
	}
	if (sync || t->pidfd < 0) {
		finish(t, true);
		return;
	}
	t->watch = pl_loop_watch(t->loop, t->pidfd, EPOLLIN, on_exit_nft, t, NULL);
}

pl_nft_t *pl_nft_free(pl_nft_t *t)
{
	if (!t)
		return NULL;
	if (t->pid > 0)
		finish(t, true); /* the last write must land: it is the truth after restart */
	free(t);
	return NULL;
}
