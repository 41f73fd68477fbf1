"""PROXY protocol: postern takes a v1 or v2 header first on a listener
with proxy_protocol = yes, only from proxy_networks, within
proxy_timeout, and the client it names is the client everywhere (logs,
admission, XCLIENT authorization, Received, the upstream's XCLIENT).
haproxy in front of postern sends v2, its health checks v2 LOCAL.
client_identity = proxy sends a v2 header to the upstream instead of
XCLIENT, to a Postfix with smtpd_upstream_proxy_protocol = haproxy."""

import os
import re
import socket
import ssl
import struct
import subprocess

import pytest

import harness
from harness import make_message

SENDER = "sender@example.org"
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
CLIENT_ADDR = "127.0.0.5"  # the client, distinct from haproxy's 127.0.0.1


class BoundClient(harness.SMTPClient):
    """harness.SMTPClient from a chosen source address."""

    def __init__(self, host, port, source, timeout=15):
        self.sock = socket.create_connection((host, port), timeout,
                                             source_address=(source, 0))
        self.local_port = self.sock.getsockname()[1]
        self.buf = b""
        self.transcript = []


def v2_header(src, sport, dst="127.0.0.1", dport=25, command=0x21):
    if ":" in src:
        fam = 0x21
        addrs = socket.inet_pton(socket.AF_INET6, src) + \
            socket.inet_pton(socket.AF_INET6, dst)
    else:
        fam = 0x11
        addrs = socket.inet_aton(src) + socket.inet_aton(dst)
    block = addrs + struct.pack("!HH", sport, dport)
    if command & 0x0f == 0:  # LOCAL: no addresses
        fam, block = 0, b""
    return V2_SIG + bytes([command, fam]) + struct.pack("!H", len(block)) \
        + block


def listener_block(name, port, options):
    lines = ['listener %s {' % name, '\taddress = "127.0.0.1:%d"' % port]
    lines += ["\t%s = %s" % kv for kv in options.items()]
    return "\n".join(lines + ["}"])


def start_proxied(start_postern, upstream, networks=("127.0.0.1",),
                  timeout="5s", **config):
    """postern with its usual listener and a second one, "proxied",
    taking PROXY headers from networks.  Returns (postern, port)."""
    port = harness.free_port()
    nets = ", ".join('"%s"' % n for n in networks)
    extra = listener_block("proxied", port, {
        "proxy_protocol": "yes",
        "proxy_networks": "{%s}" % nets,
        "proxy_timeout": timeout,
    })
    p = start_postern(upstream, extra=extra, **config)
    assert harness.wait_listening(port, 10), p.log()
    return p, port


def received_fields(raw):
    fields, _ = harness.split_header_fields(raw)
    return [harness.unfold(f) for f in fields
            if harness.field_name(f) == b"received"]


def deliver_after_header(port, header, subject, source="127.0.0.1"):
    """The header, then one message; returns the final reply."""
    with BoundClient("127.0.0.1", port, source) as c:
        c.send(header)
        assert c.greeting().code == 220
        assert c.ehlo("client.example").code == 250
        replies = c.send_mail(SENDER, ["bob@example.net"],
                              make_message(subject=subject))
        c.command("QUIT")
    return replies[-1]


def postern_and_postfix_received(postfix):
    [raw] = postfix.wait_messages("bob", 1)
    postfix_rcvd, postern_rcvd = received_fields(raw)[:2]
    assert "by postern.test (postern)" in postern_rcvd, postern_rcvd
    return postern_rcvd, postfix_rcvd


# ------------------------------------------------------------- by hand

def test_v1_header_names_the_client(start_postern, postfix):
    p, port = start_proxied(start_postern, postfix)
    final = deliver_after_header(
        port, b"PROXY TCP4 127.0.0.7 127.0.0.1 40001 25\r\n", "v1")
    assert final.code == 250, final
    postern_rcvd, postfix_rcvd = postern_and_postfix_received(postfix)
    assert "[127.0.0.7]" in postern_rcvd, postern_rcvd
    assert "[127.0.0.7]" in postfix_rcvd, \
        "XCLIENT did not carry the PROXY address: %r" % postfix_rcvd
    assert p.wait_log(r"proxy version=1 command=proxy via=127\.0\.0\.1 "
                      r"client=127\.0\.0\.7:40001"), p.log()
    assert p.wait_log(r"connect client=127\.0\.0\.7:40001 "
                      r"listener=proxied"), p.log()


