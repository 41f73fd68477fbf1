/*
 * upstream.h - one session's connection to the upstream MTA.
 *
 * The upstream speaks SMTP in lockstep with the client: one command, one
 * reply.  This module owns the socket (bound to a source address when
 * asked), runs STARTTLS as configured, reads replies verbatim, learns
 * the upstream's extensions, passes the client's identity (XCLIENT or
 * XFORWARD) and streams a spooled message with dot-stuffing.  It never
 * replies to the client: it hands each complete reply, or a failure, to
 * the session.
 */
#ifndef POSTERN_UPSTREAM_H
#define POSTERN_UPSTREAM_H

#include <stddef.h>

#include "proxy/smtp_reply.h"
#include "util/netaddr.h"

struct event_base;
struct config_upstream;
struct filter_session;
struct filter_txn;
struct upstream;

/*
 * A complete reply to the pending request.  reply is valid only during
 * the call.  When the upstream failed instead (refused, closed, timed
 * out, spoke nonsense), reply is NULL and reason says why; the upstream
 * is then dead and only upstream_free() remains.
 */
typedef void upstream_reply_cb(void *arg, const struct smtp_reply *reply,
                               const char *reason);

/* The upstream closed or failed while no request was pending. */
typedef void upstream_lost_cb(void *arg, const char *reason);

/*
 * Connect, read the greeting and introduce ourselves with EHLO
 * helo_name.  cb gets the greeting when it is not 2xx, else the EHLO
 * reply.  cfg and session are kept, not copied, and must outlive the
 * upstream.
 */
struct upstream *upstream_connect(struct event_base *base,
                                  const struct config_upstream *cfg,
                                  const struct filter_session *session,
                                  upstream_reply_cb *cb,
                                  upstream_lost_cb *lost_cb, void *arg);

/*
 * The same from the local address source (its port is ignored; NULL or
 * ss_family 0: the kernel's choice), which is copied.  With cfg->tls
 * not none, STARTTLS follows the first EHLO when offered, then EHLO
 * again; with required, a missing STARTTLS, a failed handshake or a
 * certificate that does not verify fails the connection (see
 * upstream_failed_tls()).
 */
struct upstream *upstream_connect_from(struct event_base *base,
                                       const struct config_upstream *cfg,
                                       const struct netaddr *source,
                                       const struct filter_session *session,
                                       upstream_reply_cb *cb,
                                       upstream_lost_cb *lost_cb, void *arg);

/* Close the connection (sending QUIT when it is idle) and free. */
void upstream_free(struct upstream **u);

/*
 * The same from one of u's own callbacks, where it cannot be freed yet:
 * QUIT now when idle, no callback any more, freed from the loop.  Sets
 * *u to NULL.
 */
void upstream_free_later(struct upstream **u);

/* The extensions the upstream offered in its last EHLO reply. */
const struct smtp_caps *upstream_caps(const struct upstream *u);

/* 1 while the connection is usable. */
int upstream_alive(const struct upstream *u);

/* 1 when the connection runs over TLS (STARTTLS succeeded). */
int upstream_tls(const struct upstream *u);

/* 1 when the connection runs over TLS and the upstream's certificate
 * verified against the trust anchors and verify_name. */
int upstream_tls_trusted(const struct upstream *u);

/* 1 when the connection failed because TLS was required and could not
 * be had (not offered, refused, handshake, certificate). */
int upstream_failed_tls(const struct upstream *u);

/* The source address asked for at connect (ss_family 0: none). */
const struct netaddr *upstream_source(const struct upstream *u);

/* The connection's local IP address into buf ("-" when unknown);
 * returns buf. */
char *upstream_local_ip(const struct upstream *u, char *buf, size_t size);

/*
 * Present the client: XCLIENT (when offered and allowed), then EHLO with
 * the client's HELO name.  cb gets the EHLO reply, or the first reply
 * that was not the expected one.
 */
void upstream_hello(struct upstream *u, upstream_reply_cb *cb);

/*
 * Send one command line (without CRLF; at most 1000 octets) and wait for
 * its reply.  For MAIL, pass is_mail so XFORWARD goes first when that is
 * how the client is presented.
 */
void upstream_command(struct upstream *u, const char *line, int is_mail,
                      upstream_reply_cb *cb);

/*
 * As upstream_command(), for a line that holds credentials (AUTH and
 * the responses to its 334): the line is never logged.
 */
void upstream_secret(struct upstream *u, const char *line,
                     upstream_reply_cb *cb);

/*
 * DATA, then on 354 the transaction's prepended headers, the spooled
 * message with the appended headers at the end of its header block, and
 * the final dot.  cb gets the final reply, or DATA's reply when that was
 * not 354.  txn and its spool must stay untouched until cb.
 */
void upstream_data(struct upstream *u, const struct filter_txn *txn,
                   upstream_reply_cb *cb);

#endif
