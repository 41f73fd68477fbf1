"""postern as a milter (issue 6): a real Postfix whose smtpd_milters
points at postern's milter listener runs postern's filter chain.

Postfix here is this file's own instance (its main.cf names the milter),
not the session's shared one.  Clients speak SMTP to Postfix; postern's
verdicts come back as Postfix's replies, its header edits show in the
delivered files, which independent verifiers (dkimpy) check.
"""

import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import stat
import struct
import subprocess
import time

import pytest

import dkimtools as dt
from dkimtools import assert_not_delivered, delivered_one
import harness

RCPT = "bob@" + harness.DOMAIN
SERVID = harness.POSTERN_HOSTNAME
SIGNER = "signer.test"
BANK = "bank.test"  # p=reject
SHOP = "shop.test"  # p=none
OUTSIDE = "192.0.2.1"
GTUBE = ("XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL"
         "*C.34X")
RULES = r"""
body     WORD_ALPHA    /\balphaword\b/i
score    WORD_ALPHA    3.0
body     WORD_BRAVO    /\bbravoword\b/i
score    WORD_BRAVO    3.0
body     GTUBE         /XJS\*C4JDBQADN1\.NSBN3\*2IDNEN\*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL\*C\.34X/
score    GTUBE         1000
"""


# ------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def milter_port():
    return harness.free_port()


@pytest.fixture(scope="module")
def mta(milter_port):
    """Postfix with postern as its milter; a message is refused (4xx)
    while postern is down (milter_default_action = tempfail)."""
    pf = harness.Postfix(main_cf={
        "smtpd_milters": "inet:127.0.0.1:%d" % milter_port,
        "non_smtpd_milters": "",
        "milter_protocol": "6",
        "milter_default_action": "tempfail",
        "milter_connect_timeout": "5s",
    })
    yield from harness.run_mta(pf)


@pytest.fixture
def milter(start_postern, mta, milter_port):
    """start(extra) -> postern with a milter section and extra config;
    Postfix's maildirs emptied."""
    mta.reset()

    def start(extra, daemons="{}", on_error="tempfail", limits=None):
        cfg = "\n".join([
            'milter { address = "inet:127.0.0.1:%d"  on_error = %s'
            '  outbound_daemons = %s }' % (milter_port, on_error, daemons),
            extra])
        p = start_postern(mta, extra=cfg, limits=limits)
        assert harness.wait_listening(milter_port, 10, p.proc), p.log()
        return p
    return start


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("milterkeys"))
    k = dt.make_key(d, SIGNER, "m1", "rsa", 2048)
    k.tables = dt.write_tables(d, [(SIGNER, [k])], [k])
    return k


def dns_section(dns_server):
    return ('dns { forwarders = {"%s"}  timeout = 3s'
            '  nodefault_zones = {"test."} }' % dns_server.address)


def sign_config(key, canon="relaxed/relaxed"):
    keytable, signtable = key.tables
    return "\n".join([
        'internal_networks = {"127.0.0.0/8"}',
        'filter dkim_sign { key_table = "%s"  signing_table = "%s"'
        '  canonicalization = "%s" }' % (keytable, signtable, canon)])


def dmarc_config(dns_server):
    return "\n".join([
        dns_section(dns_server),
        "filter dkim_verify { }",
        "filter spf { on_fail = accept  on_softfail = accept }",
        "filter dmarc { }",
        'filter authres { authserv_id = "%s" }' % SERVID])


def dmarc_zone(dns_server):
    spf = "v=spf1 ip4:198.51.100.10 -all"
    dns_server.set_records(harness.records_lines({
        "_dmarc.%s." % BANK: "v=DMARC1; p=reject",
        "_dmarc.%s." % SHOP: "v=DMARC1; p=none",
        "%s." % BANK: spf,
        "%s." % SHOP: spf,
    }))


def send(mta, message, sender, addr=None, login=None):
    """One message to RCPT through Postfix, after XCLIENT ADDR=addr (and
    LOGIN=login, which Postfix hands its milters as {auth_authen}) when
    given.  Returns the last reply."""
    with harness.SMTPClient(mta.host, mta.port) as c:
        assert c.greeting().code == 220
        assert c.ehlo().code == 250
        if addr is not None:
            xc = c.command("XCLIENT ADDR=%s%s" % (
                addr, " LOGIN=" + login if login else ""))
            assert xc.code == 220, "got %r to XCLIENT" % xc
            assert c.ehlo().code == 250
        replies = c.send_mail(sender, [RCPT], message)
        c.command("QUIT")
    return replies[-1]


