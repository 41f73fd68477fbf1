"""Hostile clients and misbehaving upstreams: garbage, NULs, commands
split byte by byte or pipelined by the thousand, clients that never read
or vanish in every state, slow clients, more connections than allowed,
odd XCLIENT, SMTPUTF8 and DSN values, upstreams that answer out of turn,
with mismatched or endless replies, one octet at a time, 421 mid-session
or a wrong reply to DATA, and signals in the middle of it all.

Whatever the peer does, postern must keep running, give every command
one well-formed reply in order, never tell a client 250 for a message
the upstream did not take, give back its memory and file descriptors,
and log network data escaped."""

import os
import random
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

import harness
from harness import make_message, send_one

SENDER = "sender@example.org"
MESSAGE = make_message(subject="hostile")


# ---------------------------------------------------------------- helpers

def proc_status(pid, field):
    """A number field of /proc/PID/status (VmRSS in kB, Threads)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def sanitized(pid):
    """True when the process runs under AddressSanitizer."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def session(p, helo="client.example"):
    c = p.connect()
    assert c.greeting().code == 220
    assert c.ehlo(helo).code == 250
    return c


def replies_until_closed(c, timeout=5):
    """Every reply the server sends until it closes the connection (or
    timeout seconds of silence)."""
    replies = []
    while True:
        try:
            replies.append(c.read_reply(timeout=timeout))
        except (EOFError, socket.timeout, ConnectionResetError):
            return replies


def read_replies_async(c, count, timeout=30):
    """Start reading count replies in a thread (so a big pipelined write
    cannot deadlock against our own full receive buffer); returns
    (thread, list the replies go to)."""
    got = []

    def run():
        try:
            for _ in range(count):
                got.append(c.read_reply(timeout=timeout))
        except (EOFError, socket.timeout, ConnectionResetError,
                ValueError) as e:
            got.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, got


def codes_of(replies):
    return [r.code if isinstance(r, harness.Reply) else repr(r)
            for r in replies]


def assert_all_enhanced(replies, what):
    """Every reply but the greeting, EHLO/HELO and 354 carries an RFC
    3463 enhanced status code (the upstream offers them, so postern
    does)."""
    for r in replies:
        if r.code in (220, 354) or r.lines[0].startswith("postern.test"):
            continue
        assert r.enhanced is not None, \
            "got %r %s, want an enhanced status code" % (r.text, what)


def log_lines_for(p, client_port, timeout=5):
    return p.session_lines(client_port, timeout)


class ScriptedUpstream(harness.FakeUpstream):
    """FakeUpstream whose answers can be replaced per verb.

    replies: {b"VERB": bytes to send, or a function (conn, rfile, line)
    that does what it likes and returns "close" to end the connection}.
    drip: send every reply one octet at a time."""

    def __init__(self, replies=None, drip=False, **kw):
        super().__init__(**kw)
        self.replies = dict(replies or {})
        self.drip = drip

    def _send(self, conn, data):
        if not self.drip:
            conn.sendall(data)
            return
        for i in range(len(data)):
            conn.sendall(data[i:i + 1])
            time.sleep(0.001)

    def _dialogue(self, conn, f, session):
        self._send(conn, self.greeting)
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.rstrip(b"\r\n")
            with self.lock:
                session["commands"].append(cmd)
            verb = cmd.split(b" ", 1)[0].upper()
            scripted = self.replies.get(verb)
            if callable(scripted):
                if scripted(conn, f, line) == "close":
                    return
                continue
            if scripted is not None:
                self._send(conn, scripted)
                continue
            if verb == b"DATA":
                if not self._data_dripped(conn, f, session):
                    return
                continue
            if verb == b"QUIT":
                self._send(conn, b"221 2.0.0 bye\r\n")
                return
            self._send(conn, self._reply(verb))

    def _data_dripped(self, conn, f, session):
        self._send(conn, b"354 go ahead\r\n")
        data = b""
        while True:
            line = f.readline()
            if not line:
                return False
            if line == b".\r\n":
                break
            data += line
        with self.lock:
            session["messages"].append(data)
        if self.on_data == "slow":
            time.sleep(self.final_delay)
        try:
            self._send(conn, b"250 2.0.0 Ok: queued as FAKE1\r\n")
        except OSError:
            return False
        return True


@pytest.fixture
def scripted_upstream():
    servers = []

    def start(**kw):
        s = ScriptedUpstream(**kw)
        servers.append(s)
        return s.start()

    yield start
    for s in servers:
        s.stop()


# ------------------------------------------------- garbage from the client

def test_random_bytes_get_5xx_until_the_error_limit_then_421(start_postern,
                                                              postfix):
    p = start_postern(postfix)
    rnd = random.Random(5321)
    for n in range(8):
        junk = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 3000)))
        junk = junk.replace(b"\n", b"\r\n") + b"\r\nQUIT\r\n"
        with p.connect() as c:
            c.send(junk)
            replies = replies_until_closed(c, timeout=2)
        assert replies and replies[0].code == 220, replies
        for r in replies[1:]:
            assert r.code in (221, 421) or 500 <= r.code < 600, \
                "got %r to random bytes (round %d)" % (r.text, n)
        assert_all_enhanced(replies[1:], "to random bytes")
    s = send_one(p.host, p.port, ["bob@example.net"], MESSAGE)
    assert s.final is not None and s.final.code == 250, s


@pytest.mark.parametrize("line", [
    b"NO\0OP",
    b"\0",
    b"MAIL FROM:<a@example.org>\0 SIZE=10",
    b"NOOP\rRSET",
    b"\r",
    b" NOOP",
    b"\x80\xff",
], ids=["nul-in-verb", "lone-nul", "nul-in-args", "cr-inside",
        "lone-cr", "leading-space", "8bit-verb"])
def test_malformed_command_gets_500_5_5_2_and_session_continues(postern,
                                                                line):
    with session(postern) as c:
        reply = c.command(line)
        noop = c.command("NOOP")
        c.command("QUIT")
    assert reply.code == 500 and reply.enhanced == "5.5.2", \
        "got %r to %r, want 500 5.5.2" % (reply.text, line)
    assert noop.code == 250, noop


