/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/internal.h"
#include "portlayer/link.h"
#include "portlayer/placement.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define EXEC_PREFIX    "exec-"
#define MAX_DATA_CHUNK (32u * 1024)

/* --- sessions and sinks --- */

static pl_session_t *session_get(pl_container_t *c, uint32_t id, bool create)
{
	for (pl_session_t *s = c->sessions; s; s = s->next)
		if (s->id == id)
			return s;
	if (!create)
		return NULL;
	pl_session_t *s = pl_xcalloc(1, sizeof(*s));
	s->id = id;
	s->next = c->sessions;
	c->sessions = s;
	return s;
}

static void grant(pl_container_t *c, pl_session_t *s)
{
	if (!s->sinks)
		return;
	uint64_t slowest = UINT64_MAX;
	for (pl_sink_t *k = s->sinks; k; k = k->next)
		if (k->base + k->consumed < slowest)
			slowest = k->base + k->consumed;
	uint64_t want = slowest + PL_SESSION_WINDOW;
	if (want <= s->granted)
		return;
	/* only worth a message when a good part of the window has come back */
	if (s->granted > 0 && want - s->granted < PL_SESSION_WINDOW / 4)
		return;
	uint64_t more = want - s->granted;
	if (pl_container_send(
		c, PL_MSG_CREDIT,
		json_pack("{s:i, s:I}", "session", (int)s->id, "bytes", (json_int_t)more)) == 0)
		s->granted = want;
}

static int send_attach(pl_container_t *c, pl_session_t *s)
{
	/* credit is counted from here: tether resets it on every (re)connection */
	s->granted = s->received;
	int r = pl_container_send(
	    c, PL_MSG_ATTACH,
	    json_pack("{s:i, s:I}", "session", (int)s->id, "since_seq", (json_int_t)s->last_seq));
	if (r == 0)
		grant(c, s);
	return r;
}

int pl_session_attach(pl_container_t *c, uint32_t session, pl_sink_t *sink, pl_error_t **err)
{
	/* the primary may be attached before it starts (create, attach, start): the sink waits
	 * and the start makes tether hold the process for it, so no byte goes unseen */
	bool early = session == PL_SESSION_PRIMARY && c->status != PL_STATUS_REMOVING &&
		     (!pl_container_is_running(c) || !c->greeted);
	if (!pl_container_is_running(c) && !early)
		return pl_error_set(err, PL_ERR_CONFLICT, 0, "container %.12s is not running",
				    c->id);
	pl_session_t *s = session_get(c, session, true);
	bool first = !s->sinks;
	sink->base = s->received;
	sink->consumed = 0;
	sink->next = s->sinks;
	s->sinks = sink;
	if (early)
		return 0; /* ATTACH goes with the CONFIG (or the resumed HELLO) */
	if (first && send_attach(c, s) < 0) {
		s->sinks = sink->next;
		return pl_error_set(err, PL_ERR_CONFLICT, ENOTCONN,
				    "container %.12s: no link to tether", c->id);
	}
	if (!first)
		grant(c, s);
	return 0;
}

void pl_session_detach(pl_container_t *c, uint32_t session, pl_sink_t *sink)
{
	pl_session_t *s = session_get(c, session, false);
	if (!s)
		return;
	for (pl_sink_t **p = &s->sinks; *p; p = &(*p)->next) {
		if (*p == sink) {
			*p = sink->next;
			break;
		}
	}
	if (!s->sinks && session != PL_SESSION_PRIMARY && pl_session_is_running_exec(c, session))
		pl_session_discard(c, session); /* its client went away: below */
	else if (!s->sinks)
		pl_container_send(c, PL_MSG_DETACH, json_pack("{s:i}", "session", (int)session));
	else
		grant(c, s); /* the slowest may have been the one that left */
}

void pl_session_consumed(pl_container_t *c, uint32_t session, pl_sink_t *sink, size_t n)
{
	sink->consumed += n;
	pl_session_t *s = session_get(c, session, false);
	if (s)
		grant(c, s);
}

