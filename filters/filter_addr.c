/*
 * filter_addr.c - address-list parsing of header field values (RFC 5322
 * 3.4, the obsolete forms of 4.4, UTF-8 per RFC 6532).
 *
 * A small lexer turns the value into words (atoms, quoted strings),
 * domain literals and specials, skipping CFWS.  The parser above it
 * tells a display name from a local part by what follows the words: '@'
 * makes them a local part, '<' a display name, ':' a group name.  Only
 * the addr-specs are kept; display names, comments and obsolete routes
 * are checked and dropped.  Nothing recurses: nested comments are
 * counted up to ADDR_COMMENT_DEPTH, and groups cannot nest.
 *
 * Errors (static strings): unterminated quoted string, comment, domain
 * literal, angle address or group; a bare line break; a mailbox without
 * '@' or domain; text after an address; a local part or domain longer
 * than struct filter_mailbox holds; invalid UTF-8 in an address.  A
 * value of only whitespace and comments holds 0 mailboxes: the caller
 * decides what an empty From means.
 */
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "filters/filter_addr.h"

#define ADDR_COMMENT_DEPTH 32

enum addr_tok {
	TOK_END = 0,
	TOK_ATOM,
	TOK_QUOTED,  /* text includes the quotes */
	TOK_LITERAL, /* text includes the brackets */
	TOK_SPECIAL, /* one of < > @ , ; : . */
	TOK_ERROR,
};

struct addr_parse {
	const char *p;     /* next octet to lex */
	enum addr_tok tok; /* the current token */
	const char *start; /* its text */
	size_t len;
	const char *error;
	struct filter_mailbox *out;
	size_t max;
	size_t count;
};

/* Bounded text; overflow is remembered, not reported at once, since
 * words that overflow may turn out to be a display name. */
struct addr_buf {
	char *s;
	size_t size;
	size_t len;
	int overflow;
};

/* Words read before we know whether they are a local part or a phrase. */
struct addr_words {
	struct addr_buf buf;
	int words;
	int adjacent;  /* two words with no dot between: a phrase only */
	int last_word; /* the last token was a word, not a dot */
};

static int addr_parse_address(struct addr_parse *ap, int in_group);

static int
addr_fail(struct addr_parse *ap, const char *reason)
{
	/* The first error wins: a lexer error explains the parser's. */
	if (ap->error == NULL)
		ap->error = reason;
	ap->tok = TOK_ERROR;
	return -1;
}

static void
buf_init(struct addr_buf *b, char *s, size_t size)
{
	b->s = s;
	b->size = size;
	b->len = 0;
	b->overflow = 0;
	s[0] = '\0';
}

