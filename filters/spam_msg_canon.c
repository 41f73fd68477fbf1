/*
 * spam_msg_canon.c - a URI and the variants SpamAssassin 4.0 adds to it
 * for its uri rules (Util.pm's uri_list_canonicalize), for
 * spam_msg_uri.c.
 *
 * The variants: %-escapes of printable characters decoded, "http://"
 * added, "http:/x" made "http://x", a "/" before a bare "?", the user
 * name, the default port and junk after the host removed, numeric hosts
 * as dotted quads, "http://foo" as "http://www.foo.com" (as Firefox
 * guesses), and the target of known redirectors (canonicalized in
 * turn, at most CANON_ROUNDS_MAX of them).
 *
 * XXX SpamAssassin reads redirector_pattern from its rule files; the
 * patterns here are the stock ones (20_uri_tests.cf, 72_active.cf).
 * XXX Host names are only lowercased, not IDNA-converted, as
 * SpamAssassin does without Net::LibIDN (Debian's default install).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/spam_msg_private.h"
#include "util/xalloc.h"

#define CANON_ROUNDS_MAX 32

static const char *const redirectors[] = {
    "^http:\\/\\/chkpt\\.zdnet\\.com\\/chkpt\\/\\w+\\/(.*)$",
    "^http:\\/\\/www(?:\\d+)?\\.nate\\.com\\/r\\/\\w+\\/(.*)$",
    "^http:\\/\\/.+\\.gov\\/(?:.*\\/)?externalLink\\.jhtml\\?.*url=(.*?)"
    "(?:&.*)?$",
    "^http:\\/\\/redir\\.internet\\.com\\/.+?\\/.+?\\/(.*)$",
    "^http:\\/\\/(?:.*?\\.)?adtech\\.de\\/.*(?:;|\\|)link=(.*?)(?:;|$)",
    "^http.*?/redirect\\.php\\?.*(?<=[?&])goto=(.*?)(?:$|[&\\#])",
    "^https?:/*(?:[^/]+\\.)?emf\\d\\.com/r\\.cfm.*?&r=(.*)",
    "/(?:index.php)?\\?.*(?<=[?&])URL=(.*?)(?:$|[&\\#])",
    "^https?:/*(?:\\w+\\.)?google(?:\\.\\w{2,3}){1,2}/url\\?.*?(?<=[?&])"
    "q=(.*?)(?:$|[&\\#])",
    "^https?:/*(?:\\w+\\.)?google(?:\\.\\w{2,3}){1,2}/search\\?.*?"
    "(?<=[?&])q=[^&]*?(?<=%20|..[=+\\s])(?:site|inurl):(.*?)"
    "(?:$|%20|[\\s+&\\#])",
    "^https?:/*(?:\\w+\\.)?google(?:\\.\\w{2,3}){1,2}/search\\?.*?"
    "(?<=[?&])q=[^&]*?(?<=%20|..[=+\\s])(?:\"|%22)(.*?)"
    "(?:$|%22|[\"\\s+&\\#])",
    "^https?:/*(?:\\w+\\.)?google(?:\\.\\w{2,3}){1,2}/translate\\?.*?"
    "(?<=[?&])u=(.*?)(?:$|[&\\#])",
    "^https?:/*(?:\\w+\\.)?google(?:\\.\\w{2,3}){1,2}/pagead/iclk\\?.*?"
    "(?<=[?&])adurl=(.*?)(?:$|[&\\#])",
    "^https?:/*(?:\\w+\\.)?aol\\.com/redir\\.adp\\?.*(?<=[?&])_url=(.*?)"
    "(?:$|[&\\#])",
    "^https?/*(?:\\w+\\.)?facebook\\.com/l/;(.*)",
};

#define NREDIRECTORS (sizeof(redirectors) / sizeof(redirectors[0]))

static pcre2_code *re_redir[NREDIRECTORS];
static pcre2_code *re_http_parts, *re_hard_redirect, *re_ip4ish;

/*
 * String lists
 */

void
spam_msg_canon_push(struct spam_msg_strlist *l, const char *s, size_t len)
{
	char *copy = xmalloc(len + 1);

	memcpy(copy, s, len);
	copy[len] = '\0';
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 8 : l->cap * 2;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n].s = copy;
	l->v[l->n].len = len;
	l->n++;
}

