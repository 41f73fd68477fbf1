/*
 * filter_spf_record.c - the syntax of an SPF record (RFC 7208 12), and
 * the record as libspf2 takes it.
 *
 * libspf2 1.2.10 accepts records that RFC 7208 makes a permerror (a bad
 * domain-spec, a CIDR length with a leading zero, redirect= twice, the
 * c, r and t macros outside exp text, a NUL), rejects some it must take
 * (an unknown modifier with '.', '-' or '_' in its name) and evaluates
 * redirect= where it stands instead of last.  So each record is checked
 * here against the ABNF first, and libspf2 gets the same policy in a
 * form it reads right: unknown modifiers left out (RFC 7208 6: they are
 * ignored), and redirect= moved last, or left out when the record has
 * an "all" mechanism (6.1).  Reports the first syntax error as a static
 * reason; knows nothing of DNS.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/filter_spf_private.h"
#include "util/xalloc.h"

/* A record being checked and rewritten. */
struct spf_norm {
	char *out; /* "v=spf1" and the terms kept */
	size_t len;
	size_t cap;
	const char *redirect; /* the redirect= term, put last */
	size_t redirect_len;
	int has_all;
	int nexp;
	const char *error;
};

static int
spf_fail(struct spf_norm *n, const char *reason)
{
	if (n->error == NULL)
		n->error = reason;
	return -1;
}

static void
spf_keep(struct spf_norm *n, const char *t, size_t len)
{
	if (n->len + len + 2 > n->cap) {
		n->cap = (n->len + len + 2) * 2;
		n->out = xrealloc(n->out, n->cap);
	}
	n->out[n->len++] = ' ';
	memcpy(n->out + n->len, t, len);
	n->len += len;
	n->out[n->len] = '\0';
}

