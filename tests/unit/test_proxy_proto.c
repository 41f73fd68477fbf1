/*
 * test_proxy_proto.c - PROXY protocol headers in proxy/proxy_proto.c.
 *
 * Good v1 and v2 headers give the client and destination they carry;
 * LOCAL, UNSPEC, UNIX and UNKNOWN headers leave the connection's own
 * endpoints; partial headers ask for more; hostile ones (bad signature,
 * truncated, oversized, bad words, NUL and control octets) are refused.
 * Every prefix of a good header asks for more.  A built v2 header
 * parses back to what went in.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "proxy/proxy_proto.h"
#include "util/netaddr.h"
#include "tests/unit/unit.h"

#define SIG "\r\n\r\n\0\r\nQUIT\n"

struct parse_case {
	const char *name;
	const char *in;
	size_t len; /* 0: strlen(in) */
	int rc;     /* want: 0, 1 or -1 */
	int version;
	int local;
	const char *src; /* netaddr_str(), or NULL when local */
	const char *dst;
	size_t hdr_len;
	const char *error; /* for rc -1 */
};

/* v2 PROXY TCP4 127.0.0.5:40000 -> 127.0.0.1:25, no TLVs. */
#define V2_TCP4                                                                \
	SIG "\x21\x11\x00\x0c"                                                 \
	    "\x7f\x00\x00\x05\x7f\x00\x00\x01\x9c\x40\x00\x19"
/* The same with a 7-octet NOOP TLV and a 5-octet ALPN TLV after it. */
#define V2_TCP4_TLV                                                            \
	SIG "\x21\x11\x00\x18"                                                 \
	    "\x7f\x00\x00\x05\x7f\x00\x00\x01\x9c\x40\x00\x19"                 \
	    "\x04\x00\x04xxxx\x01\x00\x02h2"
/* v2 PROXY TCP6 [2001:db8::5]:40000 -> [2001:db8::1]:587. */
#define V2_TCP6                                                                \
	SIG "\x21\x21\x00\x24"                                                 \
	    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05" \
	    "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01" \
	    "\x9c\x40\x02\x4b"

