/*
 * test_filter_spf.c - the SPF filter (filters/filter_spf.c) and its DNS
 * layer (filters/filter_spf_dns.c) against a real unbound that the test
 * starts on a free loopback port with the records below: every result
 * and what each policy makes of it, the null sender and the HELO check,
 * the RFC 7208 limits (10 DNS-querying terms, 2 void lookups), the
 * sessions that are not checked, the Received-SPF field as it is
 * written and folded, and the DNS layer's answers and void count.
 * Client addresses are documentation addresses, used as data only.
 * unit_unbound.h starts the server (UNBOUND names its binary).
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/filter.h"
#include "filters/filter_spf.h"
#include "filters/filter_spf_private.h"
#include "util/dns.h"
#include "util/netaddr.h"
#include "tests/unit/unit.h"
#include "tests/unit/unit_unbound.h"

#define LOOKUP_MS 1000
#define RECEIVER  "postern.test"

/* Runs of DNS-querying terms. */
#define A_HOST "a:host.example.test "
#define FOUR_A A_HOST A_HOST A_HOST A_HOST
#define FIVE_A FOUR_A A_HOST
#define TEN_A  FIVE_A FIVE_A
/* Expands to 220 octets for longexp.example.test, too long for a
 * reply. */
#define LONG_EXP "%{d}%{d}%{d}%{d}%{d}%{d}%{d}%{d}%{d}%{d}%{d}"

static const char *const zone_records[] = {
    "pass.example.test. TXT \"v=spf1 ip4:192.0.2.1 ip6:2001:db8::1 -all\"",
    "fail.example.test. TXT \"v=spf1 -all\"",
    "failexp.example.test. TXT \"v=spf1 -all exp=exp.example.test\"",
    "exp.example.test. TXT \"%{i} may not send for %{d}\"",
    "longexp.example.test. TXT \"v=spf1 -all exp=long.example.test\"",
    "long.example.test. TXT \"" LONG_EXP "\"",
    "softfail.example.test. TXT \"v=spf1 ~all\"",
    "neutral.example.test. TXT \"v=spf1 ?all\"",
    "nospf.example.test. A 192.0.2.7",
    "nospf.example.test. TXT \"not an spf record\"",
    "syntax.example.test. TXT \"v=spf1 frobnicate -all\"",
    "two.example.test. TXT \"v=spf1 -all\"",
    "two.example.test. TXT \"v=spf1 +all\"",
    "inctemp.example.test. TXT \"v=spf1 include:x.refused.test -all\"",
    "voids2.example.test. TXT \"v=spf1 a:nx1.example.test "
    "a:nx2.example.test ip4:192.0.2.1 -all\"",
    "voids3.example.test. TXT \"v=spf1 a:nx1.example.test "
    "a:fail.example.test mx:nospf.example.test ip4:192.0.2.1 -all\"",
    "mech10.example.test. TXT \"v=spf1 " TEN_A "ip4:192.0.2.1 -all\"",
    "mech11.example.test. TXT \"v=spf1 " TEN_A A_HOST "ip4:192.0.2.1 -all\"",
    "host.example.test. A 192.0.2.50",
    "mxpass.example.test. TXT \"v=spf1 mx:mx.example.test -all\"",
    "mx.example.test. MX 10 mail.example.test.",
    "mail.example.test. A 192.0.2.1",
    "mail.example.test. TXT \"v=spf1 a -all\"",
    "ptrpass.example.test. TXT \"v=spf1 ptr:example.test -all\"",
    "1.2.0.192.in-addr.arpa. PTR mail.example.test.",
    "helofail.example.test. TXT \"v=spf1 -all\"",
    "incover.example.test. TXT \"v=spf1 " FIVE_A
    "include:sub5.example.test ip4:192.0.2.1 -all\"",
    "incok.example.test. TXT \"v=spf1 " FOUR_A
    "include:sub5.example.test ip4:192.0.2.1 -all\"",
    "sub5.example.test. TXT \"v=spf1 " FIVE_A "-all\"",
    "mx3.example.test. MX 10 m1.example.test.",
    "mx3.example.test. MX 20 m2.example.test.",
    "mx3.example.test. MX 30 m3.example.test.",
    "m1.example.test. A 192.0.2.51",
    "m2.example.test. A 192.0.2.52",
    "m3.example.test. A 192.0.2.53",
    "mxaddr.example.test. TXT \"v=spf1 mx:mx3.example.test " FIVE_A FOUR_A
    "ip4:192.0.2.1 -all\"",
    "mxnx.example.test. MX 10 nx1.example.test.",
    "mxnx.example.test. MX 20 nx2.example.test.",
    "mxnx.example.test. MX 30 nx3.example.test.",
    "mxvoid.example.test. TXT \"v=spf1 mx:mxnx.example.test "
    "ip4:192.0.2.1 -all\"",
    "redirall.example.test. TXT \"v=spf1 redirect=pass.example.test ?all\"",
    "redirlast.example.test. TXT \"v=spf1 redirect=fail.example.test "
    "ip4:192.0.2.9\"",
    "modifier.example.test. TXT \"v=spf1 x.y-z_w=a:b/c ip4:192.0.2.1 -all\"",
};

static struct unit_unbound server = {.pid = -1};
static struct dns *dns;

/* ------------------------------------------------------ the server */

/* refused.test answers REFUSED, slow.test never answers. */
static void
write_records(FILE *f)
{
	size_t i;

	fprintf(f, "\tlocal-zone: \"example.test.\" static\n"
	           "\tlocal-zone: \"2.0.192.in-addr.arpa.\" static\n"
	           "\tlocal-zone: \"refused.test.\" refuse\n"
	           "\tlocal-zone: \"slow.test.\" deny\n"
	           "\tlocal-data: \"example.test. SOA ns.example.test. "
	           "hostmaster.example.test. 1 3600 600 86400 300\"\n");
	for (i = 0; i < ARRAY_LEN(zone_records); i++)
		fprintf(f, "\tlocal-data: '%s'\n", zone_records[i]);
}

