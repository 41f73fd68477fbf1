/*
 * test_smtp_reply.c - reading upstream replies, EHLO capabilities and
 * formatting postern's own replies.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/smtp_reply.h"
#include "tests/unit/unit.h"

/* Feed NULL-terminated lines up to the first error; returns the last
 * result. */
static int
feed_lines(struct smtp_reply *r, const char *const *lines, const char **error)
{
	int rc = -1;

	for (; *lines != NULL; lines++) {
		rc = smtp_reply_feed(r, *lines, strlen(*lines), error);
		if (rc < 0)
			break;
	}
	return rc;
}

struct feed_case {
	const char *name;
	const char *lines[5];
	int rc; /* of the last line fed */
	const char *error;
	int code;
	const char *ecode;
	size_t nlines;
	const char *raw;
};

static const struct feed_case feed_cases[] = {
    {"single line", {"250 Ok"}, 0, NULL, 250, "", 1, "250 Ok\r\n"},
    {"code alone", {"354"}, 0, NULL, 354, "", 1, "354\r\n"},
    {"code and space", {"221 "}, 0, NULL, 221, "", 1, "221 \r\n"},
    {"multi-line",
     {"250-mail.example.com", "250-PIPELINING", "250 8BITMIME"},
     0,
     NULL,
     250,
     "",
     3,
     "250-mail.example.com\r\n250-PIPELINING\r\n250 8BITMIME\r\n"},
    {"multi-line still open",
     {"250-a", "250-b"},
     1,
     NULL,
     250,
     "",
     2,
     "250-a\r\n250-b\r\n"},
    {"empty continuation",
     {"250-", "250"},
     0,
     NULL,
     250,
     "",
     2,
     "250-\r\n250\r\n"},
    {"queue id kept verbatim",
     {"250 2.0.0 Ok: queued as 4Xb7Kq1Zr3z9"},
     0,
     NULL,
     250,
     "2.0.0",
     1,
     "250 2.0.0 Ok: queued as 4Xb7Kq1Zr3z9\r\n"},
    {"tab and high octets kept",
     {"550 5.1.1 <\xc3\xa9>\tunknown"},
     0,
     NULL,
     550,
     "5.1.1",
     1,
     "550 5.1.1 <\xc3\xa9>\tunknown\r\n"},

    {"code changes",
     {"250-a", "251 b"},
     -1,
     "reply code changed within reply",
     250,
     "",
     1,
     "250-a\r\n"},
    {"class changes",
     {"450-a", "550 b"},
     -1,
     "reply code changed within reply",
     450,
     "",
     1,
     "450-a\r\n"},
    {"bad separator", {"250+ok"}, -1, "bad reply separator", 0, "", 0, ""},
    {"no separator", {"250ok"}, -1, "bad reply separator", 0, "", 0, ""},
    {"bad separator on later line",
     {"250-a", "250_b"},
     -1,
     "bad reply separator",
     250,
     "",
     1,
     "250-a\r\n"},
    {"too short", {"25"}, -1, "bad reply code", 0, "", 0, ""},
    {"empty line", {""}, -1, "bad reply code", 0, "", 0, ""},
    {"letters", {"abc def"}, -1, "bad reply code", 0, "", 0, ""},
    {"code below 200", {"199 x"}, -1, "bad reply code", 0, "", 0, ""},
    {"code 600", {"600 x"}, -1, "bad reply code", 0, "", 0, ""},
    {"letter in code", {"2a0 x"}, -1, "bad reply code", 0, "", 0, ""},
    {"leading space", {" 250 x"}, -1, "bad reply code", 0, "", 0, ""},
    {"carriage return",
     {"250 a\rb"},
     -1,
     "bad character in reply",
     0,
     "",
     0,
     ""},
    {"line feed", {"250-a\n250 b"}, -1, "bad character in reply", 0, "", 0, ""},
    {"fed after completion",
     {"250 a", "250 b"},
     -1,
     "reply already complete",
     250,
     "",
     1,
     "250 a\r\n"},
};

