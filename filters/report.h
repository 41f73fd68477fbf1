/*
 * report.h - what became of each session and transaction, for the
 * statistics (counters, the metrics listener and status page) and the
 * history (an SQLite database that `postern report` reads).
 *
 * The front ends (proxy, milter) describe each ended transaction in a
 * struct report_txn and hand it to report_txn(); sessions are counted
 * with report_session().  Both may be called from any thread (the
 * milter runs on libmilter's threads) and never block on a disk or a
 * client: the counters are updated under a short lock, the history
 * record is queued for a writer thread of its own.
 */
#ifndef POSTERN_REPORT_H
#define POSTERN_REPORT_H

#include <stddef.h>
#include <time.h>

/* How the transaction ended, from the client's point of view. */
enum report_result {
	REPORT_RELAYED = 0, /* the upstream (or the MTA) took it */
	REPORT_REJECTED,    /* 5xx to the client, by postern or upstream */
	REPORT_TEMPFAILED,  /* 4xx to the client */
	REPORT_HELD,        /* kept in the quarantine */
	REPORT_DISCARDED,   /* accepted and dropped */
	REPORT_ABORTED,     /* RSET, QUIT or a lost client before the end */
	REPORT_RESULT_COUNT
};

/* Why, for REJECTED and TEMPFAILED (and HELD: the filter's reason). */
enum report_reason {
	REPORT_REASON_NONE = 0,
	REPORT_REASON_SPF,
	REPORT_REASON_DMARC,
	REPORT_REASON_SPAM,
	REPORT_REASON_POLICY,   /* other filters, AUTH, admission */
	REPORT_REASON_LIMITS,   /* size, recipients, lines, timeouts */
	REPORT_REASON_UPSTREAM, /* the upstream's own refusal or failure */
	REPORT_REASON_LOCAL,    /* postern could not do its part */
	REPORT_REASON_COUNT
};

/* A DMARC evaluation, for aggregate reports (RFC 7489 appendix C). */
struct report_dmarc {
	const char *domain;      /* RFC5322.From domain evaluated */
	const char *policy;      /* p= applied: "none", "quarantine", ... */
	const char *disposition; /* what postern did: none/quarantine/reject */
	const char *dkim;        /* "pass" or "fail" (aligned DKIM) */
	const char *spf;         /* "pass" or "fail" (aligned SPF) */
	const char *rua;         /* the record's rua=, or NULL */
	/* For the report's policy_published, identifiers, auth_results;
	 * "" when unknown. */
	const char *policy_domain; /* where the record was found */
	const char *published_p;   /* the record's p= and sp= */
	const char *published_sp;
	const char *adkim, *aspf; /* "r" or "s" */
	unsigned int pct;
	const char *fo;       /* the record's fo=, "0" by default */
	const char *override; /* NULL, "sampled_out", "local_policy" */
	const char *envelope_from;
	const char *spf_domain, *spf_scope, *spf_result;
	/* The first aligned DKIM pass, else the first signature. */
	const char *dkim_domain, *dkim_selector, *dkim_result;
};

struct report_txn {
	time_t when; /* end of the transaction */
	const char *session_id;
	const char *txn_id;
	const char *front;    /* "proxy" or "milter" */
	const char *listener; /* listener name, "milter" for the milter */
	int outbound;
	const char *client_ip;
	const char *sender;        /* MAIL FROM address, "" for <> */
	const char *sender_domain; /* its domain, "" for <> */
	const char *queue_id;      /* the MTA's queue id, or NULL */
	size_t nrcpts;
	size_t size;
	enum report_result result;
	enum report_reason reason;
	const char *filter;      /* the filter that decided, or NULL */
	int code;                /* the final reply to the client, 0: none */
	const char *ecode;       /* its enhanced code, or NULL */
	const char *text;        /* its text, or NULL */
	int upstream_code;       /* the upstream's final reply, 0: none */
	unsigned int signatures; /* DKIM signatures postern added */
	unsigned int dkim_pass;  /* signatures that verified */
	unsigned int dkim_fail;  /* signatures that did not */
	int spam_scored;         /* spam_score is set */
	double spam_score;
	double elapsed;                   /* seconds from MAIL to the end */
	const struct report_dmarc *dmarc; /* NULL: not evaluated */
};

const char *report_result_name(enum report_result r);
const char *report_reason_name(enum report_reason r);

/* A session opened (listener name) or closed.  Thread-safe. */
void report_session(const char *listener, int outbound);

/* Where sessions go, as for transactions below; registered at startup. */
typedef void report_session_fn(void *arg, const char *listener, int outbound);
void report_add_session_sink(report_session_fn *fn, void *arg);

/*
 * Where transactions go: the counters (report_stats.c) and the history
 * (report_history.c) each register a sink at startup, before any
 * session; report_txn() calls every sink in turn, on the caller's
 * thread.  A sink copies what it keeps and returns at once.
 */
typedef void report_sink_fn(void *arg, const struct report_txn *r);
void report_add_sink(report_sink_fn *fn, void *arg);

/* One ended transaction.  Thread-safe. */
void report_txn(const struct report_txn *r);

struct filter_txn;

/*
 * Fill from t what the filters recorded: sender and its domain, the
 * recipient count, size, DKIM signatures added (DKIM-Signature headers
 * prepended), DKIM verification results (auth results "dkim" pass or
 * fail) and the spam score (the spam filter's "spam=" note).  The
 * strings point into t: report before t is deinitialised.
 */
void report_txn_fill(struct report_txn *r, const struct filter_txn *t);

/* The enhanced status code at the start of a reply text ("5.7.1 ..."
 * or "550 5.7.1 ..."), copied to ecode ("" when there is none); returns
 * the text after it.  NULL gives NULL. */
const char *report_split_ecode(const char *text, char *ecode, size_t size);

/* The reason for a verdict of the named filter: spf, dmarc, spam, else
 * policy. */
enum report_reason report_reason_of_filter(const char *filter);

#endif
