"""The upstream fails: down at connect, gone before or during DATA, silent
after the message, or slow past data_timeout.  The client must get a 4xx
with a 4.4.x enhanced code (so it retries), postern must keep running,
and a message must be delivered at most once."""

import re
import signal
import socket
import threading
import time

import pytest

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


def tempfailed_in_data(start_postern, fake_upstream, on_data, what,
                       **postern):
    """One message to a fake upstream scripted by on_data: the client
    must get 354 then a 4.4.x final reply.  Returns (postern, upstream)."""
    up = fake_upstream(on_data=on_data)
    p = start_postern(up, **postern)
    with open_transaction(p) as c:
        data, final = data_and_final(c, make_message())
    assert data.code == 354, data
    assert_4_4_x(final, what)
    return p, up


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
    _, up = tempfailed_in_data(start_postern, fake_upstream, "die_after_354",
                               "after the upstream died in DATA")
    assert up.messages() == []


def test_upstream_silent_after_dot_gives_4_4_x(start_postern,
                                               fake_upstream):
    tempfailed_in_data(start_postern, fake_upstream, "die_after_dot",
                       "when the upstream closed without a reply")


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


def test_reply_dripping_past_command_timeout_gives_4_4_x(start_postern,
                                                         fake_upstream):
    # command_timeout bounds the whole reply, not each read: a reply
    # sent an octet at a time must not hold the session longer.
    def drip(conn):
        for b in b"250 2.0.0 Ok\r\n":
            conn.sendall(bytes([b]))
            time.sleep(0.5)

    up = fake_upstream(replies={b"MAIL": drip})
    p = start_postern(up, upstream={"command_timeout": "2s"})
    with p.connect() as c:
        assert c.greeting().code == 220
        assert c.ehlo().code == 250
        start = time.monotonic()
        r = c.command("MAIL FROM:<%s>" % SENDER)
        took = time.monotonic() - start
    assert_4_4_x(r, "for a reply dripping past command_timeout")
    # The drip takes 7 s; failing within it is the point.
    assert took < 6, took
    assert p.wait_log(r" upstream failed reason=\"timeout\""), p.log()


def test_upstream_final_reply_slower_than_data_timeout_gives_4_4_x(
        start_postern, fake_upstream):
    tempfailed_in_data(start_postern,
                       lambda **kw: fake_upstream(final_delay=8, **kw),
                       "slow", "when the upstream's final reply timed out",
                       upstream={"data_timeout": "2s"})


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


# ------------------------------------------------- replies out of lockstep

def test_final_250_followed_by_421_is_relayed_then_session_ends(
        start_postern, fake_upstream):
    # The upstream queued the message and then said more in the same
    # write: the client must see the 250 (or it sends the message
    # again), then the session ends since the upstream left lockstep.
    up = fake_upstream(on_data="accept_then_421")
    p = start_postern(up)
    with open_transaction(p) as c:
        data, final = data_and_final(c, make_message())
        next_ = c.command("MAIL FROM:<%s>" % SENDER)
    assert final is not None and \
        final.text == "250 2.0.0 Ok: queued as FAKE1", final
    assert_4_4_x(next_, "after the upstream left lockstep")
    assert len(up.messages()) == 1
    assert p.wait_log(r" message txn=\S+ .*result=relayed "), p.log()
    assert p.wait_log(r" upstream (lost|failed) reason=\"unexpected data "
                      r"after a reply\""), p.log()


def test_354_followed_by_more_gets_no_message(start_postern, fake_upstream):
    # Data after the 354 means the upstream is out of step: not one
    # octet of the message may go to it.
    p, up = tempfailed_in_data(start_postern, fake_upstream,
                               "354_then_more", "after a 354 followed by more")
    assert up.messages() == []
    assert p.wait_log(r" result=tempfail .*upstream=\"unexpected data "
                      r"after a reply\""), p.log()


def test_dripping_greeting_is_bounded(start_postern, fake_upstream):
    # connect_timeout plus command_timeout bound the greeting however
    # slowly its lines come.
    def greeting(_addr):
        return b"".join(b"220-line %d\r\n" % i for i in range(40))

    up = fake_upstream(greeting=greeting, greeting_drip=1.0)
    p = start_postern(up, upstream={"connect_timeout": "2s",
                                    "command_timeout": "2s"})
    with p.connect() as c:
        start = time.monotonic()
        r = c.read_reply(timeout=30)
        took = time.monotonic() - start
    assert_4_4_x(r, "as greeting from a dripping upstream")
    assert took < 10, took


