"""DMARC (issue 4), end to end.

postern runs in front of a real Postfix with the chain received,
dkim_verify, spf, dmarc, authres; every SPF, DKIM and DMARC record comes
from the session's test unbound (dns_server).  SPF never checks loopback
clients, so each message is sent after XCLIENT ADDR= an outside address
(INSIDE is listed in the SPF records, OUTSIDE in none); those addresses
are only data in the protocol, no traffic goes to them.  Delivered files
are read back for postern's Authentication-Results and X-Postern-DMARC;
rejected messages must not reach the mailbox.
"""

import json
import os

import pytest

import dkimtools as dt
from dkimtools import assert_not_delivered, delivered_one
import harness

SERVID = harness.POSTERN_HOSTNAME
RCPT = "bob@" + harness.DOMAIN
INSIDE = "198.51.100.10"  # in every SPF record below
OUTSIDE = "192.0.2.1"  # in none

SPF_INSIDE = "v=spf1 ip4:%s -all" % INSIDE

BANK = "bank.test"  # p=reject
SHOP = "shop.test"  # p=none
PARENT = "parent.test"  # p=none; sp=reject
QUAR = "quar.test"  # p=quarantine
SAMPLED = "sampled.test"  # p=reject; pct=0
SAMPLEDQ = "sampledq.test"  # p=quarantine; pct=0
STRICT = "strict.test"  # p=reject; aspf=s; adkim=s
RELAXED = "relaxed.test"  # p=reject, relaxed alignment
FORWARDER = "forwarder.test"  # a mailing list host, SPF lists only itself
NOPOLICY = "nopolicy.test"  # no DMARC record

DMARC_RECORDS = {
    BANK: "v=DMARC1; p=reject; rua=mailto:dmarc@bank.test",
    SHOP: "v=DMARC1; p=none",
    PARENT: "v=DMARC1; p=none; sp=reject",
    QUAR: "v=DMARC1; p=quarantine",
    SAMPLED: "v=DMARC1; p=reject; pct=0",
    SAMPLEDQ: "v=DMARC1; p=quarantine; pct=0",
    STRICT: "v=DMARC1; p=reject; aspf=s; adkim=s",
    RELAXED: "v=DMARC1; p=reject; aspf=r; adkim=r",
}

SPF_DOMAINS = [BANK, SHOP, PARENT, "mail." + PARENT, QUAR, SAMPLED,
               SAMPLEDQ, STRICT, "bounce." + STRICT, RELAXED,
               "bounce." + RELAXED, NOPOLICY]


# ------------------------------------------------------------ fixtures

class Keys:
    """DKIM keys of the signing domains in this file."""

    def __init__(self, directory):
        self.bank = dt.make_key(directory, BANK, "s1", "rsa", 2048)
        self.sub_strict = dt.make_key(directory, "mail." + STRICT, "s1",
                                      "ed25519")
        self.sub_relaxed = dt.make_key(directory, "mail." + RELAXED, "s1",
                                       "ed25519")
        self.all = [self.bank, self.sub_strict, self.sub_relaxed]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return Keys(str(tmp_path_factory.mktemp("dmarckeys")))


def zone_records(keys):
    records = {"_dmarc.%s." % d: v for d, v in DMARC_RECORDS.items()}
    records.update({"%s." % d: SPF_INSIDE for d in SPF_DOMAINS})
    records["%s." % FORWARDER] = "v=spf1 ip4:203.0.113.5 -all"
    records.update({k.record_name: k.txt for k in keys.all})
    return records


@pytest.fixture
def zone(dns_server, keys):
    lines = harness.records_lines(zone_records(keys))
    if dns_server.records != lines:
        dns_server.set_records(lines)
    return dns_server


def dmarc_config(dns_server, record_file=None, on_reject=None,
                 on_quarantine=None):
    opts = []
    if on_reject:
        opts.append("on_reject = %s" % on_reject)
    if on_quarantine:
        opts.append("on_quarantine = %s" % on_quarantine)
    if record_file:
        opts.append('record_file = "%s"' % record_file)
    return "\n".join([
        'dns { forwarders = {"%s"}  timeout = 3s'
        '  nodefault_zones = {"test."} }' % dns_server.address,
        "filter dkim_verify { }",
        # SPF's own rejections are off: here DMARC decides.
        "filter spf { on_fail = accept  on_softfail = accept }",
        "filter dmarc { %s }" % "  ".join(opts),
        'filter authres { authserv_id = "%s" }' % SERVID,
    ])


