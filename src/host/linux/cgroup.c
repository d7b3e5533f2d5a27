/* SPDX-License-Identifier: Apache-2.0 */
#include "host/linux/cgroup.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/phase.h"
#include "common/util.h"
#include "mechanism/domain.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>

#define PARENT "portlayer"

/* v1 controllers we place containers in; co-mounted ones (cpu,cpuacct) share a dir. */
static const char *const v1_controllers[] = {"memory", "pids",	  "cpu",     "cpuacct", "cpuset",
					     "blkio",  "freezer", "devices", NULL};

static pl_cg_layout_t layout;
/* Containers placed under a cgroup_parent of their own (kubepods/...), and those started in a
 * prepared domain (whose cgroup2 directory kept its pool name): id -> path relative to each
 * hierarchy's root, in a hash table (a lookup per cgroup operation must not cost one
 * comparison per container). The rest live under PARENT. */
#define MAX_PLACED     4096
#define PLACED_BUCKETS 1024
typedef struct placed {
	struct placed *next;
	char id[65];
	char *rel;  /* NULL: PARENT/<id> */
	char *rel2; /* the cgroup2 directory when it differs (a prepared domain's: cgroup2
		     * directories cannot be renamed), else NULL */
} placed_t;
static placed_t *placed[PLACED_BUCKETS];
static size_t n_placed;

static pthread_mutex_t placed_lock = PTHREAD_MUTEX_INITIALIZER;

/* The link that points at id's entry (or the end of its bucket's chain). Under placed_lock. */
static placed_t **placed_link(const char *id)
{
	placed_t **l = &placed[pl_fnv1a(id, strlen(id), PL_FNV1A_INIT) % PLACED_BUCKETS];
	while (*l && strcmp((*l)->id, id) != 0)
		l = &(*l)->next;
	return l;
}

/* The container's cgroup relative to a hierarchy's root, in a buffer of the calling
 * thread's (valid until its next call): an entry may go meanwhile. */
static const char *rel_of(const char *id, bool v2)
{
	static __thread char buf[PATH_MAX];
	bool found = false;
	pthread_mutex_lock(&placed_lock);
	placed_t *e = *placed_link(id);
	const char *r = e ? (v2 && e->rel2 ? e->rel2 : e->rel) : NULL;
	if (r)
		snprintf(buf, sizeof(buf), "%s", r);
	found = r != NULL;
	pthread_mutex_unlock(&placed_lock);
	if (!found)
		snprintf(buf, sizeof(buf), PARENT "/%s", id);
	return buf;
}

static const char *rel(const char *id)
{
	return rel_of(id, false);
}

/* The cgroup2 hierarchy's directory (a prepared domain's keeps its pool name). */
static const char *rel_unified(const char *id)
{
	return rel_of(id, true);
}

/* -1 when the table is full: a container must not land silently outside its parent. */
static int set_rel_which(const char *id, const char *r, bool v2)
{
	pthread_mutex_lock(&placed_lock);
	placed_t **l = placed_link(id);
	if (!*l && n_placed < MAX_PLACED) {
		*l = pl_xcalloc(1, sizeof(**l));
		snprintf((*l)->id, sizeof((*l)->id), "%s", id);
		n_placed++;
	}
	placed_t *e = *l;
	if (e) {
		char **slot = v2 ? &e->rel2 : &e->rel;
		free(*slot);
		*slot = pl_xstrdup(r);
	}
	pthread_mutex_unlock(&placed_lock);
	return e ? 0 : -1;
}

static int set_rel(const char *id, const char *r)
{
	return set_rel_which(id, r, false);
}

/* The container is back under PARENT (or gone): its entry makes room. */
static void forget(const char *id)
{
	pthread_mutex_lock(&placed_lock);
	placed_t **l = placed_link(id);
	placed_t *e = *l;
	if (e) {
		*l = e->next;
		free(e->rel);
		free(e->rel2);
		free(e);
		n_placed--;
	}
	pthread_mutex_unlock(&placed_lock);
}

char *pl_cgroup_path(const char *id)
{
	return pl_xstrdup(rel(id));
}

static char *base;	  /* usually /sys/fs/cgroup */
static char *unified;	  /* cgroup2 mount or NULL */
static char *v1_dirs[16]; /* distinct v1 hierarchy roots in use */
static size_t n_v1;

static bool is_fs(const char *path, long magic)
{
	struct statfs sf;
	return statfs(path, &sf) == 0 && sf.f_type == magic;
}

static int write_file(const char *path, const char *val)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = strlen(val);
	return write(fd, val, n) == (ssize_t)n ? 0 : -errno;
}

static int copy_file(const char *from, const char *to)
{
	_cleanup_free_ char *val = NULL;
	int dfd = AT_FDCWD;
	if (pl_read_file_at(dfd, from, &val, NULL, 65536, NULL) < 0)
		return -EIO;
	return write_file(to, val);
}