static int
group_setup(void **state)
{
	/* libunbound answers these itself unless told not to. */
	static const char *const zones[] = {"test.", "2.0.192.in-addr.arpa."};

	if (unit_tmpdir_make("postern-test-spf") < 0 ||
	    unit_unbound_start(&server, write_records) < 0)
		return -1;
	dns = unit_unbound_resolver(server.port, LOOKUP_MS, zones,
	                            ARRAY_LEN(zones));
	return dns != NULL ? 0 : -1;
}

static int
group_teardown(void **state)
{
	dns_destroy(&dns);
	unit_unbound_stop(&server);
	unit_tmpdir_remove();
	return 0;
}

/* ------------------------------------------------ running the filter */

/* Policies of the cases below. */
enum policy {
	POLICY_DEFAULT = 0, /* reject, tag, tag, tempfail */
	POLICY_STRICT,      /* reject, reject, reject, tempfail */
	POLICY_LENIENT,     /* accept, accept, accept, accept */
	POLICY_HELO,        /* default, and check_helo */
	POLICY_TRUSTED,     /* default, 192.0.2.128/25 trusted */
};

static struct filter_chain *
chain_new(enum policy p)
{
	struct filter_spf_opts o = {
	    .dns = dns,
	    .on_fail = FILTER_SPF_REJECT,
	    .on_softfail = FILTER_SPF_TAG,
	    .on_permerror = FILTER_SPF_TAG,
	    .on_temperror = FILTER_SPF_TEMPFAIL,
	    .hostname = RECEIVER,
	};
	struct filter_chain *chain = filter_chain_new();
	const char *error = NULL;

	if (p == POLICY_STRICT)
		o.on_softfail = o.on_permerror = FILTER_SPF_REJECT;
	if (p == POLICY_LENIENT)
		o.on_fail = o.on_softfail = o.on_permerror = o.on_temperror =
		    FILTER_SPF_ACCEPT;
	o.check_helo = p == POLICY_HELO;
	if (p == POLICY_TRUSTED) {
		o.trusted = netlist_new();
		assert_int_equal(
		    netlist_add(o.trusted, "192.0.2.128/25", &error), 0);
	}
	if (filter_spf_add(chain, &o, &error) < 0)
		fail_msg("filter_spf_add: got %s, want 0", error);
	return chain;
}

/* One session and transaction through the MAIL phase. */
struct run {
	struct filter_session s;
	struct filter_txn t;
	struct filter_verdict v;
	int done;
};

static void
done_cb(void *arg, const struct filter_verdict *v)
{
	struct run *r = arg;

	r->v = *v;
	r->done = 1;
}

static void
run_start(struct run *r, const char *client, const char *helo,
          const char *sender, int outbound)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->s.id, sizeof(r->s.id), "spftest");
	if (netaddr_parse_ip(client, &r->s.client) < 0)
		fail_msg("test client address %s does not parse", client);
	snprintf(r->s.client_ip, sizeof(r->s.client_ip), "%s", client);
	snprintf(r->s.helo, sizeof(r->s.helo), "%s", helo);
	r->s.outbound = outbound;
	r->s.hostname = RECEIVER;
	filter_txn_init(&r->t, &r->s);
	filter_txn_set_sender(&r->t, sender);
}

static void
run_phase(struct filter_chain *chain, struct run *r, enum filter_phase ph)
{
	r->done = 0;
	filter_chain_run(chain, NULL, ph, &r->s, &r->t, done_cb, r);
	assert_int_equal(r->done, 1);
}

/* The recorded results as "result [reason] props; ...". */
static char *
auth_text(const struct filter_txn *t)
{
	const struct filter_auth *a;
	char *text = xstrdup(""), *more;

	for (a = t->auth; a != NULL; a = a->next) {
		more =
		    xasprintf("%s%s%s %s%s%s%s", text, text[0] ? "; " : "",
		              a->method, a->result, a->reason ? " (" : "",
		              a->reason ? a->reason : "", a->reason ? ")" : "");
		free(text);
		text = xasprintf("%s %s", more, a->props ? a->props : "-");
		free(more);
	}
	return text;
}

/* ----------------------------------------------------- MAIL phase */

struct mail_case {
	const char *desc;
	enum policy policy;
	const char *client;
	const char *helo;
	const char *sender;
	enum filter_action action;
	int code;          /* 0 with CONTINUE */
	const char *ecode; /* "" with CONTINUE */
	const char *text;  /* NULL: not checked */
	const char *auth;  /* auth_text() */
	const char *notes;
};

/* The verdict fields of a case the filter lets through. */
#define CONTINUED FILTER_CONTINUE, 0, "", NULL

#define C4  "192.0.2.1"
#define C4X "192.0.2.9"
#define H   "mail.example.test"

