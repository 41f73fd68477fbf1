"""TLS towards the upstream and REQUIRETLS (RFC 8689).

upstream { tls = none | opportunistic | required  ca_file  verify_name }:
postern runs STARTTLS after its first EHLO, EHLOs again and presents
the client after TLS.  Required TLS that cannot be had (not offered, a
certificate that does not verify or does not name the upstream) gives
the client 421 4.7.5 and nothing reaches the upstream's queue.

REQUIRETLS is offered to a client on TLS only when the upstream offers
it over verified TLS; a MAIL with REQUIRETLS that cannot be carried so
is refused with 550 5.7.30 and never reaches the upstream.  Postfix 3.7
does not offer REQUIRETLS, so the pass-through is tested against the
fake upstream speaking TLS with Python's ssl module."""

import re
import signal
import ssl

import pytest

import harness
from harness import make_message

SENDER = "sender@example.org"
RCPT = "bob@example.net"


@pytest.fixture(scope="module")
def postfix_tls_server(test_ca):
    """A Postfix offering STARTTLS with the test CA's server
    certificate, logging each TLS session and noting TLS in its
    Received header."""
    mta = harness.Postfix(main_cf={
        "smtpd_tls_cert_file": test_ca.server_cert,
        "smtpd_tls_key_file": test_ca.server_key,
        "smtpd_tls_security_level": "may",
        "smtpd_tls_loglevel": "1",
        "smtpd_tls_received_header": "yes",
    })
    yield from harness.run_mta(mta)


@pytest.fixture
def postfix_tls(postfix_tls_server, request):
    postfix_tls_server.reset()
    yield postfix_tls_server
    rep = getattr(request.node, "rep_call", None)
    if rep is None or rep.failed:
        print("---- postfix (tls) log of this test ----")
        print(postfix_tls_server.log_since_mark())


def upstream_tls(mode, **extra):
    up = {"tls": mode}
    up.update({k: '"%s"' % v for k, v in extra.items()})
    return up


def received_by_postfix(raw):
    """The Received field Postfix added (the first one)."""
    fields, _ = harness.split_header_fields(raw)
    for f in fields:
        if harness.field_name(f) == b"received":
            text = harness.unfold(f)
            if isinstance(text, bytes):
                text = text.decode("utf-8", "replace")
            return text
    return ""


def deliver_one(p, mta, subject):
    s = harness.send_one(p.host, p.port, [RCPT], make_message(subject))
    assert s.final is not None and s.final.code == 250, s
    msgs = mta.wait_messages("bob", 1)
    assert len(msgs) == 1
    return msgs[0]


# ------------------------------------------------------------ modes


def test_tls_none_relays_in_clear(start_postern, postfix_tls):
    p = start_postern(postfix_tls, upstream=upstream_tls("none"))
    raw = deliver_one(p, postfix_tls, "clear")
    assert "using TLS" not in received_by_postfix(raw)
    assert "TLS connection established" not in postfix_tls.log_since_mark()
    assert not re.search(r"upstream tls=", p.log())


def test_tls_opportunistic_uses_starttls_without_verification(
        start_postern, postfix_tls):
    # No ca_file: the system store does not know the test CA, so the
    # certificate does not verify, which opportunistic TLS accepts.
    p = start_postern(postfix_tls, upstream=upstream_tls("opportunistic"))
    raw = deliver_one(p, postfix_tls, "opportunistic")
    received = received_by_postfix(raw)
    assert "using TLSv1.3" in received, received
    assert postfix_tls.wait_log_since_mark(
        r"Anonymous TLS connection established from \S+\[127\.0\.0\.1\]")
    m = re.search(r"upstream tls=(\S+) cipher=\S+ verify=\"([^\"]*)\"",
                  p.log())
    assert m, p.log()
    assert m.group(1) == "TLSv1.3"
    assert m.group(2) != "ok"


