/*
 * test_upstream_source.c - proxy/upstream_source.c: the source table's
 * lookups (exact domain, parent patterns nearest first, "*", case,
 * the null sender) and the errors of a bad table (syntax, address,
 * family, duplicates, a missing file), each naming its line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <netinet/in.h>

#include "proxy/upstream_source.h"
#include "util/netaddr.h"
#include "tests/unit/unit.h"

static const char table_text[] =
    "# sender domain      source address\n"
    "example.org          127.0.0.2\n"
    "Example.NET          127.0.0.3   # upper case in the file\n"
    ".example.net         127.0.0.4\n"
    ".net                 127.0.0.5\n"
    "\n"
    "   \t\n"
    "deep.sub.example.com 127.0.0.6\n"
    ".example.com         127.0.0.7\n"
    "v6.example           ::1\n";

static char *
table_file(const char *text)
{
	return unit_temp_file("test_upstream_source", text, strlen(text));
}

static struct upstream_source *
load(const char *text, int family, char **error_r)
{
	char *path = table_file(text);
	struct upstream_source *t = upstream_source_load(path, family, error_r);

	unlink(path);
	free(path);
	return t;
}

struct lookup_case {
	const char *name;
	const char *domain;
	const char *want; /* NULL: no entry */
};

static const struct lookup_case lookup_cases[] = {
    {"exact domain", "example.org", "127.0.0.2"},
    {"exact domain, other case", "EXAMPLE.org", "127.0.0.2"},
    {"pattern from upper case line", "example.net", "127.0.0.3"},
    {"subdomain of a parent pattern", "a.example.net", "127.0.0.4"},
    {"nearest parent wins", "b.a.example.net", "127.0.0.4"},
    {"farther parent", "other.net", "127.0.0.5"},
    {"exact beats parent", "deep.sub.example.com", "127.0.0.6"},
    {"parent of a deep name", "x.sub.example.com", "127.0.0.7"},
    {"leading-dot pattern is not the domain itself", "example.com", NULL},
    {"subdomain of an exact entry only", "www.example.org", NULL},
    {"unknown domain", "example.invalid", NULL},
    {"null sender", "", NULL},
    {"ipv6 entry", "v6.example", "::1"},
};

static void
test_source_lookup(void **state)
{
	struct upstream_source *t;
	char *error = NULL, ip[NETADDR_STRLEN];
	size_t i;

	t = load(table_text, 0, &error);
	check_str("load", "error", error, NULL);
	assert_non_null(t);
	check_int("load", "entries", (long long)upstream_source_count(t), 7);
	for (i = 0; i < ARRAY_LEN(lookup_cases); i++) {
		const struct lookup_case *c = &lookup_cases[i];
		const struct netaddr *a = upstream_source_lookup(t, c->domain);

		check_str(c->name, "address",
		          a ? netaddr_ip_str(a, ip, sizeof(ip)) : NULL,
		          c->want);
	}
	upstream_source_free(&t);
	assert_null(t);
}

static void
test_source_star(void **state)
{
	struct upstream_source *t;
	char *error = NULL, ip[NETADDR_STRLEN];
	const struct netaddr *a;

	t = load("*  127.0.0.9\nexample.org 127.0.0.2\n", AF_INET, &error);
	assert_non_null(t);
	a = upstream_source_lookup(t, "example.org");
	check_str("listed domain", "address", netaddr_ip_str(a, ip, sizeof(ip)),
	          "127.0.0.2");
	a = upstream_source_lookup(t, "other.example");
	check_str("any other domain", "address",
	          netaddr_ip_str(a, ip, sizeof(ip)), "127.0.0.9");
	a = upstream_source_lookup(t, "");
	check_str("null sender", "address", netaddr_ip_str(a, ip, sizeof(ip)),
	          "127.0.0.9");
	upstream_source_free(&t);
}

struct bad_case {
	const char *name;
	const char *text;
	int family;
	const char *want; /* after "path:" */
};

static const struct bad_case bad_cases[] = {
    {"one field", "example.org\n", 0, "1: want PATTERN ADDRESS"},
    {"three fields", "example.org 127.0.0.2 extra\n", 0,
     "1: want PATTERN ADDRESS"},
    {"not an address", "\nexample.org mail.example.org\n", 0,
     "2: not an IP address"},
    {"address with a port", "example.org 127.0.0.2:25\n", 0,
     "1: not an IP address"},
    {"bad pattern", "exa$mple.org 127.0.0.2\n", 0, "1: invalid domain pattern"},
    {"empty label", "example..org 127.0.0.2\n", 0, "1: invalid domain pattern"},
    {"lone dot", ". 127.0.0.2\n", 0, "1: invalid domain pattern"},
    {"wildcard inside", "*.example.org 127.0.0.2\n", 0,
     "1: invalid domain pattern"},
    {"ipv6 for an ipv4 upstream", "example.org ::1\n", AF_INET,
     "1: address family differs from the upstream's"},
    {"ipv4 for an ipv6 upstream", "example.org 127.0.0.2\n", AF_INET6,
     "1: address family differs from the upstream's"},
    {"duplicate, case apart", "example.org 127.0.0.2\n# x\nEXAMPLE.ORG ::1\n",
     0, "3: duplicate pattern 'example.org'"},
};

static void
test_source_bad(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		char *path = table_file(c->text), *error = NULL, *want;
		struct upstream_source *t;

		t = upstream_source_load(path, c->family, &error);
		want = xasprintf("%s:%s", path, c->want);
		check_str(c->name, "error", error, want);
		assert_null(t);
		unlink(path);
		free(path);
		free(want);
		free(error);
	}
}

static void
test_source_missing(void **state)
{
	char *error = NULL;
	struct upstream_source *t;

	t = upstream_source_load("/nonexistent/sources", 0, &error);
	assert_null(t);
	check_str("missing file", "error", error,
	          "/nonexistent/sources: No such file or directory");
	free(error);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_source_lookup),
	    cmocka_unit_test(test_source_star),
	    cmocka_unit_test(test_source_bad),
	    cmocka_unit_test(test_source_missing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
