/*
 * milter_msg.c - the message as the MTA hands it over, and the end of
 * it.
 *
 * Header fields, the end of the header section and body chunks are
 * written to a spool as the proxy would have received the message:
 * "Name:value" CRLF per field (with SMFIP_HDR_LEADSPC the value keeps
 * its leading white space, so fields are rebuilt byte for byte), an
 * empty line, then the body.  At the end the message is indexed, the
 * end-of-message filters run, and the verdict becomes the milter's
 * answer; header edits go back through milter_edit.c.
 */
#include <stdio.h>
#include <string.h>

#include "filters/filter_msg.h"
#include "milter/milter_private.h"
#include "proxy/config.h"
#include "util/log.h"
#include "util/spool.h"

static void
milter_write(struct milter_conn *c, const void *data, size_t len)
{
	unsigned long long limit = c->cfg->limits.message_size;
	const char *error;

	if (c->too_big || c->spool_failed)
		return;
	if (c->spool == NULL)
		c->spool =
		    spool_new(c->cfg->spool_dir, c->cfg->limits.spool_memory);
	if (limit != 0 && spool_size(c->spool) + len > limit) {
		c->too_big = 1;
		return;
	}
	if (spool_write(c->spool, data, len, &error) < 0) {
		log_error("%s spool write failed: %s", c->fs.id, error);
		c->spool_failed = 1;
	}
}

/* Text with line ends as LF or CRLF, written with CRLF. */
static void
milter_write_lines(struct milter_conn *c, const char *s)
{
	const char *nl;

	while ((nl = strchr(s, '\n')) != NULL) {
		if (nl > s && nl[-1] == '\r')
			milter_write(c, s, (size_t)(nl + 1 - s));
		else {
			milter_write(c, s, (size_t)(nl - s));
			milter_write(c, "\r\n", 2);
		}
		s = nl + 1;
	}
	milter_write(c, s, strlen(s));
}

sfsistat
milter_header(SMFICTX *ctx, char *name, char *value)
{
	struct milter_conn *c = smfi_getpriv(ctx);

	if (c == NULL || !c->in_txn || name == NULL || value == NULL)
		return SMFIS_TEMPFAIL;
	milter_write(c, name, strlen(name));
	milter_write(c, c->leadspc ? ":" : ": ", c->leadspc ? 1 : 2);
	milter_write_lines(c, value);
	milter_write(c, "\r\n", 2);
	return SMFIS_CONTINUE;
}

sfsistat
milter_eoh(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);

	if (c == NULL || !c->in_txn)
		return SMFIS_TEMPFAIL;
	milter_write(c, "\r\n", 2);
	return SMFIS_CONTINUE;
}

sfsistat
milter_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct milter_conn *c = smfi_getpriv(ctx);

	if (c == NULL || !c->in_txn || (chunk == NULL && len > 0))
		return SMFIS_TEMPFAIL;
	milter_write(c, chunk, len);
	return SMFIS_CONTINUE;
}

/* Refuse the message before the filters see it. */
static sfsistat
milter_refuse(SMFICTX *ctx, struct milter_conn *c, enum filter_action a,
              int code, const char *ecode, const char *result, const char *text)
{
	struct filter_verdict v;
	char report[FILTER_TEXT_MAX];

	filter_verdict_set(&v, a, code, ecode, "%s", text);
	snprintf(report, sizeof(report), "%s %s", ecode, text);
	milter_report(c,
	              a == FILTER_REJECT ? REPORT_REJECTED : REPORT_TEMPFAILED,
	              code == 552 ? REPORT_REASON_LIMITS : REPORT_REASON_POLICY,
	              NULL, code, report);
	milter_log_txn(c, result);
	return milter_reply(ctx, &v);
}

