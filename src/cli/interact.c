/* SPDX-License-Identifier: Apache-2.0 */
/* plctl: interactive sessions (attach and exec streams, a tty of our own), signal
 * forwarding, and waiting for a container. */
#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

bool pl_cli_valid_detach_keys(const char *spec)
{
	uint8_t keys[16];
	return pl_detach_keys_parse(spec, keys) >= 0;
}

int pl_cli_bad_detach_keys(const char *cmd, const char *spec)
{
	return pl_cli_usage_error(
	    cmd,
	    "invalid detach keys '%s' (want a comma-separated list of characters "
	    "or ctrl-<key>, e.g. ctrl-p,ctrl-q)",
	    spec);
}
static int write_frame(int stream, const char *data, size_t len, void *userdata)
{
	return pl_write_all(stream == PL_STREAM_STDERR ? STDERR_FILENO : STDOUT_FILENO, data, len);
}

/* Streams a container's log (o) to our stdout/stderr. */
int pl_cli_stream_logs(pl_client_t *c, const char *id, const pl_logs_opts_t *o, pl_error_t **err)
{
	pl_demux_t demux;
	pl_demux_init(&demux, write_frame, NULL);
	fflush(stdout); /* frames are written with write(2), after anything buffered */
	return pl_container_logs(c, id, o, pl_demux_feed_cb, &demux, err);
}

/* What the handler sends, written out before the signals are let in: socket, connect, send,
 * poll, recv, clock_gettime, write and close are all async-signal-safe. */
static struct {
	struct sockaddr_un sa;
	char req[2][640]; /* SIGINT's kill request, SIGTERM's */
	int len[2];
} fwd;

static long ms_until(const struct timespec *end)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (end->tv_sec - now.tv_sec) * 1000 + (end->tv_nsec - now.tv_nsec) / 1000000;
}

/* Posts sig's kill and reads the answer's status line, for 10 s at the most (the thread it
 * interrupted, the output's, waits meanwhile); says on stderr when it could not. */
static void forward_signal(int sig)
{
	int saved = errno;
	int i = sig == SIGINT ? 0 : 1;
	char head[16] = "";
	size_t got = 0;
	const char *why = NULL;
	/* non-blocking: a daemon whose listen backlog is full refuses at once (EAGAIN) */
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)&fwd.sa, sizeof(fwd.sa)) < 0 ||
	    send(fd, fwd.req[i], (size_t)fwd.len[i], MSG_NOSIGNAL) != fwd.len[i]) {
		why = "cannot reach the port layer";
	} else {
		struct timespec end;
		clock_gettime(CLOCK_MONOTONIC, &end);
		end.tv_sec += 10;
		while (got < 12) {
			long left = ms_until(&end);
			struct pollfd pf = {.fd = fd, .events = POLLIN};
			int r = left > 0 ? poll(&pf, 1, (int)left) : 0;
			if (r < 0 && errno == EINTR)
				continue;
			ssize_t n = r > 0 ? recv(fd, head + got, 12 - got, 0) : 0;
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		/* "HTTP/1.1 2xx" sent it; 409: it already stopped, nothing to forward to */
		if (got < 12)
			why = "no answer from the port layer";
		else if (head[9] != '2' && memcmp(head + 9, "409", 3) != 0)
			why = "the port layer refused it";
	}
	if (fd >= 0)
		close(fd);
	if (why) {
		static const char pre[] = "plctl: the signal was not forwarded to the container: ";
		ssize_t w = write(STDERR_FILENO, pre, sizeof(pre) - 1);
		w = write(STDERR_FILENO, why, strlen(why));
		w = write(STDERR_FILENO, "\n", 1);
		(void)w;
	}
	errno = saved;
}

