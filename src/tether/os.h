/* SPDX-License-Identifier: Apache-2.0 */
/* The OS mechanics tether needs: signal intake, launching processes (with pipes or a
 * pseudo-terminal for their stdio), terminal control, reaping and killing. tether.c,
 * session.c and launch.c hold the protocol and event logic and stay portable; each guest OS
 * supplies one implementation of this header (src/tether/<os>/os.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Brings the domain up when tether is the first process of a dedicated kernel (the vm
 * mechanism): mounts, modules, clock, root disk, and the channels placed on fds 3-5; from then
 * on tether's exit powers the machine off. Does nothing in a domain that shares the host's
 * kernel. 0, or -1 when the guest cannot come up (said on its console). */
int pl_os_boot(void);
/* Started with --prepared (a domain made ahead of its container, on a kernel shared with
 * the host): waits for the daemon's take and sets the domain up (rootfs, pivot_root), leaving
 * fds 3-6 as at an ordinary start. Does not return on failure (the daemon is told). */
int pl_os_prepared_setup(const char *arg); /* the argument after --prepared, or NULL */
/* At CONFIG, before the network: what a dedicated kernel's guest learns only then (CONFIG's
 * "vm" object): entropy from the host, and for a guest restored from a template its clock,
 * root disk, hostname and its NICs' MACs. NULL, or why the domain cannot come up. */
struct json_t;
const char *pl_os_domain_setup(struct json_t *config);
/* The control channel is a port a daemon leaves and rejoins on the same fd (a VM's
 * virtio-serial port), rather than a socket tether accepts connections on. */
bool pl_os_ctl_reconnects(void);
/* Such a port has a daemon connected on the other side now. */
bool pl_os_ctl_connected(int fd);

/* The "os" field of tether's HELLO. */
const char *pl_os_name(void);

/* Blocks every catchable signal and returns a non-blocking fd that polls readable while
 * signals are pending (tether handles them synchronously in its loop), or -errno. Also makes
 * sure fds 0-2 are open so later pipes never land on them. */
int pl_os_init(void);
/* The next pending signal, 0 when none is left, -errno on failure. Signals tether raised on
 * itself (SIGPIPE from writing to a vanished daemon) are swallowed: they are not for the
 * container. */
int pl_os_signal_next(int sig_fd);

typedef struct pl_os_rlimit {
	const char *type; /* "RLIMIT_NOFILE", ... */
	uint64_t soft, hard;
} pl_os_rlimit_t;

typedef struct pl_os_spawn_spec {
	char *const *argv;
	char *const *envp;
	const char *path; /* search list for an argv[0] without '/' */
	const char *cwd;
	uint32_t uid, gid;
	/* privileges: NULL caps = leave tether's own; otherwise exactly these names */
	char *const *caps;
	bool no_new_privs;
	const void *seccomp; /* a BPF program for the OS's filter, or NULL */
	size_t seccomp_len;
	const pl_os_rlimit_t *rlimits;
	size_t n_rlimits;
	const uint32_t *groups; /* supplementary groups (group_add) */
	size_t n_groups;
	/* stdio: a new pseudo-terminal as controlling terminal and fds 0-2, or pipes */
	bool tty;
	bool open_stdin;     /* a stdin tether writes to; otherwise the domain's /dev/null */
	uint16_t rows, cols; /* the terminal's initial size; 0 leaves the kernel's default */
} pl_os_spawn_spec_t;

/* Checks the OS-specific names in a spec (capabilities, rlimit types) before anything
 * runs; returns NULL or a message naming the bad one. */
const char *pl_os_spawn_check(const pl_os_spawn_spec_t *spec);

