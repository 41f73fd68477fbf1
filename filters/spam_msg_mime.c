/*
 * spam_msg_mime.c - the MIME tree, split line by line the way
 * SpamAssassin 4.0's Message.pm does, broken messages included.
 *
 * SpamAssassin does not use a MIME library: its own line parser
 * decides where a header ends (a blank line, a "--" line, or the
 * fourth line that is not a field), which lines are boundaries (the
 * whole line "--boundary" plus blanks), that a part without a closing
 * boundary runs to the end, that a part without a type under a
 * multipart with its own boundary inherits that boundary, that
 * message/rfc822 parts are messages again, and so on.  Rules see text
 * cut that way, so this file follows that parser rather than GMime's.
 *
 * Bounds: SPAM_MSG_DEPTH_MAX nesting (SpamAssassin's subparse),
 * SPAM_MSG_PARTS_MAX parts in the whole message, SPAM_MSG_FIELDS_MAX
 * header fields per part, field names and values cut at SpamAssassin's
 * 256 and 8192 octets, long body lines split at SPAM_MSG_LINE_MAX as
 * SpamAssassin splits them, runs of blank lines cut to 20.
 *
 * XXX An mbx separator line (Message.pm's MBX_SEPARATOR) is taken as a
 * header line, not removed: postern receives SMTP data, not mailboxes.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/spam_msg_private.h"
#include "util/xalloc.h"

/*
 * Nodes and fields
 */

struct spam_msg_node *
spam_msg_mime_node_new(struct spam_msg_tree *t)
{
	struct spam_msg_node *n = xcalloc(1, sizeof(*n));

	n->type = xstrdup("text/plain");
	n->leaf = 1;
	t->nparts++;
	return n;
}

void
spam_msg_mime_node_add_kid(struct spam_msg_node *parent,
                           struct spam_msg_node *kid)
{
	parent->leaf = 0;
	if (parent->last_kid == NULL)
		parent->kids = kid;
	else
		parent->last_kid->next = kid;
	parent->last_kid = kid;
}