def test_replies_that_cannot_answer_the_command_are_not_relayed(
        start_postern, fake_upstream):
    # A 354 to MAIL, or a 221 (closing) to RCPT, leaves the upstream in a
    # state postern cannot know: the client gets 421 4.4.x, never the
    # upstream's reply as if it were an answer.
    for verb, reply in ((b"MAIL", b"354 what now\r\n"),
                        (b"MAIL", b"221 2.0.0 bye\r\n"),
                        (b"RCPT", b"334 VXNlcm5hbWU6\r\n")):
        up = fake_upstream(replies={verb: reply})
        p = start_postern(up)
        with p.connect() as c:
            assert c.greeting().code == 220
            assert c.ehlo().code == 250
            r = c.command("MAIL FROM:<%s>" % SENDER)
            if verb == b"RCPT":
                assert r.code == 250, r
                r = c.command("RCPT TO:<bob@example.net>")
        assert_4_4_x(r, "for %r to %s" % (reply, verb.decode()))
        assert p.wait_log(r" upstream failed reason=\"reply out of place: "
                          + reply.decode()[:3]), p.log()


def test_part_of_a_line_sent_while_idle_is_not_glued_to_a_reply(
        start_postern, fake_upstream):
    # Half a line after MAIL's reply would be read as the start of the
    # RCPT reply ("250 2.1.5 Ok550 5.1.1 ..." relayed as a 250).
    def mail(conn):
        conn.sendall(b"250 2.1.0 Ok\r\n")
        time.sleep(0.2)
        conn.sendall(b"250 2.1.5 Ok")

    up = fake_upstream(replies={b"MAIL": mail,
                                b"RCPT": b"550 5.1.1 unknown user\r\n"})
    p = start_postern(up)
    with p.connect() as c:
        assert c.greeting().code == 220
        assert c.ehlo().code == 250
        assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
        time.sleep(0.5)
        r = c.command("RCPT TO:<bob@example.net>")
    assert_4_4_x(r, "after half a line arrived while idle")
    assert p.wait_log(r" upstream failed reason=\"unexpected data while "
                      r"idle\""), p.log()


def test_354_after_the_final_dot_is_not_a_final_reply(start_postern,
                                                      fake_upstream):
    p, _ = tempfailed_in_data(start_postern, fake_upstream, "354_after_dot",
                              "for a 354 after the final dot")
    assert p.wait_log(r" result=tempfail .*upstream=\"reply out of place: "
                      r"354 go ahead again\""), p.log()


def test_each_session_logs_its_own_upstream_failure(start_postern,
                                                    fake_upstream):
    # Two sessions in DATA whose upstreams each fail with their own
    # reply: each logs its own reason, and each message still goes
    # through on a new connection.
    up = fake_upstream()
    p = start_postern(up)
    clients = [open_transaction(p) for _ in range(2)]
    for c in clients:
        assert c.command("DATA").code == 354
    conns = list(up.conns)
    assert len(conns) == 2, conns
    for i, conn in enumerate(conns):
        conn.sendall(b"421 4.3.2 unsolicited-%d\r\n" % i)
    time.sleep(0.5)
    for c in clients:
        c.send(harness.dot_stuff(make_message()))
        final = c.read_reply(timeout=30)
        c.close()
        assert final.code == 250, final
    log = p.log()
    for i in range(2):
        ids = re.findall(r"(\S+) upstream reconnect reason=\"closed by "
                         r"upstream: 421 4\.3\.2 unsolicited-%d\"" % i,
                         log)
        assert len(ids) == 1, log
        assert re.search(re.escape(ids[0]) + r" upstream lost "
                         r"reason=\"closed by upstream: 421 4\.3\.2 "
                         r"unsolicited-%d\"" % i, log), log
    assert len(up.messages()) == 2


# ------------------------------------------- upstream lost while in DATA

@pytest.fixture(scope="module")
def impatient_postfix():
    """A Postfix that drops a client idle for 2 s (smtpd_timeout, as
    under stress it is 10 s)."""
    yield from harness.run_mta(harness.Postfix(
        main_cf={"smtpd_timeout": "2s"}))


