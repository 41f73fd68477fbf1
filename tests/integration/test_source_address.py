"""Source addresses of the upstream connection: per listener
(listener { source_address }), by default (upstream { source_address })
and per sender domain (upstream { source_table }), the dedicated sending
address of a signing domain.  Postfix's "connect from" lines show where
each connection came from; postern's message lines say source=ADDR.
Only 127.0.0.0/8 is used: every address of it is local on Linux."""

import os
import re
import time

import pytest

import harness
from harness import make_message

RCPT = "bob@example.net"


def connects_from(mta):
    """The client addresses of Postfix's smtpd connections since the
    mark, in order."""
    return re.findall(r"smtpd\[\d+\]: connect from \S+\[([0-9.]+)\]",
                      mta.log_since_mark())


def message_sources(p):
    return re.findall(r" message txn=\S+ .* source=(\S+) ", p.log())


@pytest.fixture
def source_table(tmp_path):
    path = tmp_path / "sources"
    path.write_text("# sender domain   source address\n"
                    "dedicated.example 127.0.0.3\n"
                    ".dedicated.example 127.0.0.4\n")
    os.chmod(str(tmp_path), 0o755)
    return str(path)


def test_default_source_address(start_postern, postfix):
    p = start_postern(postfix, upstream={"source_address": '"127.0.0.2"'})
    s = harness.send_one(p.host, p.port, [RCPT], make_message("default"))
    assert s.final.code == 250, s
    postfix.wait_messages("bob", 1)
    postfix.wait_idle()
    assert connects_from(postfix) == ["127.0.0.2"]
    assert message_sources(p) == ["127.0.0.2"]


def test_without_source_address_the_kernel_chooses(start_postern, postfix):
    p = start_postern(postfix)
    s = harness.send_one(p.host, p.port, [RCPT], make_message("kernel"))
    assert s.final.code == 250, s
    postfix.wait_idle()
    assert connects_from(postfix) == ["127.0.0.1"]
    assert message_sources(p) == ["127.0.0.1"]


def test_listener_source_address_overrides_default(start_postern, postfix):
    port = harness.free_port()
    extra = ('listener second {\n\taddress = "127.0.0.1:%d"\n'
             '\tsource_address = "127.0.0.5"\n}\n' % port)
    p = start_postern(postfix, extra=extra,
                      upstream={"source_address": '"127.0.0.2"'})
    assert harness.wait_listening(port, 10)
    first = harness.send_one(p.host, p.port, [RCPT], make_message("smtp"))
    postfix.wait_idle()
    via_smtp = connects_from(postfix)
    postfix.mark_log()
    second = harness.send_one(p.host, port, [RCPT], make_message("second"))
    postfix.wait_idle()
    via_second = connects_from(postfix)
    assert first.final.code == 250 and second.final.code == 250
    assert via_smtp == ["127.0.0.2"]
    assert via_second == ["127.0.0.5"]
    assert len(postfix.wait_messages("bob", 2)) == 2


def test_sender_domain_source_and_switching_within_a_session(
        start_postern, postfix, source_table):
    p = start_postern(postfix, upstream={
        "source_address": '"127.0.0.2"',
        "source_table": '"%s"' % source_table})
    senders = ["alice@other.example", "bob@dedicated.example",
               "carol@mail.dedicated.example", "dave@other.example"]
    finals = []
    with p.connect() as c:
        assert c.greeting().code == 220
        assert c.ehlo().code == 250
        for i, sender in enumerate(senders):
            replies = c.send_mail(sender, [RCPT],
                                  make_message("txn %d" % i, sender=sender))
            finals.append([r.code for r in replies])
        c.command("QUIT")
    assert finals == [[250, 250, 354, 250]] * 4, finals
    msgs = postfix.wait_messages("bob", 4)
    assert len(msgs) == 4
    postfix.wait_idle()
    # One connection per change of source, in the session's order.
    assert connects_from(postfix) == ["127.0.0.2", "127.0.0.3",
                                      "127.0.0.4", "127.0.0.2"]
    assert message_sources(p) == ["127.0.0.2", "127.0.0.3", "127.0.0.4",
                                  "127.0.0.2"]
    assert len(re.findall(r"upstream reconnect source=", p.log())) == 3
    # Each connection was told the client with XCLIENT, as at session
    # start: Postfix's Received names the client's HELO every time.
    for raw in msgs:
        assert b"from client.example" in raw, raw[:400]
    # Every transaction went through: nothing queued twice, none lost.
    senders_queued = sorted(s for _, s in postfix.queued_since_mark())
    assert senders_queued == sorted(senders)


