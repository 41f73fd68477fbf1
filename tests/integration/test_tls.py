"""TLS towards clients: STARTTLS and implicit TLS in front of Postfix.

With the harness's test CA: swaks --tls and --tlsc deliver and the
Received header names the TLS; openssl s_client shows the protocol and
the min_version and cipher restrictions; client certificates are asked
for (optional) or demanded (require); the STARTTLS injection case
(CVE-2011-0411) drops the session; EHLO is required again after TLS;
SIGHUP serves a new certificate to new sessions only; garbage or silence
instead of a handshake ends that session alone.
"""

import hashlib
import os
import re
import signal
import socket
import ssl
import subprocess

import pytest

import harness
from harness import make_message
from test_signals import rewrite_config

RCPT = "bob@example.net"
SENDER = "sender@example.org"


def tls_section(ca, **opts):
    """A tls section with the test CA's server certificate (its chain)
    and key, plus opts as written."""
    lines = ["tls {",
             '\tcertificate = "%s"' % opts.pop("certificate",
                                               ca.server_chain),
             '\tkey = "%s"' % opts.pop("key", ca.server_key)]
    lines += ["\t%s = %s" % kv for kv in opts.items()]
    lines.append("}")
    return "\n".join(lines)


def start_tls_postern(start_postern, postfix, ca, listeners="", **opts):
    return start_postern(postfix, extra=tls_section(ca, **opts) + "\n" +
                         listeners)


def client_context(ca, cert=None, key=None):
    ctx = ssl.create_default_context(cafile=ca.ca_cert)
    if cert:
        ctx.load_cert_chain(cert, key)
    return ctx


def starttls(c, ctx):
    """EHLO, STARTTLS, handshake on the SMTPClient c; returns the EHLO
    reply before TLS."""
    assert c.greeting().code == 220
    ehlo = c.ehlo()
    reply = c.command("STARTTLS")
    assert (reply.code, reply.enhanced) == (220, "2.0.0"), reply
    assert c.buf == b""
    c.sock = ctx.wrap_socket(c.sock, server_hostname="postern.test")
    return ehlo


def swaks(port, *args):
    cmd = ["swaks", "--server", "127.0.0.1:%d" % port, "--to", RCPT,
           "--from", SENDER, "--timeout", "30"] + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def s_client(port, *args, starttls_smtp=True, stdin="QUIT\n"):
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
           "-brief", "-crlf", "-ign_eof"]
    if starttls_smtp:
        cmd += ["-starttls", "smtp"]
    r = subprocess.run(cmd + list(args), input=stdin, capture_output=True,
                       text=True, timeout=60)
    return r.stdout + r.stderr


def received_by_postern(raw):
    """postern's Received field of a delivered message, unfolded."""
    fields = [harness.unfold(f) for f in harness.split_header_fields(raw)[0]
              if harness.field_name(f) == b"received"]
    ours = [f for f in fields if "(postern)" in f]
    assert len(ours) == 1, raw
    return ours[0]


