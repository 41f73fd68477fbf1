/*
 * filter_msg.c - the header index and the outgoing message reader.
 *
 * The index is built from the first FILTER_MSG_HEADER_MAX octets of the
 * spool, read once.  It must end the header section where the next hop
 * does, or a field the filters never saw (a forged
 * Authentication-Results) is delivered as a header.  Line by line, as
 * Postfix's cleanup reads a header section, and refusing what Exim 4.96
 * reads otherwise:
 *
 * - A field is a name of printable ASCII but the colon (RFC 5322 3.6.8),
 *   optional SP/HTAB (obs-optional, RFC 5322 4.5.3), then the colon.
 *   Postfix rewrites "Name :" to "Name:"; the index does the same with a
 *   replacement, so that filters, the signer and the reader all see the
 *   field as the next hop passes it on.
 * - A line starting with SP or HTAB continues the open field, even when
 *   it holds nothing else.  As the first line it would continue the
 *   last field postern prepends (both MTAs only guard their own
 *   Received): the message is refused.
 * - An empty line ends the section; the body follows it.
 * - Any other line (no colon, a name with white space or controls)
 *   ends the section and starts the body (Postfix and Exim add the
 *   empty line).  But Exim also takes a name with 8-bit octets, an
 *   empty name, and VT or FF before the colon for a field, where
 *   Postfix sees the body: no index agrees with both, and the message
 *   is refused.
 * - A colon more than FIELD_NAME_MAX octets into the line is refused:
 *   Postfix cuts a line at line_length_limit (2048) and looks for the
 *   colon in the first piece only, so the two could disagree.
 * - A "Name :" field holding a NUL octet is refused: its replacement is
 *   a C string and would lose the rest.
 * - A section over the limits of filter_msg.h is refused too.
 *
 * The reader walks four stages: prepended headers, indexed fields
 * (skipping deleted ones, replaced ones from their new text), appended
 * headers, then the body straight from the spool.  Header text added by
 * filters is written as "Name: value" CRLF.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/filter.h"
#include "filters/filter_msg.h"
#include "util/spool.h"
#include "util/xalloc.h"

/* The longest name (and the white space after it) taken; an RFC 5322
 * line holds 998 octets, the colon included. */
#define FIELD_NAME_MAX 997

enum reader_stage {
	STAGE_PREPEND = 0,
	STAGE_FIELDS,
	STAGE_APPEND,
	STAGE_BODY,
	STAGE_DONE,
};