/* Sends waiting stdin within tether's window (the stdin credit tether grants). */
static void stdin_flush(pl_container_t *c, pl_session_t *s)
{
	size_t off = 0;
	while (off < s->stdin_len && s->stdin_credit > 0) {
		size_t n = s->stdin_len - off;
		if (n > MAX_DATA_CHUNK)
			n = MAX_DATA_CHUNK;
		if (n > s->stdin_credit)
			n = (size_t)s->stdin_credit;
		if (pl_container_send_frame(c, PL_MSG_DATA, 0, s->id, s->stdin_buf + off, n) < 0)
			break;
		s->stdin_credit -= n;
		off += n;
	}
	size_t before = s->stdin_len;
	if (off) {
		memmove(s->stdin_buf, s->stdin_buf + off, s->stdin_len - off);
		s->stdin_len -= off;
	}
	if (s->stdin_len == 0 && s->close_pending) {
		s->close_pending = false;
		pl_container_send(c, PL_MSG_CLOSE_STDIN, json_pack("{s:i}", "session", (int)s->id));
	}
	if (before >= PL_STDIN_HIGH_WATER && s->stdin_len < PL_STDIN_HIGH_WATER)
		pl_container_changed(c); /* writers held back may go on */
}

/* Attached before tether took the session (a created container, or one starting): stdin and
 * its EOF wait for the window tether grants once the process runs. */
static bool before_start(const pl_container_t *c, uint32_t session)
{
	return session == PL_SESSION_PRIMARY && c->status != PL_STATUS_REMOVING &&
	       (!pl_container_is_running(c) || !c->greeted);
}

int pl_session_write(pl_container_t *c, uint32_t session, const void *buf, size_t len)
{
	if (c->dom.ctl_fd < 0 && !before_start(c, session))
		return -ENOTCONN;
	pl_session_t *s = session_get(c, session, true);
	if (s->stdin_len + len > s->stdin_cap) {
		s->stdin_cap = (s->stdin_len + len) * 2;
		s->stdin_buf = pl_xrealloc(s->stdin_buf, s->stdin_cap);
	}
	memcpy(s->stdin_buf + s->stdin_len, buf, len);
	s->stdin_len += len;
	stdin_flush(c, s);
	return 0;
}

size_t pl_session_stdin_backlog(pl_container_t *c, uint32_t session)
{
	pl_session_t *s = session_get(c, session, false);
	return s ? s->stdin_len : 0;
}

void pl_sessions_on_stdin_credit(pl_container_t *c, const json_t *msg)
{
	json_t *sid = json_object_get(msg, "session");
	json_int_t n = json_integer_value(json_object_get(msg, "bytes"));
	if (!json_is_integer(sid) || n <= 0)
		return;
	pl_session_t *s = session_get(c, (uint32_t)json_integer_value(sid), true);
	s->stdin_credit += (uint64_t)n;
	stdin_flush(c, s);
}

int pl_session_close_stdin(pl_container_t *c, uint32_t session)
{
	pl_session_t *s = session_get(c, session, before_start(c, session));
	if (s && (s->stdin_len > 0 || before_start(c, session))) {
		/* EOF comes after the bytes still waiting */
		s->close_pending = true;
		return 0;
	}
	return pl_container_send(c, PL_MSG_CLOSE_STDIN,
				 json_pack("{s:i}", "session", (int)session));
}

int pl_session_resize(pl_container_t *c, uint32_t session, unsigned rows, unsigned cols,
		      pl_error_t **err)
{
	if (!pl_container_is_running(c))
		return pl_error_set(err, PL_ERR_CONFLICT, 0, "container %.12s is not running",
				    c->id);
	if (!pl_session_tty(c, session))
		return pl_error_set(err, PL_ERR_CONFLICT, 0, "session has no terminal to resize");
	if (rows == 0 || cols == 0 || rows > 10000 || cols > 10000)
		return pl_error_set(err, PL_ERR_INVALID, 0, "terminal size %ux%u out of range",
				    rows, cols);
	if (pl_container_send(c, PL_MSG_RESIZE,
			      json_pack("{s:i, s:i, s:i}", "session", (int)session, "rows",
					(int)rows, "cols", (int)cols)) < 0)
		return pl_error_set(err, PL_ERR_CONFLICT, ENOTCONN, "no link to tether");
	return 0;
}

static pl_exec_t *exec_by_session(pl_container_t *c, uint32_t session)
{
	for (pl_exec_t *ex = c->execs; ex; ex = ex->next)
		if (ex->session == session)
			return ex;
	return NULL;
}

bool pl_session_tty(const pl_container_t *c, uint32_t session)
{
	if (session == PL_SESSION_PRIMARY)
		return c->config->tty;
	pl_exec_t *ex = exec_by_session((pl_container_t *)c, session);
	return ex && pl_exec_tty(ex);
}

