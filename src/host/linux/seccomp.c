#include "host/linux/seccomp.h"
#include "common/cleanup.h"
#include "common/json.h"
#include "common/util.h"
#include "proto/linux_caps.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Syscalls the default profile refuses (EPERM) unless the container holds the capability
 * that makes them legitimate, as Docker's default profile does. */
static const struct {
	const char *name;
	int unlocked_by; /* capability number, -1 for never */
} denied[] = {
    {"acct", 20 /* SYS_PACCT */},
    {"add_key", -1},
    {"request_key", -1},
    {"keyctl", -1},
    {"bpf", 39 /* BPF */},
    {"perf_event_open", 38 /* PERFMON */},
    {"clock_adjtime", 25 /* SYS_TIME */},
    {"clock_settime", 25},
    {"settimeofday", 25},
    {"stime", 25},
    {"adjtimex", 25},
    {"create_module", 16 /* SYS_MODULE */},
    {"init_module", 16},
    {"finit_module", 16},
    {"delete_module", 16},
    {"get_kernel_syms", 16},
    {"query_module", 16},
    {"kexec_load", 22 /* SYS_BOOT */},
    {"kexec_file_load", 22},
    {"reboot", 22},
    {"ioperm", 17 /* SYS_RAWIO */},
    {"iopl", 17},
    {"kcmp", 19 /* SYS_PTRACE */},
    {"ptrace", 19},
    {"process_vm_readv", 19},
    {"process_vm_writev", 19},
    {"lookup_dcookie", 21 /* SYS_ADMIN */},
    {"mount", 21},
    {"umount", 21},
    {"umount2", 21},
    {"pivot_root", 21},
    {"move_mount", 21},
    {"open_tree", 21},
    {"fsopen", 21},
    {"fsconfig", 21},
    {"fsmount", 21},
    {"fspick", 21},
    {"mount_setattr", 21},
    {"name_to_handle_at", 21},
    {"open_by_handle_at", 2 /* DAC_READ_SEARCH */},
    {"quotactl", 21},
    {"setns", 21},
    {"unshare", 21},
    {"swapon", 21},
    {"swapoff", 21},
    {"sysfs", -1},
    {"_sysctl", -1},
    {"nfsservctl", -1},
    {"uselib", -1},
    {"ustat", -1},
    {"userfaultfd", -1},
    {"vm86", -1},
    {"vm86old", -1},
    {"get_mempolicy", 23 /* SYS_NICE */},
    {"set_mempolicy", 23},
    {"mbind", 23},
    {"move_pages", 23},
    {"io_uring_setup", -1},
    {"io_uring_enter", -1},
    {"io_uring_register", -1},
};

static bool has_cap(uint64_t caps, int cap)
{
	return cap >= 0 && (caps >> cap) & 1;
}

static int add_arches(scmp_filter_ctx ctx)
{
	/* 32-bit x86 binaries run in containers too; the same rules cover them */
	int r = seccomp_arch_add(ctx, SCMP_ARCH_X86);
	if (r < 0 && r != -EEXIST)
		return r;
	r = seccomp_arch_add(ctx, SCMP_ARCH_X32);
	return r == -EEXIST ? 0 : r;
}

static int build_default(scmp_filter_ctx ctx, uint64_t caps)
{
	int r = add_arches(ctx);
	for (size_t i = 0; r >= 0 && i < PL_ARRAY_SIZE(denied); i++) {
		if (has_cap(caps, denied[i].unlocked_by))
			continue;
		int nr = seccomp_syscall_resolve_name(denied[i].name);
		if (nr == __NR_SCMP_ERROR)
			continue;
		r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (r == -EEXIST)
			r = 0;
	}
	if (r >= 0 && !has_cap(caps, 21)) {
		/* new namespaces through clone need SYS_ADMIN: one rule per flag (rules on one
		 * syscall are OR'ed). clone3 hides its flags in memory seccomp cannot read, so
		 * it reports ENOSYS and libc falls back to clone. */
		static const uint64_t ns[] = {CLONE_NEWNS,    CLONE_NEWUTS, CLONE_NEWIPC,
					      CLONE_NEWUSER,  CLONE_NEWPID, CLONE_NEWNET,
					      CLONE_NEWCGROUP};
		for (size_t i = 0; r >= 0 && i < PL_ARRAY_SIZE(ns); i++)
			r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
					     SCMP_A0(SCMP_CMP_MASKED_EQ, ns[i], ns[i]));
		if (r >= 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	}
	return r;
}