/* Accept, hold or discard after the filters, applying header edits. */
static sfsistat
milter_deliver(SMFICTX *ctx, struct milter_conn *c,
               const struct filter_verdict *v)
{
	char reason[FILTER_TEXT_MAX + 64];

	if (v->action == FILTER_DISCARD || c->discard) {
		milter_report(c, REPORT_DISCARDED, REPORT_REASON_NONE,
		              v->filter, 250, NULL);
		milter_log_txn(c, "discarded");
		return SMFIS_DISCARD;
	}
	if (milter_edit_apply(ctx, c) < 0) {
		milter_report_error(c);
		milter_log_txn(c, "error-edit");
		return milter_on_error(ctx, c, "header edit failed");
	}
	if (v->action == FILTER_HOLD || c->hold) {
		snprintf(reason, sizeof(reason), "postern %s: %s", c->txn.id,
		         v->text[0] ? v->text : "held for review");
		if (smfi_quarantine(ctx, reason) != MI_SUCCESS) {
			milter_report_error(c);
			milter_log_txn(c, "error-hold");
			return milter_on_error(ctx, c, "quarantine failed");
		}
		milter_report(c, REPORT_HELD,
		              report_reason_of_filter(v->filter), v->filter,
		              250, NULL);
		milter_log_txn(c, "held");
		c->messages++;
		return SMFIS_ACCEPT;
	}
	milter_report(c, REPORT_RELAYED, REPORT_REASON_NONE, NULL, 250, NULL);
	milter_log_txn(c, "accepted");
	c->messages++;
	return SMFIS_ACCEPT;
}

static sfsistat
milter_eom_filters(SMFICTX *ctx, struct milter_conn *c)
{
	struct filter_verdict v;
	char result[64];

	if (milter_chain(c, FILTER_PHASE_EOM, &v) < 0) {
		milter_report_error(c);
		return milter_on_error(ctx, c, "filter chain did not finish");
	}
	if (v.action == FILTER_REJECT || v.action == FILTER_TEMPFAIL) {
		snprintf(result, sizeof(result), "%s filter=%s",
		         v.action == FILTER_REJECT ? "rejected" : "tempfail",
		         v.filter ? v.filter : "-");
		milter_report_verdict(c, &v);
		milter_log_txn(c, result);
		return milter_reply(ctx, &v);
	}
	return milter_deliver(ctx, c, &v);
}

static sfsistat
milter_eom_run(SMFICTX *ctx, struct milter_conn *c)
{
	const char *error, *qid = milter_macro(ctx, "i");
	int temporary;

	/* Postfix knows the queue id only after the first RCPT. */
	if (qid != NULL)
		log_escape_str(c->queue_id, sizeof(c->queue_id), qid);
	if (c->spool == NULL)
		milter_write(c, "", 0);
	c->txn.size = c->spool != NULL ? spool_size(c->spool) : 0;
	if (c->too_big)
		return milter_refuse(ctx, c, FILTER_REJECT, 552, "5.3.4",
		                     "rejected-size",
		                     "message size exceeds fixed limit");
	if (c->spool_failed || c->spool == NULL) {
		milter_report_error(c);
		milter_log_txn(c, "error-spool");
		return milter_on_error(ctx, c, "spool write failed");
	}
	c->txn.message = c->spool;
	if (filter_msg_index(&c->txn, &temporary, &error) < 0) {
		if (!temporary)
			return milter_refuse(ctx, c, FILTER_REJECT, 554,
			                     "5.6.0", "rejected-headers",
			                     error);
		milter_report_error(c);
		milter_log_txn(c, "error-spool");
		return milter_on_error(ctx, c, "spool read failed");
	}
	return milter_eom_filters(ctx, c);
}

sfsistat
milter_eom(SMFICTX *ctx)
{
	struct milter_conn *c = smfi_getpriv(ctx);
	sfsistat rc;

	if (c == NULL || !c->in_txn)
		return SMFIS_TEMPFAIL;
	rc = milter_eom_run(ctx, c);
	milter_txn_end(c);
	return rc;
}
