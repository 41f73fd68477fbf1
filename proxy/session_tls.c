/*
 * session_tls.c - TLS on a client's session: STARTTLS (RFC 3207) and
 * implicit TLS (RFC 8314).
 *
 * STARTTLS is answered 220, and once that reply is out the plain
 * bufferevent gives its socket to a TLS one (tls.c) that runs the
 * handshake; implicit TLS does the same before the banner.  What the
 * handshake settled goes to fs.tls, which is what the rest of postern
 * (filters, the Received header, the log) reads.  A failed or slow
 * handshake ends the session alone, with a log line and no reply:
 * there is no channel left to send one on.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "proxy/config.h"
#include "proxy/server.h"
#include "proxy/session.h"
#include "proxy/tls.h"
#include "util/log.h"

int
session_tls_offered(const struct session *s)
{
	return s->cfg->tls != NULL && s->listener->tls == CONFIG_TLS_STARTTLS &&
	       s->tls_phase == SESSION_TLS_OFF;
}

int
session_tls_wrapped(const struct session *s)
{
	return s->tls_phase == SESSION_TLS_HANDSHAKE ||
	       s->tls_phase == SESSION_TLS_ON;
}

void
session_proto_update(struct session *s)
{
	int tls = s->fs.tls.version[0] != '\0', auth = s->fs.login[0] != '\0';

	/* RFC 3848 names ESMTPS, ESMTPA and ESMTPSA only; HELO stays
	 * SMTP. */
	snprintf(s->fs.proto, sizeof(s->fs.proto), "%s%s%s",
	         s->esmtp ? "ESMTP" : "SMTP", s->esmtp && tls ? "S" : "",
	         s->esmtp && auth ? "A" : "");
}

char *
session_tls_log_fields(const struct session *s, char *buf, size_t size)
{
	const struct filter_tls *t = &s->fs.tls;
	char cipher[128];

	buf[0] = '\0';
	if (t->version[0] == '\0')
		return buf;
	snprintf(buf, size, " tls=%s cipher=%s%s", t->version,
	         log_escape_str(cipher, sizeof(cipher), t->cipher),
	         t->peer_subject[0] != '\0' ? " client_cert=yes" : "");
	return buf;
}

/* The handshake did not finish: nothing can be said to the client. */
static void
session_tls_fail(struct session *s, const char *why)
{
	char reason[300];

	evtimer_del(s->ev_tls);
	log_warning("%s tls failed phase=handshake client=%s reason=\"%s\"",
	            s->fs.id, s->fs.client_ip,
	            log_escape_str(reason, sizeof(reason), why));
	s->client_gone = 1;
	bufferevent_disable(s->bev, EV_READ | EV_WRITE);
	session_close(s, "tls-failed");
}

static void
session_tls_log(struct session *s)
{
	const struct filter_tls *t = &s->fs.tls;
	char cipher[128], subject[300], issuer[300];

	log_escape_str(cipher, sizeof(cipher), t->cipher);
	if (t->peer_subject[0] == '\0') {
		log_info("%s tls mode=%s tls=%s cipher=%s bits=%d "
		         "client_cert=none",
		         s->fs.id, config_tls_mode_name(s->listener->tls),
		         t->version, cipher, t->bits);
		return;
	}
	log_info("%s tls mode=%s tls=%s cipher=%s bits=%d client_cert=yes "
	         "subject=\"%s\" issuer=\"%s\"",
	         s->fs.id, config_tls_mode_name(s->listener->tls), t->version,
	         cipher, t->bits,
	         log_escape_str(subject, sizeof(subject), t->peer_subject),
	         log_escape_str(issuer, sizeof(issuer), t->peer_issuer));
}

/*
 * RFC 3207 4.2: after the handshake the server forgets what the client
 * said before it, EHLO included; implicit TLS greets only now.
 */
static void
session_tls_established(struct session *s)
{
	evtimer_del(s->ev_tls);
	s->tls_phase = SESSION_TLS_ON;
	tls_facts(s->bev, &s->fs.tls);
	session_tls_log(s);
	s->helo_done = 0;
	s->esmtp = 0;
	s->ehlo_flags = 0;
	s->fs.helo[0] = '\0';
	session_proto_update(s);
	if (s->listener->tls == CONFIG_TLS_IMPLICIT) {
		session_reconnect_filters(s);
		return;
	}
	session_resume(s);
}

/* Input the plain bufferevent holds was sent after STARTTLS and before
 * the handshake: it must not reach the TLS session (CVE-2011-0411). */
static int
session_tls_injected(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t n = evbuffer_get_length(in);

	if (n == 0)
		return 0;
	evbuffer_drain(in, n);
	log_warning("%s tls refused client=%s reason=pipelined-after-starttls "
	            "octets=%zu",
	            s->fs.id, s->fs.client_ip, n);
	return 1;
}

