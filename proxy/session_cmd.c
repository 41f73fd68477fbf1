/*
 * session_cmd.c - one handler per SMTP verb (RFC 5321 4.1).
 *
 * Syntax, sequence and limits are checked here, with postern's own
 * replies.  What passes goes through the filter chain, then to the
 * upstream in lockstep, and the client gets the upstream's reply
 * verbatim.  Client mistakes count towards the error limit; the
 * upstream's refusals do not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/bufferevent.h>

#include "proxy/config.h"
#include "proxy/server.h"
#include "proxy/session.h"
#include "proxy/upstream.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/xalloc.h"

/* RFC 3461 5: DSN parameters lengthen MAIL by 100 and RCPT by 500. */
#define DSN_MAIL_EXTRA 100
#define DSN_RCPT_EXTRA 500

typedef void cmd_handler(struct session *s, char *args);

static void
cmd_syntax(struct session *s, const char *reason)
{
	session_reply(s, 501, "5.5.4", "%s", reason);
	session_error(s);
}

static void
cmd_sequence(struct session *s, const char *text)
{
	session_reply(s, 503, "5.5.1", "%s", text);
	session_error(s);
}

/* The command would not fit the line postern sends upstream. */
static int
cmd_too_long(struct session *s)
{
	session_reply(s, 500, "5.5.2", "line too long");
	session_error(s);
	return -1;
}

/* The upstream died while a command waited for it. */
static void
cmd_upstream_failed(struct session *s, const char *reason)
{
	log_warning("%s upstream failed reason=\"%s\"", s->fs.id, reason);
	session_close_421(s, "4.4.2", "upstream-lost", SESSION_UPSTREAM_LOST);
}

void
session_greet(struct session *s)
{
	if (s->srv->draining) {
		session_close_421(s, "4.3.2", "shutdown",
		                  "service shutting down, try again later");
		return;
	}
	s->state = SESSION_COMMAND;
	session_reply(s, 220, NULL, "%s ESMTP postern", s->fs.hostname);
	session_resume(s);
}

/* HELO and EHLO */

static void
ehlo_reply(struct session *s)
{
	const struct smtp_caps *up = upstream_caps(s->upstream);
	unsigned long long size = s->cfg->limits.message_size;
	char text[1024];
	size_t n;

	if (!s->esmtp) {
		session_reply(s, 250, NULL, "%s", s->fs.hostname);
		return;
	}
	if (up->size != 0 && (size == 0 || up->size < size))
		size = up->size;
	s->size_offered = size;
	/* Offer an extension only when we carry it end to end and the
	 * upstream has it too; PIPELINING is ours alone. */
	s->ehlo_flags = SMTP_CAP_PIPELINING | SMTP_CAP_SIZE |
	                (up->flags & (SMTP_CAP_8BITMIME | SMTP_CAP_ENHANCED |
	                              SMTP_CAP_SMTPUTF8 | SMTP_CAP_DSN));
	n = (size_t)snprintf(text, sizeof(text), "%s\nPIPELINING\n",
	                     s->fs.hostname);
	n += (size_t)snprintf(text + n, sizeof(text) - n, "SIZE %llu\n", size);
	if (s->ehlo_flags & SMTP_CAP_8BITMIME)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "8BITMIME\n");
	if (s->ehlo_flags & SMTP_CAP_SMTPUTF8)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "SMTPUTF8\n");
	if (s->ehlo_flags & SMTP_CAP_DSN)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "DSN\n");
	if (session_tls_offered(s))
		n += (size_t)snprintf(text + n, sizeof(text) - n, "STARTTLS\n");
	if (session_requiretls_offered(s)) {
		s->ehlo_flags |= SMTP_CAP_REQUIRETLS;
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		                      "REQUIRETLS\n");
	}
	if (netlist_match(s->cfg->xclient_networks, &s->peer))
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		                      "XCLIENT NAME ADDR PORT PROTO HELO "
		                      "LOGIN\nXFORWARD NAME ADDR PORT PROTO "
		                      "HELO IDENT SOURCE\n");
	if (session_auth_offered(s))
		s->ehlo_flags |= SMTP_CAP_AUTH;
	if (s->fs.login[0] == '\0' && (s->ehlo_flags & SMTP_CAP_AUTH)) {
		char mechs[64];

		session_auth_mechs(s, mechs, sizeof(mechs));
		n += (size_t)snprintf(text + n, sizeof(text) - n, "AUTH%s\n",
		                      mechs);
	}
	if (s->ehlo_flags & SMTP_CAP_ENHANCED)
		snprintf(text + n, sizeof(text) - n, "ENHANCEDSTATUSCODES");
	else if (n > 0)
		text[n - 1] = '\0';
	session_reply(s, 250, NULL, "%s", text);
}

