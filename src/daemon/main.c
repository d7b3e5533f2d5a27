/* SPDX-License-Identifier: Apache-2.0 */
/* portlayerd: flags, the listening socket, signals, and the one event loop. */
#include "portlayer/network/network.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/listen.h"
#include "common/log.h"
#include "common/nofile.h"
#include "common/loop.h"
#include "daemon/routes.h"
#include "mechanism/mechanism.h"
#include "mechanism/builtin.h"
#include "mechanism/linux.h"
#include "portlayer/logs.h"
#include "portlayer/userns.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <netdb.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef PL_LIBEXECDIR
#define PL_LIBEXECDIR "/usr/local/libexec"
#endif

typedef struct opts {
	const char *root, *run_dir, *socket, *tether, *group;
	const char *tls_listen, *tls_cert, *tls_key, *tls_ca;
	const char *userns_range;
	const char *address_pool;
	int netns_pool;
	int prepared_domains;
	unsigned max_connections, idle_timeout;
	int64_t default_pids_limit;
	uint64_t log_max_size;
	unsigned log_max_files;
	const char *vm_accel, *vm_kernel;
	const char *vm_templates, *vm_template_dir, *vm_template_prebuild, *vm_pool;
	pl_loglevel_t level;
} opts_t;

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: portlayerd [OPTIONS]\n"
	    "\n"
	    "The port layer daemon: isolation domains behind an HTTP/JSON API on a unix socket.\n"
	    "\n"
	    "Options:\n"
	    "  --root DIR         persistent state (default /var/lib/portlayer)\n"
	    "  --run-dir DIR      volatile state and sockets (default /run/portlayer)\n"
	    "  --socket PATH      API socket (default RUN_DIR/portlayer.sock, mode 0660)\n"
	    "  --tether PATH      the pl-tether binary (default: beside portlayerd, then\n"
	    "                     " PL_LIBEXECDIR "/portlayer/pl-tether)\n"
	    "  --group NAME       group owning the API socket (default root)\n"
	    "  --tls-listen ADDR:PORT  also serve the API over TCP, mutual TLS only;\n"
	    "                     needs --tls-cert, --tls-key and --tls-ca (clients must\n"
	    "                     present a certificate signed by that CA)\n"
	    "  --tls-cert FILE    server certificate (PEM)\n"
	    "  --tls-key FILE     server private key (PEM)\n"
	    "  --tls-ca FILE      CA that signs client certificates (PEM)\n"
	    "  --userns-range START:COUNT  host uids and gids handed out, 65536 per container,\n"
	    "                     to containers with security.userns mode \"remap\"\n"
	    "                     (default 100000000:67108864; START >= 65536)\n"
	    "  --address-pool CIDR[,CIDR...]  subnets for networks created without one\n"
	    "                     (default 172.17-31.0.0/16, then 192.168.N.0/20)\n"
	    "  --netns-pool N     network namespaces kept ready for new domains (default 0)\n"
	    "  --prepared-domains N  linux domains (namespaces, cgroups, first process) made\n"
	    "                     ahead for containers of the default profile (default 4,\n"
	    "                     refilled two at a time; 0: off)\n"
	    "  --vm-accel MODE    auto (default: KVM when a probe boot works), kvm or tcg\n"
	    "  --vm-kernel DIR    unpacked guest kernel package for dedicated-kernel containers\n"
	    "                     (default " PL_VM_DEFAULT_KERNEL_DIR ")\n"
	    "  --vm-templates on|off  start dedicated-kernel containers as clones of a saved,\n"
	    "                     booted guest (default on; off: every VM boots cold)\n"
	    "  --vm-template-dir DIR  where templates live (default ROOT/vm/templates)\n"
	    "  --vm-template-prebuild CPUSxMIB[,...]  templates built at start-up, e.g. 1x256\n"
	    "                     (others are built in the background at their first use)\n"
	    "  --vm-pool CPUSxMIB[:N][,...]  clones of those sizes kept started and warm, each\n"
	    "                     taken by one start (default none; needs templates)\n"
	    "  --max-connections N  API connections served at once per listener; more wait\n"
	    "                     in the listen backlog until one closes (default 512)\n"
	    "  --idle-timeout S   close an API connection idle for S seconds mid-request or\n"
	    "                     between requests (default 60; 0: never). Waiting requests\n"
	    "                     (wait, logs -f, events) and attach streams are not idle\n"
	    "  --log-max-size SIZE  rotate a container's log at this size unless its\n"
	    "                     log_config says otherwise (default 100m; 0: never)\n"
	    "  --log-max-files N  log files kept per container, rotated ones included\n"
	    "                     (default 5)\n"
	    "  --default-pids-limit N  pids.max of containers created without a pids_limit\n"
	    "                     (default 32768; 0: none, as Docker)\n"
	    "  --log-level LEVEL  error, warn, info (default) or debug\n"
	    "  --help             this text\n"
	    "  --version          print the version\n");
}

