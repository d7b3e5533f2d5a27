/* SPDX-License-Identifier: Apache-2.0 */
/* plctl network: create, ls, inspect, rm. */
#include "cli/cli.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- networks ---- */

static json_t *network_raw(pl_client_t *c, const char *name, pl_error_t **err)
{
	pl_network_info_t *n = pl_network_inspect(c, name, err);
	json_t *raw = n ? json_incref(n->raw ? n->raw : json_null()) : NULL;
	pl_network_info_free(n);
	return raw;
}

static int network_remove(pl_client_t *c, const char *name, bool force, pl_error_t **err)
{
	return pl_network_remove(c, name, err);
}

static const pl_cli_named_ops_t network_ops = {network_raw, network_remove};

enum {
	O_SUBNET = 256,
	O_GATEWAY,
	O_RANGE,
	O_INTERNAL,
	O_DRIVER,
	O_PARENT,
	O_NOMASQ,
	O_IP,
	O_ALIAS
};

static int network_create(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, cmd, ":");
	pl_network_spec_t spec = {0};
	_cleanup_(json_decrefp) json_t *extra = json_object();
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			pl_cli_print_usage(stdout, cmd);
			return 0;
		case O_INTERNAL:
			spec.internal = true;
			break;
		case O_NOMASQ:
			json_object_set_new(extra, "masquerade", json_false());
			break;
		case 'd':
		case O_DRIVER:
			spec.driver = optarg;
			break;
		case O_SUBNET:
			spec.subnet = optarg;
			break;
		case O_GATEWAY:
			spec.gateway = optarg;
			break;
		case O_RANGE:
			spec.ip_range = optarg;
			break;
		case O_PARENT:
			spec.parent = optarg;
			break;
		default:
			return pl_cli_bad_flag("network create", opt, argv);
		}
	}
	if (argc - optind != 1)
		return pl_cli_usage_error("network create", "want exactly one NAME");
	spec.name = argv[optind];
	_cleanup_error_ pl_error_t *err = NULL;
	pl_network_info_t *n = pl_network_create_from(c, &spec, extra, &err);
	if (!n)
		return pl_cli_report(err, 1);
	puts(n->id ? n->id : "?");
	pl_network_info_free(n);
	return 0;
}

static int network_ls(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	pl_cli_sub_opts_t o = {0};
	int r = pl_cli_sub_opts(cmd, argc, argv, &o);
	bool quiet = o.quiet;
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind < argc)
		return pl_cli_usage_error("network ls", "unexpected argument '%s'", argv[optind]);
	_cleanup_error_ pl_error_t *err = NULL;
	pl_network_info_t **infos = NULL;
	size_t n_infos = 0;
	if (pl_network_list(c, &infos, &n_infos, &err) < 0)
		return pl_cli_report(err, 1);
	_cleanup_(json_decrefp) json_t *list = json_array();
	for (size_t k = 0; k < n_infos; k++)
		json_array_append(list, infos[k]->raw ? infos[k]->raw : json_null());
	pl_network_infos_free(infos, n_infos);
	size_t n = json_array_size(list), i;
	if (quiet) {
		for (i = 0; i < n; i++)
			puts(pl_cli_json_str(json_array_get(list, i), "name", "?"));
		return 0;
	}
	const size_t cols = 5;
	char **cells = pl_xcalloc((n + 1) * cols, sizeof(char *));
	const char *head[] = {"NETWORK ID", "NAME", "DRIVER", "SUBNET", "GATEWAY"};
	for (i = 0; i < cols; i++)
		cells[i] = pl_xstrdup(head[i]);
	for (i = 0; i < n; i++) {
		json_t *v = json_array_get(list, i);
		char **row = cells + (i + 1) * cols;
		row[0] = pl_xasprintf("%.12s", pl_cli_json_str(v, "id", "?"));
		row[1] = pl_xstrdup(pl_cli_json_str(v, "name", "?"));
		row[2] =
		    pl_xasprintf("%s%s", pl_cli_json_str(v, "driver", "?"),
				 json_is_true(json_object_get(v, "internal")) ? " (internal)" : "");
		row[3] = pl_xstrdup(pl_cli_json_str(v, "subnet", ""));
		row[4] = pl_xstrdup(pl_cli_json_str(v, "gateway", ""));
	}
	pl_cli_print_table_free(cells, n + 1, cols);
	return 0;
}

static int network_inspect(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_each_named(cmd, c, argc, argv, "network inspect", "network", &network_ops,
				 false);
}

static int network_rm(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_each_named(cmd, c, argc, argv, "network rm", "network", &network_ops, true);
}

static int cmd_network(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_dispatch_sub(cmd, c, argc, argv);
}

/* plctl port CONTAINER: "80/tcp -> 0.0.0.0:8080", one line per published port */

