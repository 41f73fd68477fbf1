/*
 * test_spam_msg.c - the views of spam_msg.h: header fields and pseudo
 * headers, body, rawbody, URIs and the whole message, for small inline
 * messages and for the corpus, broken MIME included.
 *
 * The MIME structure, transfer decoding, RFC 2047 words and addresses
 * are GMime's.  The expected values are SpamAssassin 4.0's for the
 * same messages (Debian's spamassassin, no site rules changed) except
 * where a case says GMime reads a broken message otherwise: headers from
 * PerMsgStatus::get() in list context joined as Check.pm joins them,
 * body from get_decoded_stripped_body_text_array(), rawbody from
 * get_decoded_body_text_array(), URIs from get_uri_list() (a set).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "filters/spam_msg.h"
#include "tests/unit/unit.h"

#define WANT_MAX 12

/*
 * Header fields
 */

struct hdr_case {
	const char *name;
	const char *msg;
	const char *field;
	enum spam_hdr_form form;
	int ret;
	const char *want;
};

#define M_EW                                                                   \
	"Subject: =?UTF-8?B?Q2Fmw6kg4oKs?= =?ISO-8859-1?Q?_ol=E9?= !\n"        \
	"From: a@example.com\n\nbody\n"
#define M_FOLD "Subject: one\n\ttwo\n   three\nFrom: a@example.com\n\nbody\n"
#define M_RCVD                                                                 \
	"Received: from a.example\n\tby b.example; Mon, 1 Jan 2024 00:00:00 "  \
	"+0000\nReceived: from c.example by d.example\nSubject: x\n\nbody\n"
#define M_ADDR                                                                 \
	"From: \"Doe, John\" <john@example.org>\n"                             \
	"To: a@x.example.com, B <b@y.example.org>\n"                           \
	"Cc: Carl <carl@z.example.net>\nSubject: x\n\nbody\n"
#define M_NAME                                                                 \
	"From: =?UTF-8?Q?J=C3=B6rg?= <j@x.example.de>\n"                       \
	"Reply-To: 'Quoted Name' <q@x.example.de>\nSubject: x\n\nbody\n"
#define M_MSGID                                                                \
	"Message-Id: <1@example.com>\nX-Message-Id: <2@example.com>\n"         \
	"Subject: x\n\nbody\n"
#define M_ENVF "Return-Path: <bounce@example.com>\nFrom: a@example.com\n\nb\n"
#define M_ENVF_RCVD                                                            \
	"Received: from x by y\nReturn-Path: <bounce@example.com>\n"           \
	"From: a@example.com\n\nbody\n"
#define M_8BIT "Subject: Caf\xe9 cr\xe8me\nFrom: a@example.com\n\nbody\n"

