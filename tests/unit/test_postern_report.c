/*
 * test_postern_report.c - `postern report`: the sending and
 * delivery-error reports in text, JSON and CSV, and the DMARC aggregate
 * report, from a history written through the sink; durations.
 */
#include "unit.h"

#include <sqlite3.h>

#include "filters/report_history.h"
#include "proxy/postern_report.h"

#define T0 1764800000 /* 2025-12-03T22:13:20Z */

struct txn_spec {
	int at; /* seconds after T0 */
	const char *sender;
	enum report_result result;
	enum report_reason reason;
	int code;
	const char *ecode, *text;
	int upstream;
	unsigned int signatures;
	int dmarc; /* index in dmarc_specs + 1, 0: none */
};

static const struct report_dmarc dmarc_specs[] = {
    {.domain = "example.org",
     .policy = "none",
     .disposition = "none",
     .dkim = "pass",
     .spf = "pass",
     .rua = "mailto:agg@example.org",
     .policy_domain = "example.org",
     .published_p = "none",
     .published_sp = "none",
     .adkim = "r",
     .aspf = "r",
     .pct = 100,
     .fo = "0",
     .envelope_from = "example.org",
     .spf_domain = "example.org",
     .spf_scope = "mfrom",
     .spf_result = "pass",
     .dkim_domain = "example.org",
     .dkim_selector = "s1",
     .dkim_result = "pass"},
    {.domain = "example.org",
     .policy = "reject",
     .disposition = "none",
     .dkim = "fail",
     .spf = "fail",
     .rua = "mailto:agg@example.org",
     .policy_domain = "example.org",
     .published_p = "reject",
     .published_sp = "quarantine",
     .adkim = "s",
     .aspf = "r",
     .pct = 50,
     .fo = "1",
     .override = "sampled_out",
     .envelope_from = "",
     .spf_domain = "mx.example.net",
     .spf_scope = "helo",
     .spf_result = "softfail",
     .dkim_domain = "",
     .dkim_selector = "",
     .dkim_result = ""},
    /* No rua=: no report. */
    {.domain = "quiet.example",
     .policy = "none",
     .disposition = "none",
     .dkim = "fail",
     .spf = "pass",
     .rua = NULL,
     .policy_domain = "quiet.example",
     .published_p = "none",
     .published_sp = "none",
     .adkim = "r",
     .aspf = "r",
     .pct = 100,
     .fo = "0",
     .envelope_from = "quiet.example",
     .spf_domain = "quiet.example",
     .spf_scope = "mfrom",
     .spf_result = "pass",
     .dkim_domain = "",
     .dkim_selector = "",
     .dkim_result = ""},
};

static const struct txn_spec txns[] = {
    {10, "a@example.org", REPORT_RELAYED, REPORT_REASON_NONE, 250, "2.0.0",
     "ok", 250, 1, 1},
    {20, "b@example.org", REPORT_RELAYED, REPORT_REASON_NONE, 250, "2.0.0",
     "ok", 250, 1, 1},
    {30, "c@example.org", REPORT_TEMPFAILED, REPORT_REASON_UPSTREAM, 451,
     "4.3.0", "try later", 451, 1, 0},
    {40, "x@spf.example", REPORT_REJECTED, REPORT_REASON_SPF, 550, "5.7.23",
     "SPF fail", 0, 0, 0},
    {50, "y@spf.example", REPORT_REJECTED, REPORT_REASON_SPF, 550, "5.7.23",
     "SPF fail", 0, 0, 0},
    {60, "", REPORT_REJECTED, REPORT_REASON_UPSTREAM, 550, "5.1.1",
     "no such user", 550, 0, 2},
    {70, "d@example.org", REPORT_ABORTED, REPORT_REASON_NONE, 0, NULL, NULL, 0,
     0, 0},
    {80, "z@spf.example", REPORT_REJECTED, REPORT_REASON_SPF, 550, "5.7.23",
     "SPF \"fail\", really", 0, 0, 3},
    {90, "w@spf.example", REPORT_REJECTED, REPORT_REASON_SPF, 550, "5.7.23",
     "SPF fail", 0, 0, 0},
    {95, "h@Example.ORG", REPORT_HELD, REPORT_REASON_SPAM, 250, "2.7.0", "held",
     0, 0, 0},
    {96, "i@example.org", REPORT_DISCARDED, REPORT_REASON_NONE, 250, NULL, NULL,
     0, 0, 0},
    /* Outside the period. */
    {-100000, "old@example.org", REPORT_REJECTED, REPORT_REASON_SPAM, 550,
     "5.7.1", "spam", 0, 0, 1},
};

