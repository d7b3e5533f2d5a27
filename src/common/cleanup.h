/* SPDX-License-Identifier: Apache-2.0 */
/* Ownership vocabulary: scope-bound cleanup of locals and explicit hand-over.
 * Owns nothing itself; every destructor here accepts NULL / -1. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f)	__attribute__((cleanup(f)))
#define _cleanup_free_	_cleanup_(pl_freep)
#define _cleanup_close_ _cleanup_(pl_closep)

static inline void pl_freep(void *p)
{
	free(*(void **)p);
}

static inline void pl_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd); /* never retried on EINTR */
		errno = saved;
	}
}

/* Closes fd if valid and returns -1, so `fd = pl_close(fd);` reads naturally. */
static inline int pl_close(int fd)
{
	if (fd >= 0) {
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -1;
}

#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) _tp = (p);                                                           \
		(p) = NULL;                                                                        \
		_tp;                                                                               \
	})

#define TAKE_FD(fd)                                                                                \
	({                                                                                         \
		int _tf = (fd);                                                                    \
		(fd) = -1;                                                                         \
		_tf;                                                                               \
	})

#define PL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Out-of-memory aborts; every other failure propagates. */
void *pl_xmalloc(size_t n);
void *pl_xcalloc(size_t n, size_t m);
void *pl_xrealloc(void *p, size_t n);
char *pl_xstrdup(const char *s);
char *pl_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Zeroes a NUL-terminated secret (a registry password) and frees it; NULL is fine. */
void pl_free_secret(char *s);
