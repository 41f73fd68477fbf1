"""DKIM signing and verification (issue 3), end to end.

Signing: postern signs outbound mail in front of Postfix and Exim; the
delivered files are checked by verifiers that share nothing with
postern's code (dkimpy, Mail::DKIM; opendkim-testmsg shares libopendkim
with postern but neither its DNS nor its message handling), and by
Exim's own verifier on receipt.

Verification: inbound messages signed by others (the corpus vectors in
../shared/corpus/dkim, messages dkimpy signs here) go through postern to
Postfix, and the Authentication-Results field postern adds is read back
from the delivered file.

Every key record comes from the session's test unbound (dns_server);
nothing is resolved on the network.
"""

import os
import re
import socket
import stat
import subprocess

import pytest

import dkimtools as dt
import harness

SERVID = harness.POSTERN_HOSTNAME
RCPT = "bob@" + harness.DOMAIN

# The signing domains of this file and their keys (see `keys`).
DUAL = "signer.test"     # RSA-2048 and Ed25519: two signatures each
RSA_ONLY = "rsa.test"
ED_ONLY = "ed.test"

# Values from RFC 6376 3.4.3/3.4.4 (body hashes of an empty body, as
# MimeKit's tests assert them; see mimekit/PROVENANCE.txt).
EMPTY_BH = {
    "simple": "frcCV1k9oG9oKj3dpUqdJg1PxRT2RSN/XKdLCPjaYaY=",
    "relaxed": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
}


# ------------------------------------------------------------ fixtures

class KeySet:
    """The keys and tables of this file, in a private directory."""

    def __init__(self, directory):
        self.dir = directory
        self.rsa = dt.make_key(directory, DUAL, "rsa2048", "rsa", 2048)
        self.ed = dt.make_key(directory, DUAL, "ed25519", "ed25519")
        self.rsa_only = dt.make_key(directory, RSA_ONLY, "r1", "rsa", 2048)
        self.ed_only = dt.make_key(directory, ED_ONLY, "e1", "ed25519")
        self.all = [self.rsa, self.ed, self.rsa_only, self.ed_only]
        self.keytable, self.signtable = dt.write_tables(directory, [
            (DUAL, [self.rsa, self.ed]),
            (RSA_ONLY, [self.rsa_only]),
            (ED_ONLY, [self.ed_only]),
        ], self.all)

    def records(self):
        return {k.record_name: k.txt for k in self.all}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return KeySet(str(tmp_path_factory.mktemp("dkimkeys")))


class Zone:
    """What the test unbound serves for this file: the keys' records
    plus a test's own.  serve() replaces the whole set (records of other
    test files are not kept; each test serves what it needs)."""

    def __init__(self, server, base):
        self.server = server
        self.base = dict(base)

    def serve(self, extra=None):
        records = dict(self.base)
        records.update(extra or {})
        lines = harness.records_lines(records)
        if self.server.records != lines:
            self.server.set_records(lines)

    def dnsfunc(self):
        """dkimpy's key lookups, sent to the same server."""
        return dt.dns_txt_func(self.server.host, self.server.port)

    def prefix(self):
        """The command prefix that gives a tool (reading
        /etc/resolv.conf) this server."""
        return harness.resolver_namespace_cmd(
            [], nameserver=self.server.resolver_address)


@pytest.fixture(scope="module")
def zone_base(dns_server, keys):
    return Zone(dns_server, keys.records())


@pytest.fixture
def zone(zone_base):
    zone_base.serve()
    return zone_base


@pytest.fixture(scope="module")
def dkim_exim(zone_base):
    """An Exim upstream that verifies DKIM itself (dkimtools.DkimExim),
    its lookups going to the test unbound."""
    if not harness.Exim.available():
        pytest.fail("%s missing: run `make deps`" % harness.EXIM)
    ex = dt.DkimExim(prefix=zone_base.prefix())
    ex.start()
    yield ex
    ex.stop()
    ex.cleanup()


@pytest.fixture
def exim_up(dkim_exim, request):
    dkim_exim.reset()
    yield dkim_exim
    rep = getattr(request.node, "rep_call", None)
    if rep is None or rep.failed:
        print("---- exim log ----")
        print(dkim_exim.log()[-6000:])


