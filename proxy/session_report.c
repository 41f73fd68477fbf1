/*
 * session_report.c - what became of each proxy transaction, for the
 * statistics and the history (filters/report.h).
 *
 * Every end of a transaction reports once: a verdict of the filters,
 * a refusal of postern's own (limits, local errors), the upstream's
 * final reply, or an abort (RSET, QUIT, a lost client).  A refusal at
 * RCPT does not end the transaction; it is remembered, and when the
 * transaction then ends without any recipient it is reported as that
 * refusal rather than as an abort.
 */
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "filters/report.h"
#include "proxy/config.h"
#include "proxy/session.h"
#include "proxy/smtp_reply.h"
#include "util/log.h"

void
session_report(struct session *s, enum report_result result,
               enum report_reason reason, const char *filter, int code,
               const char *text, int upstream_code)
{
	struct report_txn r;
	char ecode[16];

	if (s->txn_reported || s->txn.id[0] == '\0')
		return;
	s->txn_reported = 1;
	memset(&r, 0, sizeof(r));
	report_txn_fill(&r, &s->txn);
	r.when = time(NULL);
	r.session_id = s->fs.id;
	r.front = "proxy";
	r.listener = s->listener->name;
	r.outbound = s->fs.outbound;
	r.client_ip = s->fs.client_ip;
	r.queue_id = s->report_queue_id[0] ? s->report_queue_id : NULL;
	r.result = result;
	r.reason = reason;
	r.filter = filter;
	r.code = code;
	r.text = report_split_ecode(text, ecode, sizeof(ecode));
	r.ecode = ecode[0] != '\0' ? ecode : NULL;
	r.upstream_code = upstream_code;
	r.elapsed = log_elapsed(&s->start_txn);
	report_txn(&r);
}

void
session_report_verdict(struct session *s, const struct filter_verdict *v)
{
	enum report_result result = REPORT_RELAYED;
	int code = v->code;
	char text[sizeof(v->ecode) + sizeof(v->text) + 1];

	switch (v->action) {
	case FILTER_REJECT:
		result = REPORT_REJECTED;
		code = code >= 500 && code < 600 ? code : 550;
		break;
	case FILTER_TEMPFAIL:
		result = REPORT_TEMPFAILED;
		code = code >= 400 && code < 500 ? code : 451;
		break;
	case FILTER_HOLD:
		result = REPORT_HELD;
		code = 250;
		break;
	case FILTER_DISCARD:
		result = REPORT_DISCARDED;
		code = 250;
		break;
	default:
		break;
	}
	filter_verdict_text(v, text, sizeof(text));
	session_report(s, result, report_reason_of_filter(v->filter), v->filter,
	               code, text[0] != '\0' ? text : NULL, 0);
}

/* "250 2.0.0 Ok: queued as 4Xyz" (Postfix): the queue id, or "". */
static void
queue_id_of(const char *summary, char *buf, size_t size)
{
	const char *p = strstr(summary, "queued as ");
	size_t n = 0;

	buf[0] = '\0';
	if (p == NULL)
		return;
	for (p += 10; *p != '\0' && *p != ' ' && *p != '"' && n + 1 < size; p++)
		buf[n++] = *p;
	buf[n] = '\0';
}

void
session_report_upstream(struct session *s, const struct smtp_reply *reply)
{
	char text[SESSION_REPORT_TEXT_MAX];
	int code = reply->code;

	smtp_reply_text(reply, text, sizeof(text));
	if (code / 100 == 2) {
		queue_id_of(text, s->report_queue_id,
		            sizeof(s->report_queue_id));
		session_report(s, REPORT_RELAYED, REPORT_REASON_NONE, NULL,
		               code, text, code);
		return;
	}
	session_report(s, code / 100 == 4 ? REPORT_TEMPFAILED : REPORT_REJECTED,
	               REPORT_REASON_UPSTREAM, NULL, code, text, code);
}

void
session_report_rcpt(struct session *s, int code, enum report_reason reason,
                    const char *filter, const char *text, int upstream_code)
{
	s->rcpt_code = code;
	s->rcpt_reason = reason;
	s->rcpt_filter = filter;
	s->rcpt_upstream_code = upstream_code;
	snprintf(s->rcpt_text, sizeof(s->rcpt_text), "%s",
	         text != NULL ? text : "");
}

void
session_report_rcpt_verdict(struct session *s, const struct filter_verdict *v)
{
	char text[sizeof(v->ecode) + sizeof(v->text) + 1];

	filter_verdict_text(v, text, sizeof(text));
	session_report_rcpt(s, v->action == FILTER_REJECT ? 550 : 451,
	                    report_reason_of_filter(v->filter), v->filter, text,
	                    0);
}

void
session_report_rcpt_reply(struct session *s, const struct smtp_reply *reply)
{
	char text[SESSION_REPORT_TEXT_MAX];

	session_report_rcpt(s, reply->code, REPORT_REASON_UPSTREAM, NULL,
	                    smtp_reply_text(reply, text, sizeof(text)),
	                    reply->code);
}

void
session_report_abort(struct session *s)
{
	enum report_result result;

	if (!s->in_txn || s->txn_reported)
		return;
	if (s->txn.nrcpts > 0 || s->rcpt_code == 0) {
		session_report(s, REPORT_ABORTED, REPORT_REASON_NONE, NULL, 0,
		               NULL, 0);
		return;
	}
	result = s->rcpt_code / 100 == 4 ? REPORT_TEMPFAILED : REPORT_REJECTED;
	session_report(s, result, s->rcpt_reason, s->rcpt_filter, s->rcpt_code,
	               s->rcpt_text[0] != '\0' ? s->rcpt_text : NULL,
	               s->rcpt_upstream_code);
}

void
session_report_begin(struct session *s)
{
	s->txn_reported = 0;
	s->rcpt_code = 0;
	s->rcpt_upstream_code = 0;
	s->rcpt_reason = REPORT_REASON_NONE;
	s->rcpt_filter = NULL;
	s->rcpt_text[0] = '\0';
	s->report_queue_id[0] = '\0';
}
