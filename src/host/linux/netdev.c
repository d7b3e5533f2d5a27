/* SPDX-License-Identifier: Apache-2.0 */
/* The host side of networking over rtnetlink (libmnl): bridges for scopes, veth pairs and
 * macvlans for endpoints. One NETLINK_ROUTE socket, opened on first use, serves every
 * request; each request waits for the kernel's ack, so errors name the failing step. */
#include "host/linux/netdev.h"
#include "common/cleanup.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef MACVLAN_MODE_BRIDGE
#define MACVLAN_MODE_BRIDGE 4
#endif

#define NL_BUF 8192

static struct mnl_socket *nl;
static unsigned nl_portid, nl_seq;

static int nl_open(pl_error_t **err)
{
	if (nl)
		return 0;
	nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!nl)
		return pl_error_errno(err, "open rtnetlink socket");
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int r = pl_error_errno(err, "bind rtnetlink socket");
		mnl_socket_close(nl);
		nl = NULL;
		return r;
	}
	nl_portid = mnl_socket_get_portid(nl);
	nl_seq = (unsigned)time(NULL);
	return 0;
}

static struct nlmsghdr *msg_new(char *buf, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	nlh->nlmsg_seq = ++nl_seq;
	return nlh;
}

/* Sends a request and waits for its ack (answers before it go to cb): 0 or -errno. */
static int talk_cb(struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	char buf[NL_BUF];
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		int r = mnl_cb_run(buf, (size_t)n, nlh->nlmsg_seq, nl_portid, cb, data);
		if (r < 0)
			return -errno;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

static int talk(struct nlmsghdr *nlh)
{
	return talk_cb(nlh, NULL, NULL);
}

bool pl_netdev_exists(const char *name)
{
	return if_nametoindex(name) != 0;
}

static int write_sysctl_at(int dirfd, const char *path, const char *value)
{
	int fd = openat(dirfd, path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, value, strlen(value));
	int r = n < 0 ? -errno : 0;
	close(fd);
	return r;
}

/* Brings dev up, a port of master (ifindex) unless master is 0: 0 or -errno. */
static int link_up(const char *dev, unsigned master)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = msg_new(buf, RTM_NEWLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	ifm->ifi_flags = IFF_UP;
	ifm->ifi_change = IFF_UP;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, dev);
	if (master)
		mnl_attr_put_u32(nlh, IFLA_MASTER, master);
	return talk(nlh);
}

/* A bridge as the port layer makes them (down): 0 or -errno. */
static int bridge_create(const char *name)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = msg_new(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	struct nlattr *li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
	/* no multicast snooping: with no querier on the scope the bridge floods multicast
	 * either way, and with it on, every port added re-arms the multicast timers of every
	 * other port (br_port_state_selection): a start's cost that grows with the containers
	 * on the bridge */
	struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u8(nlh, IFLA_BR_MCAST_SNOOPING, 0);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, li);
	return talk(nlh);
}

int pl_netdev_bridge_ensure(const char *name, uint32_t addr, unsigned prefix, pl_error_t **err)
{
	if (nl_open(err) < 0)
		return -1;
	char buf[NL_BUF];
	int r;
	if (!pl_netdev_exists(name) && (r = bridge_create(name)) < 0 && r != -EEXIST)
		return pl_error_set(err, PL_ERR_INTERNAL, -r, "create bridge %s", name);
	unsigned idx = if_nametoindex(name);
	if (!idx)
		return pl_error_errno(err, "bridge %s", name);
	struct nlmsghdr *nlh = msg_new(buf, RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE);
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = idx;
	uint32_t a = htonl(addr), bcast = htonl(addr | (prefix ? ~0u >> prefix : ~0u));
	mnl_attr_put_u32(nlh, IFA_LOCAL, a);
	mnl_attr_put_u32(nlh, IFA_ADDRESS, a);
	mnl_attr_put_u32(nlh, IFA_BROADCAST, bcast);
	r = talk(nlh);
	if (r < 0 && r != -EEXIST)
		return pl_error_set(err, PL_ERR_INTERNAL, -r, "address of bridge %s", name);
	if ((r = link_up(name, 0)) < 0)
		return pl_error_set(err, PL_ERR_INTERNAL, -r, "bring bridge %s up", name);
	/* published ports DNAT loopback sources onto the bridge; containers need forwarding */
	char path[128];
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/route_localnet", name);
	if ((r = write_sysctl_at(AT_FDCWD, path, "1")) < 0)
		return pl_error_set(err, PL_ERR_INTERNAL, -r, "%s", path);
	if ((r = write_sysctl_at(AT_FDCWD, "/proc/sys/net/ipv4/ip_forward", "1")) < 0)
		return pl_error_set(err, PL_ERR_INTERNAL, -r, "enable IPv4 forwarding");
	return 0;
}

