/* SPDX-License-Identifier: Apache-2.0 */
/* The one error object threaded through every fallible call.
 * A failing function fills *err (if err is non-NULL and *err is still empty) with a kind,
 * the errno and a message; callers prefix context with pl_error_wrap so the API can answer
 * with the whole chain ("start container web: mount overlay: No such file or directory"). */
#pragma once

#include <stdarg.h>

typedef enum pl_errkind {
	PL_ERR_INTERNAL = 0, /* a real fault: 500 */
	PL_ERR_INVALID,	     /* bad input: 400 */
	PL_ERR_NOTFOUND,     /* unknown object: 404 */
	PL_ERR_CONFLICT,     /* wrong state, name in use, stale version: 409 */
	PL_ERR_UNSUPPORTED,  /* valid request no mechanism can serve: 501 */
	PL_ERR_TIMEOUT,	     /* a deadline passed: 408 */
} pl_errkind_t;

typedef struct pl_error {
	pl_errkind_t kind;
	int errnum; /* errno at the root cause, 0 when none */
	char *msg;  /* full chain, outermost context first */
} pl_error_t;

/* Sets *err unless already set; returns -errnum (or -EINVAL when errnum is 0) so callers can
 * `return pl_error_set(...)`. errnum is appended as strerror when non-zero. */
int pl_error_set(pl_error_t **err, pl_errkind_t kind, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Same as pl_error_set with kind INTERNAL and errno taken from the current errno. */
int pl_error_errno(pl_error_t **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prefixes "context: " to an existing error; returns -errnum (or -1). */
int pl_error_wrap(pl_error_t **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
pl_error_t *pl_error_free(pl_error_t *e);
static inline void pl_error_freep(pl_error_t **e)
{
	pl_error_free(*e);
}
#define _cleanup_error_ __attribute__((cleanup(pl_error_freep)))
/* HTTP status for an error kind. */
int pl_error_http_status(pl_errkind_t kind);
