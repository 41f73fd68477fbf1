/*
 * report.c - handing ended sessions and transactions to the sinks that
 * keep them (the counters, the history).
 *
 * Sinks register at startup, before any session, so the lists are only
 * read afterwards and need no lock; each sink does its own locking.
 * Also the names of results and reasons, and reading back from a
 * filter transaction what the filters recorded about it.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/filter.h"
#include "filters/filter_dmarc.h"
#include "filters/report.h"

#define REPORT_SINKS_MAX 8

static struct {
	report_sink_fn *fn;
	void *arg;
} txn_sinks[REPORT_SINKS_MAX];
static size_t ntxn_sinks;

static struct {
	report_session_fn *fn;
	void *arg;
} session_sinks[REPORT_SINKS_MAX];
static size_t nsession_sinks;

static const char *const result_names[REPORT_RESULT_COUNT] = {
    "relayed", "rejected", "tempfailed", "held", "discarded", "aborted"};

static const char *const reason_names[REPORT_REASON_COUNT] = {
    "none", "spf", "dmarc", "spam", "policy", "limits", "upstream", "local"};

const char *
report_result_name(enum report_result r)
{
	return (unsigned int)r < REPORT_RESULT_COUNT ? result_names[r] : "?";
}

const char *
report_reason_name(enum report_reason r)
{
	return (unsigned int)r < REPORT_REASON_COUNT ? reason_names[r] : "?";
}

void
report_add_sink(report_sink_fn *fn, void *arg)
{
	if (ntxn_sinks == REPORT_SINKS_MAX)
		abort(); /* a startup bug, not a runtime condition */
	txn_sinks[ntxn_sinks].fn = fn;
	txn_sinks[ntxn_sinks].arg = arg;
	ntxn_sinks++;
}

void
report_add_session_sink(report_session_fn *fn, void *arg)
{
	if (nsession_sinks == REPORT_SINKS_MAX)
		abort();
	session_sinks[nsession_sinks].fn = fn;
	session_sinks[nsession_sinks].arg = arg;
	nsession_sinks++;
}

void
report_session(const char *listener, int outbound)
{
	size_t i;

	for (i = 0; i < nsession_sinks; i++)
		session_sinks[i].fn(session_sinks[i].arg, listener, outbound);
}

void
report_txn(const struct report_txn *r)
{
	size_t i;

	for (i = 0; i < ntxn_sinks; i++)
		txn_sinks[i].fn(txn_sinks[i].arg, r);
}

/*
 * The enhanced status code at the start of text ("5.7.1 ..." or "550
 * 5.7.1 ..."), copied to ecode ("" when none); the rest of the text is
 * returned.
 */
const char *
report_split_ecode(const char *text, char *ecode, size_t size)
{
	const char *p = text, *start;
	size_t n;
	int dots = 0;

	ecode[0] = '\0';
	if (p == NULL)
		return NULL;
	if (strspn(p, "0123456789") == 3 && (p[3] == ' ' || p[3] == '-'))
		p += 4;
	start = p;
	if (*p < '2' || *p > '5' || p[1] != '.')
		return text;
	for (p++; *p == '.' || (*p >= '0' && *p <= '9'); p++)
		dots += *p == '.';
	n = (size_t)(p - start);
	if (dots != 2 || p[-1] == '.' || (*p != ' ' && *p != '\0') || n >= size)
		return text;
	memcpy(ecode, start, n);
	ecode[n] = '\0';
	return *p == ' ' ? p + 1 : p;
}

enum report_reason
report_reason_of_filter(const char *filter)
{
	if (filter == NULL)
		return REPORT_REASON_POLICY;
	if (strcmp(filter, "spf") == 0)
		return REPORT_REASON_SPF;
	if (strcmp(filter, "dmarc") == 0)
		return REPORT_REASON_DMARC;
	if (strcmp(filter, "spam") == 0)
		return REPORT_REASON_SPAM;
	return REPORT_REASON_POLICY;
}

/* The spam filter notes "spam=SCORE" (or "spam=skipped-..."): 1 and
 * the score when a score is there. */
static int
notes_spam_score(const char *notes, double *score_r)
{
	const char *p = notes;
	char *end;

	while ((p = strstr(p, "spam=")) != NULL) {
		if (p == notes || p[-1] == ' ') {
			*score_r = strtod(p + 5, &end);
			if (end != p + 5 && (*end == ' ' || *end == '\0'))
				return 1;
		}
		p += 5;
	}
	return 0;
}

void
report_txn_fill(struct report_txn *r, const struct filter_txn *t)
{
	const struct filter_header *h;
	const struct filter_auth *a;
	const char *at;

	r->txn_id = t->id;
	r->sender = t->mail_from != NULL ? t->mail_from : "";
	at = strrchr(r->sender, '@');
	r->sender_domain = at != NULL ? at + 1 : "";
	r->nrcpts = t->nrcpts;
	r->size = t->size;
	for (h = t->prepend; h != NULL; h = h->next)
		if (strcasecmp(h->name, "DKIM-Signature") == 0)
			r->signatures++;
	for (a = t->auth; a != NULL; a = a->next) {
		if (strcmp(a->method, "dkim") != 0)
			continue;
		if (strcmp(a->result, "pass") == 0)
			r->dkim_pass++;
		else if (strcmp(a->result, "fail") == 0)
			r->dkim_fail++;
	}
	r->spam_scored = notes_spam_score(t->notes, &r->spam_score);
	r->dmarc = filter_dmarc_report(t);
}
