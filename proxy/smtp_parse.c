/*
 * smtp_parse.c - parsing the commands an SMTP client sends.
 *
 * Splits a command line into verb and arguments and checks the
 * arguments of HELO/EHLO, MAIL, RCPT, XCLIENT and XFORWARD against RFC
 * 5321, RFC 6531 (UTF-8 addresses), RFC 1869 and RFC 3461 (parameters)
 * and Postfix's XCLIENT and XFORWARD documentation.  Every parser works in
 * place on the caller's line and never allocates; whether a well-formed command
 * is allowed now, or at all, is for the session to decide.  Errors are short
 * lowercase reasons that can follow an SMTP reply code.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "proxy/smtp_parse.h"

#define XCLIENT_VALUE_MAX 255

struct verb_name {
	enum smtp_verb verb;
	const char *name;
};

static const struct verb_name verbs[] = {
    {SMTP_VERB_HELO, "HELO"},         {SMTP_VERB_EHLO, "EHLO"},
    {SMTP_VERB_MAIL, "MAIL"},         {SMTP_VERB_RCPT, "RCPT"},
    {SMTP_VERB_DATA, "DATA"},         {SMTP_VERB_BDAT, "BDAT"},
    {SMTP_VERB_RSET, "RSET"},         {SMTP_VERB_NOOP, "NOOP"},
    {SMTP_VERB_QUIT, "QUIT"},         {SMTP_VERB_VRFY, "VRFY"},
    {SMTP_VERB_EXPN, "EXPN"},         {SMTP_VERB_HELP, "HELP"},
    {SMTP_VERB_XCLIENT, "XCLIENT"},   {SMTP_VERB_STARTTLS, "STARTTLS"},
    {SMTP_VERB_AUTH, "AUTH"},         {SMTP_VERB_ETRN, "ETRN"},
    {SMTP_VERB_XFORWARD, "XFORWARD"},
};

static int
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int
is_alnum(unsigned char c)
{
	return is_alpha(c) || is_digit(c);
}

/* RFC 5322 atext, the characters of a Dot-string atom besides UTF-8. */
static int
is_atext(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/*
 * Length of the UTF-8 sequence starting at p (at most n octets
 * available), or 0 if it is not a valid one: no overlong forms, no
 * surrogates, nothing above U+10FFFF.
 */
static size_t
utf8_seq_len(const unsigned char *p, size_t n)
{
	size_t len, i;
	unsigned char lo = 0x80, hi = 0xbf;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;

	/* The second octet's range rules out overlongs (E0, F0),
	 * surrogates (ED) and code points over U+10FFFF (F4). */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	}
	return len;
}

int
smtp_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;

	while (i < len) {
		n = utf8_seq_len(p + i, len - i);
		if (n == 0)
			return 0;
		i += n;
	}
	return 1;
}

/* A non-ASCII UTF-8 character at p; returns its length or 0. */
static size_t
utf8_char(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	if (u[0] < 0x80)
		return 0;
	return utf8_seq_len(u, strnlen(p, 4));
}

static char *
skip_spaces(char *p)
{
	while (*p == ' ')
		p++;
	return p;
}

/* Cut trailing spaces and tabs that many clients send. */
static void
trim_right(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

static void
verb_lookup(struct smtp_cmd *cmd, const char *word, size_t len)
{
	size_t i;

	cmd->verb = SMTP_VERB_UNKNOWN;
	cmd->name = NULL;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].name) == len &&
		    strncasecmp(verbs[i].name, word, len) == 0) {
			cmd->verb = verbs[i].verb;
			cmd->name = verbs[i].name;
			return;
		}
	}
}

int
smtp_cmd_parse(char *line, size_t len, struct smtp_cmd *cmd,
               const char **error_r)
{
	size_t n = 0;

	/* CR and LF inside a line can only be smuggling attempts. */
	if (memchr(line, '\0', len) != NULL || memchr(line, '\r', len) ||
	    memchr(line, '\n', len)) {
		*error_r = "bad character in command";
		return -1;
	}
	while (n < len && is_alpha((unsigned char)line[n]))
		n++;
	if (n == 0 || (n < len && line[n] != ' ')) {
		*error_r = "syntax error in command";
		return -1;
	}

	verb_lookup(cmd, line, n);
	cmd->args = skip_spaces(line + n);
	trim_right(cmd->args);
	return 0;
}