static const struct parse_case parse_cases[] = {
    /* v1 */
    {"v1 tcp4", "PROXY TCP4 192.0.2.5 198.51.100.1 40000 25\r\nEHLO x\r\n", 0,
     0, 1, 0, "192.0.2.5:40000", "198.51.100.1:25", 44, NULL},
    {"v1 tcp6", "PROXY TCP6 2001:db8::5 2001:db8::1 1 65535\r\n", 0, 0, 1, 0,
     "[2001:db8::5]:1", "[2001:db8::1]:65535", 44, NULL},
    {"v1 port zero", "PROXY TCP4 192.0.2.5 192.0.2.1 0 25\r\n", 0, 0, 1, 0,
     "192.0.2.5:0", "192.0.2.1:25", 37, NULL},
    {"v1 unknown alone", "PROXY UNKNOWN\r\n", 0, 0, 1, 1, NULL, NULL, 15, NULL},
    {"v1 unknown with junk after", "PROXY UNKNOWN  whatever  1 2\r\nQUIT\r\n",
     0, 0, 1, 1, NULL, NULL, 30, NULL},
    {"v1 longest tcp6",
     "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
     "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
     0, 0, 1, 0, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
     "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", 104, NULL},
    {"v1 partial signature", "PROX", 0, 1, 0, 0, NULL, NULL, 0, NULL},
    {"v1 partial line", "PROXY TCP4 192.0.2.5 198.51", 0, 1, 0, 0, NULL, NULL,
     0, NULL},
    {"v1 cr without lf yet", "PROXY TCP4 192.0.2.5 192.0.2.1 1 25\r", 0, 1, 0,
     0, NULL, NULL, 0, NULL},
    {"v1 lowercase signature", "proxy TCP4 192.0.2.5 192.0.2.1 1 25\r\n", 0, -1,
     0, 0, NULL, NULL, 0, "no PROXY header"},
    {"v1 tcp4 with ipv6 address", "PROXY TCP4 2001:db8::5 192.0.2.1 1 25\r\n",
     0, -1, 0, 0, NULL, NULL, 0, "v1 header malformed"},
    {"v1 tcp6 with ipv4 address", "PROXY TCP6 192.0.2.5 192.0.2.1 1 25\r\n", 0,
     -1, 0, 0, NULL, NULL, 0, "v1 header malformed"},
    {"v1 unknown protocol", "PROXY UDP4 192.0.2.5 192.0.2.1 1 25\r\n", 0, -1, 0,
     0, NULL, NULL, 0, "v1 header malformed"},
    {"v1 port too big", "PROXY TCP4 192.0.2.5 192.0.2.1 65536 25\r\n", 0, -1, 0,
     0, NULL, NULL, 0, "v1 header malformed"},
    {"v1 port with leading zero", "PROXY TCP4 192.0.2.5 192.0.2.1 025 25\r\n",
     0, -1, 0, 0, NULL, NULL, 0, "v1 header malformed"},
    {"v1 port signed", "PROXY TCP4 192.0.2.5 192.0.2.1 +25 25\r\n", 0, -1, 0, 0,
     NULL, NULL, 0, "v1 header malformed"},
    {"v1 double space", "PROXY TCP4  192.0.2.5 192.0.2.1 1 25\r\n", 0, -1, 0, 0,
     NULL, NULL, 0, "v1 header malformed"},
    {"v1 missing port", "PROXY TCP4 192.0.2.5 192.0.2.1 1\r\n", 0, -1, 0, 0,
     NULL, NULL, 0, "v1 header malformed"},
    {"v1 extra word", "PROXY TCP4 192.0.2.5 192.0.2.1 1 25 x\r\n", 0, -1, 0, 0,
     NULL, NULL, 0, "v1 header malformed"},
    {"v1 trailing space", "PROXY TCP4 192.0.2.5 192.0.2.1 1 25 \r\n", 0, -1, 0,
     0, NULL, NULL, 0, "v1 header malformed"},
    {"v1 bare lf", "PROXY TCP4 192.0.2.5 192.0.2.1 1 25\n", 0, -1, 0, 0, NULL,
     NULL, 0, "v1 header with a bad character"},
    {"v1 cr inside", "PROXY TCP4 192.0.2.5\r192.0.2.1 1 25\r\n", 0, -1, 0, 0,
     NULL, NULL, 0, "v1 header with a bad character"},
    {"v1 nul inside", "PROXY TCP4 192.0.2.5\0 192.0.2.1 1 25\r\n", 38, -1, 0, 0,
     NULL, NULL, 0, "v1 header with a bad character"},
    {"v1 eight-bit octet", "PROXY TCP4 192.0.2.5\xff 192.0.2.1 1 25\r\n", 0, -1,
     0, 0, NULL, NULL, 0, "v1 header with a bad character"},
    {"v1 no crlf within 107 octets",
     "PROXY UNKNOWN "
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxx",
     0, -1, 0, 0, NULL, NULL, 0, "v1 header too long"},
    {"v1 crlf just past 107 octets",
     "PROXY UNKNOWN "
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
     0, -1, 0, 0, NULL, NULL, 0, "v1 header too long"},
    /* not a header at all */
    {"smtp command", "EHLO client.example\r\n", 0, -1, 0, 0, NULL, NULL, 0,
     "no PROXY header"},
    {"tls client hello", "\x16\x03\x01\x02\x00\x01", 6, -1, 0, 0, NULL, NULL, 0,
     "no PROXY header"},
    {"nothing yet", "", 0, 1, 0, 0, NULL, NULL, 0, NULL},
    /* v2 */
    {"v2 tcp4", V2_TCP4 "EHLO x\r\n", 36, 0, 2, 0, "127.0.0.5:40000",
     "127.0.0.1:25", 28, NULL},
    {"v2 tcp4 with tlvs skipped", V2_TCP4_TLV, 40, 0, 2, 0, "127.0.0.5:40000",
     "127.0.0.1:25", 40, NULL},
    {"v2 tcp6", V2_TCP6, 52, 0, 2, 0, "[2001:db8::5]:40000",
     "[2001:db8::1]:587", 52, NULL},
    {"v2 local", SIG "\x20\x00\x00\x00", 16, 0, 2, 1, NULL, NULL, 16, NULL},
    {"v2 local with an address block ignored",
     SIG "\x20\x11\x00\x0c\x7f\x00\x00\x05\x7f\x00\x00\x01\x9c\x40\x00\x19", 28,
     0, 2, 1, NULL, NULL, 28, NULL},
    {"v2 proxy af_unspec", SIG "\x21\x00\x00\x00", 16, 0, 2, 1, NULL, NULL, 16,
     NULL},
    {"v2 proxy af_unix skipped", SIG "\x21\x31\x00\x04/s\0\0", 20, 0, 2, 1,
     NULL, NULL, 20, NULL},
    {"v2 partial signature", SIG, 7, 1, 0, 0, NULL, NULL, 0, NULL},
    {"v2 signature only", SIG, 12, 1, 0, 0, NULL, NULL, 0, NULL},
    {"v2 truncated address block", V2_TCP4, 27, 1, 0, 0, NULL, NULL, 0, NULL},
    {"v2 bad signature", "\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x0c", 16, -1, 0, 0,
     NULL, NULL, 0, "no PROXY header"},
    {"v2 version 1", SIG "\x11\x11\x00\x0c", 16, -1, 0, 0, NULL, NULL, 0,
     "v2 header with an unknown version"},
    {"v2 version 3", SIG "\x31\x11\x00\x0c", 16, -1, 0, 0, NULL, NULL, 0,
     "v2 header with an unknown version"},
    {"v2 unknown command", SIG "\x22\x11\x00\x0c", 16, -1, 0, 0, NULL, NULL, 0,
     "v2 header with an unknown command"},
    {"v2 oversized", SIG "\x21\x11\xff\xff", 16, -1, 0, 0, NULL, NULL, 0,
     "v2 header too long"},
    {"v2 just over the limit", SIG "\x21\x11\x10\x01", 16, -1, 0, 0, NULL, NULL,
     0, "v2 header too long"},
    {"v2 tcp4 block too short",
     SIG "\x21\x11\x00\x08\x7f\x00\x00\x05\x7f\x00\x00\x01", 24, -1, 0, 0, NULL,
     NULL, 0, "v2 address block too short"},
    {"v2 tcp6 block too short",
     SIG "\x21\x21\x00\x0c"
         "123456789012",
     28, -1, 0, 0, NULL, NULL, 0, "v2 address block too short"},
    {"v2 udp4",
     SIG "\x21\x12\x00\x0c"
         "123456789012",
     28, -1, 0, 0, NULL, NULL, 0, "v2 header for a non-stream transport"},
    {"v2 inet unspecified transport",
     SIG "\x21\x10\x00\x0c"
         "123456789012",
     28, -1, 0, 0, NULL, NULL, 0, "v2 header with an unspecified transport"},
    {"v2 unknown family",
     SIG "\x21\x41\x00\x0c"
         "123456789012",
     28, -1, 0, 0, NULL, NULL, 0, "v2 header with an unknown address family"},
};

