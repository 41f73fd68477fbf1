/*
 * session.h - one client's SMTP session, the proxy's state machine.
 *
 * A session reads client commands, relays the envelope to its own
 * upstream connection in lockstep, spools DATA, and hands the
 * transaction to the filter chain at each phase.  Commands are handled
 * one at a time: while one waits for the upstream or a filter, later
 * pipelined commands stay in the input buffer, so replies always come
 * in order.  The files split by phase: session.c (life cycle, I/O,
 * replies), session_cmd.c (one handler per verb), session_data.c (DATA
 * and end of message), session_tls.c (STARTTLS and implicit TLS).
 */
#ifndef POSTERN_SESSION_H
#define POSTERN_SESSION_H

#include <sys/queue.h>
#include <sys/time.h>

#include "filters/filter.h"
#include "filters/report.h"
#include "proxy/smtp_data.h"
#include "proxy/smtp_parse.h"
#include "util/netaddr.h"

struct bufferevent;
struct event;
struct config;
struct config_listener;
struct server;
struct smtp_reply;
struct spool;
struct upstream;

enum session_state {
	SESSION_CONNECT, /* connect filters, then the upstream greeting */
	SESSION_COMMAND, /* reading commands */
	SESSION_DATA,    /* reading the message */
	SESSION_EOM,     /* end-of-message filters and upstream delivery */
	SESSION_CLOSING, /* flushing the last reply */
	SESSION_PROXY,   /* reading the PROXY protocol header first */
};

enum session_tls {
	SESSION_TLS_OFF = 0,   /* plain text */
	SESSION_TLS_FLUSH,     /* 220 to STARTTLS on its way out */
	SESSION_TLS_HANDSHAKE, /* the TLS bufferevent is handshaking */
	SESSION_TLS_ON,
};

/* MAIL and RCPT lines postern sends upstream: Postfix's default
 * line_length_limit. */
#define SESSION_UPLINE_MAX 2048
/* A reply's text kept for the reports (filters/report.h). */
#define SESSION_REPORT_TEXT_MAX 512

struct session {
	TAILQ_ENTRY(session) entry;
	struct server *srv;
	struct config *cfg; /* the generation this session started with */
	const struct config_listener *listener;
	struct bufferevent *bev;
	struct upstream *upstream;
	/* A connection from another source address being set up for the
	 * MAIL in progress (session_source.c); replaces upstream. */
	struct upstream *upstream_next;
	void (*mail_cb)(void *, const struct smtp_reply *, const char *);
	/* What follows once upstream_next is ready or failed. */
	void (*next_done)(struct session *, const char *why);
	int requiretls; /* MAIL asked for REQUIRETLS (RFC 8689) */
	/* MAIL and the RCPTs the upstream accepted, as sent, to replay on a
	 * new connection when the upstream is lost while the client sends
	 * the message (session_source.c). */
	char *replay_mail;
	char **replay_rcpts;
	size_t nreplay_rcpts, replay_next;
	void (*replay_done)(struct session *, const char *why);
	/* The client for admission and XCLIENT authorization: the socket's
	 * peer, or the client a PROXY header named. */
	struct netaddr peer;
	int admitted; /* peer is counted in srv->clients */
	/* The PROXY header, read from the socket (session_proxy.c). */
	struct event *ev_proxy;
	unsigned char *proxy_buf; /* the header so far */
	size_t proxy_len;

	enum session_state state;
	int busy;         /* a command waits for the upstream or a filter */
	int in_input;     /* session_input() is on the stack */
	int chain_active; /* a filter phase runs; do not free */
	int closing;      /* free once the output is flushed */
	int discard_line; /* skipping the rest of an overlong line */
	int esmtp;        /* client said EHLO */
	int in_txn;       /* MAIL was accepted */
	unsigned int errors;
	unsigned int messages;
	unsigned int ehlo_flags; /* SMTP_CAP_* we offered the client */
	unsigned long long size_offered;
	struct timeval start_txn;
	const char *close_reason;