static void
hello_upstream_cb(void *arg, const struct smtp_reply *reply, const char *reason)
{
	struct session *s = arg;

	if (reply == NULL) {
		cmd_upstream_failed(s, reason);
		return;
	}
	if (reply->code / 100 != 2) {
		session_relay(s, reply);
		session_resume(s);
		return;
	}
	s->helo_done = 1;
	ehlo_reply(s);
	session_resume(s);
}

static void
hello_verdict(struct session *s, const struct filter_verdict *v)
{
	if (v->action == FILTER_REJECT || v->action == FILTER_TEMPFAIL) {
		char helo[300];

		log_info("%s reject phase=helo filter=%s helo=%s", s->fs.id,
		         v->filter ? v->filter : "-",
		         log_escape_str(helo, sizeof(helo), s->fs.helo));
		session_reply_verdict(s, v);
		session_resume(s);
		return;
	}
	upstream_hello(s->upstream, hello_upstream_cb);
}

static void
hello_rset_cb(void *arg, const struct smtp_reply *reply, const char *reason)
{
	struct session *s = arg;

	if (reply == NULL) {
		cmd_upstream_failed(s, reason);
		return;
	}
	session_filters(s, FILTER_PHASE_HELO, hello_verdict);
}

static void
cmd_hello(struct session *s, char *args, int esmtp)
{
	const char *error;
	char *name;

	if (smtp_parse_helo(args, &name, &error) < 0) {
		cmd_syntax(s, error);
		return;
	}
	snprintf(s->fs.helo, sizeof(s->fs.helo), "%s", name);
	s->esmtp = esmtp;
	session_proto_update(s);
	s->helo_done = 0;
	s->busy = 1;
	/* RFC 5321 4.1.4: HELO/EHLO resets any transaction, and the
	 * upstream must forget it too before XCLIENT or EHLO. */
	if (s->in_txn) {
		session_txn_reset(s);
		upstream_command(s->upstream, "RSET", 0, hello_rset_cb);
		return;
	}
	session_filters(s, FILTER_PHASE_HELO, hello_verdict);
}

static void
cmd_helo(struct session *s, char *args)
{
	cmd_hello(s, args, 0);
}

static void
cmd_ehlo(struct session *s, char *args)
{
	cmd_hello(s, args, 1);
}

/* MAIL */

/*
 * Check MAIL's parameters against what we offered; write the command
 * for the upstream into line.  Returns 0, or -1 after replying.
 */
