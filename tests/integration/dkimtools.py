"""DKIM helpers for the integration tests: keys, DNS records, signing
with dkimpy, and four verifiers besides postern's own:

- dkimpy (python3-dkim), its key lookups sent to the test DNS server
  with dnspython;
- opendkim-testmsg (opendkim-tools), reading /etc/resolv.conf; the
  same libopendkim as postern, but neither postern's DNS nor its
  message handling;
- Mail::DKIM::Verifier (libmail-dkim-perl) through Net::DNS, likewise;
- Exim's own verifier, in an Exim started as an upstream (DkimExim).

The last three use the system resolver, so they run under a command
prefix (harness.resolver_namespace_cmd()) that gives them a private
/etc/resolv.conf naming the test server.

Every verifier reports one Result per DKIM-Signature field, in the
order of the fields, so a test can say which signature passed.

What it leaves to the tests: every assertion.
"""

import base64
import os
import re
import subprocess

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

import harness

CORPUS = os.environ.get("CORPUS") or os.path.join(
    os.path.dirname(harness.REPO), "shared", "corpus")
DKIM_CORPUS = os.path.join(CORPUS, "dkim")


def corpus_file(*parts):
    return os.path.join(DKIM_CORPUS, *parts)


def read_corpus(*parts):
    with open(corpus_file(*parts), "rb") as f:
        return f.read()


# ------------------------------------------------------------- messages

def crlf(data):
    """Every line end (LF or CRLF) as CRLF; a final line end added."""
    data = re.sub(rb"\r?\n", b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data


def delivered_one(mta, user="bob"):
    """The one message delivered to user, with CRLF line ends."""
    msgs = mta.wait_messages(user, 1)
    assert len(msgs) == 1, "got %d messages, want 1" % len(msgs)
    return crlf(msgs[0])


def assert_not_delivered(mta, user="bob"):
    """Nothing delivered to user and nothing queued since the mark."""
    mta.wait_idle()
    msgs = mta.messages(user)
    assert msgs == [], "got %d delivered messages, want none" % len(msgs)
    queued = mta.queued_since_mark()
    assert queued == [], "the MTA queued %r, want nothing" % queued


def header_fields(raw, name):
    """The fields called name (with continuations, line ends kept)."""
    fields, _ = harness.split_header_fields(raw)
    return [f for f in fields
            if harness.field_name(f) == name.lower().encode()]


def header_values(raw, name):
    """Unfolded values of the fields called name, in order."""
    return [harness.unfold(f).split(":", 1)[1].strip()
            for f in header_fields(raw, name)]


def without_fields(raw, name, keep=None):
    """raw without its header fields called name, except the keep-th one
    (0-based) when keep is given."""
    fields, rest = harness.split_header_fields(raw)
    out, seen = [], 0
    for f in fields:
        if harness.field_name(f) == name.lower().encode():
            seen += 1
            if keep != seen - 1:
                continue
        out.append(f)
    return b"".join(out) + rest


def parse_tags(value):
    """DKIM tag=value list (RFC 6376 3.2) as a dict of str, whitespace
    removed from the values."""
    tags = {}
    for part in value.split(";"):
        if "=" not in part:
            continue
        k, v = part.split("=", 1)
        tags[k.strip()] = re.sub(r"\s+", "", v)
    return tags


def signatures(raw):
    """The tags of each DKIM-Signature field of raw, in order."""
    return [parse_tags(v) for v in header_values(raw, "DKIM-Signature")]


# ----------------------------------------------------------------- keys

class Key:
    """A DKIM key: the private key file postern's key table names, its
    public TXT record, and what dkimpy needs to sign with it."""

    def __init__(self, domain, selector, path, private):
        self.domain = domain
        self.selector = selector
        self.path = path
        self.private = private
        if isinstance(private, ed25519.Ed25519PrivateKey):
            self.alg = "ed25519"
            self.bits = 256
        else:
            self.alg = "rsa"
            self.bits = private.key_size

    @property
    def name(self):
        """The key table name."""
        return "%s-%s" % (self.selector, self.domain)

    @property
    def record_name(self):
        return "%s._domainkey.%s." % (self.selector, self.domain)

    @property
    def a(self):
        return "ed25519-sha256" if self.alg == "ed25519" else "rsa-sha256"

    @property
    def txt(self):
        pub = self.private.public_key()
        if self.alg == "ed25519":
            raw = pub.public_bytes(serialization.Encoding.Raw,
                                   serialization.PublicFormat.Raw)
            return "v=DKIM1; k=ed25519; p=" + base64.b64encode(raw).decode()
        der = pub.public_bytes(serialization.Encoding.DER,
                               serialization.PublicFormat.SubjectPublicKeyInfo)
        return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()

    def dkimpy_private(self):
        """dkimpy wants PEM for RSA, the base64 32-octet seed for
        Ed25519."""
        if self.alg == "ed25519":
            raw = self.private.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                serialization.NoEncryption())
            return base64.b64encode(raw)
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption())

    def keytable_line(self, domain=None):
        return "%s %s:%s:%s" % (self.name, domain or self.domain,
                                self.selector, self.path)

    def __repr__(self):
        return "Key(%s, %s-%d)" % (self.record_name, self.alg, self.bits)


