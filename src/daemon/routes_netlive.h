/* POST /networks/{name}/connect and /disconnect: a container joins or leaves a scope in one
 * call (a "network" handle change committed at once; a running linux container gets the
 * endpoint live, see portlayer/netlive.c). */
#pragma once

#include "daemon/http.h"

void pl_h_network_connect(pl_req_t *r, void *data);
void pl_h_network_disconnect(pl_req_t *r, void *data);