void pl_sessions_on_data(pl_container_t *c, const pl_frame_hdr_t *h, const uint8_t *payload)
{
	if (h->len < 8 || (h->flags != 1 && h->flags != 2))
		return;
	pl_session_t *s = session_get(c, h->chan, false);
	uint64_t seq = 0;
	for (int i = 0; i < 8; i++)
		seq = seq << 8 | payload[i];
	size_t n = h->len - 8;
	if (!s || seq <= s->last_seq)
		return; /* nobody listening, or a resend we already delivered */
	s->last_seq = seq;
	s->received += n;
	for (pl_sink_t *k = s->sinks, *next; k; k = next) {
		next = k->next; /* a sink may detach itself while consuming */
		k->data(k, h->flags, payload + 8, n);
	}
}

static void end_sinks(pl_container_t *c, uint32_t session)
{
	pl_session_t *s = session_get(c, session, false);
	if (!s)
		return;
	while (s->sinks) {
		pl_sink_t *k = s->sinks;
		s->sinks = k->next; /* the sink's owner frees it */
		k->ended(k);
	}
}

/* --- exec records --- */

static void exec_save(pl_exec_t *ex)
{
	json_t *doc = json_pack("{s:s, s:i, s:O, s:s, s:i, s:I, s:I}", "id", ex->id, "session",
				(int)ex->session, "spec", ex->spec, "state",
				ex->state == PL_EXEC_CREATED   ? "created"
				: ex->state == PL_EXEC_RUNNING ? "running"
							       : "exited",
				"pid", ex->pid, "started_ns", (json_int_t)ex->started_ns,
				"finished_ns", (json_int_t)ex->finished_ns);
	if (ex->state == PL_EXEC_EXITED) {
		json_object_set_new(doc, "exit_code", json_integer(ex->exit_code));
		json_object_set_new(doc, "signal", json_integer(ex->signal));
		if (ex->error)
			json_object_set_new(doc, "error", json_string(ex->error));
	}
	_cleanup_free_ char *name = pl_xasprintf(EXEC_PREFIX "%s.json", ex->id);
	_cleanup_free_ char *s = pl_json_dump(doc);
	json_decref(doc);
	/* like state.json: renamed into place, not fsync'd */
	_cleanup_free_ char *tmp = pl_xasprintf(".%s.tmp", name);
	_cleanup_close_ int fd =
	    openat(ex->c->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s) ||
	    renameat(ex->c->dirfd, tmp, ex->c->dirfd, name) < 0)
		pl_log_warn("exec %.12s: cannot record state: %m", ex->id);
}

static void exec_free(pl_exec_t *ex)
{
	json_decref(ex->spec);
	free(ex->error);
	free(ex);
}

void pl_sessions_free(pl_container_t *c)
{
	while (c->sessions) {
		pl_session_t *s = c->sessions;
		c->sessions = s->next;
		while (s->sinks) { /* the daemon going away: whoever still listens is told */
			pl_sink_t *k = s->sinks;
			s->sinks = k->next;
			k->ended(k);
		}
		free(s->stdin_buf);
		free(s);
	}
	while (c->execs) {
		pl_exec_t *ex = c->execs;
		c->execs = ex->next;
		exec_free(ex);
	}
}

static bool spec_ok(const json_t *body, pl_error_t **err)
{
	static const char *const keys[] = {"args", "env", "cwd", "user", "tty", "stdin", NULL};
	if (pl_json_check_keys(body, "exec", keys, err) < 0)
		return false;
	const json_t *args = NULL, *env = NULL;
	const char *cwd = NULL, *user = NULL;
	if (pl_json_get_string_array(body, "args", &args, err) < 0 ||
	    pl_json_get_string_array(body, "env", &env, err) < 0 ||
	    pl_json_get_string(body, "cwd", &cwd, err) < 0 ||
	    pl_json_get_string(body, "user", &user, err) < 0) {
		pl_error_wrap(err, "exec");
		return false;
	}
	if (!args || !json_array_size(args) || !json_string_length(json_array_get(args, 0))) {
		pl_error_set(err, PL_ERR_INVALID, 0, "exec.args must not be empty");
		return false;
	}
	if (env && pl_config_parse_env(env, "exec.env", err) < 0)
		return false;
	uid_t u;
	gid_t g;
	if (cwd && cwd[0] != '/') {
		pl_error_set(err, PL_ERR_INVALID, 0, "exec.cwd \"%s\" must be absolute", cwd);
		return false;
	}
	if (user && pl_user_parse(user, &u, &g) < 0 && !pl_user_name_valid(user)) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "exec.user \"%s\" must be NAME[:GROUP] or UID[:GID]", user);
		return false;
	}
	json_t *tty = json_object_get(body, "tty"), *in = json_object_get(body, "stdin");
	if ((tty && !json_is_boolean(tty)) || (in && !json_is_boolean(in))) {
		pl_error_set(err, PL_ERR_INVALID, 0, "exec.tty and exec.stdin are booleans");
		return false;
	}
	return true;
}