	struct filter_session fs;
	struct filter_txn txn;
	unsigned int rcpts_tried; /* RCPT commands in this transaction */

	/* DATA */
	struct smtp_data_decoder decoder;
	struct spool *spool;
	int data_too_big;
	int data_spool_failed;
	char upstream_lost[300]; /* why the upstream died during DATA */

	/* The filter phase in progress and what to do with its verdict. */
	void (*verdict_next)(struct session *, const struct filter_verdict *);
	/* A job on the worker pool (session_job()). */
	void (*job_work)(struct session *);
	void (*job_done)(struct session *);
	char *hold_file;        /* where the held message went, or NULL */
	const char *hold_error; /* why it could not be held */
	struct filter_verdict verdict; /* kept while the upstream resets */

	int last_crlf;         /* the last command ended in CRLF */
	int helo_done;         /* HELO/EHLO succeeded */
	int discard;           /* a filter said discard */
	struct event *ev_free; /* deferred free */
	char *cmdbuf;          /* the current command line */
	size_t cmdsize;        /* its allocation: command_line + 513 */
	char upline[SESSION_UPLINE_MAX]; /* MAIL/RCPT as sent upstream */
	struct event *ev_idle; /* idle_timeout while awaiting a command */
	int idle_armed;
	int client_eof;  /* the client shut down its sending side */
	int client_gone; /* the connection is dead: nothing to write */

	/* TLS towards the client (session_tls.c); fs.tls holds its facts
	 * once the handshake is done. */
	enum session_tls tls_phase;
	struct event *ev_tls; /* handshake timeout */

	/* AUTH, relayed to the upstream (session_auth.c) */
	int auth_cont;           /* the next line answers the upstream's 334 */
	int auth_plain;          /* PLAIN, else LOGIN */
	unsigned int auth_lines; /* client responses in this exchange */
	char auth_user[256];     /* the name given, until 235 */
	char *auth_reply;        /* a failure reply held back, or NULL */
	size_t auth_reply_len;
	struct event *ev_auth; /* releases auth_reply */

	/* The report of the transaction (session_report.c). */
	int txn_reported;
	int rcpt_code; /* the last refusal of a RCPT, 0: none */
	int rcpt_upstream_code;
	enum report_reason rcpt_reason;
	const char *rcpt_filter;
	char rcpt_text[SESSION_REPORT_TEXT_MAX]; /* its reply, for reports */
	char report_queue_id[32];
};

typedef void session_verdict_cb(struct session *s,
                                const struct filter_verdict *v);

/* session.c */

/*
 * The client is known, from the socket or a PROXY header: count it per
 * address, log it, and run the connect filters (or, on an implicit-TLS
 * listener, the handshake first).
 */
void session_start(struct session *s);

/* Accept a connection: takes over fd.  Never fails the process. */
void session_new(struct server *srv, const struct config_listener *listener,
                 int fd, const struct sockaddr *sa, int salen);

/* Set the callbacks, watermarks and timeouts of s->bev, a new one
 * (session_new(), or the TLS one session_tls.c put in), and enable it. */
void session_bev_attach(struct session *s);

