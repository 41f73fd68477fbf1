"""AUTH PLAIN and LOGIN relayed to a Postfix doing Cyrus SASL (sasldb):
offered only when the upstream has them and the connection is under TLS
or the listener says auth_without_tls; the exchange goes in lockstep,
334 continuations included; a success makes the session authenticated
(ESMTPA, outbound, XCLIENT LOGIN); failures are delayed and then locked
out; credentials never reach postern's log."""

import base64
import os
import re
import subprocess

import pytest

import harness
from harness import make_message

USER = "alice"
PASSWORD = "s3cret-Pass"
REALM = "mta.test"
SENDER = "alice@example.org"


@pytest.fixture(scope="module")
def sasl_postfix():
    """A Postfix checking AUTH PLAIN and LOGIN against a private sasldb.
    Debian's Postfix reads $config_directory/sasl/smtpd.conf."""
    mta = harness.Postfix(main_cf={
        "smtpd_sasl_auth_enable": "yes",
        "smtpd_sasl_local_domain": REALM,
        "smtpd_sasl_authenticated_header": "yes",
    })
    sasl_dir = os.path.join(mta.conf, "sasl")
    os.makedirs(sasl_dir)
    db = os.path.join(sasl_dir, "sasldb2")
    subprocess.run(["saslpasswd2", "-f", db, "-c", "-p", "-u", REALM, USER],
                   input=PASSWORD.encode(), check=True, timeout=30)
    os.chmod(db, 0o644)
    with open(os.path.join(sasl_dir, "smtpd.conf"), "w") as f:
        f.write("pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                "sasldb_path: %s\nmech_list: PLAIN LOGIN\n" % db)
    yield from harness.run_mta(mta)


@pytest.fixture
def upstream(sasl_postfix):
    sasl_postfix.reset()
    return sasl_postfix


def b64(text):
    return base64.b64encode(text.encode()).decode()


def plain(user=USER, password=PASSWORD):
    return b64("\0%s\0%s" % (user, password))


def start_auth(start_postern, upstream, limits=None, extra="", **config):
    """postern with its usual listener (no TLS, so no AUTH) and a second
    one, "submission", with auth_without_tls.  Returns (postern, port)."""
    port = harness.free_port()
    extra = ('listener submission {\n\taddress = "127.0.0.1:%d"\n'
             '\tauth_without_tls = yes\n}\n' % port) + extra
    lim = {"auth_delay": "0"}
    lim.update(limits or {})
    p = start_postern(upstream, extra=extra, limits=lim, **config)
    assert harness.wait_listening(port, 10), p.log()
    return p, port


def ehlo_keywords(reply):
    return [l for l in reply.lines[1:]]


def swaks(port, mech, password=PASSWORD, extra=()):
    cmd = ["swaks", "-s", "127.0.0.1", "-p", str(port), "--auth", mech,
           "--auth-user", USER, "--auth-password", password,
           "-f", SENDER, "-t", "bob@example.net", "--ehlo", "client.example",
           "--header", "Subject: auth %s" % mech] + list(extra)
    return subprocess.run(cmd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60)


def received_fields(raw):
    fields, _ = harness.split_header_fields(raw)
    return [harness.unfold(f) for f in fields
            if harness.field_name(f) == b"received"]


def assert_no_credentials(p):
    log = p.log()
    for secret in (PASSWORD, b64(PASSWORD), plain()):
        assert secret not in log, "a credential in postern's log: %r" % \
            secret


# ------------------------------------------------------------ offering

def test_auth_offered_only_with_auth_without_tls(start_postern, upstream):
    p, port = start_auth(start_postern, upstream)
    with p.connect() as c:
        c.greeting()
        plain_ehlo = c.ehlo()
        refused = c.command("AUTH PLAIN " + plain())
        c.command("QUIT")
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        sub_ehlo = c.ehlo()
        c.command("QUIT")
    assert "AUTH PLAIN LOGIN" not in ehlo_keywords(plain_ehlo), plain_ehlo
    assert not any(k.startswith("AUTH") for k in ehlo_keywords(plain_ehlo))
    assert (refused.code, refused.enhanced) == (538, "5.7.11"), refused
    assert "AUTH PLAIN LOGIN" in ehlo_keywords(sub_ehlo), sub_ehlo


def test_auth_not_offered_when_the_upstream_lacks_it(start_postern, postfix):
    p, port = start_auth(start_postern, postfix)
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        ehlo = c.ehlo()
        reply = c.command("AUTH PLAIN " + plain())
        c.command("QUIT")
    assert not any(k.startswith("AUTH") for k in ehlo_keywords(ehlo)), ehlo
    assert reply.code == 502, reply


# ------------------------------------------------------------- success

@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_auth_delivers_as_authenticated(start_postern, upstream, mech):
    p, port = start_auth(start_postern, upstream)
    r = swaks(port, mech)
    assert r.returncode == 0, r.stdout
    assert re.search(r"<-  235 ", r.stdout), r.stdout
    [raw] = upstream.wait_messages("bob", 1)
    postfix_rcvd, postern_rcvd = received_fields(raw)[:2]
    assert "with ESMTPA" in postern_rcvd, postern_rcvd
    assert "(Authenticated sender: %s@%s)" % (USER, REALM) in \
        postfix_rcvd, postfix_rcvd
    assert p.wait_log(r"auth result=ok mech=%s login=\"%s\" "
                      r"direction=outbound" % (mech, USER)), p.log()
    assert p.wait_log(r"connect client=127\.0\.0\.1:\d+ "
                      r"listener=submission direction=inbound"), p.log()
    assert_no_credentials(p)


def test_auth_plain_without_initial_response(start_postern, upstream):
    p, port = start_auth(start_postern, upstream)
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        c.ehlo()
        cont = c.command("AUTH PLAIN")
        done = c.command(plain())
        again = c.command("AUTH PLAIN " + plain())
        c.command("QUIT")
    assert cont.code == 334 and cont.lines == [""], cont
    assert done.code == 235, done
    assert (again.code, again.enhanced) == (503, "5.5.1"), again
    assert p.wait_log(r"auth result=ok mech=PLAIN login=\"alice"), p.log()


def test_auth_login_continuations_in_lockstep(start_postern, upstream):
    p, port = start_auth(start_postern, upstream)
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        c.ehlo()
        user_q = c.command("AUTH LOGIN")
        pass_q = c.command(b64(USER))
        done = c.command(b64(PASSWORD))
        c.command("QUIT")
    assert (user_q.code, user_q.lines) == (334, [b64("Username:")]), user_q
    assert (pass_q.code, pass_q.lines) == (334, [b64("Password:")]), pass_q
    assert done.code == 235, done
    assert_no_credentials(p)


def test_login_goes_upstream_by_xclient_after_a_new_ehlo(start_postern,
                                                          upstream):
    p, port = start_auth(start_postern, upstream)
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        c.ehlo()
        assert c.command("AUTH PLAIN " + plain()).code == 235
        ehlo = c.ehlo()
        replies = c.send_mail(SENDER, ["bob@example.net"],
                              make_message(subject="xclient login"))
        c.command("QUIT")
    assert ehlo.code == 250, ehlo
    assert not any(k.startswith("AUTH") for k in ehlo_keywords(ehlo)), ehlo
    assert replies[-1].code == 250, replies
    [raw] = upstream.wait_messages("bob", 1)
    postfix_rcvd, postern_rcvd = received_fields(raw)[:2]
    # XCLIENT LOGIN=alice: Postfix names the login postern passed on.
    assert "(Authenticated sender: %s)" % USER in postfix_rcvd, postfix_rcvd
    assert "with ESMTPA" in postern_rcvd, postern_rcvd


# ------------------------------------------------------------ failures

def test_cancel_with_star(start_postern, upstream):
    p, port = start_auth(start_postern, upstream)
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        c.ehlo()
        assert c.command("AUTH LOGIN").code == 334
        cancelled = c.command("*")
        noop = c.command("NOOP")
        c.command("QUIT")
    assert cancelled.code == 501, cancelled
    assert noop.code == 250, noop
    assert p.wait_log(r"auth result=error mech=LOGIN"), p.log()
    assert "auth result=fail" not in p.log()


@pytest.mark.parametrize("line,code", [
    ("AUTH", 501),
    ("AUTH CRAM-MD5", 504),
    ("AUTH PLAIN a b", 501),
])
def test_bad_auth_commands(start_postern, upstream, line, code):
    p, port = start_auth(start_postern, upstream)
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        c.ehlo()
        reply = c.command(line)
        noop = c.command("NOOP")
        c.command("QUIT")
    assert reply.code == code, reply
    assert noop.code == 250, noop


def test_auth_before_ehlo_is_503(start_postern, upstream):
    p, port = start_auth(start_postern, upstream)
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        reply = c.command("AUTH PLAIN " + plain())
        c.command("QUIT")
    assert (reply.code, reply.enhanced) == (503, "5.5.1"), reply


def test_failures_lock_the_address_out(start_postern, upstream):
    p, port = start_auth(start_postern, upstream,
                         limits={"auth_failures": "2"})
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        c.ehlo()
        first = c.command("AUTH PLAIN " + plain(password="wrong1"))
        second = c.command("AUTH PLAIN " + plain(password="wrong2"))
        third = c.command("AUTH PLAIN " + plain())
        closed = c.expect_closed()
    assert first.code == 535 and second.code == 535, (first, second)
    assert (third.code, third.enhanced) == (421, "4.7.0"), third
    assert closed
    # The lockout outlives the connection.
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        c.ehlo()
        again = c.command("AUTH PLAIN " + plain())
    assert (again.code, again.enhanced) == (421, "4.7.0"), again
    assert p.wait_log(r"auth result=fail mech=PLAIN client=127\.0\.0\.1 "
                      r"failures=1 delay=0s"), p.log()
    assert p.wait_log(r"failures=2 delay=0s"), p.log()
    assert p.wait_log(r"auth refused client=127\.0\.0\.1 "
                      r"reason=locked-out seconds=\d+"), p.log()
    assert_no_credentials(p)
    assert "wrong1" not in p.log() and b64("wrong1") not in p.log()


def test_failure_replies_are_delayed_more_each_time(start_postern,
                                                     upstream):
    p, port = start_auth(start_postern, upstream,
                         limits={"auth_delay": "1s", "auth_delay_max": "2s",
                                 "auth_failures": "10"})
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        c.ehlo()
        codes = [c.command("AUTH PLAIN " + plain(password="bad%d" % i)).code
                 for i in range(3)]
        noop = c.command("NOOP")
        c.command("QUIT")
    assert codes == [535, 535, 535], codes
    assert noop.code == 250, noop
    delays = re.findall(r"auth result=fail .* failures=(\d+) delay=(\d+)s",
                        p.log())
    assert delays == [("1", "1"), ("2", "2"), ("3", "2")], delays


def test_success_clears_the_failures(start_postern, upstream):
    p, port = start_auth(start_postern, upstream,
                         limits={"auth_failures": "2"})
    for password in ("wrong", PASSWORD, "wrong"):
        with harness.SMTPClient("127.0.0.1", port) as c:
            c.greeting()
            c.ehlo()
            reply = c.command("AUTH PLAIN " + plain(password=password))
            c.command("QUIT")
        assert reply.code in (235, 535), reply
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        c.ehlo()
        reply = c.command("AUTH PLAIN " + plain())
        c.command("QUIT")
    assert reply.code == 235, \
        "locked out although a success came between the failures: %r" % \
        reply


def test_no_credentials_in_trace_log(upstream):
    port = harness.free_port()
    p = harness.Postern(
        upstream.address,
        limits=dict(harness.DEFAULT_LIMITS, auth_delay="0"),
        extra='listener submission {\n\taddress = "127.0.0.1:%d"\n'
              '\tauth_without_tls = yes\n}' % port)
    p.config_text = p.config_text.replace(
        "log { target = stderr  level = info }",
        "log { target = stderr  level = debug  trace = {all} }")
    assert "trace = {all}" in p.config_text
    p.start()
    try:
        assert harness.wait_listening(port, 10)
        r = swaks(port, "LOGIN")
        assert r.returncode == 0, r.stdout
        r = swaks(port, "PLAIN", password="wrong-one", extra=["-q", "AUTH"])
        assert p.wait_log(r"auth result=fail"), p.log()
        assert p.wait_log(r"upstream send \[credentials\]"), p.log()
        assert_no_credentials(p)
        assert "wrong-one" not in p.log()
        assert b64("wrong-one") not in p.log()
    finally:
        p.stop()
        p.cleanup()


# ------------------------------------------------------------ over TLS

def tls_section(ca):
    return ('tls {\n\tcertificate = "%s"\n\tkey = "%s"\n}' %
            (ca.server_chain, ca.server_key))


def test_auth_offered_after_starttls_and_marks_esmtpsa(start_postern,
                                                        upstream, test_ca):
    # With a tls section the listener offers STARTTLS, and AUTH only
    # after it.
    p = start_postern(upstream, extra=tls_section(test_ca),
                      limits={"auth_delay": "0"})
    with p.connect() as c:
        c.greeting()
        before = c.ehlo()
        c.command("QUIT")
    assert "STARTTLS" in ehlo_keywords(before), before
    assert not any(k.startswith("AUTH") for k in ehlo_keywords(before)), \
        before
    r = swaks(p.port, "PLAIN", extra=["--tls", "--tls-verify",
                                      "--tls-ca-path", test_ca.ca_cert])
    assert r.returncode == 0, r.stdout
    assert re.search(r"<~  250-AUTH PLAIN LOGIN", r.stdout), r.stdout
    assert re.search(r"<~  235 ", r.stdout), r.stdout
    [raw] = upstream.wait_messages("bob", 1)
    postfix_rcvd, postern_rcvd = received_fields(raw)[:2]
    assert "with ESMTPSA" in postern_rcvd, postern_rcvd
    assert "(Authenticated sender: %s@%s)" % (USER, REALM) in \
        postfix_rcvd, postfix_rcvd
    assert p.wait_log(r"auth result=ok mech=PLAIN login=\"alice\" "
                      r"direction=outbound"), p.log()
    assert_no_credentials(p)


def test_mail_auth_parameter_after_auth(start_postern, upstream):
    p, port = start_auth(start_postern, upstream)
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        c.ehlo()
        assert c.command("AUTH PLAIN " + plain()).code == 235
        replies = c.send_mail(SENDER, ["bob@example.net"],
                              make_message(subject="mail auth"),
                              mail_params="AUTH=<>")
        c.command("QUIT")
    assert replies[0].code == 250, replies
    assert replies[-1].code == 250, replies


def test_continuation_too_long_to_relay_cancels(start_postern, upstream):
    p, port = start_auth(start_postern, upstream,
                         limits={"command_line": "4k"})
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        c.ehlo()
        assert c.command("AUTH LOGIN").code == 334
        reply = c.command("A" * 3000)
        noop = c.command("NOOP")
        c.command("QUIT")
    assert reply.code == 501, reply
    assert noop.code == 250, noop


def test_continuation_over_the_line_limit_cancels(start_postern, upstream):
    """A response longer than limits.command_line is dropped unread; the
    exchange is cancelled upstream, so the next command is a command,
    not a credential."""
    p, port = start_auth(start_postern, upstream)
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        c.ehlo()
        assert c.command("AUTH LOGIN").code == 334
        reply = c.command("A" * 5000)
        noop = c.command("NOOP")
        c.command("QUIT")
    assert reply.code == 501, reply
    assert noop.code == 250, noop
    assert "auth result=fail" not in p.log()


def test_authenticated_mail_is_outbound_and_signed(start_postern, upstream,
                                                   tmp_path):
    import dkimtools as dt
    key = dt.make_key(str(tmp_path), "example.org", "sel")
    kt, st = dt.write_tables(str(tmp_path), [("example.org", [key])], [key])
    p, port = start_auth(start_postern, upstream, extra=(
        'filter dkim_sign { key_table = "%s"  signing_table = "%s" }' %
        (kt, st)))
    for auth in (False, True):
        with harness.SMTPClient("127.0.0.1", port) as c:
            c.greeting()
            c.ehlo()
            if auth:
                assert c.command("AUTH PLAIN " + plain()).code == 235
            replies = c.send_mail(SENDER, ["bob@example.net"], make_message(
                sender=SENDER, subject="signed %s" % auth))
            c.command("QUIT")
        assert replies[-1].code == 250, replies
    msgs = upstream.wait_messages("bob", 2)
    signed = {m for m in msgs if b"DKIM-Signature:" in m}
    assert len(signed) == 1, "got %d signed messages, want 1" % len(signed)
    [raw] = signed
    assert b"Subject: signed True" in raw, raw[:400]
    assert b"d=example.org" in raw, raw[:400]


def test_xclient_login_makes_the_session_outbound(postern):
    with postern.connect() as c:
        c.greeting()
        c.ehlo()
        plain_xc = c.command("XCLIENT ADDR=127.0.0.9")
        c.ehlo()
        login_xc = c.command("XCLIENT LOGIN=carol")
        c.command("QUIT")
    assert plain_xc.code == 220 and login_xc.code == 220, (plain_xc,
                                                            login_xc)
    directions = re.findall(r"xclient client=\S+ name=\S+ direction=(\w+)",
                            postern.log())
    assert directions == ["inbound", "outbound"], directions
