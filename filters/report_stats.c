/*
 * report_stats.c - the counters sink and its renderings.
 *
 * One mutex guards everything: an update is a handful of additions
 * and a lookup among the listeners (a few) and the sender domains (at
 * most max_domains, found through a small hash index).  Rendering
 * holds the lock while it writes to a memory stream, which takes well
 * under a millisecond for the sizes kept here.  What the counters mean
 * is in the HELP lines below and in the README (STATISTICS).
 */
#include <ctype.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "filters/report_stats.h"
#include "util/xalloc.h"

#define NAME_MAX_LEN   254
#define SERIES_MINUTES REPORT_SERIES_MINUTES
#define CODES          REPORT_STATS_CODES

static const double spam_bounds[] = {0, 1, 2, 3, 4, 5, 7.5, 10, 15, 20};
#define SPAM_BUCKETS (sizeof(spam_bounds) / sizeof(spam_bounds[0]))

static const double time_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                     1,     2.5,  5,     10,   30,  60};
#define TIME_BUCKETS (sizeof(time_bounds) / sizeof(time_bounds[0]))

/* What is counted per listener and per sender domain. */
struct stats_group {
	char name[NAME_MAX_LEN + 1];
	unsigned long long sessions;
	unsigned long long results[REPORT_RESULT_COUNT];
	unsigned long long rejected[REPORT_REASON_COUNT];
	unsigned long long tempfailed[REPORT_REASON_COUNT];
	unsigned long long signed_msgs;
	unsigned long long signatures;
	unsigned long long dkim_pass;
	unsigned long long dkim_fail;
};

struct stats_histogram {
	unsigned long long
	    counts[TIME_BUCKETS + 1]; /* per bucket, last: above all */
	unsigned long long count;
	double sum;
};

struct stats_minute {
	long long minute; /* time / 60 */
	unsigned long long results[REPORT_RESULT_COUNT];
};

struct report_stats {
	pthread_mutex_t lock;
	struct stats_group *listeners;
	size_t nlisteners;
	struct stats_group *domains; /* max_domains, then the overflow */
	size_t ndomains, max_domains;
	size_t *index; /* hash slots: domain number + 1, 0: empty */
	size_t nslots;
	struct stats_histogram spam, elapsed;
	unsigned long long upstream_codes[CODES];
	unsigned long long
	    reasons[REPORT_REASON_COUNT]; /* rejections, all groups */
	struct stats_minute series[SERIES_MINUTES];
};

struct report_stats *
report_stats_new(size_t max_domains)
{
	struct report_stats *st = xcalloc(1, sizeof(*st));

	pthread_mutex_init(&st->lock, NULL);
	st->max_domains = max_domains;
	st->domains = xcalloc(max_domains + 1, sizeof(*st->domains));
	snprintf(st->domains[max_domains].name, NAME_MAX_LEN + 1, "%s",
	         REPORT_STATS_OVERFLOW);
	st->nslots = 2 * max_domains + 1;
	st->index = xcalloc(st->nslots, sizeof(*st->index));
	return st;
}

void
report_stats_free(struct report_stats **stp)
{
	struct report_stats *st = *stp;

	if (st == NULL)
		return;
	pthread_mutex_destroy(&st->lock);
	free(st->listeners);
	free(st->domains);
	free(st->index);
	free(st);
	*stp = NULL;
}

static void
stats_session_sink(void *arg, const char *listener, int outbound)
{
	report_stats_session(arg, listener);
}

static void
stats_txn_sink(void *arg, const struct report_txn *r)
{
	report_stats_txn(arg, r);
}

void
report_stats_register(struct report_stats *st)
{
	report_add_session_sink(stats_session_sink, st);
	report_add_sink(stats_txn_sink, st);
}

/* Lookups, under the lock. */

static struct stats_group *
listener_group(struct report_stats *st, const char *name)
{
	struct stats_group *g;
	size_t i;

	name = name != NULL ? name : "-";
	for (i = 0; i < st->nlisteners; i++)
		if (strcmp(st->listeners[i].name, name) == 0)
			return &st->listeners[i];
	st->listeners = xreallocarray(st->listeners, st->nlisteners + 1,
	                              sizeof(*st->listeners));
	g = &st->listeners[st->nlisteners++];
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
	return g;
}