/* Send a reply of our own. */
void session_reply(struct session *s, int code, const char *ecode,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Relay the upstream's reply verbatim. */
void session_relay(struct session *s, const struct smtp_reply *reply);

/* Count a client error; closes the session with 421 past the limit.
 * Returns 1 when the session is closing. */
int session_error(struct session *s);

/* Reply 421 with ecode and text, then close after flushing. */
void session_close_421(struct session *s, const char *ecode, const char *reason,
                       const char *text);

/* Close after flushing the output; reason goes to the log. */
void session_close(struct session *s, const char *reason);

/* The current command is finished: read the next one. */
void session_resume(struct session *s);

/* Start listening for commands again after a transaction or reset. */
void session_txn_reset(struct session *s);

/* Decide whether the client's mail is outbound (ours to sign). */
void session_classify(struct session *s);

/* Run the connect filters (again, after XCLIENT), then greet. */
void session_reconnect_filters(struct session *s);

/* The loop has stopped (drain timeout): tell the client if it can
 * still hear it, and free the session now. */
void session_shutdown(struct session *s);

/* The server is draining: close now if idle. */
void session_drain(struct session *s);

/* Process buffered input until a command goes asynchronous. */
void session_input(struct session *s);

/* Run the chain for phase (txn for MAIL and later); next gets the
 * verdict on the loop, possibly before this returns. */
void session_filters(struct session *s, enum filter_phase phase,
                     session_verdict_cb *next);

/* Run work(s) on the worker pool, then done(s) on the loop unless the
 * session closed meanwhile.  The loop leaves s alone in between. */
void session_job(struct session *s, void (*work)(struct session *),
                 void (*done)(struct session *));

/* Reply for a filter's reject, tempfail or discard verdict, filling in
 * postern's defaults for what the filter left empty. */
void session_reply_verdict(struct session *s, const struct filter_verdict *v);

/* Log the end of a transaction: result, the upstream's reply. */
void session_log_txn(struct session *s, const char *result, const char *reply);

/* The upstream closed or failed while no request was pending
 * (upstream_lost_cb for the session's upstream connection). */
void session_upstream_lost(void *arg, const char *reason);

/* The upstream is gone for good (why): 421 to the client, and the
 * transaction in progress counts as an upstream tempfail. */
void session_upstream_gone(struct session *s, const char *why);

/* session_source.c */

/* Where this session's upstream connections come from by default: the
 * listener's source_address, else the upstream's (ss_family 0:
 * none). */
const struct netaddr *session_source_default(const struct session *s);

/*
 * Relay the MAIL in s->upline.  When the sender's domain maps to
 * another source address than the upstream connection's (the source
 * table), connect from that address first and present the client as at
 * session start; a connection that cannot be made is a 451 and the old
 * one stays.  A REQUIRETLS transaction the upstream cannot carry is
 * refused with 550 5.7.30.  cb gets the upstream's reply to MAIL as
 * from upstream_command(); the refusals are replied here.
 */
void session_mail_send(struct session *s,
                       void (*cb)(void *, const struct smtp_reply *,
                                  const char *));

/* Keep s->upline, the MAIL (is_mail) or a RCPT the upstream accepted,
 * for session_replay(). */
void session_replay_keep(struct session *s, int is_mail);

/* Forget the kept envelope (the transaction ended). */
void session_replay_forget(struct session *s);

/*
 * The upstream was lost while the client sent its message: connect
 * again from the same source, greet, present the client, and replay
 * MAIL and every accepted RCPT.  done gets NULL when all were accepted
 * again (s->upstream is the new connection), else why not.
 */
void session_replay(struct session *s,
                    void (*done)(struct session *, const char *why));

/* 1 when REQUIRETLS may be offered to the client: its connection and
 * the upstream's are TLS, the upstream's verified, and the upstream
 * offers REQUIRETLS (RFC 8689). */
int session_requiretls_offered(const struct session *s);

/* session_cmd.c */

/* Dispatch one command line (len octets, NUL-terminated). */
void session_command(struct session *s, char *line, size_t len);

/* Greet the client once the connect phase allowed it. */
void session_greet(struct session *s);

/* session_proxy.c */

/* Read the PROXY header from fd, octet-exact so that what follows it
 * stays in the socket, then session_start(); or close the session. */
void session_proxy_begin(struct session *s, int fd);

/* Free what reading the header holds. */
void session_proxy_free(struct session *s);

/* session_auth.c */

/* 1 if EHLO offers AUTH: the upstream has PLAIN or LOGIN and the
 * connection is under TLS or the listener allows AUTH without it. */
int session_auth_offered(const struct session *s);

/* Write " PLAIN LOGIN" (what both sides have) into buf. */
void session_auth_mechs(const struct session *s, char *buf, size_t size);

/* The AUTH command. */
void session_auth_command(struct session *s, char *args);

/* A line answering the upstream's 334 (len octets, NUL-terminated). */
void session_auth_line(struct session *s, char *line, size_t len);

/* Free what AUTH holds. */
void session_auth_free(struct session *s);

/* session_tls.c */

/* STARTTLS (RFC 3207): the handler in session_cmd.c's table. */
void session_cmd_starttls(struct session *s, char *args);

/* 1 when EHLO offers STARTTLS: the listener has it and the
 * connection is still plain. */
int session_tls_offered(const struct session *s);

/* An implicit TLS listener's connection: the handshake, then the
 * connect filters and the greeting. */
void session_tls_implicit(struct session *s);

/* The write callback while the 220 to STARTTLS goes out; starts the
 * handshake once it is.  Returns 1 if it took the callback, else 0. */
int session_tls_write(struct session *s);

/* A bufferevent event between STARTTLS and the end of the handshake:
 * ends the session on an error, finishes STARTTLS on success.
 * Returns 1 if it took the event, else 0. */
int session_tls_event(struct session *s, short what);

/* " tls=VERSION cipher=NAME" (and " client_cert=yes") for the message
 * log line, as the milter writes it, or "" without TLS; returns buf. */
char *session_tls_log_fields(const struct session *s, char *buf, size_t size);

/* 1 when the socket carries TLS records, not plain text. */
int session_tls_wrapped(const struct session *s);

/* fs.proto from what the client said and got: SMTP after HELO, else
 * ESMTP, with S for TLS and A for AUTH (RFC 3848). */
void session_proto_update(struct session *s);

/* Release the TLS state; close_notify if TLS is up.  Before the
 * bufferevent is freed. */
void session_tls_free(struct session *s);

/* The reply when the upstream connection is lost mid-session (421
 * 4.4.2). */
#define SESSION_UPSTREAM_LOST "upstream connection lost, try again later"

/* session_report.c */

/*
 * Report the end of the transaction (filters/report.h) once; later
 * calls for the same transaction do nothing.  filter and text may be
 * NULL; text is the reply's text, its enhanced status code first when
 * it has one ("5.7.1 ..."; a leading reply code is skipped).
 */
void session_report(struct session *s, enum report_result result,
                    enum report_reason reason, const char *filter, int code,
                    const char *text, int upstream_code);

/* Report the end by a filter's verdict (reject, tempfail, hold,
 * discard). */
void session_report_verdict(struct session *s, const struct filter_verdict *v);

/* Report the end by the upstream's final reply. */
void session_report_upstream(struct session *s, const struct smtp_reply *reply);

/* Remember a refused RCPT: code, why, the filter (kept: a static
 * name), the reply's text (copied; "5.7.1 ..." as for session_report)
 * and the upstream's code (0: postern refused). */
void session_report_rcpt(struct session *s, int code, enum report_reason reason,
                         const char *filter, const char *text,
                         int upstream_code);

/* The same for a filter's refusal of a RCPT (reject or tempfail). */
void session_report_rcpt_verdict(struct session *s,
                                 const struct filter_verdict *v);

/* The same for the upstream's refusal of a RCPT. */
void session_report_rcpt_reply(struct session *s,
                               const struct smtp_reply *reply);

/* The transaction ends unfinished (RSET, QUIT, the client lost): an
 * abort, or the RCPT refusal when no recipient was accepted. */
void session_report_abort(struct session *s);

/* A new transaction: forget the last one's report state. */
void session_report_begin(struct session *s);

/* session_hold.c */

/* Keep the message in the quarantine directory, then reset the
 * upstream transaction and tell the client (s->verdict). */
void session_hold(struct session *s);

/* session_data.c */

/* Start reading the message after 354. */
void session_data_begin(struct session *s, int prev_crlf);

/* Feed buffered input to the DATA decoder. */
void session_data_input(struct session *s);

#endif