static void
run_feed_case(const struct feed_case *c)
{
	struct smtp_reply r;
	const char *error = NULL;
	int rc;

	smtp_reply_init(&r);
	rc = feed_lines(&r, c->lines, &error);
	check_int(c->name, "return", rc, c->rc);
	if (c->rc < 0)
		check_str(c->name, "error", error, c->error);
	check_int(c->name, "code", r.code, c->code);
	check_str(c->name, "ecode", r.ecode, c->ecode);
	check_int(c->name, "lines", (long long)r.nlines, (long long)c->nlines);
	/* A reply that was complete before an error stays so. */
	check_int(c->name, "complete", r.complete,
	          c->rc == 0 ||
	              (c->error != NULL &&
	               strcmp(c->error, "reply already complete") == 0));
	check_int(c->name, "rawlen", (long long)r.rawlen,
	          (long long)strlen(c->raw));
	if (r.rawlen > 0)
		check_str(c->name, "raw", r.raw, c->raw);
	smtp_reply_deinit(&r);
}

static void
test_reply_feed(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(feed_cases); i++)
		run_feed_case(&feed_cases[i]);
}

static void
test_reply_nul(void **state)
{
	struct smtp_reply r;
	const char *error = NULL;

	smtp_reply_init(&r);
	check_int("nul in line", "return",
	          smtp_reply_feed(&r, "250 a\0b", 7, &error), -1);
	check_str("nul in line", "error", error, "bad character in reply");
	smtp_reply_deinit(&r);
}

static void
test_reply_limits(void **state)
{
	char line[SMTP_REPLY_LINE_MAX + 2];
	struct smtp_reply r;
	const char *error = NULL;
	size_t i;
	int rc = 0;

	/* Line length: 1000 is fine, 1001 is not. */
	memset(line, 'x', sizeof(line));
	memcpy(line, "250 ", 4);
	smtp_reply_init(&r);
	rc = smtp_reply_feed(&r, line, SMTP_REPLY_LINE_MAX, &error);
	check_int("line of 1000", "return", rc, 0);
	smtp_reply_reset(&r);
	rc = smtp_reply_feed(&r, line, SMTP_REPLY_LINE_MAX + 1, &error);
	check_int("line of 1001", "return", rc, -1);
	check_str("line of 1001", "error", error, "reply line too long");

	/* Line count: 100 lines make a reply, the 101st is refused. */
	smtp_reply_reset(&r);
	rc = 0;
	for (i = 0; i < SMTP_REPLY_LINES_MAX && rc != -1; i++)
		rc = smtp_reply_feed(&r, "250-x", 5, &error);
	check_int("100 lines", "return", rc, 1);
	check_int("100 lines", "lines", (long long)r.nlines,
	          SMTP_REPLY_LINES_MAX);
	rc = smtp_reply_feed(&r, "250 x", 5, &error);
	check_int("101 lines", "return", rc, -1);
	check_str("101 lines", "error", error, "reply too long");

	/* Size: 16 lines of 1000 octets + CRLF fit in 16384, 17 do not. */
	memcpy(line, "250-", 4);
	smtp_reply_reset(&r);
	for (i = 0; i < 16; i++)
		rc = smtp_reply_feed(&r, line, SMTP_REPLY_LINE_MAX, &error);
	check_int("16 long lines", "return", rc, 1);
	rc = smtp_reply_feed(&r, line, SMTP_REPLY_LINE_MAX, &error);
	check_int("17 long lines", "return", rc, -1);
	check_str("17 long lines", "error", error, "reply too long");
	check_int("17 long lines", "rawlen kept", (long long)r.rawlen,
	          16 * (SMTP_REPLY_LINE_MAX + 2));

	/* After a reset the buffer is reused for a new reply. */
	smtp_reply_reset(&r);
	check_int("reset", "code", r.code, 0);
	rc = smtp_reply_feed(&r, "221 2.0.0 Bye", 13, &error);
	check_int("after reset", "return", rc, 0);
	check_str("after reset", "raw", r.raw, "221 2.0.0 Bye\r\n");
	check_str("after reset", "ecode", r.ecode, "2.0.0");
	smtp_reply_deinit(&r);
}

struct ecode_case {
	const char *name;
	const char *line;
	const char *ecode;
};

static const struct ecode_case ecode_cases[] = {
    {"success", "250 2.1.0 Ok", "2.1.0"},
    {"permanent", "550 5.7.1 Relay access denied", "5.7.1"},
    {"temporary", "451 4.3.0 Try again", "4.3.0"},
    {"code only", "250 2.0.0", "2.0.0"},
    {"three digit parts", "250 2.123.456 x", "2.123.456"},
    {"on a continuation line", "250-2.1.0 first", "2.1.0"},
    {"class differs from code", "250 5.1.0 odd", ""},
    {"only two parts", "250 2.1 x", ""},
    {"text glued on", "250 2.1.0x", ""},
    {"four digit part", "250 2.1234.0 x", ""},
    {"four digit detail", "250 2.1.1234 x", ""},
    {"empty part", "250 2..0 x", ""},
    {"none", "250 Ok", ""},
    {"double space", "250  2.1.0 x", ""},
    {"code alone", "250", ""},
};

