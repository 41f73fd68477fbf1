/*
 * proxy_proto.c - parse and build PROXY protocol headers.
 *
 * v1 is "PROXY TCP4|TCP6|UNKNOWN src dst sport dport\r\n", at most 107
 * octets; v2 is a 12-octet signature, a version and command octet, a
 * family and transport octet, a 16-bit length and that many octets of
 * addresses and TLVs.  Parsing is strict where the header carries the
 * client's address (a header that does not parse is refused, not
 * guessed at) and lenient where the specification asks receivers to be:
 * v2 TLVs are skipped unread, and v2 LOCAL, UNSPEC and UNIX headers
 * leave the connection's own endpoints in place.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proxy/proxy_proto.h"

static const unsigned char v2_sig[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
                                         0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};
static const char v1_sig[] = "PROXY ";

#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
#define V2_AF_UNSPEC 0x0
#define V2_AF_INET   0x1
#define V2_AF_INET6  0x2
#define V2_AF_UNIX   0x3
#define V2_TP_UNSPEC 0x0
#define V2_TP_STREAM 0x1
#define V2_INET_LEN  12
#define V2_INET6_LEN 36

static size_t
min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* A decimal port: "0" or 1..5 digits without a leading zero. */
static int
v1_port(const char *s, unsigned int *port_r)
{
	unsigned long n = 0;
	size_t i;

	if (s[0] == '\0' || strlen(s) > 5 || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		n = n * 10 + (unsigned long)(s[i] - '0');
	}
	if (n > 65535)
		return -1;
	*port_r = (unsigned int)n;
	return 0;
}

static int
v1_addr(int family, const char *ip, const char *port, struct netaddr *a)
{
	unsigned int p;

	memset(a, 0, sizeof(*a));
	if (v1_port(port, &p) < 0)
		return -1;
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;

		if (inet_pton(AF_INET, ip, &sin->sin_addr) != 1)
			return -1;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((unsigned short)p);
		a->len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;

		if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) != 1)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((unsigned short)p);
		a->len = sizeof(*sin6);
	}
	return 0;
}

/* Split line at single spaces into at most max words; returns the
 * count, or -1 on an empty word (two spaces, a space at either end). */
static int
v1_split(char *line, char **words, int max)
{
	int n = 0;
	char *p = line, *sp;

	for (;;) {
		if (n == max || *p == '\0' || *p == ' ')
			return -1;
		words[n++] = p;
		sp = strchr(p, ' ');
		if (sp == NULL)
			return n;
		*sp = '\0';
		p = sp + 1;
	}
}

/* The end of a v1 line: the index of its LF, 0 when more input is
 * needed, -1 on a bad octet or no LF within the limit. */
static long
v1_line_end(const unsigned char *buf, size_t len, const char **error_r)
{
	size_t i, n = min_size(len, PROXY_PROTO_V1_MAX);

	for (i = 0; i < n && buf[i] != '\n'; i++) {
		int bad = buf[i] == '\r' ? i + 1 < n && buf[i + 1] != '\n'
		                         : buf[i] < 0x20 || buf[i] > 0x7e;

		if (bad) {
			*error_r = "v1 header with a bad character";
			return -1;
		}
	}
	if (i == n) {
		*error_r = "v1 header too long";
		return len >= PROXY_PROTO_V1_MAX ? -1 : 0;
	}
	if (buf[i - 1] != '\r') {
		*error_r = "v1 header with a bad character";
		return -1;
	}
	return (long)i;
}

static int
v1_parse(const unsigned char *buf, size_t len, struct proxy_proto_header *hdr,
         const char **error_r)
{
	char line[PROXY_PROTO_V1_MAX + 1], *w[6];
	long end = v1_line_end(buf, len, error_r);
	int family;

	if (end <= 0)
		return end == 0 ? 1 : -1;
	memcpy(line, buf, (size_t)end - 1);
	line[end - 1] = '\0';
	hdr->version = 1;
	hdr->len = (size_t)end + 1;
	/* The sender knows no client: whatever follows is to be ignored. */
	if (strncmp(line, "PROXY UNKNOWN", 13) == 0 &&
	    (line[13] == '\0' || line[13] == ' ')) {
		hdr->local = 1;
		return 0;
	}
	*error_r = "v1 header malformed";
	if (v1_split(line, w, 6) != 6)
		return -1;
	if (strcmp(w[1], "TCP4") == 0)
		family = AF_INET;
	else if (strcmp(w[1], "TCP6") == 0)
		family = AF_INET6;
	else
		return -1;
	if (v1_addr(family, w[2], w[4], &hdr->src) < 0 ||
	    v1_addr(family, w[3], w[5], &hdr->dst) < 0)
		return -1;
	return 0;
}

static void
v2_inet(const unsigned char *addr, const unsigned char *port, struct netaddr *a)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;

	memset(a, 0, sizeof(*a));
	sin->sin_family = AF_INET;
	memcpy(&sin->sin_addr, addr, 4);
	memcpy(&sin->sin_port, port, 2);
	a->len = sizeof(*sin);
}

static void
v2_inet6(const unsigned char *addr, const unsigned char *port,
         struct netaddr *a)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;

	memset(a, 0, sizeof(*a));
	sin6->sin6_family = AF_INET6;
	memcpy(&sin6->sin6_addr, addr, 16);
	memcpy(&sin6->sin6_port, port, 2);
	a->len = sizeof(*sin6);
}