/* OCI runtime-spec profile → rules. Unknown syscall names are skipped, as runc does. */
static uint32_t action_of(const char *a, int errno_ret, bool *ok)
{
	*ok = true;
	if (!strcmp(a, "SCMP_ACT_ALLOW"))
		return SCMP_ACT_ALLOW;
	if (!strcmp(a, "SCMP_ACT_ERRNO"))
		return SCMP_ACT_ERRNO((uint16_t)errno_ret);
	if (!strcmp(a, "SCMP_ACT_KILL") || !strcmp(a, "SCMP_ACT_KILL_THREAD"))
		return SCMP_ACT_KILL;
	if (!strcmp(a, "SCMP_ACT_KILL_PROCESS"))
		return SCMP_ACT_KILL_PROCESS;
	if (!strcmp(a, "SCMP_ACT_TRAP"))
		return SCMP_ACT_TRAP;
	if (!strcmp(a, "SCMP_ACT_LOG"))
		return SCMP_ACT_LOG;
	if (!strcmp(a, "SCMP_ACT_TRACE"))
		return SCMP_ACT_TRACE((uint16_t)errno_ret);
	*ok = false;
	return 0;
}

static int op_of(const char *o, enum scmp_compare *out)
{
	static const struct {
		const char *n;
		enum scmp_compare c;
	} ops[] = {{"SCMP_CMP_NE", SCMP_CMP_NE},
		   {"SCMP_CMP_LT", SCMP_CMP_LT},
		   {"SCMP_CMP_LE", SCMP_CMP_LE},
		   {"SCMP_CMP_EQ", SCMP_CMP_EQ},
		   {"SCMP_CMP_GE", SCMP_CMP_GE},
		   {"SCMP_CMP_GT", SCMP_CMP_GT},
		   {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
	for (size_t i = 0; o && i < PL_ARRAY_SIZE(ops); i++)
		if (!strcmp(o, ops[i].n)) {
			*out = ops[i].c;
			return 0;
		}
	return -EINVAL;
}

static int build_custom(const json_t *p, scmp_filter_ctx *out, pl_error_t **err)
{
	const char *def = json_string_value(json_object_get(p, "defaultAction"));
	int def_errno = (int)json_integer_value(json_object_get(p, "defaultErrnoRet"));
	bool ok;
	uint32_t def_act = action_of(def ? def : "", def_errno ? def_errno : EPERM, &ok);
	if (!ok)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "seccomp profile: defaultAction \"%s\" unknown",
				    def ? def : "");
	scmp_filter_ctx ctx = seccomp_init(def_act);
	if (!ctx)
		return pl_error_set(err, PL_ERR_INTERNAL, ENOMEM, "seccomp_init");
	*out = ctx;
	int r = add_arches(ctx);
	json_t *rules = json_object_get(p, "syscalls");
	if (rules && !json_is_array(rules))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "seccomp profile: syscalls must be an array");
	size_t i;
	json_t *rule;
	json_array_foreach(rules, i, rule)
	{
		const char *an = json_string_value(json_object_get(rule, "action"));
		int en = (int)json_integer_value(json_object_get(rule, "errnoRet"));
		uint32_t act = action_of(an ? an : "", en ? en : EPERM, &ok);
		if (!ok)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "seccomp profile: syscalls[%zu].action \"%s\" unknown",
					    i, an ? an : "");
		if (act == def_act)
			continue;
		struct scmp_arg_cmp cmps[6];
		json_t *args = json_object_get(rule, "args");
		size_t na = json_array_size(args);
		if (na > 6)
			return pl_error_set(err, PL_ERR_INVALID, 0,
					    "seccomp profile: syscalls[%zu]: at most 6 args", i);
		for (size_t k = 0; k < na; k++) {
			json_t *a = json_array_get(args, k);
			enum scmp_compare op;
			if (op_of(json_string_value(json_object_get(a, "op")), &op) < 0)
				return pl_error_set(
				    err, PL_ERR_INVALID, 0,
				    "seccomp profile: syscalls[%zu].args[%zu]: bad op", i, k);
			cmps[k] = (struct scmp_arg_cmp){
			    .arg = (unsigned)json_integer_value(json_object_get(a, "index")),
			    .op = op,
			    .datum_a =
				(scmp_datum_t)json_integer_value(json_object_get(a, "value")),
			    .datum_b =
				(scmp_datum_t)json_integer_value(json_object_get(a, "valueTwo")),
			};
		}
		size_t j;
		json_t *name;
		json_array_foreach(json_object_get(rule, "names"), j, name)
		{
			int nr = seccomp_syscall_resolve_name(json_string_value(name) ?: "");
			if (nr == __NR_SCMP_ERROR)
				continue;
			r = seccomp_rule_add_array(ctx, act, nr, (unsigned)na, cmps);
			if (r < 0 && r != -EEXIST)
				return pl_error_set(err, PL_ERR_INVALID, -r,
						    "seccomp profile: rule for %s",
						    json_string_value(name));
		}
	}
	return r < 0 ? pl_error_set(err, PL_ERR_INTERNAL, -r, "seccomp architectures") : 0;
}

