/* SPDX-License-Identifier: Apache-2.0 */
/* Sessions: every process tether runs and its stdio (docs/tether-protocol.md, "Sessions").
 * Session 1 is the primary process: its output always goes to the log (CRI records) and into
 * a bounded replay ring, and reaches the daemon as DATA frames while it is attached and has
 * credit. Exec sessions (2 and up) are not logged and have no ring: without credit their
 * output is simply not read, so the process blocks on a full pipe and memory stays bounded.
 * Stdin comes in as DATA frames within a window tether grants (CREDIT to the daemon) and is
 * written without ever blocking tether. Everything leaves through the port given at init
 * (session.h); the log records are logwriter.c's, the ring replay.c's, the credit arithmetic
 * flow.h's. */
#include "tether/session.h"
#include "common/cleanup.h"
#include "tether/flow.h"
#include "tether/logwriter.h"
#include "tether/replay.h"
#include "tether/tether.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_EXEC 64
/* Session 1 attached: while more output than this waits for the daemon's credit, its stdin
 * is neither written nor granted, so the process slows down instead of its output falling
 * out of the ring before the reader saw it. */
#define BACKLOG_MAX (64 * 1024)
/* An exec process has exited but something (a background child) keeps its output open: give
 * up after this long without output while the daemon was ready to take it. */
#define EXIT_IDLE_MS 2000

enum { ROLE_OUT = 0, ROLE_ERR = 1, ROLE_IN = 2 }; /* out[] index = stream - 1 */

typedef struct output {
	int fd;		    /* -1 once at EOF */
	pl_logwriter_t log; /* session 1: its records in the log */
	bool hup;	    /* exec: every writer is gone but output waits for credit */
} output_t;

typedef struct session {
	uint32_t id; /* 0: a free slot */
	int pid;     /* 0 before the process started */
	bool tty;
	output_t out[2];
	/* stdin: what the process has not taken yet waits in in_buf[in_off, in_len) */
	bool has_stdin, stdin_closing, stdin_complained;
	int in_fd;
	uint8_t *in_buf;
	size_t in_off, in_len;
	uint64_t in_window;  /* stdin bytes granted to this connection and not received yet */
	uint16_t rows, cols; /* session 1: a RESIZE before its process started */
	/* forwarding to the daemon */
	bool attached;
	bool may_attach; /* an exec session not attached yet: ATTACH may be on its way */
	uint64_t credit; /* output bytes the daemon still takes */
	uint64_t seq;	 /* of the last DATA frame */
	/* an exec session's end, kept until a daemon has been told */
	bool exited, done;
	pl_os_status_t status;
	int64_t finished_ns;
	int64_t idle_ns; /* since when an exited session's output has been quiet */
} session_t;

static session_t sessions[1 + MAX_EXEC]; /* [0] is session 1 */
static char primary_lines[2][PL_LOG_LINE_MAX];
static pl_replay_t ring; /* session 1's */
static pl_session_port_t port;

void pl_sessions_init(const pl_session_port_t *p)
{
	port = *p;
}

/* ---- the port */

static bool ctl_ready(void)
{
	return port.ready(port.ctx);
}

static void ctl_send_json(uint16_t type, json_t *obj)
{
	port.send_json(port.ctx, type, obj);
}

__attribute__((format(printf, 3, 4))) static void ctl_error(int type, uint32_t session,
							    const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	port.error(port.ctx, type, session, msg);
}

static bool can_forward(const session_t *s)
{
	return s->attached && s->credit > 0 && ctl_ready();
}

static session_t *find(uint32_t id)
{
	for (size_t i = 0; id && i < PL_ARRAY_SIZE(sessions); i++)
		if (sessions[i].id == id)
			return &sessions[i];
	return NULL;
}