/* The address block of a v2 PROXY command. */
static int
v2_addresses(const unsigned char *b, size_t alen, unsigned int family,
             struct proxy_proto_header *hdr, const char **error_r)
{
	const unsigned char *p = b + PROXY_PROTO_V2_HEAD;

	switch (family >> 4) {
	case V2_AF_INET:
		if (alen < V2_INET_LEN)
			break;
		v2_inet(p, p + 8, &hdr->src);
		v2_inet(p + 4, p + 10, &hdr->dst);
		return 0;
	case V2_AF_INET6:
		if (alen < V2_INET6_LEN)
			break;
		v2_inet6(p, p + 32, &hdr->src);
		v2_inet6(p + 16, p + 34, &hdr->dst);
		return 0;
	default:
		*error_r = "v2 header with an unknown address family";
		return -1;
	}
	*error_r = "v2 address block too short";
	return -1;
}

static int
v2_parse(const unsigned char *b, size_t len, struct proxy_proto_header *hdr,
         const char **error_r)
{
	unsigned int cmd, family;
	size_t alen;

	if (len < PROXY_PROTO_V2_HEAD)
		return 1;
	if ((b[12] >> 4) != 2) {
		*error_r = "v2 header with an unknown version";
		return -1;
	}
	cmd = b[12] & 0x0f;
	family = b[13];
	alen = (size_t)b[14] << 8 | b[15];
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY) {
		*error_r = "v2 header with an unknown command";
		return -1;
	}
	if (PROXY_PROTO_V2_HEAD + alen > PROXY_PROTO_V2_MAX) {
		*error_r = "v2 header too long";
		return -1;
	}
	if (len < PROXY_PROTO_V2_HEAD + alen)
		return 1;
	hdr->version = 2;
	hdr->len = PROXY_PROTO_V2_HEAD + alen;
	/* LOCAL is the balancer's own health check; UNSPEC and UNIX name
	 * no TCP client.  Both keep the connection's endpoints. */
	if (cmd == V2_CMD_LOCAL || (family >> 4) == V2_AF_UNSPEC ||
	    (family >> 4) == V2_AF_UNIX) {
		hdr->local = 1;
		return 0;
	}
	if ((family & 0x0f) != V2_TP_STREAM) {
		*error_r = (family & 0x0f) == V2_TP_UNSPEC
		               ? "v2 header with an unspecified transport"
		               : "v2 header for a non-stream transport";
		return -1;
	}
	return v2_addresses(b, alen, family, hdr, error_r);
}

int
proxy_proto_parse(const unsigned char *buf, size_t len,
                  struct proxy_proto_header *hdr, const char **error_r)
{
	size_t n1 = min_size(len, sizeof(v1_sig) - 1);
	size_t n2 = min_size(len, sizeof(v2_sig));

	memset(hdr, 0, sizeof(*hdr));
	*error_r = "no PROXY header";
	if (len == 0)
		return 1;
	if (memcmp(buf, v2_sig, n2) == 0)
		return n2 < sizeof(v2_sig) ? 1
		                           : v2_parse(buf, len, hdr, error_r);
	if (memcmp(buf, v1_sig, n1) == 0)
		return n1 < sizeof(v1_sig) - 1
		           ? 1
		           : v1_parse(buf, len, hdr, error_r);
	return -1;
}

/* The IPv4 address of a, unmapping ::ffff:a.b.c.d; 0 if not IPv4. */
static int
build_v4(const struct netaddr *a, unsigned char addr[4], unsigned char port[2])
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;

	if (a->ss.ss_family == AF_INET) {
		memcpy(addr, &sin->sin_addr, 4);
		memcpy(port, &sin->sin_port, 2);
		return 1;
	}
	if (a->ss.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		memcpy(addr, sin6->sin6_addr.s6_addr + 12, 4);
		memcpy(port, &sin6->sin6_port, 2);
		return 1;
	}
	return 0;
}

static int
build_v6(const struct netaddr *a, unsigned char addr[16], unsigned char port[2])
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;

	if (a->ss.ss_family != AF_INET6)
		return 0;
	memcpy(addr, &sin6->sin6_addr, 16);
	memcpy(port, &sin6->sin6_port, 2);
	return 1;
}

size_t
proxy_proto_v2_build(unsigned char *buf, size_t size, const struct netaddr *src,
                     const struct netaddr *dst)
{
	unsigned char *p = buf + PROXY_PROTO_V2_HEAD;
	size_t alen;

	if (size < PROXY_PROTO_V2_HEAD + V2_INET6_LEN)
		return 0;
	memset(buf, 0, PROXY_PROTO_V2_HEAD + V2_INET6_LEN);
	memcpy(buf, v2_sig, sizeof(v2_sig));
	buf[12] = 0x20 | V2_CMD_PROXY;
	if (build_v4(src, p, p + 8)) {
		buf[13] = V2_AF_INET << 4 | V2_TP_STREAM;
		alen = V2_INET_LEN;
		/* A dst of the other family stays all zero. */
		build_v4(dst, p + 4, p + 10);
	} else if (build_v6(src, p, p + 32)) {
		buf[13] = V2_AF_INET6 << 4 | V2_TP_STREAM;
		alen = V2_INET6_LEN;
		build_v6(dst, p + 16, p + 34);
	} else {
		buf[12] = 0x20 | V2_CMD_LOCAL;
		alen = 0;
	}
	buf[14] = (unsigned char)(alen >> 8);
	buf[15] = (unsigned char)(alen & 0xff);
	return PROXY_PROTO_V2_HEAD + alen;
}
