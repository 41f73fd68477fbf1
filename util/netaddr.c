/*
 * netaddr.c - parse, format and match socket addresses.
 *
 * Accepts numeric addresses only: configuration is parsed without DNS,
 * and XCLIENT/XFORWARD values come from the network and must not cause
 * lookups.  IPv4 uses inet_pton's strict dotted quad (no "127.1", no
 * leading zeros).  An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is
 * treated as its IPv4 address when comparing and matching; a mapped
 * network with a prefix of 96 or more is stored as the IPv4 network.
 * IPv6 networks shorter than /96 (::/0 included) never match IPv4
 * clients, so the two families are always configured separately.
 * Errors are static strings; nothing here logs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/netaddr.h"
#include "util/xalloc.h"

/* Longest textual IP we accept, brackets and "IPv6:" included. */
#define NETADDR_IP_MAX 64

struct netnet {
	int family; /* AF_INET or AF_INET6 */
	unsigned int prefix;
	uint8_t addr[16]; /* 4 octets used for AF_INET */
};

struct netlist {
	struct netnet *nets;
	size_t count;
	size_t alloc;
};

static int
netaddr_set_ip(const char *s, int family, struct netaddr *out)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

	memset(out, 0, sizeof(*out));
	if (family == AF_INET) {
		if (inet_pton(AF_INET, s, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		out->len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) != 1)
		return -1;
	sin6->sin6_family = AF_INET6;
	out->len = sizeof(*sin6);
	return 0;
}

int
netaddr_parse_ip(const char *s, struct netaddr *out)
{
	char buf[NETADDR_IP_MAX];
	size_t len;

	len = strnlen(s, sizeof(buf));
	if (len == 0 || len >= sizeof(buf))
		return -1;
	if (strncasecmp(s, "IPv6:", 5) == 0)
		return netaddr_set_ip(s + 5, AF_INET6, out);
	if (s[0] == '[') {
		if (len < 3 || s[len - 1] != ']')
			return -1;
		memcpy(buf, s + 1, len - 2);
		buf[len - 2] = '\0';
		return netaddr_set_ip(buf, AF_INET6, out);
	}
	if (strchr(s, ':') != NULL)
		return netaddr_set_ip(s, AF_INET6, out);
	return netaddr_set_ip(s, AF_INET, out);
}

static int
netaddr_parse_port(const char *s, unsigned int *port_r)
{
	unsigned long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > 65535)
			return -1;
	}
	if (v == 0)
		return -1;
	*port_r = (unsigned int)v;
	return 0;
}

static int
netaddr_parse_unix(const char *path, struct netaddr *out, const char **error_r)
{
	struct sockaddr_un *su = (struct sockaddr_un *)&out->ss;
	size_t len = strlen(path);

	if (len == 0) {
		*error_r = "empty unix socket path";
		return -1;
	}
	if (len >= sizeof(su->sun_path)) {
		*error_r = "unix socket path too long";
		return -1;
	}
	memset(out, 0, sizeof(*out));
	su->sun_family = AF_UNIX;
	memcpy(su->sun_path, path, len + 1);
	out->len =
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
	return 0;
}

/*
 * Split s into host and port text: "[v6]:port", "v4:port", or the host
 * alone.  *port_r is NULL when there is no port.
 */
static int
netaddr_split_endpoint(const char *s, char *host, size_t size,
                       const char **port_r, const char **error_r)
{
	const char *end, *colon;
	size_t len;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
			*error_r = "bad bracketed IPv6 address";
			return -1;
		}
		end++;
	} else {
		colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			*error_r = "IPv6 address needs [brackets] and a port";
			return -1;
		}
		end = colon != NULL ? colon : s + strlen(s);
	}
	len = (size_t)(end - s);
	if (len >= size) {
		*error_r = "address too long";
		return -1;
	}
	memcpy(host, s, len);
	host[len] = '\0';
	*port_r = *end == ':' ? end + 1 : NULL;
	return 0;
}

int
netaddr_parse_endpoint(const char *s, unsigned int default_port,
                       struct netaddr *out, const char **error_r)
{
	char host[NETADDR_IP_MAX];
	const char *port_str;
	unsigned int port = default_port;

