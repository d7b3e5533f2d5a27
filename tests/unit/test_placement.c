/* SPDX-License-Identifier: Apache-2.0 */
/* Placement by criteria and capabilities, with fake mechanisms: the core picks what a
 * domain needs from what mechanisms declare, never by name, and a second mechanism of the
 * same kernel can be chosen when the first cannot serve. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "portlayer/config.h"
#include "portlayer/placement.h"

static bool up(const pl_mechanism_t *m, const char **reason)
{
	return true;
}

static bool down(const pl_mechanism_t *m, const char **reason)
{
	*reason = "no accelerator";
	return false;
}

static int validated;

static int ok_validate(const pl_mechanism_t *m, const pl_domain_spec_t *spec, pl_error_t **err)
{
	validated++;
	/* the description carries what the config said, no core type */
	assert_non_null(spec->security);
	assert_non_null(spec->resources);
	return 0;
}

static pl_mechanism_t shared = {.name = "fake-ns",
				.caps = PL_MECH_SHARES_HOST_NS | PL_MECH_NETNS_POOL |
					PL_MECH_MACVLAN | PL_MECH_PAUSE | PL_MECH_FILES_ON_HOST,
				.available = up,
				.validate = ok_validate};
static pl_mechanism_t vm_off = {.name = "fake-vm-a",
				.caps = PL_MECH_DEDICATED_KERNEL | PL_MECH_PAUSE,
				.available = down,
				.validate = ok_validate};
static pl_mechanism_t vm_on = {.name = "fake-vm-b",
			       .caps = PL_MECH_DEDICATED_KERNEL,
			       .available = up,
			       .validate = ok_validate};

static pl_config_t *config(const char *extra)
{
	char text[512];
	snprintf(text, sizeof(text), "{\"rootfs\": \"/\", \"process\": {\"args\": [\"true\"]}%s}",
		 extra);
	json_error_t je;
	json_t *body = json_loads(text, 0, &je);
	assert_non_null(body);
	pl_error_t *err = NULL;
	pl_config_t *cfg = pl_config_parse(body, false, &err);
	if (!cfg)
		fail_msg("parse %s: %s", text, err->msg);
	json_decref(body);
	return cfg;
}

static void test_select_by_kernel_and_availability(void **state)
{
	const pl_mechanism_t *list[] = {&vm_off, &shared, &vm_on, NULL};
	pl_config_t *cfg = config("");
	validated = 0;
	assert_ptr_equal(pl_placement_select(list, NULL, cfg, NULL, NULL), &shared);
	assert_int_equal(validated, 1);
	pl_config_free(cfg);
	/* the first dedicated-kernel mechanism is unavailable: the second one is chosen */
	cfg = config(", \"isolation\": {\"kernel\": \"dedicated\"}");
	assert_ptr_equal(pl_placement_select(list, NULL, cfg, NULL, NULL), &vm_on);
	pl_config_free(cfg);
}

static void test_capability_needed(void **state)
{
	const pl_mechanism_t *list[] = {&shared, &vm_on, NULL};
	pl_config_t *cfg =
	    config(", \"isolation\": {\"kernel\": \"dedicated\"}, \"network_mode\": \"host\"");
	pl_error_t *err = NULL;
	assert_null(pl_placement_select(list, NULL, cfg, NULL, &err));
	assert_int_equal(err->kind, PL_ERR_INVALID);
	assert_non_null(strstr(err->msg, "network_mode"));
	pl_error_free(err);
	/* sharing the host's ipc namespace asks for the same capability */
	pl_config_t *ipc =
	    config(", \"isolation\": {\"kernel\": \"dedicated\"}, \"ipc_mode\": \"host\"");
	err = NULL;
	assert_null(pl_placement_select(list, NULL, ipc, NULL, &err));
	assert_non_null(strstr(err->msg, "ipc_mode"));
	pl_error_free(err);
	pl_config_free(ipc);
	ipc = config(", \"ipc_mode\": \"host\"");
	assert_ptr_equal(pl_placement_select(list, NULL, ipc, NULL, NULL), &shared);
	pl_config_free(ipc);
	/* and for a change to an existing container: its own mechanism must have it */
	err = NULL;
	assert_null(pl_placement_select(list, NULL, cfg, &vm_on, &err));
	assert_non_null(strstr(err->msg, "network_mode"));
	pl_error_free(err);
	pl_config_free(cfg);
	/* no mechanism of that kernel at all: unsupported, saying why */
	const pl_mechanism_t *only_off[] = {&shared, &vm_off, NULL};
	cfg = config(", \"isolation\": {\"kernel\": \"dedicated\"}");
	err = NULL;
	assert_null(pl_placement_select(only_off, NULL, cfg, NULL, &err));
	assert_int_equal(err->kind, PL_ERR_UNSUPPORTED);
	assert_non_null(strstr(err->msg, "no accelerator"));
	pl_error_free(err);
	pl_config_free(cfg);
}

