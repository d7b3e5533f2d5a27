/* SPDX-License-Identifier: Apache-2.0 */
#include "common/cleanup.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void *check(void *p)
{
	if (!p)
		abort();
	return p;
}

void *pl_xmalloc(size_t n)
{
	return check(malloc(n ? n : 1));
}

void *pl_xcalloc(size_t n, size_t m)
{
	return check(calloc(n ? n : 1, m ? m : 1));
}

void *pl_xrealloc(void *p, size_t n)
{
	return check(realloc(p, n ? n : 1));
}

char *pl_xstrdup(const char *s)
{
	return check(strdup(s));
}

char *pl_xasprintf(const char *fmt, ...)
{
	char *s = NULL;
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		abort();
	return s;
}

void pl_free_secret(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}
