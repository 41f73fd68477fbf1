"""SIGHUP reload, SIGTERM drain and `postern -t`, against a real Postfix.

A reload must not drop open sessions, must refuse a bad configuration
and keep the running one; a drain must stop accepting, let a session in
a transaction deliver its message, and exit 0.
"""

import os
import re
import signal
import socket
import subprocess
import time

import harness
from harness import make_message, wait_until


def rewrite_config(p, old, new):
    text = p.config_text.replace(old, new)
    assert text != p.config_text, "config did not change"
    p.config_text = text
    with open(p.conf, "w") as f:
        f.write(text)


def test_reload_changes_new_sessions_and_keeps_open_ones(start_postern,
                                                         postfix):
    p = start_postern(postfix)
    with p.connect() as old:
        assert "postern.test" in old.greeting().text
        old.ehlo()
        rewrite_config(p, 'hostname = "postern.test"',
                       'hostname = "reloaded.test"')
        p.proc.send_signal(signal.SIGHUP)
        assert p.wait_log(r"reload done"), p.log()
        with p.connect() as new:
            assert new.greeting().text == "220 reloaded.test ESMTP postern"
        # The session opened before the reload finishes on its own
        # generation: its message goes through, stamped by the old name.
        msg = make_message(subject="across reload")
        replies = old.send_mail("a@example.org", ["bob@example.net"], msg)
        assert replies[-1].code == 250, replies
        assert old.command("QUIT").code == 221
    got = postfix.wait_messages("bob", 1)
    assert b"by postern.test (postern)" in got[0]


def test_reload_with_bad_config_keeps_running_one(start_postern, postfix):
    p = start_postern(postfix)
    rewrite_config(p, "workers = 2", "workers = 2\nbogus_option = 1")
    p.proc.send_signal(signal.SIGHUP)
    assert p.wait_log(r"error: reload refused config=running "
                      r"reason=\".*postern\.conf:\d+: "), p.log()
    assert p.proc.poll() is None
    msg = make_message(subject="after failed reload")
    with p.connect() as c:
        assert c.greeting().text == "220 postern.test ESMTP postern"
        c.ehlo()
        assert c.send_mail("a@example.org", ["bob@example.net"],
                           msg)[-1].code == 250
    assert len(postfix.wait_messages("bob", 1)) == 1


def test_reload_says_what_waits_for_a_restart(start_postern, postfix,
                                              tmp_path):
    # Sections whose threads or sockets are made once at startup are
    # reported on reload, not dropped in silence; removing the milter
    # section stops the milter.
    mport, hport = harness.free_port(), harness.free_port()
    db = str(tmp_path / "h.db")
    p = start_postern(postfix, extra=(
        'milter { address = "inet:127.0.0.1:%d" }\n'
        'metrics { address = "127.0.0.1:%d" }\n'
        'history { path = "%s" }' % (mport, hport, db)))
    assert harness.wait_listening(mport, 10, p.proc)
    rewrite_config(p, "workers = 2", "workers = 3")
    rewrite_config(p, 'history { path = "%s" }' % db,
                   'history { path = "%s"  retention = 2w }' % db)
    rewrite_config(p, 'metrics { address = "127.0.0.1:%d" }' % hport,
                   'metrics { address = "127.0.0.1:%d" }'
                   % harness.free_port())
    rewrite_config(p, 'milter { address = "inet:127.0.0.1:%d" }' % mport,
                   "")
    p.proc.send_signal(signal.SIGHUP)
    assert p.wait_log(r"reload done"), p.log()
    for what in (r"workers=3 takes effect at restart",
                 r"metrics section changed, takes effect at restart",
                 r"history section changed, takes effect at restart",
                 r"milter section removed, milter stopping"):
        assert re.search(r"reload: " + what, p.log()), p.log()
    assert wait_until(lambda: mport not in harness._listening_ports(), 15), \
        "the milter still listens after its section was removed"
    assert p.wait_log(r"info: milter stopped"), p.log()
    # Back again: it waits for a restart; gone again: nothing to stop.
    milter = 'milter { address = "inet:127.0.0.1:%d" }' % mport
    rewrite_config(p, "workers = 3", "workers = 3\n" + milter)
    p.proc.send_signal(signal.SIGHUP)
    assert p.wait_log(r"reload: milter address=inet:127\.0\.0\.1:%d "
                      r"takes effect at restart" % mport), p.log()
    rewrite_config(p, "\n" + milter, "")
    p.proc.send_signal(signal.SIGHUP)
    assert wait_until(lambda: p.log().count("reload done") == 3, 10), \
        p.log()
    assert p.log().count("milter stopping") == 1, p.log()
    sent = harness.send_one(p.host, p.port, ["bob@example.net"],
                            make_message(subject="after reload"))
    assert sent.final is not None and sent.final.code == 250, sent
    assert p.proc.poll() is None


