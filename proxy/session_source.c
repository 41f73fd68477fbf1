/*
 * session_source.c - new upstream connections mid-session (MAIL from
 * the right source address, the envelope replayed after a loss during
 * DATA), and REQUIRETLS.
 *
 * postern connects to the upstream when the client connects, from the
 * listener's or the upstream's source address.  A sender domain may
 * have an address of its own (the source table): when MAIL's domain
 * maps to another address than the connection's, a new connection is
 * made from that address, greeted and told the client's identity as at
 * session start, and only then does MAIL go out on it, so the client
 * still hears nothing before the upstream has answered.  If the new
 * connection cannot be made, MAIL gets 451 and the old connection
 * stays.
 *
 * The upstream sits idle while the client sends its message (postern
 * opens DATA upstream only after the end-of-message filters), and an
 * upstream may drop an idle client before a slow one has finished
 * (Postfix's smtpd_timeout: 300 s, 10 s under stress).  The envelope
 * the upstream accepted is kept, and at the final dot a new connection
 * is made from the same source and the envelope replayed; only if any
 * part of it is not accepted again does the client get 421.
 *
 * REQUIRETLS (RFC 8689) asks every hop to relay over verified TLS to a
 * server that offers REQUIRETLS.  postern is a hop: it passes the
 * parameter on only when its own client connection and the upstream
 * connection are TLS, the upstream's certificate verified, and the
 * upstream offers REQUIRETLS; otherwise MAIL is refused with 550 5.7.30
 * and the message never leaves the client's hands unprotected.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/config.h"
#include "proxy/server.h"
#include "proxy/session.h"
#include "proxy/upstream.h"
#include "proxy/upstream_source.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/xalloc.h"

const struct netaddr *
session_source_default(const struct session *s)
{
	if (s->listener->source.ss.ss_family != 0)
		return &s->listener->source;
	return &s->cfg->upstream.source;
}

/* The source the current MAIL's sender wants. */
static const struct netaddr *
source_wanted(const struct session *s)
{
	const struct upstream_source *t = s->cfg->upstream.source_table;
	const char *from = s->txn.mail_from, *at;
	const struct netaddr *a;

	if (t == NULL || from == NULL)
		return session_source_default(s);
	at = strrchr(from, '@');
	a = upstream_source_lookup(t, at != NULL ? at + 1 : "");
	return a != NULL ? a : session_source_default(s);
}

static int
source_same(const struct netaddr *a, const struct netaddr *b)
{
	if (a->ss.ss_family == 0 || b->ss.ss_family == 0)
		return a->ss.ss_family == b->ss.ss_family;
	return netaddr_ip_equal(a, b);
}

int
session_requiretls_offered(const struct session *s)
{
	const struct upstream *u = s->upstream;

	return s->fs.tls.version[0] != '\0' && u != NULL &&
	       upstream_tls_trusted(u) &&
	       (upstream_caps(u)->flags & SMTP_CAP_REQUIRETLS);
}

/* Why a REQUIRETLS transaction cannot go on; NULL when it can. */
static const char *
requiretls_refusal(const struct session *s)
{
	if (s->fs.tls.version[0] == '\0')
		return "client-not-tls";
	if (!upstream_tls(s->upstream))
		return "upstream-not-tls";
	if (!upstream_tls_trusted(s->upstream))
		return "upstream-not-verified";
	if (!(upstream_caps(s->upstream)->flags & SMTP_CAP_REQUIRETLS))
		return "upstream-no-requiretls";
	return NULL;
}

/* MAIL is refused here: the transaction is over before it began. */
static void
mail_refused_log(struct session *s, const char *reason)
{
	char from[SMTP_PATH_MAX * 2];

	log_info("%s reject phase=mail from=<%s> reason=%s", s->fs.id,
	         log_escape_str(from, sizeof(from), s->txn.mail_from), reason);
	filter_txn_deinit(&s->txn);
}

static void
mail_refused(struct session *s, const char *reason)
{
	mail_refused_log(s, reason);
	session_resume(s);
}

