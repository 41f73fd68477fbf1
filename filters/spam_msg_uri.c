/*
 * spam_msg_uri.c - the uri view: links found in the body text and in
 * HTML, each with the variants SpamAssassin 4.0 adds, as its uri rules
 * see them (PerMsgStatus.pm's get_uri_list: _process_text_uri_list and
 * _process_html_uri_list; the variants are spam_msg_canon.c's).
 *
 * In text, a URI is what Thunderbird would make a link of: a scheme or
 * "www."/"ftp." start, an e-mail address, or a host name ending in a
 * known TLD, after one of Thunderbird's delimiters; trailing
 * punctuation is dropped, a missing scheme added, and one whose
 * variants name no valid host is left out.  Links from HTML are kept
 * whatever they name.  At most SPAM_MSG_URIS_MAX URIs are kept.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/spam_msg_private.h"
#include "util/xalloc.h"

static pcre2_code *re_tbird;
static pthread_once_t uri_once = PTHREAD_ONCE_INIT;

/* Thunderbird's delimiters, as PerMsgStatus.pm's _tbirdurire has them
 * (\xa0 and ESC are octets here, as in SpamAssassin's octet text). */
#define END_DELIM  "><\"`}\\]{\\[|\\s\\x1b\\xa0"
#define MAIL_DELIM END_DELIM ",('\\x80-\\xff"

static char *
tbird_pattern(void)
{
	struct spam_msg_buf tlds = {0}, re = {0};

	spam_msg_tlds_alternation(&tlds);
	spam_msg_buf_adds(
	    &re, "(?:\\b|(?<=\\x1b\\(.)|(?<=[><\"'`,{\\[(|\\s\\x1b"
	         "\\xa0]))(?:(?:((?:(?:https?|ftp):\\/\\/|"
	         "(?:www\\d{0,2}|ftp)\\.)[^" END_DELIM "]{1,2048})"
	         "(?=(?:[" END_DELIM "]|\\z)))|(?:((?:mailto:[^" MAIL_DELIM
	         "]{1,2048}|[^" MAIL_DELIM "@]{1,251}"
	         "\\@[^" MAIL_DELIM "]{1,251}))(?=(?:[" MAIL_DELIM
	         "]|\\z)))|(?:(?:^|(?<=[!\"#$&'()*+,/:;<=>?@\\[\\\\"
	         "\\]^`{|}~\\s\\x1b\\xa0]))(([a-z\\d][a-z\\d._-]"
	         "{0,251}\\.(?<![a-zA-Z0-9-])(?:");
	spam_msg_buf_add(&re, tlds.s, tlds.len);
	spam_msg_buf_adds(&re, ")(?!(?:[a-zA-Z0-9-]|\\.[a-zA-Z0-9])))\\.?"
	                       "(?::\\d{1,5})?(?:\\/[^" END_DELIM "]{1,2048})?)"
	                       "(?=(?:[" END_DELIM "]|\\z))))");
	spam_msg_buf_free(&tlds);
	return spam_msg_buf_take(&re, NULL);
}

static void
uri_init(void)
{
	char *pat;

	pat = tbird_pattern();
	re_tbird = spam_msg_re_compile(pat, PCRE2_CASELESS);
	free(pat);
}

void
spam_msg_uri_init(void)
{
	pthread_once(&uri_once, uri_init);
}

static int
isword(char c)
{
	return (c >= '0' && c <= '9') ||
	       ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c == '_';
}

static int
prefix_ci(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);

	return len >= n && strncasecmp(s, p, n) == 0;
}

/* /\%[0-9a-f]{2}/i */
static int
has_escape(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i + 2 < len; i++) {
		if (s[i] == '%' && isxdigit(s[i + 1] & 0x7f) &&
		    isxdigit(s[i + 2] & 0x7f))
			return 1;
	}
	return 0;
}

/*
 * The set of URIs
 */

struct uri_seen {
	size_t *slot; /* index + 1 into the strings, 0 for empty */
	size_t cap;
	struct spam_msg_strlist strs;
};

static uint64_t
hash_bytes(const char *s, size_t len)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* Adds s; returns 0 when it was there already. */
static int
seen_add(struct uri_seen *set, const char *s, size_t len)
{
	size_t i, j;

	if (set->strs.n * 2 >= set->cap) {
		free(set->slot);
		set->cap = set->cap == 0 ? 64 : set->cap * 2;
		set->slot = xcalloc(set->cap, sizeof(*set->slot));
		for (j = 0; j < set->strs.n; j++) {
			i = hash_bytes(set->strs.v[j].s, set->strs.v[j].len) &
			    (set->cap - 1);
			while (set->slot[i] != 0)
				i = (i + 1) & (set->cap - 1);
			set->slot[i] = j + 1;
		}
	}
	i = hash_bytes(s, len) & (set->cap - 1);
	while (set->slot[i] != 0) {
		struct spam_msg_str *t = &set->strs.v[set->slot[i] - 1];

		if (t->len == len && memcmp(t->s, s, len) == 0)
			return 0;
		i = (i + 1) & (set->cap - 1);
	}
	spam_msg_canon_push(&set->strs, s, len);
	set->slot[i] = set->strs.n;
	return 1;
}