def header_names(raw):
    """Names of the header fields below the delivery trace
    (Return-Path, X-Original-To, Delivered-To)."""
    fields, _ = harness.split_header_fields(raw)
    names = [harness.field_name(f) for f in fields]
    while names and names[0] in (b"return-path", b"x-original-to",
                                 b"delivered-to"):
        names.pop(0)
    return names


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("canon", ["relaxed/relaxed", "simple/simple"])
def test_outbound_mail_is_signed_and_verifies(milter, mta, key, dns_server,
                                              canon):
    """A client in internal_networks: the delivered file carries
    postern's signature, which dkimpy verifies.  simple/simple also
    proves the header fields were rebuilt byte for byte (odd spacing
    and folds kept, SMFIP_HDR_LEADSPC)."""
    dns_server.set_records(harness.records_lines({key.record_name:
                                                  key.txt}))
    p = milter(sign_config(key, canon))
    msg = harness.make_message(
        subject="signed", sender="a@" + SIGNER, to=RCPT,
        extra_headers=["X-Odd:   three spaces\r\n\tand a fold",
                       "X-Tight:no space"])
    final = send(mta, msg, "a@" + SIGNER)
    assert final.code == 250, "got %r" % final
    raw = delivered_one(mta)
    sigs = dt.signatures(raw)
    assert [s.get("d") for s in sigs] == [SIGNER], raw
    res = dt.verify_dkimpy(raw, dt.dns_txt_func(dns_server.host,
                                                dns_server.port))
    assert [r.ok for r in res] == [True], res
    head = raw.split(b"\r\n\r\n", 1)[0]
    names = header_names(raw)
    assert names[:1] == [b"dkim-signature"], head
    assert b"X-Odd:   three spaces\r\n\tand a fold" in head
    assert b"X-Tight:no space" in head
    assert p.wait_log(r" message txn=\S+ queue_id=[0-9A-F]+ .*"
                      r"result=accepted"), p.log()


def test_outbound_by_daemon_name(milter, mta, key, dns_server):
    """No internal_networks: the client is outbound because Postfix's
    {daemon_name} (milter_macro_daemon_name, $myhostname = mta.test here)
    is listed in outbound_daemons."""
    dns_server.set_records(harness.records_lines({key.record_name:
                                                  key.txt}))
    keytable, signtable = key.tables
    sign = ('filter dkim_sign { key_table = "%s"  signing_table = "%s" }'
            % (keytable, signtable))
    p = milter(sign)
    msg = harness.make_message(subject="daemon", sender="a@" + SIGNER,
                               to=RCPT)
    assert send(mta, msg, "a@" + SIGNER).code == 250
    assert dt.signatures(delivered_one(mta)) == [], "signed inbound mail"
    p.stop()
    mta.reset()
    p = milter(sign, daemons='{"mta.test"}')
    assert send(mta, msg, "a@" + SIGNER).code == 250
    assert [s.get("d") for s in dt.signatures(delivered_one(mta))] \
        == [SIGNER]
    assert p.wait_log(r"daemon=mta\.test direction=outbound"), p.log()


def test_outbound_by_authenticated_client(milter, mta, key, dns_server):
    """A client outside internal_networks that authenticated (Postfix
    hands the SASL login to milters as {auth_authen}) is outbound."""
    dns_server.set_records(harness.records_lines({key.record_name:
                                                  key.txt}))
    keytable, signtable = key.tables
    p = milter('filter dkim_sign { key_table = "%s"  signing_table = "%s" }'
               % (keytable, signtable))
    msg = harness.make_message(subject="auth", sender="a@" + SIGNER,
                               to=RCPT)
    assert send(mta, msg, "a@" + SIGNER, OUTSIDE).code == 250
    assert dt.signatures(delivered_one(mta)) == [], "signed inbound mail"
    mta.reset()
    assert send(mta, msg, "a@" + SIGNER, OUTSIDE, login="alice").code \
        == 250
    assert [s.get("d") for s in dt.signatures(delivered_one(mta))] \
        == [SIGNER]
    assert p.wait_log(r"client=%s:\d+ listener=milter daemon=\S+ "
                      r"direction=inbound" % OUTSIDE.replace(".", r"\.")), \
        p.log()


