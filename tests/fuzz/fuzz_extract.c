/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: layer and copy-in extraction (pl_extract_tar), the one place untrusted
 * archives touch the disk. Whatever the bytes and the policy, extraction either succeeds or
 * fails with a message, and nothing appears outside the root: a sibling directory stays
 * empty and the workspace holds only the two. The first byte picks the policy. */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include "common/fs.h"
#include "portlayer/storage/extract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int work = -1;
static char work_path[64];

static void cleanup(void)
{
	pl_error_t *err = NULL;
	if (pl_remove_tree_at(AT_FDCWD, work_path, &err) < 0)
		pl_error_free(err);
}

static size_t entries(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		abort(); /* replaced by something else: an escape */
	DIR *d = fdopendir(fd);
	size_t n = 0;
	for (struct dirent *de; (de = readdir(d));)
		n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (work < 0) {
		snprintf(work_path, sizeof(work_path), "/tmp/pl-fuzz-extract-XXXXXX");
		if (!mkdtemp(work_path))
			abort();
		atexit(cleanup);
		work = open(work_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (work < 0 || mkdirat(work, "outside", 0755) < 0)
			abort();
	}
	pl_error_t *err = NULL;
	if (pl_remove_tree_at(work, "root", &err) < 0 || mkdirat(work, "root", 0755) < 0)
		abort();
	int root = openat(work, "root", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int in = memfd_create("tar", MFD_CLOEXEC);
	if (root < 0 || in < 0 || write(in, data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	lseek(in, 0, SEEK_SET);
	pl_extract_policy_t pol = {
	    .max_bytes = 1 << 20,
	    .max_entries = 4096,
	    .allow_devices = data[0] & 1,
	    .strip_setid = data[0] & 2,
	    .whiteouts = data[0] & 4,
	    .dry_run = data[0] & 8,
	};
	pl_extract_result_t res;
	int rc = pl_extract_tar(in, root, &pol, &res, &err);
	if (rc < 0 && (!err || !err->msg || !*err->msg))
		abort();
	pl_error_free(err);
	if (entries(work, "outside") != 0 || entries(work, ".") != 2)
		abort();
	close(in);
	close(root);
	return 0;
}