static int
mail_params(struct session *s, const struct smtp_path_cmd *p, char *line,
            size_t size)
{
	const char *error = NULL;
	unsigned long long msize;
	size_t i, n;

	n = (size_t)snprintf(line, size, "MAIL FROM:<%s>", p->address);
	s->requiretls = 0;
	for (i = 0; i < p->nparams; i++) {
		const struct smtp_param *pa = &p->params[i];
		const char *k = pa->keyword;
		unsigned int need = 0;
		int r = -1;

		/* Whether it can be honoured is known only once the
		 * transaction's upstream is, and then it is 550 5.7.30,
		 * never a 555 (RFC 8689). */
		if (strcasecmp(k, "REQUIRETLS") == 0) {
			if (smtp_param_requiretls(pa->value, &error) < 0) {
				cmd_syntax(s, error);
				return -1;
			}
			s->requiretls = 1;
			n +=
			    (size_t)snprintf(line + n, size - n, " REQUIRETLS");
			if (n >= size)
				return cmd_too_long(s);
			continue;
		}
		if (strcasecmp(k, "SIZE") == 0) {
			need = SMTP_CAP_SIZE;
			r = pa->value
			        ? smtp_param_size(pa->value, &msize, &error)
			        : -1;
			if (r == 0 && s->size_offered != 0 &&
			    msize > s->size_offered) {
				session_reply(s, 552, "5.3.4",
				              "message size exceeds fixed "
				              "limit");
				return -1;
			}
		} else if (strcasecmp(k, "BODY") == 0) {
			need = SMTP_CAP_8BITMIME;
			r = pa->value ? smtp_param_body(pa->value, &error) : -1;
		} else if (strcasecmp(k, "SMTPUTF8") == 0) {
			need = SMTP_CAP_SMTPUTF8;
			r = pa->value == NULL ? 0 : -1;
		} else if (strcasecmp(k, "RET") == 0) {
			need = SMTP_CAP_DSN;
			r = pa->value ? smtp_param_ret(pa->value, &error) : -1;
		} else if (strcasecmp(k, "ENVID") == 0) {
			need = SMTP_CAP_DSN;
			r = pa->value ? smtp_param_envid(pa->value, &error)
			              : -1;
		} else if (strcasecmp(k, "AUTH") == 0) {
			/* RFC 4954 5: passed on as given, to the upstream
			 * that checked the credentials and offers AUTH. */
			need = SMTP_CAP_AUTH;
			r = pa->value != NULL && pa->value[0] != '\0' ? 0 : -1;
		}
		if (need == 0 || !(s->ehlo_flags & need)) {
			session_reply(s, 555, "5.5.4",
			              "unsupported MAIL parameter");
			session_error(s);
			return -1;
		}
		if (r < 0) {
			cmd_syntax(s, error ? error : "bad MAIL parameter");
			return -1;
		}
		/* SIZE is ours to enforce; it goes on only when the upstream
		 * knows it too. */
		if (need == SMTP_CAP_SIZE &&
		    !(upstream_caps(s->upstream)->flags & SMTP_CAP_SIZE))
			continue;
		n += (size_t)snprintf(line + n, size - n, " %s%s%s", k,
		                      pa->value ? "=" : "",
		                      pa->value ? pa->value : "");
		if (n >= size)
			return cmd_too_long(s);
	}
	return 0;
}

static void
mail_upstream_cb(void *arg, const struct smtp_reply *reply, const char *reason)
{
	struct session *s = arg;

	if (reply == NULL) {
		session_report(s, REPORT_TEMPFAILED, REPORT_REASON_UPSTREAM,
		               NULL, 421, "4.4.2 " SESSION_UPSTREAM_LOST, 0);
		cmd_upstream_failed(s, reason);
		return;
	}
	session_relay(s, reply);
	if (reply->code / 100 == 2) {
		s->in_txn = 1;
		session_replay_keep(s, 1);
	} else {
		char summary[256], from[SMTP_PATH_MAX * 2];

		log_info("%s reject phase=mail from=<%s> upstream=\"%s\"",
		         s->fs.id,
		         log_escape_str(from, sizeof(from), s->txn.mail_from),
		         smtp_reply_summary(reply, summary, sizeof(summary)));
		session_report_upstream(s, reply);
		filter_txn_deinit(&s->txn);
	}
	session_resume(s);
}

static void
mail_verdict(struct session *s, const struct filter_verdict *v)
{
	char from[SMTP_PATH_MAX * 2], why[FILTER_TEXT_MAX * 2];

	if (v->action == FILTER_REJECT || v->action == FILTER_TEMPFAIL) {
		log_info("%s reject phase=mail from=<%s> filter=%s action=%s "
		         "client=%s%s%s reason=\"%s\"",
		         s->fs.id,
		         log_escape_str(from, sizeof(from), s->txn.mail_from),
		         v->filter ? v->filter : "-",
		         filter_action_name(v->action), s->fs.client_ip,
		         s->txn.notes[0] ? " " : "", s->txn.notes,
		         log_escape_str(why, sizeof(why), v->text));
		session_reply_verdict(s, v);
		session_report_verdict(s, v);
		filter_txn_deinit(&s->txn);
		session_resume(s);
		return;
	}
	if (v->action == FILTER_DISCARD)
		s->discard = 1;
	session_mail_send(s, mail_upstream_cb);
}

