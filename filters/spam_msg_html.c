/*
 * spam_msg_html.c - an HTML part rendered to the text SpamAssassin 4.0's
 * HTML.pm makes of it, and the links it collects.
 *
 * Text is what lies between tags, entities decoded, runs of white
 * space made one space; <br> and <div> add a line break, <p>, <hr>,
 * <blockquote>, <pre>, <title> and a few more a blank line, table
 * cells and list items a space; the text of <script> and <style> is
 * dropped.  Links come from href, src, background, action, <base>
 * (which later relative links are resolved against) and
 * <meta http-equiv=refresh>; each <a>'s href is also kept as written.
 *
 * XXX Text HTML.pm would call invisible (same colour as the background,
 * font size 1, display:none) is rendered like any text, as
 * SpamAssassin's body view has it, except that HTML.pm keeps a space
 * before a line break after invisible text and this drops it: the
 * body view differs by that space at most.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/spam_msg_htmltok.h"
#include "util/xalloc.h"

#define HTML_URIS_MAX (2 * SPAM_MSG_URIS_MAX)

static const char *const elements[] = {
    "a", "abbr", "acronym", "address", "applet", "area", "b", "base",
    "basefont", "bdo", "big", "blockquote", "body", "br", "button", "caption",
    "center", "cite", "code", "col", "colgroup", "dd", "del", "dfn", "dir",
    "div", "dl", "dt", "em", "fieldset", "font", "form", "frame", "frameset",
    "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "html", "i", "iframe",
    "img", "input", "ins", "isindex", "kbd", "label", "legend", "li", "link",
    "map", "menu", "meta", "nobr", "noframes", "noscript", "object", "ol",
    "optgroup", "option", "p", "param", "pre", "q", "s", "samp", "script",
    "select", "small", "span", "strike", "strong", "style", "sub", "sup",
    "table", "tbody", "td", "textarea", "tfoot", "th", "thead", "title", "tr",
    "tt", "u", "ul", "var", "x-sigsep", "x-tab",
    /* rendered though not valid (HTML.pm's %tricks) */
    "bgsound", "embed", "listing", "plaintext", "xmp", NULL};

static const char *const uri_elements[] = {
    "a",      "area",  "base",   "bgsound", "body", "embed",
    "form",   "frame", "iframe", "img",     "link", "meta",
    "script", "table", "td",     "tr",      NULL};

static int
in_list(const char *const *list, const char *s)
{
	for (; *list != NULL; list++) {
		if (strcmp(*list, s) == 0)
			return 1;
	}
	return 0;
}

struct html_ctx {
	struct spam_msg_html_out *out;
	int chars;
	int in_script, in_style;
	size_t last; /* offset of the last text piece */
	int have_last, last_ws;
	char *base_href;
	size_t nuris;
};

/*
 * Text
 */

/* Runs of ASCII white space, and each "\xc2\xa0" character pair
 * (Perl's octets for a no-break space), become one space. */
static void
text_squeeze(const char *s, size_t len, struct spam_msg_buf *out)
{
	size_t i = 0;

	spam_msg_buf_add(out, "", 0);
	while (i < len) {
		if (spam_msg_util_is_ws((unsigned char)s[i])) {
			while (i < len &&
			       spam_msg_util_is_ws((unsigned char)s[i]))
				i++;
			spam_msg_buf_addc(out, ' ');
			continue;
		}
		if (len - i >= 4 && memcmp(s + i, "\xc3\x82\xc2\xa0", 4) == 0) {
			spam_msg_buf_addc(out, ' ');
			i += 4;
			continue;
		}
		spam_msg_buf_addc(out, s[i++]);
	}
}

/* HTML.pm's display_text(): a piece of text or of white space. */
static void
display(struct html_ctx *c, const char *s, size_t len, int ws)
{
	struct spam_msg_buf *t = &c->out->text;
	struct spam_msg_buf sq = {0};

	if (t->len >= SPAM_MSG_TEXT_MAX)
		return;
	if (ws) {
		if (c->have_last && !c->last_ws && t->len > c->last &&
		    t->s[t->len - 1] == ' ')
			t->s[--t->len] = '\0';
		c->last = t->len;
		spam_msg_buf_add(t, s, len);
	} else {
		text_squeeze(s, len, &sq);
		c->last = t->len;
		if (c->have_last && c->last_ws && sq.len > 0 && sq.s[0] == ' ')
			spam_msg_buf_add(t, sq.s + 1, sq.len - 1);
		else
			spam_msg_buf_add(t, sq.s, sq.len);
		spam_msg_buf_free(&sq);
	}
	c->have_last = 1;
	c->last_ws = ws;
}