def test_same_source_does_not_reconnect(start_postern, postfix,
                                        source_table):
    p = start_postern(postfix, upstream={
        "source_table": '"%s"' % source_table})
    with p.connect() as c:
        c.greeting()
        c.ehlo()
        for i in range(2):
            replies = c.send_mail("x@dedicated.example", [RCPT],
                                  make_message("same %d" % i))
            assert replies[-1].code == 250, replies
        c.command("QUIT")
    postfix.wait_messages("bob", 2)
    postfix.wait_idle()
    # The session's first connection is the kernel's choice; the first
    # MAIL moves it once, the second stays.
    assert connects_from(postfix) == ["127.0.0.1", "127.0.0.3"]
    assert message_sources(p) == ["127.0.0.3", "127.0.0.3"]


def test_source_that_cannot_connect_gets_451_and_session_goes_on(
        start_postern, fake_upstream, source_table):
    """The connection from the sender domain's address is refused at its
    greeting: MAIL gets 451 4.4.1, the old connection stays and the next
    transaction, from another domain, goes through on it."""
    def greeting(peer):
        if peer == "127.0.0.3":
            return b"554 5.7.1 fake.test: not from this address\r\n"
        return b"220 fake.test ESMTP fake\r\n"

    fake = fake_upstream(greeting=greeting)
    p = start_postern(fake, upstream={"source_table": '"%s"' % source_table})
    with p.connect() as c:
        c.greeting()
        c.ehlo()
        refused = c.command("MAIL FROM:<a@dedicated.example>")
        replies = c.send_mail("b@other.example", [RCPT],
                              make_message("after the refusal"))
        c.command("QUIT")
    assert refused.code == 451, refused
    assert refused.text.startswith("451 4.4.1 "), refused
    assert [r.code for r in replies] == [250, 250, 354, 250], replies
    assert re.search(r'upstream unavailable source=127\.0\.0\.3 '
                     r'reason="554 5\.7\.1 fake\.test: not from this',
                     p.log()), p.log()
    assert "reason=upstream-unavailable" in p.log()
    mails = [cmd for cmd in fake.commands() if cmd.startswith(b"MAIL")]
    assert mails == [b"MAIL FROM:<b@other.example>"]
    assert len(fake.messages()) == 1
    assert message_sources(p) == ["127.0.0.1"]


def test_source_that_cannot_connect_after_the_old_one_was_lost(
        start_postern, fake_upstream, source_table):
    """The old connection is dropped (idle) while the one from the
    sender domain's address is refused: MAIL gets 451, then the session
    ends with 421, since no upstream is left."""
    def greeting(peer):
        if peer == "127.0.0.3":
            time.sleep(2)
            return b"554 5.7.1 fake.test: not from this address\r\n"
        return b"220 fake.test ESMTP fake\r\n"

    fake = fake_upstream(greeting=greeting, idle_timeout=1)
    p = start_postern(fake, upstream={"source_table": '"%s"' % source_table})
    with p.connect() as c:
        c.greeting()
        c.ehlo()
        refused = c.command("MAIL FROM:<a@dedicated.example>")
        after = c.read_reply(timeout=10)
        assert c.expect_closed(10)
    assert refused.text.startswith("451 4.4.1 "), refused
    assert after.code == 421 and after.enhanced == "4.4.2", after
    assert p.wait_log(r" disconnect reason=upstream-lost "), p.log()
