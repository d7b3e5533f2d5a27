/* SPDX-License-Identifier: Apache-2.0 */
/* The guest's kernel and initramfs. The kernel is an unpacked Debian linux-image package
 * (scripts/deps.sh puts the cloud flavour there); its virtio drivers are modules, so the
 * initramfs carries them beside the static tether (/init) with /modules/order listing them in
 * dependency order (from modules.dep). The archive is cpio newc written here, cached under the
 * state root by a hash of tether, the kernel version and the module files. */
#include "mechanism/vm/vm.h"
#include "common/cleanup.h"
#include "common/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* what tether needs: the virtio-mmio transport, the serial ports, the root disk, the NICs of
 * bridge endpoints (virtio_net pulls in net_failover and failover through modules.dep) */
static const char *const wanted_modules[] = {"virtio_mmio", "virtio_console", "virtio_blk",
					     "virtio_net"};
/* loaded by tether only when the VM has a virtio-fs device (volumes, bind mounts): listed in
 * /modules/shares, after what /modules/order loads */
static const char *const share_modules[] = {"virtiofs"};

void pl_vm_kernel_clear(pl_vm_kernel_t *k)
{
	free(k->dir);
	free(k->version);
	free(k->vmlinuz);
	free(k->moddir);
	*k = (pl_vm_kernel_t){0};
}

int pl_vm_kernel_find(const char *dir, pl_vm_kernel_t *k, pl_error_t **err)
{
	*k = (pl_vm_kernel_t){0};
	_cleanup_free_ char *boot = pl_xasprintf("%s/boot", dir);
	DIR *d = opendir(boot);
	if (!d)
		return pl_error_errno(err, "guest kernel: %s", boot);
	char *best = NULL;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, "vmlinuz-", 8) != 0)
			continue;
		_cleanup_free_ char *mods =
		    pl_xasprintf("%s/lib/modules/%s/modules.dep", dir, de->d_name + 8);
		if (access(mods, R_OK) != 0)
			continue;
		if (!best || strverscmp(de->d_name + 8, best) > 0) {
			free(best);
			best = pl_xstrdup(de->d_name + 8);
		}
	}
	closedir(d);
	if (!best)
		return pl_error_set(err, PL_ERR_UNSUPPORTED, 0,
				    "guest kernel: no boot/vmlinuz-VERSION with "
				    "lib/modules/VERSION/modules.dep under %s (scripts/deps.sh "
				    "installs one)",
				    dir);
	k->dir = pl_xstrdup(dir);
	k->version = best;
	k->vmlinuz = pl_xasprintf("%s/boot/vmlinuz-%s", dir, best);
	k->moddir = pl_xasprintf("%s/lib/modules/%s", dir, best);
	return 0;
}

/* ---- modules.dep */

typedef struct mod {
	char *path; /* relative to moddir */
	char *deps; /* space-separated paths */
	bool placed;
} mod_t;

typedef struct modset {
	mod_t *v;
	size_t n;
	char **order; /* paths in load order */
	size_t n_order;
	size_t n_base; /* order[0..n_base) is /modules/order, the rest /modules/shares */
} modset_t;

static void modset_clear(modset_t *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->v[i].path);
		free(s->v[i].deps);
	}
	free(s->v);
	free(s->order);
}

static char *mod_name(const char *path)
{
	const char *b = strrchr(path, '/');
	b = b ? b + 1 : path;
	size_t len = strcspn(b, ".");
	char *n = pl_xmalloc(len + 1);
	for (size_t i = 0; i < len; i++)
		n[i] = b[i] == '-' ? '_' : b[i];
	n[len] = 0;
	return n;
}

static mod_t *mod_by_path(modset_t *s, const char *path)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i].path, path) == 0)
			return &s->v[i];
	return NULL;
}

static mod_t *mod_by_name(modset_t *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++) {
		_cleanup_free_ char *n = mod_name(s->v[i].path);
		if (strcmp(n, name) == 0)
			return &s->v[i];
	}
	return NULL;
}

