"""Relaying through postern to a real MTA: greeting, EHLO, delivery byte
for byte, recipients, pipelining, a big message, 8-bit and SMTPUTF8,
dot-stuffing, the simple commands, the log, and the same core cases with
Exim as the upstream."""

import re
import subprocess
import threading

import pytest

import harness
from harness import make_message, send_one

SENDER = "sender@example.org"


def delivered_parts(raw):
    """(postern's Received unfolded, everything after it) of a delivered
    message, the MTA's own trace fields removed."""
    rest = harness.strip_mta_trace(raw)
    received, body = harness.pop_header_field(rest)
    return harness.unfold(received), body


def assert_relayed_intact(raw, sent):
    received, body = delivered_parts(raw)
    assert received.startswith("Received: from "), \
        "got %r on top, want postern's Received" % received
    assert "by postern.test (postern)" in received, received
    assert body == harness.to_stored(sent), \
        "delivered message differs from what the client sent"


def ehlo_keywords(reply):
    return {l.split(" ", 1)[0].upper(): l for l in reply.lines[1:]}


def postern_session(postern, helo="client.example"):
    c = postern.connect()
    greeting = c.greeting()
    assert greeting.code == 220, greeting
    ehlo = c.ehlo(helo)
    assert ehlo.code == 250, ehlo
    return c


# ---------------------------------------------------------- greeting, EHLO

def test_greeting_is_postern_banner_after_upstream_greeted(postern):
    with postern.connect() as c:
        greeting = c.greeting()
        c.command("QUIT")
    assert greeting.code == 220
    assert greeting.lines[0].startswith("postern.test ESMTP postern"), \
        "got %r, want '220 postern.test ESMTP postern'" % greeting.text


def test_ehlo_offers_upstream_extensions_but_no_tls_auth_chunking(postern):
    with postern.connect() as c:
        c.greeting()
        ehlo = c.ehlo()
        c.command("QUIT")
    assert ehlo.code == 250
    assert ehlo.lines[0].split()[0] == "postern.test", ehlo
    kw = ehlo_keywords(ehlo)
    for want in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES",
                 "SMTPUTF8", "DSN", "XCLIENT"):
        assert want in kw, "EHLO lacks %s: %s" % (want, ehlo)
    for unwanted in ("STARTTLS", "AUTH", "CHUNKING", "BDAT"):
        assert unwanted not in kw, "EHLO offers %s: %s" % (unwanted, ehlo)


def test_ehlo_size_is_postern_message_size_limit(start_postern, postfix):
    p = start_postern(postfix, limits={"message_size": "1000000"})
    with p.connect() as c:
        c.greeting()
        ehlo = c.ehlo()
        c.command("QUIT")
    assert ehlo_keywords(ehlo).get("SIZE") == "SIZE 1000000", ehlo


def test_ehlo_omits_extensions_the_upstream_lacks(start_postern,
                                                  fake_upstream):
    up = fake_upstream(ehlo=("PIPELINING", "SIZE 52428800"))
    p = start_postern(up)
    with p.connect() as c:
        c.greeting()
        ehlo = c.ehlo()
        c.command("QUIT")
    kw = ehlo_keywords(ehlo)
    assert "PIPELINING" in kw and "SIZE" in kw, ehlo
    for absent in ("8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN"):
        assert absent not in kw, \
            "EHLO offers %s the upstream lacks: %s" % (absent, ehlo)


def test_helo_is_answered_with_250(postern):
    with postern.connect() as c:
        c.greeting()
        helo = c.command("HELO client.example")
        c.command("QUIT")
    assert helo.code == 250, helo


# ---------------------------------------------------------------- delivery

def test_message_delivered_byte_for_byte_below_postern_received(
        postern, postfix):
    msg = make_message(subject="byte for byte")
    s = send_one(postern.host, postern.port, ["bob@example.net"], msg)
    assert s.final is not None and s.final.code == 250, s
    assert re.match(r"2\.0\.0 Ok: queued as [0-9A-F]+$", s.final.lines[0]), \
        "got %r, want Postfix's own '250 2.0.0 Ok: queued as ...'" % \
        s.final.text
    assert s.quit.code == 221
    [raw] = postfix.wait_messages("bob", 1)
    assert_relayed_intact(raw, msg)