static const struct hdr_case hdr_cases[] = {
    {"encoded words decoded, the blank between them dropped", M_EW, "Subject",
     SPAM_HDR_DECODED, 1, "Caf\xc3\xa9 \xe2\x82\xac ol\xc3\xa9 !\n"},
    {"encoded words kept in the raw form", M_EW, "Subject", SPAM_HDR_RAW, 1,
     " =?UTF-8?B?Q2Fmw6kg4oKs?= =?ISO-8859-1?Q?_ol=E9?= !\n"},
    {"folded field joined", M_FOLD, "Subject", SPAM_HDR_DECODED, 1,
     "one two three\n"},
    {"folded field raw keeps its folds", M_FOLD, "Subject", SPAM_HDR_RAW, 1,
     " one\n\ttwo\n   three\n"},
    {"field names are case-insensitive", M_FOLD, "sUBJECT", SPAM_HDR_DECODED, 1,
     "one two three\n"},
    {"two Received fields joined", M_RCVD, "Received", SPAM_HDR_DECODED, 1,
     "from a.example by b.example; Mon, 1 Jan 2024 00:00:00 +0000\n"
     "from c.example by d.example\n"},
    {"From:addr", M_ADDR, "From", SPAM_HDR_ADDR, 1, "john@example.org"},
    {"From:name with a comma in quotes", M_ADDR, "From", SPAM_HDR_NAME, 1,
     "Doe, John"},
    {"To:addr gives every address", M_ADDR, "To", SPAM_HDR_ADDR, 1,
     "a@x.example.com\nb@y.example.org"},
    {"To:name gives the names there are", M_ADDR, "To", SPAM_HDR_NAME, 1, "B"},
    {"ToCc is To and Cc", M_ADDR, "ToCc", SPAM_HDR_DECODED, 1,
     "a@x.example.com, B <b@y.example.org>\nCarl <carl@z.example.net>\n"},
    {"ToCc:addr", M_ADDR, "ToCc", SPAM_HDR_ADDR, 1,
     "a@x.example.com\nb@y.example.org\ncarl@z.example.net"},
    {"encoded display name decoded", M_NAME, "From", SPAM_HDR_NAME, 1,
     "J\xc3\xb6rg"},
    {"one level of single quotes off a name", M_NAME, "Reply-To", SPAM_HDR_NAME,
     1, "Quoted Name"},
    {"MESSAGEID: X-Message-Id first", M_MSGID, "MESSAGEID", SPAM_HDR_DECODED, 1,
     "<2@example.com>\n<1@example.com>\n"},
    {"MESSAGEID:addr", M_MSGID, "MESSAGEID", SPAM_HDR_ADDR, 1,
     "2@example.com\n1@example.com"},
    {"EnvelopeFrom from Return-Path", M_ENVF, "EnvelopeFrom", SPAM_HDR_DECODED,
     1, "bounce@example.com"},
    {"no EnvelopeFrom from a Return-Path after a Received", M_ENVF_RCVD,
     "EnvelopeFrom", SPAM_HDR_DECODED, 0, ""},
    {"ALL: every field, decoded, in order", M_FOLD, "ALL", SPAM_HDR_DECODED, 1,
     "Subject: one two three\nFrom: a@example.com\n"},
    {"ALL:raw: the fields as received", M_FOLD, "ALL", SPAM_HDR_RAW, 1,
     "Subject: one\n\ttwo\n   three\nFrom: a@example.com\n"},
    {"8-bit header read as Windows-1252", M_8BIT, "Subject", SPAM_HDR_DECODED,
     1, "Caf\xc3\xa9 cr\xc3\xa8me\n"},
    {"8-bit header raw stays octets", M_8BIT, "Subject", SPAM_HDR_RAW, 1,
     " Caf\xe9 cr\xe8me\n"},
    {"a missing field", M_FOLD, "X-Nothing", SPAM_HDR_DECODED, 0, ""},
    {"relay pseudo header, no relay parsed", M_RCVD,
     "X-Spam-Relays-External", SPAM_HDR_DECODED, 1, ""},
    {"an empty field is there", "Subject:\nFrom: a@example.com\n\nb\n",
     "Subject", SPAM_HDR_DECODED, 1, "\n"},
    {"CRLF message: values end in LF",
     "Subject: a\r\n b\r\nFrom: x@example.com\r\n\r\nbody\r\n", "Subject",
     SPAM_HDR_RAW, 1, " a\n b\n"},
    {"no header at all", "\n\nbody only\n", "ALL", SPAM_HDR_DECODED, 0, ""},
    {"padded B words joined whole (GMime 3.2.13's bug worked around)",
     "Subject: =?UTF-8?B?SGVsbG8=?= =?UTF-8?B?IHdvcmxk?= =?UTF-8?B?w6k=?=\n"
     "\nb\n",
     "Subject", SPAM_HDR_DECODED, 1, "Hello world\xc3\xa9\n"},
    {"ISO-8859-1 word read as Windows-1252",
     "Subject: =?iso-8859-1?q?=93q=94?=\n\nb\n", "Subject", SPAM_HDR_DECODED, 1,
     "\xe2\x80\x9cq\xe2\x80\x9d\n"},
    {"a word without '@' is a name, not an address",
     "To: test, <x@example.com>\n\nb\n", "To", SPAM_HDR_ADDR, 1,
     "x@example.com"},
    {"a word without '@' given as the name", "To: test\n\nb\n", "To",
     SPAM_HDR_NAME, 1, "test"},
    {"a phrase without an address is a name",
     "From: =?utf-8?q?J=C3=B6rg?= Doe\n\nb\n", "From", SPAM_HDR_NAME, 1,
     "J\xc3\xb6rg Doe"},
    {"group members' addresses, not the group name",
     "To: friends: a@example.com, B <b@example.org>;\n\nb\n", "To",
     SPAM_HDR_ADDR, 1, "a@example.com\nb@example.org"},
    {"a name that is the address is no name",
     "From: a@example.com <a@example.com>\n\nb\n", "From", SPAM_HDR_NAME, 0,
     ""},
    {"a header without body still has ALL:raw",
     "Subject: s\nFrom: a@example.com\n", "ALL", SPAM_HDR_RAW, 1,
     "Subject: s\nFrom: a@example.com\n"},
    {"mbox From line skipped",
     "From someone@example.com Mon Jan  1 00:00:00 2024\nSubject: s\n\nb\n",
     "ALL", SPAM_HDR_DECODED, 1, "Subject: s\n"},
};

