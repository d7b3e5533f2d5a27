/* SPDX-License-Identifier: Apache-2.0 */
#include "fake_mechanism.h"
#include "host/linux/proc.h"
#include "proto/frame.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

fake_stats_t fake_stats;
static pid_t spawned[256];
static size_t n_spawned;

void fake_kill_all(void)
{
	for (size_t i = 0; i < n_spawned; i++)
		if (kill(spawned[i], SIGKILL) == 0)
			waitpid(spawned[i], NULL, 0);
	n_spawned = 0;
}

static int send_json(int fd, uint16_t type, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	int r = pl_frame_send(fd, type, 0, s, strlen(s));
	free(s);
	return r;
}

/* The next frame of type want (others are skipped); its JSON, or NULL at EOF. */
static json_t *next_frame(int fd, pl_frame_reader_t *r, uint16_t *type)
{
	for (;;) {
		pl_frame_hdr_t h;
		const uint8_t *p;
		int n = pl_frame_reader_next(r, &h, &p);
		if (n < 0)
			return NULL;
		if (n == 1) {
			*type = h.type;
			json_t *j = json_loadb((const char *)p, h.len, 0, NULL);
			return j ? j : json_object();
		}
		if (pl_frame_reader_fill(r, fd) <= 0)
			return NULL;
	}
}

static int domain_dirfd = -1;

static void on_usr1(int signo)
{
	static const char rec[] = "{\"exit_code\": 42}";
	int fd = openat(domain_dirfd, "exit.json", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		(void)!write(fd, rec, sizeof(rec) - 1);
		close(fd);
	}
	_exit(0);
}

/* Session 1 writes without end: output goes out while it is attached and has credit (never
 * more than granted, as tether), frames of at most 32 KiB; an EXEC is answered at once, so a
 * test can use one as a barrier: whatever credit allowed before it was sent first. */
static _Noreturn void flood(int ctl, pl_frame_reader_t *r)
{
	static uint8_t buf[8 + 32768];
	memset(buf + 8, 'x', sizeof(buf) - 8);
	uint64_t credit = 0, seq = 0;
	bool attached = false;
	for (;;) {
		while (attached && credit > 0) {
			size_t n = credit < sizeof(buf) - 8 ? (size_t)credit : sizeof(buf) - 8;
			seq++;
			for (int i = 0; i < 8; i++)
				buf[i] = (uint8_t)(seq >> (56 - 8 * i));
			size_t len = 0;
			uint8_t *f = pl_frame_encode_flags(PL_MSG_DATA, 1, 1, buf, 8 + n, &len);
			for (size_t off = 0; f && off < len;) {
				ssize_t w = write(ctl, f + off, len - off);
				if (w <= 0)
					_exit(1);
				off += (size_t)w;
			}
			free(f);
			credit -= n;
		}
		uint16_t type;
		json_t *j = next_frame(ctl, r, &type);
		if (!j)
			for (;;)
				pause();
		json_int_t session = json_integer_value(json_object_get(j, "session"));
		if (type == PL_MSG_ATTACH && session <= 1)
			attached = true;
		else if (type == PL_MSG_DETACH && session <= 1)
			attached = false;
		else if (type == PL_MSG_CREDIT && session <= 1)
			credit += (uint64_t)json_integer_value(json_object_get(j, "bytes"));
		else if (type == PL_MSG_EXEC) {
			send_json(ctl, PL_MSG_STARTED,
				  json_pack("{s:I, s:i}", "session", session, "pid", 2));
			send_json(ctl, PL_MSG_EXITED,
				  json_pack("{s:I, s:i, s:i}", "session", session, "exit_code", 0,
					    "signal", 0));
		} else if (type == PL_MSG_SIGNAL) {
			int signo = (int)json_integer_value(json_object_get(j, "signal"));
			send_json(
			    ctl, PL_MSG_EXITED,
			    json_pack("{s:i, s:i}", "exit_code", 128 + signo, "signal", signo));
			_exit(0);
		}
		json_decref(j);
	}
}

static _Noreturn void stand_in(int ctl)
{
	signal(SIGUSR1, on_usr1);
	pl_frame_reader_t r;
	pl_frame_reader_init(&r);
	send_json(ctl, PL_MSG_HELLO,
		  json_pack("{s:i, s:s}", "version", PL_PROTO_VERSION, "agent", "fake"));
	uint16_t type = 0;
	json_t *cfg = NULL;
	while ((cfg = next_frame(ctl, &r, &type)) && type != PL_MSG_CONFIG)
		json_decref(cfg);
	if (!cfg)
		_exit(1);
	json_t *args = json_object_get(cfg, "args");
	const char *what = json_string_value(json_array_get(args, 0));
	const char *arg = json_string_value(json_array_get(args, 1));
	if (what && !strcmp(what, "refuse")) {
		send_json(
		    ctl, PL_MSG_ERROR,
		    json_pack("{s:s, s:i}", "message", "fake: refused", "kind", PL_ERR_INVALID));
		_exit(1);
	}
	if (what && !strcmp(what, "hang"))
		for (;;)
			pause();
	send_json(ctl, PL_MSG_STARTED, json_pack("{s:i}", "pid", 1));
	if (what && !strcmp(what, "exit")) {
		send_json(ctl, PL_MSG_EXITED,
			  json_pack("{s:i, s:i}", "exit_code", atoi(arg), "signal", 0));
		_exit(0);
	}
	if (what && !strcmp(what, "vanish"))
		_exit(atoi(arg));
	if (what && !strcmp(what, "flood"))
		flood(ctl, &r);
	bool ignore_term = arg && !strcmp(arg, "ignore-term");
	json_t *j;
	while ((j = next_frame(ctl, &r, &type))) {
		if (type == PL_MSG_SIGNAL) {
			int signo = (int)json_integer_value(json_object_get(j, "signal"));
			if (!(signo == SIGTERM && ignore_term)) {
				send_json(ctl, PL_MSG_EXITED,
					  json_pack("{s:i, s:i}", "exit_code", 128 + signo,
						    "signal", signo));
				_exit(0);
			}
		} else if (type == PL_MSG_EXEC) {
			json_int_t session = json_integer_value(json_object_get(j, "session"));
			size_t n = json_array_size(json_object_get(j, "args"));
			send_json(ctl, PL_MSG_STARTED,
				  json_pack("{s:I, s:i}", "session", session, "pid", 2));
			send_json(ctl, PL_MSG_EXITED,
				  json_pack("{s:I, s:i, s:i}", "session", session, "exit_code",
					    (int)n, "signal", 0));
		}
		json_decref(j);
	}
	/* the daemon went away: a tether keeps its container running */
	for (;;)
		pause();
}

