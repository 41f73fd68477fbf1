"""postern as Postfix's before-queue content filter (issue 6):

    client -> front Postfix (smtpd_proxy_filter = postern's listener)
           -> postern -> after-filter Postfix (the session's shared one)
           -> maildir

Two front instances of this file's own, one plain and one with
smtpd_proxy_options = speed_adjust, both pointing at FILTER_PORT.  They
know one user more than the after-filter Postfix (GHOST), so that a
recipient the front accepts can be refused behind postern.

The contract, from Postfix's SMTPD_PROXY_README, postconf(5) and
smtpd_proxy.c, and as these tests observe it (Postfix 3.7):

- Postfix opens one filter connection per transaction: greeting, EHLO
  $smtpd_proxy_ehlo, XFORWARD with the attributes the filter's EHLO
  offers (postern offers NAME ADDR PORT PROTO HELO IDENT SOURCE to
  xclient_networks), the client's MAIL, each RCPT that Postfix itself
  accepted, DATA, the message, ".", and at the end of the transaction
  QUIT.  Any reply to the greeting, EHLO or XFORWARD other than 2xx
  makes Postfix refuse the client with its own 451 4.3.0.

- Without speed_adjust Postfix connects at the client's MAIL and goes
  in lockstep: the filter's reply to MAIL, to each RCPT and to the end
  of data goes to the client as it is.  A recipient refused behind
  postern is refused to the client at its RCPT, the others are
  delivered: a partial rejection the client is told about, as with
  direct SMTP.

- With speed_adjust Postfix answers MAIL, RCPT and DATA itself from its
  own checks, keeps the whole message, and only then replays the
  session to the filter.  The first reply that is not the expected one
  ends the replay: Postfix gives that reply to the client as its answer
  to the end of data, for the whole message, and sends the filter QUIT.
  smtpd_proxy.c says why that is safe: in this mode the filter MUST
  give every recipient of a message the same reply code.  Postern
  relays the upstream's per-recipient replies, so when the after-filter
  MTA refuses one recipient the client hears that refusal for the
  whole message, postern passes the QUIT upstream, and nothing is
  queued: the outcome is consistent (nobody got a message the client
  was told was refused, and the client was told about every
  recipient), but the valid recipients are refused too.  Hence the
  README's advice: the front Postfix must refuse unknown recipients
  itself, and its smtpd_recipient_limit must not exceed postern's
  limits { recipients }, whose 452 would otherwise refuse the whole
  message at every retry.

- A filter verdict (DMARC reject) comes at the end of data: postern
  has answered DATA with 354 itself and read the message before DATA
  goes upstream, so it resets the upstream transaction (RSET), the 5xx
  reaches the client through Postfix, and the after-filter Postfix sees
  MAIL, RCPT, RSET, QUIT: it queues nothing.

Clients reach the front Postfix from loopback and name an outside
address with XCLIENT; Postfix forwards it to postern with XFORWARD.
"""

import os
import re

import pytest

import dkimtools as dt
import harness

RCPT = "bob@" + harness.DOMAIN
GHOST = "ghost@" + harness.DOMAIN  # known to the front Postfix only
SERVID = harness.POSTERN_HOSTNAME
SIGNER = "signer.test"
BANK = "bank.test"  # p=reject
OUTSIDE = "192.0.2.1"  # in no SPF record
INSIDE_NET = "192.0.2.0/24"  # internal_networks of the signing test
OFFICE = "192.0.2.25"  # a host in INSIDE_NET
MODES = {"plain": "", "speed_adjust": "speed_adjust"}
KEEP = os.environ.get("POSTERN_TEST_KEEP") == "1"


# ------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def filter_port():
    return harness.free_port()


@pytest.fixture(scope="module")
def fronts(filter_port):
    """{mode: running front Postfix} for every mode in MODES."""
    started = {}
    try:
        for mode, options in MODES.items():
            pf = harness.Postfix(
                users=harness.USERS + (GHOST.split("@")[0],),
                main_cf={
                    "myhostname": "front.test",
                    "smtpd_proxy_filter": "127.0.0.1:%d" % filter_port,
                    "smtpd_proxy_options": options,
                })
            started[mode] = pf
            pf.start()
        yield started
    finally:
        for pf in started.values():
            pf.stop()
            if not KEEP:
                pf.cleanup()