static int place_mod(modset_t *s, mod_t *m, int depth, pl_error_t **err)
{
	if (m->placed)
		return 0;
	if (depth > 32)
		return pl_error_set(err, PL_ERR_INTERNAL, 0, "modules.dep: cycle at %s", m->path);
	_cleanup_free_ char *deps = pl_xstrdup(m->deps);
	char *save = NULL;
	for (char *d = strtok_r(deps, " ", &save); d; d = strtok_r(NULL, " ", &save)) {
		mod_t *dm = mod_by_path(s, d);
		if (!dm)
			return pl_error_set(err, PL_ERR_INTERNAL, 0,
					    "modules.dep: %s needs unknown %s", m->path, d);
		if (place_mod(s, dm, depth + 1, err) < 0)
			return -1;
	}
	if (strlen(m->path) < 3 || strcmp(m->path + strlen(m->path) - 3, ".ko") != 0)
		return pl_error_set(err, PL_ERR_UNSUPPORTED, 0,
				    "guest module %s is compressed; only plain .ko is supported",
				    m->path);
	m->placed = true;
	s->order = pl_xrealloc(s->order, (s->n_order + 1) * sizeof(*s->order));
	s->order[s->n_order++] = m->path;
	return 0;
}

static int load_modset(const pl_vm_kernel_t *k, modset_t *s, pl_error_t **err)
{
	_cleanup_free_ char *dep = NULL;
	_cleanup_free_ char *path = pl_xasprintf("%s/modules.dep", k->moddir);
	if (pl_read_file_at(AT_FDCWD, path, &dep, NULL, 16 << 20, err) < 0)
		return -1;
	char *save = NULL;
	for (char *line = strtok_r(dep, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = 0;
		char *deps = colon + 1;
		while (*deps == ' ')
			deps++;
		s->v = pl_xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
		s->v[s->n++] = (mod_t){.path = pl_xstrdup(line), .deps = pl_xstrdup(deps)};
	}
	for (size_t i = 0; i < sizeof(wanted_modules) / sizeof(wanted_modules[0]); i++) {
		mod_t *m = mod_by_name(s, wanted_modules[i]);
		/* absent from modules.dep: built into this kernel */
		if (m && place_mod(s, m, 0, err) < 0)
			return -1;
	}
	s->n_base = s->n_order;
	for (size_t i = 0; i < sizeof(share_modules) / sizeof(share_modules[0]); i++) {
		mod_t *m = mod_by_name(s, share_modules[i]);
		if (m && place_mod(s, m, 0, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- cpio newc */

typedef struct cpio {
	FILE *f;
	unsigned ino;
} cpio_t;

static void pad4(FILE *f, size_t len)
{
	static const char zeros[4];
	if (len % 4)
		fwrite(zeros, 1, 4 - len % 4, f);
}

static void cpio_entry(cpio_t *c, const char *name, unsigned mode, unsigned rmaj, unsigned rmin,
		       const void *data, size_t size)
{
	size_t nlen = strlen(name) + 1;
	fprintf(c->f, "070701%08X%08X%08X%08X%08X%08X%08zX%08X%08X%08X%08X%08zX%08X", ++c->ino,
		mode, 0u, 0u, S_ISDIR(mode) ? 2u : 1u, 0u, size, 0u, 0u, rmaj, rmin, nlen, 0u);
	fwrite(name, 1, nlen, c->f);
	pad4(c->f, 110 + nlen);
	if (size) {
		fwrite(data, 1, size, c->f);
		pad4(c->f, size);
	}
}

static int cpio_file(cpio_t *c, const char *name, const char *src, unsigned mode, pl_error_t **err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (pl_read_file_at(AT_FDCWD, src, &data, &len, 256 << 20, err) < 0)
		return -1;
	cpio_entry(c, name, S_IFREG | mode, 0, 0, data, len);
	return 0;
}

static int hash_file(gnutls_hash_hd_t h, const char *path, pl_error_t **err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;
	if (pl_read_file_at(AT_FDCWD, path, &data, &len, 256 << 20, err) < 0)
		return -1;
	gnutls_hash(h, data, len);
	gnutls_hash(h, "\0", 1);
	return 0;
}

static int write_initramfs(const char *tmp, const char *tether_path, const pl_vm_kernel_t *k,
			   const modset_t *s, pl_error_t **err)
{
	cpio_t c = {.f = fopen(tmp, "we")};
	if (!c.f)
		return pl_error_errno(err, "create %s", tmp);
	static const char *const dirs[] = {"dev", "proc", "sys", "newroot", "modules"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		cpio_entry(&c, dirs[i], S_IFDIR | 0755, 0, 0, NULL, 0);
	/* the kernel opens the console for init before anything is mounted */
	cpio_entry(&c, "dev/console", S_IFCHR | 0600, 5, 1, NULL, 0);
	int r = cpio_file(&c, "init", tether_path, 0755, err);
	size_t olen = 0, slen = 0;
	_cleanup_free_ char *order = pl_xstrdup("");
	_cleanup_free_ char *shares = pl_xstrdup("");
	for (size_t i = 0; r == 0 && i < s->n_order; i++) {
		_cleanup_free_ char *name = mod_name(s->order[i]);
		_cleanup_free_ char *src = pl_xasprintf("%s/%s", k->moddir, s->order[i]);
		_cleanup_free_ char *dst = pl_xasprintf("modules/%s.ko", name);
		r = cpio_file(&c, dst, src, 0644, err);
		char **list = i < s->n_base ? &order : &shares;
		size_t *len = i < s->n_base ? &olen : &slen;
		*list = pl_xrealloc(*list, *len + strlen(name) + 2);
		*len += (size_t)sprintf(*list + *len, "%s\n", name);
	}
	if (r == 0)
		cpio_entry(&c, "modules/order", S_IFREG | 0644, 0, 0, order, olen);
	if (r == 0)
		cpio_entry(&c, "modules/shares", S_IFREG | 0644, 0, 0, shares, slen);
	cpio_entry(&c, "TRAILER!!!", 0, 0, 0, NULL, 0);
	if (r == 0 && (fflush(c.f) != 0 || ferror(c.f)))
		r = pl_error_errno(err, "write %s", tmp);
	fclose(c.f);
	return r;
}

static int build(const char *out, const char *tether_path, const pl_vm_kernel_t *k,
		 const modset_t *s, pl_error_t **err)
{
	_cleanup_free_ char *tmp = pl_xasprintf("%s.%d.tmp", out, (int)getpid());
	if (write_initramfs(tmp, tether_path, k, s, err) < 0 || rename(tmp, out) < 0) {
		if (err && !*err)
			pl_error_errno(err, "rename %s", tmp);
		unlink(tmp);
		return -1;
	}
	return 0;
}

char *pl_vm_initramfs(const char *cache_dir, const char *tether_path, const pl_vm_kernel_t *k,
		      pl_error_t **err)
{
	modset_t s = {0};
	char *out = NULL;
	gnutls_hash_hd_t h;
	if (load_modset(k, &s, err) < 0 || gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
		modset_clear(&s);
		if (err && !*err)
			pl_error_set(err, PL_ERR_INTERNAL, 0, "sha256");
		return NULL;
	}
	int r = hash_file(h, tether_path, err);
	gnutls_hash(h, k->version, strlen(k->version) + 1);
	for (size_t i = 0; r == 0 && i < s.n_order; i++) {
		_cleanup_free_ char *src = pl_xasprintf("%s/%s", k->moddir, s.order[i]);
		r = hash_file(h, src, err);
	}
	uint8_t dg[32];
	gnutls_hash_deinit(h, dg);
	if (r == 0) {
		char hex[17];
		for (int i = 0; i < 8; i++)
			sprintf(hex + 2 * i, "%02x", dg[i]);
		out = pl_xasprintf("%s/initramfs-%s.cpio", cache_dir, hex);
		if (access(out, R_OK) != 0 && build(out, tether_path, k, &s, err) < 0) {
			free(out);
			out = NULL;
		}
	}
	modset_clear(&s);
	if (!out)
		pl_error_wrap(err, "guest initramfs");
	return out;
}
