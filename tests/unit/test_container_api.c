/* SPDX-License-Identifier: Apache-2.0 */
/* The core's API operations and seams, over the fake mechanism (tests/unit/fake): create and
 * start in one call (pl_container_run) and its removal when the start fails, the push
 * target of an image, what store recovery makes of a containers directory, the lifecycle
 * changes subscribers are told (health checks follow them), and the mounts and endpoints a
 * mechanism receives as plain structs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "portlayer/api.h"
#include "portlayer/handle.h"
#include "portlayer/health.h"
#include "portlayer/storage/images.h"
#include "portlayer/storage/volumes.h"

#include "fake/core_env.h"

/* --- pl_container_run */

typedef struct run_result {
	int calls;
	bool failed;
	char msg[256];
} run_result_t;

static void run_done(pl_portlayer_t *pl, const char *id, const pl_error_t *err, void *data)
{
	run_result_t *r = data;
	r->calls++;
	r->failed = err != NULL;
	if (err)
		snprintf(r->msg, sizeof(r->msg), "%s", err->msg);
}

static bool called(env_t *e, void *arg)
{
	return ((run_result_t *)arg)->calls > 0;
}

static pl_container_t *run(env_t *e, const char *script, int *progress, run_result_t *res,
			   pl_error_t **err)
{
	char text[256];
	snprintf(text, sizeof(text),
		 "{\"rootfs\": \"/\", \"network_mode\": \"none\", \"process\": {\"args\": %s}}",
		 script);
	json_t *body = json_loads(text, 0, NULL);
	assert_non_null(body);
	pl_container_t *c = pl_container_run(e->pl, body, progress, run_done, res, err);
	json_decref(body);
	return c;
}

/* The domain directories left under the root (not those being removed). */
static size_t domain_dirs(env_t *e)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/containers", e->root);
	DIR *d = opendir(path);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_run_creates_and_starts(void **state)
{
	env_t *e = *state;
	run_result_t res = {0};
	int progress = -1;
	pl_error_t *err = NULL;
	pl_container_t *c = run(e, "[\"run\"]", &progress, &res, &err);
	if (!c)
		fail_msg("run: %s", err->msg);
	_cleanup_free_ char *id = id_of(c);
	assert_int_equal(progress, PL_STATE_STARTING);
	run_until(e, called, &res, "the start's callback");
	assert_int_equal(res.calls, 1);
	assert_false(res.failed);
	wait_status(e, id, "running");
	assert_true(saw(e, "create") && saw(e, "start"));
	/* durable: a reopened core finds it, still running */
	reopen(e);
	c = pl_container_find(e->pl, id, NULL);
	assert_non_null(c);
	assert_string_equal(pl_status_name(pl_container_status(c)), "running");
}

static void test_run_removes_a_container_whose_start_fails_later(void **state)
{
	env_t *e = *state;
	run_result_t res = {0};
	int progress = -1;
	pl_container_t *c = run(e, "[\"refuse\"]", &progress, &res, NULL);
	assert_non_null(c);
	_cleanup_free_ char *id = id_of(c);
	assert_int_equal(progress, PL_STATE_STARTING);
	/* the set-up error reaches the caller, then the container goes */
	run_until(e, called, &res, "the start's callback");
	assert_true(res.failed);
	assert_non_null(strstr(res.msg, "fake: refused"));
	run_until(e, gone, id, "the failed container's removal");
	assert_int_equal(domain_dirs(e), 0);
	assert_int_equal(res.calls, 1);
}

static void test_run_removes_a_container_whose_start_fails_at_once(void **state)
{
	env_t *e = *state;
	fake_stats.fail_spawn = true;
	run_result_t res = {0};
	int progress = -1;
	pl_error_t *err = NULL;
	assert_null(run(e, "[\"run\"]", &progress, &res, &err));
	assert_non_null(err);
	assert_non_null(strstr(err->msg, "fake: spawn failed"));
	pl_error_free(err);
	assert_int_equal(progress, -1);
	assert_int_equal(res.calls, 0); /* an error returned is not also a callback */
	assert_null(pl_container_first(e->pl));
	assert_int_equal(domain_dirs(e), 0);
	/* and a bad body is the create's error, nothing made */
	fake_stats.fail_spawn = false;
	json_t *body = json_pack("{s:s}", "rootfs", "relative/path");
	err = NULL;
	assert_null(pl_container_run(e->pl, body, &progress, run_done, &res, &err));
	json_decref(body);
	assert_non_null(err);
	assert_non_null(strstr(err->msg, "create container"));
	pl_error_free(err);
	assert_int_equal(fake_stats.spawned, 0);
	assert_int_equal(domain_dirs(e), 0);
}

/* --- a handle's commit carries out the run state it asks (pl_handle_commit_apply) */

