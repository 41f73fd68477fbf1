"""The metrics listener: counters after a known mix of traffic through
postern in front of Postfix, the Prometheus text parsed, the allow list,
idle connections, the history's counts, and the status page rendered by
headless Chromium."""
import http.client
import os
import re
import select
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import tempfile
import urllib.error
import urllib.request
import zlib

import pytest

import dkimtools as dt
import harness

RELAYED = 3
SENDER = "sender@example.org"

SAMPLE = re.compile(r'^([a-z_]+)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-z_]+)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset(labels)): value}; checks HELP/TYPE precede
    every sample's metric family."""
    typed, samples = set(), {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "unparsable line %r" % line
        name, labels, value = m.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or family in typed, "no TYPE for %s" % name
        key = (name, frozenset(LABEL.findall(labels or "")))
        samples[key] = float(value)
    return samples


def metric(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0)


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read().decode()


def start(start_postern, postfix, allow=None, extra=""):
    port = harness.free_port()
    allow_line = ("allow = {%s}" % ", ".join('"%s"' % a for a in allow)
                  if allow else "")
    p = start_postern(postfix, extra='metrics { address = "127.0.0.1:%d" '
                      '%s }\n%s' % (port, allow_line, extra))
    # The SMTP listener is bound first: wait for this one too.
    assert harness.wait_listening(port, 10, p.proc), p.log()
    return p, "http://127.0.0.1:%d" % port


def traffic(p):
    for i in range(RELAYED):
        s = harness.send_one(p.host, p.port, ["alice@example.net"],
                             harness.make_message(subject="m%d" % i))
        assert s.final.code == 250, s
    s = harness.send_one(p.host, p.port, ["nobody@example.net"],
                         harness.make_message())
    assert s.rcpts[0].code == 550, s


SIGNED = 3
SPF_REJECTED = 2
SPAM_REJECTED = 2
VERIFIED = 2  # inbound and signed: one passes, one fails
SIGN_DOMAIN = "metrics.test"
FAIL_DOMAIN = "fail.metrics.test"
PASS_DOMAIN = "pass.metrics.test"
OUTSIDE = "192.0.2.10"
RULES = ("body SPAMWORD /\\bspamword\\b/\nscore SPAMWORD 20\n"
         "body HOLDWORD /\\bholdword\\b/\nscore HOLDWORD 12\n")
HELD = 1


@pytest.fixture
def mix_postern(start_postern, postfix, dns_server, tmp_path):
    """postern signing for SIGN_DOMAIN (127.0.0.0/8 is internal), with
    SPF and spam filters for inbound clients (XCLIENT ADDR=OUTSIDE)."""
    key = dt.make_key(str(tmp_path), SIGN_DOMAIN, "m1", "ed25519")
    keytable, signtable = dt.write_tables(str(tmp_path),
                                          [(SIGN_DOMAIN, [key])], [key])
    rules = tmp_path / "rules.cf"
    rules.write_text(RULES)
    quarantine = tmp_path / "quarantine"
    quarantine.mkdir()
    # PASS_DOMAIN signs its own mail, with a key postern finds in DNS.
    sender_key = dt.make_key(str(tmp_path), PASS_DOMAIN, "v1", "ed25519")
    dns_server.add_records(harness.records_lines({
        FAIL_DOMAIN + ".": "v=spf1 -all",
        PASS_DOMAIN + ".": "v=spf1 ip4:192.0.2.0/24 -all",
        sender_key.record_name: sender_key.txt}))
    port = harness.free_port()
    extra = "\n".join([
        'dns { forwarders = {"%s"}  timeout = 3s'
        '  nodefault_zones = {"test."} }' % dns_server.address,
        'internal_networks = {"127.0.0.0/8"}',
        'quarantine_dir = "%s"' % quarantine,
        "filter dkim_verify { }",
        "filter spf { }",
        'filter spam { rules = {"%s"}  hold_score = 10  reject_score = 15 }'
        % rules,
        'filter dkim_sign { key_table = "%s"  signing_table = "%s" }' % (
            keytable, signtable),
        'metrics { address = "127.0.0.1:%d" }' % port])
    p = start_postern(postfix, extra=extra)
    p.sender_key = sender_key
    p.quarantine = str(quarantine)
    return p, "http://127.0.0.1:%d" % port


def inbound(p, sender, body, sign=None, tamper=False):
    """One message from OUTSIDE (XCLIENT), DKIM-signed by key sign when
    given (its body changed after signing with tamper); returns every
    reply."""
    message = harness.make_message(sender=sender, body=body)
    if sign is not None:
        message = dt.dkimpy_sign(message, sign)
    if tamper:
        message = message.replace(b"test message", b"best message")
    with p.connect() as c:
        assert c.greeting().code == 220
        assert c.ehlo().code == 250
        assert c.command("XCLIENT ADDR=%s" % OUTSIDE).code == 220
        assert c.ehlo().code == 250
        replies = c.send_mail(sender, ["alice@example.net"], message)
        c.command("QUIT")
    return replies


def test_counters_after_known_mix(mix_postern, postfix):
    p, base = mix_postern
    sender = "news@" + SIGN_DOMAIN
    for i in range(SIGNED):
        s = harness.send_one(p.host, p.port, ["alice@example.net"],
                             harness.make_message(sender=sender,
                                                  subject="s%d" % i),
                             sender=sender)
        assert s.final is not None and s.final.code == 250, s
    for _ in range(SPF_REJECTED):
        mail = inbound(p, "a@" + FAIL_DOMAIN, None)[0]
        assert mail.code == 550, mail
    for _ in range(SPAM_REJECTED):
        final = inbound(p, "b@" + PASS_DOMAIN, b"a spamword here\r\n")[-1]
        assert final.code == 550, final
    for _ in range(HELD):
        final = inbound(p, "h@" + PASS_DOMAIN, b"a holdword here\r\n")[-1]
        assert final.code == 250, final
    assert len(os.listdir(p.quarantine)) == HELD
    # One signature that verifies, one broken in transit: both relayed.
    for tamper in (False, True):
        final = inbound(p, "c@" + PASS_DOMAIN, None, sign=p.sender_key,
                        tamper=tamper)[-1]
        assert final.code == 250, final
    s = harness.send_one(p.host, p.port, ["nobody@example.net"],
                         harness.make_message(sender=sender), sender=sender)
    assert s.rcpts[0].code == 550, s
    postfix.wait_idle()
    delivered = postfix.wait_messages("alice", SIGNED + VERIFIED)
    assert len(delivered) == SIGNED + VERIFIED
    assert all(b"DKIM-Signature:" in m for m in delivered)

    status, text = get(base + "/metrics")
    assert status == 200
    m = parse_metrics(text)
    total = SIGNED + VERIFIED + SPF_REJECTED + SPAM_REJECTED + HELD + 1
    want = [
        ("postern_sessions_total", {"listener": "smtp"}, total),
        ("postern_messages_received_total", {"listener": "smtp"}, total),
        ("postern_messages_total", {"listener": "smtp",
                                    "result": "relayed"}, SIGNED + VERIFIED),
        ("postern_messages_total", {"listener": "smtp",
                                    "result": "rejected"},
         SPF_REJECTED + SPAM_REJECTED + 1),
        ("postern_messages_total", {"listener": "smtp",
                                    "result": "held"}, HELD),
        ("postern_messages_total", {"listener": "smtp",
                                    "result": "tempfailed"}, 0),
        ("postern_messages_total", {"listener": "smtp",
                                    "result": "aborted"}, 0),
        ("postern_messages_rejected_total", {"listener": "smtp",
                                             "reason": "spf"},
         SPF_REJECTED),
        ("postern_messages_rejected_total", {"listener": "smtp",
                                             "reason": "spam"},
         SPAM_REJECTED),
        ("postern_messages_rejected_total", {"listener": "smtp",
                                             "reason": "upstream"}, 1),
        ("postern_messages_signed_total", {"listener": "smtp"}, SIGNED),
        ("postern_dkim_signatures_total", {"listener": "smtp"}, SIGNED),
        ("postern_dkim_verified_total", {"listener": "smtp",
                                         "result": "pass"}, 1),
        ("postern_dkim_verified_total", {"listener": "smtp",
                                         "result": "fail"}, 1),
        ("postern_domain_messages_signed_total", {"domain": SIGN_DOMAIN},
         SIGNED),
        ("postern_domain_messages_rejected_total",
         {"domain": FAIL_DOMAIN, "reason": "spf"}, SPF_REJECTED),
        ("postern_domain_messages_rejected_total",
         {"domain": PASS_DOMAIN, "reason": "spam"}, SPAM_REJECTED),
        ("postern_upstream_replies_total", {"code": "250"},
         SIGNED + VERIFIED),
        ("postern_upstream_replies_total", {"code": "550"}, 1),
        # Every inbound message that reached DATA is scored: the
        # signed ones at 0.
        ("postern_spam_score_count", {},
         SPAM_REJECTED + VERIFIED + HELD),
        ("postern_spam_score_bucket", {"le": "15"}, VERIFIED + HELD),
        ("postern_spam_score_bucket", {"le": "20"},
         SPAM_REJECTED + VERIFIED + HELD),
        ("postern_spam_score_sum", {}, 20 * SPAM_REJECTED + 12 * HELD),
        ("postern_transaction_seconds_count", {}, total),
    ]
    got = [(n, l, metric(m, n, **l)) for n, l, _ in want]
    assert got == want


def test_paths_and_methods(start_postern, postfix):
    _, base = start(start_postern, postfix)
    status, body = get(base + "/metrics")
    assert status == 200 and "postern_history_" not in body
    status, body = get(base + "/status.json")
    assert status == 200 and body.startswith('{"now":'), body[:80]
    with pytest.raises(urllib.error.HTTPError) as e:
        get(base + "/nothing")
    assert e.value.code == 404
    # An escaped NUL must not cut the path down to a known one.
    for path in ("/metrics%00", "/metrics%00.txt", "/status%00"):
        with pytest.raises(urllib.error.HTTPError) as e:
            get(base + path)
        assert e.value.code == 404, path
    status, _ = get(base + "/metric%73")
    assert status == 200
    req = urllib.request.Request(base + "/metrics", data=b"x",
                                 method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 405


def port_of(base):
    return int(base.rsplit(":", 1)[1])


def read_all(sock):
    """What the server sends until it closes; a reset counts as closed."""
    data = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data


def test_peer_outside_allow_is_closed_at_accept(start_postern, postfix):
    """Refused before a byte is read: no HTTP answer at all, not even a
    403 (which would need the request, and a connection slot)."""
    _, base = start(start_postern, postfix, allow=["192.0.2.0/24"])
    with socket.create_connection(("127.0.0.1", port_of(base)),
                                  timeout=10) as s:
        try:
            s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert read_all(s) == b""


def scrape_from(source, base):
    """GET /metrics from the local address source."""
    c = http.client.HTTPConnection("127.0.0.1", port_of(base), timeout=10,
                                   source_address=(source, 0))
    try:
        c.request("GET", "/metrics")
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


PER_IP_LIMIT = 8
IDLE = 70  # more than the listener's 64 connections in all


def test_idle_connections_do_not_block_scrapes(start_postern, postfix):
    """Slowloris: one address opening IDLE connections, each with half a
    request line, keeps PER_IP_LIMIT of them; a scrape from another
    allowed address is answered meanwhile."""
    _, base = start(start_postern, postfix,
                    allow=["127.0.0.1", "127.0.0.2"])
    idle = []
    try:
        for _ in range(IDLE):
            s = socket.create_connection(("127.0.0.1", port_of(base)),
                                         timeout=10)
            s.sendall(b"GET /metr")
            idle.append(s)
        status, text = scrape_from("127.0.0.2", base)
        assert status == 200
        assert "postern_sessions_total" in text
        # The listener closed those past the limit, not waiting for
        # their timeout.
        closed = set()

        def over_limit_closed():
            ready, _, _ = select.select(
                [s for s in idle if s not in closed], [], [], 0.2)
            for s in ready:
                if read_all(s) == b"":
                    closed.add(s)
            return len(closed) >= IDLE - PER_IP_LIMIT
        assert harness.wait_until(over_limit_closed, 10) is True, \
            "%d of %d idle connections closed" % (len(closed), IDLE)
    finally:
        for s in idle:
            s.close()


def test_series_from_start_and_history_counts(start_postern, postfix,
                                              tmp_path):
    """Every listener's counters exist before its first session; with a
    history the dropped and lost counts are served; an abort without a
    recipient counts in the metrics but stays out of the history."""
    db = str(tmp_path / "history.db")
    p, base = start(start_postern, postfix,
                    extra='history { path = "%s" }' % db)
    m = parse_metrics(get(base + "/metrics")[1])
    for name, labels in [
            ("postern_sessions_total", {"listener": "smtp"}),
            ("postern_messages_received_total", {"listener": "smtp"}),
            ("postern_messages_total", {"listener": "smtp",
                                        "result": "relayed"}),
            ("postern_history_dropped_total", {}),
            ("postern_history_lost_total", {})]:
        key = (name, frozenset(labels.items()))
        assert m.get(key) == 0, (name, labels, m.get(key))
    with p.connect() as c:
        c.greeting()
        c.ehlo()
        assert c.command("MAIL FROM:<a@other>").code == 250
        assert c.command("RSET").code == 250
        c.command("QUIT")
    s = harness.send_one(p.host, p.port, ["alice@example.net"],
                         harness.make_message())
    assert s.final.code == 250, s
    postfix.wait_idle()
    m = parse_metrics(get(base + "/metrics")[1])
    assert metric(m, "postern_messages_total", listener="smtp",
                  result="aborted") == 1
    assert metric(m, "postern_domain_messages_total", domain="other",
                  result="aborted") == 1
    assert metric(m, "postern_history_lost_total") == 0
    p.stop()  # the writer writes the queue before the exit
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT result FROM txn").fetchall()
    assert rows == [("relayed",)]


def png_colours(path):
    """(width, height, number of distinct pixel rows' byte patterns
    sampled) from an 8-bit RGB/RGBA PNG, without PIL."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    bpp = {2: 3, 6: 4}[ctype]
    stride = width * bpp + 1
    colours = set()
    prev = bytearray(width * bpp)
    for y in range(height):
        line = raw[y * stride:(y + 1) * stride]
        ftype, cur = line[0], bytearray(line[1:])
        for i in range(len(cur)):
            a = cur[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                cur[i] = (cur[i] + a) & 255
            elif ftype == 2:
                cur[i] = (cur[i] + b) & 255
            elif ftype == 3:
                cur[i] = (cur[i] + (a + b) // 2) & 255
            elif ftype == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[i] = (cur[i] + pr) & 255
        if y % 8 == 0:
            for x in range(0, width, 4):
                colours.add(bytes(cur[x * bpp:x * bpp + 3]))
        prev = cur
    return width, height, len(colours)


CHROMIUM = shutil.which("chromium")


def chromium(args, url):
    profile = tempfile.mkdtemp(prefix="postern-chromium-")
    try:
        return subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync",
             "--user-data-dir=" + profile] + args + [url],
            capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_status_page_in_chromium(start_postern, postfix):
    p, base = start(start_postern, postfix)
    traffic(p)
    postfix.wait_idle()
    r = chromium(["--dump-dom"], base + "/")
    dom = r.stdout
    for chart in ("throughput", "verdicts", "reasons", "upstream"):
        assert '<svg id="%s"' % chart in dom, "no %s chart" % chart
    assert 'data-label="relayed" data-value="%d"' % RELAYED in dom
    assert 'data-label="550" data-value="1"' in dom
    points = re.findall(r'class="pt" data-label="relayed" '
                        r'data-value="(\d+)"', dom)
    assert len(points) == 60 and sum(map(int, points)) == RELAYED, points
    # Nothing to load: no script, style sheet, image or frame, and no
    # attribute pointing elsewhere.
    for tag in ("<script", "<link", "<img", "<iframe", "<object"):
        assert tag not in dom, "page has %s" % tag
    assert not re.search(r'\s(src|href)=', dom), dom[:400]
    assert "Failed to load resource" not in r.stderr, r.stderr
    shot = os.path.join(p.base, "status.png")
    chromium(["--screenshot=" + shot, "--window-size=1200,900"], base + "/")
    width, height, colours = png_colours(shot)
    assert (width, height) == (1200, 900)
    print("screenshot colours: %d" % colours)
    assert colours >= 5, "got %d colours, want a drawn page" % colours


def test_aborts_and_reload_keep_counting(start_postern, postfix):
    """RSET and QUIT after MAIL are aborts; SIGHUP keeps the counts."""
    p, base = start(start_postern, postfix)
    with p.connect() as c:
        c.greeting()
        c.ehlo()
        assert c.command("MAIL FROM:<a@example.org>").code == 250
        assert c.command("RSET").code == 250
        assert c.command("MAIL FROM:<a@example.org>").code == 250
        assert c.command("RCPT TO:<alice@example.net>").code == 250
        c.command("QUIT")
    s = harness.send_one(p.host, p.port, ["alice@example.net"],
                         harness.make_message())
    assert s.final.code == 250, s
    p.proc.send_signal(signal.SIGHUP)
    assert p.wait_log(r"reload done"), p.log()
    s = harness.send_one(p.host, p.port, ["alice@example.net"],
                         harness.make_message())
    assert s.final.code == 250, s
    postfix.wait_idle()
    m = parse_metrics(get(base + "/metrics")[1])
    assert metric(m, "postern_messages_total", listener="smtp",
                  result="aborted") == 2
    assert metric(m, "postern_messages_total", listener="smtp",
                  result="relayed") == 2
    assert metric(m, "postern_messages_received_total",
                  listener="smtp") == 2
    assert metric(m, "postern_sessions_total", listener="smtp") == 3


MILTER_RULES = ("body SPAMWORD /\\bspamword\\b/\nscore SPAMWORD 20\n"
         "body HOLDWORD /\\bholdword\\b/\nscore HOLDWORD 12\n")
HELD = 1


@pytest.fixture(scope="module")
def milter_port():
    return harness.free_port()


@pytest.fixture(scope="module")
def milter_mta(milter_port):
    pf = harness.Postfix(main_cf={
        "smtpd_milters": "inet:127.0.0.1:%d" % milter_port,
        "non_smtpd_milters": "",
        "milter_protocol": "6",
        "milter_default_action": "tempfail",
        "milter_connect_timeout": "5s",
    })
    yield from harness.run_mta(pf)


def test_milter_counters(start_postern, milter_mta, milter_port, tmp_path):
    rules = tmp_path / "rules.cf"
    rules.write_text(MILTER_RULES)
    port = harness.free_port()
    milter_mta.reset()
    p = start_postern(milter_mta, extra="\n".join([
        'milter { address = "inet:127.0.0.1:%d" }' % milter_port,
        'filter spam { rules = {"%s"}  reject_score = 15 }' % rules,
        'metrics { address = "127.0.0.1:%d" }' % port]))
    assert harness.wait_listening(milter_port, 10, p.proc), p.log()
    finals = []
    for body in (b"clean\r\n", b"clean too\r\n", b"a spamword\r\n"):
        s = harness.send_one(milter_mta.host, milter_mta.port,
                             ["bob@" + harness.DOMAIN],
                             harness.make_message(body=body))
        finals.append(s.final.code)
    assert finals == [250, 250, 550]
    milter_mta.wait_idle()
    m = parse_metrics(get("http://127.0.0.1:%d/metrics" % port)[1])
    assert metric(m, "postern_messages_total", listener="milter",
                  result="relayed") == 2
    assert metric(m, "postern_messages_rejected_total", listener="milter",
                  reason="spam") == 1
    assert metric(m, "postern_spam_score_count") == 3
    assert metric(m, "postern_sessions_total", listener="milter") == 3
