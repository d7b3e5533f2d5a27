/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/janitor.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* One message to the child: 'T' + a name (delete that tree in dirfd), 'R' + a name (in
 * run_dirfd), 'H' with one fd (close it) or 'S' with one fd (a domain directory: fsync its
 * config.json, itself and dirfd). The child answers 'T' for a tree, 'H' for a handle, once
 * done, and "S1" or "S0" (an fsync failed) for a sync. */
typedef struct msg {
	char op;
	char *name; /* 'T', 'R' */
	int fd;	    /* 'H', 'S' (a sync's fd stays the daemon's until answered) */
} msg_t;

typedef struct sync_req {
	uint64_t ticket;
	int fd;
	pl_janitor_sync_fn cb; /* NULL once cancelled */
	void *data;
} sync_req_t;

typedef struct fifo {
	msg_t *v;
	size_t head, n, cap;
} fifo_t;

struct pl_janitor {
	pl_loop_t *loop;
	int dirfd, run_dirfd;
	int sock; /* our end of the child's socket, -1: no child */
	pid_t pid;
	pl_watch_t *watch;
	uint32_t events;
	fifo_t backlog;		 /* not sent yet (the child's socket was full) */
	fifo_t trees;		 /* sent, not deleted yet (given again to a new child) */
	uint64_t handed, closed; /* handles: tickets given out, handles closed */
	size_t trees_pending;	 /* queued or being deleted */
	sync_req_t *syncs;	 /* asked, not answered yet, in order */
	size_t n_syncs, cap_syncs;
	uint64_t sync_tickets;
	bool last_sync_ok; /* the result of the last sync done */
	unsigned deaths;   /* children lost: past a few, work here instead */
};

#define MAX_DEATHS   3
#define NAME_MAX_LEN 256

static void push(fifo_t *f, msg_t m)
{
	if (f->head && f->head == f->n)
		f->head = f->n = 0;
	if (f->n == f->cap) {
		if (f->head) { /* reuse the front before growing */
			memmove(f->v, f->v + f->head, (f->n - f->head) * sizeof(*f->v));
			f->n -= f->head;
			f->head = 0;
		}
		if (f->n == f->cap) {
			f->cap = f->cap ? 2 * f->cap : 16;
			f->v = pl_xrealloc(f->v, f->cap * sizeof(*f->v));
		}
	}
	f->v[f->n++] = m;
}

static size_t fifo_len(const fifo_t *f)
{
	return f->n - f->head;
}

static msg_t pop(fifo_t *f)
{
	return f->v[f->head++];
}

/* --- the child --- */

/* The child's trees, deleted by a thread of their own so that a handle never waits for a
 * tree (a start of the same container waits for its handle: pl_janitor_settle). */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t more;
	char **q; /* each name with its letter, 'T' or 'R' */
	size_t head, n, cap;
} trees = {.lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER};

static void *tree_worker(void *arg)
{
	for (;;) {
		pthread_mutex_lock(&trees.lock);
		while (trees.head == trees.n)
			pthread_cond_wait(&trees.more, &trees.lock);
		char *name = trees.q[trees.head++];
		if (trees.head == trees.n)
			trees.head = trees.n = 0;
		pthread_mutex_unlock(&trees.lock);
		pl_remove_tree_at(name[0] == 'R' ? 5 : 3, name + 1, NULL);
		free(name);
		send(4, "T", 1, MSG_NOSIGNAL);
	}
	return arg;
}

static void tree_push(const char *name)
{
	pthread_mutex_lock(&trees.lock);
	if (trees.n == trees.cap) {
		trees.cap = trees.cap ? 2 * trees.cap : 16;
		trees.q = pl_xrealloc(trees.q, trees.cap * sizeof(*trees.q));
	}
	trees.q[trees.n++] = pl_xstrdup(name);
	pthread_cond_signal(&trees.more);
	pthread_mutex_unlock(&trees.lock);
}

