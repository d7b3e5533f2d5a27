/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by the linux OS layer's units (os.c, net.c, vmshares.c, stats.c,
 * top.c). */
#pragma once

#include <stddef.h>

/* Formats a failure message into one static buffer and returns it: the OS layer reports
 * errors as strings its caller sends on at once (tether is single-threaded). */
__attribute__((format(printf, 1, 2))) const char *pl_os_failf(const char *fmt, ...);
/* The message pl_os_failf formatted last (for a helper that failed with -1 after it). */
const char *pl_os_lastfail(void);
/* Reads a small file into buf (NUL-terminated); bytes read or -1. */
long pl_os_slurp(const char *path, char *buf, size_t size);