def test_tls_opportunistic_without_starttls_relays_in_clear(start_postern,
                                                           postfix):
    p = start_postern(postfix, upstream=upstream_tls("opportunistic"))
    raw = deliver_one(p, postfix, "no starttls offered")
    assert "using TLS" not in received_by_postfix(raw)
    assert re.search(r'upstream tls=none reason="upstream does not offer '
                     r'STARTTLS"', p.log()), p.log()


def test_tls_required_verified_with_ca_file(start_postern, postfix_tls,
                                            test_ca):
    p = start_postern(postfix_tls, upstream=upstream_tls(
        "required", ca_file=test_ca.ca_cert))
    raw = deliver_one(p, postfix_tls, "required")
    assert "using TLSv1.3" in received_by_postfix(raw)
    assert re.search(r'upstream tls=TLSv1\.3 cipher=\S+ verify="ok" '
                     r'name=127\.0\.0\.1', p.log()), p.log()
    # XCLIENT went after TLS: Postfix's Received names the client, not
    # postern, and says the message came over TLS.
    assert "client.example" in received_by_postfix(raw)
    assert re.search(r" message txn=\S+ .* source=127\.0\.0\.1 ", p.log())
    # The session ended with an encrypted QUIT, not a dropped connection.
    assert postfix_tls.wait_log_since_mark(
        r"disconnect from \S+ ehlo=3 xclient=\S+ starttls=1 mail=1 "
        r"rcpt=1 data=1 quit=1")


def test_tls_required_verified_by_host_name(start_postern, postfix_tls,
                                            test_ca):
    p = start_postern(postfix_tls, upstream=upstream_tls(
        "required", ca_file=test_ca.ca_cert, verify_name="mta.test"))
    raw = deliver_one(p, postfix_tls, "by name")
    assert "using TLSv1.3" in received_by_postfix(raw)
    assert 'verify="ok" name=mta.test' in p.log()


def assert_refused_at_greeting(p, mta):
    with p.connect() as c:
        greeting = c.greeting()
        closed = c.expect_closed()
    assert greeting.code == 421, greeting
    assert greeting.text.startswith("421 4.7.5 "), greeting
    assert closed
    mta.wait_idle()
    assert mta.transactions_since_mark() == []
    assert mta.queued_since_mark() == []
    return greeting


def test_tls_required_without_starttls_is_421(start_postern, postfix,
                                              test_ca):
    p = start_postern(postfix, upstream=upstream_tls(
        "required", ca_file=test_ca.ca_cert))
    assert_refused_at_greeting(p, postfix)
    assert re.search(r'upstream unavailable reason="upstream does not '
                     r'offer STARTTLS"', p.log()), p.log()
    assert re.search(r"disconnect reason=upstream-tls", p.log())


def test_tls_required_wrong_verify_name_is_421(start_postern, postfix_tls,
                                               test_ca):
    p = start_postern(postfix_tls, upstream=upstream_tls(
        "required", ca_file=test_ca.ca_cert, verify_name="wrong.example"))
    assert_refused_at_greeting(p, postfix_tls)
    assert re.search(r'upstream unavailable reason="upstream certificate '
                     r'not verified: hostname mismatch"', p.log()), p.log()


def test_tls_required_untrusted_certificate_is_421(start_postern,
                                                   postfix_tls):
    # The system store does not hold the test CA.
    p = start_postern(postfix_tls, upstream=upstream_tls("required"))
    assert_refused_at_greeting(p, postfix_tls)
    assert re.search(r'upstream unavailable reason="upstream certificate '
                     r'not verified: unable to get local issuer',
                     p.log()), p.log()


