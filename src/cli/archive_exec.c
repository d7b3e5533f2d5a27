/* SPDX-License-Identifier: Apache-2.0 */
/* The static plctl's libarchive (meson.build says why plctl is static): a static binary has no
 * dynamic loader to load it with, so cp runs the same command again in plctl-dynamic, the
 * same code linked against the shared libc, which loads it (archive_dl.c). */
#include "cli/archive_dl.h"
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef PL_LIBEXECDIR
#define PL_LIBEXECDIR "/usr/local/libexec"
#endif
#define SIBLING "plctl-dynamic"

pl_cli_archive_fns_t pl_cli_ar; /* never filled here: cp goes on in the sibling */

int pl_cli_archive_load(pl_error_t **err)
{
	static const char installed[] = PL_LIBEXECDIR "/portlayer/" SIBLING;
	/* beside this binary first (a build tree), then where it is installed */
	const char *path = installed;
	char dir[PATH_MAX], beside[PATH_MAX + sizeof(SIBLING) + 1];
	ssize_t n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	char *slash = n > 0 ? memrchr(dir, '/', (size_t)n) : NULL;
	if (slash) {
		*slash = '\0';
		snprintf(beside, sizeof(beside), "%s/" SIBLING, dir);
		if (access(beside, X_OK) == 0)
			path = beside;
	}
	execv(path, pl_cli_main_argv);
	return pl_error_set(err, PL_ERR_UNSUPPORTED, errno, "cp runs %s: %s", path,
			    strerror(errno));
}
