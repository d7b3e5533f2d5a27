/* SPDX-License-Identifier: Apache-2.0 */
/* The interactive side of plctl (run -i/-t, exec, attach): raw mode that is undone on every
 * way out, the window size, SIGWINCH as something poll can wait on, the detach key sequence
 * as the daemon reads it, and the pump that joins our stdin/stdout/stderr to an upgraded
 * attach stream.
 *
 * Owns process-wide state: the terminal settings saved by pl_term_raw (one terminal per
 * process) and the SIGWINCH self-pipe; set them up from the main thread. */
#pragma once

#include "common/util.h"

#include <stdbool.h>
#include <stdint.h>

#include <stddef.h>

#include "common/error.h"

/* Saves fd's settings and puts it in raw mode (cfmakeraw). From then on the settings come
 * back on pl_term_restore, at exit(), and on SIGHUP, SIGINT, SIGTERM, SIGQUIT and SIGPIPE
 * (restored, then the signal takes its default action). */
int pl_term_raw(int fd, pl_error_t **err);
/* Puts the saved settings back; a no-op when nothing was saved. Async-signal-safe. */
void pl_term_restore(void);

/* The window size of the first of fds that is a terminal; false if none is. */
bool pl_term_size(const int *fds, int n_fds, unsigned *rows, unsigned *cols);

/* A read end that becomes readable on every SIGWINCH (installs the handler on first use).
 * Returns the fd or < 0 with *err. pl_term_winch_drain empties it after a wakeup. */
int pl_term_winch_fd(pl_error_t **err);
void pl_term_winch_drain(int fd);

/* Follows the user's input for the detach sequence across reads. */
typedef struct pl_detach_watch {
	uint8_t keys[16];
	int len, matched;
} pl_detach_watch_t;

/* True when buf completes the sequence (the daemon then ends the stream). */
bool pl_detach_watch_feed(pl_detach_watch_t *w, const uint8_t *buf, size_t n);

/* Joins our standard streams to an upgraded attach/exec stream until the daemon ends it.
 * Borrows every fd. Writes to the socket never block, so output keeps flowing while the
 * daemon holds our input back. */
typedef struct pl_pump {
	int sock;     /* the upgraded stream */
	bool raw;     /* the daemon sends raw tty bytes (all to stdout), else the framing */
	bool in;      /* forward stdin, and half-close the stream at its EOF */
	int winch_fd; /* -1, or pl_term_winch_fd(): on_resize runs on every change */
	int stop_fd;  /* -1, or an fd whose readability ends the pump early */
	void (*on_resize)(void *data);
	void *data;
	pl_detach_watch_t detach; /* the sequence the daemon was given */
	bool detached;		  /* set when our input completed it */
} pl_pump_t;

/* Returns 0 when the stream ended (or stop_fd fired), < 0 with *err when writing our
 * output failed. */
int pl_pump_run(pl_pump_t *p, pl_error_t **err);
