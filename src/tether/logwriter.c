/* SPDX-License-Identifier: Apache-2.0 */
/* CRI log records (logwriter.h). */
#include "tether/logwriter.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The fraction is always nine digits (valid RFC 3339, and records sort as text). */
void pl_log_record(const pl_logwriter_t *w, char tag, const char *data, size_t len)
{
	static char rec[64 + PL_LOG_LINE_MAX];
	struct timespec ts;
	struct tm tm;
	if (len > PL_LOG_LINE_MAX)
		len = PL_LOG_LINE_MAX;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(rec, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(rec + n, sizeof(rec) - n, ".%09ldZ %s %c ", ts.tv_nsec, w->stream,
			      tag);
	memcpy(rec + n, data, len);
	rec[n + len] = '\n';
	if (w->admit && !w->admit(n + len + 1))
		return;
	for (size_t done = 0; done < n + len + 1;) {
		ssize_t k = write(w->fd, rec + done, n + len + 1 - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		done += (size_t)k;
	}
}

char *pl_logwriter_space(pl_logwriter_t *w, size_t *room)
{
	*room = PL_LOG_LINE_MAX - w->len;
	return w->line + w->len;
}

void pl_logwriter_commit(pl_logwriter_t *w, size_t n)
{
	size_t start = 0, scanned = w->len;
	w->len += n;
	char *nl;
	while ((nl = memchr(w->line + scanned, '\n', w->len - scanned))) {
		size_t end = (size_t)(nl - w->line);
		pl_log_record(w, 'F', w->line + start, end - start);
		start = scanned = end + 1;
	}
	w->len -= start;
	memmove(w->line, w->line + start, w->len);
	if (w->len == PL_LOG_LINE_MAX) {
		pl_log_record(w, 'P', w->line, w->len);
		w->len = 0;
	}
}

void pl_logwriter_flush(pl_logwriter_t *w)
{
	if (w->len > 0)
		pl_log_record(w, 'P', w->line, w->len);
	w->len = 0;
}