int pl_netdev_delete(const char *name, pl_error_t **err)
{
	if (nl_open(err) < 0)
		return -1;
	char buf[NL_BUF];
	struct nlmsghdr *nlh = msg_new(buf, RTM_DELLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	int r = talk(nlh);
	if (r < 0 && r != -ENODEV)
		return pl_error_set(err, PL_ERR_INTERNAL, -r, "delete device %s", name);
	return 0;
}

struct ports {
	unsigned master;
	char (*names)[16];
	int n, cap;
};

static int port_attr(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	unsigned type = mnl_attr_get_type(a);
	if (type == IFLA_IFNAME || type == IFLA_MASTER)
		tb[type] = a;
	return MNL_CB_OK;
}

static int port_of(const struct nlmsghdr *nlh, void *data)
{
	struct ports *p = data;
	const struct nlattr *tb[IFLA_MAX + 1] = {0};
	mnl_attr_parse(nlh, sizeof(struct ifinfomsg), port_attr, tb);
	if (!tb[IFLA_IFNAME] || !tb[IFLA_MASTER] || mnl_attr_get_u32(tb[IFLA_MASTER]) != p->master)
		return MNL_CB_OK;
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 16;
		p->names = pl_xrealloc(p->names, (size_t)p->cap * sizeof(*p->names));
	}
	snprintf(p->names[p->n++], sizeof(p->names[0]), "%s", mnl_attr_get_str(tb[IFLA_IFNAME]));
	return MNL_CB_OK;
}

int pl_netdev_bridge_ports(const char *bridge, char (**names)[16], pl_error_t **err)
{
	*names = NULL;
	struct ports p = {.master = if_nametoindex(bridge)};
	if (!p.master)
		return 0;
	if (nl_open(err) < 0)
		return -1;
	char buf[NL_BUF];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = ++nl_seq;
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return pl_error_errno(err, "list the ports of %s", bridge);
	char rbuf[32768];
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, rbuf, sizeof(rbuf));
		int r = n < 0 ? -1
			      : mnl_cb_run(rbuf, (size_t)n, nlh->nlmsg_seq, nl_portid, port_of, &p);
		if (r < 0) {
			free(p.names);
			return pl_error_errno(err, "list the ports of %s", bridge);
		}
		if (r == MNL_CB_STOP)
			break;
	}
	*names = p.names;
	return p.n;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	if (!s ||
	    sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return 0;
}

/* A bridge port never needs IPv6 of its own. Left on, each host end gets a link-local
 * address (DAD, MLD, two routes) once the domain brings its end up, in the daemon's
 * namespace where a thousand others are: the kernel walks every address there under the
 * RTNL (addrconf_verify) and every multicast packet coming up the bridge walks the
 * per-device routes. Written before GO, so before its carrier: it never gets one. Best
 * effort (a kernel without IPv6 has no such file). */