static void
test_reply_ecode(void **state)
{
	struct smtp_reply r;
	const char *error = NULL;
	size_t i;
	int rc;

	smtp_reply_init(&r);
	for (i = 0; i < ARRAY_LEN(ecode_cases); i++) {
		const struct ecode_case *c = &ecode_cases[i];
		smtp_reply_reset(&r);
		rc = smtp_reply_feed(&r, c->line, strlen(c->line), &error);
		check_int(c->name, "return", rc >= 0, 1);
		check_str(c->name, "ecode", r.ecode, c->ecode);
	}

	/* Only the first line's code counts. */
	smtp_reply_reset(&r);
	smtp_reply_feed(&r, "250-first", 9, &error);
	smtp_reply_feed(&r, "250 2.0.0 second", 16, &error);
	check_str("ecode on second line only", "ecode", r.ecode, "");
	smtp_reply_deinit(&r);
}

static void
test_reply_line(void **state)
{
	static const char *const lines[] = {"250-mx.example.com", "250-",
	                                    "250 SIZE 1000", NULL};
	struct smtp_reply r;
	const char *error = NULL;
	char buf[64];

	smtp_reply_init(&r);
	check_str("empty reply", "line 0", smtp_reply_line(&r, 0, buf, 64),
	          NULL);
	feed_lines(&r, lines, &error);
	check_str("lines", "line 0", smtp_reply_line(&r, 0, buf, 64),
	          "mx.example.com");
	check_str("lines", "line 1", smtp_reply_line(&r, 1, buf, 64), "");
	check_str("lines", "line 2", smtp_reply_line(&r, 2, buf, 64),
	          "SIZE 1000");
	check_str("lines", "line 3", smtp_reply_line(&r, 3, buf, 64), NULL);
	check_str("lines", "truncated", smtp_reply_line(&r, 0, buf, 5), "mx.e");
	check_str("lines", "size 0", smtp_reply_line(&r, 0, buf, 0), NULL);

	smtp_reply_reset(&r);
	smtp_reply_feed(&r, "354", 3, &error);
	check_str("code alone", "line 0", smtp_reply_line(&r, 0, buf, 64), "");
	smtp_reply_deinit(&r);
}

static void
test_reply_summary(void **state)
{
	static const char *const lines[] = {"250-2.0.0 Ok: queued as 4Xb7Kq",
	                                    "250 more", NULL};
	struct smtp_reply r;
	const char *error = NULL;
	char buf[64];

	smtp_reply_init(&r);
	check_str("no reply", "summary", smtp_reply_summary(&r, buf, 64), "");
	feed_lines(&r, lines, &error);
	check_str("first line", "summary", smtp_reply_summary(&r, buf, 64),
	          "250-2.0.0 Ok: queued as 4Xb7Kq");

	smtp_reply_reset(&r);
	smtp_reply_feed(&r, "550 bad\x01\xff", 9, &error);
	check_str("escaped", "summary", smtp_reply_summary(&r, buf, 64),
	          "550 bad\\x01\\xff");

	smtp_reply_reset(&r);
	smtp_reply_feed(&r, "550 0123456789abcdef", 20, &error);
	check_str("bounded", "summary", smtp_reply_summary(&r, buf, 12),
	          "550 0123...");
	smtp_reply_deinit(&r);
}

/* The whole reply as one line, for reports. */
static const struct {
	const char *name;
	const char *lines[4];
	size_t size;
	const char *want;
} text_cases[] = {
    {"one line", {"550 5.1.1 <a@b>: unknown"}, 128, "550 5.1.1 <a@b>: unknown"},
    {"repeated ecode left out",
     {"550-5.7.1 first", "550-5.7.1 second", "550 5.7.1 third"},
     128,
     "550 5.7.1 first second third"},
    {"no ecode", {"451-try", "451 later"}, 128, "451 try later"},
    {"lone code", {"250"}, 128, "250"},
    {"empty continuation",
     {"550-5.7.1 a", "550-5.7.1", "550 5.7.1 b"},
     128,
     "550 5.7.1 a b"},
    {"not printable", {"550 5.0.0 bad\x01\xff\t."}, 128, "550 5.0.0 bad???."},
    {"bounded", {"550 5.0.0 0123456789"}, 16, "550 5.0.0 01234"},
};

