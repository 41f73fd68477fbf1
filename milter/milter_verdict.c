/*
 * milter_verdict.c - running the chain for a milter callback and
 * turning its verdict into the milter's answer.
 *
 * The chain runs inline (no worker pool: libmilter gives each MTA
 * connection a thread).  Refusals carry postern's codes and texts to
 * the MTA through smfi_setreply(); a discard or hold asked for before
 * the end of the message is remembered for it.  Also the transaction's
 * log line and its end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "milter/milter_private.h"
#include "proxy/config.h"
#include "util/log.h"
#include "util/spool.h"

static const char *const phase_names[] = {"connect", "helo", "mail", "rcpt",
                                          "eom"};

/* libmilter's calls take char * for text they only read. */
const char *
milter_macro(SMFICTX *ctx, const char *name)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%s", name);
	return smfi_getsymval(ctx, buf);
}

/* Reply text for smfi_setreply(): printable ASCII, '%' doubled. */
static void
milter_reply_text(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (; *src != '\0' && n + 3 < size; src++) {
		unsigned char ch = (unsigned char)*src;

		if (ch == '%')
			dst[n++] = '%';
		dst[n++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
	}
	dst[n] = '\0';
}

sfsistat
milter_reply(SMFICTX *ctx, const struct filter_verdict *v)
{
	char code[8], ecode[16], text[FILTER_TEXT_MAX * 2];
	int n = v->code;
	const char *e = v->ecode, *t = v->text;

	if (v->action == FILTER_REJECT) {
		n = n >= 500 && n < 600 ? n : 550;
		e = e[0] == '5' ? e : "5.7.1";
		t = t[0] ? t : "rejected by policy";
	} else if (v->action == FILTER_TEMPFAIL) {
		n = n >= 400 && n < 500 ? n : 451;
		e = e[0] == '4' ? e : "4.7.1";
		t = t[0] ? t : "temporarily rejected, try again later";
	} else {
		return SMFIS_CONTINUE;
	}
	snprintf(code, sizeof(code), "%d", n);
	snprintf(ecode, sizeof(ecode), "%s", e);
	milter_reply_text(text, sizeof(text), t);
	if (smfi_setreply(ctx, code, ecode, text) != MI_SUCCESS)
		log_warning("milter setreply failed code=%s", code);
	return v->action == FILTER_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
}

sfsistat
milter_on_error(SMFICTX *ctx, struct milter_conn *c, const char *what)
{
	log_error("%s milter error=\"%s\" action=%s", c->fs.id, what,
	          c->cfg->milter->on_error_accept ? "accept" : "tempfail");
	if (c->cfg->milter->on_error_accept)
		return SMFIS_ACCEPT;
	smfi_setreply(ctx, (char[]){"451"}, (char[]){"4.3.0"},
	              (char[]){"local error, try again later"});
	return SMFIS_TEMPFAIL;
}

static void
milter_log_reject(struct milter_conn *c, enum filter_phase phase,
                  const struct filter_verdict *v)
{
	char to[256] = "";

	if (phase == FILTER_PHASE_RCPT && c->txn.rcpt != NULL)
		log_escape_str(to, sizeof(to), c->txn.rcpt);
	log_info("%s reject phase=%s%s%s%s filter=%s action=%s", c->fs.id,
	         phase_names[phase], to[0] ? " to=<" : "", to, to[0] ? ">" : "",
	         v->filter ? v->filter : "-", filter_action_name(v->action));
}

struct milter_run {
	struct filter_verdict *v;
	int done;
};

static void
milter_run_done(void *arg, const struct filter_verdict *v)
{
	struct milter_run *r = arg;

	*r->v = *v;
	r->done = 1;
}

int
milter_chain(struct milter_conn *c, enum filter_phase phase,
             struct filter_verdict *v)
{
	struct filter_txn *t = phase >= FILTER_PHASE_MAIL ? &c->txn : NULL;
	struct milter_run r = {v, 0};

	memset(v, 0, sizeof(*v));
	filter_chain_run(c->cfg->chain, NULL, phase, &c->fs, t, milter_run_done,
	                 &r);
	return r.done ? 0 : -1;
}

sfsistat
milter_run_phase(SMFICTX *ctx, struct milter_conn *c, enum filter_phase phase)
{
	struct filter_verdict v;
	char text[sizeof(v.ecode) + sizeof(v.text) + 1];

	if (milter_chain(c, phase, &v) < 0)
		return milter_on_error(ctx, c, "filter chain did not finish");
	switch (v.action) {
	case FILTER_REJECT:
	case FILTER_TEMPFAIL:
		milter_log_reject(c, phase, &v);
		if (phase == FILTER_PHASE_MAIL)
			milter_report_verdict(c, &v);
		else if (phase == FILTER_PHASE_RCPT)
			milter_report_rcpt(
			    c, v.action == FILTER_REJECT ? 550 : 451,
			    report_reason_of_filter(v.filter), v.filter,
			    filter_verdict_text(&v, text, sizeof(text)));
		return milter_reply(ctx, &v);
	case FILTER_DISCARD:
		c->discard = 1;
		break;
	case FILTER_HOLD:
		c->hold = 1;
		break;
	default:
		break;
	}
	return SMFIS_CONTINUE;
}

void
milter_log_txn(struct milter_conn *c, const char *result)
{
	char from[128], rcpts[256], one[128], tls[160] = "";
	size_t i, used = 0;
	const struct filter_tls *t = &c->fs.tls;

	log_escape_str(from, sizeof(from),
	               c->txn.mail_from ? c->txn.mail_from : "");
	rcpts[0] = '\0';
	for (i = 0; i < c->txn.nrcpts && used + 4 < sizeof(rcpts); i++) {
		log_escape_str(one, sizeof(one), c->txn.rcpts[i]);
		used += (size_t)snprintf(rcpts + used, sizeof(rcpts) - used,
		                         "%s<%s>", i ? "," : "", one);
		if (used >= sizeof(rcpts))
			used = sizeof(rcpts) - 1;
	}
	if (t->version[0] != '\0') {
		log_escape_str(one, sizeof(one), t->cipher);
		used = (size_t)snprintf(tls, sizeof(tls), " tls=%s cipher=%s",
		                        t->version, one);
		if (t->peer_subject[0] != '\0' && used < sizeof(tls))
			snprintf(tls + used, sizeof(tls) - used,
			         " client_cert=yes");
	}
	log_info("%s message txn=%s queue_id=%s from=<%s> nrcpt=%zu rcpts=%s "
	         "size=%zu%s result=%s%s%s elapsed=%.3fs",
	         c->fs.id, c->txn.id, c->queue_id[0] ? c->queue_id : "-", from,
	         c->txn.nrcpts, rcpts, c->txn.size, tls, result,
	         c->txn.notes[0] ? " " : "", c->txn.notes,
	         log_elapsed(&c->start_txn));
}

void
milter_report(struct milter_conn *c, enum report_result result,
              enum report_reason reason, const char *filter, int code,
              const char *text)
{
	struct report_txn r;
	char ecode[16];

	if (!c->in_txn || c->reported)
		return;
	c->reported = 1;
	memset(&r, 0, sizeof(r));
	report_txn_fill(&r, &c->txn);
	r.when = time(NULL);
	r.session_id = c->fs.id;
	r.front = "milter";
	r.listener = "milter";
	r.outbound = c->fs.outbound;
	r.client_ip = c->fs.client_ip;
	r.queue_id = c->queue_id[0] ? c->queue_id : NULL;
	r.result = result;
	r.reason = reason;
	r.filter = filter;
	r.code = code;
	r.text = report_split_ecode(text, ecode, sizeof(ecode));
	r.ecode = ecode[0] != '\0' ? ecode : NULL;
	r.elapsed = log_elapsed(&c->start_txn);
	report_txn(&r);
}

void
milter_report_verdict(struct milter_conn *c, const struct filter_verdict *v)
{
	static const struct {
		enum report_result result;
		int code, low;
	} map[] = {
	    [FILTER_CONTINUE] = {REPORT_RELAYED, 250, 200},
	    [FILTER_ACCEPT] = {REPORT_RELAYED, 250, 200},
	    [FILTER_REJECT] = {REPORT_REJECTED, 550, 500},
	    [FILTER_TEMPFAIL] = {REPORT_TEMPFAILED, 451, 400},
	    [FILTER_DISCARD] = {REPORT_DISCARDED, 250, 200},
	    [FILTER_HOLD] = {REPORT_HELD, 250, 200},
	};
	int code = map[v->action].code;
	char text[sizeof(v->ecode) + sizeof(v->text) + 1];

	if (v->code >= map[v->action].low && v->code < map[v->action].low + 100)
		code = v->code;
	filter_verdict_text(v, text, sizeof(text));
	milter_report(c, map[v->action].result,
	              report_reason_of_filter(v->filter), v->filter, code,
	              text[0] != '\0' ? text : NULL);
}

void
milter_report_error(struct milter_conn *c)
{
	if (c->cfg->milter->on_error_accept)
		milter_report(c, REPORT_RELAYED, REPORT_REASON_NONE, NULL, 250,
		              NULL);
	else
		milter_report(c, REPORT_TEMPFAILED, REPORT_REASON_LOCAL, NULL,
		              451, NULL);
}

void
milter_report_rcpt(struct milter_conn *c, int code, enum report_reason reason,
                   const char *filter, const char *text)
{
	c->rcpt_code = code;
	c->rcpt_reason = reason;
	c->rcpt_filter = filter;
	snprintf(c->rcpt_text, sizeof(c->rcpt_text), "%s", text);
}

/* The transaction ends unfinished: an abort, or the RCPT refusal when
 * no recipient was accepted. */
static void
milter_report_abort(struct milter_conn *c)
{
	if (c->txn.nrcpts > 0 || c->rcpt_code == 0)
		milter_report(c, REPORT_ABORTED, REPORT_REASON_NONE, NULL, 0,
		              NULL);
	else
		milter_report(c,
		              c->rcpt_code / 100 == 4 ? REPORT_TEMPFAILED
		                                      : REPORT_REJECTED,
		              c->rcpt_reason, c->rcpt_filter, c->rcpt_code,
		              c->rcpt_text[0] != '\0' ? c->rcpt_text : NULL);
}

void
milter_txn_abort(struct milter_conn *c)
{
	/* As in the proxy: a transaction with recipients that the MTA
	 * ended before its end of message gets its message line. */
	if (c->in_txn && !c->reported && c->txn.nrcpts > 0)
		milter_log_txn(c, "aborted");
	milter_txn_end(c);
}

void
milter_txn_end(struct milter_conn *c)
{
	milter_report_abort(c);
	c->reported = 0;
	c->rcpt_code = 0;
	c->rcpt_filter = NULL;
	c->rcpt_text[0] = '\0';
	if (c->in_txn)
		filter_txn_deinit(&c->txn);
	spool_free(&c->spool);
	c->in_txn = 0;
	c->hold = 0;
	c->discard = 0;
	c->too_big = 0;
	c->spool_failed = 0;
	c->queue_id[0] = '\0';
}
