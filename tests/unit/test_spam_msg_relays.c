/*
 * test_spam_msg_relays.c - SpamAssassin's relay analysis
 * (spam_msg_relays.c): Received fields of Postfix, sendmail, Exim,
 * qmail and Exchange read into X-Spam-Relays-* texts, the trust
 * boundary found with no trusted_networks, fields left out, hostile
 * input, and the pseudo headers as spam_msg_header() answers them.
 *
 * Every expected text is SpamAssassin 4.0.1's (Debian's, default
 * configuration): PerMsgStatus::get() on a message holding those
 * Received fields, after extract_message_metadata().  The "corpus"
 * cases are the Received fields of those corpus messages; the others
 * are made-up fields in each MTA's format.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/spam_msg.h"
#include "filters/spam_msg_private.h"
#include "tests/unit/unit.h"

#define RCVD_MAX 8

struct relay_case {
	const char *name;
	const char *rcvd[RCVD_MAX]; /* newest first, NULL-terminated */
	const char *origin[3];      /* X-Originating-IP values */
	const char *trusted;
	const char *untrusted;
	long last_trusted;
};

static const struct relay_case
    relay_cases[] =
        {
            {"corpus nice/001: sendmail and Postfix, all external",
             {"from dogma.slashnull.org (dogma.slashnull.org [212.17.35.15]) by     mail.netnoteinc.com (Postfix) with ESMTP id 830E5115158 for     <jm@netnoteinc.com>; Tue, 15 May 2001 23:40:33 +0000 (Eire)",
              "(from jm@localhost) by dogma.slashnull.org (8.9.3/8.9.3) id     AAA30873 for jm@netnoteinc.com; Wed, 16 May 2001 00:40:33 +0100",
              "from trna.ximian.com ([141.154.95.22]) by dogma.slashnull.org     (8.9.3/8.9.3) with ESMTP id AAA30867 for <jm-ximian@jmason.org>;     Wed, 16 May 2001 00:40:31 +0100",
              "from trna.ximian.com (IDENT:nobody@localhost [127.0.0.1]) by     trna.ximian.com (8.9.3/8.9.3) with ESMTP id SAA19408; Tue, 15 May 2001     18:26:07 -0400",
              "from milkplus (62-122-4-47.flat.galactica.it [62.122.4.47]) by     trna.ximian.com (8.9.3/8.9.3) with ESMTP id RAA19544; Tue, 15 May 2001     17:31:24 -0400",
              "by milkplus (Postfix, from userid 1000) id D3FDD10B051;     Tue, 15 May 2001 17:31:22 -0400 (EDT)",
              NULL},
             {NULL},
             "",
             "[ ip=212.17.35.15 rdns=dogma.slashnull.org helo=dogma.slashnull.org by=mail.netnoteinc.com ident= envfrom= intl=0 id=830E5115158 auth= msa=0 ] [ ip=141.154.95.22 rdns= helo=trna.ximian.com by=dogma.slashnull.org ident= envfrom= intl=0 id=AAA30867 auth= msa=0 ] [ ip=127.0.0.1 rdns=localhost helo=trna.ximian.com by=trna.ximian.com ident=nobody envfrom= intl=0 id=SAA19408 auth= msa=0 ] [ ip=62.122.4.47 rdns=62-122-4-47.flat.galactica.it helo=milkplus by=trna.ximian.com ident= envfrom= intl=0 id=RAA19544 auth= msa=0 ]",
             -1},
            {"corpus nice/005: a localhost hop is trusted",
             {"from localhost.localdomain (localhost.localdomain [127.0.0.1])  by mail.jg555.com (Postfix) with ESMTP id 0197E43E6  for <maillist@jg555.com>; Wed, 10 Jul 2002 08:21:12 -0700 (PDT)",
              NULL},
             {NULL},
             "[ ip=127.0.0.1 rdns=localhost.localdomain helo=localhost.localdomain by=mail.jg555.com ident= envfrom= intl=1 id=0197E43E6 auth= msa=0 ]",
             "",
             0},
            {"corpus nice/007: a fetchmail POP fetch restarts the chain",
             {"from localhost ([127.0.0.1]) \tby green.daf.ddts.net with esmtp (Exim 3.36 #1 (Debian)) \tid 192LK9-0005OD-01 \tfor <daf-rogers@localhost>; Sun, 06 Apr 2003 21:21:25 -0400",
              "from pop.bloor.is.net.cable.rogers.com [66.185.95.101] \tby localhost with POP3 (fetchmail-6.2.1) \tfor daf-rogers@localhost (single-drop); Sun, 06 Apr 2003 21:21:25 -0400 (EDT)",
              "from green.daf.ddts.net ([24.102.84.250])           by fep02-mail.bloor.is.net.cable.rogers.com           (InterMail vM.5.01.05.12 201-253-122-126-112-20020820) with ESMTP           id <20030407012009.DZS311274.fep02-mail.bloor.is.net.cable.rogers.com@green.daf.ddts.net>           for <duncf@rogers.com>; Sun, 6 Apr 2003 21:20:09 -0400",
              "from daf by green.daf.ddts.net with local (Exim 3.36 #1 (Debian)) \tid 192LJf-0005O7-00 \tfor <duncf@rogers.com>; Sun, 06 Apr 2003 21:20:55 -0400",
              NULL},
             {NULL},
             "",
             "[ ip=24.102.84.250 rdns= helo=green.daf.ddts.net by=fep02-mail.bloor.is.net.cable.rogers.com ident= envfrom= intl=0 id=20030407012009.DZS311274.fep02-mail.bloor.is.net.cable.rogers.com@green.daf.ddts.net auth= msa=0 ]",
             1},
            {"corpus nice/009: bare [ip] by host, no rdns", {"from example.com (mail1.example.com [80.8.136.186])           by b.mx.sonic.net (8.12.10/8.12.7) with SMTP id i19FLtmt026870           for <user@example.com>; Mon, 9 Feb 2004 07:21:57 -0800", "from [8.141.200.111] by mail1.example.com with SMTP; Mon, 09 Feb 2004 23:17:44 -0600", NULL}, {NULL}, "", "[ ip=80.8.136.186 rdns=mail1.example.com helo=example.com by=b.mx.sonic.net ident= envfrom= intl=0 id=i19FLtmt026870 auth= msa=0 ] [ ip=8.141.200.111 rdns= helo= by=mail1.example.com ident= envfrom= intl=0 id= auth= msa=0 ]", -1},
            {"qmail with HELO",
             {"from mail.example.net (HELO client.example.org) (198.51.100.7) by mx.example.com with SMTP; 5 Sep 2002 02:25:41 -0000",
              NULL},
             {NULL},
             "",
             "[ ip=198.51.100.7 rdns=mail.example.net helo=client.example.org by=mx.example.com ident= envfrom= intl=0 id= auth= msa=0 ]",
             -1},
            {"qmail with ident, rdns unknown",
             {"from unknown (HELO relay) (joe@198.51.100.8) by mx.example.com with SMTP; Mon, 1 Jan 2024 10:00:00 +0000",
              NULL},
             {NULL},
             "",
             "[ ip=198.51.100.8 rdns= helo=relay by=mx.example.com ident=joe envfrom= intl=0 id= auth= msa=0 ]",
             -1},
            {"Exim with helo= and TLS",
             {"from client.example.org ([198.51.100.9] helo=laptop) by mx.example.com with esmtps (TLS1.3) tls TLS_AES_256_GCM_SHA384 (Exim 4.96) (envelope-from <a@example.org>) id 1rAbCd-000123-XY for b@example.com; Mon, 1 Jan 2024 10:00:00 +0000",
              NULL},
             {NULL},
             "",
             "[ ip=198.51.100.9 rdns=client.example.org helo=laptop by=mx.example.com ident= envfrom=a@example.org intl=0 id=1rAbCd-000123-XY auth= msa=0 ]",
             -1},
            {"Exim bracketed address with helo and ident",
             {"from [198.51.100.10] (helo=box ident=joe) by mx.example.com with smtp (Exim 4.96) id 1rAbCe-000124-AA; Mon, 1 Jan 2024 10:00:00 +0000",
              NULL},
             {NULL},
             "",
             "[ ip=198.51.100.10 rdns= helo=box by=mx.example.com ident=joe envfrom= intl=0 id=1rAbCe-000124-AA auth= msa=0 ]",
             -1},
            {"Exchange SMTPSVC",
             {"from laptop ([198.51.100.11]) by mail.example.com with Microsoft SMTPSVC(6.0.3790.4675); Mon, 1 Jan 2024 10:00:00 +0000",
              NULL},
             {NULL},
             "",
             "[ ip=198.51.100.11 rdns= helo=laptop by=mail.example.com ident= envfrom= intl=0 id= auth= msa=0 ]",
             -1},
            {"Exchange 2013 internal hop is trusted, no id",
             {"from EX01.corp.example.com (10.1.2.3) by EX02.corp.example.com (10.1.2.4) with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) id 15.1.2507.32; Mon, 1 Jan 2024 10:00:00 +0000",
              NULL},
             {NULL},
             "[ ip=10.1.2.3 rdns=EX01.corp.example.com helo=EX01.corp.example.com by=EX02.corp.example.com ident= envfrom= intl=1 id=15.1.2507.32 auth= msa=0 ]",
             "",
             0},
            {"Outlook mapi over link-local IPv6",
             {"from AM0PR01MB1234.eurprd01.prod.outlook.com ([fe80::1234:5678:9abc:def0]) by AM0PR01MB1234.eurprd01.prod.outlook.com ([fe80::1234:5678:9abc:def0%5]) with mapi id 15.20.7000.012; Mon, 1 Jan 2024 10:00:00 +0000",
              NULL},
             {NULL},
             "[ ip=fe80::1234:5678:9abc:def0 rdns= helo=AM0PR01MB1234.eurprd01.prod.outlook.com by=AM0PR01MB1234.eurprd01.prod.outlook.com ident= envfrom= intl=1 id= auth= msa=0 ]",
             "",
             0},
            {"Postfix ESMTPSA is trusted, the next hop is not",
             {"from mx.example.com (localhost [127.0.0.1]) by mx.example.com (Postfix) with ESMTP id 4T0AAA; Mon, 1 Jan 2024 10:00:00 +0000",
              "from [192.0.2.1] (unknown [198.51.100.12]) (Authenticated sender: joe@example.com) by mail.example.com (Postfix) with ESMTPSA id 4T1ABC; Mon, 1 Jan 2024 10:00:00 +0000", "from out.example.net (out.example.net [203.0.113.5]) by relay.example.org (Postfix) with ESMTP id 4T2DEF; Mon, 1 Jan 2024 10:00:00 +0000",
              NULL},
             {NULL},
             "[ ip=127.0.0.1 rdns=localhost helo=mx.example.com by=mx.example.com ident= envfrom= intl=1 id=4T0AAA auth= msa=0 ] [ ip=198.51.100.12 rdns= helo=!192.0.2.1! by=mail.example.com ident= envfrom= intl=1 id=4T1ABC auth=ESMTPSA msa=0 ]",
             "[ ip=203.0.113.5 rdns=out.example.net helo=out.example.net by=relay.example.org ident= envfrom= intl=0 id=4T2DEF auth= msa=0 ]",
             1},
            {"Postfix IPv6 client",
             {"from mail.example.org (mail.example.org [IPv6:2001:db8::25]) by mx.example.com (Postfix) with ESMTPS id 4T3GHI for <b@example.com>; Mon, 1 Jan 2024 10:00:00 +0000",
              NULL},
             {NULL},
             "",
             "[ ip=2001:db8::25 rdns=mail.example.org helo=mail.example.org by=mx.example.com ident= envfrom= intl=0 id=4T3GHI auth= msa=0 ]",
             -1},
            {"sendmail with envelope-from and may be forged",
             {"from mail1.example.net (host66.example.net [198.51.100.66] (may be forged)) by mx.example.com (8.15.2/8.15.2) with ESMTP id h2F0c2x31856 (envelope-from <bounce@example.net>); Mon, 1 Jan 2024 10:00:00 +0000",
              NULL},
             {NULL},
             "",
             "[ ip=198.51.100.66 rdns=host66.example.net helo=mail1.example.net by=mx.example.com ident= envfrom=bounce@example.net intl=0 id=h2F0c2x31856 auth= msa=0 ]",
             -1},
            {"X-Originating-IP adds a relay with no host",
             {"from web.example.com (web.example.com [198.51.100.20]) by mx.example.com (Postfix) with ESMTP id 4T4JKL; Mon, 1 Jan 2024 10:00:00 +0000",
              NULL},
             {"[203.0.113.77]", NULL},
             "",
             "[ ip=198.51.100.20 rdns=web.example.com helo=web.example.com by=mx.example.com ident= envfrom= intl=0 id=4T4JKL auth= msa=0 ] [ ip=203.0.113.77 rdns= helo= by= ident= envfrom= intl=0 id= auth= msa=0 ]",
             -1},
            {"fields with no from are left out",
             {"by mx.example.com (Postfix, from userid 1000) id 4T5MNO; Mon, 1 Jan 2024 10:00:00 +0000",
              "(qmail 27859 invoked by uid 1001); 5 Sep 2002 02:25:41 -0000",
              NULL},
             {NULL},
             "",
             "",
             1},
            {"unparseable field: trust index still counts",
             {"from somewhere",
              "from a.example (a.example [10.0.0.5]) by b.example (Postfix) with ESMTP id 4T6; Mon, 1 Jan 2024 10:00:00 +0000",
              NULL},
             {NULL},
             "[ ip=10.0.0.5 rdns=a.example helo=a.example by=b.example ident= envfrom= intl=1 id=4T6 auth= msa=0 ]",
             "",
             1},
};