def test_spoofed_reject_domain_is_rejected(milter, mta, dns_server):
    dmarc_zone(dns_server)
    p = milter(dmarc_config(dns_server))
    msg = harness.make_message(subject="spoof", sender="alerts@" + BANK,
                               to=RCPT)
    final = send(mta, msg, "alerts@" + BANK, OUTSIDE)
    assert (final.code, final.enhanced) == (550, "5.7.1"), final
    assert "DMARC policy of %s rejects the message" % BANK in final.text
    assert_not_delivered(mta)
    assert p.wait_log(r"result=rejected filter=dmarc"), p.log()


def test_forged_authentication_results_removed(milter, mta, dns_server):
    dmarc_zone(dns_server)
    milter(dmarc_config(dns_server))
    forged = ["Authentication-Results: %s; dmarc=pass header.from=%s"
              % (SERVID, SHOP),
              "Authentication-Results: %s; spf=pass" % SERVID,
              "Authentication-Results: other.example; spf=none"]
    msg = harness.make_message(subject="forged", sender="x@" + SHOP,
                               to=RCPT, extra_headers=forged)
    final = send(mta, msg, "x@" + SHOP, OUTSIDE)
    assert final.code == 250, final
    raw = delivered_one(mta)
    mine = dt.authres_fields(raw, SERVID)
    assert len(mine) == 1, mine
    assert "dmarc=pass" not in mine[0] and "dmarc=fail" in mine[0], mine
    assert dt.header_values(raw, "Authentication-Results")[-1].strip() \
        == "other.example; spf=none", raw
    # postern's own field is on top, as in proxy mode.
    assert header_names(raw)[:1] == [b"authentication-results"], raw


@pytest.fixture
def spam_milter(milter, tmp_path):
    rules = tmp_path / "rules.cf"
    rules.write_text(RULES)
    return milter('filter spam { rules = {"%s"}  tag_score = 5'
                  '  reject_score = 15 }' % rules)


def test_gtube_is_rejected(spam_milter, mta):
    msg = harness.make_message(subject="gtube", to=RCPT,
                               body=("Test " + GTUBE + "\r\n").encode())
    final = send(mta, msg, "sender@example.org")
    assert final.code == 550, final
    assert_not_delivered(mta)


def test_spam_over_tag_score_is_tagged(spam_milter, mta):
    msg = harness.make_message(subject="tag", to=RCPT,
                               body=b"alphaword and bravoword\r\n")
    final = send(mta, msg, "sender@example.org")
    assert final.code == 250, final
    raw = delivered_one(mta)
    assert [v.strip() for v in dt.header_values(raw, "X-Spam-Flag")] \
        == ["YES"], raw