def cert_fingerprint(path):
    der = ssl.PEM_cert_to_DER_cert(open(path).read().split(
        "-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n")
    return hashlib.sha256(der).hexdigest()


def served_fingerprint(p, ca):
    with p.connect() as c:
        starttls(c, client_context(ca))
        der = c.sock.getpeercert(binary_form=True)
        c.command("QUIT")
    return hashlib.sha256(der).hexdigest()


# ------------------------------------------------------------ delivery

def test_swaks_starttls_delivers_with_tls_in_received(start_postern,
                                                      postfix, test_ca):
    p = start_tls_postern(start_postern, postfix, test_ca)
    r = swaks(p.port, "--tls", "--tls-verify", "--tls-ca-path",
              test_ca.ca_cert)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "TLS started with cipher TLSv1.3" in r.stdout, r.stdout
    got = postfix.wait_messages("bob", 1)
    assert len(got) == 1
    received = received_by_postern(got[0])
    assert re.search(r"\(using TLSv1\.3 with cipher TLS_AES_256_GCM_SHA384 "
                     r"\(256/256 bits\)\) by postern\.test \(postern\) "
                     r"with ESMTPS id ", received), received
    assert "Client" not in received
    assert p.wait_log(r" tls mode=starttls tls=TLSv1\.3 "
                      r"cipher=TLS_AES_256_GCM_SHA384 bits=256 "
                      r"client_cert=none$"), p.log()
    assert p.wait_log(r" message txn=\S+ .* size=\d+ tls=TLSv1\.3 "
                      r"cipher=TLS_AES_256_GCM_SHA384 result=relayed"), \
        p.log()


def test_swaks_implicit_tls_listener(start_postern, postfix, test_ca):
    port = harness.free_port()
    p = start_tls_postern(
        start_postern, postfix, test_ca,
        listeners='listener smtps { address = "127.0.0.1:%d"  '
                  'tls = implicit }' % port)
    assert harness.wait_listening(port, 10, p.proc)
    r = swaks(port, "--tlsc", "--tls-verify", "--tls-ca-path",
              test_ca.ca_cert)
    assert r.returncode == 0, r.stdout + r.stderr
    # The banner comes only after the handshake.
    assert r.stdout.index("TLS started") < r.stdout.index("220 postern.test")
    assert "STARTTLS" not in r.stdout
    got = postfix.wait_messages("bob", 1)
    assert "(using TLSv1.3 with cipher" in received_by_postern(got[0])
    assert p.wait_log(r" tls mode=implicit tls=TLSv1\.3 "), p.log()


def test_implicit_tls_refusal_sends_no_cleartext(start_postern, postfix,
                                                 test_ca):
    """A client of an implicit-TLS listener expects a handshake: a
    refused connection is closed without a cleartext 421."""
    port = harness.free_port()
    p = start_postern(
        postfix, limits={"sessions_per_client": "1"},
        extra=tls_section(test_ca) + '\nlistener smtps { address = '
        '"127.0.0.1:%d" tls = implicit }' % port)
    assert harness.wait_listening(port, 10, p.proc)
    with socket.create_connection(("127.0.0.1", port)) as first:
        assert p.wait_log(r" connect client=127\.0\.0\.1:\d+ "
                          r"listener=smtps "), p.log()
        with socket.create_connection(("127.0.0.1", port)) as second:
            second.settimeout(10)
            got = second.recv(4096)
        assert got == b"", got
    assert p.wait_log(r"refuse client=127\.0\.0\.1 listener=smtps "
                      r"reason=too-many-client-sessions"), p.log()


def test_large_message_over_tls_arrives_intact(start_postern, postfix,
                                                test_ca):
    p = start_tls_postern(start_postern, postfix, test_ca)
    line = b"0123456789abcdefghijklmnopqrstuvwxyz" * 2 + b"+/\r\n"
    body = b"".join(b"%08d" % i + line
                    for i in range(4 * 1024 * 1024 // len(line)))
    msg = make_message(subject="four megabytes over TLS", body=body)
    with p.connect(timeout=60) as c:
        starttls(c, client_context(test_ca))
        c.ehlo()
        replies = c.send_mail(SENDER, [RCPT], msg)
        assert replies[-1].code == 250, replies
        c.command("QUIT")
    [raw] = postfix.wait_messages("bob", 1, timeout=60)
    assert "(using TLSv1.3" in received_by_postern(raw)
    assert harness.strip_mta_trace(raw).endswith(harness.to_stored(msg))


def test_no_tls_section_no_starttls(postern):
    with postern.connect() as c:
        c.greeting()
        assert "STARTTLS" not in c.ehlo().text
        reply = c.command("STARTTLS")
        assert (reply.code, reply.enhanced) == (502, "5.5.1"), reply


# --------------------------------------------------- protocol and ciphers

def test_s_client_protocol_versions(start_postern, postfix, test_ca):
    p = start_tls_postern(start_postern, postfix, test_ca)
    out = s_client(p.port, "-CAfile", test_ca.ca_cert, "-verify_return_error")
    assert "Protocol version: TLSv1.3" in out, out
    assert "Verification: OK" in out, out
    assert re.search(r"221 2\.0\.0 postern\.test closing", out), out
    out = s_client(p.port, "-CAfile", test_ca.ca_cert, "-tls1_2")
    assert "Protocol version: TLSv1.2" in out, out
    assert p.wait_log(r" tls mode=starttls tls=TLSv1\.2 cipher=ECDHE-"), \
        p.log()


def test_min_version_refuses_older_client(start_postern, postfix, test_ca):
    p = start_tls_postern(start_postern, postfix, test_ca,
                          min_version='"TLSv1.3"')
    out = s_client(p.port, "-CAfile", test_ca.ca_cert, "-tls1_2")
    assert "Protocol version: TLSv1.2" not in out, out
    assert p.wait_log(r" tls failed phase=handshake client=127\.0\.0\.1 "
                      r"reason=\".*unsupported protocol"), p.log()
    out = s_client(p.port, "-CAfile", test_ca.ca_cert)
    assert "Protocol version: TLSv1.3" in out, out


def test_default_min_version_refuses_tls_1_1(start_postern, postfix,
                                             test_ca):
    p = start_tls_postern(start_postern, postfix, test_ca)
    out = s_client(p.port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0")
    if "no protocols available" in out:
        pytest.skip("the local OpenSSL cannot offer TLS 1.1")
    assert "Protocol version: TLSv1.1" not in out, out
    assert p.wait_log(r" tls failed phase=handshake .*reason=\".*"
                      r"(unsupported protocol|version too low)"), p.log()


def test_ciphers_restrict_tls_1_2(start_postern, postfix, test_ca):
    p = start_tls_postern(start_postern, postfix, test_ca,
                          ciphers='"ECDHE-RSA-AES128-GCM-SHA256"')
    out = s_client(p.port, "-tls1_2", "-cipher",
                   "ECDHE-RSA-AES256-GCM-SHA384")
    assert "Protocol version" not in out, out
    assert p.wait_log(r" tls failed phase=handshake .*reason=\".*"
                      r"no shared cipher"), p.log()
    out = s_client(p.port, "-tls1_2")
    assert "Ciphersuite: ECDHE-RSA-AES128-GCM-SHA256" in out, out


# ---------------------------------------------------- client certificates

def test_client_certificate_optional(start_postern, postfix, test_ca):
    p = start_tls_postern(start_postern, postfix, test_ca,
                          ca_file='"%s"' % test_ca.ca_cert,
                          verify_client="optional")
    r = swaks(p.port, "--tls", "--tls-cert", test_ca.client_cert,
              "--tls-key", test_ca.client_key)
    assert r.returncode == 0, r.stdout + r.stderr
    got = postfix.wait_messages("bob", 1)
    received = received_by_postern(got[0])
    assert ('(Client "%s", Issuer "CN=Postern Test CA,O=Postern Test" '
            "(verified OK))" % test_ca.client_subject) in received, received
    # The log escapes "=" in values.
    assert p.wait_log(r" client_cert=yes subject=\"%s\"" % re.escape(
        test_ca.client_subject.replace("=", "\\x3d"))), p.log()
    # Without a certificate the session goes on, without the clause.
    postfix.reset()
    r = swaks(p.port, "--tls")
    assert r.returncode == 0, r.stdout + r.stderr
    got = postfix.wait_messages("bob", 1)
    received = received_by_postern(got[0])
    assert "(using TLSv1.3" in received and "Client" not in received


def test_client_certificate_required(start_postern, postfix, test_ca):
    p = start_tls_postern(start_postern, postfix, test_ca,
                          ca_file='"%s"' % test_ca.ca_cert,
                          verify_client="require")
    with p.connect() as c:
        starttls(c, client_context(test_ca))
        # TLS 1.3: the server judges the client's (empty) certificate
        # after the client has finished; its alert ends the session.
        try:
            c.command("EHLO client.example")
            refused = False
        except (OSError, EOFError):  # ssl.SSLError is an OSError
            refused = True
        assert refused
    assert p.wait_log(r" tls failed phase=handshake .*reason=\".*"
                      r"peer did not return a certificate"), p.log()
    with p.connect() as c:
        starttls(c, client_context(test_ca, test_ca.client_cert,
                                   test_ca.client_key))
        assert c.ehlo().code == 250
        assert c.send_mail(SENDER, [RCPT], make_message())[-1].code == 250
        c.command("QUIT")
    received = received_by_postern(postfix.wait_messages("bob", 1)[0])
    assert 'Client "%s"' % test_ca.client_subject in received, received


# ------------------------------------------------------ SMTP around TLS

def test_starttls_injection_drops_session(start_postern, postfix, test_ca):
    p = start_tls_postern(start_postern, postfix, test_ca)
    with p.connect() as c:
        c.greeting()
        c.ehlo()
        c.send(b"STARTTLS\r\nNOOP\r\n")
        reply = c.read_reply()
        assert (reply.code, reply.enhanced) == (554, "5.5.1"), reply
        assert c.expect_closed(10)
        assert c.buf == b"", c.buf  # no 250 for the NOOP
        port = c.local_port
    assert p.wait_log(r" tls refused client=127\.0\.0\.1 "
                      r"reason=pipelined-after-starttls octets=6$"), p.log()
    lines = "\n".join(p.session_lines(port))
    assert "disconnect reason=starttls-pipelining" in lines, lines


def test_ehlo_required_again_after_starttls(start_postern, postfix, test_ca):
    p = start_tls_postern(start_postern, postfix, test_ca)
    with p.connect() as c:
        c.greeting()
        assert "STARTTLS" in c.ehlo().lines
        reply = c.command("STARTTLS now")
        assert (reply.code, reply.enhanced) == (501, "5.5.4"), reply
        c.sock.close()
    with p.connect() as c:
        before = starttls(c, client_context(test_ca))
        assert "STARTTLS" in before.lines
        reply = c.command("MAIL FROM:<%s>" % SENDER)
        assert (reply.code, reply.enhanced) == (503, "5.5.1"), reply
        after = c.ehlo()
        assert after.code == 250
        assert "STARTTLS" not in after.lines, after
        reply = c.command("STARTTLS")
        assert (reply.code, reply.enhanced) == (503, "5.5.1"), reply
        replies = c.send_mail(SENDER, [RCPT], make_message())
        assert replies[-1].code == 250, replies
        c.command("QUIT")
    assert postfix.wait_messages("bob", 1)


def test_garbage_handshake_leaves_other_sessions(start_postern, postfix,
                                                 test_ca):
    p = start_tls_postern(start_postern, postfix, test_ca)
    with p.connect() as good:
        starttls(good, client_context(test_ca))
        good.ehlo()
        with p.connect() as bad:
            bad.greeting()
            bad.ehlo()
            assert bad.command("STARTTLS").code == 220
            bad.send(b"GET / HTTP/1.0\r\n\r\n" + os.urandom(64))
            assert bad.expect_closed(10)
        assert p.wait_log(r" tls failed phase=handshake client=127\.0\.0\.1 "
                          r"reason=\"[^\"]+\""), p.log()
        replies = good.send_mail(SENDER, [RCPT], make_message())
        assert replies[-1].code == 250, replies
        good.command("QUIT")
    assert p.proc.poll() is None
    assert postfix.wait_messages("bob", 1)


def test_hangup_without_close_notify_is_eof(start_postern, postfix,
                                            test_ca):
    # OpenSSL 3 calls a missing close_notify an error; for SMTP it is a
    # hangup like a plain one, logged the same way.
    p = start_tls_postern(start_postern, postfix, test_ca)
    for in_data in (False, True):
        with p.connect() as c:
            starttls(c, client_context(test_ca))
            c.ehlo()
            if in_data:
                assert c.command("MAIL FROM:<%s>" % SENDER).code == 250
                assert c.command("RCPT TO:<%s>" % RCPT).code == 250
                assert c.command("DATA").code == 354
                c.send(b"Subject: cut\r\n\r\nhalf a message\r\n")
            # Close the TCP connection under TLS without close_notify.
            socket.socket(fileno=c.sock.detach()).close()
    assert p.wait_log(r" disconnect reason=eof messages=0 "), p.log()
    assert p.wait_log(r" disconnect reason=eof-in-data messages=0 "), p.log()
    assert " reason=error " not in p.log()
    assert p.proc.poll() is None


def test_handshake_timeout_closes_silent_client(start_postern, postfix,
                                                test_ca):
    p = start_tls_postern(start_postern, postfix, test_ca,
                          handshake_timeout="1s")
    with p.connect() as c:
        c.greeting()
        c.ehlo()
        assert c.command("STARTTLS").code == 220
        assert c.expect_closed(15)
    assert p.wait_log(r" tls failed phase=handshake client=127\.0\.0\.1 "
                      r"reason=\"timeout\""), p.log()


# ------------------------------------------------------ reload and -t

def test_sighup_serves_new_certificate_to_new_sessions(start_postern,
                                                       postfix, test_ca):
    p = start_tls_postern(start_postern, postfix, test_ca)
    old_fp = cert_fingerprint(test_ca.server_cert)
    assert served_fingerprint(p, test_ca) == old_fp
    d = harness.make_private_dir("postern-cert-")
    key, cert = os.path.join(d, "new.key"), os.path.join(d, "new.pem")
    test_ca._issue("new", "/O=Postern Test/CN=postern.test",
                   "subjectAltName=DNS:postern.test\n", key, cert)
    new_fp = cert_fingerprint(cert)
    assert new_fp != old_fp
    with p.connect() as open_session:
        starttls(open_session, client_context(test_ca))
        open_session.ehlo()
        rewrite_config(p, 'certificate = "%s"' % test_ca.server_chain,
                       'certificate = "%s"' % cert)
        rewrite_config(p, 'key = "%s"' % test_ca.server_key,
                       'key = "%s"' % key)
        p.proc.send_signal(signal.SIGHUP)
        assert p.wait_log(r"reload done"), p.log()
        assert served_fingerprint(p, test_ca) == new_fp
        # The session from before the reload keeps its TLS and works.
        replies = open_session.send_mail(SENDER, [RCPT], make_message())
        assert replies[-1].code == 250, replies
        open_session.command("QUIT")

    # A key that does not match: the reload is refused, the served
    # certificate stays.
    rewrite_config(p, 'key = "%s"' % key,
                   'key = "%s"' % test_ca.server_key)
    p.proc.send_signal(signal.SIGHUP)
    assert p.wait_log(r"reload refused config=running reason=\""
                      r".*postern\.conf:\d+: tls: key .* does not match "
                      r"certificate"), p.log()
    assert served_fingerprint(p, test_ca) == new_fp
    harness.shutil.rmtree(d, ignore_errors=True)


def test_config_check_prints_tls(tmp_path, test_ca):
    conf = tmp_path / "tls.conf"
    text = harness.render_config(
        2525, "127.0.0.1:10025", str(tmp_path),
        extra=tls_section(test_ca, min_version='"TLSv1.3"') +
        '\nlistener smtps { address = "127.0.0.1:465" }')
    conf.write_text(text)
    r = subprocess.run([harness.POSTERN, "-c", str(conf), "-t"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert ("tls certificate %s key %s chain none ca_file none\n" %
            (test_ca.server_chain, test_ca.server_key)) in r.stdout
    assert ("tls verify_client none min_version TLSv1.3 ciphers default "
            "ciphersuites default handshake_timeout 1m\n") in r.stdout
    assert ("tls served subject CN=postern.test,O=Postern Test not_after "
            in r.stdout), r.stdout
    assert " sha256 %s\n" % cert_fingerprint(test_ca.server_cert) \
        in r.stdout
    assert "tls listeners smtp=starttls smtps=implicit\n" in r.stdout

    bad = tmp_path / "bad.conf"
    text = text.replace('key = "%s"' % test_ca.server_key,
                        'key = "%s"' % test_ca.client_key)
    bad.write_text(text)
    line = text.splitlines().index("tls {") + 1
    r = subprocess.run([harness.POSTERN, "-c", str(bad), "-t"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.startswith(
        "%s:%d: tls: key %s does not match certificate %s" %
        (bad, line, test_ca.client_key, test_ca.server_chain)), r.stderr
