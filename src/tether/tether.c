/* pl-tether: PID 1 of a container. Speaks the tether protocol (docs/tether-protocol.md) on
 * fd 3, runs the primary process, writes its output to the log on fd 4 in CRI format, reaps
 * orphans, and leaves the exit record in fd 5. This file owns the portable protocol and event
 * logic; process and signal mechanics live behind tether/os.h. Single-threaded on purpose:
 * fork without locks held, signals read synchronously. */
#include "common/cleanup.h"
#include "proto/frame.h"
#include "tether/os.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef PL_VERSION
#define PL_VERSION "unknown"
#endif

#define FD_CONTROL   3
#define FD_LOG	     4
#define FD_EXIT	     5
#define FD_LISTEN    6 /* optional: where a restarted daemon reconnects */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
/* A line longer than this is logged in P(artial) pieces so memory stays bounded. */
#define LOG_LINE_MAX (16 * 1024)
/* After the primary exits and everything left is SIGKILLed, the pipes reach EOF as soon as
 * the kernel has torn the processes down; the deadline only guards against a writer that
 * cannot die (D state). */
#define DRAIN_DEADLINE_MS 2000
/* A daemon that stops reading must not freeze the container's output handling forever. */
#define SEND_TIMEOUT_S 10
#define EXIT_CONFIG    128 /* like runc: tether could not even try to exec */

typedef struct stream {
	const char *name;
	int fd; /* -1 once at EOF */
	size_t len;
	char buf[LOG_LINE_MAX];
} stream_t;

typedef enum phase { AWAIT_HELLO, AWAIT_CONFIG, RUNNING } phase_t;

typedef struct tether {
	phase_t phase;
	bool ctl_in, ctl_out; /* still reading from / writing to the daemon */
	int ctl;	      /* the current daemon connection (FD_CONTROL at first) */
	bool listening;	      /* FD_LISTEN was passed */
	int sig_fd;
	pl_frame_reader_t rd;
	int pid;
	stream_t out, err;
} tether_t;

static tether_t T;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Control messages. Sending never fails the container: a daemon that went away only means
 * nobody is listening, and the exit record on fd 5 remains the source of truth. */
static void send_raw(uint16_t type, const void *payload, size_t len)
{
	if (!T.ctl_out)
		return;
	if (pl_frame_send(T.ctl, type, 0, payload, len) < 0) {
		/* A timeout may have left half a frame behind: the stream is unusable both ways. */
		T.ctl_out = false;
		T.ctl_in = false;
	}
}

