/* SPDX-License-Identifier: Apache-2.0 */
#include "portlayer/events.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

struct pl_events {
	char *path, *old_path;
	char *host;
	int fd;
	off_t size;
	uint64_t seq;
	pl_event_fn fn;
	void *data;
};

/* The last sequence number in a journal file, scanning its tail. */
static uint64_t last_seq_in(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t start = end > 8192 ? end - 8192 : 0;
	char buf[8193];
	ssize_t n = pread(fd, buf, (size_t)(end - start), start);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	uint64_t seq = 0;
	for (char *line = buf, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		json_t *j = json_loads(line, 0, NULL);
		json_t *s = j ? json_object_get(j, "seq") : NULL;
		if (json_is_integer(s) && (uint64_t)json_integer_value(s) > seq)
			seq = (uint64_t)json_integer_value(s);
		if (j)
			json_decref(j);
	}
	return seq;
}

pl_events_t *pl_events_open(const char *root, const char *host, pl_error_t **err)
{
	pl_events_t *ev = pl_xcalloc(1, sizeof(*ev));
	ev->path = pl_xasprintf("%s/events.jsonl", root);
	ev->old_path = pl_xasprintf("%s/events.jsonl.1", root);
	ev->host = pl_xstrdup(host);
	ev->fd = open(ev->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (ev->fd < 0) {
		pl_error_errno(err, "open %s", ev->path);
		return pl_events_free(ev);
	}
	ev->size = lseek(ev->fd, 0, SEEK_END);
	ev->seq = last_seq_in(ev->path);
	if (ev->seq == 0)
		ev->seq = last_seq_in(ev->old_path);
	return ev;
}

pl_events_t *pl_events_free(pl_events_t *ev)
{
	if (!ev)
		return NULL;
	if (ev->fd >= 0)
		close(ev->fd);
	free(ev->path);
	free(ev->old_path);
	free(ev->host);
	free(ev);
	return NULL;
}

void pl_events_subscribe(pl_events_t *ev, pl_event_fn fn, void *data)
{
	ev->fn = fn;
	ev->data = data;
}

uint64_t pl_events_last_seq(const pl_events_t *ev)
{
	return ev->seq;
}

static void rotate(pl_events_t *ev)
{
	if (rename(ev->path, ev->old_path) < 0)
		return;
	int fd = open(ev->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	close(ev->fd);
	ev->fd = fd;
	ev->size = 0;
}

void pl_events_emit(pl_events_t *ev, const char *type, const char *action, const char *id,
		    const char *name, json_t *attrs)
{
	int64_t now = pl_now_ns();
	char when[48];
	pl_time_format(now, when, sizeof(when));
	json_t *j = json_pack("{s:I, s:s, s:I, s:s, s:s, s:s, s:s, s:o}", "seq",
			      (json_int_t)++ev->seq, "time", when, "time_ns", (json_int_t)now,
			      "type", type, "action", action, "id", id ? id : "", "host", ev->host,
			      "attributes", attrs ? attrs : json_object());
	if (name && *name)
		json_object_set_new(json_object_get(j, "attributes"), "name", json_string(name));
	char *s = pl_json_dump(j);
	size_t n = strlen(s);
	s = pl_xrealloc(s, n + 2);
	s[n++] = '\n';
	s[n] = '\0';
	/* one write per event on an O_APPEND fd: the journal is never torn mid-line */
	if (write(ev->fd, s, n) == (ssize_t)n) {
		ev->size += (off_t)n;
		if (ev->size > (off_t)PL_EVENTS_ROTATE_BYTES)
			rotate(ev);
	}
	if (ev->fn)
		ev->fn(j, s, ev->data);
	free(s);
	json_decref(j);
}

static int replay_file(const char *path, int64_t since, int64_t until, pl_event_fn fn, void *data)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] != '\n')
			break; /* a line still being written */
		json_t *j = json_loadb(line, (size_t)n, 0, NULL);
		if (!j)
			continue;
		int64_t t = json_integer_value(json_object_get(j, "time_ns"));
		if ((!since || t >= since) && (!until || t <= until))
			fn(j, line, data);
		json_decref(j);
	}
	free(line);
	fclose(f);
	return 0;
}

int pl_events_replay(pl_events_t *ev, int64_t since_ns, int64_t until_ns, pl_event_fn fn,
		     void *data)
{
	int r = replay_file(ev->old_path, since_ns, until_ns, fn, data);
	if (r < 0)
		return r;
	return replay_file(ev->path, since_ns, until_ns, fn, data);
}