static void
cmd_mail(struct session *s, char *args)
{
	struct smtp_path_cmd p;
	const char *error;
	char line[SESSION_UPLINE_MAX];

	if (!s->helo_done) {
		cmd_sequence(s, "send HELO or EHLO first");
		return;
	}
	if (s->in_txn) {
		cmd_sequence(s, "nested MAIL command");
		return;
	}
	if (smtp_parse_mail(args, &p, &error) < 0) {
		cmd_syntax(s, error);
		return;
	}
	if (p.nparams > 0 && !s->esmtp) {
		session_reply(s, 555, "5.5.4", "parameters need EHLO");
		session_error(s);
		return;
	}
	if (mail_params(s, &p, line, sizeof(line)) < 0)
		return;
	if (p.utf8 && smtp_param_find(&p, "SMTPUTF8") == NULL) {
		/* RFC 6531 3.5 */
		session_reply(s, 553, "5.6.7",
		              "non-ASCII address needs SMTPUTF8");
		session_error(s);
		return;
	}
	filter_txn_init(&s->txn, &s->fs);
	session_report_begin(s);
	filter_txn_set_sender(&s->txn, p.address);
	s->txn.smtputf8 = smtp_param_find(&p, "SMTPUTF8") != NULL;
	gettimeofday(&s->start_txn, NULL);
	snprintf(s->upline, sizeof(s->upline), "%s", line);
	s->busy = 1;
	session_filters(s, FILTER_PHASE_MAIL, mail_verdict);
}

/* RCPT */

static int
rcpt_params(struct session *s, const struct smtp_path_cmd *p, char *line,
            size_t size)
{
	const char *error = NULL;
	size_t i, n;

	n = (size_t)snprintf(line, size, "RCPT TO:<%s>", p->address);
	for (i = 0; i < p->nparams; i++) {
		const struct smtp_param *pa = &p->params[i];
		int r = -1;

		if (!(s->ehlo_flags & SMTP_CAP_DSN) || pa->value == NULL) {
			r = -2;
		} else if (strcasecmp(pa->keyword, "NOTIFY") == 0) {
			r = smtp_param_notify(pa->value, &error);
		} else if (strcasecmp(pa->keyword, "ORCPT") == 0) {
			r = smtp_param_orcpt(pa->value, &error);
		} else {
			r = -2;
		}
		if (r == -2) {
			session_reply(s, 555, "5.5.4",
			              "unsupported RCPT parameter");
			session_error(s);
			return -1;
		}
		if (r < 0) {
			cmd_syntax(s, error ? error : "bad RCPT parameter");
			return -1;
		}
		n += (size_t)snprintf(line + n, size - n, " %s=%s", pa->keyword,
		                      pa->value);
		if (n >= size)
			return cmd_too_long(s);
	}
	return 0;
}

static void
rcpt_log_reject(struct session *s, const char *who, const char *what)
{
	char to[SMTP_PATH_MAX * 2];

	log_info("%s reject phase=rcpt to=<%s> %s=\"%s\"", s->fs.id,
	         log_escape_str(to, sizeof(to), s->txn.rcpt), who, what);
}

static void
rcpt_upstream_cb(void *arg, const struct smtp_reply *reply, const char *reason)
{
	struct session *s = arg;
	char summary[256];

	if (reply == NULL) {
		session_report(s, REPORT_TEMPFAILED, REPORT_REASON_UPSTREAM,
		               NULL, 421, "4.4.2 " SESSION_UPSTREAM_LOST, 0);
		cmd_upstream_failed(s, reason);
		return;
	}
	session_relay(s, reply);
	if (reply->code / 100 == 2) {
		filter_txn_add_rcpt(&s->txn, s->txn.rcpt);
		session_replay_keep(s, 0);
	} else
		session_report_rcpt_reply(s, reply);
	if (reply->code / 100 != 2)
		rcpt_log_reject(
		    s, "upstream",
		    smtp_reply_summary(reply, summary, sizeof(summary)));
	session_resume(s);
}