/* cpuset v1 refuses tasks until cpus and mems are set: inherit the parent's. */
static void init_cpuset(const char *dir)
{
	_cleanup_free_ char *parent = pl_xstrdup(dir);
	char *slash = strrchr(parent, '/');
	if (slash)
		*slash = '\0';
	for (const char *f = "cpuset.cpus"; f;
	     f = strcmp(f, "cpuset.cpus") == 0 ? "cpuset.mems" : NULL) {
		_cleanup_free_ char *from = pl_xasprintf("%s/%s", parent, f);
		_cleanup_free_ char *to = pl_xasprintf("%s/%s", dir, f);
		_cleanup_free_ char *cur = NULL;
		if (pl_read_file_at(AT_FDCWD, to, &cur, NULL, 65536, NULL) == 0 && cur[0] != '\n' &&
		    cur[0] != '\0')
			continue;
		copy_file(from, to);
	}
}

static bool is_cpuset(const char *dir)
{
	return strstr(dir, "cpuset") != NULL;
}

static bool cpuset_clones; /* our parent's cgroup.clone_children is set */

/* Whether a container's new cpuset directory (relative path r) needs init_cpuset. */
static bool cpuset_needs_init(const char *r)
{
	const size_t n = strlen(PARENT "/");
	return !cpuset_clones || strncmp(r, PARENT "/", n) != 0 || strchr(r + n, '/');
}

int pl_cgroup_init(const char *mountpoint, pl_error_t **err)
{
	base = pl_xstrdup(mountpoint ? mountpoint : "/sys/fs/cgroup");
	_cleanup_free_ char *uni = pl_xasprintf("%s/unified", base);
	if (is_fs(base, CGROUP2_SUPER_MAGIC)) {
		layout = PL_CG_V2;
		unified = pl_xstrdup(base);
	} else if (is_fs(uni, CGROUP2_SUPER_MAGIC)) {
		layout = PL_CG_HYBRID;
		unified = TAKE_PTR(uni);
	} else {
		layout = PL_CG_V1;
	}
	if (layout != PL_CG_V2) {
		for (const char *const *c = v1_controllers; *c; c++) {
			_cleanup_free_ char *p = pl_xasprintf("%s/%s", base, *c);
			char real[4096];
			if (!realpath(p, real) || !is_fs(real, CGROUP_SUPER_MAGIC))
				continue;
			bool seen = false;
			for (size_t i = 0; i < n_v1 && !seen; i++)
				seen = strcmp(v1_dirs[i], real) == 0;
			if (!seen && n_v1 < PL_ARRAY_SIZE(v1_dirs))
				v1_dirs[n_v1++] = pl_xstrdup(real);
		}
	}
	/* parents, made once */
	if (unified) {
		_cleanup_free_ char *p = pl_xasprintf("%s/" PARENT, unified);
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return pl_error_errno(err, "mkdir %s", p);
		if (layout == PL_CG_V2) {
			/* delegate every controller the root offers to our subtree */
			_cleanup_free_ char *ctrls = NULL;
			_cleanup_free_ char *rootc = pl_xasprintf("%s/cgroup.controllers", unified);
			if (pl_read_file_at(AT_FDCWD, rootc, &ctrls, NULL, 65536, NULL) == 0) {
				_cleanup_free_ char *sub =
				    pl_xasprintf("%s/" PARENT "/cgroup.subtree_control", unified);
				char *save = NULL;
				for (char *t = strtok_r(ctrls, " \n", &save); t;
				     t = strtok_r(NULL, " \n", &save)) {
					_cleanup_free_ char *v = pl_xasprintf("+%s", t);
					write_file(sub, v);
				}
			}
		}
	}
	for (size_t i = 0; i < n_v1; i++) {
		_cleanup_free_ char *p = pl_xasprintf("%s/" PARENT, v1_dirs[i]);
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return pl_error_errno(err, "mkdir %s", p);
		if (is_cpuset(p)) {
			init_cpuset(p);
			/* ours get the parent's cpus and mems as they are made (LXC does the
			 * same): no copy per container, whose writes check every sibling */
			_cleanup_free_ char *cc = pl_xasprintf("%s/cgroup.clone_children", p);
			cpuset_clones = write_file(cc, "1") == 0;
		}
	}
	return 0;
}

pl_cg_layout_t pl_cgroup_layout(void)
{
	return layout;
}

const char *pl_cgroup_layout_name(void)
{
	switch (layout) {
	case PL_CG_V2:
		return "v2";
	case PL_CG_V1:
		return "v1";
	case PL_CG_HYBRID:
		return "hybrid";
	default:
		return "unknown";
	}
}