/* Syncs, by a thread of their own: a start's answer waits for its container's, so they
 * neither queue behind a tree nor share the child's low priority. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t more;
	int *q;
	size_t head, n, cap;
} syncq = {.lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER};

static bool fsync_domain(int dirfd, int parent)
{
	int cfd = openat(dirfd, "config.json", O_RDONLY | O_CLOEXEC);
	bool ok = cfd >= 0 && fsync(cfd) == 0 && fsync(dirfd) == 0 && fsync(parent) == 0;
	if (cfd >= 0)
		close(cfd);
	return ok;
}

static void *sync_worker(void *arg)
{
	setpriority(PRIO_PROCESS, (id_t)gettid(), 0);
	sched_setscheduler((pid_t)gettid(), SCHED_OTHER, &(struct sched_param){0});
	for (;;) {
		pthread_mutex_lock(&syncq.lock);
		while (syncq.head == syncq.n)
			pthread_cond_wait(&syncq.more, &syncq.lock);
		int fd = syncq.q[syncq.head++];
		if (syncq.head == syncq.n)
			syncq.head = syncq.n = 0;
		pthread_mutex_unlock(&syncq.lock);
		bool ok = fd >= 0 && fsync_domain(fd, 3);
		if (fd >= 0)
			close(fd);
		send(4, ok ? "S1" : "S0", 2, MSG_NOSIGNAL);
	}
	return arg;
}

static void sync_push(int fd)
{
	pthread_mutex_lock(&syncq.lock);
	if (syncq.n == syncq.cap) {
		syncq.cap = syncq.cap ? 2 * syncq.cap : 16;
		syncq.q = pl_xrealloc(syncq.q, syncq.cap * sizeof(*syncq.q));
	}
	syncq.q[syncq.n++] = fd;
	pthread_cond_signal(&syncq.more);
	pthread_mutex_unlock(&syncq.lock);
}

static _Noreturn void serve(int sock)
{
	for (;;) {
		char buf[NAME_MAX_LEN + 2];
		union {
			char b[CMSG_SPACE(sizeof(int) * 4)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.b,
				    .msg_controllen = sizeof(ctl)};
		ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0); /* the daemon let us go (or is gone) */
		/* closing a handle is the work: the kernel tears down what it held */
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
				continue;
			size_t nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < nfd; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (buf[0] == 'S' && i == 0)
					sync_push(fd);
				else
					close(fd);
			}
		}
		if (buf[0] == 'S' && !CMSG_FIRSTHDR(&mh)) {
			/* its fd did not come (our fd table is full?): answered as failed by the
			 * sync thread, in the order of the requests */
			sync_push(-1);
		} else if (buf[0] == 'H') {
			send(sock, "H", 1, MSG_NOSIGNAL);
		} else if ((buf[0] == 'T' || buf[0] == 'R') && n > 1) {
			buf[n] = '\0';
			tree_push(buf);
		}
	}
}

static _Noreturn void child(pid_t daemon, int dirfd, int run_dirfd, int sock)
{
	/* dies with the daemon: the kernel closes the handles, the next start deletes the
	 * trees, alone */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != daemon)
		_exit(0);
	/* nothing of the daemon's but the directories and the socket: a tether must see its
	 * daemon's socket close when the daemon dies, not when this child does */
	int d = fcntl(dirfd, F_DUPFD, 6), r = fcntl(run_dirfd, F_DUPFD, 6),
	    s = fcntl(sock, F_DUPFD, 6);
	if (d < 0 || r < 0 || s < 0 || dup2(d, 3) < 0 || dup2(s, 4) < 0 || dup2(r, 5) < 0)
		_exit(1);
	close_range(6, ~0U, 0);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* background work: the next container's start comes first. SCHED_BATCH: a message
	 * wakes us without preempting the daemon on its CPU (woken as a normal task we took
	 * it for the whole teardown, ~1 ms, in the middle of an exit); still a fair share,
	 * never starved while holding a kernel lock the daemon needs (SCHED_IDLE could be) */
	setpriority(PRIO_PROCESS, 0, 10);
	sched_setscheduler(0, SCHED_BATCH, &(struct sched_param){0});
	pthread_t t;
	if (pthread_create(&t, NULL, tree_worker, NULL) != 0 ||
	    pthread_create(&t, NULL, sync_worker, NULL) != 0)
		_exit(1);
	serve(4);
}

