/*
 * smtp_reply.c - reading the upstream's SMTP replies and writing our own.
 *
 * A reply is collected line by line, checked (RFC 5321 4.2: three
 * digits, the same code on every line, "-" or " " after it) and kept
 * verbatim so it can be relayed unchanged.  The enhanced status code
 * (RFC 3463) of the first line is picked out, and EHLO replies are
 * turned into a capability set.  Reading the lines off the socket,
 * timeouts, and what a reply means for the session are left to the
 * caller; malformed replies are reported as errors of the peer.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy/smtp_reply.h"
#include "util/log.h"
#include "util/xalloc.h"

void
smtp_reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
}

void
smtp_reply_reset(struct smtp_reply *r)
{
	r->code = 0;
	r->ecode[0] = '\0';
	r->nlines = 0;
	r->rawlen = 0;
	r->complete = 0;
	if (r->raw != NULL)
		r->raw[0] = '\0';
}

void
smtp_reply_deinit(struct smtp_reply *r)
{
	free(r->raw);
	memset(r, 0, sizeof(*r));
}

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Length of a run of 1 to 3 digits at p, or 0. */
static size_t
digits_1_3(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && i < 4 && is_digit(p[i]))
		i++;
	return i <= 3 ? i : 0;
}

/*
 * RFC 3463 status-code "class.subject.detail" at the start of the text
 * (n octets); the class must agree with the reply code.  Returns its
 * length, or 0 if there is none.
 */
static size_t
ecode_len(const char *p, size_t n, int code)
{
	size_t i, d;

	if (n < 5 || p[0] != '0' + code / 100 || p[1] != '.')
		return 0;
	i = 2;
	d = digits_1_3(p + i, n - i);
	if (d == 0 || i + d >= n || p[i + d] != '.')
		return 0;
	i += d + 1;
	d = digits_1_3(p + i, n - i);
	if (d == 0 || (i + d < n && p[i + d] != ' '))
		return 0;
	return i + d;
}

/* Checks one line; returns its code, or -1 with *error_r. */
static int
reply_line_code(const char *line, size_t len, const char **error_r)
{
	if (len > SMTP_REPLY_LINE_MAX) {
		*error_r = "reply line too long";
		return -1;
	}
	if (memchr(line, '\0', len) != NULL ||
	    memchr(line, '\r', len) != NULL ||
	    memchr(line, '\n', len) != NULL) {
		*error_r = "bad character in reply";
		return -1;
	}
	if (len < 3 || line[0] < '2' || line[0] > '5' || !is_digit(line[1]) ||
	    !is_digit(line[2])) {
		*error_r = "bad reply code";
		return -1;
	}
	if (len > 3 && line[3] != ' ' && line[3] != '-') {
		*error_r = "bad reply separator";
		return -1;
	}
	return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
}

static void
reply_append(struct smtp_reply *r, const char *line, size_t len)
{
	size_t need = r->rawlen + len + 3;

	if (need > r->rawsize) {
		size_t size = r->rawsize > 0 ? r->rawsize : 256;
		while (size < need)
			size *= 2;
		r->raw = xrealloc(r->raw, size);
		r->rawsize = size;
	}
	memcpy(r->raw + r->rawlen, line, len);
	memcpy(r->raw + r->rawlen + len, "\r\n", 3);
	r->rawlen += len + 2;
}

static void
reply_first_line(struct smtp_reply *r, int code, const char *line, size_t len)
{
	size_t n;

	r->code = code;
	r->ecode[0] = '\0';
	if (len <= 4)
		return;
	n = ecode_len(line + 4, len - 4, code);
	if (n > 0 && n < sizeof(r->ecode)) {
		memcpy(r->ecode, line + 4, n);
		r->ecode[n] = '\0';
	}
}

int
smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len,
                const char **error_r)
{
	int code;

	if (r->complete) {
		*error_r = "reply already complete";
		return -1;
	}
	code = reply_line_code(line, len, error_r);
	if (code < 0)
		return -1;
	if (r->nlines > 0 && code != r->code) {
		*error_r = "reply code changed within reply";
		return -1;
	}
	if (r->nlines >= SMTP_REPLY_LINES_MAX ||
	    r->rawlen + len + 2 > SMTP_REPLY_SIZE_MAX) {
		*error_r = "reply too long";
		return -1;
	}

	if (r->nlines == 0)
		reply_first_line(r, code, line, len);
	reply_append(r, line, len);
	r->nlines++;
	if (len > 3 && line[3] == '-')
		return 1;
	r->complete = 1;
	return 0;
}

