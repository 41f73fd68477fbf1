/*
 * test_policy_dmarc.c - DMARC records, alignment, results, dispositions
 * and the JSON record of an evaluation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_dmarc.h"
#include "policy/policy_psl.h"
#include "tests/unit/unit.h"

#define NONE POLICY_DMARC_NONE
#define QUAR POLICY_DMARC_QUARANTINE
#define REJ  POLICY_DMARC_REJECT
#define R    POLICY_DMARC_RELAXED
#define S    POLICY_DMARC_STRICT

static struct policy_psl *psl;

static int
setup(void **state)
{
	const char *error = NULL;

	psl = policy_psl_new(NULL, &error);
	if (psl == NULL)
		print_error("built-in list: %s\n", error);
	return psl != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	policy_psl_free(&psl);
	return 0;
}

/* Records */

struct record_case {
	const char *name;
	const char *txt;
	int ret;
	const char *error; /* when ret is -1 */
	enum policy_dmarc_policy p, sp;
	int p_assumed;
	unsigned int pct;
	enum policy_dmarc_align adkim, aspf;
	const char *rua;
	const char *fo;
	unsigned long ri;
};

#define BAD(error)       -1, error, NONE, NONE, 0, 0, R, R, NULL, NULL, 0
#define OK_DEFAULTS(pol) 0, NULL, pol, pol, 0, 100, R, R, "", "0", 86400

static const struct record_case record_cases[] = {
    /* The version tag */
    {"minimal reject", "v=DMARC1; p=reject", OK_DEFAULTS(REJ)},
    {"no spaces, final semicolon", "v=DMARC1;p=none;", OK_DEFAULTS(NONE)},
    {"spaces around = and ;", "v = DMARC1 ;  p = quarantine ; ",
     OK_DEFAULTS(QUAR)},
    {"tag name case-insensitive", "V=DMARC1; P=Reject", OK_DEFAULTS(REJ)},
    {"version value is case-sensitive", "v=dmarc1; p=reject",
     BAD("not a DMARC1 record")},
    {"version not first", "p=reject; v=DMARC1", BAD("not a DMARC1 record")},
    {"version DMARC10", "v=DMARC10; p=reject", BAD("not a DMARC1 record")},
    {"SPF record", "v=spf1 -all", BAD("not a DMARC1 record")},
    {"empty record", "", BAD("not a DMARC1 record")},

    /* p= and sp= (RFC 7489 6.6.3 step 7) */
    {"no p, no rua", "v=DMARC1", BAD("no valid p= tag and no rua= tag")},
    {"bad p, no rua", "v=DMARC1; p=block",
     BAD("no valid p= tag and no rua= tag")},
    {"bad sp, no rua", "v=DMARC1; p=reject; sp=maybe",
     BAD("invalid sp= tag and no rua= tag")},
    {"no p but a valid rua: p=none", "v=DMARC1; rua=mailto:d@example.com", 0,
     NULL, NONE, NONE, 1, 100, R, R, "mailto:d@example.com", "0", 86400},
    {"bad sp with valid rua: p=none",
     "v=DMARC1; p=reject; sp=x; rua=mailto:d@example.com", 0, NULL, NONE, NONE,
     1, 100, R, R, "mailto:d@example.com", "0", 86400},
    {"no p and rua without a scheme", "v=DMARC1; rua=d@example.com",
     BAD("no valid p= tag and no rua= tag")},
    {"sp given", "v=DMARC1; p=none; sp=reject", 0, NULL, NONE, REJ, 0, 100, R,
     R, "", "0", 86400},
    {"first p counts", "v=DMARC1; p=none; p=reject", OK_DEFAULTS(NONE)},

    /* Optional tags */
    {"pct 0", "v=DMARC1; p=reject; pct=0", 0, NULL, REJ, REJ, 0, 0, R, R, "",
     "0", 86400},
    {"pct 50", "v=DMARC1; p=reject; pct=50", 0, NULL, REJ, REJ, 0, 50, R, R, "",
     "0", 86400},
    {"pct over 100 is default", "v=DMARC1; p=reject; pct=101",
     OK_DEFAULTS(REJ)},
    {"pct not a number is default", "v=DMARC1; p=reject; pct=5x",
     OK_DEFAULTS(REJ)},
    {"pct empty is default", "v=DMARC1; p=reject; pct=", OK_DEFAULTS(REJ)},
    {"strict both", "v=DMARC1; p=reject; adkim=s; aspf=S", 0, NULL, REJ, REJ, 0,
     100, S, S, "", "0", 86400},
    {"bad adkim is relaxed", "v=DMARC1; p=reject; adkim=x; aspf=r",
     OK_DEFAULTS(REJ)},
    {"fo list", "v=DMARC1; p=none; fo=1 : d:S", 0, NULL, NONE, NONE, 0, 100, R,
     R, "", "1:d:s", 86400},
    {"fo bad option is default", "v=DMARC1; p=none; fo=2", OK_DEFAULTS(NONE)},
    {"fo trailing colon is default",
     "v=DMARC1; p=none; fo=1:", OK_DEFAULTS(NONE)},
    {"ri", "v=DMARC1; p=none; ri=3600", 0, NULL, NONE, NONE, 0, 100, R, R, "",
     "0", 3600},
    {"ri overflowing is default",
     "v=DMARC1; p=none; ri=99999999999999999999999999999", OK_DEFAULTS(NONE)},
    {"unknown tags ignored", "v=DMARC1; p=reject; x=y; noequals; rf=afrf",
     OK_DEFAULTS(REJ)},
    {"two rua URIs with size",
     "v=DMARC1; p=none; rua=mailto:a@x.example!10m,"
     "mailto:b@y.example",
     0, NULL, NONE, NONE, 0, 100, R, R,
     "mailto:a@x.example!10m,mailto:b@y.example", "0", 86400},
};