/*
 * Address literal (RFC 5321 4.1.3) between "[" and "]", len octets at
 * p: IPv4, "IPv6:" address, or a General-address-literal.
 */
static int
addr_literal_valid(const char *p, size_t len)
{
	char buf[64];
	const char *colon;
	size_t i;

	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, p, len);
	buf[len] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0) {
		struct in6_addr a6;
		return inet_pton(AF_INET6, buf + 5, &a6) == 1;
	}
	colon = strchr(buf, ':');
	if (colon == NULL) {
		struct in_addr a4;
		return inet_pton(AF_INET, buf, &a4) == 1;
	}

	/* Standardized-tag ":" 1*dcontent */
	for (i = 0; buf + i < colon; i++) {
		if (!is_alnum((unsigned char)buf[i]) && buf[i] != '-')
			return 0;
	}
	if (i == 0 || colon[1] == '\0')
		return 0;
	for (p = colon + 1; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 33 || c > 126 || c == '[' || c == '\\' || c == ']')
			return 0;
	}
	return 1;
}

/* Parse "[...]" at p; returns the octets after it or NULL. */
static char *
parse_addr_literal(char *p)
{
	char *end = strchr(p, ']');

	if (*p != '[' || end == NULL || !addr_literal_valid(p + 1, end - p - 1))
		return NULL;
	return end + 1;
}

#define DOMAIN_UNDERSCORE 0x01 /* HELO: tolerate '_' */
#define DOMAIN_TRAILDOT   0x02 /* HELO: tolerate a final '.' */

/*
 * One label of a domain name: letters, digits, hyphens inside, UTF-8
 * (RFC 6531 U-labels).  Returns the octet after it or NULL.
 */
static char *
parse_label(char *p, unsigned int opts)
{
	char *start = p;
	int ascii = 1;
	size_t n;

	for (;;) {
		unsigned char c = (unsigned char)*p;
		if (is_alnum(c) || c == '-' ||
		    (c == '_' && (opts & DOMAIN_UNDERSCORE))) {
			p++;
		} else if ((n = utf8_char(p)) > 0) {
			p += n;
			ascii = 0;
		} else {
			break;
		}
	}
	if (p == start || *start == '-' || p[-1] == '-')
		return NULL;
	/* RFC 1035 2.3.4; a U-label's limit is on its A-label form. */
	if (ascii && p - start > 63)
		return NULL;
	return p;
}

/* A domain or, if allowed, an address literal; returns the octet after
 * it or NULL. */
static char *
parse_domain(char *p, unsigned int opts)
{
	if (*p == '[')
		return parse_addr_literal(p);
	for (;;) {
		p = parse_label(p, opts);
		if (p == NULL || *p != '.')
			return p;
		p++;
		if ((opts & DOMAIN_TRAILDOT) &&
		    (*p == '\0' || *p == ' ' || *p == '>'))
			return p;
	}
}

int
smtp_parse_helo(char *args, char **name_r, const char **error_r)
{
	char *p = skip_spaces(args);
	char *end;

	if (*p == '\0') {
		*error_r = "missing domain name";
		return -1;
	}
	end = parse_domain(p, DOMAIN_UNDERSCORE | DOMAIN_TRAILDOT);
	if (end == NULL || (*end != '\0' && *end != ' ') ||
	    *skip_spaces(end) != '\0') {
		*error_r = "syntax error in domain name";
		return -1;
	}
	if (end - p > SMTP_DOMAIN_MAX) {
		*error_r = "domain name too long";
		return -1;
	}
	*end = '\0';
	*name_r = p;
	return 0;
}

/* Dot-string local part: atoms of atext or UTF-8 joined by single dots.
 * Returns the octet after it or NULL. */
static char *
parse_dot_string(char *p)
{
	char *atom;
	size_t n;

	for (;;) {
		atom = p;
		for (;;) {
			if (is_atext((unsigned char)*p))
				p++;
			else if ((n = utf8_char(p)) > 0)
				p += n;
			else
				break;
		}
		if (p == atom)
			return NULL;
		if (*p != '.')
			return p;
		p++;
	}
}

/* Quoted-string local part (RFC 5321 4.1.2 QcontentSMTP, UTF-8 per RFC
 * 6531); returns the octet after the closing quote or NULL. */
