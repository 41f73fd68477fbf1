/*
 * spam_msg.c - one message and the views SpamAssassin's rules read,
 * built on first use and kept until spam_msg_free().
 *
 * The header view follows SpamAssassin 4.0's PerMsgStatus get() as its
 * header rules call it (in list context, the values joined with "\n"
 * unless they end in one): "Name" gives every field of that name
 * decoded, each with a "\n"; ":raw" the values as written; ":addr"
 * and ":name" every address and display name in them.  The pseudo
 * headers ALL, ToCc, MESSAGEID and EnvelopeFrom are built here; the
 * relay ones (X-Spam-Relays-*, ALL-TRUSTED...) from spam_msg_relays.c.
 *
 * The MIME parsing is spam_msg_mime.c's, the body views
 * spam_msg_body.c's, the URIs spam_msg_uri.c's.  Nothing here fails:
 * a message of any shape gives views, empty ones at worst.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/spam_msg.h"
#include "filters/spam_msg_private.h"
#include "util/xalloc.h"

struct hdr_cache {
	char *name;
	enum spam_hdr_form form;
	char *text;
	size_t len;
	int found;
	struct hdr_cache *next;
};

struct spam_msg {
	char *data;
	size_t len;
	struct spam_msg_tree tree;
	int parsed;
	struct spam_text *body;
	size_t nbody;
	int have_body;
	struct spam_msg_buf html_uris; /* HTML parts' links, as
	                                 spam_msg_html_render() gives them */
	struct spam_text *rawbody;
	size_t nrawbody;
	int have_rawbody;
	struct spam_msg_uris uris;
	int have_uris;
	struct hdr_cache *cache;
};

/* A list of header values being gathered. */
struct vals {
	struct spam_msg_buf *v;
	size_t n;
	size_t cap;
};

static void
vals_add(struct vals *vs, const char *s, size_t len)
{
	if (vs->n == vs->cap) {
		vs->cap = vs->cap == 0 ? 8 : vs->cap * 2;
		vs->v = xreallocarray(vs->v, vs->cap, sizeof(*vs->v));
	}
	memset(&vs->v[vs->n], 0, sizeof(vs->v[vs->n]));
	spam_msg_buf_add(&vs->v[vs->n], s, len);
	vs->n++;
}

static void
vals_free(struct vals *vs)
{
	size_t i;

	for (i = 0; i < vs->n; i++)
		spam_msg_buf_free(&vs->v[i]);
	free(vs->v);
	memset(vs, 0, sizeof(*vs));
}

/* Joined as Check.pm joins get()'s list: with nothing between values
 * ending in "\n", else with "\n". */
static char *
vals_join(const struct vals *vs, size_t *len_r)
{
	struct spam_msg_buf b = {0};
	int nl = vs->n > 0 && vs->v[0].len > 0 &&
	         vs->v[0].s[vs->v[0].len - 1] == '\n';
	size_t i;

	spam_msg_buf_add(&b, "", 0);
	for (i = 0; i < vs->n; i++) {
		if (i > 0 && !nl)
			spam_msg_buf_addc(&b, '\n');
		spam_msg_buf_add(&b, vs->v[i].s, vs->v[i].len);
	}
	return spam_msg_buf_take(&b, len_r);
}

static void
msg_parse(struct spam_msg *m)
{
	if (m->parsed)
		return;
	spam_msg_mime_parse(&m->tree, m->data, m->len);
	m->parsed = 1;
}

int
spam_msg_truncated(struct spam_msg *m)
{
	msg_parse(m);
	return m->tree.truncated;
}

/*
 * Fields
 */

/* get_header(): each field called name, decoded with "\n" added, or
 * (raw) as written with folds made spaces. */