static void
whitespace_tag(struct html_ctx *c, const char *tag)
{
	static const char *const space[] = {"li",    "th", "td", "dt", "dd",
	                                    "embed", "h1", "h2", "h3", "h4",
	                                    "h5",    "h6", NULL};
	static const char *const para[] = {"p",   "hr",      "blockquote",
	                                   "pre", "listing", "plaintext",
	                                   "xmp", "title",   NULL};

	if (!strcmp(tag, "br") || !strcmp(tag, "div"))
		display(c, "\n", 1, 1);
	else if (in_list(space, tag))
		display(c, " ", 1, 1);
	else if (in_list(para, tag))
		display(c, "\n\n", 2, 1);
}

/*
 * Links
 */

#define UNI (PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF)

/* The refresh patterns twice: for octet strings, and (with Unicode's
 * \w and \s, as Perl has them for character strings) for characters. */
static pcre2_code *re_base_file, *re_refresh_head[2];
static pcre2_code *re_refresh_tail[2], *re_refresh, *re_url_eq[2];
static pthread_once_t html_once = PTHREAD_ONCE_INIT;

static void
html_init(void)
{
	re_base_file = spam_msg_re_compile(
	    "^([a-z]+:/{0,2}[^/]+/.*?)[^/\\.]+\\.[^/\\.]{2,4}$",
	    PCRE2_CASELESS);
	re_refresh = spam_msg_re_compile("refresh", PCRE2_CASELESS);
	re_refresh_head[0] =
	    spam_msg_re_compile("^.*\\burl\\s*=\\s*", PCRE2_CASELESS);
	re_refresh_head[1] =
	    spam_msg_re_compile("^.*\\burl\\s*=\\s*", PCRE2_CASELESS | UNI);
	re_refresh_tail[0] = spam_msg_re_compile("\\s*;.*", 0);
	re_refresh_tail[1] = spam_msg_re_compile("\\s*;.*", UNI);
	re_url_eq[0] = spam_msg_re_compile("\\burl\\s*=", PCRE2_CASELESS);
	re_url_eq[1] = spam_msg_re_compile("\\burl\\s*=", PCRE2_CASELESS | UNI);
}

/* Length of a white space character (or U+00A0) at s. */
static size_t
canon_space(const char *s, size_t len, int chars)
{
	if (spam_msg_util_is_ws((unsigned char)s[0]))
		return 1;
	if (len >= 2 && (unsigned char)s[0] == 0xc2 &&
	    (unsigned char)s[1] == 0xa0)
		return 2;
	return chars ? spam_msg_util_uni_space(s, len) : 0;
}

/* Length of a white space character (or U+00A0) ending s. */
static size_t
canon_space_end(const char *s, size_t len, int chars)
{
	size_t n;

	for (n = 1; n <= 3 && n <= len; n++) {
		if (canon_space(s + len - n, n, chars) == n)
			return n;
	}
	return 0;
}

/* HTML.pm's canon_uri: white space around removed, length capped. */
static struct spam_msg_span
canon_uri(const char *s, size_t len, int chars)
{
	struct spam_msg_span r;
	size_t n;

	while (len > 0 && (n = canon_space(s, len, chars)) > 0) {
		s += n;
		len -= n;
	}
	while (len > 0 && (n = canon_space_end(s, len, chars)) > 0)
		len -= n;
	r.s = s;
	r.len = len > SPAM_MSG_URI_MAX ? SPAM_MSG_URI_MAX : len;
	return r;
}

/* Each link is kept as a flag ('1': a Perl character string, whose
 * non-ASCII host SpamAssassin re-encodes), its length (a size_t) and
 * its octets (a NUL among them too). */