static char *
parse_quoted_string(char *p)
{
	size_t n;

	for (p++; *p != '"'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\\') {
			c = (unsigned char)*++p;
			if (c < 32 || c > 126)
				return NULL;
		} else if ((n = utf8_char(p)) > 0) {
			p += n - 1;
		} else if (c < 32 || c > 126) {
			return NULL;
		}
	}
	return p + 1;
}

/*
 * Mailbox = Local-part "@" ( Domain / address-literal ), checking the
 * RFC 5321 4.5.3.1 limits.  Returns the octet after it or NULL.
 */
static char *
parse_mailbox(char *p, const char **error_r)
{
	char *lp = p, *domain;

	p = *p == '"' ? parse_quoted_string(p) : parse_dot_string(p);
	if (p == NULL || *p != '@') {
		*error_r = "syntax error in mailbox address";
		return NULL;
	}
	if (p - lp > SMTP_LOCALPART_MAX) {
		*error_r = "local part too long";
		return NULL;
	}
	domain = ++p;
	p = parse_domain(p, 0);
	if (p == NULL) {
		*error_r = "syntax error in mailbox address";
		return NULL;
	}
	if (p - domain > SMTP_DOMAIN_MAX) {
		*error_r = "domain too long";
		return NULL;
	}
	return p;
}

/* A-d-l = At-domain *( "," At-domain ) ":"; returns the octet after
 * the colon or NULL. */
static char *
skip_source_route(char *p)
{
	for (;;) {
		if (*p != '@')
			return NULL;
		p = parse_domain(p + 1, 0);
		if (p == NULL)
			return NULL;
		if (*p == ':')
			return p + 1;
		if (*p != ',')
			return NULL;
		p++;
	}
}

#define PATH_NULL_OK       0x01 /* MAIL: "<>" */
#define PATH_POSTMASTER_OK 0x02 /* RCPT: "<postmaster>" */

/* "postmaster" without a domain, case-insensitive (RFC 5321 4.1.1.3). */
static char *
parse_postmaster(char *p)
{
	if (strncasecmp(p, "postmaster", 10) != 0)
		return NULL;
	return p + 10;
}

/*
 * The mailbox of a path, after its "<" if any.  Fills out->address and
 * leaves the octet after the mailbox in *end_r.
 */
static int
parse_path_mailbox(char *p, unsigned int opts, struct smtp_path_cmd *out,
                   char **end_r, const char **error_r)
{
	char *end = NULL;

	if ((opts & PATH_POSTMASTER_OK) && (end = parse_postmaster(p)) &&
	    (*end == '>' || *end == ' ' || *end == '\0')) {
		out->address = p;
		*end_r = end;
		return 0;
	}
	end = parse_mailbox(p, error_r);
	if (end == NULL)
		return -1;
	out->address = p;
	*end_r = end;
	return 0;
}

/*
 * Reverse-path or Forward-path at p.  Both "<mailbox>" and, tolerated,
 * a bare mailbox.  On success the address is NUL-terminated in place
 * and *rest_r points at what follows the path.
 */
static int
parse_path(char *p, unsigned int opts, struct smtp_path_cmd *out, char **rest_r,
           const char **error_r)
{
	char *start = p, *end, *after;
	int bracket = *p == '<';

	p += bracket;
	if (bracket && *p == '>') {
		if (!(opts & PATH_NULL_OK)) {
			*error_r = "null address not allowed";
			return -1;
		}
		out->address = end = p;
	} else {
		if (bracket && *p == '@' &&
		    (p = skip_source_route(p)) == NULL) {
			*error_r = "syntax error in source route";
			return -1;
		}
		if (parse_path_mailbox(p, opts, out, &end, error_r) < 0)
			return -1;
	}

	after = end + bracket;
	if ((bracket && *end != '>') || (*after != '\0' && *after != ' ')) {
		*error_r = "syntax error in mailbox address";
		return -1;
	}
	/* The limit counts the angle brackets, sent or not. */
	if (after - start + (bracket ? 0 : 2) > SMTP_PATH_MAX) {
		*error_r = "address too long";
		return -1;
	}
	*rest_r = *after == '\0' ? after : after + 1;
	*end = '\0';
	return 0;
}

