"""SPF (issue 4), end to end.

The OpenSPF test suite (../shared/corpus/spf: rfc4408-tests.yml, the
2009.10 release, and pyspf's test.yml): for each scenario its zone data
is served by a private unbound and a fresh postern (a fresh resolver
cache) is started with every SPF action set to accept, in front of a
FakeUpstream.  Each test presents the scenario's client address with
XCLIENT, sends EHLO with its HELO name and one message from its MAIL
FROM, and reads postern's result from the Received-SPF field the
upstream got.  Scenarios postern gets wrong are marked xfail (strict)
with the reason; the list is in KNOWN below.

Zone data as the suite's own driver (pyspf's testspf.py) serves it: a
TXT-only checker gets copies of the SPF (type 99) records as TXT unless
the name has TXT records of its own ("TXT: NONE" is none); TIMEOUT
leaves every query at the name unanswered but for the types listed
before it (and those at unlisted names under it, where testspf.py
answers NXDOMAIN; no test of the suite asks one).

Policy: postern in front of Postfix with the default actions: a fail is
refused at MAIL with 550 5.7.23 (with the domain's explanation) and
never reaches Postfix, also for the null sender by its HELO name; a
softfail and a pass are delivered with their result in
Authentication-Results and a Received-SPF field above postern's
Received; a DNS timeout is 451 4.7.24; outbound sessions and trusted
forwarders are not checked.

Client addresses other than loopback appear only as XCLIENT data: every
connection is to 127.0.0.1.
"""

import os

import pytest
import yaml

import harness

KEEP = os.environ.get("POSTERN_TEST_KEEP") == "1"
CORPUS = os.environ.get("CORPUS") or os.path.join(
    os.path.dirname(harness.REPO), "shared", "corpus")
SUITE_DIR = os.path.join(CORPUS, "spf")
SUITE_FILES = ("rfc4408-tests.yml", "test.yml")

SERVID = harness.POSTERN_HOSTNAME
RCPT = "bob@" + harness.DOMAIN
DNS_TIMEOUT = "1s"

# The suite's tests postern gets wrong: "file/test" -> the reason.  Each
# runs as xfail(strict=True), so fixing one fails the run until it is
# taken off this list.
_R = "rfc4408-tests.yml/"
_PARSER = ("postern refuses the %s (501 5.5.4) before SPF runs, as its SMTP "
           "parser does for every client")
_CIDR0 = ("libspf2 1.2.10 takes a CIDR length of 0 for 'none given' and "
          "refuses the record (permerror); ip4:/0 and ip6:/0 are rewritten "
          "for it, a/0 and mx/0 have no equivalent")
KNOWN = {
    _R + "toolonglabel": _PARSER % "sender domain with a label over 63 "
                                   "octets",
    _R + "emptylabel": _PARSER % "sender domain with empty labels",
    _R + "nolocalpart": _PARSER % "sender <@domain>, read as a source route",
    _R + "dorky-sentinel": _PARSER % "sender with an unquoted space",
    _R + "invalid-domain-long-via-macro": _PARSER % "EHLO name with a label "
                                                    "over 63 octets",
    _R + "invalid-hello-macro": _PARSER % "EHLO name that is not a domain",
    _R + "macro-mania-in-domain": "the name expands to one with spaces, "
                                  "which postern's resolver does not look "
                                  "up: no match, fail",
    "test.yml/localhost": "clients on 127.0.0.0/8 and ::1 are not checked "
                          "(libspf2 would pass them for any domain)",
    "test.yml/default-modifier": "default= is pyspf's own modifier, not RFC "
                                 "7208's: ignored as unknown",
    "test.yml/default-modifier-harsh": "default= is pyspf's own modifier "
                                       "and 'ambiguous' its own result",
}
KNOWN.update({_R + name: _CIDR0 for name in (
    "a-nxdomain", "a-cidr4-0", "a-cidr4-0-ip6", "a-cidr6-0-ip4",
    "a-cidr6-0-ip4mapped", "a-cidr6-0-ip6", "a-cidr6-0-nxdomain",
    "mx-nxdomain", "mx-cidr4-0", "mx-cidr4-0-ip6", "mx-cidr6-0-ip4",
    "mx-cidr6-0-ip4mapped", "mx-cidr6-0-ip6", "mx-cidr6-0-nxdomain")})


