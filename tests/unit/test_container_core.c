/* SPDX-License-Identifier: Apache-2.0 */
/* The container core driven through a fake mechanism (tests/unit/fake): the state machine,
 * recovery after a restart of the core, handles and exec sessions, with a real event loop
 * and real stand-in processes but no namespaces, cgroups or tether. Runs as root in a
 * network namespace of its own (the core opens its network component there). */
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
#include "common/log.h"
#include "common/util.h"
#include "portlayer/container.h"
#include "portlayer/events.h"
#include "portlayer/handle.h"
#include "portlayer/session.h"

#include "fake/core_env.h"

/* --- the state machine */

static void test_run_to_exit(void **state)
{
	env_t *e = *state;
	pl_container_t *c = create(e, "[\"exit\", \"3\"]", NULL);
	_cleanup_free_ char *id = id_of(c);
	assert_string_equal(pl_status_name(pl_container_status(c)), "created");
	start(e, c);
	wait_status(e, id, "stopped");
	assert_int_equal(exit_code(e, id), 3);
	assert_int_equal(pl_container_exits(pl_container_find(e->pl, id, NULL)), 1);
	assert_int_equal(fake_stats.spawned, 1);
	assert_true(fake_stats.destroyed >= 1); /* the domain was released */
	assert_true(saw(e, "create") && saw(e, "start") && saw(e, "die"));
	assert_false(saw(e, "stop")); /* it ended by itself */
}

static void test_stop_signals_then_kills(void **state)
{
	env_t *e = *state;
	pl_container_t *c = create(e, "[\"run\"]", NULL);
	_cleanup_free_ char *id = id_of(c);
	start(e, c);
	wait_status(e, id, "running");
	assert_int_equal(pl_container_stop(e->pl, pl_container_find(e->pl, id, NULL), 10, NULL), 0);
	wait_status(e, id, "stopped");
	assert_int_equal(exit_code(e, id), 128 + SIGTERM);
	assert_true(saw(e, "stop"));

	/* one that ignores SIGTERM is killed when the timeout runs out */
	pl_container_t *d = create(e, "[\"run\", \"ignore-term\"]", NULL);
	_cleanup_free_ char *did = id_of(d);
	start(e, d);
	wait_status(e, did, "running");
	assert_int_equal(pl_container_stop(e->pl, pl_container_find(e->pl, did, NULL), 0, NULL), 0);
	wait_status(e, did, "stopped");
	assert_int_equal(exit_code(e, did), 128 + SIGKILL);
}

static void test_tether_vanishing_and_refusing(void **state)
{
	env_t *e = *state;
	pl_container_t *c = create(e, "[\"vanish\", \"7\"]", NULL);
	_cleanup_free_ char *id = id_of(c);
	start(e, c);
	wait_status(e, id, "stopped");
	/* no report: the status of the process the mechanism watched */
	assert_int_equal(exit_code(e, id), 7);

	pl_container_t *r = create(e, "[\"refuse\"]", NULL);
	_cleanup_free_ char *rid = id_of(r);
	start(e, r);
	run_until(e, status_is, (const char *[]){rid, "stopped"}, "refused start settles");
	json_t *j = pl_container_inspect_json(pl_container_find(e->pl, rid, NULL));
	const char *err = json_string_value(json_object_get(json_object_get(j, "state"), "error"));
	assert_non_null(err);
	assert_non_null(strstr(err, "fake: refused"));
	json_decref(j);
}

static void test_pause_by_capability(void **state)
{
	env_t *e = *state;
	pl_container_t *c = create(e, "[\"run\"]", NULL);
	_cleanup_free_ char *id = id_of(c);
	start(e, c);
	wait_status(e, id, "running");
	c = pl_container_find(e->pl, id, NULL);
	assert_int_equal(pl_container_pause(e->pl, c, true, NULL), 0);
	assert_string_equal(pl_container_status_name(c), "paused");
	pl_error_t *err = NULL;
	assert_true(pl_container_pause(e->pl, c, true, &err) < 0);
	assert_int_equal(err->kind, PL_ERR_CONFLICT);
	pl_error_free(err);
	assert_int_equal(pl_container_pause(e->pl, c, false, NULL), 0);
	assert_true(saw(e, "pause") && saw(e, "unpause"));
}

