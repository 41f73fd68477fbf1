/*
 * test_report_stats.c - the counters sink: updates, the Prometheus
 * rendering, the JSON summary, the domain bound, and what
 * report_txn_fill() reads from a filter transaction.
 */
#include "unit.h"

#include "filters/filter.h"
#include "filters/report_stats.h"
#include "proxy/metrics.h"

#define TXNS_MAX  4
#define LINES_MAX 8

struct txn_spec {
	const char *listener;
	const char *domain;
	enum report_result result;
	enum report_reason reason;
	unsigned int signatures, pass, fail;
	int scored;
	double score, elapsed;
	int upstream;
};

struct stats_case {
	const char *name;
	size_t max_domains;
	struct txn_spec txns[TXNS_MAX];
	size_t ntxns;
	const char *want[LINES_MAX];     /* lines that must be in the text */
	const char *unwanted[LINES_MAX]; /* substrings that must not */
};

/* 62 octets: four and ".a\xc3\xa9" make a 255-octet name. */
#define L62 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

static const struct stats_case stats_cases[] = {
    {"one relayed and signed",
     10,
     {{"smtp", "example.org", REPORT_RELAYED, REPORT_REASON_NONE, 2, 0, 0, 1,
       1.5, 0.2, 250}},
     1,
     {"postern_messages_received_total{listener=\"smtp\"} 1",
      "postern_messages_total{listener=\"smtp\",result=\"relayed\"} 1",
      "postern_messages_total{listener=\"smtp\",result=\"rejected\"} 0",
      "postern_messages_signed_total{listener=\"smtp\"} 1",
      "postern_dkim_signatures_total{listener=\"smtp\"} 2",
      "postern_domain_messages_signed_total{domain=\"example.org\"} 1",
      "postern_upstream_replies_total{code=\"250\"} 1",
      "postern_spam_score_bucket{le=\"1\"} 0"},
     {"result=\"aborted\"} 1"}},
    {"rejections by reason",
     10,
     {{"smtp", "a.example", REPORT_REJECTED, REPORT_REASON_SPF, 0, 0, 0, 0, 0,
       0, 0},
      {"smtp", "a.example", REPORT_REJECTED, REPORT_REASON_SPF, 0, 0, 0, 0, 0,
       0, 0},
      {"smtp", "b.example", REPORT_REJECTED, REPORT_REASON_SPAM, 0, 0, 0, 1, 22,
       0, 0},
      {"smtp", "b.example", REPORT_TEMPFAILED, REPORT_REASON_UPSTREAM, 0, 0, 0,
       0, 0, 0, 451}},
     4,
     {"postern_messages_rejected_total{listener=\"smtp\",reason=\"spf\"} 2",
      "postern_messages_rejected_total{listener=\"smtp\",reason=\"spam\"} 1",
      "postern_messages_tempfailed_total{listener=\"smtp\","
      "reason=\"upstream\"} 1",
      "postern_domain_messages_rejected_total{domain=\"a.example\","
      "reason=\"spf\"} 2",
      "postern_spam_score_bucket{le=\"20\"} 0",
      "postern_spam_score_bucket{le=\"+Inf\"} 1", "postern_spam_score_sum 22",
      "postern_upstream_replies_total{code=\"451\"} 1"},
     {"reason=\"dmarc\""}},
    {"domains beyond the bound go to other",
     1,
     {{"smtp", "one.example", REPORT_RELAYED, 0, 0, 0, 0, 0, 0, 0, 0},
      {"smtp", "Two.Example", REPORT_RELAYED, 0, 0, 0, 0, 0, 0, 0, 0},
      {"smtp", "three.example", REPORT_REJECTED, REPORT_REASON_POLICY, 0, 0, 0,
       0, 0, 0, 0},
      {"smtp", "ONE.example", REPORT_RELAYED, 0, 0, 0, 0, 0, 0, 0, 0}},
     4,
     {"postern_domain_messages_received_total{domain=\"one.example\"} 2",
      "postern_domain_messages_received_total{domain=\"<other>\"} 2",
      "postern_domain_messages_rejected_total{domain=\"<other>\","
      "reason=\"policy\"} 1"},
     {"two.example", "three.example"}},
    /* MAIL FROM:<a@other> is a real domain "other": the overflow must
     * not share its label.  A name starting with '<' is no domain and
     * cannot pose as "<>" or "<other>" either. */
    {"a domain named other and the overflow",
     2,
     {{"smtp", "Other", REPORT_RELAYED, 0, 0, 0, 0, 0, 0, 0, 0},
      {"smtp", "", REPORT_ABORTED, 0, 0, 0, 0, 0, 0, 0, 0},
      {"smtp", "<>", REPORT_RELAYED, 0, 0, 0, 0, 0, 0, 0, 0},
      {"smtp", "b.example", REPORT_RELAYED, 0, 0, 0, 0, 0, 0, 0, 0}},
     4,
     {"postern_domain_messages_received_total{domain=\"other\"} 1",
      "postern_domain_messages_received_total{domain=\"<other>\"} 2",
      "postern_domain_messages_total{domain=\"<>\",result=\"aborted\"} 1"},
     {"b.example", "domain=\"<>\",result=\"relayed\""}},
    {"aborted is not received; null sender",
     10,
     {{"submission", "", REPORT_ABORTED, 0, 0, 0, 0, 0, 0, 0, 0},
      {"submission", "", REPORT_HELD, REPORT_REASON_SPAM, 0, 0, 0, 0, 0, 0, 0}},
     2,
     {"postern_messages_received_total{listener=\"submission\"} 1",
      "postern_messages_total{listener=\"submission\",result=\"aborted\"} 1",
      "postern_messages_total{listener=\"submission\",result=\"held\"} 1",
      "postern_domain_messages_total{domain=\"<>\",result=\"held\"} 1",
      "postern_transaction_seconds_count 1"},
     {"postern_spam_score_count 1"}},
    /* A label value must be whole UTF-8 (Prometheus refuses a scrape
     * holding anything else): names that are not, or that would have to
     * be cut, go to the overflow. */
    {"names unfit for a label go to other",
     10,
     {{"smtp",
       "b\xc3\xbc"
       "cher.example",
       REPORT_RELAYED, 0, 0, 0, 0, 0, 0, 0, 0},
      {"smtp", "bad\xff.example", REPORT_RELAYED, 0, 0, 0, 0, 0, 0, 0, 0},
      {"smtp", "tab\t.example", REPORT_RELAYED, 0, 0, 0, 0, 0, 0, 0, 0},
      {"smtp", L62 "." L62 "." L62 "." L62 ".a\xc3\xa9", REPORT_RELAYED, 0, 0,
       0, 0, 0, 0, 0, 0}},
     4,
     {"postern_domain_messages_received_total{domain=\"b\xc3\xbc"
      "cher.example\"} 1",
      "postern_domain_messages_received_total{domain=\"<other>\"} 3"},
     {"\xff", "\t", L62}},
    {"label values escaped",
     10,
     {{"l\"1", "x\\y", REPORT_RELAYED, 0, 0, 0, 0, 0, 0, 0, 0}},
     1,
     {"postern_messages_received_total{listener=\"l\\\"1\"} 1",
      "postern_domain_messages_received_total{domain=\"x\\\\y\"} 1"},
     {NULL}},
};

