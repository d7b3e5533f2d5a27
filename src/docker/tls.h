/* SPDX-License-Identifier: Apache-2.0 */
/* Mutual-TLS TCP listeners for pl-dockerd, relaying to the plain HTTP front (tls.c). */
#pragma once

#include "common/error.h"

typedef struct dk_tls_front dk_tls_front_t;

/* Serves listen_fd (a listening TCP socket; the front takes it): every connection must
 * present a certificate ca signed (PEM texts, copied), and is then relayed to the unix
 * socket at backend. Runs on threads of its own until the process ends. */
dk_tls_front_t *dk_tls_front_start(int listen_fd, const char *cert, const char *key, const char *ca,
				   const char *backend, pl_error_t **err);
