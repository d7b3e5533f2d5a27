/* SPDX-License-Identifier: Apache-2.0 */
/* Device rules on cgroup v2: a BPF_PROG_TYPE_CGROUP_DEVICE program attached to the
 * container's cgroup2 directory, made from the same rules the v1 controller takes. Each rule
 * is one block that jumps to the next on a mismatch (type, requested access not a subset of
 * the allowed, major, minor) and returns 1 (allow) when all match; the end returns 0. */
#include "host/linux/cgroup.h"
#include "common/cleanup.h"

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_INSNS 4096

typedef struct {
	struct bpf_insn *v;
	size_t n;
} prog_t;

static void emit(prog_t *p, struct bpf_insn i)
{
	if (p->n < MAX_INSNS)
		p->v[p->n] = i;
	p->n++;
}

#define INSN(c, d, s, o, i)                                                                        \
	((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

/* r2 type, r3 access, r4 major, r5 minor (r1 is the context until they are loaded) */
static void prologue(prog_t *p)
{
	emit(p, INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1, 0, 0));
	emit(p, INSN(BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff));
	emit(p, INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_3, BPF_REG_1, 0, 0));
	emit(p, INSN(BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16));
	emit(p, INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_4, BPF_REG_1, 4, 0));
	emit(p, INSN(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_5, BPF_REG_1, 8, 0));
}

/* One rule; major/minor -1 for "*". */
static void rule(prog_t *p, char type, int major, int minor, const char *perms)
{
	int acc = (strchr(perms, 'm') ? BPF_DEVCG_ACC_MKNOD : 0) |
		  (strchr(perms, 'r') ? BPF_DEVCG_ACC_READ : 0) |
		  (strchr(perms, 'w') ? BPF_DEVCG_ACC_WRITE : 0);
	bool all_acc = acc == (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE);
	/* instructions after each check, up to and including the exit */
	int total = (type != 'a') * 1 + (all_acc ? 0 : 3) + (major >= 0) + (minor >= 0) + 2;
	int left = total;
	if (type != 'a') {
		left -= 1;
		emit(p, INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, (short)left,
			     type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK));
	}
	if (!all_acc) { /* (requested & allowed) == requested */
		left -= 3;
		emit(p, INSN(BPF_ALU | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0));
		emit(p, INSN(BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, acc));
		emit(p, INSN(BPF_JMP | BPF_JNE | BPF_X, BPF_REG_1, BPF_REG_3, (short)left, 0));
	}
	if (major >= 0) {
		left -= 1;
		emit(p, INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, (short)left, major));
	}
	if (minor >= 0) {
		left -= 1;
		emit(p, INSN(BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, (short)left, minor));
	}
	emit(p, INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1));
	emit(p, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
}

static int parse_num(const char *s, int *out)
{
	if (!strcmp(s, "*")) {
		*out = -1;
		return 0;
	}
	char *end;
	long v = strtol(s, &end, 10);
	if (*end || v < 0 || v > 0xfffff)
		return -1;
	*out = (int)v;
	return 0;
}

/* The last program loaded, kept by the process that loaded it: nearly every container gets
 * the default rules, and loading runs the verifier (a fifth of a millisecond of CPU here).
 * A program is read-only once loaded and may be attached to any number of cgroups. */
static struct {
	pthread_mutex_t lock;
	pid_t pid; /* its loader: a forked child has closed or may reuse the fd */
	int fd;
	size_t n;
	struct bpf_insn v[128]; /* the default rules take 69 */
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

/* A new fd of the program of these instructions, or -1 with errno. */
static int load(const struct bpf_insn *insns, size_t n)
{
	/* never waits: a child forked while another thread held the lock goes without */
	bool locked = pthread_mutex_trylock(&cache.lock) == 0;
	if (locked && cache.pid == getpid() && cache.fd >= 0 && cache.n == n &&
	    !memcmp(cache.v, insns, n * sizeof(*insns))) {
		int fd = fcntl(cache.fd, F_DUPFD_CLOEXEC, 3);
		pthread_mutex_unlock(&cache.lock);
		return fd;
	}
	union bpf_attr attr = {0};
	char license[] = "GPL";
	attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
	attr.insns = (uint64_t)(uintptr_t)insns;
	attr.insn_cnt = (uint32_t)n;
	attr.license = (uint64_t)(uintptr_t)license;
	int fd = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
	if (locked && fd >= 0 && n <= PL_ARRAY_SIZE(cache.v)) {
		int keep = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (keep >= 0) {
			if (cache.pid == getpid() && cache.fd >= 0)
				close(cache.fd);
			cache.pid = getpid();
			cache.fd = keep;
			cache.n = n;
			memcpy(cache.v, insns, n * sizeof(*insns));
		}
	}
	if (locked)
		pthread_mutex_unlock(&cache.lock);
	return fd;
}

int pl_devbpf_attach(int cgroup_fd, const char *const *rules, size_t n, pl_error_t **err)
{
	_cleanup_free_ struct bpf_insn *insns = pl_xcalloc(MAX_INSNS, sizeof(*insns));
	prog_t p = {.v = insns};
	prologue(&p);
	for (size_t i = 0; i < n; i++) {
		/* "c 1:3 rwm", "b *:* m", "a" */
		char type = rules[i][0], maj[16] = "*", min[16] = "*", perms[4] = "rwm";
		if (type == 'a') {
			rule(&p, 'a', -1, -1, "rwm");
			continue;
		}
		if (sscanf(rules[i] + 1, " %15[^:]:%15s %3s", maj, min, perms) < 2)
			return pl_error_set(err, PL_ERR_INTERNAL, EINVAL, "device rule %s",
					    rules[i]);
		int ma, mi;
		if ((type != 'c' && type != 'b') || parse_num(maj, &ma) < 0 ||
		    parse_num(min, &mi) < 0)
			return pl_error_set(err, PL_ERR_INTERNAL, EINVAL, "device rule %s",
					    rules[i]);
		rule(&p, type, ma, mi, perms);
	}
	emit(&p, INSN(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0));
	emit(&p, INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
	if (p.n > MAX_INSNS)
		return pl_error_set(err, PL_ERR_INVALID, E2BIG, "too many device rules");
	_cleanup_close_ int prog = load(insns, p.n);
	if (prog < 0)
		return pl_error_errno(err, "load the device filter");
	union bpf_attr at = {0};
	at.target_fd = (uint32_t)cgroup_fd;
	at.attach_bpf_fd = (uint32_t)prog;
	at.attach_type = BPF_CGROUP_DEVICE;
	/* no flags: one program per cgroup, a later attach (a restart) replaces it */
	if (syscall(SYS_bpf, BPF_PROG_ATTACH, &at, sizeof(at)) < 0)
		return pl_error_errno(err, "attach the device filter");
	return 0;
}