def test_long_line_before_the_greeting_gets_one_500(start_postern,
                                                     fake_upstream):
    # Sent at once: the overlong line waits in postern's input while
    # the upstream greets and takes EHLO, then gets one 500.
    p = start_postern(fake_upstream())
    with p.connect() as c:
        c.send(b"NOOP " + b"x" * 5000 + b"\r\nNOOP\r\nQUIT\r\n")
        replies = replies_until_closed(c)
    assert codes_of(replies) == [220, 500, 250, 221], replies


@pytest.mark.parametrize("octets,code", [(2000, 250), (4096, 250),
                                         (4097, 500)])
def test_command_line_limit_of_4k_is_honoured(start_postern, postfix,
                                              octets, code):
    """contrib/postern.conf allows command_line up to 64k, but lines
    over 1535 octets are refused whatever the setting."""
    p = start_postern(postfix, limits={"command_line": "4k"})
    line = b"NOOP " + b"x" * (octets - 5 - 2)
    with session(p) as c:
        reply = c.command(line)
        c.command("QUIT")
    assert reply.code == code, \
        "got %r to a %d-octet NOOP with command_line = 4k, want %d" % (
            reply.text, octets, code)


def test_commands_split_byte_by_byte_deliver_the_message(postern,
                                                         postfix):
    msg = make_message(subject="dribbled")
    stream = (b"EHLO client.example\r\nMAIL FROM:<%s>\r\n"
              b"RCPT TO:<bob@example.net>\r\nDATA\r\n" % SENDER.encode() +
              harness.dot_stuff(msg) + b"QUIT\r\n")
    with postern.connect() as c:
        for i in range(len(stream)):
            c.send(stream[i:i + 1])
        replies = replies_until_closed(c)
    assert codes_of(replies) == [220, 250, 250, 250, 354, 250, 221], \
        replies
    assert len(postfix.wait_messages("bob", 1)) == 1


def test_commands_before_the_greeting_are_answered_after_it(postern,
                                                            postfix):
    with postern.connect() as c:
        # No wait for the banner: a pregreet client.
        c.send(b"EHLO early.example\r\nMAIL FROM:<%s>\r\n"
               b"RCPT TO:<bob@example.net>\r\nDATA\r\n" % SENDER.encode() +
               harness.dot_stuff(MESSAGE) + b"QUIT\r\n")
        replies = replies_until_closed(c)
    assert codes_of(replies) == [220, 250, 250, 250, 354, 250, 221], \
        replies
    assert len(postfix.wait_messages("bob", 1)) == 1


# ------------------------------------------- message data, differentially

def reference_decode(data):
    """What smtp_data.h promises for DATA input (after a CRLF-ended
    DATA command): (canonical message, octets up to and including the
    end of data).  Only CRLF "." CRLF ends it; bare CR and LF become
    CRLF; a leading dot is dropped, except on a lone "." line that does
    not end the message."""
    out = bytearray()
    state, i = "bol", 0
    while i < len(data):
        c = data[i:i + 1]
        if state in ("bol", "bol-bare"):
            if c == b".":
                state = "dot" if state == "bol" else "dot-bare"
                i += 1
            else:
                state = "text"
        elif state == "text":
            if c == b"\r":
                state = "cr"
            elif c == b"\n":
                out += b"\r\n"
                state = "bol-bare"
            else:
                out += c
            i += 1
        elif state == "cr":
            out += b"\r\n"
            if c == b"\n":
                state = "bol"
                i += 1
            else:
                state = "bol-bare"
        elif state in ("dot", "dot-bare"):
            if c == b"\r":
                state += "-cr"
                i += 1
            elif c == b"\n":
                out += b".\r\n"
                state = "bol-bare"
                i += 1
            else:
                state = "text"
        else:  # "dot-cr" or "dot-bare-cr"
            if c == b"\n" and state == "dot-cr":
                return bytes(out), i + 1
            out += b".\r\n"
            if c == b"\n":
                state = "bol"
                i += 1
            else:
                state = "bol-bare"
    raise ValueError("no end of data in %r" % data)


def unstuff(raw):
    """A message as the upstream read it (dot-stuffed lines, the final
    "." line not included) back to its content."""
    lines = raw.split(b"\r\n")
    assert lines[-1] == b"", "upstream data does not end in CRLF"
    return b"".join((l[1:] if l.startswith(b".") else l) + b"\r\n"
                    for l in lines[:-1])


def test_data_decoding_matches_the_specification_on_random_input(
        start_postern, fake_upstream):
    """Random messages of dots, CRs and LFs in random pieces: what the
    upstream gets (its dot-stuffing undone, postern's Received removed)
    must be exactly what smtp_data.h says, and the message must end
    exactly where CRLF "." CRLF is."""
    up = fake_upstream()
    p = start_postern(up, limits={"bare_line_ending": "normalize"})
    rnd = random.Random(5322)
    alphabets = [b"a.\r\n\r\n..", b"aaaaaaaaaaaaaaaaaaa.\r\n",
                 b"abcdefghij\r\n\r\n.", b"\r\n.\r\n.\r."]
    with session(p) as c:
        for n in range(80):
            alphabet = rnd.choice(alphabets)
            size = rnd.randint(0, rnd.choice([40, 400, 2000]))
            body = bytes(rnd.choice(alphabet) for _ in range(size))
            data = b"Subject: fuzz %d\r\n\r\n" % n + body + b"\r\n.\r\n"
            want, used = reference_decode(data)
            assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
            assert c.command("RCPT TO:<bob@example.net>").code == 250
            assert c.command("DATA").code == 354
            payload = data[:used]
            pos = 0
            while pos < len(payload):
                step = rnd.choice([1, 2, 3, 7, 64, 1000])
                c.send(payload[pos:pos + step])
                pos += step
            final = c.read_reply(timeout=15)
            assert final.code == 250, "got %r for %r" % (final.text, data)
            got = unstuff(up.messages()[-1])
            received, rest = harness.pop_header_field(got)
            assert received.startswith(b"Received: "), got[:80]
            assert rest == want, \
                "input %r\nwant %r\ngot  %r" % (data, want, rest)
        c.command("QUIT")


# -------------------------------------------------------------- pipelining