static void
rcpt_verdict(struct session *s, const struct filter_verdict *v)
{
	if (v->action == FILTER_REJECT || v->action == FILTER_TEMPFAIL) {
		rcpt_log_reject(s, "filter", v->filter ? v->filter : "-");
		session_report_rcpt_verdict(s, v);
		session_reply_verdict(s, v);
		session_resume(s);
		return;
	}
	if (v->action == FILTER_DISCARD)
		s->discard = 1;
	upstream_command(s->upstream, s->upline, 0, rcpt_upstream_cb);
}

static void
cmd_rcpt(struct session *s, char *args)
{
	struct smtp_path_cmd p;
	const char *error;
	char line[SESSION_UPLINE_MAX];

	if (!s->in_txn) {
		cmd_sequence(s, "need MAIL command");
		return;
	}
	if (s->cfg->limits.recipients != 0 &&
	    s->txn.nrcpts >= s->cfg->limits.recipients) {
		/* RFC 5321 4.5.3.1.10: 452, the client sends the rest
		 * in another transaction. */
		session_reply(s, 452, "4.5.3", "too many recipients");
		session_report_rcpt(s, 452, REPORT_REASON_LIMITS, NULL,
		                    "4.5.3 too many recipients", 0);
		return;
	}
	if (smtp_parse_rcpt(args, &p, &error) < 0) {
		cmd_syntax(s, error);
		return;
	}
	if (p.utf8 && !s->txn.smtputf8) {
		session_reply(s, 553, "5.6.7",
		              "non-ASCII address needs SMTPUTF8");
		session_error(s);
		return;
	}
	if (rcpt_params(s, &p, line, sizeof(line)) < 0)
		return;
	free(s->txn.rcpt);
	s->txn.rcpt = xstrdup(p.address);
	snprintf(s->upline, sizeof(s->upline), "%s", line);
	s->busy = 1;
	session_filters(s, FILTER_PHASE_RCPT, rcpt_verdict);
}

/* DATA */

static void
cmd_data(struct session *s, char *args)
{
	if (!s->in_txn) {
		cmd_sequence(s, "need MAIL command");
		return;
	}
	if (s->txn.nrcpts == 0) {
		session_reply(s, 554, "5.5.1", "no valid recipients");
		return;
	}
	if (*args != '\0') {
		cmd_syntax(s, "DATA takes no arguments");
		return;
	}
	session_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	session_data_begin(s, s->last_crlf);
}

/* RSET, NOOP, QUIT, VRFY, EXPN, HELP */

static void
rset_upstream_cb(void *arg, const struct smtp_reply *reply, const char *reason)
{
	struct session *s = arg;

	if (reply == NULL) {
		cmd_upstream_failed(s, reason);
		return;
	}
	session_relay(s, reply);
	session_resume(s);
}

static void
cmd_rset(struct session *s, char *args)
{
	if (*args != '\0') {
		cmd_syntax(s, "RSET takes no arguments");
		return;
	}
	if (!s->in_txn) {
		session_reply(s, 250, "2.0.0", "Ok");
		return;
	}
	session_txn_reset(s);
	s->busy = 1;
	upstream_command(s->upstream, "RSET", 0, rset_upstream_cb);
}

static void
cmd_noop(struct session *s, char *args)
{
	session_reply(s, 250, "2.0.0", "Ok");
}

static void
cmd_quit(struct session *s, char *args)
{
	session_reply(s, 221, "2.0.0", "%s closing connection", s->fs.hostname);
	session_close(s, "quit");
}

static void
cmd_vrfy(struct session *s, char *args)
{
	/* RFC 5321 3.5.3: 252 when we will not verify but will try. */
	session_reply(s, 252, "2.5.0",
	              "cannot verify the user, but will try delivery");
}

static void
cmd_expn(struct session *s, char *args)
{
	session_reply(s, 502, "5.5.1", "EXPN not available");
}

static void
cmd_help(struct session *s, char *args)
{
	session_reply(s, 214, "2.0.0",
	              "commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT "
	              "VRFY HELP\nsee RFC 5321");
}

static void
cmd_not_implemented(struct session *s, char *args)
{
	session_reply(s, 502, "5.5.1", "command not implemented");
	session_error(s);
}

/* XCLIENT */

/* What XCLIENT or XFORWARD said about the client replaces postern's
 * own view of it. */