static size_t
bufs_make(const char *const *v, size_t max, struct spam_msg_buf *out)
{
	size_t n;

	for (n = 0; n < max && v[n] != NULL; n++) {
		memset(&out[n], 0, sizeof(out[n]));
		spam_msg_buf_adds(&out[n], v[n]);
		spam_msg_buf_addc(&out[n], '\n'); /* as get_header() has it */
	}
	return n;
}

static void
bufs_free(struct spam_msg_buf *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		spam_msg_buf_free(&v[i]);
}

static void
test_relays_cases(void **state)
{
	const struct relay_case *c;
	struct spam_msg_buf rcvd[RCVD_MAX], origin[3];
	struct spam_msg_relays *r;
	size_t i, nr, no;

	(void)state;
	for (i = 0; i < ARRAY_LEN(relay_cases); i++) {
		c = &relay_cases[i];
		nr = bufs_make(c->rcvd, RCVD_MAX, rcvd);
		no = bufs_make(c->origin, 3, origin);
		r = spam_msg_relays_new(rcvd, nr, origin, no);
		check_str(c->name, "trusted", r->str[SPAM_MSG_RELAYS_TRUSTED],
		          c->trusted);
		check_str(c->name, "untrusted",
		          r->str[SPAM_MSG_RELAYS_UNTRUSTED], c->untrusted);
		/* with no networks configured, internal is trusted */
		check_str(c->name, "internal", r->str[SPAM_MSG_RELAYS_INTERNAL],
		          c->trusted);
		check_str(c->name, "external", r->str[SPAM_MSG_RELAYS_EXTERNAL],
		          c->untrusted);
		check_int(c->name, "last trusted index", r->last_trusted,
		          c->last_trusted);
		check_int(c->name, "trusted length",
		          (long long)r->len[SPAM_MSG_RELAYS_TRUSTED],
		          (long long)strlen(c->trusted));
		spam_msg_relays_free(&r);
		assert_null(r);
		bufs_free(rcvd, nr);
		bufs_free(origin, no);
	}
}