static int parse_opts(int argc, char **argv, opts_t *o)
{
	static const struct option lopts[] = {
	    {"root", required_argument, NULL, 'r'},
	    {"run-dir", required_argument, NULL, 'R'},
	    {"socket", required_argument, NULL, 's'},
	    {"tether", required_argument, NULL, 't'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {"group", required_argument, NULL, 'g'},
	    {"tls-listen", required_argument, NULL, 'L'},
	    {"tls-cert", required_argument, NULL, 'C'},
	    {"tls-key", required_argument, NULL, 'K'},
	    {"tls-ca", required_argument, NULL, 'A'},
	    {"version", no_argument, NULL, 'V'},
	    {"userns-range", required_argument, NULL, 'U'},
	    {"address-pool", required_argument, NULL, 'P'},
	    {"netns-pool", required_argument, NULL, 'N'},
	    {"prepared-domains", required_argument, NULL, 'X'},
	    {"vm-accel", required_argument, NULL, 'a'},
	    {"vm-kernel", required_argument, NULL, 'k'},
	    {"vm-templates", required_argument, NULL, 'T'},
	    {"vm-template-dir", required_argument, NULL, 'D'},
	    {"vm-template-prebuild", required_argument, NULL, 'B'},
	    {"vm-pool", required_argument, NULL, 'W'},
	    {"max-connections", required_argument, NULL, 'M'},
	    {"idle-timeout", required_argument, NULL, 'I'},
	    {"default-pids-limit", required_argument, NULL, 'Q'},
	    {"log-max-size", required_argument, NULL, 'S'},
	    {"log-max-files", required_argument, NULL, 'F'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "h", lopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			o->root = optarg;
			break;
		case 'R':
			o->run_dir = optarg;
			break;
		case 's':
			o->socket = optarg;
			break;
		case 't':
			o->tether = optarg;
			break;
		case 'g':
			o->group = optarg;
			break;
		case 'L':
			o->tls_listen = optarg;
			break;
		case 'C':
			o->tls_cert = optarg;
			break;
		case 'K':
			o->tls_key = optarg;
			break;
		case 'A':
			o->tls_ca = optarg;
			break;
		case 'U':
			o->userns_range = optarg;
			break;
		case 'P':
			o->address_pool = optarg;
			break;
		case 'N': {
			int64_t v;
			if (pl_parse_int64(optarg, 0, 1024, &v) < 0) {
				fprintf(stderr, "portlayerd: --netns-pool wants 0..1024\n");
				return 2;
			}
			o->netns_pool = (int)v;
			break;
		}
		case 'M':
		case 'I': {
			int64_t v;
			bool max = ch == 'M';
			if (pl_parse_int64(optarg, max ? 1 : 0, max ? 65536 : 86400, &v) < 0) {
				fprintf(stderr, "portlayerd: --%s wants %s\n",
					max ? "max-connections" : "idle-timeout",
					max ? "1..65536" : "0..86400 seconds");
				return 2;
			}
			*(max ? &o->max_connections : &o->idle_timeout) = (unsigned)v;
			break;
		}
		case 'S':
			if (pl_log_parse_size(optarg, &o->log_max_size) < 0 ||
			    (o->log_max_size && o->log_max_size < 1024)) {
				fprintf(stderr, "portlayerd: --log-max-size wants 0 or a size of "
						"at least 1k (like 10m)\n");
				return 2;
			}
			break;
		case 'F': {
			int64_t v;
			if (pl_parse_int64(optarg, 1, 100, &v) < 0) {
				fprintf(stderr, "portlayerd: --log-max-files wants 1..100\n");
				return 2;
			}
			o->log_max_files = (unsigned)v;
			break;
		}
		case 'X': {
			int64_t v;
			if (pl_parse_int64(optarg, 0, 64, &v) < 0) {
				fprintf(stderr, "portlayerd: --prepared-domains wants 0..64\n");
				return 2;
			}
			o->prepared_domains = (int)v;
			break;
		}
		case 'Q':
			if (pl_parse_int64(optarg, 0, 4194304, &o->default_pids_limit) < 0) {
				fprintf(stderr,
					"portlayerd: --default-pids-limit wants 0..4194304\n");
				return 2;
			}
			break;
		case 'a':
			o->vm_accel = optarg;
			break;
		case 'k':
			o->vm_kernel = optarg;
			break;
		case 'T':
			if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0) {
				fprintf(stderr, "portlayerd: --vm-templates wants on or off\n");
				return 2;
			}
			o->vm_templates = optarg;
			break;
		case 'D':
			o->vm_template_dir = optarg;
			break;
		case 'B':
			o->vm_template_prebuild = optarg;
			break;
		case 'W':
			o->vm_pool = optarg;
			break;
		case 'l':
			if (pl_log_parse_level(optarg, &o->level) < 0) {
				fprintf(stderr, "portlayerd: invalid log level \"%s\"\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("portlayerd %s\n", PL_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "portlayerd: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (o->tls_listen && !(o->tls_cert && o->tls_key && o->tls_ca)) {
		fprintf(stderr,
			"portlayerd: --tls-listen needs --tls-cert, --tls-key and --tls-ca: "
			"TCP is served with mutual TLS only\n");
		return 2;
	}
	return -1;
}

static char *find_tether(const char *given)
{
	if (given)
		return pl_xstrdup(given);
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *p = pl_xasprintf("%s/pl-tether", dirname(self));
		if (access(p, R_OK) == 0)
			return p;
		free(p);
	}
	return pl_xstrdup(PL_LIBEXECDIR "/portlayer/pl-tether");
}

/* Binds the API socket. A stale socket file is replaced; a live one means another daemon. */
static int listen_unix(const char *path, pl_error_t **err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return pl_error_set(err, PL_ERR_INVALID, 0, "socket path %s is too long", path);
	strcpy(sa.sun_path, path);
	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return pl_error_errno(err, "socket");
	_cleanup_close_ int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return pl_error_set(err, PL_ERR_CONFLICT, 0, "another daemon is listening on %s",
				    path);
	unlink(path);
	mode_t old = umask(0117);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return pl_error_errno(err, "bind %s", path);
	if (chmod(path, 0660) < 0)
		return pl_error_errno(err, "chmod %s", path);
	if (listen(fd, 128) < 0)
		return pl_error_errno(err, "listen %s", path);
	return TAKE_FD(fd);
}

/* Hands the socket to the configured group (mode 0660 lets its members in). */
static int socket_group(const char *path, const char *group, pl_error_t **err)
{
	struct group *g = getgrnam(group);
	if (!g)
		return pl_error_set(err, PL_ERR_INVALID, 0, "unknown group \"%s\"", group);
	if (chown(path, 0, g->gr_gid) < 0)
		return pl_error_errno(err, "chown %s", path);
	return 0;
}

static int read_pem(const char *path, char **out, pl_error_t **err)
{
	if (pl_read_file_at(AT_FDCWD, path, out, NULL, 1 << 20, err) < 0)
		return pl_error_wrap(err, "read %s", path);
	return 0;
}

static void on_signal(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			pl_log_info("signal %d: shutting down (containers keep running)",
				    si.ssi_signo);
			pl_loop_quit(loop);
		}
	}
}

/* 8 hex digits of the state root's real path (FNV-1a). */
static void instance_tag(const char *root, char *buf, size_t n)
{
	char real[PATH_MAX];
	const char *p = realpath(root, real) ? real : root;
	uint32_t h = 2166136261u;
	for (; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	snprintf(buf, n, "%08x", h);
}

int main(int argc, char **argv)
{
	opts_t o = {.root = "/var/lib/portlayer",
		    .run_dir = "/run/portlayer",
		    .level = PL_LOG_INFO,
		    .idle_timeout = PL_HTTP_DEFAULT_IDLE_TIMEOUT,
		    .default_pids_limit = PL_DEFAULT_PIDS_LIMIT,
		    .prepared_domains = 4,
		    .log_max_size = PL_LOG_DEFAULT_MAX_SIZE,
		    .log_max_files = PL_LOG_DEFAULT_MAX_FILES};
	int rc = parse_opts(argc, argv, &o);
	if (rc >= 0)
		return rc;
	pl_log_set_level(o.level);
	signal(SIGPIPE, SIG_IGN);
	/* the ceiling is the hard limit the daemon was started with (systemd's default:
	 * 524288; a shell's often 1024..1048576): containers need a few fds each */
	rlim_t nofile = pl_nofile_raise();

	pl_error_t *err = NULL;
	_cleanup_free_ char *sock =
	    o.socket ? pl_xstrdup(o.socket) : pl_xasprintf("%s/portlayer.sock", o.run_dir);
	_cleanup_free_ char *tether = find_tether(o.tether);
	pl_app_t app = {.inotify_fd = -1};
	_cleanup_close_ int lfd = -1, sfd = -1, tfd = -1;
	pl_watch_t *sig_watch = NULL;
	_cleanup_free_ char *spool = NULL;
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);

	if (pl_mkdir_p(o.root, 0700, &err) < 0 || pl_mkdir_p(o.run_dir, 0700, &err) < 0)
		goto fail;
	/* names this daemon's host-wide objects (prepared cgroups) apart from other daemons' */
	char tag[16];
	instance_tag(o.root, tag, sizeof(tag));
	pl_portlayer_options_t po = {.root = o.root,
				     .run_dir = o.run_dir,
				     .mechanisms = pl_mechanisms_builtin(),
				     .address_pool = o.address_pool,
				     .netns_pool = o.netns_pool,
				     .log_max_size = o.log_max_size,
				     .log_max_files = o.log_max_files};
	if (o.userns_range &&
	    pl_userns_parse_range(o.userns_range, &po.userns_start, &po.userns_count, &err) < 0)
		goto fail;
	pl_mechanisms_options_t mo = {
	    .tether_path = tether,
	    .linux_mech = {.default_pids_limit = o.default_pids_limit,
			   .prepared_domains = o.prepared_domains,
			   .instance_tag = tag,
			   .run_root = o.run_dir},
	    .vm = {.accel = o.vm_accel,
		   .kernel_dir = o.vm_kernel,
		   .state_root = o.root,
		   .templates_off = o.vm_templates && strcmp(o.vm_templates, "on") != 0,
		   .template_dir = o.vm_template_dir,
		   .template_prebuild = o.vm_template_prebuild,
		   .pool = o.vm_pool,
		   .run_root = o.run_dir}};
	if (pl_mechanisms_init(&mo, &err) < 0)
		goto fail;
	app.loop = pl_loop_new(&err);
	if (!app.loop)
		goto fail;
	po.loop = app.loop;
	app.pl = pl_portlayer_open(&po, &err);
	if (!app.pl)
		goto fail;
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd >= 0)
		sig_watch = pl_loop_watch(app.loop, sfd, EPOLLIN, on_signal, &app, &err);
	if (!sig_watch) {
		if (!err)
			pl_error_errno(&err, "signalfd");
		goto fail;
	}
	lfd = listen_unix(sock, &err);
	if (lfd < 0 || (o.group && socket_group(sock, o.group, &err) < 0) ||
	    pl_routes_init(&app, &err) < 0)
		goto fail;
	pl_http_set_limits(app.http, o.max_connections, o.idle_timeout);
	if (pl_http_listen(app.http, lfd, NULL, &err) < 0)
		goto fail;
	spool = pl_xasprintf("%s/storage/tmp", o.root);
	pl_http_set_spool_dir(app.http, spool);
	if (o.tls_listen) {
		_cleanup_free_ char *cert = NULL, *key = NULL, *ca = NULL;
		if (read_pem(o.tls_cert, &cert, &err) < 0 || read_pem(o.tls_key, &key, &err) < 0 ||
		    read_pem(o.tls_ca, &ca, &err) < 0)
			goto fail;
		tfd = pl_listen_tcp("--tls-listen ", o.tls_listen, &err);
		pl_tls_t tls = {.cert = cert, .key = key, .client_ca = ca};
		if (tfd < 0 || pl_http_listen(app.http, tfd, &tls, &err) < 0)
			goto fail;
		pl_log_info("serving the API on %s (mutual TLS)", o.tls_listen);
	}
	if (pl_linux_prepared_start(app.loop, &err) < 0)
		goto fail;
	pl_vm_pool_watch(app.loop);
	pl_counts_t n = pl_portlayer_counts(app.pl);
	pl_log_info("portlayerd %s ready on %s (root %s, cgroups %s, %u containers, %u running, "
		    "%llu fds allowed)",
		    PL_VERSION, sock, o.root, pl_linux_cgroup_layout(), n.total, n.running,
		    (unsigned long long)nofile);
	if (pl_loop_run(app.loop, &err) < 0)
		goto fail;
	pl_linux_prepared_stop();
	pl_vm_pool_unwatch();
	pl_routes_shutdown(&app);
	pl_loop_unwatch(app.loop, sig_watch);
	unlink(sock);
	app.pl = pl_portlayer_free(app.pl);
	app.loop = pl_loop_free(app.loop);
	return 0;
fail:
	pl_log_error("%s", err ? err->msg : "start-up failed");
	pl_error_free(err);
	return 1;
}