pl_exec_t *pl_exec_create(pl_portlayer_t *pl, pl_container_t *c, const json_t *body,
			  pl_error_t **err)
{
	if (!spec_ok(body, err))
		return NULL;
	if (!pl_container_is_running(c)) {
		pl_error_set(err, PL_ERR_CONFLICT, 0, "container %.12s is not running", c->id);
		return NULL;
	}
	pl_exec_t *ex = pl_xcalloc(1, sizeof(*ex));
	if (pl_id_generate(ex->id, err) < 0) {
		free(ex);
		return NULL;
	}
	ex->c = c;
	ex->spec = json_deep_copy(body);
	ex->state = PL_EXEC_CREATED;
	if (c->next_session <= PL_SESSION_PRIMARY)
		c->next_session = PL_SESSION_PRIMARY + 1;
	ex->session = c->next_session++;
	ex->next = c->execs;
	c->execs = ex;
	exec_save(ex);
	pl_execs_prune(c);
	return ex;
}

pl_exec_t *pl_exec_find(pl_portlayer_t *pl, const char *id, pl_error_t **err)
{
	size_t n = strlen(id);
	for (pl_container_t *c = pl_container_first(pl); c; c = pl_container_next(c))
		for (pl_exec_t *ex = c->execs; ex; ex = ex->next)
			if (strcmp(ex->id, id) == 0 || (n >= 12 && strncmp(ex->id, id, n) == 0))
				return ex;
	pl_error_set(err, PL_ERR_NOTFOUND, 0, "no such exec session: %s", id);
	return NULL;
}

int pl_exec_start(pl_portlayer_t *pl, pl_exec_t *ex, pl_start_fn cb, void *data, pl_error_t **err)
{
	pl_container_t *c = ex->c;
	if (ex->state != PL_EXEC_CREATED)
		return pl_error_set(err, PL_ERR_CONFLICT, 0, "exec %.12s was started already",
				    ex->id);
	if (!pl_container_is_running(c))
		return pl_error_set(err, PL_ERR_CONFLICT, 0, "container %.12s is not running",
				    c->id);
	/* the container's own process settings are the defaults for its tasks */
	json_t *msg = pl_config_tether_exec_json(c->config, ex->spec);
	json_object_set_new(msg, "session", json_integer(ex->session));
	pl_error_t *e = NULL;
	_cleanup_(pl_placement_release) pl_placement_t desc = pl_placement_describe(c->config);
	if (c->mech->tether_config(c->mech, &desc.spec, msg, &e) < 0) {
		json_decref(msg);
		return pl_error_wrap(&e, "exec") ? (*err = e, -1) : -1;
	}
	if (pl_container_send(c, PL_MSG_EXEC, msg) < 0)
		return pl_error_set(err, PL_ERR_CONFLICT, ENOTCONN,
				    "container %.12s: no link to tether", c->id);
	ex->state = PL_EXEC_RUNNING;
	ex->started_ns = pl_now_ns();
	ex->start_cb = cb;
	ex->start_data = data;
	exec_save(ex);
	return 0;
}

static void exec_finish_start(pl_exec_t *ex, const pl_error_t *e)
{
	pl_start_fn cb = ex->start_cb;
	ex->start_cb = NULL;
	if (cb)
		cb(ex->c->pl, ex->id, e, ex->start_data);
}

void pl_sessions_on_started(pl_container_t *c, uint32_t session, const json_t *msg)
{
	pl_exec_t *ex = exec_by_session(c, session);
	if (!ex)
		return;
	ex->pid = (int)json_integer_value(json_object_get(msg, "pid"));
	if (ex->state == PL_EXEC_CREATED)
		ex->state = PL_EXEC_RUNNING;
	exec_save(ex);
	exec_finish_start(ex, NULL);
	pl_container_emit(c, "exec_start", json_pack("{s:s}", "exec_id", ex->id));
}