static void
test_reply_text(void **state)
{
	struct smtp_reply r;
	const char *error = NULL;
	char buf[128];
	size_t i;

	(void)state;
	smtp_reply_init(&r);
	check_str("no reply", "text", smtp_reply_text(&r, buf, sizeof(buf)),
	          "");
	for (i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
		smtp_reply_reset(&r);
		check_int(text_cases[i].name, "feed",
		          feed_lines(&r, text_cases[i].lines, &error), 0);
		check_str(text_cases[i].name, "text",
		          smtp_reply_text(&r, buf, text_cases[i].size),
		          text_cases[i].want);
	}
	smtp_reply_deinit(&r);
}

/* EHLO capabilities. */

/* Postfix 3.7 with XCLIENT/XFORWARD allowed, SASL on and
 * broken_sasl_auth_clients = yes. */
static const char *const postfix_ehlo[] = {
    "250-mail.example.com",
    "250-PIPELINING",
    "250-SIZE 10240000",
    "250-VRFY",
    "250-ETRN",
    "250-STARTTLS",
    "250-AUTH PLAIN LOGIN",
    "250-AUTH=PLAIN LOGIN",
    "250-XCLIENT NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR "
    "DESTPORT",
    "250-XFORWARD NAME ADDR PROTO HELO SOURCE PORT IDENT",
    "250-ENHANCEDSTATUSCODES",
    "250-8BITMIME",
    "250-DSN",
    "250-SMTPUTF8",
    "250 CHUNKING",
    NULL,
};

/* Exim 4.96 as Debian ships it, with TLS and SASL configured. */
static const char *const exim_ehlo[] = {
    "250-mx.example.org Hello client.example.com [127.0.0.1]",
    "250-SIZE 52428800",
    "250-8BITMIME",
    "250-PIPELINING",
    "250-PIPE_CONNECT",
    "250-AUTH CRAM-MD5 PLAIN LOGIN",
    "250-CHUNKING",
    "250-STARTTLS",
    "250-PRDR",
    "250 HELP",
    NULL,
};

static const char *const odd_ehlo[] = {
    "250-odd.example",       "250-size",
    "250-auth=LOGIN",        "250-Auth plain login",
    "250-xclient name addr", "250-REQUIRETLS",
    "250-BINARYMIME",        "250-DSN=yes",
    "250 8bitmime",          NULL,
};

struct caps_case {
	const char *name;
	const char *const *lines;
	unsigned int flags;
	unsigned long long size;
	const char *xclient;
	const char *xforward;
	const char *auth;
};

static const struct caps_case caps_cases[] = {
    {"postfix", postfix_ehlo,
     SMTP_CAP_PIPELINING | SMTP_CAP_SIZE | SMTP_CAP_STARTTLS | SMTP_CAP_AUTH |
         SMTP_CAP_XCLIENT | SMTP_CAP_XFORWARD | SMTP_CAP_ENHANCED |
         SMTP_CAP_8BITMIME | SMTP_CAP_DSN | SMTP_CAP_SMTPUTF8 |
         SMTP_CAP_CHUNKING,
     10240000, "NAME ADDR PROTO HELO REVERSE_NAME PORT LOGIN DESTADDR DESTPORT",
     "NAME ADDR PROTO HELO SOURCE PORT IDENT", "PLAIN LOGIN"},
    {"exim", exim_ehlo,
     SMTP_CAP_SIZE | SMTP_CAP_8BITMIME | SMTP_CAP_PIPELINING | SMTP_CAP_AUTH |
         SMTP_CAP_CHUNKING | SMTP_CAP_STARTTLS,
     52428800, "", "", "CRAM-MD5 PLAIN LOGIN"},
    {"lowercase and old forms", odd_ehlo,
     SMTP_CAP_SIZE | SMTP_CAP_AUTH | SMTP_CAP_XCLIENT | SMTP_CAP_REQUIRETLS |
         SMTP_CAP_BINARYMIME | SMTP_CAP_8BITMIME,
     0, "name addr", "", "LOGIN plain"},
};