static void
buf_add(struct addr_buf *b, const char *s, size_t n)
{
	if (b->overflow || n >= b->size - b->len) {
		b->overflow = 1;
		return;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* Lexer */

static int
addr_is_atext(unsigned char c)
{
	/* RFC 6532 3.2: any UTF-8 octet is atext; addresses are checked
	 * for valid UTF-8 once assembled. */
	if (c >= 0x80)
		return 1;
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

static int
addr_is_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

/*
 * At CR or LF: a fold is CRLF followed by WSP (RFC 5322 3.2.2).  Returns
 * the position after the line break, or NULL for a bare one.
 * NOTE: a bare LF fold is taken as CRLF, for front ends that hand over
 * header fields with LF line ends.
 */
static const char *
addr_fold_end(const char *p)
{
	if (*p == '\r')
		p++;
	if (*p != '\n')
		return NULL;
	p++;
	return *p == ' ' || *p == '\t' ? p : NULL;
}

/* quoted-pair (RFC 5322 3.2.1, obs-qp of 4.1): a backslash and any
 * octet but NUL and the line-break octets. */
static int
addr_is_pair(unsigned char c)
{
	return c != '\0' && c != '\r' && c != '\n';
}

/* A comment at ap->p, nested ones counted rather than recursed into. */
static int
addr_skip_comment(struct addr_parse *ap)
{
	const char *p = ap->p;
	int depth = 0;

	for (;;) {
		switch (*p) {
		case '\0':
			return addr_fail(ap, "unterminated comment");
		case '(':
			if (++depth > ADDR_COMMENT_DEPTH)
				return addr_fail(ap,
				                 "comments nested too deep");
			break;
		case ')':
			if (--depth == 0) {
				ap->p = p + 1;
				return 0;
			}
			break;
		case '\\':
			if (!addr_is_pair((unsigned char)p[1]))
				return addr_fail(ap, "bad quoted-pair");
			p++;
			break;
		case '\r':
		case '\n':
			if ((p = addr_fold_end(p)) == NULL)
				return addr_fail(ap, "bare line break");
			continue;
		}
		p++;
	}
}

static int
addr_skip_cfws(struct addr_parse *ap)
{
	const char *p;

	for (;;) {
		switch (*ap->p) {
		case ' ':
		case '\t':
			ap->p++;
			break;
		case '\r':
		case '\n':
			if ((p = addr_fold_end(ap->p)) == NULL)
				return addr_fail(ap, "bare line break");
			ap->p = p;
			break;
		case '(':
			if (addr_skip_comment(ap) < 0)
				return -1;
			break;
		default:
			return 0;
		}
	}
}

/*
 * Scan a quoted string (close '"') or a domain literal (close ']') at
 * ap->p into the current token.  Folds and quoted-pairs are allowed in
 * both (obs-dtext); control characters in neither.
 */
static int
addr_lex_delimited(struct addr_parse *ap, enum addr_tok tok, char close,
                   const char *unterminated)
{
	const char *p = ap->p + 1;
	unsigned char c;

	while ((c = (unsigned char)*p) != (unsigned char)close) {
		if (c == '\0')
			return addr_fail(ap, unterminated);
		if (c == '\r' || c == '\n') {
			if ((p = addr_fold_end(p)) == NULL)
				return addr_fail(ap, "bare line break");
			continue;
		}
		if (c == '\\' && !addr_is_pair((unsigned char)p[1]))
			return addr_fail(ap, "bad quoted-pair");
		if (addr_is_ctl(c) || (tok == TOK_LITERAL && c == '['))
			return addr_fail(ap, "bad character in quoted text");
		p += c == '\\' ? 2 : 1;
	}
	ap->tok = tok;
	ap->start = ap->p;
	ap->len = (size_t)(p + 1 - ap->p);
	ap->p = p + 1;
	return 0;
}

/* Move to the next token; a no-op once an error happened. */
static void
addr_next(struct addr_parse *ap)
{
	unsigned char c;

	if (ap->tok == TOK_ERROR || addr_skip_cfws(ap) < 0)
		return;
	c = (unsigned char)*ap->p;
	ap->start = ap->p;
	ap->len = 1;
	if (c == '\0') {
		ap->tok = TOK_END;
		ap->len = 0;
	} else if (c == '"') {
		addr_lex_delimited(ap, TOK_QUOTED, '"',
		                   "unterminated quoted string");
	} else if (c == '[') {
		addr_lex_delimited(ap, TOK_LITERAL, ']',
		                   "unterminated domain literal");
	} else if (strchr("<>@,;:.", c) != NULL) {
		ap->tok = TOK_SPECIAL;
		ap->p++;
	} else if (addr_is_atext(c)) {
		while (addr_is_atext((unsigned char)*ap->p))
			ap->p++;
		ap->tok = TOK_ATOM;
		ap->len = (size_t)(ap->p - ap->start);
	} else {
		addr_fail(ap, c == ')' ? "unbalanced ')'" : "bad character");
	}
}

static int
addr_at(const struct addr_parse *ap, char special)
{
	return ap->tok == TOK_SPECIAL && *ap->start == special;
}

/* Checks */

static int
addr_utf8_valid(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned int cp, min;
	size_t n, i;

	while (*s != '\0') {
		if (*s < 0x80) {
			s++;
			continue;
		}
		if (*s >= 0xc2 && *s <= 0xdf)
			n = 1;
		else if ((*s & 0xf0) == 0xe0)
			n = 2;
		else if (*s >= 0xf0 && *s <= 0xf4)
			n = 3;
		else
			return 0;
		cp = *s & (0x3f >> n);
		min = n == 1 ? 0x80 : n == 2 ? 0x800 : 0x10000;
		/* A NUL fails the continuation test before it is passed. */
		for (i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		s += n + 1;
	}
	return 1;
}

static void
addr_lowercase(char *s)
{
	for (; *s != '\0'; s++) {
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
	}
}

/* Words */

/* Add the current token (a word or a dot) to w, quotes removed. */
static void
addr_words_add(const struct addr_parse *ap, struct addr_words *w)
{
	const char *s = ap->start, *end = ap->start + ap->len - 1;

	if (ap->tok == TOK_SPECIAL) {
		buf_add(&w->buf, ".", 1);
		w->last_word = 0;
		return;
	}
	if (w->last_word)
		w->adjacent = 1;
	w->words++;
	w->last_word = 1;
	if (ap->tok == TOK_ATOM) {
		buf_add(&w->buf, s, ap->len);
		return;
	}
	/* Unfold and unquote (RFC 5322 3.2.4). */
	for (s++; s < end; s++) {
		if (*s == '\r' || *s == '\n')
			continue;
		if (*s == '\\')
			s++;
		buf_add(&w->buf, s, 1);
	}
}

/* Read words and dots: a display name, a local part or a group name. */
static void
addr_words_read(struct addr_parse *ap, struct addr_words *w, char *buf,
                size_t size)
{
	memset(w, 0, sizeof(*w));
	buf_init(&w->buf, buf, size);
	while (ap->tok == TOK_ATOM || ap->tok == TOK_QUOTED ||
	       addr_at(ap, '.')) {
		addr_words_add(ap, w);
		addr_next(ap);
	}
}

/* Domains */

static void
addr_literal_copy(const struct addr_parse *ap, struct addr_buf *b)
{
	size_t i;

	/* Kept as written but unfolded. */
	for (i = 0; i < ap->len; i++) {
		if (ap->start[i] != '\r' && ap->start[i] != '\n')
			buf_add(b, ap->start + i, 1);
	}
}

/*
 * The domain after '@' into buf (FILTER_ADDR_DOMAIN_MAX): dot-atom,
 * obs-domain (CFWS around the dots) or a domain literal.  One trailing
 * dot (a fully qualified name) is dropped.
 */
static int
addr_domain_parse(struct addr_parse *ap, char *buf)
{
	struct addr_buf b;

	buf_init(&b, buf, FILTER_ADDR_DOMAIN_MAX);
	if (ap->tok == TOK_LITERAL) {
		addr_literal_copy(ap, &b);
		addr_next(ap);
	} else if (ap->tok == TOK_ATOM) {
		for (;;) {
			buf_add(&b, ap->start, ap->len);
			addr_next(ap);
			if (!addr_at(ap, '.'))
				break;
			addr_next(ap);
			if (ap->tok != TOK_ATOM)
				break;
			buf_add(&b, ".", 1);
		}
	} else {
		return addr_fail(ap, "mailbox without domain");
	}
	if (ap->tok == TOK_ERROR)
		return -1;
	if (b.overflow)
		return addr_fail(ap, "domain too long");
	if (!addr_utf8_valid(buf))
		return addr_fail(ap, "invalid UTF-8 in domain");
	addr_lowercase(buf);
	return 0;
}

/* Mailboxes */

/* At '@' after the words w (already in mb->local): the rest of an
 * addr-spec. */
static int
addr_spec_finish(struct addr_parse *ap, const struct addr_words *w,
                 struct filter_mailbox *mb)
{
	if (w->words == 0 || w->adjacent)
		return addr_fail(ap, "invalid local part");
	if (w->buf.overflow)
		return addr_fail(ap, "local part too long");
	if (!addr_utf8_valid(mb->local))
		return addr_fail(ap, "invalid UTF-8 in local part");
	addr_next(ap);
	return addr_domain_parse(ap, mb->domain);
}

/* obs-route (RFC 5322 4.4): "@a,@b:" before the addr-spec, dropped. */
static int
addr_route_skip(struct addr_parse *ap)
{
	char scratch[FILTER_ADDR_DOMAIN_MAX];
	int domains = 0;

	for (;;) {
		if (addr_at(ap, ',')) {
			addr_next(ap);
			continue;
		}
		if (!addr_at(ap, '@'))
			break;
		addr_next(ap);
		if (addr_domain_parse(ap, scratch) < 0)
			return -1;
		domains++;
	}
	if (domains == 0 || !addr_at(ap, ':'))
		return addr_fail(ap, "bad route in angle address");
	addr_next(ap);
	return 0;
}

/* At '<': angle-addr or obs-angle-addr, into mb. */
static int
addr_angle_parse(struct addr_parse *ap, struct filter_mailbox *mb)
{
	struct addr_words w;

	addr_next(ap);
	if ((addr_at(ap, '@') || addr_at(ap, ',')) && addr_route_skip(ap) < 0)
		return -1;
	addr_words_read(ap, &w, mb->local, sizeof(mb->local));
	if (!addr_at(ap, '@'))
		return addr_fail(ap, w.words > 0 ? "mailbox without '@'"
		                                 : "empty angle address");
	if (addr_spec_finish(ap, &w, mb) < 0)
		return -1;
	if (addr_at(ap, '>')) {
		addr_next(ap);
		return 0;
	}
	return addr_fail(ap, ap->tok == TOK_END ? "unterminated angle address"
	                                        : "garbage in angle address");
}

static int
addr_emit(struct addr_parse *ap, const struct filter_mailbox *mb)
{
	if (ap->count >= INT_MAX)
		return addr_fail(ap, "too many mailboxes");
	if (ap->count < ap->max)
		ap->out[ap->count] = *mb;
	ap->count++;
	return 0;
}

/* After "name:": group members up to ';' (RFC 5322 3.4, obs-group-list,
 * obs-mbox-list: empty elements allowed). */
static int
addr_group_parse(struct addr_parse *ap)
{
	addr_next(ap);
	for (;;) {
		if (addr_at(ap, ';')) {
			addr_next(ap);
			return ap->tok == TOK_ERROR ? -1 : 0;
		}
		if (addr_at(ap, ',')) {
			addr_next(ap);
			continue;
		}
		if (ap->tok == TOK_END)
			return addr_fail(ap, "unterminated group");
		if (addr_parse_address(ap, 1) < 0)
			return -1;
		if (ap->tok == TOK_END)
			return addr_fail(ap, "unterminated group");
		if (!addr_at(ap, ',') && !addr_at(ap, ';'))
			return addr_fail(ap, "garbage after address");
	}
}

/* One address: a mailbox, or (outside a group) a group. */
static int
addr_parse_address(struct addr_parse *ap, int in_group)
{
	struct filter_mailbox mb;
	struct addr_words w;

	memset(&mb, 0, sizeof(mb));
	addr_words_read(ap, &w, mb.local, sizeof(mb.local));
	if (addr_at(ap, '@')) {
		if (addr_spec_finish(ap, &w, &mb) < 0)
			return -1;
		return addr_emit(ap, &mb);
	}
	if (addr_at(ap, '<')) {
		if (addr_angle_parse(ap, &mb) < 0)
			return -1;
		return addr_emit(ap, &mb);
	}
	if (addr_at(ap, ':') && in_group)
		return addr_fail(ap, "group inside a group");
	if (addr_at(ap, ':') && w.words == 0)
		return addr_fail(ap, "group without a name");
	if (addr_at(ap, ':'))
		return addr_group_parse(ap);
	return addr_fail(ap, w.words > 0 ? "mailbox without '@'"
	                                 : "expected an address");
}

int
filter_addr_parse_list(const char *value, struct filter_mailbox *out,
                       size_t max, const char **error_r)
{
	struct addr_parse ap;

	memset(&ap, 0, sizeof(ap));
	ap.p = value;
	ap.out = out;
	ap.max = out != NULL ? max : 0;

	/* obs-addr-list: empty elements between commas are skipped. */
	addr_next(&ap);
	while (ap.tok != TOK_END && ap.tok != TOK_ERROR) {
		if (addr_at(&ap, ',')) {
			addr_next(&ap);
			continue;
		}
		if (addr_parse_address(&ap, 0) < 0)
			break;
		if (ap.tok != TOK_END && !addr_at(&ap, ','))
			addr_fail(&ap, "garbage after address");
	}
	if (ap.tok == TOK_ERROR) {
		*error_r = ap.error;
		return -1;
	}
	return (int)ap.count;
}
