/*
 * session_auth.c - AUTH PLAIN and LOGIN (RFC 4954), relayed upstream.
 *
 * Postern holds no credentials: the upstream checks them.  The AUTH
 * command and each line answering a 334 go to the upstream one at a
 * time, and its replies come back verbatim, so the exchange is in
 * lockstep end to end.  Postern only reads the user name out of the
 * exchange, to mark the session authenticated when the upstream says
 * 235: the login goes into the Received header's protocol (ESMTPA),
 * makes the mail outbound and is passed on by XCLIENT LOGIN.  Failures
 * (535) are counted per client address in policy_auth.c: each failure
 * reply is held back a growing delay, and a locked-out address gets 421.
 * Credentials are never logged, not even at trace level.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <openssl/evp.h>

#include "policy/policy_auth.h"
#include "proxy/config.h"
#include "proxy/server.h"
#include "proxy/session.h"
#include "proxy/upstream.h"
#include "util/log.h"
#include "util/sockio.h"
#include "util/xalloc.h"

/* Decoded PLAIN responses: authzid, authcid and password, 255 each. */
#define AUTH_DECODED_MAX 800

static const char *const auth_mechs[] = {"PLAIN", "LOGIN"};

static int
auth_upstream_has(const struct session *s, const char *mech)
{
	return smtp_caps_has_word(upstream_caps(s->upstream)->auth, mech);
}

int
session_auth_offered(const struct session *s)
{
	if (!auth_upstream_has(s, "PLAIN") && !auth_upstream_has(s, "LOGIN"))
		return 0;
	return s->fs.tls.version[0] != '\0' || s->listener->auth_without_tls;
}

void
session_auth_mechs(const struct session *s, char *buf, size_t size)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(auth_mechs) / sizeof(auth_mechs[0]); i++) {
		if (auth_upstream_has(s, auth_mechs[i]) && n < size)
			n += (size_t)snprintf(buf + n, size - n, " %s",
			                      auth_mechs[i]);
	}
}

static void
auth_limits(const struct session *s, struct policy_auth_limits *lim)
{
	const struct config_limits *l = &s->cfg->limits;

	lim->failures = l->auth_failures;
	lim->lockout = l->auth_lockout;
	lim->delay = l->auth_delay;
	lim->delay_max = l->auth_delay_max;
}

/* Base64 text into out (NUL-terminated); the decoded length, or -1. */
static int
auth_decode(const char *text, unsigned char *out, size_t size)
{
	size_t len = strlen(text);
	int n;

	if (len == 0 || len % 4 != 0 || len / 4 * 3 + 1 > size)
		return -1;
	n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
	if (n < 0)
		return -1;
	/* EVP_DecodeBlock() counts the padding as zero octets. */
	n -= (text[len - 1] == '=') + (text[len - 2] == '=');
	out[n] = '\0';
	return n;
}

/* The authentication identity of a PLAIN response: authzid NUL authcid
 * NUL password (RFC 4616 2).  The password is wiped at once. */
static void
auth_user_plain(struct session *s, const char *text)
{
	unsigned char buf[AUTH_DECODED_MAX];
	int n = auth_decode(text, buf, sizeof(buf));
	const unsigned char *authcid;

	if (n > 0) {
		authcid = memchr(buf, '\0', (size_t)n);
		if (authcid != NULL && authcid + 1 < buf + n)
			snprintf(s->auth_user, sizeof(s->auth_user), "%.255s",
			         (const char *)authcid + 1);
	}
	explicit_bzero(buf, sizeof(buf));
}

/* LOGIN sends the user name alone, as its first datum. */
static void
auth_user_login(struct session *s, const char *text)
{
	unsigned char buf[sizeof(s->auth_user)];
	int n = auth_decode(text, buf, sizeof(buf));

	if (n > 0)
		memcpy(s->auth_user, buf, (size_t)n + 1);
}

/* A response datum from the client: learn the user name from it. */
static void
auth_learn(struct session *s, const char *datum)
{
	if (strcmp(datum, "*") == 0 || strcmp(datum, "=") == 0)
		return;
	if (s->auth_plain)
		auth_user_plain(s, datum);
	else if (s->auth_lines == 0)
		auth_user_login(s, datum);
	s->auth_lines++;
}

static void
auth_succeeded(struct session *s, const struct smtp_reply *reply)
{
	char login[300];

	snprintf(s->fs.login, sizeof(s->fs.login), "%s",
	         s->auth_user[0] ? s->auth_user : "unknown");
	session_proto_update(s); /* ESMTPA, or ESMTPSA under TLS */
	session_classify(s);
	policy_auth_succeeded(s->srv->auth, &s->fs.client);
	log_info("%s auth result=ok mech=%s login=\"%s\" direction=%s",
	         s->fs.id, s->auth_plain ? "PLAIN" : "LOGIN",
	         log_escape_str(login, sizeof(login), s->fs.login),
	         s->fs.outbound ? "outbound" : "inbound");
	session_relay(s, reply);
	session_resume(s);
}

static void
auth_release_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	sockio_write(s->bev, s->auth_reply, s->auth_reply_len);
	free(s->auth_reply);
	s->auth_reply = NULL;
	session_resume(s);
}

