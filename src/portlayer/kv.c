/* SPDX-License-Identifier: Apache-2.0 */
/* One file per key, named by the sha256 of the key (keys may hold '/' and be longer than a
 * file name), holding {"key","value","revision"}. A write is pl_atomic_write: temp file,
 * fsync, rename, fsync of the directory; a reader only ever sees whole files. The revision
 * counter is the largest revision on disk, and a deletion (which takes a revision too) first
 * records the counter in "revision" so it survives the record it removes. Everything is also
 * held in memory: reads never touch the disk. */
#include "portlayer/kv.h"
#include "common/cleanup.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COUNTER_FILE "revision"
#define RECORD_MAX   (8u * PL_KV_VALUE_MAX) /* a value JSON-escaped, with room to spare */

struct pl_kv {
	int dirfd;
	json_t *keys; /* key -> {"key","value","revision"} */
	int64_t revision;
};

bool pl_kv_key_valid(const char *key)
{
	size_t n = key ? strlen(key) : 0;
	if (n == 0 || n > PL_KV_KEY_MAX || strstr(key, ".."))
		return false;
	for (const char *p = key; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '/' || *p == '-'))
			return false;
	return true;
}

static void file_name(const char *key, char out[65 + 5])
{
	unsigned char d[32];
	gnutls_hash_fast(GNUTLS_DIG_SHA256, key, strlen(key), d);
	for (int i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
	strcpy(out + 64, ".json");
}

static int check_key(const char *key, pl_error_t **err)
{
	if (!pl_kv_key_valid(key))
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "key \"%.300s\" must be 1 to %d characters of [A-Za-z0-9._/-] "
				    "without \"..\"",
				    key ? key : "", PL_KV_KEY_MAX);
	return 0;
}

static void load_record(pl_kv_t *kv, const char *name)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	pl_error_t *e = NULL;
	if (pl_read_file_at(kv->dirfd, name, &buf, &len, RECORD_MAX, &e) < 0) {
		pl_log_warn("kv: %s", e->msg);
		pl_error_free(e);
		return;
	}
	json_t *j = json_loadb(buf, len, 0, NULL);
	const char *key = json_string_value(json_object_get(j, "key"));
	json_t *rev = json_object_get(j, "revision");
	char want[70];
	if (key)
		file_name(key, want);
	if (!key || !pl_kv_key_valid(key) || strcmp(want, name) != 0 ||
	    !json_is_string(json_object_get(j, "value")) || !json_is_integer(rev) ||
	    json_integer_value(rev) <= 0) {
		pl_log_warn("kv: ignoring %s: not a record of this store", name);
		json_decref(j);
		return;
	}
	if (json_integer_value(rev) > kv->revision)
		kv->revision = json_integer_value(rev);
	json_object_set_new(kv->keys, key, j);
}

pl_kv_t *pl_kv_open(const char *root, pl_error_t **err)
{
	_cleanup_free_ char *dir = pl_xasprintf("%s/kv", root);
	if (pl_mkdir_p(dir, 0700, err) < 0)
		return NULL;
	pl_kv_t *kv = pl_xcalloc(1, sizeof(*kv));
	kv->keys = json_object();
	kv->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (kv->dirfd < 0) {
		pl_error_errno(err, "open %s", dir);
		return pl_kv_free(kv);
	}
	_cleanup_free_ char *counter = NULL;
	size_t len;
	if (pl_read_file_at(kv->dirfd, COUNTER_FILE, &counter, &len, 64, NULL) == 0)
		kv->revision = strtoll(counter, NULL, 10);
	int fd = openat(kv->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		pl_error_errno(err, "read %s", dir);
		return pl_kv_free(kv);
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.') {
			/* a write the daemon did not finish: the old record stands */
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(kv->dirfd, de->d_name, 0);
			continue;
		}
		if (strlen(de->d_name) == 69 && !strcmp(de->d_name + 64, ".json"))
			load_record(kv, de->d_name);
	}
	closedir(d);
	return kv;
}

pl_kv_t *pl_kv_free(pl_kv_t *kv)
{
	if (!kv)
		return NULL;
	if (kv->dirfd >= 0)
		close(kv->dirfd);
	json_decref(kv->keys);
	free(kv);
	return NULL;
}