static void test_pause_refused_without_capability(void **state)
{
	env_t *e = *state;
	pl_portlayer_free(e->pl);
	e->mechs[0] = &fake_mechanism_nopause;
	open_core(e);
	pl_container_t *c = create(e, "[\"run\"]", NULL);
	_cleanup_free_ char *id = id_of(c);
	start(e, c);
	wait_status(e, id, "running");
	pl_error_t *err = NULL;
	assert_true(pl_container_pause(e->pl, pl_container_find(e->pl, id, NULL), true, &err) < 0);
	assert_int_equal(err->kind, PL_ERR_UNSUPPORTED);
	pl_error_free(err);
	assert_false(fake_stats.paused);
}

static void test_remove(void **state)
{
	env_t *e = *state;
	pl_container_t *c = create(e, "[\"run\"]", NULL);
	_cleanup_free_ char *id = id_of(c);
	start(e, c);
	wait_status(e, id, "running");
	pl_error_t *err = NULL;
	assert_true(pl_container_remove(e->pl, pl_container_find(e->pl, id, NULL), false, &err) <
		    0);
	assert_int_equal(err->kind, PL_ERR_CONFLICT);
	pl_error_free(err);
	assert_int_equal(pl_container_remove(e->pl, pl_container_find(e->pl, id, NULL), true, NULL),
			 0);
	run_until(e, gone, id, "the container to go");
	/* the domain directory went with it */
	char path[256];
	snprintf(path, sizeof(path), "%s/containers/%s", e->root, id);
	assert_int_equal(access(path, F_OK), -1);
	assert_true(saw(e, "remove"));
}

static bool spawned_thrice(env_t *e, void *arg)
{
	return fake_stats.spawned >= 3;
}

static void test_restart_policy(void **state)
{
	env_t *e = *state;
	pl_container_t *c =
	    create(e, "[\"exit\", \"1\"]",
		   ", \"restart_policy\": {\"name\": \"on-failure\", \"max_retries\": 2}");
	_cleanup_free_ char *id = id_of(c);
	start(e, c);
	/* the first run and two retries, then it stays exited */
	run_until(e, status_is, (const char *[]){id, "stopped"}, "the first exit");
	run_until(e, spawned_thrice, NULL, "two restarts");
	wait_status(e, id, "stopped");
	assert_int_equal(exit_code(e, id), 1);
	assert_int_equal(fake_stats.spawned, 3);
}

/* --- recovery: the core closed and opened again over the same root */

static void test_recovery_reattaches_a_live_domain(void **state)
{
	env_t *e = *state;
	pl_container_t *c = create(e, "[\"run\"]", NULL);
	_cleanup_free_ char *id = id_of(c);
	start(e, c);
	wait_status(e, id, "running");
	pid_t pid = fake_stats.last_pid;
	reopen(e);
	assert_int_equal(fake_stats.reattached, 1);
	c = pl_container_find(e->pl, id, NULL);
	assert_string_equal(pl_status_name(pl_container_status(c)), "running");
	/* and it is watched: killing it is seen */
	assert_int_equal(pl_container_kill(e->pl, c, SIGKILL, NULL), 0);
	wait_status(e, id, "stopped");
	assert_int_equal(exit_code(e, id), 128 + SIGKILL);
	assert_int_equal(kill(pid, 0), -1);
}

static void test_recovery_exit_record(void **state)
{
	env_t *e = *state;
	pl_container_t *c = create(e, "[\"run\"]", NULL);
	_cleanup_free_ char *id = id_of(c);
	start(e, c);
	wait_status(e, id, "running");
	pid_t pid = fake_stats.last_pid;
	pl_portlayer_free(e->pl);
	e->pl = NULL;
	/* it ends while the core is away, leaving tether's exit record */
	kill(pid, SIGUSR1);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	json_array_clear(e->events);
	open_core(e);
	c = pl_container_find(e->pl, id, NULL);
	assert_string_equal(pl_status_name(pl_container_status(c)), "stopped");
	assert_int_equal(exit_code(e, id), 42);
	assert_true(saw(e, "die"));
}

static void test_recovery_no_record_is_255(void **state)
{
	env_t *e = *state;
	pl_container_t *c = create(e, "[\"run\"]", NULL);
	_cleanup_free_ char *id = id_of(c);
	start(e, c);
	wait_status(e, id, "running");
	pid_t pid = fake_stats.last_pid;
	pl_portlayer_free(e->pl);
	e->pl = NULL;
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	unsigned destroyed = fake_stats.destroyed;
	json_array_clear(e->events);
	open_core(e);
	c = pl_container_find(e->pl, id, NULL);
	assert_string_equal(pl_status_name(pl_container_status(c)), "stopped");
	assert_int_equal(exit_code(e, id), 255);
	assert_int_equal(fake_stats.destroyed, destroyed + 1); /* what it held is released */
	json_t *j = pl_container_inspect_json(c);
	assert_non_null(
	    strstr(json_string_value(json_object_get(json_object_get(j, "state"), "error")),
		   "left no exit record"));
	json_decref(j);
	assert_true(saw(e, "die"));
}