static void send_json(uint16_t type, json_t *obj)
{
	json_auto_t *o = obj;
	_cleanup_free_ char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (s)
		send_raw(type, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void send_error(int type, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_t *o = json_pack("{ss}", "message", msg);
	if (o && type > 0)
		json_object_set_new(o, "type", json_integer(type));
	send_json(PL_MSG_ERROR, o);
}

/* One CRI log record, one write(): "<RFC3339Nano> <stream> <F|P> <content>\n". The
 * fraction is always nine digits (valid RFC 3339, and records sort as text). */
static void log_record(const stream_t *s, char tag, const char *data, size_t len)
{
	static char rec[64 + LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(rec, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(rec + n, sizeof(rec) - n, ".%09ldZ %s %c ", ts.tv_nsec, s->name, tag);
	memcpy(rec + n, data, len);
	rec[n + len] = '\n';
	write_all(FD_LOG, rec, n + len + 1); /* a full disk loses log lines, not the container */
}

/* Moves whatever the pipe holds into the log; at EOF flushes the rest and closes it. */
static void pump(stream_t *s)
{
	ssize_t n = read(s->fd, s->buf + s->len, sizeof(s->buf) - s->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		if (s->len > 0)
			log_record(s, 'P', s->buf, s->len);
		s->len = 0;
		s->fd = pl_close(s->fd);
		return;
	}
	size_t start = 0, scanned = s->len;
	s->len += (size_t)n;
	char *nl;
	while ((nl = memchr(s->buf + scanned, '\n', s->len - scanned))) {
		size_t end = (size_t)(nl - s->buf);
		log_record(s, 'F', s->buf + start, end - start);
		start = scanned = end + 1;
	}
	s->len -= start;
	memmove(s->buf, s->buf + start, s->len);
	if (s->len == sizeof(s->buf)) {
		log_record(s, 'P', s->buf, s->len);
		s->len = 0;
	}
}

/* The one way out once tether has a status to report: exit record first (it survives the
 * daemon), then EXITED, then exit with the same code. */
static _Noreturn void finish(int code, int sig, const char *error)
{
	json_t *o = json_pack("{si si sI}", "exit_code", code, "signal", sig, "finished_at_ns",
			      (json_int_t)now_ns());
	if (o && error)
		json_object_set_new(o, "error", json_string(error));
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (s) {
		size_t len = strlen(s);
		if (pwrite(FD_EXIT, s, len, 0) == (ssize_t)len &&
		    ftruncate(FD_EXIT, (off_t)len) == 0)
			fsync(FD_EXIT);
		send_raw(PL_MSG_EXITED, s, len);
	}
	exit(code & 255);
}

/* The primary exited: nothing else in the container may outlive it, and its last output
 * must reach the log before the status is reported. */
static _Noreturn void primary_exited(const pl_os_status_t *st)
{
	pl_os_kill_all(T.pid);
	int64_t deadline = now_ns() + (int64_t)DRAIN_DEADLINE_MS * 1000000;
	for (;;) {
		struct pollfd p[2] = {{.fd = T.out.fd, .events = POLLIN},
				      {.fd = T.err.fd, .events = POLLIN}};
		int64_t left_ms = (deadline - now_ns()) / 1000000;
		if ((T.out.fd < 0 && T.err.fd < 0) || left_ms <= 0)
			break;
		if (poll(p, 2, (int)left_ms) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			pump(&T.out);
		if (p[1].revents)
			pump(&T.err);
	}
	if (T.out.len > 0) /* only when the deadline cut a stream short */
		log_record(&T.out, 'P', T.out.buf, T.out.len);
	if (T.err.len > 0)
		log_record(&T.err, 'P', T.err.buf, T.err.len);
	pl_os_status_t ignored;
	pl_os_reap(0, &ignored);
	finish(st->signal ? 128 + st->signal : st->code, st->signal, NULL);
}

static void on_hello(const uint8_t *payload, size_t len)
{
	json_auto_t *o = json_loadb((const char *)payload, len, 0, NULL);
	json_t *v = json_object_get(o, "version");
	if (!json_is_integer(v)) {
		send_error(PL_MSG_HELLO, "bad hello: \"version\" must be an integer");
		exit(1);
	}
	if (json_integer_value(v) != PL_PROTO_VERSION) {
		send_error(PL_MSG_HELLO, "unsupported protocol version %lld",
			   (long long)json_integer_value(v));
		exit(1);
	}
	T.phase = AWAIT_CONFIG;
}

/* Reads a JSON array of strings into a NULL-terminated vector borrowing from the JSON.
 * Returns NULL (and *bad) when the value is not such an array. */
static char **string_vector(json_t *arr, bool *bad)
{
	*bad = !json_is_array(arr);
	if (*bad)
		return NULL;
	char **v = calloc(json_array_size(arr) + 1, sizeof(*v));
	*bad = !v;
	for (size_t i = 0; v && i < json_array_size(arr); i++) {
		json_t *e = json_array_get(arr, i);
		if (!json_is_string(e)) {
			*bad = true;
			free(v);
			return NULL;
		}
		v[i] = (char *)json_string_value(e);
	}
	return v;
}

static bool id_field(json_t *o, const char *key, uint32_t *out)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return true;
	/* (uint32_t)-1 means "unchanged" to set*id(), never a real id. */
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) >= (json_int_t)UINT32_MAX)
		return false;
	*out = (uint32_t)json_integer_value(v);
	return true;
}

/* RFC 4648 base64 (padded); returns a malloc'd buffer or NULL when malformed. */
static uint8_t *base64_decode(const char *in, size_t *out_len)
{
	size_t n = strlen(in);
	if (n % 4)
		return NULL;
	uint8_t *out = malloc(n / 4 * 3 + 1);
	if (!out)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 4) {
		uint32_t v = 0;
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			char c = in[i + k];
			int d = c >= 'A' && c <= 'Z'		   ? c - 'A'
				: c >= 'a' && c <= 'z'		   ? c - 'a' + 26
				: c >= '0' && c <= '9'		   ? c - '0' + 52
				: c == '+'			   ? 62
				: c == '/'			   ? 63
				: c == '=' && i + 4 == n && k >= 2 ? (pad++, 0)
								   : -1;
			if (d < 0 || (pad && c != '=')) {
				free(out);
				return NULL;
			}
			v = v << 6 | (uint32_t)d;
		}
		out[o++] = (uint8_t)(v >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(v >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)v;
	}
	*out_len = o;
	return out;
}

/* The privilege part of CONFIG; storage for what spec points to lives in *priv. */
typedef struct privileges {
	char **caps;
	uint8_t *seccomp;
	pl_os_rlimit_t *rlimits;
} privileges_t;

static void privileges_free(privileges_t *p)
{
	free(p->caps);
	free(p->seccomp);
	free(p->rlimits);
}

static const char *parse_privileges(json_t *o, pl_os_spawn_spec_t *spec, privileges_t *priv)
{
	bool bad = false;
	json_t *caps = json_object_get(o, "capabilities");
	if (caps) {
		priv->caps = string_vector(caps, &bad);
		if (bad)
			return "\"capabilities\" must be an array of strings";
		spec->caps = priv->caps;
	}
	json_t *nnp = json_object_get(o, "no_new_privileges");
	if (nnp && !json_is_boolean(nnp))
		return "\"no_new_privileges\" must be a boolean";
	spec->no_new_privs = json_is_true(nnp);
	json_t *sc = json_object_get(o, "seccomp_bpf");
	if (sc) {
		if (!json_is_string(sc) ||
		    !(priv->seccomp = base64_decode(json_string_value(sc), &spec->seccomp_len)))
			return "\"seccomp_bpf\" must be base64";
		spec->seccomp = priv->seccomp;
	}
	json_t *rl = json_object_get(o, "rlimits");
	if (rl) {
		size_t n = json_array_size(rl);
		if (!json_is_array(rl) || !(priv->rlimits = calloc(n + 1, sizeof(pl_os_rlimit_t))))
			return "\"rlimits\" must be an array";
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_array_get(rl, i);
			json_t *t = json_object_get(e, "type"), *s = json_object_get(e, "soft"),
			       *h = json_object_get(e, "hard");
			if (!json_is_string(t) || !json_is_integer(s) || !json_is_integer(h) ||
			    json_integer_value(s) < 0 ||
			    json_integer_value(h) < json_integer_value(s))
				return "\"rlimits\" entries need type, soft <= hard";
			priv->rlimits[i] =
			    (pl_os_rlimit_t){json_string_value(t), (uint64_t)json_integer_value(s),
					     (uint64_t)json_integer_value(h)};
		}
		spec->rlimits = priv->rlimits;
		spec->n_rlimits = n;
	}
	return pl_os_spawn_check(spec);
}