/* phase names per hierarchy: "cgroup.mkdir.memory", ... (kept for the daemon's life) */
static const char *phase_name(const char *what, size_t i)
{
	static char *names[3][PL_ARRAY_SIZE(v1_dirs) + 1];
	size_t w = strcmp(what, "mkdir") == 0 ? 0 : strcmp(what, "rmdir") == 0 ? 1 : 2;
	if (!names[w][i]) {
		const char *dir = i < n_v1 ? v1_dirs[i] : "unified";
		const char *b = strrchr(dir, '/');
		names[w][i] = pl_xasprintf("cgroup.%s.%s", what, b ? b + 1 : dir);
	}
	return names[w][i];
}

int pl_cgroup_create(const char *id, pl_error_t **err)
{
	int64_t t = pl_phase_now();
	for (size_t i = 0; i < n_v1; i++) {
		_cleanup_free_ char *p = pl_xasprintf("%s/%s", v1_dirs[i], rel(id));
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return pl_error_errno(err, "mkdir %s", p);
		if (is_cpuset(p) && cpuset_needs_init(rel(id)))
			init_cpuset(p);
		pl_phase_step(phase_name("mkdir", i), &t);
	}
	if (!unified)
		return -1;
	_cleanup_free_ char *p = pl_xasprintf("%s/%s", unified, rel_unified(id));
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		return pl_error_errno(err, "mkdir %s", p);
	pl_phase_step(phase_name("mkdir", PL_ARRAY_SIZE(v1_dirs)), &t);
	int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return pl_error_errno(err, "open %s", p);
	return fd;
}

int pl_cgroup_attach_v1(const char *id, pid_t pid, pl_error_t **err)
{
	char val[32];
	snprintf(val, sizeof(val), "%d", pid);
	int64_t t = pl_phase_now();
	for (size_t i = 0; i < n_v1; i++) {
		_cleanup_free_ char *p = pl_xasprintf("%s/%s/cgroup.procs", v1_dirs[i], rel(id));
		int r = write_file(p, val);
		if (r < 0)
			return pl_error_set(err, PL_ERR_INTERNAL, -r, "write %s", p);
		pl_phase_step(phase_name("attach", i), &t);
	}
	return 0;
}

_Static_assert(PL_ARRAY_SIZE(v1_dirs) <= PL_CGROUP_MAX_V1, "room for every v1 hierarchy");

int pl_cgroup_join_fds(const char *id, int fds[], pl_error_t **err)
{
	int n = 0;
	for (size_t i = 0; i < n_v1; i++) {
		_cleanup_free_ char *p = pl_xasprintf("%s/%s/tasks", v1_dirs[i], rel(id));
		if ((fds[n] = open(p, O_WRONLY | O_CLOEXEC)) < 0) {
			int r = pl_error_errno(err, "open %s", p);
			pl_cgroup_join_close(fds, n);
			return r;
		}
		n++;
	}
	return n;
}

int pl_cgroup_join_self(const int fds[], int n)
{
	for (int i = 0; i < n; i++)
		if (write(fds[i], "0", 1) != 1)
			return -errno;
	return 0;
}

void pl_cgroup_join_close(int fds[], int n)
{
	for (int i = 0; i < n; i++)
		fds[i] = pl_close(fds[i]);
}

/* Returns how many processes were still listed. */
static int kill_procs(const char *dir)
{
	_cleanup_free_ char *p = pl_xasprintf("%s/cgroup.procs", dir);
	_cleanup_free_ char *buf = NULL;
	if (pl_read_file_at(AT_FDCWD, p, &buf, NULL, 1 << 20, NULL) < 0)
		return 0;
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(buf, "\n", &save); t; t = strtok_r(NULL, "\n", &save)) {
		kill((pid_t)atoi(t), SIGKILL);
		n++;
	}
	return n;
}

