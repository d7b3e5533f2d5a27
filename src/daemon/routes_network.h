/* Route handlers of the network group: scopes (/networks) and a container's published
 * ports. Registered in routes.c's table; the logic lives in portlayer/network. */
#pragma once

#include "daemon/http.h"

void pl_h_network_create(pl_req_t *r, void *data);
void pl_h_network_inspect(pl_req_t *r, void *data);
void pl_h_network_remove(pl_req_t *r, void *data);
void pl_h_container_ports(pl_req_t *r, void *data);