/* One DATA frame of session s (ctx); returns whether the connection still takes frames. */
static bool send_data(void *ctx, unsigned stream, uint64_t seq, const void *data, size_t n)
{
	const session_t *s = ctx;
	static uint8_t frame[PL_FRAME_HDR_LEN + 8 + PL_FRAME_DATA_MAX];
	pl_frame_hdr_t h = {.len = (uint32_t)(8 + n),
			    .type = PL_MSG_DATA,
			    .flags = (uint16_t)stream,
			    .chan = s->id};
	pl_frame_hdr_encode(&h, frame);
	for (int i = 0; i < 8; i++)
		frame[PL_FRAME_HDR_LEN + i] = (uint8_t)(seq >> (56 - 8 * i));
	memcpy(frame + PL_FRAME_HDR_LEN + 8, data, n);
	port.send_frame(port.ctx, frame, PL_FRAME_HDR_LEN + 8 + n);
	return ctl_ready();
}

/* Sends what session 1's ring owes the daemon, as far as the credit goes. */
static void ring_flush(session_t *s)
{
	if (s->attached && ctl_ready())
		pl_replay_flush(&ring, &s->credit, &s->seq, send_data, s);
}

/* ---- output */

/* Session 1: whatever the pipe (or terminal) holds goes to the log and the ring, then to the
 * daemon as far as the credit goes. Never throttled: logging must not stop. */
static void pump_primary(session_t *s, output_t *o, unsigned stream)
{
	size_t room;
	char *space = pl_logwriter_space(&o->log, &room);
	ssize_t n = read(o->fd, space, room);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) { /* EOF; EIO on a terminal whose every slave fd is closed */
		pl_logwriter_flush(&o->log);
		o->fd = pl_close(o->fd);
		return;
	}
	pl_replay_append(&ring, stream, space, (size_t)n);
	pl_logwriter_commit(&o->log, (size_t)n);
	ring_flush(s);
}

/* Exec sessions: read only what the credit allows and send it at once. */
static void pump_exec(session_t *s, output_t *o, unsigned stream)
{
	static uint8_t buf[PL_FRAME_DATA_MAX];
	if (!can_forward(s))
		return;
	size_t want = s->credit < PL_FRAME_DATA_MAX ? (size_t)s->credit : PL_FRAME_DATA_MAX;
	ssize_t n = read(o->fd, buf, want);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		o->fd = pl_close(o->fd);
		return;
	}
	s->credit -= (uint64_t)n;
	s->idle_ns = now_ns();
	send_data(s, stream, ++s->seq, buf, (size_t)n);
}

/* ---- stdin */

static void stdin_close(session_t *s)
{
	s->in_fd = pl_close(s->in_fd);
	free(s->in_buf);
	s->in_buf = NULL;
	s->in_off = s->in_len = 0;
}

/* Session 1 is attached and its output waits for credit: hold its stdin back. Never while
 * detached: then output only goes to the log, which never waits. */
static bool stdin_held(const session_t *s)
{
	return s->id == PRIMARY && s->attached && pl_replay_unsent(&ring) > BACKLOG_MAX;
}

/* Writes what the process takes without blocking; the rest waits for POLLOUT. */
static void stdin_flush(session_t *s)
{
	while (s->in_fd >= 0 && s->in_off < s->in_len && !stdin_held(s)) {
		ssize_t n = write(s->in_fd, s->in_buf + s->in_off, s->in_len - s->in_off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) { /* EPIPE: the process closed its stdin; nothing more can go */
			stdin_close(s);
			s->stdin_closing = true;
			return;
		}
		s->in_off += (size_t)n;
	}
	if (s->in_off == s->in_len && s->in_buf) {
		free(s->in_buf);
		s->in_buf = NULL;
		s->in_off = s->in_len = 0;
	}
	if (s->stdin_closing && s->in_fd >= 0 && !s->in_buf)
		s->in_fd = pl_close(s->in_fd);
}

/* Grants the daemon what the process has taken: the window's free space, once it is a batch
 * or nothing is left waiting. Only for a running process whose stdin is open, on a
 * connection that said HELLO (a new one starts from 0). */
