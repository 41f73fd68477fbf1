/*
 * test_filter_addr.c - address-list parsing of header field values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/filter_addr.h"
#include "tests/unit/unit.h"

#define OUT_MAX 8

struct addr_case {
	const char *name;
	const char *value;
	size_t max;       /* 0: OUT_MAX */
	int ret;          /* count, or -1 */
	const char *want; /* "local@domain|..." for the filled mailboxes,
	                     or the error */
};

static const struct addr_case addr_cases[] = {
    /* Mailbox forms */
    {"bare addr-spec", "a@example.org", 0, 1, "a@example.org"},
    {"name-addr", "Alice <alice@example.org>", 0, 1, "alice@example.org"},
    {"quoted display name with comma", "\"Doe, John\" <john@example.org>", 0, 1,
     "john@example.org"},
    {"display name with a dot (obs-phrase)", "John Q. Public <jqp@example.org>",
     0, 1, "jqp@example.org"},
    {"angle address without a name", "<a@example.org>", 0, 1, "a@example.org"},
    {"tabs around the address", "\ta@example.org\t", 0, 1, "a@example.org"},
    {"atext specials in the local part", "a+tag!#$%&'*/=?^_`{|}~-@example.org",
     0, 1, "a+tag!#$%&'*/=?^_`{|}~-@example.org"},
    {"consecutive dots in the local part (Japanese carriers)",
     "a..b.@docomo.example", 0, 1, "a..b.@docomo.example"},

    /* Comments */
    {"comment after addr-spec", "a@example.org (Alice)", 0, 1, "a@example.org"},
    {"comments everywhere (RFC 5322 A.5)",
     "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", 0, 1,
     "pete@silly.test"},
    {"nested comments", "a@example.org (one (two (three)))", 0, 1,
     "a@example.org"},
    {"quoted-pair parens in a comment", "(a \\( b) a@example.org", 0, 1,
     "a@example.org"},
    {"comment with a fold", "(a\r\n b) a@example.org", 0, 1, "a@example.org"},

    /* Lists */
    {"two mailboxes", "a@example.org, B <b@example.net>", 0, 2,
     "a@example.org|b@example.net"},
    {"From with three domains",
     "alice@one.example, Bob <bob@two.example>, carol@three.example", 0, 3,
     "alice@one.example|bob@two.example|carol@three.example"},
    {"empty list elements (obs-addr-list)", "a@example.org,,b@example.org", 0,
     2, "a@example.org|b@example.org"},
    {"leading and trailing commas", ", a@example.org ,", 0, 1, "a@example.org"},
    {"count beyond max", "a@x.example, b@x.example, c@x.example", 2, 3,
     "a@x.example|b@x.example"},

    /* Groups */
    {"empty group", "undisclosed-recipients:;", 0, 0, ""},
    {"group with members", "G: a@example.org, c@example.net;", 0, 2,
     "a@example.org|c@example.net"},
    {"group then mailbox", "G: a@x.example;, b@y.example", 0, 2,
     "a@x.example|b@y.example"},
    {"group with comments and folds (RFC 5322 A.5)",
     "A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)"
     "public.example>,\r\n         joe@example.org,\r\n  John "
     "<jdoe@one.test> (my dear friend); (the end of the group)",
     0, 3, "c@public.example|joe@example.org|jdoe@one.test"},
    {"group with empty members (obs-mbox-list)", "G: , a@example.org, ;", 0, 1,
     "a@example.org"},

    /* Obsolete forms */
    {"spaces around dots (obs-local-part, obs-domain)",
     "john . doe @ example . org", 0, 1, "john.doe@example.org"},
    {"obs-route", "<@relay1.example,@relay2.example:a@example.org>", 0, 1,
     "a@example.org"},
    {"obsolete list (RFC 5322 A.6.1)",
     "Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example", 0, 2,
     "mary@example.net|jdoe@test.example"},
    {"quoted word in obs-local-part", "\"a b\".c@example.org", 0, 1,
     "a b.c@example.org"},

    /* Local parts and domains */
    {"quoted local part", "\"john doe\"@example.org", 0, 1,
     "john doe@example.org"},
    {"quoted-pair in quoted local part", "\"a\\\"b\\\\c\"@example.org", 0, 1,
     "a\"b\\c@example.org"},
    {"folded quoted local part", "\"john\r\n doe\"@example.org", 0, 1,
     "john doe@example.org"},
    {"domain literal", "a@[192.0.2.1]", 0, 1, "a@[192.0.2.1]"},
    {"folded domain literal unfolded", "a@[192.0.2.1\r\n ]", 0, 1,
     "a@[192.0.2.1 ]"},
    {"IPv6 domain literal lowercased", "Bob <b@[IPv6:2001:DB8::1]>", 0, 1,
     "b@[ipv6:2001:db8::1]"},
    {"uppercase domain lowercased, local part kept", "John.Doe@EXAMPLE.Org", 0,
     1, "John.Doe@example.org"},
    {"trailing dot removed", "a@Example.ORG.", 0, 1, "a@example.org"},
    {"trailing dot before angle close", "<a@example.org.>", 0, 1,
     "a@example.org"},

    /* UTF-8 (RFC 6532) */
    {"UTF-8 display name", "J\xc3\xb6ran M\xc3\xbcller <j@example.org>", 0, 1,
     "j@example.org"},
    {"UTF-8 quoted display name", "\"\xe5\xbc\xa0\xe4\xb8\x89\" <z@example.cn>",
     0, 1, "z@example.cn"},
    {"UTF-8 address",
     "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91"
     "\x8a",
     0, 1,
     "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91"
     "\x8a"},
    {"non-ASCII letters keep their case", "a@\xc3\x89XAMPLE.ORG", 0, 1,
     "a@\xc3\x89xample.org"},
    {"four-octet UTF-8", "\xf0\x9f\x98\x80@example.org", 0, 1,
     "\xf0\x9f\x98\x80@example.org"},

    /* Folding and empty values */
    {"folded value", "Alice\r\n <alice@example.org>,\r\n\tbob@example.org", 0,
     2, "alice@example.org|bob@example.org"},
    {"LF-only fold", "a@example.org,\n b@example.org", 0, 2,
     "a@example.org|b@example.org"},
    {"empty value", "", 0, 0, ""},
    {"whitespace only", "  \r\n\t ", 0, 0, ""},
    {"comment only", " (nobody) ", 0, 0, ""},

    /* Errors */
    {"unterminated quoted string", "\"Alice <a@example.org>", 0, -1,
     "unterminated quoted string"},
    {"unterminated comment", "a@example.org (oops", 0, -1,
     "unterminated comment"},
    {"unterminated nested comment", "a@example.org (a (b)", 0, -1,
     "unterminated comment"},
    {"unbalanced ')'", "a@example.org )", 0, -1, "unbalanced ')'"},
    {"unterminated angle address", "Alice <a@example.org", 0, -1,
     "unterminated angle address"},
    {"two addresses in angle brackets", "<a@example.org, b@example.org>", 0, -1,
     "garbage in angle address"},
    {"unterminated domain literal", "a@[192.0.2.1", 0, -1,
     "unterminated domain literal"},
    {"'[' inside a domain literal", "a@[1[2]", 0, -1,
     "bad character in quoted text"},
    {"name only", "Alice", 0, -1, "mailbox without '@'"},
    {"angle address without '@'", "Alice <alice>", 0, -1,
     "mailbox without '@'"},
    {"second mailbox without '@'", "a@example.org, bob", 0, -1,
     "mailbox without '@'"},
    {"no domain", "a@", 0, -1, "mailbox without domain"},
    {"no domain in angle address", "<a@>", 0, -1, "mailbox without domain"},
    {"domain starts with a dot", "a@.example.org", 0, -1,
     "mailbox without domain"},
    {"double dot in domain", "a@example..org", 0, -1, "garbage after address"},
    {"no local part", "@example.org", 0, -1, "invalid local part"},
    {"two words as a local part", "john doe@example.org", 0, -1,
     "invalid local part"},
    {"addresses without a comma", "a@example.org b@example.org", 0, -1,
     "garbage after address"},
    {"addr-spec as display name (From confusion)",
     "a@evil.example <b@bank.example>", 0, -1, "garbage after address"},
    {"unquoted comma in display name", "Doe, John <j@example.org>", 0, -1,
     "mailbox without '@'"},
    {"empty angle address", "<>", 0, -1, "empty angle address"},
    {"bad route", "<@relay.example a@example.org>", 0, -1,
     "bad route in angle address"},
    {"route without a domain", "<,:a@example.org>", 0, -1,
     "bad route in angle address"},
    {"group inside a group", "A: B: c@example.org;;", 0, -1,
     "group inside a group"},
    {"unterminated group", "G: a@example.org", 0, -1, "unterminated group"},
    {"unterminated empty group", "undisclosed-recipients:", 0, -1,
     "unterminated group"},
    {"group without a name", ": a@example.org;", 0, -1, "group without a name"},
    {"text after a group", "G: a@example.org; x", 0, -1,
     "garbage after address"},
    {"bare CR LF", "a@example.org\r\nb@example.org", 0, -1, "bare line break"},
    {"bare CR", "a@example.org\r b@example.org", 0, -1, "bare line break"},
    {"control character in quoted string", "\"a\x01\"@example.org", 0, -1,
     "bad character in quoted text"},
    {"backslash outside quotes", "a\\b@example.org", 0, -1, "bad character"},
    {"invalid UTF-8 in local part", "\xff@example.org", 0, -1,
     "invalid UTF-8 in local part"},
    {"overlong UTF-8 in domain", "a@\xc0\xaf.example", 0, -1,
     "invalid UTF-8 in domain"},
    {"overlong three-octet UTF-8 in domain", "a@\xe0\x80\xaf.example", 0, -1,
     "invalid UTF-8 in domain"},
    {"UTF-8 beyond U+10FFFF in local part", "\xf4\x90\x80\x80@example.org", 0,
     -1, "invalid UTF-8 in local part"},
    {"truncated UTF-8 in domain", "a@example.\xe4\xbe", 0, -1,
     "invalid UTF-8 in domain"},
    {"UTF-16 surrogate in local part", "\xed\xa0\x80@example.org", 0, -1,
     "invalid UTF-8 in local part"},
    {"error after good mailboxes", "a@example.org, b@", 0, -1,
     "mailbox without domain"},
};

