#!/usr/bin/python3
"""Show postern relaying one real message to a real Postfix.

Starts a private Postfix and postern in front of it (the integration
test harness), sends a multipart message with smtplib, waits for the
delivery and prints what a postmaster wants to see: the SMTP replies the
client got, postern's log lines for the session, and the message as
Postfix stored it.  Then stops everything.  Run by `make demo`.
"""

import os
import smtplib
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


def main():
    postfix = harness.Postfix()
    postern = None
    try:
        postfix.start()
        postern = harness.Postern(postfix.address).start()
        print("Postfix %s (queue in %s)" % (postfix.address, postfix.base))
        print("postern %s:%d -> upstream %s" % (
            postern.host, postern.port, postfix.address))

        conv = Conversation()
        client_port = conv.send(postern.host, postern.port, build_message())
        section("SMTP conversation as the client saw it")
        print("\n".join(conv.lines))

        delivered = postfix.wait_messages("bob", 1, timeout=30)
        postern.wait_log(r"disconnect", timeout=5)
        section("postern's log for this session")
        print("\n".join(postern.session_lines(client_port)) or
              postern.log())

        section("Postfix's log")
        print(postfix.log().rstrip())

        section("The message as delivered to %s (maildir %s)" % (
            RECIPIENT, postfix.maildir("bob")))
        if not delivered:
            print("(nothing delivered)")
            return 1
        sys.stdout.write(delivered[0].decode("utf-8", "replace"))
        return 0
    finally:
        if postern is not None:
            status = postern.stop()
            if status != 0:
                print("postern exit status %r" % status, file=sys.stderr)
            postern.cleanup()
        postfix.stop()
        postfix.cleanup()


if __name__ == "__main__":
    sys.exit(main())