static const struct mail_case mail_cases[] = {
    {"pass by ip4", POLICY_DEFAULT, C4, H, "a@pass.example.test", CONTINUED,
     "spf pass smtp.mailfrom=pass.example.test", "spf=pass"},
    {"pass by ip6", POLICY_DEFAULT, "2001:db8::1", H, "a@pass.example.test",
     CONTINUED, "spf pass smtp.mailfrom=pass.example.test", "spf=pass"},
    {"IPv4-mapped IPv6 client is its IPv4 address", POLICY_DEFAULT,
     "::ffff:192.0.2.1", H, "a@pass.example.test", CONTINUED,
     "spf pass smtp.mailfrom=pass.example.test", "spf=pass"},
    {"pass by mx", POLICY_DEFAULT, C4, H, "a@mxpass.example.test", CONTINUED,
     "spf pass smtp.mailfrom=mxpass.example.test", "spf=pass"},
    {"pass by ptr", POLICY_DEFAULT, C4, H, "a@ptrpass.example.test", CONTINUED,
     "spf pass smtp.mailfrom=ptrpass.example.test", "spf=pass"},
    {"fail rejected with the default explanation", POLICY_DEFAULT, C4X, H,
     "a@fail.example.test", FILTER_REJECT, 550, "5.7.23",
     "domain of fail.example.test does not designate 192.0.2.9 as "
     "permitted sender",
     "spf fail smtp.mailfrom=fail.example.test", "spf=fail"},
    {"fail rejected with the domain's explanation", POLICY_DEFAULT, C4X, H,
     "a@failexp.example.test", FILTER_REJECT, 550, "5.7.23",
     "192.0.2.9 may not send for failexp.example.test",
     "spf fail smtp.mailfrom=failexp.example.test", "spf=fail"},
    {"fail with an explanation too long for a reply", POLICY_DEFAULT, C4X, H,
     "a@longexp.example.test", FILTER_REJECT, 550, "5.7.23",
     "SPF fail: sender not permitted",
     "spf fail smtp.mailfrom=longexp.example.test", "spf=fail"},
    {"fail accepted", POLICY_LENIENT, C4X, H, "a@fail.example.test", CONTINUED,
     "spf fail smtp.mailfrom=fail.example.test", "spf=fail"},
    {"softfail tagged", POLICY_DEFAULT, C4X, H, "a@softfail.example.test",
     CONTINUED, "spf softfail smtp.mailfrom=softfail.example.test",
     "spf=softfail"},
    {"softfail rejected", POLICY_STRICT, C4X, H, "a@softfail.example.test",
     FILTER_REJECT, 550, "5.7.23", "SPF softfail: sender not permitted",
     "spf softfail smtp.mailfrom=softfail.example.test", "spf=softfail"},
    {"neutral", POLICY_STRICT, C4X, H, "a@neutral.example.test", CONTINUED,
     "spf neutral smtp.mailfrom=neutral.example.test", "spf=neutral"},
    {"none: TXT but no SPF record", POLICY_STRICT, C4X, H,
     "a@nospf.example.test", CONTINUED,
     "spf none smtp.mailfrom=nospf.example.test", "spf=none"},
    {"none: no such domain", POLICY_STRICT, C4X, H, "a@nx.example.test",
     CONTINUED, "spf none smtp.mailfrom=nx.example.test", "spf=none"},
    {"none: a label over 63 octets", POLICY_STRICT, C4X, H,
     "a@a1234567890123456789012345678901234567890123456789012345678901234"
     ".example.test",
     CONTINUED,
     "spf none smtp.mailfrom=a1234567890123456789012345678901234567890123"
     "456789012345678901234.example.test",
     "spf=none"},
    {"permerror for a syntax error, tagged", POLICY_DEFAULT, C4X, H,
     "a@syntax.example.test", CONTINUED,
     "spf permerror (unknown mechanism) "
     "smtp.mailfrom=syntax.example.test",
     "spf=permerror"},
    {"permerror for a syntax error, rejected", POLICY_STRICT, C4X, H,
     "a@syntax.example.test", FILTER_REJECT, 550, "5.7.24",
     "SPF permanent error: unknown mechanism",
     "spf permerror (unknown mechanism) "
     "smtp.mailfrom=syntax.example.test",
     "spf=permerror"},
    {"permerror for two records", POLICY_STRICT, C4X, H, "a@two.example.test",
     FILTER_REJECT, 550, "5.7.24", NULL,
     "spf permerror (Multiple SPF or TXT records for domain.) "
     "smtp.mailfrom=two.example.test",
     "spf=permerror"},
    {"two void lookups are allowed", POLICY_STRICT, C4, H,
     "a@voids2.example.test", CONTINUED,
     "spf pass smtp.mailfrom=voids2.example.test", "spf=pass"},
    {"three void lookups (NXDOMAIN, no A, no MX) are a permerror",
     POLICY_STRICT, C4, H, "a@voids3.example.test", FILTER_REJECT, 550,
     "5.7.24", "SPF permanent error: more than 2 void lookups",
     "spf permerror (more than 2 void lookups) "
     "smtp.mailfrom=voids3.example.test",
     "spf=permerror"},
    {"ten DNS-querying terms are allowed", POLICY_STRICT, C4, H,
     "a@mech10.example.test", CONTINUED,
     "spf pass smtp.mailfrom=mech10.example.test", "spf=pass"},
    {"eleven DNS-querying terms are a permerror", POLICY_STRICT, C4, H,
     "a@mech11.example.test", FILTER_REJECT, 550, "5.7.24", NULL,
     "spf permerror (more than 10 DNS-querying terms) "
     "smtp.mailfrom=mech11.example.test",
     "spf=permerror"},
    {"terms counted across include: 5 + include + 5 is too many", POLICY_STRICT,
     C4, H, "a@incover.example.test", FILTER_REJECT, 550, "5.7.24", NULL,
     "spf permerror (more than 10 DNS-querying terms) "
     "smtp.mailfrom=incover.example.test",
     "spf=permerror"},
    {"terms counted across include: 4 + include + 5 is allowed", POLICY_STRICT,
     C4, H, "a@incok.example.test", CONTINUED,
     "spf pass smtp.mailfrom=incok.example.test", "spf=pass"},
    {"an MX's address lookups are not terms", POLICY_STRICT, C4, H,
     "a@mxaddr.example.test", CONTINUED,
     "spf pass smtp.mailfrom=mxaddr.example.test", "spf=pass"},
    {"an MX's addresses not found are not void lookups", POLICY_STRICT, C4, H,
     "a@mxvoid.example.test", CONTINUED,
     "spf pass smtp.mailfrom=mxvoid.example.test", "spf=pass"},
    {"redirect= ignored beside all", POLICY_STRICT, C4, H,
     "a@redirall.example.test", CONTINUED,
     "spf neutral smtp.mailfrom=redirall.example.test", "spf=neutral"},
    {"redirect= after the mechanisms", POLICY_STRICT, C4X, H,
     "a@redirlast.example.test", CONTINUED,
     "spf pass smtp.mailfrom=redirlast.example.test", "spf=pass"},
    {"unknown modifier with '.', '-' and '_' ignored", POLICY_STRICT, C4, H,
     "a@modifier.example.test", CONTINUED,
     "spf pass smtp.mailfrom=modifier.example.test", "spf=pass"},
    {"temperror: REFUSED", POLICY_DEFAULT, C4X, H, "a@refused.test",
     FILTER_TEMPFAIL, 451, "4.7.24", "SPF temporary error, try again later",
     "spf temperror (DNS lookup failure) smtp.mailfrom=refused.test",
     "spf=temperror"},
    {"temperror: an include's record", POLICY_DEFAULT, C4X, H,
     "a@inctemp.example.test", FILTER_TEMPFAIL, 451, "4.7.24", NULL,
     "spf temperror (DNS lookup failure) smtp.mailfrom=inctemp.example.test",
     "spf=temperror"},
    {"temperror: a timeout, accepted", POLICY_LENIENT, C4X, H, "a@slow.test",
     CONTINUED, "spf temperror (DNS lookup failure) smtp.mailfrom=slow.test",
     "spf=temperror"},
    {"null sender: the HELO identity", POLICY_DEFAULT, C4X,
     "helofail.example.test", "", FILTER_REJECT, 550, "5.7.23", NULL,
     "spf fail smtp.helo=helofail.example.test", "spf=fail"},
    {"check_helo records the HELO result too", POLICY_HELO, C4X,
     "helofail.example.test", "a@softfail.example.test", CONTINUED,
     "spf softfail smtp.mailfrom=softfail.example.test; "
     "spf fail smtp.helo=helofail.example.test",
     "spf=softfail spf_helo=fail"},
    {"check_helo once for the null sender", POLICY_HELO, C4, H, "", CONTINUED,
     "spf pass smtp.helo=mail.example.test", "spf=pass"},
    {"trusted forwarder not checked", POLICY_TRUSTED, "192.0.2.200", H,
     "a@fail.example.test", CONTINUED, "", "spf=trusted"},
    {"outside the trusted forwarders", POLICY_TRUSTED, "192.0.2.100", H,
     "a@fail.example.test", FILTER_REJECT, 550, "5.7.23", NULL,
     "spf fail smtp.mailfrom=fail.example.test", "spf=fail"},
    {"loopback client not checked", POLICY_DEFAULT, "127.0.0.1", H,
     "a@fail.example.test", CONTINUED, "", "spf=local"},
    {"IPv6 loopback client not checked", POLICY_DEFAULT, "::1", H,
     "a@fail.example.test", CONTINUED, "", "spf=local"},
};

