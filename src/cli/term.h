/* Terminal handling for plctl's interactive commands (run -it, exec -t, attach): raw mode
 * that is undone on every way out, the window size, SIGWINCH as something poll can wait on,
 * and the detach key sequence as the daemon reads it.
 *
 * Owns process-wide state: the terminal settings saved by pl_term_raw (one terminal per
 * process) and the SIGWINCH self-pipe. Not thread-safe; call from the main thread. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

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

/* Parses a detach key spec ("ctrl-p,ctrl-q", "a,ctrl-x"; "" disables detaching) the way the
 * daemon does. Returns the number of bytes written to out, or -1 for a bad spec. */
int pl_detach_keys_parse(const char *spec, uint8_t out[16]);

/* Follows the user's input for the detach sequence across reads. */
typedef struct pl_detach_watch {
	uint8_t keys[16];
	int len, matched;
} pl_detach_watch_t;

/* True when buf completes the sequence (the daemon then ends the stream). */
bool pl_detach_watch_feed(pl_detach_watch_t *w, const uint8_t *buf, size_t n);
