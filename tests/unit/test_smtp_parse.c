/*
 * test_smtp_parse.c - command splitting, HELO, MAIL/RCPT paths and
 * parameters, parameter values, xtext, XCLIENT, XFORWARD and UTF-8
 * validation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/smtp_parse.h"
#include "tests/unit/unit.h"

/* rc and, on failure, the reason. */
static void
check_result(const char *name, int rc, const char *error, const char *want)
{
	check_int(name, "return", rc, want == NULL ? 0 : -1);
	if (want != NULL)
		check_str(name, "error", error, want);
}

/* Command lines. */

struct cmd_case {
	const char *name;
	const char *line;
	size_t len; /* 0: strlen(line) */
	const char *error;
	enum smtp_verb verb;
	const char *verb_name;
	const char *args;
};

static const struct cmd_case cmd_cases[] = {
    {"mail", "MAIL FROM:<a@b>", 0, NULL, SMTP_VERB_MAIL, "MAIL", "FROM:<a@b>"},
    {"lowercase verb", "mail FROM:<a@b>", 0, NULL, SMTP_VERB_MAIL, "MAIL",
     "FROM:<a@b>"},
    {"mixed case verb", "eHlO host", 0, NULL, SMTP_VERB_EHLO, "EHLO", "host"},
    {"no arguments", "QUIT", 0, NULL, SMTP_VERB_QUIT, "QUIT", ""},
    {"trailing spaces", "DATA  \t", 0, NULL, SMTP_VERB_DATA, "DATA", ""},
    {"several separating spaces", "HELO   host", 0, NULL, SMTP_VERB_HELO,
     "HELO", "host"},
    {"trailing space after args", "RCPT TO:<a@b> ", 0, NULL, SMTP_VERB_RCPT,
     "RCPT", "TO:<a@b>"},
    {"xclient", "XCLIENT NAME=x", 0, NULL, SMTP_VERB_XCLIENT, "XCLIENT",
     "NAME=x"},
    {"xforward", "xforward ADDR=192.0.2.1", 0, NULL, SMTP_VERB_XFORWARD,
     "XFORWARD", "ADDR=192.0.2.1"},
    {"starttls", "STARTTLS", 0, NULL, SMTP_VERB_STARTTLS, "STARTTLS", ""},
    {"bdat", "BDAT 100 LAST", 0, NULL, SMTP_VERB_BDAT, "BDAT", "100 LAST"},
    {"etrn", "ETRN example.com", 0, NULL, SMTP_VERB_ETRN, "ETRN",
     "example.com"},
    {"unknown verb", "FOOBAR x y", 0, NULL, SMTP_VERB_UNKNOWN, NULL, "x y"},
    {"verb prefix is unknown", "MAI x", 0, NULL, SMTP_VERB_UNKNOWN, NULL, "x"},
    {"empty line", "", 0, "syntax error in command", 0, NULL, NULL},
    {"leading space", " MAIL FROM:<a@b>", 0, "syntax error in command", 0, NULL,
     NULL},
    {"colon after verb", "MAIL:FROM", 0, "syntax error in command", 0, NULL,
     NULL},
    {"digit in verb", "HELO1 x", 0, "syntax error in command", 0, NULL, NULL},
    {"NUL in line", "MA\0IL x", 7, "bad character in command", 0, NULL, NULL},
    {"bare CR in line", "MAIL FROM:<a@b>\rRSET", 0, "bad character in command",
     0, NULL, NULL},
    {"bare LF in line", "NOOP\nRSET", 0, "bad character in command", 0, NULL,
     NULL},
};

static void
test_cmd_parse(void **state)
{
	char line[256];
	struct smtp_cmd cmd;
	const char *error = NULL;
	size_t i, len;
	int rc;

	for (i = 0; i < ARRAY_LEN(cmd_cases); i++) {
		const struct cmd_case *c = &cmd_cases[i];
		len = c->len ? c->len : strlen(c->line);
		memcpy(line, c->line, len);
		line[len] = '\0';
		memset(&cmd, 0, sizeof(cmd));
		rc = smtp_cmd_parse(line, len, &cmd, &error);
		check_result(c->name, rc, error, c->error);
		if (rc < 0)
			continue;
		check_int(c->name, "verb", cmd.verb, c->verb);
		check_str(c->name, "name", cmd.name, c->verb_name);
		check_str(c->name, "args", cmd.args, c->args);
	}
}

/* HELO/EHLO. */

struct helo_case {
	const char *name;
	const char *args;
	const char *error;
	const char *want;
};

static const struct helo_case helo_cases[] = {
    {"domain", "mail.example.com", NULL, "mail.example.com"},
    {"single label", "localhost", NULL, "localhost"},
    {"leading spaces", "  host.example", NULL, "host.example"},
    {"trailing space", "host.example ", NULL, "host.example"},
    {"ipv4 literal", "[127.0.0.1]", NULL, "[127.0.0.1]"},
    {"ipv6 literal", "[IPv6:::1]", NULL, "[IPv6:::1]"},
    {"ipv6 literal lowercase tag", "[ipv6:::1]", NULL, "[ipv6:::1]"},
    {"underscore tolerated", "my_host.example", NULL, "my_host.example"},
    {"trailing dot tolerated", "host.example.", NULL, "host.example."},
    {"utf-8 domain",
     "b\xc3\xbc"
     "cher.example",
     NULL,
     "b\xc3\xbc"
     "cher.example"},
    {"digits only label", "127.0.0.1", NULL, "127.0.0.1"},
    {"empty", "", "missing domain name", NULL},
    {"two tokens", "host extra", "syntax error in domain name", NULL},
    {"bad ipv4 literal", "[127.0.0.256]", "syntax error in domain name", NULL},
    {"bad ipv6 literal", "[IPv6:zz::1]", "syntax error in domain name", NULL},
    {"unclosed literal", "[127.0.0.1", "syntax error in domain name", NULL},
    {"leading hyphen", "-host.example", "syntax error in domain name", NULL},
    {"empty label", "host..example", "syntax error in domain name", NULL},
    {"leading dot", ".host", "syntax error in domain name", NULL},
    {"bad utf-8", "h\xc3\x28.example", "syntax error in domain name", NULL},
    {"slash", "host/x", "syntax error in domain name", NULL},
    {"label of 64",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x",
     "syntax error in domain name", NULL},
};

