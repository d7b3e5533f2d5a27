/* SPDX-License-Identifier: Apache-2.0 */
/* pl-tether: PID 1 of a container. Speaks the tether protocol (docs/tether-protocol.md) on
 * fd 3, runs the primary process and exec sessions, writes the primary's output to the log on
 * fd 4 in CRI format, reaps orphans, and leaves the exit record in fd 5. This file owns the
 * control stream, the phases and the main loop; sessions and their stdio live in session.c,
 * CONFIG/EXEC parsing in launch.c, process and signal mechanics behind tether/os.h.
 * Single-threaded on purpose: fork without locks held, signals read synchronously. */
#include "common/cleanup.h"
#include "tether/session.h"
#include "tether/tether.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef PL_VERSION
#define PL_VERSION "unknown"
#endif

/* After the primary exits and everything left is SIGKILLed, the pipes reach EOF as soon as
 * the kernel has torn the processes down; the deadline only guards against a writer that
 * cannot die (D state). */
#define DRAIN_DEADLINE_MS 2000
/* How long an attached daemon may take to grant the credit for the primary's last output. */
#define FLUSH_DEADLINE_MS 5000
/* A daemon that stops reading must not freeze the container's output handling forever. */
#define SEND_TIMEOUT_S 10
#define POLL_MAX       (3 + 3 * 65)
#define REJOIN_POLL_MS 200

typedef enum phase {
	AWAIT_HELLO,
	AWAIT_CONFIG,
	AWAIT_ATTACH, /* CONFIG said wait_attach: the primary starts at the first ATTACH */
	RUNNING,
	EXITING, /* the primary exited: last output to the log and the daemon, then the end */
} phase_t;

static struct tether {
	phase_t phase;
	bool ctl_in, ctl_out; /* still reading from / writing to the daemon */
	bool ready;	      /* the daemon said HELLO on this connection */
	bool lost;	      /* the connection failed; sessions are not told yet */
	bool ctl_eof;	      /* nothing more to read; frames already read still count */
	int ctl;	      /* the current daemon connection (FD_CONTROL at first) */
	bool listening;	      /* FD_LISTEN was passed */
	bool reconnects;      /* the control channel is a port a daemon rejoins (a VM's) */
	int sig_fd;
	pl_frame_reader_t rd;
	int pid;
	launch_t launch; /* CONFIG, until the primary has started */
	bool reap_first; /* --reap-first: the set-up left a child that ends by itself */
} T;

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			/* a non-blocking port (a VM's): wait as a socket's send timeout would */
			struct pollfd w = {.fd = fd, .events = POLLOUT};
			if (poll(&w, 1, SEND_TIMEOUT_S * 1000) == 1 && !(w.revents & POLLHUP))
				continue;
			return -EAGAIN;
		}
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A timeout may have left half a frame behind: the stream is unusable both ways. */
static void ctl_lost(void)
{
	T.ctl_in = T.ctl_out = T.ready = false;
	T.lost = true;
}

static bool ctl_ready(void)
{
	return T.ctl_out && T.ready;
}

__attribute__((format(printf, 3, 4))) static void ctl_error(int type, uint32_t session,
							    const char *fmt, ...);

/* Control messages. Sending never fails the container: a daemon that went away only means
 * nobody is listening, and the exit record on fd 5 remains the source of truth. */
static void ctl_send(uint16_t type, const void *payload, size_t len)
{
	if (!T.ctl_out)
		return;
	if (len > PL_FRAME_MAX_PAYLOAD) {
		/* an answer too large for one frame is refused, the link stays */
		ctl_error(type, 0, "a message of %zu bytes is past the frame limit", len);
		return;
	}
	size_t n = 0;
	_cleanup_free_ uint8_t *frame = pl_frame_encode(type, 0, payload, len, &n);
	if (!frame || write_all(T.ctl, frame, n) < 0)
		ctl_lost();
}

static void ctl_send_frame(const uint8_t *frame, size_t len)
{
	if (T.ctl_out && write_all(T.ctl, frame, len) < 0)
		ctl_lost();
}

