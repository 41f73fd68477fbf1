/*
 * filter_msg.c - the header index and the outgoing message reader.
 *
 * The index is built from the first FILTER_MSG_HEADER_MAX octets of the
 * spool, read once.  The reader walks four stages: prepended headers,
 * indexed fields (skipping deleted ones), appended headers, then the
 * body straight from the spool.  Header text added by filters is
 * written as "Name: value" CRLF.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/filter.h"
#include "filters/filter_msg.h"
#include "util/spool.h"
#include "util/xalloc.h"

enum reader_stage {
	STAGE_PREPEND = 0,
	STAGE_FIELDS,
	STAGE_APPEND,
	STAGE_BODY,
	STAGE_DONE,
};

/* A field name: printable ASCII except the colon (RFC 5322 3.6.8). */
static int
field_name_len(const char *line, size_t len, size_t *namelen_r)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if (c == ':') {
			*namelen_r = i;
			return i > 0 ? 0 : -1;
		}
		if (c < 33 || c > 126)
			return -1;
	}
	return -1;
}

static void
index_add(struct filter_txn *t, size_t offset, size_t namelen)
{
	struct filter_field *f;

	t->fields =
	    xreallocarray(t->fields, t->nfields + 1, sizeof(*t->fields));
	f = &t->fields[t->nfields++];
	memset(f, 0, sizeof(*f));
	f->offset = offset;
	f->namelen = namelen;
}

/* Close the open field (if any) at offset end. */
static void
index_close(struct filter_txn *t, size_t end)
{
	struct filter_field *f;

	if (t->nfields == 0)
		return;
	f = &t->fields[t->nfields - 1];
	if (f->len == 0)
		f->len = end - f->offset;
}

/*
 * Classify the line at buf[off..] (len octets including its CRLF) and
 * update the index.  Returns 1 when the header section ended here.
 */
static int
index_line(struct filter_txn *t, const char *line, size_t len, size_t off)
{
	size_t namelen;

	if (len == 2 && line[0] == '\r') {
		index_close(t, off);
		t->body_offset = off;
		return 1;
	}
	if ((line[0] == ' ' || line[0] == '\t') && t->nfields > 0)
		return 0; /* a fold of the open field */
	if (field_name_len(line, len, &namelen) < 0) {
		/* Not a field: the body starts here without an empty
		 * line (RFC 5322 allows no such thing; MTAs do this). */
		index_close(t, off);
		t->body_offset = off;
		return 1;
	}
	index_close(t, off);
	index_add(t, off, namelen);
	return 0;
}

int
filter_msg_index(struct filter_txn *t, int *temporary_r, const char **error_r)
{
	size_t size = spool_size(t->message), want, off = 0;
	char *buf, *eol;
	int ended = 0;
	ssize_t n;

	free(t->fields);
	t->fields = NULL;
	t->nfields = 0;
	t->body_offset = size;
	*temporary_r = 0;
	want = size < FILTER_MSG_HEADER_MAX ? size : FILTER_MSG_HEADER_MAX;
	buf = xmalloc(want + 1);
	n = spool_read(t->message, 0, buf, want, error_r);
	if (n < 0 || (size_t)n != want) {
		free(buf);
		if (n >= 0)
			*error_r = "short spool read";
		*temporary_r = 1;
		return -1;
	}
	while (!ended && off < want) {
		eol = memchr(buf + off, '\n', want - off);
		if (eol == NULL)
			break;
		ended = index_line(t, buf + off, (size_t)(eol - buf) + 1 - off,
		                   off);
		off = (size_t)(eol - buf) + 1;
		if (t->nfields > FILTER_MSG_FIELDS_MAX) {
			free(buf);
			*error_r = "too many header fields";
			return -1;
		}
	}
	free(buf);
	if (!ended && want < size) {
		*error_r = "header section too large";
		return -1;
	}
	if (!ended) /* all header, no body */
		index_close(t, want);
	return 0;
}

size_t
filter_msg_field_count(const struct filter_txn *t)
{
	return t->nfields;
}

size_t
filter_msg_body_offset(const struct filter_txn *t)
{
	return t->body_offset;
}

int
filter_msg_field_is(const struct filter_txn *t, size_t i, const char *name)
{
	char buf[128];
	const char *error;
	const struct filter_field *f;
	size_t len = strlen(name);

	if (i >= t->nfields)
		return 0;
	f = &t->fields[i];
	if (f->deleted || f->namelen != len || len >= sizeof(buf))
		return 0;
	if (spool_read(t->message, f->offset, buf, len, &error) != (ssize_t)len)
		return 0;
	return strncasecmp(buf, name, len) == 0;
}

char *
filter_msg_field_dup(const struct filter_txn *t, size_t i, size_t *len_r,
                     const char **error_r)
{
	const struct filter_field *f = &t->fields[i];
	size_t len = f->len;
	char *buf;

	if (f->replacement != NULL) {
		*len_r = strlen(f->replacement);
		return xstrdup(f->replacement);
	}
	buf = xmalloc(len + 1);
	if (spool_read(t->message, f->offset, buf, len, error_r) !=
	    (ssize_t)len) {
		free(buf);
		*error_r = "short spool read";
		return NULL;
	}
	/* Drop the final CRLF; the field always has one. */
	if (len >= 2 && buf[len - 2] == '\r' && buf[len - 1] == '\n')
		len -= 2;
	buf[len] = '\0';
	*len_r = len;
	return buf;
}