def test_five_thousand_pipelined_noops_answered_in_order(postern):
    with session(postern) as c:
        n = 5000
        t, got = read_replies_async(c, n + 2)
        c.send(b"NOOP\r\n" * n + b"RSET x\r\nQUIT\r\n")
        t.join(60)
    codes = codes_of(got)
    assert codes == [250] * n + [501, 221], \
        "got %d replies ending %r" % (len(codes), codes[-4:])


def test_pipelined_recipients_past_the_limit_then_data(postern, postfix):
    with session(postern) as c:
        n = 3000
        t, got = read_replies_async(c, n + 2)
        c.send(b"MAIL FROM:<%s>\r\n" % SENDER.encode() +
               b"RCPT TO:<bob@example.net>\r\n" * n + b"DATA\r\n")
        t.join(60)
        # 50 recipients (the configured limit), then 452 for the rest.
        codes = codes_of(got)
        assert codes[:1] == [250], codes[:3]
        assert codes[1:51] == [250] * 50, codes[1:60]
        assert codes[51:n + 1] == [452] * (n - 50), \
            sorted(set(codes[51:n + 1]), key=str)
        assert codes[n + 1] == 354, codes[n + 1:]
        c.send(harness.dot_stuff(MESSAGE))
        final = c.read_reply(timeout=30)
        c.command("QUIT")
    assert final.code == 250, final
    assert postfix.wait_idle()
    # Postfix folds identical recipients: one copy.
    assert len(postfix.messages("bob")) == 1


def test_twenty_messages_pipelined_after_each_end_of_data(postern,
                                                          postfix):
    n = 20
    msgs = [make_message(subject="batch %d" % i) for i in range(n)]
    batch = b"".join(b"MAIL FROM:<%s>\r\nRCPT TO:<carol@example.net>\r\n"
                     b"DATA\r\n" % SENDER.encode() + harness.dot_stuff(m)
                     for m in msgs)
    with session(postern) as c:
        t, got = read_replies_async(c, 4 * n + 1)
        c.send(batch + b"QUIT\r\n")
        t.join(60)
    assert codes_of(got) == [250, 250, 354, 250] * n + [221], \
        codes_of(got)
    assert len(postfix.wait_messages("carol", n, timeout=30)) == n


def test_client_that_never_reads_replies_cannot_grow_postern_memory(
        start_postern, postfix):
    """Every HELP costs the client 6 octets and postern a reply of about
    90: a client that pipelines without reading must be stopped by back
    pressure, not buffered without bound."""
    p = start_postern(postfix)
    pid = p.proc.pid
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((p.host, p.port))
    sock.settimeout(0.2)
    time.sleep(0.3)
    base = peak = proc_status(pid, "VmRSS")
    chunk = b"HELP\r\n" * 10000
    sent, want = 0, 12 * 1024 * 1024
    deadline = time.monotonic() + 10
    stalled = 0
    try:
        while sent < want and time.monotonic() < deadline and stalled < 5:
            try:
                sent += sock.send(chunk)
                stalled = 0
            except socket.timeout:
                stalled += 1  # postern stopped reading: what we want
            peak = max(peak, proc_status(pid, "VmRSS"))
        time.sleep(0.5)
        peak = max(peak, proc_status(pid, "VmRSS"))
    finally:
        sock.close()
    grown_mb = (peak - base) / 1024
    assert grown_mb < 32, \
        "postern grew by %.0f MB while a client sent %.1f MB of HELP " \
        "without reading the replies; want back pressure" % (
            grown_mb, sent / 1048576)


# ----------------------------------------------------- vanishing clients

def test_abrupt_disconnects_in_every_state_leak_nothing(start_postern,
                                                        postfix):
    p = start_postern(postfix)
    pid = p.proc.pid
    fds_before = open_fds(pid)
    msg = make_message(body=b"a line of text\r\n" * 3000)
    full = (b"EHLO client.example\r\nMAIL FROM:<%s>\r\n"
            b"RCPT TO:<bob@example.net>\r\nDATA\r\n" % SENDER.encode() +
            harness.dot_stuff(msg))
    rnd = random.Random(1047)
    for i in range(70):
        sock = socket.create_connection((p.host, p.port))
        mode = i % 7
        if mode == 1:
            sock.send(b"EHLO half")
        elif mode == 2:
            sock.send(full[:rnd.randint(1, len(full) - 10)])
        elif mode == 3:
            sock.send(b"EHLO client.example\r\nMAIL FROM:<%s>\r\n" %
                      SENDER.encode())
            time.sleep(rnd.random() * 0.01)
        elif mode == 4:
            sock.send(full[:-5])  # all but the end of data
            time.sleep(rnd.random() * 0.01)
        elif mode == 5:
            # A reset instead of a FIN, in the middle of the message.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                            b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.send(full[:len(full) // 2])
        elif mode == 6:
            sock.recv(100)
            sock.send(b"XCLIENT ADDR=IPv6:2001:db8::1\r\n")
        sock.close()
    assert harness.wait_until(lambda: open_fds(pid) <= fds_before, 10), \
        "postern holds %d fds after every client left, had %d" % (
            open_fds(pid), fds_before)
    assert postfix.wait_idle(), "upstream sessions left open"
    assert postfix.queued_since_mark() == [], \
        "a message no client finished was queued"
    s = send_one(p.host, p.port, ["bob@example.net"], MESSAGE)
    assert s.final is not None and s.final.code == 250, s


