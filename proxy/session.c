/*
 * session.c - a client session's life cycle, input and replies.
 *
 * Accepts the connection (or refuses it with 421 when the server or this
 * client address is over its session limit, or a PROXY listener's peer
 * is outside proxy_networks), lets session_proxy.c read a PROXY header
 * first where configured, runs the connect filters, connects the
 * upstream and greets.  Then it reads command lines with a
 * bounded buffer and hands each to session_cmd.c, one at a time.  Every
 * way out (QUIT, timeout, error limit, client gone, upstream gone,
 * shutdown) goes through session_close(), which flushes the last reply
 * and frees the session from the loop, never from deep in a callback.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "policy/policy_clients.h"
#include "proxy/config.h"
#include "proxy/server.h"
#include "proxy/session.h"
#include "proxy/upstream.h"
#include "util/log.h"
#include "util/sockio.h"
#include "util/spool.h"
#include "util/workpool.h"
#include "util/xalloc.h"

/* Input kept while a command waits: bounds a pipelining client. */
#define SESSION_INPUT_MAX (64 * 1024)
/* Replies queued for a client that does not read them: past this no
 * more commands are taken until it has read some. */
#define SESSION_OUTPUT_MAX (64 * 1024)
/* Time a closing session gets to take its last reply. */
#define SESSION_FLUSH_SECONDS 10

static void session_free(struct session *s);

static double
elapsed_since(time_t start)
{
	return difftime(time(NULL), start);
}

/*
 * Write a 421 straight to a socket we will not serve; best effort.  An
 * implicit-TLS client expects a handshake and cannot read a cleartext
 * reply (RFC 8314 3.3): it only sees the close.
 */
static void
refuse_connection(const struct config_listener *listener, int fd,
                  const char *ecode, const char *text)
{
	char buf[256];
	int n;

	n = snprintf(buf, sizeof(buf), "421 %s %s\r\n", ecode, text);
	if (listener->tls != CONFIG_TLS_IMPLICIT && n > 0 &&
	    write(fd, buf, (size_t)n) < 0)
		log_debug("refuse write failed: %s", strerror(errno));
	close(fd);
}

/*
 * DATA is timed per read (RFC 5321 4.5.3.2.6); waiting for a command is
 * timed from the end of the last one, so a client cannot stretch one
 * command forever by sending it an octet at a time.
 */
static void
session_timeouts(struct session *s)
{
	const struct config_limits *lim = &s->cfg->limits;
	struct timeval rd = {lim->data_timeout, 0};
	struct timeval wr = {lim->idle_timeout, 0};
	struct timeval idle = {lim->idle_timeout, 0};
	int waiting = s->state == SESSION_COMMAND && !s->busy && !s->closing;

	if (s->state == SESSION_PROXY && !s->closing) {
		/* Timed from the connection: a trickling header gets no
		 * more time than a silent one. */
		struct timeval hdr = {s->listener->proxy_timeout, 0};

		bufferevent_set_timeouts(s->bev, NULL, &wr);
		if (!s->idle_armed)
			evtimer_add(s->ev_idle, &hdr);
		s->idle_armed = 1;
		return;
	}
	if (s->closing)
		wr.tv_sec = SESSION_FLUSH_SECONDS;
	bufferevent_set_timeouts(s->bev, s->state == SESSION_DATA ? &rd : NULL,
	                         &wr);
	if (!waiting) {
		evtimer_del(s->ev_idle);
		s->idle_armed = 0;
	} else if (!s->idle_armed) {
		evtimer_add(s->ev_idle, &idle);
		s->idle_armed = 1;
	}
}

static void
session_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	s->idle_armed = 0;
	if (s->state == SESSION_PROXY) {
		/* Nothing was sent yet; a reply would not be SMTP to a
		 * balancer. */
		log_warning("%s proxy refused client=%s reason=timeout",
		            s->fs.id, s->fs.client_ip);
		session_close(s, "proxy-timeout");
		return;
	}
	session_close_421(s, "4.4.2", "timeout",
	                  "timeout exceeded, closing connection");
}