static void ctl_send_json(uint16_t type, json_t *obj)
{
	json_auto_t *o = obj;
	_cleanup_free_ char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (s)
		ctl_send(type, s, strlen(s));
}

/* Cuts s to at most max bytes on a UTF-8 character boundary. */
static json_t *utf8_cut(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return json_string(s);
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	return json_stringn(s, max);
}

/* TOP's answer in one frame: the processes' command lines are what a container controls
 * (up to a page each, JSON-escaped up to six times over), so they are shortened until the
 * list fits; a list that cannot is refused as TOP_REQUEST's error. */
static void send_top(json_t *top)
{
	static const size_t arg_max[] = {0, 256, 32, 0};
	static const size_t args_max[] = {0, 32, 4, 0};
	for (size_t round = 0; round < PL_ARRAY_SIZE(arg_max); round++) {
		json_t *procs = json_object_get(top, "processes");
		size_t i;
		json_t *p;
		json_array_foreach(procs, i, p)
		{
			json_t *args = json_object_get(p, "args");
			if (round == 0 || !json_is_array(args))
				continue;
			json_t *cut = json_array();
			for (size_t k = 0; k < json_array_size(args) && k < args_max[round]; k++) {
				json_t *a = utf8_cut(json_string_value(json_array_get(args, k)),
						     arg_max[round]);
				json_array_append_new(cut, a ? a : json_string("?"));
			}
			json_object_set_new(p, "args", cut);
		}
		_cleanup_free_ char *s = json_dumps(top, JSON_COMPACT);
		if (s && strlen(s) <= PL_FRAME_MAX_PAYLOAD) {
			ctl_send(PL_MSG_TOP, s, strlen(s));
			json_decref(top);
			return;
		}
	}
	json_decref(top);
	ctl_error(PL_MSG_TOP_REQUEST, 0, "too many processes to list in one message");
}

__attribute__((format(printf, 3, 4))) static void ctl_error(int type, uint32_t session,
							    const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *o = json_pack("{ss}", "message", msg);
	if (o && type > 0)
		json_object_set_new(o, "type", json_integer(type));
	if (o && session > 0)
		json_object_set_new(o, "session", json_integer(session));
	ctl_send_json(PL_MSG_ERROR, o);
}

/* The one way out once tether has a status to report: exit record first (it survives the
 * daemon), then EXITED, then exit with the same code. */
static _Noreturn void finish(int code, int sig, const char *error)
{
	json_t *o = json_pack("{si si sI}", "exit_code", code, "signal", sig, "finished_at_ns",
			      (json_int_t)now_ns());
	if (o && error)
		json_object_set_new(o, "error", json_string(error));
	long oom = pl_os_oom_kills(); /* a dedicated kernel is its own witness */
	if (o && oom > 0)
		json_object_set_new(o, "oom_kills", json_integer(oom));
	/* every process of the domain descends from us: with no child left, nothing of the
	 * container runs any more, and the daemon may settle it before our own exit's teardown
	 * (zombies are reaped here: we are leaving) */
	int st;
	pid_t r;
	while ((r = waitpid(-1, &st, WNOHANG)) > 0 || (r < 0 && errno == EINTR))
		;
	if (o && r < 0 && errno == ECHILD)
		json_object_set_new(o, "alone", json_true());
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (s) {
		size_t len = strlen(s);
		/* not fsync'd: the record must outlive the daemon (the page cache does), not the
		 * host, whose crash ends the domain anyway (docs/design-decisions.md) */
		bool written = pwrite(FD_EXIT, s, len, 0) == (ssize_t)len &&
			       ftruncate(FD_EXIT, (off_t)len) == 0;
		if (!written && errno == ESPIPE) /* a stream (a VM's port): the host keeps it */
			write_all(FD_EXIT, s, len);
		ctl_send(PL_MSG_EXITED, s, len);
	}
	exit(code & 255);
}

