/* Route handlers: HTTP requests → libportlayer calls. Requests that wait on a container
 * (start, stop, wait, logs -f) are parked with a waiter and settled from the library's
 * change notifications, a timer, or inotify on the container's log. */
#include "daemon/routes.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "mechanism/mechanism.h"
#include "mechanism/linux.h"
#include "portlayer/events.h"
#include "portlayer/handle.h"
#include "portlayer/logs.h"
#include "portlayer/storage/images.h"
#include "portlayer/storage/volumes.h"
#include "portlayer/storage/registry.h"
#include "common/worker.h"
#include "portlayer/session.h"
#include "portlayer/userns.h"
#include "daemon/attach.h"
#include "daemon/routes_network.h"
#include "daemon/routes_archive.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <unistd.h>

typedef enum wait_kind {
	W_START,
	W_EXIT, /* wait and stop: settled when the exit counter passes target */
	W_LOGS,
	W_EVENTS,
	W_EXEC, /* an exec session's wait: settled when it exited */
	W_STATS,
	W_GUEST_STATS, /* one stats answer from inside a VM: settled when target arrives */
} wait_kind_t;

typedef struct waiter {
	wait_kind_t kind;
	pl_app_t *app;
	pl_req_t *req;
	char id[PL_ID_LEN + 1];
	uint64_t target;   /* W_EXIT: settled once exits >= target */
	bool reply_status; /* W_EXIT: answer with the exit status (wait) or 204 (stop) */
	pl_timer_t *timer;
	pl_log_cursor_t *cursor; /* W_LOGS */
	bool follow;
	json_t *reply;		     /* W_START, W_EXIT: body to answer with (NULL: 204) */
	char exec_id[PL_ID_LEN + 1]; /* W_EXEC */
	/* W_EVENTS */
	json_t *filters;
	char *buf;
	size_t len, off, cap;
	bool done;
	struct waiter *next_sub, *prev_sub;
} waiter_t;

static void waiter_free(void *data)
{
	waiter_t *w = data;
	if (!w)
		return;
	w->timer = pl_loop_timer_cancel(w->app->loop, w->timer);
	if (w->reply)
		json_decref(w->reply);
	free(w);
}

/* Answers a settled state change: the prepared body, or 204. */
static void reply_done(waiter_t *w)
{
	if (w->reply)
		pl_reply_json(w->req, 200, json_incref(w->reply));
	else
		pl_reply_empty(w->req, 204);
}

static waiter_t *waiter_new(pl_app_t *app, pl_req_t *req, wait_kind_t kind, const char *id)
{
	waiter_t *w = pl_xcalloc(1, sizeof(*w));
	w->kind = kind;
	w->app = app;
	w->req = req;
	snprintf(w->id, sizeof(w->id), "%s", id);
	return w;
}

static void park(waiter_t *w)
{
	pl_req_park(w->req, w);
	pl_req_set_wait_free(w->req, waiter_free);
}

static void fail(pl_req_t *r, pl_error_t *e)
{
	pl_reply_error(r, e);
	pl_error_free(e);
}

static pl_container_t *lookup(pl_req_t *r, pl_app_t *app)
{
	pl_error_t *e = NULL;
	pl_container_t *c = pl_container_find(app->pl, pl_req_param(r), &e);
	if (!c)
		fail(r, e);
	return c;
}

/* --- system --- */

static void h_ping(pl_req_t *r, void *app)
{
	pl_reply_text(r, 200, "OK");
}

static void h_info(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_counts_t n = pl_portlayer_counts(app->pl);
	json_t *mechs = json_array();
	for (const pl_mechanism_t *const *m = pl_portlayer_mechanisms(app->pl); *m; m++) {
		const char *reason = NULL;
		bool ok = (*m)->available(*m, &reason);
		json_t *j =
		    json_pack("{s:s, s:s, s:b}", "name", (*m)->name, "kernel",
			      pl_mech_has(*m, PL_MECH_DEDICATED_KERNEL) ? "dedicated" : "shared",
			      "available", ok);
		if (!ok && reason)
			json_object_set_new(j, "reason", json_string(reason));
		json_array_append_new(mechs, j);
	}
	char host[256] = "";
	gethostname(host, sizeof(host) - 1);
	json_t *info =
	    json_pack("{s:s, s:s, s:s, s:s, s:o, s:{s:i, s:i, s:i, s:i}}", "version", PL_VERSION,
		      "api_version", PL_API_VERSION, "host", host, "cgroup_layout",
		      pl_linux_cgroup_layout(), "mechanisms", mechs, "containers", "total", n.total,
		      "created", n.created, "running", n.running, "stopped", n.stopped);
	uint32_t us, uc;
	pl_userns_get_range(&us, &uc);
	json_object_set_new(
	    info, "userns_range",
	    json_pack("{s:I, s:I}", "start", (json_int_t)us, "count", (json_int_t)uc));
	pl_reply_json(r, 200, info);
}

/* --- containers --- */

static void h_list(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	json_t *arr = json_array();
	for (pl_container_t *c = pl_container_first(app->pl); c; c = pl_container_next(c))
		json_array_append_new(arr, pl_container_summary_json(c));
	pl_reply_json(r, 200, arr);
}

static void h_create(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *body = pl_req_json(r, &e);
	if (!body)
		return fail(r, e);
	pl_container_t *c = pl_container_create(app->pl, body, &e);
	if (!c)
		return fail(r, pl_error_wrap(&e, "create container") ? e : e);
	pl_log_info("created container %.12s", pl_container_id(c));
	pl_reply_json(r, 201,
		      json_pack("{s:s, s:s, s:I}", "id", pl_container_id(c), "handle",
				pl_handle_take(app->handles, c), "version",
				(json_int_t)pl_container_version(c)));
}

static void h_inspect(pl_req_t *r, void *data)
{
	pl_container_t *c = lookup(r, data);
	if (c)
		pl_reply_json(r, 200, pl_container_inspect_json(c));
}

static void on_started(pl_portlayer_t *pl, const char *id, const pl_error_t *err, void *data)
{
	waiter_t *w = data;
	if (err)
		pl_reply_error(w->req, err);
	else
		reply_done(w);
}

/* Optional non-negative number of seconds; def when absent. */
static int query_seconds(pl_req_t *r, const char *key, double def, double *out, pl_error_t **e)
{
	const char *v = pl_req_query(r, key);
	*out = def;
	if (!v)
		return 0;
	char *end = NULL;
	errno = 0;
	double d = strtod(v, &end);
	if (!*v || *end || errno || !isfinite(d) || d < 0 || d > 1e9)
		return pl_error_set(
		    e, PL_ERR_INVALID, 0,
		    "query parameter %s=\"%s\" must be a non-negative number of seconds", key, v);
	*out = d;
	return 0;
}

