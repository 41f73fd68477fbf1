/*
 * spam_msg_mime.c - the MIME tree of a message, parsed by GMime.
 *
 * GMime splits the message (multiparts nested, message/rfc822 parts
 * parsed as messages, broken MIME tolerated: a missing closing
 * boundary, parts without a type, multipart/digest's default type)
 * and undoes each leaf's Content-Transfer-Encoding (base64,
 * quoted-printable, uuencode).  This file turns GMime's objects into
 * the small tree the body views walk, with the top-level header fields
 * copied out as SpamAssassin stores them.
 *
 * What stays here is SpamAssassin's reading of the text around the
 * parser, which GMime has no notion of: an mbox "From " line is
 * skipped, a line starting with "--" ends the header, runs of more
 * than 20 blank lines in the body are cut to 20 (Message.pm); a
 * message GMime finds no header in is all body; textual types other
 * than HTML, calendars and vcards, and malformed ones starting with
 * "text", count as text/plain (parse_content_type); a multipart
 * without a boundary is read as a text/plain leaf holding what GMime
 * took as its preamble.
 *
 * Bounds: SPAM_MSG_DEPTH_MAX nesting and SPAM_MSG_PARTS_MAX parts are
 * walked (GMime itself stops nesting at 1024 multipart and 512 message
 * levels), SPAM_MSG_FIELDS_MAX top-level fields kept, field names and
 * values cut at SpamAssassin's 256 and 8192 octets.
 *
 * XXX GMime reads some broken MIME otherwise than Message.pm, and rules
 * see its reading: blanks at the end of a quoted-printable line are
 * kept, base64 decoding ignores text after the padding (a list footer
 * appended to a base64 part), a line that is no field in a part's
 * header is dropped rather than starting the body, an address with a
 * bad local part is dropped.  The corpus agreement with SpamAssassin
 * moved by one rule hit.
 *
 * XXX A message/rfc822 part deeper than SPAM_MSG_DEPTH_MAX gives no
 * text at all, where SpamAssassin's rawbody still shows it undecoded:
 * GMime has already parsed it into a message; rules rarely look 20
 * levels down.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "filters/spam_msg_private.h"
#include "util/xalloc.h"

/*
 * Nodes and fields
 */

static struct spam_msg_node *
node_new(struct spam_msg_tree *t, const char *type)
{
	struct spam_msg_node *n = xcalloc(1, sizeof(*n));

	n->type = xstrdup(type);
	n->leaf = 1;
	t->nparts++;
	return n;
}

static void
node_add_kid(struct spam_msg_node *parent, struct spam_msg_node *kid)
{
	parent->leaf = 0;
	if (parent->last_kid == NULL)
		parent->kids = kid;
	else
		parent->last_kid->next = kid;
	parent->last_kid = kid;
}

/* Nodes are at most SPAM_MSG_DEPTH_MAX + 2 deep: the recursion is
 * bounded by the walk that built them. */
static void
node_free(struct spam_msg_node *n)
{
	struct spam_msg_node *k, *next;
	size_t i;

	for (k = n->kids; k != NULL; k = next) {
		next = k->next;
		node_free(k);
	}
	for (i = 0; i < n->fields.n; i++) {
		free(n->fields.v[i].name);
		free(n->fields.v[i].raw);
		free(n->fields.v[i].dec);
	}
	free(n->fields.v);
	free(n->type);
	free(n->charset);
	free(n->name);
	free(n->text);
	free(n);
}

static void
node_field(struct spam_msg_node *n, const char *key, const char *val)
{
	struct spam_msg_fields *f = &n->fields;
	struct spam_msg_field *fld;
	size_t klen = strlen(key), vlen = strlen(val);

	if (f->n >= SPAM_MSG_FIELDS_MAX)
		return;
	if (f->n == f->cap) {
		f->cap = f->cap == 0 ? 16 : f->cap * 2;
		f->v = xreallocarray(f->v, f->cap, sizeof(*f->v));
	}
	fld = &f->v[f->n++];
	memset(fld, 0, sizeof(*fld));
	fld->name_len = klen < SPAM_MSG_KEY_MAX ? klen : SPAM_MSG_KEY_MAX;
	fld->name = xstrndup(key, fld->name_len);
	fld->raw_len = vlen < SPAM_MSG_VALUE_MAX ? vlen : SPAM_MSG_VALUE_MAX;
	fld->raw = xstrndup(val, fld->raw_len);
}

