#!/usr/bin/python3
"""Show postern relaying and DKIM-signing one real message to a real Postfix.

Generates an RSA-2048 and an Ed25519 key with `postern keygen`, publishes
their records in a private unbound (the integration harness's test DNS
server; nothing is resolved on the network), starts a private Postfix and
postern in front of it, with 127.0.0.0/8 as an internal network (mail
from there is outbound and gets signed) and dkim_sign as the last
filter.  Sends a multipart message with smtplib, waits for the delivery
and prints what a postmaster wants to see: the keys and their DNS
records, postern's configuration, the SMTP replies the client got,
postern's log lines for the session, Postfix's log, the message as
Postfix stored it, its DKIM-Signature fields, and the verdicts of two
verifiers that share no code with postern's signing path: python3-dkim
(key records fetched from the test unbound with dnspython) and
opendkim-testmsg (libopendkim, reading /etc/resolv.conf, run in a
private mount namespace whose resolv.conf names the test unbound).  Then
stops everything.

Then inbound mail (issue 4): bank.test publishes an SPF record that
allows one address and a DMARC policy of p=reject, and two more posterns
(chain received, dkim_verify, spf, dmarc, authres; no internal networks)
stand in front of the same Postfix.  A phishing message From: and MAIL
FROM bank.test is presented with XCLIENT as coming from an address
outside the SPF record: the first postern (spf on_fail = reject) refuses
it at MAIL with 550 5.7.23; the second (spf on_fail = tag) lets SPF
record the fail and DMARC refuses it at end of data with 550 5.7.1.  For
each the demo prints the SMTP dialogue, postern's log lines, Postfix's
log and the (empty) mailbox.  The same message presented from the
authorized address is delivered with spf=pass and dmarc=pass in
Authentication-Results.  The addresses given with XCLIENT are only data:
every connection is to 127.0.0.1, and SPF is not checked for 127.0.0.0/8
clients, hence XCLIENT.

Last, spam (issue 5): one more postern with `filter spam` loading
postern's own rules (contrib/rules) and Debian's SpamAssassin rules
(/usr/share/spamassassin, after the .pre files in /etc/spamassassin that
load its plugins).
`postern score` shows how a pill-spam message scores, rule by rule;
sent through postern it is refused at end of data with 550 5.7.1 and
never reaches Postfix.  A milder one is delivered tagged: X-Spam-Flag,
X-Spam-Status with the rules hit, a [SPAM] subject.

Run by `make demo`; exits 1 when an expectation fails (the outbound
message not delivered or a signature not verifying; a spoofed message
not refused as described or delivered; the authorized one not delivered
with both passes); a summary of every check ends the output.
"""

import json
import os
import re
import smtplib
import socket
import subprocess
import sys
import textwrap
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "integration"))

import dkimtools as dt  # noqa: E402
import harness  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SENDER = "alice@example.org"
RECIPIENT = "bob@example.net"
HELO = "workstation.example.org"
SIGNING_DOMAIN = "example.org"
# (key table name = selector, keygen -t, keygen -b)
KEYS = (("rsa2048", "rsa", "2048"), ("ed25519", "ed25519", None))
AUTHSERV_ID = harness.POSTERN_HOSTNAME
OPENDKIM_TESTMSG = "/usr/sbin/opendkim-testmsg"


def build_message():
    msg = EmailMessage()
    msg["From"] = "Alice Example <%s>" % SENDER
    msg["To"] = "Bob Example <%s>" % RECIPIENT
    msg["Subject"] = "Quarterly report (demo via postern)"
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content(textwrap.dedent("""\
        Hi Bob,

        the quarterly figures are attached.  Numbers are up 4 % on the
        previous quarter; details in the CSV.

        Regards,
        Alice
        """))
    msg.add_alternative(textwrap.dedent("""\
        <html><body>
        <p>Hi Bob,</p>
        <p>the quarterly figures are attached.  Numbers are up
        <b>4&nbsp;%</b> on the previous quarter.</p>
        <p>Regards,<br>Alice</p>
        </body></html>
        """), subtype="html")
    csv = "quarter,revenue\nQ1,1200\nQ2,1248\n"
    msg.add_attachment(csv.encode(), maintype="text", subtype="csv",
                       filename="figures.csv")
    return msg