static void
test_parse_helo(void **state)
{
	char buf[512];
	char *name;
	const char *error = NULL;
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_LEN(helo_cases); i++) {
		const struct helo_case *c = &helo_cases[i];
		snprintf(buf, sizeof(buf), "%s", c->args);
		name = NULL;
		rc = smtp_parse_helo(buf, &name, &error);
		check_result(c->name, rc, error, c->error);
		if (rc == 0)
			check_str(c->name, "name", name, c->want);
	}
}

/* A domain of exactly len octets: labels of 50 "a" and a final one. */
static void
make_domain(char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = i % 51 == 50 ? '.' : 'a';
	if (len > 0 && buf[len - 1] == '.')
		buf[len - 1] = 'b';
	buf[len] = '\0';
}

static void
test_parse_helo_length(void **state)
{
	char buf[300], *name;
	const char *error = NULL;
	int rc;

	make_domain(buf, SMTP_DOMAIN_MAX);
	check_int("helo of 255", "return", smtp_parse_helo(buf, &name, &error),
	          0);
	make_domain(buf, SMTP_DOMAIN_MAX + 1);
	rc = smtp_parse_helo(buf, &name, &error);
	check_result("helo of 256", rc, error, "domain name too long");
}

/* MAIL and RCPT. */

struct path_case {
	const char *name;
	int rcpt;
	const char *args;
	const char *error;
	const char *address;
	int utf8;
	const char *params; /* "KEY=value KEY" as parsed */
};