static void host_end_no_ipv6(const char *host)
{
	/* below a held /proc/sys/net/ipv6/conf of ours: the lookup of /proc/sys/net itself
	 * walks one dentry per network namespace on the host (one per container) */
	static int conf = -2;
	if (conf == -2)
		conf = open("/proc/sys/net/ipv6/conf", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char path[80];
	snprintf(path, sizeof(path), "%s%s/disable_ipv6",
		 conf >= 0 ? "" : "/proc/sys/net/ipv6/conf/", host);
	write_sysctl_at(conf >= 0 ? conf : AT_FDCWD, path, "1"); /* else it keeps IPv6 */
}

/* A veth in an RTM_NEWLINK being built, after the first end's own attributes: veth_begin
 * opens the peer's (which the caller puts next), veth_end closes them. Both ends get one
 * queue each way, as the kernel would leave them: made with one per CPU, veth cuts them to
 * one once registered, and that waits for an expedited RCU grace period (synchronize_net)
 * per end, under the RTNL. */
typedef struct veth_nests {
	struct nlattr *li, *data, *peer;
} veth_nests_t;

static veth_nests_t veth_begin(struct nlmsghdr *nlh)
{
	veth_nests_t v;
	mnl_attr_put_u32(nlh, IFLA_NUM_TX_QUEUES, 1);
	mnl_attr_put_u32(nlh, IFLA_NUM_RX_QUEUES, 1);
	v.li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	v.data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	v.peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	struct ifinfomsg *pifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*pifm));
	pifm->ifi_family = AF_UNSPEC;
	return v;
}

static void veth_end(struct nlmsghdr *nlh, veth_nests_t v)
{
	mnl_attr_put_u32(nlh, IFLA_NUM_TX_QUEUES, 1);
	mnl_attr_put_u32(nlh, IFLA_NUM_RX_QUEUES, 1);
	mnl_attr_nest_end(nlh, v.peer);
	mnl_attr_nest_end(nlh, v.data);
	mnl_attr_nest_end(nlh, v.li);
}

/* The inside end's attributes: its name, MAC, MTU and namespace. */
static void put_inside(struct nlmsghdr *nlh, const pl_domain_endpoint_t *ep, pid_t pid,
		       int netns_fd, const uint8_t mac[6], bool has_mac)
{
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ep->ifname);
	if (has_mac)
		mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
	int mtu = ep->mtu;
	if (mtu > 0)
		mnl_attr_put_u32(nlh, IFLA_MTU, (uint32_t)mtu);
	if (netns_fd >= 0)
		mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)netns_fd);
	else
		mnl_attr_put_u32(nlh, IFLA_NET_NS_PID, (uint32_t)pid);
}