static int remove_dir(const char *dir, pl_error_t **err)
{
	/* rmdir fails with EBUSY while dying tasks are still being reaped: retry briefly */
	for (int tries = 0; tries < 200; tries++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			break;
		kill_procs(dir);
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	return pl_error_errno(err, "rmdir %s", dir);
}

int pl_cgroup_destroy(const char *id, pl_error_t **err)
{
	int rc = 0;
	int64_t t = pl_phase_now();
	if (unified) {
		_cleanup_free_ char *p = pl_xasprintf("%s/%s", unified, rel_unified(id));
		_cleanup_free_ char *k = pl_xasprintf("%s/cgroup.kill", p);
		if (write_file(k, "1") < 0)
			kill_procs(p);
		if (remove_dir(p, err) < 0)
			rc = -1;
		pl_phase_step(phase_name("rmdir", PL_ARRAY_SIZE(v1_dirs)), &t);
	}
	/* v1: an rmdir refused (EBUSY) kills what is left and tries again (remove_dir); most
	 * find their cgroups empty, the domain's pid namespace gone with its first process */
	for (size_t i = 0; i < n_v1; i++) {
		_cleanup_free_ char *p = pl_xasprintf("%s/%s", v1_dirs[i], rel(id));
		if (remove_dir(p, err) < 0)
			rc = -1;
		pl_phase_step(phase_name("rmdir", i), &t);
	}
	if (rc == 0)
		forget(id);
	return rc;
}

/* --- limits, OOM, freezer --- */

/* The container's directory in the v1 hierarchy holding controller c, or NULL. */
static char *v1_dir(const char *id, const char *controller)
{
	for (size_t i = 0; i < n_v1; i++) {
		const char *base_name = strrchr(v1_dirs[i], '/');
		base_name = base_name ? base_name + 1 : v1_dirs[i];
		/* co-mounted hierarchies are named "cpu,cpuacct" */
		_cleanup_free_ char *names = pl_xstrdup(base_name);
		char *save = NULL;
		for (char *t = strtok_r(names, ",", &save); t; t = strtok_r(NULL, ",", &save))
			if (strcmp(t, controller) == 0)
				return pl_xasprintf("%s/%s", v1_dirs[i], rel(id));
	}
	return NULL;
}

static char *v2_dir(const char *id)
{
	return unified ? pl_xasprintf("%s/%s", unified, rel_unified(id)) : NULL;
}

/* The file for a setting: the v2 name on a v2 host, the v1 controller's otherwise. */
static char *knob(const char *id, const char *v2_file, const char *v1_ctrl, const char *v1_file)
{
	if (layout == PL_CG_V2) {
		_cleanup_free_ char *d = v2_dir(id);
		return v2_file && d ? pl_xasprintf("%s/%s", d, v2_file) : NULL;
	}
	_cleanup_free_ char *d = v1_dir(id, v1_ctrl);
	return d && v1_file ? pl_xasprintf("%s/%s", d, v1_file) : NULL;
}

static int set_knob(const char *id, const char *v2_file, const char *v1_ctrl, const char *v1_file,
		    const char *val, pl_error_t **err)
{
	_cleanup_free_ char *path = knob(id, v2_file, v1_ctrl, v1_file);
	if (!path)
		return pl_error_set(err, PL_ERR_UNSUPPORTED, 0,
				    "the %s controller is not available on this host", v1_ctrl);
	int r = write_file(path, val);
	if (r < 0)
		return pl_error_set(err, PL_ERR_INVALID, -r, "set %s to %s", path, val);
	return 0;
}

static void fmt_limit(char *buf, size_t n, int64_t v)
{
	if (v < 0)
		snprintf(buf, n, "%s", layout == PL_CG_V2 ? "max" : "-1");
	else
		snprintf(buf, n, "%lld", (long long)v);
}

static int apply_memory(const char *id, const struct pl_resources *r, pl_error_t **err)
{
	char v[32], sw[32];
	if (r->memory_reservation) {
		fmt_limit(v, sizeof(v), r->memory_reservation);
		if (set_knob(id, "memory.low", "memory", "memory.soft_limit_in_bytes", v, err) < 0)
			return -1;
	}
	if (layout == PL_CG_V2) {
		if (r->memory) {
			fmt_limit(v, sizeof(v), r->memory);
			if (set_knob(id, "memory.max", "memory", NULL, v, err) < 0)
				return -1;
		}
		if (!r->has_memory_swap)
			return 0;
		/* v2 counts swap apart: memory_swap is memory + swap, as in Docker */
		fmt_limit(v, sizeof(v), r->memory_swap < 0 ? -1 : r->memory_swap - r->memory);
		return set_knob(id, "memory.swap.max", "memory", NULL, v, err);
	}
	_cleanup_free_ char *memsw = knob(id, NULL, "memory", "memory.memsw.limit_in_bytes");
	if (r->has_memory_swap && (!memsw || access(memsw, F_OK) < 0))
		return pl_error_set(err, PL_ERR_UNSUPPORTED, 0,
				    "this kernel does not account swap (no memory.memsw)");
	fmt_limit(v, sizeof(v), r->memory);
	fmt_limit(sw, sizeof(sw), r->memory_swap);
	/* v1 keeps memory <= memory+swap at every step: raising both must write memsw first,
	 * lowering both the memory limit first */
	if (r->memory && set_knob(id, NULL, "memory", "memory.limit_in_bytes", v, NULL) == 0)
		return r->has_memory_swap
			   ? set_knob(id, NULL, "memory", "memory.memsw.limit_in_bytes", sw, err)
			   : 0;
	if (r->has_memory_swap &&
	    set_knob(id, NULL, "memory", "memory.memsw.limit_in_bytes", sw, err) < 0)
		return -1;
	if (r->memory)
		return set_knob(id, NULL, "memory", "memory.limit_in_bytes", v, err);
	return 0;
}

static int apply_cpu(const char *id, const struct pl_resources *r, pl_error_t **err)
{
	char v[64];
	if (r->cpu_shares) {
		if (layout == PL_CG_V2) /* the runtime-spec conversion of shares to weight */
			snprintf(v, sizeof(v), "%lld",
				 (long long)(1 + ((r->cpu_shares - 2) * 9999) / 262142));
		else
			snprintf(v, sizeof(v), "%lld", (long long)r->cpu_shares);
		if (set_knob(id, "cpu.weight", "cpu", "cpu.shares", v, err) < 0)
			return -1;
	}
	if (r->cpu_quota || r->cpu_period) {
		int64_t period = r->cpu_period ? r->cpu_period : 100000;
		if (layout == PL_CG_V2) {
			if (r->cpu_quota)
				snprintf(v, sizeof(v), "%lld %lld", (long long)r->cpu_quota,
					 (long long)period);
			else
				snprintf(v, sizeof(v), "max %lld", (long long)period);
			if (set_knob(id, "cpu.max", "cpu", NULL, v, err) < 0)
				return -1;
		} else {
			snprintf(v, sizeof(v), "%lld", (long long)period);
			if (set_knob(id, NULL, "cpu", "cpu.cfs_period_us", v, err) < 0)
				return -1;
			snprintf(v, sizeof(v), "%lld",
				 (long long)(r->cpu_quota ? r->cpu_quota : -1));
			if (set_knob(id, NULL, "cpu", "cpu.cfs_quota_us", v, err) < 0)
				return -1;
		}
	}
	if (r->cpuset_cpus &&
	    set_knob(id, "cpuset.cpus", "cpuset", "cpuset.cpus", r->cpuset_cpus, err) < 0)
		return -1;
	return 0;
}

int pl_cgroup_apply(const char *id, const struct pl_resources *r, pl_error_t **err)
{
	char v[32];
	if (apply_memory(id, r, err) < 0 || apply_cpu(id, r, err) < 0)
		return -1;
	if (r->has_pids_limit) {
		fmt_limit(v, sizeof(v), r->pids_limit);
		if (layout != PL_CG_V2 && r->pids_limit < 0)
			snprintf(v, sizeof(v), "max");
		if (set_knob(id, "pids.max", "pids", "pids.max", v, err) < 0)
			return -1;
	}
	if (r->blkio_weight) {
		snprintf(v, sizeof(v), "%lld", (long long)r->blkio_weight);
		/* with the BFQ scheduler only the bfq weight exists */
		_cleanup_free_ char *plain = knob(id, "io.weight", "blkio", "blkio.weight");
		if (plain && access(plain, F_OK) == 0)
			return set_knob(id, "io.weight", "blkio", "blkio.weight", v, err);
		return set_knob(id, "io.bfq.weight", "blkio", "blkio.bfq.weight", v, err);
	}
	return 0;
}

static long read_counter(const char *path, const char *key)
{
	_cleanup_free_ char *buf = NULL;
	if (!path || pl_read_file_at(AT_FDCWD, path, &buf, NULL, 65536, NULL) < 0)
		return 0;
	size_t n = strlen(key);
	for (char *line = buf; line && *line;
	     line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
		if (strncmp(line, key, n) == 0 && line[n] == ' ')
			return atol(line + n + 1);
	return 0;
}

long pl_cgroup_oom_kills(const char *id)
{
	_cleanup_free_ char *p = knob(id, "memory.events", "memory", "memory.oom_control");
	return read_counter(p, "oom_kill");
}

/* Whether every task of the cgroup is frozen (not merely being frozen). */
static bool fully_frozen(const char *id)
{
	if (layout == PL_CG_V2) {
		_cleanup_free_ char *p = knob(id, "cgroup.events", "freezer", NULL);
		return read_counter(p, "frozen") == 1;
	}
	_cleanup_free_ char *p = knob(id, NULL, "freezer", "freezer.state");
	_cleanup_free_ char *buf = NULL;
	return p && pl_read_file_at(AT_FDCWD, p, &buf, NULL, 64, NULL) >= 0 &&
	       strncmp(buf, "FROZEN", 6) == 0;
}

int pl_cgroup_freeze(const char *id, bool frozen, pl_error_t **err)
{
	const char *v2 = frozen ? "1" : "0", *v1 = frozen ? "FROZEN" : "THAWED";
	int r = set_knob(id, layout == PL_CG_V2 ? "cgroup.freeze" : NULL, "freezer",
			 layout == PL_CG_V2 ? NULL : "freezer.state", layout == PL_CG_V2 ? v2 : v1,
			 err);
	/* the kernel freezes task by task (v1 reads FREEZING meanwhile, and a task in some
	 * states needs the write repeated, as runc does): answer once all are frozen, or give
	 * up after ~100 ms and let is_paused tell the truth */
	for (int i = 0; r == 0 && frozen && i < 100 && !fully_frozen(id); i++) {
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
		if (layout != PL_CG_V2)
			set_knob(id, NULL, "freezer", "freezer.state", v1, NULL);
	}
	return r;
}

bool pl_cgroup_is_frozen(const char *id)
{
	if (layout == PL_CG_V2) {
		_cleanup_free_ char *p = knob(id, "cgroup.events", "freezer", NULL);
		return read_counter(p, "frozen") == 1;
	}
	_cleanup_free_ char *p = knob(id, NULL, "freezer", "freezer.state");
	_cleanup_free_ char *buf = NULL;
	if (!p || pl_read_file_at(AT_FDCWD, p, &buf, NULL, 64, NULL) < 0)
		return false;
	return strncmp(buf, "FROZEN", 6) == 0 || strncmp(buf, "FREEZING", 8) == 0;
}

/* --- stats --- */

static long long read_ll(const char *path)
{
	_cleanup_free_ char *buf = NULL;
	if (!path || pl_read_file_at(AT_FDCWD, path, &buf, NULL, 4096, NULL) < 0)
		return -1;
	if (strncmp(buf, "max", 3) == 0)
		return -1;
	return atoll(buf);
}

/* Sums "Read"/"Write" (v1 blkio) or rbytes=/wbytes= (v2 io.stat) over devices. */
static void io_bytes(const char *path, bool v2, long long *rd, long long *wr)
{
	_cleanup_free_ char *buf = NULL;
	*rd = *wr = 0;
	if (!path || pl_read_file_at(AT_FDCWD, path, &buf, NULL, 1 << 20, NULL) < 0)
		return;
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (v2) {
			char *r = strstr(line, "rbytes="), *w = strstr(line, "wbytes=");
			*rd += r ? atoll(r + 7) : 0;
			*wr += w ? atoll(w + 7) : 0;
		} else {
			char dev[64], op[16];
			long long v;
			if (sscanf(line, "%63s %15s %lld", dev, op, &v) == 3) {
				if (strcmp(op, "Read") == 0)
					*rd += v;
				else if (strcmp(op, "Write") == 0)
					*wr += v;
			}
		}
	}
}

json_t *pl_cgroup_stats(const char *id)
{
	bool v2 = layout == PL_CG_V2;
	_cleanup_free_ char *mem = knob(id, "memory.current", "memory", "memory.usage_in_bytes");
	_cleanup_free_ char *lim = knob(id, "memory.max", "memory", "memory.limit_in_bytes");
	_cleanup_free_ char *cpu = knob(id, "cpu.stat", "cpuacct", "cpuacct.usage");
	_cleanup_free_ char *pids = knob(id, "pids.current", "pids", "pids.current");
	_cleanup_free_ char *pmax = knob(id, "pids.max", "pids", "pids.max");
	_cleanup_free_ char *io = knob(id, "io.stat", "blkio", "blkio.throttle.io_service_bytes");
	long long cpu_ns = v2 ? read_counter(cpu, "usage_usec") * 1000LL : read_ll(cpu);
	long long rd, wr;
	io_bytes(io, v2, &rd, &wr);
	long long limit = read_ll(lim);
	/* v1 reports "no limit" as a huge page-aligned number */
	if (limit >= (1LL << 62))
		limit = -1;
	return json_pack("{s:{s:I}, s:{s:I, s:I}, s:{s:I, s:I}, s:{s:I, s:I}}", "cpu", "usage_ns",
			 (json_int_t)cpu_ns, "memory", "usage", (json_int_t)read_ll(mem), "limit",
			 (json_int_t)limit, "pids", "current", (json_int_t)read_ll(pids), "limit",
			 (json_int_t)read_ll(pmax), "blkio", "read_bytes", (json_int_t)rd,
			 "write_bytes", (json_int_t)wr);
}

/* --- placement under a caller's parent, device rules --- */

/* mkdir -p of rel below a hierarchy root; on v2 each level delegates the controllers its
 * parent has, on v1 cpuset levels inherit cpus and mems. */
static int make_path(const char *root, const char *relpath, bool v2, pl_error_t **err)
{
	_cleanup_free_ char *copy = pl_xstrdup(relpath);
	_cleanup_free_ char *cur = pl_xstrdup(root);
	char *save = NULL;
	for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (v2) {
			_cleanup_free_ char *ctrls = NULL;
			_cleanup_free_ char *avail = pl_xasprintf("%s/cgroup.controllers", cur);
			_cleanup_free_ char *sub = pl_xasprintf("%s/cgroup.subtree_control", cur);
			char *s2 = NULL;
			if (pl_read_file_at(AT_FDCWD, avail, &ctrls, NULL, 65536, NULL) == 0)
				for (char *c = strtok_r(ctrls, " \n", &s2); c;
				     c = strtok_r(NULL, " \n", &s2)) {
					_cleanup_free_ char *v = pl_xasprintf("+%s", c);
					write_file(sub, v);
				}
		}
		char *next = pl_xasprintf("%s/%s", cur, t);
		free(cur);
		cur = next;
		if (mkdir(cur, 0755) < 0 && errno != EEXIST)
			return pl_error_errno(err, "mkdir %s", cur);
		if (!v2 && is_cpuset(cur))
			init_cpuset(cur);
	}
	return 0;
}