static size_t
session_output_len(struct session *s)
{
	return evbuffer_get_length(bufferevent_get_output(s->bev));
}

static void
session_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	if (s->chain_active)
		return; /* the chain's done callback frees it */
	session_free(s);
}

static void
session_schedule_free(struct session *s)
{
	static const struct timeval now = {0, 0};

	evtimer_add(s->ev_free, &now);
}

static void
session_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	if (s->closing) {
		if (session_output_len(s) == 0)
			session_schedule_free(s);
		return;
	}
	if (session_tls_write(s))
		return;
	/* The client read enough of its replies: take commands again. */
	if (!s->busy)
		session_input(s);
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	if (!s->closing && session_tls_event(s, what))
		return;
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->closing || (what & BEV_EVENT_WRITING)) {
			s->close_reason =
			    s->closing ? s->close_reason : "write-timeout";
			s->closing = 1;
			session_schedule_free(s);
			return;
		}
		session_close_421(s, "4.4.2", "timeout",
		                  "timeout exceeded, closing connection");
		return;
	}
	bufferevent_disable(s->bev, EV_READ);
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
		/* The client stopped sending but may still read: finish what
		 * it sent (QUIT among it, perhaps), then close. */
		s->client_eof = 1;
		session_input(s);
		return;
	}
	/* A socket error: nobody left to write to.  Work in progress is
	 * finished first so its outcome is logged.  A session already
	 * closing was waiting for its last replies to drain; they never
	 * will, so nothing else would free it. */
	s->client_gone = 1;
	bufferevent_disable(s->bev, EV_WRITE);
	if (s->closing)
		session_schedule_free(s);
	else if (!s->busy)
		session_close(s, "error");
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	session_input(arg);
}

void
session_reply(struct session *s, int code, const char *ecode, const char *fmt,
              ...)
{
	char text[512], line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	n = smtp_reply_format(line, sizeof(line), code, ecode, text);
	if (n < 0)
		n = snprintf(line, sizeof(line), "%d %s\r\n", code,
		             "reply too long");
	log_trace(LOG_TRACE_SMTP, "%s reply %.*s", s->fs.id, n - 2, line);
	sockio_write(s->bev, line, (size_t)n);
}

void
session_relay(struct session *s, const struct smtp_reply *reply)
{
	sockio_write(s->bev, reply->raw, reply->rawlen);
	/* RFC 5321 3.8: after 421 the upstream closes; so do we. */
	if (reply->code == 421)
		session_close(s, "upstream-421");
}

void
session_close(struct session *s, const char *reason)
{
	if (s->closing)
		return;
	s->closing = 1;
	s->close_reason = reason;
	s->state = SESSION_CLOSING;
	/* The client's slot is free once we stop serving it: a client
	 * that reconnects straight after QUIT is not counted twice. */
	if (s->admitted)
		policy_clients_leave(s->srv->clients, &s->peer);
	s->admitted = 0;
	bufferevent_disable(s->bev, EV_READ);
	/* The write callback now fires only once everything is out. */
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	session_timeouts(s);
	if (s->client_gone || session_output_len(s) == 0)
		session_schedule_free(s);
}

void
session_close_421(struct session *s, const char *ecode, const char *reason,
                  const char *text)
{
	if (s->closing)
		return;
	session_reply(s, 421, ecode, "%s %s", s->fs.hostname, text);
	session_close(s, reason);
}

int
session_error(struct session *s)
{
	s->errors++;
	if (s->cfg->limits.errors == 0 || s->errors < s->cfg->limits.errors)
		return 0;
	session_close_421(s, "4.7.0", "too-many-errors",
	                  "too many errors, closing connection");
	return 1;
}

/*
 * Take one complete line from the input into cmdbuf.  Returns 1 with a
 * line, 0 when more input is needed, -1 when the line was refused (the
 * reply is already sent).
 */
