/*
 * netaddr.h - socket addresses and network lists.
 *
 * Parses the address forms used in postern's configuration and in
 * XCLIENT/XFORWARD, formats addresses for logs and headers, and matches
 * addresses against lists of CIDR networks.  IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d) match IPv4 networks.  Knows nothing of mail.
 */
#ifndef POSTERN_NETADDR_H
#define POSTERN_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

/* Room for "[ipv6%scope]:65535" or a unix socket path. */
#define NETADDR_STRLEN 128

struct netaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/*
 * Parse an endpoint: "1.2.3.4:25", "[::1]:25", "host.name:25" is NOT
 * accepted (no DNS at config time), "unix:/path/to/socket".  When
 * default_port is non-zero the ":port" part may be omitted.  Returns 0,
 * or -1 with a static reason in *error_r.
 */
int netaddr_parse_endpoint(const char *s, unsigned int default_port,
                           struct netaddr *out, const char **error_r);

/*
 * Parse a bare IP address ("1.2.3.4", "::1", "IPv6:::1" as XCLIENT
 * sends it, or "[::1]").  Port is set to 0.  Returns 0 or -1.
 */
int netaddr_parse_ip(const char *s, struct netaddr *out);

/* Set the port of an AF_INET or AF_INET6 address. */
void netaddr_set_port(struct netaddr *a, unsigned int port);
/* Port of an AF_INET or AF_INET6 address, 0 for others. */
unsigned int netaddr_port(const struct netaddr *a);

/* Address alone ("1.2.3.4", "::1", "unix:/path") into buf; returns buf. */
char *netaddr_ip_str(const struct netaddr *a, char *buf, size_t size);
/* Address with port ("1.2.3.4:25", "[::1]:25"); returns buf. */
char *netaddr_str(const struct netaddr *a, char *buf, size_t size);

/* 1 if both hold the same IP address (ports ignored), else 0.  An
 * IPv4-mapped IPv6 address equals its IPv4 address. */
int netaddr_ip_equal(const struct netaddr *a, const struct netaddr *b);

/*
 * Turn off Nagle on a TCP socket: SMTP is request-reply, and a small
 * write behind a large one must not wait for a delayed ACK.  A no-op on
 * other sockets.
 */
void netaddr_tcp_nodelay(int fd);

/*
 * 0 when this host can send from IP address a (a TCP socket binds to
 * it, port 0); else -1 with errno set (EADDRNOTAVAIL: not one of ours).
 * For checking a configured source address when it is read, not at the
 * first connection that needs it.
 */
int netaddr_is_local(const struct netaddr *a);

/* A list of CIDR networks. */
struct netlist;

struct netlist *netlist_new(void);
void netlist_free(struct netlist **list);

/*
 * Add "1.2.3.0/24", "2001:db8::/32", or a bare address (host route).
 * Host bits set below the prefix are an error.  Returns 0, or -1 with a
 * static reason in *error_r.
 */
int netlist_add(struct netlist *list, const char *cidr, const char **error_r);

/* 1 if the address is inside one of the networks, else 0. */
int netlist_match(const struct netlist *list, const struct netaddr *a);

/* Number of networks in the list. */
size_t netlist_count(const struct netlist *list);

/*
 * Network i (0 to netlist_count() - 1) in buf as "a.b.c.d/n" or
 * "x::/n", in the order added; a bare address shows its full prefix
 * and an IPv4-mapped network its IPv4 form.  Returns buf, or NULL when
 * i is out of range or the text does not fit (NETADDR_STRLEN does).
 */
const char *netlist_get(const struct netlist *list, size_t i, char *buf,
                        size_t size);

#endif