static void
test_caps_parse(void **state)
{
	struct smtp_reply r;
	struct smtp_caps caps;
	const char *error = NULL;
	size_t i;

	smtp_reply_init(&r);
	for (i = 0; i < ARRAY_LEN(caps_cases); i++) {
		const struct caps_case *c = &caps_cases[i];
		smtp_reply_reset(&r);
		check_int(c->name, "feed", feed_lines(&r, c->lines, &error), 0);
		smtp_caps_parse(&r, &caps);
		check_int(c->name, "flags", caps.flags, c->flags);
		check_int(c->name, "size", (long long)caps.size,
		          (long long)c->size);
		check_str(c->name, "xclient", caps.xclient, c->xclient);
		check_str(c->name, "xforward", caps.xforward, c->xforward);
		check_str(c->name, "auth", caps.auth, c->auth);
	}
	smtp_reply_deinit(&r);
}

static void
test_caps_not_ehlo(void **state)
{
	static const char *const refused[] = {"502-x", "502 5.5.1 no EHLO",
	                                      NULL};
	static const char *const open[] = {"250-x", "250-PIPELINING", NULL};
	struct smtp_reply r;
	struct smtp_caps caps;
	const char *error = NULL;

	smtp_reply_init(&r);
	feed_lines(&r, refused, &error);
	smtp_caps_parse(&r, &caps);
	check_int("refused ehlo", "flags", caps.flags, 0);

	smtp_reply_reset(&r);
	feed_lines(&r, open, &error);
	smtp_caps_parse(&r, &caps);
	check_int("incomplete reply", "flags", caps.flags, 0);

	/* The greeting line is no capability. */
	smtp_reply_reset(&r);
	smtp_reply_feed(&r, "250 PIPELINING", 14, &error);
	smtp_caps_parse(&r, &caps);
	check_int("greeting only", "flags", caps.flags, 0);
	smtp_reply_deinit(&r);
}

static void
test_caps_bounded(void **state)
{
	char line[SMTP_REPLY_LINE_MAX], want[128];
	struct smtp_reply r;
	struct smtp_caps caps;
	const char *error = NULL;
	size_t o, n = 0;

	/* More attribute names than fit: whole words only. */
	o = (size_t)snprintf(line, sizeof(line), "250 XCLIENT");
	want[0] = '\0';
	while (o + 12 < sizeof(line)) {
		o += (size_t)snprintf(line + o, sizeof(line) - o, " ATTR%04zu",
		                      n);
		if (strlen(want) + 9 + 1 <= sizeof(want))
			snprintf(want + strlen(want),
			         sizeof(want) - strlen(want), "%sATTR%04zu",
			         n > 0 ? " " : "", n);
		n++;
	}
	smtp_reply_init(&r);
	smtp_reply_feed(&r, "250-x", 5, &error);
	check_int("bounded", "feed", smtp_reply_feed(&r, line, o, &error), 0);
	smtp_caps_parse(&r, &caps);
	check_str("bounded", "xclient", caps.xclient, want);

	/* A size that does not fit counts as none. */
	smtp_reply_reset(&r);
	smtp_reply_feed(&r, "250-x", 5, &error);
	smtp_reply_feed(&r, "250 SIZE 99999999999999999999999", 32, &error);
	smtp_caps_parse(&r, &caps);
	check_int("huge size", "size", (long long)caps.size, 0);
	check_int("huge size", "flag", caps.flags, SMTP_CAP_SIZE);
	smtp_reply_deinit(&r);
}

struct word_case {
	const char *name;
	const char *list;
	const char *word;
	int want;
};

static const struct word_case word_cases[] = {
    {"first", "NAME ADDR PROTO", "NAME", 1},
    {"last", "NAME ADDR PROTO", "PROTO", 1},
    {"any case", "NAME ADDR PROTO", "addr", 1},
    {"prefix only", "NAME ADDR PROTO", "ADD", 0},
    {"longer word", "NAME ADDR PROTO", "ADDRESS", 0},
    {"empty list", "", "NAME", 0},
    {"empty word", "NAME ADDR", "", 0},
    {"extra spaces", "  NAME   ADDR ", "ADDR", 1},
};

static void
test_caps_has_word(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(word_cases); i++) {
		const struct word_case *c = &word_cases[i];
		check_int(c->name, "has word",
		          smtp_caps_has_word(c->list, c->word), c->want);
	}
}

/* Formatting our own replies. */

struct format_case {
	const char *name;
	int code;
	const char *ecode;
	const char *text;
	const char *want; /* NULL: does not fit or is refused */
};