@pytest.fixture
def front(fronts, request):
    """The front Postfix of the mode given by indirect parametrization,
    its log marked."""
    pf = fronts[request.param]
    pf.reset()
    yield pf
    rep = getattr(request.node, "rep_call", None)
    if rep is None or rep.failed:
        print("---- front postfix (%s) log of this test ----" %
              request.param)
        print(pf.log_since_mark())


def both_modes(fn):
    return pytest.mark.parametrize("front", list(MODES), indirect=True)(fn)


def speed_adjust_only(fn):
    return pytest.mark.parametrize("front", ["speed_adjust"],
                                   indirect=True)(fn)


@pytest.fixture
def filter_postern(start_postern, postfix, filter_port):
    """start(extra, **config) -> postern with its filter listener on
    filter_port and postfix (the after-filter Postfix) as its upstream;
    config as for start_postern (limits=...)."""
    def start(extra="", **config):
        cfg = 'listener filter { address = "127.0.0.1:%d" }\n%s' % (
            filter_port, extra)
        p = start_postern(postfix, extra=cfg, **config)
        assert harness.wait_listening(filter_port, 10, p.proc), p.log()
        return p
    return start


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("filterkeys"))
    k = dt.make_key(d, SIGNER, "f1", "rsa", 2048)
    k.tables = dt.write_tables(d, [(SIGNER, [k])], [k])
    return k


def dns_section(dns_server):
    return ('dns { forwarders = {"%s"}  timeout = 3s'
            '  nodefault_zones = {"test."} }' % dns_server.address)


def sign_config(key, networks):
    keytable, signtable = key.tables
    return "\n".join([
        "internal_networks = {%s}" % ", ".join('"%s"' % n
                                               for n in networks),
        'filter dkim_sign { key_table = "%s"  signing_table = "%s" }'
        % (keytable, signtable)])


def dmarc_config(dns_server):
    return "\n".join([
        dns_section(dns_server),
        "filter dkim_verify { }",
        "filter spf { on_fail = accept  on_softfail = accept }",
        "filter dmarc { }",
        'filter authres { authserv_id = "%s" }' % SERVID])


# ------------------------------------------------------------- helpers

def send(front, sender, rcpts, message, addr):
    """One transaction through the front Postfix after XCLIENT ADDR=addr.
    Returns the replies: MAIL, each RCPT, DATA and the final one."""
    with harness.SMTPClient(front.host, front.port) as c:
        assert c.greeting().code == 220
        assert c.ehlo().code == 250
        xc = c.command("XCLIENT ADDR=%s NAME=client.outside.example" %
                       addr)
        assert xc.code == 220, "got %r to XCLIENT, want 220" % xc
        assert c.ehlo("helo.outside.example").code == 250
        replies = c.send_mail(sender, rcpts, message)
        c.command("QUIT")
    return replies


def after_disconnect(after):
    """The after-filter Postfix's disconnect line for postern's
    connection, with its command counts (mail=1 rcpt=1 rset=1 ...)."""
    m = after.wait_log_since_mark(r"smtpd\[\d+\]: disconnect from .*$")
    assert m, "no disconnect in the after-filter log:\n%s" % \
        after.log_since_mark()
    return m.group(0)


def assert_nothing_queued(after):
    """postern opened a transaction upstream and abandoned it: MAIL and
    RCPT went through, DATA never did, nothing was queued."""
    line = after_disconnect(after)
    assert after.wait_idle(), after.log_since_mark()
    assert len(after.transactions_since_mark()) == 1, after.log_since_mark()
    assert after.queued_since_mark() == [], after.log_since_mark()
    assert " data=" not in line, "got %r, want no DATA upstream" % line
    for user in ("bob", "ghost"):
        assert after.messages(user) == [], "delivered to %s" % user
    return line


# ---------------------------------------------------------------- tests