static struct filter_chain *chains[POLICY_TRUSTED + 1];

static int
chains_setup(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(chains); i++)
		chains[i] = chain_new((enum policy)i);
	return 0;
}

static int
chains_teardown(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(chains); i++)
		filter_chain_free(&chains[i]);
	return 0;
}

static void
mail_case_check(const struct mail_case *c)
{
	struct run r;
	char *auth;

	run_start(&r, c->client, c->helo, c->sender, 0);
	run_phase(chains[c->policy], &r, FILTER_PHASE_MAIL);
	check_str(c->desc, "action", filter_action_name(r.v.action),
	          filter_action_name(c->action));
	check_int(c->desc, "code", r.v.code, c->code);
	check_str(c->desc, "enhanced code", r.v.ecode, c->ecode);
	if (c->text != NULL)
		check_str(c->desc, "text", r.v.text, c->text);
	auth = auth_text(&r.t);
	check_str(c->desc, "results", auth, c->auth);
	free(auth);
	check_str(c->desc, "notes", r.t.notes, c->notes);
	filter_txn_deinit(&r.t);
}

static void
test_mail_cases(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(mail_cases); i++)
		mail_case_check(&mail_cases[i]);
}

static void
test_outbound_not_checked(void **state)
{
	struct run r;

	run_start(&r, C4X, H, "a@fail.example.test", 1);
	run_phase(chains[POLICY_DEFAULT], &r, FILTER_PHASE_MAIL);
	check_str("outbound", "action", filter_action_name(r.v.action),
	          "continue");
	check_int("outbound", "results", r.t.auth != NULL, 0);
	check_str("outbound", "notes", r.t.notes, "");
	run_phase(chains[POLICY_DEFAULT], &r, FILTER_PHASE_EOM);
	check_int("outbound", "headers added", r.t.prepend != NULL, 0);
	filter_txn_deinit(&r.t);
}

/* ----------------------------------------------------- Received-SPF */

struct received_case {
	const char *desc;
	enum policy policy;
	const char *client;
	const char *helo;
	const char *sender;
	const char *want[2]; /* the fields from the top; NULL: no more */
};