static void
list_push3(struct spam_msg_strlist *l, struct spam_msg_span a,
           struct spam_msg_span b, struct spam_msg_span c)
{
	struct spam_msg_buf t = {0};

	spam_msg_buf_add(&t, a.s, a.len);
	spam_msg_buf_add(&t, b.s, b.len);
	spam_msg_buf_add(&t, c.s, c.len);
	spam_msg_canon_push(l, t.s, t.len);
	spam_msg_buf_free(&t);
}

void
spam_msg_canon_free(struct spam_msg_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].s);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int
list_has(const struct spam_msg_strlist *l, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (l->v[i].len == len && memcmp(l->v[i].s, s, len) == 0)
			return 1;
	}
	return 0;
}

static int
isxdigit_ascii(char c)
{
	return (c >= '0' && c <= '9') ||
	       ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static struct spam_msg_span
span(const char *s, size_t len)
{
	struct spam_msg_span sp = {s, len};

	return sp;
}

static int
isalnum_ascii(char c)
{
	return (c >= '0' && c <= '9') ||
	       ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

static int
isword(char c)
{
	return isalnum_ascii(c) || c == '_';
}

static int
has_only_hex(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (!isxdigit_ascii(s[i]))
			return 0;
	}
	return len > 0;
}

/* /^[^:]*\@/: an '@' before any ':'. */
static int
at_before_colon(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && s[i] != ':'; i++) {
		if (s[i] == '@')
			return 1;
	}
	return 0;
}

static int
prefix_ci(const char *s, size_t len, const char *p)
{
	size_t n = strlen(p);

	return len >= n && strncasecmp(s, p, n) == 0;
}

/*
 * Canonicalization (uri_list_canonicalize)
 */

static pcre2_code *re_mail_q, *re_mail_amp, *re_mail_sp, *re_mail_angle;
static pcre2_code *re_oct, *re_hex_octet, *re_ent_dec, *re_ent_hex;
static pthread_once_t canon_once = PTHREAD_ONCE_INIT;

static void
canon_init(void)
{
	size_t i;

	for (i = 0; i < NREDIRECTORS; i++)
		re_redir[i] =
		    spam_msg_re_compile(redirectors[i], PCRE2_CASELESS);
	re_http_parts = spam_msg_re_compile(
	    "^(https?://)([^\\@/?#]*\\@)?([^/?#:]+)((?::(\\d*))?.*)$",
	    PCRE2_CASELESS);
	re_hard_redirect =
	    spam_msg_re_compile("(https?:/{0,2}[^&#]+)", PCRE2_CASELESS);
	re_ip4ish = spam_msg_re_compile("^((?:0x[0-9a-f]+|\\d+)\\.)"
	                                "((?:0x[0-9a-f]+|\\d+)\\.)"
	                                "((?:0x[0-9a-f]+|\\d+)\\.)"
	                                "(0x[0-9a-f]+|\\d+)$",
	                                PCRE2_CASELESS);
	re_mail_q = spam_msg_re_compile("^([^\\@]+\\@[^?]+)\\?", 0);
	re_mail_amp = spam_msg_re_compile("^([^\\@]+\\@[^?&]+)\\&", 0);
	re_mail_sp = spam_msg_re_compile(
	    "^(?:mailto:)?(?:\\%20)*([^\\@]+\\@[^?&%]+)", 0);
	re_mail_angle = spam_msg_re_compile("^[^?&]*<([^\\@>]+\\@[^>]+)>", 0);
	re_oct = spam_msg_re_compile("^0+([1-3][0-7]{0,2}|[4-7][0-7]?)\\b", 0);
	re_hex_octet = spam_msg_re_compile("^0x([0-9a-f]+)", PCRE2_CASELESS);
	re_ent_dec = spam_msg_re_compile(
	    "\\&\\#0*(3[3-9]|[4-9]\\d|1[01]\\d|12[0-6]);", 0);
	re_ent_hex = spam_msg_re_compile(
	    "\\&\\#x0*(2[1-9]|[3-6][a-fA-F0-9]|7[0-9a-eA-E]);", 0);
}