static size_t
count(const char *s, const char *what)
{
	size_t n = 0;

	while ((s = strstr(s, what)) != NULL) {
		n++;
		s++;
	}
	return n;
}

/* More Received fields than read: only the newest 100 count. */
static void
test_relays_many(void **state)
{
	struct spam_msg_buf v[150];
	struct spam_msg_relays *r;
	size_t i;

	(void)state;
	memset(v, 0, sizeof(v));
	for (i = 0; i < ARRAY_LEN(v); i++)
		spam_msg_buf_adds(&v[i], "from a.example (a.example "
		                         "[192.0.2.1]) by b.example (Postfix) "
		                         "with ESMTP id X1;\n");
	r = spam_msg_relays_new(v, ARRAY_LEN(v), NULL, 0);
	check_int("150 fields", "untrusted relays",
	          (long long)count(r->str[SPAM_MSG_RELAYS_UNTRUSTED], "[ ip="),
	          100);
	check_str("150 fields", "trusted", r->str[SPAM_MSG_RELAYS_TRUSTED], "");
	spam_msg_relays_free(&r);
	bufs_free(v, ARRAY_LEN(v));
}

/* Junk, huge, empty and binary fields give no relay and no crash. */
static void
test_relays_hostile(void **state)
{
	struct spam_msg_buf v[4];
	struct spam_msg_relays *r;
	size_t i;

	(void)state;
	memset(v, 0, sizeof(v));
	spam_msg_buf_adds(&v[0], "from ");
	for (i = 0; i < 20000; i++)
		spam_msg_buf_adds(&v[0], i % 7 ? "(" : " [");
	spam_msg_buf_add(&v[1], "from \0x by \0y\n", 14);
	spam_msg_buf_adds(&v[2], ";;;; ;");
	/* v[3] left empty: no text at all */
	r = spam_msg_relays_new(v, ARRAY_LEN(v), v, 1);
	for (i = 0; i < SPAM_MSG_RELAYS_N; i++)
		check_str("junk", "relays", r->str[i], "");
	check_int("junk", "last trusted index", r->last_trusted, 3);
	spam_msg_relays_free(&r);
	spam_msg_relays_free(&r); /* twice is harmless */
	bufs_free(v, ARRAY_LEN(v));
}