@pytest.fixture
def silent_dns():
    """A UDP port nobody answers on (bound, never read), nor TCP."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((harness.LOOPBACK4, 0))
    yield "%s@%d" % (harness.LOOPBACK4, s.getsockname()[1])
    s.close()


# ------------------------------------------------------ postern configs

def dns_section(forwarder, timeout="3s"):
    return ('dns { forwarders = {"%s"}  timeout = %s'
            '  nodefault_zones = {"test."} }' % (forwarder, timeout))


def verify_filters(max_signatures=5, dns_error="tempfail"):
    return "\n".join([
        "filter dkim_verify { max_signatures = %d  min_key_bits = 1024"
        "  dns_error = %s }" % (max_signatures, dns_error),
        'filter authres { authserv_id = "%s" }' % SERVID,
    ])


def sign_filter(keytable, signtable, canon="relaxed/relaxed",
                missing_from="skip", long_lines="fold"):
    return ('filter dkim_sign { key_table = "%s"  signing_table = "%s"'
            '  canonicalization = "%s"  missing_from = %s'
            '  long_header_lines = %s }' % (keytable, signtable, canon,
                                            missing_from, long_lines))


def start_verifier(start_postern, upstream, dns_server, **kw):
    """An inbound postern (no internal_networks: 127.0.0.1 is outside)
    that verifies and adds Authentication-Results."""
    forwarder = kw.pop("forwarder", None) or dns_server.address
    timeout = kw.pop("dns_timeout", "3s")
    extra = "\n".join([dns_section(forwarder, timeout),
                       verify_filters(**kw)])
    return start_postern(upstream, extra=extra)


def start_signer(start_postern, upstream, keytable, signtable,
                 limits=None, **kw):
    """A postern whose every session is outbound (internal_networks
    holds 127.0.0.0/8) and that signs."""
    extra = "\n".join(['internal_networks = {"127.0.0.0/8"}',
                       sign_filter(keytable, signtable, **kw)])
    return start_postern(upstream, extra=extra, limits=limits)


# ------------------------------------------------------------- helpers

def send(port_owner, message, sender, port=None):
    """One message to RCPT through postern; returns the session."""
    return harness.send_one(port_owner.host, port or port_owner.port,
                            [RCPT], message, sender=sender)


def assert_accepted(s):
    assert s.final is not None and s.final.code == 250, \
        "got %r, want 250 at end of data" % (s.final or s.data or s.mail)


def delivered(mta, count=1):
    """The messages bob got, as CRLF text (maildirs store LF)."""
    msgs = mta.wait_messages("bob", count)
    assert len(msgs) == count, "got %d messages, want %d" % (len(msgs),
                                                              count)
    return [dt.crlf(m) for m in msgs]


def sig_ids(sigs):
    return sorted((s.get("d"), s.get("s"), s.get("a")) for s in sigs)


def result_ids(results):
    return sorted((r.d, r.s, r.a) for r in results)


def assert_all_pass(results, what):
    bad = [r for r in results if not r.ok]
    assert not bad, "%s: got %r, want every signature to pass" % (what,
                                                                  bad)


def independent_verdicts(message, zone, want_sigs):
    """The verdicts of dkimpy, opendkim-testmsg and (RSA only)
    Mail::DKIM on every signature of message; each must see exactly the
    signatures want_sigs [(d, s, a)]."""
    verdicts = []
    rsa_sigs = sorted(w for w in want_sigs if w[2] == "rsa-sha256")
    for name, results, want in (
            ("dkimpy", dt.verify_dkimpy(message, zone.dnsfunc()),
             want_sigs),
            ("opendkim-testmsg", dt.verify_opendkim(message, zone.prefix()),
             want_sigs),
            # Debian 12's Mail::DKIM has no Ed25519 (no CryptX).
            ("Mail::DKIM", [r for r in dt.verify_mail_dkim(
                message, zone.prefix()) if r.a == "rsa-sha256"],
             rsa_sigs)):
        assert result_ids(results) == sorted(want), \
            "%s saw %r, want %r" % (name, results, want)
        verdicts += results
    return verdicts


def check_independent(message, zone, want_sigs):
    """Every independent verifier passes every signature."""
    assert_all_pass(independent_verdicts(message, zone, want_sigs),
                    "independent verifiers")


def dkim_results(raw):
    return dt.dkim_authres(raw, SERVID)


def result_summary(results):
    """[(result, header.d, header.s)] sorted, for comparisons."""
    return sorted((r.result, r.props.get("header.d"),
                   r.props.get("header.s")) for r in results)


def message_with(headers, body):
    """CRLF message from header lines (str, continuation lines given as
    their own items starting with white space) and a body (bytes)."""
    return "\r\n".join(headers).encode() + b"\r\n\r\n" + body


def tricky_message(sender, tag):
    """A message where simple and relaxed canonicalization differ at
    every turn: runs of white space, trailing white space, folding,
    mixed-case names, dot lines, empty lines at the end."""
    return message_with([
        "From: Signer Test <%s>" % sender,
        "To: Bob  <%s>  " % RCPT,
        "Subject:  DKIM \t canonicalization   check %s" % tag,
        "\t continued  on a second   line ",
        "Date: Thu, 03 Dec 2026 12:00:00 +0000",
        "Message-ID: <%s.%s@signer.test>" % (tag, os.getpid()),
        "MIME-Version: 1.0",
        "content-TYPE: text/plain;",
        "   charset=us-ascii",
        "X-Spaces:    many   spaces\t\tand tabs   ",
    ], b"Hello,  \r\n\r\n.a line that starts with a dot\r\n"
       b"..two dots\r\n.\r\n\ttabbed\t  line \t\r\n"
       b"trailing empty lines follow\r\n\r\n\r\n\r\n")


# ==================================================== 1. signing, verifiers

SIGNED_KINDS = [
    (DUAL, ["rsa", "ed"]),
    (RSA_ONLY, ["rsa_only"]),
    (ED_ONLY, ["ed_only"]),
]


def want_for(keys, attrs):
    return sorted((getattr(keys, a).domain, getattr(keys, a).selector,
                   getattr(keys, a).a) for a in attrs)


@pytest.mark.parametrize("canon", ["simple/simple", "relaxed/relaxed",
                                   "simple/relaxed"])
def test_postern_signatures_verify_with_independent_verifiers(
        canon, keys, zone, postfix, exim_up, start_postern):
    """RSA-2048 and Ed25519 signatures, one of each on the same message
    for signer.test, checked on the files Postfix and Exim delivered, and
    by Exim itself on receipt."""
    verdicts = []
    for mta in (postfix, exim_up):
        p = start_signer(start_postern, mta, keys.keytable, keys.signtable,
                         canon=canon)
        for domain, _ in SIGNED_KINDS:
            s = send(p, tricky_message("alice@" + domain, domain),
                     "alice@" + domain)
            assert_accepted(s)
        msgs = delivered(mta, len(SIGNED_KINDS))
        by_from = {dt.header_values(m, "From")[0].split("@")[1].rstrip(">"):
                   m for m in msgs}
        for domain, attrs in SIGNED_KINDS:
            raw = by_from[domain]
            want = want_for(keys, attrs)
            sigs = dt.signatures(raw)
            assert sig_ids(sigs) == want, \
                "%s via %s: got %r, want %r" % (domain, mta.name,
                                                sig_ids(sigs), want)
            for sig in sigs:
                assert sig["c"] == canon, "got c=%s, want %s" % (sig["c"],
                                                                  canon)
                assert "from" in sig["h"].lower().split(":")
            for r in independent_verdicts(raw, zone, want):
                verdicts.append((mta.name, r))
            if mta is exim_up:
                by_exim = exim_up.dkim_results(exim_up.message_id(raw))
                assert result_ids(by_exim) == want, \
                    "exim logged %r, want %r" % (by_exim, want)
                verdicts += [("exim", r) for r in by_exim]
    bad = ["%s-delivered: %r" % v for v in verdicts if not v[1].ok]
    assert not bad, "c=%s: %d of %d verdicts are not pass:\n%s" % (
        canon, len(bad), len(verdicts), "\n".join(bad))


def test_unsigned_from_external_client(keys, zone, postfix, start_postern):
    """Signing configured, but the session comes in on the inbound
    listener: a From of a signed domain is no reason to sign.  The same
    message on the outbound listener is signed (the control)."""
    out_port = harness.free_port()
    extra = "\n".join([
        'listener out { address = "%s:%d"  outbound = true }' % (
            harness.LOOPBACK4, out_port),
        sign_filter(keys.keytable, keys.signtable)])
    p = start_postern(postfix, extra=extra)
    assert harness.wait_listening(out_port)
    sender = "alice@" + DUAL
    assert_accepted(send(p, tricky_message(sender, "in"), sender))
    (raw,) = delivered(postfix)
    assert dt.header_fields(raw, "DKIM-Signature") == []
    postfix.reset()
    assert_accepted(send(p, tricky_message(sender, "out"), sender,
                         port=out_port))
    (raw,) = delivered(postfix)
    assert sig_ids(dt.signatures(raw)) == want_for(keys, ["rsa", "ed"])


# ============================================ 2. corpus verification vectors

def corpus_message(*parts):
    # Most corpus files have LF line ends on disk.  Every signed one was
    # signed over CRLF text (dkimpy and MimeKit canonicalize line ends
    # before hashing; the RFC and Gmail messages were CRLF on the wire),
    # so turning LF back into CRLF restores the signed bytes and the
    # signatures survive: dkimpy is asked too (see `corpus_case`), and a
    # signature over LF text would fail there first.
    return dt.crlf(dt.read_corpus(*parts))


def rfc8463_records():
    recs = {}
    with open(dt.corpus_file("rfc8463", "zone.txt")) as f:
        for name, strings in dt.parse_zone_txt(f.read()):
            recs[name] = "".join(strings)
    return recs


def gmail_record():
    with open(dt.corpus_file("mimekit", "gmail.pub")) as f:
        p = dt.pem_public_to_p(f.read())
    return {"20120113._domainkey.gmail.com.": "k=rsa; p=" + p}


def dkimpy_record(name, filename):
    with open(dt.corpus_file("dkimpy", filename)) as f:
        return {name: f.read().strip()}


FOOTBALL = "football.example.com"
PASS_BOTH_RFC8463 = [("pass", FOOTBALL, "brisbane"),
                     ("pass", FOOTBALL, "test")]
PASS_GMAIL = [("pass", "gmail.com", "20120113")]


def _altered_test_key():
    """The RSA key of s=test with 24 base64 characters in its modulus
    replaced: still a well-formed key, but not the signer's."""
    recs = rfc8463_records()
    name = "test._domainkey.football.example.com."
    p = recs[name]
    cut = len(p) // 2
    recs[name] = p[:cut] + "A" * 24 + p[cut + 24:]
    return recs


