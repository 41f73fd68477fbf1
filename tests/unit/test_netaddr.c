/*
 * test_netaddr.c - endpoint and IP parsing, formatting, equality and
 * CIDR list matching in util/netaddr.c.
 */
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "util/netaddr.h"
#include "tests/unit/unit.h"

/* 107 octets: the longest path sun_path holds with its NUL. */
#define PATH_107                                                               \
	"/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"                   \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"                   \
	"aaaaaaa"

static const char *
family_name(int family)
{
	switch (family) {
	case AF_INET:
		return "AF_INET";
	case AF_INET6:
		return "AF_INET6";
	case AF_UNIX:
		return "AF_UNIX";
	default:
		return "other";
	}
}

static const struct endpoint_good {
	const char *name;
	const char *in;
	unsigned int default_port;
	int family;
	const char *want;
} endpoint_good[] = {
    {"ipv4 with port", "127.0.0.1:25", 0, AF_INET, "127.0.0.1:25"},
    {"ipv6 bracketed with port", "[::1]:2525", 0, AF_INET6, "[::1]:2525"},
    {"ipv4 takes the default port", "127.0.0.1", 25, AF_INET, "127.0.0.1:25"},
    {"ipv6 takes the default port", "[::1]", 587, AF_INET6, "[::1]:587"},
    {"explicit port beats default", "127.0.0.1:10025", 25, AF_INET,
     "127.0.0.1:10025"},
    {"highest port", "127.0.0.1:65535", 0, AF_INET, "127.0.0.1:65535"},
    {"port with leading zeros", "127.0.0.1:0025", 0, AF_INET, "127.0.0.1:25"},
    {"ipv4-mapped ipv6", "[::ffff:127.0.0.1]:25", 0, AF_INET6,
     "[::ffff:127.0.0.1]:25"},
    {"unix socket", "unix:/run/postern/smtpd.sock", 0, AF_UNIX,
     "unix:/run/postern/smtpd.sock"},
    {"unix socket ignores default port", "unix:/tmp/s", 25, AF_UNIX,
     "unix:/tmp/s"},
    {"unix path of the longest size", "unix:" PATH_107, 0, AF_UNIX,
     "unix:" PATH_107},
};

