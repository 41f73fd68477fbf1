/*
 * metrics.h - the metrics listener: Prometheus text at /metrics, the
 * status page at / (or /status) and its data at /status.json.
 *
 * libmicrohttpd serves it from a thread of its own, so a slow scraper
 * never holds up the event loop; the handlers only read the counters
 * (report_stats.h, report_history.h) under their lock.  Peers outside
 * the allow list are closed as they are accepted; methods other than
 * GET and HEAD get 405; other paths 404.
 */
#ifndef POSTERN_METRICS_H
#define POSTERN_METRICS_H

#include <stddef.h>
#include <time.h>

struct config;
struct report_history;
struct report_stats;
struct report_stats_summary;
struct metrics;

/*
 * Listen on cfg->metrics->addr and serve st, and the dropped and lost
 * counts of history when it is not NULL.  The listeners of cfg get
 * their counters in st at once (zero until their first session).  What
 * is needed of cfg is copied (a reload may free it); st and history
 * are kept and must outlive the listener.  Returns NULL with a static
 * reason in *error_r when the address cannot be bound.
 */
struct metrics *metrics_start(const struct config *cfg, struct report_stats *st,
                              struct report_history *history,
                              const char **error_r);

/* Stop serving and free; sets *mp to NULL. */
void metrics_stop(struct metrics **mp);

/* The status page for s as HTML.  Returns a string the caller frees. */
char *metrics_page_render(const struct report_stats_summary *s);

#endif
