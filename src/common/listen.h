/* SPDX-License-Identifier: Apache-2.0 */
/* Listening sockets shared by the daemons (portlayerd --tls-listen, pl-dockerd -H tcp://). */
#pragma once

#include "common/error.h"

/* A non-blocking, close-on-exec TCP socket listening on ADDR:PORT ("[::1]:2376", ":2376" for
 * every address), or -1 with *err. Errors name the address as FLAG ADDR ("-H tcp://" or
 * "--tls-listen "). */
int pl_listen_tcp(const char *flag, const char *addr, pl_error_t **err);
