/*
 * spam_msg_htmltok.c - HTML into tags and text, as HTML::Parser 3.81
 * does it for SpamAssassin (its hparser.c read for behaviour, then
 * checked against the installed module): what is a tag and what is
 * text decides the text body rules see.
 *
 * - "<" starts markup only before a letter, '_' or ':' (a start tag),
 *   '/' (an end tag), '!' (comment, declaration, marked section) or
 *   '?' (processing instruction); otherwise it is text.
 * - Tag and attribute names run to white space or '>'; values are
 *   quoted with " or ' or run to white space or '>'; the first of two
 *   attributes of one name wins.
 * - <script>, <style>, <xmp>, <iframe>, <plaintext>, <title> and
 *   <textarea> hold literal text up to their end tag (<plaintext> to
 *   the end); the first five do not decode entities.
 * - Comments end at "--" + blanks + ">"; "<!" things that are not a
 *   comment, a DOCTYPE or ENTITY declaration or a marked section are
 *   comments up to the next '>'; <![CDATA[ ... ]]> is text.
 * - Markup left open at the end: after a second look (comments ending
 *   at any '>') it is dropped as a comment.
 *
 * White space here is HTML::Parser's: ASCII's (not U+00A0).  Each step
 * moves forward; nothing recurses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/spam_msg_htmltok.h"
#include "util/xalloc.h"

#define MS_STACK_MAX 64
/* Attributes kept per tag (HTML::Parser keeps all; links come from the
 * first few). */
#define ATTRS_MAX 64

enum ms_kind { MS_NONE = 0, MS_INCLUDE, MS_RCDATA, MS_CDATA, MS_IGNORE };

struct tok_state {
	int chars;
	spam_msg_htmltok_cb *cb;
	void *arg;
	const char *literal; /* literal-mode element, or NULL */
	int is_cdata;
	int no_dash_dash; /* at the end: comments end at '>' */
	const char *pending_end;
	enum ms_kind ms_stack[MS_STACK_MAX];
	int ms_depth;
	enum ms_kind ms;
};

static const struct {
	const char *name;
	int cdata;
} literal_elems[] = {
    {"script", 1},    {"style", 1}, {"xmp", 1},      {"iframe", 1},
    {"plaintext", 1}, {"title", 0}, {"textarea", 0},
};

static int
is_space(char c)
{
	unsigned char u = (unsigned char)c;

	return u == ' ' || (u >= '\t' && u <= '\r');
}

static int
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
	       c == ':';
}

static int
is_name_first(char c)
{
	return is_name_char(c) && !(c >= '0' && c <= '9') && c != '.' &&
	       c != '-';
}

static int
not_space_gt(char c)
{
	return !is_space(c) && c != '>';
}

static char *
lower_dup(const char *s, size_t len)
{
	char *d = xstrndup(s, len), *p;

	for (p = d; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	}
	return d;
}

/*
 * Events
 */

static void
emit_text_always(struct tok_state *st, const char *s, size_t len)
{
	struct spam_msg_htmltok t = {0};
	struct spam_msg_buf b = {0};

	if (st->ms == MS_IGNORE)
		return;
	t.kind = SPAM_MSG_HTMLTOK_TEXT;
	if (st->is_cdata) {
		spam_msg_buf_add(&b, s, len);
	} else {
		t.wide = spam_msg_htmltok_entities(s, len, 1, st->chars, &b);
	}
	t.text = b.s != NULL ? b.s : "";
	t.text_len = b.len;
	st->cb(st->arg, &t);
	spam_msg_buf_free(&b);
}

static void
emit_text(struct tok_state *st, const char *s, size_t len)
{
	if (len > 0)
		emit_text_always(st, s, len);
}