static const char *parse_config(json_t *o, pl_os_spawn_spec_t *spec, char ***argv, char ***env,
				privileges_t *priv)
{
	static char *default_env[] = {"PATH=" DEFAULT_PATH, NULL};
	bool bad;
	if (!json_is_object(o))
		return "not a JSON object";
	/* Strict: a field this tether does not know (a limit, a capability) must not be
	 * silently dropped. The daemon always configures the tether binary it shipped. */
	for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
		const char *key = json_object_iter_key(it);
		static const char *const known[] = {"args",
						    "env",
						    "cwd",
						    "uid",
						    "gid",
						    "capabilities",
						    "no_new_privileges",
						    "seccomp_bpf",
						    "rlimits",
						    NULL};
		bool ok = false;
		for (const char *const *k = known; *k && !ok; k++)
			ok = strcmp(key, *k) == 0;
		if (!ok) {
			static char msg[128];
			snprintf(msg, sizeof(msg), "unknown field \"%.64s\"", key);
			return msg;
		}
	}
	*argv = string_vector(json_object_get(o, "args"), &bad);
	if (bad || !(*argv)[0] || !(*argv)[0][0])
		return "\"args\" must be a non-empty array of strings, the first non-empty";
	json_t *jenv = json_object_get(o, "env");
	if (jenv) {
		*env = string_vector(jenv, &bad);
		if (bad)
			return "\"env\" must be an array of \"KEY=value\" strings";
		for (char **e = *env; *e; e++)
			if ((*e)[0] == '=' || !strchr(*e, '='))
				return "\"env\" must be an array of \"KEY=value\" strings";
	}
	spec->envp = *env ? *env : default_env;
	spec->path = DEFAULT_PATH;
	/* The last PATH wins, as the process's own getenv would see it. */
	for (char *const *e = spec->envp; *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			spec->path = *e + 5;
	json_t *cwd = json_object_get(o, "cwd");
	spec->cwd = cwd ? json_string_value(cwd) : "/";
	if (!spec->cwd || spec->cwd[0] != '/')
		return "\"cwd\" must be an absolute path";
	if (!id_field(o, "uid", &spec->uid) || !id_field(o, "gid", &spec->gid))
		return "\"uid\" and \"gid\" must be integers in [0, 4294967294]";
	spec->argv = *argv;
	return parse_privileges(o, spec, priv);
}