static void test_recovery_interrupted_start_never_ran(void **state)
{
	env_t *e = *state;
	pl_container_t *c = create(e, "[\"hang\"]", NULL);
	_cleanup_free_ char *id = id_of(c);
	start(e, c);
	assert_string_equal(pl_status_name(pl_container_status(c)), "starting");
	pid_t pid = fake_stats.last_pid;
	pl_portlayer_free(e->pl);
	e->pl = NULL;
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	json_array_clear(e->events);
	open_core(e);
	/* the core died before the domain was released to run: it never ran */
	c = pl_container_find(e->pl, id, NULL);
	assert_string_equal(pl_status_name(pl_container_status(c)), "created");
	assert_int_equal(pl_container_exits(c), 0);
	assert_false(saw(e, "die"));
}

static void test_recovery_applies_the_restart_policy(void **state)
{
	env_t *e = *state;
	pl_container_t *c = create(e, "[\"run\"]", ", \"restart_policy\": {\"name\": \"always\"}");
	_cleanup_free_ char *id = id_of(c);
	start(e, c);
	wait_status(e, id, "running");
	pid_t pid = fake_stats.last_pid;
	pl_portlayer_free(e->pl);
	e->pl = NULL;
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	json_array_clear(e->events);
	open_core(e);
	assert_true(saw(e, "die"));
	/* it stopped by itself while the core was away: "always" brings it back */
	wait_status(e, id, "running");
	assert_int_equal(fake_stats.spawned, 2);
	assert_true(saw(e, "restart"));
}

/* --- handles and sessions */

static void test_handle_versions(void **state)
{
	env_t *e = *state;
	pl_container_t *c = create(e, "[\"run\"]", NULL);
	_cleanup_free_ char *id = id_of(c);
	pl_handles_t *hs = pl_handles_new();
	const char *t1 = pl_handle_take(hs, c);
	const char *t2 = pl_handle_take(hs, c);
	char *tok1 = pl_xstrdup(t1), *tok2 = pl_xstrdup(t2);
	json_t *labels = json_pack("{s:{s:s}}", "set", "k", "v");
	pl_error_t *err = NULL;
	const char *m1 =
	    pl_handle_mutate(hs, e->pl, pl_handle_get(hs, tok1, NULL), "labels", labels, &err);
	if (!m1)
		fail_msg("mutate: %s", err->msg);
	pl_commit_result_t res;
	assert_int_equal(pl_handle_commit(e->pl, pl_handle_get(hs, m1, NULL), &res, NULL), 0);
	assert_int_equal(res.version, 2);
	assert_int_equal(pl_container_version(pl_container_find(e->pl, id, NULL)), 2);
	/* the other handle was taken on version 1: stale */
	const char *m2 =
	    pl_handle_mutate(hs, e->pl, pl_handle_get(hs, tok2, NULL), "labels", labels, NULL);
	assert_non_null(m2);
	assert_true(pl_handle_commit(e->pl, pl_handle_get(hs, m2, NULL), &res, &err) < 0);
	assert_int_equal(err->kind, PL_ERR_CONFLICT);
	pl_error_free(err);
	/* and the committed config is what a reopened core reads */
	reopen(e);
	const pl_config_t *cfg = pl_container_config(pl_container_find(e->pl, id, NULL));
	assert_string_equal(json_string_value(json_object_get(cfg->labels, "k")), "v");
	json_decref(labels);
	free(tok1);
	free(tok2);
	pl_handles_free(hs);
}

static void exec_done(pl_portlayer_t *pl, const char *id, const pl_error_t *err, void *data)
{
	*(int *)data = err ? -1 : 1;
}

static bool exec_exited(env_t *e, void *arg)
{
	return pl_exec_exited(arg);
}

