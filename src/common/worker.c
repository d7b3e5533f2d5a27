/* SPDX-License-Identifier: Apache-2.0 */
#include "common/worker.h"
#include "common/cleanup.h"
#include "common/json.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct job {
	struct job *next, *prev; /* the jobs running */
	pl_workers_t *w;
	pl_done_fn done;
	void *data;
	pid_t pid;
	int fd;
	pl_watch_t *watch;
	char *out;
	size_t len, cap;
} job_t;

struct pl_workers {
	pl_loop_t *loop;
	job_t *jobs;
	bool stopping;
};

pl_workers_t *pl_workers_new(pl_loop_t *loop)
{
	pl_workers_t *w = pl_xcalloc(1, sizeof(*w));
	w->loop = loop;
	return w;
}

/* The child's report: {"ok": result} or {"error": message, "kind": n}. */
static void finish(job_t *j)
{
	pl_workers_t *w = j->w;
	if (j->prev)
		j->prev->next = j->next;
	else
		w->jobs = j->next;
	if (j->next)
		j->next->prev = j->prev;
	pl_loop_unwatch(w->loop, j->watch);
	close(j->fd);
	waitpid(j->pid, NULL, 0);
	json_t *doc = j->out && !w->stopping ? json_loadb(j->out, j->len, 0, NULL) : NULL;
	json_t *ok = json_object_get(doc, "ok");
	pl_error_t *e = NULL;
	if (!ok) {
		const char *m = w->stopping ? "the daemon is shutting down"
					    : json_string_value(json_object_get(doc, "error"));
		pl_error_set(&e, (pl_errkind_t)json_integer_value(json_object_get(doc, "kind")), 0,
			     "%s", m ? m : "the worker process died");
	}
	j->done(j->data, ok, e);
	pl_error_free(e);
	if (doc)
		json_decref(doc);
	free(j->out);
	free(j);
}

pl_workers_t *pl_workers_free(pl_workers_t *w)
{
	if (!w)
		return NULL;
	/* the jobs still running end now, each told so (their owners free what they hold) */
	w->stopping = true;
	while (w->jobs) {
		kill(w->jobs->pid, SIGKILL);
		finish(w->jobs);
	}
	free(w);
	return NULL;
}

static void on_output(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	job_t *j = data;
	for (;;) {
		if (j->len + 65536 > j->cap) {
			j->cap = j->cap ? j->cap * 2 : 65536 * 2;
			j->out = pl_xrealloc(j->out, j->cap);
		}
		ssize_t n = read(fd, j->out + j->len, j->cap - j->len);
		if (n > 0) {
			j->len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		finish(j); /* EOF: the child is done */
		return;
	}
}

static _Noreturn void child(pl_work_fn fn, void *data, int fd)
{
	signal(SIGPIPE, SIG_IGN);
	pl_error_t *e = NULL;
	json_t *res = fn(data, &e);
	json_t *doc = res ? json_pack("{s:o}", "ok", res)
			  : json_pack("{s:s, s:i}", "error", e ? e->msg : "failed", "kind",
				      e ? (int)e->kind : (int)PL_ERR_INTERNAL);
	char *s = json_dumps(doc, JSON_COMPACT);
	size_t n = s ? strlen(s) : 0, off = 0;
	while (off < n) {
		ssize_t w = write(fd, s + off, n - off);
		if (w <= 0 && errno != EINTR)
			break;
		if (w > 0)
			off += (size_t)w;
	}
	_exit(res ? 0 : 1);
}

int pl_work_submit(pl_workers_t *w, pl_work_fn fn, pl_done_fn done, void *data, pl_error_t **err)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return pl_error_errno(err, "pipe");
	pid_t pid = fork(); /* the daemon is single-threaded: fork is safe here */
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return pl_error_errno(err, "fork worker");
	}
	if (pid == 0) {
		close(p[0]);
		child(fn, data, p[1]);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	job_t *j = pl_xcalloc(1, sizeof(*j));
	j->w = w;
	j->done = done;
	j->data = data;
	j->pid = pid;
	j->fd = p[0];
	j->watch = pl_loop_watch(w->loop, p[0], EPOLLIN, on_output, j, err);
	if (!j->watch) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(p[0]);
		free(j);
		return -1;
	}
	j->next = w->jobs;
	if (w->jobs)
		w->jobs->prev = j;
	w->jobs = j;
	return 0;
}
