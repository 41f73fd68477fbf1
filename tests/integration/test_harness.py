"""The harness itself, against the MTAs directly (no postern): if these
fail, every other result of the run is suspect."""

import subprocess
import harness
from harness import SMTPClient


def deliver_direct(mta, rcpts, message):
    with SMTPClient(mta.host, mta.port) as c:
        assert c.greeting().code == 220
        assert c.ehlo().code == 250
        replies = c.send_mail("sender@example.org", rcpts, message)
        c.command("QUIT")
    return replies


def test_postfix_delivers_known_user_and_strip_leaves_what_was_sent(
        postfix):
    msg = harness.make_message(body=b"line\r\n.dot\r\n..two\r\n")
    replies = deliver_direct(postfix, ["bob@example.net"], msg)
    assert replies[-1].code == 250, replies
    [raw] = postfix.wait_messages("bob", 1)
    trace, rest = harness.split_mta_trace(raw)
    names = [harness.field_name(f) for f in trace]
    assert names == [b"return-path", b"x-original-to", b"delivered-to",
                     b"received"], trace
    assert rest == harness.to_stored(msg)


def test_postfix_rejects_unknown_user_with_its_own_550(postfix):
    msg = harness.make_message()
    replies = deliver_direct(postfix, ["nobody@example.net"], msg)
    assert replies[1].code == 550
    assert replies[1].enhanced == "5.1.1"
    assert "Recipient address rejected" in replies[1].text
    assert replies[2].code == 554  # DATA without a valid recipient


def test_postfix_offers_xclient_to_loopback(postfix):
    with SMTPClient(postfix.host, postfix.port) as c:
        c.greeting()
        ehlo = c.ehlo()
        c.command("QUIT")
    assert any(l.startswith("XCLIENT") for l in ehlo.lines), ehlo


def test_postfix_wait_idle_sees_a_rejected_session_end(postfix):
    deliver_direct(postfix, ["nobody@example.net"], harness.make_message())
    assert postfix.wait_idle(10)
    assert postfix.messages("bob") == []


def test_exim_delivers_known_user_and_rejects_unknown(exim):
    msg = harness.make_message(body=b"caf\xe9\r\n")
    replies = deliver_direct(exim, ["bob@example.net",
                                    "nobody@example.net"], msg)
    assert replies[1].code == 250, replies
    assert replies[2].code == 550, replies
    assert replies[-1].code == 250, replies
    [raw] = exim.wait_messages("bob", 1)
    trace, rest = harness.split_mta_trace(raw)
    assert [harness.field_name(f) for f in trace] == [
        b"return-path", b"envelope-to", b"delivery-date", b"received"]
    assert rest == harness.to_stored(msg)


def test_fake_upstream_records_a_message(fake_upstream):
    up = fake_upstream()
    msg = harness.make_message()
    replies = deliver_direct(up, ["bob@example.net"], msg)
    assert replies[-1].code == 250
    assert up.messages() == [msg]


def test_ca_certificates_verify_and_name_the_test_hosts(test_ca):
    out = subprocess.run(
        ["openssl", "verify", "-CAfile", test_ca.ca_cert,
         test_ca.server_cert, test_ca.client_cert],
        capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    text = subprocess.run(
        ["openssl", "x509", "-in", test_ca.server_cert, "-noout", "-ext",
         "subjectAltName"], capture_output=True, text=True,
        check=True).stdout
    for name in ("DNS:postern.test", "DNS:localhost", "IP Address:127.0.0.1"):
        assert name in text, text
    subject = subprocess.run(
        ["openssl", "x509", "-in", test_ca.client_cert, "-noout",
         "-subject", "-nameopt", "RFC2253"], capture_output=True,
        text=True, check=True).stdout
    assert subject.strip() == "subject=" + test_ca.client_subject