/* Hand the socket to a TLS bufferevent and start the handshake. */
static void
session_tls_begin(struct session *s)
{
	struct timeval tv = {s->cfg->tls->handshake_timeout, 0};
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct bufferevent *bev;
	const char *why;

	if (s->listener->tls == CONFIG_TLS_STARTTLS &&
	    session_tls_injected(s)) {
		s->client_gone = 1;
		session_close(s, "starttls-pipelining");
		return;
	}
	/* Implicit TLS behind PROXY: what came with the header is the
	 * ClientHello, and OpenSSL reads it first. */
	bev = tls_bufferevent_new(
	    s->cfg->tls->server, s->srv->base, bufferevent_getfd(s->bev),
	    evbuffer_pullup(in, -1), evbuffer_get_length(in), &why);
	if (bev == NULL) {
		log_error("%s tls failed phase=setup reason=\"%s\"", s->fs.id,
		          why);
		s->client_gone = 1;
		session_close(s, "tls-failed");
		return;
	}
	/* The old bufferevent must not close the socket it gave away. */
	bufferevent_setfd(s->bev, -1);
	bufferevent_free(s->bev);
	s->bev = bev;
	s->tls_phase = SESSION_TLS_HANDSHAKE;
	session_bev_attach(s);
	evtimer_add(s->ev_tls, &tv);
}

static void
session_tls_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	if (s->closing)
		return;
	if (s->tls_phase == SESSION_TLS_FLUSH)
		session_tls_begin(s);
	else if (s->tls_phase == SESSION_TLS_HANDSHAKE)
		session_tls_fail(s, "timeout");
}

/* Start the handshake from the loop, not from inside a callback of the
 * bufferevent it replaces. */
static void
session_tls_schedule(struct session *s)
{
	static const struct timeval now = {0, 0};

	evtimer_add(s->ev_tls, &now);
}

static void
session_tls_prepare(struct session *s)
{
	if (s->ev_tls == NULL)
		s->ev_tls = evtimer_new(s->srv->base, session_tls_timer_cb, s);
}

void
session_tls_implicit(struct session *s)
{
	session_tls_prepare(s);
	s->tls_phase = SESSION_TLS_FLUSH;
	/* The ClientHello stays in the socket for the TLS bufferevent. */
	bufferevent_disable(s->bev, EV_READ);
	session_tls_schedule(s);
}

int
session_tls_write(struct session *s)
{
	if (s->tls_phase != SESSION_TLS_FLUSH)
		return 0;
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0)
		session_tls_schedule(s);
	return 1;
}

int
session_tls_event(struct session *s, short what)
{
	char why[256];

	if (s->tls_phase == SESSION_TLS_FLUSH) {
		/* Gone or stuck before the 220 was out. */
		s->client_gone = 1;
		bufferevent_disable(s->bev, EV_READ | EV_WRITE);
		log_info("%s tls failed phase=starttls client=%s reason=%s",
		         s->fs.id, s->fs.client_ip,
		         (what & BEV_EVENT_TIMEOUT) ? "timeout" : "closed");
		session_close(s, "tls-failed");
		return 1;
	}
	if (s->tls_phase != SESSION_TLS_HANDSHAKE)
		return 0;
	if (what & BEV_EVENT_CONNECTED) {
		session_tls_established(s);
		return 1;
	}
	if (what & BEV_EVENT_TIMEOUT)
		session_tls_fail(s, "timeout");
	else
		session_tls_fail(s, tls_error_text(s->bev, why, sizeof(why)));
	return 1;
}

void
session_cmd_starttls(struct session *s, char *args)
{
	const char *refusal = NULL;

	if (s->listener->tls == CONFIG_TLS_NONE || s->cfg->tls == NULL) {
		session_reply(s, 502, "5.5.1", "command not implemented");
		session_error(s);
		return;
	}
	if (s->tls_phase != SESSION_TLS_OFF)
		refusal = "TLS already active";
	else if (!s->helo_done)
		refusal = "send EHLO first";
	else if (s->in_txn)
		refusal = "mail transaction in progress";
	if (refusal != NULL) {
		session_reply(s, 503, "5.5.1", "%s", refusal);
		session_error(s);
		return;
	}
	if (*args != '\0') {
		session_reply(s, 501, "5.5.4", "STARTTLS takes no arguments");
		session_error(s);
		return;
	}
	if (session_tls_injected(s)) {
		session_reply(s, 554, "5.5.1",
		              "improper command pipelining after STARTTLS");
		session_close(s, "starttls-pipelining");
		return;
	}
	session_tls_prepare(s);
	s->busy = 1;
	s->tls_phase = SESSION_TLS_FLUSH;
	/* What arrives from now on is the handshake: leave it in the
	 * socket for the TLS bufferevent. */
	bufferevent_disable(s->bev, EV_READ);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	session_reply(s, 220, "2.0.0", "ready to start TLS");
	session_tls_write(s);
}

void
session_tls_free(struct session *s)
{
	if (s->ev_tls != NULL)
		event_free(s->ev_tls);
	s->ev_tls = NULL;
	if (s->tls_phase == SESSION_TLS_ON && !s->client_gone)
		tls_close_notify(s->bev);
}
