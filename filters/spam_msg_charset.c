/*
 * spam_msg_charset.c - text to UTF-8 the way SpamAssassin 4.0 does it
 * (Message/Node.pm's _normalize and _decode_header, normalize_charset
 * on, no Encode::Detect::Detector).
 *
 * Octets that are valid UTF-8 are taken as UTF-8 whatever the declared
 * charset; else the declared charset is tried (ISO-8859-1 read as
 * Windows-1252, as browsers do); what still fails is read as
 * Windows-1252.  Conversion goes through GMime's iconv wrapper, which
 * knows the charset aliases mail uses.  Never fails: the worst case is
 * Windows-1252 with U+FFFD for its five unassigned octets.
 *
 * RFC 2047 encoded words in header fields are GMime's to decode
 * (g_mime_utils_header_decode_text); the steps around it (8-bit
 * fields, the fields SpamAssassin leaves alone) are SpamAssassin's.
 *
 * XXX glibc's tables are not Perl Encode's: Big5 (Perl's is Big5-ETEN),
 * UTF-7 and a few CJK charsets map some octets differently, and where
 * a lax conversion meets bad octets the U+FFFD it puts in may not be
 * where Perl puts its own.  Text in those charsets can differ from
 * SpamAssassin's by a few characters.
 */
#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gmime/gmime.h>

#include "filters/spam_msg_private.h"
#include "util/xalloc.h"

static pthread_once_t charset_once = PTHREAD_ONCE_INIT;
static pcre2_code *re_ascii, *re_us_ascii, *re_ext_ascii, *re_gb18030;
static pcre2_code *re_no_decode;
static GMimeParserOptions *parser_opts;

static void
charset_init_once(void)
{
	static const char *fallback[] = {"UTF-8", "windows-1252", NULL};

	g_mime_init();
	parser_opts = g_mime_parser_options_new();
	g_mime_parser_options_set_fallback_charsets(parser_opts, fallback);
	re_ascii = spam_msg_re_compile(
	    "^(?:(?:US-)?ASCII|ANSI[_ ]?X3\\.4-(?:1986|1968)|ISO646-US)\\z",
	    PCRE2_CASELESS);
	re_us_ascii = spam_msg_re_compile("^(?:US-)?ASCII\\z", PCRE2_CASELESS);
	re_ext_ascii = spam_msg_re_compile(
	    "^(?:ISO[ -]?8859(?:-\\d{1,2})?|Windows-\\d{4}|UTF-?8|"
	    "(KOI8|EUC)-[A-Z]{1,2}|Big5|GBK|GB[ -]?18030(?:-20\\d\\d)?)\\z",
	    PCRE2_CASELESS);
	re_gb18030 = spam_msg_re_compile("^GB[ -]?18030(?:-20\\d\\d)?\\z",
	                                 PCRE2_CASELESS);
	re_no_decode = spam_msg_re_compile(
	    "^(?:Received|(?:Resent-)?(?:Message-ID|Date)|MIME-Version|"
	    "References|In-Reply-To|List-.*)\\z",
	    PCRE2_CASELESS | PCRE2_DOTALL);
}

void
spam_msg_charset_init(void)
{
	pthread_once(&charset_once, charset_init_once);
}

GMimeParserOptions *
spam_msg_charset_parser_options(void)
{
	spam_msg_charset_init();
	return parser_opts;
}

static int
re_is(const pcre2_code *re, const char *s)
{
	return spam_msg_re_match(re, s, strlen(s), 0, NULL, 0);
}

/*
 * UTF-8
 */