static void on_hello(const uint8_t *payload, size_t len)
{
	json_auto_t *o = json_loadb((const char *)payload, len, 0, NULL);
	json_t *v = json_object_get(o, "version");
	if (!json_is_integer(v)) {
		ctl_error(PL_MSG_HELLO, 0, "bad hello: \"version\" must be an integer");
		exit(1);
	}
	if (json_integer_value(v) != PL_PROTO_VERSION) {
		ctl_error(PL_MSG_HELLO, 0, "unsupported protocol version %lld",
			  (long long)json_integer_value(v));
		exit(1);
	}
	T.ready = true;
}

static void launch_primary(void)
{
	pl_os_stage_t stage;
	char umsg[512];
	int ucode = pl_launch_resolve_user(&T.launch, umsg, sizeof(umsg));
	if (ucode)
		finish(ucode, 0, umsg);
	int rc = pl_session_primary_start(&T.launch.spec, &stage, &T.pid);
	if (rc < 0) {
		char msg[PATH_MAX + 128];
		int code = pl_launch_failure(&T.launch.spec, stage, -rc, msg, sizeof(msg));
		finish(code, 0, msg);
	}
	pl_launch_free(&T.launch);
	T.phase = RUNNING;
	ctl_send_json(PL_MSG_STARTED, json_pack("{si}", "pid", T.pid));
	pl_sessions_grant(); /* its stdin window */
}

/* Kept for CONFIG's "seccomp_frame"; a bad one is refused here and leaves nothing, so a
 * CONFIG that names it fails (no process runs without the filter it was meant to have). */
static void on_seccomp(const uint8_t *payload, size_t len)
{
	free(T.launch.frame_bpf);
	T.launch.frame_bpf = NULL;
	T.launch.frame_bpf_len = 0;
	if (pl_frame_seccomp_check(len) < 0) {
		ctl_error(PL_MSG_SECCOMP, 0,
			  "seccomp program is not a whole number of BPF instructions");
		return;
	}
	if (!(T.launch.frame_bpf = malloc(len))) {
		ctl_error(PL_MSG_SECCOMP, 0, "out of memory");
		return;
	}
	memcpy(T.launch.frame_bpf, payload, len);
	T.launch.frame_bpf_len = len;
}

static void on_config(const uint8_t *payload, size_t len)
{
	json_error_t jerr;
	json_auto_t *o = json_loadb((const char *)payload, len, 0, &jerr);
	const char *bad = o ? pl_launch_parse(&T.launch, o, false) : jerr.text;
	if (bad) {
		char msg[256];
		snprintf(msg, sizeof(msg), "invalid config: %s", bad);
		ctl_error(PL_MSG_CONFIG, 0, "%s", msg);
		finish(EXIT_CONFIG, 0, msg);
	}
	/* a dedicated kernel restored from a template gets its disk and identity only now */
	const char *oserr = pl_os_domain_setup(o);
	if (oserr) {
		ctl_error(PL_MSG_CONFIG, 0, "%s", oserr);
		finish(EXIT_CONFIG, 0, oserr);
	}
	/* the domain's network before anything runs in it */
	json_t *net = json_object_get(o, "network");
	const char *neterr = net ? pl_os_net_setup(net) : NULL;
	if (neterr) {
		ctl_error(PL_MSG_CONFIG, 0, "%s", neterr);
		finish(EXIT_CONFIG, 0, neterr);
	}
	json_t *lms = json_object_get(o, "log_max_size");
	pl_logrot_configure(json_is_integer(lms) && json_integer_value(lms) > 0
				? (uint64_t)json_integer_value(lms)
				: 0);
	pl_session_primary_init(&T.launch.spec);
	/* nothing of the set-up may meet the container's first process (nor an exec session
	 * while that waits for its attach) */
	if (T.reap_first)
		pl_os_reap_all();
	T.reap_first = false;
	if (T.launch.wait_attach)
		T.phase = AWAIT_ATTACH;
	else
		launch_primary();
}

