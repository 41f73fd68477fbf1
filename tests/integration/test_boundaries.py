"""Message boundaries and SMTP smuggling: only CRLF.CRLF ends a message.

Each case sends, after DATA, one write of raw bytes:

    headers, "text", <FAKE END>, "MAIL FROM:<evil@x>" CRLF
    "RCPT TO:<bob@example.net>" CRLF "DATA" CRLF "smuggled" CRLF "." CRLF

where the last CRLF "." CRLF (after "smuggled") is the one real end.
A server that takes the fake end for an end would see a second
transaction.  In reject mode postern must refuse the message once, at the
real end, with 550 5.5.2 and relay nothing; in normalize mode exactly one
message reaches the mailbox, with the smuggled lines as its content, and
Postfix sees one transaction, from the real sender.
"""

import time

import pytest

import harness
from harness import make_message

SENDER = "sender@example.org"

FAKE_ENDS = {
    "lf_dot_lf": b"\n.\n",
    "lf_dot_crlf": b"\n.\r\n",
    "crlf_dot_lf": b"\r\n.\n",
    "cr_dot_cr": b"\r.\r",
    "cr_dot_crlf": b"\r.\r\n",
    "crlf_dot_cr": b"\r\n.\r",
    "lf_dot_cr": b"\n.\r",
    "cr_dot_lf": b"\r.\n",
    "crlf_dot_cr_crlf": b"\r\n.\r\r\n",
}

SMUGGLED = (b"MAIL FROM:<evil@x>\r\n"
            b"RCPT TO:<bob@example.net>\r\n"
            b"DATA\r\n"
            b"smuggled\r\n")


def smuggling_payload(fake_end):
    head = (b"From: sender@example.org\r\nTo: bob@example.net\r\n"
            b"Subject: boundary\r\nMessage-ID: <b%d@client.example>\r\n"
            b"\r\n" % time.time_ns())
    return head + b"text" + fake_end + SMUGGLED + b".\r\n"


def open_transaction(p):
    c = p.connect()
    assert c.greeting().code == 220
    assert c.ehlo().code == 250
    assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
    assert c.command("RCPT TO:<bob@example.net>").code == 250
    data = c.command("DATA")
    assert data.code == 354, data
    return c


def assert_one_reply_then_quit(c, payload):
    """Send payload; return the one reply to it, checking that the next
    reply is QUIT's 221 (a smuggled transaction would answer first)."""
    c.send(payload)
    reply = c.read_reply(timeout=30)
    quit_ = c.command("QUIT")
    assert quit_.code == 221, \
        "got %r after the message's reply, want QUIT's 221" % quit_.text
    return reply


@pytest.mark.parametrize("fake_end", FAKE_ENDS.values(),
                         ids=FAKE_ENDS.keys())
def test_fake_end_is_refused_in_reject_mode_nothing_relayed(
        postern, postfix, fake_end):
    with open_transaction(postern) as c:
        reply = assert_one_reply_then_quit(c, smuggling_payload(fake_end))
    assert (reply.code, reply.enhanced) == (550, "5.5.2"), \
        "got %r, want 550 5.5.2 at the real end" % reply.text
    assert postfix.wait_idle()
    assert postfix.queued_since_mark() == [], postfix.log_since_mark()
    assert postfix.messages("bob") == []
    assert "evil@x" not in postfix.log_since_mark()


@pytest.mark.parametrize("fake_end", FAKE_ENDS.values(),
                         ids=FAKE_ENDS.keys())
def test_fake_end_delivers_one_message_in_normalize_mode(
        start_postern, postfix, fake_end):
    p = start_postern(postfix, limits={"bare_line_ending": "normalize"})
    with open_transaction(p) as c:
        reply = assert_one_reply_then_quit(c, smuggling_payload(fake_end))
    assert reply.code == 250, "got %r, want Postfix's 250" % reply.text
    assert postfix.wait_idle()
    queued = postfix.queued_since_mark()
    assert queued and all(s == SENDER for _, s in queued), \
        "postfix queued %r, want one message from %s" % (queued, SENDER)
    assert len(queued) == 1, "postfix queued %r, want one message" % queued
    assert "evil@x>," not in postfix.log_since_mark()
    msgs = postfix.messages("bob")
    assert len(msgs) == 1, "got %d messages, want 1" % len(msgs)
    body = harness.strip_mta_trace(msgs[0])
    assert b"MAIL FROM:<evil@x>" in body and b"smuggled" in body, body
    assert harness.split_mta_trace(msgs[0])[0][0].startswith(
        b"Return-Path: <%s>" % SENDER.encode())


def test_dot_space_line_is_not_an_end(postern, postfix):
    # Clean CRLF lines: nothing to reject; ". " is a text line (its dot
    # removed as dot-stuffing), so all of it is one message.
    with open_transaction(postern) as c:
        reply = assert_one_reply_then_quit(
            c, smuggling_payload(b"\r\n. \r\n"))
    assert reply.code == 250, reply
    assert postfix.wait_idle()
    assert len(postfix.queued_since_mark()) == 1
    [raw] = postfix.messages("bob")
    assert harness.strip_mta_trace(raw).endswith(
        b"\ntext\n \nMAIL FROM:<evil@x>\nRCPT TO:<bob@example.net>\n"
        b"DATA\nsmuggled\n")


@pytest.mark.parametrize("bare", [b"\n", b"\r"], ids=["bare_lf", "bare_cr"])
def test_bare_line_ending_inside_text_is_refused_in_reject_mode(
        postern, postfix, bare):
    payload = (b"Subject: bare\r\n\r\nline one" + bare + b"line two\r\n"
               b".\r\n")
    with open_transaction(postern) as c:
        reply = assert_one_reply_then_quit(c, payload)
    assert (reply.code, reply.enhanced) == (550, "5.5.2"), reply
    assert postfix.wait_idle()
    assert postfix.queued_since_mark() == []


def test_bare_lf_inside_text_becomes_a_line_break_in_normalize_mode(
        start_postern, postfix):
    p = start_postern(postfix, limits={"bare_line_ending": "normalize"})
    payload = (b"Subject: bare\r\n\r\nline one\nline two\r\n.\r\n")
    with open_transaction(p) as c:
        reply = assert_one_reply_then_quit(c, payload)
    assert reply.code == 250, reply
    [raw] = postfix.wait_messages("bob", 1)
    assert raw.endswith(b"\nline one\nline two\n"), raw[-60:]


def test_end_of_data_split_across_writes_is_found(postern, postfix):
    msg = make_message(subject="split end")
    with open_transaction(postern) as c:
        c.send(harness.dot_stuff(msg)[:-5])
        for piece in (b"\r", b"\n", b".", b"\r", b"\n"):
            time.sleep(0.2)
            c.send(piece)
        reply = c.read_reply(timeout=30)
        c.command("QUIT")
    assert reply.code == 250, reply
    assert len(postfix.wait_messages("bob", 1)) == 1


def test_dot_line_inside_stuffed_payload_is_not_an_end(postern, postfix):
    # "..\r\n" after dot-stuffing is a line holding one dot, not an end.
    msg = make_message(body=b"one\r\n.\r\nMAIL FROM:<evil@x>\r\n")
    with open_transaction(postern) as c:
        reply = assert_one_reply_then_quit(c, harness.dot_stuff(msg))
    assert reply.code == 250, reply
    [raw] = postfix.wait_messages("bob", 1)
    assert harness.strip_mta_trace(raw).endswith(
        b"\none\n.\nMAIL FROM:<evil@x>\n")
    assert postfix.wait_idle()
    assert len(postfix.queued_since_mark()) == 1
