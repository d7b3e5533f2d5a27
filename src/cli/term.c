/* SPDX-License-Identifier: Apache-2.0 */
#include "cli/term.h"
#include "client/client.h"
#include "common/cleanup.h"
#include "common/fs.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

/* Written before the handlers that read them are installed, never changed after. */
static struct termios saved;
static int saved_fd = -1;
static volatile sig_atomic_t raw_on;

static const int fatal_signals[] = {SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGPIPE};

void pl_term_restore(void)
{
	if (raw_on) {
		tcsetattr(saved_fd, TCSANOW, &saved);
		raw_on = 0;
	}
}

static void restore_and_die(int sig)
{
	pl_term_restore();
	signal(sig, SIG_DFL);
	raise(sig); /* delivered once this handler returns: the signal is unblocked again */
}

static void restore_at_exit(void)
{
	pl_term_restore();
}

int pl_term_raw(int fd, pl_error_t **err)
{
	static bool hooked;
	struct termios t;
	if (tcgetattr(fd, &saved) < 0)
		return pl_error_errno(err, "read the terminal settings");
	saved_fd = fd;
	if (!hooked) {
		atexit(restore_at_exit);
		for (size_t i = 0; i < PL_ARRAY_SIZE(fatal_signals); i++) {
			struct sigaction sa = {.sa_handler = restore_and_die};
			sigemptyset(&sa.sa_mask);
			struct sigaction old;
			/* a signal the caller ignores (SIGPIPE, or nohup's SIGHUP) stays ignored */
			if (sigaction(fatal_signals[i], NULL, &old) == 0 &&
			    old.sa_handler == SIG_IGN)
				continue;
			sigaction(fatal_signals[i], &sa, NULL);
		}
		hooked = true;
	}
	t = saved;
	cfmakeraw(&t);
	raw_on = 1;
	if (tcsetattr(fd, TCSANOW, &t) < 0) {
		raw_on = 0;
		return pl_error_errno(err, "put the terminal in raw mode");
	}
	return 0;
}

bool pl_term_size(const int *fds, int n_fds, unsigned *rows, unsigned *cols)
{
	for (int i = 0; i < n_fds; i++) {
		struct winsize ws;
		if (isatty(fds[i]) && ioctl(fds[i], TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
		    ws.ws_col > 0) {
			*rows = ws.ws_row;
			*cols = ws.ws_col;
			return true;
		}
	}
	return false;
}

static int winch_pipe[2] = {-1, -1};

static void on_winch(int sig)
{
	int saved_errno = errno;
	char b = 0;
	/* a full pipe already says "changed": dropping the byte loses nothing */
	ssize_t n = write(winch_pipe[1], &b, 1);
	(void)n;
	errno = saved_errno;
}

int pl_term_winch_fd(pl_error_t **err)
{
	if (winch_pipe[0] >= 0)
		return winch_pipe[0];
	if (pipe2(winch_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return pl_error_errno(err, "pipe");
	struct sigaction sa = {.sa_handler = on_winch, .sa_flags = SA_RESTART};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGWINCH, &sa, NULL) < 0)
		return pl_error_errno(err, "install the SIGWINCH handler");
	return winch_pipe[0];
}

void pl_term_winch_drain(int fd)
{
	char buf[64];
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

bool pl_detach_watch_feed(pl_detach_watch_t *w, const uint8_t *buf, size_t n)
{
	for (size_t i = 0; i < n && w->len > 0; i++) {
		if (buf[i] == w->keys[w->matched]) {
			if (++w->matched == w->len)
				return true;
		} else {
			w->matched = buf[i] == w->keys[0] ? 1 : 0;
		}
	}
	return false;
}

static int write_frame(int stream, const char *data, size_t len, void *userdata)
{
	return pl_write_all(stream == PL_STREAM_STDERR ? STDERR_FILENO : STDOUT_FILENO, data, len);
}

int pl_pump_run(pl_pump_t *p, pl_error_t **err)
{
	enum { P_SOCK, P_IN, P_WINCH, P_STOP, P_N };
	uint8_t in_buf[65536], out_buf[65536];
	size_t in_len = 0, in_off = 0;
	bool in_open = p->in, half_closed = false;
	pl_demux_t demux;
	pl_demux_init(&demux, write_frame, NULL);

	for (;;) {
		bool pending = in_off < in_len;
		struct pollfd fds[P_N] = {
		    [P_SOCK] = {p->sock, (short)(POLLIN | (pending ? POLLOUT : 0)), 0},
		    /* one buffer of input at a time: what the daemon does not take stays ours */
		    [P_IN] = {in_open && !pending ? STDIN_FILENO : -1, POLLIN, 0},
		    [P_WINCH] = {p->winch_fd, POLLIN, 0},
		    [P_STOP] = {p->stop_fd, POLLIN, 0},
		};
		if (poll(fds, P_N, -1) < 0) {
			if (errno == EINTR)
				continue;
			return pl_error_errno(err, "poll");
		}
		if (fds[P_STOP].revents)
			return 0;
		if (fds[P_WINCH].revents) {
			pl_term_winch_drain(p->winch_fd);
			if (p->on_resize)
				p->on_resize(p->data);
		}
		if (fds[P_IN].revents) {
			ssize_t n = read(STDIN_FILENO, in_buf, sizeof(in_buf));
			if (n > 0) {
				in_len = (size_t)n;
				in_off = 0;
				/* the daemon ends the stream on the sequence: read no further */
				if (pl_detach_watch_feed(&p->detach, in_buf, in_len)) {
					p->detached = true;
					in_open = false;
				}
			} else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
				in_open = false;
			}
		}
		while (in_off < in_len) {
			ssize_t n = send(p->sock, in_buf + in_off, in_len - in_off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (n < 0) { /* the daemon closed: its reading side says why */
				in_off = in_len = 0;
				in_open = false;
				half_closed = true;
				break;
			}
			in_off += (size_t)n;
		}
		if (p->in && !in_open && !p->detached && in_off >= in_len && !half_closed) {
			shutdown(p->sock, SHUT_WR); /* EOF for the process's stdin */
			half_closed = true;
		}
		if (fds[P_SOCK].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(p->sock, out_buf, sizeof(out_buf), MSG_DONTWAIT);
			if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
				continue;
			if (n <= 0) /* the end of the stream (a reset is one too) */
				return 0;
			int r = p->raw ? pl_write_all(STDOUT_FILENO, out_buf, (size_t)n)
				       : pl_demux_feed(&demux, (const char *)out_buf, (size_t)n);
			if (r < 0)
				return pl_error_set(err, PL_ERR_INTERNAL, -r, "write output");
		}
	}
}
