"""Client identity: postern accepts XCLIENT only from xclient_networks,
and passes the client's identity upstream with XCLIENT or XFORWARD as
client_identity and the upstream's EHLO allow."""

import re

import harness
from harness import make_message

SENDER = "sender@example.org"
FAKE_XFORWARD_ONLY = ("PIPELINING", "SIZE 52428800", "8BITMIME",
                      "XFORWARD NAME ADDR PROTO HELO")


def ehlo_keywords(reply):
    return {l.split(" ", 1)[0].upper() for l in reply.lines[1:]}


def transaction_after_xclient(p, xclient, msg, helo="client.example"):
    """XCLIENT, then EHLO and one message.  Returns (XCLIENT reply,
    final reply)."""
    with p.connect() as c:
        assert c.greeting().code == 220
        assert c.ehlo(helo).code == 250
        xc = c.command(xclient)
        if xc.code != 220:
            c.command("QUIT")
            return xc, None
        assert c.ehlo(helo).code == 250
        replies = c.send_mail(SENDER, ["bob@example.net"], msg)
        c.command("QUIT")
    return xc, replies[-1]


def received_fields(raw):
    fields, _ = harness.split_header_fields(raw)
    return [harness.unfold(f) for f in fields
            if harness.field_name(f) == b"received"]


# --------------------------------------------------------- client side

def test_ehlo_offers_xclient_inside_xclient_networks(postern):
    with postern.connect() as c:
        c.greeting()
        ehlo = c.ehlo()
        c.command("QUIT")
    assert "XCLIENT" in ehlo_keywords(ehlo), ehlo


def test_xclient_outside_xclient_networks_gets_550_5_7_0(start_postern,
                                                         postfix):
    p = start_postern(postfix, xclient_networks=("::1",))
    with p.connect() as c:
        c.greeting()
        ehlo = c.ehlo()
        reply = c.command("XCLIENT ADDR=127.0.0.9")
        noop = c.command("NOOP")
        c.command("QUIT")
    assert "XCLIENT" not in ehlo_keywords(ehlo), ehlo
    assert (reply.code, reply.enhanced) == (550, "5.7.0"), \
        "got %r, want 550 5.7.0" % reply.text
    assert noop.code == 250, noop


def test_xclient_address_appears_in_postern_and_postfix_received(
        postern, postfix):
    msg = make_message(subject="xclient")
    xc, final = transaction_after_xclient(postern, "XCLIENT ADDR=127.0.0.9",
                                          msg)
    assert xc.code == 220, "got %r to XCLIENT, want a 220 greeting" % xc
    assert final is not None and final.code == 250, final
    [raw] = postfix.wait_messages("bob", 1)
    postfix_rcvd, postern_rcvd = received_fields(raw)[:2]
    assert "by mta.test (Postfix)" in postfix_rcvd, postfix_rcvd
    assert "by postern.test (postern)" in postern_rcvd, postern_rcvd
    assert "[127.0.0.9]" in postern_rcvd, \
        "postern's Received lacks the XCLIENT address: %r" % postern_rcvd
    assert "[127.0.0.9]" in postfix_rcvd, \
        "Postfix's Received lacks the XCLIENT address: %r" % postfix_rcvd


def test_postfix_received_names_client_not_postern_helo(postern, postfix):
    # Without the client's XCLIENT, Postfix still learns the client's
    # HELO and address from postern's XCLIENT.
    msg = make_message()
    with postern.connect() as c:
        c.greeting()
        c.ehlo("original.client.example")
        replies = c.send_mail(SENDER, ["bob@example.net"], msg)
        c.command("QUIT")
    assert replies[-1].code == 250, replies
    [raw] = postfix.wait_messages("bob", 1)
    postfix_rcvd = received_fields(raw)[0]
    assert re.match(r"Received: from original\.client\.example \(\S+ "
                    r"\[127\.0\.0\.1\]\)", postfix_rcvd), \
        "got %r, want Postfix to name the original client" % postfix_rcvd


def test_xclient_ipv6_address_appears_in_both_received(postern, postfix):
    xc, final = transaction_after_xclient(
        postern, "XCLIENT ADDR=IPV6:::1 NAME=[UNAVAILABLE]",
        make_message())
    assert xc.code == 220, xc
    assert final is not None and final.code == 250, final
    [raw] = postfix.wait_messages("bob", 1)
    postfix_rcvd, postern_rcvd = received_fields(raw)[:2]
    # RFC 5321 4.4: an IPv6 address-literal is "[IPv6:...]".
    assert "[IPv6:::1]" in postfix_rcvd, postfix_rcvd
    assert "[IPv6:::1]" in postern_rcvd, \
        "got %r, want [IPv6:::1] in postern's Received" % postern_rcvd