/* A proxy transaction of session 0123456789 ended at when. */
static void
txn_base(struct report_txn *r, time_t when, const char *client_ip)
{
	memset(r, 0, sizeof(*r));
	r->when = when;
	r->session_id = "0123456789";
	r->txn_id = "0123456789.1";
	r->front = "proxy";
	r->listener = "smtp";
	r->client_ip = client_ip;
}

/* A history at path, its writer started. */
static struct report_history *
history_begin(const char *path)
{
	struct report_history_opts o = {path, 0, 0, 0};
	struct report_history *h;
	char *error = NULL;

	h = report_history_open(&o, &error);
	assert_non_null(h);
	report_history_start(h);
	return h;
}

static void
history_fill(const char *path)
{
	struct report_history *h = history_begin(path);
	struct report_txn r;
	const char *at;
	size_t i;

	for (i = 0; i < ARRAY_LEN(txns); i++) {
		txn_base(&r, T0 + txns[i].at,
		         txns[i].dmarc == 2 ? "2001:db8::1" : "192.0.2.7");
		r.sender = txns[i].sender;
		at = strrchr(r.sender, '@');
		r.sender_domain = at != NULL ? at + 1 : "";
		r.result = txns[i].result;
		r.reason = txns[i].reason;
		r.code = txns[i].code;
		r.ecode = txns[i].ecode;
		r.text = txns[i].text;
		r.upstream_code = txns[i].upstream;
		r.signatures = txns[i].signatures;
		r.dmarc =
		    txns[i].dmarc > 0 ? &dmarc_specs[txns[i].dmarc - 1] : NULL;
		report_history_sink(h, &r);
	}
	report_history_close(&h);
}

static const char want_text[] =
    "Sending report, 2025-12-03T22:13:20Z to 2025-12-03T22:30:00Z\n"
    "\n"
    "sender domain                     received   relayed    signed      held discarded  rejected  deferred\n"
    "example.org                              5         2         3         1         1         0         1\n"
    "spf.example                              4         0         0         0         0         4         0\n"
    "<>                                       1         0         0         0         0         1         0\n"
    "total                                   10         2         3         1         1         5         1\n"
    "\n"
    "Delivery errors, 2025-12-03T22:13:20Z to 2025-12-03T22:30:00Z\n"
    "\n"
    "spf 550: 4\n"
    "  2025-12-03T22:14:50Z <w@spf.example> 550 5.7.23 SPF fail\n"
    "  2025-12-03T22:14:40Z <z@spf.example> 550 5.7.23 SPF \"fail\", "
    "really\n"
    "  2025-12-03T22:14:10Z <y@spf.example> 550 5.7.23 SPF fail\n"
    "\n"
    "upstream 451: 1\n"
    "  2025-12-03T22:13:50Z <c@example.org> 451 4.3.0 try later\n"
    "\n"
    "upstream 550: 1\n"
    "  2025-12-03T22:14:20Z <> 550 5.1.1 no such user\n";

static const char want_json[] =
    "{\"since\": \"2025-12-03T22:13:20Z\", \"until\": "
    "\"2025-12-03T22:30:00Z\", \"domain\": \"EXAMPLE.org\",\n"
    " \"sending\": [\n"
    "  {\"domain\": \"example.org\", \"received\": 5, \"relayed\": 2, "
    "\"signed\": 3, \"held\": 1, \"discarded\": 1, \"rejected\": 0, "
    "\"deferred\": 1}],\n"
    " \"total\": {\"received\": 5, \"relayed\": 2, \"signed\": 3, "
    "\"held\": 1, \"discarded\": 1, \"rejected\": 0, \"deferred\": 1},\n"
    " \"errors\": [\n"
    "  {\"reason\": \"upstream\", \"code\": 451, \"count\": 1, "
    "\"examples\": [{\"time\": \"2025-12-03T22:13:50Z\", \"sender\": "
    "\"c@example.org\", \"code\": 451, \"ecode\": \"4.3.0\", \"text\": "
    "\"try later\", \"upstream_code\": 451}]}]}\n";