static int
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p = text;

	while ((p = strstr(p, line)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
		p += n;
	}
	return 0;
}

static void
feed(struct report_stats *st, const struct txn_spec *t, time_t when)
{
	struct report_txn r;

	memset(&r, 0, sizeof(r));
	r.when = when;
	r.listener = t->listener;
	r.sender_domain = t->domain;
	r.result = t->result;
	r.reason = t->reason;
	r.signatures = t->signatures;
	r.dkim_pass = t->pass;
	r.dkim_fail = t->fail;
	r.spam_scored = t->scored;
	r.spam_score = t->score;
	r.elapsed = t->elapsed;
	r.upstream_code = t->upstream;
	report_stats_txn(st, &r);
}

/* Every sample's name and labels appear once: a series twice is an
 * invalid exposition. */
static void
check_unique_series(const char *name, const char *text)
{
	char *copy = xstrdup(text), *line, *save = NULL, *sp;
	const char *seen[512];
	size_t n = 0, i;

	for (line = strtok_r(copy, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#' || (sp = strrchr(line, ' ')) == NULL)
			continue;
		*sp = '\0';
		for (i = 0; i < n; i++)
			if (strcmp(seen[i], line) == 0) {
				print_error("%s: series twice: %s\n", name,
				            line);
				fail();
			}
		assert_true(n < ARRAY_LEN(seen));
		seen[n++] = line;
	}
	free(copy);
}

static void
test_stats_prometheus(void **state)
{
	size_t i, k;

	for (i = 0; i < ARRAY_LEN(stats_cases); i++) {
		const struct stats_case *c = &stats_cases[i];
		struct report_stats *st = report_stats_new(c->max_domains);
		char *text;

		for (k = 0; k < c->ntxns; k++)
			feed(st, &c->txns[k], 1000000);
		text = report_stats_prometheus(st);
		check_unique_series(c->name, text);
		for (k = 0; k < LINES_MAX && c->want[k] != NULL; k++)
			if (!has_line(text, c->want[k])) {
				print_error("%s: line missing: %s\n--\n%s",
				            c->name, c->want[k], text);
				fail();
			}
		for (k = 0; k < LINES_MAX && c->unwanted[k] != NULL; k++)
			if (strstr(text, c->unwanted[k]) != NULL) {
				print_error("%s: unexpected: %s\n", c->name,
				            c->unwanted[k]);
				fail();
			}
		free(text);
		report_stats_free(&st);
		check_int(c->name, "freed", st == NULL, 1);
	}
}

/* Every metric has HELP and TYPE lines before its samples, and
 * histogram buckets never decrease. */
static void
test_stats_format(void **state)
{
	struct report_stats *st = report_stats_new(10);
	struct txn_spec t = {
	    "smtp", "example.org", REPORT_RELAYED, 0, 0, 0, 0, 0, 0, 0, 0};
	double elapsed[] = {0.001, 0.3, 0.3, 100};
	unsigned long long last = 0, v;
	char *text, *line, *save = NULL;
	size_t i;

	report_stats_session(st, "smtp");
	for (i = 0; i < ARRAY_LEN(elapsed); i++) {
		t.elapsed = elapsed[i];
		feed(st, &t, 1000000);
	}
	text = report_stats_prometheus(st);
	check_int("format", "sessions",
	          has_line(text, "postern_sessions_total{listener=\"smtp\"} 1"),
	          1);
	check_int("format", "help",
	          strstr(text, "# HELP postern_sessions_total ") != NULL, 1);
	check_int(
	    "format", "type",
	    strstr(text, "# TYPE postern_transaction_seconds histogram\n") !=
	        NULL,
	    1);
	check_int(
	    "format", "0.5 bucket",
	    has_line(text, "postern_transaction_seconds_bucket{le=\"0.5\"} 3"),
	    1);
	check_int(
	    "format", "60 bucket",
	    has_line(text, "postern_transaction_seconds_bucket{le=\"60\"} 3"),
	    1);
	check_int(
	    "format", "inf bucket",
	    has_line(text, "postern_transaction_seconds_bucket{le=\"+Inf\"} 4"),
	    1);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "postern_transaction_seconds_bucket", 34) !=
		    0)
			continue;
		v = strtoull(strrchr(line, ' ') + 1, NULL, 10);
		check_int("format", "bucket order", v >= last, 1);
		last = v;
	}
	free(text);
	report_stats_free(&st);
}