static void
test_relays_kind(void **state)
{
	(void)state;
	check_int("kind", "X-Spam-Relays-Untrusted",
	          spam_msg_relays_kind("x-spam-relays-untrusted"),
	          SPAM_MSG_RELAYS_UNTRUSTED);
	check_int("kind", "ALL-EXTERNAL", spam_msg_relays_kind("ALL-EXTERNAL"),
	          SPAM_MSG_RELAYS_N + SPAM_MSG_RELAYS_EXTERNAL);
	check_int("kind", "all-trusted (pseudo names are case-sensitive)",
	          spam_msg_relays_kind("all-trusted"), -1);
	check_int("kind", "Received", spam_msg_relays_kind("Received"), -1);
}

/*
 * Through spam_msg_header()
 */

#define M_PSEUDO                                                               \
	"Return-Path: <a@example.org>\n"                                       \
	"Received: from mx.example.com (localhost [127.0.0.1])\n"              \
	"\tby mx.example.com (Postfix) with ESMTP id 4T0AAA;\n"                \
	"\tMon, 1 Jan 2024 10:00:00 +0000\n"                                   \
	"X-Seen: one\n"                                                        \
	"Received: from out.example.net (out.example.net [203.0.113.5])\n"     \
	"\tby mx.example.com (Postfix) with ESMTP id 4T2DEF;\n"                \
	"\tMon, 1 Jan 2024 09:59:59 +0000\n"                                   \
	"X-Seen: two\n"                                                        \
	"Received: from [198.51.100.1] by out.example.net with HTTP; Mon, 1 "  \
	"Jan 2024 09:59:58 +0000\n"                                            \
	"Subject: t\n\nbody\n"