def make_key(directory, domain, selector, alg="rsa", bits=2048):
    """Generate a key and write it as PKCS#8 PEM, mode 0600, to
    directory/SELECTOR.DOMAIN.private."""
    if alg == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        private = rsa.generate_private_key(public_exponent=65537,
                                           key_size=bits)
    path = os.path.join(directory, "%s.%s.private" % (selector, domain))
    pem = private.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return Key(domain, selector, path, private)


def load_key(path, domain, selector):
    """A PEM private key file (PKCS#1 or PKCS#8) as a Key."""
    with open(path, "rb") as f:
        private = serialization.load_pem_private_key(f.read(), None)
    return Key(domain, selector, path, private)


def write_tables(directory, entries, keys):
    """Write a key table with every key and a signing table with entries
    [(pattern, [key, ...])]; returns (keytable path, signingtable
    path)."""
    kt = os.path.join(directory, "keytable")
    st = os.path.join(directory, "signingtable")
    with open(kt, "w") as f:
        for k in keys:
            f.write(k.keytable_line() + "\n")
    with open(st, "w") as f:
        for pattern, ks in entries:
            f.write("%s %s\n" % (pattern, ",".join(k.name for k in ks)))
    return kt, st


# ---------------------------------------------------------- DNS records

def parse_zone_txt(text):
    """[(name, [strings])] of the TXT records in zone-file text, BIND
    style, parentheses and several quoted strings allowed (what postern
    keygen prints and the corpus zone files hold)."""
    text = re.sub(r";[^\n\"]*$", "", text, flags=re.M)
    records = []
    for m in re.finditer(r'^(\S+)\s+(?:\d+\s+)?(?:IN\s+)?TXT\s+'
                         r'(\(.*?\)|"[^\n]*)', text, re.M | re.S):
        strings = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
        records.append((m.group(1), strings))
    return records


def pem_public_to_p(pem_text):
    """The base64 body of a PEM public key, for a p= tag."""
    return "".join(l.strip() for l in pem_text.splitlines()
                   if l.strip() and not l.startswith("-----"))


# -------------------------------------------------------------- dkimpy

def dkimpy_sign(message, key, canon=("relaxed", "relaxed"),
                alg=None, include_headers=None, domain=None,
                selector=None):
    """message (CRLF) with a DKIM-Signature by dkimpy on top.  alg: the
    a= tag (default from the key: rsa-sha256 or ed25519-sha256)."""
    import dkim

    alg = alg or key.a
    sig = dkim.sign(
        message, (selector or key.selector).encode(),
        (domain or key.domain).encode(), key.dkimpy_private(),
        canonicalize=tuple(c.encode() for c in canon),
        signature_algorithm=alg.encode(),
        include_headers=[h.encode() for h in include_headers]
        if include_headers else None)
    return sig + message


class Result:
    """One signature's verdict by one verifier.  ok: True for a pass;
    result: the verifier's own word; detail: its reason."""

    def __init__(self, verifier, d, s, a, ok, result, detail=""):
        self.verifier = verifier
        self.d, self.s, self.a = d, s, a
        self.ok = ok
        self.result = result
        self.detail = detail

    def __repr__(self):
        return "%s: d=%s s=%s a=%s %s%s" % (
            self.verifier, self.d, self.s, self.a, self.result,
            " (%s)" % self.detail if self.detail else "")