static const struct received_case received_cases[] = {
    {"pass, folded at 78 columns",
     POLICY_DEFAULT,
     C4,
     H,
     "alice@pass.example.test",
     {"pass (postern.test: domain of alice@pass.example.test designates\r\n"
      "\t192.0.2.1 as permitted sender) client-ip=192.0.2.1;\r\n"
      "\tenvelope-from=\"alice@pass.example.test\"; helo=mail.example.test;\r\n"
      "\treceiver=postern.test; identity=mailfrom"}},
    {"fail from IPv6: client-ip quoted",
     POLICY_LENIENT,
     "2001:db8::9",
     H,
     "b@fail.example.test",
     {"fail (postern.test: domain of b@fail.example.test does not\r\n"
      "\tdesignate 2001:db8::9 as permitted sender) client-ip=\"2001:db8::9\";"
      "\r\n"
      "\tenvelope-from=\"b@fail.example.test\"; helo=mail.example.test;\r\n"
      "\treceiver=postern.test; identity=mailfrom"}},
    {"softfail from a quoted local part",
     POLICY_DEFAULT,
     C4X,
     H,
     "\"x y\\\"z\"@softfail.example.test",
     {"softfail (postern.test: domain of transitioning \"x\r\n"
      "\ty?\"z\"@softfail.example.test does not designate 192.0.2.9 as "
      "permitted\r\n"
      "\tsender) client-ip=192.0.2.9;\r\n"
      "\tenvelope-from=\"\\\"x y\\\\\\\"z\\\"@softfail.example.test\";\r\n"
      "\thelo=mail.example.test; receiver=postern.test; identity=mailfrom"}},
    {"neutral",
     POLICY_DEFAULT,
     C4X,
     H,
     "c@neutral.example.test",
     {"neutral (postern.test: 192.0.2.9 is neither permitted nor denied\r\n"
      "\tby domain of c@neutral.example.test) client-ip=192.0.2.9;\r\n"
      "\tenvelope-from=\"c@neutral.example.test\"; helo=mail.example.test;\r\n"
      "\treceiver=postern.test; identity=mailfrom"}},
    {"none",
     POLICY_DEFAULT,
     C4X,
     H,
     "d@nospf.example.test",
     {"none (postern.test: domain of d@nospf.example.test does not\r\n"
      "\tdesignate permitted sender hosts) client-ip=192.0.2.9;\r\n"
      "\tenvelope-from=\"d@nospf.example.test\"; helo=mail.example.test;\r\n"
      "\treceiver=postern.test; identity=mailfrom"}},
    {"permerror with its reason",
     POLICY_DEFAULT,
     C4X,
     H,
     "e@syntax.example.test",
     {"permerror (postern.test: permanent error in processing domain of\r\n"
      "\te@syntax.example.test: unknown mechanism) client-ip=192.0.2.9;\r\n"
      "\tenvelope-from=\"e@syntax.example.test\"; helo=mail.example.test;\r\n"
      "\treceiver=postern.test; identity=mailfrom"}},
    {"temperror with its reason",
     POLICY_LENIENT,
     C4X,
     H,
     "f@refused.test",
     {"temperror (postern.test: error in processing during lookup of\r\n"
      "\tf@refused.test: DNS lookup failure) client-ip=192.0.2.9;\r\n"
      "\tenvelope-from=\"f@refused.test\"; helo=mail.example.test;\r\n"
      "\treceiver=postern.test; identity=mailfrom"}},
    {"null sender: identity helo, empty envelope-from",
     POLICY_DEFAULT,
     C4,
     H,
     "",
     {"pass (postern.test: domain of mail.example.test designates\r\n"
      "\t192.0.2.1 as permitted sender) client-ip=192.0.2.1; "
      "envelope-from=\"\";\r\n"
      "\thelo=mail.example.test; receiver=postern.test; identity=helo"}},
    {"check_helo: the HELO field on top",
     POLICY_HELO,
     C4,
     H,
     "g@pass.example.test",
     {"pass (postern.test: domain of mail.example.test designates\r\n"
      "\t192.0.2.1 as permitted sender) client-ip=192.0.2.1;\r\n"
      "\tenvelope-from=\"g@pass.example.test\"; helo=mail.example.test;\r\n"
      "\treceiver=postern.test; identity=helo",
      "pass (postern.test: domain of g@pass.example.test designates\r\n"
      "\t192.0.2.1 as permitted sender) client-ip=192.0.2.1;\r\n"
      "\tenvelope-from=\"g@pass.example.test\"; helo=mail.example.test;\r\n"
      "\treceiver=postern.test; identity=mailfrom"}},
};

/* No line of a field longer than 78 octets (with "Received-SPF: "). */
static void
check_line_lengths(const char *desc, const char *value)
{
	size_t col = strlen("Received-SPF: ");
	const char *p;

	for (p = value; *p != '\0'; p++) {
		if (*p == '\n') {
			col = 0;
			continue;
		}
		if (*p != '\r' && ++col > 78)
			fail_msg("%s: a line over 78 octets in %s", desc,
			         value);
	}
}

static void
received_case_check(const struct received_case *c)
{
	const struct filter_header *h;
	struct run r;
	size_t i;

	run_start(&r, c->client, c->helo, c->sender, 0);
	run_phase(chains[c->policy], &r, FILTER_PHASE_MAIL);
	run_phase(chains[c->policy], &r, FILTER_PHASE_EOM);
	/* The last prepended is first, as it will go on top. */
	h = r.t.prepend;
	for (i = 0; i < ARRAY_LEN(c->want) && c->want[i] != NULL; i++) {
		if (h == NULL)
			fail_msg("%s: got %zu fields, want more", c->desc, i);
		check_str(c->desc, "field name", h->name, "Received-SPF");
		check_str(c->desc, "field value", h->value, c->want[i]);
		check_line_lengths(c->desc, h->value);
		h = h->next;
	}
	check_int(c->desc, "more fields", h != NULL, 0);
	filter_txn_deinit(&r.t);
}

static void
test_received_spf(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(received_cases); i++)
		received_case_check(&received_cases[i]);
}

/* ------------------------------------------------------ DNS layer */

/* One lookup of a sequence on one layer, and the counts after it. */
struct layer_step {
	const char *desc;
	const char *name;
	ns_type type;
	int herrno;
	int nrr;
	const char *first; /* text of the first record; NULL: not text */
	unsigned int terms;
	unsigned int voids;
	int perm; /* the evaluation is a permerror by now */
};

#define VOIDS "more than 2 void lookups"
#define TERMS "more than 10 DNS-querying terms"

static const struct layer_step void_steps[] = {
    {"txt: check_host's own record is no term", "fail.example.test", ns_t_txt,
     NETDB_SUCCESS, 1, "v=spf1 -all", 0, 0, 0},
    {"txt nxdomain is no term and no void lookup", "nx.example.test", ns_t_txt,
     HOST_NOT_FOUND, 0, NULL, 0, 0, 0},
    {"type SPF answered no data without asking", "fail.example.test", ns_t_spf,
     NO_DATA, 0, NULL, 0, 0, 0},
    {"mx as the exchange's name: a term", "mx.example.test", ns_t_mx,
     NETDB_SUCCESS, 1, "mail.example.test", 1, 0, 0},
    {"a of the exchange is no term", "mail.example.test", ns_t_a, NETDB_SUCCESS,
     1, NULL, 1, 0, 0},
    {"ptr as the name: a term", "1.2.0.192.in-addr.arpa", ns_t_ptr,
     NETDB_SUCCESS, 1, "mail.example.test", 2, 0, 0},
    {"a of another name than the ptr's: a term", "host.example.test", ns_t_a,
     NETDB_SUCCESS, 1, NULL, 3, 0, 0},
    {"a nxdomain: void 1", "nx1.example.test", ns_t_a, HOST_NOT_FOUND, 0, NULL,
     4, 1, 0},
    {"aaaa no data: void 2", "host.example.test", ns_t_aaaa, NO_DATA, 0, NULL,
     5, 2, 0},
    {"malformed name: not found, not void", "a..example.test", ns_t_a,
     HOST_NOT_FOUND, 0, NULL, 6, 2, 0},
    {"refused: try again, not void", "x.refused.test", ns_t_a, TRY_AGAIN, 0,
     NULL, 7, 2, 0},
    {"mx no data: void 3", "host.example.test", ns_t_mx, NO_DATA, 0, NULL, 8, 3,
     1},
    {"after the limit nothing is asked", "host.example.test", ns_t_a,
     HOST_NOT_FOUND, 0, NULL, 8, 3, 1},
};