def test_client_that_half_closes_after_quit_still_gets_its_replies(
        postern, postfix):
    """A client may send the end of data and QUIT, shut down its
    sending side and read the replies (printf | nc -N does).  The
    message must be relayed and the client told so."""
    msg = make_message(subject="half close")
    with session(postern) as c:
        assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
        assert c.command("RCPT TO:<bob@example.net>").code == 250
        assert c.command("DATA").code == 354
        c.send(harness.dot_stuff(msg) + b"QUIT\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        replies = replies_until_closed(c, timeout=10)
    assert codes_of(replies) == [250, 221], \
        "got %r after end of data, QUIT and a half close, want 250 and " \
        "221" % replies
    assert len(postfix.wait_messages("bob", 1)) == 1


def test_message_the_upstream_took_after_the_client_left_is_logged(
        start_postern, scripted_upstream):
    """The client drops the connection after the end of data while the
    upstream works on it.  The upstream takes the message; postern's log
    must still have the message line, or the postmaster cannot trace a
    message that was delivered."""
    up = scripted_upstream(on_data="slow", final_delay=1.5)
    p = start_postern(up)
    c = session(p)
    assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
    assert c.command("RCPT TO:<bob@example.net>").code == 250
    assert c.command("DATA").code == 354
    c.send(harness.dot_stuff(MESSAGE))
    port = c.local_port
    assert harness.wait_until(lambda: len(up.messages()) == 1, 5), \
        "the upstream never got the message"
    c.close()
    assert p.wait_log(r"disconnect reason=", timeout=10)
    time.sleep(2)  # the upstream's 250 comes 1.5 s after the dot
    lines = log_lines_for(p, port)
    assert any(" message txn=" in l for l in lines), \
        "the upstream took the message but postern logged no message " \
        "line:\n%s" % "\n".join(lines)


# ------------------------------------------------------- slow clients

def test_idle_timeout_bounds_a_command_sent_one_octet_at_a_time(
        start_postern, postfix):
    """contrib/postern.conf: idle_timeout is the "time a client may take
    to send its next command".  A command dribbled over 2.7 s must not
    beat a 1 s idle_timeout by sending an octet every 0.45 s."""
    p = start_postern(postfix, limits={"idle_timeout": "1s"})
    with p.connect() as c:
        assert c.greeting().code == 220
        for octet in b"NOOP\r\n":
            try:
                c.send(bytes([octet]))
            except (BrokenPipeError, ConnectionResetError):
                break  # postern already closed: the reply is queued
            time.sleep(0.45)
        reply = c.read_reply(timeout=10)
    assert (reply.code, reply.enhanced) == (421, "4.4.2"), \
        "got %r to a command that took 2.7 s to arrive, want 421 4.4.2" % \
        reply.text


# --------------------------------------------------- too many sessions

def test_connection_flood_over_the_limits_gets_421_and_fds_come_back(
        start_postern, postfix):
    p = start_postern(postfix, limits={"sessions": "12",
                                       "sessions_per_client": "3"})
    pid = p.proc.pid
    fds_before = open_fds(pid)
    socks = []

    def flood(first_addr):
        # Three source addresses, four connections each.
        for i in range(12):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.%d" % (first_addr + i % 3), 0))
            sock.settimeout(10)
            sock.connect((p.host, p.port))
            socks.append(sock)
        return [sock.recv(200)[:9] for sock in socks[-12:]]

    try:
        # 9 sessions, the 4th of each address refused; then 3 more
        # reach the total of 12 and the rest are refused for that.
        first = flood(2)
        second = flood(5)
    finally:
        for sock in socks:
            sock.close()
    assert sorted(first) == [b"220 poste"] * 9 + [b"421 4.7.0"] * 3, first
    assert sorted(second) == [b"220 poste"] * 3 + [b"421 4.3.2"] * 9, \
        second
    assert harness.wait_until(lambda: open_fds(pid) <= fds_before, 10), \
        "postern holds %d fds after the flood, had %d" % (open_fds(pid),
                                                         fds_before)
    s = send_one(p.host, p.port, ["bob@example.net"], MESSAGE)
    assert s.final is not None and s.final.code == 250, s


def test_memory_and_fds_come_back_after_many_sessions(start_postern,
                                                      postfix):
    p = start_postern(postfix)
    pid = p.proc.pid

    def burst(n):
        def run():
            for _ in range(n):
                s = send_one(p.host, p.port, ["bob@example.net"], MESSAGE)
                assert s.final is not None and s.final.code == 250, s
        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)

    burst(25)
    time.sleep(0.5)
    rss1, fds1 = proc_status(pid, "VmRSS"), open_fds(pid)
    burst(75)
    time.sleep(0.5)
    rss2, fds2 = proc_status(pid, "VmRSS"), open_fds(pid)
    assert fds2 <= fds1, "fds %d after 100 sessions, %d after 400" % (
        fds1, fds2)
    if sanitized(pid):
        return  # ASan's quarantine holds freed memory on purpose
    assert rss2 - rss1 < 8 * 1024, \
        "VmRSS went from %d kB to %d kB over 300 more sessions" % (rss1,
                                                                   rss2)


# ----------------------------------------------------------- XCLIENT

@pytest.mark.parametrize("xclient,code", [
    ("XCLIENT ADDR=IPv6:2001:db8::1 NAME=host.example", 220),
    ("XCLIENT ADDR=IPv6:::ffff:192.0.2.1", 220),
    ("xclient name=lower.example addr=192.0.2.2", 220),
    ("XCLIENT NAME=" + "a" * 256, 501),
    ("XCLIENT NAME=x+00y", 501),
    ("XCLIENT NAME=a+20b", 501),
    ("XCLIENT PORT=65536", 501),
    ("XCLIENT ADDR=192.0.2.300", 501),
    ("XCLIENT ADDR=192.0.2.1 ADDR=192.0.2.2", 501),
    ("XCLIENT FOO=bar", 501),
    ("XCLIENT NAME", 501),
    ("XCLIENT", 501),
], ids=["ipv6", "v4-mapped", "lowercase", "long-name", "nul", "space",
        "port", "bad-addr", "duplicate", "unknown-attr", "no-value",
        "empty"])
def test_odd_xclient_values(postern, postfix, xclient, code):
    with session(postern) as c:
        reply = c.command(xclient)
        after = [reply]
        if reply.code == 220:
            after.append(c.ehlo("after.example"))
            after += c.send_mail(SENDER, ["bob@example.net"], MESSAGE)
        else:
            after.append(c.command("NOOP"))
        c.command("QUIT")
    assert reply.code == code, "got %r to %r, want %d" % (reply.text,
                                                          xclient, code)
    if code == 220:
        assert codes_of(after) == [220, 250, 250, 250, 354, 250], after
    else:
        assert reply.enhanced == "5.5.4", reply
        assert after[-1].code == 250, after