static const flag_t create_flags[] = {
    {"subnet", 0, "CIDR", "the scope's subnet", O_SUBNET},
    {"gateway", 0, "IP", "the bridge's address in it", O_GATEWAY},
    {"ip-range", 0, "CIDR", "where automatic addresses come from", O_RANGE},
    {"internal", 0, NULL, "forwarding into and out of the scope dropped", O_INTERNAL},
    {"no-masquerade", 0, NULL, "no masquerade (source NAT) for traffic leaving it", O_NOMASQ},
    {"driver", 'd', "bridge|external", "a bridge (default), or a macvlan on --parent", O_DRIVER},
    {"parent", 0, "IFACE", "the host interface of an external scope", O_PARENT},
    {"help", 'h'},
    {0},
};
/* network connect [--ip A] [--alias N]... NETWORK CONTAINER | disconnect [-f] NETWORK
 * CONTAINER (a running container too: the port layer plumbs it live) */
static int network_connect(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	bool connect = !strcmp(cmd->name, "connect");
	const char *name = connect ? "network connect" : "network disconnect";
	_cleanup_(pl_cli_opts_clear) pl_cli_opts_t g = {0};
	pl_cli_opts_init(&g, cmd, ":");
	const char *ip = NULL;
	bool force = false;
	_cleanup_(json_decrefp) json_t *aliases = json_array();
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, g.optstring, g.longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			pl_cli_print_usage(stdout, cmd);
			return 0;
		case O_IP:
			ip = optarg;
			break;
		case O_ALIAS:
			json_array_append_new(aliases, json_string(optarg));
			break;
		case 'f':
			force = true;
			break;
		default:
			return pl_cli_bad_flag(name, opt, argv);
		}
	}
	if (argc - optind != 2)
		return pl_cli_usage_error(name, "want NETWORK CONTAINER");
	const char *network = argv[optind], *container = argv[optind + 1];
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_free_ const char **alias_v = pl_cli_strv(aliases);
	if ((connect ? pl_network_connect(c, network, container, ip, alias_v, &err)
		     : pl_network_disconnect(c, network, container, force, &err)) < 0)
		return pl_cli_report(err, 1);
	return 0;
}

static const flag_t connect_flags[] = {
    {"ip", 0, "A", "its address on the network", O_IP},
    {"alias", 0, "N", "another name for it on the network (repeatable)", O_ALIAS},
    {"help", 'h'},
    {0},
};
static const flag_t disconnect_flags[] = {
    {"force", 'f', NULL, "no error when it is not on the network"},
    {"help", 'h'},
    {0},
};

static const flag_t ls_flags[] = {{"quiet", 'q', NULL, "only the names"}, {"help", 'h'}, {0}};
static const flag_t help_flag[] = {{"help", 'h'}, {0}};

static const command_t network_create_cmd = {
    "create",
    network_create,
    1,
    "\ncreate a network scope; prints its id",
    "network create [--subnet CIDR] [--gateway IP] [--ip-range CIDR] [--internal]\n"
    "       [--no-masquerade] [--driver bridge|external --parent IFACE] NAME",
    (const flag_table_t[]){{NULL, create_flags}, {0}}};
static const command_t network_ls_cmd = {"ls",
					 network_ls,
					 1,
					 "list networks (-q: names only)",
					 "network ls [-q]",
					 (const flag_table_t[]){{NULL, ls_flags}, {0}}};
static const command_t network_list_cmd = {
    "list", network_ls,		 1,
    NULL,   "network list [-q]", (const flag_table_t[]){{NULL, ls_flags}, {0}}};
static const command_t network_inspect_cmd = {"inspect",
					      network_inspect,
					      1,
					      "show networks and their endpoints as JSON",
					      "network inspect NAME...",
					      (const flag_table_t[]){{NULL, help_flag}, {0}}};
static const command_t network_rm_cmd = {"rm",
					 network_rm,
					 1,
					 "remove networks; refused while a container is on one",
					 "network rm NAME...",
					 (const flag_table_t[]){{NULL, help_flag}, {0}}};
static const command_t network_connect_cmd = {
    "connect",
    network_connect,
    1,
    "connect a container (a running one too: live)",
    "network connect [--ip A] [--alias N]... NETWORK CONTAINER",
    (const flag_table_t[]){{NULL, connect_flags}, {0}}};
static const command_t network_disconnect_cmd = {
    "disconnect",
    network_connect,
    1,
    "disconnect a container",
    "network disconnect [-f] NETWORK CONTAINER",
    (const flag_table_t[]){{NULL, disconnect_flags}, {0}}};
static const command_t network_remove_cmd = {"remove",
					     network_rm,
					     1,
					     NULL,
					     "network remove NAME...",
					     (const flag_table_t[]){{NULL, help_flag}, {0}}};

const command_t pl_cli_cmd_network = {
    "network",
    cmd_network,
    1,
    "Manage networks: create, ls, inspect, rm, connect, disconnect",
    "network COMMAND",
    NULL,
    (const command_t *const[]){&network_create_cmd, &network_ls_cmd, &network_list_cmd,
			       &network_inspect_cmd, &network_rm_cmd, &network_remove_cmd,
			       &network_connect_cmd, &network_disconnect_cmd, NULL}};