static void
emit_tag(struct tok_state *st, enum spam_msg_htmltok_kind kind,
         const char *name, size_t len, struct spam_msg_htmltok_attr *attrs,
         size_t nattrs)
{
	struct spam_msg_htmltok t = {0};

	if (st->pending_end != NULL) {
		const char *pend = st->pending_end;

		st->pending_end = NULL;
		emit_tag(st, SPAM_MSG_HTMLTOK_END, pend, strlen(pend), NULL, 0);
	}
	if (st->ms == MS_IGNORE)
		return;
	t.kind = kind;
	t.tag = lower_dup(name, len);
	t.attrs = attrs;
	t.nattrs = nattrs;
	st->cb(st->arg, &t);
	free(t.tag);
}

/* A comment or declaration: only a pending end tag can come of it. */
static void
emit_none(struct tok_state *st, int is_comment)
{
	const char *pend = st->pending_end;

	if (pend == NULL || is_comment)
		return;
	st->pending_end = NULL;
	emit_tag(st, SPAM_MSG_HTMLTOK_END, pend, strlen(pend), NULL, 0);
}

/*
 * Start tags
 */

struct attrs {
	struct spam_msg_htmltok_attr *v;
	size_t n;
	size_t cap;
};

static void
attrs_free(struct attrs *a)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		free(a->v[i].name);
		free(a->v[i].value);
	}
	free(a->v);
	memset(a, 0, sizeof(*a));
}

static void
attrs_add(struct attrs *a, const char *name, size_t nlen, const char *val,
          size_t vlen, int chars)
{
	struct spam_msg_buf b = {0};
	char *lname = lower_dup(name, nlen);
	size_t i;
	int wide;

	for (i = 0; i < a->n; i++) {
		if (strcmp(a->v[i].name, lname) == 0 || a->n >= ATTRS_MAX) {
			free(lname);
			return;
		}
	}
	if (val == NULL) {
		/* a boolean attribute has its name as written */
		spam_msg_buf_add(&b, name, nlen);
		wide = 0;
	} else {
		if (vlen >= 2 && (val[0] == '"' || val[0] == '\'')) {
			val++;
			vlen -= 2;
		}
		wide = spam_msg_htmltok_entities(val, vlen, 0, chars, &b);
		if (!chars && !wide)
			spam_msg_entities_latin1(&b);
	}
	if (a->n == a->cap) {
		a->cap = a->cap == 0 ? 8 : a->cap * 2;
		a->v = xreallocarray(a->v, a->cap, sizeof(*a->v));
	}
	a->v[a->n].name = lname;
	a->v[a->n].value = spam_msg_buf_take(&b, &a->v[a->n].value_len);
	a->v[a->n].wide = wide;
	a->n++;
}

static const char *
skip_spaces(const char *s, const char *end)
{
	while (s < end && is_space(*s))
		s++;
	return s;
}

/* One token of a declaration: a quoted string, a -- comment -- or a
 * word.  Returns past it, end when the input ends first, NULL for a
 * lone '-'. */
static const char *
decl_token(const char *s, const char *end)
{
	const char *p;
	char q;

	if (*s == '"' || *s == '\'') {
		q = *s++;
		p = memchr(s, q, (size_t)(end - s));
		return p != NULL ? p + 1 : end;
	}
	if (*s == '-') {
		if (s + 1 >= end)
			return end;
		if (s[1] != '-')
			return NULL;
		for (p = s + 2; p + 1 < end; p++) {
			if (p[0] == '-' && p[1] == '-')
				return p + 2;
		}
		return end;
	}
	while (s < end && not_space_gt(*s))
		s++;
	return s;
}

/* An attribute value after '='; NULL when the input ends first. */
static const char *
attr_value(const char *s, const char *end, const char **vend)
{
	char q;

	if (*s == '"' || *s == '\'') {
		q = *s;
		s++;
		while (s < end && *s != q)
			s++;
		if (s == end)
			return NULL;
		*vend = s + 1;
		return *vend;
	}
	while (s < end && not_space_gt(*s))
		s++;
	if (s == end)
		return NULL;
	*vend = s;
	return s;
}