static int
session_read_line(struct session *s, size_t *len_r)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	size_t max = s->cfg->limits.command_line + 512, eol_len, n;
	struct evbuffer_ptr p;

	if (max > s->cmdsize - 1)
		max = s->cmdsize - 1;
	p = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
	if (p.pos < 0) {
		n = evbuffer_get_length(in);
		if (n > max) {
			/* Drop what we cannot keep; answer at its end. */
			evbuffer_drain(in, n);
			s->discard_line = 1;
		}
		return 0;
	}
	n = (size_t)p.pos + 1;
	if (s->discard_line || n > max) {
		evbuffer_drain(in, n);
		s->discard_line = 0;
		if (s->auth_cont) {
			/* An AUTH response too long to keep: it cancels
			 * the exchange (RFC 4954 4), and the upstream's
			 * 501 is the client's only reply. */
			snprintf(s->cmdbuf, s->cmdsize, "*");
			s->last_crlf = 1;
			*len_r = 1;
			return 1;
		}
		session_reply(s, 500, "5.5.2", "line too long");
		session_error(s);
		return -1;
	}
	evbuffer_remove(in, s->cmdbuf, n);
	s->cmdbuf[--n] = '\0';
	s->last_crlf = n > 0 && s->cmdbuf[n - 1] == '\r';
	if (s->last_crlf)
		s->cmdbuf[--n] = '\0';
	if (!s->last_crlf &&
	    s->cfg->limits.bare_eol == CONFIG_BARE_EOL_REJECT) {
		session_reply(s, 500, "5.5.2",
		              "command line must end with CRLF");
		session_error(s);
		return -1;
	}
	*len_r = n;
	return 1;
}

void
session_input(struct session *s)
{
	size_t len;
	int r;

	if (s->in_input)
		return;
	s->in_input = 1;
	while (!s->closing && !s->busy &&
	       session_output_len(s) < SESSION_OUTPUT_MAX) {
		if (s->state == SESSION_DATA) {
			session_data_input(s);
			if (s->state == SESSION_DATA)
				break;
			continue;
		}
		if (s->state != SESSION_COMMAND)
			break;
		r = session_read_line(s, &len);
		if (r == 0)
			break;
		s->idle_armed = 0; /* a whole line: the idle clock restarts */
		evtimer_del(s->ev_idle);
		if (r > 0 && s->auth_cont)
			session_auth_line(s, s->cmdbuf, len);
		else if (r > 0)
			session_command(s, s->cmdbuf, len);
	}
	s->in_input = 0;
	if (!s->closing && s->client_eof && !s->busy)
		session_close(s,
		              s->state == SESSION_DATA ? "eof-in-data" : "eof");
	if (!s->closing)
		session_timeouts(s);
}

void
session_resume(struct session *s)
{
	s->busy = 0;
	if (s->closing)
		return;
	if (s->client_gone) {
		session_close(s, "error");
		return;
	}
	if (s->srv->draining && !s->in_txn && s->state == SESSION_COMMAND) {
		session_close_421(s, "4.3.2", "shutdown",
		                  "service shutting down, try again later");
		return;
	}
	session_input(s);
}

void
session_drain(struct session *s)
{
	if (s->closing || s->busy || s->in_txn)
		return; /* finishes its transaction first */
	if (s->state != SESSION_COMMAND)
		return;
	session_close_421(s, "4.3.2", "shutdown",
	                  "service shutting down, try again later");
}

static void
session_chain_done(void *arg, const struct filter_verdict *v)
{
	struct session *s = arg;

	s->chain_active = 0;
	if (s->closing) {
		session_schedule_free(s);
		return;
	}
	s->verdict_next(s, v);
}

static void
session_job_work(void *arg)
{
	struct session *s = arg;

	s->job_work(s);
}

static void
session_job_done(void *arg)
{
	struct session *s = arg;

	s->chain_active = 0;
	if (s->closing) {
		session_schedule_free(s);
		return;
	}
	s->job_done(s);
}

