/*
 * postern_report.c - `postern report`: what the history says.
 *
 *   postern report [-c FILE] [--db PATH] [--since DUR] [--domain D]
 *                  [--format text|json|csv]
 *   postern report dmarc [-c FILE] [--db PATH] [--since DUR] [--domain D]
 *                  [--org-name N] [--email E] [--out DIR]
 *
 * The sending report counts, per sender domain, the transactions that
 * ended with a reply to the message (received: every result but
 * aborted), and of those the relayed, signed (postern added a DKIM
 * signature), rejected and deferred (tempfailed).  The delivery-error
 * report takes every transaction postern or the upstream refused (a
 * 4xx or 5xx to the client, or from the upstream), grouped by reason
 * and reply code, with counts and the three latest examples.  The
 * database is opened read-only; the daemon may be writing it (WAL).
 */
#include <getopt.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "proxy/config.h"
#include "proxy/postern_report.h"
#include "util/xalloc.h"

#define EXAMPLES_MAX 3

/* The longest --since: 100 years. */
#define DURATION_MAX (100L * 366 * 86400)

/* The period and domain conditions every query shares: ?1 since,
 * ?2 until, ?3 the domain or NULL. */
#define PERIOD_SQL "time >= ?1 AND time <= ?2"

static const char sending_sql[] =
    "SELECT lower(sender_domain), COUNT(*), SUM(result = 'relayed'),"
    " SUM(signatures > 0), SUM(result = 'held'), SUM(result = 'discarded'),"
    " SUM(result = 'rejected'), SUM(result = 'tempfailed')"
    " FROM txn WHERE " PERIOD_SQL " AND result != 'aborted'"
    " AND (?3 IS NULL OR lower(sender_domain) = lower(?3))"
    " GROUP BY 1 ORDER BY COUNT(*) DESC, 1";

#define ERROR_WHERE                                                            \
	" FROM txn WHERE " PERIOD_SQL                                          \
	" AND (result IN ('rejected', 'tempfailed') OR upstream_code >= 400)"  \
	" AND (?3 IS NULL OR lower(sender_domain) = lower(?3))"
#define ERROR_CODE "(CASE WHEN code > 0 THEN code ELSE upstream_code END)"

static const char errors_sql[] =
    "SELECT reason, " ERROR_CODE ", COUNT(*)" ERROR_WHERE
    " GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2";

static const char examples_sql[] = "SELECT time, sender, " ERROR_CODE
                                   ", ecode, text, upstream_code" ERROR_WHERE
                                   " AND reason = ?4 AND " ERROR_CODE " = ?5"
                                   " ORDER BY time DESC, id DESC LIMIT 3";

#define SENDING_COLS 7

struct sending_row {
	char *domain;
	long long n[SENDING_COLS]; /* as sending_cols */
};

static const char *const sending_cols[SENDING_COLS] = {
    "received",  "relayed",  "signed",  "held",
    "discarded", "rejected", "deferred"};

struct error_example {
	time_t when;
	char *sender;
	int code;
	char *ecode;
	char *text;
	int upstream_code;
};

struct error_group {
	char *reason;
	int code;
	long long count;
	struct error_example ex[EXAMPLES_MAX];
	size_t nex;
};

struct report_data {
	struct sending_row *rows;
	size_t nrows;
	struct sending_row total;
	struct error_group *errors;
	size_t nerrors;
};

/* Strings */

void
postern_report_time(char *buf, size_t size, time_t t)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* JSON text must be UTF-8: what the history holds as the client sent
 * it (an 8-bit domain from a milter's MTA, say) has each invalid byte
 * shown as U+FFFD. */
static void
json_string(FILE *out, const char *s)
{
	char *valid = g_utf8_make_valid(s != NULL ? s : "", -1);
	const unsigned char *p;

	fputc('"', out);
	for (p = (const unsigned char *)valid; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\u%04x", *p);
		else
			fputc(*p, out);
	}
	fputc('"', out);
	g_free(valid);
}

/* RFC 4180: a field with a comma, quote or line break is quoted. */
static void
csv_string(FILE *out, const char *s)
{
	if (s == NULL)
		s = "";
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

static char *
column_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return xstrdup(s != NULL ? (const char *)s : "");
}

long
postern_report_duration(const char *text)
{
	static const struct {
		char unit;
		long seconds;
	} units[] = {{'s', 1},     {'m', 60},     {'h', 3600},
	             {'d', 86400}, {'w', 604800}, {'\0', 1}};
	char *end;
	long n;
	size_t i;

	if (text[0] < '0' || text[0] > '9')
		return -1;
	n = strtol(text, &end, 10);
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (end[0] != units[i].unit ||
		    (end[0] != '\0' && end[1] != '\0'))
			continue;
		/* An empty period, or one before any history, is a typo. */
		if (n <= 0 || n > DURATION_MAX / units[i].seconds)
			return -1;
		return n * units[i].seconds;
	}
	return -1;
}