/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static int
param_keyword_valid(const char *p)
{
	if (!is_alnum((unsigned char)*p))
		return 0;
	for (p++; *p != '\0'; p++) {
		if (!is_alnum((unsigned char)*p) && *p != '-')
			return 0;
	}
	return 1;
}

/* esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 (RFC 6531 3.3). */
static int
param_value_valid(const char *p)
{
	size_t n;

	if (*p == '\0')
		return 0;
	while (*p != '\0') {
		unsigned char c = (unsigned char)*p;
		if (c >= 33 && c <= 126 && c != '=')
			p++;
		else if ((n = utf8_char(p)) > 0)
			p += n;
		else
			return 0;
	}
	return 1;
}

/* Split one "KEYWORD[=value]" into out->params. */
static int
param_add(struct smtp_path_cmd *out, char *word, const char **error_r)
{
	struct smtp_param *param;
	char *eq = strchr(word, '=');

	if (eq != NULL)
		*eq = '\0';
	if (!param_keyword_valid(word) ||
	    (eq != NULL && !param_value_valid(eq + 1))) {
		*error_r = "bad ESMTP parameter syntax";
		return -1;
	}
	if (smtp_param_find(out, word) != NULL) {
		*error_r = "duplicate ESMTP parameter";
		return -1;
	}
	if (out->nparams >= SMTP_PARAMS_MAX) {
		*error_r = "too many ESMTP parameters";
		return -1;
	}
	param = &out->params[out->nparams++];
	param->keyword = word;
	param->value = eq != NULL ? eq + 1 : NULL;
	return 0;
}

static int
parse_params(char *p, struct smtp_path_cmd *out, const char **error_r)
{
	char *word;

	for (p = skip_spaces(p); *p != '\0'; p = skip_spaces(p)) {
		word = p;
		p += strcspn(p, " ");
		if (*p != '\0')
			*p++ = '\0';
		if (param_add(out, word, error_r) < 0)
			return -1;
	}
	return 0;
}

static int
has_8bit(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80)
			return 1;
	}
	return 0;
}

static int
parse_path_cmd(char *args, const char *prefix, unsigned int opts,
               struct smtp_path_cmd *out, const char **error_r)
{
	size_t plen = strlen(prefix);
	char *p, *rest;

	out->address = NULL;
	out->utf8 = 0;
	out->nparams = 0;
	if (strncasecmp(args, prefix, plen) != 0) {
		*error_r = plen == 5 ? "syntax error, from: expected"
		                     : "syntax error, to: expected";
		return -1;
	}
	p = skip_spaces(args + plen);
	if (*p == '\0') {
		*error_r = "missing address";
		return -1;
	}
	if (parse_path(p, opts, out, &rest, error_r) < 0)
		return -1;
	out->utf8 = has_8bit(out->address);
	return parse_params(rest, out, error_r);
}

int
smtp_parse_mail(char *args, struct smtp_path_cmd *out, const char **error_r)
{
	return parse_path_cmd(args, "FROM:", PATH_NULL_OK, out, error_r);
}

int
smtp_parse_rcpt(char *args, struct smtp_path_cmd *out, const char **error_r)
{
	return parse_path_cmd(args, "TO:", PATH_POSTMASTER_OK, out, error_r);
}

const struct smtp_param *
smtp_param_find(const struct smtp_path_cmd *cmd, const char *keyword)
{
	size_t i;

	for (i = 0; i < cmd->nparams; i++) {
		if (strcasecmp(cmd->params[i].keyword, keyword) == 0)
			return &cmd->params[i];
	}
	return NULL;
}

int
smtp_param_size(const char *value, unsigned long long *size_r,
                const char **error_r)
{
	unsigned long long n = 0;
	size_t len = strlen(value), i;

	if (len == 0 || len > 20) {
		*error_r = "bad SIZE parameter value";
		return -1;
	}
	for (i = 0; i < len; i++) {
		unsigned int digit = (unsigned char)value[i] - '0';
		if (!is_digit((unsigned char)value[i]) ||
		    n > (ULLONG_MAX - digit) / 10) {
			*error_r = "bad SIZE parameter value";
			return -1;
		}
		n = n * 10 + digit;
	}
	*size_r = n;
	return 0;
}

