/* pl-dockerd: flags, the Docker API socket, and the one event loop. */
#include "common/cleanup.h"
#include "common/log.h"
#include "common/loop.h"
#include "docker/docker.h"

#include <errno.h>
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
	const char *host = DEFAULT_HOST, *portlayer = NULL;
	pl_loglevel_t level = PL_LOG_INFO;
	static const struct option lopts[] = {
	    {"host", required_argument, NULL, 'H'},
	    {"portlayer", required_argument, NULL, 'p'},
	    {"log-level", required_argument, NULL, 'l'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	int ch;
	while ((ch = getopt_long(argc, argv, "H:", lopts, NULL)) != -1) {
		switch (ch) {
		case 'H':
			host = optarg;
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
	if (strncmp(host, "unix://", 7) != 0) {
		fprintf(stderr, "pl-dockerd: -H %s: only unix:///PATH is served\n", host);
		return 2;
	}
	if (!portlayer)
		portlayer = PL_CLIENT_DEFAULT_HOST;

	_cleanup_error_ pl_error_t *err = NULL;
	/* the first client initialises libcurl for every thread's client */
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
	char spool[] = "/tmp";
	pl_http_set_spool_dir(http, spool);
	const char *path = host + 7;
	int lfd = listen_unix(path, &err);
	if (lfd < 0 || pl_http_listen(http, lfd, NULL, &err) < 0) {
		fprintf(stderr, "pl-dockerd: %s\n", err->msg);
		return 1;
	}
	if (pl_client_ping(probe, NULL) < 0)
		pl_log_warn("portlayerd does not answer on %s yet", portlayer);
	pl_client_free(probe);
	pl_log_info("pl-dockerd %s serving the Docker API %s on %s (port layer %s)", PL_VERSION,
		    DK_API_VERSION, host, portlayer);
	int r = pl_loop_run(loop, &err);
	sig_watch = pl_loop_unwatch(loop, sig_watch);
	unlink(path);
	/* request threads may still block on the port layer: exit without joining them */
	return r < 0 ? 1 : 0;
}