/* Whether c is one of set; never for NUL, which a record may hold. */
static int
in_set(char c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

/* Macro strings */

/* The shape of a macro-string: whether it ends with a macro-expand,
 * and where its last run of literal characters starts. */
struct spf_macro_end {
	int macro_last;
	size_t lit_start;
};

/* "{" macro-letter transformers *delimiter "}" at s (after a '%');
 * returns its length, or 0 when it is not one. */
static size_t
macro_expand_len(const char *s, size_t len, int exp_text)
{
	size_t i = 2;
	char c;

	if (len < 3 || s[0] != '{' || !in_set(s[1], "slodiphcrtvSLODIPHCRTV"))
		return 0;
	c = (char)tolower((unsigned char)s[1]);
	/* RFC 7208 7.2: c, r and t only in exp text. */
	if (!exp_text && in_set(c, "crt"))
		return 0;
	while (i < len && isdigit((unsigned char)s[i]))
		i++;
	if (i < len && (s[i] == 'r' || s[i] == 'R'))
		i++;
	while (i < len && in_set(s[i], ".-+,/_="))
		i++;
	return i < len && s[i] == '}' ? i + 1 : 0;
}

/* RFC 7208 7.1 macro-string: macro-expands and visible characters
 * other than '%'. */
static int
macro_string_check(const char *s, size_t len, int exp_text,
                   struct spf_macro_end *end)
{
	size_t i = 0, m;

	end->macro_last = 0;
	end->lit_start = 0;
	while (i < len) {
		if (s[i] != '%') {
			if (s[i] < 0x21 || s[i] > 0x7e)
				return -1;
			if (end->macro_last)
				end->lit_start = i;
			end->macro_last = 0;
			i++;
			continue;
		}
		if (i + 1 < len && in_set(s[i + 1], "%_-"))
			m = 1;
		else if ((m = macro_expand_len(s + i + 1, len - i - 1,
		                               exp_text)) == 0)
			return -1;
		i += m + 1;
		end->macro_last = 1;
	}
	return 0;
}

static int
alnum_only(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* toplabel = ( *alphanum ALPHA *alphanum ) /
 *            ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) */
static int
toplabel_ok(const char *s, size_t len)
{
	size_t i;
	int alpha = 0;

	if (len == 0)
		return 0;
	if (alnum_only(s, len)) {
		for (i = 0; i < len; i++)
			alpha |= isalpha((unsigned char)s[i]) != 0;
		return alpha;
	}
	if (!isalnum((unsigned char)s[0]) ||
	    !isalnum((unsigned char)s[len - 1]))
		return 0;
	for (i = 0; i < len; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	}
	return 1;
}

/* domain-spec = macro-string domain-end;
 * domain-end = ( "." toplabel [ "." ] ) / macro-expand */
static int
domain_spec_ok(const char *s, size_t len)
{
	struct spf_macro_end end;
	const char *lit, *dot;
	size_t n;

	if (len == 0 || macro_string_check(s, len, 0, &end) < 0)
		return 0;
	if (end.macro_last)
		return 1;
	lit = s + end.lit_start;
	n = len - end.lit_start;
	if (n > 0 && lit[n - 1] == '.')
		n--;
	dot = memrchr(lit, '.', n);
	if (dot == NULL)
		return 0;
	return toplabel_ok(dot + 1, n - (size_t)(dot + 1 - lit));
}

/* Networks */

/* "/" ("0" / %x31-39 *DIGIT) up to max; 0 for a text without it. */
static int
cidr_ok(const char *s, size_t len, unsigned int max)
{
	unsigned int v = 0;
	size_t i;

	if (len < 2 || s[0] != '/' || (s[1] == '0' && len > 2) || len > 4)
		return 0;
	for (i = 1; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return 0;
		v = v * 10 + (unsigned int)(s[i] - '0');
	}
	return v <= max;
}

/* qnum "." qnum "." qnum "." qnum, no leading zeros (RFC 7208 12). */
static int
ip4_ok(const char *s, size_t len)
{
	size_t i = 0, digits;
	unsigned int q, parts = 0;

	while (parts < 4) {
		q = 0;
		for (digits = 0; i < len && isdigit((unsigned char)s[i]);
		     digits++, i++)
			q = q * 10 + (unsigned int)(s[i] - '0');
		if (digits == 0 || digits > 3 || q > 255 ||
		    (digits > 1 && s[i - digits] == '0'))
			return 0;
		if (++parts < 4 && (i >= len || s[i++] != '.'))
			return 0;
	}
	return i == len;
}

static int
ip6_ok(const char *s, size_t len)
{
	char buf[INET6_ADDRSTRLEN + 8];
	struct in6_addr a;

	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

/* ip4/ip6: ":" network [ "/" cidr ] in args. */
static int
network_ok(const char *args, size_t len, int v6)
{
	const char *slash;
	size_t nlen;

	if (len < 2 || args[0] != ':')
		return 0;
	args++;
	len--;
	slash = memchr(args, '/', len);
	nlen = slash != NULL ? (size_t)(slash - args) : len;
	if (slash != NULL && !cidr_ok(slash, len - nlen, v6 ? 128 : 32))
		return 0;
	return v6 ? ip6_ok(args, nlen) : ip4_ok(args, nlen);
}

/* Directives */

/* The length of args without a trailing dual-cidr-length
 * ( [ "/" ip4-cidr ] [ "//" ip6-cidr ] ); -1 if that is malformed. */
static long
dual_cidr_strip(const char *args, size_t len)
{
	const char *p = args + len;

	while (p > args && isdigit((unsigned char)p[-1]))
		p--;
	if (p - args >= 2 && p < args + len && p[-1] == '/' && p[-2] == '/') {
		if (!cidr_ok(p - 1, (size_t)(args + len - p) + 1, 128))
			return -1;
		len = (size_t)(p - 2 - args);
		for (p = args + len; p > args && isdigit((unsigned char)p[-1]);)
			p--;
	}
	if (p - args >= 1 && p < args + len && p[-1] == '/') {
		if (!cidr_ok(p - 1, (size_t)(args + len - p) + 1, 32))
			return -1;
		len = (size_t)(p - 1 - args);
	}
	return (long)len;
}

/* [ ":" domain-spec ], or with required, ":" domain-spec. */
static int
target_ok(const char *args, size_t len, int required)
{
	if (len == 0)
		return !required;
	return args[0] == ':' && domain_spec_ok(args + 1, len - 1);
}

enum spf_mech {
	REC_MECH_ALL,
	REC_MECH_INCLUDE,
	REC_MECH_A,
	REC_MECH_MX,
	REC_MECH_PTR,
	REC_MECH_IP4,
	REC_MECH_IP6,
	REC_MECH_EXISTS,
	REC_MECH_UNKNOWN,
};

static enum spf_mech
mech_find(const char *name, size_t len)
{
	static const char *const names[] = {
	    [REC_MECH_ALL] = "all", [REC_MECH_INCLUDE] = "include",
	    [REC_MECH_A] = "a",     [REC_MECH_MX] = "mx",
	    [REC_MECH_PTR] = "ptr", [REC_MECH_IP4] = "ip4",
	    [REC_MECH_IP6] = "ip6", [REC_MECH_EXISTS] = "exists",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) == len &&
		    strncasecmp(names[i], name, len) == 0)
			return (enum spf_mech)i;
	}
	return REC_MECH_UNKNOWN;
}

static int
args_ok(enum spf_mech m, const char *args, size_t len)
{
	long stripped;

	switch (m) {
	case REC_MECH_ALL:
		return len == 0;
	case REC_MECH_INCLUDE:
	case REC_MECH_EXISTS:
		return target_ok(args, len, 1);
	case REC_MECH_A:
	case REC_MECH_MX:
		stripped = dual_cidr_strip(args, len);
		return stripped >= 0 && target_ok(args, (size_t)stripped, 0);
	case REC_MECH_PTR:
		return target_ok(args, len, 0);
	case REC_MECH_IP4:
		return network_ok(args, len, 0);
	case REC_MECH_IP6:
		return network_ok(args, len, 1);
	default:
		return 0;
	}
}

