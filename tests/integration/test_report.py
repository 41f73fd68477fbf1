"""The history and `postern report` (issue 8), end to end.

postern runs in front of a real Postfix with a history section; a known
mix of traffic goes through it (signed outbound mail, SPF rejections of
inbound mail, one recipient the upstream refuses with 550), postern is
stopped (the writer flushes at exit), and `postern report` reads the
database in JSON, CSV and text, with exact counts.  `postern report
dmarc` runs after DMARC-evaluated mail and its XML is validated with
xmllint against the schema of RFC 7489 appendix C (tests/data).
"""
import csv
import io
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

import dkimtools as dt
import harness

SIGNED = 3
SPF_REJECTED = 2
SIGN_DOMAIN = "report.test"
FAIL_DOMAIN = "fail.report.test"
OUTSIDE = "192.0.2.10"
SENDER = "news@" + SIGN_DOMAIN

XSD = os.path.join(harness.REPO, "tests", "data", "dmarc-rua-rfc7489.xsd")


def report(p, *args):
    """`postern report ARGS -c p's config`: stdout, on exit status 0;
    line endings as written (CSV has CRLF)."""
    r = subprocess.run([harness.POSTERN, "report", *args, "-c", p.conf],
                       capture_output=True, timeout=60)
    assert r.returncode == 0, "report %s: %d\n%s" % (args, r.returncode,
                                                     r.stderr.decode())
    return r.stdout.decode()


@pytest.fixture
def mix(start_postern, postfix, dns_server, tmp_path):
    """postern signing for SIGN_DOMAIN (127.0.0.0/8 is internal) with SPF
    for inbound clients, a history at tmp_path/history.db, after the
    mix of traffic; stopped."""
    key = dt.make_key(str(tmp_path), SIGN_DOMAIN, "r1", "ed25519")
    keytable, signtable = dt.write_tables(str(tmp_path),
                                          [(SIGN_DOMAIN, [key])], [key])
    dns_server.add_records(harness.records_lines({
        FAIL_DOMAIN + ".": "v=spf1 -all"}))
    db = str(tmp_path / "history.db")
    p = start_postern(postfix, extra="\n".join([
        'dns { forwarders = {"%s"}  timeout = 3s'
        '  nodefault_zones = {"test."} }' % dns_server.address,
        'internal_networks = {"127.0.0.0/8"}',
        "filter spf { }",
        'filter dkim_sign { key_table = "%s"  signing_table = "%s" }' % (
            keytable, signtable),
        'history { path = "%s"  retention = 30d }' % db]))
    replies = {"spf": [], "upstream": []}
    for i in range(SIGNED):
        s = harness.send_one(p.host, p.port, ["alice@example.net"],
                             harness.make_message(sender=SENDER,
                                                  subject="s%d" % i),
                             sender=SENDER)
        assert s.final is not None and s.final.code == 250, s
    for i in range(SPF_REJECTED):
        with p.connect() as c:
            assert c.greeting().code == 220
            assert c.ehlo().code == 250
            assert c.command("XCLIENT ADDR=%s" % OUTSIDE).code == 220
            assert c.ehlo().code == 250
            # Domains are compared without case: one row for both.
            mail = c.command("MAIL FROM:<a%d@%s>" % (
                i, FAIL_DOMAIN if i % 2 == 0 else FAIL_DOMAIN.upper()))
            assert mail.code == 550, mail
            replies["spf"].append(mail)
            c.command("QUIT")
    s = harness.send_one(p.host, p.port, ["nobody@example.net"],
                         harness.make_message(sender=SENDER), sender=SENDER)
    assert s.rcpts[0].code == 550, s
    replies["upstream"].append(s.rcpts[0])
    # A bounce: the null sender's row is "<>".
    s = harness.send_one(p.host, p.port, ["alice@example.net"],
                         harness.make_message(subject="bounce"), sender="")
    assert s.final is not None and s.final.code == 250, s
    postfix.wait_idle()
    delivered = postfix.wait_messages("alice", SIGNED + 1)
    assert sum(b"DKIM-Signature:" in m for m in delivered) == SIGNED
    assert p.stop(timeout=30) == 0, p.log()
    p.db = db
    p.replies = replies
    return p