/* Queries */

void
postern_report_bind_period(sqlite3_stmt *st,
                           const struct postern_report_period *p)
{
	sqlite3_bind_int64(st, 1, (sqlite3_int64)p->since);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)p->until);
	/* The null sender is stored as "" and written as "<>". */
	if (p->domain != NULL)
		sqlite3_bind_text(st, 3,
		                  strcmp(p->domain, "<>") == 0 ? "" : p->domain,
		                  -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
}

static int
query_sending(sqlite3 *db, const struct postern_report_period *p,
              struct report_data *d)
{
	sqlite3_stmt *st;
	struct sending_row *r;
	int i, rc;

	if (sqlite3_prepare_v2(db, sending_sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	postern_report_bind_period(st, p);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		d->rows =
		    xreallocarray(d->rows, d->nrows + 1, sizeof(*d->rows));
		r = &d->rows[d->nrows++];
		r->domain = column_dup(st, 0);
		for (i = 0; i < SENDING_COLS; i++) {
			r->n[i] = sqlite3_column_int64(st, i + 1);
			d->total.n[i] += r->n[i];
		}
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
query_examples(sqlite3 *db, const struct postern_report_period *p,
               struct error_group *g)
{
	struct error_example *e;
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, examples_sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	postern_report_bind_period(st, p);
	sqlite3_bind_text(st, 4, g->reason, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, g->code);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && g->nex < EXAMPLES_MAX) {
		e = &g->ex[g->nex++];
		e->when = (time_t)sqlite3_column_int64(st, 0);
		e->sender = column_dup(st, 1);
		e->code = sqlite3_column_int(st, 2);
		e->ecode = column_dup(st, 3);
		e->text = column_dup(st, 4);
		e->upstream_code = sqlite3_column_int(st, 5);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

static int
query_errors(sqlite3 *db, const struct postern_report_period *p,
             struct report_data *d)
{
	struct error_group *g;
	sqlite3_stmt *st;
	size_t i;
	int rc;

	if (sqlite3_prepare_v2(db, errors_sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	postern_report_bind_period(st, p);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		d->errors = xreallocarray(d->errors, d->nerrors + 1,
		                          sizeof(*d->errors));
		g = &d->errors[d->nerrors++];
		memset(g, 0, sizeof(*g));
		g->reason = column_dup(st, 0);
		g->code = sqlite3_column_int(st, 1);
		g->count = sqlite3_column_int64(st, 2);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	for (i = 0; i < d->nerrors; i++)
		if (query_examples(db, p, &d->errors[i]) < 0)
			return -1;
	return 0;
}

static void
data_free(struct report_data *d)
{
	size_t i, j;

	for (i = 0; i < d->nrows; i++)
		free(d->rows[i].domain);
	free(d->rows);
	for (i = 0; i < d->nerrors; i++) {
		for (j = 0; j < d->errors[i].nex; j++) {
			free(d->errors[i].ex[j].sender);
			free(d->errors[i].ex[j].ecode);
			free(d->errors[i].ex[j].text);
		}
		free(d->errors[i].reason);
	}
	free(d->errors);
}

/* Formats */

/* The null sender's "domain" is empty: shown as <>. */
static const char *
domain_shown(const char *domain)
{
	return domain[0] != '\0' ? domain : "<>";
}

/* Columns a name takes on a terminal: UTF-8 continuation bytes take
 * none. */
static int
text_width(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* Text from the history for a terminal: control characters (a CR or
 * an escape sequence in a client's address) shown as '?'. */
static void
text_put(FILE *out, const char *s)
{
	for (; *s != '\0'; s++)
		fputc((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

/* The name padded to width columns. */
static void
text_name(FILE *out, const char *name, int width)
{
	int pad = width - text_width(name);

	text_put(out, name);
	fprintf(out, "%*s", pad > 0 ? pad : 0, "");
}

static void
text_sending_row(FILE *out, const char *name, int width,
                 const struct sending_row *r)
{
	int i;

	text_name(out, name, width);
	for (i = 0; i < SENDING_COLS; i++)
		fprintf(out, " %9lld", r->n[i]);
	fputc('\n', out);
}

static void
write_text(FILE *out, const struct postern_report_period *p,
           const struct report_data *d)
{
	char since[32], until[32], t[32];
	size_t i, j;
	int c, width = 32;

	for (i = 0; i < d->nrows; i++) {
		int w = text_width(domain_shown(d->rows[i].domain));

		if (w > width)
			width = w;
	}
	postern_report_time(since, sizeof(since), p->since);
	postern_report_time(until, sizeof(until), p->until);
	fprintf(out, "Sending report, %s to %s\n\n", since, until);
	text_name(out, "sender domain", width);
	for (c = 0; c < SENDING_COLS; c++)
		fprintf(out, " %9s", sending_cols[c]);
	fputc('\n', out);
	for (i = 0; i < d->nrows; i++)
		text_sending_row(out, domain_shown(d->rows[i].domain), width,
		                 &d->rows[i]);
	text_sending_row(out, "total", width, &d->total);
	fprintf(out, "\nDelivery errors, %s to %s\n", since, until);
	if (d->nerrors == 0)
		fprintf(out, "\nnone\n");
	for (i = 0; i < d->nerrors; i++) {
		const struct error_group *g = &d->errors[i];

		fprintf(out, "\n%s %d: %lld\n", g->reason, g->code, g->count);
		for (j = 0; j < g->nex; j++) {
			postern_report_time(t, sizeof(t), g->ex[j].when);
			fprintf(out, "  %s <", t);
			text_put(out, g->ex[j].sender);
			fprintf(out, "> %d %s%s", g->ex[j].code, g->ex[j].ecode,
			        g->ex[j].ecode[0] != '\0' ? " " : "");
			text_put(out, g->ex[j].text);
			fputc('\n', out);
		}
	}
}

static void
json_sending_row(FILE *out, const char *name, const struct sending_row *r)
{
	int i;

	if (name != NULL) {
		fputs("{\"domain\": ", out);
		json_string(out, name);
		fputs(", ", out);
	} else
		fputc('{', out);
	for (i = 0; i < SENDING_COLS; i++)
		fprintf(out, "%s\"%s\": %lld", i > 0 ? ", " : "",
		        sending_cols[i], r->n[i]);
	fputc('}', out);
}

static void
json_example(FILE *out, const struct error_example *e)
{
	char t[32];

	postern_report_time(t, sizeof(t), e->when);
	fprintf(out, "{\"time\": \"%s\", \"sender\": ", t);
	json_string(out, e->sender);
	fprintf(out, ", \"code\": %d, \"ecode\": ", e->code);
	json_string(out, e->ecode);
	fputs(", \"text\": ", out);
	json_string(out, e->text);
	fprintf(out, ", \"upstream_code\": %d}", e->upstream_code);
}

static void
write_json(FILE *out, const struct postern_report_period *p,
           const struct report_data *d)
{
	char since[32], until[32];
	size_t i, j;

	postern_report_time(since, sizeof(since), p->since);
	postern_report_time(until, sizeof(until), p->until);
	fprintf(out,
	        "{\"since\": \"%s\", \"until\": \"%s\", \"domain\": ", since,
	        until);
	if (p->domain != NULL)
		json_string(out, p->domain);
	else
		fputs("null", out);
	fputs(",\n \"sending\": [", out);
	for (i = 0; i < d->nrows; i++) {
		fputs(i > 0 ? ",\n  " : "\n  ", out);
		json_sending_row(out, domain_shown(d->rows[i].domain),
		                 &d->rows[i]);
	}
	fputs("],\n \"total\": ", out);
	json_sending_row(out, NULL, &d->total);
	fputs(",\n \"errors\": [", out);
	for (i = 0; i < d->nerrors; i++) {
		const struct error_group *g = &d->errors[i];

		fputs(i > 0 ? ",\n  {\"reason\": " : "\n  {\"reason\": ", out);
		json_string(out, g->reason);
		fprintf(out, ", \"code\": %d, \"count\": %lld, \"examples\": [",
		        g->code, g->count);
		for (j = 0; j < g->nex; j++) {
			fputs(j > 0 ? ", " : "", out);
			json_example(out, &g->ex[j]);
		}
		fputs("]}", out);
	}
	fputs("]}\n", out);
}

/* Two tables, each with its header line, separated by an empty line:
 * the sending report, then one line per example of each error group
 * (a group without examples cannot be: each has at least one). */
static void
write_csv(FILE *out, const struct report_data *d)
{
	char t[32];
	size_t i, j;
	int c;

	fputs("domain", out);
	for (c = 0; c < SENDING_COLS; c++)
		fprintf(out, ",%s", sending_cols[c]);
	fputs("\r\n", out);
	for (i = 0; i < d->nrows; i++) {
		csv_string(out, domain_shown(d->rows[i].domain));
		for (c = 0; c < SENDING_COLS; c++)
			fprintf(out, ",%lld", d->rows[i].n[c]);
		fputs("\r\n", out);
	}
	fputs("\r\nreason,code,count,time,sender,example_code,ecode,text\r\n",
	      out);
	for (i = 0; i < d->nerrors; i++) {
		const struct error_group *g = &d->errors[i];

		for (j = 0; j < g->nex; j++) {
			postern_report_time(t, sizeof(t), g->ex[j].when);
			csv_string(out, g->reason);
			fprintf(out, ",%d,%lld,%s,", g->code, g->count, t);
			csv_string(out, g->ex[j].sender);
			fprintf(out, ",%d,", g->ex[j].code);
			csv_string(out, g->ex[j].ecode);
			fputc(',', out);
			csv_string(out, g->ex[j].text);
			fputs("\r\n", out);
		}
	}
}

int
postern_report_write(FILE *out, struct sqlite3 *db,
                     const struct postern_report_period *p,
                     enum postern_report_format f, char **error_r)
{
	struct report_data d;

	memset(&d, 0, sizeof(d));
	if (query_sending(db, p, &d) < 0 || query_errors(db, p, &d) < 0) {
		*error_r = xasprintf("query: %s", sqlite3_errmsg(db));
		data_free(&d);
		return -1;
	}
	if (f == POSTERN_REPORT_JSON)
		write_json(out, p, &d);
	else if (f == POSTERN_REPORT_CSV)
		write_csv(out, &d);
	else
		write_text(out, p, &d);
	data_free(&d);
	return 0;
}

/* The command */

struct report_args {
	const char *config;
	const char *db;
	long since;
	const char *domain;
	enum postern_report_format format;
	const char *org_name, *email, *out;
	int dmarc;
	int config_given; /* -c: else --db needs no configuration */
};

static void
report_usage(void)
{
	fprintf(stderr,
	        "usage: postern report [-c file] [--db path] [--since dur] "
	        "[--domain d]\n"
	        "                      [--format text|json|csv]\n"
	        "       postern report dmarc [-c file] [--db path] "
	        "[--since dur] [--domain d]\n"
	        "                      [--org-name name] [--email addr] "
	        "[--out dir]\n");
	exit(2);
}

/* A bad value: say which, then the usage. */
static void
report_bad(const char *option, const char *value, const char *want)
{
	fprintf(stderr, "postern report: --%s '%s': %s\n", option, value, want);
	report_usage();
}

static enum postern_report_format
format_parse(const char *s)
{
	if (strcmp(s, "text") == 0)
		return POSTERN_REPORT_TEXT;
	if (strcmp(s, "json") == 0)
		return POSTERN_REPORT_JSON;
	if (strcmp(s, "csv") == 0)
		return POSTERN_REPORT_CSV;
	report_bad("format", s, "want text, json or csv");
	return POSTERN_REPORT_TEXT;
}

static void
args_parse(int argc, char **argv, struct report_args *a)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"db", required_argument, NULL, 'D'},
	    {"since", required_argument, NULL, 's'},
	    {"domain", required_argument, NULL, 'd'},
	    {"format", required_argument, NULL, 'f'},
	    {"org-name", required_argument, NULL, 'o'},
	    {"email", required_argument, NULL, 'e'},
	    {"out", required_argument, NULL, 'O'},
	    {NULL, 0, NULL, 0}};
	int ch;

	if (argc > 1 && strcmp(argv[1], "dmarc") == 0) {
		a->dmarc = 1;
		argc--;
		argv++;
	}
	while ((ch = getopt_long(argc, argv, "c:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			a->config = optarg;
			a->config_given = 1;
			break;
		case 'D':
			a->db = optarg;
			break;
		case 's':
			if ((a->since = postern_report_duration(optarg)) < 0)
				report_bad(
				    "since", optarg,
				    "want N, Ns, Nm, Nh, Nd or Nw, from 1s "
				    "to 100 years");
			break;
		case 'd':
			a->domain = optarg;
			break;
		case 'f':
			a->format = format_parse(optarg);
			break;
		case 'o':
			a->org_name = optarg;
			break;
		case 'e':
			a->email = optarg;
			break;
		case 'O':
			a->out = optarg;
			break;
		default:
			report_usage();
		}
	}
	if (optind < argc ||
	    (!a->dmarc &&
	     (a->org_name != NULL || a->email != NULL || a->out != NULL)))
		report_usage();
}

static int
run(const struct report_args *a, sqlite3 *db, const char *hostname)
{
	struct postern_report_period p = {0, 0, a->domain};
	struct postern_report_org org;
	char *error = NULL, *email = NULL;
	const char *at;
	int rc;

	p.until = time(NULL);
	p.since = p.until - a->since;
	if (!a->dmarc)
		rc = postern_report_write(stdout, db, &p, a->format, &error);
	else {
		if (a->email == NULL)
			email = xasprintf("postmaster@%s", hostname);
		org.org_name = a->org_name != NULL ? a->org_name : hostname;
		org.email = a->email != NULL ? a->email : email;
		at = strrchr(org.email, '@');
		org.receiver = at != NULL ? at + 1 : hostname;
		rc = postern_report_dmarc_all(stdout, db, a->out, &p, &org,
		                              a->out != NULL ? stdout : NULL,
		                              &error);
		free(email);
	}
	if (rc < 0) {
		fprintf(stderr, "postern report: %s\n", error);
		free(error);
		return rc == -2 ? 2 : 1; /* -2: a usage error (dmarc) */
	}
	return 0;
}

/* Open the database at path read-only and write the report: the exit
 * status. */
static int
report_open_run(const struct report_args *a, const char *path,
                const char *hostname)
{
	sqlite3 *db = NULL;
	int rc;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "postern report: %s: %s\n", path,
		        db != NULL ? sqlite3_errmsg(db) : "out of memory");
		rc = 1;
	} else {
		sqlite3_busy_timeout(db, 5000);
		rc = run(a, db, hostname);
	}
	sqlite3_close(db);
	return rc;
}

/* --db without -c: a copied database read where there is no
 * configuration; the host's name stands for the configured hostname. */
static int
report_db(const struct report_args *a)
{
	char hostname[256];

	if (gethostname(hostname, sizeof(hostname)) < 0)
		snprintf(hostname, sizeof(hostname), "localhost");
	hostname[sizeof(hostname) - 1] = '\0';
	return report_open_run(a, a->db, hostname);
}

int
postern_report_main(int argc, char **argv, const char *default_config)
{
	struct report_args a = {.config = default_config,
	                        .since = 86400,
	                        .format = POSTERN_REPORT_TEXT};
	struct config *cfg;
	char *error = NULL, *path, *hostname;
	int rc;

	args_parse(argc, argv, &a);
	if (a.db != NULL && !a.config_given)
		return report_db(&a);
	cfg = config_load(a.config, &error);
	if (cfg == NULL) {
		fprintf(stderr, "postern report: %s\n", error);
		free(error);
		return 2;
	}
	if (a.db == NULL && cfg->history == NULL) {
		fprintf(stderr, "postern report: %s: no history section\n",
		        a.config);
		config_unref(&cfg);
		return 2;
	}
	path = xstrdup(a.db != NULL ? a.db : cfg->history->path);
	hostname = xstrdup(cfg->hostname);
	config_unref(&cfg);
	rc = report_open_run(&a, path, hostname);
	free(path);
	free(hostname);
	return rc;
}