def test_reload_opens_new_listener_and_closes_old(start_postern, postfix):
    p = start_postern(postfix)
    new_port = harness.free_port()
    rewrite_config(p, "127.0.0.1:%d" % p.port, "127.0.0.1:%d" % new_port)
    p.proc.send_signal(signal.SIGHUP)
    assert p.wait_log(r"reload done"), p.log()
    assert harness.wait_listening(new_port, 5)
    with harness.SMTPClient("127.0.0.1", new_port) as c:
        assert c.greeting().code == 220
    assert wait_until(lambda: not _accepts("127.0.0.1", p.port), 5)


def _accepts(host, port):
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def test_term_drains_and_lets_open_transaction_finish(start_postern,
                                                      postfix):
    p = start_postern(postfix)
    busy = p.connect()
    idle = p.connect()
    busy.greeting()
    busy.ehlo()
    idle.greeting()
    idle.ehlo()
    assert busy.command("MAIL FROM:<a@example.org>").code == 250
    assert busy.command("RCPT TO:<carol@example.net>").code == 250

    p.proc.send_signal(signal.SIGTERM)
    # The idle session is told at once; the listener is closed.
    reply = idle.read_reply()
    assert (reply.code, reply.enhanced) == (421, "4.3.2"), reply
    assert idle.expect_closed()
    assert wait_until(lambda: not _accepts("127.0.0.1", p.port), 5)

    # The session in a transaction delivers, then is closed.
    assert busy.command("DATA").code == 354
    busy.send(harness.dot_stuff(make_message(subject="drain")))
    assert busy.read_reply().code == 250
    assert busy.expect_closed()
    assert p.proc.wait(10) == 0
    assert len(postfix.wait_messages("carol", 1)) == 1
    busy.close()
    idle.close()


def test_session_reset_while_its_last_reply_waits_is_freed(start_postern,
                                                           postfix):
    """A session told 421 at shutdown whose client neither reads nor
    stays: the reply can never be written, the reset must free the
    session, and postern must exit long before the drain timeout."""
    p = start_postern(postfix, extra="drain_timeout = 60s")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((p.host, p.port))
    sock.settimeout(15)
    assert sock.recv(512).startswith(b"220")
    # Pipeline NOOPs without reading until postern stops taking them:
    # its replies fill our receive window and then its output buffer.
    sock.setblocking(False)
    chunk = b"NOOP\r\n" * 1000
    stalled_since = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            sock.send(chunk)
            stalled_since = None
        except BlockingIOError:
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > 0.5:
                break
            time.sleep(0.02)
    assert stalled_since is not None, "postern never stopped reading"
    p.proc.send_signal(signal.SIGTERM)
    assert wait_until(lambda: "draining sessions=1" in p.log(), 5)
    time.sleep(0.3)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()  # a reset, with postern's 421 still unsent
    assert p.proc.wait(10) == 0
    assert re.search(r"disconnect reason=shutdown", p.log()), p.log()[-2000:]


def test_term_ends_after_drain_timeout(start_postern, postfix):
    p = start_postern(postfix, extra="drain_timeout = 2s")
    c = p.connect()
    c.greeting()
    c.ehlo()
    assert c.command("MAIL FROM:<a@example.org>").code == 250
    start = time.monotonic()
    p.proc.send_signal(signal.SIGTERM)
    assert p.proc.wait(10) == 0
    waited = time.monotonic() - start
    assert 1.5 <= waited < 8, waited
    assert "drain timeout" in p.log()
    c.close()


def test_check_config_reports_file_and_line(tmp_path):
    good = tmp_path / "good.conf"
    good.write_text(harness.render_config(2525, "127.0.0.1:10025",
                                          str(tmp_path)))
    r = subprocess.run([harness.POSTERN, "-c", str(good), "-t"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "is valid" in r.stdout

    bad = tmp_path / "bad.conf"
    text = good.read_text().replace("filter received { }",
                                    "filter nosuchfilter { }")
    bad.write_text(text)
    line = text.splitlines().index("filter nosuchfilter { }") + 1
    r = subprocess.run([harness.POSTERN, "-c", str(bad), "-t"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.startswith("%s:%d: " % (bad, line)), r.stderr


def _uids(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    return []


def test_runs_as_configured_user_after_binding(start_postern, postfix):
    p = start_postern(postfix, extra='user = "nobody"')
    # Real, effective, saved and filesystem uid: all nobody's.
    assert _uids(p.proc.pid) == [65534] * 4
    msg = make_message(subject="as nobody")
    with p.connect() as c:
        c.greeting()
        c.ehlo()
        assert c.send_mail("a@example.org", ["dave@example.net"],
                           msg)[-1].code == 250
    assert len(postfix.wait_messages("dave", 1)) == 1


def test_unknown_user_is_a_config_error(tmp_path):
    conf = tmp_path / "user.conf"
    text = harness.render_config(2525, "127.0.0.1:10025", str(tmp_path),
                                 extra='user = "no-such-user-here"')
    conf.write_text(text)
    line = text.splitlines().index('user = "no-such-user-here"') + 1
    r = subprocess.run([harness.POSTERN, "-c", str(conf), "-t"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.startswith("%s:%d: user: unknown user" % (conf, line)), \
        r.stderr
