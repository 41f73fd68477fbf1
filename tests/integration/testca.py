"""A throwaway certificate authority for the TLS tests, made with the
openssl command line: a CA, a server certificate for postern and the
MTAs (names postern.test, mta.test, localhost; addresses 127.0.0.1 and
::1) and a client certificate.  Every file is PEM in one private
directory every MTA account can read."""

import os
import shutil
import subprocess

import harness

SERVER_NAMES = ("postern.test", "mta.test", "localhost")


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   timeout=60)


class TestCA:
    """Paths: ca_cert, server_cert, server_key, server_chain (certificate
    then CA), client_cert, client_key; client_subject is the client
    certificate's subject as OpenSSL prints it (RFC 2253)."""

    client_subject = "CN=client.example,O=Postern Test"

    def __init__(self):
        self.dir = harness.make_private_dir("postern-ca-")
        d = self.dir
        self.ca_key = os.path.join(d, "ca.key")
        self.ca_cert = os.path.join(d, "ca.pem")
        self.server_key = os.path.join(d, "server.key")
        self.server_cert = os.path.join(d, "server.pem")
        self.server_chain = os.path.join(d, "server-chain.pem")
        self.client_key = os.path.join(d, "client.key")
        self.client_cert = os.path.join(d, "client.pem")
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes",
                 "-subj", "/O=Postern Test/CN=Postern Test CA",
                 "-days", "3", "-keyout", self.ca_key, "-out", self.ca_cert,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        san = ",".join(["DNS:%s" % n for n in SERVER_NAMES] +
                       ["IP:127.0.0.1", "IP:::1"])
        self._issue("server", "/O=Postern Test/CN=postern.test",
                    "subjectAltName=%s\nextendedKeyUsage=serverAuth\n" % san,
                    self.server_key, self.server_cert)
        self._issue("client", "/O=Postern Test/CN=client.example",
                    "extendedKeyUsage=clientAuth\n",
                    self.client_key, self.client_cert)
        with open(self.server_chain, "w") as out:
            for path in (self.server_cert, self.ca_cert):
                with open(path) as f:
                    out.write(f.read())
        for name in os.listdir(d):
            os.chmod(os.path.join(d, name), 0o644)

    def _issue(self, name, subject, ext, key, cert):
        d = self.dir
        csr = os.path.join(d, name + ".csr")
        extfile = os.path.join(d, name + ".ext")
        with open(extfile, "w") as f:
            f.write(ext)
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes",
                 "-subj", subject, "-keyout", key, "-out", csr, cwd=d)
        _openssl("x509", "-req", "-in", csr, "-CA", self.ca_cert,
                 "-CAkey", self.ca_key, "-CAcreateserial", "-days", "3",
                 "-extfile", extfile, "-out", cert, cwd=d)

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