void
session_job(struct session *s, void (*work)(struct session *),
            void (*done)(struct session *))
{
	s->job_work = work;
	s->job_done = done;
	s->chain_active = 1;
	workpool_submit(s->srv->pool, session_job_work, session_job_done, s);
}

void
session_filters(struct session *s, enum filter_phase phase,
                session_verdict_cb *next)
{
	struct filter_txn *t = phase >= FILTER_PHASE_MAIL ? &s->txn : NULL;

	s->verdict_next = next;
	s->chain_active = 1;
	filter_chain_run(s->cfg->chain, s->srv->pool, phase, &s->fs, t,
	                 session_chain_done, s);
}

void
session_reply_verdict(struct session *s, const struct filter_verdict *v)
{
	int code = v->code;
	const char *ecode = v->ecode, *text = v->text;

	switch (v->action) {
	case FILTER_REJECT:
		code = code >= 500 && code < 600 ? code : 550;
		ecode = ecode[0] == '5' ? ecode : "5.7.1";
		text = text[0] ? text : "rejected by policy";
		break;
	case FILTER_TEMPFAIL:
		code = code >= 400 && code < 500 ? code : 451;
		ecode = ecode[0] == '4' ? ecode : "4.7.1";
		text = text[0] ? text : "temporarily rejected, try again later";
		break;
	case FILTER_HOLD:
		code = 250;
		ecode = ecode[0] == '2' ? ecode : "2.7.0";
		text = text[0] ? text : "message held for review";
		break;
	default:
		code = 250;
		ecode = "2.0.0";
		text = "Ok";
		break;
	}
	session_reply(s, code, ecode, "%s", text);
}

void
session_log_txn(struct session *s, const char *result, const char *reply)
{
	char from[128], rcpts[256], source[NETADDR_STRLEN], tls[160];
	size_t i, used = 0;

	log_escape_str(from, sizeof(from),
	               s->txn.mail_from ? s->txn.mail_from : "");
	rcpts[0] = '\0';
	for (i = 0; i < s->txn.nrcpts && used + 4 < sizeof(rcpts); i++) {
		char one[128];

		log_escape_str(one, sizeof(one), s->txn.rcpts[i]);
		used += (size_t)snprintf(rcpts + used, sizeof(rcpts) - used,
		                         "%s<%s>", i ? "," : "", one);
		if (used >= sizeof(rcpts))
			used = sizeof(rcpts) - 1;
	}
	if (s->upstream != NULL)
		upstream_local_ip(s->upstream, source, sizeof(source));
	else
		snprintf(source, sizeof(source), "-");
	log_info("%s message txn=%s from=<%s> nrcpt=%zu rcpts=%s size=%zu%s "
	         "result=%s%s%s upstream=\"%s\" source=%s elapsed=%.3fs",
	         s->fs.id, s->txn.id, from, s->txn.nrcpts, rcpts, s->txn.size,
	         session_tls_log_fields(s, tls, sizeof(tls)), result,
	         s->txn.notes[0] ? " " : "", s->txn.notes, reply, source,
	         log_elapsed(&s->start_txn));
}

void
session_txn_reset(struct session *s)
{
	session_report_abort(s);
	filter_txn_deinit(&s->txn);
	spool_free(&s->spool);
	session_replay_forget(s);
	s->in_txn = 0;
	s->discard = 0;
	s->upstream_lost[0] = '\0';
	s->state = SESSION_COMMAND;
}

void
session_upstream_lost(void *arg, const char *reason)
{
	struct session *s = arg;

	log_warning("%s upstream lost reason=\"%s\"", s->fs.id, reason);
	/* A connection from another source is being made for MAIL: it
	 * takes over (or MAIL gets 451, and the next command finds the
	 * old one gone). */
	if (s->upstream_next != NULL)
		return;
	if (s->state == SESSION_DATA || s->state == SESSION_EOM) {
		/* The client is still sending or the end-of-message filters
		 * run: the connection is made again before the message goes
		 * upstream (session_replay()).  reason is the upstream's
		 * buffer. */
		snprintf(s->upstream_lost, sizeof(s->upstream_lost), "%s",
		         reason);
		return;
	}
	session_upstream_gone(s, reason);
}