static void exec_exited(pl_exec_t *ex, int code, int sig, const char *error)
{
	if (ex->state == PL_EXEC_EXITED)
		return;
	ex->state = PL_EXEC_EXITED;
	ex->exit_code = code;
	ex->signal = sig;
	free(ex->error);
	ex->error = error && *error ? pl_xstrdup(error) : NULL;
	ex->finished_ns = pl_now_ns();
	exec_save(ex);
	if (ex->start_cb) {
		bool input = code == 126 || code == 127 || code == 128;
		pl_error_t *e = NULL;
		pl_error_set(&e, input && error ? PL_ERR_INVALID : PL_ERR_INTERNAL, 0,
			     "start exec %.12s: %s", ex->id,
			     error ? error : "the process exited before it started");
		exec_finish_start(ex, e);
		pl_error_free(e);
	}
	end_sinks(ex->c, ex->session);
	pl_container_emit(ex->c, "exec_die",
			  json_pack("{s:s, s:i}", "exec_id", ex->id, "exit_code", code));
	pl_container_changed(ex->c);
}

void pl_sessions_on_exited(pl_container_t *c, uint32_t session, const json_t *msg)
{
	pl_exec_t *ex = exec_by_session(c, session);
	if (ex)
		exec_exited(ex, (int)json_integer_value(json_object_get(msg, "exit_code")),
			    (int)json_integer_value(json_object_get(msg, "signal")),
			    json_string_value(json_object_get(msg, "error")));
}

void pl_sessions_on_exec_refused(pl_container_t *c, const json_t *msg)
{
	json_t *sid = json_object_get(msg, "session");
	const char *m = json_string_value(json_object_get(msg, "message"));
	for (pl_exec_t *ex = c->execs; ex; ex = ex->next) {
		bool pending = ex->state == PL_EXEC_RUNNING && ex->pid == 0;
		if (pending && (!sid || (uint32_t)json_integer_value(sid) == ex->session))
			exec_exited(ex, 128, 0, m ? m : "tether refused the exec session");
	}
}

void pl_sessions_domain_ended(pl_container_t *c)
{
	for (pl_exec_t *ex = c->execs; ex; ex = ex->next)
		if (ex->state == PL_EXEC_RUNNING)
			exec_exited(ex, 128 + SIGKILL, SIGKILL, "the container stopped");
	end_sinks(c, PL_SESSION_PRIMARY);
	while (c->sessions) {
		pl_session_t *s = c->sessions;
		c->sessions = s->next;
		free(s->stdin_buf);
		free(s);
	}
}

bool pl_sessions_primary_attached(pl_container_t *c)
{
	pl_session_t *s = session_get(c, PL_SESSION_PRIMARY, false);
	return s && s->sinks;
}

void pl_sessions_resume(pl_container_t *c)
{
	for (pl_session_t *s = c->sessions; s; s = s->next) {
		s->stdin_credit = 0; /* a new connection: tether grants its window again */
		if (s->sinks)
			send_attach(c, s);
	}
}

int pl_exec_remove(pl_portlayer_t *pl, pl_exec_t *ex, pl_error_t **err)
{
	if (ex->state == PL_EXEC_RUNNING)
		return pl_error_set(err, PL_ERR_CONFLICT, 0, "exec %.12s is running", ex->id);
	pl_container_t *c = ex->c;
	for (pl_exec_t **p = &c->execs; *p; p = &(*p)->next) {
		if (*p == ex) {
			*p = ex->next;
			break;
		}
	}
	_cleanup_free_ char *name = pl_xasprintf(EXEC_PREFIX "%s.json", ex->id);
	unlinkat(c->dirfd, name, 0);
	exec_free(ex);
	return 0;
}