/* Docker-compatible wording and codes: 127 not found, 126 found but not runnable, 128 when
 * the process could not be set up at all. */
static _Noreturn void spawn_failed(const pl_os_spawn_spec_t *s, pl_os_stage_t stage, int err)
{
	char msg[PATH_MAX + 128];
	const char *name = s->argv[0];
	switch (stage) {
	case PL_OS_STAGE_EXEC:
		if (err == ENOENT && !strchr(name, '/')) {
			snprintf(msg, sizeof(msg),
				 "exec: \"%s\": executable file not found in $PATH", name);
		} else {
			/* Lower case, as Docker users know it: "permission denied". */
			char e[128];
			snprintf(e, sizeof(e), "%s", strerror(err));
			e[0] = (char)tolower((unsigned char)e[0]);
			snprintf(msg, sizeof(msg), "exec: \"%s\": %s", name, e);
		}
		finish(err == ENOENT ? 127 : 126, 0, msg);
	case PL_OS_STAGE_CHDIR:
		snprintf(msg, sizeof(msg), "chdir %s: %s", s->cwd, strerror(err));
		break;
	case PL_OS_STAGE_SETUID:
		snprintf(msg, sizeof(msg), "setuid %u: %s", s->uid, strerror(err));
		break;
	case PL_OS_STAGE_SETGID:
		snprintf(msg, sizeof(msg), "setgid %u: %s", s->gid, strerror(err));
		break;
	case PL_OS_STAGE_SETGROUPS:
		snprintf(msg, sizeof(msg), "setgroups: %s", strerror(err));
		break;
	case PL_OS_STAGE_STDIO:
		snprintf(msg, sizeof(msg), "open /dev/null: %s", strerror(err));
		break;
	case PL_OS_STAGE_RLIMIT:
		snprintf(msg, sizeof(msg), "setrlimit: %s", strerror(err));
		break;
	case PL_OS_STAGE_CAPS:
		snprintf(msg, sizeof(msg), "set capabilities: %s", strerror(err));
		break;
	case PL_OS_STAGE_NO_NEW_PRIVS:
		snprintf(msg, sizeof(msg), "set no_new_privs: %s", strerror(err));
		break;
	case PL_OS_STAGE_SECCOMP:
		snprintf(msg, sizeof(msg), "install seccomp filter: %s", strerror(err));
		break;
	case PL_OS_STAGE_SETUP:
	default:
		snprintf(msg, sizeof(msg), "start process: %s", strerror(err));
		break;
	}
	finish(EXIT_CONFIG, 0, msg);
}

