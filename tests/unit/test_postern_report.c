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
    /* Outside the period. */
    {-100000, "old@example.org", REPORT_REJECTED, REPORT_REASON_SPAM, 550,
     "5.7.1", "spam", 0, 0, 1},
};

static void
history_fill(const char *path)
{
	struct report_history_opts o = {path, 0, 0, 0};
	struct report_history *h;
	struct report_txn r;
	const char *at;
	char *error = NULL;
	size_t i;

	h = report_history_open(&o, &error);
	assert_non_null(h);
	report_history_start(h);
	for (i = 0; i < ARRAY_LEN(txns); i++) {
		memset(&r, 0, sizeof(r));
		r.when = T0 + txns[i].at;
		r.session_id = "0123456789";
		r.txn_id = "0123456789.1";
		r.front = "proxy";
		r.listener = "smtp";
		r.client_ip = txns[i].dmarc == 2 ? "2001:db8::1" : "192.0.2.7";
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
    "sender domain                     received   relayed    signed  "
    "rejected  deferred\n"
    "spf.example                              4         0         0  "
    "       4         0\n"
    "example.org                              3         2         3  "
    "       0         1\n"
    "<>                                       1         0         0  "
    "       1         0\n"
    "total                                    8         2         3  "
    "       5         1\n"
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
    "  {\"domain\": \"example.org\", \"received\": 3, \"relayed\": 2, "
    "\"signed\": 3, \"rejected\": 0, \"deferred\": 1}],\n"
    " \"total\": {\"received\": 3, \"relayed\": 2, \"signed\": 3, "
    "\"rejected\": 0, \"deferred\": 1},\n"
    " \"errors\": [\n"
    "  {\"reason\": \"upstream\", \"code\": 451, \"count\": 1, "
    "\"examples\": [{\"time\": \"2025-12-03T22:13:50Z\", \"sender\": "
    "\"c@example.org\", \"code\": 451, \"ecode\": \"4.3.0\", \"text\": "
    "\"try later\", \"upstream_code\": 451}]}]}\n";

static const char want_csv[] =
    "domain,received,relayed,signed,rejected,deferred\r\n"
    "spf.example,4,0,0,4,0\r\n"
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
    "\"rejected\": 0, \"deferred\": 0},\n"
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

static const struct {
	const char *text;
	long want;
} duration_cases[] = {
    {"24h", 86400}, {"30", 30},  {"15m", 900}, {"2d", 172800},
    {"1w", 604800}, {"10s", 10}, {"", -1},     {"h", -1},
    {"5x", -1},     {"5hh", -1}, {"-5m", -1},
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
	    cmocka_unit_test(test_report_dmarc),
	    cmocka_unit_test(test_report_duration),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