static const char want_csv[] =
    "domain,received,relayed,signed,held,discarded,rejected,deferred\r\n"
    "spf.example,4,0,0,0,0,4,0\r\n"
    "\r\n"
    "reason,code,count,time,sender,example_code,ecode,text\r\n"
    "spf,550,4,2025-12-03T22:14:50Z,w@spf.example,550,5.7.23,SPF fail\r\n"
    "spf,550,4,2025-12-03T22:14:40Z,z@spf.example,550,5.7.23,"
    "\"SPF \"\"fail\"\", really\"\r\n"
    "spf,550,4,2025-12-03T22:14:10Z,y@spf.example,550,5.7.23,SPF fail\r\n";

static const char want_empty[] =
    "{\"since\": \"2025-12-03T22:13:20Z\", \"until\": "
    "\"2025-12-03T22:30:00Z\", \"domain\": \"nobody.example\",\n"
    " \"sending\": [],\n"
    " \"total\": {\"received\": 0, \"relayed\": 0, \"signed\": 0, "
    "\"held\": 0, \"discarded\": 0, \"rejected\": 0, \"deferred\": 0},\n"
    " \"errors\": []}\n";

static const struct {
	const char *name;
	const char *domain;
	enum postern_report_format format;
	const char *want;
} format_cases[] = {
    {"text, all domains", NULL, POSTERN_REPORT_TEXT, want_text},
    {"json, one domain, case ignored", "EXAMPLE.org", POSTERN_REPORT_JSON,
     want_json},
    {"csv, one domain", "spf.example", POSTERN_REPORT_CSV, want_csv},
    {"json, nothing", "nobody.example", POSTERN_REPORT_JSON, want_empty},
};

static char *
report_text(sqlite3 *db, const struct postern_report_period *p,
            enum postern_report_format f)
{
	char *buf = NULL, *error = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	if (postern_report_write(out, db, p, f, &error) < 0) {
		print_error("report: %s\n", error);
		fail();
	}
	fclose(out);
	return buf;
}

static void
test_report_formats(void **state)
{
	struct postern_report_period p = {T0, T0 + 1000, NULL};
	sqlite3 *db;
	char *got;
	size_t i;

	history_fill(unit_tmp("formats.db"));
	assert_int_equal(sqlite3_open(unit_tmp("formats.db"), &db), SQLITE_OK);
	for (i = 0; i < ARRAY_LEN(format_cases); i++) {
		p.domain = format_cases[i].domain;
		got = report_text(db, &p, format_cases[i].format);
		check_str(format_cases[i].name, "report", got,
		          format_cases[i].want);
		free(got);
	}
	sqlite3_close(db);
}

/* The domain column widens to the longest name, counted in characters
 * rather than octets, so the numbers stay under their headings. */
static const char want_wide[] =
    "Sending report, 2025-12-03T22:13:20Z to 2025-12-03T22:30:00Z\n"
    "\n"
    "sender domain                             received   relayed    signed      held discarded  rejected  deferred\n"
    "b\xc3\xbc"
    "cher.example                                   1         0         0         0         0         1         0\n"
    "mail.a-rather-long-subdomain.example.org         1         0         0         0         0         1         0\n"
    "total                                            2         0         0         0         0         2         0\n"
    "\n"
    "Delivery errors, 2025-12-03T22:13:20Z to 2025-12-03T22:30:00Z\n"
    "\n"
    "spam 550: 2\n"
    "  2025-12-03T22:13:30Z <b@mail.a-rather-long-subdomain.example.org> "
    "550 5.7.1 spam\n"
    "  2025-12-03T22:13:20Z <a@b\xc3\xbc"
    "cher.example> 550 5.7.1 spam\n";

/* One spam rejection a sender, 10 s apart, into the history at path. */
static void
fill_rejections(const char *path, const char *const *senders, size_t n)
{
	struct report_history *h = history_begin(path);
	struct report_txn r;
	size_t i;

	for (i = 0; i < n; i++) {
		txn_base(&r, T0 + 10 * (time_t)i, "192.0.2.7");
		r.sender = senders[i];
		r.sender_domain = strchr(senders[i], '@') + 1;
		r.result = REPORT_REJECTED;
		r.reason = REPORT_REASON_SPAM;
		r.code = 550;
		r.ecode = "5.7.1";
		r.text = "spam";
		report_history_sink(h, &r);
	}
	report_history_close(&h);
}

static void
test_report_text_width(void **state)
{
	static const char *const senders[] = {
	    "a@b\xc3\xbc"
	    "cher.example",
	    "b@mail.a-rather-long-subdomain.example.org"};
	struct postern_report_period p = {T0, T0 + 1000, NULL};
	char *got;
	sqlite3 *db;

	fill_rejections(unit_tmp("wide.db"), senders, ARRAY_LEN(senders));
	assert_int_equal(sqlite3_open(unit_tmp("wide.db"), &db), SQLITE_OK);
	got = report_text(db, &p, POSTERN_REPORT_TEXT);
	check_str("wide names", "report", got, want_wide);
	free(got);
	sqlite3_close(db);
}