/* Newlines and CRs removed, white space around trimmed. */
static void
canon_clean(struct spam_msg_str *t)
{
	char *s = t->s;
	size_t i, j = 0, start = 0;

	for (i = 0; i < t->len; i++) {
		if (s[i] != '\n' && s[i] != '\r')
			s[j++] = s[i];
	}
	while (j > 0 && spam_msg_util_is_ws((unsigned char)s[j - 1]))
		j--;
	while (start < j && spam_msg_util_is_ws((unsigned char)s[start]))
		start++;
	memmove(s, s + start, j - start);
	t->len = j - start;
	s[t->len] = '\0';
}

static void
canon_mail(const char *u, size_t len, struct spam_msg_strlist *nuris)
{
	struct spam_msg_span g[2];
	struct spam_msg_buf b = {0};

	if (spam_msg_re_match(re_mail_q, u, len, 0, g, 2))
		spam_msg_canon_push(nuris, g[1].s, g[1].len);
	if (spam_msg_re_match(re_mail_amp, u, len, 0, g, 2))
		spam_msg_canon_push(nuris, g[1].s, g[1].len);
	if (memmem(u, len, "%20", 3) != NULL &&
	    spam_msg_re_match(re_mail_sp, u, len, 0, g, 2)) {
		spam_msg_buf_adds(&b, "mailto:");
		spam_msg_buf_add(&b, g[1].s, g[1].len);
		spam_msg_canon_push(nuris, b.s, b.len);
		b.len = 0;
	}
	if (spam_msg_re_match(re_mail_angle, u, len, 0, g, 2)) {
		spam_msg_buf_adds(&b, "mailto:");
		spam_msg_buf_add(&b, g[1].s, g[1].len);
		spam_msg_canon_push(nuris, b.s, b.len);
	}
	spam_msg_buf_free(&b);
}

/* s/re/chr($1)/ge with $1 in base 10 or 16. */
static void
subst_chr(struct spam_msg_buf *b, const pcre2_code *re, int base)
{
	struct spam_msg_buf out = {0};
	struct spam_msg_span g[2];
	size_t off = 0;

	while (spam_msg_re_match(re, b->s, b->len, off, g, 2)) {
		spam_msg_buf_add(&out, b->s + off,
		                 (size_t)(g[0].s - (b->s + off)));
		spam_msg_buf_addc(&out, (char)strtol(g[1].s, NULL, base));
		off = (size_t)(g[0].s - b->s) + g[0].len;
	}
	spam_msg_buf_add(&out, b->s + off, b->len - off);
	spam_msg_buf_free(b);
	*b = out;
}

/* &#x2e; and the other Unicode full stops become '.'. */
static void
subst_dots(struct spam_msg_buf *b)
{
	static const char *const dots[] = {"&#x2e;",   "&#12290;", "&#x3002;",
	                                   "&#65294;", "&#xff0e;", "&#65377;",
	                                   "&#xff61;", NULL};
	struct spam_msg_buf out = {0};
	size_t i = 0, n;
	int k;

	spam_msg_buf_add(&out, "", 0);
	while (i < b->len) {
		for (k = 0; dots[k] != NULL; k++) {
			n = strlen(dots[k]);
			if (b->len - i >= n &&
			    !strncasecmp(b->s + i, dots[k], n))
				break;
		}
		if (dots[k] != NULL) {
			spam_msg_buf_addc(&out, '.');
			i += n;
			continue;
		}
		spam_msg_buf_addc(&out, b->s[i++]);
	}
	spam_msg_buf_free(b);
	*b = out;
}

static int
has_escape(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i + 2 < len; i++) {
		if (s[i] == '%' && isxdigit_ascii(s[i + 1]) &&
		    isxdigit_ascii(s[i + 2]))
			return 1;
	}
	return 0;
}

/* /^[-_a-z0-9]+:/i */
static int
has_scheme(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len &&
	       (s[i] == '-' || s[i] == '_' || (s[i] >= '0' && s[i] <= '9') ||
	        ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'z')))
		i++;
	return i > 0 && i < len && s[i] == ':';
}

static void
buf_replace(struct spam_msg_buf *b, struct spam_msg_buf *with)
{
	spam_msg_buf_free(b);
	*b = *with;
	memset(with, 0, sizeof(*with));
}

