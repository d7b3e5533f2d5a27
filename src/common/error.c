/* SPDX-License-Identifier: Apache-2.0 */
#include "common/error.h"
#include "common/cleanup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ret_of(int errnum)
{
	return errnum > 0 ? -errnum : -EINVAL;
}

__attribute__((format(printf, 4, 0))) static int vset(pl_error_t **err, pl_errkind_t kind,
						      int errnum, const char *fmt, va_list ap)
{
	if (!err || *err)
		return ret_of(errnum);
	char *msg = NULL;
	if (vasprintf(&msg, fmt, ap) < 0)
		abort();
	pl_error_t *e = pl_xcalloc(1, sizeof(*e));
	e->kind = kind;
	e->errnum = errnum;
	if (errnum > 0) {
		e->msg = pl_xasprintf("%s: %s", msg, strerror(errnum));
		free(msg);
	} else {
		e->msg = msg;
	}
	*err = e;
	return ret_of(errnum);
}

int pl_error_set(pl_error_t **err, pl_errkind_t kind, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vset(err, kind, errnum, fmt, ap);
	va_end(ap);
	return r;
}

int pl_error_errno(pl_error_t **err, const char *fmt, ...)
{
	int errnum = errno;
	va_list ap;
	va_start(ap, fmt);
	int r = vset(err, PL_ERR_INTERNAL, errnum, fmt, ap);
	va_end(ap);
	return r;
}

int pl_error_wrap(pl_error_t **err, const char *fmt, ...)
{
	if (!err || !*err)
		return -1;
	char *ctx = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&ctx, fmt, ap) < 0)
		abort();
	va_end(ap);
	char *msg = pl_xasprintf("%s: %s", ctx, (*err)->msg);
	free(ctx);
	free((*err)->msg);
	(*err)->msg = msg;
	return ret_of((*err)->errnum);
}

pl_error_t *pl_error_free(pl_error_t *e)
{
	if (e) {
		free(e->msg);
		free(e);
	}
	return NULL;
}

int pl_error_http_status(pl_errkind_t kind)
{
	switch (kind) {
	case PL_ERR_INVALID:
		return 400;
	case PL_ERR_NOTFOUND:
		return 404;
	case PL_ERR_CONFLICT:
		return 409;
	case PL_ERR_UNSUPPORTED:
		return 501;
	case PL_ERR_TIMEOUT:
		return 408;
	case PL_ERR_INTERNAL:
		return 500;
	default:
		return 500;
	}
}