# ------------------------------------------------------------ the zone

class SpfUnbound(harness.Unbound):
    """harness.Unbound with local zones of its own: [(name, type)], where
    type "deny" leaves a query at or under name unanswered (so the asker
    times out) unless local data of its name and type answers it, and
    "static" answers from local data only, as everywhere else.  It
    listens for resolv.conf users on an address of its own, so that it
    can run beside the session's dns_server."""

    def __init__(self):
        pid = os.getpid()
        super().__init__(resolver_address="127.54.%d.%d" % (
            (pid >> 8) & 255, pid % 254 + 1))
        self.zones = []

    def serve(self, records, zones=()):
        """Serve exactly records, in zones."""
        lines = harness.records_lines(records)
        if lines == self.records and list(zones) == self.zones:
            return
        self.zones = list(zones)
        self.set_records(lines)

    def _write_config(self):
        super()._write_config()
        anchor = '    local-zone: "test." nodefault\n'
        zones = "".join('    local-zone: "%s" %s\n' % z for z in self.zones)
        with open(self.conf) as f:
            text = f.read()
        if anchor not in text:
            raise RuntimeError("unbound config template changed")
        with open(self.conf + ".new", "w") as f:
            f.write(text.replace(anchor, anchor + zones))
        os.replace(self.conf + ".new", self.conf)


def zone_name(name):
    """A suite name as a zone-file name: a final dot, and every octet
    outside letters, digits and a few safe marks as \\DDD."""
    name = name if name.endswith(".") else name + "."
    return "".join(c if c.isascii() and (c.isalnum() or c in "-._%:/+=*")
                   else "".join("\\%03d" % b for b in c.encode("utf-8"))
                   for c in name)


def host_name(host):
    return "." if host == "" else zone_name(host)


def rr_lines(name, rtype, value):
    """Zone lines for one zone-data entry."""
    if rtype in ("TXT", "SPF"):
        if value == "NONE":
            return []
        strings = value if isinstance(value, list) else [value]
        return ["%s %s %s" % (name, rtype, " ".join(
            harness.txt_rdata(str(s)) for s in strings))]
    if rtype == "MX":
        return ["%s MX %d %s" % (name, value[0], host_name(value[1]))]
    if rtype in ("PTR", "CNAME"):
        return ["%s %s %s" % (name, rtype, host_name(value))] if value \
            else []
    return ["%s %s %s" % (name, rtype, value)]


def name_lines(name, entries):
    """(zone lines, local zone) for one name's entries, as testspf.py's
    DNSLookup answers them: a name with TIMEOUT in a zone of its own that
    answers only what comes before it; any other in a static zone of its
    own, so that it answers even under a TIMEOUT name."""
    zname = zone_name(name)
    timeout = "TIMEOUT" in entries
    before = entries[:entries.index("TIMEOUT")] if timeout else entries
    own_txt = any(isinstance(e, dict) and "TXT" in e for e in entries)
    lines = []
    for e in before:
        for rtype, value in e.items():
            # No type 99 before a timeout: it would make the name
            # answer "no data" instead of nothing.
            if not (timeout and rtype == "SPF"):
                lines += rr_lines(zname, rtype, value)
    if not own_txt and not timeout:  # testspf.py puts copies last
        for e in entries:
            if isinstance(e, dict) and "SPF" in e:
                lines += rr_lines(zname, "TXT", e["SPF"])
    return lines, (zname, "deny" if timeout else "static")


