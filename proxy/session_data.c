/*
 * session_data.c - DATA and the end of the message.
 *
 * The message is decoded as it arrives (only CRLF.CRLF ends it) into the
 * session's spool, bounded by the size limit.  At the end postern
 * decides: refuse a malformed or oversized message, ask the
 * end-of-message filters, and only then open DATA upstream and stream
 * the message.  The client's final reply is the upstream's, verbatim;
 * when a filter refuses, the upstream transaction is reset instead, so
 * nothing half-done is ever delivered.
 */
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "filters/filter_msg.h"
#include "proxy/config.h"
#include "proxy/session.h"
#include "proxy/upstream.h"
#include "util/log.h"
#include "util/spool.h"

#define DATA_IOV 8

void
session_data_begin(struct session *s, int prev_crlf)
{
	const struct config_limits *lim = &s->cfg->limits;

	spool_free(&s->spool);
	s->spool = spool_new(s->cfg->spool_dir, lim->spool_memory);
	smtp_data_decoder_init(&s->decoder, lim->text_line, prev_crlf);
	s->data_too_big = 0;
	s->data_spool_failed = 0;
	s->state = SESSION_DATA;
}

static int
data_sink(void *arg, const char *data, size_t len)
{
	struct session *s = arg;
	unsigned long long limit = s->cfg->limits.message_size;
	const char *error;

	if (s->data_too_big || s->data_spool_failed)
		return 0; /* keep reading to the end, store nothing */
	if (limit != 0 && spool_size(s->spool) + len > limit) {
		s->data_too_big = 1;
		return 0;
	}
	if (spool_write(s->spool, data, len, &error) < 0) {
		log_error("%s spool write failed: %s", s->fs.id, error);
		s->data_spool_failed = 1;
	}
	return 0;
}

/* A message refused (or discarded) before it reached the upstream:
 * reset the upstream's transaction, then reply.  An upstream gone
 * meanwhile took its transaction with it: the client still gets the
 * verdict, then 421 for want of an upstream. */
static void
data_refused_cb(void *arg, const struct smtp_reply *reply, const char *reason)
{
	struct session *s = arg;

	session_reply_verdict(s, &s->verdict);
	session_txn_reset(s);
	if (reply == NULL) {
		session_close_421(s, "4.4.2", "upstream-lost",
		                  SESSION_UPSTREAM_LOST);
		return;
	}
	session_resume(s);
}

static void
data_refuse(struct session *s, enum filter_action action, int code,
            const char *ecode, const char *result, const char *text)
{
	enum report_reason reason = REPORT_REASON_LIMITS;
	char report[FILTER_TEXT_MAX];

	if (strcmp(result, "tempfail-spool") == 0)
		reason = REPORT_REASON_LOCAL;
	else if (strcmp(result, "rejected-headers") == 0)
		reason = REPORT_REASON_POLICY;

	filter_verdict_set(&s->verdict, action, code, ecode, "%s", text);
	snprintf(report, sizeof(report), "%s %s", ecode, text);
	session_report(
	    s, action == FILTER_REJECT ? REPORT_REJECTED : REPORT_TEMPFAILED,
	    reason, NULL, code, report, 0);
	session_log_txn(s, result, "");
	upstream_command(s->upstream, "RSET", 0, data_refused_cb);
}

static void
data_upstream_cb(void *arg, const struct smtp_reply *reply, const char *reason)
{
	struct session *s = arg;
	char summary[256];

	if (reply == NULL) {
		session_upstream_gone(s, reason);
		return;
	}
	session_relay(s, reply);
	session_report_upstream(s, reply);
	smtp_reply_summary(reply, summary, sizeof(summary));
	session_log_txn(s, reply->code / 100 == 2 ? "relayed" : "refused",
	                summary);
	if (reply->code / 100 == 2)
		s->messages++;
	session_txn_reset(s);
	session_resume(s);
}

/* The envelope is on a new connection now (why NULL): the message
 * goes up.  Else it is the client's to send again. */
static void
data_replayed(struct session *s, const char *why)
{
	if (why != NULL) {
		session_upstream_gone(s, why);
		return;
	}
	s->upstream_lost[0] = '\0';
	upstream_data(s->upstream, &s->txn, data_upstream_cb);
}