/* The A lookup that is DNS-querying term n. */
#define A_TERM(n)                                                              \
	{                                                                      \
		"term " #n, "host.example.test", ns_t_a, NETDB_SUCCESS, 1,     \
		    NULL, n, 0, 0                                              \
	}

static const struct layer_step term_steps[] = {
    {"own record", "fail.example.test", ns_t_txt, NETDB_SUCCESS, 1, NULL, 0, 0,
     0},
    {"an include's record: term 1", "softfail.example.test", ns_t_txt,
     NETDB_SUCCESS, 1, NULL, 1, 0, 0},
    {"txt without an SPF record (exp=) is no term", "exp.example.test",
     ns_t_txt, NETDB_SUCCESS, 1, "%{i}%_may%_not%_send%_for%_%{d}", 1, 0, 0},
    A_TERM(2),
    A_TERM(3),
    A_TERM(4),
    A_TERM(5),
    A_TERM(6),
    A_TERM(7),
    A_TERM(8),
    A_TERM(9),
    A_TERM(10),
    {"term 11 is not asked", "host.example.test", ns_t_a, HOST_NOT_FOUND, 0,
     NULL, 11, 0, 1},
};

/* permerror: the reason once the evaluation is a permerror. */
static void
layer_steps_run(const struct layer_step *steps, size_t n, const char *permerror)
{
	SPF_dns_server_t *layer = filter_spf_dns_new(dns);
	SPF_dns_rr_t *rr;
	size_t i;

	for (i = 0; i < n; i++) {
		const struct layer_step *c = &steps[i];

		rr = SPF_dns_lookup(layer, c->name, c->type, 0);
		check_int(c->desc, "herrno", rr->herrno, c->herrno);
		check_int(c->desc, "records", rr->num_rr, c->nrr);
		if (c->first != NULL && rr->num_rr > 0)
			check_str(c->desc, "first record", rr->rr[0]->txt,
			          c->first);
		check_int(c->desc, "terms", filter_spf_dns_terms(layer),
		          c->terms);
		check_int(c->desc, "void lookups", filter_spf_dns_voids(layer),
		          c->voids);
		check_str(c->desc, "permerror", filter_spf_dns_permerror(layer),
		          c->perm ? permerror : NULL);
		SPF_dns_rr_free(rr);
	}
	SPF_dns_free(layer);
}

static void
test_layer_void_lookups(void **state)
{
	layer_steps_run(void_steps, ARRAY_LEN(void_steps), VOIDS);
}

static void
test_layer_terms(void **state)
{
	layer_steps_run(term_steps, ARRAY_LEN(term_steps), TERMS);
}

/* ----------------------------------------------- record syntax */

struct record_case {
	const char *desc;
	const char *rec;
	size_t len;       /* 0: strlen(rec) */
	const char *want; /* as libspf2 gets it; NULL for a syntax error */
	const char *error;
};

#define MECH_SYNTAX "syntax error in a mechanism"

