"""postern's own limits: command and text line lengths, NUL and bare LF in
commands, SIZE, message size, recipients, errors, idle and DATA
timeouts.  Each refusal must leave the upstream without a message."""

import time

import harness
from harness import make_message, send_one

SENDER = "sender@example.org"


def session(p, helo="client.example"):
    c = p.connect()
    assert c.greeting().code == 220
    assert c.ehlo(helo).code == 250
    return c


def assert_nothing_queued(postfix):
    assert postfix.wait_idle(), "postfix did not go idle"
    queued = postfix.queued_since_mark()
    assert queued == [], "postfix queued %r, want nothing" % queued
    assert postfix.messages("bob") == []


def assert_reply(reply, code, enhanced):
    assert (reply.code, reply.enhanced) == (code, enhanced), \
        "got %r, want %d %s" % (reply.text, code, enhanced)


# ---------------------------------------------------------- command lines

def test_command_line_of_512_octets_is_accepted(postern):
    line = b"NOOP " + b"x" * (512 - 5 - 2)
    assert len(line) + 2 == 512
    with session(postern) as c:
        reply = c.command(line)
        c.command("QUIT")
    assert reply.code == 250, "got %r to a 512-octet NOOP" % reply.text


def test_command_line_of_513_octets_gets_500_and_session_continues(
        postern):
    line = b"NOOP " + b"x" * (513 - 5 - 2)
    with session(postern) as c:
        reply = c.command(line)
        noop = c.command("NOOP")
        c.command("QUIT")
    assert_reply(reply, 500, "5.5.2")
    assert noop.code == 250, "got %r after the long line" % noop.text


def test_very_long_command_line_gets_one_500_only(postern):
    with session(postern) as c:
        reply = c.command(b"MAIL FROM:<" + b"a" * 100000 + b"@example.org>")
        noop = c.command("NOOP")
        c.command("QUIT")
    assert_reply(reply, 500, "5.5.2")
    assert noop.code == 250, \
        "got %r to NOOP, want 250 (one reply per line)" % noop.text


def test_nul_in_command_gets_500(postern):
    with session(postern) as c:
        reply = c.command(b"NOOP a\x00b")
        mail = c.command(b"MAIL FROM:<a\x00b@example.org>")
        noop = c.command("NOOP")
        c.command("QUIT")
    assert_reply(reply, 500, "5.5.2")
    assert_reply(mail, 500, "5.5.2")
    assert noop.code == 250, noop


def test_bare_lf_command_gets_500_in_reject_mode(postern):
    with session(postern) as c:
        c.send(b"NOOP\n")
        reply = c.read_reply()
    assert_reply(reply, 500, "5.5.2")


# -------------------------------------------------------------- sizes

def test_mail_size_over_limit_gets_552_and_at_limit_250(start_postern,
                                                        postfix):
    p = start_postern(postfix, limits={"message_size": "1000000"})
    with session(p) as c:
        over = c.command("MAIL FROM:<%s> SIZE=1000001" % SENDER)
        at = c.command("MAIL FROM:<%s> SIZE=1000000" % SENDER)
        c.command("QUIT")
    assert_reply(over, 552, "5.3.4")
    assert at.code == 250, "got %r for SIZE at the limit" % at.text


def test_message_over_size_limit_gets_552_after_dot_nothing_delivered(
        start_postern, postfix):
    p = start_postern(postfix, limits={"message_size": "100000"})
    body = b"".join(b"%06d 0123456789012345678901234567890123456789\r\n" % i
                    for i in range(4000))
    msg = make_message(body=body)
    assert len(msg) > 150000
    with session(p) as c:
        replies = c.send_mail(SENDER, ["bob@example.net"], msg)
        noop = c.command("NOOP")
        c.command("QUIT")
    assert [r.code for r in replies[:3]] == [250, 250, 354], replies
    assert_reply(replies[3], 552, "5.3.4")
    assert noop.code == 250, noop
    assert_nothing_queued(postfix)


def test_message_under_size_limit_is_delivered(start_postern, postfix):
    p = start_postern(postfix, limits={"message_size": "100000"})
    msg = make_message(body=b"short\r\n")
    s = send_one(p.host, p.port, ["bob@example.net"], msg)
    assert s.final is not None and s.final.code == 250, s
    assert len(postfix.wait_messages("bob", 1)) == 1


# ---------------------------------------------------------- text lines

def test_text_line_of_1000_octets_is_delivered(postern, postfix):
    line = b"y" * 998 + b"\r\n"
    msg = make_message(body=b"before\r\n" + line + b"after\r\n")
    s = send_one(postern.host, postern.port, ["bob@example.net"], msg)
    assert s.final is not None and s.final.code == 250, s
    [raw] = postfix.wait_messages("bob", 1)
    assert line.rstrip(b"\r\n") + b"\n" in raw


def test_text_line_of_1001_octets_gets_550_nothing_delivered(postern,
                                                             postfix):
    line = b"z" * 999 + b"\r\n"
    msg = make_message(body=b"before\r\n" + line + b"after\r\n")
    with session(postern) as c:
        replies = c.send_mail(SENDER, ["bob@example.net"], msg)
        noop = c.command("NOOP")
        c.command("QUIT")
    assert replies[2].code == 354, replies
    assert_reply(replies[3], 550, "5.5.2")
    assert noop.code == 250, noop
    assert_nothing_queued(postfix)


# ---------------------------------------------------------- recipients