/* The filled mailboxes as "local@domain|...". */
static void
join_mailboxes(const struct filter_mailbox *out, size_t n, char *buf,
               size_t size)
{
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < n && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s@%s",
		                        i > 0 ? "|" : "", out[i].local,
		                        out[i].domain);
}

/* 0 if c passes; prints why not otherwise. */
static int
run_case(const struct addr_case *c)
{
	struct filter_mailbox out[OUT_MAX + 1];
	const char *error = NULL;
	size_t max = c->max > 0 ? c->max : OUT_MAX, filled;
	char got[4096];
	int ret;

	/* out[max] must stay as it is: the parser fills max at most. */
	memset(out, 'X', sizeof(out));
	ret = filter_addr_parse_list(c->value, out, max, &error);
	if (ret != c->ret) {
		print_error("%s: got %d (%s), want %d\n", c->name, ret,
		            ret < 0 ? error : "", c->ret);
		return -1;
	}
	if (ret < 0) {
		if (strcmp(error, c->want) == 0)
			return 0;
		print_error("%s: got error \"%s\", want \"%s\"\n", c->name,
		            error, c->want);
		return -1;
	}
	filled = (size_t)ret < max ? (size_t)ret : max;
	join_mailboxes(out, filled, got, sizeof(got));
	if (strcmp(got, c->want) != 0 || out[max].local[0] != 'X') {
		print_error("%s: got \"%s\", want \"%s\"\n", c->name, got,
		            c->want);
		return -1;
	}
	return 0;
}