@both_modes
def test_outbound_mail_is_signed_with_the_forwarded_client(
        front, filter_postern, postfix, key, dns_server):
    """internal_networks holds OFFICE's network, not loopback: the mail
    is signed only because postern took the client from the front
    Postfix's XFORWARD.  The signature verifies with dkimpy,
    opendkim-testmsg and Mail::DKIM; postern's Received header and the
    after-filter Postfix both name OFFICE."""
    dns_server.set_records(harness.records_lines({key.record_name:
                                                  key.txt}))
    p = filter_postern(sign_config(key, [INSIDE_NET]))
    msg = harness.make_message(subject="through the filter",
                               sender="a@" + SIGNER, to=RCPT)
    replies = send(front, "a@" + SIGNER, [RCPT], msg, OFFICE)
    final = replies[-1]
    assert final.code == 250, "got %r, want 250" % final
    raw = dt.delivered_one(postfix)
    [qid] = [q for q, _ in postfix.queued_since_mark()]
    assert "queued as %s" % qid in final.text, \
        "got %r, want the after-filter's queue id %s" % (final, qid)

    assert [s.get("d") for s in dt.signatures(raw)] == [SIGNER], raw
    prefix = harness.resolver_namespace_cmd(
        [], nameserver=dns_server.resolver_address)
    for res in (dt.verify_dkimpy(raw, dt.dns_txt_func(dns_server.host,
                                                      dns_server.port)),
                dt.verify_opendkim(raw, prefix),
                dt.verify_mail_dkim(raw, prefix)):
        assert [r.ok for r in res] == [True], res

    assert p.wait_log(r" xforward client=%s:\d+ name=client\.outside\."
                      r"example helo=helo\.outside\.example ident=\S+ "
                      r"direction=outbound" % re.escape(OFFICE)), p.log()
    received = [harness.unfold(f) for f in dt.header_fields(raw, "Received")]
    mine = [r for r in received if "by %s" % SERVID in r]
    assert len(mine) == 1 and "[%s]" % OFFICE in mine[0], received
    assert re.search(r"%s: client=client\.outside\.example\[%s\]" % (
        qid, re.escape(OFFICE)), postfix.log_since_mark()), \
        postfix.log_since_mark()


@both_modes
def test_spoofed_inbound_mail_is_refused_and_never_queued(
        front, filter_postern, postfix, dns_server):
    """A p=reject domain's From, sent from OUTSIDE: postern's 550 5.7.1
    and its text reach the client through the front Postfix; postern
    reset the upstream transaction, so the after-filter Postfix saw
    MAIL, RCPT, RSET and QUIT and queued nothing.  Same in both modes:
    the verdict comes at the end of data either way."""
    dns_server.set_records(harness.records_lines({
        "_dmarc.%s." % BANK: "v=DMARC1; p=reject",
        "%s." % BANK: "v=spf1 ip4:198.51.100.10 -all",
    }))
    p = filter_postern(dmarc_config(dns_server))
    msg = harness.make_message(subject="spoof", sender="alerts@" + BANK,
                               to=RCPT)
    replies = send(front, "alerts@" + BANK, [RCPT], msg, OUTSIDE)
    assert [r.code for r in replies[:-1]] == [250, 250, 354], replies
    final = replies[-1]
    assert (final.code, final.enhanced) == (550, "5.7.1"), \
        "got %r, want 550 5.7.1" % final
    assert "DMARC policy of %s rejects the message" % BANK in final.text, \
        final.text

    line = assert_nothing_queued(postfix)
    assert " rset=1 " in line and " quit=1 " in line, \
        "got %r, want RSET then QUIT" % line
    assert p.wait_log(r" xforward client=%s:" % re.escape(OUTSIDE)), p.log()
    assert p.wait_log(r"result=rejected filter=dmarc"), p.log()
    assert front.wait_log_since_mark(
        r"proxy-reject: END-OF-MESSAGE: 550 5\.7\.1 "), \
        front.log_since_mark()


@speed_adjust_only
def test_speed_adjust_recipient_refused_behind_postern_refuses_the_message(
        front, filter_postern, postfix):
    """speed_adjust, RCPT bob then ghost: the front Postfix accepted
    both, the after-filter Postfix refuses ghost.  Postfix stops its
    replay at that 550 and gives it to the client for the whole message;
    bob gets nothing either, and the after-filter transaction (bob
    accepted) was abandoned with QUIT: no partial delivery."""
    p = filter_postern()
    msg = harness.make_message(subject="ghost", to=RCPT)
    replies = send(front, "sender@example.org", [RCPT, GHOST], msg, OUTSIDE)
    assert [r.code for r in replies[:-1]] == [250, 250, 250, 354], replies
    final = replies[-1]
    assert (final.code, final.enhanced) == (550, "5.1.1"), final
    assert "<%s>" % GHOST in final.text, final.text

    line = assert_nothing_queued(postfix)
    assert " rcpt=1/2 " in line and " quit=1" in line, line
    assert p.wait_log(r" reject phase=rcpt to=<%s> upstream=\"550 5\.1\.1"
                      % re.escape(GHOST)), p.log()
    assert p.wait_log(r" disconnect reason=quit messages=0 "), p.log()
    assert front.wait_log_since_mark(r"proxy-reject: END-OF-MESSAGE: 550 "
                                     r"5\.1\.1 <%s>" % re.escape(GHOST)), \
        front.log_since_mark()


