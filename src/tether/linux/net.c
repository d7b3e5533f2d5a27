/* SPDX-License-Identifier: Apache-2.0 */
/* The inside of a domain's network, from CONFIG's "network" object: interfaces up with
 * their MTU and address, routes, /etc/hosts and /etc/resolv.conf. The host side (the
 * interfaces' existence, their MACs) was done by the port layer before tether started.
 * Plain ioctls: tether is static and needs no netlink library for this. */
#include "tether/os.h"
#include "tether/linux/osutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

/* "a.b.c.d/len" → address and netmask (network order). */
static bool parse_cidr(const char *s, struct in_addr *addr, struct in_addr *mask)
{
	char buf[32];
	const char *slash = s ? strchr(s, '/') : NULL;
	if (!slash || (size_t)(slash - s) >= sizeof(buf))
		return false;
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = '\0';
	char *end;
	long len = strtol(slash + 1, &end, 10);
	if (*end || end == slash + 1 || len < 0 || len > 32 || inet_pton(AF_INET, buf, addr) != 1)
		return false;
	mask->s_addr = htonl(len == 0 ? 0 : ~0u << (32 - len));
	return true;
}

static void set_sin(struct sockaddr *sa, struct in_addr a)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr = a};
	memcpy(sa, &sin, sizeof(sin));
}

static bool parse_mac(const char *s, unsigned char mac[6])
{
	unsigned v[6];
	char tail;
	if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
			 &tail) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (unsigned char)v[i];
	return true;
}

static bool has_mac(int sk, const char *name, const unsigned char mac[6])
{
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	return ioctl(sk, SIOCGIFHWADDR, &ifr) == 0 && memcmp(ifr.ifr_hwaddr.sa_data, mac, 6) == 0;
}

/* The device with this MAC gets the name the port layer chose. In a shared-kernel domain it
 * already has it (the port layer created it so); in a VM the guest kernel named its NICs
 * in probe order (eth0, eth1, ...), and a NIC may still be probing when CONFIG arrives. */
static const char *claim_by_mac(int sk, const char *name, const char *mac_s)
{
	unsigned char mac[6];
	if (!parse_mac(mac_s, mac))
		return pl_os_failf("network: interface %s: mac \"%s\" is not xx:xx:xx:xx:xx:xx",
				   name, mac_s);
	for (int tries = 0; tries < 200; tries++) { /* up to 2 s */
		if (has_mac(sk, name, mac))
			return NULL;
		struct if_nameindex *all = if_nameindex(), *found = NULL;
		for (struct if_nameindex *i = all; i && i->if_index; i++)
			if (has_mac(sk, i->if_name, mac))
				found = i;
		if (found) {
			if (if_nametoindex(name)) {
				if_freenameindex(all);
				return pl_os_failf(
				    "network: the name %s is taken by another interface", name);
			}
			struct ifreq ifr = {0};
			snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", found->if_name);
			snprintf(ifr.ifr_newname, sizeof(ifr.ifr_newname), "%s", name);
			int r = ioctl(sk, SIOCSIFNAME, &ifr);
			int e = errno;
			if_freenameindex(all);
			if (r < 0)
				return pl_os_failf(
				    "network: rename the interface with mac %s to %s: %s", mac_s,
				    name, strerror(e));
			return NULL;
		}
		if_freenameindex(all);
		if (if_nametoindex(name)) /* there, with another MAC: leave it as it is */
			return NULL;
		usleep(10000);
	}
	return pl_os_failf("network: no interface %s or with mac %s", name, mac_s);
}

static const char *setup_interface(int sk, json_t *ifc)
{
	const char *name = json_string_value(json_object_get(ifc, "name"));
	json_t *addrs = json_object_get(ifc, "addresses"), *mtu = json_object_get(ifc, "mtu");
	if (!name || !*name || strlen(name) >= IFNAMSIZ)
		return pl_os_failf("network: interfaces[].name must be an interface name");
	if (addrs && (!json_is_array(addrs) || json_array_size(addrs) > 1))
		return pl_os_failf("network: interface %s: at most one IPv4 address", name);
	if (mtu && (!json_is_integer(mtu) || json_integer_value(mtu) < 68 ||
		    json_integer_value(mtu) > 65535))
		return pl_os_failf("network: interface %s: mtu must be in [68, 65535]", name);
	json_t *mac = json_object_get(ifc, "mac");
	if (mac) {
		const char *e =
		    json_is_string(mac)
			? claim_by_mac(sk, name, json_string_value(mac))
			: pl_os_failf("network: interface %s: mac must be a string", name);
		if (e)
			return e;
	}
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (mtu) {
		ifr.ifr_mtu = (int)json_integer_value(mtu);
		if (ioctl(sk, SIOCSIFMTU, &ifr) < 0)
			return pl_os_failf("network: set mtu of %s: %s", name, strerror(errno));
	}
	if (json_array_size(addrs)) {
		struct in_addr a, m;
		const char *cidr = json_string_value(json_array_get(addrs, 0));
		if (!parse_cidr(cidr, &a, &m))
			return pl_os_failf("network: interface %s: \"%s\" is not a.b.c.d/len", name,
					   cidr ? cidr : "");
		set_sin(&ifr.ifr_addr, a);
		if (ioctl(sk, SIOCSIFADDR, &ifr) < 0)
			return pl_os_failf("network: address of %s: %s", name, strerror(errno));
		set_sin(&ifr.ifr_netmask, m);
		if (ioctl(sk, SIOCSIFNETMASK, &ifr) < 0)
			return pl_os_failf("network: netmask of %s: %s", name, strerror(errno));
	}
	if (ioctl(sk, SIOCGIFFLAGS, &ifr) < 0)
		return pl_os_failf("network: interface %s: %s", name, strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(sk, SIOCSIFFLAGS, &ifr) < 0)
		return pl_os_failf("network: bring %s up: %s", name, strerror(errno));
	return NULL;
}