/* The value with folds turned into one space and outer white space
 * gone, then decoded (Node.pm's header()). */
void
spam_msg_mime_field_decode(struct spam_msg_field *f)
{
	struct spam_msg_buf b = {0};
	char lname[SPAM_MSG_KEY_MAX + 1];
	size_t i, start, end;

	if (f->dec != NULL)
		return;
	for (i = 0; i < f->raw_len; i++) {
		if (f->raw[i] == '\n' && i + 1 < f->raw_len &&
		    (f->raw[i + 1] == ' ' || f->raw[i + 1] == '\t')) {
			while (i + 1 < f->raw_len &&
			       (f->raw[i + 1] == ' ' || f->raw[i + 1] == '\t'))
				i++;
			spam_msg_buf_addc(&b, ' ');
			continue;
		}
		spam_msg_buf_addc(&b, f->raw[i]);
	}
	start = 0;
	end = b.len;
	while (end > 0 && spam_msg_util_is_ws((unsigned char)b.s[end - 1]))
		end--;
	while (start < end && spam_msg_util_is_ws((unsigned char)b.s[start]))
		start++;
	for (i = 0; i < f->name_len; i++)
		lname[i] = (char)(f->name[i] >= 'A' && f->name[i] <= 'Z'
		                      ? f->name[i] + 32
		                      : f->name[i]);
	lname[i] = '\0';
	f->dec = spam_msg_charset_decode_header(
	    b.s != NULL ? b.s + start : "", end - start, lname, &f->dec_len);
	spam_msg_buf_free(&b);
}

int
spam_msg_mime_field_is(const struct spam_msg_field *f, const char *name,
                       size_t len)
{
	return f->name_len == len && strncasecmp(f->name, name, len) == 0;
}

const char *
spam_msg_mime_last(struct spam_msg_node *n, const char *name, size_t *len_r)
{
	size_t i;

	for (i = n->fields.n; i > 0; i--) {
		struct spam_msg_field *f = &n->fields.v[i - 1];

		if (!spam_msg_mime_field_is(f, name, strlen(name)))
			continue;
		spam_msg_mime_field_decode(f);
		if (len_r != NULL)
			*len_r = f->dec_len;
		return f->dec;
	}
	if (len_r != NULL)
		*len_r = 0;
	return NULL;
}

/*
 * The text before GMime sees it
 */

/* An mbox "From " line: "From", white space, then no colon. */
static size_t
mbox_from_len(const char *s, size_t len)
{
	size_t i = 4, ws;
	const char *nl;

	if (len < 5 || memcmp(s, "From", 4) != 0)
		return 0;
	while (i < len && spam_msg_util_is_ws((unsigned char)s[i]) &&
	       s[i] != '\n')
		i++;
	ws = i - 4;
	if (!(ws >= 2 || (ws == 1 && (i == len || s[i] != ':'))))
		return 0;
	nl = memchr(s, '\n', len);
	return nl != NULL ? (size_t)(nl - s) + 1 : len;
}

static int
blank_line(struct spam_msg_span l)
{
	size_t i;

	for (i = 0; i < l.len; i++) {
		if (!spam_msg_util_is_ws((unsigned char)l.s[i]))
			return 0;
	}
	return 1;
}

/* Message.pm: runs of more than 20 blank lines are cut to 20 (to 21
 * at the very start, keeping the first two). */
static void
cut_blank_runs(const char *s, size_t len, struct spam_msg_buf *out)
{
	struct spam_msg_span *v;
	size_t n, i = 0, j, k, from, to;

	v = spam_msg_util_lines(s, len, &n);
	while (i < n) {
		for (j = i; j < n && blank_line(v[j]); j++)
			;
		j += j == i;
		from = to = 0;
		if (j - i > 21 && i == 0) {
			from = 2;
			to = j - 19;
		} else if (j - i > 20 && i > 0) {
			from = i + 1;
			to = j - 19;
		}
		for (k = i; k < j; k++) {
			if (k < from || k >= to)
				spam_msg_buf_add(out, v[k].s, v[k].len);
		}
		i = j;
	}
	free(v);
}

/* CRLF made LF, so that GMime's raw values and decoded texts hold LF
 * only, whatever the message used. */