static void
xclient_apply(struct session *s, const struct smtp_xclient *x)
{
	struct filter_session *fs = &s->fs;
	struct netaddr a;
	unsigned int port = netaddr_port(&fs->client);

	/* [UNAVAILABLE] and [TEMPUNAVAIL] are kept as sent: the upstream
	 * must see them, not postern's own idea of the client. */
	if (x->addr != NULL && x->addr[0] == '[') {
		memset(&fs->client, 0, sizeof(fs->client));
		snprintf(fs->client_ip, sizeof(fs->client_ip), "%s", x->addr);
	} else if (x->addr != NULL && netaddr_parse_ip(x->addr, &a) == 0) {
		fs->client = a;
		netaddr_set_port(&fs->client, port);
		netaddr_ip_str(&fs->client, fs->client_ip,
		               sizeof(fs->client_ip));
	}
	if (x->port != NULL) /* port 0 stands for unknown */
		netaddr_set_port(&fs->client, x->port[0] == '['
		                                  ? 0
		                                  : (unsigned)atoi(x->port));
	if (x->name != NULL)
		snprintf(fs->client_name, sizeof(fs->client_name), "%s",
		         x->name);
	if (x->helo != NULL)
		snprintf(fs->helo, sizeof(fs->helo), "%s",
		         x->helo[0] == '[' ? "" : x->helo);
	/* XFORWARD may name "ESMTPS" or "ESMTPSA": the upstream's XCLIENT
	 * takes only SMTP or ESMTP. */
	if (x->proto != NULL)
		snprintf(fs->proto, sizeof(fs->proto), "%s",
		         strncasecmp(x->proto, "ESMTP", 5) == 0 ? "ESMTP"
		                                                : "SMTP");
	if (x->login != NULL)
		snprintf(fs->login, sizeof(fs->login), "%s",
		         x->login[0] == '[' ? "" : x->login);
}

static void
cmd_xclient(struct session *s, char *args)
{
	struct smtp_xclient x;
	const char *error;
	char addr[NETADDR_STRLEN], name[300];

	if (!netlist_match(s->cfg->xclient_networks, &s->peer)) {
		session_reply(s, 550, "5.7.0", "XCLIENT not authorized");
		session_error(s);
		return;
	}
	if (s->in_txn) {
		cmd_sequence(s, "mail transaction in progress");
		return;
	}
	if (smtp_parse_xclient(args, &x, &error) < 0) {
		cmd_syntax(s, error);
		return;
	}
	xclient_apply(s, &x);
	session_classify(s);
	log_info("%s xclient client=%s name=%s direction=%s", s->fs.id,
	         netaddr_str(&s->fs.client, addr, sizeof(addr)),
	         log_escape_str(name, sizeof(name), s->fs.client_name),
	         s->fs.outbound ? "outbound" : "inbound");
	/* As after a new connection: greet again, expect EHLO. */
	s->helo_done = 0;
	s->esmtp = 0;
	s->busy = 1;
	session_reconnect_filters(s);
}

/* XFORWARD */

static void
xforward_upstream_cb(void *arg, const struct smtp_reply *reply,
                     const char *reason)
{
	struct session *s = arg;

	if (reply == NULL) {
		cmd_upstream_failed(s, reason);
		return;
	}
	if (reply->code / 100 != 2) {
		/* The upstream refused our new EHLO and has forgotten the
		 * old one: the client must begin again with EHLO. */
		s->helo_done = 0;
		session_relay(s, reply);
		session_resume(s);
		return;
	}
	session_reply(s, 250, "2.0.0", "Ok");
	session_resume(s);
}

/*
 * Postfix's smtpd_proxy_filter and content filters before a second MTA
 * tell the real client with XFORWARD after EHLO.  Postern takes it as
 * the client for its filters, its Received header and the upstream,
 * which hears it at once: XCLIENT (or XFORWARD at MAIL) and a new EHLO.
 *
 * NOTE: Postfix forgets XFORWARD attributes at the end of each
 * transaction; postern keeps them until the session ends or the next
 * XCLIENT or XFORWARD.  smtpd_proxy_filter opens one connection per
 * transaction, and the sender is a trusted host either way.
 */