static uint8_t *export_bpf(scmp_filter_ctx ctx, size_t *len, pl_error_t **err)
{
	_cleanup_close_ int fd = memfd_create("pl-seccomp", MFD_CLOEXEC);
	int r = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
	if (r < 0) {
		pl_error_set(err, PL_ERR_INTERNAL, -r, "export seccomp filter");
		return NULL;
	}
	off_t n = lseek(fd, 0, SEEK_END);
	uint8_t *buf = pl_xmalloc((size_t)n);
	if (pread(fd, buf, (size_t)n, 0) != n) {
		free(buf);
		pl_error_errno(err, "read seccomp filter");
		return NULL;
	}
	*len = (size_t)n;
	return buf;
}

typedef struct entry {
	char *key; /* "default:<caps>" or the custom profile's canonical JSON */
	uint8_t *bpf;
	size_t len;
	struct entry *next;
} entry_t;

static entry_t *cache;
static size_t cache_n;
#define CACHE_MAX 64

const uint8_t *pl_seccomp_program(const pl_security_t *sec, size_t *len, pl_error_t **err)
{
	*len = 0;
	if (sec->seccomp == PL_SECCOMP_UNCONFINED)
		return NULL;
	_cleanup_free_ char *key = NULL;
	if (sec->seccomp == PL_SECCOMP_DEFAULT)
		key = pl_xasprintf("default:%llx", (unsigned long long)sec->caps);
	else
		key = json_dumps(sec->seccomp_profile, JSON_COMPACT | JSON_SORT_KEYS);
	for (entry_t *e = cache; e; e = e->next)
		if (strcmp(e->key, key) == 0) {
			*len = e->len;
			return e->bpf;
		}
	scmp_filter_ctx ctx = NULL;
	int r;
	if (sec->seccomp == PL_SECCOMP_DEFAULT) {
		ctx = seccomp_init(SCMP_ACT_ALLOW);
		r = ctx ? build_default(ctx, sec->caps) : -ENOMEM;
		if (r < 0)
			pl_error_set(err, PL_ERR_INTERNAL, -r, "build default seccomp profile");
	} else {
		r = build_custom(sec->seccomp_profile, &ctx, err);
	}
	uint8_t *bpf = r < 0 ? NULL : export_bpf(ctx, len, err);
	if (ctx)
		seccomp_release(ctx);
	if (!bpf)
		return NULL;
	if (cache_n >= CACHE_MAX) { /* custom profiles are rare; a full cache just restarts */
		while (cache) {
			entry_t *e = cache;
			cache = e->next;
			free(e->key);
			free(e->bpf);
			free(e);
		}
		cache_n = 0;
	}
	entry_t *e = pl_xcalloc(1, sizeof(*e));
	e->key = TAKE_PTR(key);
	e->bpf = bpf;
	e->len = *len;
	e->next = cache;
	cache = e;
	cache_n++;
	return bpf;
}

int pl_seccomp_tether_config(const pl_security_t *sec, json_t *msg, pl_error_t **err)
{
	size_t len;
	const uint8_t *bpf = pl_seccomp_program(sec, &len, err);
	if (!bpf)
		return err && *err ? -1 : 0;
	char *b64 = pl_base64_encode(bpf, len);
	json_object_set_new(msg, "seccomp_bpf", json_string(b64));
	free(b64);
	return 0;
}