/* "http:" with up to two slashes becomes "http://". */
static void
fix_slashes(struct spam_msg_buf *b)
{
	struct spam_msg_buf out = {0};
	size_t skip, i;

	skip = prefix_ci(b->s, b->len, "http:")    ? 5
	       : prefix_ci(b->s, b->len, "https:") ? 6
	                                           : 0;
	if (skip == 0)
		return;
	i = skip;
	while (i < b->len && i < skip + 2 && b->s[i] == '/')
		i++;
	spam_msg_buf_add(&out, b->s, skip);
	spam_msg_buf_add(&out, "//", 2);
	spam_msg_buf_add(&out, b->s + i, b->len - i);
	buf_replace(b, &out);
}

/* Unschemed: "ftp." gets ftp://, anything else http://; then
 * "http://host?x" gets its "/" before the '?' or '#'. */
static void
fix_scheme(struct spam_msg_buf *b)
{
	struct spam_msg_buf out = {0};
	size_t i, skip;

	if (!has_scheme(b->s, b->len)) {
		spam_msg_buf_adds(
		    &out, strncmp(b->s, "ftp.", 4) == 0 ? "ftp://" : "http://");
		spam_msg_buf_add(&out, b->s, b->len);
		buf_replace(b, &out);
	}
	skip = prefix_ci(b->s, b->len, "http://")    ? 7
	       : prefix_ci(b->s, b->len, "https://") ? 8
	                                             : 0;
	if (skip == 0)
		return;
	for (i = skip;
	     i < b->len && !(b->s[i] != '\0' && strchr("/?#", b->s[i])); i++)
		;
	if (i == skip || i == b->len || b->s[i] == '/')
		return;
	spam_msg_buf_add(&out, b->s, i);
	spam_msg_buf_addc(&out, '/');
	spam_msg_buf_add(&out, b->s + i, b->len - i);
	buf_replace(b, &out);
}

/* The rewritten URI: slashes, scheme, %-escapes, entities. */
static void
canon_rewrite(const char *u, size_t len, int wide, struct spam_msg_buf *b)
{
	size_t i;
	char *enc;

	spam_msg_buf_add(b, u, len);
	for (i = 0; i < b->len; i++) {
		if (b->s[i] == '\\')
			b->s[i] = '/';
	}
	fix_slashes(b);
	if (has_escape(b->s, b->len)) {
		enc = spam_msg_util_url_encode(b->s, b->len, wide, &i);
		b->len = 0;
		spam_msg_buf_add(b, enc, i);
		free(enc);
	}
	fix_scheme(b);
	subst_chr(b, re_ent_dec, 10);
	subst_chr(b, re_ent_hex, 16);
	subst_dots(b);
}

/* A decimal or hex number, saturating. */
static uint64_t
parse_num(const char *s, size_t len, int base)
{
	uint64_t v = 0, d;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = s[i];

		d = c >= '0' && c <= '9' ? (uint64_t)(c - '0')
		                         : (uint64_t)((c | 0x20) - 'a' + 10);
		if (v > (UINT64_MAX - d) / (uint64_t)base)
			return UINT64_MAX;
		v = v * (uint64_t)base + d;
	}
	return v;
}

/* decode_ulong_to_ip: the first eight hex digits of the number as
 * four octets. */
static void
ulong_to_ip(uint64_t v, struct spam_msg_buf *b)
{
	char hex[32], ip[32];
	unsigned int o[4];
	int i;

	snprintf(hex, sizeof(hex), "%08llx", (unsigned long long)v);
	for (i = 0; i < 4; i++) {
		char pair[3] = {hex[2 * i], hex[2 * i + 1], '\0'};

		o[i] = (unsigned int)strtoul(pair, NULL, 16);
	}
	snprintf(ip, sizeof(ip), "%u.%u.%u.%u", o[0], o[1], o[2], o[3]);
	spam_msg_buf_adds(b, ip);
}

/* One "0x7f." or "0177." chunk of a dotted host made decimal as
 * SpamAssassin does it (hex, then octal, then leading zeros off). */