class Conversation:
    """smtplib with every command and reply recorded."""

    def __init__(self):
        self.lines = []

    def said(self, command):
        self.lines.append("C: " + command)

    def got(self, code, text):
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        parts = text.split("\n") or [""]
        for i, part in enumerate(parts):
            sep = "-" if i < len(parts) - 1 else " "
            self.lines.append("S: %d%s%s" % (code, sep, part))

    def send(self, host, port, msg, sender=SENDER, rcpts=(RECIPIENT,)):
        """One transaction; msg is an EmailMessage or bytes.  The final
        reply is kept as .final = (code, text)."""
        smtp = smtplib.SMTP(timeout=30)
        code, text = smtp.connect(host, port)
        client_port = smtp.sock.getsockname()[1]
        self.got(code, text)
        self.said("EHLO " + HELO)
        self.got(*smtp.ehlo(HELO))
        self.said("MAIL FROM:<%s>" % sender)
        self.got(*smtp.mail(sender))
        for rcpt in rcpts:
            self.said("RCPT TO:<%s>" % rcpt)
            self.got(*smtp.rcpt(rcpt))
        if not isinstance(msg, bytes):
            msg = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
        self.said("DATA")
        self.said("  ... %d octets of message, then '.' ..." % len(msg))
        try:
            self.final = smtp.data(msg)
        except smtplib.SMTPDataError as e:
            self.final = (e.smtp_code, e.smtp_error)
        self.got(*self.final)
        if isinstance(self.final[1], bytes):
            self.final = (self.final[0], self.final[1].decode(
                "utf-8", "replace"))
        self.said("QUIT")
        self.got(*smtp.quit())
        return client_port


def section(title):
    print()
    print("=" * 72)
    print(title)
    print("=" * 72)


# ------------------------------------------------------------------ keys

class Key:
    """One key made by `postern keygen`: its selector, file and the zone
    line keygen printed."""

    def __init__(self, directory, selector, ktype, bits):
        argv = [harness.POSTERN, "keygen", "-d", SIGNING_DOMAIN, "-s",
                selector, "-t", ktype, "-D", directory]
        if bits:
            argv += ["-b", bits]
        res = subprocess.run(argv, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, timeout=60)
        if res.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (
                " ".join(argv), res.returncode, res.stderr.strip()))
        self.selector = selector
        self.ktype = ktype
        self.argv = argv
        self.path = os.path.join(directory, selector + ".private")
        self.zone_line = " ".join(res.stdout.split())
        self.stderr = res.stderr.strip()

    def keytable_line(self):
        return "%s %s:%s:%s" % (self.selector, SIGNING_DOMAIN,
                                self.selector, self.path)


def make_keys(directory):
    keys = [Key(directory, *k) for k in KEYS]
    keytable = os.path.join(directory, "keytable")
    signtable = os.path.join(directory, "signingtable")
    with open(keytable, "w") as f:
        f.write("".join(k.keytable_line() + "\n" for k in keys))
    with open(signtable, "w") as f:
        f.write("%s %s\n" % (SIGNING_DOMAIN,
                             ",".join(k.selector for k in keys)))
    return keys, keytable, signtable


def show_keys(keys, keytable, signtable, unbound):
    section("DKIM keys (postern keygen) and their DNS records")
    for k in keys:
        mode = os.stat(k.path).st_mode & 0o777
        print("$ %s" % " ".join(k.argv))
        print("  -> %s (mode %04o)" % (k.path, mode))
        for line in textwrap.wrap(k.zone_line, 70, break_long_words=True):
            print("     " + line)
    for path in (keytable, signtable):
        print("%s:" % path)
        with open(path) as f:
            for line in f:
                print("  " + line.rstrip("\n"))
    print("Records served by the test unbound on %s (and %s:53)." % (
        unbound.address, unbound.resolver_address))


def resolver_address():
    """An address in 127/8 whose port 53 is free for UDP and TCP: the
    harness's usual 127.0.0.153 unless something (a concurrent test run)
    holds it."""
    for last in range(153, 200):
        addr = "127.0.0.%d" % last
        if all(_bindable(addr, kind)
               for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM)):
            return addr
    raise RuntimeError("no free port 53 on 127.0.0.153-199")