@pytest.mark.parametrize("front", ["plain"], indirect=True)
def test_plain_recipient_refused_behind_postern_is_refused_at_rcpt(
        front, filter_postern, postfix):
    """The same without speed_adjust: the lockstep carries the
    after-filter's 550 to the client at ghost's RCPT, and bob's copy is
    delivered: a partial rejection the client was told about."""
    filter_postern()
    msg = harness.make_message(subject="ghost", to=RCPT)
    replies = send(front, "sender@example.org", [RCPT, GHOST], msg, OUTSIDE)
    codes = [r.code for r in replies]
    assert codes == [250, 250, 550, 354, 250], replies
    assert "<%s>" % GHOST in replies[2].text, replies[2]
    assert len(dt.delivered_one(postfix)) > 0
    assert postfix.wait_idle()
    assert postfix.messages("ghost") == []


@both_modes
def test_recipient_limit_is_all_or_nothing_with_speed_adjust(
        front, fronts, filter_postern, postfix):
    """postern's limits { recipients = 2 }, three recipients.  Plain: the
    third gets 452 4.5.3 at its RCPT, the first two are delivered.
    speed_adjust: the front Postfix took all three, so postern's 452
    ends the replay and the whole message gets 452: the client will
    retry every recipient, nothing was delivered."""
    filter_postern(limits={"recipients": "2"})
    rcpts = ["bob@" + harness.DOMAIN, "carol@" + harness.DOMAIN,
             "dave@" + harness.DOMAIN]
    msg = harness.make_message(subject="many", to=rcpts[0])
    replies = send(front, "sender@example.org", rcpts, msg, OUTSIDE)
    if front is fronts["plain"]:
        assert [r.code for r in replies] == [250, 250, 250, 452, 354, 250], \
            replies
        assert replies[3].enhanced == "4.5.3", replies[3]
        for user in ("bob", "carol"):
            assert len(postfix.wait_messages(user, 1)) == 1, user
        assert postfix.wait_idle()
        assert postfix.messages("dave") == []
    else:
        assert [r.code for r in replies[:-1]] == [250] * 4 + [354], replies
        assert (replies[-1].code, replies[-1].enhanced) == (452, "4.5.3"), \
            replies[-1]
        line = assert_nothing_queued(postfix)
        assert " rcpt=2 " in line, line
        for user in ("carol", "dave"):
            assert postfix.messages(user) == []


def test_xforward_only_from_xclient_networks(start_postern, postfix):
    """XFORWARD is offered to, and taken from, xclient_networks only:
    anyone else could make postern sign its mail (or spoof SPF)."""
    p = start_postern(postfix, xclient_networks=("192.0.2.0/24",))
    with p.connect() as c:
        assert c.greeting().code == 220
        ehlo = c.ehlo()
        assert not any(l.startswith("XFORWARD") for l in ehlo.lines), ehlo
        xf = c.command("XFORWARD ADDR=192.0.2.25")
        assert (xf.code, xf.enhanced) == (550, "5.7.0"), xf
        c.command("QUIT")
    q = start_postern(postfix)
    with q.connect() as c:
        assert c.greeting().code == 220
        ehlo = c.ehlo()
        assert "XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE" in \
            ehlo.lines, ehlo
        xf = c.command("XFORWARD ADDR=192.0.2.25 FOO=bar")
        assert (xf.code, xf.enhanced) == (501, "5.5.4"), xf
        xf = c.command("XFORWARD ADDR=192.0.2.25 PROTO=ESMTPSA "
                       "SOURCE=REMOTE IDENT=4KQ2f")
        assert (xf.code, xf.enhanced) == (250, "2.0.0"), xf
        assert c.command("MAIL FROM:<a@example.org>").code == 250
        xf = c.command("XFORWARD ADDR=192.0.2.26")
        assert (xf.code, xf.enhanced) == (503, "5.5.1"), xf
        c.command("QUIT")
    assert q.wait_log(r" xforward client=192\.0\.2\.25:\d+ .*ident=4KQ2f "
                      r"direction=inbound"), q.log()
