/*
 * milter_private.h - what the milter's files share: one milter
 * connection's state and the helpers between callbacks.
 */
#ifndef POSTERN_MILTER_PRIVATE_H
#define POSTERN_MILTER_PRIVATE_H

#include "filters/report.h"
#include <stddef.h>
#include <sys/time.h>

#include <libmilter/mfapi.h>

#include "filters/filter.h"

struct config;
struct spool;

struct milter_conn {
	struct config *cfg; /* the generation current at connect */
	struct filter_session fs;
	struct filter_txn txn;
	int in_txn;
	int hold;      /* a filter said FILTER_HOLD before end of message */
	int discard;   /* a filter said FILTER_DISCARD before it */
	int leadspc;   /* SMFIP_HDR_LEADSPC was negotiated */
	int connected; /* xxfi_connect ran */
	struct spool *spool;
	int too_big;
	int spool_failed;
	struct timeval start_txn;
	unsigned int messages;
	char queue_id[64];
	/* The report of the transaction (filters/report.h). */
	int reported;
	int rcpt_code; /* the last refused RCPT, 0: none */
	enum report_reason rcpt_reason;
	const char *rcpt_filter;
	char rcpt_text[FILTER_TEXT_MAX + 16]; /* its "5.7.1 text" */
};

/* milter_main.c: the configuration current now, with a reference. */
struct config *milter_config_get(void);

/* milter_conn.c: the private data of ctx, made on first use (NULL when
 * no configuration is current); the callbacks up to RCPT. */
struct milter_conn *milter_conn_get(SMFICTX *ctx);
sfsistat milter_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                          unsigned long f2, unsigned long f3,
                          unsigned long *pf0, unsigned long *pf1,
                          unsigned long *pf2, unsigned long *pf3);
sfsistat milter_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *hostaddr);
sfsistat milter_helo(SMFICTX *ctx, char *helo);
sfsistat milter_envfrom(SMFICTX *ctx, char **argv);
sfsistat milter_envrcpt(SMFICTX *ctx, char **argv);
sfsistat milter_abort(SMFICTX *ctx);
sfsistat milter_close(SMFICTX *ctx);

/* milter_verdict.c */
/* Report the end of the transaction once (filters/report.h); filter
 * and text may be NULL. */
void milter_report(struct milter_conn *c, enum report_result result,
                   enum report_reason reason, const char *filter, int code,
                   const char *text);
/* Report the end by a filter's verdict. */
void milter_report_verdict(struct milter_conn *c,
                           const struct filter_verdict *v);
/* The end by a local error: tempfailed, or relayed under on_error
 * accept. */
void milter_report_error(struct milter_conn *c);
/* Remember a refused RCPT (filter kept: a static name). */
void milter_report_rcpt(struct milter_conn *c, int code,
                        enum report_reason reason, const char *filter,
                        const char *text);
/* A macro of the MTA, or NULL. */
const char *milter_macro(SMFICTX *ctx, const char *name);
/* Run phase on the chain inline into *v: 0, or -1 when it did not
 * finish (a filter that wanted the worker pool). */
int milter_chain(struct milter_conn *c, enum filter_phase phase,
                 struct filter_verdict *v);
/* Run phase on the chain and answer for the verdict. */
sfsistat milter_run_phase(SMFICTX *ctx, struct milter_conn *c,
                          enum filter_phase phase);
/* Reply and status for a verdict (refusals only; others CONTINUE). */
sfsistat milter_reply(SMFICTX *ctx, const struct filter_verdict *v);
/* What the MTA hears when postern itself fails (config on_error). */
sfsistat milter_on_error(SMFICTX *ctx, struct milter_conn *c, const char *what);
/* Free the transaction and its spool; the connection stays. */
void milter_txn_end(struct milter_conn *c);
/* The same for a transaction the MTA gave up (SMFIC_ABORT, a new
 * transaction or client, the connection closed): logged as aborted when
 * it had recipients. */
void milter_txn_abort(struct milter_conn *c);
/* The transaction's log line with result ("accepted", ...). */
void milter_log_txn(struct milter_conn *c, const char *result);

/* milter_msg.c */
sfsistat milter_header(SMFICTX *ctx, char *name, char *value);
sfsistat milter_eoh(SMFICTX *ctx);
sfsistat milter_body(SMFICTX *ctx, unsigned char *chunk, size_t len);
sfsistat milter_eom(SMFICTX *ctx);

/* milter_edit.c */
/* Apply the transaction's header edits.  0, or -1 on a failure. */
int milter_edit_apply(SMFICTX *ctx, struct milter_conn *c);

#endif