static const char *add_route(int sk, json_t *r)
{
	const char *dst = json_string_value(json_object_get(r, "dst"));
	const char *gw = json_string_value(json_object_get(r, "gateway"));
	struct in_addr d, m, g;
	if (!parse_cidr(dst, &d, &m))
		return pl_os_failf("network: routes[].dst must be a.b.c.d/len");
	if (!gw || inet_pton(AF_INET, gw, &g) != 1)
		return pl_os_failf("network: routes[].gateway must be an IPv4 address");
	struct rtentry rt = {0};
	set_sin(&rt.rt_dst, d);
	set_sin(&rt.rt_genmask, m);
	set_sin(&rt.rt_gateway, g);
	rt.rt_flags = RTF_UP | RTF_GATEWAY;
	if (ioctl(sk, SIOCADDRT, &rt) < 0 && errno != EEXIST)
		return pl_os_failf("network: route to %s via %s: %s", dst, gw, strerror(errno));
	return NULL;
}

/* A read-only root: the content goes into a file on a small detached tmpfs, bound over
 * the existing file (as writable as Docker's bind-mounted copies). A missing file has no
 * mount point on a read-only root and is left out. */
static const char *bind_content(const char *path, const char *text)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return pl_os_failf("network: %s on a read-only root: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return pl_os_failf("network: %s on a read-only root is not a regular file", path);
	const char *step = "tmpfs";
	int fs = fsopen("tmpfs", FSOPEN_CLOEXEC), mnt = -1, f = -1, tree = -1;
	if (fs < 0 || fsconfig(fs, FSCONFIG_SET_STRING, "size", "256k", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
	    (mnt = fsmount(fs, FSMOUNT_CLOEXEC, 0)) < 0)
		goto fail;
	step = "write";
	f = openat(mnt, "f", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (f < 0 || write(f, text, strlen(text)) != (ssize_t)strlen(text))
		goto fail;
	step = "bind";
	tree = open_tree(mnt, "f", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tree < 0 || move_mount(tree, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		goto fail;
	close(tree);
	close(f);
	close(mnt);
	close(fs);
	return NULL;
fail:;
	int e = errno;
	for (int *fd = (int[]){fs, mnt, f, tree}, i = 0; i < 4; i++)
		if (fd[i] >= 0)
			close(fd[i]);
	return pl_os_failf("network: %s on a read-only root: %s: %s", path, step, strerror(e));
}

/* Whether path is the root of a mount: the caller's own bind mount there wins. */
static bool mount_point(const char *path)
{
	struct statx stx;
	return statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, 0, &stx) == 0 &&
	       (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

/* Replaces path (a symlink there is replaced, not followed); a mount there is left alone. */
static const char *write_file(const char *path, const char *text)
{
	mkdir("/etc", 0755);
	if (mount_point(path))
		return NULL;
	if (unlink(path) < 0 && errno == EROFS)
		return bind_content(path, text);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EROFS)
		return bind_content(path, text);
	if (fd < 0)
		return pl_os_failf("network: create %s: %s", path, strerror(errno));
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n <= 0) {
			close(fd);
			return pl_os_failf("network: write %s: %s", path, strerror(errno));
		}
		off += (size_t)n;
	}
	close(fd);
	return NULL;
}

static bool word_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 255)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == '#' || (unsigned char)*s >= 127)
			return false;
	return true;
}

/* Appends the strings of arr, each after sep, to buf; false when one is not a word. */
static bool append_words(char **buf, size_t *len, json_t *arr, const char *sep)
{
	size_t i;
	json_t *w;
	json_array_foreach(arr, i, w)
	{
		const char *s = json_string_value(w);
		if (!word_ok(s))
			return false;
		size_t n = strlen(sep) + strlen(s);
		*buf = realloc(*buf, *len + n + 1);
		if (!*buf)
			abort();
		sprintf(*buf + *len, "%s%s", sep, s);
		*len += n;
	}
	return true;
}

