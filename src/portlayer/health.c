/* SPDX-License-Identifier: Apache-2.0 */
/* Health checks run as exec sessions (the healthcheck field itself: health_config.c): a timer per
 * running container starts the check's command through the same path as POST /containers/{id}/exec,
 * a sink collects the first 4 KiB of its output, a second timer kills it when it overruns its
 * timeout, and its exit code moves the status (Docker's rules: a success makes it healthy,
 * `retries` failures in a row make it unhealthy, failures during `start_period` count only once it
 * has been healthy). The exec record is removed once the result is taken. */
#include "portlayer/health.h"
#include "portlayer/internal.h"
#include "portlayer/link.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define HEALTH_FILE "health.json"
#define OUTPUT_MAX  4096
#define LOG_ENTRIES 5

typedef struct check check_t;

typedef struct pl_health {
	pl_container_t *c;
	const char *status; /* static strings */
	int streak;
	json_t *log;
	int64_t started_ns; /* the run this record belongs to */
	pl_timer_t *timer;  /* the next check */
	check_t *check;	    /* the one running */
	/* a check a previous daemon left running: its exec record goes once it ended */
	char orphan[PL_ID_LEN + 1];
} pl_health_t;

struct check {
	pl_sink_t sink; /* first: the session hands this pointer back */
	pl_health_t *h;
	char exec_id[PL_ID_LEN + 1];
	uint32_t session;
	int64_t start_ns;
	char out[OUTPUT_MAX];
	size_t out_len;
	bool timed_out, ended, attached;
	pl_timer_t *deadline, *done;
};

static bool has_check(const pl_config_t *cfg)
{
	const char *kind =
	    json_string_value(json_array_get(json_object_get(cfg->healthcheck, "test"), 0));
	return kind && strcmp(kind, "NONE") != 0;
}

static double hc_seconds(const pl_container_t *c, const char *key)
{
	return json_number_value(json_object_get(c->config->healthcheck, key));
}

static uint64_t hc_ms(const pl_container_t *c, const char *key)
{
	double ms = hc_seconds(c, key) * 1000;
	return ms < 1 ? 1 : (uint64_t)ms;
}

/* --- the record --- */

static const char *status_static(const char *s)
{
	if (s && !strcmp(s, "healthy"))
		return "healthy";
	if (s && !strcmp(s, "unhealthy"))
		return "unhealthy";
	return "starting";
}

static pl_health_t *record(pl_container_t *c)
{
	if (!c->health) {
		c->health = pl_xcalloc(1, sizeof(*c->health));
		c->health->c = c;
		c->health->status = "starting";
		c->health->log = json_array();
	}
	return c->health;
}

static void save(pl_health_t *h)
{
	pl_container_t *c = h->c;
	_cleanup_json_ json_t *doc =
	    json_pack("{s:I, s:s, s:i, s:O}", "started_ns", (json_int_t)h->started_ns, "status",
		      h->status, "failing_streak", h->streak, "log", h->log);
	/* the running check's exec, so a daemon that dies meanwhile can clear it up */
	const char *running = h->check && h->check->exec_id[0] ? h->check->exec_id : h->orphan;
	if (*running)
		json_object_set_new(doc, "check_exec", json_string(running));
	_cleanup_free_ char *s = pl_json_dump(doc);
	/* like state.json: renamed into place (a torn record is never read), not fsync'd: the
	 * next check recomputes it */
	_cleanup_close_ int fd = openat(c->dirfd, "." HEALTH_FILE ".tmp",
					O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s) ||
	    renameat(c->dirfd, "." HEALTH_FILE ".tmp", c->dirfd, HEALTH_FILE) < 0)
		pl_log_warn("container %.12s: cannot record health: %m", c->id);
}

/* health.json if it is the record of the container's current (or last) run, else NULL. */
static json_t *read_record(const pl_container_t *c)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	if (pl_read_file_at(c->dirfd, HEALTH_FILE, &buf, &len, 1 << 20, NULL) < 0)
		return NULL;
	json_t *j = json_loadb(buf, len, 0, NULL);
	/* a record of an earlier run says nothing about this one */
	if (j && json_integer_value(json_object_get(j, "started_ns")) != c->started_ns) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* Removes the exec record of a check an earlier daemon left running, once it ended. */
static void drop_orphan(pl_health_t *h)
{
	if (!h->orphan[0])
		return;
	pl_exec_t *ex = pl_exec_find(h->c->pl, h->orphan, NULL);
	if (ex && pl_exec_running(ex))
		return;
	if (ex)
		pl_exec_remove(h->c->pl, ex, NULL);
	h->orphan[0] = 0;
}

static void load(pl_health_t *h)
{
	_cleanup_json_ json_t *j = read_record(h->c);
	if (!j)
		return;
	const char *orphan = json_string_value(json_object_get(j, "check_exec"));
	if (orphan && pl_id_is_full(orphan))
		snprintf(h->orphan, sizeof(h->orphan), "%s", orphan);
	h->status = status_static(json_string_value(json_object_get(j, "status")));
	h->streak = (int)json_integer_value(json_object_get(j, "failing_streak"));
	json_t *log = json_object_get(j, "log");
	if (json_is_array(log)) {
		json_decref(h->log);
		h->log = json_incref(log);
	}
}