/*
 * XXX libspf2 1.2.10 takes a CIDR length of 0 for "none given" and
 * refuses "/0"; an ip4 or ip6 network of length 0 reaches it as the
 * two halves of the address space.  a/0 and mx/0 have no such
 * equivalent and stay a permerror.
 */
static int
network_zero_split(struct spf_norm *n, const char *t, size_t q, enum spf_mech m)
{
	static const char *const halves[2][2] = {
	    {"ip4:0.0.0.0/1", "ip4:128.0.0.0/1"},
	    {"ip6:::/1", "ip6:8000::/1"},
	};
	char term[32];
	int i, len;

	for (i = 0; i < 2; i++) {
		len = snprintf(term, sizeof(term), "%.*s%s", (int)q, t,
		               halves[m == REC_MECH_IP6][i]);
		spf_keep(n, term, (size_t)len);
	}
	return 0;
}

static int
directive_check(struct spf_norm *n, const char *t, size_t len)
{
	size_t q = in_set(t[0], "+-?~") ? 1 : 0, i = q;
	enum spf_mech m;

	while (i < len && isalnum((unsigned char)t[i]))
		i++;
	m = mech_find(t + q, i - q);
	if (m == REC_MECH_UNKNOWN)
		return spf_fail(n, "unknown mechanism");
	if (!args_ok(m, t + i, len - i))
		return spf_fail(n, "syntax error in a mechanism");
	n->has_all |= m == REC_MECH_ALL;
	if ((m == REC_MECH_IP4 || m == REC_MECH_IP6) && len > 2 &&
	    t[len - 2] == '/' && t[len - 1] == '0')
		return network_zero_split(n, t, q, m);
	spf_keep(n, t, len);
	return 0;
}

static int
modifier_check(struct spf_norm *n, const char *t, size_t name_len, size_t len)
{
	const char *value = t + name_len + 1;
	size_t vlen = len - name_len - 1;
	struct spf_macro_end end;

	if (name_len == 8 && strncasecmp(t, "redirect", 8) == 0) {
		/* RFC 7208 6: at most once each. */
		if (n->redirect != NULL)
			return spf_fail(n, "redirect= twice");
		if (!domain_spec_ok(value, vlen))
			return spf_fail(n, "syntax error in redirect=");
		n->redirect = t;
		n->redirect_len = len;
		return 0;
	}
	if (name_len == 3 && strncasecmp(t, "exp", 3) == 0) {
		if (n->nexp++ > 0)
			return spf_fail(n, "exp= twice");
		if (!domain_spec_ok(value, vlen))
			return spf_fail(n, "syntax error in exp=");
		spf_keep(n, t, len);
		return 0;
	}
	if (macro_string_check(value, vlen, 0, &end) < 0)
		return spf_fail(n, "syntax error in a modifier");
	return 0;
}

/* modifier = name "=" ..., name = ALPHA *( ALPHA / DIGIT / "-" / "_" /
 * "." ); anything else is a directive. */
static int
term_check(struct spf_norm *n, const char *t, size_t len)
{
	size_t i = 0;

	while (i < len && (isalnum((unsigned char)t[i]) || in_set(t[i], "-_.")))
		i++;
	if (i > 0 && i < len && t[i] == '=' && isalpha((unsigned char)t[0]))
		return modifier_check(n, t, i, len);
	return directive_check(n, t, len);
}

int
filter_spf_record_is_spf(const char *rec, size_t len)
{
	return len >= 6 && strncasecmp(rec, "v=spf1", 6) == 0 &&
	       (len == 6 || rec[6] == ' ');
}

char *
filter_spf_record_normalize(const char *rec, size_t len, const char **error_r)
{
	struct spf_norm n = {.len = 6};
	const char *p, *end = rec + len, *t;

	if (!filter_spf_record_is_spf(rec, len)) {
		*error_r = "not an SPF record";
		return NULL;
	}
	p = rec + 6;
	n.cap = len + 8;
	n.out = xmalloc(n.cap);
	memcpy(n.out, "v=spf1", 7);
	while (n.error == NULL && p < end) {
		while (p < end && *p == ' ')
			p++;
		for (t = p; p < end && *p != ' '; p++)
			;
		if (p > t)
			term_check(&n, t, (size_t)(p - t));
	}
	if (n.error != NULL) {
		*error_r = n.error;
		free(n.out);
		return NULL;
	}
	if (n.redirect != NULL && !n.has_all)
		spf_keep(&n, n.redirect, n.redirect_len);
	/* libspf2 takes "v=spf1" only before a space. */
	if (n.len == 6)
		memcpy(n.out + 6, " ", 2);
	return n.out;
}