static void
mail_send_now(struct session *s)
{
	const char *why;

	if (s->requiretls && (why = requiretls_refusal(s)) != NULL) {
		/* RFC 8689 4.2.1: never relay it without. */
		session_reply(s, 550, "5.7.30",
		              "REQUIRETLS support required: no TLS with "
		              "REQUIRETLS towards the next hop");
		session_report(s, REPORT_REJECTED, REPORT_REASON_POLICY, NULL,
		               550, "5.7.30 REQUIRETLS support required", 0);
		mail_refused(s, why);
		return;
	}
	upstream_command(s->upstream, s->upline, 1, s->mail_cb);
}

static void
source_failed(struct session *s, const char *why)
{
	const struct netaddr *a = upstream_source(s->upstream_next);
	char src[NETADDR_STRLEN], esc[300];
	int tls = upstream_failed_tls(s->upstream_next);

	log_warning("%s upstream unavailable source=%s reason=\"%s\"", s->fs.id,
	            a->ss.ss_family ? netaddr_ip_str(a, src, sizeof(src))
	                            : "default",
	            log_escape_str(esc, sizeof(esc), why));
	upstream_free_later(&s->upstream_next); /* its callback calls us */
	if (tls)
		session_reply(s, 451, "4.7.5",
		              "TLS to the upstream failed, try again later");
	else
		session_reply(s, 451, "4.4.1",
		              "upstream not available, try again later");
	session_report(s, REPORT_TEMPFAILED, REPORT_REASON_UPSTREAM, NULL, 451,
	               tls ? "4.7.5 TLS to the upstream failed"
	                   : "4.4.1 upstream not available",
	               0);
	mail_refused_log(s, tls ? "upstream-tls" : "upstream-unavailable");
	/* The old connection was lost meanwhile (session_upstream_lost()
	 * left it to this one): nothing is left to go on with. */
	if (!upstream_alive(s->upstream))
		session_close_421(s, "4.4.2", "upstream-lost",
		                  SESSION_UPSTREAM_LOST);
	else
		session_resume(s);
}

/*
 * A new upstream connection, for another source address or to replay on:
 * greeted, EHLOed (under TLS as configured) and told the client's
 * identity as at session start, then it replaces s->upstream and
 * next_done(s, NULL) runs.  When a step fails, next_done(s, why) runs
 * with s->upstream_next still there for it to look at and free.
 */
static void
next_end(struct session *s, const struct smtp_reply *reply, const char *reason)
{
	void (*done)(struct session *, const char *) = s->next_done;
	char summary[256];

	s->next_done = NULL;
	if (reply == NULL || reply->code / 100 == 2)
		done(s, reason);
	else
		done(s, smtp_reply_summary(reply, summary, sizeof(summary)));
}

static void
next_hello_cb(void *arg, const struct smtp_reply *reply, const char *reason)
{
	struct session *s = arg;

	if (reply != NULL && reply->code / 100 == 2) {
		upstream_free(&s->upstream);
		s->upstream = s->upstream_next;
		s->upstream_next = NULL;
	}
	next_end(s, reply, reason);
}

static void
next_ready_cb(void *arg, const struct smtp_reply *reply, const char *reason)
{
	struct session *s = arg;

	if (reply != NULL && reply->code / 100 == 2)
		upstream_hello(s->upstream_next, next_hello_cb);
	else
		next_end(s, reply, reason);
}

static void
next_connect(struct session *s, const struct netaddr *source,
             void (*done)(struct session *, const char *why))
{
	s->next_done = done;
	s->upstream_next = upstream_connect_from(
	    s->srv->base, &s->cfg->upstream, source, &s->fs, next_ready_cb,
	    session_upstream_lost, s);
}

/* The connection from the sender domain's address is ready, or not. */
static void
source_done(struct session *s, const char *why)
{
	if (why != NULL)
		source_failed(s, why);
	else
		mail_send_now(s);
}

void
session_mail_send(struct session *s,
                  void (*cb)(void *, const struct smtp_reply *, const char *))
{
	const struct netaddr *want = source_wanted(s);
	char from[SMTP_PATH_MAX * 2], src[NETADDR_STRLEN];

	s->mail_cb = cb;
	if (source_same(upstream_source(s->upstream), want)) {
		mail_send_now(s);
		return;
	}
	log_info("%s upstream reconnect source=%s from=<%s>", s->fs.id,
	         want->ss.ss_family ? netaddr_ip_str(want, src, sizeof(src))
	                            : "default",
	         log_escape_str(from, sizeof(from), s->txn.mail_from));
	next_connect(s, want, source_done);
}