/* Start and length (without CRLF) of raw line i; -1 if out of range. */
static int
reply_line_span(const struct smtp_reply *r, size_t i, const char **start_r,
                size_t *len_r)
{
	const char *p = r->raw, *end = r->raw + r->rawlen, *eol;

	if (i >= r->nlines || r->raw == NULL)
		return -1;
	for (;;) {
		eol = memchr(p, '\r', end - p);
		if (eol == NULL)
			return -1;
		if (i-- == 0)
			break;
		p = eol + 2;
	}
	*start_r = p;
	*len_r = eol - p;
	return 0;
}

char *
smtp_reply_line(const struct smtp_reply *r, size_t i, char *buf, size_t size)
{
	const char *p;
	size_t len;

	if (size == 0 || reply_line_span(r, i, &p, &len) < 0)
		return NULL;
	/* Skip "NNN-" or "NNN " or a lone "NNN". */
	p += len > 3 ? 4 : 3;
	len -= len > 3 ? 4 : 3;
	if (len >= size)
		len = size - 1;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return buf;
}

char *
smtp_reply_summary(const struct smtp_reply *r, char *buf, size_t size)
{
	const char *p = "";
	size_t len = 0;

	if (reply_line_span(r, 0, &p, &len) < 0) {
		p = "";
		len = 0;
	}
	return log_escape(buf, size, p, len);
}

/* Append len octets of p to buf (size, used so far *n), printable
 * ASCII only. */
static void
text_append(char *buf, size_t size, size_t *n, const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len && *n + 1 < size; i++) {
		unsigned char c = (unsigned char)p[i];

		buf[(*n)++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	buf[*n] = '\0';
}

char *
smtp_reply_text(const struct smtp_reply *r, char *buf, size_t size)
{
	char line[SMTP_REPLY_LINE_MAX + 1];
	size_t i, n = 0, elen = strlen(r->ecode);
	const char *t;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	if (r->code == 0)
		return buf;
	n = (size_t)snprintf(buf, size, "%03d", r->code);
	if (n >= size)
		n = size - 1;
	if (elen > 0) {
		text_append(buf, size, &n, " ", 1);
		text_append(buf, size, &n, r->ecode, elen);
	}
	for (i = 0; smtp_reply_line(r, i, line, sizeof(line)) != NULL; i++) {
		t = line;
		if (elen > 0 && strncmp(t, r->ecode, elen) == 0 &&
		    (t[elen] == ' ' || t[elen] == '\0'))
			t += elen;
		t += strspn(t, " ");
		if (*t == '\0')
			continue;
		text_append(buf, size, &n, " ", 1);
		text_append(buf, size, &n, t, strlen(t));
	}
	return buf;
}

/*
 * Append the printable words of the space-separated list to dst (size
 * dstsize, NUL-terminated), skipping words already there and stopping
 * at the first that does not fit.
 */
static void
caps_words_add(char *dst, size_t dstsize, const char *list)
{
	size_t used = strlen(dst), n, i;
	char word[128];

	for (; *list != '\0'; list += n) {
		list += strspn(list, " ");
		n = strcspn(list, " ");
		if (n == 0)
			continue;
		if (n >= sizeof(word))
			continue;
		memcpy(word, list, n);
		word[n] = '\0';
		for (i = 0; i < n && word[i] > ' ' && word[i] < 0x7f; i++)
			;
		if (i < n || smtp_caps_has_word(dst, word))
			continue;
		if (used + (used > 0) + n + 1 > dstsize)
			return;
		if (used > 0)
			dst[used++] = ' ';
		memcpy(dst + used, word, n + 1);
		used += n;
	}
}

/* "SIZE" [ SP number ]; 0 for none, nonsense or overflow. */
static unsigned long long
caps_size(const char *arg)
{
	unsigned long long n = 0;

	arg += strspn(arg, " ");
	for (; is_digit(*arg); arg++) {
		unsigned int d = (unsigned int)(*arg - '0');
		if (n > (ULLONG_MAX - d) / 10)
			return 0;
		n = n * 10 + d;
	}
	return *arg == '\0' || *arg == ' ' ? n : 0;
}

static const struct {
	const char *name;
	unsigned int flag;
} cap_names[] = {
    {"PIPELINING", SMTP_CAP_PIPELINING},
    {"SIZE", SMTP_CAP_SIZE},
    {"8BITMIME", SMTP_CAP_8BITMIME},
    {"ENHANCEDSTATUSCODES", SMTP_CAP_ENHANCED},
    {"SMTPUTF8", SMTP_CAP_SMTPUTF8},
    {"DSN", SMTP_CAP_DSN},
    {"XCLIENT", SMTP_CAP_XCLIENT},
    {"XFORWARD", SMTP_CAP_XFORWARD},
    {"STARTTLS", SMTP_CAP_STARTTLS},
    {"AUTH", SMTP_CAP_AUTH},
    {"CHUNKING", SMTP_CAP_CHUNKING},
    {"REQUIRETLS", SMTP_CAP_REQUIRETLS},
    {"BINARYMIME", SMTP_CAP_BINARYMIME},
};

static unsigned int
caps_flag(const char *keyword, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(cap_names) / sizeof(cap_names[0]); i++) {
		if (strlen(cap_names[i].name) == len &&
		    strncasecmp(cap_names[i].name, keyword, len) == 0)
			return cap_names[i].flag;
	}
	return 0;
}

