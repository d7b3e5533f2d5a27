/* SPDX-License-Identifier: Apache-2.0 */
#include "host/linux/netdev.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BATCH	  64
#define WAIT_MS	  10000
#define HELPER_FD 3

typedef struct item {
	uint64_t ticket;
	char name[IFNAMSIZ];
} item_t;

/* The messages (SOCK_SEQPACKET: one request, one answer, whole). */
struct request {
	uint32_t n;
	char names[BATCH][IFNAMSIZ];
};
struct answer {
	uint32_t n;
	int32_t result[BATCH];
};

struct pl_netdev_reaper {
	pl_loop_t *loop;
	pl_netdev_reaped_fn fn;
	void *data;
	int fd; /* -1: no helper, deletions run on the loop */
	pid_t pid;
	pl_watch_t *watch;
	pl_timer_t *inline_timer;
	item_t *queue; /* not sent yet, oldest first */
	size_t queued, cap;
	item_t flight[BATCH]; /* sent, not answered */
	size_t flying;
	uint64_t next;
};

/* --- the helper --- */

/* Sends nlh and reads its ack: 0 or -errno. */
static int ack(struct mnl_socket *nl, unsigned portid, unsigned seq, char *buf, size_t size,
	       struct nlmsghdr *nlh)
{
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		int r = mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL);
		if (r < 0)
			return -errno;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

/* A link request of type, acknowledged, into buf. */
static struct nlmsghdr *link_request(char *buf, uint16_t type, unsigned seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	return nlh;
}

static int del_link(struct mnl_socket *nl, unsigned portid, unsigned seq, const char *name)
{
	char buf[8192];
	struct nlmsghdr *nlh = link_request(buf, RTM_DELLINK, seq);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	int r = ack(nl, portid, seq, buf, sizeof(buf), nlh);
	return r == -ENODEV ? 0 : r;
}

/* Puts device name in group (RTM_NEWLINK on an existing device: no grace period). */
static int set_group(struct mnl_socket *nl, unsigned portid, unsigned seq, const char *name,
		     uint32_t group)
{
	char buf[8192];
	struct nlmsghdr *nlh = link_request(buf, RTM_NEWLINK, seq);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	mnl_attr_put_u32(nlh, IFLA_GROUP, group);
	return ack(nl, portid, seq, buf, sizeof(buf), nlh);
}

/* Every device of group, in one unregistration: one grace period for the lot. */
static int del_group(struct mnl_socket *nl, unsigned portid, unsigned seq, uint32_t group)
{
	char buf[8192];
	struct nlmsghdr *nlh = link_request(buf, RTM_DELLINK, seq);
	mnl_attr_put_u32(nlh, IFLA_GROUP, group);
	int r = ack(nl, portid, seq, buf, sizeof(buf), nlh);
	return r == -ENODEV ? 0 : r;
}

/* A batch: one device is deleted by name; several are put in a group of the helper's own
 * and the group deleted at once (what cannot be grouped, e.g. a VM's tap whose kind has no
 * rtnetlink dellink, is deleted by name). */
static void delete_batch(struct mnl_socket *nl, unsigned portid, unsigned *seq,
			 char names[][IFNAMSIZ], uint32_t n, int32_t *result)
{
	uint32_t group = 0x7e000000u | ((uint32_t)getpid() & 0xffffffu);
	bool grouped[BATCH] = {false};
	uint32_t k = 0;
	for (uint32_t i = 0; n > 1 && i < n; i++) {
		int r = set_group(nl, portid, ++*seq, names[i], group);
		result[i] = r == -ENODEV ? 0 : r;
		grouped[i] = r == 0;
		k += grouped[i];
	}
	int r = k ? del_group(nl, portid, ++*seq, group) : -1;
	for (uint32_t i = 0; i < n; i++) {
		if (grouped[i] && r == 0)
			result[i] = 0;
		else if (grouped[i] || n == 1 || result[i] < 0)
			result[i] = del_link(nl, portid, ++*seq, names[i]);
	}
}

/* The child: no fd of the daemon's but its end of the socketpair (a lock, a listening
 * socket or a domain's link held here would outlive the daemon), no signal but SIGKILL ends
 * it, and it dies with the daemon. */