/* --- the daemon's side --- */

static void on_event(pl_loop_t *loop, int fd, uint32_t events, void *data);

static void set_events(pl_janitor_t *j)
{
	uint32_t ev = EPOLLIN | (fifo_len(&j->backlog) ? EPOLLOUT : 0);
	if (j->watch && ev != j->events && pl_loop_watch_modify(j->loop, j->watch, ev) == 0)
		j->events = ev;
}

static bool spawn(pl_janitor_t *j)
{
	if (j->deaths >= MAX_DEATHS)
		return false;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return false;
	pid_t self = getpid();
	pid_t pid = fork(); /* the daemon is single-threaded: fork is safe here */
	if (pid == 0)
		child(self, j->dirfd, j->run_dirfd, sv[1]);
	close(sv[1]);
	if (pid < 0) {
		close(sv[0]);
		return false;
	}
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	j->events = EPOLLIN;
	j->watch = pl_loop_watch(j->loop, sv[0], EPOLLIN, on_event, j, NULL);
	if (!j->watch) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(sv[0]);
		return false;
	}
	j->sock = sv[0];
	j->pid = pid;
	return true;
}

/* No child to be had: the work is done here, on the loop, as it was before the janitor. */
static void syncs_here(pl_janitor_t *j);

static void work_here(pl_janitor_t *j)
{
	syncs_here(j);
	while (fifo_len(&j->backlog)) {
		msg_t m = pop(&j->backlog);
		if (m.op == 'S')
			continue; /* done by syncs_here */
		if (m.op == 'H') {
			close(m.fd);
			j->closed++;
		} else {
			pl_remove_tree_at(m.op == 'R' ? j->run_dirfd : j->dirfd, m.name, NULL);
			free(m.name);
			j->trees_pending--;
		}
	}
}

static void child_gone(pl_janitor_t *j);

static void flush(pl_janitor_t *j)
{
	if (!fifo_len(&j->backlog))
		return;
	if (j->sock < 0 && !spawn(j)) {
		work_here(j);
		return;
	}
	while (fifo_len(&j->backlog)) {
		msg_t *m = &j->backlog.v[j->backlog.head];
		ssize_t n;
		if (m->op == 'H' || m->op == 'S') {
			n = pl_send_fds(j->sock, m->op == 'H' ? "H" : "S", 1, &m->fd, 1,
					MSG_DONTWAIT);
		} else {
			char buf[NAME_MAX_LEN + 2];
			int len = snprintf(buf, sizeof(buf), "%c%s", m->op, m->name);
			n = send(j->sock, buf, (size_t)len, MSG_DONTWAIT | MSG_NOSIGNAL);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			child_gone(j);
			return;
		}
		msg_t sent = pop(&j->backlog);
		if (sent.op == 'H')
			close(sent.fd);	 /* the child has its own now */
		else if (sent.op != 'S') /* a sync's fd is in j->syncs until answered */
			push(&j->trees, sent);
	}
	set_events(j);
}

/* The child died (killed, or the socket broke): what it held is closed by the kernel; the
 * trees it had not deleted go to the next child. */