def test_xclient_name_postern_takes_must_not_break_the_session(postern,
                                                              postfix):
    """A trusted front proxy passes an absolute name with its final dot.
    Postern accepts it, Postfix refuses it in the XCLIENT postern sends
    for the next EHLO, and the client's EHLO gets Postfix's permanent
    501: the session is dead for a value postern said was fine."""
    with session(postern) as c:
        xc = c.command("XCLIENT NAME=host.example. ADDR=192.0.2.7")
        ehlo = c.ehlo("front.example") if xc.code == 220 else None
        c.command("QUIT")
    assert xc.code == 501 or (ehlo is not None and ehlo.code < 500), \
        "XCLIENT got %r, then EHLO got %r: want XCLIENT refused, or an " \
        "EHLO that is not a permanent failure" % (xc.text, ehlo)


def test_upstream_refusing_xclient_is_logged_and_not_a_5xx_to_ehlo(
        start_postern, scripted_upstream):
    """The upstream offers XCLIENT but refuses it (a Postfix whose
    smtpd_authorized_xclient_hosts lacks postern).  Today the client's
    EHLO gets the upstream's 550 verbatim and nothing is logged."""
    up = scripted_upstream(replies={
        b"XCLIENT": b"550 5.7.0 Error: insufficient authorization\r\n"})
    p = start_postern(up)
    with p.connect() as c:
        assert c.greeting().code == 220
        ehlo = c.ehlo("client.example")
        port = c.local_port
        replies_until_closed(c, timeout=1)
    assert not 500 <= ehlo.code < 600, \
        "got %r to EHLO: an upstream configuration problem must not be " \
        "a permanent error for the client" % ehlo.text
    lines = log_lines_for(p, port)
    assert any(re.search(r"xclient", l, re.I) for l in lines), \
        "the refused XCLIENT left no trace in the log:\n%s" % \
        "\n".join(lines)


def test_xclient_unavailable_values_reach_the_upstream_as_sent(
        start_postern, scripted_upstream):
    """ADDR=[UNAVAILABLE] must not turn into the front proxy's own
    address (127.0.0.1, which Postfix's permit_mynetworks lets relay),
    and NAME=[TEMPUNAVAIL] (a DNS failure, try later) must not become
    [UNAVAILABLE] (no name, which reject_unknown_client_hostname
    refuses for good)."""
    up = scripted_upstream()
    p = start_postern(up)
    with session(p, "front.example") as c:
        xc = c.command("XCLIENT NAME=[TEMPUNAVAIL] ADDR=[UNAVAILABLE]")
        assert xc.code == 220, xc
        assert c.ehlo("client.example").code == 250
        c.command("QUIT")
    sent = [cmd.decode() for cmd in up.commands()
            if cmd.startswith(b"XCLIENT")]
    assert sent, "no XCLIENT reached the upstream"
    last = sent[-1]
    assert "NAME=[TEMPUNAVAIL]" in last, \
        "got %r upstream, want NAME=[TEMPUNAVAIL] passed on" % last
    assert "ADDR=127.0.0.1" not in last, \
        "got %r upstream: the unknown client became 127.0.0.1" % last


# ------------------------------------------------- SMTPUTF8, DSN, RSET

@pytest.mark.parametrize("commands,want", [
    ([b"MAIL FROM:<\xed\xa0\x80@example.org> SMTPUTF8"], [501]),
    ([b"MAIL FROM:<\xc0\xaf@example.org> SMTPUTF8"], [501]),
    ([b"MAIL FROM:<\xf4\x90\x80\x80@example.org> SMTPUTF8"], [501]),
    ([b"MAIL FROM:<a\xc3@example.org> SMTPUTF8"], [501]),
    ([b"MAIL FROM:<j\xc3\xb6ran@example.org>"], [553]),
    ([b"MAIL FROM:<a@example.org>",
      b"RCPT TO:<j\xc3\xb6ran@example.net>"], [250, 553]),
    ([b"MAIL FROM:<a@example.org> SMTPUTF8=YES"], [501]),
    ([b"MAIL FROM:<a@example.org> RET=FULL RET=HDRS"], [501]),
    ([b"MAIL FROM:<a@example.org> ENVID=" + b"x" * 101], [501]),
    ([b"MAIL FROM:<a@example.org> BODY=BINARYMIME"], [501]),
    ([b"MAIL FROM:<a@example.org> SIZE=18446744073709551616"], [501]),
    ([b"MAIL FROM:<a@example.org> " +
      b" ".join(b"X%d=1" % i for i in range(17))], [501]),
    ([b"MAIL FROM:<a@example.org>",
      b"RCPT TO:<bob@example.net> NOTIFY=NEVER,SUCCESS"], [250, 501]),
    ([b"MAIL FROM:<a@example.org>",
      b"RCPT TO:<bob@example.net> ORCPT=rfc822;" + b"x" * 495],
     [250, 501]),
    ([b"MAIL FROM:<a@example.org>",
      b"RCPT TO:<bob@example.net> NOTIFY=SUCCESS,DELAY "
      b"ORCPT=utf-8;j\xc3\xb6ran@example.net"], [250, 250]),
    ([b"RSET x", b"RSET", b"MAIL FROM:<a@example.org>", b"RSET",
      b"RCPT TO:<bob@example.net>", b"DATA"], [501, 250, 250, 250, 503,
                                               503]),
    ([b"MAIL FROM:<a@example.org>", b"DATA"], [250, 554]),
    ([b"MAIL FROM:<a@example.org>", b"MAIL FROM:<b@example.org>"],
     [250, 503]),
], ids=["surrogate", "overlong", "above-10ffff", "truncated",
        "utf8-without-smtputf8", "utf8-rcpt-without-smtputf8",
        "smtputf8-value", "dup-ret", "long-envid", "binarymime",
        "size-overflow", "too-many-params", "notify-never-and",
        "long-orcpt", "good-dsn-utf8-orcpt", "rset-odd-places",
        "data-without-rcpt", "nested-mail"])
def test_utf8_dsn_and_sequence_edge_cases(postern, postfix, commands, want):
    with session(postern) as c:
        replies = [c.command(cmd) for cmd in commands]
        noop = c.command("NOOP")
        c.command("QUIT")
    assert codes_of(replies) == want, \
        "got %r for %r" % ([r.text for r in replies], commands)
    assert_all_enhanced(replies, "to %r" % commands)
    assert noop.code == 250, noop
    assert postfix.wait_idle()
    assert postfix.queued_since_mark() == []