def test_received_names_helo_address_postern_id_and_date(postern, postfix):
    msg = make_message()
    s = send_one(postern.host, postern.port, ["bob@example.net"], msg,
                 helo="helo.client.example")
    assert s.final.code == 250, s
    [raw] = postfix.wait_messages("bob", 1)
    received, _ = delivered_parts(raw)
    want = (r"^Received: from helo\.client\.example "
            r"\(unknown \[127\.0\.0\.1\]\)\s+by postern\.test \(postern\) "
            r"with ESMTP id \S+")
    assert re.match(want, received), "got %r, want /%s/" % (received, want)
    assert re.search(r"for <bob@example\.net>", received), received
    assert re.search(r";\s*(\w{3}, )?\d{1,2} \w{3} \d{4} "
                     r"\d\d:\d\d:\d\d [+-]\d{4}", received), \
        "no RFC 5322 date after ';': %r" % received


def test_several_recipients_refused_one_gets_postfix_reply_verbatim(
        postern, postfix):
    direct = harness.direct_reply(postfix.host, postfix.port, [
        "MAIL FROM:<%s>" % SENDER, "RCPT TO:<nobody@example.net>"])[1]
    msg = make_message(to="alice@example.net, carol@example.net")
    s = send_one(postern.host, postern.port,
                 ["alice@example.net", "nobody@example.net",
                  "carol@example.net"], msg)
    assert [r.code for r in s.rcpts] == [250, 550, 250], s
    assert s.rcpts[1].text == direct.text, \
        "got %r, want Postfix's own %r" % (s.rcpts[1].text, direct.text)
    assert s.final.code == 250, s
    for user in ("alice", "carol"):
        [raw] = postfix.wait_messages(user, 1)
        assert_relayed_intact(raw, msg)
        received, _ = delivered_parts(raw)
        assert " for <" not in received, \
            "Received names one of two recipients: %r" % received
    postfix.wait_idle()
    assert postfix.messages("nobody") == []


def test_only_unknown_recipient_then_data_is_refused_nothing_delivered(
        postern, postfix):
    s = send_one(postern.host, postern.port, ["nobody@example.net"],
                 make_message())
    assert s.rcpts[0].code == 550 and s.rcpts[0].enhanced == "5.1.1", s
    assert 500 <= s.data.code < 600, \
        "got %r to DATA without a recipient, want 5xx" % s.data.text
    assert s.final is None
    assert postfix.wait_idle()
    assert postfix.queued_since_mark() == []


def test_two_transactions_in_one_session_both_delivered(postern, postfix):
    first = make_message(subject="first")
    second = make_message(subject="second")
    with postern_session(postern) as c:
        r1 = c.send_mail(SENDER, ["alice@example.net"], first)
        r2 = c.send_mail(SENDER, ["alice@example.net", "bob@example.net"],
                         second)
        c.command("QUIT")
    assert r1[-1].code == 250 and r2[-1].code == 250, (r1, r2)
    got = postfix.wait_messages("alice", 2)
    assert len(got) == 2
    bodies = sorted(delivered_parts(raw)[1] for raw in got)
    assert bodies == sorted([harness.to_stored(first),
                             harness.to_stored(second)])
    [raw] = postfix.wait_messages("bob", 1)
    assert_relayed_intact(raw, second)


def test_rset_discards_envelope_and_next_transaction_works(postern,
                                                           postfix):
    msg = make_message(subject="after rset")
    with postern_session(postern) as c:
        assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
        assert c.command("RCPT TO:<alice@example.net>").code == 250
        assert c.command("RSET").code == 250
        data = c.command("DATA")
        assert data.code == 503, \
            "got %r to DATA after RSET, want 503" % data.text
        replies = c.send_mail(SENDER, ["bob@example.net"], msg)
        c.command("QUIT")
    assert replies[-1].code == 250, replies
    [raw] = postfix.wait_messages("bob", 1)
    assert_relayed_intact(raw, msg)
    postfix.wait_idle()
    assert postfix.messages("alice") == []