static void
crlf_to_lf(char *s, size_t *len)
{
	size_t i, j = 0;

	for (i = 0; i < *len; i++) {
		if (s[i] == '\r' && i + 1 < *len && s[i + 1] == '\n')
			continue;
		s[j++] = s[i];
	}
	s[j] = '\0';
	*len = j;
}

/* Where the body starts in LF text: after the first empty line, or
 * at a line starting with "--" in the header (Message.pm ends the
 * header there, where a boundary follows it without a blank line;
 * *dash_r is then set). */
static size_t
body_start(const char *s, size_t len, int *dash_r)
{
	size_t i = 0;
	const char *nl;

	*dash_r = 0;
	while (i < len && s[i] != '\n') {
		if (len - i >= 2 && s[i] == '-' && s[i + 1] == '-') {
			*dash_r = 1;
			return i;
		}
		nl = memchr(s + i, '\n', len - i);
		i = nl != NULL ? (size_t)(nl - s) + 1 : len;
	}
	return i < len ? i + 1 : len;
}

/* The text GMime parses: no From line, LF line ends, blank runs cut,
 * a blank line before a "--" line that ends the header. */
static char *
prepare(const char *data, size_t len, size_t *len_r)
{
	struct spam_msg_buf b = {0};
	char *lf;
	size_t n, start;
	int dash;

	lf = xmalloc(len + 1);
	if (len > 0)
		memcpy(lf, data, len);
	lf[len] = '\0';
	n = len;
	crlf_to_lf(lf, &n);
	start = body_start(lf, n, &dash);
	spam_msg_buf_add(&b, lf, start);
	if (dash)
		spam_msg_buf_addc(&b, '\n');
	cut_blank_runs(lf + start, n - start, &b);
	free(lf);
	return spam_msg_buf_take(&b, len_r);
}

/* The offset in data (CRLF or LF) of the octet at off in its LF
 * form. */
static size_t
orig_offset(const char *data, size_t len, size_t off)
{
	size_t i, j = 0;

	for (i = 0; i < len && j < off; i++) {
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			continue;
		j++;
	}
	return i;
}

/*
 * GMime's objects into nodes
 */

/* GMime reads a Content-Type it cannot parse ("text plain", "text")
 * as application/octet-stream; SpamAssassin reads any type starting
 * with the word "text" as text/plain. */
static int
bad_text_type(GMimeObject *o, GMimeContentType *ct)
{
	const char *raw, *st = g_mime_content_type_get_media_subtype(ct);
	unsigned char c;

	if (st == NULL || strcasecmp(st, "octet-stream") != 0)
		return 0;
	raw = g_mime_object_get_header(o, "Content-Type");
	if (raw == NULL)
		return 0;
	while (*raw == ' ' || *raw == '\t')
		raw++;
	if (strncasecmp(raw, "text", 4) != 0)
		return 0;
	c = (unsigned char)raw[4];
	return !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	         (c >= '0' && c <= '9') || c == '_');
}

/* "type/subtype" lowercased, SpamAssassin's textual types made
 * text/plain. */
static char *
type_of(GMimeObject *o)
{
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	const char *mt, *st;
	char *t;
	size_t i;

	if (ct == NULL || bad_text_type(o, ct))
		return xstrdup("text/plain");
	mt = g_mime_content_type_get_media_type(ct);
	st = g_mime_content_type_get_media_subtype(ct);
	t = xasprintf("%s/%s", mt != NULL ? mt : "", st != NULL ? st : "");
	for (i = 0; t[i] != '\0'; i++)
		t[i] = (char)(t[i] >= 'A' && t[i] <= 'Z' ? t[i] + 32 : t[i]);
	if (strncmp(t, "text/", 5) == 0 && strcmp(t, "text/html") != 0 &&
	    strcmp(t, "text/calendar") != 0 && strcmp(t, "text/x-vcard") != 0) {
		free(t);
		t = xstrdup("text/plain");
	}
	return t;
}

static char *
dup_param(const char *s)
{
	if (s == NULL || *s == '\0' || strcmp(s, "0") == 0)
		return NULL;
	return xstrdup(s);
}

static struct spam_msg_node *walk(struct spam_msg_tree *t, GMimeObject *o,
                                  int depth);