static bool append(char **buf, size_t *len, const char *s)
{
	size_t n = strlen(s);
	*buf = realloc(*buf, *len + n + 1);
	if (!*buf)
		abort();
	memcpy(*buf + *len, s, n + 1);
	*len += n;
	return true;
}

static const char *write_hosts(json_t *hosts)
{
	char *buf = NULL;
	size_t len = 0;
	append(&buf, &len, "");
	size_t i;
	json_t *h;
	json_array_foreach(hosts, i, h)
	{
		if (!json_is_array(h) || json_array_size(h) < 2) {
			free(buf);
			return pl_os_failf("network: hosts[%zu] must be [address, name, ...]", i);
		}
		json_t *first = json_array_get(h, 0);
		json_t *names = json_array();
		for (size_t k = 1; k < json_array_size(h); k++)
			json_array_append(names, json_array_get(h, k));
		bool ok = word_ok(json_string_value(first)) &&
			  append(&buf, &len, json_string_value(first)) &&
			  append_words(&buf, &len, names, "\t");
		json_decref(names);
		if (!ok) {
			free(buf);
			return pl_os_failf("network: hosts[%zu] holds a bad address or name", i);
		}
		append(&buf, &len, "\n");
	}
	const char *e = write_file("/etc/hosts", buf);
	free(buf);
	return e;
}

static const char *write_resolv(json_t *dns)
{
	char *buf = NULL;
	size_t len = 0;
	append(&buf, &len, "");
	json_t *servers = json_object_get(dns, "servers"), *search = json_object_get(dns, "search"),
	       *options = json_object_get(dns, "options");
	if ((servers && !json_is_array(servers)) || (search && !json_is_array(search)) ||
	    (options && !json_is_array(options))) {
		free(buf);
		return pl_os_failf("network: dns servers, search and options are arrays");
	}
	/* one "nameserver X" line per server */
	bool ok = true;
	size_t i;
	json_t *srv;
	json_array_foreach(servers, i, srv)
	{
		json_t *one = json_pack("[O]", srv);
		ok = ok && append_words(&buf, &len, one, "nameserver ") && append(&buf, &len, "\n");
		json_decref(one);
	}
	if (ok && json_array_size(search)) {
		ok = append(&buf, &len, "search") && append_words(&buf, &len, search, " ");
		append(&buf, &len, "\n");
	}
	if (ok && json_array_size(options)) {
		ok = append(&buf, &len, "options") && append_words(&buf, &len, options, " ");
		append(&buf, &len, "\n");
	}
	if (!ok) {
		free(buf);
		return pl_os_failf("network: dns holds a bad server, search domain or option");
	}
	const char *e = write_file("/etc/resolv.conf", buf);
	free(buf);
	return e;
}

const char *pl_os_net_setup(json_t *net)
{
	static const char *const keys[] = {"interfaces", "routes", "hosts", "dns", NULL};
	if (!json_is_object(net))
		return pl_os_failf("network must be an object");
	for (void *it = json_object_iter(net); it; it = json_object_iter_next(net, it)) {
		bool ok = false;
		for (const char *const *k = keys; *k && !ok; k++)
			ok = strcmp(*k, json_object_iter_key(it)) == 0;
		if (!ok)
			return pl_os_failf("network: unknown field \"%.64s\"",
					   json_object_iter_key(it));
	}
	json_t *ifs = json_object_get(net, "interfaces"), *routes = json_object_get(net, "routes"),
	       *hosts = json_object_get(net, "hosts"), *dns = json_object_get(net, "dns");
	if ((ifs && !json_is_array(ifs)) || (routes && !json_is_array(routes)) ||
	    (hosts && !json_is_array(hosts)) || (dns && !json_is_object(dns)))
		return pl_os_failf(
		    "network: interfaces, routes and hosts are arrays, dns an object");
	int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sk < 0)
		return pl_os_failf("network: socket: %s", strerror(errno));
	const char *e = NULL;
	size_t i;
	json_t *x;
	json_array_foreach(ifs, i, x)
	{
		if (!e)
			e = json_is_object(x)
				? setup_interface(sk, x)
				: pl_os_failf("network: interfaces[%zu] is not an object", i);
	}
	json_array_foreach(routes, i, x)
	{
		if (!e)
			e = json_is_object(x)
				? add_route(sk, x)
				: pl_os_failf("network: routes[%zu] is not an object", i);
	}
	close(sk);
	if (!e && hosts)
		e = write_hosts(hosts);
	if (!e && dns)
		e = write_resolv(dns);
	return e;
}