def test_ehlo_repeated_many_times_pipelined(postern, postfix):
    n = 60
    with postern.connect() as c:
        assert c.greeting().code == 220
        t, got = read_replies_async(c, n + 5)
        c.send(b"EHLO client.example\r\n" * n +
               b"HELO old.example\r\nMAIL FROM:<%s>\r\n"
               b"RCPT TO:<bob@example.net>\r\nEHLO again.example\r\n"
               b"RCPT TO:<bob@example.net>\r\n" % SENDER.encode())
        t.join(60)
        c.command("QUIT")
    codes = codes_of(got)
    # EHLO inside the transaction ends it: the last RCPT needs MAIL.
    assert codes == [250] * (n + 4) + [503], codes[-8:]
    assert postfix.wait_idle()
    assert postfix.queued_since_mark() == []


# ------------------------------------------------- misbehaving upstreams

def transaction(p, msg=MESSAGE):
    """Greeting, EHLO, one transaction, QUIT; returns the replies as
    they came, up to the connection's end."""
    with p.connect() as c:
        c.send(b"EHLO client.example\r\nMAIL FROM:<%s>\r\n"
               b"RCPT TO:<bob@example.net>\r\nDATA\r\n" % SENDER.encode())
        replies = []
        try:
            for _ in range(5):
                replies.append(c.read_reply(timeout=15))
            if replies[-1].code == 354:
                c.send(harness.dot_stuff(msg) + b"QUIT\r\n")
        except (EOFError, socket.timeout, ConnectionResetError):
            return replies
        return replies + replies_until_closed(c, timeout=15)


def assert_4_4_x_end(replies):
    last = replies[-1]
    assert last.code == 421 and last.enhanced == "4.4.2", \
        "got %r last, want 421 4.4.2" % last.text


@pytest.mark.parametrize("verb,reply", [
    (b"MAIL", b"250-2.1.0 Ok\r\n550 5.1.0 changed my mind\r\n"),
    (b"MAIL", b"250 " + b"x" * 5000 + b"\r\n"),
    (b"RCPT", b"".join(b"250-%03d %s\r\n" % (i, b"y" * 300)
                       for i in range(120)) + b"250 Ok\r\n"),
    (b"RCPT", b"2x0 2.1.5 Ok\r\n"),
    (b"MAIL", b"250\t2.1.0 Ok\r\n"),
    (b"RCPT", b"250 2.1.5 Ok\0\r\n"),
], ids=["code-changes", "line-too-long", "too-many-lines", "not-digits",
        "bad-separator", "nul"])
def test_malformed_upstream_reply_gives_421_4_4_2(start_postern,
                                                  scripted_upstream, verb,
                                                  reply):
    up = scripted_upstream(replies={verb: reply})
    p = start_postern(up)
    replies = transaction(p)
    assert_4_4_x_end(replies)
    assert up.messages() == []
    assert p.wait_log(r"upstream failed reason=")
    with p.connect() as c:  # still serving
        assert c.greeting().code == 220


def test_upstream_replies_dripping_one_octet_at_a_time(start_postern,
                                                       scripted_upstream):
    up = scripted_upstream(
        drip=True, greeting=b"220-fake.test first\r\n220-second\r\n"
                            b"220 fake.test ESMTP\r\n",
        replies={b"RCPT": b"250-2.1.5 one\n250 2.1.5 two, bare LF\n"})
    p = start_postern(up)
    replies = transaction(p)
    assert codes_of(replies)[-3:] == [354, 250, 221], replies
    assert replies[-2].text == "250 2.0.0 Ok: queued as FAKE1", replies[-2]
    rcpt = replies[-4]
    assert rcpt.raw_lines == ["250-2.1.5 one", "250 2.1.5 two, bare LF"], \
        rcpt.raw_lines
    assert len(up.messages()) == 1


def test_unsolicited_upstream_reply_while_idle_gives_421(start_postern,
                                                         scripted_upstream):
    def rcpt(conn, f, line):
        conn.sendall(b"250 2.1.5 Ok\r\n")
        time.sleep(0.3)
        conn.sendall(b"452 4.3.1 out of the blue\r\n")

    up = scripted_upstream(replies={b"RCPT": rcpt})
    p = start_postern(up)
    with session(p) as c:
        assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
        assert c.command("RCPT TO:<bob@example.net>").code == 250
        time.sleep(1)
        replies = replies_until_closed(c)
    assert codes_of(replies) == [421], replies
    assert_4_4_x_end(replies)
    assert p.wait_log(r"upstream lost reason=\"?unexpected reply")


def test_upstream_hanging_on_rcpt_gives_421_after_command_timeout(
        start_postern, scripted_upstream):
    def hang(conn, f, line):
        time.sleep(2.5)
        return "close"

    up = scripted_upstream(replies={b"RCPT": hang})
    p = start_postern(up, upstream={"command_timeout": "1s"})
    with session(p) as c:
        assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
        start = time.monotonic()
        reply = c.command("RCPT TO:<bob@example.net>", timeout=10)
        elapsed = time.monotonic() - start
        closed = c.expect_closed()
    assert (reply.code, reply.enhanced) == (421, "4.4.2"), reply
    assert elapsed < 3.5, "421 after %.1f s, want about 1 s" % elapsed
    assert closed


def test_upstream_421_mid_session_ends_the_client_session(
        start_postern, scripted_upstream):
    """RFC 5321 3.8: 421 closes the channel.  After relaying the
    upstream's 421 postern must close too, not answer the client's
    next commands with 250 and then a second 421."""
    def mail(conn, f, line):
        conn.sendall(b"421 4.3.2 fake.test shutting down\r\n")
        return "close"

    up = scripted_upstream(replies={b"MAIL": mail})
    p = start_postern(up)
    with session(p) as c:
        c.send(b"MAIL FROM:<%s>\r\nNOOP\r\nRSET\r\nNOOP\r\n" %
               SENDER.encode())
        replies = replies_until_closed(c)
    assert codes_of(replies) == [421], \
        "got %r, want the upstream's 421 and then the end" % \
        [r.text for r in replies]