static void
data_verdict(struct session *s, const struct filter_verdict *v)
{
	char result[64];

	if (v->action == FILTER_DISCARD || s->discard) {
		s->verdict = *v;
		s->verdict.action = FILTER_DISCARD;
		session_report_verdict(s, &s->verdict);
		session_log_txn(s, "discarded", "");
		upstream_command(s->upstream, "RSET", 0, data_refused_cb);
		return;
	}
	if (v->action == FILTER_HOLD) {
		s->verdict = *v;
		session_hold(s);
		return;
	}
	if (v->action == FILTER_REJECT || v->action == FILTER_TEMPFAIL) {
		s->verdict = *v;
		snprintf(result, sizeof(result), "%s filter=%s",
		         v->action == FILTER_REJECT ? "rejected" : "tempfail",
		         v->filter ? v->filter : "-");
		session_report_verdict(s, v);
		session_log_txn(s, result, "");
		upstream_command(s->upstream, "RSET", 0, data_refused_cb);
		return;
	}
	/* Only a message that goes upstream needs one: the upstream was
	 * lost while the client sent it or the filters ran (it dropped the
	 * idle connection, say), so the envelope is replayed on a new
	 * connection first (session_source.c). */
	if (s->upstream_lost[0] != '\0') {
		session_replay(s, data_replayed);
		return;
	}
	upstream_data(s->upstream, &s->txn, data_upstream_cb);
}

/* Check what we got, then ask the filters. */
static void
data_check(struct session *s)
{
	unsigned int flags = s->decoder.flags;
	const char *error;
	char text[128];
	int temporary;

	if ((flags & (SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR)) &&
	    s->cfg->limits.bare_eol == CONFIG_BARE_EOL_REJECT) {
		data_refuse(s, FILTER_REJECT, 550, "5.5.2", "rejected-bare-eol",
		            "message contains a bare CR or LF line ending");
		return;
	}
	if (flags & SMTP_DATA_LONG_LINE) {
		snprintf(text, sizeof(text),
		         "message has a line over %zu octets",
		         s->cfg->limits.text_line);
		data_refuse(s, FILTER_REJECT, 550, "5.5.2",
		            "rejected-long-line", text);
		return;
	}
	if (s->data_too_big) {
		data_refuse(s, FILTER_REJECT, 552, "5.3.4", "rejected-size",
		            "message size exceeds fixed limit");
		return;
	}
	if (s->data_spool_failed) {
		data_refuse(s, FILTER_TEMPFAIL, 451, "4.3.0", "tempfail-spool",
		            "local error storing the message, try again");
		return;
	}
	s->txn.message = s->spool;
	if (filter_msg_index(&s->txn, &temporary, &error) < 0) {
		if (temporary)
			data_refuse(
			    s, FILTER_TEMPFAIL, 451, "4.3.0", "tempfail-spool",
			    "local error reading the message, try again");
		else
			data_refuse(s, FILTER_REJECT, 554, "5.6.0",
			            "rejected-headers", error);
		return;
	}
	session_filters(s, FILTER_PHASE_EOM, data_verdict);
}

/* The final dot arrived.  An upstream lost meanwhile is dealt with
 * once the verdict is known (data_verdict()). */
static void
data_end(struct session *s)
{
	s->state = SESSION_EOM;
	s->busy = 1;
	s->txn.size = spool_size(s->spool);
	data_check(s);
}

void
session_data_input(struct session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct evbuffer_iovec v[DATA_IOV];
	int i, n, done = 0;
	ssize_t used;

	while (!done && evbuffer_get_length(in) > 0) {
		n = evbuffer_peek(in, -1, NULL, v, DATA_IOV);
		if (n > DATA_IOV)
			n = DATA_IOV;
		for (i = 0; i < n && !done; i++) {
			used =
			    smtp_data_decode(&s->decoder, v[i].iov_base,
			                     v[i].iov_len, &done, data_sink, s);
			if (used < 0)
				used = (ssize_t)v[i].iov_len;
			evbuffer_drain(in, (size_t)used);
			if ((size_t)used < v[i].iov_len)
				break; /* peeked vectors are stale now */
		}
	}
	if (done)
		data_end(s);
}