def test_v2_ipv6_header_names_the_client(start_postern, postfix):
    p, port = start_proxied(start_postern, postfix)
    final = deliver_after_header(
        port, v2_header("2001:db8::7", 40002, "2001:db8::1", 25), "v2 v6")
    assert final.code == 250, final
    postern_rcvd, postfix_rcvd = postern_and_postfix_received(postfix)
    assert "[IPv6:2001:db8::7]" in postern_rcvd or \
        "[2001:db8::7]" in postern_rcvd, postern_rcvd
    assert "2001:db8::7" in postfix_rcvd, postfix_rcvd


def test_no_banner_before_the_header(start_postern, postfix):
    p, port = start_proxied(start_postern, postfix)
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.sock.settimeout(1)
        with pytest.raises(socket.timeout):
            c.sock.recv(100)
        c.send(b"PROXY TCP4 127.0.0.7 127.0.0.1 40003 25\r\n")
        assert c.greeting().code == 220
        c.command("QUIT")


def test_v2_local_is_served_as_a_direct_connection(start_postern, postfix):
    p, port = start_proxied(start_postern, postfix)
    final = deliver_after_header(port, v2_header("0.0.0.0", 0, command=0x20),
                                 "local")
    assert final.code == 250, final
    postern_rcvd, _ = postern_and_postfix_received(postfix)
    assert "[127.0.0.1]" in postern_rcvd, postern_rcvd
    assert p.wait_log(r"proxy version=2 command=local via=127\.0\.0\.1 "
                      r"client=127\.0\.0\.1:"), p.log()


def test_v1_unknown_is_served_as_a_direct_connection(start_postern,
                                                       postfix):
    p, port = start_proxied(start_postern, postfix)
    final = deliver_after_header(port, b"PROXY UNKNOWN\r\n", "unknown")
    assert final.code == 250, final
    postern_rcvd, _ = postern_and_postfix_received(postfix)
    assert "[127.0.0.1]" in postern_rcvd, postern_rcvd


@pytest.mark.parametrize("name,data,reason", [
    ("smtp instead of a header", b"EHLO client.example\r\n",
     "no PROXY header"),
    ("binary garbage", b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
     "no PROXY header"),
    ("v1 with a bad address", b"PROXY TCP4 999.0.0.1 127.0.0.1 1 25\r\n",
     "v1 header malformed"),
    ("v1 too long", b"PROXY TCP4 " + b"1" * 120 + b"\r\n",
     "v1 header too long"),
    ("v2 unknown version", V2_SIG + b"\x31\x11\x00\x0c" + b"\x00" * 12,
     "v2 header with an unknown version"),
    ("v2 oversized", V2_SIG + b"\x21\x11\xff\xff", "v2 header too long"),
])
def test_bad_header_closes_with_a_log_line(start_postern, postfix, name,
                                           data, reason):
    p, port = start_proxied(start_postern, postfix)
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.send(data)
        c.sock.settimeout(10)
        got = b""
        try:
            while True:
                chunk = c.sock.recv(4096)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
    assert got == b"", "%s: got %r, want a silent close" % (name, got)
    assert p.wait_log(r'proxy refused client=127\.0\.0\.1 reason="%s"' %
                      re.escape(reason)), p.log()
    assert p.wait_log(r"disconnect reason=proxy-error"), p.log()


def test_header_timeout_closes(start_postern, postfix):
    p, port = start_proxied(start_postern, postfix, timeout="1s")
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.send(b"PROXY TCP4 127.0")
        assert c.expect_closed(timeout=10), "still open after the timeout"
    assert p.wait_log(r"proxy refused client=127\.0\.0\.1 reason=timeout"), \
        p.log()
    assert p.wait_log(r"disconnect reason=proxy-timeout"), p.log()


def test_peer_outside_proxy_networks_is_refused(start_postern, postfix):
    p, port = start_proxied(start_postern, postfix, networks=("127.0.0.2",))
    with harness.SMTPClient("127.0.0.1", port) as c:
        reply = c.read_reply()
        assert c.expect_closed(), "still open after the refusal"
    assert (reply.code, reply.enhanced) == (421, "4.7.0"), reply
    assert p.wait_log(r"refuse client=127\.0\.0\.1 listener=proxied "
                      r"reason=proxy-not-allowed"), p.log()
    # The same peer on the plain listener is served.
    with p.connect() as c:
        assert c.greeting().code == 220
        c.command("QUIT")