@pytest.fixture
def dmarc_postern(start_postern, postfix, zone, tmp_path):
    """start(**dmarc options) -> postern with the DMARC chain, its
    record file at .record_file."""
    def start(**kw):
        record_file = str(tmp_path / "dmarc.jsonl")
        p = start_postern(postfix, extra=dmarc_config(
            zone, record_file=record_file, **kw))
        p.record_file = record_file
        return p
    return start


# ------------------------------------------------------------- helpers

def send_from(p, message, sender, addr):
    """One message to RCPT from client address addr (XCLIENT).  Returns
    the final reply (or the first non-2xx/3xx one)."""
    with p.connect() as c:
        assert c.greeting().code == 220
        assert c.ehlo().code == 250
        xc = c.command("XCLIENT ADDR=%s" % addr)
        assert xc.code == 220, "got %r to XCLIENT, want 220" % xc
        assert c.ehlo().code == 250
        replies = c.send_mail(sender, [RCPT], message)
        c.command("QUIT")
    return replies[-1]


def message(from_value, subject="dmarc", extra=()):
    return harness.make_message(subject=subject, sender=from_value,
                                to=RCPT, extra_headers=extra)


def message_with_fields(fields, body=b"Hello.\r\n"):
    return "\r\n".join(fields).encode() + b"\r\n\r\n" + body


def assert_accepted(final):
    assert final.code == 250, "got %r, want 250 at end of data" % final


def assert_rejected(final, domain):
    assert (final.code, final.enhanced) == (550, "5.7.1"), \
        "got %r, want 550 5.7.1" % final
    want = "DMARC policy of %s rejects the message" % domain
    assert want in final.text, "got %r, want %r" % (final.text, want)


def results(raw, method):
    """postern's resinfos of method in raw's A-R field."""
    fields = dt.authres_fields(raw, SERVID)
    assert len(fields) == 1, \
        "got %d A-R fields of %s, want 1: %r" % (len(fields), SERVID,
                                                   fields)
    return [r for r in dt.parse_authres(fields[0]) if r.method == method]


def dmarc_results(raw):
    return [(r.result, r.props.get("header.from"))
            for r in results(raw, "dmarc")]


def dmarc_header(raw):
    return dt.header_values(raw, "X-Postern-DMARC")


def records(p):
    """The JSON lines of postern's record file."""
    try:
        with open(p.record_file) as f:
            return [json.loads(line) for line in f]
    except FileNotFoundError:
        return []


# ============================================ the four cases of the issue

def test_spoofed_reject_domain_is_rejected_and_never_delivered(
        dmarc_postern, postfix):
    """From a p=reject domain, sent from outside its SPF record, no
    signature: 550 5.7.1, nothing delivered, one record and log line."""
    p = dmarc_postern()
    final = send_from(p, message("Bank <alerts@%s>" % BANK),
                      "alerts@" + BANK, OUTSIDE)
    assert_rejected(final, BANK)
    assert_not_delivered(postfix)

    [rec] = records(p)
    assert rec["source_ip"] == OUTSIDE, rec
    assert rec["header_from"] == BANK, rec
    assert rec["result"] == "fail", rec
    assert rec["policy_published"]["p"] == "reject", rec
    assert rec["policy_published"]["rua"] == "mailto:dmarc@bank.test", rec
    assert rec["policy_evaluated"] == {
        "disposition": "reject", "dkim": "fail", "spf": "fail",
        "reason": None}, rec
    assert rec["auth_results"]["spf"] == {
        "domain": BANK, "scope": "mfrom", "result": "fail"}, rec
    assert rec["auth_results"]["dkim"] == [], rec
    assert p.wait_log(r" dmarc from=%s result=fail policy=reject "
                      r"disposition=reject spf=fail dkim=fail source=%s"
                      % (BANK, OUTSIDE)), p.log()


def test_authorized_address_passes_with_spf(dmarc_postern, postfix):
    p = dmarc_postern()
    final = send_from(p, message("alerts@" + BANK), "alerts@" + BANK,
                      INSIDE)
    assert_accepted(final)
    raw = delivered_one(postfix)
    spf = [(r.result, r.props.get("smtp.mailfrom"))
           for r in results(raw, "spf")]
    assert spf == [("pass", BANK)] or spf == [("pass", "alerts@" + BANK)], \
        "got spf %r, want pass for %s" % (spf, BANK)
    assert dmarc_results(raw) == [("pass", BANK)], dmarc_results(raw)
    assert dmarc_header(raw) == [], dmarc_header(raw)
    [rec] = records(p)
    assert rec["policy_evaluated"]["spf"] == "pass", rec
    assert rec["policy_evaluated"]["disposition"] == "none", rec