#define R_LOCAL                                                                \
	"Received: from mx.example.com (localhost [127.0.0.1]) by "            \
	"mx.example.com (Postfix) with ESMTP id 4T0AAA; Mon, 1 Jan 2024 "      \
	"10:00:00 +0000\n"
#define R_OUT                                                                  \
	"Received: from out.example.net (out.example.net [203.0.113.5]) by "   \
	"mx.example.com (Postfix) with ESMTP id 4T2DEF; Mon, 1 Jan 2024 "      \
	"09:59:59 +0000\n"
#define R_WEB                                                                  \
	"Received: from [198.51.100.1] by out.example.net with HTTP; Mon, 1 "  \
	"Jan 2024 09:59:58 +0000\n"

struct pseudo_case {
	const char *name;
	enum spam_hdr_form form;
	int ret;
	const char *want;
};

static const struct pseudo_case pseudo_cases[] = {
    {"X-Spam-Relays-Untrusted", SPAM_HDR_DECODED, 1,
     "[ ip=203.0.113.5 rdns=out.example.net helo=out.example.net "
     "by=mx.example.com ident= envfrom= intl=0 id=4T2DEF auth= msa=0 ] "
     "[ ip=198.51.100.1 rdns= helo= by=out.example.net ident= envfrom= "
     "intl=0 id= auth=HTTP msa=0 ]"},
    {"X-Spam-Relays-Internal", SPAM_HDR_DECODED, 1,
     "[ ip=127.0.0.1 rdns=localhost helo=mx.example.com by=mx.example.com "
     "ident= envfrom= intl=1 id=4T0AAA auth= msa=0 ]"},
    {"ALL-TRUSTED", SPAM_HDR_DECODED, 1,
     "Return-Path: <a@example.org>\n" R_LOCAL "X-Seen: one\n" R_OUT},
    {"ALL-UNTRUSTED", SPAM_HDR_DECODED, 1,
     R_OUT "X-Seen: two\n" R_WEB "Subject: t\n"},
    {"ALL-EXTERNAL", SPAM_HDR_DECODED, 1,
     R_OUT "X-Seen: two\n" R_WEB "Subject: t\n"},
    {"ALL-TRUSTED", SPAM_HDR_RAW, 1,
     "Return-Path: <a@example.org>\n"
     "Received: from mx.example.com (localhost [127.0.0.1])\n"
     "\tby mx.example.com (Postfix) with ESMTP id 4T0AAA;\n"
     "\tMon, 1 Jan 2024 10:00:00 +0000\n"
     "X-Seen: one\n"
     "Received: from out.example.net (out.example.net [203.0.113.5])\n"
     "\tby mx.example.com (Postfix) with ESMTP id 4T2DEF;\n"
     "\tMon, 1 Jan 2024 09:59:59 +0000\n"},
};