static void
test_record_parse(void **state)
{
	struct policy_dmarc_record r;
	const char *error;
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_LEN(record_cases); i++) {
		const struct record_case *c = &record_cases[i];

		error = NULL;
		rc = policy_dmarc_record_parse(c->txt, &r, &error);
		check_int(c->name, "return", rc, c->ret);
		if (rc < 0) {
			check_str(c->name, "error", error, c->error);
			continue;
		}
		check_int(c->name, "p", r.p, c->p);
		check_int(c->name, "sp", r.sp, c->sp);
		check_int(c->name, "p_assumed", r.p_assumed, c->p_assumed);
		check_int(c->name, "pct", r.pct, c->pct);
		check_int(c->name, "adkim", r.adkim, c->adkim);
		check_int(c->name, "aspf", r.aspf, c->aspf);
		check_str(c->name, "rua", r.rua, c->rua);
		check_str(c->name, "fo", r.fo, c->fo);
		check_int(c->name, "ri", (long long)r.ri, (long long)c->ri);
	}
}

static void
test_record_rua_cut(void **state)
{
	struct policy_dmarc_record r;
	const char *error = NULL;
	char txt[1200], want[600];
	size_t n = 0;

	/* 40 URIs of 20 octets: more than the 511 rua= keeps. */
	n = (size_t)snprintf(txt, sizeof(txt), "v=DMARC1; p=none; rua=");
	want[0] = '\0';
	for (int i = 0; i < 40; i++) {
		char uri[32];

		snprintf(uri, sizeof(uri), "%smailto:r%02d@x.example",
		         i > 0 ? "," : "", i);
		n += (size_t)snprintf(txt + n, sizeof(txt) - n, "%s", uri);
		if (strlen(want) + strlen(uri) < POLICY_DMARC_URIS_MAX)
			strcat(want, uri);
	}
	assert_int_equal(policy_dmarc_record_parse(txt, &r, &error), 0);
	check_str("40 rua URIs", "rua cut at a whole URI", r.rua, want);
}

/* Choosing the record of an answer (6.6.3 steps 2 and 6). */
struct select_case {
	const char *name;
	const char *txt[4];
	size_t n;
	size_t count;
	size_t index;
};

static const struct select_case select_cases[] = {
    {"none", {"v=spf1 -all", "hello"}, 2, 0, 0},
    {"one among others", {"v=spf1 -all", "v=DMARC1; p=none"}, 2, 1, 1},
    {"two", {"v=DMARC1; p=none", "v=DMARC1; p=reject"}, 2, 2, 0},
    {"empty answer", {NULL}, 0, 0, 0},
    {"bad version discarded",
     {"v=DMARC2; p=none", "v=DMARC1; p=reject"},
     2,
     1,
     1},
};