def test_forwarded_message_signed_by_origin_passes_via_dkim(
        dmarc_postern, postfix, keys):
    """A list host outside bank.test's SPF relays a message bank.test
    signed: spf fails for the list's own domain, DKIM passes aligned."""
    p = dmarc_postern()
    signed = dt.dkimpy_sign(message("alerts@" + BANK, "forwarded"),
                            keys.bank)
    final = send_from(p, signed, "list-bounces@" + FORWARDER, OUTSIDE)
    assert_accepted(final)
    raw = delivered_one(postfix)
    assert [r.result for r in results(raw, "spf")] == ["fail"]
    dkim = [(r.result, r.props.get("header.d"))
            for r in results(raw, "dkim")]
    assert dkim == [("pass", BANK)], dkim
    assert dmarc_results(raw) == [("pass", BANK)], dmarc_results(raw)
    [rec] = records(p)
    assert rec["policy_evaluated"]["dkim"] == "pass", rec
    assert rec["policy_evaluated"]["spf"] == "fail", rec
    assert rec["auth_results"]["dkim"] == [
        {"domain": BANK, "selector": "s1", "result": "pass"}], rec
    assert rec["envelope_from"] == FORWARDER, rec


def test_none_domain_failing_message_arrives_tagged(dmarc_postern, postfix):
    p = dmarc_postern()
    final = send_from(p, message("news@" + SHOP), "news@" + SHOP, OUTSIDE)
    assert_accepted(final)
    raw = delivered_one(postfix)
    assert dmarc_results(raw) == [("fail", SHOP)], dmarc_results(raw)
    assert dmarc_header(raw) == ["fail"], dmarc_header(raw)


# ============================================================ policies

@pytest.mark.parametrize("domain,rejected", [
    ("mail." + PARENT, True),  # sp=reject: the record is the parent's
    (PARENT, False),           # p=none for the parent itself
])
def test_sp_applies_to_subdomains(dmarc_postern, postfix, domain,
                                  rejected):
    p = dmarc_postern()
    final = send_from(p, message("x@" + domain), "x@" + domain, OUTSIDE)
    if rejected:
        assert_rejected(final, domain)
        assert_not_delivered(postfix)
        [rec] = records(p)
        assert rec["policy_published"]["domain"] == PARENT, rec
        assert rec["policy"] == "reject", rec
        return
    assert_accepted(final)
    raw = delivered_one(postfix)
    assert dmarc_results(raw) == [("fail", domain)]
    assert dmarc_header(raw) == ["fail"]


@pytest.mark.parametrize("domain,header", [
    # Not sampled: reject becomes quarantine, quarantine becomes none
    # (RFC 7489 6.6.4).
    (SAMPLED, "quarantine"),
    (SAMPLEDQ, "fail"),
])
def test_pct_zero_takes_no_action_of_the_policy(dmarc_postern, postfix,
                                                domain, header):
    p = dmarc_postern()
    final = send_from(p, message("x@" + domain), "x@" + domain, OUTSIDE)
    assert_accepted(final)
    raw = delivered_one(postfix)
    assert dmarc_results(raw) == [("fail", domain)]
    assert dmarc_header(raw) == [header], dmarc_header(raw)
    [rec] = records(p)
    assert rec["policy_evaluated"]["reason"] == "sampled_out", rec


def test_quarantine_tags_by_default(dmarc_postern, postfix):
    p = dmarc_postern()
    final = send_from(p, message("x@" + QUAR), "x@" + QUAR, OUTSIDE)
    assert_accepted(final)
    raw = delivered_one(postfix)
    assert dmarc_header(raw) == ["quarantine"], dmarc_header(raw)
    assert dmarc_results(raw) == [("fail", QUAR)]


def test_on_quarantine_reject(dmarc_postern, postfix):
    p = dmarc_postern(on_quarantine="reject")
    final = send_from(p, message("x@" + QUAR), "x@" + QUAR, OUTSIDE)
    assert_rejected(final, QUAR)
    assert_not_delivered(postfix)
    [rec] = records(p)
    assert rec["policy_evaluated"]["disposition"] == "reject", rec
    assert rec["policy_evaluated"]["reason"] == "local_policy", rec