static void
test_relays_pseudo(void **state)
{
	const char *msg = M_PSEUDO;
	struct spam_msg *m = spam_msg_new(msg, strlen(msg));
	struct spam_text t;
	size_t i;
	int ret;

	(void)state;
	for (i = 0; i < ARRAY_LEN(pseudo_cases); i++) {
		const struct pseudo_case *c = &pseudo_cases[i];

		ret = spam_msg_header(m, c->name, c->form, &t);
		check_int(c->name, "found", ret, c->ret);
		check_str(c->name, "text", t.s, c->want);
	}
	/* no Received at all: relays empty but there, ALL-UNTRUSTED none */
	spam_msg_free(&m);
	m = spam_msg_new("Subject: x\n\nb\n", 14);
	ret = spam_msg_header(m, "X-Spam-Relays-Untrusted", 0, &t);
	check_int("no Received", "relays found", ret, 1);
	check_str("no Received", "relays", t.s, "");
	ret = spam_msg_header(m, "ALL-UNTRUSTED", 0, &t);
	check_int("no Received", "ALL-UNTRUSTED found", ret, 0);
	ret = spam_msg_header(m, "ALL-TRUSTED", 0, &t);
	check_str("no Received", "ALL-TRUSTED", t.s, "Subject: x\n");
	spam_msg_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_relays_cases),
	    cmocka_unit_test(test_relays_many),
	    cmocka_unit_test(test_relays_hostile),
	    cmocka_unit_test(test_relays_kind),
	    cmocka_unit_test(test_relays_pseudo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