static void
octet_fix(struct spam_msg_span in, struct spam_msg_buf *out)
{
	struct spam_msg_buf t = {0};
	struct spam_msg_span g[2];
	char num[32];
	size_t i = 0;

	spam_msg_buf_add(&t, in.s, in.len);
	if (spam_msg_re_match(re_hex_octet, t.s, t.len, 0, g, 2)) {
		snprintf(num, sizeof(num), "%llu",
		         (unsigned long long)parse_num(g[1].s, g[1].len, 16));
		out->len = 0;
		spam_msg_buf_adds(out, num);
		spam_msg_buf_add(out, g[1].s + g[1].len, t.len - g[0].len);
		buf_replace(&t, out);
	}
	if (spam_msg_re_match(re_oct, t.s, t.len, 0, g, 2)) {
		snprintf(num, sizeof(num), "%llu",
		         (unsigned long long)parse_num(g[1].s, g[1].len, 8));
		out->len = 0;
		spam_msg_buf_adds(out, num);
		spam_msg_buf_add(out, g[1].s + g[1].len, t.len - g[0].len);
		buf_replace(&t, out);
	}
	while (i < t.len && t.s[i] == '0')
		i++;
	out->len = 0;
	spam_msg_buf_add(out, t.s + i, t.len - i);
	spam_msg_buf_free(&t);
}

/* Hosts that are numbers: dotted with hex or octal parts, one hex
 * number, one decimal number.  Returns whether it was one. */
static int
canon_ip(struct spam_msg_span proto, const char *host, size_t hlen,
         struct spam_msg_span rest, struct spam_msg_strlist *nuris)
{
	struct spam_msg_buf b = {0}, oct = {0};
	struct spam_msg_span g[5];
	size_t i;

	if (spam_msg_re_match(re_ip4ish, host, hlen, 0, g, 5)) {
		spam_msg_buf_add(&b, proto.s, proto.len);
		for (i = 1; i <= 4; i++) {
			octet_fix(g[i], &oct);
			spam_msg_buf_add(&b, oct.s, oct.len);
		}
	} else if (hlen > 2 && host[0] == '0' && (host[1] | 0x20) == 'x' &&
	           has_only_hex(host + 2, hlen - 2)) {
		i = hlen - 2 > 8 ? hlen - 8 : 2;
		spam_msg_buf_add(&b, proto.s, proto.len);
		ulong_to_ip(parse_num(host + i, hlen - i, 16), &b);
	} else if (spam_msg_util_all_digits(host, hlen)) {
		spam_msg_buf_add(&b, proto.s, proto.len);
		ulong_to_ip(parse_num(host, hlen, 10), &b);
	} else {
		return 0;
	}
	spam_msg_buf_add(&b, rest.s, rest.len);
	spam_msg_canon_push(nuris, b.s, b.len);
	spam_msg_buf_free(&b);
	spam_msg_buf_free(&oct);
	return 1;
}

/* The target of a redirector: pushed to uris to be canonicalized in
 * turn. */
static void
canon_redirect(struct spam_msg_span proto, const char *host, size_t hlen,
               struct spam_msg_span rest, struct spam_msg_strlist *uris)
{
	struct spam_msg_buf all = {0};
	struct spam_msg_span g[2];
	size_t i;

	spam_msg_buf_add(&all, proto.s, proto.len);
	spam_msg_buf_add(&all, host, hlen);
	spam_msg_buf_add(&all, rest.s, rest.len);
	for (i = 0; i < NREDIRECTORS; i++) {
		if (!spam_msg_re_match(re_redir[i], all.s, all.len, 0, g, 2))
			continue;
		if (g[1].s == NULL || memchr(g[1].s, '.', g[1].len) == NULL)
			continue;
		spam_msg_canon_push(uris, g[1].s, g[1].len);
		spam_msg_buf_free(&all);
		return;
	}
	spam_msg_buf_free(&all);
	if (spam_msg_re_match(re_hard_redirect, rest.s, rest.len, 0, g, 2) &&
	    memchr(g[1].s, '.', g[1].len) != NULL)
		spam_msg_canon_push(uris, g[1].s, g[1].len);
}

/* The default port dropped: ":80" for http, ":443" otherwise. */
static void
canon_port(struct spam_msg_span proto, struct spam_msg_span host,
           struct spam_msg_span rest, int is_http,
           struct spam_msg_strlist *nuris)
{
	const char *p = is_http ? ":80" : ":443";
	size_t n = strlen(p);
	struct spam_msg_span r;