static const struct path_case path_cases[] = {
    {"plain", 0, "FROM:<user@example.com>", NULL, "user@example.com", 0, ""},
    {"lowercase from", 0, "from:<user@example.com>", NULL, "user@example.com",
     0, ""},
    {"null reverse path", 0, "FROM:<>", NULL, "", 0, ""},
    {"requiretls", 0, "FROM:<user@example.com> REQUIRETLS", NULL,
     "user@example.com", 0, "REQUIRETLS"},
    {"requiretls lowercase with size", 0,
     "FROM:<user@example.com> SIZE=10 requiretls", NULL, "user@example.com", 0,
     "SIZE=10 requiretls"},
    {"requiretls twice", 0, "FROM:<user@example.com> REQUIRETLS REQUIRETLS",
     "duplicate ESMTP parameter", NULL, 0, NULL},
    {"null reverse path with params", 0, "FROM:<> RET=HDRS ENVID=a+2Bb", NULL,
     "", 0, "RET=HDRS ENVID=a+2Bb"},
    {"space after colon", 0, "FROM: <user@example.com>", NULL,
     "user@example.com", 0, ""},
    {"no brackets", 0, "FROM:user@example.com", NULL, "user@example.com", 0,
     ""},
    {"no brackets with params", 0, "FROM:user@example.com SIZE=10", NULL,
     "user@example.com", 0, "SIZE=10"},
    {"dot string", 0, "FROM:<first.last@example.com>", NULL,
     "first.last@example.com", 0, ""},
    {"every atext", 0, "FROM:<!#$%&'*+-/=?^_`{|}~@example.com>", NULL,
     "!#$%&'*+-/=?^_`{|}~@example.com", 0, ""},
    {"quoted local part", 0, "FROM:<\"john doe\"@example.com>", NULL,
     "\"john doe\"@example.com", 0, ""},
    {"quoted pair", 0, "FROM:<\"a\\\"b\"@example.com>", NULL,
     "\"a\\\"b\"@example.com", 0, ""},
    {"quoted angle bracket", 0, "FROM:<\"a>b\"@example.com> SIZE=1", NULL,
     "\"a>b\"@example.com", 0, "SIZE=1"},
    {"quoted without brackets", 0, "FROM:\"a b\"@example.com", NULL,
     "\"a b\"@example.com", 0, ""},
    {"ipv4 literal", 0, "FROM:<user@[127.0.0.1]>", NULL, "user@[127.0.0.1]", 0,
     ""},
    {"ipv6 literal", 0, "FROM:<user@[IPv6:::1]>", NULL, "user@[IPv6:::1]", 0,
     ""},
    {"general literal", 0, "FROM:<user@[x-tag:abc]>", NULL, "user@[x-tag:abc]",
     0, ""},
    {"source route dropped", 0, "FROM:<@a.example,@b.example:user@example.com>",
     NULL, "user@example.com", 0, ""},
    {"one hop source route", 0, "FROM:<@a.example:user@example.com>", NULL,
     "user@example.com", 0, ""},
    {"utf-8 local part and domain", 0,
     "FROM:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.example>"
     " SMTPUTF8",
     NULL, "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.example", 1,
     "SMTPUTF8"},
    {"utf-8 in quoted local part", 0, "FROM:<\"j\xc3\xb6rg\"@example.com>",
     NULL, "\"j\xc3\xb6rg\"@example.com", 1, ""},
    {"several params", 0,
     "FROM:<user@example.com> SIZE=1000 BODY=8BITMIME SMTPUTF8", NULL,
     "user@example.com", 0, "SIZE=1000 BODY=8BITMIME SMTPUTF8"},
    {"params separated by several spaces", 0,
     "FROM:<user@example.com>   SIZE=1000  BODY=7BIT", NULL, "user@example.com",
     0, "SIZE=1000 BODY=7BIT"},
    {"utf-8 param value", 0, "FROM:<a@example.com> X-NOTE=\xc3\xa9t\xc3\xa9",
     NULL, "a@example.com", 0, "X-NOTE=\xc3\xa9t\xc3\xa9"},
    {"digit keyword", 0, "FROM:<a@example.com> 8BIT-X=1", NULL, "a@example.com",
     0, "8BIT-X=1"},
    {"sixteen params", 0,
     "FROM:<a@example.com> A B C D E F G H I J K L M N O P", NULL,
     "a@example.com", 0, "A B C D E F G H I J K L M N O P"},

    {"rcpt", 1, "TO:<user@example.com>", NULL, "user@example.com", 0, ""},
    {"rcpt postmaster", 1, "TO:<postmaster>", NULL, "postmaster", 0, ""},
    {"rcpt Postmaster any case", 1, "to:<PostMaster>", NULL, "PostMaster", 0,
     ""},
    {"rcpt postmaster without brackets", 1, "TO:postmaster NOTIFY=NEVER", NULL,
     "postmaster", 0, "NOTIFY=NEVER"},
    {"rcpt postmaster with domain", 1, "TO:<postmaster@example.com>", NULL,
     "postmaster@example.com", 0, ""},
    {"rcpt dsn params", 1,
     "TO:<u@example.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u@example.com",
     NULL, "u@example.com", 0,
     "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u@example.com"},

    {"rcpt null path", 1, "TO:<>", "null address not allowed", NULL, 0, NULL},
    {"rcpt other local part alone", 1, "TO:<postmistress>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"rcpt with from", 1, "FROM:<a@example.com>", "syntax error, to: expected",
     NULL, 0, NULL},
    {"mail with to", 0, "TO:<a@example.com>", "syntax error, from: expected",
     NULL, 0, NULL},
    {"mail without colon", 0, "FROM <a@example.com>",
     "syntax error, from: expected", NULL, 0, NULL},
    {"missing address", 0, "FROM:", "missing address", NULL, 0, NULL},
    {"missing closing bracket", 0, "FROM:<user@example.com",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"missing opening bracket", 0, "FROM:user@example.com>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"no domain", 0, "FROM:<user>", "syntax error in mailbox address", NULL, 0,
     NULL},
    {"empty domain", 0, "FROM:<user@>", "syntax error in mailbox address", NULL,
     0, NULL},
    {"two at signs", 0, "FROM:<a@b@example.com>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"leading dot", 0, "FROM:<.user@example.com>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"trailing dot in local part", 0, "FROM:<user.@example.com>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"double dot", 0, "FROM:<us..er@example.com>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"space in local part", 0, "FROM:<us er@example.com>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"unterminated quote", 0, "FROM:<\"user@example.com>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"control in quote", 0, "FROM:<\"a\tb\"@example.com>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"parenthesis in local part", 0, "FROM:<us(er)@example.com>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"underscore in domain", 0, "FROM:<user@exa_mple.com>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"hyphen at label start", 0, "FROM:<user@-example.com>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"trailing dot in domain", 0, "FROM:<user@example.com.>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"bad ipv4 literal", 0, "FROM:<user@[300.1.1.1]>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"unclosed literal", 0, "FROM:<user@[127.0.0.1>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"source route without colon", 0, "FROM:<@a.example>",
     "syntax error in source route", NULL, 0, NULL},
    {"source route bad hop", 0, "FROM:<@a.example,b.example:u@example.com>",
     "syntax error in source route", NULL, 0, NULL},
    {"source route without brackets", 0, "FROM:@a.example:u@example.com",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"invalid utf-8", 0, "FROM:<\xff@example.com>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"overlong utf-8", 0, "FROM:<\xc0\xaf@example.com>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"surrogate utf-8", 0, "FROM:<\xed\xa0\x80@example.com>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"truncated utf-8 in domain", 0, "FROM:<a@b\xc3>",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"param glued to path", 0, "FROM:<user@example.com>SIZE=10",
     "syntax error in mailbox address", NULL, 0, NULL},
    {"empty param value", 0, "FROM:<user@example.com> SIZE=",
     "bad ESMTP parameter syntax", NULL, 0, NULL},
    {"empty keyword", 0, "FROM:<user@example.com> =10",
     "bad ESMTP parameter syntax", NULL, 0, NULL},
    {"keyword starting with hyphen", 0, "FROM:<user@example.com> -X=1",
     "bad ESMTP parameter syntax", NULL, 0, NULL},
    {"underscore in keyword", 0, "FROM:<user@example.com> X_Y=1",
     "bad ESMTP parameter syntax", NULL, 0, NULL},
    {"equals in value", 0, "FROM:<user@example.com> SIZE=1=2",
     "bad ESMTP parameter syntax", NULL, 0, NULL},
    {"control in value", 0, "FROM:<user@example.com> X=a\x01",
     "bad ESMTP parameter syntax", NULL, 0, NULL},
    {"bad utf-8 in value", 0, "FROM:<user@example.com> X=\xc3",
     "bad ESMTP parameter syntax", NULL, 0, NULL},
    {"duplicate param", 0, "FROM:<user@example.com> SIZE=10 size=20",
     "duplicate ESMTP parameter", NULL, 0, NULL},
    {"duplicate valueless param", 0,
     "FROM:<user@example.com> SMTPUTF8 SMTPUTF8", "duplicate ESMTP parameter",
     NULL, 0, NULL},
    {"seventeen params", 0,
     "FROM:<a@example.com> A B C D E F G H I J K L M N O P Q",
     "too many ESMTP parameters", NULL, 0, NULL},
};

