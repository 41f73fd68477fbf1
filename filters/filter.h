/*
 * filter.h - the filter chain and the transaction it judges.
 *
 * A front end (the SMTP proxy, later the milter) fills a filter_session
 * for each connection and a filter_txn for each message, and hands them
 * to the chain at each phase.  Filters read them, may add headers, note
 * results for the log, and answer with a verdict.  Filters know nothing
 * of the front end that drives them.
 *
 * A filter's hook for a phase either runs on the event loop (it must not
 * block) or, when the filter marks that phase blocking, on the worker
 * pool.  While a phase runs, the session and transaction belong to the
 * chain: the front end must not touch them until the done callback.
 */
#ifndef POSTERN_FILTER_H
#define POSTERN_FILTER_H

#include <stddef.h>
#include <time.h>

#include "util/netaddr.h"

struct filter_field;
struct spool;
struct workpool;

enum filter_phase {
	FILTER_PHASE_CONNECT = 0,
	FILTER_PHASE_HELO,
	FILTER_PHASE_MAIL,
	FILTER_PHASE_RCPT,
	FILTER_PHASE_EOM,
	FILTER_PHASES
};

enum filter_action {
	FILTER_CONTINUE = 0, /* no objection; ask the next filter */
	FILTER_ACCEPT,       /* accept; skip the remaining filters for the
	                        rest of this transaction */
	FILTER_REJECT,       /* 5xx */
	FILTER_TEMPFAIL,     /* 4xx */
	FILTER_DISCARD,      /* tell the client 250, deliver nothing */
	FILTER_HOLD,         /* keep the message for the postmaster to
	                        review (the front end's quarantine); the
	                        client is told it was accepted */
};

#define FILTER_TEXT_MAX  256
#define FILTER_FACTS_MAX 16

struct filter_verdict {
	enum filter_action action;
	int code;                   /* 0: the front end's default */
	char ecode[16];             /* "" : the front end's default */
	char text[FILTER_TEXT_MAX]; /* "" : the front end's default */
	const char *filter;         /* name of the deciding filter */
};

/* Facts about one client connection. */
/* TLS on the client's connection, as the front end saw it; every
 * field "" (bits 0) without TLS. */
struct filter_tls {
	char version[16]; /* "TLSv1.3" */
	char cipher[64];  /* "TLS_AES_256_GCM_SHA384" */
	int bits;
	char peer_subject[256]; /* the client certificate's, if one */
	char peer_issuer[256];
};

struct filter_session {
	char id[16];           /* session id; leads every log line */
	const char *listener;  /* listener name, kept by the config */
	struct netaddr client; /* address and port of the client */
	char client_ip[NETADDR_STRLEN];
	char client_name[256]; /* verified name, or "unknown" */
	struct netaddr local;  /* where the client connected to */
	char helo[256];        /* "" before HELO/EHLO */
	char proto[16];        /* "SMTP", "ESMTP", "ESMTPS", ... */
	char login[256];       /* "" unless authenticated */
	struct filter_tls tls;
	int outbound;         /* mail from here is ours to sign */
	const char *hostname; /* our own name, kept by the config */
	time_t start;
	unsigned int ntxn; /* transactions started so far */
};

struct filter_header {
	struct filter_header *next;
	char *name;
	char *value; /* may contain folded lines; no final CRLF */
};

/* One authentication result for Authentication-Results (RFC 8601). */
struct filter_auth {
	struct filter_auth *next;
	char *method; /* "dkim", "spf", "dmarc", ... */
	char *result; /* "pass", "fail", "temperror", ... */
	char *reason; /* free text for reason="...", or NULL */
	char *props;  /* "header.d=example.org header.s=sel", or NULL */
};

struct filter_txn {
	struct filter_session *session;
	char id[24];     /* "<session id>.<n>" */
	char *mail_from; /* reverse-path, "" for the null sender */
	int smtputf8;    /* SMTPUTF8 was requested */
	char *rcpt;      /* at the RCPT phase: the recipient asked */
	char **rcpts;    /* recipients accepted so far */
	size_t nrcpts;
	struct spool *message; /* at EOM: canonical message, CRLF, no
	                          dot-stuffing; read-only for filters */
	size_t size;
	/* Headers filters add, in the order added.  prepend ones go on top
	 * of the message (the last added first, as MTAs stack Received),
	 * append ones at the end of the header block. */
	struct filter_header *prepend;
	struct filter_header *append;
	/* Results of postern's own checks, in the order recorded; never
	 * anything claimed by headers in the message. */
	struct filter_auth *auth;
	char notes[512]; /* "name=result ..." for the log line */
	/* Facts other filters may score (spam_rules.h: "SPF_FAIL", ...),
	 * static strings, at most FILTER_FACTS_MAX. */
	const char *facts[FILTER_FACTS_MAX];
	size_t nfacts;
	int accepted; /* a filter said FILTER_ACCEPT */
	/* The DMARC filter's evaluation for the history (one block,
	 * filter_dmarc_report() reads it); freed with the transaction. */
	void *dmarc_report;
	/* The header index of the message (filter_msg.h). */
	struct filter_field *fields;
	size_t nfields;
	size_t body_offset;
};