def test_reload_takes_new_tls_settings_for_new_sessions(start_postern,
                                                       postfix_tls, test_ca):
    """The TLS context and verify_name belong to the configuration
    generation: after SIGHUP new sessions use the new ones, while a
    session opened before keeps the old and still delivers."""
    p = start_postern(postfix_tls, upstream=upstream_tls(
        "required", ca_file=test_ca.ca_cert))
    with p.connect() as old:
        assert old.greeting().code == 220
        assert old.ehlo().code == 250
        text = p.config_text.replace(
            'tls = required', 'tls = required\n\tverify_name = '
            '"wrong.example"')
        assert text != p.config_text
        p.config_text = text
        with open(p.conf, "w") as f:
            f.write(text)
        p.proc.send_signal(signal.SIGHUP)
        assert p.wait_log(r"reload done"), p.log()
        with p.connect() as new:
            greeting = new.greeting()
        replies = old.send_mail(SENDER, [RCPT], make_message("across"))
        old.command("QUIT")
    assert greeting.code == 421 and greeting.text.startswith(
        "421 4.7.5 "), greeting
    assert replies[-1].code == 250, replies
    assert len(postfix_tls.wait_messages("bob", 1)) == 1


# ------------------------------------------------------- REQUIRETLS

def ehlo_keywords(reply):
    return {l.split(" ", 1)[0].upper() for l in reply.lines[1:]}


def test_requiretls_refused_when_client_not_on_tls(start_postern,
                                                   postfix_tls, test_ca):
    p = start_postern(postfix_tls, upstream=upstream_tls(
        "required", ca_file=test_ca.ca_cert))
    with p.connect() as c:
        c.greeting()
        ehlo = c.ehlo()
        mail = c.command("MAIL FROM:<%s> REQUIRETLS" % SENDER)
        # The session goes on: a plain MAIL is taken.
        plain = c.command("MAIL FROM:<%s>" % SENDER)
        c.command("QUIT")
    assert "REQUIRETLS" not in ehlo_keywords(ehlo)
    assert mail.code == 550 and mail.text.startswith("550 5.7.30 "), mail
    assert plain.code == 250, plain
    assert re.search(r"reject phase=mail from=<%s> reason=client-not-tls"
                     % re.escape(SENDER), p.log())
    postfix_tls.wait_idle()
    log = postfix_tls.log_since_mark()
    assert "REQUIRETLS" not in log


def test_requiretls_with_a_value_is_501(start_postern, postfix):
    p = start_postern(postfix)
    with p.connect() as c:
        c.greeting()
        c.ehlo()
        mail = c.command("MAIL FROM:<%s> REQUIRETLS=YES" % SENDER)
        c.command("QUIT")
    assert mail.code == 501, mail


# Client-side TLS (the listener's STARTTLS) for the REQUIRETLS cases.

def tls_listener_extra(test_ca, port):
    return ('tls {\n\tcertificate = "%s"\n\tkey = "%s"\n}\n'
            'listener tls_in {\n\taddress = "127.0.0.1:%d"\n'
            '\ttls = starttls\n}\n' % (test_ca.server_cert,
                                       test_ca.server_key, port))


def client_starttls(c, test_ca):
    reply = c.command("STARTTLS")
    assert reply.code == 220, reply
    ctx = ssl.create_default_context(cafile=test_ca.ca_cert)
    c.sock = ctx.wrap_socket(c.sock, server_hostname="postern.test")
    return c.ehlo()


def start_with_tls_listener(start_postern, target, test_ca, upstream):
    port = harness.free_port()
    p = start_postern(target, upstream=upstream,
                      extra=tls_listener_extra(test_ca, port))
    assert harness.wait_listening(port, 10)
    return p, port


def requiretls_over_tls(port, test_ca):
    """STARTTLS, then MAIL with REQUIRETLS: (EHLO reply under TLS, MAIL
    reply)."""
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        c.ehlo()
        ehlo = client_starttls(c, test_ca)
        mail = c.command("MAIL FROM:<%s> REQUIRETLS" % SENDER)
        c.command("QUIT")
    return ehlo, mail


def assert_requiretls_refused(ehlo, mail):
    assert "REQUIRETLS" not in ehlo_keywords(ehlo), ehlo
    assert mail.code == 550 and mail.text.startswith("550 5.7.30 "), mail


