/*
 * spam_msg_mpart.c - a multipart body split into its parts the way
 * SpamAssassin 4.0's Message.pm (_parse_multipart) splits it, for
 * spam_msg_mime.c.
 *
 * The preamble goes up to the first line that is "--boundary" and
 * blanks; each part then has header lines (a line that is no field
 * ends the header, a blank one is dropped), a body up to the next
 * boundary line (its last newline belongs to the boundary), and the
 * closing "--boundary--" or the end of the text ends the parts (the
 * last line then belongs to the last part).  A part whose own
 * Content-Type names the same boundary has its inner boundaries skipped
 * once (Bug 7358); a part without a type under multipart/digest is
 * message/rfc822; a part without a boundary of its own inherits ours.
 * Lines longer than SPAM_MSG_LINE_MAX are cut, a newline added.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/spam_msg_private.h"
#include "util/xalloc.h"

static int
all_ws(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (!spam_msg_util_is_ws((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* /^--\Q$b\E(--)?\s*$/: 0 no, 1 a boundary, 2 the closing one; open
 * lines (the first boundary) may not have the "--". */
static int
boundary_kind(struct spam_msg_span l, const char *b, size_t blen, int open)
{
	const char *rest;
	size_t rlen;

	if (l.len < 2 + blen || l.s[0] != '-' || l.s[1] != '-' ||
	    memcmp(l.s + 2, b, blen) != 0)
		return 0;
	rest = l.s + 2 + blen;
	rlen = l.len - 2 - blen;
	if (all_ws(rest, rlen))
		return 1;
	if (!open && rlen >= 2 && rest[0] == '-' && rest[1] == '-' &&
	    all_ws(rest + 2, rlen - 2))
		return 2;
	return 0;
}

/* A part's field: split at the first colon, white space after it
 * dropped (split /:\s*\/, $header, 2). */
static void
part_field(struct spam_msg_node *n, const char *h, size_t len)
{
	const char *colon = memchr(h, ':', len);
	size_t v;

	if (colon == NULL)
		return;
	v = (size_t)(colon - h) + 1;
	while (v < len && spam_msg_util_is_ws((unsigned char)h[v]))
		v++;
	spam_msg_mime_node_header(n, h, (size_t)(colon - h), h + v, len - v);
}

/* A body line, cut into SPAM_MSG_LINE_MAX pieces each given a "\n". */
static void
part_push_line(struct spam_msg_buf *b, size_t *last, struct spam_msg_span l)
{
	while (l.len > SPAM_MSG_LINE_MAX) {
		*last = b->len;
		spam_msg_buf_add(b, l.s, SPAM_MSG_LINE_MAX);
		spam_msg_buf_addc(b, '\n');
		l.s += SPAM_MSG_LINE_MAX;
		l.len -= SPAM_MSG_LINE_MAX;
	}
	*last = b->len;
	spam_msg_buf_add(b, l.s, l.len);
}

/* The state of one multipart being split. */
struct mp_state {
	struct spam_msg_tree *t;
	struct spam_msg_node *msg;
	const char *boundary;
	size_t blen;
	int subparse;
	struct spam_msg_node *part;
	struct spam_msg_buf header;
	int have_header;
	struct spam_msg_buf body;
	int have_body;
	size_t last; /* where the last body line starts */
	int in_body;
	int nested; /* a part reuses our boundary (Bug 7358) */
};

static void
mp_flush_header(struct mp_state *st)
{
	if (st->have_header)
		part_field(st->part, st->header.s, st->header.len);
	st->have_header = 0;
	st->header.len = 0;
}

/* The Content-Type the part ends its header with names our boundary:
 * its own parts' boundaries are not ours. */
static void
mp_check_nested(struct mp_state *st)
{
	const char *colon;
	char *type, *b = NULL;

	colon = memchr(st->header.s, ':', st->header.len);
	if (colon == NULL || (size_t)(colon - st->header.s) != 12 ||
	    strncasecmp(st->header.s, "content-type", 12) != 0)
		return;
	mp_flush_header(st);
	spam_msg_mime_content_type(st->part, &type, &b, NULL, NULL);
	if (b != NULL && strcmp(b, st->boundary) == 0)
		st->nested = 1;
	free(type);
	free(b);
}