def scenario_zone(zonedata):
    lines, zones = [], []
    for name, entries in (zonedata or {}).items():
        more, zone = name_lines(name, entries)
        lines += more
        zones.append(zone)
    return list(dict.fromkeys(lines)), list(dict.fromkeys(zones))


# ------------------------------------------------------------ the suite

def load_suite():
    """[(id, scenario key, zonedata, test)] in file order."""
    cases = []
    for fname in SUITE_FILES:
        with open(os.path.join(SUITE_DIR, fname), "rb") as f:
            docs = list(yaml.safe_load_all(f))
        for i, doc in enumerate(docs):
            for name, test in doc["tests"].items():
                cases.append(("%s/%s" % (fname, name), "%s#%d" % (fname, i),
                              doc.get("zonedata"), test))
    return cases


SUITE = load_suite()


def suite_params():
    params = []
    for case_id, key, zonedata, test in SUITE:
        marks = ()
        if case_id in KNOWN:
            marks = pytest.mark.xfail(strict=True, reason=KNOWN[case_id])
        params.append(pytest.param(key, zonedata, test, id=case_id,
                                   marks=marks))
    return params


def dns_section(server):
    """The resolver on server; libunbound's own answers for the test and
    private reverse zones the suite uses are dropped."""
    return ('dns { forwarders = {"%s"}  timeout = %s'
            '  nodefault_zones = {"test.", "168.192.in-addr.arpa."} }' % (
                server.address, DNS_TIMEOUT))


def postern_stopped(p):
    """Stop p; a reason when it did not end cleanly, else None."""
    status = p.stop()
    bad = p.bad_log_lines()
    problem = None
    if status != 0 or bad:
        problem = "postern exit %r, log: %s" % (status, bad or p.log())
    if not KEEP:
        p.cleanup()
    return problem


class SuiteRunner:
    """One postern per scenario, in front of one FakeUpstream: a fresh
    resolver cache for each, since scenarios give the same names other
    records."""

    def __init__(self, dns, sink):
        self.dns = dns
        self.sink = sink
        self.key = None
        self.postern = None

    def enter(self, key, zonedata):
        if key == self.key:
            return self.postern
        self.leave()
        lines, zones = scenario_zone(zonedata)
        self.dns.serve(lines, zones)
        extra = "\n".join([
            dns_section(self.dns),
            "filter spf { on_fail = accept  on_softfail = accept"
            "  on_permerror = accept  on_temperror = accept }"])
        self.postern = harness.Postern(self.sink.address, extra=extra)
        self.postern.start()
        self.key = key
        return self.postern

    def leave(self):
        p, self.postern, self.key = self.postern, None, None
        if p is not None:
            problem = postern_stopped(p)
            assert problem is None, problem


@pytest.fixture(scope="module")
def spf_dns():
    if not harness.Unbound.available():
        pytest.fail("%s missing: run `make deps`" % harness.UNBOUND)
    server = SpfUnbound()
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if not KEEP:
            server.cleanup()


@pytest.fixture(scope="module")
def sink():
    s = harness.FakeUpstream()
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def runner(spf_dns, sink):
    r = SuiteRunner(spf_dns, sink)
    yield r
    r.leave()


def xclient_addr(host):
    return "IPV6:" + host if ":" in host else host


def received_spf_result(raw):
    """The result word of the first Received-SPF field, or a note."""
    fields, _ = harness.split_header_fields(raw)
    for f in fields:
        if harness.field_name(f) == b"received-spf":
            return harness.unfold(f).split(":", 1)[1].split()[0]
    return "no Received-SPF field"