def test_requiretls_refused_when_upstream_lacks_it(start_postern,
                                                   postfix_tls, test_ca):
    p, port = start_with_tls_listener(
        start_postern, postfix_tls, test_ca,
        upstream_tls("required", ca_file=test_ca.ca_cert))
    assert_requiretls_refused(*requiretls_over_tls(port, test_ca))
    assert "reason=upstream-no-requiretls" in p.log()
    postfix_tls.wait_idle()
    assert postfix_tls.transactions_since_mark() == []
    assert postfix_tls.queued_since_mark() == []


FAKE_TLS_EHLO = ("PIPELINING", "SIZE 52428800", "8BITMIME",
                 "ENHANCEDSTATUSCODES", "STARTTLS",
                 "XCLIENT NAME ADDR PROTO HELO PORT")


def fake_tls(fake_upstream, test_ca, requiretls=True):
    after = [e for e in FAKE_TLS_EHLO if e != "STARTTLS"]
    if requiretls:
        after.append("REQUIRETLS")
    return fake_upstream(ehlo=FAKE_TLS_EHLO, ehlo_tls=after,
                         tls_cert=test_ca.server_cert,
                         tls_key=test_ca.server_key)


def test_requiretls_passed_to_an_upstream_offering_it(start_postern,
                                                      fake_upstream,
                                                      test_ca):
    fake = fake_tls(fake_upstream, test_ca)
    p, port = start_with_tls_listener(
        start_postern, fake, test_ca,
        upstream_tls("required", ca_file=test_ca.ca_cert))
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.greeting()
        plain_ehlo = c.ehlo()
        ehlo = client_starttls(c, test_ca)
        replies = c.send_mail(SENDER, [RCPT], make_message("requiretls"),
                              mail_params="REQUIRETLS")
        c.command("QUIT")
    assert "REQUIRETLS" not in ehlo_keywords(plain_ehlo)
    assert "REQUIRETLS" in ehlo_keywords(ehlo), ehlo
    assert [r.code for r in replies] == [250, 250, 354, 250], replies
    session = [s for s in fake.sessions
               if b"MAIL FROM:<%s> REQUIRETLS" % SENDER.encode()
               in s["commands"]]
    assert len(session) == 1, fake.sessions
    cmds = session[0]["commands"]
    assert session[0]["tls"] == "TLSv1.3"
    # STARTTLS came first; XCLIENT and MAIL only after it.
    starttls = cmds.index(b"STARTTLS")
    assert all(cmds.index(c) > starttls for c in cmds
               if c.startswith((b"XCLIENT", b"MAIL")))
    assert len(fake.messages()) == 1


def test_requiretls_refused_when_upstream_offers_it_without_tls(
        start_postern, fake_upstream, test_ca):
    fake = fake_upstream(ehlo=harness.DEFAULT_FAKE_EHLO + ("REQUIRETLS",))
    p, port = start_with_tls_listener(start_postern, fake, test_ca,
                                      upstream_tls("none"))
    assert_requiretls_refused(*requiretls_over_tls(port, test_ca))
    assert "reason=upstream-not-tls" in p.log()
    assert not any(c.startswith(b"MAIL") for c in fake.commands())


def test_requiretls_refused_when_upstream_not_verified(start_postern,
                                                       fake_upstream,
                                                       test_ca):
    fake = fake_tls(fake_upstream, test_ca)
    # Opportunistic without ca_file: TLS, but the certificate is not
    # verified, which RFC 8689 4.2.1 requires.
    p, port = start_with_tls_listener(start_postern, fake, test_ca,
                                      upstream_tls("opportunistic"))
    assert_requiretls_refused(*requiretls_over_tls(port, test_ca))
    assert "reason=upstream-not-verified" in p.log()
    assert not any(c.startswith(b"MAIL") for c in fake.commands())
