/* SPDX-License-Identifier: Apache-2.0 */
/* pl-dockerd: flags, the Docker API socket, and the one event loop. */
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/listen.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/util.h"
#include "docker/docker.h"
#include "docker/tls.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_HOST "unix:///run/portlayer/docker.sock"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: pl-dockerd [OPTIONS]\n"
		"\n"
		"The Docker Engine API (" DK_API_VERSION ") over the port layer: the docker CLI,\n"
		"compose and the SDKs drive portlayerd through it.\n"
		"\n"
		"Options:\n"
		"  -H, --host unix:///PATH    the Docker API socket (default " DEFAULT_HOST
		", mode 0660)\n"
		"  -H, --host tcp://ADDR:PORT also serve over TCP, mutual TLS only: needs\n"
		"                             --tls-cert, --tls-key and --tls-ca (-H may repeat)\n"
		"  --tls-cert FILE            server certificate (PEM; also --tlscert)\n"
		"  --tls-key FILE             server private key (PEM; also --tlskey)\n"
		"  --tls-ca FILE              CA that signs client certificates (PEM; also\n"
		"                             --tlscacert); --tlsverify is accepted and implied\n"
		"  --portlayer unix:///PATH   portlayerd's socket (default " PL_CLIENT_DEFAULT_HOST
		")\n"
		"  --log-level LEVEL          error, warn, info (default) or debug\n"
		"  --help                     this text\n"
		"  --version                  print the version\n");
}

/* "/v1.43/containers/json" -> "/containers/json" */
static const char *strip_version(const char *url)
{
	if (url[0] != '/' || url[1] != 'v' || url[2] < '0' || url[2] > '9')
		return url;
	const char *p = url + 2;
	while ((*p >= '0' && *p <= '9') || *p == '.')
		p++;
	return *p == '/' ? p : url;
}

static int listen_unix(const char *path, pl_error_t **err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return pl_error_set(err, PL_ERR_INVALID, 0, "socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return pl_error_errno(err, "socket");
	unlink(path);
	mode_t old = umask(0117);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || chmod(path, 0660) < 0 || listen(fd, 128) < 0) {
		pl_error_errno(err, "listen on %s", path);
		close(fd);
		return -1;
	}
	return fd;
}

static char *read_pem(const char *path, pl_error_t **err)
{
	char *out = NULL;
	if (pl_read_file_at(AT_FDCWD, path, &out, NULL, 1 << 20, err) < 0) {
		pl_error_wrap(err, "read %s", path);
		return NULL;
	}
	return out;
}

static void on_signal(pl_loop_t *loop, int fd, uint32_t events, void *data)
{
	struct signalfd_siginfo si;
	if (read(fd, &si, sizeof(si)) == sizeof(si))
		pl_log_info("signal %u: shutting down", si.ssi_signo);
	pl_loop_quit(loop);
}

/* Kept in statics: request threads may still use them when main returns. */
static pl_loop_t *loop;
static pl_http_t *http;
static pl_watch_t *sig_watch;