def _truncated_test_key():
    """The RSA key of s=test cut in half: not a key any more (dkimpy's
    test_catch_bad_key)."""
    recs = rfc8463_records()
    name = "test._domainkey.football.example.com."
    p = recs[name]
    recs[name] = p[:len(p) // 2]
    return recs


def _test_message_signed():
    """dkimpy's test.message, signed now by dkimpy with test.private
    (d=example.com s=test; record test.txt)."""
    key = dt.load_key(dt.corpus_file("dkimpy", "test.private"),
                      "example.com", "test")
    return dt.dkimpy_sign(corpus_message("dkimpy", "test.message"), key,
                          ("relaxed", "simple"))


def _extra_from(message):
    # Launchpad #644046: a From added after signing must break the
    # signature (dkimpy signs From twice, so a new one is covered).
    return b"From: evil@attacker.test\r\n" + message


# (id, message thunk, records thunk, want [(result, d, s)], dkimpy's
# verdict per signature in header order)
CORPUS_CASES = [
    ("rfc8463-A3-relaxed", lambda: corpus_message("rfc8463",
                                                  "rfc8463-A3-signed.eml"),
     rfc8463_records, PASS_BOTH_RFC8463, [True, True]),
    ("rfc8463-dkimpy-simple", lambda: corpus_message(
        "rfc8463", "dkimpy-variant-simple-simple.eml"),
     rfc8463_records, PASS_BOTH_RFC8463, [True, True]),
    # LF on disk, the same RFC text: signed over CRLF, survives.
    ("mimekit-rfc8463-LF", lambda: corpus_message("mimekit",
                                                  "rfc8463-example.msg"),
     rfc8463_records, PASS_BOTH_RFC8463, [True, True]),
    ("dkimpy-rfc6376-signed-LF", lambda: corpus_message(
        "dkimpy", "rfc6376.signed.msg"),
     rfc8463_records, PASS_BOTH_RFC8463, [True, True]),
    ("dkimpy-rfc6376-signed-rsa-LF", lambda: corpus_message(
        "dkimpy", "rfc6376.signed.rsa.msg"),
     rfc8463_records, [("pass", FOOTBALL, "test")], [True]),
    # The RSA key of s=test replaced: that signature fails, or (a key
    # that does not parse) is a permerror, while the Ed25519 one still
    # passes; postern reports each signature on its own.
    ("rfc8463-other-rsa-key", lambda: corpus_message(
        "rfc8463", "rfc8463-A3-signed.eml"), _altered_test_key,
     [("pass", FOOTBALL, "brisbane"), ("fail", FOOTBALL, "test")],
     [True, False]),
    ("rfc8463-truncated-rsa-key", lambda: corpus_message(
        "rfc8463", "rfc8463-A3-signed.eml"), _truncated_test_key,
     [("pass", FOOTBALL, "brisbane"), ("permerror", FOOTBALL, "test")],
     [True, False]),
    ("rfc8463-body-changed", lambda: corpus_message(
        "rfc8463", "rfc8463-A3-signed.eml").replace(b"Joe.", b"Jim."),
     rfc8463_records,
     [("fail", FOOTBALL, "brisbane"), ("fail", FOOTBALL, "test")],
     [False, False]),
    ("mimekit-gmail-LF", lambda: corpus_message("mimekit", "gmail.msg"),
     gmail_record, PASS_GMAIL, [True]),
    ("mimekit-related-214KB-LF", lambda: corpus_message("mimekit",
                                                        "related.msg"),
     gmail_record, PASS_GMAIL, [True]),
    # No closing MIME boundary: the body is hashed as it is.
    ("mimekit-no-end-boundary-LF", lambda: corpus_message(
        "mimekit", "multipart-no-end-boundary.msg"),
     gmail_record, PASS_GMAIL, [True]),
    ("dkimpy-test2-degenerate-folding-LF", lambda: corpus_message(
        "dkimpy", "test2.message"), gmail_record, PASS_GMAIL, [True]),
    ("dkimpy-ed25519test2-exim", lambda: corpus_message(
        "dkimpy", "ed25519test2.msg"),
     lambda: dkimpy_record("sed._domainkey.test.ex.", "eximtest.dns"),
     [("pass", "test.ex", "sed")], [True]),
    ("dkimpy-ed25519test3", lambda: corpus_message("dkimpy",
                                                   "ed25519test3.msg"),
     lambda: dkimpy_record("ed25519._domainkey.kitterman.org.",
                           "ed25519test.dns"),
     [("pass", "kitterman.org", "ed25519")], [True]),
    ("dkimpy-test-message-signed-now", _test_message_signed,
     lambda: dkimpy_record("test._domainkey.example.com.", "test.txt"),
     [("pass", "example.com", "test")], [True]),
    # Key record without k= (rsa implied).
    ("dkimpy-test-message-implicit-k", _test_message_signed,
     lambda: dkimpy_record("test._domainkey.example.com.", "test2.txt"),
     [("pass", "example.com", "test")], [True]),
    # v=DKIM2 and an unknown k=: the key record is unusable.
    ("dkimpy-bad-key-version", _test_message_signed,
     lambda: dkimpy_record("test._domainkey.example.com.",
                           "badversion.txt"),
     [("permerror", "example.com", "test")], [False]),
    ("dkimpy-bad-key-type", _test_message_signed,
     lambda: dkimpy_record("test._domainkey.example.com.", "badk.txt"),
     [("permerror", "example.com", "test")], [False]),
    ("dkimpy-extra-from-after-signing",
     lambda: _extra_from(_test_message_signed()),
     lambda: dkimpy_record("test._domainkey.example.com.", "test.txt"),
     [("fail", "example.com", "test")], [False]),
    # a=ed25519 is the draft's name, not RFC 8463's ed25519-sha256.
    ("dkimpy-ed25519-draft-algorithm-LF", lambda: corpus_message(
        "dkimpy", "ed25519test.verify.msg"),
     lambda: dkimpy_record("test._domainkey.example.com.",
                           "ed25519test.dns"),
     [("permerror", "example.com", "test")], [False]),
]


@pytest.mark.parametrize("case", CORPUS_CASES, ids=[c[0] for c in
                                                    CORPUS_CASES])
def test_postern_verifies_corpus_vectors(case, zone, postfix, dns_server,
                                         start_postern):
    _, message_of, records_of, want, want_dkimpy = case
    message = message_of()
    zone.serve(records_of())
    got_dkimpy = [r.ok for r in dt.verify_dkimpy(message, zone.dnsfunc())]
    assert got_dkimpy == want_dkimpy, \
        "dkimpy says %r, want %r: the vector is not what this test " \
        "thinks" % (got_dkimpy, want_dkimpy)
    p = start_verifier(start_postern, postfix, dns_server)
    assert_accepted(send(p, message, "sender@example.org"))
    (raw,) = delivered(postfix)
    got = dkim_results(raw)
    assert result_summary(got) == sorted(want), \
        "got %r, want %r" % (got, want)


# ================================================ 3. canonicalization cases

def _long_references():
    """A References field of exactly 1100 octets on one line, with
    white space to fold at."""
    line = "References:"
    i = 0
    while len(line) < 1100 - 80:
        line += " <%04d.abcdefghij@mail.example.org>" % i
        i += 1
    pad = 1100 - len(line) - len(" <@mail.example.org>")
    return line + " <%s@mail.example.org>" % ("x" * pad)


EDGE_CASES = [
    ("subject-on-continuation-line", [
        "Subject:", " continued on the next line"],
     b"Body.\r\n"),
    ("whitespace-only-lines-at-end", [],
     b"text\r\n \r\n\t\r\n  \t \r\n"),
    ("empty-lines-at-end", [], b"text\r\n\r\n\r\n"),
    # SMTP cannot carry a message without a final line break: the CRLF
    # before the terminating dot ends the last line (RFC 5321 4.1.1.4),
    # so postern signs "no line break" + CRLF.
    ("no-line-break-before-dot", [], b"no line break at the end"),
    ("only-dot-lines", [], b".\r\n..\r\n. .\r\n"),
    ("empty-body", [], b""),
]


def edge_message(sender, extra_headers, body, tag):
    head = ["From: <%s>" % sender, "To: <%s>" % RCPT,
            "Date: Thu, 03 Dec 2026 12:00:00 +0000",
            "Message-ID: <%s@signer.test>" % tag]
    if not any(h.startswith("Subject:") for h in extra_headers):
        head.append("Subject: %s" % tag)
    return message_with(head + extra_headers, body)


def send_raw_payload(p, sender, payload):
    """A transaction whose DATA payload is given as is (dot-stuffing and
    terminator included)."""
    with p.connect() as c:
        c.greeting()
        c.ehlo()
        assert c.command("MAIL FROM:<%s>" % sender).code == 250
        assert c.command("RCPT TO:<%s>" % RCPT).code == 250
        assert c.command("DATA").code == 354
        c.send(payload)
        final = c.read_reply(timeout=30)
        c.command("QUIT")
    return final


@pytest.mark.parametrize("canon", ["simple/simple", "relaxed/relaxed"])
def test_canonicalization_edge_cases_signed_by_postern(canon, keys, zone,
                                                       postfix,
                                                       start_postern):
    p = start_signer(start_postern, postfix, keys.keytable, keys.signtable,
                     canon=canon)
    sender = "carol@" + RSA_ONLY
    for tag, headers, body in EDGE_CASES:
        msg = edge_message(sender, headers, body, tag)
        if msg.endswith(b"\r\n"):
            final = send_raw_payload(p, sender, harness.dot_stuff(msg))
        else:
            final = send_raw_payload(p, sender, msg + b"\r\n.\r\n")
        assert final.code == 250, "%s: got %s, want 250" % (tag, final)
    msgs = delivered(postfix, len(EDGE_CASES))
    want = want_for(keys, ["rsa_only"])
    by_tag = {dt.header_values(m, "Message-ID")[0].split("@")[0][1:]: m
              for m in msgs}
    for tag, headers, body in EDGE_CASES:
        raw = by_tag[tag]
        sigs = dt.signatures(raw)
        assert sig_ids(sigs) == want, "%s: got %r" % (tag, sigs)
        by_dkimpy = dt.verify_dkimpy(raw, zone.dnsfunc())
        assert_all_pass(by_dkimpy, "dkimpy on " + tag)
        assert_all_pass(dt.verify_opendkim(raw, zone.prefix()),
                        "opendkim-testmsg on " + tag)
        if tag == "subject-on-continuation-line":
            fields = dt.header_fields(raw, "Subject")
            assert fields == [b"Subject:\r\n continued on the next line"
                              b"\r\n"], "got %r" % fields
        if tag == "empty-body":
            body_kind = canon.split("/")[1]
            assert sigs[0]["bh"] == EMPTY_BH[body_kind], \
                "got bh=%s, want %s" % (sigs[0]["bh"], EMPTY_BH[body_kind])


def test_long_header_line_folded_before_signing(keys, zone, postfix,
                                                start_postern):
    # text_line raised so that postern's own line limit (1000) lets the
    # 1100-octet line reach the signer.
    p = start_signer(start_postern, postfix, keys.keytable, keys.signtable,
                     limits={"text_line": "2000"}, long_lines="fold")
    sender = "carol@" + RSA_ONLY
    refs = _long_references()
    assert len(refs) == 1100
    msg = edge_message(sender, [refs], b"Body.\r\n", "long-references")
    assert_accepted(send(p, msg, sender))
    (raw,) = delivered(postfix)
    (field,) = dt.header_fields(raw, "References")
    lines = field.split(b"\r\n")
    assert max(len(l) for l in lines) <= 998, \
        "got a line of %d octets" % max(len(l) for l in lines)
    assert len(lines) > 2, "got %r, want it folded" % field[:200]
    assert harness.unfold(field) == refs.replace("\r\n", ""), \
        "folding changed the value"
    assert sig_ids(dt.signatures(raw)) == want_for(keys, ["rsa_only"])
    assert_all_pass(dt.verify_dkimpy(raw, zone.dnsfunc()), "dkimpy")
    assert_all_pass(dt.verify_opendkim(raw, zone.prefix()),
                    "opendkim-testmsg")


def test_long_header_line_rejected_when_told(keys, zone, postfix,
                                             start_postern):
    p = start_signer(start_postern, postfix, keys.keytable, keys.signtable,
                     limits={"text_line": "2000"}, long_lines="reject")
    sender = "carol@" + RSA_ONLY
    msg = edge_message(sender, [_long_references()], b"Body.\r\n",
                       "long-references-reject")
    s = send(p, msg, sender)
    assert s.final is not None and s.final.code == 550 and \
        s.final.enhanced == "5.6.0", "got %r, want 550 5.6.0" % s.final
    postfix.wait_idle()
    assert postfix.messages("bob") == []


def test_unfoldable_long_header_line_rejected(keys, zone, postfix,
                                              start_postern):
    """A run of 1100 octets without white space cannot be folded."""
    p = start_signer(start_postern, postfix, keys.keytable, keys.signtable,
                     limits={"text_line": "2000"}, long_lines="fold")
    sender = "carol@" + RSA_ONLY
    msg = edge_message(sender, ["X-Blob: " + "x" * 1092], b"Body.\r\n",
                       "blob")
    s = send(p, msg, sender)
    assert s.final is not None and s.final.code == 550 and \
        s.final.enhanced == "5.6.0", "got %r, want 550 5.6.0" % s.final


# ===================================================== 5. verification results

def signer_key(tmp_path, domain, selector, alg="rsa", bits=2048):
    return dt.make_key(str(tmp_path), domain, selector, alg, bits)


def test_rsa_sha1_signature_fails(tmp_path, zone, postfix, dns_server,
                                  start_postern):
    key = signer_key(tmp_path, "sha1.test", "old")
    zone.serve({key.record_name: key.txt})
    msg = dt.dkimpy_sign(harness.make_message(sender="a@sha1.test"), key,
                         alg="rsa-sha1")
    assert dt.verify_dkimpy(msg, zone.dnsfunc())[0].ok, \
        "dkimpy itself should accept its rsa-sha1 signature"
    p = start_verifier(start_postern, postfix, dns_server)
    assert_accepted(send(p, msg, "a@sha1.test"))
    (raw,) = delivered(postfix)
    got = dkim_results(raw)
    assert result_summary(got) == [("fail", "sha1.test", "old")], \
        "got %r" % got
    assert got[0].props.get("header.a") == "rsa-sha1"


def test_512_bit_key_fails(zone, postfix, dns_server, start_postern):
    key = dt.load_key(dt.corpus_file("dkimpy", "canonical.com-512.private"),
                      "canonical.com", "example")
    assert key.bits == 512
    zone.serve({key.record_name: key.txt})
    msg = dt.dkimpy_sign(harness.make_message(sender="a@canonical.com"),
                         key)
    assert dt.verify_dkimpy(msg, zone.dnsfunc(), minkey=512)[0].ok
    p = start_verifier(start_postern, postfix, dns_server)
    assert_accepted(send(p, msg, "a@canonical.com"))
    (raw,) = delivered(postfix)
    got = dkim_results(raw)
    assert result_summary(got) == [("fail", "canonical.com", "example")], \
        "got %r" % got


def test_key_record_in_several_strings_verifies(tmp_path, zone, postfix,
                                                dns_server, start_postern):
    key = signer_key(tmp_path, "split.test", "sel")
    txt = key.txt
    # Cut anywhere, even inside the tag name and the base64.
    strings = [txt[:5], txt[5:40], txt[40:41], txt[41:200], txt[200:]]
    rdata = " ".join('"%s"' % s for s in strings)
    zone.serve({key.record_name: ("TXT", rdata)})
    assert dt.dns_txt_func(dns_server.host, dns_server.port)(
        key.record_name) == txt.encode()
    msg = dt.dkimpy_sign(harness.make_message(sender="a@split.test"), key)
    p = start_verifier(start_postern, postfix, dns_server)
    assert_accepted(send(p, msg, "a@split.test"))
    (raw,) = delivered(postfix)
    got = dkim_results(raw)
    assert result_summary(got) == [("pass", "split.test", "sel")], \
        "got %r" % got


def _signed_for_timeout(tmp_path):
    key = signer_key(tmp_path, "slow.test", "sel")
    return dt.dkimpy_sign(harness.make_message(sender="a@slow.test"), key)


def test_dns_timeout_tempfails_the_message(tmp_path, zone, postfix,
                                           silent_dns, start_postern):
    msg = _signed_for_timeout(tmp_path)
    p = start_verifier(start_postern, postfix, None, forwarder=silent_dns,
                       dns_timeout="1s", dns_error="tempfail")
    s = send(p, msg, "a@slow.test")
    assert s.final is not None and s.final.code == 451 and \
        s.final.enhanced == "4.4.3", "got %r, want 451 4.4.3" % s.final
    postfix.wait_idle()
    assert postfix.messages("bob") == []


def test_dns_timeout_accepted_as_temperror(tmp_path, zone, postfix,
                                           silent_dns, start_postern):
    msg = _signed_for_timeout(tmp_path)
    p = start_verifier(start_postern, postfix, None, forwarder=silent_dns,
                       dns_timeout="1s", dns_error="accept")
    assert_accepted(send(p, msg, "a@slow.test"))
    (raw,) = delivered(postfix)
    got = dkim_results(raw)
    assert result_summary(got) == [("temperror", "slow.test", "sel")], \
        "got %r" % got


def test_only_max_signatures_are_checked(tmp_path, zone, postfix,
                                         dns_server, start_postern):
    ks = [signer_key(tmp_path, "many.test", "s%d" % i) for i in range(4)]
    zone.serve({k.record_name: k.txt for k in ks})
    msg = harness.make_message(sender="a@many.test")
    for k in ks:  # each on top of the last: s3 ends first
        msg = dt.dkimpy_sign(msg, k)
    assert [s["s"] for s in dt.signatures(msg)] == ["s3", "s2", "s1", "s0"]
    p = start_verifier(start_postern, postfix, dns_server,
                       max_signatures=2)
    assert_accepted(send(p, msg, "a@many.test"))
    (raw,) = delivered(postfix)
    got = dkim_results(raw)
    # The first two fields from the top (RFC 6376 6.1: verifiers may
    # limit how many they check; the topmost are the newest).
    assert result_summary(got) == [("pass", "many.test", "s2"),
                                   ("pass", "many.test", "s3")], \
        "got %r" % got


def test_unsigned_inbound_message_gets_dkim_none(zone, postfix, dns_server,
                                                 start_postern):
    p = start_verifier(start_postern, postfix, dns_server)
    assert_accepted(send(p, harness.make_message(), "sender@example.org"))
    (raw,) = delivered(postfix)
    got = dkim_results(raw)
    assert [(r.result, r.props) for r in got] == [("none", {})], \
        "got %r" % got


# ================================================= 6. forged A-R fields

@pytest.mark.parametrize("forged", [
    "Authentication-Results: postern.test; dkim=pass header.d=signer.test",
    "Authentication-Results: POSTERN.Test; dkim=pass header.d=signer.test",
    "Authentication-Results: (a comment) postern.test 1; dkim=pass",
    "Authentication-Results: postern.test;\r\n\tdkim=pass header.d=x.test",
], ids=["plain", "case", "comment-and-version", "folded"])
def test_forged_authentication_results_removed(forged, zone, postfix,
                                               dns_server, start_postern):
    kept = "Authentication-Results: mx.other.example; dkim=pass " \
           "header.d=other.example"
    msg = harness.make_message(extra_headers=[forged, kept])
    p = start_verifier(start_postern, postfix, dns_server)
    assert_accepted(send(p, msg, "sender@example.org"))
    (raw,) = delivered(postfix)
    received = harness.strip_mta_trace(raw)
    values = dt.header_values(received, "Authentication-Results")
    first, _ = harness.pop_header_field(received)
    assert harness.field_name(first) == b"authentication-results", \
        "got %r on top, want postern's Authentication-Results" % first
    assert re.match(r"%s;\s*dkim=none" % re.escape(SERVID),
                    harness.unfold(first).split(":", 1)[1].strip()), \
        "got %r" % first
    assert values[1:] == [kept.split(": ", 1)[1]], \
        "got %r, want only postern's and the other server's" % values


# ================================================== 7. From policy on signing

@pytest.mark.parametrize("headers,reason", [
    (["To: <%s>" % RCPT, "Subject: no from"], "no-from"),
    (["From: <alice@%s>" % DUAL, "From: <bob@%s>" % DUAL,
      "To: <%s>" % RCPT, "Subject: two from"], "several-from"),
])
def test_outbound_without_one_from_not_signed(headers, reason, keys, zone,
                                              postfix, start_postern):
    p = start_signer(start_postern, postfix, keys.keytable, keys.signtable)
    s = send(p, message_with(headers, b"Body.\r\n"), "alice@" + DUAL)
    assert_accepted(s)
    (raw,) = delivered(postfix)
    assert dt.header_fields(raw, "DKIM-Signature") == []
    assert p.wait_log(r"dkim-sign skipped reason=%s\b" % reason), \
        "no 'dkim-sign skipped reason=%s' in postern's log" % reason


@pytest.mark.parametrize("headers", [
    ["To: <%s>" % RCPT, "Subject: no from"],
    ["From: <alice@%s>" % DUAL, "From: <bob@%s>" % DUAL,
     "To: <%s>" % RCPT, "Subject: two from"],
], ids=["no-from", "several-from"])
def test_outbound_without_one_from_rejected_when_told(headers, keys, zone,
                                                      postfix,
                                                      start_postern):
    p = start_signer(start_postern, postfix, keys.keytable, keys.signtable,
                     missing_from="reject")
    s = send(p, message_with(headers, b"Body.\r\n"), "alice@" + DUAL)
    assert s.final is not None and s.final.code == 550 and \
        s.final.enhanced == "5.6.0", "got %r, want 550 5.6.0" % s.final
    postfix.wait_idle()
    assert postfix.messages("bob") == []


# ====================================================== 8. postern keygen

def run_keygen(*args):
    return subprocess.run([harness.POSTERN, "keygen"] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60)


@pytest.mark.parametrize("alg", ["rsa", "ed25519"])
def test_keygen_key_and_record_verify_a_postern_signature(
        alg, tmp_path, zone, postfix, start_postern):
    domain, selector = "keygen.test", "k" + alg
    res = run_keygen("-d", domain, "-s", selector, "-t", alg, "-D",
                     str(tmp_path))
    assert res.returncode == 0, "keygen: %s" % res.stderr
    path = tmp_path / (selector + ".private")
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600, "got mode %o, want 600" % mode
    records = dt.parse_zone_txt(res.stdout)
    name = "%s._domainkey.%s." % (selector, domain)
    assert [r[0] for r in records] == [name], "got %r" % res.stdout
    assert all(len(s) <= 255 for s in records[0][1])
    txt = "".join(records[0][1])
    key = dt.load_key(str(path), domain, selector)
    assert key.alg == alg
    # The record publishes this very key.
    assert dt.parse_tags(txt) == dt.parse_tags(key.txt), \
        "got %r, want %r" % (txt, key.txt)
    if alg == "rsa":
        assert key.bits == 2048

    again = run_keygen("-d", domain, "-s", selector, "-t", alg, "-D",
                       str(tmp_path))
    assert again.returncode != 0, "keygen overwrote an existing key"
    assert dt.load_key(str(path), domain, selector).txt == key.txt

    rdata = " ".join('"%s"' % s for s in records[0][1])
    zone.serve({name: ("TXT", rdata)})
    kt, st = dt.write_tables(str(tmp_path), [(domain, [key])], [key])
    p = start_signer(start_postern, postfix, kt, st)
    sender = "erin@" + domain
    assert_accepted(send(p, tricky_message(sender, "keygen"), sender))
    (raw,) = delivered(postfix)
    want = [(domain, selector, key.a)]
    assert sig_ids(dt.signatures(raw)) == want
    by_dkimpy = dt.verify_dkimpy(raw, zone.dnsfunc())
    assert_all_pass(by_dkimpy, "dkimpy")
    assert_all_pass(dt.verify_opendkim(raw, zone.prefix()),
                    "opendkim-testmsg")