static void
seen_free(struct uri_seen *set)
{
	free(set->slot);
	spam_msg_canon_free(&set->strs);
	memset(set, 0, sizeof(*set));
}

static struct uri_seen *
uris_set(struct spam_msg_uris *u)
{
	if (u->seen == NULL)
		u->seen = xcalloc(1, sizeof(struct uri_seen));
	return u->seen;
}

/* add_uri_detail_list: the URI's variants, all or (valid_domain) none
 * unless one names a valid host. */
static void
uris_add(struct spam_msg_uris *u, const char *uri, size_t len, int valid_domain,
         int wide)
{
	struct spam_msg_strlist all = {0};
	struct uri_seen *set = uris_set(u);
	size_t i, n;
	int ok = !valid_domain;

	spam_msg_canon_all(uri, len, wide, &all);
	for (i = 0; i < all.n && !ok; i++) {
		n = all.v[i].len > SPAM_MSG_URI_MAX ? SPAM_MSG_URI_MAX
		                                    : all.v[i].len;
		ok = spam_msg_domain_check(all.v[i].s, n);
	}
	for (i = 0; ok && i < all.n && u->n < SPAM_MSG_URIS_MAX; i++) {
		n = all.v[i].len > SPAM_MSG_URI_MAX ? SPAM_MSG_URI_MAX
		                                    : all.v[i].len;
		if (!seen_add(set, all.v[i].s, n))
			continue;
		if (u->n == u->cap) {
			u->cap = u->cap == 0 ? 16 : u->cap * 2;
			u->v = xreallocarray(u->v, u->cap, sizeof(*u->v));
		}
		/* the set owns the string */
		u->v[u->n].s = set->strs.v[set->strs.n - 1].s;
		u->v[u->n].len = n;
		u->n++;
	}
	spam_msg_canon_free(&all);
}

void
spam_msg_uri_from_html(struct spam_msg_uris *u, const char *uri, size_t len,
                       int wide)
{
	spam_msg_uri_init();
	uris_add(u, uri, len, 0, wide);
}

void
spam_msg_uri_free(struct spam_msg_uris *u)
{
	if (u->seen != NULL)
		seen_free(u->seen);
	free(u->seen);
	free(u->v);
	memset(u, 0, sizeof(*u));
}

/*
 * URIs in text (_process_text_uri_list)
 */

/* Thunderbird's end rules: a ')' with no '(' before it ends the URI,
 * and trailing punctuation is not part of it. */
static size_t
raw_trim(const char *s, size_t len)
{
	const char *open = memchr(s, '(', len), *close;
	size_t lim = open != NULL ? (size_t)(open - s) : len;

	close = memrchr(s, ')', lim);
	if (close != NULL)
		len = (size_t)(close - s);
	while (len > 0 && strchr("-~!@#^&*()_+=:;'?,.", s[len - 1]) != NULL &&
	       s[len - 1] != '\0')
		len--;
	return len;
}

/* /^\w+:\/{0,2}$/: a scheme alone. */
static int
scheme_only(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && isword(s[i]))
		i++;
	if (i == 0 || i == len || s[i] != ':')
		return 0;
	i++;
	if (i < len && s[i] == '/')
		i++;
	if (i < len && s[i] == '/')
		i++;
	return i == len;
}

/* /^www\d{0,2}\./i */
static int
www_start(const char *s, size_t len)
{
	size_t i = 3;

	if (!prefix_ci(s, len, "www"))
		return 0;
	while (i < len && i < 5 && s[i] >= '0' && s[i] <= '9')
		i++;
	return i < len && s[i] == '.';
}

/* An '@' with a '.' after it, at least one character between. */
static int
mail_has_dot(const char *s, size_t len)
{
	const char *at = memchr(s, '@', len);

	return at != NULL && at + 2 < s + len &&
	       memchr(at + 2, '.', len - (size_t)(at + 2 - s)) != NULL;
}

/* A '/' with another character and then an '@' after it. */
static int
slash_before_at(const char *s, size_t len)
{
	const char *sl = memchr(s, '/', len), *at;

	if (sl == NULL || sl + 2 >= s + len)
		return 0;
	at = memchr(sl + 2, '@', len - (size_t)(sl + 2 - s));
	return at != NULL;
}