	if (rest.len < n || memcmp(rest.s, p, n) != 0)
		return;
	if (rest.len > n && isword(rest.s[n]))
		return;
	r = span(rest.s + n, rest.len - n);
	list_push3(nuris, proto, host, r);
}

/* http://foobar -> http://www.foobar.com, as Firefox guesses (unless
 * the host already ends in a valid TLD). */
static void
canon_guess_com(struct spam_msg_span proto, struct spam_msg_span nhost,
                struct spam_msg_span rest, struct spam_msg_strlist *nuris)
{
	struct spam_msg_buf b = {0};
	struct spam_msg_span name = nhost;

	if (nhost.len >= 4 && memcmp(nhost.s, "www.", 4) == 0)
		name = span(nhost.s + 4, nhost.len - 4);
	if (name.len == 0 || memchr(name.s, '.', name.len) != NULL)
		return;
	if (spam_msg_util_domain_valid(nhost.s, nhost.len))
		return;
	spam_msg_buf_add(&b, proto.s, proto.len);
	spam_msg_buf_adds(&b, "www.");
	spam_msg_buf_add(&b, name.s, name.len);
	spam_msg_buf_adds(&b, ".com");
	spam_msg_buf_add(&b, rest.s, rest.len);
	spam_msg_canon_push(nuris, b.s, b.len);
	spam_msg_buf_free(&b);
}

/* In a character string, a non-ASCII host made octets by idn_to_ascii
 * differs from the host: SpamAssassin adds it (with and without the
 * port), and joined to the characters around it each octet becomes a
 * character: the host ends up encoded twice. */
static void
canon_host_octets(struct spam_msg_span proto, struct spam_msg_buf *h,
                  struct spam_msg_span rest, struct spam_msg_span port,
                  struct spam_msg_strlist *nuris)
{
	struct spam_msg_buf d = {0};
	struct spam_msg_span noport = rest;
	char u[4];
	size_t i;

	for (i = 0; i < h->len; i++) {
		unsigned char c = (unsigned char)h->s[i];

		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c + 32);
		spam_msg_buf_add(&d, u, spam_msg_utf8_put(u, c));
	}
	if (d.len == h->len) {
		spam_msg_buf_free(&d);
		return;
	}
	list_push3(nuris, proto, span(d.s, d.len), rest);
	if (port.s != NULL && port.len > 0) {
		if (noport.len >= 3 && memcmp(noport.s, ":80", 3) == 0 &&
		    (noport.len == 3 || !isword(noport.s[3])) &&
		    proto.len == 7 && memcmp(proto.s, "http://", 7) == 0)
			noport = span(noport.s + 3, noport.len - 3);
		else if (noport.len >= 4 && memcmp(noport.s, ":443", 4) == 0 &&
		         (noport.len == 4 || !isword(noport.s[4])) &&
		         !(proto.len == 7 &&
		           memcmp(proto.s, "http://", 7) == 0))
			noport = span(noport.s + 4, noport.len - 4);
		if (noport.len > 0 && !(noport.len == 1 && noport.s[0] == '0'))
			list_push3(nuris, proto, span(d.s, d.len), noport);
	}
	buf_replace(h, &d);
}

/* The host with the characters up to 0x20 removed: a variant. */
static void
canon_host_controls(struct spam_msg_span proto, struct spam_msg_buf *h,
                    struct spam_msg_span rest, struct spam_msg_strlist *nuris)
{
	size_t i, j = 0;

	for (i = 0; i < h->len; i++) {
		if ((unsigned char)h->s[i] > 0x20)
			h->s[j++] = h->s[i];
	}
	if (j == h->len)
		return;
	h->len = j;
	list_push3(nuris, proto, span(h->s, h->len), rest);
}

/* A user name before the host removed, then trailing junk: each
 * change a variant. */
static void
canon_host_user(struct spam_msg_span proto, struct spam_msg_buf *h,
                struct spam_msg_span rest, struct spam_msg_strlist *nuris)
{
	const char *at = memchr(h->s, '@', h->len);
	size_t i;