static const char *stage(pl_handles_t *hs, env_t *e, const char *token, const char *op, json_t *arg)
{
	pl_error_t *err = NULL;
	const char *t = pl_handle_mutate(hs, e->pl, pl_handle_get(hs, token, NULL), op, arg, &err);
	json_decref(arg);
	if (!t)
		fail_msg("%s: %s", op, err->msg);
	return t;
}

static void test_handle_commit_applies_the_state(void **state)
{
	env_t *e = *state;
	pl_container_t *c = create(e, "[\"run\"]", NULL);
	_cleanup_free_ char *id = id_of(c);
	pl_handles_t *hs = pl_handles_new();
	const char *t = pl_handle_take(hs, c);
	t = stage(hs, e, t, "labels", json_pack("{s:{s:s}}", "set", "tier", "web"));
	t = stage(hs, e, t, "state", json_pack("{s:s}", "state", "running"));
	run_result_t res = {0};
	pl_commit_result_t cr;
	pl_error_t *err = NULL;
	int rc =
	    pl_handle_commit_apply(e->pl, pl_handle_get(hs, t, NULL), &cr, run_done, &res, &err);
	if (rc < 0)
		fail_msg("commit: %s", err->msg);
	assert_int_equal(rc, PL_STATE_STARTING);
	assert_int_equal(cr.version, 2);
	run_until(e, called, &res, "the start's callback");
	assert_false(res.failed);
	wait_status(e, id, "running");
	c = pl_container_find(e->pl, id, NULL);
	assert_string_equal(
	    json_string_value(json_object_get(pl_container_config(c)->labels, "tier")), "web");
	/* and one that asks for stopped stops it; running again is nothing to do */
	t = stage(hs, e, pl_handle_take(hs, c), "state", json_pack("{s:s}", "state", "stopped"));
	rc = pl_handle_commit_apply(e->pl, pl_handle_get(hs, t, NULL), &cr, NULL, NULL, NULL);
	assert_int_equal(rc, PL_STATE_STOPPING);
	wait_status(e, id, "stopped");
	assert_int_equal(exit_code(e, id), 128 + SIGTERM);
	t = stage(hs, e, pl_handle_take(hs, pl_container_find(e->pl, id, NULL)), "state",
		  json_pack("{s:s}", "state", "stopped"));
	rc = pl_handle_commit_apply(e->pl, pl_handle_get(hs, t, NULL), &cr, NULL, NULL, NULL);
	assert_int_equal(rc, PL_STATE_REACHED);
	assert_int_equal(cr.version, 2); /* a run state is no config change */
	pl_handles_free(hs);
}

/* --- pl_image_push_target */

static char *add_image(env_t *e, const char *tag)
{
	static const char cfg[] = "{\"architecture\": \"amd64\", \"os\": \"linux\", "
				  "\"rootfs\": {\"type\": \"layers\", \"diff_ids\": []}}";
	pl_images_t *im = pl_portlayer_images(e->pl);
	pl_error_t *err = NULL;
	_cleanup_json_ json_t *none = json_array();
	json_t *rec = pl_images_record(im, cfg, strlen(cfg), 0, none, &err);
	if (!rec)
		fail_msg("record: %s", err->msg);
	char *id = pl_xstrdup(json_string_value(json_object_get(rec, "id")));
	json_decref(rec);
	assert_int_equal(pl_images_reload(im, NULL), 0);
	json_t *names = json_pack("{s:[{s:s, s:[s]}]}", "images", "id", id, "tags", tag);
	assert_int_equal(pl_images_apply_names(im, names, NULL), 0);
	json_decref(names);
	return id;
}

static void test_image_push_target(void **state)
{
	env_t *e = *state;
	_cleanup_free_ char *id = add_image(e, "registry.example:5000/team/app:1.0");
	char *ref = NULL, *image_id = NULL;
	/* NAME and TAG apart, or NAME:TAG as one */
	assert_int_equal(pl_image_push_target(e->pl, "registry.example:5000/team/app", "1.0", &ref,
					      &image_id, NULL),
			 0);
	assert_string_equal(ref, "registry.example:5000/team/app:1.0");
	assert_string_equal(image_id, id);
	free(ref);
	free(image_id);
	ref = image_id = NULL;
	assert_int_equal(pl_image_push_target(e->pl, "registry.example:5000/team/app:1.0", NULL,
					      &ref, &image_id, NULL),
			 0);
	assert_string_equal(ref, "registry.example:5000/team/app:1.0");
	free(ref);
	free(image_id);
	/* without a tag the name means :latest, which this image is not */
	pl_error_t *err = NULL;
	ref = image_id = NULL;
	assert_true(pl_image_push_target(e->pl, "registry.example:5000/team/app", "", &ref,
					 &image_id, &err) < 0);
	assert_int_equal(err->kind, PL_ERR_NOTFOUND);
	assert_null(ref);
	assert_null(image_id);
	pl_error_free(err);
	err = NULL;
	assert_true(pl_image_push_target(e->pl, "nothere", "1", &ref, &image_id, &err) < 0);
	assert_int_equal(err->kind, PL_ERR_NOTFOUND);
	pl_error_free(err);
}

