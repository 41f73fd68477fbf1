/*
 * spam_msg_body.c - the body and rawbody views, built from the MIME
 * leaves as SpamAssassin 4.0 builds the arrays its body and rawbody
 * rules read (Message.pm's get_rendered_body_text_array and
 * get_decoded_body_text_array).
 *
 * body: the Subject line, then every leaf in order, a line break
 * between leaves; text/plain converted to UTF-8, text/html (or a part
 * whose name ends in .htm, .html, .shtml) rendered; other leaves add
 * only the line break.  White space is then squeezed: a run holding two line
 * breaks becomes one line break (a paragraph end), any other run one
 * space; the result is split into paragraphs, each cut at a space
 * before SPAM_MSG_LINE_MAX octets.
 *
 * rawbody: each text or message leaf (text/calendar left out)
 * transfer-decoded but neither converted nor rendered, in pieces of
 * 2 to 4 KiB cut at a line end, a '>' or a space.
 *
 * Each part is cut near SPAM_MSG_BODY_SCAN characters (body) or
 * SPAM_MSG_RAWBODY_SCAN octets (rawbody), SpamAssassin's defaults; the
 * body text of a message stops growing at SPAM_MSG_TEXT_MAX.
 *
 * Perl keeps a string as octets until something puts a character above
 * U+00FF or a decoded 8-bit text in it; SpamAssassin's results differ
 * between the two (an &eacute; in pure ASCII HTML stays one octet, and
 * only character strings have Unicode white space).  "wide" below
 * tracks that state.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/spam_msg_private.h"
#include "util/xalloc.h"

/* The part's type, text/html when its name says HTML (Node.pm's
 * effective_type). */
static const char *
effective_type(const struct spam_msg_node *n)
{
	size_t len;
	const char *dot;

	if (n->name == NULL)
		return n->type;
	len = strlen(n->name);
	dot = strrchr(n->name, '.');
	if (dot == NULL || dot + 1 == n->name + len)
		return n->type;
	if (!strcasecmp(dot, ".htm") || !strcasecmp(dot, ".html") ||
	    !strcasecmp(dot, ".shtm") || !strcasecmp(dot, ".shtml"))
		return "text/html";
	return n->type;
}

/*
 * Characters in UTF-8 text
 */

/* Octets of the code point at s, 1 for anything not valid UTF-8. */
static size_t
char_len(const char *s, size_t len)
{
	unsigned int cp;
	size_t n = spam_msg_utf8_get(s, len, &cp);

	return n == 0 ? 1 : n;
}

/* Offset of the n-th character from off, or len. */
static size_t
char_skip(const char *s, size_t len, size_t off, size_t n)
{
	while (n > 0 && off < len) {
		off += char_len(s + off, len - off);
		n--;
	}
	return off;
}

static size_t
char_count(const char *s, size_t len)
{
	size_t i = 0, n = 0;

	while (i < len) {
		i += char_len(s + i, len - i);
		n++;
	}
	return n;
}

/* Cut text near max characters: after a c within 1024 characters of
 * the limit, trying the characters of seps in turn, else at max. */
static size_t
cut_near(const char *s, size_t len, size_t max, const char *seps, int chars)
{
	size_t at, i;
	const char *hit;

	if ((chars ? char_count(s, len) : len) <= max)
		return len;
	at = chars ? char_skip(s, len, 0, max) : max;
	for (; *seps != '\0'; seps++) {
		hit = memchr(s + at, *seps, len - at);
		if (hit == NULL)
			continue;
		i = (size_t)(hit - s);
		if ((chars ? char_count(s + at, i - at) : i - at) <= 1024)
			return i + 1;
	}
	return at;
}

/*
 * White space (the substitutions at the end of
 * get_body_text_array_common)
 */

/* Length of the white space character at s; wide text has Unicode's
 * white space, octet text only ASCII's. */
static size_t
ws_len(const char *s, size_t len, int wide)
{
	if (spam_msg_util_is_ws((unsigned char)s[0]))
		return 1;
	if (!wide || (unsigned char)s[0] < 0x80)
		return 0;
	return spam_msg_util_uni_space(s, len);
}

/* One run of white space: with two line breaks in it, what precedes
 * the first one becomes a space, the breaks one line end, what follows
 * the last one a space; else the run becomes one space. */
static void
squeeze_run(const char *s, size_t len, struct spam_msg_buf *out)
{
	const char *first = memchr(s, '\n', len), *last = NULL;
	size_t i;

	for (i = len; i > 0 && first != NULL; i--) {
		if (s[i - 1] == '\n') {
			last = s + i - 1;
			break;
		}
	}
	if (first == NULL || last == first) {
		spam_msg_buf_addc(out, ' ');
		return;
	}
	if (first > s)
		spam_msg_buf_addc(out, ' ');
	spam_msg_buf_addc(out, '\n');
	if (last + 1 < s + len)
		spam_msg_buf_addc(out, ' ');
}