/* What a client or a milter's MTA put in an address reaches a terminal
 * without its control characters and JSON as valid UTF-8. */
static void
test_report_hostile_names(void **state)
{
	static const char *const senders[] = {"c@cr\r.ex\xff"};
	struct postern_report_period p = {T0, T0 + 1000, NULL};
	char *got;
	sqlite3 *db;

	fill_rejections(unit_tmp("hostile.db"), senders, ARRAY_LEN(senders));
	assert_int_equal(sqlite3_open(unit_tmp("hostile.db"), &db), SQLITE_OK);
	got = report_text(db, &p, POSTERN_REPORT_TEXT);
	check_int("text has no CR", "found", strchr(got, '\r') != NULL, 0);
	check_int("text shows it as ?", "found",
	          strstr(got, "\ncr?.ex\xff ") != NULL &&
	              strstr(got, " <c@cr?.ex\xff> 550 5.7.1 spam\n") != NULL,
	          1);
	free(got);
	got = report_text(db, &p, POSTERN_REPORT_JSON);
	check_int("json escapes CR, replaces the bad byte", "found",
	          strstr(got, "{\"domain\": \"cr\\u000d.ex\xef\xbf\xbd\"") !=
	              NULL,
	          1);
	check_int("json has no bad byte", "found", strchr(got, '\xff') != NULL,
	          0);
	free(got);
	sqlite3_close(db);
}