static void on_wait_timeout(pl_loop_t *loop, void *data)
{
	waiter_t *w = data;
	w->timer = NULL;
	pl_error_t *e = NULL;
	if (w->kind == W_EXEC)
		pl_error_set(&e, PL_ERR_TIMEOUT, 0, "exec %.12s is still running", w->exec_id);
	else
		pl_error_set(&e, PL_ERR_TIMEOUT, 0, "container %.12s is still running", w->id);
	fail(w->req, e);
}

/* Parks a waiter, answered 408 after timeout seconds (never, when negative). */
static void park_until(waiter_t *w, double timeout)
{
	if (timeout >= 0) {
		pl_error_t *e = NULL;
		w->timer =
		    pl_loop_timer(w->app->loop, (uint64_t)(timeout * 1000), on_wait_timeout, w, &e);
		if (!w->timer) {
			pl_req_t *r = w->req;
			waiter_free(w);
			return fail(r, e);
		}
	}
	park(w);
}

static void settle_exit(waiter_t *w, pl_container_t *c)
{
	if (w->reply_status)
		pl_reply_json(w->req, 200, pl_container_exit_json(c));
	else
		reply_done(w);
}

static void park_exit(pl_app_t *app, pl_req_t *r, pl_container_t *c, bool status, double timeout,
		      json_t *reply)
{
	waiter_t *w = waiter_new(app, r, W_EXIT, pl_container_id(c));
	w->target = pl_container_exits(c) + 1;
	w->reply_status = status;
	w->reply = reply;
	park_until(w, timeout);
}