int main(int argc, char **argv)
{
	const char *host = NULL, *portlayer = NULL;
	const char *tcp[8];
	size_t ntcp = 0;
	const char *tls_cert = NULL, *tls_key = NULL, *tls_ca = NULL;
	pl_loglevel_t level = PL_LOG_INFO;
	static const struct option lopts[] = {
	    {"host", required_argument, NULL, 'H'},
	    {"portlayer", required_argument, NULL, 'p'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"tls-cert", required_argument, NULL, 'C'},
	    {"tlscert", required_argument, NULL, 'C'},
	    {"tls-key", required_argument, NULL, 'K'},
	    {"tlskey", required_argument, NULL, 'K'},
	    {"tls-ca", required_argument, NULL, 'A'},
	    {"tlscacert", required_argument, NULL, 'A'},
	    {"tlsverify", no_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "H:", lopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			if (!strncmp(optarg, "tcp://", 6)) {
				if (ntcp == PL_ARRAY_SIZE(tcp)) {
					fprintf(stderr, "pl-dockerd: too many -H tcp://\n");
					return 2;
				}
				tcp[ntcp++] = optarg + 6;
			} else if (host) {
				fprintf(stderr, "pl-dockerd: one unix socket only\n");
				return 2;
			} else {
				host = optarg;
			}
			break;
		case 'C':
			tls_cert = optarg;
			break;
		case 'K':
			tls_key = optarg;
			break;
		case 'A':
			tls_ca = optarg;
			break;
		case 'T':
			break;
		case 'p':
			portlayer = optarg;
			break;
		case 'l':
			if (pl_log_parse_level(optarg, &level) < 0) {
				fprintf(stderr, "pl-dockerd: bad --log-level %s\n", optarg);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("pl-dockerd %s (Docker API %s)\n", PL_VERSION, DK_API_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	pl_log_set_level(level);
	if (!host && !ntcp)
		host = DEFAULT_HOST;
	if (host && strncmp(host, "unix://", 7) != 0) {
		fprintf(stderr, "pl-dockerd: -H %s: unix:///PATH or tcp://ADDR:PORT\n", host);
		return 2;
	}
	if (ntcp && !(tls_cert && tls_key && tls_ca)) {
		/* the Docker API is root on the host: never without client certificates */
		fprintf(stderr, "pl-dockerd: -H tcp:// needs --tls-cert, --tls-key and --tls-ca "
				"(mutual TLS only)\n");
		return 2;
	}
	if (!portlayer)
		portlayer = PL_CLIENT_DEFAULT_HOST;

	_cleanup_error_ pl_error_t *err = NULL;
	/* libcurl (registry logins) is initialised before any thread uses it */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	pl_client_t *probe = pl_client_new(portlayer, &err);
	if (!probe) {
		fprintf(stderr, "pl-dockerd: --portlayer: %s\n", err->msg);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &mask, NULL); /* threads inherit it */
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

	loop = pl_loop_new(&err);
	if (!loop) {
		fprintf(stderr, "pl-dockerd: %s\n", err->msg);
		return 1;
	}
	sig_watch = pl_loop_watch(loop, sfd, EPOLLIN, on_signal, NULL, NULL);
	dk_server = dk_server_new(loop, portlayer, &err);
	if (!dk_server) {
		fprintf(stderr, "pl-dockerd: %s\n", err->msg);
		return 1;
	}
	http = pl_http_new(loop, dk_routes, NULL);
	pl_http_set_path_hook(http, strip_version);
	pl_http_set_server(http, "Docker/" PL_VERSION " (linux; portlayer)");
	/* docker's X-Registry-Config carries every configured registry's credentials (dockerd
	 * takes 1 MB of headers); a docker command makes its connection once, so the larger
	 * pool's cost per connection (http.c) hardly counts here */
	pl_http_set_connection_memory(http, (size_t)256 * 1024);
	char spool[] = "/tmp";
	pl_http_set_spool_dir(http, spool);
	const char *path = host ? host + 7 : NULL;
	if (path) {
		int lfd = listen_unix(path, &err);
		if (lfd < 0 || pl_http_listen(http, lfd, NULL, &err) < 0) {
			fprintf(stderr, "pl-dockerd: %s\n", err->msg);
			return 1;
		}
	}
	/* TCP: mutual TLS terminated by a relay to a private unix socket of the front */
	char tls_dir[] = "/tmp/pl-dockerd-tls-XXXXXX";
	_cleanup_free_ char *backend = NULL;
	if (ntcp) {
		_cleanup_free_ char *cert = read_pem(tls_cert, &err);
		_cleanup_free_ char *key = cert ? read_pem(tls_key, &err) : NULL;
		_cleanup_free_ char *ca = key ? read_pem(tls_ca, &err) : NULL;
		if (!ca) {
			fprintf(stderr, "pl-dockerd: %s\n", err->msg);
			return 1;
		}
		if (!mkdtemp(tls_dir)) {
			fprintf(stderr, "pl-dockerd: mkdtemp: %s\n", strerror(errno));
			return 1;
		}
		backend = pl_xasprintf("%s/relay.sock", tls_dir);
		int bfd = listen_unix(backend, &err);
		if (bfd < 0 || pl_http_listen(http, bfd, NULL, &err) < 0) {
			fprintf(stderr, "pl-dockerd: %s\n", err->msg);
			return 1;
		}
		for (size_t i = 0; i < ntcp; i++) {
			int tfd = pl_listen_tcp("-H tcp://", tcp[i], &err);
			if (tfd < 0 || !dk_tls_front_start(tfd, cert, key, ca, backend, &err)) {
				fprintf(stderr, "pl-dockerd: %s\n", err->msg);
				return 1;
			}
			pl_log_info("serving the Docker API on tcp://%s (mutual TLS)", tcp[i]);
		}
	}
	if (pl_client_ping(probe, NULL) < 0)
		pl_log_warn("portlayerd does not answer on %s yet", portlayer);
	pl_client_free(probe);
	pl_log_info("pl-dockerd %s serving the Docker API %s on %s (port layer %s)", PL_VERSION,
		    DK_API_VERSION, host ? host : "tcp only", portlayer);
	int r = pl_loop_run(loop, &err);
	sig_watch = pl_loop_unwatch(loop, sig_watch);
	if (path)
		unlink(path);
	if (backend) {
		unlink(backend);
		rmdir(tls_dir);
	}
	/* request threads may still block on the port layer: exit without joining them */
	return r < 0 ? 1 : 0;
}
