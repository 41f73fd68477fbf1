/*
 * spam_msg_addr.c - addresses and display names in header fields, as
 * SpamAssassin 4.0's internal parser finds them for header rules on
 * "From:addr" and "From:name" (Util.pm's _parse_header_addresses).
 *
 * A relaxed parser by design: it takes "phrase <addr>", a bare
 * address, a phrase alone, a comment after either, commas or
 * semicolons between, and groups; what it cannot read is dropped, and
 * a leftover "<addr>" is picked up at the end.  Phrases lose their
 * quotes and comments; display names are then MIME-decoded and their
 * white space squeezed.
 *
 * XXX SpamAssassin falls back to Email::Address::XS when its parser
 * finds fewer addresses than commas suggest or nested comments; that
 * fallback is not done here, so such fields (a quoted display name
 * with a comma, a Date with commas read as addresses) may give other
 * addresses or names than SpamAssassin's.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "filters/spam_msg_private.h"
#include "util/xalloc.h"

#define ADDRS_MAX 256

/* header_address_mailre */
#define MAILRE                                                                 \
	"(?:\"(?:|(?:[^\"\\\\]++|\\\\.)*+)\""                                  \
	"|[^\\@\\s\\<\\>\\(\\)\\[\\]\\,\\:\\;]+)"                              \
	"\\@(?:[^\\\"\\s\\<\\>\\(\\)\\[\\]\\,\\:\\;]+|\\[[\\d:.]+\\])"

#define QUOTED "\"(?:|(?:[^\"\\\\]++|\\\\.)*+)\""

static pcre2_code *re_group, *re_addr, *re_comment, *re_mail_full;
static pcre2_code *re_phrase_part, *re_angle_mail;
static pthread_once_t addr_once = PTHREAD_ONCE_INIT;

static void
addr_init_once(void)
{
	re_group = spam_msg_re_compile("^[^\"()<>]+:\\s*(.*?)\\s*(?:;.*)?",
	                               PCRE2_DOTALL);
	re_addr = spam_msg_re_compile(
	    "^\\s*(?:(?:((?:" QUOTED "|[^\",;<]++)+)\\s*)?"
	    "<\\s*([^>\\@]*\\S+|\\s*)\\s*>"
	    "(?:\\s*<\\s*(?:(?:" QUOTED ")?\\S+|\\s*)\\s*>)*"
	    "|(?:(" MAILRE ")|((?:" QUOTED "|[^\",;<]++)+)))"
	    "(?:\\s*\\(((?:|(?:[^()\\\\]++|\\\\.)*+))\\))?"
	    "\\s*(?:[,;]|\\z)",
	    PCRE2_CASELESS);
	re_comment =
	    spam_msg_re_compile("\\((?:|(?:[^()\\\\]++|\\\\.)*+)\\)", 0);
	re_mail_full = spam_msg_re_compile("^" MAILRE "$", PCRE2_CASELESS);
	re_phrase_part =
	    spam_msg_re_compile("(?:\"(|(?:[^\"\\\\]++|\\\\.)*+)\"|([^\"]++))",
	                        PCRE2_CASELESS | PCRE2_DOTALL);
	re_angle_mail = spam_msg_re_compile("<(" MAILRE ")>",
	                                    PCRE2_CASELESS | PCRE2_DOTALL);
}

void
spam_msg_addr_init(void)
{
	pthread_once(&addr_once, addr_init_once);
}

/* _valid_parsed_address: not ""@..., not one lone double quote. */
static int
valid_addr(const char *s, size_t len)
{
	size_t i, q = 0;

	if (s == NULL || (len >= 3 && memcmp(s, "\"\"@", 3) == 0))
		return 0;
	for (i = 0; i < len; i++)
		q += s[i] == '"';
	return q != 1;
}

/* s/re//g into out. */
static void
remove_all(const pcre2_code *re, const char *s, size_t len,
           struct spam_msg_buf *out)
{
	struct spam_msg_span g[1];
	size_t off = 0;

	spam_msg_buf_add(out, "", 0);
	while (off <= len && spam_msg_re_match(re, s, len, off, g, 1)) {
		spam_msg_buf_add(out, s + off, (size_t)(g[0].s - (s + off)));
		off = (size_t)(g[0].s - s) + g[0].len;
		if (g[0].len == 0) {
			if (off < len)
				spam_msg_buf_addc(out, s[off]);
			off++;
		}
	}
	if (off < len)
		spam_msg_buf_add(out, s + off, len - off);
}