/* Which step of launching failed; tether turns it into the user-facing message and code. */
typedef enum pl_os_stage {
	PL_OS_STAGE_SETUP, /* pipes or fork, in tether itself */
	PL_OS_STAGE_STDIO,
	PL_OS_STAGE_TTY, /* the pseudo-terminal: open, unlock, make it the controlling one */
	PL_OS_STAGE_RLIMIT,
	PL_OS_STAGE_CAPS,
	PL_OS_STAGE_NO_NEW_PRIVS,
	PL_OS_STAGE_SECCOMP,
	PL_OS_STAGE_SETGROUPS,
	PL_OS_STAGE_SETGID,
	PL_OS_STAGE_SETUID,
	PL_OS_STAGE_CHDIR,
	PL_OS_STAGE_EXEC,
} pl_os_stage_t;

/* Every fd here is tether's, non-blocking and close-on-exec. */
typedef struct pl_os_proc {
	int pid;    /* in tether's (the container's) pid namespace */
	int out_fd; /* read end of stdout; for a tty the terminal's master side */
	int err_fd; /* read end of stderr; -1 for a tty (one stream) */
	int in_fd;  /* write end of stdin (for a tty a second fd on the master); -1 without stdin */
} pl_os_proc_t;

/* Starts the process in a new session and no fd of tether's beyond 0-2. Returns only after
 * the exec has succeeded or failed: 0, or -errno with *stage set. */
int pl_os_spawn(const pl_os_spawn_spec_t *spec, pl_os_proc_t *proc, pl_os_stage_t *stage);

/* Sets a terminal's size (the kernel signals SIGWINCH to its foreground group). 0 or -errno. */
int pl_os_tty_resize(int tty_fd, uint16_t rows, uint16_t cols);
/* The terminal's end-of-file character (VEOF, normally ^D). */
uint8_t pl_os_tty_eof_char(int tty_fd);
/* Bytes waiting to be read from a pipe or terminal, or -errno. */
int pl_os_readable_bytes(int fd);

typedef struct pl_os_status {
	int code;   /* exit code when signal is 0 */
	int signal; /* the signal that killed it, or 0 */
} pl_os_status_t;

/* Reaps one exited child without blocking (tether is PID 1: orphans land on it). Returns its
 * pid and fills *st, or 0 when no child has exited (or none is left). */
int pl_os_reap_one(pl_os_status_t *st);
/* Blocks until every child tether has now has exited, and reaps them: before CONFIG's
 * process starts, the only children are what the domain's set-up left (--reap-first). */
void pl_os_reap_all(void);
/* Configures the domain's network from CONFIG's "network" object (docs/tether-protocol.md):
 * interfaces up with address and MTU, routes, /etc/hosts, /etc/resolv.conf. Returns NULL or
 * what failed. */
struct json_t;
const char *pl_os_net_setup(struct json_t *network);
/* The domain's usage seen from inside it (STATS, docs/tether-protocol.md), the shape of the
 * port layer's stats: {"cpu":{"usage_ns","user_ns","system_ns"},"memory":{"usage","limit"},
 * "pids":{"current","limit"},"blkio":{"read_bytes","write_bytes"},"networks":{ifname:{...}}};
 * what cannot be read is -1. Meant for a dedicated kernel, where all of it is the domain's. */
struct json_t *pl_os_stats(void);
/* The domain's processes (TOP, docs/tether-protocol.md): {"processes":[{"pid","user","state",
 * "cpu_time_ms","rss_kib","args"}]} with the domain's pids, tether and kernel threads left
 * out; {"error"} when they cannot be read. */
struct json_t *pl_os_top(void);
/* Processes the domain's own kernel killed for want of memory since it booted, or -1 when the
 * kernel is shared (its counters are the host's, and the host's cgroups tell instead). */
long pl_os_oom_kills(void);
/* Signals the process, or its whole process group. Returns 0 or -errno. */
int pl_os_kill(int pid, int sig, bool group);
/* After the primary process exited: SIGKILLs everything left in the container so no
 * grandchild keeps the output pipes open. Outside a pid namespace only pid's group. */
void pl_os_kill_all(int pid);