def test_recipients_over_limit_get_452_and_the_rest_get_the_message(
        start_postern, postfix):
    p = start_postern(postfix, limits={"recipients": "3"})
    rcpts = ["alice@example.net", "bob@example.net", "carol@example.net",
             "dave@example.net"]
    msg = make_message()
    s = send_one(p.host, p.port, rcpts, msg)
    assert [r.code for r in s.rcpts[:3]] == [250, 250, 250], s
    assert_reply(s.rcpts[3], 452, "4.5.3")
    assert s.final is not None and s.final.code == 250, s
    for user in ("alice", "bob", "carol"):
        assert len(postfix.wait_messages(user, 1)) == 1, user
    postfix.wait_idle()
    assert postfix.messages("dave") == []


# -------------------------------------------------------------- errors

def test_too_many_errors_end_session_with_421(start_postern, postfix):
    p = start_postern(postfix, limits={"errors": "3"})
    replies = []
    with session(p) as c:
        try:
            for _ in range(6):
                reply = c.command("FROB")
                replies.append(reply)
                if reply.code == 421:
                    break
        except EOFError:
            pass
        closed = c.expect_closed()
    codes = [r.code for r in replies]
    assert 421 in codes, "got %r, want a 421 after 3 errors" % codes
    assert codes.index(421) in (2, 3), \
        "got %r, want 421 at the 3rd or 4th error" % codes
    assert replies[-1].enhanced == "4.7.0", replies[-1]
    assert all(500 <= code < 600 for code in codes[:-1]), codes
    assert closed, "connection not closed after 421"


# ------------------------------------------------------------ timeouts

def test_idle_timeout_gets_421_and_disconnect(start_postern, postfix):
    p = start_postern(postfix, limits={"idle_timeout": "2s"})
    with session(p) as c:
        start = time.monotonic()
        reply = c.read_reply(timeout=15)
        elapsed = time.monotonic() - start
        closed = c.expect_closed()
    assert_reply(reply, 421, "4.4.2")
    assert 1.5 <= elapsed <= 10, "421 after %.1f s, want about 2 s" % \
        elapsed
    assert closed
    assert postfix.wait_idle(), "upstream session left open"


def test_data_timeout_gets_421_and_disconnect_nothing_delivered(
        start_postern, postfix):
    p = start_postern(postfix, limits={"data_timeout": "2s"})
    with session(p) as c:
        assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
        assert c.command("RCPT TO:<bob@example.net>").code == 250
        assert c.command("DATA").code == 354
        c.send(b"Subject: stalled\r\n\r\nhalf a li")
        start = time.monotonic()
        reply = c.read_reply(timeout=15)
        elapsed = time.monotonic() - start
        closed = c.expect_closed()
    assert_reply(reply, 421, "4.4.2")
    assert 1.5 <= elapsed <= 10, "421 after %.1f s, want about 2 s" % \
        elapsed
    assert closed
    assert_nothing_queued(postfix)


def test_slow_but_steady_data_is_not_timed_out(start_postern, postfix):
    p = start_postern(postfix, limits={"data_timeout": "2s"})
    msg = make_message(body=b"".join(b"line %d\r\n" % i for i in range(4)))
    with session(p) as c:
        assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
        assert c.command("RCPT TO:<bob@example.net>").code == 250
        assert c.command("DATA").code == 354
        payload = harness.dot_stuff(msg)
        # Four pieces a second apart: 3 s in all, never 2 s of silence.
        step = len(payload) // 4 + 1
        for i in range(0, len(payload), step):
            c.send(payload[i:i + step])
            time.sleep(1)
        final = c.read_reply(timeout=30)
        c.command("QUIT")
    assert final.code == 250, final
    assert len(postfix.wait_messages("bob", 1)) == 1


# ------------------------------------------------------------ sessions

def test_sessions_per_client_limit_refuses_the_extra_connection(
        start_postern, postfix):
    p = start_postern(postfix, limits={"sessions_per_client": "2"})
    first, second = p.connect(), p.connect()
    try:
        assert first.greeting().code == 220
        assert second.greeting().code == 220
        with p.connect() as third:
            reply = third.read_reply(timeout=10)
            closed = third.expect_closed()
        assert reply.code == 421, \
            "got %r for a 3rd session, want 421" % reply.text
        assert closed
    finally:
        first.close()
        second.close()
    assert postfix.wait_idle()
    # Once the others have gone, the client is welcome again.
    s = send_one(p.host, p.port, ["bob@example.net"], make_message())
    assert s.final is not None and s.final.code == 250, s


def test_a_client_reconnecting_after_quit_is_not_counted_twice(
        start_postern, postfix):
    """The slot is given back when postern stops serving a session, not
    when it is freed later: a client that opens its next connection as
    soon as it has the 221 is welcome each time."""
    p = start_postern(postfix, limits={"sessions_per_client": "1"})
    greetings = []
    for _ in range(40):
        with p.connect() as c:
            greetings.append(c.greeting().code)
            assert c.command("QUIT").code == 221
    assert greetings == [220] * 40, greetings
    assert "too-many-client-sessions" not in p.log()


def test_sessions_in_total_limit_refuses_the_extra_connection(
        start_postern, postfix):
    p = start_postern(postfix, limits={"sessions": "2",
                                       "sessions_per_client": "2"})
    first, second = p.connect(), p.connect()
    try:
        assert first.greeting().code == 220
        assert second.greeting().code == 220
        with p.connect() as third:
            reply = third.read_reply(timeout=10)
            closed = third.expect_closed()
        assert (reply.code, reply.enhanced) == (421, "4.3.2"), reply.text
        assert closed
    finally:
        first.close()
        second.close()
    assert p.wait_log(r"refuse client=127\.0\.0\.1 listener=smtp "
                      r"reason=too-many-sessions")