def test_pipelined_commands_get_replies_in_order(postern, postfix):
    msg = make_message(subject="pipelined")
    with postern_session(postern) as c:
        c.send("MAIL FROM:<%s>\r\n"
               "RCPT TO:<alice@example.net>\r\n"
               "RCPT TO:<nobody@example.net>\r\n"
               "RCPT TO:<bob@example.net>\r\n"
               "DATA\r\n" % SENDER)
        codes = [c.read_reply().code for _ in range(5)]
        assert codes == [250, 250, 550, 250, 354], \
            "got %r, want [250, 250, 550, 250, 354]" % codes
        # The message, its end and QUIT in one write, as clients do.
        c.send(harness.dot_stuff(msg) + b"QUIT\r\n")
        final = c.read_reply(timeout=30)
        quit_ = c.read_reply()
    assert final.code == 250, final
    assert quit_.code == 221, quit_
    for user in ("alice", "bob"):
        [raw] = postfix.wait_messages(user, 1)
        assert_relayed_intact(raw, msg)


def test_pipelined_quit_after_envelope_without_data(postern, postfix):
    with postern_session(postern) as c:
        c.send("MAIL FROM:<%s>\r\nRCPT TO:<bob@example.net>\r\n"
               "QUIT\r\n" % SENDER)
        codes = [c.read_reply().code for _ in range(3)]
        closed = c.expect_closed()
    assert codes == [250, 250, 221], codes
    assert closed
    assert postfix.wait_idle()
    assert postfix.queued_since_mark() == []