static size_t
case_len(const struct parse_case *c)
{
	return c->len ? c->len : strlen(c->in);
}

static void
check_addr(const char *name, const char *what, const struct netaddr *a,
           const char *want)
{
	char buf[NETADDR_STRLEN];

	if (want == NULL)
		check_int(name, what, a->len, 0);
	else
		check_str(name, what, netaddr_str(a, buf, sizeof(buf)), want);
}

static void
check_case(const struct parse_case *c)
{
	struct proxy_proto_header h;
	const char *error = NULL;
	int rc;

	rc = proxy_proto_parse((const unsigned char *)c->in, case_len(c), &h,
	                       &error);
	check_int(c->name, "rc", rc, c->rc);
	if (rc == -1 && c->error != NULL)
		check_str(c->name, "error", error, c->error);
	if (rc != 0)
		return;
	check_int(c->name, "version", h.version, c->version);
	check_int(c->name, "local", h.local, c->local);
	check_int(c->name, "len", (long long)h.len, (long long)c->hdr_len);
	check_addr(c->name, "src", &h.src, c->src);
	check_addr(c->name, "dst", &h.dst, c->dst);
}

static void
test_proxy_proto_parse(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(parse_cases); i++)
		check_case(&parse_cases[i]);
}

/* Every proper prefix of a good header asks for more input. */
static void
test_proxy_proto_prefixes(void **state)
{
	struct proxy_proto_header h;
	const char *error;
	int failed = 0;
	size_t i, n;

	for (i = 0; i < ARRAY_LEN(parse_cases); i++) {
		const struct parse_case *c = &parse_cases[i];

		if (c->rc != 0)
			continue;
		for (n = 0; n < c->hdr_len; n++) {
			int rc = proxy_proto_parse((const unsigned char *)c->in,
			                           n, &h, &error);

			if (rc != 1) {
				print_error("%s: prefix %zu: got rc %d, want "
				            "1\n",
				            c->name, n, rc);
				failed = 1;
			}
		}
	}
	if (failed)
		fail();
}