/* One line of a part's header; returns 1 when it was used up. */
static int
mp_header_line(struct mp_state *st, struct spam_msg_span l)
{
	if (spam_msg_mime_is_field(l.s, l.len)) {
		mp_flush_header(st);
		spam_msg_buf_add(&st->header, l.s, l.len);
		st->have_header = 1;
		return 1;
	}
	if ((l.s[0] == ' ' || l.s[0] == '\t') && st->have_header) {
		spam_msg_buf_add(&st->header, l.s, l.len);
		return 1;
	}
	if (st->have_header)
		mp_check_nested(st);
	mp_flush_header(st);
	st->in_body = 1;
	return l.len == 1 || (l.len == 2 && l.s[0] == '\r');
}

/* The part is complete: type it and parse it. */
static void
mp_finish_part(struct mp_state *st)
{
	struct spam_msg_node *p = st->part;
	char *type, *pb = NULL, *body;
	const char *b;
	size_t len;
	int missing;

	missing = spam_msg_mime_content_type(p, &type, &pb, NULL, NULL);
	if (missing && strcmp(st->msg->type, "multipart/digest") == 0) {
		free(type);
		type = xstrdup("message/rfc822");
	}
	free(p->type);
	p->type = type;
	b = pb != NULL && *pb != '\0' && strcmp(pb, "0") != 0 ? pb
	                                                      : st->boundary;
	spam_msg_mime_node_add_kid(st->msg, p);
	body = spam_msg_buf_take(&st->body, &len);
	spam_msg_mime_parse_body(st->t, p, b, body, len, st->subparse);
	free(body);
	free(pb);
	st->part = NULL;
	st->have_body = 0;
	st->in_body = 0;
	st->header.len = 0;
	st->have_header = 0;
}

/* Returns 1 at the closing boundary. */
static int
mp_end_of_part(struct mp_state *st, struct spam_msg_span l, int kind)
{
	if (kind == 0) {
		part_push_line(&st->body, &st->last, l);
		st->have_body = 1;
	} else if (st->have_body && st->body.len > st->last &&
	           st->body.s[st->body.len - 1] == '\n') {
		/* the newline before a boundary belongs to it */
		st->body.len--;
		st->body.s[st->body.len] = '\0';
	}
	mp_finish_part(st);
	return kind == 2;
}

static size_t
mp_skip_preamble(const struct spam_msg_span *v, size_t n, const char *b,
                 size_t blen)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (boundary_kind(v[i], b, blen, 1) == 1)
			return i + 1;
	}
	return 0;
}

void
spam_msg_mpart_parse(struct spam_msg_tree *t, struct spam_msg_node *msg,
                     const char *boundary, const char *body, size_t len,
                     int subparse)
{
	struct mp_state st = {0};
	struct spam_msg_span *v;
	size_t n, i;
	int kind;

	msg->leaf = 0;
	st.t = t;
	st.msg = msg;
	st.boundary = boundary;
	st.blen = strlen(boundary);
	st.subparse = subparse - 1;
	v = spam_msg_util_lines(body, len, &n);
	i = mp_skip_preamble(v, n, boundary, st.blen);
	for (; i < n; i++) {
		if (st.part == NULL && t->nparts >= SPAM_MSG_PARTS_MAX)
			break;
		if (st.part == NULL)
			st.part = spam_msg_mime_node_new(t);
		kind = boundary_kind(v[i], boundary, st.blen, 0);
		if (kind != 0 && st.nested) {
			st.nested = kind == 2 ? 0 : st.nested;
			kind = 0;
		}
		if (i + 1 == n || kind != 0) {
			if (mp_end_of_part(&st, v[i], kind))
				break;
			continue;
		}
		if (!st.in_body && mp_header_line(&st, v[i]))
			continue;
		part_push_line(&st.body, &st.last, v[i]);
		st.have_body = 1;
	}
	if (st.part != NULL)
		spam_msg_mime_node_free(st.part, 0);
	spam_msg_buf_free(&st.header);
	spam_msg_buf_free(&st.body);
	free(v);
}
