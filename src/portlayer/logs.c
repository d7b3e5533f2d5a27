/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/logs.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <jansson.h>
#include <stdlib.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK 65536
/* The longest record a reader takes: tether writes at most 64 bytes of prefix and
 * LOG_LINE_MAX (16 KiB, src/tether/session.c) of content per record. Anything longer was
 * not written by tether (a VM's guest can write its log port directly) and is skipped, so
 * a newline-free flood costs the reader a bounded buffer, not the daemon's memory. */
#define RECORD_MAX (64 + 16 * 1024)

struct pl_log_cursor {
	int fd;
	int dirfd; /* the domain directory: where the rotated files are */
	ino_t ino; /* of the file fd reads */
	off_t off; /* next unread byte of the file */
	pl_log_opts_t opts;
	char *in; /* bytes read but not yet a whole record */
	size_t in_len, in_cap;
	bool skipping; /* inside an overlong record: drop bytes up to its newline */
	char *out;     /* framed bytes not yet handed out */
	size_t out_len, out_off, out_cap;
};

int pl_log_parse_record(const char *line, size_t len, int64_t *ts, int *stream, bool *partial,
			const char **content, size_t *content_len)
{
	const char *sp1 = memchr(line, ' ', len);
	if (!sp1 || sp1 - line >= 64)
		return -EINVAL;
	char tbuf[64];
	memcpy(tbuf, line, (size_t)(sp1 - line));
	tbuf[sp1 - line] = '\0';
	if (pl_time_parse(tbuf, ts) < 0)
		return -EINVAL;
	const char *p = sp1 + 1, *end = line + len;
	if (end - p >= 7 && memcmp(p, "stdout ", 7) == 0)
		*stream = 1;
	else if (end - p >= 7 && memcmp(p, "stderr ", 7) == 0)
		*stream = 2;
	else
		return -EINVAL;
	p += 7;
	if (end - p < 1 || (*p != 'F' && *p != 'P'))
		return -EINVAL;
	*partial = *p == 'P';
	p++;
	if (p < end && *p == ' ')
		p++;
	*content = p;
	*content_len = (size_t)(end - p);
	return 0;
}

static void reserve(char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return;
	size_t c = *cap ? *cap : 4096;
	while (c < need)
		c *= 2;
	*buf = pl_xrealloc(*buf, c);
	*cap = c;
}

static bool wanted(const pl_log_opts_t *o, int64_t ts, int stream)
{
	if ((stream == 1 && !o->out) || (stream == 2 && !o->err))
		return false;
	if (o->since_ns && ts < o->since_ns)
		return false;
	if (o->until_ns && ts > o->until_ns)
		return false;
	return true;
}

static void emit(pl_log_cursor_t *cur, const char *line, size_t len)
{
	int64_t ts;
	int stream;
	bool partial;
	const char *content;
	size_t clen;
	if (len > RECORD_MAX ||
	    pl_log_parse_record(line, len, &ts, &stream, &partial, &content, &clen) < 0 ||
	    !wanted(&cur->opts, ts, stream))
		return;
	char tbuf[48] = "";
	size_t tlen = 0;
	if (cur->opts.timestamps) {
		pl_time_format(ts, tbuf, sizeof(tbuf));
		tlen = strlen(tbuf) + 1;
		tbuf[tlen - 1] = ' ';
	}
	size_t plen = tlen + clen + (partial ? 0 : 1);
	reserve(&cur->out, &cur->out_cap, cur->out_len + 8 + plen);
	unsigned char *h = (unsigned char *)cur->out + cur->out_len;
	h[0] = (unsigned char)stream;
	h[1] = h[2] = h[3] = 0;
	h[4] = (unsigned char)(plen >> 24);
	h[5] = (unsigned char)(plen >> 16);
	h[6] = (unsigned char)(plen >> 8);
	h[7] = (unsigned char)plen;
	char *p = cur->out + cur->out_len + 8;
	memcpy(p, tbuf, tlen);
	memcpy(p + tlen, content, clen);
	if (!partial)
		p[tlen + clen] = '\n';
	cur->out_len += 8 + plen;
}

/* The log's files, oldest first: container.log.N-1 ... container.log.1, container.log. */
#define MAX_FILES 100