static void
get_header(struct spam_msg *m, const char *name, int raw, struct vals *vs)
{
	struct spam_msg_node *root = m->tree.root;
	struct spam_msg_field *f;
	struct spam_msg_buf b = {0};
	size_t i, k;

	for (i = 0; i < root->fields.n; i++) {
		f = &root->fields.v[i];
		if (!spam_msg_mime_field_is(f, name, strlen(name)))
			continue;
		b.len = 0;
		if (!raw) {
			spam_msg_mime_field_decode(f);
			spam_msg_buf_add(&b, f->dec, f->dec_len);
			spam_msg_buf_addc(&b, '\n');
			vals_add(vs, b.s, b.len);
			continue;
		}
		spam_msg_buf_add(&b, "", 0);
		for (k = 0; k < f->raw_len; k++) {
			size_t nl = f->raw[k] == '\r' && k + 1 < f->raw_len &&
			                    f->raw[k + 1] == '\n'
			                ? 2
			                : f->raw[k] == '\n';

			if (nl == 0 || k + nl >= f->raw_len ||
			    !spam_msg_util_is_ws(
			        (unsigned char)f->raw[k + nl])) {
				spam_msg_buf_addc(&b, f->raw[k]);
				continue;
			}
			k += nl;
			while (
			    k + 1 < f->raw_len &&
			    spam_msg_util_is_ws((unsigned char)f->raw[k + 1]))
				k++;
			spam_msg_buf_addc(&b, ' ');
		}
		vals_add(vs, b.s, b.len);
	}
	spam_msg_buf_free(&b);
}

/* raw_header(): the values as written. */
static void
raw_header(struct spam_msg *m, const char *name, struct vals *vs)
{
	struct spam_msg_node *root = m->tree.root;
	size_t i;

	for (i = 0; i < root->fields.n; i++) {
		if (spam_msg_mime_field_is(&root->fields.v[i], name,
		                           strlen(name)))
			vals_add(vs, root->fields.v[i].raw,
			         root->fields.v[i].raw_len);
	}
}

/* get_all_headers(0): "Name: value\n" in order, cut off once the
 * total passes SPAM_MSG_ALL_MAX (by whole field names, in the order
 * they first appear). */
static void
all_headers(struct spam_msg *m, struct vals *vs)
{
	struct spam_msg_fields *fs = &m->tree.root->fields;
	unsigned char *keep = xcalloc(fs->n + 1, 1);
	size_t i, j, size = 0;
	int stop = 0;

	for (i = 0; i < fs->n && !stop; i++) {
		for (j = 0; j < i; j++) {
			if (spam_msg_mime_field_is(&fs->v[j], fs->v[i].name,
			                           fs->v[i].name_len))
				break;
		}
		if (j < i)
			continue; /* done with the first of its name */
		for (j = i; j < fs->n && !stop; j++) {
			if (!spam_msg_mime_field_is(&fs->v[j], fs->v[i].name,
			                            fs->v[i].name_len))
				continue;
			spam_msg_mime_field_decode(&fs->v[j]);
			size += fs->v[j].name_len + fs->v[j].dec_len + 3;
			stop = size > SPAM_MSG_ALL_MAX;
			keep[j] = !stop;
		}
	}
	for (i = 0; i < fs->n; i++) {
		struct spam_msg_buf b = {0};

		if (!keep[i])
			continue;
		spam_msg_buf_add(&b, fs->v[i].name, fs->v[i].name_len);
		spam_msg_buf_add(&b, ": ", 2);
		spam_msg_buf_add(&b, fs->v[i].dec, fs->v[i].dec_len);
		spam_msg_buf_addc(&b, '\n');
		vals_add(vs, b.s, b.len);
		spam_msg_buf_free(&b);
	}
	free(keep);
}