static void
join_params(const struct smtp_path_cmd *out, char *buf, size_t size)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < out->nparams; i++) {
		const struct smtp_param *p = &out->params[i];
		o += (size_t)snprintf(
		    buf + o, size - o, "%s%s%s%s", i > 0 ? " " : "", p->keyword,
		    p->value ? "=" : "", p->value ? p->value : "");
	}
}

static int
parse_path(int rcpt, char *args, struct smtp_path_cmd *out, const char **error)
{
	return rcpt ? smtp_parse_rcpt(args, out, error)
	            : smtp_parse_mail(args, out, error);
}

static void
test_parse_paths(void **state)
{
	char buf[1024], params[1024];
	struct smtp_path_cmd out;
	const char *error = NULL;
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_LEN(path_cases); i++) {
		const struct path_case *c = &path_cases[i];
		snprintf(buf, sizeof(buf), "%s", c->args);
		rc = parse_path(c->rcpt, buf, &out, &error);
		check_result(c->name, rc, error, c->error);
		if (rc < 0)
			continue;
		check_str(c->name, "address", out.address, c->address);
		check_int(c->name, "utf8", out.utf8, c->utf8);
		join_params(&out, params, sizeof(params));
		check_str(c->name, "params", params, c->params);
	}
}

/* Length limits, built from parts of exact sizes. */
struct length_case {
	const char *name;
	size_t local;  /* local part octets */
	size_t domain; /* domain octets */
	int bracket;
	const char *error;
};

static const struct length_case length_cases[] = {
    {"local part of 64", 64, 20, 1, NULL},
    {"local part of 65", 65, 20, 1, "local part too long"},
    {"path of 256", 64, 189, 1, NULL},
    {"path of 257", 64, 190, 1, "address too long"},
    {"bare path of 256 counting brackets", 64, 189, 0, NULL},
    {"bare path of 257 counting brackets", 64, 190, 0, "address too long"},
    {"domain of 255 makes the path too long", 1, 255, 1, "address too long"},
    {"domain of 256", 1, 256, 1, "domain too long"},
};

static void
test_parse_path_lengths(void **state)
{
	char buf[1024], domain[512];
	struct smtp_path_cmd out;
	const char *error = NULL;
	size_t i, o;
	int rc;

	for (i = 0; i < ARRAY_LEN(length_cases); i++) {
		const struct length_case *c = &length_cases[i];
		o = (size_t)snprintf(buf, sizeof(buf), "FROM:%s",
		                     c->bracket ? "<" : "");
		memset(buf + o, 'u', c->local);
		o += c->local;
		make_domain(domain, c->domain);
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "@%s%s SIZE=1",
		                      domain, c->bracket ? ">" : "");
		rc = smtp_parse_mail(buf, &out, &error);
		check_result(c->name, rc, error, c->error);
		if (rc == 0)
			check_int(c->name, "address length",
			          (long long)strlen(out.address),
			          (long long)(c->local + 1 + c->domain));
	}
}

static void
test_param_find(void **state)
{
	char buf[] = "FROM:<a@example.com> SIZE=10 body=8BITMIME SMTPUTF8";
	struct smtp_path_cmd out;
	const struct smtp_param *p;
	const char *error = NULL;

	assert_int_equal(smtp_parse_mail(buf, &out, &error), 0);
	p = smtp_param_find(&out, "size");
	assert_non_null(p);
	assert_string_equal(p->value, "10");
	p = smtp_param_find(&out, "BODY");
	assert_non_null(p);
	assert_string_equal(p->keyword, "body");
	assert_string_equal(p->value, "8BITMIME");
	p = smtp_param_find(&out, "SMTPUTF8");
	assert_non_null(p);
	assert_null(p->value);
	assert_null(smtp_param_find(&out, "RET"));
	assert_null(smtp_param_find(&out, "SIZ"));
}

/* Parameter values. */

typedef int value_check_cb(const char *value, const char **error_r);

struct value_case {
	const char *name;
	value_check_cb *check;
	const char *value;
	const char *error;
};

static char long_xtext_100[101], long_xtext_101[102];
static char long_orcpt_500[501], long_orcpt_501[502];