def test_spam_over_hold_score_goes_to_the_hold_queue(milter, mta, tmp_path):
    """FILTER_HOLD in milter mode is the MTA's quarantine (Postfix's hold
    queue, via smfi_quarantine), not postern's quarantine_dir."""
    rules = tmp_path / "rules.cf"
    rules.write_text(RULES)
    quarantine = tmp_path / "quarantine"  # checked, unused here
    quarantine.mkdir()
    p = milter('quarantine_dir = "%s"\n'
               'filter spam { rules = {"%s"}  tag_score = 3'
               '  hold_score = 5  reject_score = 15 }' % (quarantine, rules))
    msg = harness.make_message(subject="hold", to=RCPT,
                               body=b"alphaword and bravoword\r\n")
    try:
        final = send(mta, msg, "sender@example.org")
        assert final.code == 250, final
        assert mta.wait_log_since_mark(r"milter triggers HOLD action"), \
            mta.log_since_mark()
        held = os.path.join(mta.base, "queue", "hold")
        assert harness.wait_until(lambda: len(os.listdir(held)) == 1, 5), \
            os.listdir(held)
        assert mta.messages("bob") == []
        assert list(quarantine.iterdir()) == []
        assert p.wait_log(r"result=held"), p.log()
    finally:
        subprocess.run(["postsuper", "-c", mta.conf, "-d", "ALL", "hold"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_garbage_on_the_milter_port_ends_that_connection_only(
        milter, mta, key, dns_server, milter_port):
    dns_server.set_records(harness.records_lines({key.record_name:
                                                  key.txt}))
    p = milter(sign_config(key))
    for junk in (b"\x00\x00\x00\x05Xabcd", b"\xff\xff\xff\xff" + b"A" * 64,
                 b"\x00\x00\x00\x01O", os.urandom(256)):
        with socket.create_connection(("127.0.0.1", milter_port)) as s:
            s.sendall(junk)
            s.settimeout(5)
            try:
                s.recv(4096)
            except (socket.timeout, ConnectionResetError):
                pass
    time.sleep(0.2)
    assert p.proc.poll() is None, p.log()
    assert p.wait_log(r"milter disconnect reason=protocol-error"), p.log()
    msg = harness.make_message(subject="after", sender="a@" + SIGNER,
                               to=RCPT)
    assert send(mta, msg, "a@" + SIGNER).code == 250
    assert dt.signatures(delivered_one(mta)), "not signed after garbage"


def milter_packet(cmd, data=b""):
    return struct.pack("!I", len(data) + 1) + cmd + data


OPTNEG = milter_packet(b"O", struct.pack("!III", 6, 0x1ff, 0x1fffff))
CONNECT = milter_packet(b"C", b"client.example\x004" + struct.pack("!H", 25)
                        + b"192.0.2.1\x00")


@pytest.mark.parametrize("name,packets", [
    ("body before MAIL", [OPTNEG, CONNECT, milter_packet(b"B", b"x" * 10)]),
    ("end of message before MAIL", [OPTNEG, CONNECT, milter_packet(b"E")]),
    ("header without its NULs", [OPTNEG, CONNECT,
                                 milter_packet(b"M", b"<a@b.test>\x00"),
                                 milter_packet(b"L", b"Subject")]),
    ("connect with a bad family", [OPTNEG, milter_packet(b"C",
                                                          b"h\x00Z")]),
    ("truncated packet", [OPTNEG, CONNECT, b"\x00\x00\x10\x00M<a@"]),
])
def test_unexpected_milter_packets_end_that_connection_only(
        milter, mta, key, dns_server, milter_port, name, packets):
    """Well-framed packets in an order no MTA sends, or with broken
    contents: postern answers or drops that connection, logs its end,
    and the next message from Postfix is still signed."""
    dns_server.set_records(harness.records_lines({key.record_name:
                                                  key.txt}))
    p = milter(sign_config(key))
    with socket.create_connection(("127.0.0.1", milter_port)) as s:
        s.settimeout(5)
        for pkt in packets:
            try:
                s.sendall(pkt)
            except (BrokenPipeError, ConnectionResetError):
                break
        s.shutdown(socket.SHUT_WR)
        try:
            while s.recv(4096):
                pass
        except (socket.timeout, ConnectionResetError):
            pass
    assert p.wait_log(r"(disconnect reason=close|milter disconnect "
                      r"reason=protocol-error)"), p.log()
    assert p.proc.poll() is None, p.log()
    msg = harness.make_message(subject="after " + name,
                               sender="a@" + SIGNER, to=RCPT)
    assert send(mta, msg, "a@" + SIGNER).code == 250
    assert dt.signatures(delivered_one(mta)), "not signed after " + name


def test_transaction_the_mta_gives_up_is_logged_aborted(milter, milter_port):
    """SMFIC_ABORT mid-message, then a second transaction cut off by the
    connection closing: each gets its message line, as in the proxy."""
    p = milter("")
    rcpt = milter_packet(b"R", b"<bob@example.net>\x00")
    with socket.create_connection(("127.0.0.1", milter_port)) as s:
        s.settimeout(5)
        for pkt in [OPTNEG, CONNECT,
                    milter_packet(b"M", b"<one@example.org>\x00"), rcpt,
                    milter_packet(b"L", b"Subject\x00first\x00"),
                    milter_packet(b"A"),
                    milter_packet(b"M", b"<two@example.org>\x00"), rcpt,
                    milter_packet(b"L", b"Subject\x00second\x00")]:
            s.sendall(pkt)
        time.sleep(0.5)
    for sender in ("one", "two"):
        assert p.wait_log(r" message txn=\S+ .*from=<%s@example\.org> "
                          r"nrcpt=1 rcpts=<bob@example\.net> .*result=aborted"
                          % sender), p.log()
    assert p.wait_log(r" disconnect reason=close messages=0 "), p.log()


def test_signature_same_as_proxy_mode(milter, mta, start_postern, postfix,
                                      key, dns_server):
    """The same message signed in proxy mode (postern in front of the
    shared Postfix) and in milter mode: same tags but the time, and each
    signature verifies on the other mode's delivered file, so both modes
    signed the same octets (simple/simple: byte for byte)."""
    dns_server.set_records(harness.records_lines({key.record_name:
                                                  key.txt}))
    postfix.reset()
    msg = harness.make_message(
        subject="same  bytes", sender="Ann <a@%s>" % SIGNER, to=RCPT,
        extra_headers=["X-Odd:   spaced\r\n\tfolded", "X-Tight:x"])
    milter(sign_config(key, "simple/simple"))
    assert send(mta, msg, "a@" + SIGNER).code == 250
    via_milter = delivered_one(mta)
    proxy = start_postern(postfix, extra=sign_config(key, "simple/simple"))
    s = harness.send_one(proxy.host, proxy.port, [RCPT], msg,
                         sender="a@" + SIGNER)
    assert s.final is not None and s.final.code == 250, s
    via_proxy = delivered_one(postfix)

    [m_sig] = dt.signatures(via_milter)
    [p_sig] = dt.signatures(via_proxy)
    for tags in (m_sig, p_sig):
        tags.pop("t", None)
        tags.pop("b", None)
    assert m_sig == p_sig
    dnsfunc = dt.dns_txt_func(dns_server.host, dns_server.port)
    m_field = dt.header_fields(via_milter, "DKIM-Signature")[0]
    p_field = dt.header_fields(via_proxy, "DKIM-Signature")[0]
    swapped = via_proxy.replace(p_field, m_field, 1)
    res = dt.verify_dkimpy(swapped, dnsfunc)
    assert [r.ok for r in res] == [True], res


def test_milter_only_configuration(mta, milter_port, key, dns_server,
                                   tmp_path):
    """No listener and no upstream section: postern is only a milter,
    and still signs."""
    dns_server.set_records(harness.records_lines({key.record_name:
                                                  key.txt}))
    mta.reset()
    p = harness.Postern(mta.address)
    p.port = milter_port  # start() waits for this port
    p.config_text = "\n".join([
        'hostname = "%s"' % SERVID,
        'spool_dir = "%s"' % p.spool,
        "log { target = stderr  level = info }",
        'milter { address = "inet:127.0.0.1:%d" }' % milter_port,
        sign_config(key)]) + "\n"
    try:
        p.start()
        msg = harness.make_message(subject="only", sender="a@" + SIGNER,
                                   to=RCPT)
        assert send(mta, msg, "a@" + SIGNER).code == 250
        raw = delivered_one(mta)
        assert [s.get("d") for s in dt.signatures(raw)] == [SIGNER]
        assert p.stop() == 0, p.log()
    finally:
        p.kill()
        p.cleanup()


def test_signals_reach_the_loop_not_libmilter(milter_port, tmp_path):
    """libmilter's own signal thread stops the milter on SIGHUP or
    SIGTERM; postern keeps those signals for its loop.  A stopped
    process sent SIGHUP and SIGTERM and then continued has both pending
    at once, the case where Linux may give one to another thread."""
    for i in range(5):
        p = harness.Postern("127.0.0.1:1")
        p.port = milter_port
        p.config_text = "\n".join([
            'hostname = "%s"' % SERVID,
            'spool_dir = "%s"' % p.spool,
            "log { target = stderr  level = info }",
            'milter { address = "inet:127.0.0.1:%d" }' % milter_port]) + "\n"
        try:
            p.start()
            os.kill(p.proc.pid, signal.SIGSTOP)
            time.sleep(0.05)
            os.kill(p.proc.pid, signal.SIGHUP)
            os.kill(p.proc.pid, signal.SIGTERM)
            os.kill(p.proc.pid, signal.SIGCONT)
            assert p.proc.wait(15) == 0, p.log()
            assert re.search(r" signal term: draining ", p.log()), p.log()
        finally:
            p.kill()
            p.cleanup()


# ------------------------------------- unix socket, TLS macros, on_error

@pytest.fixture(scope="module")
def tls_mta():
    """A second Postfix: STARTTLS with a throwaway certificate, postern
    as its milter on a unix socket (whose path it yields with it)."""
    base = harness.make_private_dir("postern-milter-tls-")
    cert, keyfile = os.path.join(base, "cert.pem"), os.path.join(base,
                                                                 "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-subj", "/CN=mta.test", "-days", "2",
                    "-keyout", keyfile, "-out", cert], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sock = os.path.join(base, "milter.sock")
    pf = harness.Postfix(main_cf={
        "smtpd_milters": "unix:" + sock,
        "non_smtpd_milters": "",
        "milter_protocol": "6",
        "milter_default_action": "tempfail",
        "smtpd_tls_cert_file": cert,
        "smtpd_tls_key_file": keyfile,
        "smtpd_tls_security_level": "may",
    })
    for mta in harness.run_mta(pf):
        yield mta, sock
    shutil.rmtree(base, ignore_errors=True)


def send_starttls(mta, message, sender):
    """One message to RCPT through Postfix over STARTTLS; the final
    reply as (code, text)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP(mta.host, mta.port, timeout=15) as c:
        c.starttls(context=ctx)
        c.ehlo("client.example")
        c.mail(sender)
        code, text = c.rcpt(RCPT)
        assert code == 250, (code, text)
        return c.data(message)


def test_unix_socket_tls_macros_and_signing(start_postern, tls_mta, key,
                                            dns_server):
    """Postfix reaches postern on a unix socket made with socket_mode;
    the client's STARTTLS shows in postern's message line from Postfix's
    TLS macros; the message is signed and verifies."""
    pf, sock = tls_mta
    pf.reset()
    dns_server.set_records(harness.records_lines({key.record_name:
                                                  key.txt}))
    p = start_postern(pf, extra="\n".join([
        'milter { address = "unix:%s"  socket_mode = "0666" }' % sock,
        sign_config(key)]))
    assert harness.wait_until(lambda: os.path.exists(sock), 10), p.log()
    assert stat.S_IMODE(os.stat(sock).st_mode) == 0o666
    msg = harness.make_message(subject="over tls", sender="a@" + SIGNER,
                               to=RCPT)
    code, text = send_starttls(pf, msg, "a@" + SIGNER)
    assert code == 250, (code, text)
    raw = delivered_one(pf)
    res = dt.verify_dkimpy(raw, dt.dns_txt_func(dns_server.host,
                                                dns_server.port))
    assert [r.ok for r in res] == [True], res
    assert b"with ESMTPS" in raw
    assert p.wait_log(r" message txn=\S+ .* tls=TLSv1\.[23] "
                      r"cipher=TLS_\w+ result=accepted"), p.log()


@pytest.mark.parametrize("on_error", ["tempfail", "accept"])
def test_on_error_decides_when_postern_fails(milter, mta, key, dns_server,
                                             on_error):
    """postern cannot spool the message (its spool directory is gone and
    the message is over the memory limit): on_error = tempfail gives
    the client 451 4.3.0 and nothing is delivered; accept lets the
    message through, unsigned."""
    dns_server.set_records(harness.records_lines({key.record_name:
                                                  key.txt}))
    p = milter(sign_config(key), on_error=on_error,
               limits={"spool_memory": "4k"})
    shutil.rmtree(p.spool)
    msg = harness.make_message(subject="no spool", sender="a@" + SIGNER,
                               to=RCPT, body=b"spool me\r\n" * 2000)
    final = send(mta, msg, "a@" + SIGNER)
    assert p.wait_log(r"milter error=\"spool write failed\" action=%s"
                      % on_error), p.log()
    if on_error == "tempfail":
        assert (final.code, final.enhanced) == (451, "4.3.0"), final
        assert_not_delivered(mta)
    else:
        assert final.code == 250, final
        assert dt.signatures(delivered_one(mta)) == []