static void on_config(const uint8_t *payload, size_t len)
{
	json_error_t jerr;
	json_auto_t *o = json_loadb((const char *)payload, len, 0, &jerr);
	_cleanup_free_ char **argv = NULL, **env = NULL;
	pl_os_spawn_spec_t spec = {0};
	privileges_t priv = {0};
	const char *bad = o ? parse_config(o, &spec, &argv, &env, &priv) : jerr.text;
	if (bad) {
		char msg[256];
		snprintf(msg, sizeof(msg), "invalid config: %s", bad);
		send_error(PL_MSG_CONFIG, "%s", msg);
		finish(EXIT_CONFIG, 0, msg);
	}
	pl_os_proc_t proc;
	pl_os_stage_t stage;
	int rc = pl_os_spawn(&spec, &proc, &stage);
	privileges_free(&priv);
	if (rc < 0)
		spawn_failed(&spec, stage, -rc);
	T.pid = proc.pid;
	T.out.fd = proc.out_fd;
	T.err.fd = proc.err_fd;
	T.phase = RUNNING;
	send_json(PL_MSG_STARTED, json_pack("{si}", "pid", T.pid));
}

static void on_signal(const uint8_t *payload, size_t len)
{
	json_auto_t *o = json_loadb((const char *)payload, len, 0, NULL);
	json_t *sig = json_object_get(o, "signal"), *group = json_object_get(o, "group");
	if (!json_is_integer(sig) || json_integer_value(sig) < 1 ||
	    json_integer_value(sig) >= NSIG || (group && !json_is_boolean(group))) {
		send_error(PL_MSG_SIGNAL, "bad signal: want {\"signal\":1..%d,\"group\":bool}",
			   NSIG - 1);
		return;
	}
	int rc = pl_os_kill(T.pid, (int)json_integer_value(sig), json_is_true(group));
	if (rc < 0)
		send_error(PL_MSG_SIGNAL, "kill: %s", strerror(-rc));
}

static void on_frame(const pl_frame_hdr_t *h, const uint8_t *payload)
{
	if (h->chan != 0) {
		send_error(h->type, "unknown channel %u", (unsigned)h->chan);
		return;
	}
	if (h->flags != 0) {
		send_error(h->type, "unsupported flags 0x%x", (unsigned)h->flags);
		return;
	}
	switch (h->type) { /* an int: peers may send types this enum does not know yet */
	case PL_MSG_PING:
		send_raw(PL_MSG_PONG, payload, h->len);
		return;
	case PL_MSG_HELLO:
		if (T.phase == RUNNING) { /* a reconnected daemon: tell it where things stand */
			on_hello(payload, h->len);
			T.phase = RUNNING;
			send_json(PL_MSG_STARTED, json_pack("{si}", "pid", T.pid));
			return;
		}
		if (T.phase != AWAIT_HELLO)
			break;
		on_hello(payload, h->len);
		return;
	case PL_MSG_CONFIG:
		if (T.phase != AWAIT_CONFIG)
			break;
		on_config(payload, h->len);
		return;
	case PL_MSG_SIGNAL:
		if (T.phase != RUNNING)
			break;
		on_signal(payload, h->len);
		return;
	case PL_MSG_ERROR: /* never answered: two peers must not trade errors forever */
	case PL_MSG_PONG:
		return;
	case PL_MSG_STARTED:
	case PL_MSG_EXITED:
	case PL_MSG_GO:
		break;
	default:
		send_error(h->type, "unknown message type %u", (unsigned)h->type);
		return;
	}
	send_error(h->type, "unexpected message type %u", (unsigned)h->type);
}