def _bindable(addr, kind):
    s = socket.socket(socket.AF_INET, kind)
    try:
        if kind == socket.SOCK_STREAM:
            # Old connections in TIME_WAIT do not count; a listener does.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, 53))
        return True
    except OSError:
        return False
    finally:
        s.close()


def postern_extra(unbound, keytable, signtable):
    return "\n".join([
        'internal_networks = {"127.0.0.0/8"}',
        'dns { forwarders = {"%s"}  timeout = 3s'
        '  nodefault_zones = {"test."} }' % unbound.address,
        "filter dkim_verify { }",
        'filter authres { authserv_id = "%s" }' % AUTHSERV_ID,
        'filter dkim_sign { key_table = "%s"  signing_table = "%s" }' % (
            keytable, signtable),
    ])


# ---------------------------------------------------------- verification

def crlf(raw):
    """The stored message (LF line ends) as it travels (CRLF)."""
    raw = re.sub(rb"\r?\n", b"\r\n", raw)
    return raw if raw.endswith(b"\r\n") else raw + b"\r\n"


def dkim_fields(raw):
    fields, _ = harness.split_header_fields(raw)
    return [f for f in fields if harness.field_name(f) == b"dkim-signature"]


def tags_of(field):
    value = harness.unfold(field).split(":", 1)[1]
    tags = {}
    for part in value.split(";"):
        if "=" in part:
            k, v = part.split("=", 1)
            tags[k.strip()] = re.sub(r"\s+", "", v)
    return tags


def describe(i, tags):
    return "signature %d (%s, d=%s, s=%s)" % (i + 1, tags.get("a"),
                                             tags.get("d"), tags.get("s"))


