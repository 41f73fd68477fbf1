/*
 * metrics_page.c - the status page: one HTML document with inline CSS
 * and inline SVG charts drawn here from a summary of the counters, so
 * the page needs no script and loads nothing else.  A meta refresh
 * reloads it; /status.json carries the same figures for other tools.
 *
 * Each chart is an <svg> with an id; every data point or bar carries
 * data-label and data-value attributes with the exact counter, so the
 * page can be checked by reading its DOM.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "filters/report_stats.h"
#include "proxy/metrics.h"

#define CHART_W 540
#define CHART_H 200
#define BAR_ROW 24

static const char *const result_colours[REPORT_RESULT_COUNT] = {
    "#2e7d32", "#c62828", "#ef6c00", "#6a1b9a", "#546e7a", "#9e9e9e"};

static const char page_style[] =
    "body{font-family:sans-serif;margin:24px;background:#f7f7f5;"
    "color:#222}h1{font-size:22px;margin:0 0 16px}"
    "h2{font-size:16px;margin:0 0 8px}"
    ".grid{display:grid;grid-template-columns:repeat(2,560px);gap:16px}"
    ".card{background:#fff;border:1px solid #ddd;border-radius:6px;"
    "padding:10px}table{border-collapse:collapse}"
    "td,th{padding:2px 10px;text-align:right;font-size:14px}"
    "th{text-align:left}svg text{font-size:11px;fill:#333}"
    ".axis{stroke:#999;stroke-width:1}";

static unsigned long long
max_of(const unsigned long long *v, size_t n)
{
	unsigned long long m = 0;
	size_t i;

	for (i = 0; i < n; i++)
		m = v[i] > m ? v[i] : m;
	return m;
}

/* Horizontal bars, one per label, scaled to the largest value. */
static void
bar_chart(FILE *f, const char *id, const char *const *labels,
          const unsigned long long *values, size_t n, const char *colour)
{
	unsigned long long top = max_of(values, n);
	size_t i;

	fprintf(f,
	        "<svg id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" "
	        "width=\"%d\" height=\"%zu\">\n",
	        id, CHART_W, n * BAR_ROW + 8);
	for (i = 0; i < n; i++) {
		double w =
		    top ? (CHART_W - 200.0) * (double)values[i] / (double)top
		        : 0;

		fprintf(
		    f,
		    "<text x=\"0\" y=\"%zu\">%s</text>"
		    "<rect class=\"bar\" data-label=\"%s\" "
		    "data-value=\"%llu\" x=\"110\" y=\"%zu\" width=\"%.1f\" "
		    "height=\"16\" fill=\"%s\"/>"
		    "<text x=\"%.1f\" y=\"%zu\">%llu</text>\n",
		    i * BAR_ROW + 16, labels[i], labels[i], values[i],
		    i * BAR_ROW + 4, w, colour, 116 + w, i * BAR_ROW + 16,
		    values[i]);
	}
	fputs("</svg>\n", f);
}

/* Messages per minute over the hour, one line per result that has any
 * point above zero; every minute is a data point. */
static void
throughput_chart(FILE *f, const struct report_stats_summary *s)
{
	unsigned long long top = 1;
	size_t i, k;

	for (i = 0; i < REPORT_SERIES_MINUTES; i++)
		for (k = 0; k < REPORT_RESULT_COUNT; k++)
			top = s->minutes[i][k] > top ? s->minutes[i][k] : top;
	fprintf(f,
	        "<svg id=\"throughput\" xmlns=\"http://www.w3.org/2000/svg\" "
	        "width=\"%d\" height=\"%d\">\n"
	        "<line class=\"axis\" x1=\"30\" y1=\"%d\" x2=\"%d\" "
	        "y2=\"%d\"/><text x=\"0\" y=\"20\">%llu</text>"
	        "<text x=\"0\" y=\"%d\">0</text>"
	        "<text x=\"30\" y=\"%d\">-60 min</text>"
	        "<text x=\"%d\" y=\"%d\">now</text>\n",
	        CHART_W, CHART_H + 20, CHART_H, CHART_W, CHART_H, top, CHART_H,
	        CHART_H + 16, CHART_W - 30, CHART_H + 16);
	for (k = 0; k < REPORT_RESULT_COUNT; k++) {
		unsigned long long any = 0;

		for (i = 0; i < REPORT_SERIES_MINUTES; i++)
			any += s->minutes[i][k];
		if (any == 0)
			continue;
		fprintf(f,
		        "<g class=\"series\" data-label=\"%s\" stroke=\"%s\" "
		        "fill=\"%s\"><polyline fill=\"none\" points=\"",
		        report_result_name(k), result_colours[k],
		        result_colours[k]);
		for (i = 0; i < REPORT_SERIES_MINUTES; i++)
			fprintf(f, "%.1f,%.1f ",
			        30 + (CHART_W - 40.0) * (double)i /
			                 (REPORT_SERIES_MINUTES - 1),
			        CHART_H - (CHART_H - 20.0) *
			                      (double)s->minutes[i][k] /
			                      (double)top);
		fputs("\"/>\n", f);
		for (i = 0; i < REPORT_SERIES_MINUTES; i++)
			fprintf(f,
			        "<circle class=\"pt\" data-label=\"%s\" "
			        "data-value=\"%llu\" r=\"2\" cx=\"%.1f\" "
			        "cy=\"%.1f\"/>",
			        report_result_name(k), s->minutes[i][k],
			        30 + (CHART_W - 40.0) * (double)i /
			                 (REPORT_SERIES_MINUTES - 1),
			        CHART_H - (CHART_H - 20.0) *
			                      (double)s->minutes[i][k] /
			                      (double)top);
		fputs("</g>\n", f);
	}
	fputs("</svg>\n", f);
}