static const struct format_case format_cases[] = {
    {"one line", 250, "2.0.0", "Ok", "250 2.0.0 Ok\r\n"},
    {"no ecode", 250, NULL, "Ok", "250 Ok\r\n"},
    {"empty ecode", 250, "", "Ok", "250 Ok\r\n"},
    {"multi-line", 550, "5.7.1", "line one\nline two\nline three",
     "550-5.7.1 line one\r\n550-5.7.1 line two\r\n550 5.7.1 line three\r\n"},
    {"multi-line without ecode", 421, NULL, "a\nb", "421-a\r\n421 b\r\n"},
    {"trailing newline", 250, NULL, "a\n", "250 a\r\n"},
    {"CRLF in text", 250, NULL, "a\r\nb", "250-a\r\n250 b\r\n"},
    {"lone CR in text", 250, NULL, "a\rb", "250-a\r\n250 b\r\n"},
    {"empty text", 250, NULL, "", "250\r\n"},
    {"empty text with ecode", 250, "2.0.0", "", "250 2.0.0\r\n"},
    {"empty middle line", 250, NULL, "a\n\nb", "250-a\r\n250-\r\n250 b\r\n"},
    {"empty middle line with ecode", 451, "4.3.0", "a\n\nb",
     "451-4.3.0 a\r\n451-4.3.0\r\n451 4.3.0 b\r\n"},
    {"code below 200", 199, NULL, "x", NULL},
    {"code 600", 600, NULL, "x", NULL},
};

static void
test_reply_format(void **state)
{
	char buf[256];
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_LEN(format_cases); i++) {
		const struct format_case *c = &format_cases[i];
		rc = smtp_reply_format(buf, sizeof(buf), c->code, c->ecode,
		                       c->text);
		check_int(c->name, "return", rc,
		          c->want ? (long long)strlen(c->want) : -1);
		if (c->want != NULL)
			check_str(c->name, "reply", buf, c->want);
	}
}

static void
test_reply_format_fit(void **state)
{
	const char *want = "550-5.7.1 a\r\n550 5.7.1 b\r\n";
	size_t len = strlen(want);
	char buf[64];
	int rc;

	rc = smtp_reply_format(buf, len + 1, 550, "5.7.1", "a\nb");
	check_int("exact fit", "return", rc, (long long)len);
	check_str("exact fit", "reply", buf, want);

	memset(buf, 'z', sizeof(buf));
	rc = smtp_reply_format(buf, len, 550, "5.7.1", "a\nb");
	check_int("one short", "return", rc, -1);
	check_int("one short", "terminated", memchr(buf, '\0', len) != NULL, 1);

	rc = smtp_reply_format(buf, 0, 250, NULL, "x");
	check_int("no room", "return", rc, -1);
}

/* What we format, we read back the same. */
static void
test_reply_format_parses(void **state)
{
	char buf[256], *line, *eol;
	struct smtp_reply r;
	const char *error = NULL;
	int rc = -1;

	assert_true(smtp_reply_format(buf, sizeof(buf), 554, "5.7.0",
	                              "rejected\nby policy\n\nsorry") > 0);
	smtp_reply_init(&r);
	for (line = buf; (eol = strstr(line, "\r\n")) != NULL; line = eol + 2)
		rc = smtp_reply_feed(&r, line, (size_t)(eol - line), &error);
	check_int("format parses", "return", rc, 0);
	check_int("format parses", "code", r.code, 554);
	check_str("format parses", "ecode", r.ecode, "5.7.0");
	check_int("format parses", "lines", (long long)r.nlines, 4);
	check_str("format parses", "raw", r.raw, buf);
	smtp_reply_deinit(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reply_feed),
	    cmocka_unit_test(test_reply_nul),
	    cmocka_unit_test(test_reply_limits),
	    cmocka_unit_test(test_reply_ecode),
	    cmocka_unit_test(test_reply_line),
	    cmocka_unit_test(test_reply_summary),
	    cmocka_unit_test(test_reply_text),
	    cmocka_unit_test(test_caps_parse),
	    cmocka_unit_test(test_caps_not_ehlo),
	    cmocka_unit_test(test_caps_bounded),
	    cmocka_unit_test(test_caps_has_word),
	    cmocka_unit_test(test_reply_format),
	    cmocka_unit_test(test_reply_format_fit),
	    cmocka_unit_test(test_reply_format_parses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