int
smtp_param_body(const char *value, const char **error_r)
{
	if (strcasecmp(value, "7BIT") == 0 ||
	    strcasecmp(value, "8BITMIME") == 0)
		return 0;
	*error_r = "bad BODY parameter value";
	return -1;
}

int
smtp_param_ret(const char *value, const char **error_r)
{
	if (strcasecmp(value, "FULL") == 0 || strcasecmp(value, "HDRS") == 0)
		return 0;
	*error_r = "bad RET parameter value";
	return -1;
}

int
smtp_param_requiretls(const char *value, const char **error_r)
{
	if (value == NULL)
		return 0;
	*error_r = "REQUIRETLS takes no value";
	return -1;
}

int
smtp_param_envid(const char *value, const char **error_r)
{
	if (*value == '\0' || strlen(value) > 100 || !smtp_xtext_valid(value)) {
		*error_r = "bad ENVID parameter value";
		return -1;
	}
	return 0;
}

/* One NOTIFY item of len octets; returns its bit or 0 if unknown. */
static unsigned int
notify_bit(const char *p, size_t len)
{
	static const char *const names[] = {"NEVER", "SUCCESS", "FAILURE",
	                                    "DELAY"};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strlen(names[i]) == len &&
		    strncasecmp(p, names[i], len) == 0)
			return 1u << i;
	}
	return 0;
}

int
smtp_param_notify(const char *value, const char **error_r)
{
	unsigned int seen = 0, bit;
	size_t len;

	for (;;) {
		len = strcspn(value, ",");
		bit = notify_bit(value, len);
		if (bit == 0 || (seen & bit) != 0)
			goto bad;
		seen |= bit;
		value += len;
		if (*value == '\0')
			break;
		value++;
	}
	/* RFC 3461 4.1: NEVER stands alone. */
	if ((seen & 1u) != 0 && seen != 1u)
		goto bad;
	return 0;
bad:
	*error_r = "bad NOTIFY parameter value";
	return -1;
}

/*
 * xtext, optionally with UTF-8 characters as in RFC 6533's
 * utf-8-addr-xtext (its "\x{..}" form is plain xchars here).
 */
static int
xtext_valid(const char *s, int utf8)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n;

	while (*s != '\0') {
		unsigned char c = (unsigned char)*s;
		if (c == '+') {
			if (s[1] == '\0' || !strchr(hex, s[1]) ||
			    s[2] == '\0' || !strchr(hex, s[2]))
				return 0;
			s += 3;
		} else if (c >= 33 && c <= 126 && c != '=') {
			s++;
		} else if (utf8 && (n = utf8_char(s)) > 0) {
			s += n;
		} else {
			return 0;
		}
	}
	return 1;
}

int
smtp_xtext_valid(const char *s)
{
	return xtext_valid(s, 0);
}

int
smtp_param_orcpt(const char *value, const char **error_r)
{
	const char *semi = strchr(value, ';');
	const char *p;
	int utf8;

	if (semi == NULL || semi == value || semi[1] == '\0' ||
	    strlen(value) > 500)
		goto bad;
	/* addr-type is an RFC 5322 atom: "rfc822", "utf-8", ... */
	for (p = value; p < semi; p++) {
		if (!is_atext((unsigned char)*p))
			goto bad;
	}
	utf8 = semi - value == 5 && strncasecmp(value, "utf-8", 5) == 0;
	if (!xtext_valid(semi + 1, utf8))
		goto bad;
	return 0;
bad:
	*error_r = "bad ORCPT parameter value";
	return -1;
}

static int
hex_value(char c)
{
	if (is_digit((unsigned char)c))
		return c - '0';
	return c - 'A' + 10;
}

int
smtp_xtext_decode(const char *s, char *dst, size_t dstsize)
{
	size_t o = 0;
	char c;

	if (!smtp_xtext_valid(s))
		return -1;
	for (; *s != '\0'; o++) {
		c = *s++;
		if (c == '+') {
			c = (char)(hex_value(s[0]) * 16 + hex_value(s[1]));
			s += 2;
		}
		/* "+00" would cut the string short. */
		if (c == '\0' || o + 1 >= dstsize)
			return -1;
		dst[o] = c;
	}
	if (dstsize == 0)
		return -1;
	dst[o] = '\0';
	return 0;
}