static void stdin_grant(session_t *s)
{
	if (!s->id || !s->has_stdin || s->stdin_closing || s->pid == 0 || s->in_fd < 0 ||
	    s->exited || stdin_held(s) || !ctl_ready())
		return;
	uint64_t free_bytes = pl_stdin_grant(s->in_len - s->in_off, s->in_window);
	if (free_bytes == 0)
		return;
	s->in_window += free_bytes;
	ctl_send_json(PL_MSG_CREDIT, json_pack("{sI sI}", "session", (json_int_t)s->id, "bytes",
					       (json_int_t)free_bytes));
}

void pl_sessions_grant(void)
{
	for (size_t i = 0; i < PL_ARRAY_SIZE(sessions); i++)
		stdin_grant(&sessions[i]);
}

static bool stdin_append(session_t *s, const uint8_t *data, size_t n)
{
	size_t pending = s->in_len - s->in_off;
	if (s->in_off > 0) {
		memmove(s->in_buf, s->in_buf + s->in_off, pending);
		s->in_off = 0;
		s->in_len = pending;
	}
	uint8_t *b = realloc(s->in_buf, pending + n);
	if (!b)
		return false;
	memcpy(b + pending, data, n);
	s->in_buf = b;
	s->in_len = pending + n;
	return true;
}

void pl_session_stdin(uint32_t id, const uint8_t *payload, size_t len)
{
	session_t *s = find(id);
	if (!s || s->done) {
		ctl_error(PL_MSG_DATA, id, "unknown session %u", (unsigned)id);
		return;
	}
	if (!s->has_stdin || s->stdin_closing || (s->pid > 0 && s->in_fd < 0)) {
		if (!s->stdin_complained)
			ctl_error(PL_MSG_DATA, id, "stdin of session %u is closed; ignoring it",
				  (unsigned)id);
		s->stdin_complained = true;
		return;
	}
	if (len > s->in_window) { /* a safety cap: a daemon that keeps the rules never gets it */
		ctl_error(PL_MSG_DATA, id, "stdin beyond the granted window");
		return;
	}
	if (!stdin_append(s, payload, len)) {
		ctl_error(PL_MSG_DATA, id, "stdin: out of memory");
		return;
	}
	s->in_window -= len;
	stdin_flush(s);
	stdin_grant(s);
}

/* ---- lifecycle */

static void session_release(session_t *s)
{
	for (int k = 0; k < 2; k++)
		s->out[k].fd = pl_close(s->out[k].fd);
	stdin_close(s);
}

/* Output waits in the session's pipes (or terminal). */
static bool output_pending(const session_t *s)
{
	for (int k = 0; k < 2; k++)
		if (s->out[k].fd >= 0 && pl_os_readable_bytes(s->out[k].fd) > 0)
			return true;
	return false;
}

/* An exec session whose process exited ends once its output is drained (or nobody is
 * attached to take it, or it went quiet), and is forgotten once a daemon was told. The ATTACH
 * the daemon sends right after EXEC may trail a quick process's exit: a session never
 * attached nor detached waits for it as long as for quiet output. */
static void settle(session_t *s)
{
	if (s->id <= PRIMARY || !s->exited)
		return;
	if (!s->done) {
		int64_t now = now_ns();
		bool open = s->out[0].fd >= 0 || s->out[1].fd >= 0;
		/* quiet: nothing came for a while although the daemon would take it, and nothing
		 * waits unread (tether itself may not have run for a while on a loaded machine) */
		bool quiet = can_forward(s) && now - s->idle_ns >= EXIT_IDLE_MS * 1000000LL &&
			     !output_pending(s);
		bool early = s->may_attach && now - s->finished_ns < EXIT_IDLE_MS * 1000000LL;
		if (open && (s->attached || early) && !quiet)
			return;
		session_release(s);
		s->done = true;
	}
	if (!ctl_ready())
		return;
	ctl_send_json(PL_MSG_EXITED,
		      json_pack("{sI si si sI}", "session", (json_int_t)s->id, "exit_code",
				s->status.signal ? 128 + s->status.signal : s->status.code,
				"signal", s->status.signal, "finished_at_ns",
				(json_int_t)s->finished_ns));
	if (ctl_ready())
		*s = (session_t){0};
}