static void
test_headers(void **state)
{
	struct spam_text t;
	struct spam_msg *m;
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_LEN(hdr_cases); i++) {
		const struct hdr_case *c = &hdr_cases[i];
		char *got;

		m = spam_msg_new(c->msg, strlen(c->msg));
		ret = spam_msg_header(m, c->field, c->form, &t);
		got = xstrndup(t.s, t.len);
		check_int(c->name, "return", ret, c->ret);
		check_str(c->name, "text", got, c->want);
		check_int(c->name, "length", (long long)t.len,
		          (long long)strlen(c->want));
		check_int(c->name, "NUL after", t.s[t.len], 0);
		free(got);
		spam_msg_free(&m);
		assert_null(m);
	}
}

/* A second call gives the same text (from the cache). */
static void
test_header_again(void **state)
{
	struct spam_msg *m = spam_msg_new(M_ADDR, strlen(M_ADDR));
	struct spam_text a, b;

	assert_int_equal(spam_msg_header(m, "To", SPAM_HDR_ADDR, &a), 1);
	assert_int_equal(spam_msg_header(m, "To", SPAM_HDR_ADDR, &b), 1);
	assert_ptr_equal(a.s, b.s);
	assert_int_equal(spam_msg_header(m, "To", SPAM_HDR_RAW, &b), 1);
	check_str("raw after addr", "text", b.s,
	          " a@x.example.com, B <b@y.example.org>\n");
	spam_msg_free(&m);
}

/*
 * Body, rawbody, URIs
 */

struct view_case {
	const char *name;
	const char *msg;
	size_t len;                 /* 0: strlen(msg) */
	const char *want[WANT_MAX]; /* NULL-terminated */
};

#define M_NUL "Subject: Z\n\nnul\0here\n"

static const struct view_case body_cases[] = {
    {"plain text: Subject first, paragraphs, white space squeezed",
     "Subject: Test\n\nHello\nworld\n\n\nSecond   para\nline\n",
     0,
     {"Test\n", "Hello world\n", "Second para line ", NULL}},
    {"base64 part decoded",
     "Subject: B64\nContent-Type: text/plain; charset=utf-8\n"
     "Content-Transfer-Encoding: base64\n\nSGVsbG8gd29ybGQsIGNhZsOpIQo=\n",
     0,
     {"B64\n", "Hello world, caf\xc3\xa9! ", NULL}},
    {"quoted-printable part decoded, ISO-8859-1 made UTF-8",
     "Subject: QP\nContent-Type: text/plain; charset=iso-8859-1\n"
     "Content-Transfer-Encoding: quoted-printable\n\n"
     "Soft=\n break and caf=E9 =3D ok\n",
     0,
     {"QP\n", "Soft break and caf\xc3\xa9 = ok ", NULL}},
    {"ISO-8859-1 text made UTF-8",
     "Subject: L1\nContent-Type: text/plain; charset=ISO-8859-1\n\n"
     "na\xefve caf\xe9\n",
     0,
     {"L1\n", "na\xc3\xafve caf\xc3\xa9 ", NULL}},
    {"HTML rendered: tags, script and style gone, entities decoded, "
     "<p>, <br>, <div> and <title> break",
     "Subject: H\nContent-Type: text/html; charset=utf-8\n\n"
     "<html><head><title>T</title><style>p{color:red}</style></head>"
     "<body><p>Hello&nbsp;<b>big</b> &amp; world</p>line1<br>line2"
     "<script>var x;</script> &eacute;&#x263a;<div>end</div></body>"
     "</html>\n",
     0,
     {"H\n", "\n", "T\n", "Hello big & world\n",
      "line1 line2 \xc3\xa9\xe2\x98\xba end ", NULL}},
    {"nested multipart: every text leaf in order, the image skipped",
     "Subject: N\nMIME-Version: 1.0\n"
     "Content-Type: multipart/mixed; boundary=\"outer\"\n\n--outer\n"
     "Content-Type: multipart/alternative; boundary=\"inner\"\n\n"
     "--inner\nContent-Type: text/plain\n\nplain text\n--inner\n"
     "Content-Type: text/html\n\n<p>html <i>text</i></p>\n--inner--\n"
     "--outer\nContent-Type: image/gif\nContent-Transfer-Encoding: base64"
     "\n\nR0lGODlhAQABAAAAACw=\n--outer\nContent-Type: text/plain\n\n"
     "footer\n--outer--\n",
     0,
     {"N\n", "plain text\n", "html text\n", "footer", NULL}},
    {"no body", "Subject: E\n", 0, {"E\n", NULL}},
    {"no Subject: an empty first line",
     "\nbody text\n",
     0,
     {"\n", "body text ", NULL}},
    {"missing closing boundary: the last part runs to the end (one "
     "line break between parts)",
     "Subject: M\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
     "Content-Type: text/plain\n\nfirst\n--b\n\nsecond\nlast line\n",
     0,
     {"M\n", "first second last line ", NULL}},
    {"unknown charset read as Windows-1252",
     "Subject: U\nContent-Type: text/plain; charset=x-nothing\n\n"
     "caf\xe9 \x93q\x94\n",
     0,
     {"U\n", "caf\xc3\xa9 \xe2\x80\x9cq\xe2\x80\x9d ", NULL}},
    {"valid UTF-8 wins over the declared charset",
     "Subject: U\nContent-Type: text/plain; charset=iso-8859-1\n\n"
     "caf\xc3\xa9\n",
     0,
     {"U\n", "caf\xc3\xa9 ", NULL}},
    {"a .html attachment is rendered",
     "Subject: A\nContent-Type: application/octet-stream; "
     "name=\"x.html\"\n\n<b>bold</b> text\n",
     0,
     {"A\n", "bold text ", NULL}},
    {"a multipart without a boundary is text/plain",
     "Subject: W\nContent-Type: multipart/mixed\n\nno boundary text\n",
     0,
     {"W\n", "no boundary text ", NULL}},
    {"a type starting with \"text\" GMime cannot parse is text/plain",
     "Subject: T\nContent-Type: text plain\n\ntotally <br> natural\n",
     0,
     {"T\n", "totally <br> natural ", NULL}},
    {"the header ends at a \"--\" line (a boundary without a blank line)",
     "Subject: D\nContent-Type: multipart/alternative; boundary=\"-x\"\n"
     "---x\nContent-Type: text/plain\n\nfirst\n---x--\n",
     0,
     {"D\n", "first", NULL}},
    {"no header GMime reads: the text is the body",
     "HELO example.com\nMAIL FROM:<a@example.com>\nDATA\nSubject: s\n\n"
     "hi\n",
     0,
     {"\n", "HELO example.com MAIL FROM:<a@example.com> DATA Subject: s\n",
      "hi ", NULL}},
    {"multipart/digest parts without a type are messages",
     "Subject: G\nContent-Type: multipart/digest; boundary=d\n\n--d\n\n"
     "Subject: inner\n\ndigest body\n--d--\n",
     0,
     {"G\n", "digest body", NULL}},
    {"uuencode undone",
     "Subject: V\nContent-Type: text/plain\n"
     "Content-Transfer-Encoding: x-uuencode\n\nbegin 644 a.txt\n"
     "%:&5L;&\\*\n`\nend\n",
     0,
     {"V\n", "hello", NULL}},
    {"NUL octets become line breaks",
     M_NUL,
     sizeof(M_NUL) - 1,
     {"Z\n", "nul\n", "here ", NULL}},
};