/* Attributes up to the closing '>'; returns a pointer at it, or NULL
 * when the input ends first. */
static const char *
parse_attrs(struct tok_state *st, const char *s, const char *end,
            struct attrs *a)
{
	const char *nb, *ne, *vb, *ve = NULL;

	while (s < end && not_space_gt(*s)) {
		nb = s++;
		while (s < end && not_space_gt(*s) && *s != '=')
			s++;
		ne = s;
		s = skip_spaces(s, end);
		if (s == end)
			return NULL;
		if (*s != '=') {
			attrs_add(a, nb, (size_t)(ne - nb), NULL, 0, st->chars);
			continue;
		}
		s = skip_spaces(s + 1, end);
		if (s == end)
			return NULL;
		if (*s == '>') {
			attrs_add(a, nb, (size_t)(ne - nb), s, 0, st->chars);
			break;
		}
		vb = s;
		s = attr_value(s, end, &ve);
		if (s == NULL)
			return NULL;
		attrs_add(a, nb, (size_t)(ne - nb), vb, (size_t)(ve - vb),
		          st->chars);
		s = skip_spaces(s, end);
		if (s == end)
			return NULL;
	}
	return s;
}

static void
check_literal(struct tok_state *st, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(literal_elems) / sizeof(literal_elems[0]); i++) {
		if (strlen(literal_elems[i].name) == len &&
		    strncasecmp(literal_elems[i].name, name, len) == 0) {
			st->literal = literal_elems[i].name;
			st->is_cdata = literal_elems[i].cdata;
			return;
		}
	}
}

/* Returns past the tag, beg when the input ends inside it. */
static const char *
parse_start(struct tok_state *st, const char *beg, const char *end)
{
	struct attrs a = {0};
	const char *s = beg + 2, *name = beg + 1;
	size_t nlen;

	while (s < end && not_space_gt(*s))
		s++;
	nlen = (size_t)(s - name);
	s = skip_spaces(s, end);
	if (s == end)
		return beg;
	s = parse_attrs(st, s, end, &a);
	if (s == NULL || s == end || *s != '>') {
		attrs_free(&a);
		return beg;
	}
	emit_tag(st, SPAM_MSG_HTMLTOK_START, name, nlen, a.v, a.n);
	attrs_free(&a);
	check_literal(st, name, nlen);
	return s + 1;
}

/*
 * End tags, comments, declarations, marked sections
 */

/* Up to a '>' outside quotes (a quote opens after a blank or '='). */
static const char *
skip_until_gt(const char *s, const char *end)
{
	char quote = '\0', prev = ' ';

	while (s < end) {
		if (quote == '\0' && *s == '>')
			return s;
		if (*s == '"' || *s == '\'') {
			if (*s == quote)
				quote = '\0';
			else if (quote == '\0' && (prev == ' ' || prev == '='))
				quote = *s;
		}
		prev = *s++;
	}
	return end;
}

static const char *
parse_end(struct tok_state *st, const char *beg, const char *end)
{
	const char *s = beg + 2, *name = s;
	size_t nlen;

	if (!not_space_gt(*s)) {
		/* "</ x>", "</>": a comment up to '>' */
		s = skip_until_gt(s, end);
		if (s == end)
			return beg;
		emit_none(st, 1);
		return s + 1;
	}
	while (s < end && not_space_gt(*s))
		s++;
	nlen = (size_t)(s - name);
	s = skip_until_gt(s, end);
	if (s == end)
		return beg;
	emit_tag(st, SPAM_MSG_HTMLTOK_END, name, nlen, NULL, 0);
	return s + 1;
}