/* Replaying the envelope */

void
session_replay_keep(struct session *s, int is_mail)
{
	if (is_mail) {
		session_replay_forget(s);
		s->replay_mail = xstrdup(s->upline);
		return;
	}
	s->replay_rcpts = xreallocarray(s->replay_rcpts, s->nreplay_rcpts + 1,
	                                sizeof(*s->replay_rcpts));
	s->replay_rcpts[s->nreplay_rcpts++] = xstrdup(s->upline);
}

void
session_replay_forget(struct session *s)
{
	size_t i;

	for (i = 0; i < s->nreplay_rcpts; i++)
		free(s->replay_rcpts[i]);
	free(s->replay_rcpts);
	free(s->replay_mail);
	s->replay_rcpts = NULL;
	s->replay_mail = NULL;
	s->nreplay_rcpts = 0;
}

static void
replay_end(struct session *s, const char *why)
{
	void (*done)(struct session *, const char *) = s->replay_done;

	s->replay_done = NULL;
	done(s, why);
}

/* A step of the replay failed: why says which (a reply's summary, or
 * the reason the connection failed). */
static void
replay_failed(struct session *s, const char *step, const char *why)
{
	char text[320];

	log_warning("%s upstream replay failed step=%s reason=\"%s\"", s->fs.id,
	            step, why);
	snprintf(text, sizeof(text), "replay %s: %s", step, why);
	upstream_free_later(&s->upstream_next);
	replay_end(s, text);
}

static void replay_rcpt_next(struct session *s);

/* MAIL's or a RCPT's reply: 1 when accepted again, else 0 after
 * failing the replay. */
static int
replay_accepted(struct session *s, const char *step,
                const struct smtp_reply *reply, const char *reason)
{
	char summary[256];

	if (reply != NULL && reply->code / 100 == 2)
		return 1;
	replay_failed(s, step,
	              reply != NULL
	                  ? smtp_reply_summary(reply, summary, sizeof(summary))
	                  : reason);
	return 0;
}

static void
replay_rcpt_cb(void *arg, const struct smtp_reply *reply, const char *reason)
{
	struct session *s = arg;

	if (replay_accepted(s, "rcpt", reply, reason))
		replay_rcpt_next(s);
}

static void
replay_rcpt_next(struct session *s)
{
	if (s->replay_next == s->nreplay_rcpts) {
		log_info("%s upstream replay done rcpts=%zu", s->fs.id,
		         s->nreplay_rcpts);
		replay_end(s, NULL);
		return;
	}
	upstream_command(s->upstream, s->replay_rcpts[s->replay_next++], 0,
	                 replay_rcpt_cb);
}

static void
replay_mail_cb(void *arg, const struct smtp_reply *reply, const char *reason)
{
	struct session *s = arg;

	if (!replay_accepted(s, "mail", reply, reason))
		return;
	s->replay_next = 0;
	replay_rcpt_next(s);
}

/* The new connection replaced the lost one, or could not be made. */
static void
replay_connected(struct session *s, const char *why)
{
	if (why != NULL) {
		replay_failed(s, "connect", why);
		return;
	}
	if (s->requiretls && (why = requiretls_refusal(s)) != NULL) {
		replay_failed(s, "requiretls", why);
		return;
	}
	upstream_command(s->upstream, s->replay_mail, 1, replay_mail_cb);
}

void
session_replay(struct session *s,
               void (*done)(struct session *, const char *why))
{
	char esc[320];

	s->replay_done = done;
	if (s->replay_mail == NULL) { /* nothing kept: cannot happen */
		replay_end(s, "replay: no envelope kept");
		return;
	}
	log_info("%s upstream reconnect reason=\"%s\" rcpts=%zu", s->fs.id,
	         log_escape_str(esc, sizeof(esc), s->upstream_lost),
	         s->nreplay_rcpts);
	next_connect(s, upstream_source(s->upstream), replay_connected);
}