static const struct view_case rawbody_cases[] = {
    {"HTML kept as it is",
     "Subject: H\nContent-Type: text/html\n\n<p>Hi &amp; bye</p>\n",
     0,
     {"<p>Hi &amp; bye</p>\n", NULL}},
    {"base64 decoded, CRLF made LF",
     "Subject: B\nContent-Type: text/plain\n"
     "Content-Transfer-Encoding: base64\n\nYQ0KYg0K\n",
     0,
     {"a\nb\n", NULL}},
    {"not converted: ISO-8859-1 stays octets",
     "Subject: L\nContent-Type: text/plain; charset=iso-8859-1\n\n"
     "caf\xe9\n",
     0,
     {"caf\xe9\n", NULL}},
    {"non-text parts and text/calendar left out",
     "Subject: N\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
     "Content-Type: text/calendar\n\nBEGIN:VCALENDAR\n--b\n"
     "Content-Type: application/pdf\n\n%PDF\n--b\n"
     "Content-Type: message/delivery-status\n\nStatus: 5.0.0\n--b--\n",
     0,
     {"Status: 5.0.0", NULL}},
    /* GMime keeps blanks at the end of a quoted-printable line, where
     * SpamAssassin (RFC 2045 6.7 rule 3) drops them */
    {"quoted-printable: blanks before a line end kept (GMime)",
     "Subject: Q\nContent-Type: text/plain\n"
     "Content-Transfer-Encoding: quoted-printable\n\na=3Db  \nc\n",
     0,
     {"a=b  \nc\n", NULL}},
    {"long text in pieces cut at line ends",
     "Subject: L\n\n"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
     0,
     {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
      NULL}},
};