/* systemd's slice names as a path, as Docker's systemd driver reads a kubelet's parent:
 * "kubepods-burstable-pod1.slice" lives at
 * "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice". Anything else
 * is a path already. */
static char *slice_path(const char *parent)
{
	size_t n = strlen(parent);
	if (strchr(parent, '/') || n <= 6 || strcmp(parent + n - 6, ".slice"))
		return pl_xstrdup(parent);
	if (!strcmp(parent, "-.slice"))
		return pl_xstrdup("");
	_cleanup_free_ char *stem = pl_xasprintf("%.*s", (int)(n - 6), parent);
	char *out = pl_xstrdup("");
	for (char *dash = stem;; dash++) {
		dash = strchr(dash, '-');
		_cleanup_free_ char *prefix =
		    dash ? pl_xasprintf("%.*s", (int)(dash - stem), stem) : pl_xstrdup(stem);
		char *next = pl_xasprintf("%s%s%s.slice", out, *out ? "/" : "", prefix);
		free(out);
		out = next;
		if (!dash)
			return out;
	}
}

int pl_cgroup_place(const char *id, const char *parent_in, pl_error_t **err)
{
	_cleanup_free_ char *parent = parent_in ? slice_path(parent_in) : NULL;
	if (!parent || !*parent) {
		forget(id);
		return 0;
	}
	if (strlen(parent) + PL_ID_LEN + 2 > PATH_MAX)
		return pl_error_set(err, PL_ERR_INVALID, ENAMETOOLONG,
				    "cgroup_parent %s: the path is too long", parent_in);
	for (size_t i = 0; i < n_v1; i++)
		if (make_path(v1_dirs[i], parent, false, err) < 0)
			return -1;
	if (unified && make_path(unified, parent, layout == PL_CG_V2, err) < 0)
		return -1;
	_cleanup_free_ char *r = pl_xasprintf("%s/%s", parent, id);
	if (set_rel(id, r) < 0)
		return pl_error_set(
		    err, PL_ERR_CONFLICT, ENOSPC,
		    "cgroup_parent: %d containers under parents of their own already", MAX_PLACED);
	return 0;
}