/* --- store recovery: what a containers directory holds at open */

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pl_write_all(fd, text, strlen(text)), 0);
	close(fd);
}

static bool exists(env_t *e, const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/containers/%s", e->root, name);
	return access(path, F_OK) == 0;
}

static void test_store_recovery(void **state)
{
	env_t *e = *state;
	pl_container_t *a = create(e, "[\"exit\", \"5\"]", ", \"name\": \"first\"");
	_cleanup_free_ char *aid = id_of(a);
	start(e, a);
	wait_status(e, aid, "stopped");
	pl_container_t *b = create(e, "[\"run\"]", ", \"name\": \"second\"");
	_cleanup_free_ char *bid = id_of(b);
	/* what a crash leaves: a create and a remove half done, a damaged domain, a stray */
	char path[256];
	snprintf(path, sizeof(path), "%s/containers/.tmp-%s", e->root, "half-created");
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/containers/.removing-%s", e->root, "half-removed");
	assert_int_equal(mkdir(path, 0700), 0);
	char damaged[65];
	memset(damaged, 'a', 64);
	damaged[64] = '\0';
	snprintf(path, sizeof(path), "%s/containers/%s", e->root, damaged);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/containers/%s/config.json", e->root, damaged);
	write_file(path, "{not json");
	reopen(e);
	/* the interrupted operations are finished, the damaged domain skipped (and kept) */
	assert_false(exists(e, ".tmp-half-created"));
	assert_false(exists(e, ".removing-half-removed"));
	assert_null(pl_container_find(e->pl, damaged, NULL));
	assert_true(exists(e, damaged));
	/* the others as they were, in creation order */
	pl_container_t *c = pl_container_first(e->pl);
	assert_non_null(c);
	assert_string_equal(pl_container_id(c), aid);
	assert_string_equal(pl_container_name(c), "first");
	assert_string_equal(pl_status_name(pl_container_status(c)), "stopped");
	assert_int_equal(exit_code(e, aid), 5);
	assert_int_equal(pl_container_exits(c), 1);
	c = pl_container_next(c);
	assert_non_null(c);
	assert_string_equal(pl_container_id(c), bid);
	assert_string_equal(pl_status_name(pl_container_status(c)), "created");
	assert_null(pl_container_next(c));
	/* nothing to settle: no domain was touched, no event emitted */
	assert_int_equal(fake_stats.reattached, 0);
	assert_int_equal(json_array_size(e->events), 0);
	/* and the restored one runs like any other */
	start(e, pl_container_find(e->pl, bid, NULL));
	wait_status(e, bid, "running");
}

/* --- lifecycle subscribers */

typedef struct seen {
	char log[512];
} seen_t;

static void on_lifecycle(pl_portlayer_t *pl, pl_container_t *c, pl_lifecycle_t what, void *data)
{
	static const char *const names[] = {
	    [PL_LIFECYCLE_STARTED] = "started",	  [PL_LIFECYCLE_RUNNING] = "running",
	    [PL_LIFECYCLE_RESUMED] = "resumed",	  [PL_LIFECYCLE_STOPPED] = "stopped",
	    [PL_LIFECYCLE_RELEASED] = "released", [PL_LIFECYCLE_GONE] = "gone"};
	seen_t *s = data;
	size_t n = strlen(s->log);
	snprintf(s->log + n, sizeof(s->log) - n, "%s%s", n ? " " : "", names[what]);
}

static void test_lifecycle_subscribers(void **state)
{
	env_t *e = *state;
	seen_t s = {0};
	pl_portlayer_subscribe(e->pl, on_lifecycle, &s);
	pl_container_t *c = create(e, "[\"run\"]", NULL);
	_cleanup_free_ char *id = id_of(c);
	start(e, c);
	wait_status(e, id, "running");
	assert_string_equal(s.log, "started running");
	assert_int_equal(pl_container_stop(e->pl, pl_container_find(e->pl, id, NULL), 10, NULL), 0);
	wait_status(e, id, "stopped");
	assert_int_equal(
	    pl_container_remove(e->pl, pl_container_find(e->pl, id, NULL), false, NULL), 0);
	run_until(e, gone, id, "the removal");
	assert_string_equal(s.log, "started running stopped gone");
	/* a live domain the core lets go of (it closes) is released, not stopped */
	pl_container_t *d = create(e, "[\"run\"]", NULL);
	_cleanup_free_ char *did = id_of(d);
	start(e, d);
	wait_status(e, did, "running");
	s.log[0] = '\0';
	reopen(e);
	assert_string_equal(s.log, "released");
	assert_string_equal(
	    pl_status_name(pl_container_status(pl_container_find(e->pl, did, NULL))), "running");
}