	if (at != NULL && at > h->s) {
		i = (size_t)(at - h->s) + 1;
		memmove(h->s, h->s + i, h->len - i);
		h->len -= i;
		list_push3(nuris, proto, span(h->s, h->len), rest);
	}
	i = h->len;
	while (i > 0 && !isalnum_ascii(h->s[i - 1]))
		i--;
	if (i == h->len)
		return;
	h->len = i;
	list_push3(nuris, proto, span(h->s, h->len), rest);
}

/* The variants of an http(s) URI. */
static void
canon_http(const char *u, size_t len, int wide, struct spam_msg_strlist *uris,
           struct spam_msg_strlist *nuris)
{
	struct spam_msg_span g[6], proto, rest;
	struct spam_msg_buf host = {0}, nhost = {0};
	int is_http, port80;
	size_t i;

	if (!spam_msg_re_match(re_http_parts, u, len, 0, g, 6))
		return;
	proto = g[1];
	rest = g[4];
	is_http = proto.len == 7 && memcmp(proto.s, "http://", 7) == 0;
	if (g[5].s != NULL && g[5].len > 0) {
		canon_port(proto, g[3], rest, is_http, nuris);
		port80 = g[5].len == 2 && memcmp(g[5].s, "80", 2) == 0;
	} else {
		port80 = is_http;
	}
	spam_msg_buf_add(&host, g[3].s, g[3].len);
	if (wide)
		canon_host_octets(proto, &host, rest, g[5], nuris);
	/* idn_to_ascii's host: lowercased (and as octets, see above) */
	spam_msg_buf_add(&nhost, host.s, host.len);
	for (i = 0; i < nhost.len; i++) {
		if (nhost.s[i] >= 'A' && nhost.s[i] <= 'Z')
			nhost.s[i] = (char)(nhost.s[i] + 32);
	}
	canon_host_controls(proto, &host, rest, nuris);
	canon_redirect(proto, host.s, host.len, rest, uris);
	canon_host_user(proto, &host, rest, nuris);
	if (!canon_ip(proto, host.s, host.len, rest, nuris) && is_http &&
	    g[2].s == NULL && port80 &&
	    !(nhost.len == 9 && memcmp(nhost.s, "localhost", 9) == 0))
		canon_guess_com(proto, span(nhost.s, nhost.len), rest, nuris);
	spam_msg_buf_free(&host);
	spam_msg_buf_free(&nhost);
}

void
spam_msg_canon_all(const char *uri, size_t len, int wide,
                   struct spam_msg_strlist *out)
{
	struct spam_msg_strlist uris = {0}, nuris = {0};
	struct spam_msg_buf b = {0};
	struct spam_msg_str *t;
	size_t k;

	pthread_once(&canon_once, canon_init);
	spam_msg_canon_push(&uris, uri, len);
	for (k = 0; k < uris.n && k < CANON_ROUNDS_MAX; k++) {
		t = &uris.v[k];
		canon_clean(t);
		if (t->len <= 1 ||
		    (t->s[0] != '\0' && strchr("#?&", t->s[0]) != NULL) ||
		    (t->s[0] == '/' && t->s[1] != '/'))
			continue;
		if (prefix_ci(t->s, t->len, "mailto:") ||
		    at_before_colon(t->s, t->len)) {
			canon_mail(t->s, t->len, &nuris);
			continue;
		}
		b.len = 0;
		canon_rewrite(t->s, t->len, wide, &b);
		if (b.len != t->len || memcmp(b.s, t->s, b.len) != 0)
			spam_msg_canon_push(&nuris, b.s, b.len);
		canon_http(b.s, b.len, wide, &uris, &nuris);
	}
	for (k = 0; k < uris.n; k++) {
		if (!list_has(out, uris.v[k].s, uris.v[k].len))
			spam_msg_canon_push(out, uris.v[k].s, uris.v[k].len);
	}
	for (k = 0; k < nuris.n; k++) {
		if (!list_has(out, nuris.v[k].s, nuris.v[k].len))
			spam_msg_canon_push(out, nuris.v[k].s, nuris.v[k].len);
	}
	spam_msg_buf_free(&b);
	spam_msg_canon_free(&uris);
	spam_msg_canon_free(&nuris);
}
