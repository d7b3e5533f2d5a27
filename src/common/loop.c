/* SPDX-License-Identifier: Apache-2.0 */
#include "common/loop.h"
#include "common/cleanup.h"

#include <errno.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

struct pl_watch {
	int fd;
	pl_io_fn fn;
	pl_timer_fn tfn; /* set for timers, whose fd is our own timerfd */
	void *data;
	bool dead;
	struct pl_watch *next_dead;
};

struct pl_timer {
	struct pl_watch w;
};

struct pl_loop {
	int epfd;
	bool quit;
	pl_watch_t *dead; /* freed after the dispatch round that unlinked them */
	pl_idle_fn idle;
	void *idle_data;
	pl_timeout_fn timeout;
	void *timeout_data;
};

pl_loop_t *pl_loop_new(pl_error_t **err)
{
	pl_loop_t *l = pl_xcalloc(1, sizeof(*l));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		pl_error_errno(err, "epoll_create1");
		free(l);
		return NULL;
	}
	return l;
}

static void reap_dead(pl_loop_t *l)
{
	while (l->dead) {
		pl_watch_t *w = l->dead;
		l->dead = w->next_dead;
		free(w);
	}
}

pl_loop_t *pl_loop_free(pl_loop_t *l)
{
	if (!l)
		return NULL;
	reap_dead(l);
	close(l->epfd);
	free(l);
	return NULL;
}

static pl_watch_t *add(pl_loop_t *l, pl_watch_t *w, uint32_t events, pl_error_t **err)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0) {
		pl_error_errno(err, "epoll add fd %d", w->fd);
		free(w);
		return NULL;
	}
	return w;
}

pl_watch_t *pl_loop_watch(pl_loop_t *l, int fd, uint32_t events, pl_io_fn fn, void *data,
			  pl_error_t **err)
{
	pl_watch_t *w = pl_xcalloc(1, sizeof(*w));
	w->fd = fd;
	w->fn = fn;
	w->data = data;
	return add(l, w, events, err);
}

int pl_loop_watch_modify(pl_loop_t *l, pl_watch_t *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

pl_watch_t *pl_loop_unwatch(pl_loop_t *l, pl_watch_t *w)
{
	if (!w || w->dead)
		return NULL;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->dead = true;
	w->next_dead = l->dead;
	l->dead = w;
	return NULL;
}

pl_timer_t *pl_loop_timer(pl_loop_t *l, uint64_t ms, pl_timer_fn fn, void *data, pl_error_t **err)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fd < 0) {
		pl_error_errno(err, "timerfd_create");
		return NULL;
	}
	struct itimerspec its = {
	    .it_value = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L}};
	if (ms == 0)
		its.it_value.tv_nsec = 1;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		pl_error_errno(err, "timerfd_settime");
		close(fd);
		return NULL;
	}
	pl_timer_t *t = pl_xcalloc(1, sizeof(*t));
	t->w.fd = fd;
	t->w.tfn = fn;
	t->w.data = data;
	if (!add(l, &t->w, EPOLLIN, err)) {
		close(fd);
		return NULL;
	}
	return t;
}

pl_timer_t *pl_loop_timer_cancel(pl_loop_t *l, pl_timer_t *t)
{
	if (!t || t->w.dead)
		return NULL;
	int fd = t->w.fd;
	pl_loop_unwatch(l, &t->w);
	close(fd);
	return NULL;
}

void pl_loop_set_idle(pl_loop_t *l, pl_idle_fn fn, void *data)
{
	l->idle = fn;
	l->idle_data = data;
}

void pl_loop_set_timeout_hook(pl_loop_t *l, pl_timeout_fn fn, void *data)
{
	l->timeout = fn;
	l->timeout_data = data;
}

void pl_loop_quit(pl_loop_t *l)
{
	l->quit = true;
}

int pl_loop_run(pl_loop_t *l, pl_error_t **err)
{
	struct epoll_event evs[64];
	/* a loop may be run again after a quit (tests drive it until a condition holds) */
	l->quit = false;
	while (!l->quit) {
		int64_t timeout = l->timeout ? l->timeout(l->timeout_data) : -1;
		int n = epoll_wait(l->epfd, evs, (int)PL_ARRAY_SIZE(evs),
				   timeout > INT32_MAX ? INT32_MAX : (int)timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return pl_error_errno(err, "epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			pl_watch_t *w = evs[i].data.ptr;
			if (w->dead)
				continue;
			if (w->tfn) {
				pl_timer_t *t = (pl_timer_t *)w;
				pl_timer_fn fn = w->tfn;
				void *data = w->data;
				pl_loop_timer_cancel(l, t); /* one-shot: gone before it runs */
				fn(l, data);
			} else {
				w->fn(l, w->fd, evs[i].events, w->data);
			}
		}
		if (l->idle)
			l->idle(l, l->idle_data);
		reap_dead(l);
	}
	l->quit = false; /* it may be run again (the HTTP fuzzer runs it a step at a time) */
	return 0;
}