static const struct value_case value_cases[] = {
    {"body 7bit", smtp_param_body, "7BIT", NULL},
    {"body 8bitmime lowercase", smtp_param_body, "8bitmime", NULL},
    {"body binarymime", smtp_param_body, "BINARYMIME",
     "bad BODY parameter value"},
    {"body empty", smtp_param_body, "", "bad BODY parameter value"},
    {"ret full", smtp_param_ret, "FULL", NULL},
    {"ret hdrs lowercase", smtp_param_ret, "hdrs", NULL},
    {"ret none", smtp_param_ret, "NONE", "bad RET parameter value"},
    {"envid", smtp_param_envid, "QQ314159", NULL},
    {"envid with hexchar", smtp_param_envid, "a+2Bb", NULL},
    {"envid lowercase hexchar", smtp_param_envid, "a+2bb",
     "bad ENVID parameter value"},
    {"envid cut hexchar", smtp_param_envid, "a+2", "bad ENVID parameter value"},
    {"envid plus alone", smtp_param_envid, "a+", "bad ENVID parameter value"},
    {"envid empty", smtp_param_envid, "", "bad ENVID parameter value"},
    {"envid of 100", smtp_param_envid, long_xtext_100, NULL},
    {"envid of 101", smtp_param_envid, long_xtext_101,
     "bad ENVID parameter value"},
    {"notify never", smtp_param_notify, "NEVER", NULL},
    {"notify never lowercase", smtp_param_notify, "never", NULL},
    {"notify list", smtp_param_notify, "SUCCESS,FAILURE,DELAY", NULL},
    {"notify one", smtp_param_notify, "DELAY", NULL},
    {"notify never in list", smtp_param_notify, "NEVER,SUCCESS",
     "bad NOTIFY parameter value"},
    {"notify duplicate", smtp_param_notify, "SUCCESS,SUCCESS",
     "bad NOTIFY parameter value"},
    {"notify trailing comma", smtp_param_notify, "SUCCESS,",
     "bad NOTIFY parameter value"},
    {"notify empty", smtp_param_notify, "", "bad NOTIFY parameter value"},
    {"notify unknown", smtp_param_notify, "SOMETIMES",
     "bad NOTIFY parameter value"},
    {"orcpt rfc822", smtp_param_orcpt, "rfc822;user@example.com", NULL},
    {"orcpt with hexchar", smtp_param_orcpt, "rfc822;a+2Bb@example.com", NULL},
    {"orcpt utf-8", smtp_param_orcpt, "utf-8;\xe7\x94\xa8@example.com", NULL},
    {"orcpt utf-8 octets in rfc822", smtp_param_orcpt,
     "rfc822;\xe7\x94\xa8@example.com", "bad ORCPT parameter value"},
    {"orcpt no type", smtp_param_orcpt, ";a@example.com",
     "bad ORCPT parameter value"},
    {"orcpt no address", smtp_param_orcpt, "rfc822;",
     "bad ORCPT parameter value"},
    {"orcpt no semicolon", smtp_param_orcpt, "rfc822",
     "bad ORCPT parameter value"},
    {"orcpt space in type", smtp_param_orcpt, "rfc 822;a@b",
     "bad ORCPT parameter value"},
    {"orcpt of 500", smtp_param_orcpt, long_orcpt_500, NULL},
    {"orcpt of 501", smtp_param_orcpt, long_orcpt_501,
     "bad ORCPT parameter value"},
    {"requiretls without a value", smtp_param_requiretls, NULL, NULL},
    {"requiretls with a value", smtp_param_requiretls, "YES",
     "REQUIRETLS takes no value"},
    {"requiretls with an empty value", smtp_param_requiretls, "",
     "REQUIRETLS takes no value"},
};

static void
fill_long_values(void)
{
	memset(long_xtext_100, 'x', 100);
	memset(long_xtext_101, 'x', 101);
	memcpy(long_orcpt_500, "rfc822;", 7);
	memset(long_orcpt_500 + 7, 'x', 493);
	memcpy(long_orcpt_501, "rfc822;", 7);
	memset(long_orcpt_501 + 7, 'x', 494);
}

static void
test_param_values(void **state)
{
	const char *error = NULL;
	size_t i;
	int rc;

	fill_long_values();
	for (i = 0; i < ARRAY_LEN(value_cases); i++) {
		const struct value_case *c = &value_cases[i];
		rc = c->check(c->value, &error);
		check_result(c->name, rc, error, c->error);
	}
}

struct size_case {
	const char *name;
	const char *value;
	const char *error;
	unsigned long long size;
};

static const struct size_case size_cases[] = {
    {"zero", "0", NULL, 0},
    {"ordinary", "10485760", NULL, 10485760},
    {"largest", "18446744073709551615", NULL, 18446744073709551615ull},
    {"overflow", "18446744073709551616", "bad SIZE parameter value", 0},
    {"21 digits", "000000000000000000001", "bad SIZE parameter value", 0},
    {"empty", "", "bad SIZE parameter value", 0},
    {"negative", "-1", "bad SIZE parameter value", 0},
    {"letters", "12k", "bad SIZE parameter value", 0},
    {"space", "1 2", "bad SIZE parameter value", 0},
};

static void
test_param_size(void **state)
{
	unsigned long long size;
	const char *error = NULL;
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_LEN(size_cases); i++) {
		const struct size_case *c = &size_cases[i];
		size = 12345;
		rc = smtp_param_size(c->value, &size, &error);
		check_result(c->name, rc, error, c->error);
		if (rc == 0 && size != c->size) {
			print_error("%s: size: got %llu, want %llu\n", c->name,
			            size, c->size);
			fail();
		}
	}
}

/* xtext. */

struct xtext_case {
	const char *name;
	const char *in;
	int valid;
	const char *decoded; /* NULL: decoding fails */
};

static const struct xtext_case xtext_cases[] = {
    {"empty", "", 1, ""},
    {"plain", "abc", 1, "abc"},
    {"plus", "a+2Bb", 1, "a+b"},
    {"equals", "+3D", 1, "="},
    {"space and utf-8", "a+20+C3+A9", 1, "a \xc3\xa9"},
    {"nul octet", "a+00", 1, NULL},
    {"bare plus", "+", 0, NULL},
    {"one hex digit", "+2", 0, NULL},
    {"lowercase hex", "+2b", 0, NULL},
    {"not hex", "+GG", 0, NULL},
    {"equals sign", "a=b", 0, NULL},
    {"space", "a b", 0, NULL},
    {"high octet", "\xc3\xa9", 0, NULL},
    {"control", "a\tb", 0, NULL},
};

static void
test_xtext(void **state)
{
	char buf[64];
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_LEN(xtext_cases); i++) {
		const struct xtext_case *c = &xtext_cases[i];
		check_int(c->name, "valid", smtp_xtext_valid(c->in), c->valid);
		rc = smtp_xtext_decode(c->in, buf, sizeof(buf));
		check_int(c->name, "decode", rc, c->decoded ? 0 : -1);
		if (rc == 0)
			check_str(c->name, "decoded", buf, c->decoded);
	}
}

struct xtext_enc_case {
	const char *name;
	const char *in;
	const char *out;
};