static void
test_addr_cases(void **state)
{
	size_t i, failed = 0;

	for (i = 0; i < ARRAY_LEN(addr_cases); i++)
		failed += run_case(&addr_cases[i]) < 0;
	if (failed > 0) {
		print_error("%zu of %zu cases failed\n", failed,
		            ARRAY_LEN(addr_cases));
		fail();
	}
}

static void
test_addr_no_output(void **state)
{
	const char *error = NULL;

	/* Counting only: with out NULL nothing is written, whatever max. */
	assert_int_equal(
	    filter_addr_parse_list("a@x.example, b@y.example", NULL, 0, &error),
	    2);
	assert_int_equal(
	    filter_addr_parse_list("a@x.example, b@y.example", NULL, 5, &error),
	    2);
}

struct length_case {
	const char *name;
	const char *prefix; /* before the repeated octet */
	char fill;
	size_t count; /* times fill is repeated */
	const char *suffix;
	int ret;
	const char *error;
};

static const struct length_case length_cases[] = {
    {"local part at the limit", "", 'a', FILTER_ADDR_LOCAL_MAX - 1,
     "@example.org", 1, NULL},
    {"local part over the limit", "", 'a', FILTER_ADDR_LOCAL_MAX,
     "@example.org", -1, "local part too long"},
    {"quoted local part over the limit", "\"", 'a', FILTER_ADDR_LOCAL_MAX,
     "\"@example.org", -1, "local part too long"},
    {"domain at the limit", "a@", 'b', FILTER_ADDR_DOMAIN_MAX - 1, "", 1, NULL},
    {"domain over the limit", "a@", 'b', FILTER_ADDR_DOMAIN_MAX, "", -1,
     "domain too long"},
    {"route domain over the limit", "<@", 'r', FILTER_ADDR_DOMAIN_MAX,
     ":a@example.org>", -1, "domain too long"},
    {"long display name is fine", "", 'n', 10000, " <a@example.org>", 1, NULL},
    {"long quoted display name is fine", "\"", 'n', 10000, "\" <a@example.org>",
     1, NULL},
    {"long comment is fine", "(", 'c', 10000, ") a@example.org", 1, NULL},
    {"comments nested to the limit", "", '(', 32,
     "x)))))))))))))))))))))))))))))))) a@example.org", 1, NULL},
    {"comments nested too deep", "", '(', 33, "x", -1,
     "comments nested too deep"},
    {"many empty elements", "", ',', 100000, "a@example.org", 1, NULL},
};

static void
test_addr_lengths(void **state)
{
	struct filter_mailbox out[1];
	size_t i;

	for (i = 0; i < ARRAY_LEN(length_cases); i++) {
		const struct length_case *c = &length_cases[i];
		size_t plen = strlen(c->prefix), slen = strlen(c->suffix);
		char *value = malloc(plen + c->count + slen + 1);
		const char *error = "";
		int ret;

		memcpy(value, c->prefix, plen);
		memset(value + plen, c->fill, c->count);
		memcpy(value + plen + c->count, c->suffix, slen + 1);
		ret = filter_addr_parse_list(value, out, 1, &error);
		if (ret != c->ret ||
		    (ret < 0 && strcmp(error, c->error) != 0)) {
			print_error("%s: got %d (%s), want %d (%s)\n", c->name,
			            ret, ret < 0 ? error : "", c->ret,
			            c->error != NULL ? c->error : "");
			fail();
		}
		free(value);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_addr_cases),
	    cmocka_unit_test(test_addr_no_output),
	    cmocka_unit_test(test_addr_lengths),
	};

	return cmocka_run_group_tests_name("filter_addr", tests, NULL, NULL);
}
