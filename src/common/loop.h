/* SPDX-License-Identifier: Apache-2.0 */
/* The single-threaded event loop every long-lived fd lives on: epoll for I/O, one timerfd
 * per timer. Callbacks may add or remove watches (including their own) while dispatching.
 * Owns the watches and timers it hands out; the fds stay the caller's. */
#pragma once

#include <stdint.h>
#include "common/error.h"

typedef struct pl_loop pl_loop_t;
typedef struct pl_watch pl_watch_t;
typedef struct pl_timer pl_timer_t;

typedef void (*pl_io_fn)(pl_loop_t *loop, int fd, uint32_t events, void *data);
typedef void (*pl_timer_fn)(pl_loop_t *loop, void *data);
/* Called once per iteration after dispatch (the HTTP front uses it to run libmicrohttpd). */
typedef void (*pl_idle_fn)(pl_loop_t *loop, void *data);

pl_loop_t *pl_loop_new(pl_error_t **err);
pl_loop_t *pl_loop_free(pl_loop_t *loop);

pl_watch_t *pl_loop_watch(pl_loop_t *loop, int fd, uint32_t events, pl_io_fn fn, void *data,
			  pl_error_t **err);
int pl_loop_watch_modify(pl_loop_t *loop, pl_watch_t *w, uint32_t events);
/* Removes the watch (safe from inside its own callback); returns NULL. */
pl_watch_t *pl_loop_unwatch(pl_loop_t *loop, pl_watch_t *w);

/* One-shot timer firing after ms milliseconds. */
pl_timer_t *pl_loop_timer(pl_loop_t *loop, uint64_t ms, pl_timer_fn fn, void *data,
			  pl_error_t **err);
/* Cancels a pending timer (safe from inside its own callback); returns NULL. */
pl_timer_t *pl_loop_timer_cancel(pl_loop_t *loop, pl_timer_t *t);

void pl_loop_set_idle(pl_loop_t *loop, pl_idle_fn fn, void *data);
/* Upper bound for the next wait, re-armed every iteration (e.g. from MHD_get_timeout). */
typedef int64_t (*pl_timeout_fn)(void *data);
void pl_loop_set_timeout_hook(pl_loop_t *loop, pl_timeout_fn fn, void *data);

int pl_loop_run(pl_loop_t *loop, pl_error_t **err);
void pl_loop_quit(pl_loop_t *loop);