/* Inside a quoted string: a backslash not before another goes, a
 * doubled one becomes one. */
static void
unquote(const char *s, size_t len, struct spam_msg_buf *out)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\\' && !(i + 1 < len && s[i + 1] == '\\'))
			continue;
		if (s[i] == '\\')
			i++;
		spam_msg_buf_addc(out, s[i]);
	}
}

/* The phrase without quotes and comments; 0 if nothing was read. */
static int
phrase_clean(const char *s, size_t len, struct spam_msg_buf *out)
{
	struct spam_msg_span g[3];
	size_t off = 0;
	int any = 0;

	spam_msg_buf_add(out, "", 0);
	while (off < len &&
	       spam_msg_re_match(re_phrase_part, s, len, off, g, 3)) {
		if (g[1].s != NULL)
			unquote(g[1].s, g[1].len, out);
		else
			remove_all(re_comment, g[2].s, g[2].len, out);
		off = (size_t)(g[0].s - s) + g[0].len;
		off += g[0].len == 0;
		any = 1;
	}
	return any;
}

struct found {
	struct spam_msg_buf phrase, addr;
	int has_phrase, has_addr;
};

/* The address part of a match: comments out, checked. */
static void
found_addr(struct found *f, const struct spam_msg_span *g)
{
	struct spam_msg_buf t = {0};

	if (g[2].s != NULL) {
		remove_all(re_comment, g[2].s, g[2].len, &t);
		f->has_addr =
		    spam_msg_re_match(re_mail_full, t.s, t.len, 0, NULL, 0);
		spam_msg_buf_add(&f->addr, t.s, t.len);
		spam_msg_buf_free(&t);
	} else if (g[3].s != NULL) {
		f->has_addr = 1;
		spam_msg_buf_add(&f->addr, g[3].s, g[3].len);
	}
	if (f->has_addr && !valid_addr(f->addr.s, f->addr.len))
		f->has_addr = 0;
}

/* A phrase that is an address with a valid host is the address. */
static int
phrase_is_addr(const struct found *f)
{
	const char *at, *p = f->phrase.s;
	size_t len = f->phrase.len;

	if (!spam_msg_re_match(re_mail_full, p, len, 0, NULL, 0) ||
	    !valid_addr(p, len))
		return 0;
	at = memchr(p, '@', len);
	if (at == NULL)
		return 0;
	len -= (size_t)(at + 1 - p);
	p = at + 1;
	if (memchr(p, '@', len) != NULL)
		len = (size_t)((const char *)memchr(p, '@', len) - p);
	return spam_msg_util_fqdn_valid(p, len);
}

static void
found_phrase(struct found *f, const struct spam_msg_span *g)
{
	struct spam_msg_span ph = g[1].s != NULL ? g[1] : g[4];

	if (ph.s != NULL) {
		f->has_phrase = phrase_clean(ph.s, ph.len, &f->phrase);
		if (!f->has_addr && f->has_phrase && phrase_is_addr(f)) {
			spam_msg_buf_add(&f->addr, f->phrase.s, f->phrase.len);
			f->has_addr = 1;
			f->has_phrase = 0;
		} else if (f->has_addr && f->phrase.len == f->addr.len &&
		           memcmp(f->phrase.s, f->addr.s, f->addr.len) == 0) {
			f->has_phrase = 0;
		} else if (f->phrase.len == 0) {
			f->has_phrase = 0;
		}
	}
	if (!f->has_phrase && g[5].s != NULL) {
		f->phrase.len = 0;
		spam_msg_buf_add(&f->phrase, g[5].s, g[5].len);
		f->has_phrase = 1;
	}
}

/* An address ends before its second '@'. */
static size_t
addr_cut(const char *s, size_t len)
{
	const char *at = memchr(s, '@', len), *at2;

	if (at == NULL)
		return len;
	at2 = memchr(at + 1, '@', len - (size_t)(at + 1 - s));
	return at2 != NULL ? (size_t)(at2 - s) : len;
}