/* Sums print without binary rounding noise: 0.1 + 0.2 is 0.3, not
 * 0.30000000000000004. */
static void
test_stats_sum_format(void **state)
{
	struct report_stats *st = report_stats_new(10);
	struct txn_spec t = {
	    "smtp", "example.org", REPORT_RELAYED, 0, 0, 0, 0, 1, 0.1, 0.1, 0};
	char *text;

	feed(st, &t, 1000000);
	t.score = t.elapsed = 0.2;
	feed(st, &t, 1000000);
	text = report_stats_prometheus(st);
	check_int("sum", "seconds",
	          has_line(text, "postern_transaction_seconds_sum 0.3"), 1);
	check_int("sum", "score", has_line(text, "postern_spam_score_sum 0.3"),
	          1);
	free(text);
	report_stats_free(&st);
}

/* Listeners registered at start have their series at zero before their
 * first session; registering twice (or then counting) adds no second
 * series. */
static void
test_stats_listeners_at_start(void **state)
{
	static const char *const want[] = {
	    "postern_sessions_total{listener=\"smtp\"} 1",
	    "postern_sessions_total{listener=\"submission\"} 0",
	    "postern_sessions_total{listener=\"milter\"} 0",
	    "postern_messages_received_total{listener=\"submission\"} 0",
	    "postern_messages_total{listener=\"submission\",result="
	    "\"relayed\"} 0",
	    "postern_messages_signed_total{listener=\"milter\"} 0",
	};
	struct report_stats *st = report_stats_new(10);
	char *text;
	size_t i;

	report_stats_listener(st, "smtp");
	report_stats_listener(st, "submission");
	report_stats_listener(st, "milter");
	report_stats_listener(st, "smtp");
	report_stats_session(st, "smtp");
	text = report_stats_prometheus(st);
	check_unique_series("listeners", text);
	for (i = 0; i < ARRAY_LEN(want); i++)
		if (!has_line(text, want[i])) {
			print_error("listeners: line missing: %s\n--\n%s",
			            want[i], text);
			fail();
		}
	free(text);
	report_stats_free(&st);
}