static void exited_early(uint32_t id, int code, const char *msg)
{
	ctl_send_json(PL_MSG_EXITED,
		      json_pack("{sI si si sI ss}", "session", (json_int_t)id, "exit_code", code,
				"signal", 0, "finished_at_ns", (json_int_t)now_ns(), "error", msg));
}

static void session_started(session_t *s, const pl_os_proc_t *proc, bool tty)
{
	s->pid = proc->pid;
	s->tty = tty;
	s->out[0].fd = proc->out_fd;
	s->out[1].fd = proc->err_fd;
	s->in_fd = proc->in_fd;
	s->idle_ns = now_ns();
}

static bool session_field(json_t *o, uint32_t *id)
{
	json_t *v = json_object_get(o, "session");
	*id = PRIMARY;
	if (!v)
		return true;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > (json_int_t)UINT32_MAX)
		return false;
	*id = (uint32_t)json_integer_value(v);
	return true;
}

void pl_session_primary_init(const pl_os_spawn_spec_t *spec)
{
	session_t *s = &sessions[0];
	*s = (session_t){
	    .id = PRIMARY, .tty = spec->tty, .has_stdin = spec->open_stdin, .in_fd = -1};
	for (int k = 0; k < 2; k++)
		s->out[k] = (output_t){.fd = -1,
				       .log = {.fd = port.log_fd,
					       .admit = port.log_admit,
					       .stream = k ? "stderr" : "stdout",
					       .line = primary_lines[k]}};
}

int pl_session_primary_start(const pl_os_spawn_spec_t *spec, pl_os_stage_t *stage, int *pid)
{
	session_t *s = &sessions[0];
	pl_os_spawn_spec_t sp = *spec;
	if (s->rows || s->cols) {
		sp.rows = s->rows;
		sp.cols = s->cols;
	}
	pl_os_proc_t proc;
	int rc = pl_os_spawn(&sp, &proc, stage);
	if (rc < 0)
		return rc;
	session_started(s, &proc, sp.tty);
	stdin_flush(s); /* a CLOSE_STDIN that came before the process started */
	*pid = proc.pid;
	return 0;
}

static void on_exec(json_t *o)
{
	uint32_t id;
	if (!json_is_object(o) || !session_field(o, &id) || id <= PRIMARY ||
	    !json_object_get(o, "session")) {
		ctl_error(PL_MSG_EXEC, 0, "invalid exec: \"session\" must be an integer >= 2");
		return;
	}
	if (find(id)) {
		ctl_error(PL_MSG_EXEC, id, "session %u exists", (unsigned)id);
		return;
	}
	_cleanup_(pl_launch_free) launch_t l = {0};
	const char *bad = pl_launch_parse(&l, o, true);
	if (bad) {
		char msg[256];
		snprintf(msg, sizeof(msg), "invalid exec: %s", bad);
		exited_early(id, EXIT_CONFIG, msg); /* the answer to EXEC; no ERROR on top */
		return;
	}
	session_t *s = NULL;
	for (size_t i = 1; !s && i < PL_ARRAY_SIZE(sessions); i++)
		if (sessions[i].id == 0)
			s = &sessions[i];
	if (!s) {
		exited_early(id, EXIT_CONFIG, "too many sessions (at most 64 exec sessions)");
		return;
	}
	char umsg[512];
	int ucode = pl_launch_resolve_user(&l, umsg, sizeof(umsg));
	if (ucode) {
		exited_early(id, ucode, umsg);
		return;
	}
	pl_os_proc_t proc;
	pl_os_stage_t stage;
	int rc = pl_os_spawn(&l.spec, &proc, &stage);
	if (rc < 0) {
		char msg[PATH_MAX + 128];
		int code = pl_launch_failure(&l.spec, stage, -rc, msg, sizeof(msg));
		exited_early(id, code, msg);
		return;
	}
	*s = (session_t){.id = id, .has_stdin = l.spec.open_stdin, .may_attach = true};
	session_started(s, &proc, l.spec.tty);
	ctl_send_json(PL_MSG_STARTED,
		      json_pack("{sI si}", "session", (json_int_t)id, "pid", proc.pid));
	stdin_grant(s);
}