	if (strncmp(s, "unix:", 5) == 0)
		return netaddr_parse_unix(s + 5, out, error_r);
	if (netaddr_split_endpoint(s, host, sizeof(host), &port_str, error_r) <
	    0)
		return -1;
	if (port_str == NULL && default_port == 0) {
		*error_r = "missing :port";
		return -1;
	}
	if (port_str != NULL && netaddr_parse_port(port_str, &port) < 0) {
		*error_r = "bad port (want 1-65535)";
		return -1;
	}
	if (host[0] == '\0' || netaddr_parse_ip(host, out) < 0) {
		*error_r = "not a numeric IP address";
		return -1;
	}
	netaddr_set_port(out, port);
	return 0;
}

void
netaddr_set_port(struct netaddr *a, unsigned int port)
{
	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port =
		    htons((uint16_t)port);
	else if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port =
		    htons((uint16_t)port);
}

unsigned int
netaddr_port(const struct netaddr *a)
{
	if (a->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return 0;
}

static void
netaddr_unix_str(const struct netaddr *a, char *buf, size_t size)
{
	const struct sockaddr_un *su = (const struct sockaddr_un *)&a->ss;
	size_t off = offsetof(struct sockaddr_un, sun_path), max = 0;

	/* An unnamed peer has no path; accept() may give no NUL either. */
	if (a->len > off)
		max = a->len - off;
	if (max > sizeof(su->sun_path))
		max = sizeof(su->sun_path);
	snprintf(buf, size, "unix:%.*s", (int)strnlen(su->sun_path, max),
	         su->sun_path);
}

char *
netaddr_ip_str(const struct netaddr *a, char *buf, size_t size)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;
	char ip[INET6_ADDRSTRLEN];

	if (size == 0)
		return buf;
	switch (a->ss.ss_family) {
	case AF_INET:
		inet_ntop(AF_INET,
		          &((const struct sockaddr_in *)&a->ss)->sin_addr, ip,
		          sizeof(ip));
		snprintf(buf, size, "%s", ip);
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		if (sin6->sin6_scope_id != 0)
			snprintf(buf, size, "%s%%%u", ip,
			         (unsigned int)sin6->sin6_scope_id);
		else
			snprintf(buf, size, "%s", ip);
		break;
	case AF_UNIX:
		netaddr_unix_str(a, buf, size);
		break;
	default:
		snprintf(buf, size, "unknown");
		break;
	}
	return buf;
}

char *
netaddr_str(const struct netaddr *a, char *buf, size_t size)
{
	char ip[NETADDR_STRLEN];

	if (size == 0)
		return buf;
	netaddr_ip_str(a, ip, sizeof(ip));
	if (a->ss.ss_family == AF_INET)
		snprintf(buf, size, "%s:%u", ip, netaddr_port(a));
	else if (a->ss.ss_family == AF_INET6)
		snprintf(buf, size, "[%s]:%u", ip, netaddr_port(a));
	else
		snprintf(buf, size, "%s", ip);
	return buf;
}

/*
 * The IP of a as (family, octets), with an IPv4-mapped IPv6 address
 * turned into AF_INET.  Returns the family, or 0 for a non-IP address.
 */
static int
netaddr_ip_octets(const struct netaddr *a, uint8_t out[16])
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;

	if (a->ss.ss_family == AF_INET) {
		memcpy(out, &sin->sin_addr, 4);
		return AF_INET;
	}
	if (a->ss.ss_family != AF_INET6)
		return 0;
	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		memcpy(out, sin6->sin6_addr.s6_addr + 12, 4);
		return AF_INET;
	}
	memcpy(out, sin6->sin6_addr.s6_addr, 16);
	return AF_INET6;
}

int
netaddr_ip_equal(const struct netaddr *a, const struct netaddr *b)
{
	uint8_t oa[16], ob[16];
	int fa, fb;

	fa = netaddr_ip_octets(a, oa);
	fb = netaddr_ip_octets(b, ob);
	if (fa == 0 || fa != fb)
		return 0;
	return memcmp(oa, ob, fa == AF_INET ? 4 : 16) == 0;
}

struct netlist *
netlist_new(void)
{
	return xcalloc(1, sizeof(struct netlist));
}

void
netlist_free(struct netlist **list)
{
	if (*list == NULL)
		return;
	free((*list)->nets);
	free(*list);
	*list = NULL;
}

static int
netlist_parse_prefix(const char *s, unsigned int max, unsigned int *prefix_r)
{
	unsigned int v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned int)(*s - '0');
		if (v > max)
			return -1;
	}
	*prefix_r = v;
	return 0;
}