static const struct xtext_enc_case xtext_enc_cases[] = {
    {"empty", "", ""},
    {"plain", "mail.example.com", "mail.example.com"},
    {"plus and equals", "a+b=c", "a+2Bb+3Dc"},
    {"space", "a b", "a+20b"},
    {"utf-8", "\xc3\xa9", "+C3+A9"},
    {"control and del", "\x01\x7f", "+01+7F"},
    {"brackets kept", "[UNAVAILABLE]", "[UNAVAILABLE]"},
};

static void
test_xtext_encode(void **state)
{
	char buf[64];
	size_t i;

	for (i = 0; i < ARRAY_LEN(xtext_enc_cases); i++) {
		const struct xtext_enc_case *c = &xtext_enc_cases[i];
		check_int(c->name, "encode",
		          smtp_xtext_encode(c->in, buf, sizeof(buf)), 0);
		check_str(c->name, "encoded", buf, c->out);
	}

	/* Exact fit and one short, both ways. */
	check_int("encode exact fit", "return",
	          smtp_xtext_encode("a b", buf, 6), 0);
	check_int("encode one short", "return",
	          smtp_xtext_encode("a b", buf, 5), -1);
	check_int("encode into nothing", "return",
	          smtp_xtext_encode("", buf, 0), -1);
	check_int("decode exact fit", "return",
	          smtp_xtext_decode("a+20b", buf, 4), 0);
	check_int("decode one short", "return",
	          smtp_xtext_decode("a+20b", buf, 3), -1);
}

static void
test_xtext_round_trip(void **state)
{
	char all[256], enc[1024], dec[256];
	size_t i;

	for (i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	assert_int_equal(smtp_xtext_encode(all, enc, sizeof(enc)), 0);
	check_int("round trip", "encoded valid", smtp_xtext_valid(enc), 1);
	assert_int_equal(smtp_xtext_decode(enc, dec, sizeof(dec)), 0);
	check_int("round trip", "same", memcmp(all, dec, 256), 0);
}

/* XCLIENT. */

/* Hostnames at Postfix's limits: a label of 63, a name of 255. */
#define LABEL63                                                                \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"
#define NAME255 LABEL63 "." LABEL63 "." LABEL63 "." LABEL63

struct xclient_case {
	const char *name;
	const char *args;
	const char *error;
	/* name addr port proto helo login destaddr destport */
	const char *want[8];
};

static const struct xclient_case xclient_cases[] = {
    {"every attribute",
     "NAME=client.example ADDR=127.0.0.1 PORT=4711 PROTO=ESMTP "
     "HELO=client.example LOGIN=user DESTADDR=127.0.0.2 DESTPORT=25",
     NULL,
     {"client.example", "127.0.0.1", "4711", "ESMTP", "client.example", "user",
      "127.0.0.2", "25"}},
    {"lowercase names",
     "name=c.example addr=127.0.0.1",
     NULL,
     {"c.example", "127.0.0.1"}},
    {"ipv6 address",
     "ADDR=IPv6:::1 DESTADDR=ipv6:::1",
     NULL,
     {NULL, "IPv6:::1", NULL, NULL, NULL, NULL, "ipv6:::1"}},
    {"unavailable kept",
     "NAME=[UNAVAILABLE] ADDR=[TEMPUNAVAIL] "
     "PORT=[UNAVAILABLE] LOGIN=[UNAVAILABLE]",
     NULL,
     {"[UNAVAILABLE]", "[TEMPUNAVAIL]", "[UNAVAILABLE]", NULL, NULL,
      "[UNAVAILABLE]"}},
    {"xtext decoded",
     "LOGIN=user+40example.com HELO=+5B127.0.0.1+5D",
     NULL,
     {NULL, NULL, NULL, NULL, "[127.0.0.1]", "user@example.com"}},
    {"login with an encoded space",
     "LOGIN=John+20Smith",
     NULL,
     {NULL, NULL, NULL, NULL, NULL, "John Smith"}},
    {"helo with an encoded space",
     "HELO=a+20b",
     "bad XCLIENT attribute value",
     {NULL}},
    {"login with an encoded tab",
     "LOGIN=a+09b",
     "bad XCLIENT attribute value",
     {NULL}},
    {"port bounds",
     "PORT=0 DESTPORT=65535",
     NULL,
     {NULL, NULL, "0", NULL, NULL, NULL, NULL, "65535"}},
    {"proto smtp lowercase", "PROTO=smtp", NULL, {NULL, NULL, NULL, "smtp"}},
    {"several spaces", "  NAME=a   ADDR=127.0.0.1  ", NULL, {"a", "127.0.0.1"}},

    {"no attributes", "", "missing XCLIENT attributes", {NULL}},
    {"unknown attribute", "NAME=a FOO=b", "bad XCLIENT attribute", {NULL}},
    {"attribute without value", "NAME", "bad XCLIENT attribute", {NULL}},
    {"empty value", "NAME=", "bad XCLIENT attribute value", {NULL}},
    {"duplicate attribute",
     "NAME=a name=b",
     "duplicate XCLIENT attribute",
     {NULL}},
    {"ipv6 without prefix", "ADDR=::1", "bad XCLIENT attribute value", {NULL}},
    {"hostname as addr",
     "ADDR=localhost",
     "bad XCLIENT attribute value",
     {NULL}},
    {"bad ipv4", "ADDR=127.0.0.256", "bad XCLIENT attribute value", {NULL}},
    {"port too big", "PORT=65536", "bad XCLIENT attribute value", {NULL}},
    {"port negative", "PORT=-1", "bad XCLIENT attribute value", {NULL}},
    {"port letters", "PORT=smtp", "bad XCLIENT attribute value", {NULL}},
    {"port six digits",
     "DESTPORT=000025",
     "bad XCLIENT attribute value",
     {NULL}},
    {"unknown proto", "PROTO=HTTP", "bad XCLIENT attribute value", {NULL}},
    {"bad xtext", "NAME=a+2", "bad XCLIENT attribute value", {NULL}},
    {"decoded nul", "NAME=a+00", "bad XCLIENT attribute value", {NULL}},
    {"decoded line feed", "HELO=a+0Ab", "bad XCLIENT attribute value", {NULL}},
    {"name with digits, underscore and inner hyphens",
     "NAME=mail_1.ex--ample.org",
     NULL,
     {"mail_1.ex--ample.org"}},
    {"name one label", "NAME=localhost", NULL, {"localhost"}},
    {"name digits and a hyphen", "NAME=1-2.3", NULL, {"1-2.3"}},
    {"name unavailable any case",
     "NAME=[unavailable]",
     NULL,
     {"[unavailable]"}},
    {"name tempunavail", "NAME=[TEMPUNAVAIL]", NULL, {"[TEMPUNAVAIL]"}},
    {"name label of 63",
     "NAME=" LABEL63 ".example",
     NULL,
     {LABEL63 ".example"}},
    {"name of 255", "NAME=" NAME255, NULL, {NAME255}},
    {"name trailing dot",
     "NAME=host.example.",
     "bad XCLIENT attribute value",
     {NULL}},
    {"name leading dot",
     "NAME=.example",
     "bad XCLIENT attribute value",
     {NULL}},
    {"name empty label",
     "NAME=a..example",
     "bad XCLIENT attribute value",
     {NULL}},
    {"name only a dot", "NAME=.", "bad XCLIENT attribute value", {NULL}},
    {"name label starts with hyphen",
     "NAME=-a.example",
     "bad XCLIENT attribute value",
     {NULL}},
    {"name label ends with hyphen",
     "NAME=a-.example",
     "bad XCLIENT attribute value",
     {NULL}},
    {"name ends with hyphen",
     "NAME=example.a-",
     "bad XCLIENT attribute value",
     {NULL}},
    {"name all numeric",
     "NAME=127.0.0.1",
     "bad XCLIENT attribute value",
     {NULL}},
    {"name one numeric label",
     "NAME=12345",
     "bad XCLIENT attribute value",
     {NULL}},
    {"name ipv6 address",
     "NAME=IPv6:::1",
     "bad XCLIENT attribute value",
     {NULL}},
    {"name address literal",
     "NAME=+5B127.0.0.1+5D",
     "bad XCLIENT attribute value",
     {NULL}},
    {"name other bracket word",
     "NAME=[UNKNOWN]",
     "bad XCLIENT attribute value",
     {NULL}},
    {"name 8-bit",
     "NAME=b+C3+A4r.example",
     "bad XCLIENT attribute value",
     {NULL}},
    {"name slash", "NAME=a/b.example", "bad XCLIENT attribute value", {NULL}},
    {"name label of 64",
     "NAME=" LABEL63 "x.example",
     "bad XCLIENT attribute value",
     {NULL}},
    {"name of 257 in short labels",
     "NAME=a." NAME255,
     "bad XCLIENT attribute value",
     {NULL}},
    {"decoded space in name",
     "NAME=a+20b",
     "bad XCLIENT attribute value",
     {NULL}},
};

static void
test_parse_xclient(void **state)
{
	static const char *const fields[8] = {
	    "name", "addr",  "port",     "proto",
	    "helo", "login", "destaddr", "destport",
	};
	char buf[512];
	struct smtp_xclient x;
	const char *error = NULL;
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_LEN(xclient_cases); i++) {
		const struct xclient_case *c = &xclient_cases[i];
		const char *got[8];
		size_t f;
		snprintf(buf, sizeof(buf), "%s", c->args);
		rc = smtp_parse_xclient(buf, &x, &error);
		check_result(c->name, rc, error, c->error);
		if (rc < 0)
			continue;
		got[0] = x.name;
		got[1] = x.addr;
		got[2] = x.port;
		got[3] = x.proto;
		got[4] = x.helo;
		got[5] = x.login;
		got[6] = x.destaddr;
		got[7] = x.destport;
		for (f = 0; f < 8; f++)
			check_str(c->name, fields[f], got[f], c->want[f]);
	}
}

