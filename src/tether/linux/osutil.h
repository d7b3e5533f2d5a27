/* Small helpers shared by the linux OS layer's units (os.c, net.c, vmshares.c). */
#pragma once

/* Formats a failure message into one static buffer and returns it: the OS layer reports
 * errors as strings its caller sends on at once (tether is single-threaded). */
__attribute__((format(printf, 1, 2))) const char *pl_os_failf(const char *fmt, ...);
/* The message pl_os_failf formatted last (for a helper that failed with -1 after it). */
const char *pl_os_lastfail(void);
