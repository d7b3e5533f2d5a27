/* SPDX-License-Identifier: Apache-2.0 */
/* Path resolution beneath a root with openat2(2) (resolve.h). */
#include "host/linux/resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

static int open_how(int root, const char *path, int flags, unsigned long long resolve)
{
	struct open_how how = {
	    .flags = (unsigned long long)(flags | O_CLOEXEC),
	    .resolve = resolve,
	};
	long fd = syscall(SYS_openat2, root, path, &how, sizeof(how));
	return fd < 0 ? -errno : (int)fd;
}

int pl_open_in_root(int root, const char *path, int flags)
{
	return open_how(root, path, flags,
			RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}

int pl_open_in_root_follow(int root, const char *path, int flags)
{
	return open_how(root, *path ? path : ".", flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}