int
smtp_xtext_encode(const char *s, char *dst, size_t dstsize)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		int plain = c >= '!' && c <= '~' && c != '+' && c != '=';
		if (o + (plain ? 1 : 3) >= dstsize)
			return -1;
		if (plain) {
			dst[o++] = (char)c;
			continue;
		}
		dst[o++] = '+';
		dst[o++] = hex[c >> 4];
		dst[o++] = hex[c & 0x0f];
	}
	if (dstsize == 0)
		return -1;
	dst[o] = '\0';
	return 0;
}

static int
xclient_unavailable(const char *v)
{
	return strcasecmp(v, "[UNAVAILABLE]") == 0 ||
	       strcasecmp(v, "[TEMPUNAVAIL]") == 0;
}

static int
xclient_addr_valid(const char *v)
{
	unsigned char buf[sizeof(struct in6_addr)];

	if (strncasecmp(v, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, v + 5, buf) == 1;
	return inet_pton(AF_INET, v, buf) == 1;
}

static int
xclient_port_valid(const char *v)
{
	size_t len = strspn(v, "0123456789");
	unsigned long port = 0;

	if (len == 0 || len > 5 || v[len] != '\0')
		return 0;
	while (*v != '\0')
		port = port * 10 + (unsigned long)(*v++ - '0');
	return port <= 65535;
}

/*
 * NAME as Postfix's valid_hostname() takes it; its smtpd refuses any
 * other with 501 5.5.4 "Bad NAME syntax".  Labels of letters, digits,
 * '_' and inner '-', 1-63 octets, joined by single dots with none at
 * the end; at most 255 octets in all, and not digits and dots only (an
 * address is no name).
 */
static int
xclient_name_valid(const char *v)
{
	size_t label = 0, total = 0;
	int numeric = 1;

	for (; *v != '\0'; v++, total++) {
		unsigned char c = (unsigned char)*v;

		if (c == '.') {
			if (label == 0 || v[1] == '\0')
				return 0;
			label = 0;
			continue;
		}
		if (!is_alnum(c) && c != '_' && c != '-')
			return 0;
		if (c == '-' && (label == 0 || v[1] == '\0' || v[1] == '.'))
			return 0;
		if (++label > 63)
			return 0;
		if (!is_digit(c))
			numeric = 0;
	}
	return !numeric && total <= 255;
}

/* HELO: one printable token after decoding, since it ends up in logs
 * and Received headers.  A LOGIN may hold spaces ("John Smith" is a
 * valid SASL name); it only reaches logs, escaped, and the upstream,
 * encoded again. */
static int
xclient_token_valid(const char *v, int spaces)
{
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;
		if ((c <= ' ' && !(spaces && c == ' ')) || c == 0x7f)
			return 0;
	}
	return 1;
}

enum xclient_kind {
	XCLIENT_NAME,
	XCLIENT_TOKEN,
	XCLIENT_LOGIN,
	XCLIENT_ADDR,
	XCLIENT_PORT,
	XCLIENT_PROTO,
	XCLIENT_SOURCE,
};

/* Which command an attribute belongs to. */
#define ATTR_XCLIENT  0x1u
#define ATTR_XFORWARD 0x2u

/* The reasons for one command, so the reply names it. */
struct xclient_errors {
	unsigned int verb;
	const char *missing;
	const char *unknown;
	const char *duplicate;
	const char *bad_value;
};

static const struct xclient_errors xclient_errors = {
    ATTR_XCLIENT, "missing XCLIENT attributes", "bad XCLIENT attribute",
    "duplicate XCLIENT attribute", "bad XCLIENT attribute value"};

static const struct xclient_errors xforward_errors = {
    ATTR_XFORWARD, "missing XFORWARD attributes", "bad XFORWARD attribute",
    "duplicate XFORWARD attribute", "bad XFORWARD attribute value"};

static int
xclient_value_valid(enum xclient_kind kind, const char *v)
{
	if (*v == '\0')
		return 0;
	if (xclient_unavailable(v))
		return 1;
	switch (kind) {
	case XCLIENT_ADDR:
		return xclient_addr_valid(v);
	case XCLIENT_PORT:
		return xclient_port_valid(v);
	case XCLIENT_PROTO:
		return strcasecmp(v, "SMTP") == 0 ||
		       strcasecmp(v, "ESMTP") == 0;
	case XCLIENT_SOURCE:
		return strcasecmp(v, "LOCAL") == 0 ||
		       strcasecmp(v, "REMOTE") == 0;
	case XCLIENT_NAME:
		return xclient_name_valid(v);
	case XCLIENT_LOGIN:
		return xclient_token_valid(v, 1);
	default:
		return xclient_token_valid(v, 0);
	}
}