/* A leaf: GMime decodes its content when a view asks for it. */
static struct spam_msg_node *
walk_part(struct spam_msg_tree *t, GMimePart *p)
{
	GMimeObject *o = GMIME_OBJECT(p);
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	struct spam_msg_node *n = node_new(t, "");

	free(n->type);
	n->type = type_of(o);
	if (ct != NULL)
		n->charset =
		    dup_param(g_mime_content_type_get_parameter(ct, "charset"));
	n->name = dup_param(g_mime_part_get_filename(p));
	n->part = o;
	return n;
}

/* A multipart without parts: SpamAssassin reads a multipart without a
 * boundary as text/plain, which GMime left as the preamble; an empty
 * one with a boundary has no parts there either. */
static struct spam_msg_node *
walk_multipart(struct spam_msg_tree *t, GMimeMultipart *mp, int depth)
{
	int i, count = g_mime_multipart_get_count(mp);
	struct spam_msg_node *n;
	const char *pro;

	if (count <= 0) {
		pro = g_mime_multipart_get_prologue(mp);
		if ((pro == NULL || *pro == '\0') &&
		    g_mime_object_get_content_type_parameter(
		        GMIME_OBJECT(mp), "boundary") != NULL)
			return node_new(t, ""); /* nothing to split */
		n = node_new(t, "text/plain");
		n->text = xstrdup(pro != NULL ? pro : "");
		n->text_len = strlen(n->text);
		return n;
	}
	n = node_new(t, "");
	free(n->type);
	n->type = type_of(GMIME_OBJECT(mp));
	n->leaf = 0;
	for (i = 0; i < count && t->nparts < SPAM_MSG_PARTS_MAX; i++)
		node_add_kid(
		    n, walk(t, g_mime_multipart_get_part(mp, i), depth + 1));
	if (i < count)
		t->truncated = 1;
	return n;
}

static struct spam_msg_node *
walk_message(struct spam_msg_tree *t, GMimeMessage *m, int depth)
{
	GMimeObject *body = g_mime_message_get_mime_part(m);

	if (body == NULL)
		return node_new(t, "text/plain");
	return walk(t, body, depth);
}

static struct spam_msg_node *
walk(struct spam_msg_tree *t, GMimeObject *o, int depth)
{
	struct spam_msg_node *n;
	GMimeMessage *m;

	/* too deep: a leaf without content, as SpamAssassin leaves a part
	 * it no longer splits */
	if (depth > SPAM_MSG_DEPTH_MAX) {
		t->truncated = 1;
		n = node_new(t, "");
		free(n->type);
		n->type = type_of(o);
		return n;
	}
	if (GMIME_IS_MULTIPART(o))
		return walk_multipart(t, GMIME_MULTIPART(o), depth);
	if (GMIME_IS_MESSAGE_PART(o)) {
		n = node_new(t, "");
		free(n->type);
		n->type = type_of(o);
		m = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		if (m != NULL && depth < SPAM_MSG_DEPTH_MAX)
			node_add_kid(n, walk_message(t, m, depth + 1));
		else if (m != NULL)
			t->truncated = 1;
		return n;
	}
	if (GMIME_IS_PART(o))
		return walk_part(t, GMIME_PART(o));
	return node_new(t, "");
}

/* The top-level fields in order: GMime keeps the Content-* ones with
 * the message's body part, the others with the message. */
static void
root_fields(struct spam_msg_node *n, GMimeMessage *m)
{
	GMimeObject *body = g_mime_message_get_mime_part(m);
	GMimeHeaderList *a = g_mime_object_get_header_list(GMIME_OBJECT(m));
	GMimeHeaderList *b =
	    body != NULL ? g_mime_object_get_header_list(body) : NULL;
	int i = 0, j = 0, na, nb;
	GMimeHeader *ha, *hb, *h;

	na = g_mime_header_list_get_count(a);
	nb = b != NULL ? g_mime_header_list_get_count(b) : 0;
	while (i < na || j < nb) {
		ha = i < na ? g_mime_header_list_get_header_at(a, i) : NULL;
		hb = j < nb ? g_mime_header_list_get_header_at(b, j) : NULL;
		if (hb == NULL ||
		    (ha != NULL && g_mime_header_get_offset(ha) <=
		                       g_mime_header_get_offset(hb))) {
			h = ha;
			i++;
		} else {
			h = hb;
			j++;
		}
		node_field(n, g_mime_header_get_name(h),
		           g_mime_header_get_raw_value(h) != NULL
		               ? g_mime_header_get_raw_value(h)
		               : "");
	}
}