def test_on_quarantine_hold_keeps_the_message(start_postern, postfix, zone,
                                              tmp_path):
    held_dir = tmp_path / "held"
    held_dir.mkdir()
    p = start_postern(postfix, extra='quarantine_dir = "%s"\n%s' % (
        held_dir, dmarc_config(zone, on_quarantine="hold")))
    final = send_from(p, message("x@" + QUAR), "x@" + QUAR, OUTSIDE)
    assert (final.code, final.enhanced) == (250, "2.7.0"), final
    assert "held for review (DMARC policy of %s)" % QUAR in final.text
    assert_not_delivered(postfix)
    [held] = list(held_dir.iterdir())
    raw = held.read_bytes()
    assert raw.startswith(b"Return-Path: <x@%s>\r\n" % QUAR.encode())
    assert b"filter=dmarc; message held for review" in raw
    assert dmarc_header(raw) == ["quarantine"], dmarc_header(raw)


def test_on_reject_tag_delivers_quarantined(dmarc_postern, postfix):
    p = dmarc_postern(on_reject="tag")
    final = send_from(p, message("x@" + BANK), "x@" + BANK, OUTSIDE)
    assert_accepted(final)
    raw = delivered_one(postfix)
    assert dmarc_header(raw) == ["quarantine"], dmarc_header(raw)
    assert dmarc_results(raw) == [("fail", BANK)]


def test_no_policy_gives_none_untagged(dmarc_postern, postfix):
    p = dmarc_postern()
    final = send_from(p, message("x@" + NOPOLICY), "x@" + NOPOLICY, OUTSIDE)
    assert_accepted(final)
    raw = delivered_one(postfix)
    assert dmarc_results(raw) == [("none", NOPOLICY)], dmarc_results(raw)
    assert dmarc_header(raw) == []


# ============================================================ alignment

@pytest.mark.parametrize("domain,aligned", [(RELAXED, True),
                                            (STRICT, False)])
def test_spf_alignment_relaxed_and_strict(dmarc_postern, postfix, domain,
                                          aligned):
    """SPF passes for bounce.DOMAIN, the From is DOMAIN: aligned only
    under relaxed alignment."""
    p = dmarc_postern()
    final = send_from(p, message("x@" + domain), "x@bounce." + domain,
                      INSIDE)
    if not aligned:
        assert_rejected(final, domain)
        assert_not_delivered(postfix)
        [rec] = records(p)
        assert rec["auth_results"]["spf"]["result"] == "pass", rec
        assert rec["policy_evaluated"]["spf"] == "fail", rec
        return
    assert_accepted(final)
    raw = delivered_one(postfix)
    assert dmarc_results(raw) == [("pass", domain)], dmarc_results(raw)


@pytest.mark.parametrize("domain,aligned", [(RELAXED, True),
                                            (STRICT, False)])
def test_dkim_alignment_relaxed_and_strict(dmarc_postern, postfix, keys,
                                           domain, aligned):
    """A valid signature by mail.DOMAIN on a message From DOMAIN, sent
    through a forwarder SPF does not cover."""
    key = keys.sub_relaxed if domain == RELAXED else keys.sub_strict
    p = dmarc_postern()
    signed = dt.dkimpy_sign(message("x@" + domain), key)
    final = send_from(p, signed, "list@" + FORWARDER, OUTSIDE)
    if not aligned:
        assert_rejected(final, domain)
        assert_not_delivered(postfix)
        [rec] = records(p)
        assert rec["auth_results"]["dkim"][0]["result"] == "pass", rec
        assert rec["policy_evaluated"]["dkim"] == "fail", rec
        return
    assert_accepted(final)
    raw = delivered_one(postfix)
    assert dmarc_results(raw) == [("pass", domain)], dmarc_results(raw)


# ============================================================ From rules

def test_two_from_fields_fail_even_when_aligned(dmarc_postern, postfix):
    """SPF passes for shop.test and both From fields say shop.test, yet
    the result is fail (p=none: delivered, tagged)."""
    p = dmarc_postern()
    msg = message_with_fields([
        "From: a@" + SHOP, "From: b@" + SHOP, "To: " + RCPT,
        "Subject: two From fields", "Message-ID: <2from@shop.test>"])
    final = send_from(p, msg, "a@" + SHOP, INSIDE)
    assert_accepted(final)
    raw = delivered_one(postfix)
    [r] = results(raw, "dmarc")
    assert (r.result, r.reason) == ("fail", "several From fields"), r
    assert dmarc_header(raw) == ["fail"]


def test_two_from_fields_of_a_reject_domain_rejected(dmarc_postern,
                                                     postfix):
    p = dmarc_postern()
    msg = message_with_fields([
        "From: a@" + BANK, "From: b@" + BANK, "To: " + RCPT,
        "Subject: two From fields"])
    final = send_from(p, msg, "a@" + BANK, INSIDE)
    assert_rejected(final, BANK)
    assert_not_delivered(postfix)


