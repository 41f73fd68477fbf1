/*
 * postern_report_dmarc.c - DMARC aggregate reports (RFC 7489 7.2 and
 * appendix C) from the DMARC evaluations in the history.
 *
 * One report per RFC5322.From domain whose record asked for them
 * (rua= present in the latest evaluation of the period).  The
 * policy_published is the latest record seen; rows group the
 * evaluations by source address, what was done and the authentication
 * results, with their count.  Sending the reports to the rua= addresses
 * is left to the postmaster (a mailer and the files written here).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/postern_report.h"
#include "util/xalloc.h"

#define PERIOD_SQL "time >= ?1 AND time <= ?2 AND lower(domain) = lower(?3)"

static const char domains_sql[] =
    "SELECT DISTINCT lower(domain) FROM dmarc"
    " WHERE time >= ?1 AND time <= ?2"
    " AND (?3 IS NULL OR lower(domain) = lower(?3))"
    " AND rua IS NOT NULL AND rua != '' ORDER BY 1";

static const char published_sql[] =
    "SELECT policy_domain, adkim, aspf, published_p, published_sp, pct, fo,"
    " rua FROM dmarc WHERE " PERIOD_SQL " AND published_p != ''"
    " ORDER BY time DESC, id DESC LIMIT 1";

/* Columns 0..12 of a row; 13 its messages (a row of the table is
 * one message unless count says more). */
static const char rows_sql[] =
    "SELECT client_ip, disposition, dkim, spf, override, envelope_from,"
    " domain, spf_domain, spf_scope, spf_result, dkim_domain,"
    " dkim_selector, dkim_result, SUM(count) FROM dmarc WHERE " PERIOD_SQL
    " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13"
    " ORDER BY 14 DESC, 1";

enum {
	ROW_IP = 0,
	ROW_DISPOSITION,
	ROW_DKIM,
	ROW_SPF,
	ROW_OVERRIDE,
	ROW_ENVELOPE_FROM,
	ROW_HEADER_FROM,
	ROW_SPF_DOMAIN,
	ROW_SPF_SCOPE,
	ROW_SPF_RESULT,
	ROW_DKIM_DOMAIN,
	ROW_DKIM_SELECTOR,
	ROW_DKIM_RESULT,
	ROW_COUNT,
};

static const char *
col(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s != NULL ? (const char *)s : "";
}

/* s if it is one of words (a NULL-terminated list), else fallback: the
 * schema's enumerations take nothing else. */
static const char *
one_of(const char *s, const char *const *words, const char *fallback)
{
	for (; *words != NULL; words++)
		if (strcmp(s, *words) == 0)
			return s;
	return fallback;
}

static void
element(FILE *out, const char *indent, const char *name, const char *value)
{
	fprintf(out, "%s<%s>", indent, name);
	postern_report_xml_string(out, value);
	fprintf(out, "</%s>\n", name);
}

/*
 * The source address as the schema's IPAddress pattern takes it: IPv4
 * dotted quad, or IPv6 as eight groups.
 * NOTE: the RFC 7489 pattern has no compressed IPv6 form (RFC 5952),
 * so IPv6 addresses are written in full.
 */
static void
source_ip(char *buf, size_t size, const char *ip)
{
	unsigned char a[16];
	int i;

	if (inet_pton(AF_INET6, ip, a) != 1) {
		snprintf(buf, size, "%s", ip);
		return;
	}
	buf[0] = '\0';
	for (i = 0; i < 16; i += 2)
		snprintf(buf + strlen(buf), size - strlen(buf), "%s%x",
		         i > 0 ? ":" : "",
		         (unsigned int)(a[i] << 8 | a[i + 1]));
}