/* One EHLO line: keyword, then its arguments. */
static void
caps_line(struct smtp_caps *caps, const char *text)
{
	size_t len = strcspn(text, " =");
	unsigned int flag = caps_flag(text, len);
	const char *arg = text + len;

	/* "AUTH=LOGIN PLAIN" is what old Microsoft clients wanted to see;
	 * some servers still send it beside the standard line. */
	if (*arg == '=' && flag != SMTP_CAP_AUTH)
		return;
	if (*arg != '\0')
		arg++;
	caps->flags |= flag;
	if (flag == SMTP_CAP_SIZE)
		caps->size = caps_size(arg);
	else if (flag == SMTP_CAP_XCLIENT)
		caps_words_add(caps->xclient, sizeof(caps->xclient), arg);
	else if (flag == SMTP_CAP_XFORWARD)
		caps_words_add(caps->xforward, sizeof(caps->xforward), arg);
	else if (flag == SMTP_CAP_AUTH)
		caps_words_add(caps->auth, sizeof(caps->auth), arg);
}

void
smtp_caps_parse(const struct smtp_reply *r, struct smtp_caps *caps)
{
	char text[SMTP_REPLY_LINE_MAX + 1];
	size_t i;

	memset(caps, 0, sizeof(*caps));
	if (!r->complete || r->code != 250)
		return;
	for (i = 1; i < r->nlines; i++) {
		if (smtp_reply_line(r, i, text, sizeof(text)) != NULL)
			caps_line(caps, text);
	}
}

int
smtp_caps_has_word(const char *list, const char *word)
{
	size_t wlen = strlen(word), n;

	if (wlen == 0)
		return 0;
	for (; *list != '\0'; list += n) {
		list += strspn(list, " ");
		n = strcspn(list, " ");
		if (n == wlen && strncasecmp(list, word, n) == 0)
			return 1;
	}
	return 0;
}

/* Appends n octets to buf at *len if they fit with a NUL after them. */
static int
put(char *buf, size_t size, size_t *len, const char *p, size_t n)
{
	if (*len + n >= size)
		return -1;
	memcpy(buf + *len, p, n);
	*len += n;
	buf[*len] = '\0';
	return 0;
}

/* One reply line: "NNN" sep [ecode] [SP text] CRLF. */
static int
format_line(char *buf, size_t size, size_t *len, const char *prefix,
            const char *text, size_t tlen)
{
	size_t plen = strlen(prefix);

	/* A final line with nothing after the code is just "NNN". */
	if (prefix[plen - 1] == ' ' && tlen == 0)
		plen--;
	if (put(buf, size, len, prefix, plen) < 0 ||
	    put(buf, size, len, text, tlen) < 0 ||
	    put(buf, size, len, "\r\n", 2) < 0)
		return -1;
	return 0;
}

int
smtp_reply_format(char *buf, size_t size, int code, const char *ecode,
                  const char *text)
{
	char prefix[32];
	const char *next;
	size_t len = 0, n;
	int has_ecode = ecode != NULL && *ecode != '\0';

	if (size > 0)
		buf[0] = '\0';
	if (code < 200 || code > 599 || (has_ecode && strlen(ecode) > 16))
		return -1;
	for (;;) {
		/* Lines end at LF, CRLF or a lone CR: no CR may reach the
		 * peer except in the CRLF we add. */
		n = strcspn(text, "\r\n");
		next = text + n;
		next += *next == '\r';
		next += *next == '\n';
		snprintf(prefix, sizeof(prefix), "%d%c%s%s", code,
		         *next == '\0' ? ' ' : '-', has_ecode ? ecode : "",
		         has_ecode && n > 0 ? " " : "");
		if (format_line(buf, size, &len, prefix, text, n) < 0)
			return -1;
		if (*next == '\0')
			break;
		text = next;
	}
	return len > INT_MAX ? -1 : (int)len;
}