static void
uri_add(struct html_ctx *c, const char *s, size_t len, int wide)
{
	if (c->nuris >= HTML_URIS_MAX)
		return;
	spam_msg_buf_addc(&c->out->uris, c->chars || wide ? '1' : '0');
	spam_msg_buf_add(&c->out->uris, (const char *)&len, sizeof(len));
	spam_msg_buf_add(&c->out->uris, s, len);
	c->nuris++;
}

static int
has_scheme(const char *s, size_t len, const char *const *schemes)
{
	size_t n;

	for (; *schemes != NULL; schemes++) {
		n = strlen(*schemes);
		if (len >= n && strncasecmp(s, *schemes, n) == 0)
			return 1;
	}
	return 0;
}

/* HTML.pm's push_uri. */
static void
push_uri(struct html_ctx *c, const char *v, size_t vlen, int wide)
{
	static const char *const plain[] = {
	    "data:", "mailto:", "file:", "cid:", "tel:", NULL};
	struct spam_msg_span u = canon_uri(v, vlen, c->chars);
	char *t;
	size_t tlen;

	if (u.len == 0)
		return;
	if (has_scheme(u.s, u.len, plain)) {
		uri_add(c, u.s, u.len, wide);
		return;
	}
	t = spam_msg_target_uri(c->base_href != NULL ? c->base_href : "", u.s,
	                        u.len, &tlen);
	if (tlen > 0)
		uri_add(c, t, tlen, wide);
	free(t);
}

static const struct spam_msg_htmltok_attr *
attr_get(const struct spam_msg_htmltok *tok, const char *name)
{
	size_t i;

	for (i = 0; i < tok->nattrs; i++) {
		if (strcmp(tok->attrs[i].name, name) == 0)
			return &tok->attrs[i];
	}
	return NULL;
}

/* /\w{1,8}\/href/ and the like: a word character, then "/" + name. */
static int
renamed_attr(const char *key, const char *name)
{
	const char *p = key;
	size_t n = strlen(name);

	while ((p = strchr(p, '/')) != NULL) {
		if (p > key && strncmp(p + 1, name, n) == 0) {
			char w = p[-1];

			if ((w >= 'a' && w <= 'z') || (w >= '0' && w <= '9') ||
			    w == '_')
				return 1;
		}
		p++;
	}
	return 0;
}

/* The attribute, or the last one written "x/name" (which HTML.pm
 * reads as the attribute itself). */
static const struct spam_msg_htmltok_attr *
attr_renamed(const struct spam_msg_htmltok *tok, const char *name)
{
	const struct spam_msg_htmltok_attr *a = NULL;
	size_t i;

	for (i = 0; i < tok->nattrs; i++) {
		if (renamed_attr(tok->attrs[i].name, name))
			a = &tok->attrs[i];
	}
	return a != NULL ? a : attr_get(tok, name);
}

static void
push_attr(struct html_ctx *c, const struct spam_msg_htmltok *tok,
          const char *name)
{
	const struct spam_msg_htmltok_attr *a = attr_get(tok, name);

	if (a != NULL)
		push_uri(c, a->value, a->value_len, a->wide);
}

/* An href without U+FEFF. */
static char *
href_clean(const struct spam_msg_htmltok_attr *a, size_t *len_r)
{
	struct spam_msg_buf b = {0};
	size_t i;

	spam_msg_buf_add(&b, "", 0);
	for (i = 0; i < a->value_len; i++) {
		if (a->value_len - i >= 3 &&
		    memcmp(a->value + i, "\xef\xbb\xbf", 3) == 0) {
			i += 2;
			continue;
		}
		spam_msg_buf_addc(&b, a->value[i]);
	}
	return spam_msg_buf_take(&b, len_r);
}