void pl_cgroup_adopt(const char *id, pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	_cleanup_free_ char *buf = NULL;
	if (pl_read_file_at(AT_FDCWD, path, &buf, NULL, 1 << 16, NULL) < 0)
		return;
	/* a prepared domain's cgroup2 directory kept its pool name ("0::/portlayer/pool-..") */
	const char *v2line = strstr(buf, "0::/" PARENT "/" PL_CGROUP_POOL_PREFIX);
	if (unified && v2line && (v2line == buf || v2line[-1] == '\n')) {
		size_t n = strcspn(v2line + 4, "\n");
		_cleanup_free_ char *r = pl_xasprintf("%.*s", (int)n, v2line + 4);
		if (set_rel_which(id, r, true) < 0)
			pl_log_warn("container %.12s: its cgroup %s is not remembered", id, r);
	}
	char *save = NULL;
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* "N:controllers:/path": any hierarchy we use tells the same place */
		char *p = strchr(line, ':');
		p = p ? strchr(p + 1, ':') : NULL;
		if (!p || p[1] != '/')
			continue;
		const char *r = p + 2;
		size_t n = strlen(r), k = strlen(id);
		if (n > k && r[n - k - 1] == '/' && strcmp(r + n - k, id) == 0) {
			if (set_rel(id, r) < 0)
				pl_log_warn("container %.12s: its cgroup %s is not remembered", id,
					    r);
			return;
		}
	}
}