WANT_SENDING = [
    {"domain": SIGN_DOMAIN, "received": SIGNED + 1, "relayed": SIGNED,
     "signed": SIGNED, "held": 0, "discarded": 0, "rejected": 1,
     "deferred": 0},
    {"domain": FAIL_DOMAIN, "received": SPF_REJECTED, "relayed": 0,
     "signed": 0, "held": 0, "discarded": 0, "rejected": SPF_REJECTED,
     "deferred": 0},
    {"domain": "<>", "received": 1, "relayed": 1, "signed": 0, "held": 0,
     "discarded": 0, "rejected": 0, "deferred": 0},
]
SPF_SENDERS = ["a1@" + FAIL_DOMAIN.upper(), "a0@" + FAIL_DOMAIN]


def test_report_json(mix):
    got = json.loads(report(mix, "--format", "json", "--since", "1h"))
    assert got["sending"] == WANT_SENDING, got
    assert got["total"] == {"received": SIGNED + 2 + SPF_REJECTED,
                            "relayed": SIGNED + 1, "signed": SIGNED,
                            "held": 0, "discarded": 0,
                            "rejected": 1 + SPF_REJECTED, "deferred": 0}
    groups = [(e["reason"], e["code"], e["count"]) for e in got["errors"]]
    assert groups == [("spf", 550, SPF_REJECTED), ("upstream", 550, 1)], \
        got["errors"]
    spf, upstream = got["errors"]
    # Latest first; the texts are the replies the clients got.
    assert [e["sender"] for e in spf["examples"]] == SPF_SENDERS
    for e, reply in zip(spf["examples"], reversed(mix.replies["spf"])):
        assert e["code"] == 550, e
        assert e["text"] and e["text"] in reply.text, (e, reply)
        assert e["upstream_code"] == 0, e
    [e] = upstream["examples"]
    assert (e["sender"], e["code"], e["upstream_code"]) == (SENDER, 550,
                                                            550), e
    # The upstream's refusal of the only recipient, as Postfix wrote it.
    assert e["ecode"] == "5.1.1", e
    refusal = mix.replies["upstream"][0]
    assert e["text"] == refusal.lines[0][len("5.1.1 "):], (e, refusal)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", e["time"]), e


def test_report_domain_and_csv(mix):
    got = json.loads(report(mix, "--format", "json", "--domain",
                            FAIL_DOMAIN.upper()))
    assert got["sending"] == WANT_SENDING[1:2], got
    assert [g["reason"] for g in got["errors"]] == ["spf"], got

    text = report(mix, "--format", "csv")
    sending, errors = text.split("\r\n\r\n")
    rows = list(csv.reader(io.StringIO(sending)))
    assert rows == [
        ["domain", "received", "relayed", "signed", "held", "discarded",
         "rejected", "deferred"],
        [SIGN_DOMAIN, str(SIGNED + 1), str(SIGNED), str(SIGNED), "0", "0",
         "1", "0"],
        [FAIL_DOMAIN, str(SPF_REJECTED), "0", "0", "0", "0",
         str(SPF_REJECTED), "0"],
        ["<>", "1", "1", "0", "0", "0", "0", "0"]], rows
    rows = list(csv.reader(io.StringIO(errors)))
    assert rows[0] == ["reason", "code", "count", "time", "sender",
                       "example_code", "ecode", "text"], rows
    assert [(r[0], r[1], r[2], r[4]) for r in rows[1:]] == [
        ("spf", "550", "2", SPF_SENDERS[0]),
        ("spf", "550", "2", SPF_SENDERS[1]),
        ("upstream", "550", "1", SENDER)], rows


def test_report_text(mix):
    text = report(mix)
    lines = text.splitlines()
    assert lines[0].startswith("Sending report, "), text
    counts = {l.split()[0]: [int(n) for n in l.split()[1:]]
              for l in lines if re.match(r"\S+( +\d+){7}$", l)}
    assert counts == {
        SIGN_DOMAIN: [SIGNED + 1, SIGNED, SIGNED, 0, 0, 1, 0],
        FAIL_DOMAIN: [SPF_REJECTED, 0, 0, 0, 0, SPF_REJECTED, 0],
        "<>": [1, 1, 0, 0, 0, 0, 0],
        "total": [SIGNED + 2 + SPF_REJECTED, SIGNED + 1, SIGNED, 0, 0,
                  1 + SPF_REJECTED, 0]}, text
    assert "\nspf 550: %d\n" % SPF_REJECTED in text, text
    assert "\nupstream 550: 1\n" in text, text
    assert re.search(r"\n  \S+Z <%s> 550 " % re.escape(SENDER), text), text