def test_upstream_250_instead_of_354_is_not_a_delivery(start_postern,
                                                       scripted_upstream):
    """The upstream answers DATA with 250 instead of 354: it never gets
    the message, so the client must not be told 250."""
    up = scripted_upstream(replies={b"DATA": b"250 2.0.0 Ok\r\n"})
    p = start_postern(up)
    replies = transaction(p)
    final = replies[5] if len(replies) > 5 else None
    assert codes_of(replies)[:5] == [220, 250, 250, 250, 354], replies
    assert final is not None and 400 <= final.code < 500, \
        "got %r after the end of data although the upstream never " \
        "received the message, want a 4xx" % final
    assert up.messages() == []


def test_stray_upstream_reply_is_not_taken_for_the_next_command(
        start_postern, scripted_upstream):
    """The upstream answers MAIL twice.  A pipelining client's RCPT must
    not get the stray second reply: the upstream refused that RCPT."""
    up = scripted_upstream(replies={
        b"MAIL": b"250 2.1.0 Ok\r\n250 2.1.5 stray\r\n",
        b"RCPT": b"550 5.1.1 <bob@example.net>: no such user\r\n"})
    p = start_postern(up)
    with session(p) as c:
        c.send(b"MAIL FROM:<%s>\r\nRCPT TO:<bob@example.net>\r\n" %
               SENDER.encode())
        replies = []
        try:
            while len(replies) < 2:
                replies.append(c.read_reply())
        except EOFError:
            pass
    # Postern may end the session on the stray line (421) instead of
    # answering MAIL; what it must never do is say 250 to the RCPT.
    assert replies and replies[0].code in (250, 421), replies
    assert len(replies) < 2 or replies[1].code != 250, \
        "got %r to RCPT, which the upstream refused with 550" % \
        replies[1].text


def test_stray_line_after_upstream_greeting_never_fakes_a_delivery(
        start_postern, scripted_upstream):
    """A line after the upstream's greeting shifts every reply by one;
    the client must never get 250 for a message the upstream did not
    receive."""
    up = scripted_upstream(
        greeting=b"220 fake.test ESMTP\r\n250 2.0.0 stray\r\n")
    p = start_postern(up)
    replies = transaction(p)
    got_250 = len(replies) > 5 and replies[4].code == 354 and \
        replies[5].code == 250
    assert not got_250 or len(up.messages()) == 1, \
        "client got %r after the end of data, the upstream received " \
        "%d messages" % (replies[5].text, len(up.messages()))


@pytest.mark.parametrize("helo", ["HELO", "EHLO"])
def test_helo_only_upstream_still_relays(start_postern, scripted_upstream,
                                        helo):
    """README: postern sits in front of "anything that speaks SMTP".  An
    upstream that knows HELO only (502 to EHLO) gets HELO at connect,
    but every client HELO or EHLO is still sent upstream as EHLO."""
    up = scripted_upstream(replies={
        b"EHLO": b"502 5.5.2 Error: command not recognized\r\n",
        b"HELO": b"250 fake.test\r\n"})
    p = start_postern(up)
    with p.connect() as c:
        assert c.greeting().code == 220
        hello = c.command("%s client.example" % helo)
        replies = c.send_mail(SENDER, ["bob@example.net"], MESSAGE) \
            if hello.code == 250 else []
        c.command("QUIT")
    assert hello.code == 250, "got %r to %s" % (hello.text, helo)
    assert codes_of(replies) == [250, 250, 354, 250], replies
    assert len(up.messages()) == 1


# ------------------------------------------------- the header section

FORGED_AR = (b"Authentication-Results: postern.test; dkim=pass "
             b"header.d=bank.example header.s=s1")


FROM_CEO = b"\r\nFrom: ceo@bank.example\r\n\r\nPay it.\r\n"


@pytest.mark.parametrize("mta", ["postfix", "exim"])
@pytest.mark.parametrize("message,refused", [
    (FORGED_AR + FROM_CEO, None),
    (b" x\r\n" + FORGED_AR + FROM_CEO, "folded line"),
    (b"\tx\r\n" + FORGED_AR + FROM_CEO, "folded line"),
    (FORGED_AR.replace(b"Results:", b"Results :") + FROM_CEO, None),
    (FORGED_AR.replace(b"Results:", b"Results \t:") + FROM_CEO, None),
    (b"Subject: x\r\nN\xc3\xa4me: v\r\n" + FORGED_AR + FROM_CEO,
     "malformed header field name"),
    (b"Subject: x\r\n: v\r\n" + FORGED_AR + FROM_CEO,
     "malformed header field name"),
], ids=["plain", "leading-fold-space", "leading-fold-tab",
        "space-before-colon", "space-tab-before-colon", "8bit-name-before",
        "empty-name-before"])
def test_forged_authentication_results_never_reach_the_mailbox(
        start_postern, request, mta, message, refused):
    """README: authres "removes every Authentication-Results field that
    claims postern's authserv-id".  Postfix and Exim fold a first line
    that starts with white space into the Received field postern
    prepends and read the lines after it as fields, so postern refuses
    such a message (554 5.6.0); it takes "Name :" (obsolete but legal,
    RFC 5322 4.5.3) as a field, normalized to "Name:" as both do, and
    removes the forgery.  Exim takes a line with an 8-bit or empty name
    for a field, Postfix for the start of the body: refused too."""
    upstream = request.getfixturevalue(mta)
    p = start_postern(upstream, extra="filter authres { }")
    s = send_one(p.host, p.port, ["erin@example.net"], message)
    assert s.final is not None, s
    if refused:
        assert (s.final.code, s.final.enhanced) == (554, "5.6.0"), s.final
        assert refused in s.final.text, s.final
        assert upstream.wait_idle()
        assert upstream.messages("erin") == []
        return
    assert s.final.code == 250, s.final
    [raw] = upstream.wait_messages("erin", 1)
    fields, _ = harness.split_header_fields(harness.strip_mta_trace(raw))
    forged = [harness.unfold(f) for f in fields
              if re.match(rb"authentication-results\s*:[^;]*postern\.test"
                          rb";.*dkim=pass", f, re.I | re.S)]
    assert forged == [], "forged field delivered: %r" % forged
    assert any(re.match(rb"from: ceo@bank\.example", f, re.I)
               for f in fields), fields