void pl_cli_block_forwarded_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	/* Shells start background jobs with SIGINT ignored, and an ignored signal is discarded
	 * even while blocked; like docker, forward it anyway. Blocked, the default action never
	 * runs. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
}

int pl_cli_forwarder_start(forwarder_t *f, const pl_client_t *c, const char *id, pl_error_t **err)
{
	const char *path = pl_client_socket_path(c);
	if (strlen(path) >= sizeof(fwd.sa.sun_path))
		return pl_error_set(err, PL_ERR_INVALID, 0, "socket path too long: %s", path);
	fwd.sa = (struct sockaddr_un){.sun_family = AF_UNIX};
	memcpy(fwd.sa.sun_path, path, strlen(path) + 1);
	_cleanup_free_ char *eid = pl_client_escape(NULL, id);
	static const int sigs[2] = {SIGINT, SIGTERM};
	for (int i = 0; i < 2; i++) {
		fwd.len[i] = snprintf(fwd.req[i], sizeof(fwd.req[i]),
				      "POST " PL_CLIENT_API_PREFIX "/containers/%s/kill?signal=%s "
				      "HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n"
				      "Connection: close\r\n\r\n",
				      eid, pl_signal_name(sigs[i]));
		if (fwd.len[i] < 0 || (size_t)fwd.len[i] >= sizeof(fwd.req[i]))
			return pl_error_set(err, PL_ERR_INVALID, 0, "container id too long: %s",
					    id);
	}
	struct sigaction sa = {.sa_handler = forward_signal, .sa_flags = SA_RESTART};
	sa.sa_mask = f->set; /* one at a time in a thread (another thread may take the other) */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	pthread_sigmask(SIG_UNBLOCK, &f->set, NULL);
	f->running = true;
	return 0;
}

/* Blocks them again (for good: a user's signal arriving in the same instant is dropped,
 * which is fine, the container is gone) and puts the default actions back. */
void pl_cli_forwarder_stop(forwarder_t *f)
{
	if (!f->running)
		return;
	pthread_sigmask(SIG_BLOCK, &f->set, NULL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	f->running = false;
}

/* POST wait; returns the exit code (0-255) or < 0 with *err. */
int pl_cli_wait_container(pl_client_t *c, const char *id, const char *timeout, pl_error_t **err)
{
	double t = -1;
	if (timeout) {
		char *end;
		errno = 0;
		t = strtod(timeout, &end);
		if (errno || end == timeout || *end || !(t >= 0))
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "invalid timeout '%s' (seconds)", timeout);
	}
	pl_exit_status_t st;
	int r = pl_container_wait_for(c, id, NULL, t, &st, err);
	if (st.error && *st.error && r >= 0)
		fprintf(stderr, "plctl: %s: %s\n", id, st.error);
	pl_exit_status_clear(&st);
	return r < 0 ? r : st.exit_code;
}
/* ---- interactive sessions: attach and exec streams ---- */

/* Sends the size of our terminal, if we have one. Quietly: the session may have ended a
 * moment ago, and a size is never worth failing a session for. */
void pl_cli_send_size(void *data)
{
	static const int fds[] = {STDOUT_FILENO, STDIN_FILENO, STDERR_FILENO};
	const resize_target_t *t = data;
	unsigned rows, cols;
	if (!pl_term_size(fds, (int)PL_ARRAY_SIZE(fds), &rows, &cols))
		return;
	_cleanup_error_ pl_error_t *err = NULL;
	if (t->exec)
		pl_exec_resize(t->c, t->id, (int)rows, (int)cols, &err);
	else
		pl_container_resize(t->c, t->id, (int)rows, (int)cols, &err);
}

/* The detach keys a session is given: the user's, else docker's rule: ctrl-p,ctrl-q with a
 * tty, none without one, where the input is data that may hold any pair of bytes. */
const char *pl_cli_session_detach_keys(const char *given, bool tty)
{
	if (given)
		return given;
	return tty ? DEFAULT_DETACH_KEYS : "";
}

static void watch_detach_keys(pl_detach_watch_t *w, const char *spec)
{
	w->matched = 0;
	w->len = pl_detach_keys_parse(spec, w->keys);
	if (w->len < 0) /* checked with the flags already */
		w->len = 0;
}