/* 1 if a bit of addr at or after position prefix is set. */
static int
netlist_host_bits(const uint8_t *addr, unsigned int bits, unsigned int prefix)
{
	unsigned int i;

	for (i = prefix; i < bits; i++) {
		if (addr[i / 8] & (0x80u >> (i % 8)))
			return 1;
	}
	return 0;
}

/* Split "addr/prefix" and parse the address part. */
static int
netlist_parse_net(const char *cidr, struct netnet *net, const char **slash_r,
                  const char **error_r)
{
	char buf[NETADDR_IP_MAX];
	const char *slash;
	struct netaddr a;
	size_t len;

	slash = strchr(cidr, '/');
	len = slash != NULL ? (size_t)(slash - cidr) : strlen(cidr);
	if (len >= sizeof(buf)) {
		*error_r = "network address too long";
		return -1;
	}
	memcpy(buf, cidr, len);
	buf[len] = '\0';
	if (netaddr_parse_ip(buf, &a) < 0) {
		*error_r = "not a numeric IP network";
		return -1;
	}
	memset(net, 0, sizeof(*net));
	net->family = netaddr_ip_octets(&a, net->addr);
	/* A mapped address written as IPv6 counts its prefix from bit 96. */
	net->prefix =
	    a.ss.ss_family == AF_INET6 && net->family == AF_INET ? 96 : 0;
	*slash_r = slash;
	return 0;
}

int
netlist_add(struct netlist *list, const char *cidr, const char **error_r)
{
	struct netnet net;
	const char *slash;
	unsigned int bits, offset, prefix;

	if (netlist_parse_net(cidr, &net, &slash, error_r) < 0)
		return -1;
	offset = net.prefix;
	bits = offset + (net.family == AF_INET ? 32 : 128);
	prefix = bits;
	if (slash != NULL &&
	    netlist_parse_prefix(slash + 1, bits, &prefix) < 0) {
		*error_r = "bad prefix length";
		return -1;
	}
	if (offset != 0 && prefix < offset) {
		/* NOTE: IPv6 nets wider than ::ffff:0:0/96 never match IPv4. */
		*error_r = "IPv4-mapped network shorter than /96";
		return -1;
	}
	net.prefix = prefix - offset;
	if (netlist_host_bits(net.addr, bits - offset, net.prefix)) {
		*error_r = "host bits set below the prefix";
		return -1;
	}
	if (list->count == list->alloc) {
		list->alloc = list->alloc == 0 ? 8 : list->alloc * 2;
		list->nets =
		    xreallocarray(list->nets, list->alloc, sizeof(*list->nets));
	}
	list->nets[list->count++] = net;
	return 0;
}

static int
netnet_contains(const struct netnet *net, int family, const uint8_t *addr)
{
	unsigned int full = net->prefix / 8, rest = net->prefix % 8;
	uint8_t mask;

	if (net->family != family)
		return 0;
	if (memcmp(net->addr, addr, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (uint8_t)(0xff00u >> rest);
	return (addr[full] & mask) == net->addr[full];
}

int
netlist_match(const struct netlist *list, const struct netaddr *a)
{
	uint8_t addr[16];
	int family;
	size_t i;

	family = netaddr_ip_octets(a, addr);
	if (family == 0)
		return 0;
	for (i = 0; i < list->count; i++) {
		if (netnet_contains(&list->nets[i], family, addr))
			return 1;
	}
	return 0;
}

size_t
netlist_count(const struct netlist *list)
{
	return list->count;
}

const char *
netlist_get(const struct netlist *list, size_t i, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];
	const struct netnet *net;
	int n;

	if (i >= list->count)
		return NULL;
	net = &list->nets[i];
	if (inet_ntop(net->family, net->addr, ip, sizeof(ip)) == NULL)
		return NULL;
	n = snprintf(buf, size, "%s/%u", ip, net->prefix);
	if (n < 0 || (size_t)n >= size)
		return NULL;
	return buf;
}

void
netaddr_tcp_nodelay(int fd)
{
	int one = 1;

	/* Fails with EOPNOTSUPP on unix sockets, which is fine. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
netaddr_is_local(const struct netaddr *a)
{
	struct netaddr any = *a;
	int fd, r, saved;

	netaddr_set_port(&any, 0);
	fd = socket(any.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	r = bind(fd, (const struct sockaddr *)&any.ss, any.len);
	saved = errno;
	close(fd);
	errno = saved;
	return r < 0 ? -1 : 0;
}
