/*
 * filter_spam.c - score the message with spam rules and act on it.
 *
 * At end of message, on a worker thread: the message is read from the
 * spool (up to max_size; a larger one is passed unscanned and noted),
 * decoded into the views rules see, and scored with the facts that the
 * SPF, DKIM and DMARC filters before this one established.  The total
 * chooses the action under the inbound or outbound thresholds.  Every
 * scanned message gets X-Spam-Score and X-Spam-Status; a tagged one
 * also X-Spam-Flag: YES and, when configured, a Subject prefix.  A held
 * message goes to the front end's quarantine; a rejected one gets 550
 * 5.7.1.  Rule errors were dealt with at load time; scoring itself
 * cannot fail, only a spool read can (451 4.3.0).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/filter.h"
#include "filters/filter_msg.h"
#include "filters/filter_spam.h"
#include "filters/spam_msg.h"
#include "filters/spam_rules.h"
#include "util/log.h"
#include "util/spool.h"
#include "util/xalloc.h"

#define SPAM_FLAG       "X-Spam-Flag"
#define SPAM_STATUS     "X-Spam-Status"
#define SPAM_SCORE      "X-Spam-Score"
#define SPAM_FOLD       76  /* X-Spam-Status lines, before the fold */
#define SPAM_NOTE_RULES 200 /* octets of rule names in the log note */

struct filter_spam {
	struct spam_ruleset *rules;
	size_t max_size;
	struct filter_spam_thresholds inbound;
	struct filter_spam_thresholds outbound;
	char *subject_tag;
};

struct filter_spam *
filter_spam_new(const struct filter_spam_opts *o, char **error_r)
{
	struct spam_rules_opts ro = {
	    .plugins = o->plugins,
	    .nplugins = o->nplugins,
	    .match_limit = o->match_limit,
	};
	struct filter_spam *fs;
	struct spam_ruleset *rules;

	rules = spam_rules_load(o->rules, o->nrules, &ro, error_r);
	if (rules == NULL)
		return NULL;
	fs = xcalloc(1, sizeof(*fs));
	fs->rules = rules;
	fs->max_size = o->max_size;
	fs->inbound = o->inbound;
	fs->outbound = o->outbound;
	if (o->subject_tag != NULL && o->subject_tag[0] != '\0')
		fs->subject_tag = xstrdup(o->subject_tag);
	return fs;
}

void
filter_spam_free(struct filter_spam **fsp)
{
	struct filter_spam *fs = *fsp;

	if (fs == NULL)
		return;
	spam_rules_free(&fs->rules);
	free(fs->subject_tag);
	free(fs);
	*fsp = NULL;
}

const struct spam_ruleset *
filter_spam_rules(const struct filter_spam *fs)
{
	return fs->rules;
}

const struct filter_spam_thresholds *
filter_spam_thresholds(const struct filter_spam *fs, int outbound)
{
	return outbound ? &fs->outbound : &fs->inbound;
}

static int
reached(double threshold, double score)
{
	return threshold != FILTER_SPAM_OFF && score >= threshold;
}

enum filter_spam_action
filter_spam_decide(const struct filter_spam_thresholds *th, double score)
{
	if (reached(th->reject, score))
		return FILTER_SPAM_REJECT;
	if (reached(th->hold, score))
		return FILTER_SPAM_HOLD;
	if (reached(th->tag, score))
		return FILTER_SPAM_TAG;
	return FILTER_SPAM_NONE;
}

const char *
filter_spam_action_name(enum filter_spam_action a)
{
	static const char *const names[] = {"none", "tag", "hold", "reject"};

	return names[a];
}

/* Facts from postern's results */

static const char *
spf_fact(const char *result, int helo)
{
	static const struct {
		const char *result, *mfrom, *helo;
	} map[] = {
	    {"pass", "SPF_PASS", "SPF_HELO_PASS"},
	    {"fail", "SPF_FAIL", "SPF_HELO_FAIL"},
	    {"softfail", "SPF_SOFTFAIL", "SPF_HELO_SOFTFAIL"},
	    {"neutral", "SPF_NEUTRAL", "SPF_HELO_NEUTRAL"},
	    {"none", "SPF_NONE", "SPF_HELO_NONE"},
	    {"temperror", "SPF_TEMPERROR", NULL},
	    {"permerror", "SPF_PERMERROR", NULL},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(map[i].result, result) == 0)
			return helo ? map[i].helo : map[i].mfrom;
	}
	return NULL;
}

struct fact_set {
	const char **facts;
	size_t n, max;
};

static void
fact_add(struct fact_set *fs, const char *name)
{
	size_t i;

	if (name == NULL)
		return;
	for (i = 0; i < fs->n; i++) {
		if (strcmp(fs->facts[i], name) == 0)
			return;
	}
	if (fs->n < fs->max)
		fs->facts[fs->n++] = name;
}