static int check_expect(const json_t *cur, const char *key, int64_t expect, pl_error_t **err)
{
	if (expect < 0)
		return 0;
	int64_t have = cur ? json_integer_value(json_object_get(cur, "revision")) : 0;
	if (have == expect)
		return 0;
	if (!cur)
		return pl_error_set(err, PL_ERR_CONFLICT, 0,
				    "key %s: expected revision %lld, but it does not exist", key,
				    (long long)expect);
	return pl_error_set(err, PL_ERR_CONFLICT, 0,
			    "key %s: expected revision %lld, it is at %lld", key, (long long)expect,
			    (long long)have);
}

json_t *pl_kv_put(pl_kv_t *kv, const char *key, const char *value, size_t len, int64_t expect,
		  pl_error_t **err)
{
	if (check_key(key, err) < 0)
		return NULL;
	if (len > PL_KV_VALUE_MAX) {
		pl_error_set(err, PL_ERR_INVALID, EFBIG, "key %s: a value is at most %u bytes", key,
			     PL_KV_VALUE_MAX);
		return NULL;
	}
	/* NUL would not survive the record's JSON as read back at the next start */
	json_t *v = memchr(value, 0, len) ? NULL : json_stringn(value, len);
	if (!v) {
		pl_error_set(err, PL_ERR_INVALID, 0,
			     "key %s: the value must be UTF-8 text without NUL", key);
		return NULL;
	}
	if (check_expect(json_object_get(kv->keys, key), key, expect, err) < 0) {
		json_decref(v);
		return NULL;
	}
	int64_t rev = kv->revision + 1;
	json_t *rec =
	    json_pack("{s:s, s:o, s:I}", "key", key, "value", v, "revision", (json_int_t)rev);
	_cleanup_free_ char *s = pl_json_dump(rec);
	char name[70];
	file_name(key, name);
	if (pl_atomic_write(kv->dirfd, name, s, strlen(s), err) < 0) {
		json_decref(rec);
		pl_error_wrap(err, "kv: write %s", key);
		return NULL;
	}
	kv->revision = rev;
	json_object_set_new(kv->keys, key, rec);
	return json_pack("{s:s, s:I}", "key", key, "revision", (json_int_t)rev);
}

json_t *pl_kv_get(pl_kv_t *kv, const char *key, pl_error_t **err)
{
	if (check_key(key, err) < 0)
		return NULL;
	json_t *rec = json_object_get(kv->keys, key);
	if (!rec) {
		pl_error_set(err, PL_ERR_NOTFOUND, 0, "no such key: %s", key);
		return NULL;
	}
	return json_deep_copy(rec);
}

static int cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *pl_kv_list(pl_kv_t *kv, const char *prefix)
{
	size_t n = 0, plen = prefix ? strlen(prefix) : 0;
	_cleanup_free_ const char **keys =
	    pl_xcalloc(json_object_size(kv->keys) + 1, sizeof(*keys));
	const char *k;
	json_t *rec;
	json_object_foreach(kv->keys, k, rec)
	{
		if (!plen || strncmp(k, prefix, plen) == 0)
			keys[n++] = k;
	}
	qsort(keys, n, sizeof(*keys), cmp_keys);
	json_t *out = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, json_deep_copy(json_object_get(kv->keys, keys[i])));
	return out;
}

int pl_kv_delete(pl_kv_t *kv, const char *key, int64_t expect, pl_error_t **err)
{
	if (check_key(key, err) < 0)
		return -EINVAL;
	json_t *cur = json_object_get(kv->keys, key);
	if (!cur && expect <= 0)
		return pl_error_set(err, PL_ERR_NOTFOUND, 0, "no such key: %s", key);
	if (expect == 0)
		return pl_error_set(err, PL_ERR_CONFLICT, 0, "key %s exists", key);
	if (check_expect(cur, key, expect, err) < 0)
		return -1;
	/* the deletion takes a revision, recorded before the record that held the largest
	 * one may go */
	char num[32];
	int64_t rev = kv->revision + 1;
	snprintf(num, sizeof(num), "%lld\n", (long long)rev);
	if (pl_atomic_write(kv->dirfd, COUNTER_FILE, num, strlen(num), err) < 0)
		return pl_error_wrap(err, "kv: delete %s", key);
	kv->revision = rev;
	char name[70];
	file_name(key, name);
	if (unlinkat(kv->dirfd, name, 0) < 0 && errno != ENOENT)
		return pl_error_errno(err, "kv: delete %s", key);
	if (fsync(kv->dirfd) < 0)
		return pl_error_errno(err, "kv: delete %s: fsync", key);
	json_object_del(kv->keys, key);
	return 0;
}
