/*
 * postern_report_dmarc.c - DMARC aggregate reports (RFC 7489 7.2 and
 * appendix C) from the DMARC evaluations in the history.
 *
 * One report per policy domain (the domain whose record was applied)
 * whose latest record of the period asks for them (rua=), with the
 * evaluations of every From domain that record covered: each record of
 * the report keeps its own header_from.  The policy_published is that
 * latest record; rows group the evaluations by source address, what
 * was done and the authentication results, with their count.  Sending
 * the reports to the rua= addresses is left to the postmaster (a mailer
 * and the files written here).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "proxy/postern_report.h"
#include "util/xalloc.h"

/* The policy domain of a row, lower-cased; the From domain for a row
 * that has none (no record was found). */
#define POLICY_DOMAIN "lower(coalesce(nullif(policy_domain, ''), domain))"
#define IN_PERIOD     "time >= ?1 AND time <= ?2"
#define PERIOD_SQL    IN_PERIOD " AND " POLICY_DOMAIN " = lower(?3)"

/* The policy domains of the period (?3: one, or NULL for all) whose
 * latest record has rua=. */
static const char domains_sql[] =
    "SELECT pd FROM (SELECT " POLICY_DOMAIN " AS pd, rua, row_number()"
    " OVER (PARTITION BY " POLICY_DOMAIN " ORDER BY time DESC, id DESC)"
    " AS latest FROM dmarc WHERE " IN_PERIOD " AND published_p != ''"
    " AND (?3 IS NULL OR " POLICY_DOMAIN " = lower(?3)))"
    " WHERE latest = 1 AND rua IS NOT NULL AND rua != '' ORDER BY 1";

static const char published_sql[] =
    "SELECT " POLICY_DOMAIN ", adkim, aspf, published_p, published_sp,"
    " pct, fo, rua FROM dmarc WHERE " PERIOD_SQL " AND published_p != ''"
    " ORDER BY time DESC, id DESC LIMIT 1";

/* Columns 0..12 of a row; 13 its messages (a row of the table is
 * one message unless count says more). */
static const char rows_sql[] =
    "SELECT client_ip, disposition, dkim, spf, override, envelope_from,"
    " domain, spf_domain, spf_scope, spf_result, dkim_domain,"
    " dkim_selector, dkim_result, SUM(count) FROM dmarc WHERE " PERIOD_SQL
    " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13"
    " ORDER BY 14 DESC, 1, 7";

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

/* What postern_report_dmarc_all returns for options that cannot give
 * valid reports: the command's exit status 2. */
#define USAGE_ERROR (-2)

static const char *const dispositions[] = {"none", "quarantine", "reject",
                                           NULL};

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

/*
 * The length of the UTF-8 character at s with its code point in *cp,
 * or 0 when s starts none (RFC 3629: no overlong forms, surrogates or
 * code points past U+10FFFF).  The NUL ending s stops a truncated
 * sequence as any other non-continuation byte does.
 */
static size_t
utf8_char(const unsigned char *s, unsigned long *cp)
{
	size_t len, i;
	unsigned long c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

static int
utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long cp;
	size_t n;

	for (; *p != '\0'; p += n)
		if ((n = utf8_char(p, &cp)) == 0)
			return 0;
	return 1;
}

/* XML 1.0 section 2.2 Char: no other code point may appear in a
 * document, not even as a character reference. */
static int
xml_char(unsigned long cp)
{
	return cp == 0x9 || cp == 0xa || cp == 0xd ||
	       (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) ||
	       (cp >= 0x10000 && cp <= 0x10ffff);
}

/* s as XML character data.  What the history holds came from the
 * network: bytes that are not UTF-8 and characters XML forbids are
 * left out, so the document stays well-formed. */
static void
xml_text(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long cp;
	size_t n;

	while (*p != '\0') {
		n = utf8_char(p, &cp);
		if (n == 0) {
			p++;
			continue;
		}
		if (cp == '<')
			fputs("&lt;", out);
		else if (cp == '>')
			fputs("&gt;", out);
		else if (cp == '&')
			fputs("&amp;", out);
		else if (cp == '"')
			fputs("&quot;", out);
		else if (xml_char(cp))
			fwrite(p, 1, n, out);
		p += n;
	}
}

static void
element(FILE *out, const char *indent, const char *name, const char *value)
{
	fprintf(out, "%s<%s>", indent, name);
	xml_text(out, value);
	fprintf(out, "</%s>\n", name);
}