void
session_upstream_gone(struct session *s, const char *why)
{
	/* A transaction ends as an upstream tempfail, which is what the
	 * client hears, not as an abort. */
	if (s->in_txn) {
		session_report(s, REPORT_TEMPFAILED, REPORT_REASON_UPSTREAM,
		               NULL, 421, "4.4.2 " SESSION_UPSTREAM_LOST, 0);
		if (s->txn.nrcpts > 0)
			session_log_txn(s, "tempfail", why);
	}
	session_close_421(s, "4.4.2", "upstream-lost", SESSION_UPSTREAM_LOST);
}

static void
session_upstream_ready(void *arg, const struct smtp_reply *reply,
                       const char *reason)
{
	struct session *s = arg;
	char summary[256];

	if (reply == NULL || reply->code / 100 != 2) {
		if (reply != NULL)
			smtp_reply_summary(reply, summary, sizeof(summary));
		log_warning("%s upstream unavailable reason=\"%s\"", s->fs.id,
		            reply ? summary : reason);
		/* Postfix's smtp client says 4.7.5 when TLS is required and
		 * cannot be had; RFC 5321 3.1 leaves 421 as the only
		 * refusal short of 554 at the greeting. */
		if (upstream_failed_tls(s->upstream))
			session_close_421(s, "4.7.5", "upstream-tls",
			                  "TLS to the upstream failed, try "
			                  "again later");
		else
			session_close_421(s, "4.4.1", "upstream-unavailable",
			                  "service not available, try again "
			                  "later");
		return;
	}
	session_greet(s);
}

static void
session_connect_verdict(struct session *s, const struct filter_verdict *v)
{
	if (v->action == FILTER_REJECT || v->action == FILTER_TEMPFAIL) {
		log_info("%s reject phase=connect filter=%s action=%s",
		         s->fs.id, v->filter ? v->filter : "-",
		         filter_action_name(v->action));
		/* RFC 5321 3.1: 554 refuses the connection itself. */
		if (v->action == FILTER_REJECT)
			session_reply(
			    s, 554, v->ecode[0] ? v->ecode : "5.7.1", "%s",
			    v->text[0] ? v->text : "connection refused");
		else
			session_reply(s, 421, v->ecode[0] ? v->ecode : "4.7.1",
			              "%s %s", s->fs.hostname,
			              v->text[0] ? v->text : "try again later");
		session_close(s, "connect-rejected");
		return;
	}
	if (s->upstream != NULL) { /* XCLIENT: the upstream is up already */
		if (!upstream_alive(s->upstream))
			session_close_421(s, "4.4.2", "upstream-lost",
			                  SESSION_UPSTREAM_LOST);
		else
			session_greet(s);
		return;
	}
	s->upstream = upstream_connect_from(
	    s->srv->base, &s->cfg->upstream, session_source_default(s), &s->fs,
	    session_upstream_ready, session_upstream_lost, s);
}

void
session_reconnect_filters(struct session *s)
{
	session_filters(s, FILTER_PHASE_CONNECT, session_connect_verdict);
}

void
session_classify(struct session *s)
{
	/* Outbound: a listener for submission, a client inside
	 * internal_networks (IPv4-mapped addresses match IPv4 networks),
	 * or an authenticated one. */
	s->fs.outbound =
	    s->listener->outbound ||
	    netlist_match(s->cfg->internal_networks, &s->fs.client) ||
	    s->fs.login[0] != '\0';
}

/* The client as the filters see it: s->peer, unless XCLIENT says
 * otherwise later. */
