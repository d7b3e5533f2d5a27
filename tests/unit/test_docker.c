/* SPDX-License-Identifier: Apache-2.0 */
/* pl-dockerd's pure pieces: the typed client's create body, Docker's status words and
 * human statuses, and Docker's inspect shape from a port layer container. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "client/portlayer-client.h"
#include "common/util.h"
#include "docker/docker.h"

static void test_spec_json(void **state)
{
	const char *args[] = {"sh", "-c", "echo hi", NULL};
	const char *labels[] = {"a=b", "flag", NULL};
	pl_port_spec_t ports[] = {{.container_port = 80, .host_port = 8080}};
	pl_net_spec_t nets[] = {{.scope = "bridge"}};
	pl_mount_spec_t mounts[] = {{.type = "volume", .source = "v", .target = "/data"}};
	const char *tmpfs[] = {"/run:size=1m", "/tmp", NULL};
	pl_container_spec_t s = {
	    .name = "web",
	    .image = "busybox",
	    .args = args,
	    .tty = true,
	    .labels = labels,
	    .stop_timeout = -1,
	    .network_mode = "bridge",
	    .networks = nets,
	    .n_networks = 1,
	    .ports = ports,
	    .n_ports = 1,
	    .mounts = mounts,
	    .n_mounts = 1,
	    .tmpfs = tmpfs,
	    .memory = 64 << 20,
	};
	json_t *b = pl_container_spec_json(&s);
	char *text = json_dumps(b, JSON_SORT_KEYS | JSON_COMPACT);
	assert_string_equal(
	    text,
	    "{\"image\":\"busybox\",\"labels\":{\"a\":\"b\",\"flag\":\"\"},"
	    "\"mounts\":[{\"source\":\"v\",\"target\":\"/data\",\"type\":\"volume\"}],"
	    "\"name\":\"web\",\"network_mode\":\"bridge\",\"networks\":[{\"scope\":\"bridge\"}],"
	    "\"ports\":[{\"container_port\":80,\"host_port\":8080}],"
	    "\"process\":{\"args\":[\"sh\",\"-c\",\"echo hi\"],\"tty\":true},"
	    "\"resources\":{\"memory\":67108864},"
	    "\"security\":{\"tmpfs\":{\"/run\":\"size=1m\",\"/tmp\":\"\"}}}");
	free(text);
	json_decref(b);

	/* fields a port layer may lack are left out unless set */
	pl_container_spec_t bare = {.image = "x", .stop_timeout = -1};
	b = pl_container_spec_json(&bare);
	assert_int_equal(json_object_size(b), 1);
	json_decref(b);
	bare.auto_remove = true;
	bare.stop_timeout = 0;
	b = pl_container_spec_json(&bare);
	assert_true(json_is_true(json_object_get(b, "auto_remove")));
	assert_int_equal(json_integer_value(json_object_get(b, "stop_timeout")), 0);
	json_decref(b);
}

static pl_container_info_t *info(const char *status, const char *started, const char *finished,
				 int code)
{
	pl_container_info_t *ci = calloc(1, sizeof(*ci));
	ci->state.status = strdup(status);
	ci->state.started_at = started ? strdup(started) : NULL;
	ci->state.finished_at = finished ? strdup(finished) : NULL;
	ci->state.has_exit_code = true;
	ci->state.exit_code = code;
	ci->raw = json_pack("{s:{s:s}}", "state", "status", status);
	return ci;
}

static void test_status(void **state)
{
	assert_string_equal(dk_state_name("stopped"), "exited");
	assert_string_equal(dk_state_name("running"), "running");
	assert_string_equal(dk_state_name("stopping"), "running");
	assert_string_equal(dk_state_name("paused"), "paused");
	assert_string_equal(dk_state_name(NULL), "created");

	char now[48], before[48];
	pl_time_format(pl_now_ns(), now, sizeof(now));
	pl_time_format(pl_now_ns() - 125 * 1000000000ll, before, sizeof(before));
	pl_container_info_t *ci = info("created", NULL, NULL, 0);
	char *s = dk_human_status(ci);
	assert_string_equal(s, "Created");
	free(s);
	pl_container_info_free(ci);
	ci = info("stopped", before, now, 3);
	s = dk_human_status(ci);
	assert_string_equal(s, "Exited (3) Less than a second ago");
	free(s);
	pl_container_info_free(ci);
	ci = info("running", before, NULL, 0);
	s = dk_human_status(ci);
	assert_string_equal(s, "Up 2 minutes");
	free(s);
	pl_container_info_free(ci);
	ci = info("paused", now, NULL, 0);
	s = dk_human_status(ci);
	assert_string_equal(s, "Up Less than a second (Paused)");
	free(s);
	pl_container_info_free(ci);
}