static bool fake_available(const pl_mechanism_t *m, const char **reason)
{
	return true;
}

static void copy(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static int fake_spawn(const pl_mechanism_t *m, const pl_domain_spec_t *spec, pl_domain_t *out,
		      pl_error_t **err)
{
	if (fake_stats.fail_spawn)
		return pl_error_set(err, PL_ERR_INTERNAL, EIO, "fake: spawn failed");
	fake_stats.n_mounts = spec->n_mounts;
	fake_stats.n_endpoints = spec->n_endpoints;
	if (spec->n_mounts) {
		const pl_domain_mount_t *mt = &spec->mounts[0];
		copy(fake_stats.mount_source, sizeof(fake_stats.mount_source), mt->source);
		copy(fake_stats.mount_target, sizeof(fake_stats.mount_target), mt->target);
		copy(fake_stats.mount_populate, sizeof(fake_stats.mount_populate), mt->populate);
		copy(fake_stats.mount_propagation, sizeof(fake_stats.mount_propagation),
		     mt->propagation);
		fake_stats.mount_volume = mt->volume;
		fake_stats.mount_readonly = mt->readonly;
	}
	if (spec->n_endpoints)
		fake_stats.endpoint = spec->endpoints[0];
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return pl_error_errno(err, "socketpair");
	int pidfd = -1;
	pid_t pid = pl_clone_pidfd(0, -1, &pidfd);
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return pl_error_errno(err, "clone");
	}
	if (pid == 0) {
		close(sv[0]);
		domain_dirfd = spec->domain_dirfd;
		stand_in(sv[1]);
	}
	close(sv[1]);
	fake_stats.spawned++;
	if (n_spawned < sizeof(spawned) / sizeof(spawned[0]))
		spawned[n_spawned++] = pid;
	fake_stats.last_pid = pid;
	out->pid = pid;
	out->pidfd = pidfd;
	out->ctl_fd = sv[0];
	out->start_time = pl_proc_start_time(pid);
	return 0;
}

static int fake_reattach(const pl_mechanism_t *m, const char *id, int run_dirfd, pid_t pid,
			 unsigned long long start_time, pl_domain_t *out, pl_error_t **err)
{
	/* no reconnect socket: the link stays down, the process is watched */
	int r = pl_domain_reattach(pid, start_time, run_dirfd, "fake.sock", out, err);
	if (r == 1)
		fake_stats.reattached++;
	return r;
}

static int fake_validate(const pl_mechanism_t *m, const pl_domain_spec_t *spec, pl_error_t **err)
{
	fake_stats.validated++;
	return 0;
}

static int fake_tether_config(const pl_mechanism_t *m, const pl_domain_spec_t *spec, json_t *msg,
			      pl_error_t **err)
{
	return 0;
}

static int fake_update(const pl_mechanism_t *m, const char *id, const pl_resources_t *r,
		       pl_error_t **err)
{
	return 0;
}

static long fake_oom_kills(const pl_mechanism_t *m, const char *id)
{
	return 0;
}

static int fake_pause(const pl_mechanism_t *m, const char *id, bool paused, pl_error_t **err)
{
	fake_stats.paused = paused;
	return 0;
}

static bool fake_is_paused(const pl_mechanism_t *m, const char *id)
{
	return fake_stats.paused;
}

static json_t *fake_stats_json(const pl_mechanism_t *m, const char *id, const pl_domain_t *dom)
{
	return json_object();
}

static int fake_destroy(const pl_mechanism_t *m, const char *id, pl_error_t **err)
{
	fake_stats.destroyed++;
	fake_stats.paused = false;
	return 0;
}

#define FAKE_OPS                                                                                   \
	.available = fake_available, .spawn = fake_spawn, .reattach = fake_reattach,               \
	.validate = fake_validate, .tether_config = fake_tether_config, .update = fake_update,     \
	.oom_kills = fake_oom_kills, .pause = fake_pause, .is_paused = fake_is_paused,             \
	.stats = fake_stats_json, .destroy = fake_destroy

pl_mechanism_t fake_mechanism = {
    .name = "fake", .caps = PL_MECH_PAUSE | PL_MECH_FILES_ON_HOST, FAKE_OPS};
pl_mechanism_t fake_mechanism_nopause = {.name = "fake-nopause", .caps = 0, FAKE_OPS};
