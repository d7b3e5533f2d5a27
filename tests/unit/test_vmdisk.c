/* SPDX-License-Identifier: Apache-2.0 */
/* The vm mechanism's base disk: sized for the tree's bytes and its number of entries (a
 * tree of many small files used to run out of inodes), built by the real mkfs.ext4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mechanism/vm/vm.h"

static void test_geometry(void **state)
{
	long long size_k, inodes;
	pl_vm_disk_geometry(0, 0, &size_k, &inodes);
	assert_int_equal(size_k, 256 * 1024); /* the headroom alone */
	assert_int_equal(inodes, 16384);
	pl_vm_disk_geometry(100000LL * 4096, 100000, &size_k, &inodes);
	assert_int_equal(inodes, 125000 + 16384);
	/* more inodes than mkfs' default of one per 16 KiB would give this size */
	assert_true(inodes > size_k / 16);
}

/* 60000 empty files: more than mkfs' default ratio (one inode per 16 KiB above 512 MiB)
 * gives the disk their bytes make. */
static void test_many_small_files(void **state)
{
	if (access("/usr/sbin/mkfs.ext4", X_OK) != 0)
		skip();
	char tmpl[] = "/tmp/pl-vmdisk-XXXXXX";
	assert_non_null(mkdtemp(tmpl));
	char tree[64], cache[64], path[96];
	snprintf(tree, sizeof(tree), "%s/tree", tmpl);
	snprintf(cache, sizeof(cache), "%s/cache", tmpl);
	assert_int_equal(mkdir(tree, 0755), 0);
	assert_int_equal(mkdir(cache, 0700), 0);
	for (int d = 0; d < 60; d++) {
		snprintf(path, sizeof(path), "%s/d%d", tree, d);
		assert_int_equal(mkdir(path, 0755), 0);
		for (int f = 0; f < 1000; f++) {
			snprintf(path, sizeof(path), "%s/d%d/f%d", tree, d, f);
			int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
			assert_true(fd >= 0);
			close(fd);
		}
	}
	pl_error_t *err = NULL;
	char *disk = pl_vm_base_disk(cache, tree, &err);
	if (!disk)
		fail_msg("base disk: %s", err->msg);
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpl);
	assert_int_equal(system(cmd), 0);
	free(disk);
}

/* What a killed launcher left goes at the next start; what a live one is writing stays. */
static void test_cache_clean(void **state)
{
	char dir[] = "/tmp/pl-vmcache-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	const char *dead[] = {"base-ab.ext4.2147483646.tmp", "initramfs-cd.cpio.2147483646.tmp",
			      "probe.2147483646.console"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, dead[i]);
		close(open(path, O_WRONLY | O_CREAT, 0600));
	}
	snprintf(path, sizeof(path), "%s/merge.2147483646", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	char live[128], kept[128];
	snprintf(live, sizeof(live), "%s/base-ef.ext4.%d.tmp", dir, (int)getpid());
	snprintf(kept, sizeof(kept), "%s/base-ab.ext4", dir);
	close(open(live, O_WRONLY | O_CREAT, 0600));
	close(open(kept, O_WRONLY | O_CREAT, 0600));
	pl_vm_cache_clean(dir);
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, dead[i]);
		assert_int_not_equal(access(path, F_OK), 0);
	}
	snprintf(path, sizeof(path), "%s/merge.2147483646", dir);
	assert_int_not_equal(access(path, F_OK), 0);
	assert_int_equal(access(live, F_OK), 0);
	assert_int_equal(access(kept, F_OK), 0);
	unlink(live);
	unlink(kept);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_geometry),
	    cmocka_unit_test(test_many_small_files),
	    cmocka_unit_test(test_cache_clean),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