def slow_message(c, msg, pause):
    """DATA, half the message, a pause, the rest; the final reply."""
    assert c.command("DATA").code == 354
    body = harness.dot_stuff(msg)
    c.send(body[:len(body) // 2])
    time.sleep(pause)
    c.send(body[len(body) // 2:])
    return c.read_reply(timeout=60)


def test_upstream_dropping_a_slow_client_gets_the_envelope_replayed(
        start_postern, impatient_postfix):
    # Postfix drops postern's idle connection while the client is still
    # sending: at the final dot postern connects again, replays MAIL and
    # both RCPTs, and the message is delivered once.
    impatient_postfix.reset()
    p = start_postern(impatient_postfix)
    msg = make_message(subject="slow sender")
    with p.connect() as c:
        assert c.greeting().code == 220
        assert c.ehlo().code == 250
        assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
        for rcpt in ("bob@example.net", "carol@example.net"):
            assert c.command("RCPT TO:<%s>" % rcpt).code == 250
        final = slow_message(c, msg, 4)
        assert final.code == 250 and "queued as" in final.text, final
        assert c.command("QUIT").code == 221
    for user in ("bob", "carol"):
        got = impatient_postfix.wait_messages(user, 1)
        assert len(got) == 1 and b"Subject: slow sender" in got[0]
    assert p.wait_log(r" upstream reconnect reason=\"[^\"]+\" rcpts=2"), \
        p.log()
    assert p.wait_log(r" upstream replay done rcpts=2"), p.log()
    assert p.wait_log(r" message txn=\S+ .*result=relayed "), p.log()


def test_replay_refused_gives_421_and_delivers_nothing(start_postern,
                                                       fake_upstream):
    # The new connection refuses a recipient it took the first time:
    # the client was told 250 for it, so the whole message is the
    # client's to send again.
    seen = []

    def rcpt(conn):
        seen.append(1)
        conn.sendall(b"250 2.1.5 Ok\r\n" if len(seen) == 1
                     else b"450 4.2.0 mailbox busy\r\n")

    up = fake_upstream(idle_timeout=1, replies={b"RCPT": rcpt})
    p = start_postern(up)
    with open_transaction(p) as c:
        final = slow_message(c, make_message(), 2.5)
    assert_4_4_x(final, "when the replayed RCPT was refused")
    assert up.messages() == []
    assert p.wait_log(r" upstream replay failed step=rcpt "
                      r"reason=\"450 4\.2\.0 mailbox busy\""), p.log()
    assert p.wait_log(r" result=tempfail .*upstream=\"replay rcpt: 450 "), \
        p.log()


def silent_dns():
    """A UDP port that takes queries and never answers."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))

    def swallow():
        while True:
            try:
                s.recvfrom(4096)
            except OSError:
                return

    threading.Thread(target=swallow, daemon=True).start()
    return s


def test_upstream_lost_while_filters_run_gets_the_envelope_replayed(
        start_postern, fake_upstream):
    # The client sent its message at once, but a DNS lookup of the
    # end-of-message filters outlasts the upstream's idle timeout: the
    # envelope is replayed before the message goes upstream.
    dns = silent_dns()
    up = fake_upstream(idle_timeout=1.5)
    p = start_postern(up, extra=(
        'dns { forwarders = {"127.0.0.1@%d"}  timeout = 3s }\n'
        'filter dkim_verify { dns_error = accept }'
        % dns.getsockname()[1]))
    msg = make_message(extra_headers=[
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; "
        "c=relaxed/relaxed; h=from; bh=AAAA; b=AAAA"])
    try:
        with open_transaction(p) as c:
            data, final = data_and_final(c, msg)
    finally:
        dns.close()
    assert final is not None and final.code == 250, final
    assert len(up.messages()) == 1
    assert p.wait_log(r" upstream replay done rcpts=1"), p.log()


@pytest.mark.parametrize("verdict,score,code", [("reject", 1000, 550),
                                                ("hold", 12, 250)])
def test_verdict_needing_no_upstream_is_given_when_it_is_lost(
        start_postern, fake_upstream, tmp_path, verdict, score, code):
    # The upstream drops the idle connection while the filters run, and
    # the verdict keeps the message from it anyway: the client hears the
    # verdict (550, or 250 once the message is held), not a 421, and the
    # session ends for want of an upstream.
    rules = tmp_path / "r.cf"
    rules.write_text("body WORD /\\bspamword\\b/\nscore WORD %d\n" % score)
    quarantine = tmp_path / "q"
    quarantine.mkdir()
    dns = silent_dns()
    up = fake_upstream(idle_timeout=1.5)
    p = start_postern(up, extra="\n".join([
        'quarantine_dir = "%s"' % quarantine,
        'dns { forwarders = {"127.0.0.1@%d"}  timeout = 3s }'
        % dns.getsockname()[1],
        "filter dkim_verify { dns_error = accept }",
        'filter spam { rules = {"%s"}  hold_score = 10  reject_score = 15 }'
        % rules]))
    msg = make_message(body=b"a spamword here\r\n", extra_headers=[
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; "
        "c=relaxed/relaxed; h=from; bh=AAAA; b=AAAA"])
    try:
        with open_transaction(p) as c:
            data, final = data_and_final(c, msg)
            after = c.read_reply(timeout=10)
            assert c.expect_closed(10)
    finally:
        dns.close()
    assert final is not None and final.code == code, final
    assert_4_4_x(after, "after the verdict, with no upstream left")
    assert up.messages() == []
    held = list(quarantine.iterdir())
    assert len(held) == (1 if verdict == "hold" else 0), held
    assert p.wait_log(r" disconnect reason=upstream-lost "), p.log()


def test_upstream_lost_between_commands_is_a_tempfail(start_postern,
                                                      fake_upstream):
    # The upstream drops the idle connection after RCPT: the client
    # hears 421, and the transaction counts as an upstream tempfail,
    # not as an abort.
    up = fake_upstream(idle_timeout=1)
    p = start_postern(up)
    with open_transaction(p) as c:
        r = c.read_reply(timeout=10)
    assert_4_4_x(r, "when the upstream dropped the idle connection")
    assert p.wait_log(r" message txn=\S+ .*result=tempfail .*"
                      r"upstream=\"closed by upstream: 421 "), p.log()
    assert " result=aborted " not in p.log()