@pytest.mark.parametrize("message,reply", [
    (b"".join(b"X-F%d: v\r\n" % i for i in range(1001)) + b"\r\nbody\r\n",
     (554, "5.6.0")),
    (b"Subject: x\r\n" + b"".join(b" fold %d " % i + b"z" * 900 + b"\r\n"
                                  for i in range(1200)) + b"\r\nbody\r\n",
     (554, "5.6.0")),
    (b"".join(b"X-F%d: v\r\n" % i for i in range(1000)) + b"\r\nbody\r\n",
     (250, "2.0.0")),
    (b"Subject: only a header\r\n", (250, "2.0.0")),
], ids=["1001-fields", "header-over-1m", "1000-fields", "no-body"])
def test_header_section_limits(postern, postfix, message, reply):
    s = send_one(postern.host, postern.port, ["bob@example.net"], message)
    assert s.final is not None, s
    assert (s.final.code, s.final.enhanced) == reply, s.final
    assert postfix.wait_idle()
    assert len(postfix.messages("bob")) == (1 if reply[0] == 250 else 0)


# ------------------------------------------------------------------- logs

def test_sender_refused_by_upstream_is_logged_escaped(start_postern,
                                                      scripted_upstream):
    """README: "Everything that came from the network is escaped before
    it is logged."  A quoted local part may hold '"', '=' and spaces."""
    up = scripted_upstream(replies={
        b"MAIL": b"550 5.7.1 sender refused\r\n"})
    p = start_postern(up)
    sender = '"x\\" upstream=\\"250 forged"@example.org'
    with session(p) as c:
        reply = c.command("MAIL FROM:<%s>" % sender)
        port = c.local_port
        c.command("QUIT")
    assert reply.code == 550, reply
    assert p.wait_log(r"reject phase=mail")
    [line] = [l for l in log_lines_for(p, port) if "reject phase=mail" in l]
    logged = re.search(r"from=<(.*)> upstream=", line).group(1)
    assert '"' not in logged and "=" not in logged, \
        "client data logged raw: %r" % line


# ---------------------------------------------------------------- signals

def test_reload_storm_under_load_loses_and_duplicates_nothing(
        start_postern, postfix):
    p = start_postern(postfix)
    stop = threading.Event()
    finals, errors = [], []

    def client(n):
        rnd = random.Random(n)
        while not stop.is_set():
            msg = make_message(subject="storm %d" % n,
                               body=b"line\r\n" * rnd.randint(1, 4000))
            try:
                s = send_one(p.host, p.port, ["dave@example.net"], msg)
            except OSError as e:
                errors.append(repr(e))
                continue
            finals.append(s.final.code if s.final else None)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    try:
        for _ in range(25):
            time.sleep(0.1)
            p.proc.send_signal(signal.SIGHUP)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert errors == [], errors[:3]
    assert finals and set(finals) == {250}, sorted(set(finals), key=str)
    got = postfix.wait_messages("dave", len(finals), timeout=30)
    assert postfix.wait_idle()
    assert len(postfix.messages("dave")) == len(finals), \
        "%d messages delivered for %d 250 replies" % (len(got), len(finals))
    assert p.wait_log(r"reload done")


def test_term_with_clients_in_every_state_exits_cleanly(start_postern,
                                                        postfix):
    p = start_postern(postfix, extra="drain_timeout = 1s")
    idle = session(p)
    in_txn = session(p)
    assert in_txn.command("MAIL FROM:<%s>" % SENDER).code == 250
    in_data = session(p)
    assert in_data.command("MAIL FROM:<%s>" % SENDER).code == 250
    assert in_data.command("RCPT TO:<bob@example.net>").code == 250
    assert in_data.command("DATA").code == 354
    in_data.send(b"Subject: cut by TERM\r\n\r\nhalf")
    deaf = socket.create_connection((p.host, p.port))
    deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    deaf.send(b"HELP\r\n" * 20000)
    try:
        p.proc.send_signal(signal.SIGTERM)
        reply = idle.read_reply(timeout=5)
        assert (reply.code, reply.enhanced) == (421, "4.3.2"), reply
        status = p.proc.wait(15)
    finally:
        for c in (idle, in_txn, in_data):
            c.close()
        deaf.close()
    assert status == 0, "exit status %r after SIGTERM" % status
    assert postfix.wait_idle()
    assert postfix.queued_since_mark() == []


# ------------------------------------------------------------ detaching

def test_detached_postern_still_runs_blocking_filters(tmp_path, postfix):
    """README: `postern -c FILE` detaches.  It calls daemon() after the
    worker and resolver threads started; fork() keeps only the calling
    thread, so in the detached daemon a filter that runs on a worker
    (dkim_verify, for every inbound message) never finishes and the
    client waits for its final reply forever; SIGTERM then hangs in
    workpool_destroy() waiting for that job."""
    port = harness.free_port()
    pidfile = tmp_path / "postern.pid"
    spool = tmp_path / "spool"
    spool.mkdir()
    conf = tmp_path / "postern.conf"
    conf.write_text(harness.render_config(
        port, postfix.address, str(spool),
        extra='pid_file = "%s"\ndrain_timeout = 1s\n'
              'dns { forwarders = {"127.0.0.1@9"}  timeout = 2s }\n'
              'filter dkim_verify { }' % pidfile))
    subprocess.run([harness.POSTERN, "-c", str(conf)], check=True,
                   timeout=10, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    pid = harness.wait_until(lambda: harness.read_pidfile(str(pidfile)), 5)
    assert pid, "no pid file"
    final = None
    try:
        assert harness.wait_listening(port, 5)
        threads = proc_status(pid, "Threads")
        with harness.SMTPClient("127.0.0.1", port) as c:
            assert c.greeting().code == 220
            assert c.ehlo().code == 250
            assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
            assert c.command("RCPT TO:<bob@example.net>").code == 250
            assert c.command("DATA").code == 354
            c.send(harness.dot_stuff(MESSAGE))
            try:
                final = c.read_reply(timeout=5)
            except socket.timeout:
                pass
    finally:
        harness.kill_pid(pid, signal.SIGTERM)
        stopped = harness.wait_until(lambda: not harness.pid_alive(pid), 4)
        if not stopped:
            harness.kill_pid(pid)
    assert final is not None and final.code == 250, \
        "no final reply within 5 s from the detached postern (it has " \
        "%d thread(s); with -f it has its workers too)" % threads
    assert stopped, "the detached postern ignored SIGTERM past " \
        "drain_timeout (1 s) and had to be killed"