static void
test_record_select(void **state)
{
	size_t i, index, count;

	for (i = 0; i < ARRAY_LEN(select_cases); i++) {
		const struct select_case *c = &select_cases[i];

		index = 99;
		count = policy_dmarc_record_select(c->txt, c->n, &index);
		check_int(c->name, "count", (long long)count,
		          (long long)c->count);
		if (count > 0)
			check_int(c->name, "index", (long long)index,
			          (long long)c->index);
	}
}

/* Alignment */

struct align_case {
	const char *name;
	const char *a, *b;
	enum policy_dmarc_align mode;
	int want;
};

static const struct align_case align_cases[] = {
    {"equal, strict", "example.com", "example.com", S, 1},
    {"equal up to case, strict", "Example.COM", "example.com", S, 1},
    {"trailing dot, strict", "example.com.", "example.com", S, 1},
    {"subdomain, strict", "mail.example.com", "example.com", S, 0},
    {"subdomain, relaxed", "mail.example.com", "example.com", R, 1},
    {"two subdomains, relaxed", "a.example.com", "b.example.com", R, 1},
    {"other domain, relaxed", "example.net", "example.com", R, 0},
    {"suffix look-alike, relaxed", "badexample.com", "example.com", R, 0},
    {"co.uk siblings, relaxed", "a.co.uk", "b.co.uk", R, 0},
    {"co.uk same org, relaxed", "mail.bbc.co.uk", "news.bbc.co.uk", R, 1},
    {"test TLD, relaxed", "mail.sender.test", "sender.test", R, 1},
    {"test TLD siblings, relaxed", "one.test", "two.test", R, 0},
    {"public suffix itself vs its child, relaxed", "co.uk", "bbc.co.uk", R, 0},
    {"public suffix equal, relaxed", "co.uk", "co.uk", R, 1},
    {"empty", "", "example.com", R, 0},
    {"NULL", NULL, "example.com", R, 0},
};

static void
test_aligned(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(align_cases); i++) {
		const struct align_case *c = &align_cases[i];

		check_int(c->name, "aligned",
		          policy_dmarc_aligned(psl, c->a, c->b, c->mode),
		          c->want);
	}
}

/* Evaluation */

struct eval_case {
	const char *name;
	const char *from;
	const char *from_problem;
	const char *spf;     /* "domain scope result" or NULL */
	const char *dkim[3]; /* "domain selector result" */
	enum policy_dmarc_lookup lookup;
	const char *policy_domain;
	const char *record;
	unsigned int roll;
	/* want */
	enum policy_dmarc_result result;
	int spf_aligned, dkim_aligned;
	enum policy_dmarc_policy policy, disposition;
	const char *override;
	const char *reason;
};

#define FOUND     POLICY_DMARC_LOOKUP_FOUND
#define NOT_FOUND POLICY_DMARC_LOOKUP_NOT_FOUND
#define PASS      POLICY_DMARC_RESULT_PASS
#define FAIL      POLICY_DMARC_RESULT_FAIL

