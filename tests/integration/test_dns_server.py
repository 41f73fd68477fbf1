"""The dns_server fixture: records served on the loopback port and on
port 53 of a loopback address of its own (harness.RESOLVER_ADDRESS), long TXT values split into 255-octet strings, records
changed between tests, and resolver_namespace_cmd pointing a tool that
reads /etc/resolv.conf at the server without touching the machine's
file."""

import subprocess

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

import harness

KEY = "v=DKIM1; k=rsa; p=" + "".join(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i % 64]
    for i in range(1082))


def query(host, port, name, rdtype):
    """(rcode text, answer rrsets) from host:port; over TCP when the
    UDP answer is truncated (a DKIM key does not fit in 512 octets)."""
    q = dns.message.make_query(name, rdtype)
    r, _ = dns.query.udp_with_fallback(q, host, port=port, timeout=3)
    return dns.rcode.to_text(r.rcode()), r.answer


def txt_values(answer):
    return sorted(b"".join(rd.strings) for rrset in answer for rd in rrset)


def test_records_served_on_loopback_port(dns_server):
    dns_server.set_records([
        'sel._domainkey.example.test. TXT "%s"' % KEY,
        'txt.example.test. 300 IN TXT "v=spf1 -all"',
        "host.example.test. A 127.0.0.10",
        "example.test. MX 10 mail.example.test.",
    ])
    rcode, answer = query("127.0.0.1", dns_server.port,
                          "sel._domainkey.example.test", "TXT")
    assert rcode == "NOERROR"
    strings = [s for rrset in answer for rd in rrset for s in rd.strings]
    assert [len(s) for s in strings] == [255, 255, 255, 255, 80]
    assert txt_values(answer) == [KEY.encode()]

    cases = [
        ("txt.example.test", "TXT", "NOERROR", ['"v=spf1 -all"']),
        ("host.example.test", "A", "NOERROR", ["127.0.0.10"]),
        ("example.test", "MX", "NOERROR", ["10 mail.example.test."]),
        ("host.example.test", "MX", "NOERROR", []),
        ("nosuch.example.test", "TXT", "NXDOMAIN", []),
        ("example.com", "A", "NXDOMAIN", []),
    ]
    for name, rdtype, want_rcode, want in cases:
        rcode, answer = query("127.0.0.1", dns_server.port, name, rdtype)
        got = [rd.to_text() for rrset in answer for rd in rrset]
        assert (rcode, got) == (want_rcode, want), (name, rdtype)


def test_address_is_a_postern_forwarder(dns_server):
    assert dns_server.address == "127.0.0.1@%d" % dns_server.port


def test_resolver_address_port_53(dns_server):
    dns_server.set_records({"port53.example.test": "on port 53"})
    rcode, answer = query(harness.RESOLVER_ADDRESS, 53,
                          "port53.example.test", "TXT")
    assert (rcode, txt_values(answer)) == ("NOERROR", [b"on port 53"])


def test_add_then_set_records(dns_server):
    dns_server.set_records(["first.example.test. TXT one"])
    dns_server.add_records({"second.example.test": ("A", "127.0.0.2")})
    rcode, answer = query("127.0.0.1", dns_server.port,
                          "first.example.test", "TXT")
    assert (rcode, txt_values(answer)) == ("NOERROR", [b"one"])
    rcode, answer = query("127.0.0.1", dns_server.port,
                          "second.example.test", "A")
    assert [rd.to_text() for rrset in answer for rd in rrset] == [
        "127.0.0.2"]

    dns_server.set_records(["third.example.test. TXT three"])
    rcode, _ = query("127.0.0.1", dns_server.port, "first.example.test",
                     "TXT")
    assert rcode == "NXDOMAIN"
    rcode, answer = query("127.0.0.1", dns_server.port,
                          "third.example.test", "TXT")
    assert (rcode, txt_values(answer)) == ("NOERROR", [b"three"])


def test_txt_quoting():
    cases = [
        ('a.test. TXT "x"', 'a.test. TXT "x"'),
        ("a.test. TXT two words", 'a.test. TXT "two words"'),
        ('a.test. TXT "say \\"hi\\"" "b"',
         'a.test. TXT "say \\034hi\\034" "b"'),
        ("a.test. TXT it's", 'a.test. TXT "it\\039s"'),
        ('a.test. TXT "%s"' % ("x" * 256), 'a.test. TXT "%s" "x"' %
         ("x" * 255)),
        ("a.test. 60 IN a 127.0.0.1", "a.test. 60 IN A 127.0.0.1"),
    ]
    for line, want in cases:
        assert harness.record_line(line) == want


RESOLVE_SCRIPT = """
import dns.resolver
r = dns.resolver.Resolver()
print(r.nameservers[0])
for rd in r.resolve("ns.example.test", "TXT"):
    print(b"".join(rd.strings).decode())
"""


def test_resolver_namespace_cmd(dns_server):
    dns_server.set_records({"ns.example.test": KEY})
    with open("/etc/resolv.conf", "rb") as f:
        before = f.read()
    res = subprocess.run(
        harness.resolver_namespace_cmd(["/usr/bin/python3", "-c",
                                        RESOLVE_SCRIPT]),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split("\n")[:2] == [harness.RESOLVER_ADDRESS, KEY]
    with open("/etc/resolv.conf", "rb") as f:
        assert f.read() == before