static GMimeMessage *
gmime_parse(const char *s, size_t len, gint64 *hdr_end_r)
{
	GMimeStream *st;
	GMimeParser *p;
	GMimeMessage *m;

	st = g_mime_stream_mem_new_with_buffer(s, len);
	p = g_mime_parser_new_with_stream(st);
	g_mime_parser_set_format(p, GMIME_FORMAT_MESSAGE);
	m = g_mime_parser_construct_message(p, NULL);
	*hdr_end_r = g_mime_parser_get_headers_end(p);
	g_object_unref(p);
	g_object_unref(st);
	return m;
}

void
spam_msg_mime_parse(struct spam_msg_tree *t, const char *data, size_t len)
{
	size_t skip = mbox_from_len(data, len), plen, end;
	gint64 hdr_end = 0;
	char *text;
	GMimeMessage *m;

	memset(t, 0, sizeof(*t));
	spam_msg_charset_init();
	data += skip;
	len -= skip;
	text = prepare(data, len, &plen);
	m = gmime_parse(text, plen, &hdr_end);
	if (m == NULL) {
		/* no header GMime can read (SMTP commands first, say):
		 * SpamAssassin reads the rest as a text/plain body */
		text = xrealloc(text, plen + 2);
		memmove(text + 1, text, plen + 1);
		text[0] = '\n';
		m = gmime_parse(text, ++plen, &hdr_end);
		data += len; /* no pristine header */
		len = 0;
	}
	free(text);
	if (m == NULL) {
		t->root = node_new(t, "text/plain");
		t->pristine_hdr = xstrdup("");
		return;
	}
	t->root = walk_message(t, m, 0);
	root_fields(t->root, m);
	/* GMime has no header end for a message without a body */
	end = hdr_end >= 0 && (size_t)hdr_end <= plen ? (size_t)hdr_end : plen;
	end = orig_offset(data, len, end);
	t->pristine_hdr = xmalloc(end + 1);
	if (end > 0)
		memcpy(t->pristine_hdr, data, end);
	t->pristine_hdr[end] = '\0';
	t->pristine_hdr_len = end;
	t->gmime = m;
}

void
spam_msg_mime_free(struct spam_msg_tree *t)
{
	if (t->root != NULL)
		node_free(t->root);
	if (t->gmime != NULL)
		g_object_unref(t->gmime);
	free(t->pristine_hdr);
	memset(t, 0, sizeof(*t));
}

/*
 * Leaves and their content
 */

static void
leaves_walk(struct spam_msg_node *n, struct spam_msg_node ***v, size_t *len,
            size_t *cap)
{
	struct spam_msg_node *k;

	if (n->leaf) {
		if (n->type[0] == '\0')
			return;
		if (*len == *cap) {
			*cap = *cap == 0 ? 16 : *cap * 2;
			*v = xreallocarray(*v, *cap, sizeof(**v));
		}
		(*v)[(*len)++] = n;
		return;
	}
	for (k = n->kids; k != NULL; k = k->next)
		leaves_walk(k, v, len, cap);
}

struct spam_msg_node **
spam_msg_mime_leaves(const struct spam_msg_tree *t, size_t *n_r)
{
	struct spam_msg_node **v = NULL;
	size_t cap = 0;

	*n_r = 0;
	if (t->root != NULL)
		leaves_walk(t->root, &v, n_r, &cap);
	return v;
}

char *
spam_msg_mime_decode(struct spam_msg_node *n, size_t *len_r)
{
	GMimeDataWrapper *w = NULL;
	GMimeStream *st;
	GByteArray *a;
	char *out;

	if (n->text != NULL) {
		*len_r = n->text_len;
		return xstrndup(n->text, n->text_len);
	}
	if (n->part != NULL)
		w = g_mime_part_get_content(GMIME_PART(n->part));
	if (w == NULL) {
		*len_r = 0;
		return xstrdup("");
	}
	st = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(w, st);
	a = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(st));
	*len_r = a->len;
	out = xmalloc(a->len + 1);
	if (a->len > 0)
		memcpy(out, a->data, a->len);
	out[a->len] = '\0';
	g_object_unref(st);
	crlf_to_lf(out, len_r);
	return out;
}