static void on_frame(const pl_frame_hdr_t *h, const uint8_t *payload)
{
	if (h->type == PL_MSG_DATA) { /* stdin: chan = session, flags = stream 0 */
		if (h->flags != 0)
			ctl_error(h->type, h->chan, "unsupported flags 0x%x for stdin",
				  (unsigned)h->flags);
		else if (T.phase == AWAIT_ATTACH || T.phase == RUNNING)
			pl_session_stdin(h->chan, payload, h->len);
		else if (T.phase != EXITING) /* exiting: the processes are gone */
			ctl_error(h->type, 0, "unexpected message type %u", (unsigned)h->type);
		return;
	}
	if (h->chan != 0) {
		ctl_error(h->type, 0, "unknown channel %u", (unsigned)h->chan);
		return;
	}
	if (h->flags != 0) {
		ctl_error(h->type, 0, "unsupported flags 0x%x", (unsigned)h->flags);
		return;
	}
	switch (h->type) { /* an int: peers may send types this enum does not know yet */
	case PL_MSG_PING:
		ctl_send(PL_MSG_PONG, payload, h->len);
		return;
	case PL_MSG_HELLO:
		if (T.phase == RUNNING) { /* a reconnected daemon: tell it where things stand */
			on_hello(payload, h->len);
			ctl_send_json(PL_MSG_STARTED, json_pack("{si}", "pid", T.pid));
			pl_sessions_resume();
			if (pl_logrot_reconnected(ctl_ready()))
				ctl_send(PL_MSG_LOG_ROTATE, NULL, 0);
			return;
		}
		if (T.phase != AWAIT_HELLO)
			break;
		on_hello(payload, h->len);
		T.phase = AWAIT_CONFIG;
		return;
	case PL_MSG_CONFIG:
		if (T.phase != AWAIT_CONFIG)
			break;
		on_config(payload, h->len);
		return;
	case PL_MSG_SECCOMP: /* the next CONFIG's filter, as raw bytes (no base64 in JSON) */
		if (T.phase != AWAIT_HELLO && T.phase != AWAIT_CONFIG)
			break;
		on_seccomp(payload, h->len);
		return;
	case PL_MSG_EXEC:
	case PL_MSG_SIGNAL:
	case PL_MSG_CLOSE_STDIN:
	case PL_MSG_RESIZE:
		if (T.phase != AWAIT_ATTACH && T.phase != RUNNING)
			break;
		pl_session_message(h->type, payload, h->len);
		return;
	case PL_MSG_ATTACH:
	case PL_MSG_DETACH:
	case PL_MSG_CREDIT:
		if (T.phase < AWAIT_ATTACH)
			break;
		pl_session_message(h->type, payload, h->len);
		return;
	case PL_MSG_NETWORK: { /* the names files again, after a live network change */
		if (T.phase < AWAIT_ATTACH)
			break;
		json_t *net = json_loadb((const char *)payload, h->len, 0, NULL);
		const char *e = net && json_is_object(net) && !json_object_get(net, "interfaces") &&
					!json_object_get(net, "routes")
				    ? pl_os_net_setup(net)
				    : "network: only hosts and dns can change";
		if (e)
			ctl_error(h->type, 0, "%s", e);
		json_decref(net);
		return;
	}
	case PL_MSG_STATS_REQUEST: /* what the domain uses, seen from inside it */
		if (T.phase == AWAIT_HELLO)
			break;
		ctl_send_json(PL_MSG_STATS, pl_os_stats());
		return;
	case PL_MSG_TOP_REQUEST: /* the domain's processes, with its own pids */
		if (T.phase == AWAIT_HELLO)
			break;
		send_top(pl_os_top());
		return;
	case PL_MSG_LOG_ROTATED: {
		bool ask;
		const char *bad = pl_logrot_on_rotated(ctl_ready(), &ask);
		if (bad)
			ctl_error(PL_MSG_LOG_ROTATED, 0, "%s", bad);
		if (ask)
			ctl_send(PL_MSG_LOG_ROTATE, NULL, 0);
		return;
	}
	case PL_MSG_ERROR: /* never answered: two peers must not trade errors forever */
	case PL_MSG_PONG:
		return;
	case PL_MSG_LOG_ROTATE:
	case PL_MSG_STARTED:
	case PL_MSG_EXITED:
	case PL_MSG_GO:
		break;
	default:
		ctl_error(h->type, 0, "unknown message type %u", (unsigned)h->type);
		return;
	}
	ctl_error(h->type, 0, "unexpected message type %u", (unsigned)h->type);
}

