/* SPDX-License-Identifier: Apache-2.0 */
/* Subnet checks against reserved ranges and the host's own addresses and routes (in the
 * daemon's network namespace). Owns nothing. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The reserved range net/len overlaps, described, or NULL. */
const char *pl_subnet_reserved(uint32_t net, unsigned len);
/* True when an interface address or a non-default route of the host overlaps net/len;
 * what then says which. */
bool pl_subnet_host_conflict(uint32_t net, unsigned len, char *what, size_t cap);
