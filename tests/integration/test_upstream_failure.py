"""The upstream fails: down at connect, gone before or during DATA, silent
after the message, or slow past data_timeout.  The client must get a 4xx
with a 4.4.x enhanced code (so it retries), postern must keep running,
and a message must be delivered at most once."""

import re
import signal

import harness
from harness import make_message, send_one

SENDER = "sender@example.org"


def assert_4_4_x(reply, what):
    assert reply is not None, "no reply %s" % what
    assert 400 <= reply.code < 500 and reply.enhanced and \
        re.match(r"4\.4\.\d+$", reply.enhanced), \
        "got %r %s, want 4xx 4.4.x" % (reply.text, what)


def open_transaction(p):
    c = p.connect()
    assert c.greeting().code == 220
    assert c.ehlo().code == 250
    assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
    assert c.command("RCPT TO:<bob@example.net>").code == 250
    return c


def data_and_final(c, msg):
    """DATA and the message; returns (DATA reply, final reply or None)."""
    data = c.command("DATA")
    if data.code != 354:
        return data, None
    c.send(harness.dot_stuff(msg))
    return data, c.read_reply(timeout=60)


# -------------------------------------------------------------- at connect

def test_upstream_not_listening_gives_4_4_x_at_connect(start_postern):
    p = start_postern("127.0.0.1:%d" % harness.free_port())
    for _ in range(2):
        with p.connect() as c:
            greeting = c.read_reply(timeout=20)
            closed = c.expect_closed()
        assert_4_4_x(greeting, "as greeting with the upstream down")
        assert greeting.code == 421, greeting
        assert closed, "connection left open after 421"


def test_upstream_unix_socket_missing_gives_4_4_x_at_connect(start_postern,
                                                            tmp_path):
    path = str(tmp_path / "smtp")
    p = start_postern("unix:" + path)
    with p.connect() as c:
        greeting = c.read_reply(timeout=20)
    assert_4_4_x(greeting, "as greeting with no upstream socket")


def test_upstream_refusing_with_554_greeting_gives_client_an_error(
        start_postern, fake_upstream):
    up = fake_upstream(greeting=b"554 5.3.2 fake.test no service\r\n")
    p = start_postern(up)
    with p.connect() as c:
        greeting = c.read_reply(timeout=20)
    assert greeting.code in (421, 554), \
        "got %r, want 421 or 554 when the upstream refuses" % greeting.text


def test_upstream_never_greeting_gives_4_4_x_after_command_timeout(
        start_postern, fake_upstream):
    up = fake_upstream(greeting=b"")
    p = start_postern(up, upstream={"command_timeout": "2s"})
    with p.connect() as c:
        greeting = c.read_reply(timeout=20)
    assert_4_4_x(greeting, "as greeting with a silent upstream")


# ---------------------------------------------------------- during DATA

def test_upstream_dies_after_354_gives_4_4_x_nothing_delivered(
        start_postern, fake_upstream):
    up = fake_upstream(on_data="die_after_354")
    p = start_postern(up)
    with open_transaction(p) as c:
        data, final = data_and_final(c, make_message())
    assert data.code == 354, data
    assert_4_4_x(final, "after the upstream died in DATA")
    assert up.messages() == []


def test_upstream_silent_after_dot_gives_4_4_x(start_postern,
                                               fake_upstream):
    up = fake_upstream(on_data="die_after_dot")
    p = start_postern(up)
    with open_transaction(p) as c:
        data, final = data_and_final(c, make_message())
    assert data.code == 354, data
    assert_4_4_x(final, "when the upstream closed without a reply")


def test_upstream_accepts_then_dies_client_sees_its_250_once(
        start_postern, fake_upstream):
    up = fake_upstream(on_data="accept_then_die")
    p = start_postern(up)
    msg = make_message()
    with open_transaction(p) as c:
        data, final = data_and_final(c, msg)
        try:
            after = c.command("QUIT")
        except EOFError:
            after = None
    assert final is not None and final.text == \
        "250 2.0.0 Ok: queued as FAKE1", \
        "got %r, want the upstream's 250 verbatim" % final
    assert after is None or after.code in (221, 421), after
    assert len(up.messages()) == 1
    assert up.messages()[0].endswith(harness.dot_stuff(msg)[:-3])


def test_upstream_final_reply_slower_than_data_timeout_gives_4_4_x(
        start_postern, fake_upstream):
    up = fake_upstream(on_data="slow", final_delay=8)
    p = start_postern(up, upstream={"data_timeout": "2s"})
    with open_transaction(p) as c:
        data, final = data_and_final(c, make_message())
    assert data.code == 354, data
    assert_4_4_x(final, "when the upstream's final reply timed out")


def test_postfix_smtpd_killed_before_data_gives_4_4_x_nothing_delivered(
        postern, postfix):
    with open_transaction(postern) as c:
        pids = postfix.smtpd_pids()
        assert pids, "no smtpd process of the test Postfix found"
        for pid in pids:
            harness.kill_pid(pid, signal.SIGKILL)
        data, final = data_and_final(c, make_message())
        reply = final if data.code == 354 else data
    assert_4_4_x(reply, "after the upstream smtpd was killed")
    assert postfix.wait_idle()
    assert postfix.queued_since_mark() == []
    assert postfix.messages("bob") == []


def test_postern_serves_next_session_after_upstream_failure(postern,
                                                            postfix):
    with open_transaction(postern) as c:
        for pid in postfix.smtpd_pids():
            harness.kill_pid(pid, signal.SIGKILL)
        data_and_final(c, make_message())
    msg = make_message(subject="after the failure")
    s = send_one(postern.host, postern.port, ["bob@example.net"], msg)
    assert s.final is not None and s.final.code == 250, s
    assert len(postfix.wait_messages("bob", 1)) == 1


def test_upstream_final_rejection_is_relayed_verbatim(start_postern,
                                                      fake_upstream):
    for mode in ("reject", "tempfail"):
        up = fake_upstream(on_data=mode)
        p = start_postern(up)
        with open_transaction(p) as c:
            data, final = data_and_final(c, make_message())
            quit_ = c.command("QUIT")
        want = harness.FakeUpstream.FINAL_REPLIES[mode].decode().strip()
        assert final is not None and final.text == want, \
            "got %r, want the upstream's %r" % (final, want)
        assert quit_.code == 221, quit_