/* ALL:raw: the header section as received, field by field. */
static void
all_raw(struct spam_msg *m, struct vals *vs)
{
	const char *s = m->tree.pristine_hdr;
	size_t len = m->tree.pristine_hdr_len, i = 0, j;

	while (i < len) {
		if (s[i] == ' ' || s[i] == '\t') {
			const char *nl = memchr(s + i, '\n', len - i);

			i = nl != NULL ? (size_t)(nl - s) + 1 : len;
			continue;
		}
		for (j = i + 1; j < len; j++) {
			if (s[j] == '\n' &&
			    (j + 1 == len ||
			     (s[j + 1] != ' ' && s[j + 1] != '\t')))
				break;
		}
		if (j >= len)
			break;
		vals_add(vs, s + i, j + 1 - i);
		i = j + 1;
	}
}

/*
 * :addr and :name
 */

static void
collect_cb(void *arg, const char *s, size_t len)
{
	vals_add(arg, s, len);
}

static void
addr_or_name(const struct vals *in, int want_name, struct vals *out)
{
	size_t i;

	for (i = 0; i < in->n; i++)
		spam_msg_addr_parse(in->v[i].s, in->v[i].len, want_name,
		                    collect_cb, out);
}

/* The first address in the first field called name (get() with
 * "name:first:addr"); allocated, or NULL. */
static char *
first_addr(struct spam_msg *m, const char *name)
{
	struct vals raw = {0}, addrs = {0};
	char *r = NULL;

	raw_header(m, name, &raw);
	if (raw.n > 0) {
		struct vals first = {0};

		vals_add(&first, raw.v[0].s, raw.v[0].len);
		addr_or_name(&first, 0, &addrs);
		vals_free(&first);
	}
	if (addrs.n > 0)
		r = xstrndup(addrs.v[0].s, addrs.v[0].len);
	vals_free(&addrs);
	vals_free(&raw);
	return r;
}

/* The values of from that are not empty, added to to; from is freed. */
static void
vals_move_nonempty(struct vals *from, struct vals *to)
{
	size_t i;

	for (i = 0; i < from->n; i++) {
		if (from->v[i].len > 0)
			vals_add(to, from->v[i].s, from->v[i].len);
	}
	vals_free(from);
}

/*
 * EnvelopeFrom (get_envelope_from without relay data)
 */

/* Whether a Received field comes before the first field called name
 * (the /^Received:.*?^Name:/smi test on the ALL text). */
static int
received_before(struct spam_msg *m, const char *name)
{
	struct vals all = {0};
	struct spam_msg_buf b = {0};
	size_t i, n = strlen(name), pos = 0;
	const char *nl;
	int rcvd = 0, found = 0;

	all_headers(m, &all);
	for (i = 0; i < all.n; i++)
		spam_msg_buf_add(&b, all.v[i].s, all.v[i].len);
	/* each line start, as /^.../m has them */
	while (pos < b.len && !found) {
		const char *p = b.s + pos;
		size_t left = b.len - pos;

		if (!rcvd)
			rcvd = left >= 9 && strncasecmp(p, "received:", 9) == 0;
		else
			found = left > n && p[n] == ':' &&
			        strncasecmp(p, name, n) == 0;
		nl = memchr(p, '\n', left);
		pos = nl != NULL ? (size_t)(nl - b.s) + 1 : b.len;
	}
	spam_msg_buf_free(&b);
	vals_free(&all);
	return found;
}

static int
fetchmail_seen(struct spam_msg *m)
{
	struct vals rcvd = {0};
	size_t i;
	int seen = 0;

	get_header(m, "Received", 0, &rcvd);
	for (i = 0; i < rcvd.n && !seen; i++)
		seen = memmem(rcvd.v[i].s, rcvd.v[i].len, "(fetchmail", 10) !=
		       NULL;
	vals_free(&rcvd);
	return seen;
}

/* XXX SpamAssassin first takes the envelope sender its Received
 * parser finds in the last untrusted relay ("envelope-from <...>"),
 * which needs its trust path; this starts at the header fields that
 * come after that. */