/*
 * A filter.  conf is the filter's own configuration, made by its
 * constructor and shared by every session (read-only after start).
 * hook[phase] is NULL when the filter does not look at that phase; txn
 * is NULL at CONNECT and HELO.  *v arrives as FILTER_CONTINUE.
 */
typedef void filter_hook_cb(void *conf, struct filter_session *session,
                            struct filter_txn *txn, struct filter_verdict *v);

struct filter_ops {
	const char *name;
	filter_hook_cb *hook[FILTER_PHASES];
	unsigned int blocking; /* bit 1 << phase: hook runs on a worker */
	void (*free)(void *conf);
};

/* Sessions and transactions. */

/* A fresh random session id in s->id (10 hex digits). */
void filter_session_new_id(struct filter_session *s);

/* Start a transaction of session s; the id is derived from s->id. */
void filter_txn_init(struct filter_txn *t, struct filter_session *s);
/* Free everything the transaction holds (not the spool, which belongs
 * to the front end) and zero it. */
void filter_txn_deinit(struct filter_txn *t);
/* Record the sender; copied. */
void filter_txn_set_sender(struct filter_txn *t, const char *address);
/* Record an accepted recipient; copied. */
void filter_txn_add_rcpt(struct filter_txn *t, const char *address);

/* Add a header; name and value are copied.  Header text must already
 * be valid (no bare CR/LF other than CRLF + whitespace folds). */
void filter_txn_prepend_header(struct filter_txn *t, const char *name,
                               const char *value);
void filter_txn_append_header(struct filter_txn *t, const char *name,
                              const char *value);

/*
 * Record an authentication result (copied).  reason and props may be
 * NULL.  Results keep the order they were recorded in.
 */
void filter_txn_auth(struct filter_txn *t, const char *method,
                     const char *result, const char *reason, const char *props);

/* The value of property name ("header.d") in an auth result's props
 * ("header.d=example.org header.s=sel") into buf; "" when absent. */
void filter_auth_prop(const char *props, const char *name, char *buf,
                      size_t size);

/* State a fact about the message for scoring filters: name is a static
 * string, kept; repeats and facts beyond FILTER_FACTS_MAX are dropped. */
void filter_txn_fact(struct filter_txn *t, const char *name);

/* Append "key=value" to the notes for the transaction's log line. */
void filter_txn_note(struct filter_txn *t, const char *key, const char *value);

/* Set a verdict with code, enhanced code and text (printf). */
void filter_verdict_set(struct filter_verdict *v, enum filter_action action,
                        int code, const char *ecode, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* "5.7.1 text": the verdict's enhanced code and text for a report;
 * "" when it has neither.  Returns buf. */
char *filter_verdict_text(const struct filter_verdict *v, char *buf,
                          size_t size);

/* Lower-case name of an action: "continue", "reject", ... */
const char *filter_action_name(enum filter_action a);

/* The chain. */

struct filter_chain;

struct filter_chain *filter_chain_new(void);
/* Frees every filter's conf through its ops->free. */
void filter_chain_free(struct filter_chain **chain);
/* Append a filter; conf is handed over to the chain. */
void filter_chain_add(struct filter_chain *chain, const struct filter_ops *ops,
                      void *conf);
size_t filter_chain_count(const struct filter_chain *chain);
/* Name of filter i, for -t output and logs. */
const char *filter_chain_name(const struct filter_chain *chain, size_t i);

typedef void filter_chain_done_cb(void *arg, const struct filter_verdict *v);

/*
 * Run every filter's hook for phase in order until one answers other
 * than FILTER_CONTINUE.  done(arg, verdict) is called once, on the loop
 * thread, with the deciding verdict or FILTER_CONTINUE; it may be called
 * before filter_chain_run() returns when no hook blocks.  pool runs the
 * blocking hooks; with pool NULL they run inline (tests, tools).
 * Skipped entirely (done with CONTINUE) when txn->accepted is set.
 */
void filter_chain_run(struct filter_chain *chain, struct workpool *pool,
                      enum filter_phase phase, struct filter_session *s,
                      struct filter_txn *t, filter_chain_done_cb *done,
                      void *arg);

#endif
