/*
 * test_filter_authres.c - the Authentication-Results filter: parsing the
 * authserv-id, composing the field, and removing forged fields from a
 * spooled message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/filter.h"
#include "filters/filter_authres.h"
#include "filters/filter_msg.h"
#include "tests/unit/unit_msg.h"
#include "util/spool.h"

struct servid_case {
	const char *name;
	const char *value;
	int ret;
	const char *want;
};

static const struct servid_case servid_cases[] = {
    {"plain id", "mx.example.org; spf=pass", 0, "mx.example.org"},
    {"leading space as after the colon", " mx.example.org; spf=pass", 0,
     "mx.example.org"},
    {"comment after the id", "  mx.example.org (comment); spf=pass", 0,
     "mx.example.org"},
    {"nested comment before the id",
     " (a (nested) \\) comment) mx.example.org; none", 0, "mx.example.org"},
    {"quoted id", "\"mx.example.org\"; spf=pass", 0, "mx.example.org"},
    {"quoted id with quoted-pair", "\"mx\\\".example\"; none", 0,
     "mx\".example"},
    {"folded quoted id", "\"mx\r\n\t.example\"; none", 0, "mx\t.example"},
    {"version after the id", "mx.example.org 1; spf=pass", 0, "mx.example.org"},
    {"folded before the id", "\r\n\tmx.example.org;\r\n\tspf=pass", 0,
     "mx.example.org"},
    {"no space before the semicolon", "mx.example.org;spf=pass", 0,
     "mx.example.org"},
    {"id alone", "mx.example.org", 0, "mx.example.org"},
    {"comment right after the id", "mx.example.org(c); none", 0,
     "mx.example.org"},
    {"UTF-8 id", " mx.\xe4\xbe\x8b\xe5\xad\x90.example; none", 0,
     "mx.\xe4\xbe\x8b\xe5\xad\x90.example"},
    {"id ends at a tspecial", "mx.example.org/x; none", 0, "mx.example.org"},
    {"empty value", "", -1, ""},
    {"whitespace only", " \r\n\t", -1, ""},
    {"comment only", " (mx.example.org) ", -1, ""},
    {"semicolon first", "; spf=pass", -1, ""},
    {"unterminated comment", " (mx.example.org; spf=pass", -1, ""},
    {"unbalanced ')'", " ) mx.example.org; none", -1, ""},
    {"unterminated quoted id", "\"mx.example.org; spf=pass", -1, ""},
    {"empty quoted id", "\"\"; none", -1, ""},
};

static void
test_servid_cases(void **state)
{
	size_t i, failed = 0;

	for (i = 0; i < ARRAY_LEN(servid_cases); i++) {
		const struct servid_case *c = &servid_cases[i];
		char buf[256] = "";
		int ret;

		ret = filter_authres_servid(c->value, buf, sizeof(buf));
		if (ret == c->ret && (ret < 0 || strcmp(buf, c->want) == 0))
			continue;
		print_error("%s: got %d \"%s\", want %d \"%s\"\n", c->name, ret,
		            ret == 0 ? buf : "", c->ret, c->want);
		failed++;
	}
	assert_int_equal(failed, 0);
}

static void
test_servid_bounds(void **state)
{
	char buf[8], big[4096];

	/* Seven octets and the NUL fit; eight do not. */
	assert_int_equal(filter_authres_servid("abcdefg; none", buf, 8), 0);
	assert_string_equal(buf, "abcdefg");
	assert_int_equal(filter_authres_servid("abcdefgh; none", buf, 8), -1);
	assert_int_equal(filter_authres_servid("\"abcdefgh\"; none", buf, 8),
	                 -1);
	assert_int_equal(filter_authres_servid("a", buf, 0), -1);

	/* Comments nest 32 deep at most. */
	memset(big, '(', 32);
	memset(big + 32, ')', 32);
	strcpy(big + 64, "x; none");
	assert_int_equal(filter_authres_servid(big, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "x");
	memset(big, '(', 33);
	memset(big + 33, ')', 33);
	strcpy(big + 66, "x; none");
	assert_int_equal(filter_authres_servid(big, buf, sizeof(buf)), -1);
}

struct compose_case {
	const char *name;
	const char *results[3][4]; /* method, result, reason, props */
	size_t n;
	const char *want;
};