/* DKIM facts; the author domain comes from the DMARC result. */
static void
dkim_facts(struct fact_set *fs, const struct filter_auth *a, const char *author)
{
	char d[256];

	if (strcmp(a->result, "none") == 0)
		return;
	fact_add(fs, "DKIM_SIGNED");
	if (strcmp(a->result, "pass") != 0) {
		if (strcmp(a->result, "fail") == 0 ||
		    strcmp(a->result, "permerror") == 0)
			fact_add(fs, "DKIM_INVALID");
		return;
	}
	fact_add(fs, "DKIM_VALID");
	filter_auth_prop(a->props, "header.d", d, sizeof(d));
	if (author[0] != '\0' && strcasecmp(d, author) == 0)
		fact_add(fs, "DKIM_VALID_AU");
}

size_t
filter_spam_facts(const struct filter_txn *t, const char **facts, size_t max)
{
	struct fact_set fs = {facts, 0, max};
	const struct filter_auth *a;
	char author[256] = "";
	size_t i;

	for (a = t->auth; a != NULL; a = a->next) {
		if (strcmp(a->method, "dmarc") == 0 && author[0] == '\0')
			filter_auth_prop(a->props, "header.from", author,
			                 sizeof(author));
	}
	for (a = t->auth; a != NULL; a = a->next) {
		if (strcmp(a->method, "spf") == 0)
			fact_add(&fs,
			         spf_fact(a->result,
			                  a->props != NULL &&
			                      strstr(a->props, "smtp.helo=")));
		else if (strcmp(a->method, "dkim") == 0)
			dkim_facts(&fs, a, author);
	}
	for (i = 0; i < t->nfacts; i++)
		fact_add(&fs, t->facts[i]);
	return fs.n;
}

/* Reading the message */

/* The message as the client sent it, or NULL (logged) on a read error. */
static char *
message_load(const struct filter_txn *t, size_t *len_r)
{
	size_t size = spool_size(t->message), off = 0;
	const char *error = NULL;
	char *buf = xmalloc(size + 1);
	ssize_t n;

	while (off < size) {
		n = spool_read(t->message, off, buf + off, size - off, &error);
		if (n <= 0) {
			log_error("%s spam: spool read failed: %s", t->id,
			          error != NULL ? error : "short read");
			free(buf);
			return NULL;
		}
		off += (size_t)n;
	}
	buf[size] = '\0';
	*len_r = size;
	return buf;
}

/* Headers */

static void
delete_ours(struct filter_txn *t)
{
	static const char *const ours[] = {SPAM_FLAG, SPAM_STATUS, SPAM_SCORE};
	size_t i, k;

	for (i = 0; i < filter_msg_field_count(t); i++) {
		for (k = 0; k < sizeof(ours) / sizeof(ours[0]); k++) {
			if (filter_msg_field_is(t, i, ours[k]))
				filter_msg_field_delete(t, i);
		}
	}
}

/* Append s to *buf, folding before it when the line would grow past
 * SPAM_FOLD columns. */
static void
status_add(char **buf, size_t *col, const char *s)
{
	size_t len = strlen(s);
	char *more;

	if (*col + len > SPAM_FOLD) {
		more = xasprintf("%s\r\n\t%s", *buf, s);
		*col = 8 + len;
	} else {
		more = xasprintf("%s%s", *buf, s);
		*col += len;
	}
	free(*buf);
	*buf = more;
}

/* "Yes, score=6.2 required=5.0 tests=A,B,C" folded as needed. */
static char *
status_value(const struct spam_result *r, double required, int spam)
{
	char head[96], req[32];
	char *buf, *item;
	size_t i, col;

	if (required == FILTER_SPAM_OFF)
		snprintf(req, sizeof(req), "off");
	else
		snprintf(req, sizeof(req), "%.1f", required);
	snprintf(head, sizeof(head),
	         "%s, score=%.1f required=%s tests=", spam ? "Yes" : "No",
	         r->score, req);
	buf = xstrdup(head);
	col = strlen(SPAM_STATUS) + 2 + strlen(head);
	if (r->nhits == 0)
		status_add(&buf, &col, "none");
	for (i = 0; i < r->nhits; i++) {
		item = xasprintf("%s%s", r->hits[i].name,
		                 i + 1 < r->nhits ? "," : "");
		status_add(&buf, &col, item);
		free(item);
	}
	return buf;
}

/* Prefix the Subject, or add one that is only the tag. */
static void
subject_tag(struct filter_txn *t, const char *tag)
{
	char *field, *text;
	size_t i, len;

	for (i = 0; i < filter_msg_field_count(t); i++) {
		if (!filter_msg_field_is(t, i, "Subject"))
			continue;
		field = filter_msg_field_dup(t, i, &len, NULL);
		if (field == NULL)
			return;
		/* "Subject:" then the value as it was. */
		text = xasprintf("Subject: %s%s", tag, field + 8);
		filter_msg_field_replace(t, i, text);
		free(text);
		free(field);
		return;
	}
	filter_txn_append_header(t, "Subject", tag);
}