void
spam_msg_mime_node_free(struct spam_msg_node *n, int depth)
{
	struct spam_msg_node *k, *next;
	size_t i;

	for (k = n->kids; k != NULL; k = next) {
		next = k->next;
		if (depth < 4 * SPAM_MSG_DEPTH_MAX)
			spam_msg_mime_node_free(k, depth + 1);
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
	free(n->raw);
	free(n);
}

void
spam_msg_mime_node_header(struct spam_msg_node *n, const char *key, size_t klen,
                          const char *val, size_t vlen)
{
	struct spam_msg_fields *f = &n->fields;
	struct spam_msg_field *fld;

	if (f->n >= SPAM_MSG_FIELDS_MAX)
		return;
	if (f->n == f->cap) {
		f->cap = f->cap == 0 ? 16 : f->cap * 2;
		f->v = xreallocarray(f->v, f->cap, sizeof(*f->v));
	}
	fld = &f->v[f->n++];
	memset(fld, 0, sizeof(*fld));
	fld->name = xmalloc(klen + 1);
	memcpy(fld->name, key, klen);
	fld->name[klen] = '\0';
	fld->name_len = klen;
	fld->raw = xmalloc(vlen + 1);
	memcpy(fld->raw, val, vlen);
	fld->raw[vlen] = '\0';
	fld->raw_len = vlen;
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
	/* lowercased, a NUL made something no field name list holds */
	for (i = 0; i < f->name_len && i < SPAM_MSG_KEY_MAX; i++)
		lname[i] = (char)(f->name[i] >= 'A' && f->name[i] <= 'Z'
		                      ? f->name[i] + 32
		                  : f->name[i] == '\0' ? '\x01'
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
	size_t i;
	char a, b;

	if (f->name_len != len)
		return 0;
	for (i = 0; i < len; i++) {
		a = f->name[i];
		b = name[i];
		if (a >= 'A' && a <= 'Z')
			a = (char)(a + 32);
		if (b >= 'A' && b <= 'Z')
			b = (char)(b + 32);
		if (a != b)
			return 0;
	}
	return 1;
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

int
spam_msg_mime_content_type(struct spam_msg_node *n, char **type_r,
                           char **boundary_r, char **charset_r, char **name_r)
{
	size_t len;
	const char *ct = spam_msg_mime_last(n, "content-type", &len);

	return spam_msg_util_content_type(ct, len, type_r, boundary_r,
	                                  charset_r, name_r);
}

/*
 * The top-level header section (Message->new)
 */

static int
is_name_octet(unsigned char c)
{
	return c >= 041 && c <= 0176 && c != ':';
}

int
spam_msg_mime_is_field(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && is_name_octet((unsigned char)s[i]))
		i++;
	if (i == 0)
		return 0;
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i < len && s[i] == ':';
}

/* An mbox "From " line: "From", white space, then no colon. */
static int
is_mbox_from(const char *s, size_t len)
{
	size_t i = 4, ws;

	if (len < 5 || memcmp(s, "From", 4) != 0)
		return 0;
	while (i < len && spam_msg_util_is_ws((unsigned char)s[i]))
		i++;
	ws = i - 4;
	return ws >= 2 || (ws == 1 && (i == len || s[i] != ':'));
}

static int
ends_crlf(struct spam_msg_span l)
{
	return l.len >= 2 && l.s[l.len - 2] == '\r' && l.s[l.len - 1] == '\n';
}

/* A field of the top-level header: "key: value" split at the first
 * colon, the key's trailing blanks removed, both cut to SpamAssassin's
 * limits, CRLF made LF when the message uses CRLF. */
static void
top_field(struct spam_msg_node *n, const char *h, size_t len, int squash)
{
	const char *colon = memchr(h, ':', len);
	struct spam_msg_buf v = {0};
	size_t klen, i;

	if (colon == NULL)
		return;
	klen = (size_t)(colon - h);
	while (klen > 0 && (h[klen - 1] == ' ' || h[klen - 1] == '\t'))
		klen--;
	for (i = (size_t)(colon - h) + 1; i < len; i++) {
		if (squash && h[i] == '\r' && i + 1 < len && h[i + 1] == '\n')
			continue;
		spam_msg_buf_addc(&v, h[i]);
	}
	if (klen > SPAM_MSG_KEY_MAX)
		klen = SPAM_MSG_KEY_MAX;
	if (v.len > SPAM_MSG_VALUE_MAX)
		v.len = SPAM_MSG_VALUE_MAX;
	spam_msg_mime_node_header(n, h, klen, v.s != NULL ? v.s : "", v.len);
	spam_msg_buf_free(&v);
}

struct top_state {
	struct spam_msg_buf field; /* the field being collected */
	struct spam_msg_buf pristine;
	int have_field;
	int squash; /* CRLF message */
	int errors;
};

/* A header line with any bare LF made CRLF when the message is CRLF
 * (Bug 7785 in SpamAssassin). */
static void
top_line(struct top_state *st, struct spam_msg_span l, struct spam_msg_buf *out)
{
	size_t i;

	spam_msg_buf_add(out, "", 0);
	for (i = 0; i < l.len; i++) {
		if (st->squash && l.s[i] == '\n' &&
		    (i == 0 || l.s[i - 1] != '\r'))
			spam_msg_buf_addc(out, '\r');
		spam_msg_buf_addc(out, l.s[i]);
	}
}

/* Returns the index of the first body line. */
static size_t
top_header(struct spam_msg_node *n, struct top_state *st,
           const struct spam_msg_span *v, size_t nl, size_t i)
{
	struct spam_msg_buf cur = {0};
	const char *end = st->squash ? "\r\n" : "\n";
	int eof;

	for (;; i++) {
		eof = i >= nl;
		cur.len = 0;
		if (eof)
			spam_msg_buf_adds(&cur, end);
		else
			top_line(st, v[i], &cur);
		if (cur.s[0] == ' ' || cur.s[0] == '\t') {
			spam_msg_buf_add(&st->field, cur.s, cur.len);
			st->have_field = 1;
			if (!eof)
				spam_msg_buf_add(&st->pristine, cur.s, cur.len);
			continue;
		}
		if (st->have_field)
			top_field(n, st->field.s, st->field.len, st->squash);
		st->field.len = 0;
		st->have_field = 0;
		if (strcmp(cur.s, end) == 0) {
			if (!eof)
				spam_msg_buf_add(&st->pristine, cur.s, cur.len);
			i += !eof;
			break;
		}
		if (cur.len >= 2 && cur.s[0] == '-' && cur.s[1] == '-')
			break;
		if (!spam_msg_mime_is_field(cur.s, cur.len) && ++st->errors > 3)
			break;
		spam_msg_buf_add(&st->field, cur.s, cur.len);
		st->have_field = 1;
		spam_msg_buf_add(&st->pristine, cur.s, cur.len);
	}
	spam_msg_buf_free(&cur);
	return i;
}

static int
is_blank(struct spam_msg_span l)
{
	size_t i;

	for (i = 0; i < l.len; i++) {
		if (!spam_msg_util_is_ws((unsigned char)l.s[i]))
			return 0;
	}
	return 1;
}

/* Runs of more than 20 blank lines cut to 20 (21 at the very start,
 * keeping the first ones), CRLF line ends made LF in a CRLF message;
 * the body joined. */
static char *
top_body(const struct spam_msg_span *v, size_t n, int squash, size_t *len_r)
{
	struct spam_msg_buf b = {0};
	size_t i = 0, j, k, drop_from, drop_to;

	spam_msg_buf_add(&b, "", 0);
	while (i < n) {
		j = i;
		while (j < n && is_blank(v[j]))
			j++;
		if (j == i)
			j = i + 1;
		drop_from = drop_to = 0;
		if (j - i > 21 && i == 0) {
			drop_from = 2;
			drop_to = j - 19;
		} else if (j - i > 20 && i > 0) {
			drop_from = i + 1;
			drop_to = j - 19;
		}
		for (k = i; k < j; k++) {
			if (k >= drop_from && k < drop_to)
				continue;
			if (squash && ends_crlf(v[k])) {
				spam_msg_buf_add(&b, v[k].s, v[k].len - 2);
				spam_msg_buf_addc(&b, '\n');
				continue;
			}
			spam_msg_buf_add(&b, v[k].s, v[k].len);
		}
		i = j;
	}
	return spam_msg_buf_take(&b, len_r);
}

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

/*
 * Leaves, messages, the whole tree
 */

static int
starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static pcre2_code *re_disp_name;
static pthread_once_t mime_once = PTHREAD_ONCE_INIT;

static void
mime_init(void)
{
	re_disp_name =
	    spam_msg_re_compile("name=\\s*\"?([^\";]+)\"?", PCRE2_CASELESS);
}

/* Content-Disposition's name=, else Content-Type's. */
static char *
leaf_name(struct spam_msg_node *n, char *ct_name)
{
	struct spam_msg_span g[2];
	size_t dlen;
	const char *disp = spam_msg_mime_last(n, "content-disposition", &dlen);

	pthread_once(&mime_once, mime_init);
	if (disp != NULL &&
	    spam_msg_re_match(re_disp_name, disp, dlen, 0, g, 2)) {
		free(ct_name);
		return xstrndup(g[1].s, g[1].len);
	}
	if (ct_name != NULL && (*ct_name == '\0' || !strcmp(ct_name, "0"))) {
		free(ct_name);
		return NULL;
	}
	return ct_name;
}

/* _parse_normal: a leaf. */
static void
parse_normal(struct spam_msg_node *n, const char *boundary, const char *body,
             size_t len)
{
	char *type, *charset = NULL, *name = NULL;
	int missing;

	missing = spam_msg_mime_content_type(n, &type, NULL, &charset, &name);
	if (!missing) {
		free(n->type);
		if (starts_with(type, "multipart/") && boundary == NULL) {
			free(type);
			type = xstrdup("text/plain");
		}
		n->type = type;
	} else {
		free(type);
	}
	free(n->charset);
	n->charset = charset;
	free(n->name);
	n->name = leaf_name(n, name);
	free(n->raw);
	n->raw = xmalloc(len + 1);
	memcpy(n->raw, body, len);
	n->raw[len] = '\0';
	n->raw_len = len;
}

static struct spam_msg_node *msg_new(struct spam_msg_tree *t, const char *data,
                                     size_t len, int subparse, int root);

/* A message/rfc822 (or message/global) part holds a message. */
static void
parse_embedded(struct spam_msg_tree *t, struct spam_msg_node *n, int subparse)
{
	struct spam_msg_node *m;
	size_t len;
	char *dec;

	if (strcmp(n->type, "message/rfc822") != 0 &&
	    strcmp(n->type, "message/global") != 0)
		return;
	dec = spam_msg_mime_decode(n, &len);
	if (len > 0 && t->nparts < SPAM_MSG_PARTS_MAX) {
		m = msg_new(t, dec, len, subparse - 1, 0);
		spam_msg_mime_node_add_kid(n, m);
		free(n->raw);
		n->raw = NULL;
		n->raw_len = 0;
	}
	free(dec);
}

void
spam_msg_mime_parse_body(struct spam_msg_tree *t, struct spam_msg_node *n,
                         const char *boundary, const char *body, size_t len,
                         int subparse)
{
	if (starts_with(n->type, "multipart/") && boundary != NULL &&
	    subparse > 0) {
		spam_msg_mpart_parse(t, n, boundary, body, len, subparse);
		return;
	}
	parse_normal(n, boundary, body, len);
	if (starts_with(n->type, "message/") &&
	    strcmp(n->type, "message/partial") != 0 && subparse > 0)
		parse_embedded(t, n, subparse);
}

/* Bug 6845 in SpamAssassin: a multipart body that does not start with
 * a blank line or its boundary gets a blank line first. */
static char *
body_fix_start(const struct spam_msg_node *n, const char *boundary, char *body,
               size_t *len)
{
	struct spam_msg_span first;
	const char *nl;
	char *fixed;

	if (!starts_with(n->type, "multipart/") || *len == 0)
		return body;
	nl = memchr(body, '\n', *len);
	if (nl == NULL || (size_t)(nl - body) + 1 == *len)
		return body; /* one line only */
	first.s = body;
	first.len = (size_t)(nl - body) + 1;
	if (all_ws(first.s, first.len))
		return body;
	if (boundary != NULL && first.len >= 2 + strlen(boundary) &&
	    first.s[0] == '-' && first.s[1] == '-' &&
	    memcmp(first.s + 2, boundary, strlen(boundary)) == 0)
		return body;
	fixed = xmalloc(*len + 2);
	fixed[0] = '\n';
	memcpy(fixed + 1, body, *len + 1);
	free(body);
	(*len)++;
	return fixed;
}

/* Message->new: a header section, then the body parsed. */
static struct spam_msg_node *
msg_new(struct spam_msg_tree *t, const char *data, size_t len, int subparse,
        int root)
{
	static const struct spam_msg_span empty = {"\n", 1};
	struct spam_msg_node *n = spam_msg_mime_node_new(t);
	struct top_state st = {0};
	struct spam_msg_span *v;
	size_t nl, i = 0, blen;
	char *body, *boundary = NULL, *type;

	v = spam_msg_util_lines(data, len, &nl);
	if (nl == 0) {
		v = xreallocarray(v, 1, sizeof(*v));
		v[nl++] = empty;
	}
	if (is_mbox_from(v[0].s, v[0].len))
		i = 1;
	st.squash = (i < nl && ends_crlf(v[i])) || ends_crlf(v[nl - 1]);
	i = top_header(n, &st, v, nl, i);
	body = top_body(v + i, nl - i, st.squash, &blen);
	spam_msg_mime_content_type(n, &type, &boundary, NULL, NULL);
	free(n->type);
	n->type = type;
	body = body_fix_start(n, boundary, body, &blen);
	if (root) {
		t->pristine_hdr =
		    spam_msg_buf_take(&st.pristine, &t->pristine_hdr_len);
	}
	spam_msg_mime_parse_body(t, n, boundary, body, blen, subparse);
	free(body);
	free(boundary);
	free(v);
	spam_msg_buf_free(&st.field);
	spam_msg_buf_free(&st.pristine);
	return n;
}

void
spam_msg_mime_parse(struct spam_msg_tree *t, const char *data, size_t len)
{
	memset(t, 0, sizeof(*t));
	t->root = msg_new(t, data, len, SPAM_MSG_DEPTH_MAX, 1);
}

void
spam_msg_mime_free(struct spam_msg_tree *t)
{
	if (t->root != NULL)
		spam_msg_mime_node_free(t->root, 0);
	free(t->pristine_hdr);
	memset(t, 0, sizeof(*t));
}

static void
leaves_walk(struct spam_msg_node *n, struct spam_msg_node ***v, size_t *len,
            size_t *cap, int depth)
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
	if (depth > 4 * SPAM_MSG_DEPTH_MAX)
		return;
	for (k = n->kids; k != NULL; k = k->next)
		leaves_walk(k, v, len, cap, depth + 1);
}

struct spam_msg_node **
spam_msg_mime_leaves(const struct spam_msg_tree *t, size_t *n_r)
{
	struct spam_msg_node **v = NULL;
	size_t cap = 0;

	*n_r = 0;
	if (t->root != NULL)
		leaves_walk(t->root, &v, n_r, &cap, 0);
	return v;
}

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

char *
spam_msg_mime_decode(struct spam_msg_node *n, size_t *len_r)
{
	const char *cte;
	char *out;

	cte = spam_msg_mime_last(n, "content-transfer-encoding", NULL);
	if (n->raw == NULL) {
		*len_r = 0;
		return xstrdup("");
	}
	if (cte != NULL && strcasecmp(cte, "quoted-printable") == 0) {
		out = spam_msg_util_qp(n->raw, n->raw_len, len_r);
		crlf_to_lf(out, len_r);
		return out;
	}
	if (cte != NULL && strcasecmp(cte, "base64") == 0) {
		out = spam_msg_util_base64(n->raw, n->raw_len, len_r);
		if (starts_with(n->type, "text/") ||
		    starts_with(n->type, "message/"))
			crlf_to_lf(out, len_r);
		return out;
	}
	*len_r = n->raw_len;
	out = xmalloc(n->raw_len + 1);
	memcpy(out, n->raw, n->raw_len + 1);
	return out;
}