static void
test_endpoint_good(void **state)
{
	char buf[NETADDR_STRLEN];
	const char *error = NULL;
	struct netaddr a;
	size_t i;

	for (i = 0; i < ARRAY_LEN(endpoint_good); i++) {
		const struct endpoint_good *c = &endpoint_good[i];

		if (netaddr_parse_endpoint(c->in, c->default_port, &a, &error) <
		    0)
			fail_msg("%s: parse \"%s\" got error \"%s\", want ok",
			         c->name, c->in, error);
		if (a.ss.ss_family != c->family)
			fail_msg("%s: got family %s, want %s", c->name,
			         family_name(a.ss.ss_family),
			         family_name(c->family));
		netaddr_str(&a, buf, sizeof(buf));
		if (strcmp(buf, c->want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", c->name, buf,
			         c->want);
	}
}

static const struct endpoint_bad {
	const char *name;
	const char *in;
	unsigned int default_port;
} endpoint_bad[] = {
    {"host name needs dns", "localhost:25", 0},
    {"host name with default port", "localhost", 25},
    {"missing port without default", "127.0.0.1", 0},
    {"missing port on ipv6 without default", "[::1]", 0},
    {"port zero", "127.0.0.1:0", 0},
    {"port too large", "127.0.0.1:65536", 0},
    {"port overflowing long", "127.0.0.1:99999999999999999999999", 0},
    {"empty port", "127.0.0.1:", 25},
    {"signed port", "127.0.0.1:+25", 0},
    {"negative port", "127.0.0.1:-1", 0},
    {"port with junk", "127.0.0.1:25x", 0},
    {"port with space", "127.0.0.1: 25", 0},
    {"unbracketed ipv6 with port", "::1:25", 0},
    {"unbracketed ipv6 with default", "::1", 25},
    {"unclosed bracket", "[::1:25", 0},
    {"junk after bracket", "[::1]x25", 0},
    {"ipv4 in brackets", "[127.0.0.1]:25", 0},
    {"empty brackets", "[]:25", 0},
    {"empty string", "", 25},
    {"port only", ":25", 0},
    {"octet above 255", "127.0.0.256:25", 0},
    {"short ipv4 form", "127.1:25", 0},
    {"octal-looking octet", "127.0.0.01:25", 0},
    {"xclient form is not an endpoint", "IPv6:::1", 25},
    {"empty unix path", "unix:", 0},
    {"unix path one too long", "unix:" PATH_107 "a", 0},
    {"scope id", "[fe80::1%lo]:25", 0},
    {"very long address",
     "[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0001]:25", 0},
};

static void
test_endpoint_bad(void **state)
{
	const char *error = NULL;
	struct netaddr a;
	size_t i;

	for (i = 0; i < ARRAY_LEN(endpoint_bad); i++) {
		const struct endpoint_bad *c = &endpoint_bad[i];

		error = NULL;
		if (netaddr_parse_endpoint(c->in, c->default_port, &a,
		                           &error) == 0)
			fail_msg("%s: parse \"%s\" got ok, want error", c->name,
			         c->in);
		if (error == NULL || error[0] == '\0')
			fail_msg("%s: got no error text, want a reason",
			         c->name);
	}
}

static const struct ip_good {
	const char *name;
	const char *in;
	int family;
	const char *want;
} ip_good[] = {
    {"ipv4", "127.0.0.1", AF_INET, "127.0.0.1"},
    {"ipv4 all zero", "0.0.0.0", AF_INET, "0.0.0.0"},
    {"ipv6 loopback", "::1", AF_INET6, "::1"},
    {"ipv6 full form is shortened", "2001:0db8:0000:0000:0000:0000:0000:0001",
     AF_INET6, "2001:db8::1"},
    {"ipv6 in brackets", "[::1]", AF_INET6, "::1"},
    {"xclient ipv6 prefix", "IPv6:::1", AF_INET6, "::1"},
    {"xclient prefix lowercase", "ipv6:2001:db8::5", AF_INET6, "2001:db8::5"},
    {"xclient prefix uppercase, mapped", "IPV6:::ffff:127.0.0.1", AF_INET6,
     "::ffff:127.0.0.1"},
};

static void
test_ip_good(void **state)
{
	char buf[NETADDR_STRLEN];
	struct netaddr a;
	size_t i;

	for (i = 0; i < ARRAY_LEN(ip_good); i++) {
		const struct ip_good *c = &ip_good[i];

		if (netaddr_parse_ip(c->in, &a) < 0)
			fail_msg("%s: parse \"%s\" got error, want ok", c->name,
			         c->in);
		if (a.ss.ss_family != c->family)
			fail_msg("%s: got family %s, want %s", c->name,
			         family_name(a.ss.ss_family),
			         family_name(c->family));
		if (netaddr_port(&a) != 0)
			fail_msg("%s: got port %u, want 0", c->name,
			         netaddr_port(&a));
		netaddr_ip_str(&a, buf, sizeof(buf));
		if (strcmp(buf, c->want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", c->name, buf,
			         c->want);
	}
}

static const struct ip_bad {
	const char *name;
	const char *in;
} ip_bad[] = {
    {"empty", ""},
    {"host name", "localhost"},
    {"ipv4 with port", "127.0.0.1:25"},
    {"bracketed with port", "[::1]:25"},
    {"xclient prefix on ipv4", "IPv6:127.0.0.1"},
    {"xclient prefix alone", "IPv6:"},
    {"ipv4 in brackets", "[127.0.0.1]"},
    {"unclosed bracket", "[::1"},
    {"stray closing bracket", "::1]"},
    {"empty brackets", "[]"},
    {"short ipv4 form", "127.1"},
    {"octal-looking octet", "127.0.0.01"},
    {"trailing space", "127.0.0.1 "},
    {"leading space", " 127.0.0.1"},
    {"two double colons", "::1::2"},
    {"scope id", "fe80::1%lo"},
    {"over-long text",
     "0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0001"},
};

static void
test_ip_bad(void **state)
{
	struct netaddr a;
	size_t i;

	for (i = 0; i < ARRAY_LEN(ip_bad); i++) {
		if (netaddr_parse_ip(ip_bad[i].in, &a) == 0)
			fail_msg("%s: parse \"%s\" got ok, want error",
			         ip_bad[i].name, ip_bad[i].in);
	}
}

static void
test_port_set_get(void **state)
{
	char buf[NETADDR_STRLEN];
	const char *error;
	struct netaddr a;

	assert_int_equal(netaddr_parse_endpoint("[::1]:25", 0, &a, &error), 0);
	netaddr_set_port(&a, 10026);
	assert_int_equal(netaddr_port(&a), 10026);
	assert_string_equal(netaddr_str(&a, buf, sizeof(buf)), "[::1]:10026");

	assert_int_equal(netaddr_parse_ip("127.0.0.1", &a), 0);
	netaddr_set_port(&a, 65535);
	assert_int_equal(netaddr_port(&a), 65535);
	assert_string_equal(netaddr_str(&a, buf, sizeof(buf)),
	                    "127.0.0.1:65535");

	assert_int_equal(netaddr_parse_endpoint("unix:/tmp/s", 0, &a, &error),
	                 0);
	netaddr_set_port(&a, 25);
	assert_int_equal(netaddr_port(&a), 0);
	assert_string_equal(netaddr_str(&a, buf, sizeof(buf)), "unix:/tmp/s");
}

static void
test_format_edges(void **state)
{
	char buf[NETADDR_STRLEN], small[8];
	struct sockaddr_un *su;
	struct netaddr a;

	assert_int_equal(netaddr_parse_ip("127.0.0.1", &a), 0);
	netaddr_set_port(&a, 25);
	memset(small, '#', sizeof(small));
	assert_string_equal(netaddr_str(&a, small, sizeof(small)), "127.0.0");
	assert_string_equal(netaddr_ip_str(&a, small, 4), "127");

	/* An accepted unix peer is usually unnamed: no path at all. */
	memset(&a, 0, sizeof(a));
	su = (struct sockaddr_un *)&a.ss;
	su->sun_family = AF_UNIX;
	a.len = offsetof(struct sockaddr_un, sun_path);
	assert_string_equal(netaddr_ip_str(&a, buf, sizeof(buf)), "unix:");

	/* A path filling sun_path with no NUL must not be overread. */
	memset(su->sun_path, 'p', sizeof(su->sun_path));
	a.len = sizeof(struct sockaddr_un);
	netaddr_str(&a, buf, sizeof(buf));
	assert_int_equal(strlen(buf), 5 + sizeof(su->sun_path));

	memset(&a, 0, sizeof(a));
	assert_string_equal(netaddr_str(&a, buf, sizeof(buf)), "unknown");
}

static const struct equal_case {
	const char *name;
	const char *a;
	const char *b;
	int want;
} equal_cases[] = {
    {"same ipv4", "127.0.0.1", "127.0.0.1", 1},
    {"different ipv4", "127.0.0.1", "127.0.0.2", 0},
    {"same ipv6", "::1", "[::1]", 1},
    {"different ipv6", "::1", "::2", 0},
    {"mapped equals ipv4", "::ffff:127.0.0.1", "127.0.0.1", 1},
    {"ipv4 equals mapped", "127.0.0.1", "IPv6:::ffff:127.0.0.1", 1},
    {"mapped differs from other ipv4", "::ffff:127.0.0.2", "127.0.0.1", 0},
    {"ipv6 loopback is not ipv4 loopback", "::1", "127.0.0.1", 0},
    {"v4-compatible is not mapped", "::127.0.0.1", "127.0.0.1", 0},
};

static void
test_ip_equal(void **state)
{
	struct netaddr a, b;
	size_t i;
	int got;

	for (i = 0; i < ARRAY_LEN(equal_cases); i++) {
		const struct equal_case *c = &equal_cases[i];

		assert_int_equal(netaddr_parse_ip(c->a, &a), 0);
		assert_int_equal(netaddr_parse_ip(c->b, &b), 0);
		netaddr_set_port(&a, 25);
		netaddr_set_port(&b, 2525);
		got = netaddr_ip_equal(&a, &b);
		if (got != c->want)
			fail_msg("%s: %s vs %s got %d, want %d", c->name, c->a,
			         c->b, got, c->want);
	}
}

static void
test_ip_equal_unix(void **state)
{
	const char *error;
	struct netaddr a, b;

	assert_int_equal(netaddr_parse_endpoint("unix:/tmp/s", 0, &a, &error),
	                 0);
	assert_int_equal(netaddr_parse_endpoint("unix:/tmp/s", 0, &b, &error),
	                 0);
	assert_int_equal(netaddr_ip_equal(&a, &b), 0);
}

static const struct add_case {
	const char *name;
	const char *cidr;
	int want_ok;
} add_cases[] = {
    {"ipv4 /8", "127.0.0.0/8", 1},
    {"ipv4 host without prefix", "127.0.0.1", 1},
    {"ipv4 /32", "127.0.0.1/32", 1},
    {"ipv4 /0", "0.0.0.0/0", 1},
    {"ipv6 /128", "::1/128", 1},
    {"ipv6 /0", "::/0", 1},
    {"ipv6 /32", "2001:db8::/32", 1},
    {"ipv6 bracketed", "[::1]/128", 1},
    {"xclient form", "IPv6:::1", 1},
    {"mapped /104", "::ffff:127.0.0.0/104", 1},
    {"mapped /96", "::ffff:0.0.0.0/96", 1},
    {"ipv4 host bits set", "127.0.0.1/8", 0},
    {"ipv4 host bit in partial octet", "127.0.0.129/25", 0},
    {"ipv4 /0 with address", "127.0.0.0/0", 0},
    {"ipv6 host bits set", "2001:db8::1/32", 0},
    {"ipv6 /0 with address", "::1/0", 0},
    {"ipv4 prefix 33", "127.0.0.0/33", 0},
    {"ipv6 prefix 129", "::/129", 0},
    {"mapped prefix 129", "::ffff:127.0.0.0/129", 0},
    {"mapped shorter than 96", "::ffff:0.0.0.0/95", 0},
    {"empty prefix", "127.0.0.0/", 0},
    {"negative prefix", "127.0.0.0/-1", 0},
    {"prefix with junk", "127.0.0.0/8x", 0},
    {"huge prefix", "127.0.0.0/99999999999999999999", 0},
    {"two slashes", "127.0.0.0/8/8", 0},
    {"no address", "/8", 0},
    {"host name", "localhost/8", 0},
    {"empty", "", 0},
};

static void
test_netlist_add(void **state)
{
	struct netlist *list;
	const char *error;
	size_t i, want_count = 0;
	int got;

	list = netlist_new();
	for (i = 0; i < ARRAY_LEN(add_cases); i++) {
		const struct add_case *c = &add_cases[i];

		error = NULL;
		got = netlist_add(list, c->cidr, &error) == 0;
		if (got != c->want_ok)
			fail_msg("%s: add \"%s\" got %s, want %s", c->name,
			         c->cidr, got ? "ok" : error,
			         c->want_ok ? "ok" : "error");
		if (!got && (error == NULL || error[0] == '\0'))
			fail_msg("%s: got no error text, want a reason",
			         c->name);
		want_count += (size_t)c->want_ok;
		if (netlist_count(list) != want_count)
			fail_msg("%s: got count %zu, want %zu", c->name,
			         netlist_count(list), want_count);
	}
	netlist_free(&list);
	assert_null(list);
}

static const struct match_case {
	const char *name;
	const char *nets[3];
	const char *addr;
	int want;
} match_cases[] = {
    {"inside ipv4 /8", {"127.0.0.0/8"}, "127.1.2.3", 1},
    {"outside ipv4 /8", {"127.0.0.0/8"}, "128.0.0.1", 0},
    {"ipv4 /32 exact", {"127.0.0.1/32"}, "127.0.0.1", 1},
    {"ipv4 /32 neighbour", {"127.0.0.1/32"}, "127.0.0.2", 0},
    {"ipv4 bare host", {"127.0.0.1"}, "127.0.0.1", 1},
    {"ipv4 /25 upper half", {"127.0.0.128/25"}, "127.0.0.200", 1},
    {"ipv4 /25 lower half", {"127.0.0.128/25"}, "127.0.0.127", 0},
    {"ipv4 /0 matches ipv4", {"0.0.0.0/0"}, "192.0.2.1", 1},
    {"ipv4 /0 does not match ipv6", {"0.0.0.0/0"}, "::1", 0},
    {"ipv6 /0 matches ipv6", {"::/0"}, "2001:db8::1", 1},
    {"ipv6 /0 does not match ipv4", {"::/0"}, "127.0.0.1", 0},
    {"ipv6 /128 exact", {"::1/128"}, "::1", 1},
    {"ipv6 /128 neighbour", {"::1/128"}, "::2", 0},
    {"ipv6 /32 inside", {"2001:db8::/32"}, "2001:db8:ffff::1", 1},
    {"ipv6 /32 outside", {"2001:db8::/32"}, "2001:db9::1", 0},
    {"ipv6 /65 inside", {"2001:db8::/65"}, "2001:db8::7fff:0:0:1", 1},
    {"ipv6 /65 outside", {"2001:db8::/65"}, "2001:db8::8000:0:0:1", 0},
    {"mapped address in ipv4 net", {"127.0.0.0/8"}, "::ffff:127.0.0.1", 1},
    {"mapped address outside ipv4 net", {"127.0.0.0/8"}, "::ffff:128.0.0.1", 0},
    {"mapped net matches ipv4", {"::ffff:127.0.0.0/104"}, "127.9.9.9", 1},
    {"mapped net misses ipv4", {"::ffff:127.0.0.0/104"}, "128.9.9.9", 0},
    {"mapped host matches ipv4", {"::ffff:127.0.0.1"}, "127.0.0.1", 1},
    {"mapped /96 matches every ipv4", {"::ffff:0.0.0.0/96"}, "192.0.2.9", 1},
    {"v4-compatible is not mapped", {"127.0.0.0/8"}, "::127.0.0.1", 0},
    {"second network matches", {"192.0.2.0/24", "127.0.0.0/8"}, "127.0.0.1", 1},
    {"mixed list, ipv6 member", {"127.0.0.0/8", "::1"}, "::1", 1},
    {"no network matches", {"192.0.2.0/24", "::1"}, "127.0.0.1", 0},
    {"empty list", {NULL}, "127.0.0.1", 0},
};

static void
test_netlist_match(void **state)
{
	struct netlist *list;
	const char *error;
	struct netaddr a;
	size_t i, j;
	int got;

	for (i = 0; i < ARRAY_LEN(match_cases); i++) {
		const struct match_case *c = &match_cases[i];

		list = netlist_new();
		for (j = 0; j < ARRAY_LEN(c->nets) && c->nets[j]; j++) {
			if (netlist_add(list, c->nets[j], &error) < 0)
				fail_msg("%s: add \"%s\" got \"%s\", want ok",
				         c->name, c->nets[j], error);
		}
		assert_int_equal(netaddr_parse_ip(c->addr, &a), 0);
		got = netlist_match(list, &a);
		netlist_free(&list);
		if (got != c->want)
			fail_msg("%s: match %s got %d, want %d", c->name,
			         c->addr, got, c->want);
	}
}

static const struct get_case {
	const char *name;
	const char *cidr;
	const char *want;
} get_cases[] = {
    {"ipv4 /8", "127.0.0.0/8", "127.0.0.0/8"},
    {"ipv4 bare host", "127.0.0.1", "127.0.0.1/32"},
    {"ipv4 /0", "0.0.0.0/0", "0.0.0.0/0"},
    {"ipv6 bare host", "::1", "::1/128"},
    {"ipv6 bracketed", "[::1]/128", "::1/128"},
    {"xclient form", "IPv6:::1", "::1/128"},
    {"ipv6 /0", "::/0", "::/0"},
    {"ipv6 /65 shortened", "2001:0db8:0:0:8000::/65", "2001:db8:0:0:8000::/65"},
    {"mapped net as ipv4", "::ffff:127.0.0.0/104", "127.0.0.0/8"},
    {"mapped host as ipv4", "::ffff:127.0.0.1", "127.0.0.1/32"},
};

static void
test_netlist_get(void **state)
{
	char buf[NETADDR_STRLEN], small[12];
	struct netlist *list = netlist_new();
	const char *error;
	size_t i;

	for (i = 0; i < ARRAY_LEN(get_cases); i++) {
		if (netlist_add(list, get_cases[i].cidr, &error) < 0)
			fail_msg("%s: add \"%s\" got \"%s\", want ok",
			         get_cases[i].name, get_cases[i].cidr, error);
	}
	/* Read back in the order added. */
	for (i = 0; i < ARRAY_LEN(get_cases); i++) {
		const char *got = netlist_get(list, i, buf, sizeof(buf));

		if (got != buf || strcmp(got, get_cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"",
			         get_cases[i].name, got ? got : "(null)",
			         get_cases[i].want);
	}
	assert_null(netlist_get(list, ARRAY_LEN(get_cases), buf, sizeof(buf)));
	/* "127.0.0.0/8" needs 12 octets with its NUL; one less fails. */
	assert_ptr_equal(netlist_get(list, 0, small, 12), small);
	assert_string_equal(small, "127.0.0.0/8");
	assert_null(netlist_get(list, 0, small, 11));
	netlist_free(&list);

	list = netlist_new();
	assert_null(netlist_get(list, 0, buf, sizeof(buf)));
	netlist_free(&list);
}

static void
test_netlist_unix_never_matches(void **state)
{
	struct netlist *list;
	const char *error;
	struct netaddr a;

	list = netlist_new();
	assert_int_equal(netlist_add(list, "0.0.0.0/0", &error), 0);
	assert_int_equal(netlist_add(list, "::/0", &error), 0);
	assert_int_equal(netaddr_parse_endpoint("unix:/tmp/s", 0, &a, &error),
	                 0);
	assert_int_equal(netlist_match(list, &a), 0);
	netlist_free(&list);
	netlist_free(&list);
}

/* Loopback addresses are ours (port ignored); an address of no
 * family is nobody's. */
static void
test_is_local(void **state)
{
	static const char *const ours[] = {"127.0.0.1", "127.0.0.2",
	                                   "127.255.255.254", "::1"};
	struct netaddr a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ours) / sizeof(ours[0]); i++) {
		assert_int_equal(netaddr_parse_ip(ours[i], &a), 0);
		netaddr_set_port(&a, 25);
		assert_int_equal(netaddr_is_local(&a), 0);
	}
	memset(&a, 0, sizeof(a));
	assert_int_equal(netaddr_is_local(&a), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_endpoint_good),
	    cmocka_unit_test(test_endpoint_bad),
	    cmocka_unit_test(test_ip_good),
	    cmocka_unit_test(test_ip_bad),
	    cmocka_unit_test(test_port_set_get),
	    cmocka_unit_test(test_format_edges),
	    cmocka_unit_test(test_ip_equal),
	    cmocka_unit_test(test_ip_equal_unix),
	    cmocka_unit_test(test_netlist_add),
	    cmocka_unit_test(test_netlist_match),
	    cmocka_unit_test(test_netlist_get),
	    cmocka_unit_test(test_netlist_unix_never_matches),
	    cmocka_unit_test(test_is_local),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
