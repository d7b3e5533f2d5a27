/* SPDX-License-Identifier: Apache-2.0 */
/* The network fields of a create body: modes, scopes, static addresses, aliases and
 * published ports, their canonical form, and how bad ones are refused (naming the field). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "portlayer/config.h"

#define BASE "\"rootfs\":\"/\",\"process\":{\"args\":[\"true\"]}"

static pl_config_t *parse(const char *fields, pl_error_t **err)
{
	char text[2048];
	snprintf(text, sizeof(text), "{" BASE "%s%s}", *fields ? "," : "", fields);
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("bad test JSON %s: %s", text, je.text);
	pl_config_t *c = pl_config_parse(j, true, err);
	json_decref(j);
	return c;
}

static void test_default_is_none(void **state)
{
	pl_config_t *c = parse("", NULL);
	assert_non_null(c);
	assert_string_equal(c->network_mode, "none");
	assert_int_equal(json_array_size(c->networks), 0);
	assert_int_equal(json_array_size(c->ports), 0);
	pl_config_free(c);
}

static void test_bridge_canonical(void **state)
{
	pl_config_t *c =
	    parse("\"networks\":[{\"scope\":\"a\",\"ip\":\"10.0.0.5\",\"aliases\":"
		  "[\"x\"]},{\"scope\":\"b\"}],\"ports\":[{\"container_port\":80},"
		  "{\"container_port\":53,\"protocol\":\"udp\",\"host_ip\":\"0.0.0.0\","
		  "\"host_port\":5353}]",
		  NULL);
	assert_non_null(c);
	assert_string_equal(c->network_mode, "bridge"); /* implied by networks */
	json_t *b = json_array_get(c->networks, 1);
	assert_string_equal(json_string_value(json_object_get(b, "scope")), "b");
	assert_null(json_object_get(b, "ip")); /* assigned at attach, not here */
	assert_int_equal(json_array_size(json_object_get(b, "aliases")), 0);
	json_t *p0 = json_array_get(c->ports, 0), *p1 = json_array_get(c->ports, 1);
	assert_string_equal(json_string_value(json_object_get(p0, "protocol")), "tcp");
	assert_int_equal(json_integer_value(json_object_get(p0, "host_port")), 0);
	assert_string_equal(json_string_value(json_object_get(p1, "host_ip")), ""); /* any */
	/* the canonical form parses back to the same */
	json_t *j = pl_config_to_json(c);
	pl_config_t *d = pl_config_parse(j, false, NULL);
	assert_non_null(d);
	assert_true(json_equal(c->networks, d->networks));
	assert_true(json_equal(c->ports, d->ports));
	json_decref(j);
	pl_config_free(d);
	pl_config_free(c);
}

static void test_host(void **state)
{
	pl_config_t *c = parse("\"network_mode\":\"host\"", NULL);
	assert_non_null(c);
	assert_string_equal(c->network_mode, "host");
	pl_config_free(c);
}

static void test_refused(void **state)
{
	static const struct {
		const char *fields, *needle;
	} bad[] = {
	    {"\"network_mode\":\"bogus\"", "network_mode"},
	    {"\"network_mode\":7", "network_mode"},
	    {"\"networks\":{}", "networks"},
	    {"\"networks\":[{}]", "scope"},
	    {"\"networks\":[{\"scope\":\"bad name\"}]", "scope"},
	    {"\"networks\":[{\"scope\":\"a\",\"ip\":\"1.2.3\"}]", "networks[0].ip"},
	    {"\"networks\":[{\"scope\":\"a\",\"mtu\":9000}]", "mtu"},
	    {"\"networks\":[{\"scope\":\"a\"},{\"scope\":\"a\"}]", "twice"},
	    {"\"networks\":[{\"scope\":\"a\",\"aliases\":[\"-x\"]}]", "aliases[0]"},
	    {"\"network_mode\":\"host\",\"networks\":[{\"scope\":\"a\"}]", "networks"},
	    {"\"network_mode\":\"bridge\"", "at least one"},
	    {"\"ports\":[{\"container_port\":80}]", "ports"},
	    {"\"networks\":[{\"scope\":\"a\"}],\"ports\":[{}]", "container_port"},
	    {"\"networks\":[{\"scope\":\"a\"}],\"ports\":[{\"container_port\":65536}]",
	     "container_port"},
	    {"\"networks\":[{\"scope\":\"a\"}],\"ports\":[{\"container_port\":1,"
	     "\"host_port\":-1}]",
	     "host_port"},
	    {"\"networks\":[{\"scope\":\"a\"}],\"ports\":[{\"container_port\":1,"
	     "\"protocol\":\"sctp\"}]",
	     "protocol"},
	    {"\"networks\":[{\"scope\":\"a\"}],\"ports\":[{\"container_port\":1,"
	     "\"host_ip\":\"::1\"}]",
	     "host_ip"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pl_error_t *err = NULL;
		pl_config_t *c = parse(bad[i].fields, &err);
		if (c)
			fail_msg("accepted: %s", bad[i].fields);
		assert_int_equal(err->kind, PL_ERR_INVALID);
		if (!strstr(err->msg, bad[i].needle))
			fail_msg("error \"%s\" for %s does not mention \"%s\"", err->msg,
				 bad[i].fields, bad[i].needle);
		pl_error_free(err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_default_is_none),
	    cmocka_unit_test(test_bridge_canonical),
	    cmocka_unit_test(test_host),
	    cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
