/* SPDX-License-Identifier: Apache-2.0 */
/* The domain's usage read from inside it (the answer to STATS_REQUEST): CPU time from
 * /proc/stat, memory from /proc/meminfo, processes from /proc (kernel threads left out),
 * disk bytes from /proc/diskstats, interface counters from /sys/class/net. In a dedicated
 * kernel (the vm mechanism) the whole machine is the container's, so these are its figures;
 * the port layer maps them onto the same keys as a cgroup's. Plain reads, no allocation
 * beyond jansson's. */
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

long pl_os_slurp(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t off = 0;
	while (off < size - 1) {
		ssize_t n = read(fd, buf + off, size - 1 - off);
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = 0;
	return (long)off;
}

static json_t *cpu_stats(void)
{
	char buf[1024];
	unsigned long long v[8] = {0};
	long hz = sysconf(_SC_CLK_TCK);
	if (hz <= 0 || pl_os_slurp("/proc/stat", buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) != 8)
		return json_pack("{s:I, s:I, s:I}", "usage_ns", (json_int_t)-1, "user_ns",
				 (json_int_t)-1, "system_ns", (json_int_t)-1);
	/* user nice system idle iowait irq softirq steal: busy is all but idle and iowait */
	unsigned long long ns = 1000000000ULL / (unsigned long long)hz;
	unsigned long long user = v[0] + v[1], system = v[2] + v[5] + v[6];
	return json_pack("{s:I, s:I, s:I}", "usage_ns", (json_int_t)((user + system) * ns),
			 "user_ns", (json_int_t)(user * ns), "system_ns",
			 (json_int_t)(system * ns));
}

static long long meminfo_kb(const char *info, const char *key)
{
	const char *p = strstr(info, key);
	return p ? strtoll(p + strlen(key), NULL, 10) : -1;
}

static json_t *memory_stats(void)
{
	char buf[4096];
	long long total = -1, avail = -1;
	if (pl_os_slurp("/proc/meminfo", buf, sizeof(buf)) >= 0) {
		total = meminfo_kb(buf, "MemTotal:");
		avail = meminfo_kb(buf, "MemAvailable:");
	}
	long long usage = total >= 0 && avail >= 0 ? (total - avail) * 1024 : -1;
	return json_pack("{s:I, s:I}", "usage", (json_int_t)usage, "limit",
			 (json_int_t)(total >= 0 ? total * 1024 : -1));
}

/* User-space processes: kthreadd (2) and its children are the kernel's, not the domain's. */
static json_t *pids_stats(void)
{
	long long n = 0;
	DIR *d = opendir("/proc");
	if (!d)
		return json_pack("{s:I, s:I}", "current", (json_int_t)-1, "limit", (json_int_t)-1);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]) || strcmp(e->d_name, "2") == 0)
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		if (pl_os_slurp(path, buf, sizeof(buf)) < 0)
			continue;
		const char *p = strrchr(buf, ')');
		int ppid = -1;
		if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1 || ppid == 2)
			continue;
		n++;
	}
	closedir(d);
	return json_pack("{s:I, s:I}", "current", (json_int_t)n, "limit", (json_int_t)-1);
}

/* Whole disks only (vda, not vda1): 512-byte sectors read and written. */
static json_t *blkio_stats(void)
{
	char buf[8192];
	long long rd = 0, wr = 0;
	if (pl_os_slurp("/proc/diskstats", buf, sizeof(buf)) < 0)
		return json_pack("{s:I, s:I}", "read_bytes", (json_int_t)-1, "write_bytes",
				 (json_int_t)-1);
	char *save = NULL;
	for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		char name[32];
		unsigned long long rs, ws;
		if (sscanf(l, " %*u %*u %31s %*u %*u %llu %*u %*u %*u %llu", name, &rs, &ws) != 3)
			continue;
		if (strncmp(name, "vd", 2) != 0 || isdigit((unsigned char)name[strlen(name) - 1]))
			continue;
		rd += (long long)rs * 512;
		wr += (long long)ws * 512;
	}
	return json_pack("{s:I, s:I}", "read_bytes", (json_int_t)rd, "write_bytes", (json_int_t)wr);
}

static json_int_t counter(const char *ifname, const char *name)
{
	char path[320], buf[64];
	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", ifname, name);
	return pl_os_slurp(path, buf, sizeof(buf)) > 0 ? (json_int_t)strtoll(buf, NULL, 10) : -1;
}

static json_t *net_stats(void)
{
	static const char *const keys[] = {"rx_bytes", "rx_packets", "rx_errors",
					   "tx_bytes", "tx_packets", "tx_errors"};
	json_t *nets = json_object();
	DIR *d = opendir("/sys/class/net");
	if (!d)
		return nets;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		json_t *o = json_object();
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			json_object_set_new(o, keys[i], json_integer(counter(e->d_name, keys[i])));
		json_object_set_new(nets, e->d_name, o);
	}
	closedir(d);
	return nets;
}

json_t *pl_os_stats(void)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o}", "cpu", cpu_stats(), "memory", memory_stats(),
			 "pids", pids_stats(), "blkio", blkio_stats(), "networks", net_stats());
}