def test_report_of_a_copied_database_needs_no_configuration(mix,
                                                             tmp_path):
    copy = tmp_path / "copy.db"
    copy.write_bytes(open(mix.db, "rb").read())
    r = subprocess.run([harness.POSTERN, "report", "--db", str(copy),
                        "--format", "json", "--since", "1h"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["sending"] == WANT_SENDING, r.stdout


def test_report_null_sender_domain(mix):
    got = json.loads(report(mix, "--format", "json", "--domain", "<>"))
    assert got["sending"] == WANT_SENDING[2:], got


@pytest.mark.parametrize("since", ["0", "0h", "-1h", "5229w", "99999w",
                                   "1x"])
def test_report_refuses_empty_or_huge_periods(mix, since):
    r = subprocess.run([harness.POSTERN, "report", "--since", since, "-c",
                        mix.conf], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2, r
    assert r.stderr.startswith("postern report: --since '%s': want " % since), \
        r.stderr


def test_config_check_shows_history(start_postern, postfix, tmp_path):
    db = str(tmp_path / "h.db")
    p = start_postern(postfix, extra='history { path = "%s"  retention = 7d'
                      '  max_rows = 1000 }' % db)
    r = subprocess.run([harness.POSTERN, "-t", "-c", p.conf],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "history %s retention=7d max_rows=1000\n" % db in r.stdout, \
        r.stdout
    assert os.path.exists(db)


def test_report_without_history_is_a_usage_error(postern):
    r = subprocess.run([harness.POSTERN, "report", "-c", postern.conf],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert "no history section" in r.stderr, r.stderr


# ------------------------------------------------------------- DMARC

INSIDE = "198.51.100.10"
# Names of their own: the DNS server is shared by the whole run, and two
# DMARC records for one name would mean none (RFC 7489 6.6.3).
BANK = "bank-report.test"  # p=reject, rua=
SHOP = "shop-report.test"  # p=none, no rua=
RCPT = "bob@" + harness.DOMAIN


def send_from(p, sender, addr):
    """One message from sender, the client at addr (XCLIENT); the last
    reply."""
    with p.connect() as c:
        assert c.greeting().code == 220
        assert c.ehlo().code == 250
        assert c.command("XCLIENT ADDR=%s" % addr).code == 220
        assert c.ehlo().code == 250
        final = c.send_mail(sender, [RCPT], harness.make_message(
            sender=sender, to=RCPT))[-1]
        c.command("QUIT")
    return final


@pytest.fixture
def dmarc_mix(start_postern, postfix, dns_server, tmp_path):
    dns_server.add_records(harness.records_lines({
        "_dmarc.%s." % BANK: "v=DMARC1; p=reject; adkim=s; "
                             "rua=mailto:dmarc@" + BANK,
        "_dmarc.%s." % SHOP: "v=DMARC1; p=none",
        "%s." % BANK: "v=spf1 ip4:%s -all" % INSIDE,
        "%s." % SHOP: "v=spf1 ip4:%s -all" % INSIDE}))
    db = str(tmp_path / "history.db")
    p = start_postern(postfix, extra="\n".join([
        'dns { forwarders = {"%s"}  timeout = 3s'
        '  nodefault_zones = {"test."} }' % dns_server.address,
        "filter dkim_verify { }",
        "filter spf { on_fail = accept  on_softfail = accept }",
        "filter dmarc { }",
        'history { path = "%s" }' % db]))
    sends = [(BANK, OUTSIDE, 550), (BANK, INSIDE, 250), (BANK, INSIDE, 250),
             (SHOP, OUTSIDE, 250)]
    for domain, addr, code in sends:
        final = send_from(p, "alerts@" + domain, addr)
        assert final.code == code, (domain, addr, final)
    postfix.wait_idle()
    assert p.stop(timeout=30) == 0, p.log()
    p.db = db
    return p


def validate(path, tmp_path):
    """xmllint against the RFC 7489 schema; see the note in the XSD on
    the targetNamespace it declares but cannot use as printed."""
    with open(XSD) as f:
        xsd = re.sub(r'\s*targetNamespace="[^"]*"', "", f.read(), count=1)
    schema = tmp_path / "rua.xsd"
    schema.write_text(xsd)
    r = subprocess.run(["xmllint", "--noout", "--schema", str(schema),
                        path], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr


def test_dmarc_aggregate_report(dmarc_mix, tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    names = report(dmarc_mix, "dmarc", "--since", "2h", "--org-name",
                   "Postern Test", "--email", "dmarc@reports.test",
                   "--out", str(out)).split()
    # One report: SHOP's record asks for none.
    assert len(names) == 1, names
    m = re.match(r"reports\.test!bank-report\.test!(\d+)!(\d+)\.xml$",
                 os.path.basename(names[0]))
    assert m and int(m.group(2)) - int(m.group(1)) == 7200, names
    assert sorted(os.listdir(out)) == [os.path.basename(names[0])]
    validate(names[0], tmp_path)

    root = ET.parse(names[0]).getroot()
    assert root.tag == "feedback"
    meta = root.find("report_metadata")
    assert meta.findtext("org_name") == "Postern Test"
    assert meta.findtext("email") == "dmarc@reports.test"
    assert meta.findtext("date_range/begin") == m.group(1)
    assert meta.findtext("report_id")
    pub = root.find("policy_published")
    assert [(e.tag, e.text) for e in pub] == [
        ("domain", BANK), ("adkim", "s"), ("aspf", "r"), ("p", "reject"),
        ("sp", "reject"), ("pct", "100"), ("fo", "0")]
    rows = sorted(
        (r.findtext("row/source_ip"), int(r.findtext("row/count")),
         r.findtext("row/policy_evaluated/disposition"),
         r.findtext("row/policy_evaluated/dkim"),
         r.findtext("row/policy_evaluated/spf"),
         r.findtext("identifiers/header_from"),
         r.findtext("auth_results/spf/result"))
        for r in root.findall("record"))
    assert rows == [
        (OUTSIDE, 1, "reject", "fail", "fail", BANK, "fail"),
        (INSIDE, 2, "none", "fail", "pass", BANK, "pass")], rows

    # --domain limits the reports; a domain without rua= has none.
    assert report(dmarc_mix, "dmarc", "--domain", SHOP, "--out",
                  str(tmp_path)) == ""


# Reports per policy domain (RFC 7489 7.2.1): ORG's record, found at the
# organizational domain, covers mail from SUB_ORG too; OTHER makes a
# second report.
ORG = "org-report.test"  # p=none, rua=
SUB_ORG = "sub." + ORG  # no record of its own
OTHER = "other-report.test"  # p=none, rua=
MAPPED = "::ffff:" + INSIDE


@pytest.fixture
def dmarc_orgs(start_postern, postfix, dns_server, tmp_path):
    lines = harness.records_lines({
        "_dmarc.%s." % ORG: "v=DMARC1; p=none; rua=mailto:dmarc@" + ORG,
        "_dmarc.%s." % OTHER: "v=DMARC1; p=none; rua=mailto:dmarc@" + OTHER,
        "%s." % ORG: "v=spf1 ip4:%s -all" % INSIDE,
        "%s." % OTHER: "v=spf1 ip4:%s -all" % INSIDE})
    # Once per run: a second copy of a DMARC record would void both.
    dns_server.add_records([l for l in lines if l not in dns_server.records])
    db = str(tmp_path / "history.db")
    p = start_postern(postfix, extra="\n".join([
        'dns { forwarders = {"%s"}  timeout = 3s'
        '  nodefault_zones = {"test."} }' % dns_server.address,
        "filter spf { on_fail = accept  on_softfail = accept }",
        "filter dmarc { }",
        'history { path = "%s" }' % db]))
    sends = [(SUB_ORG, INSIDE), (ORG, "IPV6:" + MAPPED),
             (ORG, "[UNAVAILABLE]"), (OTHER, INSIDE)]
    for domain, addr in sends:
        final = send_from(p, "alerts@" + domain, addr)
        assert final.code == 250, (domain, addr, final)
    postfix.wait_idle()
    assert p.stop(timeout=30) == 0, p.log()
    # What the reports are made of: every evaluation is in the history,
    # under the policy domain whose record was applied.
    import sqlite3  # here: the imports above belong to the other tests
    with sqlite3.connect(db) as h:
        got = sorted(h.execute(
            "SELECT domain, policy_domain, client_ip FROM dmarc"))
    assert got == sorted([(SUB_ORG, ORG, INSIDE), (ORG, ORG, MAPPED),
                          (ORG, ORG, "[UNAVAILABLE]"),
                          (OTHER, OTHER, INSIDE)]), got
    p.db = db
    return p


def report_run(p, *args):
    """`postern report dmarc ARGS -c p's config`, whatever its exit
    status; args may be bytes."""
    return subprocess.run([harness.POSTERN, "report", "dmarc", *args, "-c",
                           p.conf], capture_output=True, timeout=60)


def records_of(root):
    return sorted((r.findtext("row/source_ip"), int(r.findtext("row/count")),
                   r.findtext("identifiers/header_from"))
                  for r in root.findall("record"))


def test_dmarc_reports_per_policy_domain(dmarc_orgs, tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    names = report(dmarc_orgs, "dmarc", "--email", "dmarc@reports.test",
                   "--out", str(out)).split()
    base = [os.path.basename(n) for n in names]
    assert [re.sub(r"!\d+!\d+\.xml$", "", b) for b in base] == [
        "reports.test!" + ORG, "reports.test!" + OTHER], names
    assert sorted(os.listdir(out)) == sorted(base)
    for n in names:
        validate(n, tmp_path)

    # The mail of both From domains, each record with its own
    # header_from; the mapped address as IPv4; [UNAVAILABLE] left out.
    org = ET.parse(names[0]).getroot()
    assert org.findtext("policy_published/domain") == ORG
    assert records_of(org) == [(INSIDE, 1, ORG), (INSIDE, 1, SUB_ORG)]
    other = ET.parse(names[1]).getroot()
    assert other.findtext("policy_published/domain") == OTHER
    assert records_of(other) == [(INSIDE, 1, OTHER)]

    # --domain picks a policy domain (case ignored): one report, on
    # standard output.
    r = report_run(dmarc_orgs, "--domain", ORG.upper())
    assert r.returncode == 0, r.stderr
    assert r.stdout.count(b"<?xml") == 1, r.stdout
    (tmp_path / "stdout.xml").write_bytes(r.stdout)
    validate(str(tmp_path / "stdout.xml"), tmp_path)
    root = ET.fromstring(r.stdout)
    assert root.findtext("policy_published/domain") == ORG
    assert records_of(root) == records_of(org)
    # A From domain is no policy domain: it has no report of its own.
    r = report_run(dmarc_orgs, "--domain", SUB_ORG)
    assert (r.returncode, r.stdout) == (0, b""), r


def test_dmarc_report_refusals(dmarc_orgs, tmp_path):
    # Two XML documents in one stream would be no XML.
    r = report_run(dmarc_orgs)
    assert r.returncode == 2, r
    assert r.stdout == b"", r.stdout
    assert b"--out DIR" in r.stderr and b"--domain" in r.stderr, r.stderr

    # The receiver (of --email) is part of the file names.
    out = tmp_path / "reports"
    out.mkdir()
    for email in ["x@../evil", "x@a/b", "x@.hidden"]:
        r = report_run(dmarc_orgs, "--email", email, "--out", str(out))
        assert r.returncode == 2, (email, r)
        assert b"receiver domain" in r.stderr, r.stderr
    assert os.listdir(out) == []
    assert not [n for n in os.listdir(tmp_path) if "!" in n]

    # The report says it is UTF-8.
    for opt, value in [("--org-name", b"Org \xff"),
                       ("--email", b"dmarc\xc3@reports.test")]:
        r = report_run(dmarc_orgs, opt, value, "--domain", ORG)
        assert r.returncode == 2, (opt, r)
        assert b"not valid UTF-8" in r.stderr, r.stderr
        assert r.stdout == b""