enum index_step {
	INDEX_REFUSE = -1,
	INDEX_MORE = 0,
	INDEX_ENDED = 1,
};

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static int
is_name_octet(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/*
 * The name of the field on line: octets 33-126 but the colon, then
 * optional SP/HTAB and the colon.  Returns 1 with *namelen_r (without
 * the white space), 0 if the line is no field, -1 if the colon is too
 * far into the line.
 */
static int
field_name(const char *line, size_t len, size_t *namelen_r)
{
	size_t i = 0, n;

	while (i < len && is_name_octet((unsigned char)line[i]))
		i++;
	n = i;
	while (i < len && is_wsp(line[i]))
		i++;
	if (n == 0 || i == len || line[i] != ':')
		return 0;
	if (i > FIELD_NAME_MAX)
		return -1;
	*namelen_r = n;
	return 1;
}

/*
 * 1 if Exim takes the line for a field: any octets above SP but DEL and
 * the colon, any isspace() octets, then the colon.
 */
static int
field_name_lenient(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && (unsigned char)line[i] > ' ' && line[i] != 0x7f &&
	       line[i] != ':')
		i++;
	while (i < len && (is_wsp(line[i]) || line[i] == '\v' ||
	                   line[i] == '\f' || line[i] == '\r'))
		i++;
	return i < len && line[i] == ':';
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

/*
 * "Name :" becomes "Name:" and the rest, without the final CRLF, as
 * Postfix passes it on.  f is field i; its text is buf[f->offset..].
 */
static int
index_normalize(struct filter_txn *t, size_t i, const char *buf,
                const char **error_r)
{
	const struct filter_field *f = &t->fields[i];
	const char *text = buf + f->offset;
	const char *colon = memchr(text + f->namelen, ':', f->len - f->namelen);
	size_t rest = f->len - (size_t)(colon - text);
	char *norm;

	if (memchr(text, '\0', f->len) != NULL) {
		*error_r = "NUL in a header field with space before the colon";
		return -1;
	}
	if (rest >= 2 && colon[rest - 2] == '\r' && colon[rest - 1] == '\n')
		rest -= 2;
	norm = xmalloc(f->namelen + rest + 1);
	memcpy(norm, text, f->namelen);
	memcpy(norm + f->namelen, colon, rest);
	norm[f->namelen + rest] = '\0';
	filter_msg_field_replace(t, i, norm);
	free(norm);
	return 0;
}

/* Close the open field (if any) at offset end. */
static int
index_close(struct filter_txn *t, const char *buf, size_t end,
            const char **error_r)
{
	struct filter_field *f;

	if (t->nfields == 0)
		return 0;
	f = &t->fields[t->nfields - 1];
	if (f->len != 0)
		return 0;
	f->len = end - f->offset;
	if (buf[f->offset + f->namelen] == ':')
		return 0;
	return index_normalize(t, t->nfields - 1, buf, error_r);
}

/* The header section ends at off; the body starts there. */
static enum index_step
index_end(struct filter_txn *t, const char *buf, size_t off,
          const char **error_r)
{
	t->body_offset = off;
	if (index_close(t, buf, off, error_r) < 0)
		return INDEX_REFUSE;
	return INDEX_ENDED;
}

/* Classify the line at buf[off..] (len octets including its CRLF, if
 * it has one) and update the index. */
static enum index_step
index_line(struct filter_txn *t, const char *buf, size_t off, size_t len,
           const char **error_r)
{
	const char *line = buf + off;
	size_t namelen;
	int r;

	if (len == 2 && line[0] == '\r' && line[1] == '\n')
		return index_end(t, buf, off, error_r);
	if (is_wsp(line[0])) {
		if (t->nfields > 0)
			return INDEX_MORE; /* a fold of the open field */
		*error_r = "message starts with a folded line";
		return INDEX_REFUSE;
	}
	r = field_name(line, len, &namelen);
	if (r < 0) {
		*error_r = "header field name too long";
		return INDEX_REFUSE;
	}
	if (r == 0 && field_name_lenient(line, len)) {
		*error_r = "malformed header field name";
		return INDEX_REFUSE;
	}
	if (r == 0) /* RFC 5322 allows no such thing; MTAs do this */
		return index_end(t, buf, off, error_r);
	if (index_close(t, buf, off, error_r) < 0)
		return INDEX_REFUSE;
	index_add(t, off, namelen);
	return INDEX_MORE;
}

/* Index the first want octets of the message, held in buf; the whole
 * message when want is its size. */
static int
index_buf(struct filter_txn *t, const char *buf, size_t want, size_t size,
          const char **error_r)
{
	enum index_step step = INDEX_MORE;
	size_t off = 0, len;
	const char *eol;

	while (step == INDEX_MORE && off < want) {
		eol = memchr(buf + off, '\n', want - off);
		if (eol == NULL && want < size)
			break; /* a line cut by the limit */
		len = eol != NULL ? (size_t)(eol - buf) + 1 - off : want - off;
		step = index_line(t, buf, off, len, error_r);
		off += len;
		if (t->nfields > FILTER_MSG_FIELDS_MAX) {
			*error_r = "too many header fields";
			return -1;
		}
	}
	if (step == INDEX_REFUSE)
		return -1;
	if (step == INDEX_ENDED)
		return 0;
	if (want < size) {
		*error_r = "header section too large";
		return -1;
	}
	return index_close(t, buf, want, error_r); /* all header, no body */
}

/* Forget a previous index of t. */
static void
index_reset(struct filter_txn *t)
{
	size_t i;

	for (i = 0; i < t->nfields; i++)
		free(t->fields[i].replacement);
	free(t->fields);
	t->fields = NULL;
	t->nfields = 0;
}

int
filter_msg_index(struct filter_txn *t, int *temporary_r, const char **error_r)
{
	size_t size = spool_size(t->message), want;
	char *buf;
	ssize_t n;
	int r;

	index_reset(t);
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
	r = index_buf(t, buf, want, size, error_r);
	free(buf);
	return r;
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