static const struct record_case record_cases[] = {
    {"empty record", "v=spf1", 0, "v=spf1 ", NULL},
    {"version in any case", "V=SpF1 -ALL", 0, "v=spf1 -ALL", NULL},
    {"spaces squeezed", "v=spf1  a   mx -all  ", 0, "v=spf1 a mx -all", NULL},
    {"networks", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ip4:10.0.0.1 -all",
     0, "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 ip4:10.0.0.1 -all", NULL},
    {"ip4 and ip6 /0 as two halves", "v=spf1 ip6:::1.1.1.1/0 -ip4:1.2.3.4/0", 0,
     "v=spf1 ip6:::/1 ip6:8000::/1 -ip4:0.0.0.0/1 -ip4:128.0.0.0/1", NULL},
    {"many /0 terms", "v=spf1 ip6:::/0 ip6:::/0 ip6:::/0 ip6:::/0", 0,
     "v=spf1 ip6:::/1 ip6:8000::/1 ip6:::/1 ip6:8000::/1 ip6:::/1 "
     "ip6:8000::/1 ip6:::/1 ip6:8000::/1",
     NULL},
    {"dual cidr", "v=spf1 a/24//64 mx:example.org/0 a//128 -all", 0,
     "v=spf1 a/24//64 mx:example.org/0 a//128 -all", NULL},
    {"':' and '/' inside a domain", "v=spf1 a:foo:bar/baz.example.com", 0,
     "v=spf1 a:foo:bar/baz.example.com", NULL},
    {"macros", "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} ?include:%{D2}.x.org", 0,
     "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} ?include:%{D2}.x.org", NULL},
    {"%%, %_ and %-", "v=spf1 a:m%%p%_%_s%-u.example.com -all", 0,
     "v=spf1 a:m%%p%_%_s%-u.example.com -all", NULL},
    {"final dot, dashed top label", "v=spf1 a:example.com. a:b.x-1 ptr", 0,
     "v=spf1 a:example.com. a:b.x-1 ptr", NULL},
    {"unknown modifiers left out",
     "v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 x= -all", 0,
     "v=spf1 ip4:1.2.3.4 -all", NULL},
    {"redirect= moved last", "v=spf1 redirect=_spf.example.org ip4:1.2.3.4", 0,
     "v=spf1 ip4:1.2.3.4 redirect=_spf.example.org", NULL},
    {"redirect= left out beside all", "v=spf1 redirect=_spf.example.org ~all",
     0, "v=spf1 ~all", NULL},
    {"exp= kept", "v=spf1 exp=why.%{d} -all", 0, "v=spf1 exp=why.%{d} -all",
     NULL},
    {"other version", "v=spf10 -all", 0, NULL, "not an SPF record"},
    {"tab after the version", "v=spf1\t-all", 0, NULL, "not an SPF record"},
    {"unknown mechanism", "v=spf1 frobnicate", 0, NULL, "unknown mechanism"},
    {"redirect as a mechanism", "v=spf1 redirect:example.org", 0, NULL,
     "unknown mechanism"},
    {"8-bit mechanism",
     "v=spf1 \xc2\x80"
     "a:example.net -all",
     0, NULL, "unknown mechanism"},
    {"NUL in a record", "v=spf1 a:foo.example.com\0", 25, NULL, MECH_SYNTAX},
    {"NUL in a modifier name", "v=spf1 x\0=y", 10, NULL, "unknown mechanism"},
    {"NUL in a macro", "v=spf1 exists:%{d\0}", 19, NULL, MECH_SYNTAX},
    {"NUL after '%'", "v=spf1 a:%\0.example.org", 23, NULL, MECH_SYNTAX},
    {"NUL as a qualifier", "v=spf1 \0all", 11, NULL, "unknown mechanism"},
    {"all with a dot", "v=spf1 -all.", 0, NULL, MECH_SYNTAX},
    {"all with an argument", "v=spf1 -all:foobar", 0, NULL, MECH_SYNTAX},
    {"ptr with a cidr", "v=spf1 ptr/0 -all", 0, NULL, MECH_SYNTAX},
    {"only a top label", "v=spf1 a:museum", 0, NULL, MECH_SYNTAX},
    {"only a top label and a dot", "v=spf1 a:museum.", 0, NULL, MECH_SYNTAX},
    {"numeric top label", "v=spf1 a:abc.123", 0, NULL, MECH_SYNTAX},
    {"top label starting with a dash", "v=spf1 mx:abc.-ab", 0, NULL,
     MECH_SYNTAX},
    {"empty a: domain", "v=spf1 a: -all", 0, NULL, MECH_SYNTAX},
    {"empty ptr: domain", "v=spf1 ptr:", 0, NULL, MECH_SYNTAX},
    {"exists without domain", "v=spf1 exists -all", 0, NULL, MECH_SYNTAX},
    {"domain with a port", "v=spf1 a:example.com:8080", 0, NULL, MECH_SYNTAX},
    {"cidr on exists", "v=spf1 exists:mail.example.com/24", 0, NULL,
     MECH_SYNTAX},
    {"ip4 cidr with a leading zero", "v=spf1 ip4:1.2.3.4/032", 0, NULL,
     MECH_SYNTAX},
    {"ip4 cidr over 32", "v=spf1 ip4:1.2.3.4/33", 0, NULL, MECH_SYNTAX},
    {"ip4 with a leading zero", "v=spf1 ip4:01.2.3.4", 0, NULL, MECH_SYNTAX},
    {"ip4 of three parts", "v=spf1 ip4:1.2.3", 0, NULL, MECH_SYNTAX},
    {"ip6 cidr over 128", "v=spf1 ip6:::1/129", 0, NULL, MECH_SYNTAX},
    {"ip6 with an IPv4 address", "v=spf1 ip6:1.2.3.4", 0, NULL, MECH_SYNTAX},
    {"a ip4 cidr over 32", "v=spf1 a/33", 0, NULL, MECH_SYNTAX},
    {"a ip6 cidr over 128", "v=spf1 a//129", 0, NULL, MECH_SYNTAX},
    {"c macro outside exp text", "v=spf1 a:%{c}.example.org", 0, NULL,
     MECH_SYNTAX},
    {"unknown macro letter", "v=spf1 a:%{x}.example.org", 0, NULL, MECH_SYNTAX},
    {"'%' before a dot", "v=spf1 a:foo%.example.org", 0, NULL, MECH_SYNTAX},
    {"unclosed macro", "v=spf1 a:%{d.example.org", 0, NULL, MECH_SYNTAX},
    {"empty exp=", "v=spf1 exp= -all", 0, NULL, "syntax error in exp="},
    {"exp= twice", "v=spf1 exp=a.example.org exp=b.example.org", 0, NULL,
     "exp= twice"},
    {"redirect= twice", "v=spf1 redirect=a.example.org redirect=b.example.org",
     0, NULL, "redirect= twice"},
    {"empty redirect=", "v=spf1 redirect=", 0, NULL,
     "syntax error in redirect="},
    {"t macro in an unknown modifier", "v=spf1 x=%{t}", 0, NULL,
     "syntax error in a modifier"},
    {"bad '%' in an unknown modifier", "v=spf1 -all foo=%x", 0, NULL,
     "syntax error in a modifier"},
};

static void
test_record_syntax(void **state)
{
	const char *error;
	size_t i, len;
	char *got;

	for (i = 0; i < ARRAY_LEN(record_cases); i++) {
		const struct record_case *c = &record_cases[i];

		error = NULL;
		len = c->len ? c->len : strlen(c->rec);
		got = filter_spf_record_normalize(c->rec, len, &error);
		check_str(c->desc, "record", got, c->want);
		check_str(c->desc, "error", got == NULL ? error : NULL,
		          c->error);
		free(got);
	}
}

/* Answers that never came from the server: records that do not
 * parse are left out. */
struct convert_case {
	const char *desc;
	ns_type type;
	const char *rdata;
	size_t len;
	int herrno;
	const char *want; /* the record as text, NULL for none */
};

