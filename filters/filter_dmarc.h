/*
 * filter_dmarc.h - DMARC (RFC 7489) at end of message.
 *
 * Takes the From domain of inbound mail, finds the DMARC record at
 * _dmarc.<domain> or _dmarc.<organizational domain> (public suffix list
 * through libpsl), and checks SPF and DKIM alignment using only
 * postern's own results (the SPF and dkim_verify filters must run
 * first).  The disposition follows p=, sp= and pct= and the local
 * settings; every evaluation is recorded for aggregate reports.
 */
#ifndef POSTERN_FILTER_DMARC_H
#define POSTERN_FILTER_DMARC_H

struct dns;
struct filter_chain;

enum filter_dmarc_action {
	FILTER_DMARC_ACCEPT = 0, /* record and report only */
	FILTER_DMARC_TAG,        /* add X-Postern-DMARC: quarantine */
	FILTER_DMARC_REJECT,     /* 550 5.7.1 */
	FILTER_DMARC_HOLD,       /* tag and keep in quarantine_dir */
};

struct filter_dmarc_opts {
	struct dns *dns;                        /* kept */
	enum filter_dmarc_action on_reject;     /* p=reject; default REJECT */
	enum filter_dmarc_action on_quarantine; /* default TAG */
	const char *psl_file;    /* NULL: libpsl's built-in list; copied */
	const char *record_file; /* JSON lines of evaluations; NULL: none */
};

/* Add the filter.  0, or -1 with a static reason: the suffix list
 * cannot be loaded, or the record file cannot be opened (errno says
 * why; it is opened now, with the privileges of the caller). */
int filter_dmarc_add(struct filter_chain *chain,
                     const struct filter_dmarc_opts *opts,
                     const char **error_r);

struct filter_txn;
struct report_dmarc;

/* The DMARC evaluation of t that decided its disposition (the
 * strictest), for the history; NULL when the filter did not evaluate
 * t.  The strings point into t: use before t is deinitialised. */
const struct report_dmarc *filter_dmarc_report(const struct filter_txn *t);

#endif
