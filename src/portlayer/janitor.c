/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/janitor.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"

#include <errno.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

struct pl_janitor {
	pl_loop_t *loop;
	int dirfd;
	char **queue; /* waiting for the next child */
	size_t n, cap;
	size_t running; /* names the current child deletes */
	pid_t pid;	/* the current child, 0 when none */
	int pidfd;
	pl_watch_t *watch;
};

pl_janitor_t *pl_janitor_new(pl_loop_t *loop, int dirfd)
{
	pl_janitor_t *j = pl_xcalloc(1, sizeof(*j));
	j->loop = loop;
	j->dirfd = dirfd;
	j->pidfd = -1;
	return j;
}

static void start_batch(pl_janitor_t *j);

static void on_child(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	pl_janitor_t *j = data;
	j->watch = pl_loop_unwatch(loop, j->watch);
	siginfo_t si;
	waitid((idtype_t)P_PIDFD, (id_t)j->pidfd, &si, WEXITED);
	j->pidfd = pl_close(j->pidfd);
	j->pid = 0;
	j->running = 0;
	start_batch(j);
}

static _Noreturn void child(pid_t daemon, int dirfd, char **names, size_t n)
{
	/* dies with the daemon: the next daemon deletes what is left, alone */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != daemon)
		_exit(0);
	/* nothing of the daemon's but the directory: a tether must see its daemon's socket
	 * close when the daemon dies, not when this child does */
	if (dup2(dirfd, 3) < 0)
		_exit(1);
	close_range(4, ~0U, 0);
	for (size_t i = 0; i < n; i++)
		pl_remove_tree_at(3, names[i], NULL);
	_exit(0);
}

static void start_batch(pl_janitor_t *j)
{
	if (j->pid || j->n == 0)
		return;
	pid_t self = getpid();
	pid_t pid = fork(); /* the daemon is single-threaded: fork is safe here */
	if (pid == 0)
		child(self, j->dirfd, j->queue, j->n);
	int pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	if (pid > 0 && pidfd >= 0)
		j->watch = pl_loop_watch(j->loop, pidfd, EPOLLIN, on_child, j, NULL);
	if (pid < 0 || !j->watch) {
		/* no child: delete here rather than leave the trees behind */
		if (pid > 0) {
			waitpid(pid, NULL, 0);
		} else {
			for (size_t i = 0; i < j->n; i++)
				pl_remove_tree_at(j->dirfd, j->queue[i], NULL);
		}
		if (pidfd >= 0)
			close(pidfd);
		for (size_t i = 0; i < j->n; i++)
			free(j->queue[i]);
		j->n = 0;
		return;
	}
	j->pid = pid;
	j->pidfd = pidfd;
	j->running = j->n;
	for (size_t i = 0; i < j->n; i++)
		free(j->queue[i]);
	j->n = 0;
}

void pl_janitor_remove(pl_janitor_t *j, const char *name)
{
	if (j->n == j->cap) {
		j->cap = j->cap ? 2 * j->cap : 16;
		j->queue = pl_xrealloc(j->queue, j->cap * sizeof(*j->queue));
	}
	j->queue[j->n++] = pl_xstrdup(name);
	start_batch(j);
}

size_t pl_janitor_pending(const pl_janitor_t *j)
{
	return j ? j->n + j->running : 0;
}

pl_janitor_t *pl_janitor_free(pl_janitor_t *j)
{
	if (!j)
		return NULL;
	j->watch = pl_loop_unwatch(j->loop, j->watch);
	if (j->pidfd >= 0)
		close(j->pidfd); /* the child dies with the daemon (PDEATHSIG) */
	for (size_t i = 0; i < j->n; i++)
		free(j->queue[i]);
	free(j->queue);
	free(j);
	return NULL;
}