def spf_result(p, sink, test):
    """What postern made of one suite test: the result word, or why
    there is none."""
    seen = len(sink.messages())
    with p.connect() as c:
        c.greeting()
        c.ehlo()
        xc = c.command("XCLIENT ADDR=%s" % xclient_addr(test["host"]))
        assert xc.code == 220, "XCLIENT: got %r, want 220" % xc
        ehlo = c.ehlo(test["helo"])
        if ehlo.code != 250:
            return "EHLO refused: %s" % ehlo.lines[0]
        replies = c.send_mail(test["mailfrom"], [RCPT],
                              harness.make_message())
        c.command("QUIT")
    if replies[0].code != 250:
        return "MAIL refused: %d %s" % (replies[0].code, replies[0].lines[0])
    assert replies[-1].code == 250, "got %r at end of data" % replies[-1]
    return received_spf_result(sink.messages()[seen])


@pytest.mark.parametrize("key,zonedata,test", suite_params())
def test_openspf_suite(runner, sink, key, zonedata, test):
    p = runner.enter(key, zonedata)
    want = test["result"]
    want = want if isinstance(want, list) else [want]
    got = spf_result(p, sink, test)
    assert got in want, "got %s, want %s (%s)" % (
        got, " or ".join(want), test.get("description", "").strip())


# ------------------------------------------------------------ policy

POLICY_ZONE = [
    'pass.spf.test. TXT "v=spf1 ip4:192.0.2.0/24 -all"',
    'fail.spf.test. TXT "v=spf1 -all exp=why.spf.test"',
    'why.spf.test. TXT "%{i} is not a mail server of %{d}"',
    'soft.spf.test. TXT "v=spf1 ~all"',
    'helo.spf.test. TXT "v=spf1 -all"',
    'slow.spf.test. A 192.0.2.99',  # the name is silent: no TXT answer
]
POLICY_SILENT = [("slow.spf.test.", "deny")]
CLIENT = "192.0.2.10"


@pytest.fixture
def policy_zone(spf_dns, runner):
    runner.leave()  # the suite's postern, if the suite ran first
    spf_dns.serve(POLICY_ZONE, [])
    return spf_dns


def start_checker(start_postern, upstream, dns, spf="", networks=""):
    extra = "\n".join([
        dns_section(dns), networks, "filter spf { %s }" % spf,
        'filter authres { authserv_id = "%s" }' % SERVID])
    return start_postern(upstream, extra=extra)


def session(p, sender, client=CLIENT, helo="mail.spf.test"):
    """XCLIENT ADDR=client, EHLO helo and one message from sender.
    Returns the replies: MAIL, RCPT, DATA and the final one (as sent)."""
    with p.connect() as c:
        c.greeting()
        c.ehlo()
        xc = c.command("XCLIENT ADDR=%s" % client)
        assert xc.code == 220, "XCLIENT: got %r" % xc
        assert c.ehlo(helo).code == 250
        replies = c.send_mail(sender, [RCPT],
                              harness.make_message(sender=sender or
                                                   "x@spf.test"))
        c.command("QUIT")
    return replies


def spf_fields(raw):
    """(Authentication-Results fields, Received-SPF fields, names of the
    fields from the top), unfolded."""
    fields, _ = harness.split_header_fields(harness.strip_mta_trace(raw))
    authres = [harness.unfold(f) for f in fields
               if harness.field_name(f) == b"authentication-results"]
    rspf = [harness.unfold(f) for f in fields
            if harness.field_name(f) == b"received-spf"]
    return authres, rspf, [harness.field_name(f) for f in fields]


def test_fail_refused_at_mail_550_5_7_23_never_delivered(
        start_postern, postfix, policy_zone):
    p = start_checker(start_postern, postfix, policy_zone)
    mail = session(p, "a@fail.spf.test")[0]
    assert (mail.code, mail.enhanced) == (550, "5.7.23"), \
        "got %r, want 550 5.7.23" % mail
    assert mail.lines[0] == \
        "5.7.23 192.0.2.10 is not a mail server of fail.spf.test", mail
    postfix.wait_idle()
    assert postfix.messages("bob") == []
    assert postfix.transactions_since_mark() == [], \
        "Postfix opened a transaction for a refused sender"
    assert p.wait_log(r"reject phase=mail from=<a@fail\.spf\.test> "
                      r"filter=spf action=reject")