static void schedule(pl_health_t *h, uint64_t ms);

static void check_free(check_t *ck)
{
	pl_health_t *h = ck->h;
	pl_container_t *c = h->c;
	ck->deadline = pl_loop_timer_cancel(c->pl->loop, ck->deadline);
	ck->done = pl_loop_timer_cancel(c->pl->loop, ck->done);
	if (ck->attached && !ck->ended)
		pl_session_detach(c, ck->session, &ck->sink);
	pl_exec_t *ex = pl_exec_find(c->pl, ck->exec_id, NULL);
	if (ex && !pl_exec_running(ex))
		pl_exec_remove(c->pl, ex, NULL);
	if (h->check == ck)
		h->check = NULL;
	free(ck);
}

static void set_status(pl_health_t *h, const char *status)
{
	if (h->status == status)
		return;
	h->status = status;
	pl_container_emit(h->c, "health_status", json_pack("{s:s}", "health_status", status));
}

/* The check's exit is known (the exec ended, settled after the session is done with it). */
static void on_done(pl_loop_t *loop, void *data)
{
	check_t *ck = data;
	ck->done = NULL;
	pl_health_t *h = ck->h;
	pl_container_t *c = h->c;
	pl_exec_t *ex = pl_exec_find(c->pl, ck->exec_id, NULL);
	_cleanup_json_ json_t *info = ex ? pl_exec_inspect_json(ex) : NULL;
	json_t *code = json_object_get(info, "exit_code");
	int exit_code = ck->timed_out		? -1
			: json_is_integer(code) ? (int)json_integer_value(code)
						: -1;
	json_t *out;
	if (ck->timed_out) {
		out = json_sprintf("Health check exceeded timeout (%gs)", hc_seconds(c, "timeout"));
	} else {
		const char *err = json_string_value(json_object_get(info, "error"));
		if (!ck->out_len && err && *err) {
			out = json_string(err);
		} else {
			out = json_stringn(ck->out, ck->out_len);
			for (size_t i = 0; !out && i < ck->out_len; i++) /* not UTF-8: ASCII only */
				if ((unsigned char)ck->out[i] >= 0x80)
					ck->out[i] = '?';
			if (!out)
				out = json_stringn(ck->out, ck->out_len);
		}
		if (!out)
			out = json_string("");
	}
	json_t *entry =
	    json_pack("{s:o, s:o, s:i, s:o}", "start", pl_json_time(ck->start_ns), "end",
		      pl_json_time(pl_now_ns()), "exit_code", exit_code, "output", out);
	json_array_append_new(h->log, entry);
	while (json_array_size(h->log) > LOG_ENTRIES)
		json_array_remove(h->log, 0);
	check_free(ck);
	drop_orphan(h);
	if (exit_code == 0) {
		h->streak = 0;
		set_status(h, "healthy");
	} else {
		bool starting =
		    pl_now_ns() - c->started_ns < (int64_t)(hc_seconds(c, "start_period") * 1e9);
		if (!(starting && !strcmp(h->status, "starting"))) {
			h->streak++;
			if (h->streak >= (int)json_integer_value(
					     json_object_get(c->config->healthcheck, "retries")))
				set_status(h, "unhealthy");
		}
	}
	save(h);
	pl_container_changed(c);
	if (pl_container_is_running(c))
		schedule(h, hc_ms(c, "interval"));
}

static void on_output(pl_sink_t *s, int stream, const uint8_t *buf, size_t len)
{
	check_t *ck = (check_t *)s;
	size_t room = OUTPUT_MAX - ck->out_len;
	memcpy(ck->out + ck->out_len, buf, len < room ? len : room);
	ck->out_len += len < room ? len : room;
	pl_session_consumed(ck->h->c, ck->session, s, len);
}

static void on_ended(pl_sink_t *s)
{
	check_t *ck = (check_t *)s;
	ck->ended = true;
	/* not here: the session is still inside its exit bookkeeping */
	if (!ck->done)
		ck->done = pl_loop_timer(ck->h->c->pl->loop, 0, on_done, ck, NULL);
}

static void on_deadline(pl_loop_t *loop, void *data)
{
	check_t *ck = data;
	ck->deadline = NULL;
	ck->timed_out = true;
	pl_container_send(ck->h->c, PL_MSG_SIGNAL,
			  json_pack("{s:i, s:i, s:b}", "session", (int)ck->session, "signal",
				    SIGKILL, "group", 1));
}