static void on_signal(session_t *s, json_t *o)
{
	json_t *sig = json_object_get(o, "signal"), *group = json_object_get(o, "group");
	if (!json_is_integer(sig) || json_integer_value(sig) < 1 ||
	    json_integer_value(sig) >= NSIG || (group && !json_is_boolean(group))) {
		ctl_error(PL_MSG_SIGNAL, s->id,
			  "bad signal: want {\"signal\":1..%d,\"group\":bool}", NSIG - 1);
		return;
	}
	if (s->pid == 0) {
		ctl_error(PL_MSG_SIGNAL, s->id, "unexpected message type %u", PL_MSG_SIGNAL);
		return;
	}
	if (s->exited) { /* its pid may be someone else's by now */
		ctl_error(PL_MSG_SIGNAL, s->id, "session %u has exited", (unsigned)s->id);
		return;
	}
	int rc = pl_os_kill(s->pid, (int)json_integer_value(sig), json_is_true(group));
	if (rc < 0)
		ctl_error(PL_MSG_SIGNAL, s->id, "kill: %s", strerror(-rc));
}

static void on_close_stdin(session_t *s)
{
	if (!s->has_stdin || s->stdin_closing)
		return;
	if (s->tty) { /* a terminal has no write side to close: type its EOF character */
		uint8_t eof = s->in_fd >= 0 ? pl_os_tty_eof_char(s->in_fd) : 4;
		if (!stdin_append(s, &eof, 1))
			ctl_error(PL_MSG_CLOSE_STDIN, s->id, "stdin: out of memory");
	}
	s->stdin_closing = true;
	stdin_flush(s);
}

static void on_resize(session_t *s, json_t *o)
{
	json_t *r = json_object_get(o, "rows"), *c = json_object_get(o, "cols");
	if (!json_is_integer(r) || !json_is_integer(c) || json_integer_value(r) < 0 ||
	    json_integer_value(r) > UINT16_MAX || json_integer_value(c) < 0 ||
	    json_integer_value(c) > UINT16_MAX) {
		ctl_error(PL_MSG_RESIZE, s->id, "bad resize: want {\"rows\":N,\"cols\":N}");
		return;
	}
	uint16_t rows = (uint16_t)json_integer_value(r), cols = (uint16_t)json_integer_value(c);
	if (!s->tty) {
		ctl_error(PL_MSG_RESIZE, s->id, "session %u has no terminal", (unsigned)s->id);
		return;
	}
	if (s->pid == 0) { /* applied when it starts */
		s->rows = rows;
		s->cols = cols;
		return;
	}
	int fd = s->out[0].fd >= 0 ? s->out[0].fd : s->in_fd;
	int rc = fd >= 0 ? pl_os_tty_resize(fd, rows, cols) : -EBADF;
	if (rc < 0)
		ctl_error(PL_MSG_RESIZE, s->id, "resize: %s", strerror(-rc));
}

static void on_attach(session_t *s, json_t *o)
{
	json_t *since = json_object_get(o, "since_seq");
	if (since && (!json_is_integer(since) || json_integer_value(since) < 0)) {
		ctl_error(PL_MSG_ATTACH, s->id, "bad attach: \"since_seq\" must be >= 0");
		return;
	}
	s->attached = true;
	s->may_attach = false;
	s->idle_ns = now_ns();
	if (s->id != PRIMARY)
		return; /* no ring: unread output is still in the pipe */
	pl_replay_attach(&ring, (uint64_t)json_integer_value(since), s->seq);
	if (s->pid == 0)
		port.launch_primary(port.ctx);
	ring_flush(s);
}