int pl_execs_load(pl_container_t *c)
{
	int fd = openat(c->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d)
		return -errno;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, EXEC_PREFIX, strlen(EXEC_PREFIX)) != 0)
			continue;
		_cleanup_free_ char *buf = NULL;
		size_t len;
		if (pl_read_file_at(c->dirfd, de->d_name, &buf, &len, 1 << 20, NULL) < 0)
			continue;
		_cleanup_json_ json_t *j = json_loadb(buf, len, 0, NULL);
		const char *id = json_string_value(json_object_get(j, "id"));
		const char *state = json_string_value(json_object_get(j, "state"));
		if (!id || !state || !pl_id_is_full(id))
			continue;
		pl_exec_t *ex = pl_xcalloc(1, sizeof(*ex));
		snprintf(ex->id, sizeof(ex->id), "%.64s", id);
		ex->c = c;
		ex->session = (uint32_t)json_integer_value(json_object_get(j, "session"));
		ex->spec = json_incref(json_object_get(j, "spec"));
		ex->pid = (int)json_integer_value(json_object_get(j, "pid"));
		ex->started_ns = json_integer_value(json_object_get(j, "started_ns"));
		ex->finished_ns = json_integer_value(json_object_get(j, "finished_ns"));
		ex->state = !strcmp(state, "exited")	? PL_EXEC_EXITED
			    : !strcmp(state, "running") ? PL_EXEC_RUNNING
							: PL_EXEC_CREATED;
		ex->exit_code = (int)json_integer_value(json_object_get(j, "exit_code"));
		ex->signal = (int)json_integer_value(json_object_get(j, "signal"));
		const char *e = json_string_value(json_object_get(j, "error"));
		ex->error = e ? pl_xstrdup(e) : NULL;
		if (!ex->spec)
			ex->spec = json_object();
		if (ex->session >= c->next_session)
			c->next_session = ex->session + 1;
		ex->next = c->execs;
		c->execs = ex;
	}
	closedir(d);
	return 0;
}

/* --- accessors --- */

const char *pl_exec_id(const pl_exec_t *ex)
{
	return ex->id;
}

bool pl_exec_running(const pl_exec_t *ex)
{
	return ex->state == PL_EXEC_RUNNING;
}

bool pl_exec_exited(const pl_exec_t *ex)
{
	return ex->state == PL_EXEC_EXITED;
}

bool pl_exec_tty(const pl_exec_t *ex)
{
	return json_is_true(json_object_get(ex->spec, "tty"));
}

uint32_t pl_exec_session(const pl_exec_t *ex)
{
	return ex->session;
}

pl_container_t *pl_exec_container(const pl_exec_t *ex)
{
	return ex->c;
}

json_t *pl_exec_inspect_json(const pl_exec_t *ex)
{
	static const char *const states[] = {"created", "running", "exited"};
	json_t *j = json_pack("{s:s, s:s, s:O, s:s, s:b, s:i}", "id", ex->id, "container",
			      ex->c->id, "spec", ex->spec, "state", states[ex->state], "running",
			      ex->state == PL_EXEC_RUNNING, "pid",
			      ex->state == PL_EXEC_RUNNING ? ex->pid : 0);
	json_object_set_new(j, "exit_code",
			    ex->state == PL_EXEC_EXITED ? json_integer(ex->exit_code)
							: json_null());
	json_object_set_new(j, "signal",
			    ex->state == PL_EXEC_EXITED && ex->signal ? json_integer(ex->signal)
								      : json_null());
	json_object_set_new(j, "error", json_string(ex->error ? ex->error : ""));
	return j;
}

/* --- orphans and the bound on records. What happens to an exec session nobody reads any
 * more (its attach client went away, or it was started detached): a sink that takes the
 * output at once and drops it, so credit keeps flowing and the process never blocks on a
 * full pipe (Docker drops it as well); and the bound on finished exec records a container
 * keeps (docs/design-decisions.md). */

typedef struct discard {
	pl_sink_t sink;
	pl_container_t *c; /* valid while the sink is attached: the session ends first */
	uint32_t session;
} discard_t;

static void discard_data(pl_sink_t *s, int stream, const uint8_t *buf, size_t len)
{
	discard_t *d = (discard_t *)s;
	pl_session_consumed(d->c, d->session, s, len);
}

static void discard_ended(pl_sink_t *s)
{
	free(s);
}

void pl_session_discard(pl_container_t *c, uint32_t session)
{
	discard_t *d = pl_xcalloc(1, sizeof(*d));
	d->sink.data = discard_data;
	d->sink.ended = discard_ended;
	d->c = c;
	d->session = session;
	if (pl_session_attach(c, session, &d->sink, NULL) < 0)
		free(d);
}

bool pl_session_is_running_exec(pl_container_t *c, uint32_t session)
{
	for (pl_exec_t *ex = c->execs; ex; ex = ex->next)
		if (ex->session == session)
			return ex->state == PL_EXEC_RUNNING;
	return false;
}

void pl_execs_prune(pl_container_t *c)
{
	unsigned finished = 0;
	pl_exec_t *next;
	for (pl_exec_t *ex = c->execs; ex; ex = next) { /* newest first */
		next = ex->next;
		if (ex->state == PL_EXEC_EXITED && ++finished > PL_EXEC_KEEP_FINISHED)
			pl_exec_remove(c->pl, ex, NULL);
	}
}