static void
headers_add(const struct filter_spam *fs, struct filter_txn *t,
            const struct spam_result *r,
            const struct filter_spam_thresholds *th,
            enum filter_spam_action action)
{
	char score[32];
	char *status;

	snprintf(score, sizeof(score), "%.1f", r->score);
	status = status_value(r, th->tag, action != FILTER_SPAM_NONE);
	filter_txn_prepend_header(t, SPAM_SCORE, score);
	filter_txn_prepend_header(t, SPAM_STATUS, status);
	free(status);
	if (action == FILTER_SPAM_NONE)
		return;
	filter_txn_prepend_header(t, SPAM_FLAG, "YES");
	if (fs->subject_tag != NULL)
		subject_tag(t, fs->subject_tag);
}

/* Notes and verdict */

static void
note_result(struct filter_txn *t, const struct spam_result *r,
            enum filter_spam_action action)
{
	char buf[SPAM_NOTE_RULES + 8];
	size_t i, off = 0;
	int n;

	snprintf(buf, sizeof(buf), "%.1f", r->score);
	filter_txn_note(t, "spam", buf);
	filter_txn_note(t, "spam_action", filter_spam_action_name(action));
	buf[0] = '\0';
	for (i = 0; i < r->nhits && off < SPAM_NOTE_RULES; i++) {
		n = snprintf(buf + off, sizeof(buf) - off, "%s%s",
		             i > 0 ? "," : "", r->hits[i].name);
		if (n < 0 || (size_t)n >= sizeof(buf) - off)
			break;
		off += (size_t)n;
	}
	if (off > 0)
		filter_txn_note(t, "spam_rules", buf);
}

static void
verdict_set(struct filter_verdict *v, const struct spam_result *r,
            enum filter_spam_action action)
{
	if (action == FILTER_SPAM_REJECT)
		filter_verdict_set(v, FILTER_REJECT, 550, "5.7.1",
		                   "message rejected as spam (score %.1f)",
		                   r->score);
	else if (action == FILTER_SPAM_HOLD)
		filter_verdict_set(v, FILTER_HOLD, 250, "2.7.0",
		                   "message held for review (score %.1f)",
		                   r->score);
}

static void
spam_eom(void *confp, struct filter_session *s, struct filter_txn *t,
         struct filter_verdict *v)
{
	const struct filter_spam *fs = confp;
	const struct filter_spam_thresholds *th;
	const char *facts[FILTER_FACTS_MAX + 16];
	struct spam_result r;
	enum filter_spam_action action;
	struct spam_msg *m;
	size_t len, nfacts;
	char *data;

	delete_ours(t);
	th = filter_spam_thresholds(fs, s->outbound);
	if (th->tag == FILTER_SPAM_OFF && th->hold == FILTER_SPAM_OFF &&
	    th->reject == FILTER_SPAM_OFF) {
		filter_txn_note(t, "spam", "skipped-outbound");
		return;
	}
	if (fs->max_size != 0 && t->size > fs->max_size) {
		filter_txn_note(t, "spam", "skipped-size");
		return;
	}
	data = message_load(t, &len);
	if (data == NULL) {
		filter_verdict_set(v, FILTER_TEMPFAIL, 451, "4.3.0",
		                   "local error reading the message");
		return;
	}
	m = spam_msg_new(data, len);
	free(data);
	nfacts =
	    filter_spam_facts(t, facts, sizeof(facts) / sizeof(facts[0]) - 1);
	if (spam_msg_truncated(m)) {
		facts[nfacts++] = "MIME_TRUNCATED";
		filter_txn_note(t, "spam_mime", "truncated");
	}
	spam_rules_score(fs->rules, m, facts, nfacts, SPAM_REPORT_SCORED, &r);
	spam_msg_free(&m);
	action = filter_spam_decide(th, r.score);
	headers_add(fs, t, &r, th, action);
	note_result(t, &r, action);
	verdict_set(v, &r, action);
	spam_result_deinit(&r);
}

static void
spam_free(void *conf)
{
	struct filter_spam *fs = conf;

	filter_spam_free(&fs);
}

static const struct filter_ops spam_ops = {
    .name = "spam",
    .hook = {[FILTER_PHASE_EOM] = spam_eom},
    .blocking = 1u << FILTER_PHASE_EOM,
    .free = spam_free,
};

void
filter_spam_add(struct filter_chain *chain, struct filter_spam *fs)
{
	filter_chain_add(chain, &spam_ops, fs);
}
