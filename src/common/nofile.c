/* SPDX-License-Identifier: Apache-2.0 */
#include "common/nofile.h"

static struct rlimit original;
static int raised;

rlim_t pl_nofile_raise(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	original = rl;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			raised = 1;
		else
			rl = original;
	}
	return rl.rlim_cur;
}

void pl_nofile_restore(void)
{
	if (raised)
		setrlimit(RLIMIT_NOFILE, &original);
}