/* The per-minute series: old minutes fall out of the hour. */
static void
test_stats_series(void **state)
{
	struct report_stats *st = report_stats_new(10);
	struct report_stats_summary *s = xmalloc(sizeof(*s));
	struct txn_spec relayed = {
	    "smtp", "a", REPORT_RELAYED, 0, 0, 0, 0, 0, 0, 0, 0};
	struct txn_spec rejected = {
	    "smtp", "a", REPORT_REJECTED, REPORT_REASON_SPF, 0, 0, 0, 0, 0,
	    0,      0};
	time_t now = 6000000; /* a whole minute */
	char *json;

	feed(st, &relayed, now - 3600); /* 60 minutes ago: out */
	feed(st, &relayed, now - 59 * 60);
	feed(st, &relayed, now + 30);
	feed(st, &rejected, now + 59);
	report_stats_summary(st, now + 59, s);
	check_int("series", "oldest relayed",
	          (long long)s->minutes[0][REPORT_RELAYED], 1);
	check_int(
	    "series", "now relayed",
	    (long long)s->minutes[REPORT_SERIES_MINUTES - 1][REPORT_RELAYED],
	    1);
	check_int(
	    "series", "now rejected",
	    (long long)s->minutes[REPORT_SERIES_MINUTES - 1][REPORT_REJECTED],
	    1);
	check_int("series", "total relayed",
	          (long long)s->results[REPORT_RELAYED], 3);
	check_int("series", "spf", (long long)s->reasons[REPORT_REASON_SPF], 1);
	json = report_stats_json(st, now + 59);
	check_int("series", "json reasons",
	          strstr(json, "\"reasons\":{\"spf\":1,") != NULL, 1);
	check_int("series", "json results",
	          strstr(json, "\"results\":{\"relayed\":3,\"rejected\":1,") !=
	              NULL,
	          1);
	free(json);
	free(s);
	report_stats_free(&st);
}

