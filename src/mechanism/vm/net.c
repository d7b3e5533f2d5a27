/* SPDX-License-Identifier: Apache-2.0 */
/* A VM's network endpoints on the host: one tap device per bridge endpoint, enslaved to the
 * scope's bridge and up, handed to QEMU as an inherited fd (-netdev tap,fd=N). The taps are
 * not persistent: the kernel deletes one when its last fd closes, so a tap lives exactly as
 * long as the QEMU holding it (an exit, a kill -9, a crash of the daemon in between: nothing
 * is left on the host, and nothing needs cleaning after a daemon restart). The guest side is
 * a virtio-net device with the endpoint's MAC, configured by tether like a veth's inside end.
 * Endpoints on external scopes (macvlan) are refused: a VM gets bridge scopes only. */
#include "mechanism/vm/vm.h"
#include "host/linux/netdev.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* The tap named name on bridge with mtu, up; its fd (close-on-exec) or -1. */
static int tap_open(const char *name, const char *bridge, int mtu, pl_error_t **err)
{
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	_cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return pl_error_errno(err, "open /dev/net/tun");
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		/* the name is this domain's own: a device left with it (a veth of an earlier
		 * run on the shared-kernel mechanism, a persistent tap) is dead; take it back */
		int e = errno;
		if (!pl_netdev_exists(name) || pl_netdev_delete(name, NULL) < 0 ||
		    ioctl(fd, TUNSETIFF, &ifr) < 0)
			return pl_error_set(err, PL_ERR_INTERNAL, e, "create tap %s", name);
	}
	_cleanup_close_ int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sk < 0)
		return pl_error_errno(err, "socket");
	struct ifreq r = {0};
	snprintf(r.ifr_name, sizeof(r.ifr_name), "%s", name);
	if (mtu > 0) {
		r.ifr_mtu = mtu;
		if (ioctl(sk, SIOCSIFMTU, &r) < 0)
			return pl_error_errno(err, "set mtu %d of tap %s", mtu, name);
	}
	struct ifreq br = {0};
	snprintf(br.ifr_name, sizeof(br.ifr_name), "%s", bridge);
	br.ifr_ifindex = (int)if_nametoindex(name);
	if (br.ifr_ifindex == 0 || ioctl(sk, SIOCBRADDIF, &br) < 0)
		return pl_error_errno(err, "attach tap %s to bridge %s", name, bridge);
	if (ioctl(sk, SIOCGIFFLAGS, &r) < 0)
		return pl_error_errno(err, "tap %s", name);
	r.ifr_flags |= IFF_UP;
	if (ioctl(sk, SIOCSIFFLAGS, &r) < 0)
		return pl_error_errno(err, "bring tap %s up", name);
	return TAKE_FD(fd);
}

int pl_vm_net_open(const pl_domain_endpoint_t *endpoints, size_t n, int *fds, size_t max,
		   pl_error_t **err)
{
	if (n > max)
		return pl_error_set(err, PL_ERR_INVALID, 0,
				    "networks: a VM takes at most %zu networks, not %zu", max, n);
	for (size_t i = 0; i < n; i++)
		fds[i] = -1;
	for (size_t i = 0; i < n; i++) {
		const pl_domain_endpoint_t *ep = &endpoints[i];
		const char *host = ep->host_ifname;
		const char *bridge = ep->bridge;
		int mtu = ep->mtu;
		if (ep->kind != PL_ENDPOINT_VETH) {
			pl_error_set(err, PL_ERR_INVALID, 0,
				     "networks[%zu]: a VM can join bridge scopes only, not a "
				     "scope on an external interface (%s)",
				     i, ep->kind == PL_ENDPOINT_MACVLAN ? "macvlan" : "?");
			goto fail;
		}
		if (!host[0] || !bridge[0] || !ep->mac[0]) {
			pl_error_set(err, PL_ERR_INTERNAL, EINVAL, "network endpoint %zu", i);
			goto fail;
		}
		fds[i] = tap_open(host, bridge, mtu, err);
		if (fds[i] < 0) {
			pl_error_wrap(err, "network endpoint %zu", i);
			goto fail;
		}
	}
	return (int)n;
fail:
	pl_vm_net_close(fds, n);
	return -1;
}

void pl_vm_net_close(int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}
