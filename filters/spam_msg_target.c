/*
 * spam_msg_target.c - a link resolved against the page's <base> the way
 * SpamAssassin 4.0's HTML.pm does it (target_uri: RFC 2396 section 5.2
 * with its draft's dot-segment removal), for spam_msg_html.c.
 *
 * Not quite RFC 3986: a relative link of the same scheme as the base
 * counts as relative ("http:x" under "http://a/b/" is "http://a/b/x"),
 * and a link with a "www." or "ftp." authority but no scheme gets
 * "http:" or "ftp:".
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/spam_msg_private.h"
#include "util/xalloc.h"

static pcre2_code *re_uri_parts;
static pthread_once_t target_once = PTHREAD_ONCE_INIT;

static void
target_init(void)
{
	re_uri_parts = spam_msg_re_compile("^(?:([^:/?#]+):)?(?://([^/?#]*))?"
	                                   "([^?#]*)(?:\\?([^#]*))?(?:#(.*))?",
	                                   0);
}

/* A URI's pieces (RFC 2396's regex); unset ones have s == NULL. */
struct uri_parts {
	struct spam_msg_span scheme, auth, path, query, frag;
};

static void
uri_split(const char *s, size_t len, struct uri_parts *p)
{
	struct spam_msg_span g[6];

	memset(g, 0, sizeof(g));
	spam_msg_re_match(re_uri_parts, s, len, 0, g, 6);
	p->scheme = g[1];
	p->auth = g[2];
	p->path = g[3];
	p->query = g[4];
	p->frag = g[5];
	if (p->path.s == NULL) {
		p->path.s = s;
		p->path.len = 0;
	}
}

/* "http:" for an authority like /^www\d*\./i (pre "www"), "ftp:" for
 * /^ftp\d*\./i, "" otherwise. */
static const char *
www_or_ftp(struct spam_msg_span auth, const char *pre, const char *scheme)
{
	size_t i = strlen(pre);

	while (i < auth.len && auth.s[i] >= '0' && auth.s[i] <= '9')
		i++;
	return i < auth.len && auth.s[i] == '.' ? scheme : "";
}

/* Perl's $ : the end, or a newline that ends the string. */
static int
at_end(const char *s, size_t i, size_t len)
{
	return i == len || (i + 1 == len && s[i] == '\n');
}

/* One step of _remove_dot_segments on in[*i...]: a "/." or "/.."
 * segment becomes "/" (for "/.." the last output segment goes);
 * returns 0 when the input does not start with one. */
static int
dot_step(char *in, size_t *i, size_t len, struct spam_msg_buf *out)
{
	size_t k, dots;

	if (in[*i] != '/' || *i + 1 >= len || in[*i + 1] != '.')
		return 0;
	dots = *i + 2 < len && in[*i + 2] == '.' ? 2 : 1;
	k = *i + 1 + dots;
	if (!at_end(in, k, len) && in[k] != '/')
		return 0;
	/* the segment and its slash become one "/" */
	if (k < len && in[k] == '/') {
		*i = k;
	} else {
		*i = k - 1;
		in[*i] = '/';
	}
	if (dots == 2) {
		k = out->len;
		while (k > 0 && out->s[k - 1] != '/')
			k--;
		out->len = k > 0 ? k - 1 : 0;
		out->s[out->len] = '\0';
	}
	return 1;
}

/* RFC 2396 5.2 step 6, as HTML.pm's _remove_dot_segments does it. */
static void
remove_dots(const char *s, size_t len, struct spam_msg_buf *out)
{
	char *in = xmalloc(len + 2);
	size_t i = 0, k;

	memcpy(in, s, len);
	in[len] = '\0';
	spam_msg_buf_add(out, "", 0);
	if (len >= 2 && in[0] == '.' && in[1] == '/') {
		i = 1;
	} else if (len >= 3 && in[0] == '.' && in[1] == '.' && in[2] == '/') {
		i = 2;
	}
	while (i < len && !(len - i == 1 && in[i] == '0')) {
		if (dot_step(in, &i, len, out))
			continue;
		k = i + (in[i] == '/');
		while (k < len && in[k] != '/')
			k++;
		spam_msg_buf_add(out, in + i, k - i);
		i = k;
	}
	free(in);
}

