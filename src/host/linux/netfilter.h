/* SPDX-License-Identifier: Apache-2.0 */
/* Applying an nftables ruleset on the host: `nft -f -` in a child, so the caller's loop can
 * watch it finish instead of waiting. The ruleset text is the port layer's (ports.c); this
 * only runs it. The linux implementation is host/linux/netfilter.c. */
#pragma once

#include "common/error.h"

typedef struct pl_netfilter_run pl_netfilter_run_t;

/* Starts nft on rules; NULL with err set when it cannot start (a missing nft is named). */
pl_netfilter_run_t *pl_netfilter_start(const char *rules, pl_error_t **err);
/* An fd that becomes readable when nft has exited (a pidfd), or -1 when there is none: the
 * caller then just calls pl_netfilter_finish. */
int pl_netfilter_fd(const pl_netfilter_run_t *r);
/* Waits for nft, frees r: 0, or -1 with nft's own complaint in err. */
int pl_netfilter_finish(pl_netfilter_run_t *r, pl_error_t **err);