static void
write_row(FILE *out, sqlite3_stmt *st)
{
	static const char *const dispositions[] = {"none", "quarantine",
	                                           "reject", NULL};
	static const char *const aligned[] = {"pass", "fail", NULL};
	static const char *const overrides[] = {"forwarded",
	                                        "sampled_out",
	                                        "trusted_forwarder",
	                                        "mailing_list",
	                                        "local_policy",
	                                        "other",
	                                        NULL};
	static const char *const dkim_results[] = {
	    "none",    "pass",      "fail",      "policy",
	    "neutral", "temperror", "permerror", NULL};
	static const char *const spf_results[] = {
	    "none",     "neutral",   "pass",      "fail",
	    "softfail", "temperror", "permerror", NULL};
	static const char *const scopes[] = {"helo", "mfrom", NULL};
	char ip[64];

	source_ip(ip, sizeof(ip), col(st, ROW_IP));
	fputs("  <record>\n    <row>\n", out);
	element(out, "      ", "source_ip", ip);
	fprintf(out, "      <count>%lld</count>\n",
	        (long long)sqlite3_column_int64(st, ROW_COUNT));
	fputs("      <policy_evaluated>\n", out);
	element(out, "        ", "disposition",
	        one_of(col(st, ROW_DISPOSITION), dispositions, "none"));
	element(out, "        ", "dkim",
	        one_of(col(st, ROW_DKIM), aligned, "fail"));
	element(out, "        ", "spf",
	        one_of(col(st, ROW_SPF), aligned, "fail"));
	if (col(st, ROW_OVERRIDE)[0] != '\0') {
		fputs("        <reason>\n", out);
		element(out, "          ", "type",
		        one_of(col(st, ROW_OVERRIDE), overrides, "other"));
		fputs("        </reason>\n", out);
	}
	fputs("      </policy_evaluated>\n    </row>\n", out);
	fputs("    <identifiers>\n", out);
	element(out, "      ", "envelope_from", col(st, ROW_ENVELOPE_FROM));
	element(out, "      ", "header_from", col(st, ROW_HEADER_FROM));
	fputs("    </identifiers>\n    <auth_results>\n", out);
	if (col(st, ROW_DKIM_DOMAIN)[0] != '\0') {
		fputs("      <dkim>\n", out);
		element(out, "        ", "domain", col(st, ROW_DKIM_DOMAIN));
		if (col(st, ROW_DKIM_SELECTOR)[0] != '\0')
			element(out, "        ", "selector",
			        col(st, ROW_DKIM_SELECTOR));
		element(out, "        ", "result",
		        one_of(col(st, ROW_DKIM_RESULT), dkim_results,
		               "permerror"));
		fputs("      </dkim>\n", out);
	}
	fputs("      <spf>\n", out);
	element(out, "        ", "domain", col(st, ROW_SPF_DOMAIN));
	element(out, "        ", "scope",
	        one_of(col(st, ROW_SPF_SCOPE), scopes, "mfrom"));
	element(out, "        ", "result",
	        one_of(col(st, ROW_SPF_RESULT), spf_results, "none"));
	fputs("      </spf>\n    </auth_results>\n  </record>\n", out);
}

static void
bind_domain(sqlite3_stmt *st, const struct postern_report_period *p,
            const char *domain)
{
	sqlite3_bind_int64(st, 1, (sqlite3_int64)p->since);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)p->until);
	sqlite3_bind_text(st, 3, domain, -1, SQLITE_STATIC);
}

static void
write_head(FILE *out, const char *domain, const struct postern_report_period *p,
           const struct postern_report_org *org, sqlite3_stmt *pub)
{
	char *id = xasprintf("%s.%lld.%lld@%s", domain, (long long)p->since,
	                     (long long)p->until, org->receiver);

	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feedback>\n"
	      "  <version>1.0</version>\n  <report_metadata>\n",
	      out);
	element(out, "    ", "org_name", org->org_name);
	element(out, "    ", "email", org->email);
	element(out, "    ", "report_id", id);
	fprintf(out,
	        "    <date_range>\n      <begin>%lld</begin>\n"
	        "      <end>%lld</end>\n    </date_range>\n"
	        "  </report_metadata>\n  <policy_published>\n",
	        (long long)p->since, (long long)p->until);
	element(out, "    ", "domain", col(pub, 0));
	element(out, "    ", "adkim",
	        strcmp(col(pub, 1), "s") == 0 ? "s" : "r");
	element(out, "    ", "aspf", strcmp(col(pub, 2), "s") == 0 ? "s" : "r");
	element(out, "    ", "p", col(pub, 3));
	element(out, "    ", "sp",
	        col(pub, 4)[0] != '\0' ? col(pub, 4) : col(pub, 3));
	fprintf(out, "    <pct>%d</pct>\n", sqlite3_column_int(pub, 5));
	element(out, "    ", "fo", col(pub, 6)[0] != '\0' ? col(pub, 6) : "0");
	fputs("  </policy_published>\n", out);
	free(id);
}

