/*
 * report_stats.h - counters of what postern did since it started, for
 * the metrics listener: per listener and per sender domain, histograms
 * of spam scores and transaction times, upstream replies by code, and
 * messages per minute over the last hour.
 *
 * Updated from any thread under one short lock; rendered as Prometheus
 * text or JSON for the status page.  Counters start at zero when the
 * process starts and survive configuration reloads.
 */
#ifndef POSTERN_REPORT_STATS_H
#define POSTERN_REPORT_STATS_H

#include <stddef.h>
#include <time.h>

#include "filters/report.h"

/* Sender domains counted one by one; the rest go to the overflow
 * group, named so that it can never be a domain (like "<>", the null
 * sender's). */
#define REPORT_STATS_DOMAINS  1000
#define REPORT_STATS_OVERFLOW "<other>"

struct report_stats;

/* New counters, all zero; at most max_domains sender domains are kept
 * apart.  Never NULL (aborts when out of memory). */
struct report_stats *report_stats_new(size_t max_domains);
void report_stats_free(struct report_stats **st);

/* Register st as a sink of report_session() and report_txn(). */
void report_stats_register(struct report_stats *st);

/* Make listener's counters exist, at zero, so that they are rendered
 * before its first session (the configured listeners, at start). */
void report_stats_listener(struct report_stats *st, const char *listener);

/* Count a session opened on listener (copied). */
void report_stats_session(struct report_stats *st, const char *listener);

/* Count an ended transaction; nothing of r is kept. */
void report_stats_txn(struct report_stats *st, const struct report_txn *r);

/* The counters in the Prometheus text exposition format (0.0.4).
 * Returns a string the caller frees. */
char *report_stats_prometheus(struct report_stats *st);

#define REPORT_SERIES_MINUTES 60
#define REPORT_STATS_CODES    600

/* What the status page draws. */
struct report_stats_summary {
	time_t now;
	unsigned long long sessions;
	unsigned long long results[REPORT_RESULT_COUNT];
	unsigned long long reasons[REPORT_REASON_COUNT]; /* rejections */
	unsigned long long upstream[REPORT_STATS_CODES]; /* by reply code */
	/* Transactions ended per minute by result, the oldest first; the
	 * last is the minute of now. */
	unsigned long long minutes[REPORT_SERIES_MINUTES][REPORT_RESULT_COUNT];
};

/* Copy the summary at now into *out. */
void report_stats_summary(struct report_stats *st, time_t now,
                          struct report_stats_summary *out);

/*
 * The counters the status page draws, as JSON: totals by result and by
 * rejection reason, upstream replies by code, and messages per minute
 * by result for the 60 minutes up to now.  Returns a string the caller
 * frees.
 */
char *report_stats_json(struct report_stats *st, time_t now);

#endif