/* Handles the frames read so far. Never held back: stdin comes within the window tether
 * granted, so taking it costs bounded memory. */
static void process_frames(void)
{
	while (T.ctl_in) {
		pl_frame_hdr_t h;
		const uint8_t *payload;
		int rc = pl_frame_reader_next(&T.rd, &h, &payload);
		if (rc < 0) {
			ctl_error(0, 0, "corrupt stream: %s; no longer reading", strerror(-rc));
			ctl_lost();
		} else if (rc == 0) {
			/* The daemon went away (or will have to reconnect). The container outlives
			 * it. */
			if (T.ctl_eof)
				ctl_lost();
			return;
		} else {
			on_frame(&h, payload);
		}
	}
}

static void on_control(void)
{
	long n = pl_logrot_fill(&T.rd, T.ctl); /* LOG_ROTATED brings a file descriptor */
	if (n == -EAGAIN)
		return;
	if (n <= 0)
		T.ctl_eof = true;
	process_frames();
}

/* A daemon (re)connects: the newest connection replaces any older one. Nothing is attached
 * on it until the daemon says so. */
static void ctl_fresh(void)
{
	pl_frame_reader_free(&T.rd);
	pl_frame_reader_init(&T.rd);
	T.ctl_in = T.ctl_out = true;
	T.ready = T.lost = T.ctl_eof = false;
	pl_sessions_detach_all();
	ctl_send_json(PL_MSG_HELLO, json_pack("{si ss ss sb}", "version", PL_PROTO_VERSION, "agent",
					      "pl-tether/" PL_VERSION, "os", pl_os_name(),
					      "resumed", T.phase == RUNNING));
}

static void on_accept(void)
{
	int fd = accept4(FD_LISTEN, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (T.ctl >= 0)
		close(T.ctl);
	T.ctl = fd;
	struct timeval tv = {.tv_sec = SEND_TIMEOUT_S};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ctl_fresh();
}

static _Noreturn void primary_exited(const pl_os_status_t *st);

static void on_signals(void)
{
	int sig;
	while ((sig = pl_os_signal_next(T.sig_fd)) > 0) {
		pl_os_status_t st;
		if (sig == SIGCHLD) {
			/* One SIGCHLD may stand for many exits; reap them all. */
			if (pl_sessions_reap(&st))
				primary_exited(&st);
		} else if (T.phase == RUNNING) {
			pl_os_kill(T.pid, sig, false);
		} else if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT) {
			finish(128 + sig, sig, "terminated before the process started");
		}
	}
}

/* One round of the event loop. Returns false when poll itself failed. */
static bool loop_once(int timeout_ms)
{
	if (T.lost) {
		T.lost = false;
		pl_frame_reader_free(&T.rd);
		pl_sessions_detach_all();
	}
	if (!T.ctl_in && T.phase < AWAIT_ATTACH)
		finish(EXIT_CONFIG, 0, "control connection lost before the process started");
	if (!T.ctl_in && T.phase == AWAIT_ATTACH)
		launch_primary(); /* nobody is left to attach; the log still is */
	bool reading = T.ctl_in && !T.ctl_eof;
	struct pollfd p[POLL_MAX] = {
	    {.fd = T.phase != EXITING ? T.sig_fd : -1, .events = POLLIN},
	    {.fd = reading ? T.ctl : -1, .events = POLLIN},
	    {.fd = T.listening && T.phase == RUNNING ? FD_LISTEN : -1, .events = POLLIN},
	};
	size_t base = 3, n = pl_sessions_poll(p + base, POLL_MAX - base);
	int session_ms = pl_sessions_timeout_ms();
	if (session_ms >= 0 && (timeout_ms < 0 || session_ms < timeout_ms))
		timeout_ms = session_ms;
	/* a port reports nothing when a daemon rejoins it: look now and then */
	bool await_rejoin = T.reconnects && !T.ctl_in && T.phase == RUNNING;
	if (await_rejoin && (timeout_ms < 0 || timeout_ms > REJOIN_POLL_MS))
		timeout_ms = REJOIN_POLL_MS;
	if (poll(p, base + n, timeout_ms) < 0)
		return errno == EINTR;
	if (await_rejoin && pl_os_ctl_connected(T.ctl))
		ctl_fresh();
	/* Output first: when SIGCHLD and the last bytes arrive together, order them. */
	pl_sessions_io(p + base, n);
	if (p[1].revents)
		on_control();
	if (p[0].revents)
		on_signals();
	if (p[2].revents)
		on_accept();
	return true;
}