static const struct view_case uri_cases[] = {
    {"URIs from text: www., a port, an address",
     "Subject: U\n\nvisit www.example.com/x, or "
     "http://example.net:80/p?q=1 and mail me@example.org.\n",
     0,
     {"http://www.example.com/x", "http://example.net:80/p?q=1",
      "http://example.net/p?q=1", "mailto:me@example.org", NULL}},
    {"URIs from HTML: href, src, a redirector's target",
     "Subject: U\nContent-Type: text/html\n\n"
     "<a href=\"http://example.net/a?b\">l</a>"
     "<img src=\"//cdn.example.org/i.gif\">"
     "<a href=\"http://www.google.com/url?q=http://target.example.com/x"
     "&sa=D\">g</a>\n",
     0,
     {"http://example.net/a?b", "//cdn.example.org/i.gif",
      "http:////cdn.example.org/i.gif",
      "http://www.google.com/url?q=http://target.example.com/x&sa=D",
      "http://target.example.com/x", NULL}},
    {"a relative link resolved against <base>",
     "Subject: U\nContent-Type: text/html\n\n"
     "<base href=\"http://base.example.com/dir/index.html\">"
     "<a href=\"rel/x.html\">r</a>\n",
     0,
     {"http://base.example.com/dir/index.html",
      "http://base.example.com/dir/rel/x.html", "rel/x.html",
      "http://rel/x.html", "http://www.rel.com/x.html", NULL}},
    {"a host without a known TLD is no URI in text",
     "Subject: U\n\nsee foo.invalidtld and bar@baz.nothing\n",
     0,
     {NULL}},
    {"entities and %-escapes decoded in a variant",
     "Subject: U\nContent-Type: text/html\n\n"
     "<a href=\"http://%77ww.example.com/&#x2e;\">x</a>\n",
     0,
     {"http://%77ww.example.com/.", "http://www.example.com/.",
      "http://%77ww.example.com/", "http://www.example.com/", NULL}},
};

static size_t
want_count(const char *const *want)
{
	size_t n = 0;

	while (n < WANT_MAX && want[n] != NULL)
		n++;
	return n;
}

static void
check_list(const char *name, const struct spam_text *v, size_t n,
           const char *const *want)
{
	size_t i, nw = want_count(want);

	check_int(name, "count", (long long)n, (long long)nw);
	for (i = 0; i < n && i < nw; i++) {
		char *got = xstrndup(v[i].s, v[i].len);

		check_str(name, "piece", got, want[i]);
		check_int(name, "piece length", (long long)v[i].len,
		          (long long)strlen(want[i]));
		free(got);
	}
}

static size_t
case_len(const struct view_case *c)
{
	return c->len != 0 ? c->len : strlen(c->msg);
}

static void
test_body(void **state)
{
	const struct spam_text *v;
	struct spam_msg *m;
	size_t i, n;

	for (i = 0; i < ARRAY_LEN(body_cases); i++) {
		const struct view_case *c = &body_cases[i];

		m = spam_msg_new(c->msg, case_len(c));
		v = spam_msg_body(m, &n);
		check_list(c->name, v, n, c->want);
		spam_msg_free(&m);
	}
}

static void
test_rawbody(void **state)
{
	const struct spam_text *v;
	struct spam_msg *m;
	size_t i, n;

	for (i = 0; i < ARRAY_LEN(rawbody_cases); i++) {
		const struct view_case *c = &rawbody_cases[i];

		m = spam_msg_new(c->msg, case_len(c));
		v = spam_msg_rawbody(m, &n);
		check_list(c->name, v, n, c->want);
		spam_msg_free(&m);
	}
}

static int
has_text(const struct spam_text *v, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (v[i].len == strlen(s) && memcmp(v[i].s, s, v[i].len) == 0)
			return 1;
	}
	return 0;
}

static void
test_uris(void **state)
{
	const struct spam_text *v;
	struct spam_msg *m;
	size_t i, k, n;

	for (i = 0; i < ARRAY_LEN(uri_cases); i++) {
		const struct view_case *c = &uri_cases[i];

		m = spam_msg_new(c->msg, case_len(c));
		v = spam_msg_uris(m, &n);
		check_int(c->name, "count", (long long)n,
		          (long long)want_count(c->want));
		for (k = 0; c->want[k] != NULL; k++) {
			if (has_text(v, n, c->want[k]))
				continue;
			print_error("%s: %s missing\n", c->name, c->want[k]);
			fail();
		}
		spam_msg_free(&m);
	}
}

static void
test_full(void **state)
{
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	struct spam_msg *m = spam_msg_new(msg, sizeof(msg) - 1);
	struct spam_text t = spam_msg_full(m);

	assert_int_equal(t.len, sizeof(msg) - 1);
	assert_memory_equal(t.s, msg, t.len);
	assert_ptr_not_equal(t.s, msg);
	assert_int_equal(t.s[t.len], '\0');
	spam_msg_free(&m);
}