/* skype:, mail:, e-mail: and stray colons before an address. */
static size_t
mail_prefix(const char *s, size_t len)
{
	static const char *const pre[] = {"skype", "e-mail", "email",
	                                  "-mail", "mail",   NULL};
	size_t i = 0, k, n;

	for (k = 0; pre[k] != NULL; k++) {
		n = strlen(pre[k]);
		if (prefix_ci(s, len, pre[k]) && n < len && s[n] == ':') {
			i = n;
			break;
		}
	}
	k = i;
	while (i < len && s[i] == ':')
		i++;
	return i > k ? i : 0;
}

/* A mailto: URI from text needs a host with a known TLD. */
static int
mailto_ok(struct spam_msg_buf *uri)
{
	const char *at, *end;
	size_t len;
	char *enc;

	if (has_escape(uri->s, uri->len)) {
		enc = spam_msg_util_url_encode(uri->s, uri->len, 0, &len);
		uri->len = 0;
		spam_msg_buf_add(uri, enc, len);
		free(enc);
	}
	at = memchr(uri->s, '@', uri->len);
	if (at == NULL)
		return 0;
	at++;
	for (end = at;
	     end < uri->s + uri->len && !(*end != '\0' && strchr("?&>", *end));
	     end++)
		;
	len = (size_t)(end - at);
	while (len >= 3 && memcmp(at + len - 3, "%20", 3) == 0)
		len -= 3;
	return spam_msg_util_domain_valid(at, len);
}

/* The scheme a text URI gets; returns 0 to skip it. */
static int
text_scheme(const char *raw, size_t len, int mail, struct spam_msg_buf *uri)
{
	size_t k;

	(void)mail;
	if (prefix_ci(raw, len, "http:") || prefix_ci(raw, len, "https:") ||
	    prefix_ci(raw, len, "ftp:") || prefix_ci(raw, len, "mailto:")) {
		spam_msg_buf_add(uri, raw, len);
	} else if (prefix_ci(raw, len, "ftp.")) {
		spam_msg_buf_adds(uri, "ftp://");
		spam_msg_buf_add(uri, raw, len);
	} else if (www_start(raw, len) || slash_before_at(raw, len)) {
		spam_msg_buf_adds(uri, "http://");
		spam_msg_buf_add(uri, raw, len);
	} else if (memchr(raw, '@', len) != NULL) {
		if (!mail_has_dot(raw, len) || memmem(raw, len, "&nbsp;", 6))
			return 0;
		k = mail_prefix(raw, len);
		spam_msg_buf_adds(uri, "mailto:");
		spam_msg_buf_add(uri, raw + k, len - k);
	} else {
		if (memchr(raw, '.', len) == NULL)
			return 0;
		spam_msg_buf_adds(uri, "http://");
		spam_msg_buf_add(uri, raw, len);
	}
	if (prefix_ci(uri->s, uri->len, "mailto:"))
		return mailto_ok(uri);
	return 1;
}

/* One URI the regex found. */
static void
text_found(struct spam_msg_uris *u, struct uri_seen *raws,
           const struct spam_msg_span *g)
{
	struct spam_msg_buf uri = {0};
	struct spam_msg_span raw = g[1].s != NULL   ? g[1]
	                           : g[2].s != NULL ? g[2]
	                                            : g[3];
	int mail = g[1].s == NULL && g[2].s != NULL;

	raw.len = raw_trim(raw.s, raw.len);
	if (!seen_add(raws, raw.s, raw.len))
		return;
	if (mail && memchr(raw.s, '@', raw.len) == NULL)
		return;
	if (g[4].s != NULL && !spam_msg_util_fqdn_valid(g[4].s, g[4].len))
		return;
	if (prefix_ci(raw.s, raw.len, "cid:") ||
	    prefix_ci(raw.s, raw.len, "mid:") || scheme_only(raw.s, raw.len))
		return;
	if (text_scheme(raw.s, raw.len, mail, &uri))
		uris_add(u, uri.s, uri.len, 1, 0);
	spam_msg_buf_free(&uri);
}

void
spam_msg_uri_from_text(struct spam_msg_uris *u, const struct spam_text *lines,
                       size_t n)
{
	struct uri_seen raws = {0};
	struct spam_msg_span g[5];
	size_t i, off;

	spam_msg_uri_init();
	uris_set(u);
	for (i = 0; i < n; i++) {
		off = 0;
		while (off < lines[i].len &&
		       spam_msg_re_match(re_tbird, lines[i].s, lines[i].len,
		                         off, g, 5)) {
			off = (size_t)(g[0].s - lines[i].s) + g[0].len;
			if (g[0].len == 0)
				off++;
			text_found(u, &raws, g);
		}
	}
	seen_free(&raws);
}