static const char want_dmarc[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<feedback>\n"
    "  <version>1.0</version>\n"
    "  <report_metadata>\n"
    "    <org_name>Example &amp; Co</org_name>\n"
    "    <email>dmarc@mx.example.com</email>\n"
    "    <report_id>example.org.1764800000.1764801000@mx.example.com"
    "</report_id>\n"
    "    <date_range>\n"
    "      <begin>1764800000</begin>\n"
    "      <end>1764801000</end>\n"
    "    </date_range>\n"
    "  </report_metadata>\n"
    "  <policy_published>\n"
    "    <domain>example.org</domain>\n"
    "    <adkim>s</adkim>\n"
    "    <aspf>r</aspf>\n"
    "    <p>reject</p>\n"
    "    <sp>quarantine</sp>\n"
    "    <pct>50</pct>\n"
    "    <fo>1</fo>\n"
    "  </policy_published>\n"
    "  <record>\n"
    "    <row>\n"
    "      <source_ip>192.0.2.7</source_ip>\n"
    "      <count>2</count>\n"
    "      <policy_evaluated>\n"
    "        <disposition>none</disposition>\n"
    "        <dkim>pass</dkim>\n"
    "        <spf>pass</spf>\n"
    "      </policy_evaluated>\n"
    "    </row>\n"
    "    <identifiers>\n"
    "      <envelope_from>example.org</envelope_from>\n"
    "      <header_from>example.org</header_from>\n"
    "    </identifiers>\n"
    "    <auth_results>\n"
    "      <dkim>\n"
    "        <domain>example.org</domain>\n"
    "        <selector>s1</selector>\n"
    "        <result>pass</result>\n"
    "      </dkim>\n"
    "      <spf>\n"
    "        <domain>example.org</domain>\n"
    "        <scope>mfrom</scope>\n"
    "        <result>pass</result>\n"
    "      </spf>\n"
    "    </auth_results>\n"
    "  </record>\n"
    "  <record>\n"
    "    <row>\n"
    "      <source_ip>2001:db8:0:0:0:0:0:1</source_ip>\n"
    "      <count>1</count>\n"
    "      <policy_evaluated>\n"
    "        <disposition>none</disposition>\n"
    "        <dkim>fail</dkim>\n"
    "        <spf>fail</spf>\n"
    "        <reason>\n"
    "          <type>sampled_out</type>\n"
    "        </reason>\n"
    "      </policy_evaluated>\n"
    "    </row>\n"
    "    <identifiers>\n"
    "      <envelope_from></envelope_from>\n"
    "      <header_from>example.org</header_from>\n"
    "    </identifiers>\n"
    "    <auth_results>\n"
    "      <spf>\n"
    "        <domain>mx.example.net</domain>\n"
    "        <scope>helo</scope>\n"
    "        <result>softfail</result>\n"
    "      </spf>\n"
    "    </auth_results>\n"
    "  </record>\n"
    "</feedback>\n";

static void
test_report_dmarc(void **state)
{
	struct postern_report_period p = {T0, T0 + 1000, NULL};
	struct postern_report_org org = {"Example & Co", "dmarc@mx.example.com",
	                                 "mx.example.com"};
	char *names = NULL, *error = NULL, *got, *want_name;
	size_t len = 0;
	sqlite3 *db;
	FILE *list;

	history_fill(unit_tmp("dmarc.db"));
	assert_int_equal(sqlite3_open(unit_tmp("dmarc.db"), &db), SQLITE_OK);
	list = open_memstream(&names, &len);
	assert_int_equal(postern_report_dmarc_all(NULL, db, unit_tmpdir(), &p,
	                                          &org, list, &error),
	                 0);
	fclose(list);
	/* One file: quiet.example has no rua=; the old evaluation is out
	 * of the period. */
	want_name = xasprintf("%s/mx.example.com!example.org!%d!%d.xml\n",
	                      unit_tmpdir(), T0, T0 + 1000);
	check_str("dmarc", "files", names, want_name);
	want_name[strlen(want_name) - 1] = '\0';
	got = unit_read_file(want_name, NULL);
	check_str("dmarc", "report", got, want_dmarc);
	free(got);
	free(want_name);
	free(names);
	/* Nothing evaluated for the domain: nothing written. */
	assert_int_equal(postern_report_dmarc_write(
	                     stdout, db, "nobody.example", &p, &org, &error),
	                 1);
	sqlite3_close(db);
}

/*
 * Reports per policy domain: weird.example's record covers its
 * subdomains, so mail from sub.weird.example and Mail.Weird.Example
 * goes into weird.example's one report; rows without an address, and
 * text the XML cannot hold, are left out.
 */

struct dmarc_txn {
	int at;
	const char *client_ip;
	const char *from, *policy_domain, *envelope_from;
	const char *published_p; /* "": no record found */
};

static const struct dmarc_txn policy_txns[] = {
    {10, "192.0.2.7", "sub.weird.example", "weird.example", "sub.weird.example",
     "quarantine"},
    /* A dual-stack socket's IPv4 client; an envelope with octets that
     * are no UTF-8 and characters XML forbids. */
    {20, "::ffff:198.51.100.10", "weird.example", "weird.example",
     "bad\x01\x1b\xfe\xc3\xa9\t\xef\xbf\xbex.example", "quarantine"},
    /* XCLIENT ADDR=[UNAVAILABLE]: no record; still the latest
     * policy_published, its domain lower-cased. */
    {30, "[UNAVAILABLE]", "Mail.Weird.Example", "WEIRD.example",
     "Mail.Weird.Example", "reject"},
    {40, "2001:db8::2", "other.example", "other.example", "other.example",
     "none"},
    /* Nothing to write: no report, no file. */
    {50, "[TEMPUNAVAIL]", "gone.example", "gone.example", "gone.example",
     "none"},
};

static void
dmarc_fill(const char *path, const struct dmarc_txn *rows, size_t n)
{
	struct report_history *h = history_begin(path);
	struct report_dmarc d;
	struct report_txn r;
	size_t i;

	for (i = 0; i < n; i++) {
		memset(&d, 0, sizeof(d));
		d.domain = rows[i].from;
		d.policy = d.published_p = rows[i].published_p;
		d.disposition = "none";
		d.dkim = "fail";
		d.spf = "pass";
		d.rua = "mailto:agg@weird.example";
		d.policy_domain = rows[i].policy_domain;
		d.published_sp = "none";
		d.adkim = d.aspf = "r";
		d.pct = 100;
		d.fo = "0";
		d.envelope_from = rows[i].envelope_from;
		d.spf_domain = rows[i].from;
		d.spf_scope = "mfrom";
		d.spf_result = "pass";
		d.dkim_domain = d.dkim_selector = d.dkim_result = "";
		txn_base(&r, T0 + rows[i].at, rows[i].client_ip);
		r.sender = r.sender_domain = "";
		r.result = REPORT_RELAYED;
		r.code = 250;
		r.dmarc = &d;
		report_history_sink(h, &r);
	}
	report_history_close(&h);
}

static const char want_weird[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<feedback>\n"
    "  <version>1.0</version>\n"
    "  <report_metadata>\n"
    "    <org_name>Example &amp; Co</org_name>\n"
    "    <email>dmarc@mx.example.com</email>\n"
    "    <report_id>weird.example.1764800000.1764801000@mx.example.com"
    "</report_id>\n"
    "    <date_range>\n"
    "      <begin>1764800000</begin>\n"
    "      <end>1764801000</end>\n"
    "    </date_range>\n"
    "  </report_metadata>\n"
    "  <policy_published>\n"
    "    <domain>weird.example</domain>\n"
    "    <adkim>r</adkim>\n"
    "    <aspf>r</aspf>\n"
    "    <p>reject</p>\n"
    "    <sp>none</sp>\n"
    "    <pct>100</pct>\n"
    "    <fo>0</fo>\n"
    "  </policy_published>\n"
    "  <record>\n"
    "    <row>\n"
    "      <source_ip>192.0.2.7</source_ip>\n"
    "      <count>1</count>\n"
    "      <policy_evaluated>\n"
    "        <disposition>none</disposition>\n"
    "        <dkim>fail</dkim>\n"
    "        <spf>pass</spf>\n"
    "      </policy_evaluated>\n"
    "    </row>\n"
    "    <identifiers>\n"
    "      <envelope_from>sub.weird.example</envelope_from>\n"
    "      <header_from>sub.weird.example</header_from>\n"
    "    </identifiers>\n"
    "    <auth_results>\n"
    "      <spf>\n"
    "        <domain>sub.weird.example</domain>\n"
    "        <scope>mfrom</scope>\n"
    "        <result>pass</result>\n"
    "      </spf>\n"
    "    </auth_results>\n"
    "  </record>\n"
    "  <record>\n"
    "    <row>\n"
    "      <source_ip>198.51.100.10</source_ip>\n"
    "      <count>1</count>\n"
    "      <policy_evaluated>\n"
    "        <disposition>none</disposition>\n"
    "        <dkim>fail</dkim>\n"
    "        <spf>pass</spf>\n"
    "      </policy_evaluated>\n"
    "    </row>\n"
    "    <identifiers>\n"
    "      <envelope_from>bad\xc3\xa9\tx.example</envelope_from>\n"
    "      <header_from>weird.example</header_from>\n"
    "    </identifiers>\n"
    "    <auth_results>\n"
    "      <spf>\n"
    "        <domain>weird.example</domain>\n"
    "        <scope>mfrom</scope>\n"
    "        <result>pass</result>\n"
    "      </spf>\n"
    "    </auth_results>\n"
    "  </record>\n"
    "</feedback>\n";

/* postern_report_dmarc_all of p, org and dir: its return, what it
 * wrote to out (allocated) and the names it printed (allocated). */
static int
dmarc_all(sqlite3 *db, const char *dir, const struct postern_report_period *p,
          const struct postern_report_org *org, char **out_r, char **names_r,
          char **error_r)
{
	size_t out_len = 0, names_len = 0;
	FILE *out = open_memstream(out_r, &out_len);
	FILE *names = open_memstream(names_r, &names_len);
	int rc;

	assert_non_null(out);
	assert_non_null(names);
	*error_r = NULL;
	rc = postern_report_dmarc_all(out, db, dir, p, org, names, error_r);
	fclose(out);
	fclose(names);
	return rc;
}

static void
test_report_dmarc_policy_domain(void **state)
{
	struct postern_report_period p = {T0, T0 + 1000, NULL};
	struct postern_report_org org = {"Example & Co", "dmarc@mx.example.com",
	                                 "mx.example.com"};
	char *out, *names, *error, *want, *got;
	sqlite3 *db;

	dmarc_fill(unit_tmp("policy.db"), policy_txns, ARRAY_LEN(policy_txns));
	assert_int_equal(sqlite3_open(unit_tmp("policy.db"), &db), SQLITE_OK);
	assert_int_equal(mkdir(unit_tmp("policy"), 0700), 0);

	/* One file per policy domain, none for gone.example. */
	assert_int_equal(
	    dmarc_all(db, unit_tmp("policy"), &p, &org, &out, &names, &error),
	    0);
	want = xasprintf("%s/mx.example.com!other.example!%d!%d.xml\n"
	                 "%s/mx.example.com!weird.example!%d!%d.xml\n",
	                 unit_tmp("policy"), T0, T0 + 1000, unit_tmp("policy"),
	                 T0, T0 + 1000);
	check_str("policy domains", "files", names, want);
	check_str("policy domains", "stdout", out, "");
	free(want);
	free(out);
	free(names);
	want = xasprintf("%s/mx.example.com!weird.example!%d!%d.xml",
	                 unit_tmp("policy"), T0, T0 + 1000);
	got = unit_read_file(want, NULL);
	check_str("policy domains", "weird.example", got, want_weird);
	free(got);
	free(want);

	/* Without a directory two reports are an error, nothing written. */
	assert_int_equal(dmarc_all(db, NULL, &p, &org, &out, &names, &error),
	                 -2);
	check_str("two reports", "stdout", out, "");
	check_str("two reports", "error", error,
	          "reports for more than one policy domain (other.example, "
	          "weird.example, ...): write them to files with --out DIR, "
	          "or choose one with --domain D");
	free(out);
	free(names);
	free(error);

	/* --domain picks the policy domain, case ignored: one report. */
	p.domain = "WEIRD.Example";
	assert_int_equal(dmarc_all(db, NULL, &p, &org, &out, &names, &error),
	                 0);
	check_str("--domain", "stdout", out, want_weird);
	free(out);
	free(names);
	/* A From domain under another's record has no report of its own. */
	p.domain = "sub.weird.example";
	assert_int_equal(dmarc_all(db, NULL, &p, &org, &out, &names, &error),
	                 0);
	check_str("--domain sub", "stdout", out, "");
	free(out);
	free(names);
	/* Rows without an address only: nothing to report. */
	assert_int_equal(postern_report_dmarc_write(stdout, db, "gone.example",
	                                            &p, &org, &error),
	                 1);
	sqlite3_close(db);
}

/* Options that cannot give a valid report: -2 (exit status 2), before
 * anything is written. */
static const struct {
	const char *name;
	const char *org_name, *email, *receiver;
	int dir;
	const char *want_error;
} dmarc_usage_cases[] = {
    {"receiver escapes the directory", "Org", "x@../evil", "../evil", 1,
     "receiver domain \"../evil\" (of --email) cannot be part of a file "
     "name: letters, digits, '-' and '.' only"},
    {"receiver with a slash", "Org", "x@a/b", "a/b", 1,
     "receiver domain \"a/b\" (of --email) cannot be part of a file name: "
     "letters, digits, '-' and '.' only"},
    {"receiver with a leading dot", "Org", "x@.hidden", ".hidden", 1,
     "receiver domain \".hidden\" (of --email) cannot be part of a file "
     "name: letters, digits, '-' and '.' only"},
    {"empty receiver", "Org", "x@", "", 1,
     "receiver domain \"\" (of --email) cannot be part of a file name: "
     "letters, digits, '-' and '.' only"},
    {"org name not UTF-8", "Org \xff", "x@mx.example.com", "mx.example.com", 0,
     "--org-name: not valid UTF-8"},
    {"org name overlong", "Org \xc0\xaf", "x@mx.example.com", "mx.example.com",
     1, "--org-name: not valid UTF-8"},
    {"email truncated UTF-8", "Org", "x\xc3@mx.example.com", "mx.example.com",
     0, "--email: not valid UTF-8"},
};

static void
test_report_dmarc_usage(void **state)
{
	struct postern_report_period p = {T0, T0 + 1000, "weird.example"};
	struct postern_report_org org;
	char *out, *names, *error, *want;
	sqlite3 *db;
	size_t i;

	dmarc_fill(unit_tmp("usage.db"), policy_txns, ARRAY_LEN(policy_txns));
	assert_int_equal(sqlite3_open(unit_tmp("usage.db"), &db), SQLITE_OK);
	assert_int_equal(mkdir(unit_tmp("usage"), 0700), 0);
	for (i = 0; i < ARRAY_LEN(dmarc_usage_cases); i++) {
		org.org_name = dmarc_usage_cases[i].org_name;
		org.email = dmarc_usage_cases[i].email;
		org.receiver = dmarc_usage_cases[i].receiver;
		check_int(dmarc_usage_cases[i].name, "return",
		          dmarc_all(db,
		                    dmarc_usage_cases[i].dir ? unit_tmp("usage")
		                                             : NULL,
		                    &p, &org, &out, &names, &error),
		          -2);
		check_str(dmarc_usage_cases[i].name, "error", error,
		          dmarc_usage_cases[i].want_error);
		check_str(dmarc_usage_cases[i].name, "stdout", out, "");
		check_str(dmarc_usage_cases[i].name, "files", names, "");
		free(out);
		free(names);
		free(error);
	}
	/* No file was made, in the directory or next to it. */
	assert_int_equal(rmdir(unit_tmp("usage")), 0);
	want = xasprintf("evil!weird.example!%d!%d.xml", T0, T0 + 1000);
	assert_int_equal(access(unit_tmp(want), F_OK), -1);
	free(want);
	sqlite3_close(db);
}

/* A policy domain from the history that cannot be part of a file name
 * is written nowhere, and said so; the others are written. */
static const struct dmarc_txn slash_txns[] = {
    {10, "192.0.2.7", "a/b.example", "a/b.example", "a/b.example", "none"},
    {20, "192.0.2.7", "ok.example", "ok.example", "ok.example", "none"},
};

static void
test_report_dmarc_unusable_domain(void **state)
{
	struct postern_report_period p = {T0, T0 + 1000, NULL};
	struct postern_report_org org = {"Org", "dmarc@mx.example.com",
	                                 "mx.example.com"};
	char *out, *names, *error, *want;
	sqlite3 *db;

	dmarc_fill(unit_tmp("slash.db"), slash_txns, ARRAY_LEN(slash_txns));
	assert_int_equal(sqlite3_open(unit_tmp("slash.db"), &db), SQLITE_OK);
	assert_int_equal(mkdir(unit_tmp("slash"), 0700), 0);
	assert_int_equal(
	    dmarc_all(db, unit_tmp("slash"), &p, &org, &out, &names, &error),
	    -1);
	check_str("slash", "error", error,
	          "policy domain \"a/b.example\" cannot be a file name: its "
	          "report was not written");
	want = xasprintf("%s/mx.example.com!ok.example!%d!%d.xml\n",
	                 unit_tmp("slash"), T0, T0 + 1000);
	check_str("slash", "files", names, want);
	free(want);
	free(out);
	free(names);
	free(error);
	sqlite3_close(db);
}

/* The metadata the user gave: characters XML 1.0 forbids are left out,
 * tab and DEL (allowed) kept. */
static void
test_report_dmarc_xml_chars(void **state)
{
	struct postern_report_period p = {T0, T0 + 1000, "other.example"};
	struct postern_report_org org = {"Org\x02 &\x0b\tCo\x7f",
	                                 "dmarc\x1b@mx.example.com",
	                                 "mx.example.com"};
	char *out, *names, *error;
	sqlite3 *db;

	dmarc_fill(unit_tmp("chars.db"), policy_txns, ARRAY_LEN(policy_txns));
	assert_int_equal(sqlite3_open(unit_tmp("chars.db"), &db), SQLITE_OK);
	assert_int_equal(dmarc_all(db, NULL, &p, &org, &out, &names, &error),
	                 0);
	if (strstr(out, "    <org_name>Org &amp;\tCo\x7f</org_name>\n"
	                "    <email>dmarc@mx.example.com</email>\n") == NULL ||
	    strstr(out, "<source_ip>2001:db8:0:0:0:0:0:2</source_ip>") ==
	        NULL) {
		print_error("report: %s\n", out);
		fail();
	}
	free(out);
	free(names);
	sqlite3_close(db);
}

static const struct {
	const char *text;
	long want;
} duration_cases[] = {
    {"24h", 86400},
    {"30", 30},
    {"15m", 900},
    {"2d", 172800},
    {"1w", 604800},
    {"10s", 10},
    {"", -1},
    {"h", -1},
    {"5x", -1},
    {"5hh", -1},
    {"-5m", -1},
    /* Empty, and more than 100 years (5228w is the most). */
    {"0", -1},
    {"0h", -1},
    {"5228w", 5228L * 604800},
    {"5229w", -1},
    {"99999w", -1},
    {"3162240000w", -1},
};

static void
test_report_duration(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(duration_cases); i++)
		check_int(duration_cases[i].text, "seconds",
		          postern_report_duration(duration_cases[i].text),
		          duration_cases[i].want);
}

static int
setup(void **state)
{
	return unit_tmpdir_make("test_postern_report");
}

static int
teardown(void **state)
{
	return unit_tmpdir_remove();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_report_formats),
	    cmocka_unit_test(test_report_text_width),
	    cmocka_unit_test(test_report_hostile_names),
	    cmocka_unit_test(test_report_dmarc),
	    cmocka_unit_test(test_report_dmarc_policy_domain),
	    cmocka_unit_test(test_report_dmarc_usage),
	    cmocka_unit_test(test_report_dmarc_unusable_domain),
	    cmocka_unit_test(test_report_dmarc_xml_chars),
	    cmocka_unit_test(test_report_duration),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