def test_null_sender_checked_by_helo(start_postern, postfix, policy_zone):
    p = start_checker(start_postern, postfix, policy_zone)
    mail = session(p, "", helo="helo.spf.test")[0]
    assert (mail.code, mail.enhanced) == (550, "5.7.23"), \
        "got %r, want 550 5.7.23" % mail


def test_softfail_delivered_with_results(start_postern, postfix,
                                         policy_zone):
    p = start_checker(start_postern, postfix, policy_zone)
    final = session(p, "a@soft.spf.test")[-1]
    assert final.code == 250, "got %r at end of data" % final
    (raw,) = postfix.wait_messages("bob", 1)
    authres, rspf, names = spf_fields(raw)
    assert authres == ["Authentication-Results: %s; spf=softfail "
                       "smtp.mailfrom=soft.spf.test" % SERVID], authres
    assert rspf == [
        "Received-SPF: softfail (postern.test: domain of transitioning "
        "a@soft.spf.test does not designate 192.0.2.10 as permitted "
        "sender) client-ip=192.0.2.10; envelope-from=\"a@soft.spf.test\"; "
        "helo=mail.spf.test; receiver=postern.test; identity=mailfrom"], \
        rspf
    # RFC 7208 9.1: above the Received field of this receiver.
    assert names.index(b"received-spf") < names.index(b"received"), names
    assert p.wait_log(r"message .*spf=softfail")


def test_pass_delivered(start_postern, postfix, policy_zone):
    p = start_checker(start_postern, postfix, policy_zone)
    assert session(p, "a@pass.spf.test")[-1].code == 250
    (raw,) = postfix.wait_messages("bob", 1)
    authres, rspf, _ = spf_fields(raw)
    assert authres == ["Authentication-Results: %s; spf=pass "
                       "smtp.mailfrom=pass.spf.test" % SERVID], authres
    assert len(rspf) == 1 and rspf[0].startswith("Received-SPF: pass "), \
        rspf


def test_dns_timeout_tempfails_451_4_7_24(start_postern, postfix,
                                          spf_dns, runner):
    runner.leave()
    spf_dns.serve(POLICY_ZONE, POLICY_SILENT)
    p = start_checker(start_postern, postfix, spf_dns)
    mail = session(p, "a@slow.spf.test")[0]
    assert (mail.code, mail.enhanced) == (451, "4.7.24"), \
        "got %r, want 451 4.7.24" % mail
    postfix.wait_idle()
    assert postfix.messages("bob") == []


def test_outbound_session_not_checked(start_postern, postfix, policy_zone):
    p = start_checker(start_postern, postfix, policy_zone,
                      networks='internal_networks = {"192.0.2.0/24"}')
    assert session(p, "a@fail.spf.test")[-1].code == 250
    (raw,) = postfix.wait_messages("bob", 1)
    authres, rspf, _ = spf_fields(raw)
    assert rspf == [] and not any("spf=" in a for a in authres), \
        (authres, rspf)


def test_trusted_forwarder_not_checked(start_postern, postfix, policy_zone):
    p = start_checker(start_postern, postfix, policy_zone,
                      spf='trusted_forwarders = {"192.0.2.0/28"}')
    assert session(p, "a@fail.spf.test")[-1].code == 250
    (raw,) = postfix.wait_messages("bob", 1)
    authres, rspf, _ = spf_fields(raw)
    assert rspf == [] and not any("spf=" in a for a in authres), \
        (authres, rspf)
    assert p.wait_log(r"message .*spf=trusted")
    # One address outside the list is checked again.
    mail = session(p, "a@fail.spf.test", client="192.0.2.16")[0]
    assert mail.code == 550, "got %r, want 550" % mail