int pl_netdev_endpoint_add(pid_t pid, int netns_fd, const pl_domain_endpoint_t *ep,
			   pl_error_t **err)
{
	if (nl_open(err) < 0)
		return -1;
	const char *ifname = ep->ifname[0] ? ep->ifname : NULL;
	uint8_t mac[6];
	bool has_mac = parse_mac(ep->mac, mac) == 0;
	int mtu = ep->mtu;
	char buf[NL_BUF];
	struct nlmsghdr *nlh = msg_new(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	int r;
	if (ep->kind == PL_ENDPOINT_VETH) {
		const char *bridge = ep->bridge[0] ? ep->bridge : NULL;
		const char *host = ep->host_ifname[0] ? ep->host_ifname : NULL;
		unsigned master = bridge ? if_nametoindex(bridge) : 0;
		if (!master || !host || !ifname)
			return pl_error_set(err, PL_ERR_INTERNAL, master ? EINVAL : ENODEV,
					    "endpoint on bridge %s", bridge ? bridge : "?");
		/* the host end: enslaved and up from birth; the peer is born in the domain */
		ifm->ifi_flags = IFF_UP;
		ifm->ifi_change = IFF_UP;
		mnl_attr_put_strz(nlh, IFLA_IFNAME, host);
		mnl_attr_put_u32(nlh, IFLA_MASTER, master);
		if (mtu > 0)
			mnl_attr_put_u32(nlh, IFLA_MTU, (uint32_t)mtu);
		veth_nests_t v = veth_begin(nlh);
		put_inside(nlh, ep, pid, netns_fd, mac, has_mac);
		veth_end(nlh, v);
		r = talk(nlh);
		/* the name is this domain's own: one left is its previous run's, whose
		 * namespace the kernel has not finished tearing down (that happens
		 * asynchronously): it is dead, so take the name back */
		if (r == -EEXIST && pl_netdev_delete(host, NULL) == 0)
			r = talk(nlh);
		if (r == -EXFULL) /* BR_MAX_PORTS */
			return pl_error_set(err, PL_ERR_INTERNAL, -r,
					    "create veth %s on %s: the bridge has the kernel's "
					    "maximum of 1023 ports",
					    host, bridge);
		if (r < 0)
			return pl_error_set(err, PL_ERR_INTERNAL, -r, "create veth %s on %s", host,
					    bridge);
		host_end_no_ipv6(host);
		return 0;
	}
	if (ep->kind == PL_ENDPOINT_MACVLAN) {
		const char *parent = ep->parent[0] ? ep->parent : NULL;
		unsigned link = parent ? if_nametoindex(parent) : 0;
		if (!link)
			return pl_error_set(err, PL_ERR_INVALID, ENODEV, "parent interface %s",
					    parent ? parent : "?");
		put_inside(nlh, ep, pid, netns_fd, mac, has_mac);
		mnl_attr_put_u32(nlh, IFLA_LINK, link);
		struct nlattr *li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
		mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "macvlan");
		struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
		mnl_attr_put_u32(nlh, IFLA_MACVLAN_MODE, MACVLAN_MODE_BRIDGE);
		mnl_attr_nest_end(nlh, data);
		mnl_attr_nest_end(nlh, li);
		r = talk(nlh);
		if (r < 0)
			return pl_error_set(err, PL_ERR_INTERNAL, -r, "create macvlan on %s",
					    parent);
		return 0;
	}
	return pl_error_set(err, PL_ERR_INTERNAL, EINVAL, "unknown endpoint kind %d",
			    (int)ep->kind);
}

int pl_netdev_endpoints_add(pid_t pid, int netns_fd, const pl_domain_endpoint_t *eps, size_t n,
			    pl_error_t **err)
{
	for (size_t i = 0; i < n; i++)
		if (pl_netdev_endpoint_add(pid, netns_fd, &eps[i], err) < 0)
			return pl_error_wrap(err, "network endpoint %zu", i);
	return 0;
}

/* The bridge a device is a port of (its ifindex; 0: none, or no such device). */
static int master_cb(const struct nlmsghdr *nlh, void *data)
{
	const struct nlattr *tb[IFLA_MAX + 1] = {0};
	mnl_attr_parse(nlh, sizeof(struct ifinfomsg), port_attr, tb);
	if (tb[IFLA_MASTER])
		*(unsigned *)data = mnl_attr_get_u32(tb[IFLA_MASTER]);
	return MNL_CB_OK;
}

static unsigned master_of(const char *dev)
{
	char buf[NL_BUF];
	struct nlmsghdr *nlh = msg_new(buf, RTM_GETLINK, 0);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, dev);
	unsigned master = 0;
	return talk_cb(nlh, master_cb, &master) < 0 ? 0 : master;
}

/* No IP of its own, and none through it: nothing it receives is routed (past the rules that
 * name the scope's bridge) and it answers no ARP (a neighbour would take its MAC for the
 * gateway's). Written again for a branch found made: a write of 1 to ip_forward turns every
 * device's forwarding on. */
