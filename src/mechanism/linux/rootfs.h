/* SPDX-License-Identifier: Apache-2.0 */
/* The domain's root file system and device set-up, run inside the freshly cloned child
 * (new mount, pid, uts, ipc, net namespaces) before tether is exec'd. Every mount target is
 * opened beneath the new root without following symlinks and mounted through its fd, so a
 * hostile rootfs cannot redirect a mount onto the host (CVE-2021-30465 class). */
#pragma once

#include "common/error.h"
#include "mechanism/mechanism.h"
#include "mechanism/linux/userns.h"

/* Mounts the overlay rootfs at spec->domain_dir/merged, populates /proc, /sys, /dev, sets
 * the hostname and brings loopback up. Returns an O_PATH fd of the new root. In a user
 * namespace (userns non-NULL) the overlay and every bind mount and volume come made by the
 * daemon as detached mounts and are attached here; device nodes are bind mounts of the
 * host's, as mknod is refused there. When it mounts /proc itself and *v6conf is -1, *v6conf
 * gets that /proc's sys/net/ipv6/conf (see pl_rootfs_stage). */
int pl_rootfs_prepare(const pl_domain_spec_t *spec, const pl_userns_fds_t *userns, int staged,
		      int *v6conf, pl_error_t **err);
/* Ahead of a prepared domain's take, in its mount namespace (made private here): /proc
 * (with Docker's masked and read-only paths), /sys and /dev as a container gets them by
 * default, on a tmpfs at stage_dir (read-only once they are mounted; it also holds the
 * empty directory the masked ones bind and the root of pl_rootfs_pivot_ahead). Returns an O_PATH fd
 * of it (above 63) for pl_rootfs_prepare's staged, which moves them onto the container's root when
 * its set-up would mount the same (no user namespace, privilege, devices, shared or resized
 * /dev/shm, nor mounts under /proc or /sys), or -1: the take mounts them itself. *v6conf gets
 * /proc/sys/net/ipv6/conf of that new /proc (an fd above 63, or -1) for
 * pl_rootfs_endpoints_no_ipv6, opened before /proc/sys is made read-only and not through the
 * host's /proc, whose lookup of /proc/sys/net walks one dentry per network namespace on the
 * host (proc_sys_compare), a cost that grows with the containers running. */
int pl_rootfs_stage(const char *stage_dir, int *v6conf);
/* pivot_root into root_fd and detach the old root. */
int pl_rootfs_enter(int root_fd, pl_error_t **err);
/* A waiting prepared domain's pivot, ahead of its take (pivot_root walks every task on the
 * host, a cost that grows with the containers running): onto a bind of the read-only
 * staging tmpfs's directory r (pl_rootfs_stage made it), whose only entry is the old root
 * at /oldroot, the caller then chrooted into /oldroot (so that host paths still work).
 * Returns an O_PATH fd (above 63) of the new root for pl_rootfs_enter_ahead, or -1 when
 * nothing changed (the ordinary pivot at the take); a failure past the pivot ends the
 * process. */
int pl_rootfs_pivot_ahead(const char *stage_dir);
/* At the take, instead of pl_rootfs_enter: moves root_fd (a mount's root) onto the new root
 * made ahead (stacked, as switch_root does), detaches the old root below it and chroots into
 * root_fd. ".." out of the container's root leads to the root below, whose root it is
 * mounted on: back into the container's root (a break-out of a chroot ends there); a
 * setns(CLONE_NEWNS) lands on it too. */
int pl_rootfs_enter_ahead(int root_fd, int ahead, pl_error_t **err);
/* Before a disposable rootfs is mounted (volatile): the mark an earlier volatile mount left in
 * the domain's work directory, which makes the kernel refuse to mount that upper layer
 * again, is removed when it was made in this boot (the overlay was unmounted cleanly: a
 * container started again); made before it, the host went down while the overlay was in use
 * (a crash in the middle of the container's first start leaves it "created", not removed)
 * and its writes may be torn: -1 with *err saying so. 0 when there is no mark. */
int pl_rootfs_volatile_ready(const char *domain_dir, pl_error_t **err);
/* Brings the loopback of the caller's network namespace up (nothing when it is). */
int pl_rootfs_loopback_up(pl_error_t **err);
/* The domain's interfaces without IPv6 (scopes are IPv4-only, as Docker's IPv4-only networks
 * leave them): a link-local address would have each new container's DAD, MLD reports and
 * router solicitations flooded by the bridge to every other container, a cost per start
 * that grows with their number. Called once the endpoints exist and before tether brings
 * them up; not when the container's sysctls say anything of net.ipv6. */
void pl_rootfs_endpoints_no_ipv6(const pl_domain_spec_t *spec, int v6conf);