static void
session_fill_identity(struct session *s)
{
	struct filter_session *fs = &s->fs;

	fs->client = s->peer;
	netaddr_ip_str(&fs->client, fs->client_ip, sizeof(fs->client_ip));
	snprintf(fs->client_name, sizeof(fs->client_name), "unknown");
	snprintf(fs->proto, sizeof(fs->proto), "SMTP");
	fs->listener = s->listener->name;
	session_classify(s);
	fs->hostname = s->cfg->hostname;
}

/* Sessions per client address: 0, or -1 when peer has too many. */
static int
session_admit_client(struct server *srv, const struct config_listener *listener,
                     const struct netaddr *peer)
{
	char ip[NETADDR_STRLEN];

	if (policy_clients_enter(srv->clients, peer,
	                         srv->cfg->limits.sessions_per_client) == 0)
		return 0;
	log_warning("refuse client=%s listener=%s "
	            "reason=too-many-client-sessions",
	            netaddr_ip_str(peer, ip, sizeof(ip)), listener->name);
	return -1;
}

/* Admission: 0 to serve the connection, -1 after refusing it.  A
 * PROXY listener counts sessions per client once the header named it,
 * and takes headers only from proxy_networks. */
static int
session_admit(struct server *srv, const struct config_listener *listener,
              int fd, const struct netaddr *peer)
{
	const struct config_limits *lim = &srv->cfg->limits;
	char ip[NETADDR_STRLEN];

	netaddr_ip_str(peer, ip, sizeof(ip));
	if (srv->draining) {
		log_info("refuse client=%s listener=%s reason=shutdown", ip,
		         listener->name);
		refuse_connection(listener, fd, "4.3.2",
		                  "service shutting down");
		return -1;
	}
	if (lim->sessions != 0 && srv->nsessions >= lim->sessions) {
		log_warning("refuse client=%s listener=%s "
		            "reason=too-many-sessions sessions=%u",
		            ip, listener->name, srv->nsessions);
		refuse_connection(listener, fd, "4.3.2",
		                  "too many sessions, try later");
		return -1;
	}
	if (listener->proxy_protocol) {
		if (netlist_match(listener->proxy_networks, peer))
			return 0;
		log_warning("refuse client=%s listener=%s "
		            "reason=proxy-not-allowed",
		            ip, listener->name);
		refuse_connection(listener, fd, "4.7.0",
		                  "not allowed to connect here");
		return -1;
	}
	if (session_admit_client(srv, listener, peer) < 0) {
		refuse_connection(listener, fd, "4.7.0",
		                  "too many sessions from your address");
		return -1;
	}
	return 0;
}

void
session_start(struct session *s)
{
	char addr[NETADDR_STRLEN];

	if (!s->admitted &&
	    session_admit_client(s->srv, s->listener, &s->peer) < 0) {
		if (s->listener->tls != CONFIG_TLS_IMPLICIT)
			session_reply(s, 421, "4.7.0",
			              "%s too many sessions from your address",
			              s->cfg->hostname);
		session_close(s, "too-many-client-sessions");
		return;
	}
	s->admitted = 1;
	s->state = SESSION_CONNECT;
	session_fill_identity(s);
	report_session(s->listener->name, s->fs.outbound);
	log_info("%s connect client=%s listener=%s direction=%s", s->fs.id,
	         netaddr_str(&s->fs.client, addr, sizeof(addr)),
	         s->listener->name, s->fs.outbound ? "outbound" : "inbound");
	/* RFC 8314 3.3: implicit TLS greets only after the handshake. */
	if (s->listener->tls == CONFIG_TLS_IMPLICIT)
		session_tls_implicit(s);
	else
		session_reconnect_filters(s);
}

void
session_bev_attach(struct session *s)
{
	/* The write callback tells when a stalled client read enough. */
	bufferevent_setwatermark(s->bev, EV_WRITE, SESSION_OUTPUT_MAX / 2, 0);
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
	                  session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SESSION_INPUT_MAX);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	session_timeouts(s);
}