struct build_case {
	const char *name;
	const char *src; /* "ip port" */
	const char *dst;
	size_t want_len;
	int want_local;
	const char *want_src;
	const char *want_dst;
};

static const struct build_case build_cases[] = {
    {"ipv4", "127.0.0.5 40000", "127.0.0.1 25", 28, 0, "127.0.0.5:40000",
     "127.0.0.1:25"},
    {"ipv6", "2001:db8::5 1", "2001:db8::1 587", 52, 0, "[2001:db8::5]:1",
     "[2001:db8::1]:587"},
    {"ipv4-mapped is ipv4", "::ffff:192.0.2.7 2000", "::ffff:192.0.2.1 25", 28,
     0, "192.0.2.7:2000", "192.0.2.1:25"},
    {"ipv4 client, ipv6 destination", "192.0.2.7 2000", "::1 25", 28, 0,
     "192.0.2.7:2000", "0.0.0.0:0"},
    {"ipv6 client, ipv4 destination", "::1 2000", "192.0.2.1 25", 52, 0,
     "[::1]:2000", "[::]:0"},
    {"no client address is local", NULL, "192.0.2.1 25", 16, 1, NULL, NULL},
};

static void
make_addr(const char *spec, struct netaddr *a)
{
	char ip[64];
	unsigned int port;

	memset(a, 0, sizeof(*a));
	if (spec == NULL)
		return;
	if (sscanf(spec, "%63s %u", ip, &port) != 2 ||
	    netaddr_parse_ip(ip, a) < 0)
		fail_msg("bad test address %s", spec);
	netaddr_set_port(a, port);
}

static void
check_build(const struct build_case *c)
{
	unsigned char buf[PROXY_PROTO_V2_HEAD + 36];
	struct proxy_proto_header h;
	struct netaddr src, dst;
	const char *error;
	size_t n;

	make_addr(c->src, &src);
	make_addr(c->dst, &dst);
	n = proxy_proto_v2_build(buf, sizeof(buf), &src, &dst);
	check_int(c->name, "len", (long long)n, (long long)c->want_len);
	check_int(c->name, "parse", proxy_proto_parse(buf, n, &h, &error), 0);
	check_int(c->name, "parsed len", (long long)h.len, (long long)n);
	check_int(c->name, "local", h.local, c->want_local);
	check_addr(c->name, "src", &h.src, c->want_src);
	check_addr(c->name, "dst", &h.dst, c->want_dst);
}

static void
test_proxy_proto_build(void **state)
{
	unsigned char small[PROXY_PROTO_V2_HEAD + 35];
	struct netaddr a;
	size_t i;

	for (i = 0; i < ARRAY_LEN(build_cases); i++)
		check_build(&build_cases[i]);
	make_addr("127.0.0.1 25", &a);
	check_int("small buffer", "len",
	          (long long)proxy_proto_v2_build(small, sizeof(small), &a, &a),
	          0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_proxy_proto_parse),
	    cmocka_unit_test(test_proxy_proto_prefixes),
	    cmocka_unit_test(test_proxy_proto_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