static char *
envelope_from(struct spam_msg *m)
{
	static const char *const names[] = {"Envelope-Sender", "Return-Path",
	                                    NULL};
	char *x, *envf;
	int i;

	x = first_addr(m, "X-Sender");
	if (x != NULL && strchr(x, '@') != NULL && fetchmail_seen(m)) {
		free(x);
		return NULL;
	}
	free(x);
	envf = first_addr(m, "X-Envelope-From");
	if (envf != NULL) {
		if (!received_before(m, "X-Envelope-From"))
			return envf;
		free(envf);
		return NULL;
	}
	for (i = 0; names[i] != NULL; i++) {
		envf = first_addr(m, names[i]);
		if (envf != NULL && !received_before(m, names[i]))
			return envf;
		free(envf);
	}
	return NULL;
}

/*
 * get()
 */

/* The pseudo headers; returns 0 when name is not one. */
static int
pseudo_header(struct spam_msg *m, const char *name, int raw, struct vals *vs)
{
	static const char *const ids[] = {"X-Message-Id", "Resent-Message-Id",
	                                  "X-Original-Message-ID", "Message-Id",
	                                  NULL};
	struct vals t = {0};
	size_t k;
	char *envf;

	if (strcasecmp(name, "ToCc") == 0) {
		get_header(m, "To", raw, vs);
		get_header(m, "Cc", raw, vs);
		return 1;
	}
	if (strcmp(name, "MESSAGEID") == 0) {
		for (k = 0; ids[k] != NULL; k++) {
			get_header(m, ids[k], raw, &t);
			vals_move_nonempty(&t, vs);
		}
		return 1;
	}
	if (strcasecmp(name, "EnvelopeFrom") == 0) {
		envf = envelope_from(m);
		if (envf != NULL)
			vals_add(vs, envf, strlen(envf));
		free(envf);
		return 1;
	}
	return 0;
}

/* SpamAssassin's relay analysis (spam_msg_relays.c), for kind (of
 * spam_msg_relays_kind()): X-Spam-Relays-* give its texts, ALL-TRUSTED
 * and the like the fields on one side of the trust boundary. */
static void
relay_values(struct spam_msg *m, int kind, int raw, struct vals *out)
{
	struct vals rcvd = {0}, orig = {0}, t = {0};
	struct spam_msg_relays *r;
	size_t i, from, to;

	get_header(m, "Received", 0, &rcvd);
	for (i = 0; spam_msg_relays_origin[i] != NULL; i++) {
		get_header(m, spam_msg_relays_origin[i], 0, &t);
		if (t.n > 0)
			vals_add(&orig, t.v[t.n - 1].s, t.v[t.n - 1].len);
		vals_free(&t);
	}
	r = spam_msg_relays_new(rcvd.v, rcvd.n, orig.v, orig.n);
	vals_free(&rcvd);
	vals_free(&orig);
	if (kind < SPAM_MSG_RELAYS_N) {
		vals_add(out, r->str[kind], r->len[kind]);
		spam_msg_relays_free(&r);
		return;
	}
	if (raw)
		all_raw(m, &t);
	else
		all_headers(m, &t);
	spam_msg_relays_all_range(r, kind, t.v, t.n, &from, &to);
	for (i = from; i < to; i++)
		vals_add(out, t.v[i].s, t.v[i].len);
	vals_free(&t);
	spam_msg_relays_free(&r);
}

static void
header_values(struct spam_msg *m, const char *name, enum spam_hdr_form form,
              struct vals *out)
{
	int raw = form == SPAM_HDR_RAW;
	int kind = spam_msg_relays_kind(name);
	struct vals vs = {0};

	if (strcmp(name, "ALL") == 0) {
		if (raw)
			all_raw(m, out);
		else
			all_headers(m, out);
		return;
	}
	if (kind >= SPAM_MSG_RELAYS_N) {
		relay_values(m, kind, raw, out);
		return;
	}
	if (kind >= 0)
		relay_values(m, kind, raw, &vs);
	else if (!pseudo_header(m, name, raw, &vs)) {
		if (form == SPAM_HDR_DECODED)
			get_header(m, name, 0, &vs);
		else
			raw_header(m, name, &vs);
	}
	if (form == SPAM_HDR_ADDR || form == SPAM_HDR_NAME) {
		addr_or_name(&vs, form == SPAM_HDR_NAME, out);
		vals_free(&vs);
		return;
	}
	*out = vs;
}