static const struct eval_case eval_cases[] = {
    {"spf pass aligned",
     "example.com",
     NULL,
     "example.com mfrom pass",
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=reject",
     0,
     PASS,
     1,
     0,
     REJ,
     NONE,
     NULL,
     NULL},
    {"spf pass from a subdomain, relaxed",
     "example.com",
     NULL,
     "bounce.example.com mfrom pass",
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=reject",
     0,
     PASS,
     1,
     0,
     REJ,
     NONE,
     NULL,
     NULL},
    {"spf pass from a subdomain, strict",
     "example.com",
     NULL,
     "bounce.example.com mfrom pass",
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=reject; aspf=s",
     0,
     FAIL,
     0,
     0,
     REJ,
     REJ,
     NULL,
     NULL},
    {"spf pass for another domain",
     "example.com",
     NULL,
     "attacker.example mfrom pass",
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=reject",
     0,
     FAIL,
     0,
     0,
     REJ,
     REJ,
     NULL,
     NULL},
    {"spf softfail aligned is no pass",
     "example.com",
     NULL,
     "example.com mfrom softfail",
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=quarantine",
     0,
     FAIL,
     0,
     0,
     QUAR,
     QUAR,
     NULL,
     NULL},
    {"dkim pass aligned (forwarded)",
     "example.com",
     NULL,
     "forwarder.example mfrom fail",
     {"example.com sel pass"},
     FOUND,
     "example.com",
     "v=DMARC1; p=reject",
     0,
     PASS,
     0,
     1,
     REJ,
     NONE,
     NULL,
     NULL},
    {"dkim pass by a subdomain, strict",
     "example.com",
     NULL,
     NULL,
     {"mail.example.com sel pass"},
     FOUND,
     "example.com",
     "v=DMARC1; p=reject; adkim=s",
     0,
     FAIL,
     0,
     0,
     REJ,
     REJ,
     NULL,
     NULL},
    {"dkim fail aligned, pass unaligned",
     "example.com",
     NULL,
     NULL,
     {"example.com a fail", "other.example b pass"},
     FOUND,
     "example.com",
     "v=DMARC1; p=reject",
     0,
     FAIL,
     0,
     0,
     REJ,
     REJ,
     NULL,
     NULL},
    {"second dkim signature passes",
     "example.com",
     NULL,
     NULL,
     {"other.example b pass", "example.com a pass"},
     FOUND,
     "example.com",
     "v=DMARC1; p=reject",
     0,
     PASS,
     0,
     1,
     REJ,
     NONE,
     NULL,
     NULL},
    {"p=none fails with no disposition",
     "example.com",
     NULL,
     NULL,
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=none",
     0,
     FAIL,
     0,
     0,
     NONE,
     NONE,
     NULL,
     NULL},
    {"sp for a subdomain (record at org)",
     "mail.example.com",
     NULL,
     NULL,
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=none; sp=reject",
     0,
     FAIL,
     0,
     0,
     REJ,
     REJ,
     NULL,
     NULL},
    {"p for the org itself though sp given",
     "example.com",
     NULL,
     NULL,
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=none; sp=reject",
     0,
     FAIL,
     0,
     0,
     NONE,
     NONE,
     NULL,
     NULL},
    {"record at the subdomain itself: p",
     "mail.example.com",
     NULL,
     NULL,
     {NULL},
     FOUND,
     "mail.example.com",
     "v=DMARC1; p=quarantine; sp=reject",
     0,
     FAIL,
     0,
     0,
     QUAR,
     QUAR,
     NULL,
     NULL},
    {"no sp: subdomain gets p",
     "mail.example.com",
     NULL,
     NULL,
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=quarantine",
     0,
     FAIL,
     0,
     0,
     QUAR,
     QUAR,
     NULL,
     NULL},
    {"pct 0 reject sampled out to quarantine",
     "example.com",
     NULL,
     NULL,
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=reject; pct=0",
     0,
     FAIL,
     0,
     0,
     REJ,
     QUAR,
     "sampled_out",
     NULL},
    {"pct 0 quarantine sampled out to none",
     "example.com",
     NULL,
     NULL,
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=quarantine; pct=0",
     0,
     FAIL,
     0,
     0,
     QUAR,
     NONE,
     "sampled_out",
     NULL},
    {"pct 50 roll 49 selected",
     "example.com",
     NULL,
     NULL,
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=reject; pct=50",
     49,
     FAIL,
     0,
     0,
     REJ,
     REJ,
     NULL,
     NULL},
    {"pct 50 roll 50 sampled out",
     "example.com",
     NULL,
     NULL,
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=reject; pct=50",
     50,
     FAIL,
     0,
     0,
     REJ,
     QUAR,
     "sampled_out",
     NULL},
    {"pct 100 roll 99 selected",
     "example.com",
     NULL,
     NULL,
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=reject",
     99,
     FAIL,
     0,
     0,
     REJ,
     REJ,
     NULL,
     NULL},
    {"pct 0 on a pass: nothing sampled",
     "example.com",
     NULL,
     "example.com mfrom pass",
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=reject; pct=0",
     0,
     PASS,
     1,
     0,
     REJ,
     NONE,
     NULL,
     NULL},
    {"no record: none",
     "example.com",
     NULL,
     "example.com mfrom pass",
     {NULL},
     NOT_FOUND,
     NULL,
     NULL,
     0,
     POLICY_DMARC_RESULT_NONE,
     1,
     0,
     NONE,
     NONE,
     NULL,
     "no policy published"},
    {"temperror: no disposition",
     "example.com",
     NULL,
     NULL,
     {NULL},
     POLICY_DMARC_LOOKUP_TEMPERROR,
     NULL,
     NULL,
     0,
     POLICY_DMARC_RESULT_TEMPERROR,
     0,
     0,
     NONE,
     NONE,
     NULL,
     "policy lookup failed"},
    {"from problem fails an aligned pass",
     "example.com",
     "several From fields",
     "example.com mfrom pass",
     {"example.com s pass"},
     FOUND,
     "example.com",
     "v=DMARC1; p=reject",
     0,
     FAIL,
     1,
     1,
     REJ,
     REJ,
     NULL,
     "several From fields"},
    {"from problem without a policy",
     "",
     "no From field",
     NULL,
     {NULL},
     NOT_FOUND,
     NULL,
     NULL,
     0,
     FAIL,
     0,
     0,
     NONE,
     NONE,
     NULL,
     "no From field"},
    {"helo scope counts (null sender)",
     "example.com",
     NULL,
     "mx.example.com helo pass",
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=reject",
     0,
     PASS,
     1,
     0,
     REJ,
     NONE,
     NULL,
     NULL},
    {"p assumed none from rua",
     "example.com",
     NULL,
     NULL,
     {NULL},
     FOUND,
     "example.com",
     "v=DMARC1; p=bad; rua=mailto:r@example.com",
     0,
     FAIL,
     0,
     0,
     NONE,
     NONE,
     NULL,
     NULL},
};