/* The page: one svg per chart, data values as counted. */
static void
test_stats_page(void **state)
{
	struct report_stats *st = report_stats_new(10);
	struct report_stats_summary *s = xmalloc(sizeof(*s));
	struct txn_spec refused = {
	    "smtp", "a", REPORT_REJECTED, REPORT_REASON_UPSTREAM, 0, 0, 0, 0, 0,
	    0,      550};
	char *page;

	feed(st, &refused, 6000000);
	feed(st, &refused, 6000000);
	report_stats_summary(st, 6000000, s);
	page = metrics_page_render(s);
	check_int("page", "throughput",
	          strstr(page, "<svg id=\"throughput\"") != NULL, 1);
	check_int("page", "verdicts",
	          strstr(page, "data-label=\"rejected\" data-value=\"2\"") !=
	              NULL,
	          1);
	check_int("page", "upstream",
	          strstr(page, "<svg id=\"upstream\"") != NULL &&
	              strstr(page, "data-label=\"550\" data-value=\"2\"") !=
	                  NULL,
	          1);
	check_int("page", "no external", strstr(page, "src=") == NULL, 1);
	free(page);
	free(s);
	report_stats_free(&st);
}

struct fill_case {
	const char *name;
	const char *from;
	const char *notes;
	int scored;
	double score;
	const char *domain;
};

static const struct fill_case fill_cases[] = {
    {"score and domain", "a@Example.org", "spf=pass spam=7.5 spam_action=tag",
     1, 7.5, "Example.org"},
    {"skipped", "", "spam=skipped-outbound", 0, 0, ""},
    {"action only", "x@y", "spam_action=none", 0, 0, "y"},
};

static void
test_report_fill(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(fill_cases); i++) {
		const struct fill_case *c = &fill_cases[i];
		struct filter_session fs;
		struct filter_txn t;
		struct report_txn r;

		memset(&fs, 0, sizeof(fs));
		memset(&r, 0, sizeof(r));
		filter_txn_init(&t, &fs);
		filter_txn_set_sender(&t, c->from);
		snprintf(t.notes, sizeof(t.notes), "%s", c->notes);
		filter_txn_prepend_header(&t, "DKIM-Signature", "v=1");
		filter_txn_prepend_header(&t, "Received", "x");
		filter_txn_auth(&t, "dkim", "pass", NULL, NULL);
		filter_txn_auth(&t, "dkim", "fail", NULL, NULL);
		filter_txn_auth(&t, "spf", "fail", NULL, NULL);
		report_txn_fill(&r, &t);
		check_int(c->name, "scored", r.spam_scored, c->scored);
		check_int(c->name, "score x10", (long long)(r.spam_score * 10),
		          (long long)(c->score * 10));
		check_str(c->name, "domain", r.sender_domain, c->domain);
		check_int(c->name, "signatures", r.signatures, 1);
		check_int(c->name, "dkim pass", r.dkim_pass, 1);
		check_int(c->name, "dkim fail", r.dkim_fail, 1);
		filter_txn_deinit(&t);
	}
}

struct reason_case {
	const char *filter;
	enum report_reason want;
};

static const struct reason_case reason_cases[] = {
    {"spf", REPORT_REASON_SPF},   {"dmarc", REPORT_REASON_DMARC},
    {"spam", REPORT_REASON_SPAM}, {"dkim_verify", REPORT_REASON_POLICY},
    {NULL, REPORT_REASON_POLICY},
};

static void
test_report_reason(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(reason_cases); i++)
		check_str(reason_cases[i].filter ? reason_cases[i].filter
		                                 : "(null)",
		          "reason",
		          report_reason_name(
		              report_reason_of_filter(reason_cases[i].filter)),
		          report_reason_name(reason_cases[i].want));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_stats_prometheus),
	    cmocka_unit_test(test_stats_format),
	    cmocka_unit_test(test_stats_sum_format),
	    cmocka_unit_test(test_stats_listeners_at_start),
	    cmocka_unit_test(test_stats_series),
	    cmocka_unit_test(test_stats_page),
	    cmocka_unit_test(test_report_fill),
	    cmocka_unit_test(test_report_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