int
spam_msg_header(struct spam_msg *m, const char *name, enum spam_hdr_form form,
                struct spam_text *text_r)
{
	struct hdr_cache *c;
	struct vals vs = {0};

	for (c = m->cache; c != NULL; c = c->next) {
		if (c->form == form && strcmp(c->name, name) == 0)
			break;
	}
	if (c == NULL) {
		msg_parse(m);
		header_values(m, name, form, &vs);
		c = xcalloc(1, sizeof(*c));
		c->name = xstrdup(name);
		c->form = form;
		c->found = vs.n > 0;
		c->text = vals_join(&vs, &c->len);
		c->next = m->cache;
		m->cache = c;
		vals_free(&vs);
	}
	text_r->s = c->text;
	text_r->len = c->len;
	return c->found;
}

/*
 * The other views
 */

struct spam_msg *
spam_msg_new(const char *data, size_t len)
{
	struct spam_msg *m = xcalloc(1, sizeof(*m));

	spam_msg_charset_init();
	m->data = xmalloc(len + 1);
	if (len > 0)
		memcpy(m->data, data, len);
	m->data[len] = '\0';
	m->len = len;
	return m;
}

static void
texts_free(struct spam_text *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free((void *)(uintptr_t)v[i].s);
	free(v);
}

void
spam_msg_free(struct spam_msg **mp)
{
	struct spam_msg *m = *mp;
	struct hdr_cache *c, *next;

	if (m == NULL)
		return;
	for (c = m->cache; c != NULL; c = next) {
		next = c->next;
		free(c->name);
		free(c->text);
		free(c);
	}
	texts_free(m->body, m->nbody);
	texts_free(m->rawbody, m->nrawbody);
	spam_msg_buf_free(&m->html_uris);
	spam_msg_uri_free(&m->uris);
	spam_msg_mime_free(&m->tree);
	free(m->data);
	free(m);
	*mp = NULL;
}

const struct spam_text *
spam_msg_body(struct spam_msg *m, size_t *n_r)
{
	if (!m->have_body) {
		msg_parse(m);
		m->body =
		    spam_msg_body_build(&m->tree, &m->html_uris, &m->nbody);
		m->have_body = 1;
	}
	*n_r = m->nbody;
	return m->body;
}

const struct spam_text *
spam_msg_rawbody(struct spam_msg *m, size_t *n_r)
{
	if (!m->have_rawbody) {
		msg_parse(m);
		m->rawbody = spam_msg_body_raw(&m->tree, &m->nrawbody);
		m->have_rawbody = 1;
	}
	*n_r = m->nrawbody;
	return m->rawbody;
}

const struct spam_text *
spam_msg_uris(struct spam_msg *m, size_t *n_r)
{
	const struct spam_text *body;
	size_t nbody, off = 0, len;

	if (!m->have_uris) {
		body = spam_msg_body(m, &nbody);
		spam_msg_uri_from_text(&m->uris, body, nbody);
		while (off + 1 + sizeof(len) <= m->html_uris.len) {
			const char *u = m->html_uris.s + off;

			memcpy(&len, u + 1, sizeof(len));
			spam_msg_uri_from_html(&m->uris, u + 1 + sizeof(len),
			                       len, u[0] == '1');
			off += 1 + sizeof(len) + len;
		}
		m->have_uris = 1;
	}
	*n_r = m->uris.n;
	return m->uris.v;
}

struct spam_text
spam_msg_full(const struct spam_msg *m)
{
	struct spam_text t = {m->data, m->len};

	return t;
}