/* CRLF and LF line ends give the same views. */
static void
test_crlf(void **state)
{
	static const char lf[] =
	    "Subject: s\nContent-Type: multipart/mixed; boundary=b\n\n"
	    "--b\nContent-Type: text/html\n\n<p>a</p>b\n--b--\n";
	struct spam_msg *a = spam_msg_new(lf, sizeof(lf) - 1), *b;
	const struct spam_text *va, *vb;
	char crlf[256];
	size_t i, j = 0, na, nb;

	for (i = 0; lf[i] != '\0'; i++) {
		if (lf[i] == '\n')
			crlf[j++] = '\r';
		crlf[j++] = lf[i];
	}
	b = spam_msg_new(crlf, j);
	va = spam_msg_body(a, &na);
	vb = spam_msg_body(b, &nb);
	assert_int_equal(na, nb);
	for (i = 0; i < na; i++)
		check_str("crlf body", "piece", vb[i].s, va[i].s);
	va = spam_msg_rawbody(a, &na);
	vb = spam_msg_rawbody(b, &nb);
	assert_int_equal(na, nb);
	check_str("crlf rawbody", "piece", vb[0].s, va[0].s);
	spam_msg_free(&a);
	spam_msg_free(&b);
}

/*
 * The corpus
 */

/* Every view of m, checked for what the matcher relies on: each piece
 * NUL-terminated, body lines within SpamAssassin's bound. */
static void
check_views(const char *name, struct spam_msg *m)
{
	static const char *const fields[] = {
	    "ALL",       "Subject",      "From", "ToCc",
	    "MESSAGEID", "EnvelopeFrom", NULL};
	const struct spam_text *v;
	struct spam_text t;
	size_t i, n;
	int f, k;

	for (k = 0; fields[k] != NULL; k++) {
		for (f = SPAM_HDR_DECODED; f <= SPAM_HDR_NAME; f++) {
			spam_msg_header(m, fields[k], (enum spam_hdr_form)f,
			                &t);
			check_int(name, "header NUL", t.s[t.len], 0);
		}
	}
	v = spam_msg_body(m, &n);
	for (i = 0; i < n; i++) {
		check_int(name, "body NUL", v[i].s[v[i].len], 0);
		/* SpamAssassin cuts after a space at offset 2048 at most:
		 * 2049 octets */
		if (v[i].len > 2049)
			check_int(name, "body line length", (long long)v[i].len,
			          2049);
	}
	v = spam_msg_rawbody(m, &n);
	for (i = 0; i < n; i++)
		check_int(name, "rawbody NUL", v[i].s[v[i].len], 0);
	v = spam_msg_uris(m, &n);
	for (i = 0; i < n; i++)
		check_int(name, "uri NUL", v[i].s[v[i].len], 0);
}

static void
check_file(const char *path)
{
	struct spam_msg *m;
	size_t len;
	char *data = unit_read_file(path, &len);

	m = spam_msg_new(data, len);
	check_views(path, m);
	spam_msg_free(&m);
	free(data);
}

static int
name_matches(const char *name, const char *prefix, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return strncmp(name, prefix, strlen(prefix)) == 0 && n >= s &&
	       strcmp(name + n - s, suffix) == 0;
}

/* Every file of a corpus directory whose name fits; returns how many. */
static int
check_dir(const char *dir, const char *prefix, const char *suffix)
{
	char path[UNIT_PATH_MAX];
	struct dirent *e;
	DIR *d;
	int n = 0;

	d = opendir(unit_corpus_path(dir));
	if (d == NULL) {
		print_message("corpus %s missing, skipped\n", dir);
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (!name_matches(e->d_name, prefix, suffix))
			continue;
		snprintf(path, sizeof(path), "%s/%s", unit_corpus_path(dir),
		         e->d_name);
		check_file(path);
		n++;
	}
	closedir(d);
	return n;
}

/* Broken MIME parses: SpamAssassin's badmime samples, mime4j's test
 * messages (every one of them). */
static void
test_broken_corpus(void **state)
{
	int n;

	n = check_dir("mail/spamassassin/spam", "badmime", ".txt");
	assert_true(n != 0);
	n = check_dir("mail/mime4j/testmsgs", "", ".msg");
	assert_true(n != 0);
	n = check_dir("mail/nodemailer-mailparser", "", ".eml");
	assert_true(n != 0);
}

/* Every file under dir (subdirectories to depth 4): each parses and
 * gives views without a crash; returns how many. */