static void
squeeze(const char *s, size_t len, int wide, struct spam_msg_buf *out)
{
	size_t i = 0, j, n;

	spam_msg_buf_add(out, "", 0);
	while (i < len) {
		j = i;
		while (j < len && (n = ws_len(s + j, len - j, wide)) > 0)
			j += n;
		if (j > i) {
			squeeze_run(s + i, j - i, out);
			i = j;
			continue;
		}
		spam_msg_buf_addc(out, s[i] == '\0' ? '\n' : s[i]);
		i++;
	}
}

/* Octet text holds Latin-1 characters as UTF-8 here; make them the
 * single octets Perl has. */
static void
to_latin1(char *s, size_t *len)
{
	size_t i = 0, j = 0;
	unsigned char c;

	while (i < *len) {
		c = (unsigned char)s[i];
		if ((c == 0xc2 || c == 0xc3) && i + 1 < *len &&
		    ((unsigned char)s[i + 1] & 0xc0) == 0x80) {
			s[j++] = (char)(((c & 3) << 6) |
			                ((unsigned char)s[i + 1] & 0x3f));
			i += 2;
			continue;
		}
		s[j++] = s[i++];
	}
	s[j] = '\0';
	*len = j;
}

/*
 * Arrays of pieces
 */

struct pieces {
	struct spam_text *v;
	size_t n;
	size_t cap;
};

static void
pieces_push(struct pieces *p, const char *s, size_t len)
{
	char *copy = xmalloc(len + 1);

	if (len > 0)
		memcpy(copy, s, len);
	copy[len] = '\0';
	if (p->n == p->cap) {
		p->cap = p->cap == 0 ? 16 : p->cap * 2;
		p->v = xreallocarray(p->v, p->cap, sizeof(*p->v));
	}
	p->v[p->n].s = copy;
	p->v[p->n].len = len;
	p->n++;
}

/* Where a line over SPAM_MSG_LINE_MAX octets is cut: after its last
 * space among the first SPAM_MSG_LINE_MAX + 1 octets, else at the
 * limit. */
static size_t
short_line_cut(const char *s)
{
	size_t cut;

	for (cut = SPAM_MSG_LINE_MAX + 1; cut > 0; cut--) {
		if (s[cut - 1] == ' ')
			return cut;
	}
	return SPAM_MSG_LINE_MAX;
}

/* split_into_array_of_short_lines */
static void
split_lines(const char *s, size_t len, struct pieces *out)
{
	struct spam_msg_span *lines;
	struct spam_text l;
	size_t n, i, cut;

	lines = spam_msg_util_lines(s, len, &n);
	for (i = 0; i < n; i++) {
		l.s = lines[i].s;
		l.len = lines[i].len;
		while (l.len > SPAM_MSG_LINE_MAX) {
			cut = short_line_cut(l.s);
			pieces_push(out, l.s, cut);
			l.s += cut;
			l.len -= cut;
		}
		pieces_push(out, l.s, l.len);
	}
	free(lines);
}

static size_t
find_from(const char *s, size_t len, size_t from, char c)
{
	const char *hit;

	if (from >= len)
		return (size_t)-1;
	hit = memchr(s + from, c, len - from);
	return hit != NULL ? (size_t)(hit - s) : (size_t)-1;
}

/* split_into_array_of_short_paragraphs */
static void
split_paragraphs(const char *s, size_t len, struct pieces *out)
{
	const size_t max = SPAM_MSG_LINE_MAX;
	static const char seps[] = "\n> ";
	size_t ofs = 0, j, k;

	if (len <= max) {
		pieces_push(out, s, len);
		return;
	}
	while (len - ofs > 2 * max) {
		for (k = 0; k < 3; k++) {
			j = find_from(s, len, ofs + max, seps[k]);
			if (j != (size_t)-1 && j - ofs + 1 <= 2 * max)
				break;
		}
		if (k == 3)
			j = ofs + max;
		pieces_push(out, s + ofs, j - ofs + 1);
		ofs = j + 1;
	}
	if (ofs < len)
		pieces_push(out, s + ofs, len - ofs);
}

/*
 * The views
 */

/* A leaf's rendered text (Node.pm's rendered()); returns 0 for leaves
 * that are not text/plain or text/html. */