/* XFORWARD: Postfix's smtpd_proxy_filter and content filters. */

struct xforward_case {
	const char *name;
	const char *args;
	const char *error;
	/* name addr port proto helo ident source */
	const char *want[7];
};

static const struct xforward_case xforward_cases[] = {
    {"what postfix sends",
     "NAME=mail.example ADDR=192.0.2.7 PORT=48010 HELO=client.example "
     "IDENT=4KQ2f PROTO=ESMTP SOURCE=REMOTE",
     NULL,
     {"mail.example", "192.0.2.7", "48010", "ESMTP", "client.example", "4KQ2f",
      "REMOTE"}},
    {"ipv6 address", "ADDR=IPv6:2001:db8::7", NULL, {NULL, "IPv6:2001:db8::7"}},
    {"any protocol word", "PROTO=ESMTPSA", NULL, {NULL, NULL, NULL, "ESMTPSA"}},
    {"unavailable kept",
     "NAME=[UNAVAILABLE] IDENT=[UNAVAILABLE] SOURCE=[UNAVAILABLE]",
     NULL,
     {"[UNAVAILABLE]", NULL, NULL, NULL, NULL, "[UNAVAILABLE]",
      "[UNAVAILABLE]"}},
    {"source local lowercase",
     "source=local",
     NULL,
     {NULL, NULL, NULL, NULL, NULL, NULL, "local"}},
    {"xtext decoded",
     "HELO=+5B192.0.2.7+5D",
     NULL,
     {NULL, NULL, NULL, NULL, "[192.0.2.7]"}},

    {"no attributes", "", "missing XFORWARD attributes", {NULL}},
    {"login is xclient only", "LOGIN=user", "bad XFORWARD attribute", {NULL}},
    {"destaddr is xclient only",
     "DESTADDR=127.0.0.1",
     "bad XFORWARD attribute",
     {NULL}},
    {"duplicate attribute",
     "ADDR=192.0.2.1 addr=192.0.2.2",
     "duplicate XFORWARD attribute",
     {NULL}},
    {"bad source", "SOURCE=ELSEWHERE", "bad XFORWARD attribute value", {NULL}},
    {"hostname as addr",
     "ADDR=localhost",
     "bad XFORWARD attribute value",
     {NULL}},
    {"port too big", "PORT=65536", "bad XFORWARD attribute value", {NULL}},
    {"space in proto",
     "PROTO=E+20SMTP",
     "bad XFORWARD attribute value",
     {NULL}},
    {"decoded line feed in ident",
     "IDENT=a+0Ab",
     "bad XFORWARD attribute value",
     {NULL}},
};

