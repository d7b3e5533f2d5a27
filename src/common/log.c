/* SPDX-License-Identifier: Apache-2.0 */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static pl_loglevel_t current = PL_LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};

void pl_log_set_level(pl_loglevel_t level)
{
	current = level;
}

int pl_log_parse_level(const char *s, pl_loglevel_t *out)
{
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i]) == 0) {
			*out = (pl_loglevel_t)i;
			return 0;
		}
	}
	return -1;
}

void pl_log(pl_loglevel_t level, const char *fmt, ...)
{
	if (level > current)
		return;
	struct timespec ts;
	struct tm tm;
	char when[32];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ %-5s ", when, ts.tv_nsec / 1000000, names[level]);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