/*
 * The source address as the schema's IPAddress pattern takes it: IPv4
 * as a dotted quad, an IPv4-mapped IPv6 address (a dual-stack socket)
 * as its IPv4 address, other IPv6 as eight groups; a zone (fe80::1%2)
 * is left out.  0, or -1 when ip is no address at all ("[UNAVAILABLE]"
 * from XCLIENT): the schema has no way to write such a row.
 * NOTE: the RFC 7489 pattern has no compressed IPv6 form (RFC 5952),
 * so IPv6 addresses are written in full.
 */
static int
source_ip(char *buf, size_t size, const char *ip)
{
	char host[INET6_ADDRSTRLEN];
	struct in6_addr a6;
	struct in_addr a4;
	size_t len = strcspn(ip, "%"), i;

	if (len >= sizeof(host))
		return -1;
	memcpy(host, ip, len);
	host[len] = '\0';
	if (inet_pton(AF_INET, host, &a4) == 1)
		return inet_ntop(AF_INET, &a4, buf, size) != NULL ? 0 : -1;
	if (inet_pton(AF_INET6, host, &a6) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&a6))
		return inet_ntop(AF_INET, a6.s6_addr + 12, buf, size) != NULL
		           ? 0
		           : -1;
	buf[0] = '\0';
	for (i = 0; i < 16; i += 2)
		snprintf(
		    buf + strlen(buf), size - strlen(buf), "%s%x",
		    i > 0 ? ":" : "",
		    (unsigned int)(a6.s6_addr[i] << 8 | a6.s6_addr[i + 1]));
	return 0;
}

