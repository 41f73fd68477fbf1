/*
 * spam_msg_util.c - SpamAssassin's small helpers, in C: buffers, line
 * splitting, URL %-escapes (url_encode) and host name checks
 * (is_fqdn_valid, is_domain_valid), plus the PCRE2 wrapper the other
 * spam_msg files use.  MIME decoding is GMime's (spam_msg_mime.c).
 *
 * Every function takes any octets and never fails; regex failures
 * (the match limit) count as no match.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "filters/spam_msg_private.h"
#include "util/xalloc.h"

/*
 * Buffers
 */

static void
buf_grow(struct spam_msg_buf *b, size_t n)
{
	size_t want = b->len + n + 1;

	if (want <= b->cap)
		return;
	b->cap = b->cap == 0 ? 64 : b->cap;
	while (b->cap < want)
		b->cap *= 2;
	b->s = xrealloc(b->s, b->cap);
}

void
spam_msg_buf_add(struct spam_msg_buf *b, const char *s, size_t n)
{
	buf_grow(b, n);
	if (n > 0)
		memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
spam_msg_buf_addc(struct spam_msg_buf *b, char c)
{
	spam_msg_buf_add(b, &c, 1);
}

void
spam_msg_buf_adds(struct spam_msg_buf *b, const char *s)
{
	spam_msg_buf_add(b, s, strlen(s));
}

char *
spam_msg_buf_take(struct spam_msg_buf *b, size_t *len_r)
{
	char *s = b->s;

	if (s == NULL)
		s = xstrdup("");
	if (len_r != NULL)
		*len_r = b->len;
	b->s = NULL;
	b->len = b->cap = 0;
	return s;
}

void
spam_msg_buf_free(struct spam_msg_buf *b)
{
	free(b->s);
	b->s = NULL;
	b->len = b->cap = 0;
}

/*
 * Regexes
 */

static pcre2_match_context *re_mctx;
static pthread_once_t re_once = PTHREAD_ONCE_INIT;

static void
re_init(void)
{
	re_mctx = pcre2_match_context_create(NULL);
	if (re_mctx == NULL)
		abort();
	pcre2_set_match_limit(re_mctx, SPAM_MSG_MATCH_LIMIT);
}

pcre2_code *
spam_msg_re_compile(const char *pattern, uint32_t flags)
{
	pcre2_code *re;
	int err;
	PCRE2_SIZE off;

	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, flags,
	                   &err, &off, NULL);
	if (re == NULL)
		abort(); /* our own pattern: a broken invariant */
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	return re;
}

int
spam_msg_re_match(const pcre2_code *re, const char *s, size_t len, size_t off,
                  struct spam_msg_span *g, int ng)
{
	pcre2_match_data *md;
	PCRE2_SIZE *ov;
	int rc, i;

	pthread_once(&re_once, re_init);
	md = pcre2_match_data_create_from_pattern(re, NULL);
	if (md == NULL)
		abort();
	rc = pcre2_match(re, (PCRE2_SPTR)s, len, off, 0, md, re_mctx);
	if (rc <= 0) {
		pcre2_match_data_free(md);
		return 0;
	}
	ov = pcre2_get_ovector_pointer(md);
	for (i = 0; i < ng; i++) {
		g[i].s = NULL;
		g[i].len = 0;
		if (i >= rc || ov[2 * i] == PCRE2_UNSET)
			continue;
		g[i].s = s + ov[2 * i];
		g[i].len = ov[2 * i + 1] - ov[2 * i];
	}
	pcre2_match_data_free(md);
	return 1;
}

/*
 * Lines and characters
 */

struct spam_msg_span *
spam_msg_util_lines(const char *s, size_t len, size_t *n_r)
{
	struct spam_msg_span *v = NULL;
	size_t n = 0, cap = 0, i = 0, start;

	while (i < len) {
		const char *nl = memchr(s + i, '\n', len - i);

		start = i;
		i = nl != NULL ? (size_t)(nl - s) + 1 : len;
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			v = xreallocarray(v, cap, sizeof(*v));
		}
		v[n].s = s + start;
		v[n].len = i - start;
		n++;
	}
	*n_r = n;
	return v;
}