static void on_control(void)
{
	long n = pl_frame_reader_fill(&T.rd, T.ctl);
	if (n == -EAGAIN)
		return;
	pl_frame_hdr_t h;
	const uint8_t *payload;
	int rc = 0;
	while (T.ctl_in && (rc = pl_frame_reader_next(&T.rd, &h, &payload)) > 0)
		on_frame(&h, payload);
	if (T.ctl_in && rc < 0)
		send_error(0, "corrupt stream: %s; no longer reading", strerror(-rc));
	if (n <= 0 || rc < 0 || !T.ctl_in) {
		/* The daemon went away (or will have to reconnect). The container outlives it. */
		T.ctl_in = false;
		pl_frame_reader_free(&T.rd);
	}
}

/* A daemon (re)connects: the newest connection replaces any older one. */
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
	pl_frame_reader_free(&T.rd);
	pl_frame_reader_init(&T.rd);
	T.ctl_in = T.ctl_out = true;
	send_json(PL_MSG_HELLO, json_pack("{si ss ss sb}", "version", PL_PROTO_VERSION, "agent",
					  "pl-tether/" PL_VERSION, "os", pl_os_name(), "resumed",
					  T.phase == RUNNING));
}

static void on_signals(void)
{
	int sig;
	while ((sig = pl_os_signal_next(T.sig_fd)) > 0) {
		pl_os_status_t st;
		if (sig == SIGCHLD) {
			/* One SIGCHLD may stand for many exits; reap them all. */
			if (pl_os_reap(T.phase == RUNNING ? T.pid : 0, &st))
				primary_exited(&st);
		} else if (T.phase == RUNNING)
			pl_os_kill(T.pid, sig, false);
		else if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT)
			finish(128 + sig, sig, "terminated before the process started");
	}
}

int main(void)
{
	/* fds 3-5 came across tether's own exec; they must not cross the next one. */
	for (int fd = FD_CONTROL; fd <= FD_EXIT; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
	T.ctl = FD_CONTROL;
	T.listening = fcntl(FD_LISTEN, F_SETFD, FD_CLOEXEC) == 0;
	struct timeval tv = {.tv_sec = SEND_TIMEOUT_S};
	setsockopt(FD_CONTROL, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	T.ctl_in = T.ctl_out = true;
	T.out.name = "stdout";
	T.err.name = "stderr";
	T.out.fd = T.err.fd = -1;
	T.sig_fd = pl_os_init();
	if (T.sig_fd < 0)
		return 1;
	pl_frame_reader_init(&T.rd);
	send_json(PL_MSG_HELLO, json_pack("{si ss ss}", "version", PL_PROTO_VERSION, "agent",
					  "pl-tether/" PL_VERSION, "os", pl_os_name()));

	for (;;) {
		if (!T.ctl_in && T.phase != RUNNING)
			finish(EXIT_CONFIG, 0,
			       "control connection lost before the process started");
		struct pollfd p[5] = {
		    {.fd = T.sig_fd, .events = POLLIN},
		    {.fd = T.ctl_in ? T.ctl : -1, .events = POLLIN},
		    {.fd = T.out.fd, .events = POLLIN},
		    {.fd = T.err.fd, .events = POLLIN},
		    {.fd = T.listening && T.phase == RUNNING ? FD_LISTEN : -1, .events = POLLIN},
		};
		if (poll(p, 5, -1) < 0) {
			if (errno == EINTR)
				continue;
			finish(EXIT_CONFIG, 0, "poll failed");
		}
		/* Output first: when SIGCHLD and the last bytes arrive together, order them. */
		if (p[2].revents)
			pump(&T.out);
		if (p[3].revents)
			pump(&T.err);
		if (p[1].revents)
			on_control();
		if (p[0].revents)
			on_signals();
		if (p[4].revents)
			on_accept();
	}
}