static bool unhealthy(env_t *e, void *arg)
{
	pl_container_t *c = pl_container_find(e->pl, arg, NULL);
	const char *st = c ? pl_health_status(c) : NULL;
	return st && !strcmp(st, "unhealthy");
}

/* Health checks follow the lifecycle: they run once the process runs and end with it. */
static void test_health_follows_the_lifecycle(void **state)
{
	env_t *e = *state;
	/* the fake answers an exec with its argument count: ["CMD", "x"] exits 1, a failure */
	pl_container_t *c = create(e, "[\"run\"]",
				   ", \"healthcheck\": {\"test\": [\"CMD\", \"x\"], \"interval\": "
				   "0.01, \"timeout\": 5, \"retries\": 1}");
	_cleanup_free_ char *id = id_of(c);
	assert_null(pl_health_status(c)); /* not running: no status */
	start(e, c);
	run_until(e, unhealthy, id, "the check to fail");
	assert_true(saw(e, "health_status"));
	assert_int_equal(pl_container_stop(e->pl, pl_container_find(e->pl, id, NULL), 10, NULL), 0);
	wait_status(e, id, "stopped");
	c = pl_container_find(e->pl, id, NULL);
	assert_null(pl_health_status(c));
	/* the record stays for inspect */
	json_t *h = pl_health_json(c);
	assert_non_null(h);
	assert_string_equal(json_string_value(json_object_get(h, "status")), "unhealthy");
	assert_true(json_array_size(json_object_get(h, "log")) >= 1);
	json_decref(h);
}

/* --- the description a mechanism receives */

static void test_mounts_and_endpoints_cross_as_structs(void **state)
{
	env_t *e = *state;
	pl_container_t *c = create(
	    e, "[\"run\"]",
	    ", \"mounts\": [{\"type\": \"volume\", \"source\": \"data\", \"target\": \"/data\"}, "
	    "{\"type\": \"bind\", \"source\": \"/tmp\", \"target\": \"/mnt\", \"readonly\": "
	    "true}]");
	_cleanup_free_ char *id = id_of(c);
	start(e, c);
	wait_status(e, id, "running");
	assert_int_equal(fake_stats.n_mounts, 2);
	assert_int_equal(fake_stats.n_endpoints, 0); /* network_mode "none" */
	/* a volume arrives as its data directory, with the marker of its first population */
	pl_volumes_t *vols = pl_portlayer_volumes(e->pl);
	_cleanup_free_ char *data = pl_volume_data_path(vols, "data");
	_cleanup_free_ char *marker = pl_volume_marker_path(vols, "data");
	assert_string_equal(fake_stats.mount_source, data);
	assert_string_equal(fake_stats.mount_populate, marker);
	assert_string_equal(fake_stats.mount_target, "/data");
	assert_string_equal(fake_stats.mount_propagation, "rprivate");
	assert_true(fake_stats.mount_volume);
	assert_false(fake_stats.mount_readonly);

	/* on the default bridge: one veth endpoint, named and addressed as tether will be */
	json_t *body = json_pack("{s:s, s:s, s:[{s:s}], s:{s:[s]}}", "rootfs", "/", "network_mode",
				 "bridge", "networks", "scope", "bridge", "process", "args", "run");
	pl_error_t *err = NULL;
	pl_container_t *b = pl_container_create(e->pl, body, &err);
	json_decref(body);
	if (!b)
		fail_msg("create on the bridge: %s", err->msg);
	_cleanup_free_ char *bid = id_of(b);
	start(e, b);
	wait_status(e, bid, "running");
	assert_int_equal(fake_stats.n_mounts, 0);
	assert_int_equal(fake_stats.n_endpoints, 1);
	assert_int_equal(fake_stats.endpoint.kind, PL_ENDPOINT_VETH);
	assert_string_equal(fake_stats.endpoint.ifname, "eth0");
	assert_true(fake_stats.endpoint.bridge[0] != '\0');
	assert_true(fake_stats.endpoint.host_ifname[0] != '\0');
	assert_int_equal(strlen(fake_stats.endpoint.mac), 17);
	assert_true(fake_stats.endpoint.mtu > 0);
	assert_string_equal(fake_stats.endpoint.address, ""); /* spawn: tether addresses it */
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
	    cmocka_unit_test_setup_teardown(test_run_creates_and_starts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_run_removes_a_container_whose_start_fails_later,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_run_removes_a_container_whose_start_fails_at_once,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_handle_commit_applies_the_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_image_push_target, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_store_recovery, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lifecycle_subscribers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_health_follows_the_lifecycle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mounts_and_endpoints_cross_as_structs, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