static void
verdicts_card(FILE *f, const struct report_stats_summary *s)
{
	const char *labels[REPORT_RESULT_COUNT];
	size_t k;

	for (k = 0; k < REPORT_RESULT_COUNT; k++)
		labels[k] = report_result_name(k);
	fputs("<div class=\"card\"><h2>Verdicts</h2>\n", f);
	bar_chart(f, "verdicts", labels, s->results, REPORT_RESULT_COUNT,
	          "#1565c0");
	fputs("</div>\n", f);
}

static void
reasons_card(FILE *f, const struct report_stats_summary *s)
{
	const char *labels[REPORT_REASON_COUNT];
	unsigned long long values[REPORT_REASON_COUNT];
	size_t k, n = 0;

	/* Largest first: a selection sort over eight entries. */
	int used[REPORT_REASON_COUNT] = {0};

	for (n = 0; n + 1 < REPORT_REASON_COUNT; n++) {
		size_t best = 0;

		for (k = 1; k < REPORT_REASON_COUNT; k++)
			if (!used[k] &&
			    (best == 0 || s->reasons[k] > s->reasons[best]))
				best = k;
		used[best] = 1;
		labels[n] = report_reason_name(best);
		values[n] = s->reasons[best];
	}
	fputs("<div class=\"card\"><h2>Top rejection reasons</h2>\n", f);
	bar_chart(f, "reasons", labels, values, n, "#c62828");
	fputs("</div>\n", f);
}

static void
upstream_card(FILE *f, const struct report_stats_summary *s)
{
	char names[REPORT_STATS_CODES - 400][4];
	const char *labels[REPORT_STATS_CODES - 400];
	unsigned long long values[REPORT_STATS_CODES - 400];
	size_t i, n = 0;

	for (i = 400; i < REPORT_STATS_CODES; i++) {
		if (s->upstream[i] == 0)
			continue;
		snprintf(names[i - 400], sizeof(names[0]), "%zu", i);
		labels[n] = names[i - 400];
		values[n++] = s->upstream[i];
	}
	fputs("<div class=\"card\"><h2>Upstream errors</h2>\n", f);
	if (n == 0)
		fputs("<p>none</p>\n", f);
	bar_chart(f, "upstream", labels, values, n, "#ef6c00");
	fputs("</div>\n", f);
}

static void
totals_table(FILE *f, const struct report_stats_summary *s)
{
	size_t k;

	fprintf(f,
	        "<div class=\"card\"><h2>Since start</h2><table>"
	        "<tr><th>sessions</th><td id=\"total-sessions\">%llu</td>"
	        "</tr>\n",
	        s->sessions);
	for (k = 0; k < REPORT_RESULT_COUNT; k++)
		fprintf(f,
		        "<tr><th>%s</th><td id=\"total-%s\">%llu</td></tr>\n",
		        report_result_name(k), report_result_name(k),
		        s->results[k]);
	fputs("</table></div>\n", f);
}

char *
metrics_page_render(const struct report_stats_summary *s)
{
	char *buf = NULL, when[64];
	size_t len = 0;
	struct tm tm;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		abort();
	gmtime_r(&s->now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	fprintf(f,
	        "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	        "<meta charset=\"utf-8\">"
	        "<meta http-equiv=\"refresh\" content=\"30\">"
	        "<title>postern status</title><style>%s</style></head>\n"
	        "<body><h1>postern status <small>%s</small></h1>\n"
	        "<div class=\"grid\">\n"
	        "<div class=\"card\"><h2>Messages per minute, last hour</h2>\n",
	        page_style, when);
	throughput_chart(f, s);
	fputs("</div>\n", f);
	totals_table(f, s);
	verdicts_card(f, s);
	reasons_card(f, s);
	upstream_card(f, s);
	fputs("</div></body></html>\n", f);
	if (fclose(f) != 0)
		abort();
	return buf;
}
