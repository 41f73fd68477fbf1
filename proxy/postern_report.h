/*
 * postern_report.h - the `postern report` command: the sending report,
 * the delivery-error report (postern_report.c) and DMARC aggregate
 * reports (postern_report_dmarc.c), read from the history database
 * (filters/report_history.h).
 */
#ifndef POSTERN_POSTERN_REPORT_H
#define POSTERN_POSTERN_REPORT_H

#include <stdio.h>
#include <time.h>

struct sqlite3;

enum postern_report_format {
	POSTERN_REPORT_TEXT = 0,
	POSTERN_REPORT_JSON,
	POSTERN_REPORT_CSV,
};

/* What a report covers: rows with since <= time <= until, of one
 * domain (sender domain, or DMARC policy domain; ASCII case ignored)
 * or of all when domain is NULL. */
struct postern_report_period {
	time_t since, until;
	const char *domain;
};

/* Who writes the DMARC reports (report_metadata). */
struct postern_report_org {
	const char *org_name;
	const char *email;
	const char *receiver; /* our domain, for file names */
};

/* Write the sending report and the delivery-error report of db for p to
 * out in format f.  0, or -1 with a reason (allocated) in *error_r. */
int postern_report_write(FILE *out, struct sqlite3 *db,
                         const struct postern_report_period *p,
                         enum postern_report_format f, char **error_r);

/* Write one DMARC aggregate report (RFC 7489 appendix C) of policy
 * domain domain (where the record applied was found) for p to out.  0,
 * 1 when there is nothing to report (nothing written), or -1 with a
 * reason (allocated) in *error_r. */
int postern_report_dmarc_write(FILE *out, struct sqlite3 *db,
                               const char *domain,
                               const struct postern_report_period *p,
                               const struct postern_report_org *org,
                               char **error_r);

/* The DMARC reports of p: one per policy domain whose latest record
 * asked for aggregate reports (rua=), in dir as
 * receiver!policy-domain!begin!end.xml (RFC 7489 7.2.1.1), or to out
 * when dir is NULL (one report at most).  The names written go to names
 * (one a line) when not NULL.  0, -1 with a reason (allocated) in
 * *error_r, or -2 with one for a usage error (org not UTF-8, a receiver
 * that cannot be part of a file name, more than one report without
 * dir): the command's exit status 2. */
int postern_report_dmarc_all(FILE *out, struct sqlite3 *db, const char *dir,
                             const struct postern_report_period *p,
                             const struct postern_report_org *org, FILE *names,
                             char **error_r);

/* Seconds in a duration "N", "Ns", "Nm", "Nh", "Nd" or "Nw"; -1 when
 * text is none of these. */
long postern_report_duration(const char *text);

/* argv[0] is "report"; default_config is used without -c.  Returns the
 * exit status: 0, 1 on a database error, 2 on a usage or configuration
 * error. */
int postern_report_main(int argc, char **argv, const char *default_config);

/* The strings the reports share (postern_report.c). */
void postern_report_time(char *buf, size_t size, time_t t);

/* Bind p to a statement's parameters 1 (since), 2 (until) and 3 (the
 * domain, or NULL for all). */
struct sqlite3_stmt;
void postern_report_bind_period(struct sqlite3_stmt *st,
                                const struct postern_report_period *p);

#endif