/* The SIGWINCH pipe, when there is a terminal whose size could change; -1 otherwise. Made
 * before the stream opens, so no change between the first size and the pump is missed. */
static int winch_fd(void)
{
	if (!isatty(STDIN_FILENO) && !isatty(STDOUT_FILENO))
		return -1;
	_cleanup_error_ pl_error_t *err = NULL;
	int fd = pl_term_winch_fd(&err);
	return fd < 0 ? -1 : fd;
}

/* Runs one session stream (t: the container's attach, or the exec's start; stdin when in,
 * with detach_keys) to its end: the upgrade, raw mode when it is a tty fed from our
 * terminal, the first size, then the pump. Sets *detached when the user typed the detach
 * keys (the process runs on). */
int pl_cli_interact(pl_client_t *c, const resize_target_t *t, bool in, const char *detach_keys,
		    bool *detached, pl_error_t **err)
{
	*detached = false;
	int winch = winch_fd();
	pl_upgraded_t up;
	pl_attach_opts_t o = {.stdin_ = in,
			      .stdout_ = true,
			      .stderr_ = true,
			      .stream = true,
			      .detach_keys = detach_keys};
	if ((t->exec ? pl_exec_start_stream(c, t->id, &o, &up, err)
		     : pl_container_attach(c, t->id, &o, &up, err)) < 0)
		return -1;
	_cleanup_close_ int fd = up.fd;
	resize_target_t target = *t;
	pl_pump_t pump = {
	    .sock = fd,
	    .raw = up.raw,
	    .in = in,
	    .winch_fd = up.raw ? winch : -1,
	    .stop_fd = -1,
	    .on_resize = pl_cli_send_size,
	    .data = &target,
	};
	watch_detach_keys(&pump.detach, in ? detach_keys : "");
	if (up.raw && in && isatty(STDIN_FILENO) && pl_term_raw(STDIN_FILENO, err) < 0)
		return -1;
	if (up.raw)
		pl_cli_send_size(&target);
	fflush(stdout); /* the pump writes with write(2), after anything buffered */
	int r = pl_pump_run(&pump, err);
	pl_term_restore();
	*detached = pump.detached;
	return r;
}

static void *feed_stdin(void *arg)
{
	stdin_feeder_t *f = arg;
	pl_pump_run(&f->pump, NULL);
	return NULL;
}

int pl_cli_feeder_start(stdin_feeder_t *f, pl_client_t *c, const char *id, const char *detach_keys,
			pl_error_t **err)
{
	*f = (stdin_feeder_t){.fd = -1, .stop = {-1, -1}};
	pl_upgraded_t up;
	pl_attach_opts_t o = {.stdin_ = true, .stream = true, .detach_keys = detach_keys};
	if (pl_container_attach(c, id, &o, &up, err) < 0)
		return -1;
	f->fd = up.fd;
	if (pipe2(f->stop, O_CLOEXEC) < 0)
		return pl_error_errno(err, "pipe");
	f->pump = (pl_pump_t){.sock = f->fd, .in = true, .winch_fd = -1, .stop_fd = f->stop[0]};
	watch_detach_keys(&f->pump.detach, detach_keys);
	int r = pthread_create(&f->thread, NULL, feed_stdin, f);
	if (r != 0)
		return pl_error_set(err, PL_ERR_INTERNAL, r, "start the stdin thread");
	f->running = true;
	return 0;
}

void pl_cli_feeder_stop(stdin_feeder_t *f)
{
	if (f->running) {
		char b = 0;
		if (write(f->stop[1], &b, 1) < 0)
			abort(); /* a fresh pipe always has room for one byte */
		pthread_join(f->thread, NULL);
		f->running = false;
	}
	f->fd = pl_close(f->fd);
	f->stop[0] = pl_close(f->stop[0]);
	f->stop[1] = pl_close(f->stop[1]);
}

/* run -it: the daemon holds the process until this attach, so the first prompt reaches us;
 * then the size, the pump, and the container's exit code. */
