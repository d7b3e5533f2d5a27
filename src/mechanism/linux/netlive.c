/* SPDX-License-Identifier: Apache-2.0 */
/* Network changes of a running linux domain: the host side of a new endpoint as at start
 * (host/linux/netdev.c), the inside end configured from a short-lived thread that enters
 * the domain's network namespace (setns affects that thread only), with the classic
 * interface ioctls. */
#include "mechanism/linux/shared.h"
#include "host/linux/netdev.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
	pid_t pid;
	const char *ifname;
	uint32_t addr, gateway;
	unsigned prefix;
	int err;
	const char *step;
} inside_t;

static int parse_addr(const char *s, uint32_t *addr)
{
	struct in_addr a;
	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*addr = ntohl(a.s_addr);
	return 0;
}

static uint32_t mask_of(unsigned prefix)
{
	return prefix ? ~0u << (32 - prefix) : 0;
}

static void set_sin(struct sockaddr *sa, uint32_t a)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)sa;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(a);
}

static void *configure_inside(void *data)
{
	inside_t *x = data;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/net", x->pid);
	_cleanup_close_ int ns = open(path, O_RDONLY | O_CLOEXEC), s = -1;
	x->step = "enter the network namespace";
	if (ns < 0 || setns(ns, CLONE_NEWNET) < 0)
		goto fail;
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	x->step = "socket";
	if (s < 0)
		goto fail;
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", x->ifname);
	x->step = "set the address";
	set_sin(&ifr.ifr_addr, x->addr);
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
		goto fail;
	x->step = "set the netmask";
	set_sin(&ifr.ifr_netmask, mask_of(x->prefix));
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		goto fail;
	x->step = "bring the interface up";
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		goto fail;
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		goto fail;
	if (x->gateway) {
		struct rtentry rt = {0};
		set_sin(&rt.rt_dst, 0);
		set_sin(&rt.rt_genmask, 0);
		set_sin(&rt.rt_gateway, x->gateway);
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		rt.rt_dev = (char *)x->ifname;
		x->step = "add the default route";
		if (ioctl(s, SIOCADDRT, &rt) < 0 && errno != EEXIST)
			goto fail;
	}
	x->err = 0;
	return NULL;
fail:
	x->err = errno ? errno : EIO;
	return NULL;
}

int pl_linux_net_connect(const pl_mechanism_t *m, const pl_domain_t *dom,
			 const pl_domain_endpoint_t *ep, pl_error_t **err)
{
	const char *ifname = ep->ifname[0] ? ep->ifname : NULL;
	const char *address = ep->address[0] ? ep->address : NULL;
	const char *gw = ep->gateway[0] ? ep->gateway : NULL;
	inside_t x = {.pid = dom->pid, .ifname = ifname};
	const char *slash = address ? strchr(address, '/') : NULL;
	_cleanup_free_ char *a = slash ? strndup(address, (size_t)(slash - address)) : NULL;
	int64_t prefix;
	if (!ifname || !a || parse_addr(a, &x.addr) < 0 ||
	    pl_parse_int64(slash + 1, 1, 32, &prefix) < 0 || (gw && parse_addr(gw, &x.gateway) < 0))
		return pl_error_set(err, PL_ERR_INTERNAL, EINVAL, "endpoint address %s",
				    address ? address : "(none)");
	x.prefix = (unsigned)prefix;
	if (pl_netdev_endpoint_add(dom->pid, -1, ep, err) < 0)
		return -1;
	pthread_t t;
	int r = pthread_create(&t, NULL, configure_inside, &x);
	if (r == 0)
		pthread_join(t, NULL);
	else
		x.err = r, x.step = "start a thread";
	if (x.err) {
		if (ep->host_ifname[0])
			pl_netdev_delete(ep->host_ifname, NULL);
		return pl_error_set(err, PL_ERR_INTERNAL, x.err, "%s: %s", ifname, x.step);
	}
	return 0;
}

int pl_linux_net_disconnect(const pl_mechanism_t *m, const pl_domain_t *dom,
			    const pl_domain_endpoint_t *ep, pl_error_t **err)
{
	/* deleting the host end takes the inside end with it */
	const char *host =
	    ep->kind == PL_ENDPOINT_VETH && ep->host_ifname[0] ? ep->host_ifname : NULL;
	if (!host)
		return pl_error_set(err, PL_ERR_CONFLICT, 0,
				    "an endpoint on an external interface cannot be taken away "
				    "while the container runs");
	return pl_netdev_delete(host, err);
}