static int
check_tree(const char *dir, int depth)
{
	char path[UNIT_PATH_MAX];
	struct dirent *e;
	struct stat st;
	DIR *d;
	int n = 0;

	d = opendir(dir);
	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode) && depth < 4)
			n += check_tree(path, depth + 1);
		else if (S_ISREG(st.st_mode)) {
			check_file(path);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* The whole mail corpus, every file GMime is handed. */
static void
test_whole_corpus(void **state)
{
	static const char *const dirs[] = {"mail/spamassassin", "mail/mime4j",
	                                   "mail/nodemailer-mailparser",
	                                   "mail/gmime", NULL};
	char dir[UNIT_PATH_MAX];
	int i;

	for (i = 0; dirs[i] != NULL; i++) {
		if (!unit_corpus_has(dirs[i]))
			continue;
		snprintf(dir, sizeof(dir), "%s", unit_corpus_path(dirs[i]));
		assert_true(check_tree(dir, 0) > 0);
	}
}

/* SpamAssassin's own views of two corpus messages. */
static void
test_corpus_as_sa(void **state)
{
	static const char bad[] = "mail/spamassassin/spam/badmime.txt";
	static const char mime4[] = "mail/spamassassin/nice/mime4";
	const struct spam_text *v;
	struct spam_msg *m;
	struct spam_text t;
	size_t len, n;
	char *data;

	if (!unit_corpus_has(bad) || !unit_corpus_has(mime4))
		return;
	data = unit_read_file(unit_corpus_path(bad), &len);
	m = spam_msg_new(data, len);
	v = spam_msg_body(m, &n);
	assert_int_equal(n, 11);
	check_str(bad, "body[0]", v[0].s,
	          "To get on the cheer squad I, licked a lot of pus...\n");
	check_str(bad, "body[2]", v[2].s,
	          "http://harder-please.com/forward/LSU.htm\n");
	spam_msg_rawbody(m, &n);
	assert_int_equal(n, 3);
	v = spam_msg_uris(m, &n);
	assert_int_equal(n, 20);
	assert_true(has_text(v, n,
	                     "http://www.harder-please.com/lsu/1/"
	                     "index_01.jpg"));
	assert_true(has_text(v, n,
	                     "http://sexmailnetwork.com/count.cgi?"
	                     "queue_id=1024516018.4603"));
	assert_int_equal(spam_msg_header(m, "From", SPAM_HDR_ADDR, &t), 1);
	check_str(bad, "From:addr", t.s,
	          "newsletter-joh.dokler=nsc.ijs.si@linksandmail.com");
	spam_msg_free(&m);
	free(data);

	data = unit_read_file(unit_corpus_path(mime4), &len);
	m = spam_msg_new(data, len);
	v = spam_msg_body(m, &n);
	assert_int_equal(n, 2);
	check_str(mime4, "body[1]", v[1].s, "Well, here's a sample ");
	v = spam_msg_rawbody(m, &n);
	assert_int_equal(n, 1);
	check_str(mime4, "rawbody[0]", v[0].s, "Well, here's a sample");
	spam_msg_free(&m);
	free(data);
}

/*
 * Bounds
 */

static char *
repeat(const char *head, const char *piece, size_t times, const char *tail,
       size_t *len_r)
{
	size_t hl = strlen(head), pl = strlen(piece), tl = strlen(tail);
	char *s = xmalloc(hl + pl * times + tl + 1), *p = s;
	size_t i;

	memcpy(p, head, hl);
	p += hl;
	for (i = 0; i < times; i++, p += pl)
		memcpy(p, piece, pl);
	memcpy(p, tail, tl + 1);
	*len_r = hl + pl * times + tl;
	return s;
}

/* 3000 parts: at most SPAM_MSG_PARTS_MAX (1000) are walked. */
static void
test_many_parts(void **state)
{
	struct spam_msg *m;
	size_t len, n;
	char *s = repeat("Subject: p\nContent-Type: multipart/mixed; "
	                 "boundary=b\n\n",
	                 "--b\nContent-Type: text/plain\n\nx\n", 3000,
	                 "--b--\n", &len);

	m = spam_msg_new(s, len);
	spam_msg_rawbody(m, &n);
	assert_true(n > 900 && n < 1000);
	spam_msg_free(&m);
	free(s);
}

/* Multiparts nested 200 deep: parsing stops at 20 levels. */
static void
test_deep_nesting(void **state)
{
	struct spam_buf_test {
		char *s;
		size_t len;
	} b = {xmalloc(200 * 64 + 64), 0};
	const struct spam_text *v;
	struct spam_msg *m;
	size_t n;
	int i;

	b.len = (size_t)sprintf(b.s, "Subject: d\n");
	for (i = 0; i < 200; i++)
		b.len += (size_t)sprintf(b.s + b.len,
		                         "Content-Type: multipart/mixed; "
		                         "boundary=b%d\n\n--b%d\n",
		                         i, i);
	b.len += (size_t)sprintf(b.s + b.len, "\ninnermost\n");
	m = spam_msg_new(b.s, b.len);
	v = spam_msg_body(m, &n);
	assert_true(n >= 1);
	check_str("deep nesting", "subject", v[0].s, "d\n");
	check_views("deep nesting", m);
	spam_msg_free(&m);
	free(b.s);
}

/* 5000 distinct links: SPAM_MSG_URIS_MAX (1000) kept. */
static void
test_many_uris(void **state)
{
	struct spam_buf_test {
		char *s;
		size_t len;
	} b = {xmalloc(5000 * 40 + 64), 0};
	struct spam_msg *m;
	size_t n;
	int i;

	b.len = (size_t)sprintf(b.s, "Subject: u\n\n");
	for (i = 0; i < 5000; i++)
		b.len +=
		    (size_t)sprintf(b.s + b.len, "http://h%d.example.com/ ", i);
	m = spam_msg_new(b.s, b.len);
	spam_msg_uris(m, &n);
	assert_int_equal(n, 1000);
	spam_msg_free(&m);
	free(b.s);
}

/* Long lines, many blank lines, a huge header: bounded, no crash. */
static void
test_big_inputs(void **state)
{
	const struct spam_text *v;
	struct spam_msg *m;
	struct spam_text t;
	size_t len, n;
	char *s;

	s = repeat("Subject: l\n\n", "word ", 100000, "\n", &len);
	m = spam_msg_new(s, len);
	v = spam_msg_body(m, &n);
	assert_true(n > 1);
	assert_true(v[1].len <= 2048);
	spam_msg_free(&m);
	free(s);

	s = repeat("Subject: n\n\na\n", "\n", 100, "b\n", &len);
	m = spam_msg_new(s, len);
	v = spam_msg_rawbody(m, &n);
	/* SpamAssassin keeps 20 of a run of blank lines */
	assert_int_equal(n, 1);
	assert_int_equal(v[0].len, strlen("a\n") + 20 + strlen("b\n"));
	spam_msg_free(&m);
	free(s);

	s = repeat("", "X-H: v\n", 5000, "\nbody\n", &len);
	m = spam_msg_new(s, len);
	assert_int_equal(spam_msg_header(m, "X-H", SPAM_HDR_DECODED, &t), 1);
	assert_true(t.len <= 1000 * strlen("v\n"));
	assert_int_equal(spam_msg_header(m, "ALL", SPAM_HDR_DECODED, &t), 1);
	spam_msg_free(&m);
	free(s);

	m = spam_msg_new("", 0);
	check_views("empty message", m);
	spam_msg_free(&m);
	spam_msg_free(&m);
}

/*
 * Threads
 */

static void *
thread_run(void *arg)
{
	static const char msg[] =
	    "Subject: =?iso-8859-1?q?caf=E9?=\nContent-Type: text/html; "
	    "charset=iso-8859-1\n\n<a href=\"http://t.example.com/\">"
	    "caf\xe9</a> www.example.org\n";
	const struct spam_text *v;
	struct spam_msg *m;
	int i, *ok = arg;
	size_t n;

	*ok = 1;
	for (i = 0; i < 50; i++) {
		m = spam_msg_new(msg, sizeof(msg) - 1);
		v = spam_msg_body(m, &n);
		if (n != 2 ||
		    strcmp(v[1].s, "caf\xc3\xa9 www.example.org ") != 0)
			*ok = 0;
		spam_msg_uris(m, &n);
		if (n != 2)
			*ok = 0;
		spam_msg_free(&m);
	}
	return NULL;
}

/* The first messages made on several threads at once share the
 * one-time setup (GMime, the regexes) safely. */
static void
test_threads(void **state)
{
	pthread_t t[8];
	int ok[8], i;

	for (i = 0; i < 8; i++)
		assert_int_equal(
		    pthread_create(&t[i], NULL, thread_run, &ok[i]), 0);
	for (i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		check_int("threads", "views as expected", ok[i], 1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_headers),
	    cmocka_unit_test(test_header_again),
	    cmocka_unit_test(test_body),
	    cmocka_unit_test(test_rawbody),
	    cmocka_unit_test(test_uris),
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_crlf),
	    cmocka_unit_test(test_broken_corpus),
	    cmocka_unit_test(test_whole_corpus),
	    cmocka_unit_test(test_corpus_as_sa),
	    cmocka_unit_test(test_many_parts),
	    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_many_uris),
	    cmocka_unit_test(test_big_inputs),
	};

	return cmocka_run_group_tests_name("spam_msg", tests, NULL, NULL);
}
