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
stops everything.  Run by `make demo`; exits 1 when the message was not
delivered or a signature does not verify.
"""

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

import harness  # noqa: E402

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

    def send(self, host, port, msg):
        smtp = smtplib.SMTP(timeout=30)
        code, text = smtp.connect(host, port)
        client_port = smtp.sock.getsockname()[1]
        self.got(code, text)
        self.said("EHLO " + HELO)
        self.got(*smtp.ehlo(HELO))
        self.said("MAIL FROM:<%s>" % SENDER)
        self.got(*smtp.mail(SENDER))
        self.said("RCPT TO:<%s>" % RECIPIENT)
        self.got(*smtp.rcpt(RECIPIENT))
        data = msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
        self.said("DATA")
        self.said("  ... %d octets of message, then '.' ..." % len(data))
        self.got(*smtp.data(data))
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


# ------------------------------------------------------------------ main

def newest_file(maildir):
    new = os.path.join(maildir, "new")
    names = sorted(os.listdir(new),
                   key=lambda n: os.stat(os.path.join(new, n)).st_mtime_ns)
    return os.path.join(new, names[-1])


def run(postfix, unbound, workdir):
    keys, keytable, signtable = make_keys(workdir)
    unbound.set_records([k.zone_line for k in keys])
    postern = harness.Postern(postfix.address,
                              extra=postern_extra(unbound, keytable,
                                                  signtable)).start()
    try:
        return relay(postfix, postern, unbound, keys, keytable, signtable)
    finally:
        status = postern.stop()
        if status != 0:
            print("postern exit status %r" % status, file=sys.stderr)
        postern.cleanup()


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