int
postern_report_dmarc_write(FILE *out, struct sqlite3 *db, const char *domain,
                           const struct postern_report_period *p,
                           const struct postern_report_org *org, char **error_r)
{
	sqlite3_stmt *pub = NULL, *rows = NULL;
	int rc = -1, step;

	if (sqlite3_prepare_v2(db, published_sql, -1, &pub, NULL) !=
	        SQLITE_OK ||
	    sqlite3_prepare_v2(db, rows_sql, -1, &rows, NULL) != SQLITE_OK)
		goto done;
	bind_domain(pub, p, domain);
	bind_domain(rows, p, domain);
	step = sqlite3_step(pub);
	if (step == SQLITE_DONE) {
		rc = 1;
		goto done;
	}
	if (step != SQLITE_ROW)
		goto done;
	write_head(out, domain, p, org, pub);
	while ((step = sqlite3_step(rows)) == SQLITE_ROW)
		write_row(out, rows);
	fputs("</feedback>\n", out);
	if (step == SQLITE_DONE)
		rc = 0;
done:
	if (rc < 0)
		*error_r = xasprintf("query: %s", sqlite3_errmsg(db));
	sqlite3_finalize(pub);
	sqlite3_finalize(rows);
	return rc;
}

/* The policy domain of domain's latest record, for the file name. */
static char *
policy_domain(sqlite3 *db, const char *domain,
              const struct postern_report_period *p)
{
	sqlite3_stmt *st;
	char *name = NULL;

	if (sqlite3_prepare_v2(db, published_sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	bind_domain(st, p, domain);
	if (sqlite3_step(st) == SQLITE_ROW)
		name = xstrdup(col(st, 0));
	sqlite3_finalize(st);
	return name;
}

static int
write_file(sqlite3 *db, const char *dir, const char *domain,
           const struct postern_report_period *p,
           const struct postern_report_org *org, FILE *names, char **error_r)
{
	char *pd = policy_domain(db, domain, p);
	char *path;
	FILE *f;
	int rc;

	/* RFC 7489 7.2.1.1: receiver "!" policy-domain "!" begin "!" end. */
	path = xasprintf("%s/%s!%s!%lld!%lld.xml", dir, org->receiver,
	                 pd != NULL && pd[0] != '\0' ? pd : domain,
	                 (long long)p->since, (long long)p->until);
	free(pd);
	f = fopen(path, "w");
	if (f == NULL) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	rc = postern_report_dmarc_write(f, db, domain, p, org, error_r);
	if (fclose(f) != 0 && rc == 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && names != NULL)
		fprintf(names, "%s\n", path);
	if (rc != 0)
		remove(path);
	free(path);
	return rc < 0 ? -1 : 0;
}

int
postern_report_dmarc_all(FILE *out, struct sqlite3 *db, const char *dir,
                         const struct postern_report_period *p,
                         const struct postern_report_org *org, FILE *names,
                         char **error_r)
{
	sqlite3_stmt *st;
	char *domain;
	int rc = 0, step = SQLITE_DONE;

	if (sqlite3_prepare_v2(db, domains_sql, -1, &st, NULL) != SQLITE_OK) {
		*error_r = xasprintf("query: %s", sqlite3_errmsg(db));
		return -1;
	}
	postern_report_bind_period(st, p);
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		domain = xstrdup(col(st, 0));
		if (dir != NULL)
			rc =
			    write_file(db, dir, domain, p, org, names, error_r);
		else if (postern_report_dmarc_write(out, db, domain, p, org,
		                                    error_r) < 0)
			rc = -1;
		free(domain);
	}
	if (rc == 0 && step != SQLITE_DONE) {
		*error_r = xasprintf("query: %s", sqlite3_errmsg(db));
		rc = -1;
	}
	sqlite3_finalize(st);
	return rc;
}