/* After "<!--": the comment's end, or NULL when there is none. */
static const char *
comment_end(const struct tok_state *st, const char *s, const char *end)
{
	const char *p;

	if (st->no_dash_dash) {
		p = memchr(s, '>', (size_t)(end - s));
		return p != NULL ? p + 1 : NULL;
	}
	while ((p = memchr(s, '-', (size_t)(end - s))) != NULL) {
		s = p + 1;
		if (s < end && *s == '-') {
			const char *q = skip_spaces(s + 1, end);

			if (q < end && *q == '>')
				return q + 1;
		}
	}
	return NULL;
}

static void
ms_update(struct tok_state *st)
{
	int i;

	st->ms = MS_NONE;
	for (i = 0; i < st->ms_depth; i++) {
		if (st->ms_stack[i] > st->ms)
			st->ms = st->ms_stack[i];
	}
	st->is_cdata = st->ms == MS_CDATA;
}

static enum ms_kind
ms_word(const char *s, size_t len)
{
	if (len == 7 && strncasecmp(s, "include", 7) == 0)
		return MS_INCLUDE;
	if (len == 6 && strncasecmp(s, "rcdata", 6) == 0)
		return MS_RCDATA;
	if (len == 5 && strncasecmp(s, "cdata", 5) == 0)
		return MS_CDATA;
	if (len == 6 && strncasecmp(s, "ignore", 6) == 0)
		return MS_IGNORE;
	return MS_NONE;
}

/* Past the next "--", or NULL. */
static const char *
past_dashdash(const char *s, const char *end)
{
	for (; s + 1 < end; s++) {
		if (s[0] == '-' && s[1] == '-')
			return s + 2;
	}
	return NULL;
}

/* "<![": NULL (not one), beg (input ends), or past the "[". */
static const char *
parse_marked(struct tok_state *st, const char *beg, const char *end)
{
	const char *s = beg + 3, *w;
	enum ms_kind kind = MS_NONE, k;
	int named = 0;

	for (;;) {
		s = skip_spaces(s, end);
		while (s < end && is_name_first(*s)) {
			w = s++;
			while (s < end && is_name_char(*s))
				s++;
			k = ms_word(w, (size_t)(s - w));
			kind = k > kind ? k : kind;
			named = 1;
			s = skip_spaces(s, end);
			if (s == end)
				return beg;
		}
		if (s < end && *s == '-' && s + 1 < end && s[1] == '-') {
			s = past_dashdash(s + 2, end);
			if (s == NULL)
				return beg;
			continue;
		}
		break;
	}
	if (s >= end || *s != '[')
		return NULL;
	if (st->ms_depth < MS_STACK_MAX)
		st->ms_stack[st->ms_depth++] = named ? kind : MS_INCLUDE;
	ms_update(st);
	emit_none(st, 0);
	return s + 1;
}

/* <!DOCTYPE ...> and <!ENTITY ...>: words, quoted strings and --
 * comments up to '>'.  Returns past it, beg when the input ends first,
 * or NULL when it is not one (*fail_r: where a comment would start). */
static const char *
parse_declaration(const char *beg, const char *s, const char *end,
                  const char **fail_r)
{
	const char *id = s - 1;

	while (s < end && is_name_char(*s))
		s++;
	if (s == end)
		return beg;
	*fail_r = s;
	if (!((s - id == 7 && strncasecmp(id, "doctype", 7) == 0) ||
	      (s - id == 6 && strncasecmp(id, "entity", 6) == 0)))
		return NULL;
	for (;;) {
		s = skip_spaces(s, end);
		if (s == end)
			return beg;
		if (*s == '>')
			return s + 1;
		*fail_r = s;
		s = decl_token(s, end);
		if (s == NULL)
			return NULL;
		if (s == end)
			return beg;
	}
}

/* What a failed "<!" becomes: a comment up to the next '>'. */
static const char *
decl_fail(struct tok_state *st, const char *beg, const char *s, const char *end)
{
	const char *gt = memchr(s, '>', (size_t)(end - s));

	if (gt == NULL)
		return beg;
	emit_none(st, 1);
	return gt + 1;
}