int pl_cgroup_devices(const char *id, const pl_cgroup_device_t *devs, size_t n, bool all,
		      pl_error_t **err)
{
	/* Docker's default set: mknod of anything, the standard character devices, ptys, tun */
	static const char *const defaults[] = {
	    "c *:* m",	 "b *:* m",   "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm",   "c 1:8 rwm",
	    "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
	};
	size_t nr = all ? 1 : PL_ARRAY_SIZE(defaults) + n;
	_cleanup_free_ char **rules = pl_xcalloc(nr + 1, sizeof(char *));
	_cleanup_free_ char *own = pl_xcalloc(n + 1, 64);
	if (all) {
		rules[0] = (char *)"a";
	} else {
		for (size_t i = 0; i < PL_ARRAY_SIZE(defaults); i++)
			rules[i] = (char *)defaults[i];
		for (size_t i = 0; i < n; i++) {
			char *r = own + i * 64;
			snprintf(r, 64, "%c %u:%u %s", devs[i].type, devs[i].major, devs[i].minor,
				 devs[i].perms);
			rules[PL_ARRAY_SIZE(defaults) + i] = r;
		}
	}
	/* v1: the devices controller's lists */
	_cleanup_free_ char *dir = layout == PL_CG_V2 ? NULL : v1_dir(id, "devices");
	if (dir) {
		_cleanup_free_ char *deny = pl_xasprintf("%s/devices.deny", dir);
		_cleanup_free_ char *allow = pl_xasprintf("%s/devices.allow", dir);
		int r = all ? 0 : write_file(deny, "a");
		for (size_t i = 0; r == 0 && i < nr; i++)
			r = write_file(allow, rules[i]);
		if (r < 0)
			return pl_error_set(err, PL_ERR_INTERNAL, -r, "device rules in %s", dir);
	}
	/* v2 (and the cgroup2 side of a hybrid host): a BPF device filter; on a hybrid host
	 * the v1 lists above already hold, so a kernel without it is no failure there */
	_cleanup_free_ char *d2 = v2_dir(id);
	_cleanup_close_ int fd = d2 ? open(d2, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (fd >= 0 && !all) {
		pl_error_t *e = NULL;
		if (pl_devbpf_attach(fd, (const char *const *)rules, nr, &e) < 0) {
			if (layout == PL_CG_V2) {
				if (err)
					*err = e;
				else
					pl_error_free(e);
				return -1;
			}
			pl_error_free(e);
		}
	}
	return 0;
}

/* --- prepared domains (mechanism/linux/prepared.c) --- */

int pl_cgroup_take(const char *pool_name, const char *id, pl_error_t **err)
{
	for (size_t i = 0; i < n_v1; i++) {
		_cleanup_free_ char *from = pl_xasprintf("%s/" PARENT "/%s", v1_dirs[i], pool_name);
		_cleanup_free_ char *to = pl_xasprintf("%s/" PARENT "/%s", v1_dirs[i], id);
		if (rename(from, to) < 0) {
			int e = errno;
			/* back to one name, so one destroy finds everything */
			for (size_t j = 0; j < i; j++) {
				_cleanup_free_ char *a =
				    pl_xasprintf("%s/" PARENT "/%s", v1_dirs[j], id);
				_cleanup_free_ char *b =
				    pl_xasprintf("%s/" PARENT "/%s", v1_dirs[j], pool_name);
				rename(a, b);
			}
			errno = e;
			return pl_error_errno(err, "rename %s", from);
		}
	}
	if (unified) {
		_cleanup_free_ char *r = pl_xasprintf(PARENT "/%s", pool_name);
		if (set_rel_which(id, r, true) < 0)
			return pl_error_set(err, PL_ERR_CONFLICT, ENOSPC,
					    "too many containers in prepared cgroups");
	}
	return 0;
}

/* Whether some container's cgroup2 directory is this one (kept, it is in use). */
static bool rel2_in_use(const char *r)
{
	bool used = false;
	pthread_mutex_lock(&placed_lock);
	for (size_t b = 0; b < PLACED_BUCKETS && !used; b++)
		for (placed_t *e = placed[b]; e && !used; e = e->next)
			used = e->rel2 && strcmp(e->rel2, r) == 0;
	pthread_mutex_unlock(&placed_lock);
	return used;
}

static void sweep_dir(const char *root, const char *prefix, bool v2)
{
	_cleanup_free_ char *parent = pl_xasprintf("%s/" PARENT, root);
	DIR *d = opendir(parent);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		_cleanup_free_ char *r = pl_xasprintf(PARENT "/%s", de->d_name);
		if (v2 && rel2_in_use(r))
			continue;
		_cleanup_free_ char *p = pl_xasprintf("%s/%s", root, r);
		/* a cgroup2 directory whose v1 twins were renamed was taken by a container: one
		 * we do not know of (not adopted) is only removed once empty, never killed */
		_cleanup_free_ char *twin = n_v1 ? pl_xasprintf("%s/%s", v1_dirs[0], r) : NULL;
		if (v2 && twin && access(twin, F_OK) < 0) {
			rmdir(p);
			continue;
		}
		_cleanup_free_ char *k = pl_xasprintf("%s/cgroup.kill", p);
		if (!v2 || write_file(k, "1") < 0)
			kill_procs(p);
		pl_error_t *e = NULL;
		if (remove_dir(p, &e) < 0) {
			pl_log_warn("prepared domains: %s", e->msg);
			pl_error_free(e);
		}
	}
	closedir(d);
}

void pl_cgroup_sweep(const char *prefix)
{
	if (unified)
		sweep_dir(unified, prefix, true);
	for (size_t i = 0; i < n_v1; i++)
		sweep_dir(v1_dirs[i], prefix, false);
}