static void
write_row(FILE *out, sqlite3_stmt *st, const char *ip)
{
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
write_head(FILE *out, const struct postern_report_period *p,
           const struct postern_report_org *org, sqlite3_stmt *pub)
{
	const char *p_policy = one_of(col(pub, 3), dispositions, "none");
	char *id =
	    xasprintf("%s.%lld.%lld@%s", col(pub, 0), (long long)p->since,
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
	element(out, "    ", "p", p_policy);
	element(out, "    ", "sp", one_of(col(pub, 4), dispositions, p_policy));
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
	int rc = -1, step, records = 0;
	char ip[INET6_ADDRSTRLEN];

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
	/* The head waits for the first row with an address: the schema
	 * wants at least one record. */
	while ((step = sqlite3_step(rows)) == SQLITE_ROW) {
		if (source_ip(ip, sizeof(ip), col(rows, ROW_IP)) < 0)
			continue;
		if (records++ == 0)
			write_head(out, p, org, pub);
		write_row(out, rows, ip);
	}
	if (records > 0)
		fputs("</feedback>\n", out);
	if (step == SQLITE_DONE)
		rc = records > 0 ? 0 : 1;
done:
	if (rc < 0)
		*error_r = xasprintf("query: %s", sqlite3_errmsg(db));
	sqlite3_finalize(pub);
	sqlite3_finalize(rows);
	return rc;
}

/* 1 if name may be part of a file name in the --out directory: a
 * domain of letters, digits, '-' and '.', without a leading '.' or
 * "..", so that it can name no other directory. */
static int
file_name_domain(const char *name)
{
	const char *s;

	if (name[0] == '\0' || name[0] == '.' || strstr(name, "..") != NULL)
		return 0;
	for (s = name; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
			return 0;
	return 1;
}

static int
write_file(sqlite3 *db, const char *dir, const char *domain,
           const struct postern_report_period *p,
           const struct postern_report_org *org, FILE *names, char **error_r)
{
	char *path;
	FILE *f;
	int rc;

	/* RFC 7489 7.2.1.1: receiver "!" policy-domain "!" begin "!" end. */
	path = xasprintf("%s/%s!%s!%lld!%lld.xml", dir, org->receiver, domain,
	                 (long long)p->since, (long long)p->until);
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

/* The report of domain into *buf (allocated, NULL when it has none).
 * 0, or -1 with a reason in *error_r. */
static int
write_buffer(sqlite3 *db, const char *domain,
             const struct postern_report_period *p,
             const struct postern_report_org *org, char **buf, char **error_r)
{
	size_t len = 0;
	FILE *f = open_memstream(buf, &len);
	int rc;

	if (f == NULL) {
		*error_r = xasprintf("memory: %s", strerror(errno));
		return -1;
	}
	rc = postern_report_dmarc_write(f, db, domain, p, org, error_r);
	fclose(f);
	if (rc != 0) {
		free(*buf);
		*buf = NULL;
	}
	return rc < 0 ? -1 : 0;
}

/*
 * Without a directory the one report goes to out.  Two XML documents
 * one after the other are no XML, so more than one is an error, found
 * before anything is written.
 */
static int
write_single(FILE *out, sqlite3 *db, char **domains, size_t n,
             const struct postern_report_period *p,
             const struct postern_report_org *org, char **error_r)
{
	char *report = NULL, *buf;
	size_t i, first = 0;
	int rc = 0;

	for (i = 0; i < n; i++) {
		if (write_buffer(db, domains[i], p, org, &buf, error_r) < 0) {
			rc = -1;
			break;
		}
		if (buf == NULL)
			continue;
		if (report != NULL) {
			*error_r = xasprintf(
			    "reports for more than one policy domain (%s, %s, "
			    "...): write them to files with --out DIR, or "
			    "choose one with --domain D",
			    domains[first], domains[i]);
			free(buf);
			rc = USAGE_ERROR;
			break;
		}
		report = buf;
		first = i;
	}
	if (rc == 0 && report != NULL && fputs(report, out) == EOF) {
		*error_r = xasprintf("output: %s", strerror(errno));
		rc = -1;
	}
	free(report);
	return rc;
}

/* Each report to its file in dir.  A policy domain that cannot be part
 * of a file name (the history could hold anything) is left out and
 * reported once the others are written. */
static int
write_files(sqlite3 *db, const char *dir, char **domains, size_t n,
            const struct postern_report_period *p,
            const struct postern_report_org *org, FILE *names, char **error_r)
{
	const char *unusable = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		if (!file_name_domain(domains[i])) {
			if (unusable == NULL)
				unusable = domains[i];
			continue;
		}
		if (write_file(db, dir, domains[i], p, org, names, error_r) < 0)
			return -1;
	}
	if (unusable != NULL) {
		*error_r = xasprintf("policy domain \"%s\" cannot be a file "
		                     "name: its report was not written",
		                     unusable);
		return -1;
	}
	return 0;
}

/* The options, before anything is read: the report metadata must be
 * UTF-8 (the document says it is), and the receiver becomes part of
 * file names. */
static int
org_check(const char *dir, const struct postern_report_org *org, char **error_r)
{
	if (!utf8_valid(org->org_name)) {
		*error_r = xstrdup("--org-name: not valid UTF-8");
		return USAGE_ERROR;
	}
	if (!utf8_valid(org->email)) {
		*error_r = xstrdup("--email: not valid UTF-8");
		return USAGE_ERROR;
	}
	if (dir != NULL && !file_name_domain(org->receiver)) {
		*error_r = xasprintf(
		    "receiver domain \"%s\" (of --email) cannot be part of a "
		    "file name: letters, digits, '-' and '.' only",
		    org->receiver);
		return USAGE_ERROR;
	}
	return 0;
}

/* The policy domains to report on, in *domains_r (allocated, as each
 * of them).  Their number, or -1 with a reason in *error_r. */
static long
report_domains(sqlite3 *db, const struct postern_report_period *p,
               char ***domains_r, char **error_r)
{
	sqlite3_stmt *st;
	char **domains = NULL;
	size_t n = 0;
	int step;

	if (sqlite3_prepare_v2(db, domains_sql, -1, &st, NULL) != SQLITE_OK) {
		*error_r = xasprintf("query: %s", sqlite3_errmsg(db));
		return -1;
	}
	postern_report_bind_period(st, p);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		domains = xreallocarray(domains, n + 1, sizeof(*domains));
		domains[n++] = xstrdup(col(st, 0));
	}
	if (step != SQLITE_DONE)
		*error_r = xasprintf("query: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	*domains_r = domains;
	return step == SQLITE_DONE ? (long)n : -1;
}

int
postern_report_dmarc_all(FILE *out, struct sqlite3 *db, const char *dir,
                         const struct postern_report_period *p,
                         const struct postern_report_org *org, FILE *names,
                         char **error_r)
{
	char **domains = NULL;
	long n, i;
	int rc;

	if ((rc = org_check(dir, org, error_r)) != 0)
		return rc;
	n = report_domains(db, p, &domains, error_r);
	if (n < 0)
		rc = -1;
	else if (dir != NULL)
		rc = write_files(db, dir, domains, (size_t)n, p, org, names,
		                 error_r);
	else
		rc = write_single(out, db, domains, (size_t)n, p, org, error_r);
	for (i = 0; i < n; i++)
		free(domains[i]);
	free(domains);
	return rc;
}