static void on_credit(session_t *s, json_t *o)
{
	json_t *b = json_object_get(o, "bytes");
	if (!json_is_integer(b) || json_integer_value(b) < 0) {
		ctl_error(PL_MSG_CREDIT, s->id, "bad credit: \"bytes\" must be >= 0");
		return;
	}
	uint64_t add = (uint64_t)json_integer_value(b);
	if (s->credit == 0)
		s->idle_ns = now_ns();
	s->credit = pl_credit_add(s->credit, add);
	if (s->id == PRIMARY)
		ring_flush(s);
}

void pl_session_message(uint16_t type, const uint8_t *payload, size_t len)
{
	json_auto_t *o = json_loadb((const char *)payload, len, 0, NULL);
	if (type == PL_MSG_EXEC) {
		on_exec(o);
		return;
	}
	uint32_t id;
	if (!json_is_object(o) || !session_field(o, &id)) {
		ctl_error(type, 0, "bad payload: want a JSON object, \"session\" >= 1");
		return;
	}
	session_t *s = find(id);
	if (!s || s->done) {
		ctl_error(type, id, "unknown session %u", (unsigned)id);
		return;
	}
	switch (type) {
	case PL_MSG_SIGNAL:
		on_signal(s, o);
		break;
	case PL_MSG_CLOSE_STDIN:
		on_close_stdin(s);
		break;
	case PL_MSG_RESIZE:
		on_resize(s, o);
		break;
	case PL_MSG_ATTACH:
		on_attach(s, o);
		break;
	case PL_MSG_DETACH:
		/* Credit belongs to an attachment: the next ATTACH comes with its own. */
		s->attached = s->may_attach = false;
		s->credit = 0;
		settle(s);
		break;
	case PL_MSG_CREDIT:
		on_credit(s, o);
		break;
	default:
		ctl_error(type, id, "unexpected message type %u", (unsigned)type);
		break;
	}
	/* Session 1's backlog may have shrunk (CREDIT) or no longer count (DETACH). */
	stdin_grant(&sessions[0]);
}

/* ---- the main loop's view */

static struct {
	session_t *s;
	int role;
	bool hup_only;
} pmap[3 * PL_ARRAY_SIZE(sessions)];

/* An exited exec session's output that cannot be read now (no credit, not attached) is
 * still watched for its end: a hang-up with nothing left to read is EOF, and the session
 * need not wait for credit (or an ATTACH) to report its exit. */
static void hung_up(session_t *s, output_t *o)
{
	if (pl_os_readable_bytes(o->fd) == 0)
		o->fd = pl_close(o->fd);
	else
		o->hup = true; /* data left: read when credit comes */
}

size_t pl_sessions_poll(struct pollfd *p, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < PL_ARRAY_SIZE(sessions); i++) {
		session_t *s = &sessions[i];
		if (!s->id)
			continue;
		for (int k = 0; k < 2 && n < max; k++) {
			output_t *o = &s->out[k];
			bool readable = s->id == PRIMARY || can_forward(s);
			if (o->fd < 0 || (!readable && (!s->exited || o->hup)))
				continue;
			/* POLLHUP is reported whatever the events */
			p[n] = (struct pollfd){.fd = o->fd, .events = readable ? POLLIN : 0};
			pmap[n].s = s;
			pmap[n].hup_only = !readable;
			pmap[n++].role = k;
		}
		if (s->in_fd >= 0 && s->in_off < s->in_len && !stdin_held(s) && n < max) {
			p[n] = (struct pollfd){.fd = s->in_fd, .events = POLLOUT};
			pmap[n].s = s;
			pmap[n++].role = ROLE_IN;
		}
	}
	return n;
}