static int branch_no_ip(const char *name, pl_error_t **err)
{
	static const char *const no_ip[][2] = {{"forwarding", "0"}, {"arp_ignore", "8"}};
	for (size_t i = 0; i < PL_ARRAY_SIZE(no_ip); i++) {
		char path[96];
		snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/%s", name, no_ip[i][0]);
		int r = write_sysctl_at(AT_FDCWD, path, no_ip[i][1]);
		if (r < 0)
			return pl_error_set(err, PL_ERR_INTERNAL, -r, "%s", path);
	}
	return 0;
}

int pl_netdev_branch_ensure(const char *bridge, const pl_netdev_branch_t *l, int mtu,
			    pl_error_t **err)
{
	if (nl_open(err) < 0)
		return -1;
	unsigned main = if_nametoindex(bridge), branch = if_nametoindex(l->name);
	if (!main)
		return pl_error_set(err, PL_ERR_INTERNAL, ENODEV, "bridge %s", bridge);
	/* a link that is a port of another bridge is another scope's (a name collision): left
	 * alone; one that is a port of none, or missing, is a branch of ours made halfway */
	unsigned up = master_of(l->uplink);
	if (up && up != main)
		return pl_error_set(err, PL_ERR_CONFLICT, EEXIST,
				    "bridge %s: its link %s is a port of another bridge than %s",
				    l->name, l->uplink, bridge);
	if (branch && up == main && master_of(l->downlink) == branch)
		return branch_no_ip(l->name, err);
	pl_netdev_delete(l->uplink, NULL);
	pl_netdev_delete(l->name, NULL);
	int r = bridge_create(l->name);
	if (r < 0)
		return pl_error_set(err, PL_ERR_INTERNAL, -r, "create bridge %s", l->name);
	host_end_no_ipv6(l->name);
	if (branch_no_ip(l->name, err) < 0) {
		pl_netdev_delete(l->name, NULL);
		return -1;
	}
	branch = if_nametoindex(l->name);
	/* the link between the two: one end a port of each, both without IPv6 */
	char buf[NL_BUF];
	struct nlmsghdr *nlh = msg_new(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
	ifm->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, l->uplink);
	if (mtu > 0)
		mnl_attr_put_u32(nlh, IFLA_MTU, (uint32_t)mtu);
	veth_nests_t v = veth_begin(nlh);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, l->downlink);
	if (mtu > 0)
		mnl_attr_put_u32(nlh, IFLA_MTU, (uint32_t)mtu);
	veth_end(nlh, v);
	if (!branch || (r = talk(nlh)) < 0) {
		pl_netdev_delete(l->name, NULL);
		return pl_error_set(err, PL_ERR_INTERNAL, branch ? -r : ENODEV,
				    "link bridge %s to %s", l->name, bridge);
	}
	host_end_no_ipv6(l->uplink);
	host_end_no_ipv6(l->downlink);
	if ((r = link_up(l->uplink, main)) < 0 || (r = link_up(l->downlink, branch)) < 0 ||
	    (r = link_up(l->name, 0)) < 0) {
		pl_netdev_delete(l->uplink, NULL);
		pl_netdev_delete(l->name, NULL);
		return pl_error_set(err, PL_ERR_INTERNAL, -r, "link bridge %s to %s", l->name,
				    bridge);
	}
	return 0;
}

void pl_netdev_branch_delete(const char *bridge, const pl_netdev_branch_t *l)
{
	if (nl_open(NULL) < 0)
		return;
	unsigned up = master_of(l->uplink);
	if (up && up != if_nametoindex(bridge))
		return;			   /* another bridge's */
	pl_netdev_delete(l->uplink, NULL); /* and its peer */
	pl_netdev_delete(l->name, NULL);
}

int pl_netdev_netns_new(void)
{
	_cleanup_close_ int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0 || unshare(CLONE_NEWNET) < 0)
		return -errno;
	int fresh = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int e = errno;
	if (setns(self, CLONE_NEWNET) < 0)
		abort(); /* the daemon would go on serving from the wrong namespace */
	return fresh < 0 ? -e : fresh;
}