static void
test_parse_xforward(void **state)
{
	static const char *const fields[7] = {
	    "name", "addr", "port", "proto", "helo", "ident", "source",
	};
	char buf[512];
	struct smtp_xclient x;
	const char *error = NULL;
	size_t i;
	int rc;

	for (i = 0; i < ARRAY_LEN(xforward_cases); i++) {
		const struct xforward_case *c = &xforward_cases[i];
		const char *got[7];
		size_t f;
		snprintf(buf, sizeof(buf), "%s", c->args);
		rc = smtp_parse_xforward(buf, &x, &error);
		check_result(c->name, rc, error, c->error);
		if (rc < 0)
			continue;
		got[0] = x.name;
		got[1] = x.addr;
		got[2] = x.port;
		got[3] = x.proto;
		got[4] = x.helo;
		got[5] = x.ident;
		got[6] = x.source;
		for (f = 0; f < 7; f++)
			check_str(c->name, fields[f], got[f], c->want[f]);
		check_str(c->name, "login", x.login, NULL);
	}
}

/* XCLIENT takes none of XFORWARD's own attributes. */
static void
test_parse_xclient_not_xforward(void **state)
{
	static const char *const args[] = {"IDENT=4KQ2f", "SOURCE=REMOTE",
	                                   "PROTO=ESMTPSA"};
	char buf[64];
	struct smtp_xclient x;
	const char *error = NULL;
	size_t i;

	for (i = 0; i < ARRAY_LEN(args); i++) {
		snprintf(buf, sizeof(buf), "%s", args[i]);
		check_int(args[i], "return",
		          smtp_parse_xclient(buf, &x, &error), -1);
	}
}

/* UTF-8. */

struct utf8_case {
	const char *name;
	const char *s;
	int valid;
};

static const struct utf8_case utf8_cases[] = {
    {"empty", "", 1},
    {"ascii", "abc", 1},
    {"two octets", "\xc3\xa9", 1},
    {"three octets", "\xe2\x82\xac", 1},
    {"four octets", "\xf0\x90\x8d\x88", 1},
    {"largest code point", "\xf4\x8f\xbf\xbf", 1},
    {"last before surrogates", "\xed\x9f\xbf", 1},
    {"first after surrogates", "\xee\x80\x80", 1},
    {"smallest two octets", "\xc2\x80", 1},
    {"smallest three octets", "\xe0\xa0\x80", 1},
    {"smallest four octets", "\xf0\x90\x80\x80", 1},
    {"above U+10FFFF", "\xf4\x90\x80\x80", 0},
    {"F5 lead", "\xf5\x80\x80\x80", 0},
    {"FF octet", "\xff", 0},
    {"overlong slash C0", "\xc0\xaf", 0},
    {"overlong C1", "\xc1\xbf", 0},
    {"overlong three octets", "\xe0\x9f\xbf", 0},
    {"overlong four octets", "\xf0\x8f\xbf\xbf", 0},
    {"first surrogate", "\xed\xa0\x80", 0},
    {"last surrogate", "\xed\xbf\xbf", 0},
    {"lone continuation", "\x80", 0},
    {"truncated two octets", "\xc3", 0},
    {"truncated three octets", "a\xe2\x82", 0},
    {"truncated four octets", "\xf0\x90\x8d", 0},
    {"bad continuation", "\xc3\x28", 0},
    {"bad third octet", "\xe2\x28\xa1", 0},
    {"ascii after bad", "\xe2\x82\x28", 0},
};

static void
test_utf8_valid(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(utf8_cases); i++) {
		const struct utf8_case *c = &utf8_cases[i];
		check_int(c->name, "valid", smtp_utf8_valid(c->s, strlen(c->s)),
		          c->valid);
	}
	/* Only len octets count: a valid prefix of a bad string. */
	check_int("prefix only", "valid", smtp_utf8_valid("ab\xff", 2), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cmd_parse),
	    cmocka_unit_test(test_parse_helo),
	    cmocka_unit_test(test_parse_helo_length),
	    cmocka_unit_test(test_parse_paths),
	    cmocka_unit_test(test_parse_path_lengths),
	    cmocka_unit_test(test_param_find),
	    cmocka_unit_test(test_param_values),
	    cmocka_unit_test(test_param_size),
	    cmocka_unit_test(test_xtext),
	    cmocka_unit_test(test_xtext_encode),
	    cmocka_unit_test(test_xtext_round_trip),
	    cmocka_unit_test(test_parse_xclient),
	    cmocka_unit_test(test_parse_xforward),
	    cmocka_unit_test(test_parse_xclient_not_xforward),
	    cmocka_unit_test(test_utf8_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