def test_sessions_per_client_count_the_proxied_address(start_postern,
                                                        postfix):
    p, port = start_proxied(start_postern, postfix,
                            limits={"sessions_per_client": "1"})
    first = harness.SMTPClient("127.0.0.1", port)
    second = harness.SMTPClient("127.0.0.1", port)
    other = harness.SMTPClient("127.0.0.1", port)
    try:
        first.send(b"PROXY TCP4 127.0.0.8 127.0.0.1 40010 25\r\n")
        assert first.greeting().code == 220
        second.send(b"PROXY TCP4 127.0.0.8 127.0.0.1 40011 25\r\n")
        refused = second.read_reply()
        other.send(b"PROXY TCP4 127.0.0.9 127.0.0.1 40012 25\r\n")
        assert other.greeting().code == 220, \
            "another client behind the same proxy was refused"
    finally:
        for c in (first, second, other):
            c.close()
    assert (refused.code, refused.enhanced) == (421, "4.7.0"), refused
    assert p.wait_log(r"refuse client=127\.0\.0\.8 listener=\S+ "
                      r"reason=too-many-client-sessions"), p.log()


def test_xclient_authorization_uses_the_proxied_address(start_postern,
                                                          postfix):
    # 127.0.0.1 (the proxy) is in xclient_networks; 192.0.2.7 is not.
    p, port = start_proxied(start_postern, postfix)
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.send(b"PROXY TCP4 192.0.2.7 127.0.0.1 40013 25\r\n")
        assert c.greeting().code == 220
        ehlo = c.ehlo()
        reply = c.command("XCLIENT ADDR=127.0.0.9")
        c.command("QUIT")
    assert "XCLIENT" not in ehlo.text, ehlo
    assert (reply.code, reply.enhanced) == (550, "5.7.0"), reply


# ------------------------------------------------------------- haproxy

HAPROXY_CFG = """\
global
    maxconn 100

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend smtp
    bind 127.0.0.1:{front}
    default_backend postern

backend postern
    option smtpchk EHLO haproxy.test
    server postern 127.0.0.1:{back} send-proxy-v2 check check-send-proxy \
inter 300ms
"""