size_t
spam_msg_utf8_put(char *out, unsigned int cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static int
utf8_is_nonchar(unsigned int cp)
{
	return (cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) == 0xfffe;
}

/* The length a lead octet announces and the smallest code point that
 * length may carry; 0 for a stray octet. */
static size_t
utf8_lead(unsigned char c, unsigned int *cp_r, unsigned int *min_r)
{
	if (c >= 0xc2 && c <= 0xdf) {
		*cp_r = c & 0x1f;
		*min_r = 0x80;
		return 2;
	}
	if (c >= 0xe0 && c <= 0xef) {
		*cp_r = c & 0x0f;
		*min_r = 0x800;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		*cp_r = c & 0x07;
		*min_r = 0x10000;
		return 4;
	}
	return 0;
}

size_t
spam_msg_utf8_get(const char *s, size_t len, unsigned int *cp_r)
{
	unsigned char c = (unsigned char)s[0];
	unsigned int cp, min;
	size_t n, i;

	if (c < 0x80) {
		*cp_r = c;
		return 1;
	}
	n = utf8_lead(c, &cp, &min);
	if (n == 0 || n > len)
		return 0;
	for (i = 1; i < n; i++) {
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | ((unsigned char)s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    utf8_is_nonchar(cp))
		return 0;
	*cp_r = cp;
	return n;
}

static int
utf8_valid(const char *s, size_t len)
{
	size_t i = 0, n;
	unsigned int cp;

	while (i < len) {
		n = spam_msg_utf8_get(s + i, len - i, &cp);
		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

/* The length a start octet announces, as Perl reads it (its extended
 * forms included); 1 for a continuation octet. */
static size_t
utf8_announced(unsigned char c)
{
	if (c < 0xc0)
		return 1;
	if (c < 0xe0)
		return 2;
	if (c < 0xf0)
		return 3;
	if (c < 0xf8)
		return 4;
	if (c < 0xfc)
		return 5;
	if (c < 0xfe)
		return 6;
	return 7;
}

/* Perl's lax UTF-8 decoding: a bad sequence (a start octet and the
 * continuation octets that follow it, up to the length it announces)
 * becomes one U+FFFD. */
static char *
utf8_lax(const char *s, size_t len, size_t *len_r)
{
	struct spam_msg_buf b = {0};
	unsigned int cp;
	size_t i = 0, n, j;

	while (i < len) {
		n = spam_msg_utf8_get(s + i, len - i, &cp);
		if (n > 0) {
			spam_msg_buf_add(&b, s + i, n);
			i += n;
			continue;
		}
		n = utf8_announced((unsigned char)s[i]);
		j = 1;
		while (j < n && i + j < len &&
		       ((unsigned char)s[i + j] & 0xc0) == 0x80)
			j++;
		i += j;
		spam_msg_buf_add(&b, "\xef\xbf\xbd", 3);
	}
	return spam_msg_buf_take(&b, len_r);
}

/*
 * Windows-1252
 */

static const unsigned short cp1252_c1[32] = {
    0x20ac, 0,      0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021,
    0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0,      0x017d, 0,
    0,      0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
    0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0,      0x017e, 0x0178,
};

/* strict: NULL on an unassigned octet; else U+FFFD for it. */
static char *
cp1252_decode(const char *s, size_t len, int strict, size_t *len_r)
{
	struct spam_msg_buf b = {0};
	char u[4];
	unsigned int cp;
	size_t i;

	spam_msg_buf_add(&b, "", 0);
	for (i = 0; i < len; i++) {
		cp = (unsigned char)s[i];
		if (cp >= 0x80 && cp < 0xa0)
			cp = cp1252_c1[cp - 0x80];
		if (cp == 0 && s[i] != '\0') {
			if (strict) {
				spam_msg_buf_free(&b);
				return NULL;
			}
			cp = 0xfffd;
		}
		spam_msg_buf_add(&b, u, spam_msg_utf8_put(u, cp));
	}
	return spam_msg_buf_take(&b, len_r);
}

/*
 * iconv
 */

static int
iconv_step(iconv_t cd, const char **in, size_t *inleft, struct spam_msg_buf *b)
{
	char out[4096], *op = out;
	char *ip = (char *)(uintptr_t)*in;
	size_t oleft = sizeof(out), rc;
	int err;

	rc = iconv(cd, &ip, inleft, &op, &oleft);
	*in = ip;
	err = rc == (size_t)-1 ? errno : 0;
	spam_msg_buf_add(b, out, sizeof(out) - oleft);
	return err == E2BIG ? 0 : err;
}

/* Convert with iconv; strict: NULL on any error, else U+FFFD for each
 * bad octet. */
static char *
iconv_decode(iconv_t cd, const char *s, size_t len, int strict, size_t *len_r)
{
	struct spam_msg_buf b = {0};
	const char *in = s;
	size_t inleft = len;
	int err;

	spam_msg_buf_add(&b, "", 0);
	while (inleft > 0) {
		err = iconv_step(cd, &in, &inleft, &b);
		if (err == 0)
			continue;
		if (strict) {
			spam_msg_buf_free(&b);
			return NULL;
		}
		spam_msg_buf_add(&b, "\xef\xbf\xbd", 3);
		if (err == EINVAL)
			break;
		in++;
		inleft--;
	}
	return spam_msg_buf_take(&b, len_r);
}

/* Perl's ISO-2022-JP decoder (Encode::JP::JIS7) ends the text at its
 * first 8-bit octet, and reports no error even when asked to. */
static int
is_jis7(const char *cs)
{
	return !strcasecmp(cs, "iso-2022-jp") ||
	       !strcasecmp(cs, "iso-2022-jp-1") || !strcasecmp(cs, "7bit-jis");
}

/* Decode with a named charset; NULL when iconv does not know it or
 * (strict) the text is not in it.  *known_r tells which. */
static char *
named_decode(const char *charset, const char *s, size_t len, int strict,
             size_t *len_r, int *known_r)
{
	iconv_t cd;
	char *out;
	size_t i;

	if (is_jis7(charset)) {
		for (i = 0; i < len && (unsigned char)s[i] < 0x80; i++)
			;
		len = i;
		strict = 0;
	}
	cd = g_mime_iconv_open("UTF-8", charset);
	*known_r = cd != (iconv_t)-1;
	if (!*known_r)
		return NULL;
	out = iconv_decode(cd, s, len, strict, len_r);
	g_mime_iconv_close(cd);
	return out;
}

/*
 * UTF-16 without a byte order mark (detect_utf16)
 */

static const char *
utf16_guess(const unsigned char *s, size_t len)
{
	unsigned long even = 0, odd = 0;
	int le = 0, be = 0;
	size_t i;
	unsigned int a, b;

	if (len >= 2 &&
	    ((s[0] == 0xff && s[1] == 0xfe) || (s[0] == 0xfe && s[1] == 0xff)))
		return NULL;
	for (i = 0; i < len; i += 2) {
		a = s[i];
		b = i + 1 < len ? s[i + 1] : 0;
		even += (a >> 4) + (a & 15);
		odd += (b >> 4) + (b & 15);
		le += a == 0x20 && b == 0;
		be += a == 0 && b == 0x20;
	}
	le += even > odd * 4;
	be += odd * 4 > even;
	if (le == be)
		return NULL;
	return le > be ? "UTF-16LE" : "UTF-16BE";
}

/*
 * _normalize
 */

static char *
copy_out(const char *s, size_t len, size_t *len_r)
{
	char *out = xmalloc(len + 1);

	memcpy(out, s, len);
	out[len] = '\0';
	*len_r = len;
	return out;
}

static size_t
count_8bit(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += (unsigned char)s[i] >= 0x80;
	return n;
}

/* The declared charset tried: NULL when it is unknown or fails. */
static char *
declared_decode(const char *s, size_t len, const char *cs, int insist,
                int tried_utf8, size_t *len_r)
{
	const char *u16;
	char *out;
	int known;

	if (re_is(re_us_ascii, cs) && !insist)
		return NULL;
	if (strncasecmp(cs, "UTF", 3) == 0 &&
	    (strncasecmp(cs + 3, "16", 2) == 0 ||
	     strncasecmp(cs + 3, "-16", 3) == 0 ||
	     strncasecmp(cs + 3, " 16", 3) == 0)) {
		u16 = utf16_guess((const unsigned char *)s, len);
		return u16 == NULL
		           ? NULL
		           : named_decode(u16, s, len, 1, len_r, &known);
	}
	if (!strcasecmp(cs, "ISO-8859-1") || !strcasecmp(cs, "ISO8859-1") ||
	    !strcasecmp(cs, "Windows-1252") || !strcasecmp(cs, "CP1252"))
		return cp1252_decode(s, len, !insist, len_r);
	if (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "UTF8")) {
		if (tried_utf8)
			return NULL;
		if (!insist)
			return utf8_valid(s, len) ? copy_out(s, len, len_r)
			                          : NULL;
		return utf8_lax(s, len, len_r);
	}
	out = named_decode(cs, s, len, !insist, len_r, &known);
	if (!known && re_is(re_gb18030, cs))
		out = named_decode("GBK", s, len, !insist, len_r, &known);
	return out;
}

char *
spam_msg_charset_normalize(const char *s, size_t len, const char *cs,
                           int insist, size_t *len_r, int *decoded_r)
{
	size_t n8 = count_8bit(s, len);
	int tried_utf8 = 0;
	char *out;

	spam_msg_charset_init();
	*decoded_r = 0;
	if (n8 == 0 && (re_is(re_ascii, cs) || re_is(re_ext_ascii, cs)))
		return copy_out(s, len, len_r);
	*decoded_r = 1;
	if (n8 > 0 && !insist) {
		if (utf8_valid(s, len))
			return copy_out(s, len, len_r);
		tried_utf8 = 1;
	}
	out = declared_decode(s, len, cs, insist, tried_utf8, len_r);
	if (out != NULL)
		return out;
	if (n8 == 0) {
		*decoded_r = 0;
		return copy_out(s, len, len_r);
	}
	/* SpamAssassin reads "likely Windows-1252" text (cp1252_likely)
	 * and anything else alike when Encode::Detect::Detector is not
	 * installed, as on Debian: Windows-1252 either way. */
	return cp1252_decode(s, len, 0, len_r);
}

/*
 * Header fields (_decode_header)
 */

/* Text that GMime decoded from ISO-8859-1 words holds C1 controls
 * where SpamAssassin reads Windows-1252 (as browsers do): U+0080 to
 * U+009F become Windows-1252's characters for those octets. */
static char *
c1_to_cp1252(char *s, size_t *len)
{
	struct spam_msg_buf b = {0};
	unsigned int cp;
	char u[4];
	size_t i;

	if (memmem(s, *len, "\xc2", 1) == NULL)
		return s;
	spam_msg_buf_add(&b, "", 0);
	for (i = 0; i < *len; i++) {
		unsigned char c = (unsigned char)s[i + 1];

		if ((unsigned char)s[i] != 0xc2 || i + 1 >= *len || c < 0x80 ||
		    c >= 0xa0 || cp1252_c1[c - 0x80] == 0) {
			spam_msg_buf_addc(&b, s[i]);
			continue;
		}
		cp = cp1252_c1[c - 0x80];
		spam_msg_buf_add(&b, u, spam_msg_utf8_put(u, cp));
		i++;
	}
	free(s);
	return spam_msg_buf_take(&b, len);
}

/* The B-encoded word at s whose text holds base64 padding: its
 * length, its charset and text in the spans; 0 if it is none. */
static size_t
padded_b_word(const char *s, struct spam_msg_span *cs,
              struct spam_msg_span *text)
{
	const char *q1, *end;

	if (s[0] != '=' || s[1] != '?')
		return 0;
	q1 = strchr(s + 2, '?');
	if (q1 == NULL || q1 == s + 2 || (q1[1] | 0x20) != 'b' || q1[2] != '?')
		return 0;
	end = strstr(q1 + 3, "?=");
	if (end == NULL ||
	    memchr(q1 + 3, '=', (size_t)(end - q1 - 3)) == NULL ||
	    memchr(s + 2, ' ', (size_t)(end - s - 2)) != NULL)
		return 0;
	cs->s = s + 2;
	cs->len = (size_t)(q1 - s - 2);
	text->s = q1 + 3;
	text->len = (size_t)(end - q1 - 3);
	return (size_t)(end + 2 - s);
}

/*
 * XXX GMime 3.2.13 (Debian 12) joins adjacent B-encoded words of one
 * charset before decoding and loses everything after a word that ends
 * in base64 padding (GMime issue #133, fixed in later releases).  Such
 * words are handed to it re-encoded as Q words (the same octets), which
 * it joins correctly.
 */
char *
spam_msg_charset_fix_words(const char *s)
{
	struct spam_msg_buf b = {0};
	struct spam_msg_span cs, text;
	guchar *raw;
	gsize n, k;
	size_t i = 0, w;
	char hex[4], *enc;

	spam_msg_buf_add(&b, "", 0);
	while (s[i] != '\0') {
		w = padded_b_word(s + i, &cs, &text);
		if (w == 0) {
			spam_msg_buf_addc(&b, s[i++]);
			continue;
		}
		spam_msg_buf_add(&b, s + i, 2 + cs.len);
		spam_msg_buf_add(&b, "?Q?", 3);
		enc = xstrndup(text.s, text.len);
		raw = g_base64_decode(enc, &n);
		free(enc);
		for (k = 0; k < n; k++) {
			snprintf(hex, sizeof(hex), "=%02X", raw[k]);
			spam_msg_buf_add(&b, hex, 3);
		}
		g_free(raw);
		spam_msg_buf_add(&b, "?=", 2);
		i += w;
	}
	return spam_msg_buf_take(&b, NULL);
}

/* Encoded words decoded by GMime: adjacent words joined (a character
 * split between two words made whole), the blanks between them
 * dropped, a word in an unknown charset read as UTF-8 or else
 * Windows-1252. */
static char *
ew_decode(const char *s, size_t *len_r)
{
	char *fixed, *g, *out;

	fixed = spam_msg_charset_fix_words(s);
	g = g_mime_utils_header_decode_text(parser_opts, fixed);
	free(fixed);
	if (g == NULL)
		return copy_out(s, strlen(s), len_r);
	out = copy_out(g, strlen(g), len_r);
	g_free(g);
	return c1_to_cp1252(out, len_r);
}

/* Folds: every (CR)LF goes. */
static void
unfold_value(const char *s, size_t len, struct spam_msg_buf *b)
{
	size_t i;

	spam_msg_buf_add(b, "", 0);
	for (i = 0; i < len; i++) {
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
			continue;
		if (s[i] == '\n')
			continue;
		spam_msg_buf_addc(b, s[i]);
	}
}

char *
spam_msg_charset_decode_header(const char *s, size_t len, const char *field,
                               size_t *len_r)
{
	struct spam_msg_buf b = {0};
	char *t, *out;
	size_t n;
	int decoded;

	spam_msg_charset_init();
	unfold_value(s, len, &b);
	t = spam_msg_buf_take(&b, &n);
	if (count_8bit(t, n) > 0) {
		out =
		    spam_msg_charset_normalize(t, n, "UTF-8", 0, &n, &decoded);
		free(t);
		t = out;
	}
	/* a NUL would end GMime's C string early */
	if (re_is(re_no_decode, field) || memmem(t, n, "=?", 2) == NULL ||
	    memchr(t, '\0', n) != NULL) {
		*len_r = n;
		return t;
	}
	out = ew_decode(t, len_r);
	free(t);
	return out;
}
