/* SPDX-License-Identifier: Apache-2.0 */
/* pl-dockerd's TCP listeners: mutual TLS terminated here (GnuTLS), each connection a thread
 * relaying to the plain HTTP front on a private unix socket. The relay, rather than the
 * HTTP library's own TLS, carries hijacked streams (attach, exec) in full, a client's
 * half-close included (TLS close_notify becomes a shutdown of the relayed socket's write
 * side: `docker exec -i` with piped stdin sees its EOF). */
#include "docker/tls.h"
#include "common/cleanup.h"
#include "common/log.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct dk_tls_front {
	gnutls_certificate_credentials_t cred;
	char *backend; /* the plain front's unix socket */
	int lfd;
};

typedef struct conn {
	dk_tls_front_t *f;
	int fd;
} conn_t;

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int tls_send_all(gnutls_session_t s, const char *p, size_t n)
{
	while (n) {
		ssize_t w = gnutls_record_send(s, p, n);
		if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int connect_backend(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (u >= 0 && connect(u, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(u);
		u = -1;
	}
	return u;
}

static void relay(gnutls_session_t s, int fd, int u)
{
	bool tls_open = true, u_open = true;
	char buf[64 * 1024];
	while (tls_open || u_open) {
		struct pollfd p[2] = {{.fd = tls_open ? fd : -1, .events = POLLIN},
				      {.fd = u_open ? u : -1, .events = POLLIN}};
		bool pending = tls_open && gnutls_record_check_pending(s) > 0;
		if (!pending && poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if (pending || (p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = gnutls_record_recv(s, buf, sizeof(buf));
			if (n > 0) {
				if (write_all(u, buf, (size_t)n) < 0)
					return;
			} else if (n != GNUTLS_E_AGAIN && n != GNUTLS_E_INTERRUPTED) {
				/* close_notify (0), or the peer went without one */
				tls_open = false;
				shutdown(u, SHUT_WR);
				if (n < 0 && u_open && n != GNUTLS_E_PREMATURE_TERMINATION)
					return;
			}
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(u, buf, sizeof(buf), 0);
			if (n > 0) {
				if (tls_send_all(s, buf, (size_t)n) < 0)
					return;
			} else if (n == 0 || errno != EINTR) {
				u_open = false;
				gnutls_bye(s, GNUTLS_SHUT_WR);
			}
		}
	}
}

static void *conn_thread(void *arg)
{
	conn_t *c = arg;
	gnutls_session_t s = NULL;
	int u = -1;
	if (gnutls_init(&s, GNUTLS_SERVER) < 0) {
		s = NULL;
		goto out;
	}
	gnutls_set_default_priority(s);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, c->f->cred);
	/* a certificate the CA signed, or no session */
	gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
	gnutls_session_set_verify_cert(s, NULL, 0);
	gnutls_transport_set_int(s, c->fd);
	gnutls_handshake_set_timeout(s, 30 * 1000);
	int r;
	do
		r = gnutls_handshake(s);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		pl_log_debug("dockerd: TLS handshake refused: %s", gnutls_strerror(r));
		goto out;
	}
	u = connect_backend(c->f->backend);
	if (u < 0)
		goto out;
	relay(s, c->fd, u);
out:
	if (u >= 0)
		close(u);
	if (s)
		gnutls_deinit(s);
	close(c->fd);
	free(c);
	return NULL;
}

static void *accept_thread(void *arg)
{
	dk_tls_front_t *f = arg;
	for (;;) {
		int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
			    errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				if (errno != EINTR && errno != ECONNABORTED)
					usleep(100 * 1000); /* out of descriptors: let some go */
				continue;
			}
			pl_log_error("dockerd: TLS accept: %s", strerror(errno));
			return NULL;
		}
		conn_t *c = pl_xcalloc(1, sizeof(*c));
		c->f = f;
		c->fd = fd;
		pthread_t t;
		pthread_attr_t a;
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &a, conn_thread, c) != 0) {
			close(fd);
			free(c);
		}
		pthread_attr_destroy(&a);
	}
}

dk_tls_front_t *dk_tls_front_start(int listen_fd, const char *cert, const char *key, const char *ca,
				   const char *backend, pl_error_t **err)
{
	dk_tls_front_t *f = pl_xcalloc(1, sizeof(*f));
	f->lfd = listen_fd;
	f->backend = pl_xstrdup(backend);
	gnutls_datum_t c = {(unsigned char *)cert, (unsigned)strlen(cert)};
	gnutls_datum_t k = {(unsigned char *)key, (unsigned)strlen(key)};
	gnutls_datum_t a = {(unsigned char *)ca, (unsigned)strlen(ca)};
	int r = gnutls_certificate_allocate_credentials(&f->cred);
	if (r >= 0)
		r = gnutls_certificate_set_x509_key_mem(f->cred, &c, &k, GNUTLS_X509_FMT_PEM);
	if (r >= 0)
		r = gnutls_certificate_set_x509_trust_mem(f->cred, &a, GNUTLS_X509_FMT_PEM);
	if (r >= 0 && r < 1)
		r = GNUTLS_E_NO_CERTIFICATE_FOUND; /* no CA in --tls-ca */
	if (r < 0) {
		pl_error_set(err, PL_ERR_INVALID, 0, "TLS credentials: %s", gnutls_strerror(r));
		goto fail;
	}
	/* the acceptor blocks */
	fcntl(listen_fd, F_SETFL, fcntl(listen_fd, F_GETFL) & ~O_NONBLOCK);
	pthread_t t;
	if (pthread_create(&t, NULL, accept_thread, f) != 0) {
		pl_error_set(err, PL_ERR_INTERNAL, errno, "TLS acceptor thread");
		goto fail;
	}
	pthread_detach(t);
	return f;
fail:
	if (f->cred)
		gnutls_certificate_free_credentials(f->cred);
	free(f->backend);
	free(f);
	return NULL;
}
