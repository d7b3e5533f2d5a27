/* SPDX-License-Identifier: Apache-2.0 */
/* The harness of the container core's unit tests (core_env.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/util.h"
#include "fake/core_env.h"
#include "portlayer/events.h"

static void on_event(const json_t *ev, const char *line, void *data)
{
	env_t *e = data;
	json_array_append_new(e->events,
			      json_string(json_string_value(json_object_get(ev, "action"))));
}

void open_core(env_t *e)
{
	pl_portlayer_options_t o = {
	    .root = e->root, .run_dir = e->run, .loop = e->loop, .mechanisms = e->mechs};
	pl_error_t *err = NULL;
	int64_t opened = pl_now_ns();
	e->pl = pl_portlayer_open(&o, &err);
	if (!e->pl)
		fail_msg("open: %s", err->msg);
	/* what recovery emitted while opening, then everything live */
	pl_events_replay(pl_portlayer_events(e->pl), opened, 0, on_event, e);
	pl_events_subscribe(pl_portlayer_events(e->pl), on_event, e);
}

int setup(void **state)
{
	/* a network namespace per test: the core's default bridge and table go with it */
	if (unshare(CLONE_NEWNET) < 0)
		fail_msg("unshare(CLONE_NEWNET): %s", strerror(errno));
	env_t *e = calloc(1, sizeof(*e));
	snprintf(e->root, sizeof(e->root), "/tmp/pl-core-test-XXXXXX");
	assert_non_null(mkdtemp(e->root));
	snprintf(e->run, sizeof(e->run), "%s/run", e->root);
	e->loop = pl_loop_new(NULL);
	e->mechs[0] = &fake_mechanism;
	e->events = json_array();
	memset(&fake_stats, 0, sizeof(fake_stats));
	open_core(e);
	*state = e;
	return 0;
}

int teardown(void **state)
{
	env_t *e = *state;
	/* end what the stand-ins still run, then every trace */
	for (pl_container_t *c = pl_container_first(e->pl); c; c = pl_container_next(c))
		if (pl_container_is_running(c))
			pl_container_kill(e->pl, c, SIGKILL, NULL);
	pl_portlayer_free(e->pl);
	fake_kill_all();
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	pl_loop_free(e->loop);
	pl_remove_tree_at(AT_FDCWD, e->root, NULL);
	json_decref(e->events);
	free(e);
	return 0;
}

/* --- running the loop until something holds, with a deadline */

typedef struct waiter {
	env_t *e;
	cond_fn fn;
	void *arg;
	int64_t deadline;
	bool met;
} waiter_t;

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void poll_cond(pl_loop_t *loop, void *data)
{
	waiter_t *w = data;
	if ((w->met = w->fn(w->e, w->arg)) || now_ms() > w->deadline) {
		pl_loop_quit(loop);
		return;
	}
	pl_loop_timer(loop, 2, poll_cond, w, NULL);
}

void run_until(env_t *e, cond_fn fn, void *arg, const char *what)
{
	waiter_t w = {.e = e, .fn = fn, .arg = arg, .deadline = now_ms() + DEADLINE_MS};
	pl_loop_timer(e->loop, 0, poll_cond, &w, NULL);
	assert_int_equal(pl_loop_run(e->loop, NULL), 0);
	if (!w.met)
		fail_msg("timed out waiting for %s", what);
}

bool status_is(env_t *e, void *arg)
{
	const char **want = arg;
	pl_container_t *c = pl_container_find(e->pl, want[0], NULL);
	return c && !strcmp(pl_status_name(pl_container_status(c)), want[1]);
}

void wait_status(env_t *e, const char *id, const char *status)
{
	const char *want[] = {id, status};
	char what[128];
	snprintf(what, sizeof(what), "container %.12s %s", id, status);
	run_until(e, status_is, want, what);
}

bool gone(env_t *e, void *arg)
{
	return !pl_container_find(e->pl, arg, NULL);
}

/* --- helpers */

pl_container_t *create(env_t *e, const char *args_json, const char *extra)
{
	char text[512];
	snprintf(text, sizeof(text),
		 "{\"rootfs\": \"/\", \"network_mode\": \"none\", \"process\": {\"args\": %s}%s}",
		 args_json, extra ? extra : "");
	json_t *body = json_loads(text, 0, NULL);
	assert_non_null(body);
	pl_error_t *err = NULL;
	pl_container_t *c = pl_container_create(e->pl, body, &err);
	json_decref(body);
	if (!c)
		fail_msg("create %s: %s", text, err->msg);
	return c;
}

char *id_of(pl_container_t *c)
{
	return pl_xstrdup(pl_container_id(c));
}

void start(env_t *e, pl_container_t *c)
{
	pl_error_t *err = NULL;
	if (pl_container_start(e->pl, c, NULL, NULL, &err) < 0)
		fail_msg("start: %s", err->msg);
}

int exit_code(env_t *e, const char *id)
{
	json_t *j = pl_container_exit_json(pl_container_find(e->pl, id, NULL));
	int code = (int)json_integer_value(json_object_get(j, "exit_code"));
	json_decref(j);
	return code;
}

bool saw(env_t *e, const char *action)
{
	size_t i;
	json_t *a;
	json_array_foreach(e->events, i, a) if (!strcmp(json_string_value(a), action)) return true;
	return false;
}

void reopen(env_t *e)
{
	pl_portlayer_free(e->pl);
	json_array_clear(e->events);
	open_core(e);
}