/* <base href>: a link itself, and the base of later relative ones. */
static void
base_uri(struct html_ctx *c, const struct spam_msg_htmltok_attr *a)
{
	struct spam_msg_span u, g[2];
	static const char *const abs[] = {"http:", "https:", "ftp:", NULL};
	char *b;

	if (a == NULL || a->value_len == 0 ||
	    (a->value_len == 1 && a->value[0] == '0'))
		return;
	u = canon_uri(a->value, a->value_len, c->chars);
	push_uri(c, u.s, u.len, a->wide);
	if (!has_scheme(u.s, u.len, abs))
		return;
	if (spam_msg_re_match(re_base_file, u.s, u.len, 0, g, 2))
		u.len = g[1].len;
	b = xmalloc(u.len + 2);
	memcpy(b, u.s, u.len);
	if (u.len == 0 || b[u.len - 1] != '/')
		b[u.len++] = '/';
	b[u.len] = '\0';
	free(c->base_href);
	c->base_href = b;
}

/* <meta http-equiv=refresh content="0; url=...">. */
static void
refresh_uri(struct html_ctx *c, const struct spam_msg_htmltok *tok)
{
	const struct spam_msg_htmltok_attr *he = attr_get(tok, "http-equiv");
	const struct spam_msg_htmltok_attr *ct = attr_get(tok, "content");
	struct spam_msg_span g[1];
	const char *v;
	size_t len;
	int u;

	if (he == NULL || ct == NULL)
		return;
	u = c->chars || ct->wide;
	if (!spam_msg_re_match(re_refresh, he->value, he->value_len, 0, NULL,
	                       0) ||
	    !spam_msg_re_match(re_url_eq[u], ct->value, ct->value_len, 0, NULL,
	                       0))
		return;
	v = ct->value;
	len = ct->value_len;
	if (spam_msg_re_match(re_refresh_head[u], v, len, 0, g, 1)) {
		len -= (size_t)(g[0].s + g[0].len - v);
		v = g[0].s + g[0].len;
	}
	if (spam_msg_re_match(re_refresh_tail[u], v, len, 0, g, 1))
		len = (size_t)(g[0].s - v) +
		      (len - (size_t)(g[0].s + g[0].len - v));
	push_uri(c, v, len, ct->wide);
}

/* HTML.pm's html_uri for a start tag. */
static void
tag_uris(struct html_ctx *c, const struct spam_msg_htmltok *tok)
{
	const char *tag = tok->tag;
	const struct spam_msg_htmltok_attr *a;
	char *h;
	size_t len;

	if (!strcmp(tag, "body") || !strcmp(tag, "table") ||
	    !strcmp(tag, "tr") || !strcmp(tag, "td")) {
		push_attr(c, tok, "background");
	} else if (!strcmp(tag, "a") || !strcmp(tag, "area") ||
	           !strcmp(tag, "link")) {
		a = attr_renamed(tok, "href");
		if (a != NULL) {
			h = href_clean(a, &len);
			push_uri(c, h, len, a->wide);
			free(h);
		}
		push_attr(c, tok, "data-saferedirecturl");
	} else if (!strcmp(tag, "form")) {
		push_attr(c, tok, "action");
	} else if (!strcmp(tag, "base")) {
		base_uri(c, attr_get(tok, "href"));
	} else if (!strcmp(tag, "meta")) {
		refresh_uri(c, tok);
	} else {
		a = attr_renamed(tok, "src");
		if (a != NULL)
			push_uri(c, a->value, a->value_len, a->wide);
	}
}

/* Every <a> also names its href as written (HTML.pm keeps anchor text
 * by it), "" when it has none. */
static void
anchor_uri(struct html_ctx *c, const struct spam_msg_htmltok *tok)
{
	const struct spam_msg_htmltok_attr *a = attr_renamed(tok, "href");
	struct spam_msg_span u;
	char *h;
	size_t len;

	if (a == NULL) {
		uri_add(c, "", 0, 0);
		return;
	}
	h = href_clean(a, &len);
	u = canon_uri(h, len, c->chars);
	uri_add(c, u.s, u.len, a->wide);
	free(h);
}

/*
 * Events
 */