static _Noreturn void helper(int fd, pid_t parent)
{
	if (fd != HELPER_FD && dup2(fd, HELPER_FD) < 0)
		_exit(1);
	syscall(SYS_close_range, HELPER_FD + 1, ~0U, 0);
	prctl(PR_SET_NAME, "pl-netdev-reap");
	/* no deletion after the daemon is gone: a new one may reuse the names */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		_exit(1);
	unsigned portid = mnl_socket_get_portid(nl), seq = (unsigned)time(NULL);
	for (;;) {
		struct request q;
		ssize_t n = recv(HELPER_FD, &q, sizeof(q), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		if ((size_t)n < offsetof(struct request, names) || q.n > BATCH ||
		    (size_t)n < offsetof(struct request, names) + q.n * IFNAMSIZ)
			_exit(1);
		struct answer a = {.n = q.n};
		for (uint32_t i = 0; i < q.n; i++)
			q.names[i][IFNAMSIZ - 1] = '\0';
		delete_batch(nl, portid, &seq, q.names, q.n, a.result);
		while (send(HELPER_FD, &a, sizeof(a), MSG_NOSIGNAL) < 0 && errno == EINTR)
			;
	}
}

/* --- the daemon's side --- */

static void on_answer(pl_loop_t *loop, int fd, uint32_t events, void *data);

static void spawn(pl_netdev_reaper_t *r)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		pl_log_warn("host devices are deleted on the event loop: socketpair: %s",
			    strerror(errno));
		return;
	}
	pid_t parent = getpid();
	pid_t pid = fork(); /* the daemon is single-threaded: fork is safe here */
	if (pid == 0) {
		close(sv[0]);
		helper(sv[1], parent);
	}
	close(sv[1]);
	if (pid < 0) {
		pl_log_warn("host devices are deleted on the event loop: fork: %s",
			    strerror(errno));
		close(sv[0]);
		return;
	}
	pl_error_t *e = NULL;
	r->watch = pl_loop_watch(r->loop, sv[0], EPOLLIN, on_answer, r, &e);
	if (!r->watch) {
		pl_log_warn("host devices are deleted on the event loop: %s", e->msg);
		pl_error_free(e);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(sv[0]);
		return;
	}
	r->fd = sv[0];
	r->pid = pid;
}

/* The helper is dead, hung or unreachable: it is made sure to delete nothing more, and what
 * it held goes back to the head of the queue for the next one (deleting twice is harmless:
 * a device already gone is a success). */
static void helper_lost(pl_netdev_reaper_t *r, const char *why)
{
	pl_log_warn("host device helper (pid %d): %s: replacing it", (int)r->pid, why);
	r->watch = pl_loop_unwatch(r->loop, r->watch);
	close(r->fd);
	r->fd = -1;
	kill(r->pid, SIGKILL);
	waitpid(r->pid, NULL, 0);
	r->pid = -1;
	if (r->flying) {
		if (r->queued + r->flying > r->cap) {
			r->cap = r->queued + r->flying + 16;
			r->queue = pl_xrealloc(r->queue, r->cap * sizeof(*r->queue));
		}
		memmove(r->queue + r->flying, r->queue, r->queued * sizeof(*r->queue));
		memcpy(r->queue, r->flight, r->flying * sizeof(*r->queue));
		r->queued += r->flying;
		r->flying = 0;
	}
	spawn(r);
}

/* Without a helper: every queued deletion, here. */
static void run_inline(pl_netdev_reaper_t *r)
{
	while (r->queued && r->fd < 0) {
		item_t it = r->queue[0];
		memmove(r->queue, r->queue + 1, --r->queued * sizeof(*r->queue));
		pl_error_t *e = NULL;
		int res = pl_netdev_delete(it.name, &e) < 0 ? -(e->errnum ? e->errnum : EIO) : 0;
		pl_error_free(e);
		r->fn(r->data, it.ticket, res);
	}
}

static void on_inline_timer(pl_loop_t *loop, void *data)
{
	(void)loop;
	pl_netdev_reaper_t *r = data;
	r->inline_timer = NULL;
	run_inline(r);
}

/* Sends the next batch when none is out; without a helper, the queue runs on the loop's
 * next turn (a caller never sees its callback from inside _delete). */