/* The primary exited: nothing else in the container may outlive it, and its last output
 * must reach the log (and an attached daemon) before the status is reported. */
static _Noreturn void primary_exited(const pl_os_status_t *st)
{
	T.phase = EXITING;
	pl_os_kill_all(T.pid);
	pl_sessions_end();
	int64_t start = now_ns();
	for (;;) {
		int64_t waited = (now_ns() - start) / 1000000;
		if (pl_session_primary_draining() && waited >= DRAIN_DEADLINE_MS)
			pl_session_primary_cut();
		bool draining = pl_session_primary_draining();
		if (!draining && (!pl_session_primary_unsent() || waited >= FLUSH_DEADLINE_MS))
			break;
		if (!loop_once((int)((draining ? DRAIN_DEADLINE_MS : FLUSH_DEADLINE_MS) - waited)))
			break;
	}
	pl_os_status_t ignored;
	while (pl_os_reap_one(&ignored) > 0)
		;
	finish(st->signal ? 128 + st->signal : st->code, st->signal, NULL);
}

/* ---- the sessions' port: the connection, the log, the waiting primary */

static bool port_ready(void *ctx)
{
	return ctl_ready();
}

static void port_send_json(void *ctx, uint16_t type, json_t *obj)
{
	ctl_send_json(type, obj);
}

static void port_send_frame(void *ctx, const uint8_t *frame, size_t len)
{
	ctl_send_frame(frame, len);
}

static void port_error(void *ctx, int type, uint32_t session, const char *msg)
{
	ctl_error(type, session, "%s", msg);
}

static bool port_log_admit(size_t n)
{
	bool ask;
	if (!pl_logrot_admit(n, ctl_ready(), &ask))
		return false;
	if (ask)
		ctl_send(PL_MSG_LOG_ROTATE, NULL, 0);
	return true;
}

static void port_launch_primary(void *ctx)
{
	launch_primary();
}

int main(int argc, char **argv)
{
	static const pl_session_port_t port = {.ready = port_ready,
					       .send_json = port_send_json,
					       .send_frame = port_send_frame,
					       .error = port_error,
					       .launch_primary = port_launch_primary,
					       .log_fd = FD_LOG,
					       .log_admit = port_log_admit};
	pl_sessions_init(&port);
	T.reap_first = argc > 1 && strcmp(argv[1], "--reap-first") == 0;
	if (pl_os_boot() < 0)
		return 1;
	if (argc > 1 && strcmp(argv[1], "--prepared") == 0 &&
	    pl_os_prepared_setup(argc > 2 ? argv[2] : NULL) < 0)
		return 1;
	T.reconnects = pl_os_ctl_reconnects();
	/* fds 3-5 came across tether's own exec; they must not cross the next one. */
	for (int fd = FD_CONTROL; fd <= FD_EXIT; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	T.ctl = FD_CONTROL;
	T.listening = fcntl(FD_LISTEN, F_SETFD, FD_CLOEXEC) == 0;
	struct timeval tv = {.tv_sec = SEND_TIMEOUT_S};
	setsockopt(FD_CONTROL, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	T.ctl_in = T.ctl_out = true;
	T.sig_fd = pl_os_init();
	if (T.sig_fd < 0)
		return 1;
	pl_frame_reader_init(&T.rd);
	ctl_send_json(PL_MSG_HELLO, json_pack("{si ss ss}", "version", PL_PROTO_VERSION, "agent",
					      "pl-tether/" PL_VERSION, "os", pl_os_name()));
	for (;;)
		if (!loop_once(-1))
			finish(EXIT_CONFIG, 0, "poll failed");
}