/* /^(?:o|st\d):[\w-]+\/?$/: Office namespaces, not counted as tags. */
static int
office_tag(const char *t)
{
	if (t[0] == 'o' && t[1] == ':')
		t += 2;
	else if (t[0] == 's' && t[1] == 't' && t[2] >= '0' && t[2] <= '9' &&
	         t[3] == ':')
		t += 4;
	else
		return 0;
	if (*t == '\0' || *t == '/')
		return 0;
	while ((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') ||
	       *t == '_' || *t == '-' || (*t >= 'A' && *t <= 'Z'))
		t++;
	return *t == '\0' || (t[0] == '/' && t[1] == '\0');
}

static void
count_inside(int *counter, int num)
{
	*counter += num;
	if (*counter < 0)
		*counter = 0;
}

static void
on_tag(struct html_ctx *c, const struct spam_msg_htmltok *tok, int num)
{
	const char *tag = tok->tag;

	if (!strcmp(tag, "script"))
		count_inside(&c->in_script, num);
	else if (!strcmp(tag, "style"))
		count_inside(&c->in_style, num);
	if (office_tag(tag) || !in_list(elements, tag))
		return;
	whitespace_tag(c, tag);
	if (num != 1)
		return;
	if (in_list(uri_elements, tag))
		tag_uris(c, tok);
	if (!strcmp(tag, "a"))
		anchor_uri(c, tok);
}

static void
on_token(void *arg, const struct spam_msg_htmltok *tok)
{
	struct html_ctx *c = arg;

	switch (tok->kind) {
	case SPAM_MSG_HTMLTOK_START:
		on_tag(c, tok, 1);
		break;
	case SPAM_MSG_HTMLTOK_END:
		on_tag(c, tok, -1);
		break;
	case SPAM_MSG_HTMLTOK_TEXT:
		if (c->in_script > 0 || c->in_style > 0)
			break;
		c->out->wide |= tok->wide;
		display(c, tok->text, tok->text_len, 0);
		break;
	}
}

/* SpamAssassin closes a <style> or <script> left open at the end. */
static const char *
on_more(void *arg)
{
	struct html_ctx *c = arg;

	if (c->in_style > 0)
		return "</style>";
	if (c->in_script > 0)
		return "</script>";
	return NULL;
}

static int
is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_';
}

/* s/<(\w+)\s*\/>/<$1>/: the length of such a tag at s, 0 if none;
 * *name_r: where its name ends. */
static size_t
empty_tag(const char *s, size_t len, size_t *name_r)
{
	size_t k = 1;

	while (k < len && is_word(s[k]))
		k++;
	if (k == 1)
		return 0;
	*name_r = k;
	while (k < len && spam_msg_util_is_ws((unsigned char)s[k]))
		k++;
	if (k + 1 < len && s[k] == '/' && s[k + 1] == '>')
		return k + 2;
	return 0;
}

/* HTML.pm's edits before parsing: &nbsp; is a space, <x/> is <x>,
 * curly double quotes are straight ones. */
static char *
preprocess(const char *s, size_t len, size_t *len_r)
{
	struct spam_msg_buf b = {0};
	size_t i = 0, n, name;

	spam_msg_buf_add(&b, "", 0);
	while (i < len) {
		if (len - i >= 6 && memcmp(s + i, "&nbsp;", 6) == 0) {
			spam_msg_buf_addc(&b, ' ');
			i += 6;
			continue;
		}
		if (len - i >= 3 && (memcmp(s + i, "\xe2\x80\x9c", 3) == 0 ||
		                     memcmp(s + i, "\xe2\x80\x9d", 3) == 0)) {
			spam_msg_buf_addc(&b, '"');
			i += 3;
			continue;
		}
		if (s[i] == '<' && (n = empty_tag(s + i, len - i, &name)) > 0) {
			spam_msg_buf_add(&b, s + i, name);
			spam_msg_buf_addc(&b, '>');
			i += n;
			continue;
		}
		spam_msg_buf_addc(&b, s[i++]);
	}
	return spam_msg_buf_take(&b, len_r);
}

void
spam_msg_html_render(const char *s, size_t len, int chars,
                     struct spam_msg_html_out *out)
{
	struct html_ctx c = {0};
	char *pre;
	size_t plen;

	pthread_once(&html_once, html_init);
	c.out = out;
	c.chars = chars;
	spam_msg_buf_add(&out->text, "", 0);
	pre = preprocess(s, len, &plen);
	spam_msg_htmltok_run(pre, plen, chars, on_token, on_more, &c);
	free(pre);
	free(c.base_href);
}
