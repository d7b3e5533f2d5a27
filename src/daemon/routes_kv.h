/* Route handlers of the kv group (/kv): HTTP over portlayer/kv. Registered in routes.c's
 * table. */
#pragma once

#include "daemon/http.h"

void pl_h_kv_list(pl_req_t *r, void *data);
void pl_h_kv_get(pl_req_t *r, void *data);
void pl_h_kv_put(pl_req_t *r, void *data);
void pl_h_kv_delete(pl_req_t *r, void *data);