/* "a b c" into three words. */
static void
words3(const char *s, char *a, char *b, char *c)
{
	assert_int_equal(sscanf(s, "%255s %63s %15s", a, b, c), 3);
}

static void
eval_case_setup(struct policy_dmarc_eval *e, const struct eval_case *c)
{
	struct policy_dmarc_record r;
	char a[256], b[64], w[16];
	const char *error = NULL;
	size_t i;

	policy_dmarc_eval_init(e, c->from);
	e->from_problem = c->from_problem;
	if (c->spf != NULL) {
		words3(c->spf, a, b, w);
		policy_dmarc_eval_spf(e, a, b, w);
	}
	for (i = 0; i < ARRAY_LEN(c->dkim) && c->dkim[i] != NULL; i++) {
		words3(c->dkim[i], a, b, w);
		policy_dmarc_eval_dkim(e, a, b, w);
	}
	e->lookup = c->lookup;
	if (c->lookup == FOUND) {
		assert_int_equal(
		    policy_dmarc_record_parse(c->record, &r, &error), 0);
		policy_dmarc_eval_found(e, c->policy_domain, &r);
	}
}

static void
test_evaluate(void **state)
{
	struct policy_dmarc_eval e;
	size_t i;

	for (i = 0; i < ARRAY_LEN(eval_cases); i++) {
		const struct eval_case *c = &eval_cases[i];

		eval_case_setup(&e, c);
		policy_dmarc_evaluate(&e, psl, c->roll);
		check_str(c->name, "result", policy_dmarc_result_name(e.result),
		          policy_dmarc_result_name(c->result));
		check_int(c->name, "spf aligned", e.spf_aligned,
		          c->spf_aligned);
		check_int(c->name, "dkim aligned", e.dkim_aligned,
		          c->dkim_aligned);
		check_str(c->name, "policy", policy_dmarc_policy_name(e.policy),
		          policy_dmarc_policy_name(c->policy));
		check_str(c->name, "disposition",
		          policy_dmarc_policy_name(e.disposition),
		          policy_dmarc_policy_name(c->disposition));
		check_str(c->name, "override", e.override, c->override);
		check_str(c->name, "reason", e.reason, c->reason);
	}
}

static void
test_eval_org_domain(void **state)
{
	struct policy_dmarc_eval e;

	policy_dmarc_eval_init(&e, "a.b.example.co.uk");
	policy_dmarc_evaluate(&e, psl, 0);
	check_str("a.b.example.co.uk", "org domain", e.org_domain,
	          "example.co.uk");
}

/* A pass arriving after the table is full replaces a non-pass. */
static void
test_eval_dkim_overflow(void **state)
{
	struct policy_dmarc_eval e;
	char d[32];
	size_t i;

	policy_dmarc_eval_init(&e, "example.com");
	for (i = 0; i < POLICY_DMARC_DKIM_MAX + 3; i++) {
		snprintf(d, sizeof(d), "d%zu.example", i);
		policy_dmarc_eval_dkim(&e, d, "s", "fail");
	}
	policy_dmarc_eval_dkim(&e, "example.com", "s", "pass");
	check_int("9th to 11th dropped", "ndkim", (long long)e.ndkim,
	          POLICY_DMARC_DKIM_MAX);
	check_str("late pass kept", "dkim[0].domain", e.dkim[0].domain,
	          "example.com");
	check_str("late pass kept", "dkim[1].domain", e.dkim[1].domain,
	          "d1.example");
	policy_dmarc_eval_dkim(&e, "late.example", "s", "fail");
	check_str("late fail dropped", "dkim[0].domain", e.dkim[0].domain,
	          "example.com");
}

