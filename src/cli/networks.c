/* plctl network: create, ls, inspect, rm. */
#include "cli/cli.h"
#include "cli/plctl_archive.h"
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

static char *network_path(pl_client_t *c, const char *name)
{
	_cleanup_free_ char *esc = pl_client_escape(c, name);
	return pl_xasprintf("/networks/%s", esc);
}

static int network_create(pl_client_t *c, int argc, char **argv)
{
	enum { O_SUBNET = 256, O_GATEWAY, O_RANGE, O_INTERNAL, O_DRIVER, O_PARENT, O_NOMASQ };
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
						 {"subnet", required_argument, NULL, O_SUBNET},
						 {"gateway", required_argument, NULL, O_GATEWAY},
						 {"ip-range", required_argument, NULL, O_RANGE},
						 {"internal", no_argument, NULL, O_INTERNAL},
						 {"driver", required_argument, NULL, O_DRIVER},
						 {"parent", required_argument, NULL, O_PARENT},
						 {"no-masquerade", no_argument, NULL, O_NOMASQ},
						 {0}};
	static const char *const keys[] = {"", "subnet", "gateway", "ip_range",
					   "", "driver", "parent"};
	_cleanup_(json_decrefp) json_t *body = json_object();
	int opt;
	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":hd:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'h':
			printf("Usage: plctl network create [--subnet CIDR] [--gateway IP] "
			       "[--ip-range CIDR] [--internal] [--no-masquerade] "
			       "[--driver bridge|external --parent IFACE] NAME\n");
			return 0;
		case O_INTERNAL:
			json_object_set_new(body, "internal", json_true());
			break;
		case O_NOMASQ:
			json_object_set_new(body, "masquerade", json_false());
			break;
		case 'd':
		case O_SUBNET:
		case O_GATEWAY:
		case O_RANGE:
		case O_DRIVER:
		case O_PARENT:
			json_object_set_new(body, keys[(opt == 'd' ? O_DRIVER : opt) - 255],
					    json_string(optarg));
			break;
		default:
			return pl_cli_bad_flag("network create", opt, argv);
		}
	}
	if (argc - optind != 1)
		return pl_cli_usage_error("network create", "want exactly one NAME");
	json_object_set_new(body, "name", json_string(argv[optind]));
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(json_decrefp) json_t *resp = NULL;
	if (pl_client_request(c, "POST", "/networks", body, NULL, &resp, &err) < 0)
		return pl_cli_report(err, 1);
	puts(pl_cli_json_str(resp, "id", "?"));
	return 0;
}

static int network_ls(pl_client_t *c, int argc, char **argv)
{
	bool quiet = false;
	int r = pl_cli_group_opts("network ls", argc, argv, "ls [-q]", &quiet, NULL, NULL);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind < argc)
		return pl_cli_usage_error("network ls", "unexpected argument '%s'", argv[optind]);
	_cleanup_error_ pl_error_t *err = NULL;
	_cleanup_(json_decrefp) json_t *list = NULL;
	if (pl_client_request(c, "GET", "/networks", NULL, NULL, &list, &err) < 0)
		return pl_cli_report(err, 1);
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
	pl_cli_print_table(cells, n + 1, cols);
	for (i = 0; i < (n + 1) * cols; i++)
		free(cells[i]);
	free(cells);
	return 0;
}

static int network_inspect(pl_client_t *c, int argc, char **argv)
{
	int r =
	    pl_cli_group_opts("network inspect", argc, argv, "inspect NAME...", NULL, NULL, NULL);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind >= argc)
		return pl_cli_usage_error("network inspect", "requires at least one network");
	return pl_cli_inspect_each(c, argc, argv, network_path);
}

static int network_rm(pl_client_t *c, int argc, char **argv)
{
	int r = pl_cli_group_opts("network rm", argc, argv, "rm NAME...", NULL, NULL, NULL);
	if (r != 0)
		return r == HELP_SHOWN ? 0 : r;
	if (optind >= argc)
		return pl_cli_usage_error("network rm", "requires at least one network");
	return pl_cli_delete_each(c, argc, argv, network_path, false);
}

static const subcommand_t network_commands[] = {
    {"create", network_create},	  {"ls", network_ls}, {"list", network_ls},
    {"inspect", network_inspect}, {"rm", network_rm}, {"remove", network_rm},
};

static int cmd_network(const command_t *cmd, pl_client_t *c, int argc, char **argv)
{
	return pl_cli_dispatch_sub(cmd, network_commands, PL_ARRAY_SIZE(network_commands), c, argc,
				   argv);
}

/* plctl port CONTAINER: "80/tcp -> 0.0.0.0:8080", one line per published port */

const command_t pl_cli_cmd_network = {
    "network", cmd_network, 1, "Manage networks: create, ls, inspect, rm",
    "network COMMAND\n\n"
    "  create [--subnet CIDR] [--gateway IP] [--ip-range CIDR] [--internal]\n"
    "         [--no-masquerade] [--driver bridge|external --parent IFACE] NAME\n"
    "                           create a network scope; prints its id\n"
    "  ls [-q]                  list networks (-q: names only)\n"
    "  inspect NAME...          show networks and their endpoints as JSON\n"
    "  rm NAME...               remove networks; refused while a container is on one\n"};