static int
render_leaf(struct spam_msg_node *n, struct spam_msg_buf *text, int *wide,
            struct spam_msg_buf *uris)
{
	const char *type = effective_type(n);
	const char *cs = n->charset != NULL ? n->charset : "us-ascii";
	struct spam_msg_html_out html = {0};
	char *dec, *conv;
	size_t len, clen;
	int decoded;

	if (strcmp(type, "text/plain") != 0 && strcmp(type, "text/html") != 0)
		return 0;
	dec = spam_msg_mime_decode(n, &len);
	conv = spam_msg_charset_normalize(dec, len, cs, 0, &clen, &decoded);
	free(dec);
	if (len == 0 || strcmp(type, "text/html") != 0) {
		spam_msg_buf_add(text, conv, clen);
		*wide = decoded;
		free(conv);
		return 1;
	}
	spam_msg_html_render(conv, clen, decoded, &html);
	free(conv);
	spam_msg_buf_add(text, html.text.s != NULL ? html.text.s : "",
	                 html.text.len);
	spam_msg_buf_add(uris, html.uris.s != NULL ? html.uris.s : "",
	                 html.uris.len);
	*wide = decoded || html.wide;
	spam_msg_buf_free(&html.text);
	spam_msg_buf_free(&html.uris);
	return 1;
}

static void
add_leaf_text(struct spam_msg_node *n, struct spam_msg_buf *all, int *wide,
              struct spam_msg_buf *uris)
{
	struct spam_msg_buf t = {0};
	size_t cut;
	int w = 0;

	if (!render_leaf(n, &t, &w, uris) || t.len == 0) {
		spam_msg_buf_free(&t);
		return;
	}
	cut = cut_near(t.s, t.len, SPAM_MSG_BODY_SCAN, "\n ", 1);
	if (all->len + cut > SPAM_MSG_TEXT_MAX)
		cut = all->len < SPAM_MSG_TEXT_MAX
		          ? SPAM_MSG_TEXT_MAX - all->len
		          : 0;
	spam_msg_buf_add(all, t.s, cut);
	*wide |= w;
	spam_msg_buf_free(&t);
}

struct spam_text *
spam_msg_body_build(struct spam_msg_tree *tree, struct spam_msg_buf *uris,
                    size_t *n_r)
{
	struct spam_msg_buf all = {0}, sq = {0}, full = {0};
	struct pieces out = {0};
	struct spam_msg_node **leaves;
	const char *subject;
	size_t n, i, slen;
	int wide = 0;

	leaves = spam_msg_mime_leaves(tree, &n);
	spam_msg_buf_add(&all, "", 0);
	for (i = 0; i < n; i++) {
		if (all.len > 0 && all.len < SPAM_MSG_TEXT_MAX)
			spam_msg_buf_addc(&all, '\n');
		add_leaf_text(leaves[i], &all, &wide, uris);
	}
	squeeze(all.s, all.len, wide, &sq);
	if (!wide)
		to_latin1(sq.s, &sq.len);
	subject = spam_msg_mime_last(tree->root, "subject", &slen);
	if (n > 0) {
		spam_msg_buf_add(&full, subject != NULL ? subject : "", slen);
		spam_msg_buf_addc(&full, '\n');
		spam_msg_buf_add(&full, sq.s, sq.len);
		split_lines(full.s, full.len, &out);
	}
	free(leaves);
	spam_msg_buf_free(&all);
	spam_msg_buf_free(&sq);
	spam_msg_buf_free(&full);
	*n_r = out.n;
	return out.v;
}

static int
is_text_or_message(const char *type)
{
	size_t k;

	if (strncmp(type, "text", 4) == 0)
		k = 4;
	else if (strncmp(type, "message", 7) == 0)
		k = 7;
	else
		return 0;
	return !((type[k] >= 'a' && type[k] <= 'z') ||
	         (type[k] >= 'A' && type[k] <= 'Z') ||
	         (type[k] >= '0' && type[k] <= '9') || type[k] == '_');
}

struct spam_text *
spam_msg_body_raw(struct spam_msg_tree *tree, size_t *n_r)
{
	struct spam_msg_node **leaves;
	struct pieces out = {0};
	size_t n, i, len, cut;
	char *dec;

	leaves = spam_msg_mime_leaves(tree, &n);
	for (i = 0; i < n; i++) {
		if (!is_text_or_message(effective_type(leaves[i])) ||
		    strcmp(leaves[i]->type, "text/calendar") == 0)
			continue;
		dec = spam_msg_mime_decode(leaves[i], &len);
		cut = cut_near(dec, len, SPAM_MSG_RAWBODY_SCAN, "\n> ", 0);
		split_paragraphs(dec, cut, &out);
		free(dec);
	}
	free(leaves);
	*n_r = out.n;
	return out.v;
}