void
filter_msg_field_delete(struct filter_txn *t, size_t i)
{
	if (i < t->nfields)
		t->fields[i].deleted = 1;
}

void
filter_msg_field_replace(struct filter_txn *t, size_t i, const char *text)
{
	if (i >= t->nfields)
		return;
	free(t->fields[i].replacement);
	t->fields[i].replacement = xstrdup(text);
}

size_t
filter_msg_body_start(const struct filter_txn *t)
{
	char two[2];
	const char *error;

	/* Skip the empty line when the header section ended with one. */
	if (spool_read(t->message, t->body_offset, two, 2, &error) == 2 &&
	    two[0] == '\r' && two[1] == '\n')
		return t->body_offset + 2;
	return t->body_offset;
}

static int
foreach_added(const struct filter_header *h, filter_msg_field_cb *cb, void *arg)
{
	char *text;
	int r;

	for (; h != NULL; h = h->next) {
		text = xasprintf("%s: %s", h->name, h->value);
		r = cb(arg, text, strlen(text));
		free(text);
		if (r != 0)
			return r;
	}
	return 0;
}

int
filter_msg_foreach_field(const struct filter_txn *t, filter_msg_field_cb *cb,
                         void *arg, const char **error_r)
{
	char *text;
	size_t i, len;
	int r;

	r = foreach_added(t->prepend, cb, arg);
	for (i = 0; r == 0 && i < t->nfields; i++) {
		if (t->fields[i].deleted)
			continue;
		text = filter_msg_field_dup(t, i, &len, error_r);
		if (text == NULL)
			return -1;
		r = cb(arg, text, len);
		free(text);
	}
	if (r == 0)
		r = foreach_added(t->append, cb, arg);
	return r;
}

/* The reader */

void
filter_msg_reader_init(struct filter_msg_reader *r, const struct filter_txn *t)
{
	memset(r, 0, sizeof(*r));
	r->txn = t;
	r->stage = STAGE_PREPEND;
	r->header = t->prepend;
}

/* Copy from the text "name: value\r\n" at r->pos; returns octets
 * copied, moving to the next header at the end of this one. */
static size_t
read_header(struct filter_msg_reader *r, char *buf, size_t size)
{
	const struct filter_header *h = r->header;
	const char *parts[4] = {h->name, ": ", h->value, "\r\n"};
	size_t i, at = 0, done = 0, plen, from, n;

	for (i = 0; i < 4; i++, at += plen) {
		plen = strlen(parts[i]);
		if (r->pos + done >= at + plen || done == size)
			continue;
		from = r->pos + done - at;
		n = plen - from;
		if (n > size - done)
			n = size - done;
		memcpy(buf + done, parts[i] + from, n);
		done += n;
	}
	r->pos += done;
	if (r->pos == at) {
		r->header = h->next;
		r->pos = 0;
	}
	return done;
}

static ssize_t
read_spool(struct filter_msg_reader *r, size_t start, size_t len, char *buf,
           size_t size, const char **error_r)
{
	size_t want = len - r->pos;
	ssize_t n;

	if (want > size)
		want = size;
	n = spool_read(r->txn->message, start + r->pos, buf, want, error_r);
	if (n < 0)
		return -1;
	if (n == 0 && want > 0) {
		*error_r = "short spool read";
		return -1;
	}
	r->pos += (size_t)n;
	return n;
}

/* A replaced field: its text, then CRLF; moves on at the end. */
static ssize_t
read_replacement(struct filter_msg_reader *r, const struct filter_field *f,
                 char *buf, size_t size)
{
	size_t tlen = strlen(f->replacement), total = tlen + 2, n, done = 0;

	while (done < size && r->pos < total) {
		n = r->pos < tlen ? tlen - r->pos : total - r->pos;
		if (n > size - done)
			n = size - done;
		memcpy(buf + done,
		       r->pos < tlen ? f->replacement + r->pos
		                     : "\r\n" + (r->pos - tlen),
		       n);
		done += n;
		r->pos += n;
	}
	if (r->pos == total) {
		r->field++;
		r->pos = 0;
	}
	return (ssize_t)done;
}

static void
reader_next_stage(struct filter_msg_reader *r)
{
	r->stage++;
	r->pos = 0;
	r->field = 0;
	if (r->stage == STAGE_APPEND)
		r->header = r->txn->append;
}

ssize_t
filter_msg_read(struct filter_msg_reader *r, char *buf, size_t size,
                const char **error_r)
{
	const struct filter_txn *t = r->txn;
	const struct filter_field *f;
	size_t total = spool_size(t->message);

	while (r->stage != STAGE_DONE && size > 0) {
		switch (r->stage) {
		case STAGE_PREPEND:
		case STAGE_APPEND:
			if (r->header != NULL)
				return (ssize_t)read_header(r, buf, size);
			break;
		case STAGE_FIELDS:
			while (r->field < t->nfields &&
			       t->fields[r->field].deleted)
				r->field++;
			if (r->field >= t->nfields)
				break;
			f = &t->fields[r->field];
			if (f->replacement != NULL)
				return read_replacement(r, f, buf, size);
			if (r->pos < f->len)
				return read_spool(r, f->offset, f->len, buf,
				                  size, error_r);
			r->field++;
			r->pos = 0;
			continue;
		case STAGE_BODY:
			if (r->pos < total - t->body_offset)
				return read_spool(r, t->body_offset,
				                  total - t->body_offset, buf,
				                  size, error_r);
			break;
		}
		reader_next_stage(r);
	}
	return 0;
}