@pytest.fixture
def haproxy():
    """haproxy(back_port) -> front port; haproxy runs in the
    foreground on a private config until the test ends."""
    procs = []
    base = harness.make_private_dir("postern-haproxy-")

    def start(back):
        front = harness.free_port()
        cfg = os.path.join(base, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(HAPROXY_CFG.format(front=front, back=back))
        log = open(os.path.join(base, "haproxy.log"), "wb")
        proc = subprocess.Popen(["haproxy", "-db", "-f", cfg],
                                stdin=subprocess.DEVNULL, stdout=log,
                                stderr=log)
        log.close()
        procs.append(proc)
        assert harness.wait_listening(front, 10, proc), \
            open(os.path.join(base, "haproxy.log")).read()
        return front

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(10)


def test_haproxy_v2_client_address_in_received(start_postern, postfix,
                                               haproxy):
    p, port = start_proxied(start_postern, postfix)
    front = haproxy(port)
    with BoundClient("127.0.0.1", front, CLIENT_ADDR) as c:
        assert c.greeting().code == 220
        assert c.ehlo("client.example").code == 250
        replies = c.send_mail(SENDER, ["bob@example.net"],
                              make_message(subject="via haproxy"))
        c.command("QUIT")
    assert replies[-1].code == 250, replies
    postern_rcvd, postfix_rcvd = postern_and_postfix_received(postfix)
    assert "[%s]" % CLIENT_ADDR in postern_rcvd, postern_rcvd
    assert "[%s]" % CLIENT_ADDR in postfix_rcvd, postfix_rcvd
    assert p.wait_log(r"proxy version=2 command=proxy via=127\.0\.0\.1 "
                      r"client=127\.0\.0\.5:"), p.log()


def test_haproxy_health_check_is_v2_local(start_postern, postfix, haproxy):
    p, port = start_proxied(start_postern, postfix)
    haproxy(port)
    assert p.wait_log(r"proxy version=2 command=local via=127\.0\.0\.1",
                      timeout=10), p.log()
    assert not re.search(r"proxy refused", p.log()), p.log()


# ------------------------------------------------- PROXY to the upstream

@pytest.fixture(scope="module")
def proxy_postfix():
    """A Postfix whose smtpd expects a PROXY header (haproxy format)."""
    mta = harness.Postfix(
        main_cf={"smtpd_upstream_proxy_protocol": "haproxy"})
    yield from harness.run_mta(mta)


def test_client_identity_proxy_sends_v2_upstream(start_postern,
                                                 proxy_postfix):
    proxy_postfix.reset()
    proxy_postfix.mark_log()
    p = start_postern(proxy_postfix,
                      upstream={"client_identity": "proxy"})
    with BoundClient(p.host, p.port, CLIENT_ADDR) as c:
        assert c.greeting().code == 220
        ehlo = c.ehlo("client.example")
        replies = c.send_mail(SENDER, ["bob@example.net"],
                              make_message(subject="proxy upstream"))
        c.command("QUIT")
    assert ehlo.code == 250, ehlo
    assert replies[-1].code == 250, replies
    [raw] = proxy_postfix.wait_messages("bob", 1)
    postfix_rcvd = received_fields(raw)[0]
    assert "by mta.test (Postfix)" in postfix_rcvd, postfix_rcvd
    assert "[%s]" % CLIENT_ADDR in postfix_rcvd, \
        "Postfix did not see the client from the PROXY header: %r" % \
        postfix_rcvd
    assert proxy_postfix.wait_log_since_mark(
        r"connect from unknown\[%s\]" % re.escape(CLIENT_ADDR)), \
        proxy_postfix.log_since_mark()


def start_implicit_proxied(start_postern, postfix, ca):
    """postern with an implicit-TLS listener, "smtps", that takes PROXY
    headers from 127.0.0.1.  Returns (postern, port, client context)."""
    port = harness.free_port()
    extra = ('tls {\n\tcertificate = "%s"\n\tkey = "%s"\n}\n' %
             (ca.server_chain, ca.server_key)) + \
        listener_block("smtps", port, {
            "tls": "implicit",
            "proxy_protocol": "yes",
            "proxy_networks": '{"127.0.0.1"}',
        })
    p = start_postern(postfix, extra=extra)
    assert harness.wait_listening(port, 10), p.log()
    return p, port, ssl.create_default_context(cafile=ca.ca_cert)


def test_proxy_header_comes_before_implicit_tls(start_postern, postfix,
                                                test_ca):
    p, port, ctx = start_implicit_proxied(start_postern, postfix, test_ca)
    with harness.SMTPClient("127.0.0.1", port) as c:
        c.send(b"PROXY TCP4 127.0.0.7 127.0.0.1 40020 465\r\n")
        c.sock = ctx.wrap_socket(c.sock, server_hostname="postern.test")
        assert c.greeting().code == 220
        assert c.ehlo("client.example").code == 250
        replies = c.send_mail(SENDER, ["bob@example.net"],
                              make_message(subject="proxy then tls"))
        c.command("QUIT")
    assert replies[-1].code == 250, replies
    postern_rcvd, _ = postern_and_postfix_received(postfix)
    assert "[127.0.0.7]" in postern_rcvd, postern_rcvd
    assert "using TLS" in postern_rcvd, postern_rcvd


class BioTLS:
    """TLS over a plain socket through memory BIOs, so the first
    ClientHello can be sent in the same write as the PROXY header."""

    def __init__(self, sock, ctx, first=b""):
        self.sock = sock
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = ctx.wrap_bio(self.inc, self.out,
                                server_hostname="postern.test")
        self._step(self.obj.do_handshake, first)

    def _step(self, fn, first=b""):
        while True:
            try:
                result = fn()
                self.sock.sendall(self.out.read())
                return result
            except ssl.SSLWantReadError:
                self.sock.sendall(first + self.out.read())
                first = b""
                data = self.sock.recv(65536)
                if not data:
                    raise EOFError("closed during TLS")
                self.inc.write(data)

    def line(self):
        buf = b""
        while not buf.endswith(b"\n"):
            buf += self._step(lambda: self.obj.read(1))
        return buf

    def command(self, text):
        self.obj.write(text.encode() + b"\r\n")
        self.sock.sendall(self.out.read())
        return self.line()


def test_proxy_header_and_client_hello_in_one_write(start_postern, postfix,
                                                    test_ca):
    p, port, ctx = start_implicit_proxied(start_postern, postfix, test_ca)
    with socket.create_connection(("127.0.0.1", port), 15) as sock:
        tls = BioTLS(sock, ctx,
                     first=b"PROXY TCP4 127.0.0.7 127.0.0.1 40021 465\r\n")
        greeting = tls.line()
        ehlo = tls.command("EHLO client.example")
        tls.command("QUIT")
    assert greeting.startswith(b"220 "), greeting
    assert ehlo.startswith(b"250"), ehlo
    assert p.wait_log(r"connect client=127\.0\.0\.7:40021 listener=smtps"), \
        p.log()
    assert "data-before-handshake" not in p.log(), p.log()