def dns_txt_func(host, port=53):
    """A dkimpy dnsfunc asking host:port with dnspython (no system
    resolver involved)."""
    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = port

    def get_txt(name, timeout=5):
        import dkim

        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        try:
            ans = resolver.resolve(name, "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        except dns.exception.Timeout as e:
            raise dkim.DnsTimeoutError(str(e))
        return b"".join(ans[0].strings)
    return get_txt


def verify_dkimpy(message, dnsfunc, minkey=1024):
    """dkimpy's verdict on every signature of message."""
    import dkim

    message = crlf(message)
    out = []
    for i, tags in enumerate(signatures(message)):
        d = dkim.DKIM(message, minkey=minkey)
        try:
            ok = bool(d.verify(idx=i, dnsfunc=dnsfunc))
            detail = ""
        except dkim.DKIMException as e:
            ok, detail = False, str(e)
        out.append(Result("dkimpy", tags.get("d"), tags.get("s"),
                          tags.get("a"), ok, "pass" if ok else "fail",
                          detail))
    return out


# ---------------------------------------------------- opendkim-testmsg

OPENDKIM_TESTMSG = "/usr/sbin/opendkim-testmsg"


def verify_opendkim(message, prefix=(), timeout=30):
    """opendkim-testmsg's verdict on every signature.  It reports one
    status per message (libopendkim's best signature), so each signature
    is checked alone: the message is given with only that
    DKIM-Signature field.  prefix: the command prefix that gives it the
    test resolver."""
    message = crlf(message)
    out = []
    for i, tags in enumerate(signatures(message)):
        alone = without_fields(message, "DKIM-Signature", keep=i)
        proc = subprocess.run(list(prefix) + [OPENDKIM_TESTMSG],
                              input=alone, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=timeout)
        text = proc.stdout.decode("utf-8", "replace").strip()
        ok = proc.returncode == 0 and text == ""
        out.append(Result("opendkim-testmsg", tags.get("d"), tags.get("s"),
                          tags.get("a"), ok, "pass" if ok else "fail",
                          "exit %d: %s" % (proc.returncode, text)
                          if not ok else ""))
    return out


# ----------------------------------------------------------- Mail::DKIM

MAIL_DKIM_SCRIPT = r"""
use strict;
use warnings;
use Mail::DKIM::Verifier;
my $v = Mail::DKIM::Verifier->new();
binmode STDIN;
while (my $line = <STDIN>) {
    $line =~ s/\r?\n\z/\r\n/;
    $v->PRINT($line);
}
$v->CLOSE;
foreach my $sig ($v->signatures) {
    printf "sig\t%s\t%s\t%s\t%s\t%s\n", $sig->domain // "",
        $sig->selector // "", $sig->algorithm // "", $sig->result // "",
        $sig->result_detail // "";
}
"""


def verify_mail_dkim(message, prefix=(), timeout=30):
    """Mail::DKIM's verdict on every signature (its signatures() list is
    in header order)."""
    proc = subprocess.run(list(prefix) + ["perl", "-e", MAIL_DKIM_SCRIPT],
                          input=crlf(message), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError("Mail::DKIM verifier failed: %s" %
                           proc.stderr.decode("utf-8", "replace"))
    out = []
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        fields = line.split("\t")
        if fields[0] != "sig":
            continue
        d, s, a, result, detail = fields[1:6]
        out.append(Result("Mail::DKIM", d, s, a, result == "pass", result,
                          detail))
    return out


# ----------------------------------------------------------------- Exim

class DkimExim(harness.Exim):
    """The harness Exim, started under a command prefix (the resolver
    namespace, so its key lookups reach the test DNS server) and logging
    one line per DKIM signature it verified (log_selector
    +dkim_verbose):

        DKIM: d=example.org s=sel c=relaxed/relaxed a=rsa-sha256 b=2048
            [verification succeeded]
    """

    def __init__(self, prefix=(), **kw):
        super().__init__(**kw)
        self.prefix = list(prefix)

    def _write_config(self):
        super()._write_config()
        with open(self.conf) as f:
            text = f.read()
        text = text.replace("acl_smtp_rcpt = acl_check_rcpt\n",
                            "acl_smtp_rcpt = acl_check_rcpt\n"
                            "log_selector = +dkim_verbose\n", 1)
        with open(self.conf, "w") as f:
            f.write(text)

    def start(self):
        if not self.available():
            raise RuntimeError("%s missing: run `make deps`" % harness.EXIM)
        self._write_config()
        out = open(os.path.join(self.base, "stderr"), "wb")
        self.proc = subprocess.Popen(
            self.prefix + [harness.EXIM, "-C", self.conf, "-bdf", "-oX",
                           str(self.port), "-oP", self.pidfile],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        out.close()
        if not harness.wait_listening(self.port, 15, self.proc):
            self.stop()
            raise RuntimeError("exim did not start:\n%s" % self.log())
        return self

    def mainlog(self):
        try:
            with open(os.path.join(self.base, "log", "mainlog"),
                      encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def message_id(self, raw):
        """Exim's message id of a delivered message (its Received)."""
        m = re.search(rb"\bid ([0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2})",
                      raw)
        return m and m.group(1).decode()

    def dkim_results(self, msgid):
        """Exim's verdict on every signature of message msgid, in the
        order it logged them (the order of the fields)."""
        out = []
        for m in re.finditer(r"^\S+ \S+ %s DKIM: (.*?) \[(.*)\]$" %
                             re.escape(msgid), self.mainlog(), re.M):
            tags = dict(re.findall(r"(\w+)=(\S+)", m.group(1)))
            verdict = m.group(2)
            out.append(Result("exim", tags.get("d"), tags.get("s"),
                              tags.get("a"),
                              verdict == "verification succeeded",
                              verdict.split(" - ")[0], verdict))
        return out


# -------------------------------------------------------------- results

def authres_fields(raw, servid):
    """The unfolded values of the Authentication-Results fields of raw
    whose authserv-id is servid, in order."""
    # authserv-id, after optional comments, then an optional version.
    pat = re.compile(r"(\([^)]*\)\s*)*%s(\s+\d+)?\s*(;|$)" %
                     re.escape(servid), re.I)
    return [v for v in header_values(raw, "Authentication-Results")
            if pat.match(v)]


class AuthResult:
    """One resinfo of an Authentication-Results value: method, result,
    reason (or None) and props {"header.d": ...}."""

    def __init__(self, method, result, reason, props):
        self.method, self.result = method, result
        self.reason, self.props = reason, props

    def __repr__(self):
        return "%s=%s%s %s" % (self.method, self.result,
                               " reason=%r" % self.reason
                               if self.reason else "",
                               " ".join("%s=%s" % kv
                                        for kv in self.props.items()))


def _strip_comments(text):
    out, depth, quoted = [], 0, False
    i = 0
    while i < len(text):
        c = text[i]
        if quoted:
            out.append(c)
            if c == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"' and depth == 0:
            quoted = True
            out.append(c)
        elif c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(c)
        i += 1
    return "".join(out)


def parse_authres(value):
    """The resinfos of one Authentication-Results value (RFC 8601), the
    authserv-id and version skipped."""
    text = _strip_comments(value)
    parts = [p.strip() for p in re.split(r';(?=(?:[^"]*"[^"]*")*[^"]*$)',
                                         text)]
    out = []
    for part in parts[1:]:
        m = re.match(r'([\w.-]+)\s*=\s*([\w-]+)(.*)$', part, re.S)
        if not m:
            continue
        rest = m.group(3)
        reason = None
        rm = re.search(r'\breason\s*=\s*("(?:[^"\\]|\\.)*"|\S+)', rest)
        if rm:
            reason = rm.group(1).strip('"')
            rest = rest[:rm.start()] + rest[rm.end():]
        props = dict(re.findall(r'([\w-]+\.[\w-]+)\s*=\s*("[^"]*"|\S+)',
                                rest))
        out.append(AuthResult(m.group(1).lower(), m.group(2).lower(),
                              reason, props))
    return out


def dkim_authres(raw, servid=harness.POSTERN_HOSTNAME):
    """postern's dkim results in a delivered message: the resinfos with
    method dkim of the first A-R field with servid."""
    fields = authres_fields(raw, servid)
    if not fields:
        return []
    return [r for r in parse_authres(fields[0]) if r.method == "dkim"]