static void run_check(pl_loop_t *loop, void *data)
{
	pl_health_t *h = data;
	pl_container_t *c = h->c;
	h->timer = NULL;
	if (!pl_container_is_running(c) || h->check)
		return;
	json_t *test = json_object_get(c->config->healthcheck, "test");
	json_t *args = json_array();
	if (!strcmp(json_string_value(json_array_get(test, 0)), "CMD-SHELL")) {
		json_array_append_new(args, json_string("/bin/sh"));
		json_array_append_new(args, json_string("-c"));
		json_array_append(args, json_array_get(test, 1));
	} else {
		for (size_t i = 1; i < json_array_size(test); i++)
			json_array_append(args, json_array_get(test, i));
	}
	_cleanup_json_ json_t *spec = json_pack("{s:o}", "args", args);
	pl_error_t *e = NULL;
	pl_exec_t *ex = pl_exec_create(c->pl, c, spec, &e);
	check_t *ck = pl_xcalloc(1, sizeof(*ck));
	ck->h = h;
	ck->sink.data = on_output;
	ck->sink.ended = on_ended;
	ck->start_ns = pl_now_ns();
	if (ex) {
		snprintf(ck->exec_id, sizeof(ck->exec_id), "%s", pl_exec_id(ex));
		ck->session = pl_exec_session(ex);
	}
	h->check = ck;
	/* the exec starts first; tether holds its output for the attach that follows at once */
	if (!ex || pl_exec_start(c->pl, ex, NULL, NULL, &e) < 0 ||
	    pl_session_attach(c, ck->session, &ck->sink, &e) < 0) {
		pl_log_debug("container %.12s: health check: %s", c->id, e ? e->msg : "?");
		pl_error_free(e);
		check_free(ck);
		if (pl_container_is_running(c))
			schedule(h, hc_ms(c, "interval"));
		return;
	}
	ck->attached = true;
	ck->deadline = pl_loop_timer(c->pl->loop, hc_ms(c, "timeout"), on_deadline, ck, NULL);
	save(h); /* with the check's exec, for a daemon that has to clear it up */
}

static void schedule(pl_health_t *h, uint64_t ms)
{
	pl_container_t *c = h->c;
	h->timer = pl_loop_timer_cancel(c->pl->loop, h->timer);
	h->timer = pl_loop_timer(c->pl->loop, ms, run_check, h, NULL);
}

/* --- hooks --- */

static void health_start(pl_container_t *c, bool resumed)
{
	if (!c->config->healthcheck || !has_check(c->config))
		return;
	pl_health_t *h = record(c);
	if (h->check)
		check_free(h->check);
	if (h->started_ns != c->started_ns) {
		h->started_ns = c->started_ns;
		h->status = "starting";
		h->streak = 0;
		json_array_clear(h->log);
		if (resumed)
			load(h);
		else
			save(h);
	}
	drop_orphan(h);
	schedule(h, hc_ms(c, "interval"));
}

static void health_stop(pl_container_t *c)
{
	pl_health_t *h = c->health;
	if (!h)
		return;
	h->timer = pl_loop_timer_cancel(c->pl->loop, h->timer);
	if (h->check)
		check_free(h->check);
}

static void on_lifecycle(pl_portlayer_t *pl, pl_container_t *c, pl_lifecycle_t what, void *data)
{
	switch (what) {
	case PL_LIFECYCLE_RUNNING:
		health_start(c, false);
		break;
	case PL_LIFECYCLE_RESUMED:
		health_start(c, true);
		break;
	case PL_LIFECYCLE_STOPPED:
	case PL_LIFECYCLE_RELEASED:
	case PL_LIFECYCLE_GONE:
		health_stop(c);
		break;
	case PL_LIFECYCLE_STARTED: /* the domain runs, its process not yet */
	default:
		break;
	}
}

void pl_health_follow(pl_portlayer_t *pl)
{
	pl_portlayer_subscribe(pl, on_lifecycle, NULL);
}

void pl_health_free(pl_container_t *c)
{
	pl_health_t *h = c->health;
	if (!h)
		return;
	if (c->pl) {
		h->timer = pl_loop_timer_cancel(c->pl->loop, h->timer);
		if (h->check) { /* the sessions are gone already: only timers and memory */
			h->check->deadline = pl_loop_timer_cancel(c->pl->loop, h->check->deadline);
			h->check->done = pl_loop_timer_cancel(c->pl->loop, h->check->done);
			free(h->check);
		}
	}
	json_decref(h->log);
	free(h);
	c->health = NULL;
}

json_t *pl_health_json(const pl_container_t *c)
{
	if (!c->config->healthcheck || !has_check(c->config))
		return NULL;
	const pl_health_t *h = c->health;
	if (!h) { /* not run by this daemon (a stopped container): the record on disk */
		_cleanup_json_ json_t *j = read_record(c);
		json_t *log = json_object_get(j, "log");
		return json_pack("{s:s, s:i, s:o}", "status",
				 status_static(json_string_value(json_object_get(j, "status"))),
				 "failing_streak",
				 (int)json_integer_value(json_object_get(j, "failing_streak")),
				 "log", json_is_array(log) ? json_incref(log) : json_array());
	}
	return json_pack("{s:s, s:i, s:O}", "status", h->status, "failing_streak", h->streak, "log",
			 h->log);
}

const char *pl_health_status(const pl_container_t *c)
{
	if (!c->config->healthcheck || !has_check(c->config) || !pl_container_is_running(c))
		return NULL;
	return c->health ? c->health->status : "starting";
}