/* JSON */

static void
test_json(void **state)
{
	struct policy_dmarc_eval e;
	struct policy_dmarc_record r;
	const char *error = NULL;
	char *json;

	policy_dmarc_eval_init(&e, "example.com");
	snprintf(e.source, sizeof(e.source), "192.0.2.1");
	snprintf(e.envelope_from, sizeof(e.envelope_from), "bounce.example");
	policy_dmarc_eval_spf(&e, "bounce.example", "mfrom", "fail");
	policy_dmarc_eval_dkim(&e, "other.example", "s1", "pass");
	assert_int_equal(
	    policy_dmarc_record_parse("v=DMARC1; p=reject; pct=50; adkim=s; "
	                              "rua=mailto:r@example.com; fo=1",
	                              &r, &error),
	    0);
	policy_dmarc_eval_found(&e, "example.com", &r);
	policy_dmarc_evaluate(&e, psl, 70);
	json = policy_dmarc_eval_json(&e, "S1", 1700000000);
	check_str(
	    "sampled-out reject", "json", json,
	    "{\"time\":1700000000,\"id\":\"S1\",\"source_ip\":"
	    "\"192.0.2.1\",\"header_from\":\"example.com\",\"envelope_from\":"
	    "\"bounce.example\",\"org_domain\":\"example.com\",\"result\":"
	    "\"fail\",\"reason\":null,\"policy\":\"reject\","
	    "\"policy_published\":{\"domain\":\"example.com\",\"p\":\"reject\","
	    "\"sp\":\"reject\",\"pct\":50,\"adkim\":\"s\",\"aspf\":\"r\","
	    "\"fo\":\"1\",\"rua\":\"mailto:r@example.com\",\"ruf\":\"\","
	    "\"ri\":86400},\"policy_evaluated\":{\"disposition\":"
	    "\"quarantine\",\"dkim\":\"fail\",\"spf\":\"fail\",\"reason\":"
	    "\"sampled_out\"},\"auth_results\":{\"spf\":{\"domain\":"
	    "\"bounce.example\",\"scope\":\"mfrom\",\"result\":\"fail\"},"
	    "\"dkim\":[{\"domain\":\"other.example\",\"selector\":\"s1\","
	    "\"result\":\"pass\"}]}}");
	free(json);
}

static void
test_json_escaping(void **state)
{
	struct policy_dmarc_eval e;
	struct policy_dmarc_record r;
	const char *error = NULL;
	char *json;

	policy_dmarc_eval_init(&e, "");
	e.from_problem = "no From field";
	assert_int_equal(
	    policy_dmarc_record_parse(
	        "v=DMARC1; p=none; rua=mailto:\"q\"\\\x01\xc3\xa9", &r, &error),
	    0);
	policy_dmarc_eval_found(&e, "x.example", &r);
	policy_dmarc_evaluate(&e, psl, 0);
	json = policy_dmarc_eval_json(&e, "S\"2", 0);
	assert_non_null(strstr(json, "\"id\":\"S\\\"2\""));
	check_int("rua with quote, backslash, control and UTF-8",
	          "escaped form found",
	          strstr(json, "\"rua\":\"mailto:\\\"q\\\"\\\\\\u0001\\u00c3"
	                       "\\u00a9\"") != NULL,
	          1);
	check_int("no From", "header_from empty",
	          strstr(json, "\"header_from\":\"\"") != NULL, 1);
	check_int("no From", "reason",
	          strstr(json, "\"reason\":\"no From "
	                       "field\"") != NULL,
	          1);
	free(json);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_parse),
	    cmocka_unit_test(test_record_rua_cut),
	    cmocka_unit_test(test_record_select),
	    cmocka_unit_test(test_aligned),
	    cmocka_unit_test(test_evaluate),
	    cmocka_unit_test(test_eval_org_domain),
	    cmocka_unit_test(test_eval_dkim_overflow),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_json_escaping),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