def dns_txt_func(unbound):
    """python3-dkim's key lookups, asked of the test unbound with
    dnspython (not the system resolver)."""
    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [unbound.host]
    resolver.port = unbound.port

    def get_txt(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        try:
            ans = resolver.resolve(name, "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except dns.exception.DNSException:
            return None
        return b"".join(ans[0].strings)
    return get_txt


def verify_dkimpy(message, tags, unbound):
    """One line per signature; returns the number that failed."""
    import dkim

    dnsfunc = dns_txt_func(unbound)
    failed = 0
    for i, t in enumerate(tags):
        d = dkim.DKIM(message, minkey=1024)
        try:
            ok = bool(d.verify(idx=i, dnsfunc=dnsfunc))
            why = "" if ok else "signature does not verify"
        except dkim.DKIMException as e:
            ok, why = False, str(e)
        failed += not ok
        print("python3-dkim: %s: %s%s" % (describe(i, t),
                                          "VALID" if ok else "INVALID",
                                          " (%s)" % why if why else ""))
    return failed


def without_other_signatures(message, keep):
    fields, rest = harness.split_header_fields(message)
    out, seen = [], -1
    for f in fields:
        if harness.field_name(f) == b"dkim-signature":
            seen += 1
            if seen != keep:
                continue
        out.append(f)
    return b"".join(out) + rest


def opendkim_testmsg(message, unbound):
    """(ok, text): libopendkim's verdict; it prints nothing and exits 0
    when the message verifies."""
    cmd = harness.resolver_namespace_cmd([OPENDKIM_TESTMSG],
                                         nameserver=unbound.resolver_address)
    res = subprocess.run(cmd, input=message, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=60)
    text = res.stdout.decode("utf-8", "replace").strip()
    return res.returncode == 0 and not text, "exit %d%s" % (
        res.returncode, ": " + text if text else ", no error reported")


def verify_opendkim(message, tags, unbound):
    """The whole message first (libopendkim reports on the message as a
    whole), then each signature alone, so that both are known to pass.
    Returns the number of failed checks."""
    failed = 0
    ok, text = opendkim_testmsg(message, unbound)
    failed += not ok
    print("opendkim-testmsg: whole message (%d signatures): %s (%s)" % (
        len(tags), "VALID" if ok else "INVALID", text))
    for i, t in enumerate(tags):
        ok, text = opendkim_testmsg(without_other_signatures(message, i),
                                    unbound)
        failed += not ok
        print("opendkim-testmsg: %s alone: %s (%s)" % (
            describe(i, t), "VALID" if ok else "INVALID", text))
    return failed


def check_signatures(raw, path, unbound):
    """Print the signatures and the verifiers' verdicts; 0 if both
    signatures are there and every check passed."""
    fields = dkim_fields(raw)
    section("DKIM-Signature fields postern added (as delivered)")
    for f in fields:
        sys.stdout.write(f.decode("utf-8", "replace"))
    tags = [tags_of(f) for f in fields]
    algs = sorted(t.get("a", "?") for t in tags)
    want = ["ed25519-sha256", "rsa-sha256"]
    print("\n%d signature(s): %s (want one each of %s)" % (
        len(fields), ", ".join(algs) or "none", " and ".join(want)))

    section("Independent verification of %s" % path)
    print("(key records from the test unbound; the file's LF line ends "
          "are given back as CRLF, as the message travelled)\n")
    message = crlf(raw)
    failed = verify_dkimpy(message, tags, unbound)
    print()
    failed += verify_opendkim(message, tags, unbound)
    if algs != want:
        failed += 1
    print()
    if failed:
        print("DKIM: %d check(s) FAILED" % failed)
        return 1
    print("DKIM: both signatures verified by both verifiers")
    return 0


# --------------------------------------------------------------- inbound

BANK = "bank.test"
BANK_SENDER = "security@" + BANK
BANK_HELO = "mail." + BANK
INBOUND_USER = "carol"
INBOUND_RCPT = "%s@%s" % (INBOUND_USER, harness.DOMAIN)
# Documentation addresses (RFC 5737), given to postern as XCLIENT data
# only: no packet goes to or comes from them.
BANK_MTA = "198.51.100.10"  # the one address bank.test's SPF allows
SPOOFER = "203.0.113.66"  # anywhere else
BANK_RECORDS = {
    BANK + ".": "v=spf1 ip4:%s -all" % BANK_MTA,
    "_dmarc.%s." % BANK: "v=DMARC1; p=reject",
}


class Checks:
    """Each expectation, printed as it is checked and summed up last."""

    def __init__(self):
        self.results = []

    def expect(self, ok, what, got=None):
        ok = bool(ok)
        self.results.append((ok, what))
        print("  [%s] %s%s" % ("ok" if ok else "FAILED", what,
                                "" if ok or got is None else
                                "; got %s" % got))
        return ok

    def failed(self):
        return [what for ok, what in self.results if not ok]

    def summary(self):
        section("Summary")
        for ok, what in self.results:
            print("  [%s] %s" % ("ok" if ok else "FAILED", what))
        bad = self.failed()
        print("\n%d of %d checks passed%s" % (
            len(self.results) - len(bad), len(self.results),
            "" if not bad else "; %d FAILED" % len(bad)))
        return 1 if bad else 0


def phishing_message():
    return harness.make_message(
        subject="Urgent: confirm your account details",
        sender="Bank.test Security <%s>" % BANK_SENDER, to=INBOUND_RCPT,
        body=textwrap.dedent("""\
            Dear customer,

            we noticed unusual activity on your account.  Please confirm
            your details within 24 hours at the address below.

            Bank.test Security
            """).replace("\n", "\r\n").encode())


def inbound_extra(unbound, spf_on_fail):
    return "\n".join([
        'dns { forwarders = {"%s"}  timeout = 3s'
        '  nodefault_zones = {"test."} }' % unbound.address,
        "filter dkim_verify { }",
        "filter spf { on_fail = %s }" % spf_on_fail,
        "filter dmarc { }",
        'filter authres { authserv_id = "%s" }' % AUTHSERV_ID,
    ])


class Dialogue:
    """One inbound session, command by command, every line recorded:
    EHLO, XCLIENT ADDR=, EHLO again, one transaction up to its first
    refusal, QUIT.  replies maps MAIL, RCPT, DATA and "." (end of
    data) to the reply each got."""

    def __init__(self, postern, client_addr, message):
        self.lines = []
        self.replies = {}
        with postern.connect() as c:
            self.client_port = c.local_port
            self.c = c
            self._got(c.greeting())
            self._cmd("EHLO " + BANK_HELO)
            self._cmd("XCLIENT ADDR=%s" % client_addr)
            self._cmd("EHLO " + BANK_HELO)
            self._transaction(message)
            self._cmd("QUIT")
            self.c = None

    def _got(self, reply):
        raw = reply.raw_lines
        if len(raw) > 3:  # the EHLO extensions, shown in full above
            raw = [raw[0], "%s... %d more, as above ..." % (
                raw[1][:4], len(raw) - 2), raw[-1]]
        self.lines += ["S: " + line for line in raw]
        return reply

    def _cmd(self, line):
        self.lines.append("C: " + line)
        return self._got(self.c.command(line))

    def _transaction(self, message):
        verbs = (("MAIL", "MAIL FROM:<%s>" % BANK_SENDER),
                 ("RCPT", "RCPT TO:<%s>" % INBOUND_RCPT), ("DATA", "DATA"))
        for verb, line in verbs:
            self.replies[verb] = reply = self._cmd(line)
            if reply.code >= 400:
                return
        self.lines.append("C:   ... %d octets of message, then '.' ..." %
                          len(message))
        self.c.send(harness.dot_stuff(message))
        self.replies["."] = self._got(self.c.read_reply(timeout=60))

    def code(self, verb):
        reply = self.replies.get(verb)
        if reply is None:
            return None
        return (reply.code, reply.enhanced)

    def text(self, verb):
        reply = self.replies.get(verb)
        return reply.text if reply else "(not sent)"


def show_inbound_setup(unbound, postfix, posterns):
    section("Inbound: bank.test's records, and two posterns for inbound "
            "mail")
    for line in harness.records_lines(BANK_RECORDS):
        print("  " + line)
    print("served by the test unbound on %s.\n" % unbound.address)
    print(textwrap.fill(
        "bank.test's mail goes out from %s only; %s is a spoofer.  The "
        "test client connects to 127.0.0.1 and presents either address "
        "with XCLIENT ADDR= (no traffic goes to them): postern does not "
        "check SPF for clients on 127.0.0.0/8." % (BANK_MTA, SPOOFER), 72))
    for name, p in posterns:
        print("\npostern %s:%d (%s) -> Postfix %s:" % (
            p.host, p.port, name, postfix.address))
        print("the configuration above without internal_networks (every "
              "client is\ninbound) and with these filters:")
        text = p.config_text
        print("  " + "\n  ".join(
            text[text.index("filter received"):].rstrip().split("\n")))


def run_session(title, postfix, postern, client_addr):
    """Send the phishing message from client_addr; print the dialogue,
    postern's and Postfix's log lines of the session.  Returns the
    Dialogue."""
    postfix.mark_log()
    section(title)
    d = Dialogue(postern, client_addr, phishing_message())
    print("\n".join(d.lines))
    postern.wait_log(r"disconnect", timeout=5)
    postfix.wait_idle(timeout=15)
    print("\npostern's log for this session:")
    print("\n".join(postern.session_lines(d.client_port)) or
          "(none found; whole log:)\n" + postern.log())
    print("\nPostfix's log for this session:")
    print(postfix.log_since_mark().rstrip() or "(nothing: Postfix was "
          "never contacted)")
    return d


def expect_refused(checks, postfix, postern, d, verb, want, reason,
                   log_regex):
    """The checks of one spoofed session: the reply to verb, the reason
    in postern's log, and an empty mailbox and queue."""
    print()
    got = d.code(verb)
    checks.expect(got == want and reason in d.text(verb),
                  "%s refused at %s with %d %s (%s)" % (
                      SPOOFER, "end of data" if verb == "." else verb,
                      want[0], want[1], reason), d.text(verb))
    sid = postern.session_id(d.client_port)
    checks.expect(sid and postern.wait_log(r"%s .*%s" % (
        re.escape(sid), log_regex)), "postern logged the reason: %s" %
        log_regex.replace("\\", ""))
    msgs = postfix.messages(INBOUND_USER)
    checks.expect(not msgs and not postfix.queued_since_mark(),
                  "nothing delivered to %s (maildir %s) nor queued" % (
                      INBOUND_RCPT, postfix.maildir(INBOUND_USER)),
                  "%d message(s), queued %r" % (
                      len(msgs), postfix.queued_since_mark()))


def results_of(raw):
    """{method: (result, props)} of postern's Authentication-Results."""
    fields = dt.authres_fields(dt.crlf(raw), AUTHSERV_ID)
    if len(fields) != 1:
        return {}
    return {r.method: (r.result, r.props) for r in
            dt.parse_authres(fields[0])}


def show_authorized(checks, postfix, postern):
    before = len(postfix.messages(INBOUND_USER))
    d = run_session("Inbound 3: the same message from %s, which SPF "
                    "allows" % BANK_MTA, postfix, postern, BANK_MTA)
    msgs = postfix.wait_messages(INBOUND_USER, before + 1,
                                 timeout=30)[before:]
    print("\nThe message as delivered to %s (maildir %s):" % (
        INBOUND_RCPT, postfix.maildir(INBOUND_USER)))
    if msgs:
        sys.stdout.write(msgs[0].decode("utf-8", "replace"))
    else:
        print("(nothing delivered)")
    print()
    checks.expect(d.code(".") and d.code(".")[0] == 250,
                  "%s: accepted at end of data (250)" % BANK_MTA,
                  d.text("."))
    checks.expect(len(msgs) == 1, "delivered to %s" % INBOUND_RCPT,
                  "%d message(s)" % len(msgs))
    res = results_of(msgs[0]) if msgs else {}
    spf = res.get("spf", ("none", {}))
    dmarc = res.get("dmarc", ("none", {}))
    checks.expect(spf[0] == "pass" and BANK in spf[1].get(
        "smtp.mailfrom", ""), "Authentication-Results: spf=pass "
        "smtp.mailfrom=%s" % BANK, spf)
    checks.expect(dmarc == ("pass", {"header.from": BANK}),
                  "Authentication-Results: dmarc=pass header.from=%s" %
                  BANK, dmarc)


def inbound(checks, postfix, unbound):
    strict = harness.Postern(postfix.address,
                             extra=inbound_extra(unbound, "reject"))
    tagging = harness.Postern(postfix.address,
                              extra=inbound_extra(unbound, "tag"))
    try:
        strict.start()
        tagging.start()
        show_inbound_setup(unbound, postfix, [("spf on_fail = reject", strict),
                                     ("spf on_fail = tag", tagging)])
        inbound_sessions(checks, postfix, strict, tagging)
    finally:
        for p in (strict, tagging):
            status = p.stop()
            checks.expect(status == 0, "postern %s:%d stopped cleanly" % (
                p.host, p.port), "exit status %r" % status)
            p.cleanup()


def inbound_sessions(checks, postfix, strict, tagging):
    d = run_session("Inbound 1: From %s, sent from %s; spf on_fail = "
                    "reject" % (BANK, SPOOFER), postfix, strict, SPOOFER)
    expect_refused(checks, postfix, strict, d, "MAIL", (550, "5.7.23"),
                   "domain of %s does not designate %s as permitted "
                   "sender" % (BANK, SPOOFER),
                   r"reject phase=mail from=<%s> filter=spf action=reject"
                   % re.escape(BANK_SENDER))
    checks.expect(not postfix.transactions_since_mark(),
                  "Postfix never got MAIL FROM (no transaction opened)",
                  postfix.transactions_since_mark())
    d = run_session("Inbound 2: the same from %s; spf on_fail = tag, "
                    "DMARC decides" % SPOOFER, postfix, tagging, SPOOFER)
    print()
    checks.expect(d.code("MAIL") == (250, "2.1.0"),
                  "spf on_fail = tag: MAIL accepted, the fail left to DMARC",
                  d.text("MAIL"))
    expect_refused(checks, postfix, tagging, d, ".", (550, "5.7.1"),
                   "DMARC policy of %s rejects the message" % BANK,
                   r"dmarc from=%s result=fail policy=reject "
                   r"disposition=reject spf=fail dkim=fail source=%s" % (
                       re.escape(BANK), re.escape(SPOOFER)))
    show_authorized(checks, postfix, strict)


# ------------------------------------------------------------------ spam

SA_RULES = "/usr/share/spamassassin"
SPAM_USER = "bob"


def spam_extra():
    """SpamAssassin's .pre files (its plugins and compat settings), its
    rules, then postern's (last, so that their fact scores count)."""
    pre = sorted(os.path.join("/etc/spamassassin", n)
                 for n in os.listdir("/etc/spamassassin")
                 if n.endswith(".pre"))
    rules = pre + [SA_RULES, os.path.join(ROOT, "contrib", "rules")]
    return "filter spam {\n\trules = {%s}\n" \
        "\ttag_score = 5.0  reject_score = 15.0\n" \
        '\tsubject_tag = "[SPAM]"\n}' % ",\n\t\t".join(
            '"%s"' % r for r in rules)


def pill_spam():
    return harness.make_message(
        subject="Cheap VIAGRA and CIALIS - 80% OFF!!!",
        sender="Pharmacy Outlet <offers@pharma-outlet.top>",
        to="undisclosed-recipients:;",
        body=textwrap.dedent("""\
            Dear friend,

            Buy viagra and cialis online, no prescription needed.
            100% guaranteed, act now: limited time offer!

            Order here: http://203.0.113.77/shop/?id=8812
            To be removed from our list reply with REMOVE.
            """).replace("\n", "\r\n").encode())


def mild_spam():
    return harness.make_message(
        subject="URGENT: your account will be suspended",
        sender="Account Team <security@mail-check.top>",
        to=SPAM_USER + "@example.net",
        body=textwrap.dedent("""\
            Dear customer,

            your account has been suspended. Verify your account within
            24 hours: https://bit.ly/3xYzAbc
            """).replace("\n", "\r\n").encode())


def show_score(postern, message, workdir):
    path = os.path.join(workdir, "pill-spam.eml")
    with open(path, "wb") as f:
        f.write(message)
    r = subprocess.run([harness.POSTERN, "score", "-c", postern.conf, path],
                       capture_output=True, text=True, timeout=60)
    print("$ postern score -c %s %s" % (postern.conf, path))
    sys.stdout.write(r.stdout + r.stderr)
    return r.returncode


def spam_session(postfix, postern, message):
    postfix.mark_log()
    conv = Conversation()
    client_port = conv.send(postern.host, postern.port, message,
                            sender="offers@pharma-outlet.top",
                            rcpts=[SPAM_USER + "@example.net"])
    print("\n".join(conv.lines))
    postern.wait_log(r"disconnect", timeout=5)
    postfix.wait_idle(timeout=15)
    print("\npostern's log for this session:")
    print("\n".join(postern.session_lines(client_port)) or postern.log())
    return conv


def show_report(checks, postern, db):
    """`postern report` on what the spam postern kept in its history."""
    section("What postern kept: postern report (history %s)" % db)
    r = subprocess.run([harness.POSTERN, "report", "-c", postern.conf],
                       capture_output=True, text=True, timeout=60)
    print("$ postern report -c %s" % postern.conf)
    sys.stdout.write(r.stdout + r.stderr)
    j = subprocess.run([harness.POSTERN, "report", "-c", postern.conf,
                        "--format", "json"],
                       capture_output=True, text=True, timeout=60)
    got = json.loads(j.stdout) if j.returncode == 0 else {}
    total = got.get("total", {})
    errors = [(e["reason"], e["code"], e["count"])
              for e in got.get("errors", [])]
    checks.expect(total.get("received") == 2 and
                  total.get("relayed") == 1 and
                  total.get("rejected") == 1 and
                  errors == [("spam", 550, 1)],
                  "report: 2 received, 1 relayed, 1 rejected as spam (550)",
                  "%s %s" % (total, errors))


def spam(checks, postfix, workdir):
    db = os.path.join(workdir, "history.db")
    postern = harness.Postern(postfix.address, extra=spam_extra() +
                              '\nhistory { path = "%s" }' % db)
    try:
        postern.start()
        section("Spam: postern with its own rules and SpamAssassin's")
        print("postern %s:%d -> Postfix %s, every client inbound:" % (
            postern.host, postern.port, postfix.address))
        check = subprocess.run([harness.POSTERN, "-t", "-c", postern.conf],
                               capture_output=True, text=True, timeout=60)
        print("\n".join(l for l in check.stdout.splitlines()
                        if l.startswith(("filter spam", "spam "))))
        section("How the pill spam scores (postern score)")
        show_score(postern, pill_spam(), workdir)
        before = len(postfix.messages(SPAM_USER))
        section("Spam 1: the pill spam sent through postern")
        conv = spam_session(postfix, postern, pill_spam())
        final = conv.final
        checks.expect(final is not None and final[0] == 550 and
                      "rejected as spam" in final[1],
                      "pill spam refused at end of data with 550 5.7.1",
                      final)
        checks.expect(len(postfix.messages(SPAM_USER)) == before,
                      "pill spam not delivered")
        section("Spam 2: an account-phishing message, tagged")
        spam_session(postfix, postern, mild_spam())
        msgs = postfix.wait_messages(SPAM_USER, before + 1,
                                     timeout=30)[before:]
        raw = dt.crlf(msgs[0]) if msgs else b""
        print("\nHeader of the message as delivered:")
        sys.stdout.write(raw.split(b"\r\n\r\n")[0].decode(
            "utf-8", "replace") + "\n")
        checks.expect(b"X-Spam-Flag: YES" in raw and
                      b"Subject: [SPAM] URGENT" in raw,
                      "phishing message delivered with X-Spam-Flag: YES "
                      "and a [SPAM] subject")
    finally:
        status = postern.stop()
        checks.expect(status == 0, "spam postern stopped cleanly",
                      "exit status %r" % status)
    try:
        show_report(checks, postern, db)
    finally:
        postern.cleanup()


# ------------------------------------------------------------------ main

def newest_file(maildir):
    new = os.path.join(maildir, "new")
    names = sorted(os.listdir(new),
                   key=lambda n: os.stat(os.path.join(new, n)).st_mtime_ns)
    return os.path.join(new, names[-1])


def run(postfix, unbound, workdir):
    keys, keytable, signtable = make_keys(workdir)
    unbound.set_records([k.zone_line for k in keys] +
                        harness.records_lines(BANK_RECORDS))
    checks = Checks()
    postern = harness.Postern(postfix.address,
                              extra=postern_extra(unbound, keytable,
                                                  signtable)).start()
    try:
        outbound = relay(postfix, postern, unbound, keys, keytable,
                         signtable)
    finally:
        status = postern.stop()
        postern.cleanup()
    print()
    checks.expect(outbound == 0, "outbound: %s delivered, both DKIM "
                  "signatures verified by both verifiers" % RECIPIENT)
    checks.expect(status == 0, "outbound postern stopped cleanly",
                  "exit status %r" % status)
    inbound(checks, postfix, unbound)
    spam(checks, postfix, workdir)
    return checks.summary()


def relay(postfix, postern, unbound, keys, keytable, signtable):
    print("Postfix %s (queue in %s)" % (postfix.address, postfix.base))
    print("postern %s:%d -> upstream %s" % (
        postern.host, postern.port, postfix.address))
    print("unbound %s and %s:53 (test DNS)" % (unbound.address,
                                              unbound.resolver_address))
    show_keys(keys, keytable, signtable, unbound)
    section("postern's configuration (%s)" % postern.conf)
    sys.stdout.write(postern.config_text)

    conv = Conversation()
    client_port = conv.send(postern.host, postern.port, build_message())
    section("SMTP conversation as the client saw it (127.0.0.1: internal, "
            "so outbound)")
    print("\n".join(conv.lines))

    delivered = postfix.wait_messages("bob", 1, timeout=30)
    postern.wait_log(r"disconnect", timeout=5)
    section("postern's log for this session")
    print("\n".join(postern.session_lines(client_port)) or postern.log())

    section("Postfix's log")
    print(postfix.log().rstrip())

    section("The message as delivered to %s (maildir %s)" % (
        RECIPIENT, postfix.maildir("bob")))
    if not delivered:
        print("(nothing delivered)")
        return 1
    sys.stdout.write(delivered[0].decode("utf-8", "replace"))
    return check_signatures(delivered[0], newest_file(postfix.maildir("bob")),
                            unbound)


def main():
    if not harness.Unbound.available():
        print("demo: %s missing (make deps)" % harness.UNBOUND,
              file=sys.stderr)
        return 1
    workdir = harness.make_private_dir("postern-demo-keys-")
    unbound = harness.Unbound(resolver_address=resolver_address())
    postfix = harness.Postfix()
    try:
        unbound.start()
        postfix.start()
        return run(postfix, unbound, workdir)
    finally:
        postfix.stop()
        postfix.cleanup()
        unbound.stop()
        unbound.cleanup()
        subprocess.run(["rm", "-rf", workdir], check=False)


if __name__ == "__main__":
    sys.exit(main())