void
session_new(struct server *srv, const struct config_listener *listener, int fd,
            const struct sockaddr *sa, int salen)
{
	struct session *s;
	struct netaddr peer;
	socklen_t len;

	memset(&peer, 0, sizeof(peer));
	memcpy(&peer.ss, sa, (size_t)salen);
	peer.len = (socklen_t)salen;
	if (session_admit(srv, listener, fd, &peer) < 0)
		return;

	s = xcalloc(1, sizeof(*s));
	s->srv = srv;
	s->cfg = srv->cfg;
	config_ref(s->cfg);
	s->listener = listener;
	s->peer = peer;
	s->admitted = !listener->proxy_protocol;
	filter_session_new_id(&s->fs);
	s->fs.start = time(NULL);
	len = sizeof(s->fs.local.ss);
	if (getsockname(fd, (struct sockaddr *)&s->fs.local.ss, &len) == 0)
		s->fs.local.len = len;
	/* Until a PROXY header names the client, logs show the socket's. */
	netaddr_ip_str(&peer, s->fs.client_ip, sizeof(s->fs.client_ip));
	netaddr_tcp_nodelay(fd);
	s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	s->ev_free = evtimer_new(srv->base, session_free_cb, s);
	s->ev_idle = evtimer_new(srv->base, session_idle_cb, s);
	s->cmdsize = s->cfg->limits.command_line + 513;
	s->cmdbuf = xmalloc(s->cmdsize);
	/* haproxy's proxy-protocol.txt: the header comes first, and the
	 * receiver sends nothing before it has read it, not even the
	 * banner. */
	s->state = listener->proxy_protocol ? SESSION_PROXY : SESSION_CONNECT;
	session_bev_attach(s);
	TAILQ_INSERT_TAIL(&srv->sessions, s, entry);
	srv->nsessions++;
	if (s->state == SESSION_PROXY)
		session_proxy_begin(s, fd);
	else
		session_start(s);
}

void
session_shutdown(struct session *s)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);

	/* XXX a TLS socket takes records, and a half-written one may be
	 * pending inside OpenSSL: such a client gets no 421, only the
	 * close. */
	if (session_tls_wrapped(s)) {
		s->close_reason = s->closing ? s->close_reason : "shutdown";
		session_free(s);
		return;
	}
	if (!s->closing && !s->client_gone) {
		/* The loop has stopped: one non-blocking write, no more. */
		evbuffer_add_printf(out,
		                    "421 4.3.2 %s service shutting down, try "
		                    "again later\r\n",
		                    s->fs.hostname);
		s->close_reason = "shutdown";
	}
	evbuffer_write(out, bufferevent_getfd(s->bev));
	session_free(s);
}

static void
session_free(struct session *s)
{
	struct server *srv = s->srv;

	/* A transaction with recipients that never ended (the client left
	 * mid-DATA, say) gets its message line too. */
	if (s->in_txn && !s->txn_reported && s->txn.nrcpts > 0)
		session_log_txn(s, "aborted", "");
	session_report_abort(s);
	log_info("%s disconnect reason=%s messages=%u errors=%u "
	         "duration=%.0fs",
	         s->fs.id, s->close_reason ? s->close_reason : "unknown",
	         s->messages, s->errors, elapsed_since(s->fs.start));
	upstream_free(&s->upstream);
	upstream_free(&s->upstream_next);
	filter_txn_deinit(&s->txn);
	spool_free(&s->spool);
	session_replay_forget(s);
	free(s->hold_file);
	session_tls_free(s);
	bufferevent_free(s->bev);
	event_free(s->ev_free);
	event_free(s->ev_idle);
	free(s->cmdbuf);
	if (s->admitted)
		policy_clients_leave(srv->clients, &s->peer);
	session_proxy_free(s);
	session_auth_free(s);
	TAILQ_REMOVE(&srv->sessions, s, entry);
	srv->nsessions--;
	config_unref(&s->cfg);
	free(s);
	server_session_gone(srv);
}