static int open_nth(int dirfd, unsigned k)
{
	char name[32];
	if (k == 0)
		snprintf(name, sizeof(name), "container.log");
	else
		snprintf(name, sizeof(name), "container.log.%u", k);
	return openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

static ino_t ino_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

/* At the end of the file being read: when the daemon rotated it (container.log is
 * another file now), moves to the file written after it. tether writes one file at a time,
 * so once that one has bytes, none will come to this one: it is read to its end first. */
static bool next_file(pl_log_cursor_t *cur)
{
	if (cur->dirfd < 0)
		return false;
	struct stat st;
	if (fstatat(cur->dirfd, "container.log", &st, 0) < 0 || st.st_ino == cur->ino)
		return false;
	/* where ours is now (container.log.k); K past the oldest when it was rotated away */
	unsigned k = 1;
	for (int fd; k < MAX_FILES && (fd = open_nth(cur->dirfd, k)) >= 0; k++) {
		bool ours = ino_of(fd) == cur->ino;
		close(fd);
		if (ours)
			break;
	}
	/* the first file after it with bytes (an empty one may sit between: a rotation whose
	 * new file never reached tether); none: tether may still write ours */
	int next = -1;
	while (k-- > 0 && next < 0) {
		next = open_nth(cur->dirfd, k);
		if (next >= 0 && (fstat(next, &st) < 0 || st.st_size == 0))
			next = pl_close(next);
	}
	if (next < 0)
		return false;
	/* bytes there: ours is complete; whatever came to it since our last read first */
	char probe;
	if (pread(cur->fd, &probe, 1, cur->off) == 1) {
		close(next);
		return false;
	}
	close(cur->fd);
	cur->fd = next;
	cur->ino = st.st_ino;
	cur->off = 0;
	cur->in_len = 0; /* a record never spans files */
	cur->skipping = false;
	return true;
}

/* Reads more of the file and frames every whole record in it. */
static ssize_t pump(pl_log_cursor_t *cur)
{
	reserve(&cur->in, &cur->in_cap, cur->in_len + CHUNK);
	ssize_t n = pread(cur->fd, cur->in + cur->in_len, CHUNK, cur->off);
	if (n == 0 && next_file(cur))
		n = pread(cur->fd, cur->in + cur->in_len, CHUNK, cur->off);
	if (n <= 0)
		return n < 0 ? -errno : 0;
	cur->off += n;
	cur->in_len += (size_t)n;
	size_t start = 0;
	for (;;) {
		char *nl = memchr(cur->in + start, '\n', cur->in_len - start);
		if (!nl)
			break;
		if (cur->skipping)
			cur->skipping = false;
		else
			emit(cur, cur->in + start, (size_t)(nl - (cur->in + start)));
		start = (size_t)(nl - cur->in) + 1;
	}
	memmove(cur->in, cur->in + start, cur->in_len - start);
	cur->in_len -= start;
	if (cur->in_len > RECORD_MAX) { /* no record is this long: drop it up to its end */
		cur->in_len = 0;
		cur->skipping = true;
	}
	return n;
}

/* Finds where the last `tail` wanted records begin, scanning backwards in chunks; *found
 * says how many there were (fewer than tail: the whole file). */
static off_t tail_offset(pl_log_cursor_t *cur, long tail, long *found_out)
{
	*found_out = 0;
	off_t end = lseek(cur->fd, 0, SEEK_END);
	if (end <= 0 || tail < 0)
		return 0;
	if (tail == 0)
		return end;
	_cleanup_free_ char *buf = pl_xmalloc(CHUNK);
	_cleanup_free_ char *line = NULL;
	size_t line_cap = 0;
	long found = 0;
	off_t pos = end, rec_end = end;
	*found_out = 0; /* rec_end: just past the newline of the current record */
	while (pos > 0) {
		size_t n = pos >= CHUNK ? CHUNK : (size_t)pos;
		pos -= (off_t)n;
		if (pread(cur->fd, buf, n, pos) != (ssize_t)n)
			return 0;
		for (size_t i = n; i-- > 0;) {
			off_t at = pos + (off_t)i;
			if (buf[i] != '\n' || at == end - 1)
				continue;
			/* a record spans (at, rec_end) */
			size_t len = (size_t)(rec_end - at - 1);
			if (len > RECORD_MAX + 1) { /* overlong: skipped, never read */
				rec_end = at + 1;
				continue;
			}
			reserve(&line, &line_cap, len + 1);
			if (pread(cur->fd, line, len, at + 1) == (ssize_t)len && len > 0) {
				int64_t ts;
				int stream;
				bool partial;
				const char *content;
				size_t clen;
				if (line[len - 1] == '\n')
					len--;
				if (pl_log_parse_record(line, len, &ts, &stream, &partial, &content,
							&clen) == 0 &&
				    wanted(&cur->opts, ts, stream) && ++found == tail) {
					*found_out = found;
					return at + 1;
				}
			}
			rec_end = at + 1;
		}
	}
	/* the file's first record (no newline before it) */
	if (rec_end > 0) {
		size_t len = (size_t)rec_end;
		if (len <= RECORD_MAX + 1) {
			reserve(&line, &line_cap, len + 1);
			int64_t ts;
			int stream;
			bool partial;
			const char *content;
			size_t clen;
			if (pread(cur->fd, line, len, 0) == (ssize_t)len && len > 0 &&
			    line[len - 1] == '\n' &&
			    pl_log_parse_record(line, len - 1, &ts, &stream, &partial, &content,
						&clen) == 0 &&
			    wanted(&cur->opts, ts, stream))
				found++;
		}
	}
	*found_out = found;
	return 0;
}

pl_log_cursor_t *pl_log_open(int dirfd, const pl_log_opts_t *opts, pl_error_t **err)
{
	int fd = openat(dirfd, "container.log", O_RDONLY | O_CLOEXEC | O_CREAT, 0640);
	if (fd < 0) {
		pl_error_errno(err, "open container log");
		return NULL;
	}
	pl_log_cursor_t *cur = pl_xcalloc(1, sizeof(*cur));
	cur->fd = fd;
	cur->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
	cur->ino = ino_of(fd);
	cur->opts = *opts;
	/* the tail may reach back into rotated files: newest first until it is complete */
	long want = opts->tail, found = 0;
	cur->off = tail_offset(cur, want, &found);
	for (unsigned k = 1; k < MAX_FILES && (want < 0 || found < want) && cur->off == 0; k++) {
		int older = open_nth(dirfd, k);
		if (older < 0)
			break;
		int newer = cur->fd;
		cur->fd = older;
		long more = 0;
		off_t off = tail_offset(cur, want < 0 ? -1 : want - found, &more);
		if (want >= 0 && more == 0) { /* nothing wanted there: stay with the newer */
			cur->fd = newer;
			close(older);
			break;
		}
		close(newer);
		cur->ino = ino_of(older);
		cur->off = off;
		found += more;
	}
	return cur;
}

pl_log_cursor_t *pl_log_close(pl_log_cursor_t *cur)
{
	if (!cur)
		return NULL;
	close(cur->fd);
	if (cur->dirfd >= 0)
		close(cur->dirfd);
	free(cur->in);
	free(cur->out);
	free(cur);
	return NULL;
}

ssize_t pl_log_read(pl_log_cursor_t *cur, char *buf, size_t max)
{
	while (cur->out_off == cur->out_len) {
		cur->out_off = cur->out_len = 0;
		ssize_t n = pump(cur);
		if (n <= 0)
			return n;
	}
	size_t n = cur->out_len - cur->out_off;
	if (n > max)
		n = max;
	memcpy(buf, cur->out + cur->out_off, n);
	cur->out_off += n;
	return (ssize_t)n;
}

void pl_log_config_defaults(const json_t *v, uint64_t def_size, unsigned def_files,
			    uint64_t *max_size, unsigned *max_files)
{
	bool obj = json_is_object(v);
	if (!obj || !json_object_get(v, "max_size"))
		*max_size = def_size;
	if (!obj || !json_object_get(v, "max_files"))
		*max_files = def_files ? def_files : 1;
}

int pl_log_parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	unsigned shift = 0;
	switch (*end | 0x20) {
	case 'k':
		shift = 10;
		end++;
		break;
	case 'm':
		shift = 20;
		end++;
		break;
	case 'g':
		shift = 30;
		end++;
		break;
	default:
		break;
	}
	if ((*end && !((*end | 0x20) == 'b' && !end[1])) || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

int pl_log_config_parse(const json_t *v, uint64_t *max_size, unsigned *max_files, pl_error_t **err)
{
	*max_size = PL_LOG_DEFAULT_MAX_SIZE;
	*max_files = PL_LOG_DEFAULT_MAX_FILES;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return pl_error_set(err, PL_ERR_INVALID, 0, "log_config must be an object");
	const char *key;
	json_t *x;
	json_object_foreach((json_t *)v, key, x)
	{
		if (!strcmp(key, "max_size")) {
			uint64_t n = 0;
			if (json_is_integer(x) && json_integer_value(x) >= 0)
				n = (uint64_t)json_integer_value(x);
			else if (!json_is_string(x) ||
				 pl_log_parse_size(json_string_value(x), &n) < 0)
				return pl_error_set(err, PL_ERR_INVALID, 0,
						    "log_config.max_size: bytes, or a size like "
						    "\"10m\"");
			if (n && n < 1024)
				return pl_error_set(err, PL_ERR_INVALID, 0,
						    "log_config.max_size: 0 (no limit) or at least "
						    "1024 bytes");
			*max_size = n;
		} else if (!strcmp(key, "max_files")) {
			if (!json_is_integer(x) || json_integer_value(x) < 1 ||
			    json_integer_value(x) > 100)
				return pl_error_set(err, PL_ERR_INVALID, 0,
						    "log_config.max_files: an integer in 1..100");
			*max_files = (unsigned)json_integer_value(x);
		} else {
			return pl_error_set(err, PL_ERR_INVALID, 0, "log_config.%s: unknown field",
					    key);
		}
	}
	return 0;
}