static void
cmd_xforward(struct session *s, char *args)
{
	struct smtp_xclient x;
	const char *error;
	char addr[NETADDR_STRLEN], name[300], helo[300], ident[300];

	if (!netlist_match(s->cfg->xclient_networks, &s->peer)) {
		session_reply(s, 550, "5.7.0", "XFORWARD not authorized");
		session_error(s);
		return;
	}
	if (!s->helo_done) {
		cmd_sequence(s, "send EHLO first");
		return;
	}
	if (s->in_txn) {
		cmd_sequence(s, "mail transaction in progress");
		return;
	}
	if (smtp_parse_xforward(args, &x, &error) < 0) {
		cmd_syntax(s, error);
		return;
	}
	xclient_apply(s, &x);
	session_classify(s);
	log_info("%s xforward client=%s name=%s helo=%s ident=%s "
	         "direction=%s",
	         s->fs.id, netaddr_str(&s->fs.client, addr, sizeof(addr)),
	         log_escape_str(name, sizeof(name), s->fs.client_name),
	         log_escape_str(helo, sizeof(helo), s->fs.helo),
	         log_escape_str(ident, sizeof(ident), x.ident ? x.ident : "-"),
	         s->fs.outbound ? "outbound" : "inbound");
	s->busy = 1;
	upstream_hello(s->upstream, xforward_upstream_cb);
}

static const struct {
	enum smtp_verb verb;
	cmd_handler *handler;
} cmd_table[] = {
    {SMTP_VERB_HELO, cmd_helo},
    {SMTP_VERB_EHLO, cmd_ehlo},
    {SMTP_VERB_MAIL, cmd_mail},
    {SMTP_VERB_RCPT, cmd_rcpt},
    {SMTP_VERB_DATA, cmd_data},
    {SMTP_VERB_RSET, cmd_rset},
    {SMTP_VERB_NOOP, cmd_noop},
    {SMTP_VERB_QUIT, cmd_quit},
    {SMTP_VERB_VRFY, cmd_vrfy},
    {SMTP_VERB_EXPN, cmd_expn},
    {SMTP_VERB_HELP, cmd_help},
    {SMTP_VERB_XCLIENT, cmd_xclient},
    {SMTP_VERB_XFORWARD, cmd_xforward},
    {SMTP_VERB_BDAT, cmd_not_implemented},
    {SMTP_VERB_STARTTLS, session_cmd_starttls},
    {SMTP_VERB_AUTH, session_auth_command},
    {SMTP_VERB_ETRN, cmd_not_implemented},
};

/* The longest line a verb may send, CRLF included. */
static size_t
cmd_line_limit(const struct session *s, enum smtp_verb verb)
{
	size_t limit = s->cfg->limits.command_line;

	if (verb == SMTP_VERB_MAIL && (s->ehlo_flags & SMTP_CAP_DSN))
		limit += DSN_MAIL_EXTRA;
	if (verb == SMTP_VERB_RCPT && (s->ehlo_flags & SMTP_CAP_DSN))
		limit += DSN_RCPT_EXTRA;
	return limit;
}

void
session_command(struct session *s, char *line, size_t len)
{
	struct smtp_cmd cmd;
	const char *error;
	size_t i;

	if (memchr(line, '\0', len) != NULL) {
		session_reply(s, 500, "5.5.2", "NUL octet in command");
		session_error(s);
		return;
	}
	if (smtp_cmd_parse(line, len, &cmd, &error) < 0) {
		session_reply(s, 500, "5.5.2", "%s", error);
		session_error(s);
		return;
	}
	if (len + 2 > cmd_line_limit(s, cmd.verb)) {
		session_reply(s, 500, "5.5.2", "line too long");
		session_error(s);
		return;
	}
	log_trace(LOG_TRACE_SMTP, "%s command %s", s->fs.id,
	          cmd.name ? cmd.name : "unknown");
	for (i = 0; i < sizeof(cmd_table) / sizeof(cmd_table[0]); i++) {
		if (cmd_table[i].verb == cmd.verb) {
			cmd_table[i].handler(s, cmd.args);
			return;
		}
	}
	session_reply(s, 500, "5.5.1", "command not recognized");
	session_error(s);
}