static void h_wait(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = lookup(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	double timeout;
	if (query_seconds(r, "timeout", -1, &timeout, &e) < 0)
		return fail(r, e);
	const char *cond = pl_req_query(r, "condition");
	bool next_exit = cond && strcmp(cond, "next-exit") == 0;
	if (cond && !next_exit && strcmp(cond, "not-running") != 0) {
		pl_error_set(&e, PL_ERR_INVALID, 0,
			     "condition \"%s\" must be \"not-running\" or \"next-exit\"", cond);
		return fail(r, e);
	}
	if (!next_exit && !pl_container_is_running(c))
		return pl_reply_json(r, 200, pl_container_exit_json(c));
	park_exit(app, r, c, true, timeout, NULL);
}

/* Carries out a state change (POST start/stop, or a committed handle) and answers once it
 * has happened: with reply (stolen; NULL answers 204), or 304 when `unchanged` applies. */
static void change_state(pl_app_t *app, pl_req_t *r, pl_container_t *c, pl_want_state_t want,
			 int64_t stop_timeout, json_t *reply, bool not_modified)
{
	pl_error_t *e = NULL;
	bool running = pl_container_is_running(c);
	if (want == PL_WANT_STOPPED && !running)
		pl_container_stop(app->pl, c, stop_timeout, NULL); /* cancels a pending restart */
	if ((want == PL_WANT_RUNNING && running) || (want == PL_WANT_STOPPED && !running) ||
	    want == PL_WANT_UNCHANGED) {
		if (not_modified && want == PL_WANT_RUNNING)
			pl_reply_empty(r, 304);
		else if (reply)
			pl_reply_json(r, 200, reply);
		else
			pl_reply_empty(r, 204);
		return;
	}
	if (want == PL_WANT_RUNNING && pl_archive_writing(pl_container_id(c))) {
		pl_error_set(&e, PL_ERR_CONFLICT, 0,
			     "container %.12s: an archive is being copied into it; try again",
			     pl_container_id(c));
		if (reply)
			json_decref(reply);
		return fail(r, e);
	}
	if (want == PL_WANT_RUNNING) {
		waiter_t *w = waiter_new(app, r, W_START, pl_container_id(c));
		w->reply = reply;
		if (pl_container_start(app->pl, c, on_started, w, &e) < 0) {
			waiter_free(w);
			return fail(r, e);
		}
		return park(w);
	}
	if (pl_container_stop(app->pl, c, stop_timeout, &e) < 0) {
		if (reply)
			json_decref(reply);
		return fail(r, e);
	}
	park_exit(app, r, c, false, -1, reply);
}

static void h_start(pl_req_t *r, void *data)
{
	pl_container_t *c = lookup(r, data);
	if (c)
		change_state(data, r, c, PL_WANT_RUNNING, -1, NULL, true);
}

static void h_stop(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = lookup(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	double timeout;
	if (query_seconds(r, "timeout", -1, &timeout, &e) < 0)
		return fail(r, e);
	change_state(app, r, c, PL_WANT_STOPPED, timeout < 0 ? -1 : (int64_t)ceil(timeout), NULL,
		     false);
}

static void pause_or_unpause(pl_req_t *r, pl_app_t *app, bool pause)
{
	pl_container_t *c = lookup(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	if (pl_container_pause(app->pl, c, pause, &e) < 0)
		return fail(r, e);
	pl_reply_empty(r, 204);
}

static void h_pause(pl_req_t *r, void *data)
{
	pause_or_unpause(r, data, true);
}

static void h_unpause(pl_req_t *r, void *data)
{
	pause_or_unpause(r, data, false);
}

/* A convenience over the handle model: one commit of one resources change. */
static void h_update(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = lookup(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *body = pl_req_json(r, &e);
	static const char *const keys[] = {"resources", NULL};
	if (!body || pl_json_check_keys(body, "update", keys, &e) < 0)
		return fail(r, e);
	json_t *res_arg = json_object_get(body, "resources");
	if (!res_arg) {
		pl_error_set(&e, PL_ERR_INVALID, 0, "update: \"resources\" is required");
		return fail(r, e);
	}
	pl_handle_t *h = pl_handle_get(app->handles, pl_handle_take(app->handles, c), &e);
	const char *staged =
	    h ? pl_handle_mutate(app->handles, app->pl, h, "resources", res_arg, &e) : NULL;
	if (h)
		pl_handle_drop(app->handles, h);
	pl_handle_t *h2 = staged ? pl_handle_get(app->handles, staged, &e) : NULL;
	if (!h2)
		return fail(r, e);
	pl_commit_result_t res;
	int rc = pl_handle_commit(app->pl, h2, &res, &e);
	pl_handle_drop(app->handles, h2);
	if (rc < 0)
		return fail(r, e);
	pl_reply_json(
	    r, 200,
	    json_pack("{s:s, s:I}", "id", pl_container_id(c), "version", (json_int_t)res.version));
}

/* --- interaction: attach, exec, resize --- */

static int attach_opts(pl_req_t *r, pl_attach_opts_t *o, bool def_in, pl_error_t **e)
{
	bool stream;
	if (pl_req_query_bool(r, "stream", true, &stream, e) < 0 ||
	    pl_req_query_bool(r, "stdin", def_in, &o->in, e) < 0 ||
	    pl_req_query_bool(r, "stdout", true, &o->out, e) < 0 ||
	    pl_req_query_bool(r, "stderr", true, &o->err, e) < 0 ||
	    pl_req_query_bool(r, "logs", false, &o->logs, e) < 0)
		return -1;
	if (!stream)
		return pl_error_set(e, PL_ERR_INVALID, 0,
				    "stream=0: use GET /containers/{id}/logs for past output");
	o->detach_keys = pl_req_query(r, "detachKeys");
	o->close_stdin_on_eof = true;
	return 0;
}

static void h_attach(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = lookup(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	pl_attach_opts_t o = {0};
	if (attach_opts(r, &o, false, &e) < 0)
		return fail(r, e);
	if (!pl_container_is_running(c)) {
		pl_error_set(&e, PL_ERR_CONFLICT, 0, "container %.12s is not running",
			     pl_container_id(c));
		return fail(r, e);
	}
	if (pl_attach_start(app, r, c, PL_SESSION_PRIMARY, &o, &e) < 0)
		return fail(r, e);
}

static int query_size(pl_req_t *r, unsigned *rows, unsigned *cols, pl_error_t **e)
{
	int64_t h, w;
	if (pl_parse_int64(pl_req_query(r, "h"), 1, 10000, &h) < 0 ||
	    pl_parse_int64(pl_req_query(r, "w"), 1, 10000, &w) < 0)
		return pl_error_set(e, PL_ERR_INVALID, 0,
				    "resize needs h (rows) and w (columns), 1..10000");
	*rows = (unsigned)h;
	*cols = (unsigned)w;
	return 0;
}

static void h_resize(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = lookup(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	unsigned rows, cols;
	if (query_size(r, &rows, &cols, &e) < 0 ||
	    pl_session_resize(c, PL_SESSION_PRIMARY, rows, cols, &e) < 0)
		return fail(r, e);
	pl_reply_empty(r, 204);
}

static void h_exec_create(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = lookup(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *body = pl_req_json(r, &e);
	pl_exec_t *ex = body ? pl_exec_create(app->pl, c, body, &e) : NULL;
	if (!ex)
		return fail(r, e);
	pl_reply_json(r, 201, json_pack("{s:s}", "id", pl_exec_id(ex)));
}

static pl_exec_t *lookup_exec(pl_req_t *r, pl_app_t *app)
{
	pl_error_t *e = NULL;
	pl_exec_t *ex = pl_exec_find(app->pl, pl_req_param(r), &e);
	if (!ex)
		fail(r, e);
	return ex;
}

/* A detached exec's output has no reader: a sink that takes it at once keeps credit flowing
 * (as Docker, which discards it), so the process never blocks on a full pipe. */
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

static void discard_output(pl_container_t *c, uint32_t session)
{
	discard_t *d = pl_xcalloc(1, sizeof(*d));
	d->sink.data = discard_data;
	d->sink.ended = discard_ended;
	d->c = c;
	d->session = session;
	if (pl_session_attach(c, session, &d->sink, NULL) < 0)
		free(d);
}

static void h_exec_start(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_exec_t *ex = lookup_exec(r, app);
	if (!ex)
		return;
	pl_error_t *e = NULL;
	bool detach;
	if (pl_req_query_bool(r, "detach", false, &detach, &e) < 0)
		return fail(r, e);
	if (pl_exec_running(ex) || pl_exec_exited(ex)) {
		pl_error_set(&e, PL_ERR_CONFLICT, 0, "exec %.12s was started already",
			     pl_exec_id(ex));
		return fail(r, e);
	}
	if (detach) {
		waiter_t *w = waiter_new(app, r, W_START, pl_container_id(pl_exec_container(ex)));
		if (pl_exec_start(app->pl, ex, on_started, w, &e) < 0) {
			waiter_free(w);
			return fail(r, e);
		}
		discard_output(pl_exec_container(ex), pl_exec_session(ex));
		return park(w);
	}
	pl_attach_opts_t o = {0};
	if (attach_opts(r, &o, true, &e) < 0)
		return fail(r, e);
	o.exec_id = pl_exec_id(ex);
	if (pl_attach_start(app, r, pl_exec_container(ex), pl_exec_session(ex), &o, &e) < 0)
		return fail(r, e);
}

static void h_exec_inspect(pl_req_t *r, void *data)
{
	pl_exec_t *ex = lookup_exec(r, data);
	if (ex)
		pl_reply_json(r, 200, pl_exec_inspect_json(ex));
}

static void h_exec_resize(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_exec_t *ex = lookup_exec(r, app);
	if (!ex)
		return;
	pl_error_t *e = NULL;
	unsigned rows, cols;
	if (query_size(r, &rows, &cols, &e) < 0 ||
	    pl_session_resize(pl_exec_container(ex), pl_exec_session(ex), rows, cols, &e) < 0)
		return fail(r, e);
	pl_reply_empty(r, 204);
}

static void h_exec_wait(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_exec_t *ex = lookup_exec(r, app);
	if (!ex)
		return;
	pl_error_t *e = NULL;
	double timeout;
	if (query_seconds(r, "timeout", -1, &timeout, &e) < 0)
		return fail(r, e);
	if (!pl_exec_running(ex))
		return pl_reply_json(r, 200, pl_exec_inspect_json(ex));
	waiter_t *w = waiter_new(app, r, W_EXEC, pl_container_id(pl_exec_container(ex)));
	snprintf(w->exec_id, sizeof(w->exec_id), "%s", pl_exec_id(ex));
	park_until(w, timeout);
}

static void h_exec_remove(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_exec_t *ex = lookup_exec(r, app);
	if (!ex)
		return;
	pl_error_t *e = NULL;
	if (pl_exec_remove(app->pl, ex, &e) < 0)
		return fail(r, e);
	pl_reply_empty(r, 204);
}

/* --- stats --- */

static ssize_t stats_produce(pl_req_t *r, char *buf, size_t max, void *data)
{
	waiter_t *w = data;
	size_t n = w->len - w->off;
	if (n == 0)
		return w->done ? -1 : 0;
	if (n > max)
		n = max;
	memcpy(buf, w->buf + w->off, n);
	w->off += n;
	if (w->off == w->len)
		w->off = w->len = 0;
	return (ssize_t)n;
}

static void stats_sample(waiter_t *w);

#define GUEST_STATS_TIMEOUT_MS	   3000
#define GUEST_STATS_STREAM_WAIT_MS 1000

/* A stream's sample whose figures tether was asked for did not come in time: the last
 * known ones (or the host's) go out instead. */
static void on_stats_late(pl_loop_t *loop, void *data)
{
	waiter_t *w = data;
	w->timer = NULL;
	w->target = 0;
	stats_sample(w);
	pl_req_wake(w->req);
}

/* The next sample of a stream: now, or, where the figures come from inside the domain (a
 * VM), once tether's answer arrives (on_change) or GUEST_STATS_STREAM_WAIT_MS passed. */
static void stats_next(waiter_t *w)
{
	pl_container_t *c = pl_container_find(w->app->pl, w->id, NULL);
	uint64_t target = c ? pl_container_stats_request(c) : 0;
	if (target) {
		w->target = target;
		w->timer =
		    pl_loop_timer(w->app->loop, GUEST_STATS_STREAM_WAIT_MS, on_stats_late, w, NULL);
		if (w->timer)
			return;
		w->target = 0;
	}
	stats_sample(w);
}

static void on_stats_tick(pl_loop_t *loop, void *data)
{
	waiter_t *w = data;
	w->timer = NULL;
	stats_next(w);
	pl_req_wake(w->req);
}

/* Appends one sample line, or ends the stream when the container is not running. */
static void stats_sample(waiter_t *w)
{
	pl_container_t *c = pl_container_find(w->app->pl, w->id, NULL);
	json_t *j = c ? pl_container_stats_json(c, NULL) : NULL;
	if (!j) {
		w->done = true;
		return;
	}
	char *s = pl_json_dump(j);
	json_decref(j);
	size_t n = strlen(s);
	if (w->len - w->off < 64 * 1024) { /* a reader that does not read loses samples */
		if (w->len + n + 1 > w->cap) {
			w->cap = (w->len + n + 1) * 2;
			w->buf = pl_xrealloc(w->buf, w->cap);
		}
		memcpy(w->buf + w->len, s, n);
		w->buf[w->len + n] = '\n';
		w->len += n + 1;
	}
	free(s);
	if (w->follow)
		w->timer = pl_loop_timer(w->app->loop, 1000, on_stats_tick, w, NULL);
	else
		w->done = true;
}

static void stats_free(void *data)
{
	waiter_t *w = data;
	free(w->buf);
	waiter_free(w);
}

/* Answers a parked W_GUEST_STATS: the guest's figures when they came, the host's if not. */
static void settle_guest_stats(waiter_t *w)
{
	pl_error_t *e = NULL;
	pl_container_t *c = pl_container_find(w->app->pl, w->id, &e);
	json_t *j = c ? pl_container_stats_json(c, &e) : NULL;
	if (!j)
		return fail(w->req, e);
	pl_reply_json(w->req, 200, j);
}

static void on_guest_stats_timeout(pl_loop_t *loop, void *data)
{
	waiter_t *w = data;
	w->timer = NULL;
	settle_guest_stats(w);
}

static void h_stats(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = lookup(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	bool stream;
	if (pl_req_query_bool(r, "stream", true, &stream, &e) < 0)
		return fail(r, e);
	if (!stream) {
		/* figures from inside the domain: answered when tether's arrive, or from the
		 * host after GUEST_STATS_TIMEOUT_MS (an unresponsive guest) */
		uint64_t target = pl_container_stats_request(c);
		if (target) {
			waiter_t *w = waiter_new(app, r, W_GUEST_STATS, pl_container_id(c));
			w->target = target;
			w->timer = pl_loop_timer(app->loop, GUEST_STATS_TIMEOUT_MS,
						 on_guest_stats_timeout, w, &e);
			if (!w->timer) {
				waiter_free(w);
				return fail(r, e);
			}
			return park(w);
		}
	}
	json_t *first = pl_container_stats_json(c, &e);
	if (!first)
		return fail(r, e);
	if (!stream)
		return pl_reply_json(r, 200, first);
	json_decref(first);
	waiter_t *w = waiter_new(app, r, W_STATS, pl_container_id(c));
	w->follow = true;
	pl_req_park(r, w); /* found by on_change when tether's figures arrive */
	stats_next(w);
	pl_reply_stream(r, 200, "application/x-ndjson", stats_produce, w, stats_free);
}

/* --- storage: layers and images (writes run in worker processes) --- */

typedef enum store_kind { STORE_LAYER, STORE_IMPORT, STORE_PULL, STORE_PUSH } store_kind_t;

typedef struct store_job {
	pl_app_t *app;
	pl_req_t *req;
	store_kind_t kind;
	int fd;
	char expected[PL_DIGEST_LEN + 1];
	/* STORE_PULL */
	char *ref, *platform, *username, *password;
	bool insecure;
	char *image; /* STORE_PUSH: the store's image (id) */
} store_job_t;

static void store_job_free(store_job_t *j)
{
	free(j->ref);
	free(j->image);
	free(j->platform);
	free(j->username);
	pl_free_secret(j->password);
	free(j);
}

static json_t *store_work(void *data, pl_error_t **err)
{
	store_job_t *j = data;
	pl_images_t *im = pl_portlayer_images(j->app->pl);
	if (j->kind == STORE_IMPORT)
		return pl_images_import_job(im, j->fd, err);
	if (j->kind == STORE_PULL || j->kind == STORE_PUSH) {
		pl_pull_opts_t o = {.ref = j->ref,
				    .platform = j->platform,
				    .username = j->username,
				    .password = j->password,
				    .insecure = j->insecure};
		return j->kind == STORE_PUSH ? pl_registry_push(im, j->image, &o, err)
					     : pl_registry_pull(im, &o, err);
	}
	return pl_images_layer_write_job(im, j->fd, j->expected[0] ? j->expected : NULL, err);
}

static void store_done(void *data, const json_t *result, const pl_error_t *err)
{
	store_job_t *j = data;
	pl_images_t *im = pl_portlayer_images(j->app->pl);
	pl_images_reload(im, NULL);
	pl_error_t *e = NULL;
	if (!err && pl_images_apply_names(im, result, &e) < 0)
		err = e;
	pl_images_job(im, false);
	if (err) {
		pl_reply_error(j->req, err);
	} else if (j->kind == STORE_PUSH) {
		pl_events_emit(pl_portlayer_events(j->app->pl), "image", "push", j->image, NULL,
			       json_pack("{s:s, s:O}", "ref", j->ref, "digest",
					 json_object_get(result, "digest")));
		pl_reply_json(j->req, 200, json_deep_copy(result));
	} else {
		const char *action = j->kind == STORE_IMPORT ? "import"
				     : j->kind == STORE_PULL ? "pull"
							     : NULL;
		size_t i;
		json_t *img;
		json_array_foreach(action ? json_object_get(result, "images") : NULL, i, img)
		    pl_events_emit(pl_portlayer_events(j->app->pl), "image", action,
				   json_string_value(json_object_get(img, "id")), NULL,
				   json_pack("{s:O}", "tags", json_object_get(img, "tags")));
		pl_reply_json(j->req, 201, json_deep_copy(result));
	}
	store_job_free(j);
	pl_error_free(e);
}

static void submit_store_job(pl_req_t *r, store_job_t *j)
{
	pl_error_t *e = NULL;
	pl_images_t *im = pl_portlayer_images(j->app->pl);
	pl_images_job(im, true);
	if (pl_work_submit(j->app->workers, store_work, store_done, j, &e) < 0) {
		pl_images_job(im, false);
		store_job_free(j);
		return fail(r, e);
	}
	pl_req_park(r, NULL);
}

static store_job_t *store_job_new(pl_req_t *r, pl_app_t *app, store_kind_t kind)
{
	store_job_t *j = pl_xcalloc(1, sizeof(*j));
	j->app = app;
	j->req = r;
	j->kind = kind;
	j->fd = -1;
	return j;
}

static void submit_body_job(pl_req_t *r, pl_app_t *app, store_kind_t kind)
{
	pl_error_t *e = NULL;
	int fd = pl_req_body_fd(r);
	if (fd < 0) {
		pl_error_set(&e, PL_ERR_INVALID, 0, "a tar body is required");
		return fail(r, e);
	}
	const char *dg = pl_req_query(r, "digest");
	if (dg && strlen(dg) != PL_DIGEST_LEN) {
		pl_error_set(&e, PL_ERR_INVALID, 0, "digest \"%s\" is not sha256:<64 hex>", dg);
		return fail(r, e);
	}
	store_job_t *j = store_job_new(r, app, kind);
	j->fd = fd;
	if (dg)
		snprintf(j->expected, sizeof(j->expected), "%s", dg);
	submit_store_job(r, j);
}

static void h_layer_write(pl_req_t *r, void *data)
{
	submit_body_job(r, data, STORE_LAYER);
}

static void h_image_import(pl_req_t *r, void *data)
{
	submit_body_job(r, data, STORE_IMPORT);
}

/* The optional body {"username","password"} of a pull or push (what names it in errors):
 * *body holds the strings *user and *pass point into (both NULL without a body). */
static int req_login(pl_req_t *r, const char *what, json_t **body, const char **user,
		     const char **pass, pl_error_t **e)
{
	static const char *const keys[] = {"username", "password", NULL};
	if (!pl_req_has_body(r))
		return 0;
	*body = pl_req_json(r, e);
	if (!*body || pl_json_check_keys(*body, what, keys, e) < 0 ||
	    pl_json_get_string(*body, "username", user, e) < 0 ||
	    pl_json_get_string(*body, "password", pass, e) < 0)
		return -1;
	return 0;
}

/* ?ref=HOST[:PORT]/REPO[:TAG|@sha256:HEX][&insecure=1][&platform=os/arch[/variant]], with an
 * optional body {"username","password"}: the registry's credentials. */
static void h_image_pull(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	const char *ref = pl_req_query(r, "ref");
	bool insecure;
	if (!ref || !*ref) {
		pl_error_set(&e, PL_ERR_INVALID, 0,
			     "pull needs ?ref=HOST[:PORT]/REPO[:TAG|@sha256:DIGEST]");
		return fail(r, e);
	}
	pl_registry_ref_t parsed;
	if (pl_registry_ref_parse(ref, &parsed, &e) < 0)
		return fail(r, e);
	pl_registry_ref_clear(&parsed);
	if (pl_req_query_bool(r, "insecure", false, &insecure, &e) < 0)
		return fail(r, e);
	const char *user = NULL, *pass = NULL;
	_cleanup_json_ json_t *body = NULL;
	if (req_login(r, "pull", &body, &user, &pass, &e) < 0)
		return fail(r, e);
	bool progress;
	if (pl_req_query_bool(r, "progress", false, &progress, &e) < 0)
		return fail(r, e);
	if (progress)
		return pl_pull_stream(r, app, ref, pl_req_query(r, "platform"), user, pass,
				      insecure);
	store_job_t *j = store_job_new(r, app, STORE_PULL);
	j->ref = pl_xstrdup(ref);
	const char *platform = pl_req_query(r, "platform");
	j->platform = platform && *platform ? pl_xstrdup(platform) : NULL;
	j->username = user && *user ? pl_xstrdup(user) : NULL;
	j->password = pass ? pl_xstrdup(pass) : NULL;
	j->insecure = insecure;
	submit_store_job(r, j);
}

/* POST /images/{name}/push[?tag=T][&insecure=1], body {"username","password"}: the image
 * named NAME[:T] goes to the registry its name names, as docker push does. */
static void h_image_push(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	const char *tag = pl_req_query(r, "tag");
	_cleanup_free_ char *ref =
	    tag && *tag ? pl_xasprintf("%s:%s", pl_req_param(r), tag) : pl_xstrdup(pl_req_param(r));
	const json_t *img = pl_image_find(pl_portlayer_images(app->pl), ref, &e);
	if (!img)
		return fail(r, e);
	pl_registry_ref_t parsed;
	if (pl_registry_ref_parse(ref, &parsed, &e) < 0)
		return fail(r, e);
	pl_registry_ref_clear(&parsed);
	bool insecure;
	if (pl_req_query_bool(r, "insecure", false, &insecure, &e) < 0)
		return fail(r, e);
	const char *user = NULL, *pass = NULL;
	_cleanup_json_ json_t *body = NULL;
	if (req_login(r, "push", &body, &user, &pass, &e) < 0)
		return fail(r, e);
	store_job_t *j = store_job_new(r, app, STORE_PUSH);
	j->ref = TAKE_PTR(ref);
	j->image = pl_xstrdup(pl_image_id(img));
	j->username = user && *user ? pl_xstrdup(user) : NULL;
	j->password = pass ? pl_xstrdup(pass) : NULL;
	j->insecure = insecure;
	submit_store_job(r, j);
}

static void h_images(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_reply_json(r, 200, pl_images_list_json(pl_portlayer_images(app->pl)));
}

static const json_t *lookup_image(pl_req_t *r, pl_app_t *app, const char *ref)
{
	pl_error_t *e = NULL;
	const json_t *img = pl_image_find(pl_portlayer_images(app->pl), ref ? ref : "", &e);
	if (!img)
		fail(r, e);
	return img;
}

static void h_image_inspect(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	const json_t *img = lookup_image(r, app, pl_req_param(r));
	if (img)
		pl_reply_json(r, 200, pl_image_inspect_json(pl_portlayer_images(app->pl), img));
}

static void h_image_tag(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	const json_t *img = lookup_image(r, app, pl_req_query(r, "ref"));
	if (!img)
		return;
	pl_error_t *e = NULL;
	const char *name = pl_req_query(r, "name");
	if (!name || pl_image_tag(pl_portlayer_images(app->pl), img, name, &e) < 0) {
		if (!e)
			pl_error_set(&e, PL_ERR_INVALID, 0, "tag needs ?ref=IMAGE&name=NAME[:TAG]");
		return fail(r, e);
	}
	pl_events_emit(pl_portlayer_events(app->pl), "image", "tag", pl_image_id(img), NULL,
		       json_pack("{s:s}", "name", name));
	pl_reply_empty(r, 201);
}

static void h_image_remove(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	const char *ref = pl_req_param(r);
	const json_t *img = lookup_image(r, app, ref);
	if (!img)
		return;
	_cleanup_free_ char *id = pl_xstrdup(pl_image_id(img));
	pl_error_t *e = NULL;
	if (pl_image_remove(pl_portlayer_images(app->pl), ref,
			    pl_portlayer_image_in_use(app->pl, id), &e) < 0)
		return fail(r, e);
	pl_events_emit(pl_portlayer_events(app->pl), "image", "untag", id, NULL,
		       json_pack("{s:s}", "name", ref));
	pl_reply_empty(r, 204);
}

/* --- volumes --- */

static void h_volume_create(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *body = pl_req_has_body(r) ? pl_req_json(r, &e) : json_object();
	json_t *vol = body ? pl_volume_create(pl_portlayer_volumes(app->pl), body, &e) : NULL;
	if (!vol)
		return fail(r, e);
	pl_events_emit(pl_portlayer_events(app->pl), "volume", "create",
		       json_string_value(json_object_get(vol, "name")), NULL, NULL);
	pl_reply_json(r, 201, vol);
}

static void h_volumes(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_reply_json(r, 200, pl_volumes_list(pl_portlayer_volumes(app->pl)));
}

static void h_volume_inspect(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	json_t *vol = pl_volume_get(pl_portlayer_volumes(app->pl), pl_req_param(r), false, &e);
	if (!vol)
		return fail(r, e);
	pl_reply_json(r, 200, vol);
}

static void h_volume_remove(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	bool force;
	const char *name = pl_req_param(r);
	if (pl_req_query_bool(r, "force", false, &force, &e) < 0)
		return fail(r, e);
	/* force detaches stopped users only: a running container keeps its data */
	if (pl_portlayer_volume_in_use(app->pl, name, force)) {
		pl_error_set(&e, PL_ERR_CONFLICT, 0, "volume %s is in use by a %scontainer", name,
			     force ? "running " : "");
		return fail(r, e);
	}
	if (pl_volume_remove(pl_portlayer_volumes(app->pl), name, &e) < 0)
		return fail(r, e);
	pl_events_emit(pl_portlayer_events(app->pl), "volume", "remove", name, NULL, NULL);
	pl_reply_empty(r, 204);
}

/* --- handles --- */

static void h_take_handle(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = lookup(r, app);
	if (!c)
		return;
	const char *token = pl_handle_take(app->handles, c);
	pl_reply_json(r, 200,
		      json_pack("{s:s, s:s, s:I}", "handle", token, "id", pl_container_id(c),
				"version", (json_int_t)pl_container_version(c)));
}

static pl_handle_t *lookup_handle(pl_req_t *r, pl_app_t *app)
{
	pl_error_t *e = NULL;
	pl_handle_t *h = pl_handle_get(app->handles, pl_req_param(r), &e);
	if (!h)
		fail(r, e);
	return h;
}

static void h_handle_inspect(pl_req_t *r, void *data)
{
	pl_handle_t *h = lookup_handle(r, data);
	if (h)
		pl_reply_json(r, 200, pl_handle_json(h));
}

static void h_handle_drop(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_handle_t *h = lookup_handle(r, app);
	if (!h)
		return;
	pl_handle_drop(app->handles, h);
	pl_reply_empty(r, 204);
}

static void h_mutate(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_handle_t *h = lookup_handle(r, app);
	if (!h)
		return;
	pl_error_t *e = NULL;
	_cleanup_json_ json_t *body = pl_req_json(r, &e);
	if (!body)
		return fail(r, e);
	const char *token = pl_handle_mutate(app->handles, app->pl, h, pl_req_param2(r), body, &e);
	if (!token)
		return fail(r, e);
	pl_reply_json(r, 200, json_pack("{s:s}", "handle", token));
}

static void h_commit(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_handle_t *h = lookup_handle(r, app);
	if (!h)
		return;
	pl_error_t *e = NULL;
	pl_commit_result_t res;
	if (pl_handle_commit(app->pl, h, &res, &e) < 0) {
		if (e && e->kind == PL_ERR_CONFLICT) {
			pl_container_t *c =
			    pl_container_find(app->pl, pl_handle_container_id(h), NULL);
			pl_reply_json(r, 409,
				      json_pack("{s:s, s:I}", "message", e->msg, "version",
						(json_int_t)(c ? pl_container_version(c) : 0)));
			pl_error_free(e);
			return;
		}
		return fail(r, e);
	}
	pl_container_t *c = pl_container_find(app->pl, pl_handle_container_id(h), NULL);
	json_t *reply =
	    json_pack("{s:s, s:I}", "id", pl_container_id(c), "version", (json_int_t)res.version);
	pl_handle_drop(app->handles, h); /* spent: its version is gone */
	change_state(app, r, c, res.state, res.stop_timeout, reply, false);
}

static void h_kill(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = lookup(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	const char *name = pl_req_query(r, "signal");
	int signo = SIGKILL;
	if (name && pl_signal_parse(name, &signo) < 0) {
		pl_error_set(&e, PL_ERR_INVALID, 0, "invalid signal \"%s\"", name);
		return fail(r, e);
	}
	if (pl_container_kill(app->pl, c, signo, &e) < 0)
		return fail(r, e);
	pl_reply_empty(r, 204);
}

static void h_remove(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	bool force;
	if (pl_req_query_bool(r, "force", false, &force, &e) < 0)
		return fail(r, e);
	const char *ref = pl_req_param(r);
	pl_container_t *c = pl_container_find(app->pl, ref, &e);
	if (!c) {
		/* ids are never reused: a full id that is gone was removed already */
		if (pl_id_is_full(ref) && e->kind == PL_ERR_NOTFOUND) {
			pl_error_free(e);
			return pl_reply_empty(r, 204);
		}
		return fail(r, e);
	}
	_cleanup_free_ char *id = pl_xstrdup(pl_container_id(c));
	if (pl_container_remove(app->pl, c, force, &e) < 0)
		return fail(r, e);
	pl_log_info("removed container %.12s", id);
	pl_reply_empty(r, 204);
}

/* --- logs --- */

static ssize_t logs_produce(pl_req_t *r, char *buf, size_t max, void *data)
{
	waiter_t *w = data;
	ssize_t n = pl_log_read(w->cursor, buf, max);
	if (n != 0)
		return n;
	if (!w->follow)
		return -1;
	pl_container_t *c = pl_container_find(w->app->pl, w->id, NULL);
	if (!c || !pl_container_is_running(c))
		return -1;
	return 0;
}

static void logs_free(void *data)
{
	waiter_t *w = data;
	pl_log_close(w->cursor);
	waiter_free(w);
}

static int parse_time_param(pl_req_t *r, const char *key, int64_t *out, pl_error_t **e)
{
	const char *v = pl_req_query(r, key);
	*out = 0;
	if (!v || !*v || strcmp(v, "0") == 0)
		return 0;
	if (pl_time_parse(v, out) < 0)
		return pl_error_set(e, PL_ERR_INVALID, 0,
				    "query parameter %s=\"%s\" must be RFC 3339 or unix seconds",
				    key, v);
	return 0;
}

static void h_logs(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_container_t *c = lookup(r, app);
	if (!c)
		return;
	pl_error_t *e = NULL;
	pl_log_opts_t o = {.tail = -1};
	bool follow;
	if (pl_req_query_bool(r, "follow", false, &follow, &e) < 0 ||
	    pl_req_query_bool(r, "stdout", true, &o.out, &e) < 0 ||
	    pl_req_query_bool(r, "stderr", true, &o.err, &e) < 0 ||
	    pl_req_query_bool(r, "timestamps", false, &o.timestamps, &e) < 0 ||
	    parse_time_param(r, "since", &o.since_ns, &e) < 0 ||
	    parse_time_param(r, "until", &o.until_ns, &e) < 0)
		return fail(r, e);
	const char *tail = pl_req_query(r, "tail");
	if (tail && *tail && strcmp(tail, "all") != 0) {
		int64_t t;
		if (pl_parse_int64(tail, 0, INT32_MAX, &t) < 0) {
			pl_error_set(&e, PL_ERR_INVALID, 0,
				     "query parameter tail=\"%s\" must be a number or \"all\"",
				     tail);
			return fail(r, e);
		}
		o.tail = (long)t;
	}
	waiter_t *w = waiter_new(app, r, W_LOGS, pl_container_id(c));
	w->follow = follow;
	w->cursor = pl_log_open(pl_container_dirfd(c), &o, &e);
	if (!w->cursor) {
		free(w);
		return fail(r, e);
	}
	if (follow) {
		_cleanup_free_ char *path = pl_xasprintf("%s/container.log", pl_container_dir(c));
		if (inotify_add_watch(app->inotify_fd, path, IN_MODIFY) < 0)
			pl_log_warn("inotify %s: %m", path);
	}
	w->req = r;
	pl_req_park(r, w);
	pl_reply_stream(r, 200, "application/vnd.docker.multiplexed-stream", logs_produce, w,
			logs_free);
}

/* --- change notifications --- */

static void on_change(pl_portlayer_t *pl, pl_container_t *c, void *data)
{
	pl_app_t *app = data;
	const char *id = pl_container_id(c);
	bool gone = pl_container_status(c) == PL_STATUS_REMOVING;
	pl_attach_link_drained(app, c);
	pl_req_t *next;
	for (pl_req_t *r = pl_http_parked_first(app->http); r; r = next) {
		next = pl_req_parked_next(r);
		waiter_t *w = pl_req_wait_data(r);
		if (!w || strcmp(w->id, id) != 0)
			continue;
		if (w->kind == W_LOGS) {
			pl_req_wake(r);
		} else if (w->kind == W_EXEC) {
			pl_exec_t *ex = pl_exec_find(app->pl, w->exec_id, NULL);
			if (!ex)
				pl_reply_empty(r, 404);
			else if (!pl_exec_running(ex))
				pl_reply_json(r, 200, pl_exec_inspect_json(ex));
		} else if (w->kind == W_STATS) {
			if (w->target && (pl_container_stats_seq(c) >= w->target ||
					  !pl_container_is_running(c))) {
				w->timer = pl_loop_timer_cancel(app->loop, w->timer);
				w->target = 0;
				stats_sample(w);
				pl_req_wake(r);
			}
		} else if (w->kind == W_GUEST_STATS) {
			if (pl_container_stats_seq(c) >= w->target || !pl_container_is_running(c))
				settle_guest_stats(w);
		} else if (w->kind == W_EXIT) {
			if (pl_container_exits(c) >= w->target) {
				settle_exit(w, c);
			} else if (gone) {
				pl_error_t *e = NULL;
				pl_error_set(&e, PL_ERR_NOTFOUND, 0, "container %.12s was removed",
					     id);
				fail(r, e);
			}
		}
	}
}

static void on_inotify(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	pl_app_t *app = data;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pl_req_t *next;
	for (pl_req_t *r = pl_http_parked_first(app->http); r; r = next) {
		next = pl_req_parked_next(r);
		waiter_t *w = pl_req_wait_data(r);
		if (w && w->kind == W_LOGS)
			pl_req_wake(r);
	}
}

/* --- events --- */

static bool filter_has(const json_t *filters, const char *key, const char *v1, const char *v2)
{
	json_t *vals = json_object_get(filters, key);
	if (!vals || !json_array_size(vals))
		return true;
	size_t i;
	json_t *e;
	json_array_foreach(vals, i, e)
	{
		const char *want = json_string_value(e);
		if (v1 && *v1 &&
		    (strcmp(want, v1) == 0 ||
		     (strlen(want) >= 4 && strncmp(v1, want, strlen(want)) == 0)))
			return true;
		if (v2 && *v2 && strcmp(want, v2) == 0)
			return true;
	}
	return false;
}

static bool event_matches(const json_t *filters, const json_t *ev)
{
	if (!filters)
		return true;
	const char *id = json_string_value(json_object_get(ev, "id"));
	const char *name =
	    json_string_value(json_object_get(json_object_get(ev, "attributes"), "name"));
	return filter_has(filters, "type", json_string_value(json_object_get(ev, "type")), NULL) &&
	       filter_has(filters, "event", json_string_value(json_object_get(ev, "action")),
			  NULL) &&
	       filter_has(filters, "container", id, name);
}

#define EVENT_BUFFER_MAX (4u << 20)

static void events_append(const json_t *ev, const char *line, void *data)
{
	waiter_t *w = data;
	if (w->done || !event_matches(w->filters, ev))
		return;
	json_int_t t = json_integer_value(json_object_get(ev, "time_ns"));
	if (w->target && (uint64_t)t > w->target) { /* past `until` */
		w->done = true;
		return;
	}
	size_t n = strlen(line);
	if (w->len - w->off + n > EVENT_BUFFER_MAX) {
		/* a reader this far behind is cut off; it resumes with since= */
		w->done = true;
		return;
	}
	if (w->len + n > w->cap && w->buf) {
		memmove(w->buf, w->buf + w->off, w->len - w->off);
		w->len -= w->off;
		w->off = 0;
	}
	if (w->len + n > w->cap) {
		w->cap = (w->len + n) * 2;
		w->buf = pl_xrealloc(w->buf, w->cap);
	}
	memcpy(w->buf + w->len, line, n);
	w->len += n;
}

static ssize_t events_produce(pl_req_t *r, char *buf, size_t max, void *data)
{
	waiter_t *w = data;
	size_t n = w->len - w->off;
	if (n == 0)
		return w->done ? -1 : 0;
	if (n > max)
		n = max;
	memcpy(buf, w->buf + w->off, n);
	w->off += n;
	return (ssize_t)n;
}

static void events_free(void *data)
{
	waiter_t *w = data;
	pl_app_t *app = w->app;
	if (w->prev_sub)
		w->prev_sub->next_sub = w->next_sub;
	else if (app->event_subs == w)
		app->event_subs = w->next_sub;
	if (w->next_sub)
		w->next_sub->prev_sub = w->prev_sub;
	if (w->filters)
		json_decref(w->filters);
	free(w->buf);
	waiter_free(w);
}

static void on_event(const json_t *ev, const char *line, void *data)
{
	pl_app_t *app = data;
	for (waiter_t *w = app->event_subs; w; w = w->next_sub) {
		events_append(ev, line, w);
		pl_req_wake(w->req);
	}
}

static void on_events_until(pl_loop_t *loop, void *data)
{
	waiter_t *w = data;
	w->timer = NULL;
	w->done = true;
	pl_req_wake(w->req);
}

static void h_events(pl_req_t *r, void *data)
{
	pl_app_t *app = data;
	pl_error_t *e = NULL;
	int64_t since, until;
	if (parse_time_param(r, "since", &since, &e) < 0 ||
	    parse_time_param(r, "until", &until, &e) < 0)
		return fail(r, e);
	json_t *filters = NULL;
	const char *f = pl_req_query(r, "filters");
	if (f && *f) {
		filters = pl_json_parse(f, strlen(f), "filters", &e);
		static const char *const keys[] = {"type", "container", "event", NULL};
		if (!filters || pl_json_check_keys(filters, "filters", keys, &e) < 0) {
			if (filters)
				json_decref(filters);
			return fail(r, e);
		}
		const char *k;
		json_t *v;
		json_object_foreach(filters, k, v)
		{
			size_t i;
			json_t *s;
			bool ok = json_is_array(v);
			json_array_foreach(v, i, s) ok &= json_is_string(s);
			if (!ok) {
				pl_error_set(&e, PL_ERR_INVALID, 0,
					     "filters.%s must be an array of strings", k);
				json_decref(filters);
				return fail(r, e);
			}
		}
	}
	waiter_t *w = waiter_new(app, r, W_EVENTS, "");
	w->filters = filters;
	w->target = (uint64_t)until;
	if (since || until)
		pl_events_replay(pl_portlayer_events(app->pl), since, until, events_append, w);
	int64_t now = pl_now_ns();
	if (until && until <= now) {
		w->done = true;
	} else if (until) {
		w->timer = pl_loop_timer(app->loop, (uint64_t)(until - now) / 1000000 + 1,
					 on_events_until, w, NULL);
	}
	w->next_sub = app->event_subs;
	if (app->event_subs)
		app->event_subs->prev_sub = w;
	app->event_subs = w;
	pl_reply_stream(r, 200, "application/x-ndjson", events_produce, w, events_free);
}

static const pl_route_t routes[] = {
    {"GET", "/_ping", h_ping},
    {"GET", "/info", h_info},
    {"GET", "/containers", h_list},
    {"POST", "/containers", h_create},
    {"GET", "/containers/{id}", h_inspect},
    {"DELETE", "/containers/{id}", h_remove},
    {"POST", "/containers/{id}/start", h_start},
    {"POST", "/containers/{id}/stop", h_stop},
    {"POST", "/containers/{id}/kill", h_kill},
    {"POST", "/containers/{id}/wait", h_wait},
    {"GET", "/containers/{id}/logs", h_logs},
    {"GET", "/containers/{id}/handle", h_take_handle},
    {"POST", "/containers/{id}/attach", h_attach},
    {"GET", "/containers/{id}/stats", h_stats},
    {"POST", "/containers/{id}/resize", h_resize},
    {"POST", "/containers/{id}/exec", h_exec_create},
    {"POST", "/exec/{id}/start", h_exec_start},
    {"GET", "/exec/{id}/json", h_exec_inspect},
    {"POST", "/exec/{id}/resize", h_exec_resize},
    {"POST", "/exec/{id}/wait", h_exec_wait},
    {"DELETE", "/exec/{id}", h_exec_remove},
    {"POST", "/containers/{id}/pause", h_pause},
    {"POST", "/containers/{id}/unpause", h_unpause},
    {"POST", "/containers/{id}/update", h_update},
    {"GET", "/containers/{id}/export", pl_h_container_export},
    {"GET", "/containers/{id}/changes", pl_h_container_changes},
    {"GET", "/containers/{id}/archive", pl_h_archive_get},
    {"HEAD", "/containers/{id}/archive", pl_h_archive_head},
    {"PUT", "/containers/{id}/archive", pl_h_archive_put, true},
    {"POST", "/commit", pl_h_commit_container},
    {"GET", "/handles/{handle}", h_handle_inspect},
    {"DELETE", "/handles/{handle}", h_handle_drop},
    {"POST", "/handles/{handle}/commit", h_commit},
    {"POST", "/handles/{handle}/{op}", h_mutate},
    {"GET", "/events", h_events},
    {"POST", "/layers", h_layer_write, true},
    {"POST", "/images/import", h_image_import, true},
    {"POST", "/images/pull", h_image_pull},
    {"POST", "/images/tag", h_image_tag},
    {"GET", "/images", h_images},
    {"POST", "/volumes", h_volume_create},
    {"GET", "/volumes", h_volumes},
    {"GET", "/volumes/{name}", h_volume_inspect},
    {"DELETE", "/volumes/{name}", h_volume_remove},
    {"POST", "/networks", pl_h_network_create},
    {"GET", "/networks", pl_h_networks},
    {"GET", "/networks/{name}", pl_h_network_inspect},
    {"DELETE", "/networks/{name}", pl_h_network_remove},
    {"GET", "/containers/{id}/ports", pl_h_container_ports},
    {"POST", "/images/{ref*}/push", h_image_push},
    {"GET", "/images/{ref*}", h_image_inspect},
    {"DELETE", "/images/{ref*}", h_image_remove},
    {NULL, NULL, NULL},
};

int pl_routes_init(pl_app_t *app, pl_error_t **err)
{
	app->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (app->inotify_fd < 0)
		return pl_error_errno(err, "inotify_init");
	app->inotify_watch =
	    pl_loop_watch(app->loop, app->inotify_fd, EPOLLIN, on_inotify, app, err);
	if (!app->inotify_watch)
		return -1;
	app->http = pl_http_new(app->loop, routes, app);
	app->handles = pl_handles_new();
	app->workers = pl_workers_new(app->loop);
	pl_events_subscribe(pl_portlayer_events(app->pl), on_event, app);
	pl_portlayer_on_change(app->pl, on_change, app);
	return 0;
}

void pl_routes_shutdown(pl_app_t *app)
{
	/* answer whoever still waits: the daemon is going, the containers are not */
	pl_req_t *r;
	while ((r = pl_http_parked_first(app->http))) {
		pl_error_t *e = NULL;
		pl_error_set(&e, PL_ERR_INTERNAL, 0, "the daemon is shutting down");
		waiter_t *w = pl_req_wait_data(r);
		if (w && w->kind == W_LOGS) {
			/* the stream ends at its next read */
			w->follow = false;
			pl_req_wake(r);
			pl_error_free(e);
			continue;
		}
		fail(r, e);
	}
	for (waiter_t *w = app->event_subs; w; w = w->next_sub) {
		w->done = true;
		pl_req_wake(w->req);
	}
	pl_attach_close_all(app);
	app->http = pl_http_free(app->http);
	app->handles = pl_handles_free(app->handles);
	app->workers = pl_workers_free(app->workers);
	app->inotify_watch = pl_loop_unwatch(app->loop, app->inotify_watch);
	if (app->inotify_fd >= 0)
		close(app->inotify_fd);
}