/* _merge_uri: the base's directory and the relative path. */
static void
merge_path(const struct uri_parts *base, struct spam_msg_span rel,
           struct spam_msg_buf *out)
{
	size_t k;
	int base_true = base->path.len > 0 &&
	                !(base->path.len == 1 && base->path.s[0] == '0');

	spam_msg_buf_add(out, "", 0);
	if (base->auth.s != NULL && !base_true) {
		spam_msg_buf_addc(out, '/');
	} else {
		for (k = base->path.len; k > 0; k--) {
			if (base->path.s[k - 1] == '/')
				break;
		}
		spam_msg_buf_add(out, base->path.s, k);
	}
	spam_msg_buf_add(out, rel.s, rel.len);
}

static int
span_true(struct spam_msg_span sp)
{
	return sp.s != NULL && sp.len > 0 && !(sp.len == 1 && sp.s[0] == '0');
}

static void
add_span(struct spam_msg_buf *b, const char *pre, struct spam_msg_span sp)
{
	if (sp.s == NULL)
		return;
	spam_msg_buf_adds(b, pre);
	spam_msg_buf_add(b, sp.s, sp.len);
}

/* The path and query of the target when r has no scheme or
 * authority. */
static void
target_relative(const struct uri_parts *r, const struct uri_parts *base,
                struct spam_msg_buf *path, struct spam_msg_span *query)
{
	struct spam_msg_buf merged = {0};

	if (r->path.len == 0) {
		spam_msg_buf_add(path, base->path.s, base->path.len);
		*query = r->query.s != NULL ? r->query : base->query;
		return;
	}
	*query = r->query;
	if (r->path.s[0] == '/') {
		remove_dots(r->path.s, r->path.len, path);
		return;
	}
	merge_path(base, r->path, &merged);
	remove_dots(merged.s, merged.len, path);
	spam_msg_buf_free(&merged);
}

char *
spam_msg_target_uri(const char *base, const char *r, size_t rlen, size_t *len_r)
{
	struct uri_parts b, u;
	struct spam_msg_buf path = {0}, out = {0};
	struct spam_msg_span scheme, auth, query;

	pthread_once(&target_once, target_init);
	uri_split(base, strlen(base), &b);
	uri_split(r, rlen, &u);
	if (u.scheme.s != NULL && b.scheme.s != NULL &&
	    u.scheme.len == b.scheme.len &&
	    memcmp(u.scheme.s, b.scheme.s, u.scheme.len) == 0)
		u.scheme.s = NULL;
	scheme = u.scheme.s != NULL ? u.scheme : b.scheme;
	auth = u.scheme.s != NULL || u.auth.s != NULL ? u.auth : b.auth;
	if (u.scheme.s != NULL || u.auth.s != NULL) {
		remove_dots(u.path.s, u.path.len, &path);
		query = u.query;
	} else {
		target_relative(&u, &b, &path, &query);
	}
	spam_msg_buf_add(&out, "", 0);
	if (span_true(scheme)) {
		spam_msg_buf_add(&out, scheme.s, scheme.len);
		spam_msg_buf_addc(&out, ':');
	} else if (auth.s != NULL) {
		if (auth.len >= 4 && !strncasecmp(auth.s, "www", 3))
			spam_msg_buf_adds(&out,
			                  www_or_ftp(auth, "www", "http:"));
		else if (auth.len >= 4 && !strncasecmp(auth.s, "ftp", 3))
			spam_msg_buf_adds(&out,
			                  www_or_ftp(auth, "ftp", "ftp:"));
	}
	add_span(&out, "//", auth);
	spam_msg_buf_add(&out, path.s != NULL ? path.s : "", path.len);
	add_span(&out, "?", query);
	add_span(&out, "#", u.frag);
	spam_msg_buf_free(&path);
	return spam_msg_buf_take(&out, len_r);
}