static void test_exec_session(void **state)
{
	env_t *e = *state;
	pl_container_t *c = create(e, "[\"run\"]", NULL);
	_cleanup_free_ char *id = id_of(c);
	start(e, c);
	wait_status(e, id, "running");
	json_t *body = json_pack("{s:[s,s,s]}", "args", "a", "b", "c");
	pl_error_t *err = NULL;
	pl_exec_t *ex = pl_exec_create(e->pl, pl_container_find(e->pl, id, NULL), body, &err);
	json_decref(body);
	if (!ex)
		fail_msg("exec create: %s", err->msg);
	int started = 0;
	assert_int_equal(pl_exec_start(e->pl, ex, exec_done, &started, NULL), 0);
	run_until(e, exec_exited, ex, "the exec to exit");
	assert_int_equal(started, 1);
	json_t *j = pl_exec_inspect_json(ex);
	assert_int_equal(json_integer_value(json_object_get(j, "exit_code")), 3);
	json_decref(j);
	/* an exec on a stopped container is refused */
	assert_int_equal(pl_container_stop(e->pl, pl_container_find(e->pl, id, NULL), 10, NULL), 0);
	wait_status(e, id, "stopped");
	body = json_pack("{s:[s]}", "args", "x");
	pl_exec_t *late = pl_exec_create(e->pl, pl_container_find(e->pl, id, NULL), body, NULL);
	json_decref(body);
	if (late) {
		err = NULL;
		assert_true(pl_exec_start(e->pl, late, NULL, NULL, &err) < 0);
		pl_error_free(err);
	}
}

/* A sink that reads nothing until told: tether may send a window, no more. */
typedef struct counting_sink {
	pl_sink_t sink;
	size_t received;
	bool ended;
} counting_sink_t;

static void count_data(pl_sink_t *s, int stream, const uint8_t *buf, size_t len)
{
	counting_sink_t *cs = (counting_sink_t *)s;
	for (size_t i = 0; i < len; i++)
		assert_int_equal(buf[i], 'x');
	cs->received += len;
}

static void count_ended(pl_sink_t *s)
{
	((counting_sink_t *)s)->ended = true;
}

typedef struct want_bytes {
	counting_sink_t cs;
	size_t want;
} want_bytes_t;

static bool received_at_least(env_t *e, void *arg)
{
	want_bytes_t *w = arg;
	return w->cs.received >= w->want;
}

/* An exec round trip: the stand-in answers it after sending all the output its credit
 * allowed, so once it is back, what the sink got is all it will get without new credit. */
static void barrier(env_t *e, const char *id)
{
	json_t *body = json_pack("{s:[s]}", "args", "true");
	pl_exec_t *ex = pl_exec_create(e->pl, pl_container_find(e->pl, id, NULL), body, NULL);
	json_decref(body);
	assert_non_null(ex);
	assert_int_equal(pl_exec_start(e->pl, ex, NULL, NULL, NULL), 0);
	run_until(e, exec_exited, ex, "the barrier exec");
}

static void test_output_flow_control(void **state)
{
	env_t *e = *state;
	pl_container_t *c = create(e, "[\"flood\"]", NULL);
	_cleanup_free_ char *id = id_of(c);
	start(e, c);
	wait_status(e, id, "running");
	want_bytes_t w = {.cs = {.sink = {.data = count_data, .ended = count_ended}},
			  .want = PL_SESSION_WINDOW};
	c = pl_container_find(e->pl, id, NULL);
	assert_int_equal(pl_session_attach(c, PL_SESSION_PRIMARY, &w.cs.sink, NULL), 0);
	run_until(e, received_at_least, &w, "a window of output");
	barrier(e, id);
	/* the sink consumed nothing: exactly one window arrived, nothing buffers beyond it */
	assert_int_equal(w.cs.received, PL_SESSION_WINDOW);
	/* consuming gives credit back, and output flows again */
	pl_session_consumed(c, PL_SESSION_PRIMARY, &w.cs.sink, PL_SESSION_WINDOW);
	w.want = 2 * PL_SESSION_WINDOW;
	run_until(e, received_at_least, &w, "a second window");
	barrier(e, id);
	assert_int_equal(w.cs.received, 2 * PL_SESSION_WINDOW);
	/* the container ends: the sink is told */
	assert_int_equal(
	    pl_container_kill(e->pl, pl_container_find(e->pl, id, NULL), SIGTERM, NULL), 0);
	wait_status(e, id, "stopped");
	assert_true(w.cs.ended);
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "skipped: needs root (a network namespace of its own)\n");
		return 77;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "skipped: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return 77;
	}
	pl_log_set_level(PL_LOG_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_run_to_exit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_signals_then_kills, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tether_vanishing_and_refusing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pause_by_capability, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pause_refused_without_capability, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_restart_policy, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_reattaches_a_live_domain, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_exit_record, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_no_record_is_255, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_interrupted_start_never_ran, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_recovery_applies_the_restart_policy, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_handle_versions, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_exec_session, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_output_flow_control, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