static void test_netns_pool_by_capability(void **state)
{
	pl_config_t *cfg = config("");
	assert_true(pl_placement_pools_netns(&shared, cfg));
	assert_false(pl_placement_pools_netns(&vm_on, cfg));
	pl_config_free(cfg);
	cfg = config(", \"network_mode\": \"host\"");
	assert_false(pl_placement_pools_netns(&shared, cfg));
	pl_config_free(cfg);
}

static void test_recorded(void **state)
{
	const pl_mechanism_t *list[] = {&shared, &vm_off, &vm_on, NULL};
	pl_config_t *cfg = config(", \"isolation\": {\"kernel\": \"dedicated\"}");
	assert_ptr_equal(pl_placement_recorded(list, "fake-vm-b", cfg), &vm_on);
	assert_null(pl_placement_recorded(list, "gone", cfg));
	/* a record from before names were kept: the first of its kernel, available or not */
	assert_ptr_equal(pl_placement_recorded(list, NULL, cfg), &vm_off);
	pl_config_free(cfg);
}

/* The mounts a config asks for cross as plain structs (a volume by name until a spawn
 * resolves it), and a mechanism can carry them and endpoints to a process of its own. */
static void test_description_structs(void **state)
{
	pl_config_t *cfg = config(
	    ", \"mounts\": [{\"type\": \"volume\", \"source\": \"data\", \"target\": \"/data\"}, "
	    "{\"type\": \"bind\", \"source\": \"/tmp\", \"target\": \"/mnt\", "
	    "\"readonly\": true, \"propagation\": \"rslave\"}]");
	pl_placement_t p = pl_placement_describe(cfg);
	assert_int_equal(p.spec.n_mounts, 2);
	assert_int_equal(p.spec.n_endpoints, 0);
	const pl_domain_mount_t *m = p.spec.mounts;
	assert_string_equal(m[0].source, "data");
	assert_string_equal(m[0].target, "/data");
	assert_true(m[0].volume);
	assert_null(m[0].populate);
	assert_string_equal(m[1].source, "/tmp");
	assert_false(m[1].volume);
	assert_true(m[1].readonly);
	assert_string_equal(m[1].propagation, "rslave");

	json_t *j = pl_domain_mounts_json(m, 2);
	pl_domain_mount_t *back = NULL;
	size_t n = 0;
	assert_int_equal(pl_domain_mounts_parse(j, &back, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(back[1].target, "/mnt");
	assert_string_equal(back[1].propagation, "rslave");
	assert_true(back[1].readonly && !back[1].volume && back[0].volume);
	assert_null(back[0].populate);
	free(back);
	json_decref(j);
	pl_placement_release(&p);
	pl_config_free(cfg);

	pl_domain_endpoint_t eps[2] = {{.kind = PL_ENDPOINT_VETH,
					.ifname = "eth0",
					.mac = "02:42:0a:00:00:02",
					.mtu = 1500,
					.bridge = "plbr0",
					.host_ifname = "pv0123456789a0",
					.address = "10.0.0.2/24",
					.gateway = "10.0.0.1"},
				       {.kind = PL_ENDPOINT_MACVLAN,
					.ifname = "eth1",
					.mac = "02:42:0a:01:00:02",
					.mtu = 9000,
					.parent = "enp1s0"}};
	j = pl_domain_endpoints_json(eps, 2);
	pl_domain_endpoint_t *eb = NULL;
	assert_int_equal(pl_domain_endpoints_parse(j, &eb, &n), 0);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(eb[i].kind, eps[i].kind);
		assert_int_equal(eb[i].mtu, eps[i].mtu);
		assert_string_equal(eb[i].ifname, eps[i].ifname);
		assert_string_equal(eb[i].mac, eps[i].mac);
		assert_string_equal(eb[i].bridge, eps[i].bridge);
		assert_string_equal(eb[i].host_ifname, eps[i].host_ifname);
		assert_string_equal(eb[i].parent, eps[i].parent);
		assert_string_equal(eb[i].address, eps[i].address);
		assert_string_equal(eb[i].gateway, eps[i].gateway);
	}
	free(eb);
	json_decref(j);
	/* what does not fit a field, or is no endpoint, is refused */
	j = json_pack("[{s:s, s:s}]", "kind", "veth", "ifname", "a-name-longer-than-ifnamsiz");
	assert_int_equal(pl_domain_endpoints_parse(j, &eb, &n), -1);
	json_decref(j);
	j = json_pack("[{s:s}]", "kind", "tap");
	assert_int_equal(pl_domain_endpoints_parse(j, &eb, &n), -1);
	json_decref(j);
	assert_int_equal(pl_domain_mounts_parse(NULL, &back, &n), 0);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_select_by_kernel_and_availability),
	    cmocka_unit_test(test_capability_needed),
	    cmocka_unit_test(test_netns_pool_by_capability),
	    cmocka_unit_test(test_recorded),
	    cmocka_unit_test(test_description_structs),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
