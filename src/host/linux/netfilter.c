/* SPDX-License-Identifier: Apache-2.0 */
/* Runs `nft -f -` for the port layer: the rules on a memfd as stdin, stdout and stderr on
 * another memfd (nft's complaint), a pidfd to watch. The child starts with an empty signal
 * mask and default dispositions: the daemon blocks the signals its loop reads through a
 * signalfd, and a blocked mask survives exec. */
#include "host/linux/netfilter.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct pl_netfilter_run {
	pid_t pid;
	int pidfd, errfd;
};

pl_netfilter_run_t *pl_netfilter_start(const char *rules, pl_error_t **err)
{
	_cleanup_close_ int in = memfd_create("pl-nft-rules", MFD_CLOEXEC);
	_cleanup_close_ int errfd = memfd_create("pl-nft-err", MFD_CLOEXEC);
	size_t len = strlen(rules);
	if (in < 0 || errfd < 0 || write(in, rules, len) != (ssize_t)len ||
	    lseek(in, 0, SEEK_SET) < 0) {
		pl_error_errno(err, "nft: stage the ruleset");
		return NULL;
	}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, errfd, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	posix_spawnattr_init(&at);
	sigset_t none, all;
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	char *argv[] = {"nft", "-f", "-", NULL};
	pid_t pid;
	int r = posix_spawnp(&pid, "nft", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (r == ENOENT) {
		pl_error_set(err, PL_ERR_INTERNAL, 0,
			     "nft: not found in PATH (nftables is needed for networking)");
		return NULL;
	}
	if (r != 0) {
		pl_error_set(err, PL_ERR_INTERNAL, r, "nft: start");
		return NULL;
	}
	pl_netfilter_run_t *run = pl_xcalloc(1, sizeof(*run));
	run->pid = pid;
	run->errfd = TAKE_FD(errfd);
	run->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	return run;
}

int pl_netfilter_fd(const pl_netfilter_run_t *r)
{
	return r->pidfd;
}

int pl_netfilter_finish(pl_netfilter_run_t *r, pl_error_t **err)
{
	int status = 0;
	pid_t w;
	while ((w = waitpid(r->pid, &status, 0)) < 0 && errno == EINTR)
		;
	int ret = 0;
	if (w < 0) {
		ret = pl_error_errno(err, "nft: wait");
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		char msg[1024] = "";
		ssize_t k = pread(r->errfd, msg, sizeof(msg) - 1, 0);
		msg[k > 0 ? k : 0] = '\0';
		for (size_t n = strlen(msg); n && (msg[n - 1] == '\n' || msg[n - 1] == ' ');)
			msg[--n] = '\0';
		if (WIFEXITED(status))
			ret = pl_error_set(err, PL_ERR_INTERNAL, 0, "nft exited %d: %s",
					   WEXITSTATUS(status), *msg ? msg : "(no message)");
		else
			ret = pl_error_set(err, PL_ERR_INTERNAL, 0, "nft killed by signal %d",
					   WTERMSIG(status));
	}
	pl_close(r->pidfd);
	pl_close(r->errfd);
	free(r);
	return ret;
}