static void send_next(pl_netdev_reaper_t *r)
{
	if (r->flying || !r->queued)
		return;
	if (r->fd < 0) {
		if (!r->inline_timer)
			r->inline_timer = pl_loop_timer(r->loop, 0, on_inline_timer, r, NULL);
		return;
	}
	struct request q = {.n = 0};
	size_t k = r->queued < BATCH ? r->queued : BATCH;
	for (size_t i = 0; i < k; i++)
		memcpy(q.names[i], r->queue[i].name, IFNAMSIZ);
	q.n = (uint32_t)k;
	ssize_t n;
	while ((n = send(r->fd, &q, offsetof(struct request, names) + k * IFNAMSIZ, MSG_NOSIGNAL)) <
		   0 &&
	       errno == EINTR)
		;
	if (n < 0) {
		helper_lost(r, strerror(errno));
		send_next(r);
		return;
	}
	memcpy(r->flight, r->queue, k * sizeof(*r->queue));
	r->flying = k;
	memmove(r->queue, r->queue + k, (r->queued - k) * sizeof(*r->queue));
	r->queued -= k;
}

/* The helper's answer to the batch out: the next goes before the reports (a report may
 * queue more). */
static void take_answer(pl_netdev_reaper_t *r)
{
	struct answer a;
	ssize_t n = recv(r->fd, &a, sizeof(a), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n != (ssize_t)sizeof(a) || a.n != r->flying) {
		helper_lost(r, n < 0 ? strerror(errno) : n == 0 ? "it ended" : "a bad answer");
		send_next(r);
		return;
	}
	item_t done[BATCH];
	size_t k = r->flying;
	memcpy(done, r->flight, k * sizeof(*done));
	r->flying = 0;
	send_next(r);
	for (size_t i = 0; i < k; i++)
		r->fn(r->data, done[i].ticket, a.result[i]);
}

static void on_answer(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	(void)loop;
	(void)fd;
	(void)events;
	take_answer(data);
}

pl_netdev_reaper_t *pl_netdev_reaper_new(pl_loop_t *loop, pl_netdev_reaped_fn fn, void *data)
{
	pl_netdev_reaper_t *r = pl_xcalloc(1, sizeof(*r));
	r->loop = loop;
	r->fn = fn;
	r->data = data;
	r->fd = -1;
	r->pid = -1;
	r->next = 1;
	spawn(r);
	return r;
}

uint64_t pl_netdev_reaper_next(const pl_netdev_reaper_t *r)
{
	return r->next;
}

uint64_t pl_netdev_reaper_delete(pl_netdev_reaper_t *r, const char *name)
{
	if (r->queued == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->queue = pl_xrealloc(r->queue, r->cap * sizeof(*r->queue));
	}
	item_t *it = &r->queue[r->queued++];
	uint64_t ticket = it->ticket = r->next++;
	snprintf(it->name, sizeof(it->name), "%s", name);
	send_next(r);
	return ticket;
}

static bool over(const pl_netdev_reaper_t *r, uint64_t ticket)
{
	return (!r->flying || r->flight[0].ticket > ticket) &&
	       (!r->queued || r->queue[0].ticket > ticket);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pl_netdev_reaper_wait(pl_netdev_reaper_t *r, uint64_t ticket)
{
	if (!ticket)
		ticket = r->next - 1;
	int64_t deadline = now_ms() + WAIT_MS;
	while (!over(r, ticket)) {
		if (r->fd < 0) {
			r->inline_timer = pl_loop_timer_cancel(r->loop, r->inline_timer);
			run_inline(r);
			continue;
		}
		send_next(r);
		if (!r->flying)
			continue; /* the helper went and the queue is inline now */
		int64_t left = deadline - now_ms();
		struct pollfd p = {.fd = r->fd, .events = POLLIN};
		int k = left > 0 ? poll(&p, 1, (int)left) : 0;
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			helper_lost(r, k < 0 ? strerror(errno) : "no answer within 10 s");
			deadline = now_ms() + WAIT_MS;
			continue;
		}
		take_answer(r);
		deadline = now_ms() + WAIT_MS;
	}
}

pl_netdev_reaper_t *pl_netdev_reaper_free(pl_netdev_reaper_t *r)
{
	if (!r)
		return NULL;
	pl_netdev_reaper_wait(r, 0);
	r->inline_timer = pl_loop_timer_cancel(r->loop, r->inline_timer);
	r->watch = pl_loop_unwatch(r->loop, r->watch);
	if (r->fd >= 0) {
		close(r->fd);
		kill(r->pid, SIGKILL); /* idle now: nothing is cut short */
		waitpid(r->pid, NULL, 0);
	}
	free(r->queue);
	free(r);
	return NULL;
}