static void child_gone(pl_janitor_t *j)
{
	j->watch = pl_loop_unwatch(j->loop, j->watch);
	j->sock = pl_close(j->sock);
	if (j->pid > 0) {
		kill(j->pid, SIGKILL);
		waitpid(j->pid, NULL, 0);
	}
	j->pid = 0;
	j->deaths++;
	size_t waiting = 0;
	for (size_t i = j->backlog.head; i < j->backlog.n; i++)
		waiting += j->backlog.v[i].op == 'H';
	j->closed = j->handed - waiting;
	fifo_t again = {0};
	while (fifo_len(&j->trees))
		push(&again, pop(&j->trees));
	while (fifo_len(&j->backlog)) {
		msg_t m = pop(&j->backlog);
		if (m.op != 'S')
			push(&again, m);
	}
	free(j->backlog.v);
	j->backlog = again;
	pl_log_warn("janitor: its worker process ended; %s",
		    j->deaths >= MAX_DEATHS ? "deleting on the loop from now on"
					    : "starting another");
	syncs_here(j); /* a start waits for them: not for another child */
	flush(j);
}

/* The oldest sync is answered: its fd closed, its caller told. */
static void sync_done(pl_janitor_t *j, bool ok)
{
	if (!j->n_syncs)
		return;
	sync_req_t r = j->syncs[0];
	memmove(j->syncs, j->syncs + 1, (j->n_syncs - 1) * sizeof(*j->syncs));
	j->n_syncs--;
	close(r.fd);
	j->last_sync_ok = ok;
	if (r.cb)
		r.cb(r.data, ok);
}

/* The syncs asked so far (not those a callback asks meanwhile: a new child has them). */
static void syncs_here(pl_janitor_t *j)
{
	for (size_t n = j->n_syncs; n > 0 && j->n_syncs; n--)
		sync_done(j, fsync_domain(j->syncs[0].fd, j->dirfd));
}

static void read_acks(pl_janitor_t *j)
{
	for (;;) {
		char buf[16];
		ssize_t n = recv(j->sock, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			child_gone(j);
			return;
		}
		if (buf[0] == 'H') {
			j->closed++;
		} else if (buf[0] == 'S') {
			sync_done(j, n > 1 && buf[1] == '1');
		} else if (buf[0] == 'T' && fifo_len(&j->trees)) {
			free(pop(&j->trees).name);
			j->trees_pending--;
		}
	}
}

static void on_event(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	pl_janitor_t *j = data;
	read_acks(j); /* also sees the end of a child that died */
	if (j->sock >= 0 && (events & EPOLLOUT))
		flush(j);
}

pl_janitor_t *pl_janitor_new(pl_loop_t *loop, int dirfd, int run_dirfd)
{
	pl_janitor_t *j = pl_xcalloc(1, sizeof(*j));
	j->loop = loop;
	j->dirfd = dirfd;
	j->run_dirfd = run_dirfd;
	j->sock = -1;
	/* now, while the daemon is small, not on the first removal's path */
	spawn(j);
	return j;
}

void pl_janitor_remove(pl_janitor_t *j, bool run_dir, const char *name)
{
	if (strlen(name) > NAME_MAX_LEN) { /* never ours; kept correct anyway */
		pl_remove_tree_at(run_dir ? j->run_dirfd : j->dirfd, name, NULL);
		return;
	}
	push(&j->backlog, (msg_t){.op = run_dir ? 'R' : 'T', .name = pl_xstrdup(name), .fd = -1});
	j->trees_pending++;
	flush(j);
}

uint64_t pl_janitor_hand(pl_janitor_t *j, int fd)
{
	push(&j->backlog, (msg_t){.op = 'H', .fd = fd});
	uint64_t ticket = ++j->handed;
	flush(j);
	return ticket;
}