/* 535: count it and hold the reply back for the delay it earned. */
static void
auth_failed(struct session *s, const struct smtp_reply *reply)
{
	struct policy_auth_limits lim;
	struct timeval tv = {0, 0};
	char summary[256];
	unsigned int delay;

	auth_limits(s, &lim);
	delay =
	    policy_auth_failed(s->srv->auth, &s->fs.client, &lim, time(NULL));
	log_info("%s auth result=fail mech=%s client=%s failures=%u delay=%us "
	         "upstream=\"%s\"",
	         s->fs.id, s->auth_plain ? "PLAIN" : "LOGIN", s->fs.client_ip,
	         policy_auth_count(s->srv->auth, &s->fs.client), delay,
	         smtp_reply_summary(reply, summary, sizeof(summary)));
	if (delay == 0) {
		session_relay(s, reply);
		session_resume(s);
		return;
	}
	if (s->ev_auth == NULL)
		s->ev_auth = evtimer_new(s->srv->base, auth_release_cb, s);
	s->auth_reply = xmalloc(reply->rawlen);
	memcpy(s->auth_reply, reply->raw, reply->rawlen);
	s->auth_reply_len = reply->rawlen;
	tv.tv_sec = delay;
	evtimer_add(s->ev_auth, &tv);
}

static void
auth_upstream_cb(void *arg, const struct smtp_reply *reply, const char *reason)
{
	struct session *s = arg;
	char summary[256];

	explicit_bzero(s->upline, sizeof(s->upline));
	if (reply == NULL) {
		log_warning("%s upstream failed reason=\"%s\"", s->fs.id,
		            reason);
		session_close_421(s, "4.4.2", "upstream-lost",
		                  SESSION_UPSTREAM_LOST);
		return;
	}
	if (reply->code == 334) {
		s->auth_cont = 1;
		session_relay(s, reply);
		session_resume(s);
		return;
	}
	if (reply->code == 235) {
		auth_succeeded(s, reply);
		return;
	}
	if (reply->code == 535) {
		auth_failed(s, reply);
		return;
	}
	log_info("%s auth result=error mech=%s client=%s upstream=\"%s\"",
	         s->fs.id, s->auth_plain ? "PLAIN" : "LOGIN", s->fs.client_ip,
	         smtp_reply_summary(reply, summary, sizeof(summary)));
	session_relay(s, reply);
	session_resume(s);
}

/* Checks before AUTH goes upstream: 0, or -1 after replying. */
static int
auth_allowed(struct session *s)
{
	if (!s->helo_done || !s->esmtp) {
		session_reply(s, 503, "5.5.1", "send EHLO first");
	} else if (s->fs.login[0] != '\0') {
		session_reply(s, 503, "5.5.1", "already authenticated");
	} else if (s->in_txn) {
		session_reply(s, 503, "5.5.1", "mail transaction in progress");
	} else if (!auth_upstream_has(s, "PLAIN") &&
	           !auth_upstream_has(s, "LOGIN")) {
		session_reply(s, 502, "5.5.1", "command not implemented");
	} else if (!session_auth_offered(s)) {
		session_reply(s, 538, "5.7.11",
		              "encryption required for requested "
		              "authentication mechanism");
	} else {
		return 0;
	}
	session_error(s);
	return -1;
}

/* The client's address is locked out: 421 and close. */
static int
auth_locked(struct session *s)
{
	struct policy_auth_limits lim;
	unsigned int left;

	auth_limits(s, &lim);
	left =
	    policy_auth_locked(s->srv->auth, &s->fs.client, &lim, time(NULL));
	if (left == 0)
		return 0;
	log_warning("%s auth refused client=%s reason=locked-out seconds=%u",
	            s->fs.id, s->fs.client_ip, left);
	session_close_421(s, "4.7.0", "auth-locked-out",
	                  "too many failed authentications, try again later");
	return 1;
}

void
session_auth_command(struct session *s, char *args)
{
	char *mech = args, *ir = NULL, *sp;

	if (auth_allowed(s) < 0)
		return;
	sp = strchr(args, ' ');
	if (sp != NULL) {
		*sp = '\0';
		ir = sp + 1;
	}
	if (*mech == '\0' || (ir != NULL && (*ir == '\0' || strchr(ir, ' ')))) {
		session_reply(s, 501, "5.5.4",
		              "syntax: AUTH mechanism "
		              "[initial-response]");
		session_error(s);
		return;
	}
	if ((strcasecmp(mech, "PLAIN") != 0 &&
	     strcasecmp(mech, "LOGIN") != 0) ||
	    !auth_upstream_has(s, mech)) {
		session_reply(s, 504, "5.5.4",
		              "unrecognized authentication type");
		session_error(s);
		return;
	}
	if (auth_locked(s))
		return;
	s->auth_plain = strcasecmp(mech, "PLAIN") == 0;
	s->auth_lines = 0;
	s->auth_user[0] = '\0';
	if (ir != NULL)
		auth_learn(s, ir);
	snprintf(s->upline, sizeof(s->upline), "AUTH %s%s%s",
	         s->auth_plain ? "PLAIN" : "LOGIN", ir ? " " : "",
	         ir ? ir : "");
	s->busy = 1;
	upstream_secret(s->upstream, s->upline, auth_upstream_cb);
}

void
session_auth_line(struct session *s, char *line, size_t len)
{
	s->auth_cont = 0;
	/* The upstream waits for an answer: one too long to pass on
	 * cancels the exchange instead (RFC 4954 4), and its 501 is the
	 * client's reply. */
	if (len >= sizeof(s->upline))
		snprintf(line, len + 1, "*");
	auth_learn(s, line);
	snprintf(s->upline, sizeof(s->upline), "%s", line);
	explicit_bzero(line, len);
	s->busy = 1;
	upstream_secret(s->upstream, s->upline, auth_upstream_cb);
}

void
session_auth_free(struct session *s)
{
	if (s->ev_auth != NULL)
		event_free(s->ev_auth);
	s->ev_auth = NULL;
	free(s->auth_reply);
	s->auth_reply = NULL;
}