def test_from_with_two_domains_fails_under_the_strictest_policy(
        dmarc_postern, postfix):
    p = dmarc_postern()
    msg = message("a@%s, b@%s" % (SHOP, BANK),
                  extra=("Sender: a@" + SHOP,))
    final = send_from(p, msg, "a@" + SHOP, INSIDE)
    assert_rejected(final, BANK)
    assert_not_delivered(postfix)
    recs = records(p)
    assert sorted((r["header_from"], r["result"], r["reason"])
                  for r in recs) == [
        (BANK, "fail", "several author domains"),
        (SHOP, "fail", "several author domains")], recs


def test_from_with_two_none_domains_fails_for_both(dmarc_postern, postfix):
    p = dmarc_postern()
    msg = message("a@%s, b@%s" % (SHOP, PARENT),
                  extra=("Sender: a@" + SHOP,))
    final = send_from(p, msg, "a@" + SHOP, INSIDE)
    assert_accepted(final)
    raw = delivered_one(postfix)
    assert dmarc_results(raw) == [("fail", SHOP), ("fail", PARENT)], \
        dmarc_results(raw)
    assert dmarc_header(raw) == ["fail"]


def test_unparseable_from_fails(dmarc_postern, postfix):
    p = dmarc_postern()
    msg = message("Bank <alerts@%s" % SHOP)  # no closing bracket
    final = send_from(p, msg, "alerts@" + SHOP, INSIDE)
    assert_accepted(final)
    raw = delivered_one(postfix)
    [r] = results(raw, "dmarc")
    assert (r.result, r.reason) == ("fail", "From does not parse"), r
    assert dmarc_header(raw) == ["fail"]


def test_no_from_fails(dmarc_postern, postfix):
    p = dmarc_postern()
    msg = message_with_fields(["To: " + RCPT, "Subject: no From"])
    final = send_from(p, msg, "a@" + SHOP, INSIDE)
    assert_accepted(final)
    raw = delivered_one(postfix)
    [r] = results(raw, "dmarc")
    assert (r.result, r.reason) == ("fail", "no From field"), r


# ==================================================== forged results

FORGED = (
    "Authentication-Results: %s; dmarc=pass header.from=%s;"
    " spf=pass smtp.mailfrom=%s; dkim=pass header.d=%s" % (
        SERVID, BANK, BANK, BANK),
    "Authentication-Results: mx.%s; dmarc=pass header.from=%s;"
    " spf=pass smtp.mailfrom=%s" % (BANK, BANK, BANK),
    "X-Postern-DMARC: pass",
)


def test_forged_authentication_results_are_ignored(dmarc_postern, postfix):
    p = dmarc_postern()
    final = send_from(p, message("alerts@" + BANK, extra=FORGED),
                      "alerts@" + BANK, OUTSIDE)
    assert_rejected(final, BANK)
    assert_not_delivered(postfix)


def test_forged_results_removed_from_a_none_domain_message(dmarc_postern,
                                                           postfix):
    p = dmarc_postern()
    forged = [f.replace(BANK, SHOP) for f in FORGED]
    final = send_from(p, message("x@" + SHOP, extra=forged), "x@" + SHOP,
                      OUTSIDE)
    assert_accepted(final)
    raw = delivered_one(postfix)
    assert dmarc_results(raw) == [("fail", SHOP)], dmarc_results(raw)
    assert dmarc_header(raw) == ["fail"], \
        "got %r: the sender's X-Postern-DMARC must go" % dmarc_header(raw)


# ================================================================= config

def test_config_summary_names_the_filter(zone, tmp_path):
    conf = tmp_path / "postern.conf"
    conf.write_text(harness.render_config(
        harness.free_port(), "127.0.0.1:25", str(tmp_path),
        extra=dmarc_config(zone, record_file=str(tmp_path / "r.jsonl"),
                           on_reject="tag")))
    import subprocess
    out = subprocess.run([harness.POSTERN, "-t", "-c", str(conf)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stdout
    assert "filters received dkim_verify spf dmarc authres" in out.stdout, \
        out.stdout
    want = ("filter dmarc on_reject tag on_quarantine tag psl_file builtin"
            " record_file %s" % (tmp_path / "r.jsonl"))
    assert want in out.stdout, out.stdout
    assert os.path.exists(str(tmp_path / "r.jsonl"))
