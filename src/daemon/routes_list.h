/* Route handlers of the filtered lists: GET /containers, /images, /volumes, /networks with
 * ?filters= (Docker's JSON), /containers with ?all= and ?size=. The logic lives in
 * portlayer/listing.c. */
#pragma once

#include "daemon/http.h"

void pl_h_containers_list(pl_req_t *r, void *data);
void pl_h_images_list(pl_req_t *r, void *data);
void pl_h_volumes_list(pl_req_t *r, void *data);
void pl_h_networks_list(pl_req_t *r, void *data);