/* Where attribute name (len octets) of command verb (ATTR_*) goes in
 * out; NULL if that command has no such attribute. */
static char **
xclient_slot(struct smtp_xclient *out, unsigned int verb, const char *name,
             size_t len, enum xclient_kind *kind_r)
{
	const struct {
		const char *name;
		char **slot;
		enum xclient_kind kind;
		unsigned int verbs;
	} attrs[] = {
	    {"NAME", &out->name, XCLIENT_NAME, ATTR_XCLIENT | ATTR_XFORWARD},
	    {"ADDR", &out->addr, XCLIENT_ADDR, ATTR_XCLIENT | ATTR_XFORWARD},
	    {"PORT", &out->port, XCLIENT_PORT, ATTR_XCLIENT | ATTR_XFORWARD},
	    {"PROTO", &out->proto, XCLIENT_PROTO, ATTR_XCLIENT},
	    /* XFORWARD's PROTO names the sender's protocol, whatever it
	     * was ("ESMTPSA", "QMQP"). */
	    {"PROTO", &out->proto, XCLIENT_TOKEN, ATTR_XFORWARD},
	    {"HELO", &out->helo, XCLIENT_TOKEN, ATTR_XCLIENT | ATTR_XFORWARD},
	    {"LOGIN", &out->login, XCLIENT_LOGIN, ATTR_XCLIENT},
	    {"DESTADDR", &out->destaddr, XCLIENT_ADDR, ATTR_XCLIENT},
	    {"DESTPORT", &out->destport, XCLIENT_PORT, ATTR_XCLIENT},
	    {"IDENT", &out->ident, XCLIENT_TOKEN, ATTR_XFORWARD},
	    {"SOURCE", &out->source, XCLIENT_SOURCE, ATTR_XFORWARD},
	};
	size_t i;

	for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		if ((attrs[i].verbs & verb) && strlen(attrs[i].name) == len &&
		    strncasecmp(attrs[i].name, name, len) == 0) {
			*kind_r = attrs[i].kind;
			return attrs[i].slot;
		}
	}
	return NULL;
}

/* One "ATTR=xtext" word. */
static int
xclient_attr(struct smtp_xclient *out, const struct xclient_errors *e,
             char *word, const char **error_r)
{
	char *eq = strchr(word, '=');
	enum xclient_kind kind;
	char **slot;

	slot = eq == NULL ? NULL
	                  : xclient_slot(out, e->verb, word, eq - word, &kind);
	if (slot == NULL) {
		*error_r = e->unknown;
		return -1;
	}
	if (*slot != NULL) {
		*error_r = e->duplicate;
		return -1;
	}
	if (strlen(eq + 1) > XCLIENT_VALUE_MAX ||
	    smtp_xtext_decode(eq + 1, eq + 1, strlen(eq + 1) + 1) < 0 ||
	    !xclient_value_valid(kind, eq + 1)) {
		*error_r = e->bad_value;
		return -1;
	}
	*slot = eq + 1;
	return 0;
}

static int
xclient_parse(char *args, struct smtp_xclient *out,
              const struct xclient_errors *e, const char **error_r)
{
	char *p = skip_spaces(args), *word;

	memset(out, 0, sizeof(*out));
	if (*p == '\0') {
		*error_r = e->missing;
		return -1;
	}
	while (*p != '\0') {
		word = p;
		p += strcspn(p, " ");
		if (*p != '\0')
			*p++ = '\0';
		if (xclient_attr(out, e, word, error_r) < 0)
			return -1;
		p = skip_spaces(p);
	}
	return 0;
}

int
smtp_parse_xclient(char *args, struct smtp_xclient *out, const char **error_r)
{
	return xclient_parse(args, out, &xclient_errors, error_r);
}

int
smtp_parse_xforward(char *args, struct smtp_xclient *out, const char **error_r)
{
	return xclient_parse(args, out, &xforward_errors, error_r);
}