static const struct compose_case compose_cases[] = {
    {"no results", {{NULL}}, 0, "mx.example.org; none"},
    {"one result",
     {{"spf", "pass", NULL, "smtp.mailfrom=a@example.org"}},
     1,
     "mx.example.org;\r\n\tspf=pass smtp.mailfrom=a@example.org"},
    {"three results with reasons",
     {{"spf", "pass", NULL, "smtp.mailfrom=example.org"},
      {"dkim", "fail", "signature \"did not\" verify \\ sorry",
       "header.d=example.org header.s=sel"},
      {"dmarc", "none", "", NULL}},
     3,
     "mx.example.org;\r\n\tspf=pass smtp.mailfrom=example.org;\r\n"
     "\tdkim=fail reason=\"signature \\\"did not\\\" verify \\\\ sorry\" "
     "header.d=example.org header.s=sel;\r\n"
     "\tdmarc=none reason=\"\""},
    {"line breaks in recorded text are neutralized",
     {{"dkim", "permerror", "bad\r\nX-Evil: 1", "header.d=a\r\nX: y"}},
     1,
     "mx.example.org;\r\n\tdkim=permerror reason=\"bad??X-Evil: 1\" "
     "header.d=a??X: y"},
    {"empty props left out",
     {{"spf", "none", NULL, ""}},
     1,
     "mx.example.org;\r\n\tspf=none"},
};

static void
test_compose_cases(void **state)
{
	size_t i, k;

	for (i = 0; i < ARRAY_LEN(compose_cases); i++) {
		const struct compose_case *c = &compose_cases[i];
		struct filter_session s = {0};
		struct filter_txn t;
		char *got;

		filter_txn_init(&t, &s);
		for (k = 0; k < c->n; k++)
			filter_txn_auth(&t, c->results[k][0], c->results[k][1],
			                c->results[k][2], c->results[k][3]);
		got = filter_authres_compose("mx.example.org", t.auth);
		if (strcmp(got, c->want) != 0) {
			print_error("%s: got \"%s\", want \"%s\"\n", c->name,
			            got, c->want);
			fail();
		}
		free(got);
		filter_txn_deinit(&t);
	}
}

/* End to end: a spooled message through the chain. */

struct fixture {
	struct unit_msg m;
	struct filter_chain *chain;
	int calls;
	struct filter_verdict verdict;
};

static void
record_done(void *arg, const struct filter_verdict *v)
{
	struct fixture *f = arg;

	f->calls++;
	f->verdict = *v;
}

static void
fixture_run(struct fixture *f, const char *msg)
{
	const char *error;
	int temporary;

	memset(f, 0, sizeof(*f));
	unit_msg_init(&f->m, msg, 1 << 20);
	assert_int_equal(filter_msg_index(&f->m.t, &temporary, &error), 0);
	f->chain = filter_chain_new();
	filter_authres_add(f->chain, "mx.example.org");
}

static void
fixture_deinit(struct fixture *f)
{
	filter_chain_free(&f->chain);
	unit_msg_deinit(&f->m);
}

static void
test_filter_removes_forged_fields(void **state)
{
	static const char msg[] =
	    "Authentication-Results: mx.example.org; spf=pass\r\n"
	    "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "Authentication-Results: other.example; dkim=pass\r\n"
	    "\t(mx.example.org)\r\n"
	    "authentication-results: (mx.example.org) other.example;"
	    " spf=fail\r\n"
	    "X-Authentication-Results: mx.example.org; dkim=pass\r\n"
	    "Authentication-Results:\r\n\tMX.Example.ORG 1;\r\n"
	    "\tdkim=pass header.d=bank.example\r\n"
	    "AUTHENTICATION-RESULTS: \"mx.example.org\"; dmarc=pass\r\n"
	    "Authentication-Results: mx.example.org.evil.example;"
	    " dmarc=pass\r\n"
	    "Subject: Authentication-Results: mx.example.org; spf=pass\r\n"
	    "From: a@example.org\r\n"
	    "\r\n"
	    "Authentication-Results: mx.example.org; in the body\r\n";
	static const char want[] =
	    "Authentication-Results: mx.example.org;\r\n"
	    "\tspf=pass smtp.mailfrom=example.org;\r\n"
	    "\tdkim=pass header.d=example.org\r\n"
	    "Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "Authentication-Results: other.example; dkim=pass\r\n"
	    "\t(mx.example.org)\r\n"
	    "authentication-results: (mx.example.org) other.example;"
	    " spf=fail\r\n"
	    "X-Authentication-Results: mx.example.org; dkim=pass\r\n"
	    "Authentication-Results: mx.example.org.evil.example;"
	    " dmarc=pass\r\n"
	    "Subject: Authentication-Results: mx.example.org; spf=pass\r\n"
	    "From: a@example.org\r\n"
	    "\r\n"
	    "Authentication-Results: mx.example.org; in the body\r\n";
	struct fixture f;
	char *out;

	fixture_run(&f, msg);
	filter_txn_auth(&f.m.t, "spf", "pass", NULL,
	                "smtp.mailfrom=example.org");
	filter_txn_auth(&f.m.t, "dkim", "pass", NULL, "header.d=example.org");
	filter_chain_run(f.chain, NULL, FILTER_PHASE_EOM, &f.m.s, &f.m.t,
	                 record_done, &f);
	assert_int_equal(f.calls, 1);
	assert_int_equal(f.verdict.action, FILTER_CONTINUE);
	out = unit_msg_read_all(&f.m.t, 64);
	assert_string_equal(out, want);
	assert_string_equal(f.m.t.notes, "authres=added authres_removed=3");
	free(out);
	fixture_deinit(&f);
}