uint64_t pl_janitor_sync(pl_janitor_t *j, int dirfd, pl_janitor_sync_fn cb, void *data, bool *ok)
{
	int fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0 || (j->sock < 0 && !spawn(j))) {
		*ok = fsync_domain(dirfd, j->dirfd);
		pl_close(fd);
		return 0;
	}
	if (j->n_syncs == j->cap_syncs) {
		j->cap_syncs = j->cap_syncs ? 2 * j->cap_syncs : 16;
		j->syncs = pl_xrealloc(j->syncs, j->cap_syncs * sizeof(*j->syncs));
	}
	uint64_t ticket = ++j->sync_tickets;
	/* no callback until we return: a child found gone while sending makes the daemon do it
	 * here and now, and the caller learns that from our answer */
	j->syncs[j->n_syncs++] = (sync_req_t){.ticket = ticket, .fd = fd, .data = data};
	push(&j->backlog, (msg_t){.op = 'S', .fd = fd});
	flush(j);
	for (size_t i = 0; i < j->n_syncs; i++)
		if (j->syncs[i].ticket == ticket) {
			j->syncs[i].cb = cb;
			return ticket;
		}
	*ok = j->last_sync_ok;
	return 0;
}

static bool sync_pending(const pl_janitor_t *j, uint64_t ticket)
{
	for (size_t i = 0; i < j->n_syncs; i++)
		if (j->syncs[i].ticket == ticket)
			return true;
	return false;
}

void pl_janitor_sync_cancel(pl_janitor_t *j, uint64_t ticket)
{
	for (size_t i = 0; j && i < j->n_syncs; i++)
		if (j->syncs[i].ticket == ticket)
			j->syncs[i].cb = NULL;
}

bool pl_janitor_handle_closed(const pl_janitor_t *j, uint64_t ticket)
{
	return !j || j->closed >= ticket;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Blocks (at most timeout_ms) until done(j, ticket). */
static void wait_for(pl_janitor_t *j, uint64_t ticket, int timeout_ms,
		     bool (*done)(const pl_janitor_t *, uint64_t), const char *what)
{
	int64_t deadline = now_ms() + timeout_ms;
	while (!done(j, ticket)) {
		flush(j);
		if (j->sock < 0 || done(j, ticket))
			break; /* worked here */
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			pl_log_warn("janitor: %s is not finished after %d ms", what, timeout_ms);
			return;
		}
		struct pollfd p = {.fd = j->sock,
				   .events = POLLIN | (fifo_len(&j->backlog) ? POLLOUT : 0)};
		poll(&p, 1, (int)left);
		read_acks(j);
	}
}

void pl_janitor_settle(pl_janitor_t *j, uint64_t ticket, int timeout_ms)
{
	wait_for(j, ticket, timeout_ms, pl_janitor_handle_closed, "a domain's teardown");
}

static bool synced(const pl_janitor_t *j, uint64_t ticket)
{
	return !sync_pending(j, ticket);
}

void pl_janitor_sync_wait(pl_janitor_t *j, uint64_t ticket, int timeout_ms)
{
	wait_for(j, ticket, timeout_ms, synced, "a domain's fsync");
}

size_t pl_janitor_pending(const pl_janitor_t *j)
{
	return j ? j->trees_pending + (size_t)(j->handed - j->closed) : 0;
}

pl_janitor_t *pl_janitor_free(pl_janitor_t *j)
{
	if (!j)
		return NULL;
	j->watch = pl_loop_unwatch(j->loop, j->watch);
	/* a domain whose create was answered is durable before we go (their callers are) */
	for (size_t i = 0; i < j->n_syncs; i++)
		j->syncs[i].cb = NULL;
	syncs_here(j);
	free(j->syncs);
	j->sock = pl_close(j->sock);
	if (j->pid > 0) {
		/* not left to finish a tree the next daemon's start may be deleting too */
		kill(j->pid, SIGKILL);
		waitpid(j->pid, NULL, 0);
	}
	while (fifo_len(&j->backlog)) {
		msg_t m = pop(&j->backlog);
		if (m.op == 'H')
			close(m.fd);
		free(m.name);
	}
	while (fifo_len(&j->trees))
		free(pop(&j->trees).name);
	free(j->backlog.v);
	free(j->trees.v);
	free(j);
	return NULL;
}