/* The display name as get() returns it without :raw. */
static void
report_name(const char *s, size_t len, spam_msg_addr_cb *cb, void *arg)
{
	struct spam_msg_buf b = {0};
	size_t n, i, j;
	char *dec = spam_msg_charset_decode_header(s, len, "pms:get", &n);
	int any = 0;

	for (i = 0; i < n; i++)
		any |= !spam_msg_util_is_ws((unsigned char)dec[i]);
	if (!any) {
		cb(arg, dec, n);
		free(dec);
		return;
	}
	for (i = 0; i < n; i = j) {
		for (j = i; j < n && spam_msg_util_is_ws((unsigned char)dec[j]);
		     j++)
			;
		if (j > i) {
			if (i > 0 && j < n)
				spam_msg_buf_addc(&b, ' ');
			continue;
		}
		spam_msg_buf_addc(&b, dec[j++]);
	}
	if (b.len >= 2 && b.s[0] == '\'' && b.s[b.len - 1] == '\'')
		cb(arg, b.s + 1, b.len - 2);
	else
		cb(arg, b.s, b.len);
	spam_msg_buf_free(&b);
	free(dec);
}

static void
report(struct found *f, int want_name, spam_msg_addr_cb *cb, void *arg)
{
	if (!want_name && f->has_addr)
		cb(arg, f->addr.s, addr_cut(f->addr.s, f->addr.len));
	if (want_name && f->has_phrase)
		report_name(f->phrase.s, f->phrase.len, cb, arg);
}

/* The value's first steps: trailing white space off, "\\\\" pairs
 * removed, a group's name removed. */
static void
prepare(const char *value, size_t len, struct spam_msg_buf *out)
{
	struct spam_msg_buf t = {0};
	struct spam_msg_span g[2];
	size_t i;

	while (len > 0 && spam_msg_util_is_ws((unsigned char)value[len - 1]))
		len--;
	for (i = 0; i < len; i++) {
		if (value[i] == '\\' && i + 1 < len && value[i + 1] == '\\') {
			i++;
			continue;
		}
		spam_msg_buf_addc(&t, value[i]);
	}
	spam_msg_buf_add(&t, "", 0);
	if (spam_msg_re_match(re_group, t.s, t.len, 0, g, 2)) {
		spam_msg_buf_add(out, g[1].s, g[1].len);
		spam_msg_buf_add(out, t.s + g[0].len, t.len - g[0].len);
	} else {
		spam_msg_buf_add(out, t.s, t.len);
	}
	spam_msg_buf_add(out, "", 0);
	spam_msg_buf_free(&t);
}

static void
last_ditch(const char *s, size_t len, int want_name, spam_msg_addr_cb *cb,
           void *arg)
{
	struct spam_msg_span g[2];
	size_t off = 0, n = 0;

	if (memchr(s, '@', len) == NULL || want_name)
		return;
	while (n++ < ADDRS_MAX &&
	       spam_msg_re_match(re_angle_mail, s, len, off, g, 2)) {
		off = (size_t)(g[0].s - s) + g[0].len;
		if (valid_addr(g[1].s, g[1].len))
			cb(arg, g[1].s, addr_cut(g[1].s, g[1].len));
	}
}

void
spam_msg_addr_parse(const char *value, size_t len, int want_name,
                    spam_msg_addr_cb *cb, void *arg)
{
	struct spam_msg_buf b = {0};
	struct spam_msg_span g[6];
	struct found f;
	size_t off = 0, n = 0, i;
	int any = 0;

	spam_msg_addr_init();
	prepare(value, len, &b);
	for (i = 0; i < b.len; i++)
		any |= !spam_msg_util_is_ws((unsigned char)b.s[i]);
	while (any && n++ < ADDRS_MAX && off < b.len &&
	       spam_msg_re_match(re_addr, b.s + off, b.len - off, 0, g, 6)) {
		memset(&f, 0, sizeof(f));
		found_addr(&f, g);
		found_phrase(&f, g);
		report(&f, want_name, cb, arg);
		spam_msg_buf_free(&f.phrase);
		spam_msg_buf_free(&f.addr);
		if (g[0].len == 0)
			break;
		off += g[0].len;
	}
	if (any)
		last_ditch(b.s + off, b.len - off, want_name, cb, arg);
	spam_msg_buf_free(&b);
}