/* Perl's \s on octets: SP, HT, LF, VT, FF, CR. */
int
spam_msg_util_is_ws(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/*
 * URLs (url_encode) and host names
 */

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void
url_put_escape(struct spam_msg_buf *b, const char *s)
{
	int hi = hex_value((unsigned char)s[1]);
	int lo = hex_value((unsigned char)s[2]);
	char lc1 = s[1] >= 'A' && s[1] <= 'F' ? (char)(s[1] + 32) : s[1];
	char lc2 = s[2] >= 'A' && s[2] <= 'F' ? (char)(s[2] + 32) : s[2];

	/* kept: %20, %7f and anything outside %21-%7e */
	if ((lc1 == '2' && lc2 == '0') || (lc1 == '7' && lc2 == 'f') ||
	    strchr("0189abcdef", lc1) != NULL) {
		spam_msg_buf_add(b, s, 3);
		return;
	}
	spam_msg_buf_addc(b, (char)(hi << 4 | lo));
}

/* In a character string (wide), a UTF-8 character above U+00FF is
 * kept as it is; returns its length, 0 for anything else. */
static size_t
wide_char(const char *s, size_t len, int wide)
{
	unsigned int cp;
	size_t n;

	if (!wide || (unsigned char)s[0] < 0x80)
		return 0;
	n = spam_msg_utf8_get(s, len, &cp);
	return n > 0 && cp > 0xff ? n : 0;
}

/* The character at s: a UTF-8 one of wide text, else the octet. */
static unsigned int
char_at(const char *s, size_t len, int wide, size_t *n_r)
{
	unsigned int cp;
	size_t n = wide ? spam_msg_utf8_get(s, len, &cp) : 0;

	if (n == 0) {
		*n_r = 1;
		return (unsigned char)s[0];
	}
	*n_r = n;
	return cp;
}

char *
spam_msg_util_url_encode(const char *s, size_t len, int wide, size_t *len_r)
{
	static const char hex[] = "0123456789abcdef";
	struct spam_msg_buf b = {0};
	unsigned int c;
	size_t i, n;

	for (i = 0; i < len; i += n) {
		n = wide_char(s + i, len - i, wide);
		if (n > 0) {
			spam_msg_buf_add(&b, s + i, n);
			continue;
		}
		c = char_at(s + i, len - i, wide, &n);
		if (c == '%' && i + 2 < len &&
		    hex_value((unsigned char)s[i + 1]) >= 0 &&
		    hex_value((unsigned char)s[i + 2]) >= 0) {
			url_put_escape(&b, s + i);
			n = 3;
			continue;
		}
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '%' ||
		    c == '<' || c == '>') {
			spam_msg_buf_addc(&b, '%');
			spam_msg_buf_addc(&b, hex[c >> 4]);
			spam_msg_buf_addc(&b, hex[c & 15]);
			continue;
		}
		spam_msg_buf_addc(&b, (char)c);
	}
	spam_msg_buf_add(&b, "", 0);
	return spam_msg_buf_take(&b, len_r);
}

static int
label_ok(const char *s, size_t len, int top_two)
{
	size_t i;

	if (len < 1 || len > 63)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (c == '_' && top_two)
			return 0;
		if (!alnum && c != '_' && (c != '-' || i == 0 || i == len - 1))
			return 0;
	}
	return 1;
}

int
spam_msg_util_fqdn_valid(const char *host, size_t len)
{
	char low[256];
	size_t i, nlabels = 1, start = 0, seen = 0;

	while (len > 0 && host[len - 1] == '.')
		len--;
	if (len > 253 || len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		char c = host[i];

		low[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
		nlabels += c == '.';
	}
	if (nlabels < 2)
		return 0;
	for (i = 0; i <= len; i++) {
		if (i < len && low[i] != '.')
			continue;
		seen++;
		if (!label_ok(low + start, i - start, nlabels - seen < 2))
			return 0;
		start = i + 1;
	}
	return 1;
}

int
spam_msg_util_domain_valid(const char *dom, size_t len)
{
	char tld[64];
	size_t i, start;
	const char *dot;

	for (i = 0; i < len; i++) {
		if (spam_msg_util_is_ws((unsigned char)dom[i]))
			return 0;
	}
	dot = NULL;
	for (i = len; i > 0; i--) {
		if (dom[i - 1] == '.') {
			dot = dom + i - 1;
			break;
		}
	}
	if (dot == NULL)
		return 0;
	start = (size_t)(dot - dom) + 1;
	if (len - start == 0 || len - start >= sizeof(tld))
		return 0;
	for (i = start; i < len; i++) {
		char c = dom[i];

		tld[i - start] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
	}
	return spam_msg_tlds_known(tld, len - start);
}

size_t
spam_msg_util_uni_space(const char *s, size_t len)
{
	unsigned int cp;
	size_t n = spam_msg_utf8_get(s, len, &cp);

	if (n == 0)
		return 0;
	if (cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
	    (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 ||
	    cp == 0x202f || cp == 0x205f || cp == 0x3000)
		return n;
	return 0;
}

int
spam_msg_util_all_digits(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
	}
	return len > 0;
}