void pl_sessions_io(const struct pollfd *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		session_t *s = pmap[i].s;
		int role = pmap[i].role;
		if (!p[i].revents)
			continue;
		if (role == ROLE_IN) {
			if (s->in_fd == p[i].fd)
				stdin_flush(s);
		} else if (s->out[role].fd != p[i].fd) {
			continue;
		} else if (pmap[i].hup_only) {
			hung_up(s, &s->out[role]);
		} else if (s->id == PRIMARY) {
			pump_primary(s, &s->out[role], (unsigned)role + 1);
		} else {
			pump_exec(s, &s->out[role], (unsigned)role + 1);
		}
	}
	for (size_t i = 1; i < PL_ARRAY_SIZE(sessions); i++)
		settle(&sessions[i]);
	pl_sessions_grant();
}

int pl_sessions_timeout_ms(void)
{
	int64_t best = -1, now = now_ns();
	for (size_t i = 1; i < PL_ARRAY_SIZE(sessions); i++) {
		session_t *s = &sessions[i];
		if (!s->id || !s->exited || s->done || !(can_forward(s) || s->may_attach))
			continue;
		int64_t since = s->may_attach ? s->finished_ns : s->idle_ns;
		int64_t left = (since + EXIT_IDLE_MS * 1000000LL - now) / 1000000 + 1;
		if (left < 0)
			left = 0;
		if (best < 0 || left < best)
			best = left;
	}
	return (int)best;
}

bool pl_sessions_reap(pl_os_status_t *primary)
{
	bool found = false;
	pl_os_status_t st;
	int pid;
	while ((pid = pl_os_reap_one(&st)) > 0) {
		for (size_t i = 0; i < PL_ARRAY_SIZE(sessions); i++) {
			session_t *s = &sessions[i];
			if (!s->id || s->pid != pid || s->exited)
				continue;
			if (s->id == PRIMARY) {
				*primary = st;
				found = true;
				break;
			}
			s->exited = true;
			s->status = st;
			s->finished_ns = s->idle_ns = now_ns();
			settle(s);
			break;
		}
	}
	return found;
}

void pl_sessions_detach_all(void)
{
	for (size_t i = 0; i < PL_ARRAY_SIZE(sessions); i++) {
		sessions[i].attached = sessions[i].may_attach = false;
		sessions[i].credit = 0;
		sessions[i].in_window = 0; /* the next daemon starts counting from 0 too */
		settle(&sessions[i]);
	}
}

void pl_sessions_resume(void)
{
	for (size_t i = 1; i < PL_ARRAY_SIZE(sessions); i++) {
		session_t *s = &sessions[i];
		if (s->id && !s->exited)
			ctl_send_json(PL_MSG_STARTED, json_pack("{sI si}", "session",
								(json_int_t)s->id, "pid", s->pid));
	}
	pl_sessions_grant(); /* the free space of each open stdin: the new daemon has none */
	for (size_t i = 1; i < PL_ARRAY_SIZE(sessions); i++)
		settle(&sessions[i]);
}

void pl_sessions_end(void)
{
	for (size_t i = 1; i < PL_ARRAY_SIZE(sessions); i++) {
		if (sessions[i].id)
			session_release(&sessions[i]);
		sessions[i] = (session_t){0};
	}
	stdin_close(&sessions[0]);
	sessions[0].has_stdin = false;
}

bool pl_session_primary_draining(void)
{
	return sessions[0].out[0].fd >= 0 || sessions[0].out[1].fd >= 0;
}

void pl_session_primary_cut(void)
{
	for (int k = 0; k < 2; k++) {
		output_t *o = &sessions[0].out[k];
		pl_logwriter_flush(&o->log);
		o->fd = pl_close(o->fd);
	}
}

bool pl_session_primary_unsent(void)
{
	const session_t *s = &sessions[0];
	return s->attached && ctl_ready() && pl_replay_owes(&ring, s->seq);
}
