/*
 * filter_txn.c - the transaction object filters judge.
 *
 * Holds the envelope, the headers filters want added and the notes that
 * end up on the transaction's log line.  The message spool itself belongs
 * to the front end; the transaction only points at it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/filter.h"
#include "filters/filter_msg.h"
#include "util/xalloc.h"

void
filter_session_new_id(struct filter_session *s)
{
	unsigned char r[5];

	arc4random_buf(r, sizeof(r));
	snprintf(s->id, sizeof(s->id), "%02x%02x%02x%02x%02x", r[0], r[1], r[2],
	         r[3], r[4]);
}

void
filter_txn_init(struct filter_txn *t, struct filter_session *s)
{
	memset(t, 0, sizeof(*t));
	t->session = s;
	s->ntxn++;
	snprintf(t->id, sizeof(t->id), "%s.%u", s->id, s->ntxn);
}

static void
header_list_free(struct filter_header *h)
{
	struct filter_header *next;

	for (; h != NULL; h = next) {
		next = h->next;
		free(h->name);
		free(h->value);
		free(h);
	}
}

static void
auth_list_free(struct filter_auth *a)
{
	struct filter_auth *next;

	for (; a != NULL; a = next) {
		next = a->next;
		free(a->method);
		free(a->result);
		free(a->reason);
		free(a->props);
		free(a);
	}
}

void
filter_txn_auth(struct filter_txn *t, const char *method, const char *result,
                const char *reason, const char *props)
{
	struct filter_auth **tail, *a;

	a = xcalloc(1, sizeof(*a));
	a->method = xstrdup(method);
	a->result = xstrdup(result);
	a->reason = reason != NULL ? xstrdup(reason) : NULL;
	a->props = props != NULL ? xstrdup(props) : NULL;
	for (tail = &t->auth; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = a;
}

void
filter_auth_prop(const char *props, const char *name, char *buf, size_t size)
{
	size_t nlen = strlen(name), len;
	const char *p = props;

	buf[0] = '\0';
	while (p != NULL && *p != '\0') {
		p += strspn(p, " ");
		len = strcspn(p, " ");
		if (len > nlen && strncmp(p, name, nlen) == 0 &&
		    p[nlen] == '=') {
			snprintf(buf, size, "%.*s", (int)(len - nlen - 1),
			         p + nlen + 1);
			return;
		}
		p += len;
	}
}

void
filter_txn_fact(struct filter_txn *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->nfacts; i++) {
		if (strcmp(t->facts[i], name) == 0)
			return;
	}
	if (t->nfacts < FILTER_FACTS_MAX)
		t->facts[t->nfacts++] = name;
}

void
filter_txn_deinit(struct filter_txn *t)
{
	size_t i;

	free(t->mail_from);
	free(t->rcpt);
	for (i = 0; i < t->nrcpts; i++)
		free(t->rcpts[i]);
	free(t->rcpts);
	header_list_free(t->prepend);
	header_list_free(t->append);
	auth_list_free(t->auth);
	for (i = 0; i < t->nfields; i++)
		free(t->fields[i].replacement);
	free(t->fields);
	free(t->dmarc_report);
	memset(t, 0, sizeof(*t));
}

void
filter_txn_set_sender(struct filter_txn *t, const char *address)
{
	free(t->mail_from);
	t->mail_from = xstrdup(address);
}

void
filter_txn_add_rcpt(struct filter_txn *t, const char *address)
{
	t->rcpts = xreallocarray(t->rcpts, t->nrcpts + 1, sizeof(*t->rcpts));
	t->rcpts[t->nrcpts++] = xstrdup(address);
}

static struct filter_header *
header_new(const char *name, const char *value)
{
	struct filter_header *h;

	h = xcalloc(1, sizeof(*h));
	h->name = xstrdup(name);
	h->value = xstrdup(value);
	return h;
}

void
filter_txn_prepend_header(struct filter_txn *t, const char *name,
                          const char *value)
{
	struct filter_header *h;

	/* The newest prepended header goes first, as trace headers stack. */
	h = header_new(name, value);
	h->next = t->prepend;
	t->prepend = h;
}

void
filter_txn_append_header(struct filter_txn *t, const char *name,
                         const char *value)
{
	struct filter_header **tail;

	for (tail = &t->append; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = header_new(name, value);
}

void
filter_txn_note(struct filter_txn *t, const char *key, const char *value)
{
	size_t used = strlen(t->notes);

	/* Notes are for the log; a cut note is better than a lost line. */
	snprintf(t->notes + used, sizeof(t->notes) - used, "%s%s=%s",
	         used > 0 ? " " : "", key, value);
}

char *
filter_verdict_text(const struct filter_verdict *v, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%s", v->ecode,
	         v->ecode[0] != '\0' && v->text[0] != '\0' ? " " : "", v->text);
	return buf;
}

void
filter_verdict_set(struct filter_verdict *v, enum filter_action action,
                   int code, const char *ecode, const char *fmt, ...)
{
	va_list ap;

	v->action = action;
	v->code = code;
	snprintf(v->ecode, sizeof(v->ecode), "%s", ecode != NULL ? ecode : "");
	v->text[0] = '\0';
	if (fmt == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(v->text, sizeof(v->text), fmt, ap);
	va_end(ap);
}

const char *
filter_action_name(enum filter_action a)
{
	switch (a) {
	case FILTER_CONTINUE:
		return "continue";
	case FILTER_ACCEPT:
		return "accept";
	case FILTER_REJECT:
		return "reject";
	case FILTER_TEMPFAIL:
		return "tempfail";
	case FILTER_DISCARD:
		return "discard";
	case FILTER_HOLD:
		return "hold";
	}
	return "unknown";
}