static const char *
parse_decl(struct tok_state *st, const char *beg, const char *end)
{
	const char *s = beg + 2, *r, *fail;

	if (*s == '-') {
		s++;
		if (s == end)
			return beg;
		if (*s != '-')
			return decl_fail(st, beg, s, end);
		r = comment_end(st, s + 1, end);
		if (r == NULL)
			return beg;
		emit_none(st, 1);
		return r;
	}
	if (*s == '[') {
		r = parse_marked(st, beg, end);
		return r != NULL ? r : decl_fail(st, beg, s, end);
	}
	if (*s == '>') {
		emit_none(st, 1);
		return s + 1;
	}
	if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')) {
		r = parse_declaration(beg, s + 1, end, &fail);
		if (r == beg)
			return beg;
		if (r != NULL) {
			emit_none(st, 0);
			return r;
		}
		s = fail;
	}
	return decl_fail(st, beg, s, end);
}

static const char *
parse_process(struct tok_state *st, const char *beg, const char *end)
{
	const char *gt = memchr(beg + 2, '>', (size_t)(end - beg - 2));

	if (gt == NULL)
		return beg;
	emit_none(st, 0);
	return gt + 1;
}

/*
 * The main loop (parse_buf)
 */

/* Text in a literal element up to its end tag.  Returns where to go
 * on, or NULL when the input ended (*t is where to start again). */
static const char *
literal_step(struct tok_state *st, const char **t, const char *s,
             const char *end)
{
	const char *lt, *l, *p;

	while ((lt = memchr(s, '<', (size_t)(end - s))) != NULL) {
		s = lt + 1;
		if (s >= end || *s != '/')
			continue;
		p = s + 1;
		for (l = st->literal;
		     *l != '\0' && p < end && (*p | 0x20) == *l && *p != '\0';
		     l++, p++)
			;
		if (*l != '\0' || strcmp(st->literal, "plaintext") == 0)
			continue;
		p = skip_spaces(p, end);
		if (p >= end || *p != '>')
			continue;
		emit_text(st, *t, (size_t)(lt - *t));
		emit_tag(st, SPAM_MSG_HTMLTOK_END, st->literal,
		         strlen(st->literal), NULL, 0);
		st->literal = NULL;
		st->is_cdata = 0;
		*t = p + 1;
		return p + 1;
	}
	return NULL;
}

/* Text in a CDATA or RCDATA marked section up to "]]>". */
static const char *
cdata_step(struct tok_state *st, const char **t, const char *s, const char *end)
{
	const char *p;

	while ((p = memchr(s, ']', (size_t)(end - s))) != NULL) {
		s = p + 1;
		if (end - p < 3 || p[1] != ']' || p[2] != '>')
			continue;
		emit_text(st, *t, (size_t)(p - *t));
		emit_none(st, 0);
		*t = p + 3;
		if (st->ms_depth > 0)
			st->ms_depth--;
		ms_update(st);
		return p + 3;
	}
	return NULL;
}

/* "]]>" ends a marked section inside plain text.  HTML::Parser steps
 * over the octet after a "]" or "]]" that does not end one, even a
 * '<', and reports the text before it even when empty. */
static const char *
ms_end_step(struct tok_state *st, const char **t, const char *s,
            const char *end)
{
	const char *text_end = s;

	s++;
	if (s < end && *s == ']') {
		s++;
		if (s < end && *s == '>') {
			emit_text_always(st, *t, (size_t)(text_end - *t));
			emit_none(st, 0);
			*t = s + 1;
			if (st->ms_depth > 0)
				st->ms_depth--;
			ms_update(st);
			return s + 1;
		}
	}
	return s + 1;
}

/* Plain text up to the next '<'.  Returns the '<' or end. */
static const char *
text_step(struct tok_state *st, const char **t, const char *s, const char *end)
{
	while (s < end && *s != '<') {
		if (st->ms != MS_NONE && *s == ']') {
			s = ms_end_step(st, t, s, end);
			continue;
		}
		s++;
	}
	if (s > end)
		s = end;
	if (s < end && s != *t) {
		emit_text(st, *t, (size_t)(s - *t));
		*t = s;
	}
	return s;
}