static const struct convert_case convert_cases[] = {
    {"mx", ns_t_mx,
     "\x00\x0a\x04mail\x07"
     "example\x00",
     16, NETDB_SUCCESS, "mail.example"},
    {"null mx (RFC 7505) is no record", ns_t_mx, "\x00\x00\x00", 3, NO_DATA,
     NULL},
    {"mx without exchange", ns_t_mx, "\x00\x0a", 2, NO_DATA, NULL},
    {"mx with a truncated label", ns_t_mx, "\x00\x0a\x08mail", 7, NO_DATA,
     NULL},
    {"mx without the root label", ns_t_mx, "\x00\x0a\x04mail", 7, NO_DATA,
     NULL},
    {"ptr with a dot in a label", ns_t_ptr,
     "\x03"
     "a.b\x00",
     5, NO_DATA, NULL},
    {"ptr with a space in a label", ns_t_ptr,
     "\x03"
     "a b\x00",
     5, NO_DATA, NULL},
    {"ptr with an 8-bit label", ns_t_ptr, "\x02\xc3\xa9\x00", 4, NO_DATA, NULL},
    {"ptr label over 63 octets", ns_t_ptr,
     "\x40"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\x00",
     66, NO_DATA, NULL},
    {"a of 3 octets", ns_t_a, "\x7f\x00\x01", 3, NO_DATA, NULL},
    {"aaaa of 4 octets", ns_t_aaaa, "\x7f\x00\x00\x01", 4, NO_DATA, NULL},
    {"txt empty", ns_t_txt, "", 0, NETDB_SUCCESS, ""},
    {"txt spf record normalized", ns_t_txt, "v=spf1 a  -all", 14, NETDB_SUCCESS,
     "v=spf1 a -all"},
    {"txt spf record with a syntax error left out", ns_t_txt,
     "v=spf1 a:museum -all", 20, NO_DATA, NULL},
    {"txt bare spf version gets a space", ns_t_txt, "V=SPF1", 6, NETDB_SUCCESS,
     "v=spf1 "},
    {"txt explanation: spaces as %_", ns_t_txt, "%{i} is not %{d} ", 17,
     NETDB_SUCCESS, "%{i}%_is%_not%_%{d}%_"},
    {"txt other version: spaces as %_", ns_t_txt, "v=spf10 a", 9, NETDB_SUCCESS,
     "v=spf10%_a"},
};

static void
convert_check(SPF_dns_server_t *layer, const struct convert_case *c)
{
	unsigned char *data = xmalloc(c->len + 1);
	size_t len = c->len;
	struct dns_answer a = {.status = DNS_OK, .count = 1, .ttl = 60};
	SPF_dns_rr_t *rr;

	memcpy(data, c->rdata, c->len);
	data[c->len] = '\0';
	a.data = &data;
	a.len = &len;
	rr = filter_spf_dns_rr(layer, "x.example.test", c->type, &a);
	check_int(c->desc, "herrno", rr->herrno, c->herrno);
	check_int(c->desc, "records", rr->num_rr, c->want != NULL);
	if (c->want != NULL && rr->num_rr > 0)
		check_str(c->desc, "record", rr->rr[0]->txt, c->want);
	SPF_dns_rr_free(rr);
	free(data);
}

static void
test_layer_convert(void **state)
{
	SPF_dns_server_t *layer = filter_spf_dns_new(dns);
	size_t i;

	for (i = 0; i < ARRAY_LEN(convert_cases); i++)
		convert_check(layer, &convert_cases[i]);
	SPF_dns_free(layer);
}

/* More than 10 PTR names: only the first 10 are handed on. */
static void
test_layer_ptr_limit(void **state)
{
	static unsigned char names[12][16];
	unsigned char *data[12];
	size_t len[12], i;
	struct dns_answer a = {.status = DNS_OK, .count = 12, .ttl = 60};
	SPF_dns_server_t *layer = filter_spf_dns_new(dns);
	SPF_dns_rr_t *rr;

	for (i = 0; i < 12; i++) {
		/* "\6hostNN" and the root label */
		len[i] = (size_t)snprintf((char *)names[i], sizeof(names[i]),
		                          "%chost%02zu%c", 6, i, 0);
		data[i] = names[i];
	}
	a.data = data;
	a.len = len;
	rr = filter_spf_dns_rr(layer, "1.2.0.192.in-addr.arpa", ns_t_ptr, &a);
	check_int("12 ptr names", "records", rr->num_rr, 10);
	check_str("12 ptr names", "last record", rr->rr[9]->ptr, "host09");
	SPF_dns_rr_free(rr);
	SPF_dns_free(layer);
}

/* The layer alone against a server that never answers: one timeout is
 * try again, whatever the type. */
static void
test_layer_timeout(void **state)
{
	SPF_dns_server_t *layer = filter_spf_dns_new(dns);
	SPF_dns_rr_t *rr = SPF_dns_lookup(layer, "x.slow.test", ns_t_a, 0);

	check_int("timeout", "herrno", rr->herrno, TRY_AGAIN);
	check_int("timeout", "void lookups", filter_spf_dns_voids(layer), 0);
	SPF_dns_rr_free(rr);
	SPF_dns_free(layer);
}

static void
test_add_needs_resolver(void **state)
{
	struct filter_chain *chain = filter_chain_new();
	struct filter_spf_opts o = {.hostname = RECEIVER};
	const char *error = NULL;

	o.trusted = netlist_new();
	check_int("no resolver", "rc", filter_spf_add(chain, &o, &error), -1);
	check_str("no resolver", "error", error,
	          "spf needs the resolver and a host name");
	check_int("no resolver", "trusted freed", o.trusted != NULL, 0);
	check_int("no resolver", "filters",
	          (long long)filter_chain_count(chain), 0);
	filter_chain_free(&chain);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_mail_cases, chains_setup,
	                                    chains_teardown),
	    cmocka_unit_test_setup_teardown(test_outbound_not_checked,
	                                    chains_setup, chains_teardown),
	    cmocka_unit_test_setup_teardown(test_received_spf, chains_setup,
	                                    chains_teardown),
	    cmocka_unit_test(test_record_syntax),
	    cmocka_unit_test(test_layer_void_lookups),
	    cmocka_unit_test(test_layer_terms),
	    cmocka_unit_test(test_layer_convert),
	    cmocka_unit_test(test_layer_ptr_limit),
	    cmocka_unit_test(test_layer_timeout),
	    cmocka_unit_test(test_add_needs_resolver),
	};

	return cmocka_run_group_tests_name("filter_spf", tests, group_setup,
	                                   group_teardown);
}