static size_t
domain_hash(const char *s)
{
	size_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* A name fit to be a label value: at most NAME_MAX_LEN octets (a cut
 * could split a character) of UTF-8 without control characters.  An
 * invalid byte would make Prometheus refuse the whole scrape. */
static int
domain_printable(const char *domain)
{
	const char *p;

	if (strlen(domain) > NAME_MAX_LEN || !g_utf8_validate(domain, -1, NULL))
		return 0;
	for (p = domain; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

/* The sender domain's group, lower-cased; the overflow group once
 * max_domains are kept.  The null sender counts as "<>".  A domain
 * starting with '<' is no domain name (a milter's MTA may pass one
 * through): it goes to the overflow too, so that neither "<>" nor
 * "<other>" can ever name two series; so does one that cannot be a
 * label value (domain_printable()). */
static struct stats_group *
domain_group(struct report_stats *st, const char *domain)
{
	char name[NAME_MAX_LEN + 1];
	size_t i, slot;

	if (domain != NULL && (domain[0] == '<' || !domain_printable(domain)))
		return &st->domains[st->max_domains];
	snprintf(name, sizeof(name), "%s",
	         domain != NULL && domain[0] ? domain : "<>");
	for (i = 0; name[i] != '\0'; i++)
		name[i] = (char)tolower((unsigned char)name[i]);
	slot = domain_hash(name) % st->nslots;
	for (; st->index[slot] != 0; slot = (slot + 1) % st->nslots)
		if (strcmp(st->domains[st->index[slot] - 1].name, name) == 0)
			return &st->domains[st->index[slot] - 1];
	if (st->ndomains == st->max_domains)
		return &st->domains[st->max_domains];
	memcpy(st->domains[st->ndomains].name, name, sizeof(name));
	st->index[slot] = ++st->ndomains;
	return &st->domains[st->ndomains - 1];
}

/* Updates. */

void
report_stats_listener(struct report_stats *st, const char *listener)
{
	pthread_mutex_lock(&st->lock);
	listener_group(st, listener);
	pthread_mutex_unlock(&st->lock);
}

void
report_stats_session(struct report_stats *st, const char *listener)
{
	pthread_mutex_lock(&st->lock);
	listener_group(st, listener)->sessions++;
	pthread_mutex_unlock(&st->lock);
}

static void
group_count(struct stats_group *g, const struct report_txn *r)
{
	g->results[r->result]++;
	if (r->result == REPORT_REJECTED)
		g->rejected[r->reason]++;
	else if (r->result == REPORT_TEMPFAILED)
		g->tempfailed[r->reason]++;
	if (r->signatures > 0)
		g->signed_msgs++;
	g->signatures += r->signatures;
	g->dkim_pass += r->dkim_pass;
	g->dkim_fail += r->dkim_fail;
}

static void
histogram_add(struct stats_histogram *h, const double *bounds, size_t n,
              double v)
{
	size_t i;

	for (i = 0; i < n && v > bounds[i]; i++)
		;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

static void
series_add(struct report_stats *st, time_t when, enum report_result result)
{
	long long minute = (long long)when / 60;
	struct stats_minute *m = &st->series[minute % SERIES_MINUTES];

	if (m->minute != minute) {
		memset(m, 0, sizeof(*m));
		m->minute = minute;
	}
	m->results[result]++;
}

void
report_stats_txn(struct report_stats *st, const struct report_txn *r)
{
	if ((unsigned int)r->result >= REPORT_RESULT_COUNT ||
	    (unsigned int)r->reason >= REPORT_REASON_COUNT)
		return;
	pthread_mutex_lock(&st->lock);
	group_count(listener_group(st, r->listener), r);
	group_count(domain_group(st, r->sender_domain), r);
	if (r->result == REPORT_REJECTED)
		st->reasons[r->reason]++;
	if (r->spam_scored)
		histogram_add(&st->spam, spam_bounds, SPAM_BUCKETS,
		              r->spam_score);
	if (r->result != REPORT_ABORTED)
		histogram_add(&st->elapsed, time_bounds, TIME_BUCKETS,
		              r->elapsed);
	if (r->upstream_code >= 100 && r->upstream_code < CODES)
		st->upstream_codes[r->upstream_code]++;
	series_add(st, r->when, r->result);
	pthread_mutex_unlock(&st->lock);
}

/* Prometheus text. */

/* A label value: backslash, double quote and newline escaped. */
static void
put_label(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void
put_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{key="group"[,k2="v2"]} value */
static void
put_value(FILE *f, const char *name, const char *key, const char *group,
          const char *k2, const char *v2, unsigned long long value)
{
	fprintf(f, "%s{%s=\"", name, key);
	put_label(f, group);
	if (k2 != NULL) {
		fprintf(f, "\",%s=\"", k2);
		put_label(f, v2);
	}
	fprintf(f, "\"} %llu\n", (unsigned long long)value);
}

static unsigned long long
group_received(const struct stats_group *g)
{
	unsigned long long n = 0;
	size_t i;

	for (i = 0; i < REPORT_RESULT_COUNT; i++)
		if (i != REPORT_ABORTED)
			n += g->results[i];
	return n;
}

/* The groups of one kind (listeners or domains) and their label. */
struct group_kind {
	const char *prefix; /* "postern" or "postern_domain" */
	const char *key;    /* "listener" or "domain" */
	const struct stats_group *g;
	size_t n;
	const struct stats_group *other; /* after g[n - 1]; may be NULL */
	int all;                         /* print zero values too */
};

/* The groups of a kind, the overflow last: i below kind_size(). */
static size_t
kind_size(const struct group_kind *k)
{
	return k->n + (k->other != NULL ? 1 : 0);
}

static const struct stats_group *
group_at(const struct group_kind *k, size_t i)
{
	return i < k->n ? &k->g[i] : k->other;
}

static const char *
family_name(char *buf, size_t size, const struct group_kind *k,
            const char *suffix)
{
	snprintf(buf, size, "%s_%s", k->prefix, suffix);
	return buf;
}

/* The counter at offset in a group (a field or an array). */
static const unsigned long long *
group_field(const struct stats_group *g, size_t offset)
{
	return (const void *)((const char *)g + offset);
}

/* One counter per group: the field at offset. */
static void
put_simple(FILE *f, const struct group_kind *k, const char *suffix,
           const char *help, size_t offset)
{
	char name[96];
	size_t i;

	put_head(f, family_name(name, sizeof(name), k, suffix), "counter",
	         help);
	for (i = 0; i < kind_size(k); i++) {
		const struct stats_group *g = group_at(k, i);
		unsigned long long v = *group_field(g, offset);

		if (k->all || v > 0)
			put_value(f, name, k->key, g->name, NULL, NULL, v);
	}
}

/* Counters by reason, zeros left out: the array at offset. */
static void
put_reasons(FILE *f, const struct group_kind *k, const char *suffix,
            const char *help, size_t offset)
{
	char name[96];
	size_t i, r;

	put_head(f, family_name(name, sizeof(name), k, suffix), "counter",
	         help);
	for (i = 0; i < kind_size(k); i++) {
		const struct stats_group *g = group_at(k, i);
		const unsigned long long *v = group_field(g, offset);

		for (r = 1; r < REPORT_REASON_COUNT; r++)
			if (v[r] > 0)
				put_value(f, name, k->key, g->name, "reason",
				          report_reason_name(r), v[r]);
	}
}

static void
put_results(FILE *f, const struct group_kind *k)
{
	char name[96];
	size_t i, r;

	family_name(name, sizeof(name), k, "messages_received_total");
	put_head(f, name, "counter",
	         "Transactions ended with a verdict (all but aborted).");
	for (i = 0; i < kind_size(k); i++)
		if (k->all || group_received(group_at(k, i)) > 0)
			put_value(f, name, k->key, group_at(k, i)->name, NULL,
			          NULL, group_received(group_at(k, i)));
	family_name(name, sizeof(name), k, "messages_total");
	put_head(f, name, "counter", "Transactions ended, by result.");
	for (i = 0; i < kind_size(k); i++) {
		const struct stats_group *g = group_at(k, i);

		for (r = 0; r < REPORT_RESULT_COUNT; r++)
			if (k->all || g->results[r] > 0)
				put_value(f, name, k->key, g->name, "result",
				          report_result_name(r), g->results[r]);
	}
}

static void
put_verified(FILE *f, const struct group_kind *k)
{
	char name[96];
	size_t i;

	family_name(name, sizeof(name), k, "dkim_verified_total");
	put_head(f, name, "counter",
	         "DKIM signatures verified in received mail, by result.");
	for (i = 0; i < kind_size(k); i++) {
		const struct stats_group *g = group_at(k, i);

		if (k->all || g->dkim_pass > 0)
			put_value(f, name, k->key, g->name, "result", "pass",
			          g->dkim_pass);
		if (k->all || g->dkim_fail > 0)
			put_value(f, name, k->key, g->name, "result", "fail",
			          g->dkim_fail);
	}
}

/* The counters kept for every group of a kind. */
static void
put_groups(FILE *f, const struct group_kind *k)
{
	put_results(f, k);
	put_reasons(f, k, "messages_rejected_total",
	            "Transactions rejected, by reason.",
	            offsetof(struct stats_group, rejected));
	put_reasons(f, k, "messages_tempfailed_total",
	            "Transactions tempfailed, by reason.",
	            offsetof(struct stats_group, tempfailed));
	put_simple(f, k, "messages_signed_total",
	           "Messages postern DKIM-signed.",
	           offsetof(struct stats_group, signed_msgs));
	put_simple(f, k, "dkim_signatures_total",
	           "DKIM signatures postern added.",
	           offsetof(struct stats_group, signatures));
	put_verified(f, k);
}

static void
put_histogram(FILE *f, const char *name, const char *help,
              const struct stats_histogram *h, const double *bounds, size_t n)
{
	unsigned long long cum = 0;
	size_t i;

	put_head(f, name, "histogram", help);
	for (i = 0; i < n; i++) {
		cum += h->counts[i];
		fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
		        (unsigned long long)cum);
	}
	fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name,
	        (unsigned long long)h->count);
	/* 12 digits: microseconds up to a million seconds, without the
	 * binary rounding noise %.17g shows (0.043339000000000009). */
	fprintf(f, "%s_sum %.12g\n%s_count %llu\n", name, h->sum, name,
	        (unsigned long long)h->count);
}

/* Domains beyond max_domains were counted in the overflow group. */
static int
other_used(const struct report_stats *st)
{
	const struct stats_group *o = &st->domains[st->max_domains];

	return group_received(o) > 0 || o->results[REPORT_ABORTED] > 0;
}

static void
put_prometheus(FILE *f, const struct report_stats *st)
{
	/* The overflow group follows the kept domains: it fills up once
	 * they are max_domains, or from names that are no domain. */
	struct group_kind listeners = {
	    "postern", "listener", st->listeners, st->nlisteners, NULL, 1};
	struct group_kind domains = {
	    "postern_domain",
	    "domain",
	    st->domains,
	    st->ndomains,
	    other_used(st) ? &st->domains[st->max_domains] : NULL,
	    0};
	char code[8];
	size_t i;

	put_head(f, "postern_sessions_total", "counter",
	         "Client sessions opened.");
	for (i = 0; i < st->nlisteners; i++)
		put_value(f, "postern_sessions_total", "listener",
		          st->listeners[i].name, NULL, NULL,
		          st->listeners[i].sessions);
	put_groups(f, &listeners);
	put_groups(f, &domains);
	put_head(f, "postern_upstream_replies_total", "counter",
	         "Final replies of the upstream to transactions, by code.");
	for (i = 100; i < CODES; i++) {
		if (st->upstream_codes[i] == 0)
			continue;
		snprintf(code, sizeof(code), "%zu", i);
		put_value(f, "postern_upstream_replies_total", "code", code,
		          NULL, NULL, st->upstream_codes[i]);
	}
	put_histogram(f, "postern_spam_score", "Spam scores of messages.",
	              &st->spam, spam_bounds, SPAM_BUCKETS);
	put_histogram(f, "postern_transaction_seconds",
	              "Time from MAIL to the end of the transaction.",
	              &st->elapsed, time_bounds, TIME_BUCKETS);
}

static char *
stream_done(FILE *f, char **buf)
{
	if (fclose(f) != 0)
		abort(); /* only when out of memory */
	return *buf;
}

char *
report_stats_prometheus(struct report_stats *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		abort();
	pthread_mutex_lock(&st->lock);
	put_prometheus(f, st);
	pthread_mutex_unlock(&st->lock);
	return stream_done(f, &buf);
}

/* The summary and JSON for the status page. */

void
report_stats_summary(struct report_stats *st, time_t now,
                     struct report_stats_summary *out)
{
	long long minute = (long long)now / 60;
	size_t i, k;

	memset(out, 0, sizeof(*out));
	out->now = now;
	pthread_mutex_lock(&st->lock);
	for (i = 0; i < st->nlisteners; i++) {
		out->sessions += st->listeners[i].sessions;
		for (k = 0; k < REPORT_RESULT_COUNT; k++)
			out->results[k] += st->listeners[i].results[k];
	}
	memcpy(out->reasons, st->reasons, sizeof(out->reasons));
	memcpy(out->upstream, st->upstream_codes, sizeof(out->upstream));
	for (i = 0; i < REPORT_SERIES_MINUTES; i++) {
		long long m =
		    minute - (long long)(REPORT_SERIES_MINUTES - 1 - i);
		const struct stats_minute *sm = &st->series[m % SERIES_MINUTES];

		if (sm->minute == m)
			memcpy(out->minutes[i], sm->results,
			       sizeof(out->minutes[i]));
	}
	pthread_mutex_unlock(&st->lock);
}

static void
put_json_results(FILE *f, const unsigned long long *results)
{
	size_t k;

	fputc('{', f);
	for (k = 0; k < REPORT_RESULT_COUNT; k++)
		fprintf(f, "%s\"%s\":%llu", k ? "," : "", report_result_name(k),
		        (unsigned long long)results[k]);
	fputc('}', f);
}

static void
put_json(FILE *f, const struct report_stats_summary *s)
{
	long long first = (long long)s->now / 60 - (REPORT_SERIES_MINUTES - 1);
	size_t i, k, n = 0;

	fprintf(f, "{\"now\":%lld,\"sessions\":%llu,\"results\":",
	        (long long)s->now, (unsigned long long)s->sessions);
	put_json_results(f, s->results);
	fputs(",\"reasons\":{", f);
	for (k = 1; k < REPORT_REASON_COUNT; k++)
		fprintf(f, "%s\"%s\":%llu", k > 1 ? "," : "",
		        report_reason_name(k),
		        (unsigned long long)s->reasons[k]);
	fputs("},\"upstream\":{", f);
	for (i = 100; i < REPORT_STATS_CODES; i++)
		if (s->upstream[i] > 0)
			fprintf(f, "%s\"%zu\":%llu", n++ ? "," : "", i,
			        (unsigned long long)s->upstream[i]);
	fputs("},\"minutes\":[", f);
	for (i = 0; i < REPORT_SERIES_MINUTES; i++) {
		fprintf(f, "%s{\"t\":%lld,\"n\":", i ? "," : "",
		        (first + (long long)i) * 60);
		put_json_results(f, s->minutes[i]);
		fputc('}', f);
	}
	fputs("]}\n", f);
}

char *
report_stats_json(struct report_stats *st, time_t now)
{
	struct report_stats_summary *s = xmalloc(sizeof(*s));
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		abort();
	report_stats_summary(st, now, s);
	put_json(f, s);
	free(s);
	return stream_done(f, &buf);
}
