/* SPDX-License-Identifier: Apache-2.0 */
/* The domain's process list (the answer to TOP_REQUEST), read from the domain's own /proc, so
 * the pids are the domain's and it works the same in a VM's guest kernel: pid, user (the
 * effective uid's name in the domain's /etc/passwd), state, CPU time, resident memory and
 * the command line. Tether itself and kernel threads are left out: neither is the
 * container's. */
#include "tether/os.h"
#include "tether/linux/osutil.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PF_KTHREAD_FLAG 0x00200000u

/* The name of uid in the domain's /etc/passwd, else the number. */
static json_t *user_name(const char *passwd, unsigned long uid)
{
	for (const char *line = passwd; line && *line;) {
		const char *end = strchr(line, '\n');
		const char *c1 = memchr(line, ':', end ? (size_t)(end - line) : strlen(line));
		const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (c1 && c2 && (!end || c2 < end)) {
			char *num_end = NULL;
			unsigned long u = strtoul(c2 + 1, &num_end, 10);
			if (num_end != c2 + 1 && *num_end == ':' && u == uid)
				return json_stringn(line, (size_t)(c1 - line));
		}
		line = end ? end + 1 : NULL;
	}
	return json_sprintf("%lu", uid);
}

static json_t *one(int pid, const char *passwd, long hz, long page_kib)
{
	char path[64], buf[4096];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (pl_os_slurp(path, buf, sizeof(buf)) <= 0)
		return NULL;
	char *open_p = strchr(buf, '('), *close_p = strrchr(buf, ')');
	if (!open_p || !close_p || close_p < open_p)
		return NULL;
	char comm[64];
	snprintf(comm, sizeof(comm), "%.*s", (int)(close_p - open_p - 1), open_p + 1);
	/* after "(comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
	 * utime stime cutime cstime priority nice threads itrealvalue starttime vsize rss */
	char state = '?';
	unsigned flags = 0;
	unsigned long long utime = 0, stime = 0, rss = 0;
	if (sscanf(close_p + 2,
		   "%c %*d %*d %*d %*d %*d %u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
		   "%*u %*u %llu",
		   &state, &flags, &utime, &stime, &rss) != 5)
		return NULL;
	if (flags & PF_KTHREAD_FLAG)
		return NULL;
	unsigned long euid = 0;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if (pl_os_slurp(path, buf, sizeof(buf)) > 0) {
		const char *u = strstr(buf, "\nUid:");
		if (u)
			sscanf(u + 5, "%*u %lu", &euid);
	}
	json_t *args = json_array();
	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	long n = pl_os_slurp(path, buf, sizeof(buf));
	for (long i = 0; i < n;) {
		size_t len = strnlen(buf + i, (size_t)(n - i));
		json_t *a = json_stringn(buf + i, len);
		json_array_append_new(args, a ? a : json_string("?"));
		i += (long)len + 1;
	}
	if (json_array_size(args) == 0) /* a zombie, or a process that cleared it */
		json_array_append_new(args, json_sprintf("[%s]", comm));
	return json_pack("{s:i, s:o, s:s#, s:I, s:I, s:o}", "pid", pid, "user",
			 user_name(passwd, euid), "state", &state, 1, "cpu_time_ms",
			 (json_int_t)((utime + stime) * 1000 / (unsigned long long)hz), "rss_kib",
			 (json_int_t)(rss * (unsigned long long)page_kib), "args", args);
}

static int cmp_pid(const void *a, const void *b)
{
	int x = (int)json_integer_value(json_object_get(*(json_t *const *)a, "pid"));
	int y = (int)json_integer_value(json_object_get(*(json_t *const *)b, "pid"));
	return (x > y) - (x < y);
}

json_t *pl_os_top(void)
{
	long hz = sysconf(_SC_CLK_TCK);
	long page_kib = sysconf(_SC_PAGESIZE) / 1024;
	if (hz <= 0)
		hz = 100;
	if (page_kib <= 0)
		page_kib = 4;
	static char passwd[65536];
	if (pl_os_slurp("/etc/passwd", passwd, sizeof(passwd)) < 0)
		passwd[0] = 0;
	DIR *d = opendir("/proc");
	if (!d)
		return json_pack("{s:s}", "error", "cannot read /proc");
	int self = getpid();
	json_t *list = json_array();
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		int pid = atoi(e->d_name);
		if (pid == self)
			continue;
		json_t *p = one(pid, passwd, hz, page_kib);
		if (p)
			json_array_append_new(list, p);
	}
	closedir(d);
	size_t n = json_array_size(list);
	json_t **items = calloc(n ? n : 1, sizeof(*items));
	if (!items)
		return json_pack("{s:o}", "processes", list);
	for (size_t i = 0; i < n; i++)
		items[i] = json_incref(json_array_get(list, i));
	qsort(items, n, sizeof(*items), cmp_pid);
	json_array_clear(list);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, items[i]);
	free(items);
	return json_pack("{s:o}", "processes", list);
}