static const char *
markup_step(struct tok_state *st, const char *t, const char *end)
{
	char c = t[1];

	if (is_name_first(c))
		return parse_start(st, t, end);
	if (c == '/')
		return parse_end(st, t, end);
	if (c == '!')
		return parse_decl(st, t, end);
	if (c == '?')
		return parse_process(st, t, end);
	return NULL;
}

/* Returns where the unparsed rest begins. */
static const char *
parse_buf(struct tok_state *st, const char *s, const char *end)
{
	const char *t = s, *r;

	for (;;) {
		if (st->literal != NULL) {
			s = literal_step(st, &t, s, end);
			if (s == NULL)
				return t;
			continue;
		}
		if (st->ms == MS_CDATA || st->ms == MS_RCDATA) {
			s = cdata_step(st, &t, s, end);
			if (s == NULL)
				return t;
			continue;
		}
		s = text_step(st, &t, s, end);
		if (s == end || end - s < 3)
			return t;
		r = markup_step(st, t, end);
		if (r == t)
			return t;
		if (r != NULL)
			t = r;
		s = r != NULL ? r : s + 1;
	}
}

/*
 * The end of the document
 */

static const char *
eof_literal(struct tok_state *st, const char *s, const char *end)
{
	const char *lit = st->literal;

	if (!strcmp(lit, "plaintext") || !strcmp(lit, "xmp") ||
	    !strcmp(lit, "iframe") || !strcmp(lit, "textarea"))
		return NULL;
	if (!strcmp(lit, "script") || !strcmp(lit, "style"))
		emit_tag(st, SPAM_MSG_HTMLTOK_END, lit, strlen(lit), NULL, 0);
	else
		st->pending_end = lit;
	/* is_cdata stays as it was, as in HTML::Parser */
	st->literal = NULL;
	return parse_buf(st, s, end);
}

static void
parse_eof(struct tok_state *st, const char *s, const char *end)
{
	const char *r;

	while (s < end) {
		if (st->literal != NULL) {
			r = eof_literal(st, s, end);
			if (r == NULL)
				break;
			s = r;
			continue;
		}
		if (!st->no_dash_dash && *s == '<') {
			st->no_dash_dash = 1;
			s = parse_buf(st, s, end);
			continue;
		}
		if (*s == '<' && (s + 1 == end || is_name_first(s[1]) ||
		                  s[1] == '/' || s[1] == '!' || s[1] == '?')) {
			emit_none(st, 1);
			s = end;
		}
		break;
	}
	if (s < end)
		emit_text(st, s, (size_t)(end - s));
	emit_none(st, 0);
}

void
spam_msg_htmltok_run(const char *s, size_t len, int chars,
                     spam_msg_htmltok_cb *cb, spam_msg_htmltok_more_cb *more,
                     void *arg)
{
	struct tok_state st = {0};
	struct spam_msg_buf rest = {0};
	const char *r, *add;
	int rounds;

	st.chars = chars;
	st.cb = cb;
	st.arg = arg;
	r = parse_buf(&st, s, s + len);
	spam_msg_buf_add(&rest, r, len - (size_t)(r - s));
	for (rounds = 0; rounds < 16 && (add = more(arg)) != NULL; rounds++) {
		char *cur;
		size_t clen;

		spam_msg_buf_adds(&rest, add);
		cur = spam_msg_buf_take(&rest, &clen);
		r = parse_buf(&st, cur, cur + clen);
		spam_msg_buf_add(&rest, r, clen - (size_t)(r - cur));
		free(cur);
	}
	if (rest.s != NULL)
		parse_eof(&st, rest.s, rest.s + rest.len);
	else
		parse_eof(&st, "", "");
	spam_msg_buf_free(&rest);
}