/*
 * The two shapes a forged field once slipped through the index by: as
 * "Name :" it is now a field (normalized) and removed; after a folded
 * first line, which the next hop folds into the Received field before
 * it, the message is refused before any filter runs.
 */
static void
test_filter_removes_forged_field_spaced_colon(void **state)
{
	static const char msg[] =
	    "Authentication-Results : mx.example.org; dkim=pass\r\n"
	    "\theader.d=bank.example\r\n"
	    "Authentication-Results\t: other.example; spf=pass\r\n"
	    "From: ceo@bank.example\r\n"
	    "\r\n"
	    "Pay it.\r\n";
	static const char want[] =
	    "Authentication-Results: mx.example.org; none\r\n"
	    "Authentication-Results: other.example; spf=pass\r\n"
	    "From: ceo@bank.example\r\n"
	    "\r\n"
	    "Pay it.\r\n";
	struct fixture f;
	char *out;

	fixture_run(&f, msg);
	filter_chain_run(f.chain, NULL, FILTER_PHASE_EOM, &f.m.s, &f.m.t,
	                 record_done, &f);
	assert_int_equal(f.calls, 1);
	assert_int_equal(f.verdict.action, FILTER_CONTINUE);
	out = unit_msg_read_all(&f.m.t, 64);
	assert_string_equal(out, want);
	assert_string_equal(f.m.t.notes, "authres=added authres_removed=1");
	free(out);
	fixture_deinit(&f);
}

static void
test_folded_first_line_is_refused(void **state)
{
	static const struct {
		const char *name;
		const char *msg;
	} cases[] = {
	    {"first line folded with a space",
	     " x\r\n"
	     "Authentication-Results: mx.example.org; dkim=pass\r\n"
	     "From: ceo@bank.example\r\n\r\nPay.\r\n"},
	    {"first line folded with a tab",
	     "\tx\r\n"
	     "Authentication-Results: mx.example.org; dkim=pass\r\n"
	     "From: ceo@bank.example\r\n\r\nPay.\r\n"},
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct unit_msg m;
		const char *error = NULL;
		int temporary = -1;

		unit_msg_init(&m, cases[i].msg, 1 << 20);
		check_int(cases[i].name, "index",
		          filter_msg_index(&m.t, &temporary, &error), -1);
		check_int(cases[i].name, "temporary", temporary, 0);
		check_str(cases[i].name, "reason", error,
		          "message starts with a folded line");
		unit_msg_deinit(&m);
	}
}

static void
test_filter_adds_none(void **state)
{
	static const char msg[] = "From: a@example.org\r\n"
	                          "\r\n"
	                          "Body.\r\n";
	struct fixture f;
	char *out;

	fixture_run(&f, msg);
	filter_chain_run(f.chain, NULL, FILTER_PHASE_EOM, &f.m.s, &f.m.t,
	                 record_done, &f);
	assert_int_equal(f.calls, 1);
	assert_int_equal(f.verdict.action, FILTER_CONTINUE);
	out = unit_msg_read_all(&f.m.t, 64);
	assert_string_equal(out,
	                    "Authentication-Results: mx.example.org; none\r\n"
	                    "From: a@example.org\r\n"
	                    "\r\n"
	                    "Body.\r\n");
	assert_string_equal(f.m.t.notes, "authres=added");
	assert_string_equal(filter_chain_name(f.chain, 0), "authres");
	free(out);
	fixture_deinit(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_servid_cases),
	    cmocka_unit_test(test_servid_bounds),
	    cmocka_unit_test(test_compose_cases),
	    cmocka_unit_test(test_filter_removes_forged_fields),
	    cmocka_unit_test(test_filter_removes_forged_field_spaced_colon),
	    cmocka_unit_test(test_folded_first_line_is_refused),
	    cmocka_unit_test(test_filter_adds_none),
	};

	return cmocka_run_group_tests_name("filter_authres", tests, NULL, NULL);
}