def test_swaks_pipelined_message_is_delivered(postern, postfix):
    out = subprocess.run(
        ["swaks", "--server", postern.host, "--port", str(postern.port),
         "--to", "bob@example.net", "--from", "a@example.org",
         "--helo", "swaks.example", "--pipeline",
         "--header", "Subject: swaks through postern"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=60)
    assert out.returncode == 0, out.stdout
    assert re.search(r"^<-  250[- ]PIPELINING", out.stdout, re.M), \
        out.stdout
    assert re.search(r"^<-  250 2\.0\.0 Ok: queued as ", out.stdout,
                     re.M), out.stdout
    assert re.search(r"^<-  221 ", out.stdout, re.M), out.stdout
    [raw] = postfix.wait_messages("bob", 1)
    assert b"Subject: swaks through postern" in raw


def test_ten_megabyte_message_arrives_byte_for_byte(postern, postfix):
    line = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + b"+/\r\n"
    chunks = []
    for i in range(10 * 1024 * 1024 // len(line)):
        # Vary the lines so a dropped or repeated block shows.
        chunks.append(b"%08d" % i + line)
    body = b"".join(chunks)
    msg = make_message(subject="ten megabytes", body=body)
    assert len(msg) > 10 * 1024 * 1024
    s = send_one(postern.host, postern.port, ["bob@example.net"], msg)
    assert s.final is not None and s.final.code == 250, s
    [raw] = postfix.wait_messages("bob", 1, timeout=60)
    assert_relayed_intact(raw, msg)


def test_dot_stuffed_lines_arrive_unstuffed(postern, postfix):
    body = (b".\r\n..\r\n.leading dot\r\n...three\r\n"
            b" .space first\r\nmiddle . dot\r\n.\r\nend\r\n.")
    msg = make_message(subject="dots", body=body + b"\r\n")
    s = send_one(postern.host, postern.port, ["bob@example.net"], msg)
    assert s.final.code == 250, s
    [raw] = postfix.wait_messages("bob", 1)
    assert_relayed_intact(raw, msg)


EIGHT_BIT_BODY = ("Latin-1: caf".encode() + b"\xe9 na\xefve\r\n" +
                  "UTF-8: café naïve 日本語 ✓\r\n".encode("utf-8") +
                  b"all high octets: " + bytes(range(0x80, 0x100)) + b"\r\n")


def test_eight_bit_body_arrives_intact(postern, postfix):
    msg = make_message(subject="8-bit", body=EIGHT_BIT_BODY, extra_headers=(
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit"))
    s = send_one(postern.host, postern.port, ["bob@example.net"], msg,
                 mail_params="BODY=8BITMIME")
    assert s.mail.code == 250, s
    assert s.final.code == 250, s
    [raw] = postfix.wait_messages("bob", 1)
    assert_relayed_intact(raw, msg)


def test_smtputf8_sender_and_utf8_mailbox_delivered(postern, postfix):
    msg = make_message(subject="Grüße", sender="jöran@example.net",
                       to="jöran@example.net",
                       body="Hej Jöran!\r\n".encode("utf-8"))
    s = send_one(postern.host, postern.port, ["jöran@example.net"], msg,
                 sender="jöran@example.net", mail_params="SMTPUTF8")
    assert s.mail.code == 250, s
    assert s.rcpts[0].code == 250, s
    assert s.final.code == 250, s
    [raw] = postfix.wait_messages("jöran", 1)
    assert raw.startswith("Return-Path: <jöran@example.net>".encode()), \
        raw[:200]
    _, body = delivered_parts(raw)
    assert body == harness.to_stored(msg)


def test_smtputf8_sender_to_ascii_user_delivered(postern, postfix):
    msg = make_message(sender="jöran@example.net")
    s = send_one(postern.host, postern.port, ["bob@example.net"], msg,
                 sender="jöran@example.net", mail_params="SMTPUTF8")
    assert s.final is not None and s.final.code == 250, s
    [raw] = postfix.wait_messages("bob", 1)
    assert_relayed_intact(raw, msg)


def test_ipv6_client_listener_and_upstream(start_postern, postfix):
    p = start_postern("[::1]:%d" % postfix.port, listen_host="::1")
    msg = make_message(subject="over IPv6")
    s = send_one("::1", p.port, ["bob@example.net"], msg)
    assert s.final is not None and s.final.code == 250, s
    [raw] = postfix.wait_messages("bob", 1)
    received, body = delivered_parts(raw)
    # RFC 5321 4.4: TCP-info is an address-literal, "[IPv6:...]".
    assert re.search(r"\(unknown \[IPv6:::1\]\)", received), \
        "got %r, want '(unknown [IPv6:::1])'" % received
    assert body == harness.to_stored(msg)


def test_empty_message_is_relayed(postern, postfix):
    # The end marker's first CRLF is the one ending the DATA line.
    with postern_session(postern) as c:
        assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
        assert c.command("RCPT TO:<bob@example.net>").code == 250
        assert c.command("DATA").code == 354
        c.send(b".\r\n")
        final = c.read_reply(timeout=30)
        c.command("QUIT")
    assert final.code == 250, final
    [raw] = postfix.wait_messages("bob", 1)
    received, rest = delivered_parts(raw)
    assert "by postern.test (postern)" in received, received
    assert rest in (b"", b"\n"), "got %r after the Received, want nothing" \
        % rest[:200]


def test_first_data_line_starting_with_a_dot_is_unstuffed(postern, postfix):
    with postern_session(postern) as c:
        assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
        assert c.command("RCPT TO:<bob@example.net>").code == 250
        assert c.command("DATA").code == 354
        c.send(b"..first line\r\nsecond line\r\n.\r\n")
        final = c.read_reply(timeout=30)
        c.command("QUIT")
    assert final.code == 250, final
    [raw] = postfix.wait_messages("bob", 1)
    assert b"\n.first line\nsecond line\n" in raw, raw
    assert b"..first" not in raw


def test_null_sender_is_relayed(postern, postfix):
    msg = make_message(subject="bounce")
    s = send_one(postern.host, postern.port, ["bob@example.net"], msg,
                 sender="")
    assert s.mail.code == 250, s
    assert s.final is not None and s.final.code == 250, s
    [raw] = postfix.wait_messages("bob", 1)
    assert raw.startswith(b"Return-Path: <>"), raw[:100]
    assert_relayed_intact(raw, msg)


def test_dsn_parameters_are_relayed(postern, postfix):
    msg = make_message(subject="dsn")
    with postern_session(postern) as c:
        mail = c.command("MAIL FROM:<%s> RET=HDRS ENVID=test-envid-1" %
                         SENDER)
        rcpt = c.command("RCPT TO:<bob@example.net> NOTIFY=SUCCESS,FAILURE"
                         " ORCPT=rfc822;bob@example.net")
        data = c.command("DATA")
        c.send(harness.dot_stuff(msg))
        final = c.read_reply(timeout=30)
        c.command("QUIT")
    assert (mail.code, rcpt.code, data.code, final.code) == (
        250, 250, 354, 250), (mail, rcpt, data, final)
    [raw] = postfix.wait_messages("bob", 1)
    assert_relayed_intact(raw, msg)
    postfix.wait_idle()
    # NOTIFY=SUCCESS reached Postfix: it sends a delivery notice.
    assert postfix.wait_log_since_mark(r"sender delivery status notif"), \
        postfix.log_since_mark()


def test_commands_are_case_insensitive(postern, postfix):
    msg = make_message(subject="case")
    with postern.connect() as c:
        c.greeting()
        assert c.command("eHlO client.example").code == 250
        assert c.command("mail from:<%s>" % SENDER).code == 250
        assert c.command("Rcpt To:<bob@example.net>").code == 250
        assert c.command("data").code == 354
        c.send(harness.dot_stuff(msg))
        assert c.read_reply(timeout=30).code == 250
        assert c.command("qUiT").code == 221
    [raw] = postfix.wait_messages("bob", 1)
    assert_relayed_intact(raw, msg)


def test_ehlo_in_a_transaction_resets_it(postern, postfix):
    with postern_session(postern) as c:
        assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
        assert c.command("RCPT TO:<bob@example.net>").code == 250
        assert c.ehlo().code == 250
        data = c.command("DATA")
        c.command("QUIT")
    assert data.code == 503, \
        "got %r to DATA after a second EHLO, want 503" % data.text
    assert postfix.wait_idle()
    assert postfix.queued_since_mark() == []


def test_rcpt_before_mail_and_nested_mail_get_503(postern):
    with postern_session(postern) as c:
        rcpt = c.command("RCPT TO:<bob@example.net>")
        assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
        nested = c.command("MAIL FROM:<%s>" % SENDER)
        c.command("QUIT")
    assert rcpt.code == 503, rcpt
    assert nested.code == 503, nested


def test_many_pipelined_recipients_answered_in_order_452_past_limit(
        postern, postfix):
    msg = make_message(subject="many recipients")
    with postern_session(postern) as c:
        c.send("MAIL FROM:<%s>\r\n" % SENDER +
               "RCPT TO:<alice@example.net>\r\n" * 55 + "DATA\r\n")
        codes = [c.read_reply().code for _ in range(57)]
        c.send(harness.dot_stuff(msg))
        final = c.read_reply(timeout=30)
        c.command("QUIT")
    want = [250] + [250] * 50 + [452] * 5 + [354]
    assert codes == want, "got %r, want %r" % (codes, want)
    assert final.code == 250, final
    got = postfix.wait_messages("alice", 1)
    assert postfix.wait_idle()
    assert len(postfix.messages("alice")) == 1, got


def test_parallel_sessions_all_delivered(postern, postfix):
    results = []

    def client(n):
        for k in range(2):
            msg = make_message(subject="parallel %d.%d" % (n, k))
            s = send_one(postern.host, postern.port, ["carol@example.net"],
                         msg)
            results.append((s.final.code if s.final else None, msg))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert [code for code, _ in results] == [250] * 16, results
    got = postfix.wait_messages("carol", 16, timeout=30)
    bodies = sorted(delivered_parts(raw)[1] for raw in got)
    assert bodies == sorted(harness.to_stored(m) for _, m in results)


def test_client_vanishing_mid_data_leaves_nothing_upstream(postern,
                                                          postfix):
    c = postern_session(postern)
    assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
    assert c.command("RCPT TO:<bob@example.net>").code == 250
    assert c.command("DATA").code == 354
    c.send(b"Subject: cut\r\n\r\nhalf a message\r\n")
    port = c.local_port
    c.close()
    assert postern.wait_log(r"disconnect reason=", timeout=10)
    assert postfix.wait_idle(), \
        "upstream session still open after the client vanished"
    assert postfix.queued_since_mark() == []
    lines = postern.session_lines(port)
    assert not any("reason=quit" in l for l in lines), lines
    # The lost transaction has its message line, before the disconnect.
    aborted = [i for i, l in enumerate(lines)
               if re.search(r" message txn=\S+ from=<%s> nrcpt=1 "
                            r"rcpts=<bob@example\.net> .*result=aborted "
                            % re.escape(SENDER), l)]
    gone = [i for i, l in enumerate(lines) if " disconnect reason=" in l]
    assert aborted and gone and aborted[0] < gone[0], lines


# ----------------------------------------------------- the simple commands

@pytest.mark.parametrize("command,code", [
    ("NOOP", 250),
    ("RSET", 250),
    ("VRFY bob@example.net", 252),
    ("HELP", 214),
])
def test_simple_command_reply_code(postern, command, code):
    with postern_session(postern) as c:
        reply = c.command(command)
        c.command("QUIT")
    assert reply.code == code, "got %r to %s, want %d" % (
        reply.text, command, code)


def test_quit_gets_221_and_connection_closes(postern):
    with postern_session(postern) as c:
        reply = c.command("QUIT")
        closed = c.expect_closed()
    assert reply.code == 221, reply
    assert closed, "connection still open after 221"


def test_unknown_command_gets_500_or_502(postern):
    with postern_session(postern) as c:
        reply = c.command("FROB it")
        noop = c.command("NOOP")
        c.command("QUIT")
    assert reply.code in (500, 502), reply
    assert noop.code == 250, noop


def test_mail_before_ehlo_is_refused(postern):
    with postern.connect() as c:
        c.greeting()
        reply = c.command("MAIL FROM:<%s>" % SENDER)
        c.command("QUIT")
    assert reply.code == 503, \
        "got %r to MAIL before EHLO, want 503" % reply.text


# --------------------------------------------------------------------- log

def test_log_has_connect_transaction_and_disconnect_lines(postern,
                                                          postfix):
    s = send_one(postern.host, postern.port, ["bob@example.net"],
                 make_message())
    assert s.final.code == 250, s
    postern.wait_log(r"disconnect", timeout=5)
    lines = postern.session_lines(s.client_port)
    text = "\n".join(lines)
    assert lines, "no session line names client port %d:\n%s" % (
        s.client_port, postern.log())
    sid = postern.session_id(s.client_port)
    connect = [l for l in lines if re.search(
        r"(^|\s)%s connect client=127\.0\.0\.1:%d listener=smtp" % (
            re.escape(sid), s.client_port), l)]
    assert connect, "no '<id> connect client=... listener=smtp' in:\n" + text
    txn = [l for l in lines if "from=" in l and "rcpts=" in l]
    assert txn, "no transaction line in:\n" + text
    for key in ("from=", "rcpts=", "size=", "upstream="):
        assert key in txn[0], "transaction line lacks %s: %s" % (key,
                                                                txn[0])
    assert "queued as" in txn[0] or "250" in txn[0], txn[0]
    disconnect = [l for l in lines if re.search(
        r"(^|\s)%s disconnect\b.*reason=quit" % re.escape(sid), l)]
    assert disconnect, "no '<id> disconnect reason=quit' in:\n" + text


# -------------------------------------------------------------------- Exim

def test_exim_message_delivered_byte_for_byte(start_postern, exim):
    p = start_postern(exim)
    msg = make_message(subject="through exim")
    s = send_one(p.host, p.port, ["bob@example.net"], msg)
    assert s.greeting.code == 220, s
    assert s.final is not None and s.final.code == 250, s
    assert s.final.lines[0].startswith("OK id="), \
        "got %r, want Exim's own '250 OK id=...'" % s.final.text
    [raw] = exim.wait_messages("bob", 1)
    assert_relayed_intact(raw, msg)


def test_exim_ehlo_lacks_what_exim_lacks(start_postern, exim):
    p = start_postern(exim)
    with p.connect() as c:
        c.greeting()
        ehlo = c.ehlo()
        c.command("QUIT")
    kw = ehlo_keywords(ehlo)
    for want in ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8"):
        assert want in kw, "EHLO lacks %s: %s" % (want, ehlo)
    # Exim as configured offers neither.
    for absent in ("ENHANCEDSTATUSCODES", "DSN", "CHUNKING"):
        assert absent not in kw, "EHLO offers %s: %s" % (absent, ehlo)


def test_exim_several_recipients_refused_one_gets_exim_reply(start_postern,
                                                             exim):
    p = start_postern(exim)
    direct = harness.direct_reply(exim.host, exim.port, [
        "MAIL FROM:<%s>" % SENDER, "RCPT TO:<nobody@example.net>"])[1]
    msg = make_message()
    s = send_one(p.host, p.port, ["alice@example.net", "nobody@example.net",
                                  "carol@example.net"], msg)
    assert [r.code for r in s.rcpts] == [250, 550, 250], s
    assert s.rcpts[1].text == direct.text, \
        "got %r, want Exim's own %r" % (s.rcpts[1].text, direct.text)
    assert s.final.code == 250, s
    for user in ("alice", "carol"):
        [raw] = exim.wait_messages(user, 1)
        assert_relayed_intact(raw, msg)


def test_exim_eight_bit_body_arrives_intact(start_postern, exim):
    p = start_postern(exim)
    msg = make_message(body=EIGHT_BIT_BODY, extra_headers=(
        "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit"))
    s = send_one(p.host, p.port, ["bob@example.net"], msg,
                 mail_params="BODY=8BITMIME")
    assert s.final is not None and s.final.code == 250, s
    [raw] = exim.wait_messages("bob", 1)
    assert_relayed_intact(raw, msg)


def test_exim_dot_stuffed_lines_arrive_unstuffed(start_postern, exim):
    p = start_postern(exim)
    msg = make_message(body=b".\r\n..\r\n.x\r\n...\r\nend\r\n")
    s = send_one(p.host, p.port, ["bob@example.net"], msg)
    assert s.final is not None and s.final.code == 250, s
    [raw] = exim.wait_messages("bob", 1)
    assert_relayed_intact(raw, msg)


def test_upstream_on_a_unix_socket(start_postern, postfix):
    p = start_postern(postfix.unix_address)
    msg = make_message(subject="over a unix socket")
    s = send_one(p.host, p.port, ["erin@example.net"], msg)
    assert s.final is not None and s.final.code == 250, s
    got = postfix.wait_messages("erin", 1)
    assert len(got) == 1
    assert b"Subject: over a unix socket" in got[0]


def test_smtplib_client_sends_to_several_recipients(postern, postfix):
    import smtplib
    msg = make_message(subject="via smtplib", to="alice@example.net")
    with smtplib.SMTP(postern.host, postern.port, timeout=30) as c:
        c.ehlo("smtplib.example")
        refused = c.sendmail("sender@example.org",
                             ["alice@example.net", "carol@example.net",
                              "nobody@example.net"], msg)
    # smtplib reports the recipients the upstream refused, verbatim.
    assert list(refused) == ["nobody@example.net"]
    assert refused["nobody@example.net"][0] == 550
    for user in ("alice", "carol"):
        got = postfix.wait_messages(user, 1)
        assert len(got) == 1 and b"Subject: via smtplib" in got[0]