def test_malformed_xclient_is_refused_and_session_continues(postern):
    with postern.connect() as c:
        c.greeting()
        c.ehlo()
        bad_addr = c.command("XCLIENT ADDR=not-an-address")
        no_attr = c.command("XCLIENT")
        noop = c.command("NOOP")
        c.command("QUIT")
    assert 500 <= bad_addr.code < 600, bad_addr
    assert 500 <= no_attr.code < 600, no_attr
    assert noop.code == 250, noop


def test_xclient_inside_a_transaction_gets_503(postern, postfix):
    with postern.connect() as c:
        c.greeting()
        c.ehlo()
        assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
        reply = c.command("XCLIENT ADDR=127.0.0.9")
        c.command("QUIT")
    assert reply.code == 503, \
        "got %r to XCLIENT in a transaction, want 503" % reply.text


# ------------------------------------------------------- upstream side

def upstream_identity_lines(up):
    return [c.decode("utf-8", "replace") for c in up.commands()
            if c.upper().startswith((b"XCLIENT", b"XFORWARD"))]


def commands_before_mail(up):
    out = []
    for c in up.commands():
        if c.upper().startswith(b"MAIL"):
            break
        out.append(c.decode("utf-8", "replace"))
    return out


def test_identity_auto_sends_xclient_with_client_address(start_postern,
                                                         fake_upstream):
    up = fake_upstream()
    p = start_postern(up)
    harness.send_one(p.host, p.port, ["bob@example.net"], make_message())
    before = commands_before_mail(up)
    xclient = [c for c in before if c.upper().startswith("XCLIENT")]
    assert xclient, "no XCLIENT before MAIL; got %r" % before
    assert "ADDR=127.0.0.1" in xclient[-1], xclient


def test_client_xclient_address_is_passed_upstream(start_postern,
                                                   fake_upstream):
    up = fake_upstream()
    p = start_postern(up)
    xc, final = transaction_after_xclient(p, "XCLIENT ADDR=127.0.0.9",
                                          make_message())
    assert xc.code == 220, xc
    assert final is not None and final.code == 250, final
    before = commands_before_mail(up)
    xclient = [c for c in before if c.upper().startswith("XCLIENT")]
    assert xclient and "ADDR=127.0.0.9" in xclient[-1], \
        "got %r before MAIL, want XCLIENT ADDR=127.0.0.9" % before


def test_identity_auto_falls_back_to_xforward(start_postern, fake_upstream):
    up = fake_upstream(ehlo=FAKE_XFORWARD_ONLY)
    p = start_postern(up)
    s = harness.send_one(p.host, p.port, ["bob@example.net"],
                         make_message())
    assert s.final is not None and s.final.code == 250, s
    before = commands_before_mail(up)
    xforward = [c for c in before if c.upper().startswith("XFORWARD")]
    assert xforward, "no XFORWARD before MAIL; got %r" % before
    assert any("ADDR=127.0.0.1" in c for c in xforward), xforward
    assert not any(c.upper().startswith("XCLIENT") for c in before)


def test_identity_xclient_sends_nothing_to_xforward_only_upstream(
        start_postern, fake_upstream):
    up = fake_upstream(ehlo=FAKE_XFORWARD_ONLY)
    p = start_postern(up, upstream={"client_identity": "xclient"})
    s = harness.send_one(p.host, p.port, ["bob@example.net"],
                         make_message())
    assert s.final is not None and s.final.code == 250, s
    assert upstream_identity_lines(up) == []


def test_identity_xforward_sends_xforward_even_if_xclient_offered(
        start_postern, fake_upstream):
    up = fake_upstream(ehlo=harness.DEFAULT_FAKE_EHLO +
                       ("XFORWARD NAME ADDR PROTO HELO",))
    p = start_postern(up, upstream={"client_identity": "xforward"})
    s = harness.send_one(p.host, p.port, ["bob@example.net"],
                         make_message())
    assert s.final is not None and s.final.code == 250, s
    lines = upstream_identity_lines(up)
    assert lines and all(l.upper().startswith("XFORWARD") for l in lines), \
        lines


def test_identity_none_sends_neither(start_postern, fake_upstream):
    up = fake_upstream(ehlo=harness.DEFAULT_FAKE_EHLO +
                       ("XFORWARD NAME ADDR PROTO HELO",))
    p = start_postern(up, upstream={"client_identity": "none"})
    s = harness.send_one(p.host, p.port, ["bob@example.net"],
                         make_message())
    assert s.final is not None and s.final.code == 250, s
    assert upstream_identity_lines(up) == []