static void test_inspect_shape(void **state)
{
	json_t *raw = json_loads(
	    "{\"id\":\"abc\",\"name\":\"web\",\"created\":\"2026-01-01T00:00:00Z\","
	    "\"config\":{\"image\":\"sha256:1\",\"process\":{\"args\":[\"sh\",\"-c\",\"x\"],"
	    "\"env\":[\"A=1\"],\"cwd\":\"/\",\"user\":\"0:0\",\"tty\":false},"
	    "\"labels\":{\"k\":\"v\"},\"annotations\":{\"docker.image\":\"busybox\","
	    "\"docker.cmd\":\"[\\\"sh\\\",\\\"-c\\\",\\\"x\\\"]\",\"docker.entrypoint\":\"null\"},"
	    "\"network_mode\":\"bridge\",\"ports\":[{\"container_port\":80,\"protocol\":\"tcp\","
	    "\"host_ip\":\"\",\"host_port\":8080}]},"
	    "\"state\":{\"status\":\"stopped\",\"exit_code\":2,\"pid\":0,\"oom_killed\":false,"
	    "\"started_at\":\"2026-01-01T00:00:01Z\",\"finished_at\":\"2026-01-01T00:00:02Z\"},"
	    "\"network\":{\"endpoints\":[{\"scope\":\"bridge\",\"ip\":\"172.17.0.2\","
	    "\"prefix_len\":16,\"gateway\":\"172.17.0.1\",\"mac\":\"02:42:ac:11:00:02\"}],"
	    "\"ports\":[{\"container_port\":80,\"protocol\":\"tcp\",\"host_ip\":\"\","
	    "\"host_port\":8080}]}}",
	    0, NULL);
	assert_non_null(raw);
	pl_container_info_t ci = {.id = "abc",
				  .name = "web",
				  .created = "2026-01-01T00:00:00Z",
				  .image = "sha256:1",
				  .raw = raw};
	ci.state.status = "stopped";
	ci.state.has_exit_code = true;
	ci.state.exit_code = 2;
	json_t *d = dk_container_json(&ci);
	assert_string_equal(json_string_value(json_object_get(d, "Name")), "/web");
	assert_string_equal(json_string_value(json_object_get(d, "Path")), "sh");
	json_t *st = json_object_get(d, "State");
	assert_string_equal(json_string_value(json_object_get(st, "Status")), "exited");
	assert_int_equal(json_integer_value(json_object_get(st, "ExitCode")), 2);
	json_t *cfg = json_object_get(d, "Config");
	assert_string_equal(json_string_value(json_object_get(cfg, "Image")), "busybox");
	assert_string_equal(json_string_value(json_object_get(cfg, "User")), "");
	assert_true(json_is_null(json_object_get(cfg, "Entrypoint")));
	assert_int_equal(json_array_size(json_object_get(cfg, "Cmd")), 3);
	json_t *ns = json_object_get(d, "NetworkSettings");
	assert_string_equal(json_string_value(json_object_get(ns, "IPAddress")), "172.17.0.2");
	json_t *b = json_array_get(json_object_get(json_object_get(ns, "Ports"), "80/tcp"), 0);
	assert_string_equal(json_string_value(json_object_get(b, "HostPort")), "8080");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(d, "HostConfig"), "NetworkMode")),
	    "default");
	json_decref(d);
	json_decref(raw);
}

/* compose 1.29 skips its disconnect-and-connect when the endpoint's Aliases hold the short
 * id: shown first on user networks (once), never on the default bridge. */
static void test_endpoint_aliases(void **state)
{
	json_t *raw = json_loads(
	    "{\"id\":\"0123456789abcdef0123\",\"name\":\"web\",\"config\":{},"
	    "\"state\":{\"status\":\"running\"},\"network\":{\"endpoints\":["
	    "{\"scope\":\"bridge\",\"ip\":\"172.17.0.2\"},"
	    "{\"scope\":\"app\",\"ip\":\"10.1.0.2\",\"aliases\":[\"db\",\"0123456789ab\"]}]}}",
	    0, NULL);
	assert_non_null(raw);
	pl_container_info_t ci = {.id = "0123456789abcdef0123", .name = "web", .raw = raw};
	ci.state.status = "running";
	json_t *d = dk_container_json(&ci);
	json_t *nets = json_object_get(json_object_get(d, "NetworkSettings"), "Networks");
	json_t *app = json_object_get(json_object_get(nets, "app"), "Aliases");
	assert_int_equal(json_array_size(app), 2);
	assert_string_equal(json_string_value(json_array_get(app, 0)), "0123456789ab");
	assert_string_equal(json_string_value(json_array_get(app, 1)), "db");
	assert_true(json_is_null(json_object_get(json_object_get(nets, "bridge"), "Aliases")));
	json_decref(d);
	json_decref(raw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_spec_json),
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_inspect_shape),
	    cmocka_unit_test(test_endpoint_aliases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
