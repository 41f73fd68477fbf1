"""Integration test harness: real MTAs, postern, and SMTP clients.

Runs everything on loopback, on free ports above 1024, in private
temporary directories:

- Postfix: a private instance (its own main.cf/master.cf, queue, data
  and log) started with `postfix -c DIR start`, delivering a virtual
  mailbox domain (example.net) to maildirs, rejecting unknown users with
  its own "550 5.1.1".
- Exim: the Debian binary unpacked by tests/deps.sh into
  /var/cache/postern-test/exim (Postfix and exim4 conflict as packages),
  run with -C and its own spool, log and pid paths.  Exim drops root for
  a -C config not listed in its TRUSTED_CONFIG_LIST and runs as
  Debian-exim, which is all it needs: the daemon listens above 1024 and
  delivers as Debian-exim.
- FakeUpstream: a small scripted SMTP server for failure cases no real
  MTA produces on demand (dying after 354, never answering).
- Postern: writes a config, runs `$POSTERN -f -c FILE`, stops it with
  SIGTERM and checks its exit status and log.

What it leaves to the tests: every assertion about SMTP behaviour.

Both MTAs store messages with LF line ends (maildir), and Postfix cannot
tell a CRLF from a bare LF once it has read a line, so comparisons are
made against `to_stored(sent)`, which turns every CRLF into LF.
"""

import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
POSTERN = os.environ.get("POSTERN", os.path.join(REPO, "build", "postern"))
EXIM = os.environ.get("POSTERN_TEST_EXIM",
                      "/var/cache/postern-test/exim/usr/sbin/exim4")

DOMAIN = "example.net"
USERS = ("alice", "bob", "carol", "dave", "erin", "jöran")
POSTERN_HOSTNAME = "postern.test"

LOOPBACK4 = "127.0.0.1"
LOOPBACK6 = "::1"


# ---------------------------------------------------------------- helpers

def wait_until(pred, timeout, interval=0.05):
    """Poll pred() until it returns a true value or timeout seconds pass.
    Returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def _port_is_free(port):
    for family, host in ((socket.AF_INET, LOOPBACK4),
                         (socket.AF_INET6, LOOPBACK6)):
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port():
    """A port free on 127.0.0.1 and ::1, below the ephemeral range so an
    outgoing connection cannot take it between choice and use."""
    for _ in range(200):
        port = random.randint(20000, 32000)
        if _port_is_free(port):
            return port
    raise RuntimeError("no free port found")


def _listening_ports():
    ports = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A":
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


def wait_listening(port, timeout=10, proc=None):
    """Wait until something listens on port, without connecting to it
    (a connection to postern would start a session).  Returns False when
    proc exits first or the time runs out."""
    def ready():
        if proc is not None and proc.poll() is not None:
            return "exited"
        return port in _listening_ports()
    return wait_until(ready, timeout) is True


def make_private_dir(prefix):
    """A temp dir every MTA user can traverse (mkdtemp makes 0700)."""
    path = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    os.chmod(path, 0o755)
    return path


def run_mta(mta):
    """For a fixture: `yield from run_mta(server)` starts it, yields it
    and stops it, removing its files unless POSTERN_TEST_KEEP=1."""
    try:
        mta.start()
        yield mta
    finally:
        mta.stop()
        if os.environ.get("POSTERN_TEST_KEEP") != "1":
            mta.cleanup()


def pids_with_parent(ppid):
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == ppid:
            pids.append(int(entry))
    return pids


def process_comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def read_pidfile(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# ------------------------------------------------------- message helpers

def to_stored(message):
    """What a maildir holds for a message sent as `message` (CRLF lines):
    every CRLF becomes LF."""
    return message.replace(b"\r\n", b"\n")


def dot_stuff(message):
    """The DATA payload for message (which must end in CRLF): lines that
    start with "." get one more, then the terminating ".CRLF"."""
    if not message.endswith(b"\r\n"):
        raise ValueError("message must end with CRLF")
    lines = message.split(b"\r\n")[:-1]
    stuffed = [b"." + line if line.startswith(b".") else line
               for line in lines]
    return b"\r\n".join(stuffed) + b"\r\n.\r\n"


def split_header_fields(raw):
    """Split raw message bytes into (list of header fields, rest), each
    field with its continuation lines and line ends.  rest starts with
    the empty line that ends the header (or is empty)."""
    fields = []
    pos = 0
    while pos < len(raw):
        end = raw.find(b"\n", pos)
        end = len(raw) if end < 0 else end + 1
        line = raw[pos:end]
        if line in (b"\n", b"\r\n"):
            break
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
        pos = end
    return fields, raw[pos:]


def field_name(field):
    return field.split(b":", 1)[0].strip().lower()


MTA_TRACE_FIELDS = (b"return-path", b"x-original-to", b"delivered-to",
                    b"envelope-to", b"delivery-date")


def split_mta_trace(raw):
    """Split a delivered message into (trace fields the delivering MTA put
    on top: Return-Path, X-Original-To, Delivered-To, Envelope-to,
    Delivery-date and its one Received; the rest)."""
    fields, _ = split_header_fields(raw)
    taken = []
    for field in fields:
        if field_name(field) not in MTA_TRACE_FIELDS:
            break
        taken.append(field)
    if len(fields) > len(taken) and field_name(fields[len(taken)]) == \
            b"received":
        taken.append(fields[len(taken)])
    size = sum(len(f) for f in taken)
    return taken, raw[size:]


def strip_mta_trace(raw):
    """The delivered message without the delivering MTA's trace fields:
    what the MTA received, postern's Received first."""
    return split_mta_trace(raw)[1]


def pop_header_field(raw):
    """(first header field with its continuations, the rest)."""
    fields, _ = split_header_fields(raw)
    if not fields:
        return b"", raw
    return fields[0], raw[len(fields[0]):]


def unfold(field):
    """A header field as one line of text, folding removed."""
    text = field.decode("utf-8", "surrogateescape")
    return re.sub(r"\r?\n[ \t]+", " ", text).rstrip("\r\n")


# ------------------------------------------------------------ SMTP client

class Reply:
    """One SMTP reply: code (int), lines (text after "NNN-"/"NNN "),
    enhanced (the x.y.z of the first line or None)."""

    def __init__(self, raw_lines):
        self.raw_lines = raw_lines
        self.code = int(raw_lines[0][:3])
        self.lines = [l[4:] for l in raw_lines]
        m = re.match(r"([245]\.\d{1,3}\.\d{1,3})( |$)", self.lines[0])
        self.enhanced = m.group(1) if m else None

    @property
    def text(self):
        return "\n".join(self.raw_lines)

    def __str__(self):
        return self.text

    __repr__ = __str__


class SMTPClient:
    """A raw SMTP client over a socket: send exact bytes, read replies."""

    def __init__(self, host, port, timeout=15):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.local_port = self.sock.getsockname()[1]
        self.buf = b""
        self.transcript = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.transcript.append(("C", data))
        self.sock.sendall(data)

    def _read_line(self, timeout):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; pending %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r").decode("utf-8", "surrogateescape")

    def read_reply(self, timeout=15):
        """Read one (possibly multi-line) reply.  Raises EOFError when the
        server closed the connection first, socket.timeout on timeout."""
        lines = []
        while True:
            line = self._read_line(timeout)
            if not re.match(r"\d{3}[ -]|\d{3}$", line):
                raise ValueError("malformed reply line %r" % line)
            lines.append(line)
            if len(line) == 3 or line[3] == " ":
                break
        reply = Reply(lines)
        self.transcript.append(("S", reply.text))
        return reply

    def command(self, line, timeout=15):
        """Send one command (CRLF appended) and read its reply."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\r\n")
        return self.read_reply(timeout)

    def greeting(self):
        return self.read_reply()

    def ehlo(self, name="client.example"):
        return self.command("EHLO " + name)

    def expect_closed(self, timeout=5):
        """True when the server closes the connection within timeout
        (data still buffered is discarded)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True

    def send_mail(self, mail_from, rcpts, message, mail_params=""):
        """One transaction, command by command.  Returns the replies:
        MAIL, each RCPT, DATA and (if DATA got 354) the final one."""
        replies = [self.command("MAIL FROM:<%s>%s" % (
            mail_from, " " + mail_params if mail_params else ""))]
        for rcpt in rcpts:
            replies.append(self.command("RCPT TO:<%s>" % rcpt))
        data = self.command("DATA")
        replies.append(data)
        if data.code == 354:
            self.send(dot_stuff(message))
            replies.append(self.read_reply(timeout=60))
        return replies


class Session:
    """The replies of one whole client session (see send_one)."""

    def __init__(self):
        self.greeting = self.ehlo = self.mail = self.data = None
        self.final = self.quit = None
        self.rcpts = []
        self.client_port = None

    def __repr__(self):
        return "Session(%r)" % self.__dict__


def send_one(host, port, rcpts, message, sender="sender@example.org",
             helo="client.example", mail_params=""):
    """Greeting, EHLO, one transaction, QUIT: every reply, or up to the
    first that ends the session (a 421 or a closed connection)."""
    s = Session()
    with SMTPClient(host, port) as c:
        s.client_port = c.local_port
        try:
            s.greeting = c.greeting()
            if s.greeting.code != 220:
                return s
            s.ehlo = c.ehlo(helo)
            replies = c.send_mail(sender, rcpts, message, mail_params)
            s.mail = replies[0]
            s.rcpts = replies[1:1 + len(rcpts)]
            s.data = replies[1 + len(rcpts)]
            if len(replies) > 2 + len(rcpts):
                s.final = replies[-1]
            s.quit = c.command("QUIT")
        except EOFError:
            pass
    return s


def direct_reply(host, port, commands):
    """Replies of an MTA, spoken to directly, to EHLO then commands
    (used to compare postern's pass-through with the original)."""
    with SMTPClient(host, port) as c:
        c.greeting()
        c.ehlo()
        replies = [c.command(cmd) for cmd in commands]
        c.command("QUIT")
    return replies


def make_message(subject="test", body=None, extra_headers=(),
                 sender="sender@example.org", to="bob@example.net"):
    """A small RFC 5322 message with CRLF line ends."""
    msgid = "<%d.%d@client.example>" % (time.time_ns(), random.randint(
        0, 1 << 30))
    headers = [
        "From: %s" % sender,
        "To: %s" % to,
        "Subject: %s" % subject,
        "Date: Thu, 03 Dec 2026 12:00:00 +0000",
        "Message-ID: %s" % msgid,
    ]
    headers.extend(extra_headers)
    if body is None:
        body = b"Hello.\r\n\r\nThis is a test message.\r\n"
    head = "\r\n".join(headers).encode("utf-8") + b"\r\n\r\n"
    return head + body


# ---------------------------------------------------------------- Postfix

POSTFIX_MASTER_CF = """\
{listen4} inet n - n - - smtpd
{listen6} inet n - n - - smtpd
postern-in unix n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
proxywrite unix - - n -  1 proxymap
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
virtual   unix  - n n -  - virtual
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
tlsmgr    unix  - - n 1000? 1 tlsmgr
postlog   unix-dgram n - n - 1 postlogd
"""

POSTFIX_MAIN_CF = """\
compatibility_level = 3.6
myhostname = mta.test
mydomain = test
myorigin = $myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = all
mynetworks = 127.0.0.0/8 [::1]/128
queue_directory = {base}/queue
data_directory = {base}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = {base}/maillog
maillog_file_prefixes = {base}
alias_maps =
alias_database =
smtpd_authorized_xclient_hosts = 127.0.0.0/8 [::1]/128
smtpd_authorized_xforward_hosts = 127.0.0.0/8 [::1]/128
smtputf8_enable = yes
message_size_limit = 62914560
mailbox_size_limit = 0
virtual_mailbox_limit = 0
virtual_mailbox_domains = {domain}
virtual_mailbox_maps = texthash:{base}/conf/vmailbox
virtual_mailbox_base = {base}/mail
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
default_transport = error:outside delivery disabled in tests
relay_transport = error:outside delivery disabled in tests
smtp_dns_support_level = disabled
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_error_sleep_time = 0
service_throttle_time = 1s
local_header_rewrite_clients =
biff = no
"""

POSTFIX_QUEUES = ("maildrop", "incoming", "active", "deferred", "hold")


class Postfix:
    """A private Postfix instance listening on 127.0.0.1:port and
    [::1]:port, delivering USERS@DOMAIN to maildirs.  main_cf: extra
    main.cf parameters {name: value} (smtpd_milters, ...), written after
    the defaults so they override them."""

    name = "postfix"

    def __init__(self, users=USERS, main_cf=None):
        self.main_cf = dict(main_cf or {})
        self.host = LOOPBACK4
        self.port = free_port()
        self.base = make_private_dir("postern-postfix-")
        self.conf = os.path.join(self.base, "conf")
        self.users = users
        self.log_path = os.path.join(self.base, "maillog")
        self.log_mark = 0
        self.started = False

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    @property
    def unix_address(self):
        """smtpd on a unix socket (a public service of the instance)."""
        return "unix:" + os.path.join(self.base, "queue", "public",
                                      "postern-in")

    def _write_config(self):
        for sub in ("conf", "queue", "data", "mail"):
            os.makedirs(os.path.join(self.base, sub), exist_ok=True)
        shutil.chown(os.path.join(self.base, "data"), "postfix")
        shutil.chown(os.path.join(self.base, "mail"), 65534, 65534)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(POSTFIX_MAIN_CF.format(base=self.base, domain=DOMAIN))
            for name, value in self.main_cf.items():
                f.write("%s = %s\n" % (name, value))
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER_CF.format(
                listen4="%s:%d" % (LOOPBACK4, self.port),
                listen6="[%s]:%d" % (LOOPBACK6, self.port)))
        with open(os.path.join(self.conf, "vmailbox"), "w",
                  encoding="utf-8") as f:
            for user in self.users:
                f.write("%s@%s %s/%s/\n" % (user, DOMAIN, DOMAIN, user))

    def _postfix(self, *args, check=True):
        return subprocess.run(["postfix", "-c", self.conf] + list(args),
                              stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              check=check, timeout=60)

    def start(self):
        self._write_config()
        self.started = True
        res = self._postfix("start", check=False)
        if res.returncode != 0 or not wait_listening(self.port, 15):
            raise RuntimeError("postfix did not start: %s\n%s" %
                               (res.stdout, self.log()))
        return self

    def master_pid(self):
        return read_pidfile(os.path.join(self.base, "queue", "pid",
                                         "master.pid"))

    def stop(self):
        if not self.started:
            return
        self.started = False
        pid = self.master_pid()
        self._postfix("stop", check=False)
        if pid and not wait_until(lambda: not pid_alive(pid), 10):
            self._postfix("abort", check=False)
            for child in pids_with_parent(pid):
                kill_pid(child)
            kill_pid(pid)
            wait_until(lambda: not pid_alive(pid), 5)

    def smtpd_pids(self):
        pid = self.master_pid()
        if not pid:
            return []
        return [p for p in pids_with_parent(pid)
                if process_comm(p) == "smtpd"]

    # -- log

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def mark_log(self):
        try:
            self.log_mark = os.path.getsize(self.log_path)
        except FileNotFoundError:
            self.log_mark = 0

    def log_since_mark(self):
        with open(self.log_path, "rb") as f:
            f.seek(self.log_mark)
            return f.read().decode("utf-8", "replace")

    def smtpd_sessions_open(self):
        """smtpd processes in a session begun since the mark: connected,
        neither disconnected nor killed."""
        open_pids = set()
        for m in re.finditer(
                r"smtpd\[(\d+)\]: (connect|disconnect) from |"
                r"master\[\d+\]: warning: process \S+/smtpd pid (\d+) "
                r"(killed|exit)", self.log_since_mark()):
            if m.group(2) == "connect":
                open_pids.add(m.group(1))
            else:
                open_pids.discard(m.group(1) or m.group(3))
        return len(open_pids)

    def wait_log_since_mark(self, regex, timeout=10):
        pat = re.compile(regex, re.M)
        return wait_until(lambda: pat.search(self.log_since_mark()),
                          timeout)

    def transactions_since_mark(self):
        """Queue ids of transactions smtpd opened since the mark (at the
        first accepted RCPT, whether or not DATA followed)."""
        return re.findall(r"smtpd\[\d+\]: ([0-9A-F]+): client=",
                          self.log_since_mark())

    def queued_since_mark(self):
        """(queue id, sender) of each message that entered the queue
        since the mark (qmgr's first line for it)."""
        seen = {}
        for qid, sender in re.findall(
                r"qmgr\[\d+\]: ([0-9A-F]+): from=<([^>]*)>",
                self.log_since_mark()):
            seen.setdefault(qid, sender)
        return list(seen.items())

    # -- queue and mailboxes

    def queue_empty(self):
        for q in POSTFIX_QUEUES:
            for _, _, files in os.walk(os.path.join(self.base, "queue", q)):
                if files:
                    return False
        return True

    def wait_idle(self, timeout=10):
        """Wait until every smtpd session since the mark has ended and the
        queue is empty: the mailboxes then hold all there will be."""
        return wait_until(lambda: self.smtpd_sessions_open() <= 0 and
                          self.queue_empty(), timeout)

    def maildir(self, user):
        return os.path.join(self.base, "mail", DOMAIN, user)

    def messages(self, user):
        return read_maildir(self.maildir(user))

    def wait_messages(self, user, count, timeout=15):
        """Wait until user has at least count messages; returns the raw
        bytes of each, oldest first."""
        wait_until(lambda: len(self.messages(user)) >= count, timeout)
        return self.messages(user)

    def reset(self):
        """Between tests: let deliveries finish, empty the maildirs and
        mark the log."""
        self.mark_log()
        self.wait_idle(timeout=5)
        clear_maildirs(os.path.join(self.base, "mail"))
        self.mark_log()

    def cleanup(self):
        shutil.rmtree(self.base, ignore_errors=True)


def read_maildir(path):
    new = os.path.join(path, "new")
    try:
        names = os.listdir(new)
    except FileNotFoundError:
        return []
    paths = [os.path.join(new, n) for n in names]
    paths.sort(key=lambda p: (os.stat(p).st_mtime_ns, p))
    out = []
    for p in paths:
        with open(p, "rb") as f:
            out.append(f.read())
    return out


def clear_maildirs(root):
    for dirpath, _, files in os.walk(root):
        if os.path.basename(dirpath) in ("new", "cur"):
            for name in files:
                os.unlink(os.path.join(dirpath, name))


# ------------------------------------------------------------------- Exim

EXIM_CONF = """\
primary_hostname = exim.test
exim_path = {exim}
spool_directory = {base}/spool
log_file_path = {base}/log/%slog
pid_file_path = {base}/exim.pid
local_interfaces = <; 127.0.0.1 ; ::1
daemon_smtp_ports = {port}
domainlist local_domains = {domain}
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
smtputf8_advertise_hosts = *
message_size_limit = 60M
keep_environment =
never_users = root
acl_smtp_rcpt = acl_check_rcpt

begin acl

acl_check_rcpt:
  require verify = recipient
  accept  domains = +local_domains
  deny    message = relay not permitted

begin routers

localuser:
  driver = accept
  domains = +local_domains
  local_parts = {users}
  transport = local_maildir

begin transports

local_maildir:
  driver = appendfile
  directory = {base}/mail/${{local_part_data}}
  maildir_format
  create_directory
  user = Debian-exim
  group = Debian-exim
  delivery_date_add
  envelope_to_add
  return_path_add
"""


class Exim:
    """The unpacked Debian Exim on 127.0.0.1:port, delivering
    USERS@DOMAIN (ASCII ones) to maildirs."""

    name = "exim"

    def __init__(self, users=USERS):
        self.host = LOOPBACK4
        self.port = free_port()
        self.base = make_private_dir("postern-exim-")
        self.users = [u for u in users if u.isascii()]
        self.conf = os.path.join(self.base, "exim.conf")
        self.pidfile = os.path.join(self.base, "exim.pid")
        self.proc = None

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    @staticmethod
    def available():
        return os.access(EXIM, os.X_OK)

    def _write_config(self):
        for sub in ("spool", "log", "mail"):
            path = os.path.join(self.base, sub)
            os.makedirs(path, exist_ok=True)
            shutil.chown(path, "Debian-exim", "Debian-exim")
        with open(self.conf, "w") as f:
            f.write(EXIM_CONF.format(exim=EXIM, base=self.base,
                                     port=self.port, domain=DOMAIN,
                                     users=" : ".join(self.users)))
        os.chmod(self.conf, 0o644)

    def start(self):
        if not self.available():
            raise RuntimeError("%s missing: run `make deps`" % EXIM)
        self._write_config()
        out = open(os.path.join(self.base, "stderr"), "wb")
        # -bdf: the daemon stays in the foreground, so it is our child.
        self.proc = subprocess.Popen(
            [EXIM, "-C", self.conf, "-bdf", "-oX", str(self.port),
             "-oP", self.pidfile],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        out.close()
        if not wait_listening(self.port, 15, self.proc):
            self.stop()
            raise RuntimeError("exim did not start:\n%s" % self.log())
        return self

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        # Delivery processes it forked run on alone; end ours.
        for pid in self._own_processes():
            kill_pid(pid)

    def _own_processes(self):
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if self.conf.encode() in argv:
                pids.append(int(entry))
        return pids

    def log(self):
        text = ""
        for name in ("mainlog", "rejectlog", "paniclog"):
            try:
                with open(os.path.join(self.base, "log", name),
                          encoding="utf-8", errors="replace") as f:
                    text += f.read()
            except FileNotFoundError:
                pass
        try:
            with open(os.path.join(self.base, "stderr"),
                      encoding="utf-8", errors="replace") as f:
                text += f.read()
        except FileNotFoundError:
            pass
        return text

    def queue_empty(self):
        try:
            return not os.listdir(os.path.join(self.base, "spool", "input"))
        except FileNotFoundError:
            return True

    def wait_idle(self, timeout=10):
        return wait_until(self.queue_empty, timeout)

    def maildir(self, user):
        return os.path.join(self.base, "mail", user)

    def messages(self, user):
        return read_maildir(self.maildir(user))

    def wait_messages(self, user, count, timeout=15):
        wait_until(lambda: len(self.messages(user)) >= count, timeout)
        return self.messages(user)

    def reset(self):
        self.wait_idle(timeout=5)
        clear_maildirs(os.path.join(self.base, "mail"))

    def cleanup(self):
        shutil.rmtree(self.base, ignore_errors=True)


# ------------------------------------------------------ a fake upstream

DEFAULT_FAKE_EHLO = ("PIPELINING", "SIZE 52428800", "8BITMIME",
                     "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN",
                     "XCLIENT NAME ADDR PROTO HELO PORT")


class FakeUpstream:
    """A scripted SMTP server for failure cases.

    ehlo: the extension keywords it offers.  on_data: what it does after
    DATA: "accept" (354, read, 250), "die_after_354" (354, close),
    "die_after_dot" (354, read the message, close without a reply),
    "accept_then_die" (354, read, 250, close), "slow" (354, read, sleep
    final_delay, 250), "reject" / "tempfail" (354, read, 554 / 451 from
    FINAL_REPLIES).  greeting: its first reply (b"" for none).  Records every
    command line and message in self.sessions (a list of dicts)."""

    FINAL_REPLIES = {
        "reject": b"554 5.7.1 fake.test: message content rejected\r\n",
        "tempfail": b"451 4.3.0 fake.test: try again later\r\n",
        # Queued, then a shutdown notice in the same write.
        "accept_then_421": b"250 2.0.0 Ok: queued as FAKE1\r\n"
                           b"421 4.3.2 fake.test shutting down\r\n",
        "354_after_dot": b"354 go ahead again\r\n",
    }

    def __init__(self, ehlo=DEFAULT_FAKE_EHLO, on_data="accept",
                 final_delay=0, greeting=b"220 fake.test ESMTP fake\r\n",
                 tls_cert=None, tls_key=None, ehlo_tls=None, replies=None,
                 idle_timeout=None, greeting_drip=None):
        """tls_cert, tls_key: PEM files; with them and "STARTTLS" in
        ehlo it answers STARTTLS with 220 and a TLS handshake, then
        offers ehlo_tls (default: ehlo without STARTTLS).  A session's
        "tls" is then the TLS version it negotiated.  greeting may be a
        function of the client's IP address returning the greeting.
        replies: {verb: reply bytes, or a function of the connection
        that sends one} in place of the usual ones.  idle_timeout:
        seconds without a command after which it says 421 and closes,
        as Postfix's smtpd_timeout does.  greeting_drip: seconds
        between the greeting's lines (sent at once when None)."""
        self.replies = dict(replies or {})
        self.idle_timeout = idle_timeout
        self.greeting_drip = greeting_drip
        self.ehlo = list(ehlo)
        self.ehlo_tls = list(ehlo_tls) if ehlo_tls is not None else [
            e for e in self.ehlo if e != "STARTTLS"]
        self.tls_ctx = None
        if tls_cert:
            self.tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_ctx.load_cert_chain(tls_cert, tls_key)
        self.greeting = greeting
        self.on_data = on_data
        self.final_delay = final_delay
        self.host = LOOPBACK4
        self.port = free_port()
        self.sessions = []
        self.lock = threading.Lock()
        self.stopping = False
        self.conns = []
        self.threads = []
        self.listener = None

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def start(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((self.host, self.port))
        self.listener.listen(16)
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def stop(self):
        self.stopping = True
        if self.listener is not None:
            try:
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.listener.close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join(5)

    def messages(self):
        with self.lock:
            return [m for s in self.sessions for m in s["messages"]]

    def commands(self):
        with self.lock:
            return [c for s in self.sessions for c in s["commands"]]

    def _accept_loop(self):
        while not self.stopping:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, conn):
        session = {"commands": [], "messages": [], "tls": None}
        with self.lock:
            self.sessions.append(session)
        f = conn.makefile("rb")
        conn.settimeout(self.idle_timeout)
        try:
            self._dialogue(conn, f, session)
        except socket.timeout:
            try:
                conn.sendall(b"421 4.4.2 fake.test Error: timeout "
                             b"exceeded\r\n")
            except OSError:
                pass
        except (OSError, ValueError):
            pass
        finally:
            f.close()
            conn.close()

    def _starttls(self, conn, f, session):
        conn.sendall(b"220 2.0.0 ready to start TLS\r\n")
        tls = self.tls_ctx.wrap_socket(conn, server_side=True)
        with self.lock:
            session["tls"] = tls.version()
        return tls, tls.makefile("rb")

    def _dialogue(self, conn, f, session):
        greeting = self.greeting
        if callable(greeting):  # chosen by the client's address
            greeting = greeting(conn.getpeername()[0])
        if self.greeting_drip is None:
            conn.sendall(greeting)
        else:
            for line in greeting.splitlines(keepends=True):
                conn.sendall(line)
                time.sleep(self.greeting_drip)
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.rstrip(b"\r\n")
            with self.lock:
                session["commands"].append(cmd)
            verb = cmd.split(b" ", 1)[0].upper()
            if (verb == b"STARTTLS" and self.tls_ctx is not None and
                    session["tls"] is None):
                conn, f = self._starttls(conn, f, session)
                continue
            if verb == b"EHLO" and session["tls"] is not None:
                conn.sendall(self._ehlo_reply(self.ehlo_tls))
                continue
            if verb == b"DATA":
                if not self._data(conn, f, session):
                    return
                continue
            if verb == b"QUIT":
                conn.sendall(b"221 2.0.0 bye\r\n")
                return
            reply = self._reply(verb)
            if callable(reply):
                reply(conn)
            else:
                conn.sendall(reply)

    @staticmethod
    def _ehlo_reply(keywords):
        lines = ["fake.test"] + list(keywords)
        text = "".join("250-%s\r\n" % l for l in lines[:-1])
        return (text + "250 %s\r\n" % lines[-1]).encode()

    def _reply(self, verb):
        if verb in self.replies:
            return self.replies[verb]
        if verb == b"EHLO":
            return self._ehlo_reply(self.ehlo)
        if verb == b"HELO":
            return b"250 fake.test\r\n"
        if verb == b"XCLIENT":
            return b"220 fake.test ESMTP fake\r\n"
        if verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP", b"XFORWARD"):
            return b"250 2.0.0 Ok\r\n"
        return b"502 5.5.2 unknown command\r\n"

    def _data(self, conn, f, session):
        """Returns False when the script ends the connection."""
        conn.sendall(b"354 go ahead\r\n" + (
            b"250 2.0.0 surprise\r\n" if self.on_data == "354_then_more"
            else b""))
        if self.on_data == "die_after_354":
            return False
        data = b""
        while True:
            line = f.readline()
            if not line:
                return False
            if line == b".\r\n":
                break
            data += line
        with self.lock:
            session["messages"].append(data)
        if self.on_data == "die_after_dot":
            return False
        if self.on_data == "slow":
            time.sleep(self.final_delay)
        conn.sendall(self.FINAL_REPLIES.get(
            self.on_data, b"250 2.0.0 Ok: queued as FAKE1\r\n"))
        return self.on_data != "accept_then_die"


# ---------------------------------------------------------------- postern

DEFAULT_LIMITS = {
    "command_line": "512",
    "text_line": "1000",
    "message_size": "20m",
    "recipients": "50",
    "sessions": "100",
    "sessions_per_client": "20",
    "errors": "10",
    "idle_timeout": "5m",
    "data_timeout": "5m",
    "spool_memory": "1m",
    "bare_line_ending": "reject",
}

DEFAULT_UPSTREAM = {
    "client_identity": "auto",
    "connect_timeout": "5s",
    "command_timeout": "30s",
    "data_timeout": "60s",
}


def render_config(port, upstream_address, spool_dir, limits=None,
                  upstream=None, xclient_networks=("127.0.0.0/8", "::1"),
                  listen_host=LOOPBACK4, extra=""):
    lim = dict(DEFAULT_LIMITS, **(limits or {}))
    up = dict(DEFAULT_UPSTREAM, **(upstream or {}))
    listen = ("[%s]:%d" if ":" in listen_host else "%s:%d") % (
        listen_host, port)
    lines = [
        'hostname = "%s"' % POSTERN_HOSTNAME,
        "workers = 2",
        'spool_dir = "%s"' % spool_dir,
        "log { target = stderr  level = info }",
        'listener smtp { address = "%s" }' % listen,
        "upstream {",
        '\taddress = "%s"' % upstream_address,
    ]
    lines += ["\t%s = %s" % kv for kv in up.items()]
    lines += ["}", "limits {"]
    lines += ["\t%s = %s" % kv for kv in lim.items()]
    lines += ["}"]
    nets = ", ".join('"%s"' % n for n in xclient_networks)
    lines.append("xclient_networks = {%s}" % nets)
    lines.append("filter received { }")
    if extra:
        lines.append(extra)
    return "\n".join(lines) + "\n"


BAD_LOG_WORDS = ("AddressSanitizer", "runtime error", "LeakSanitizer")


class Postern:
    """postern -f -c FILE in front of an upstream, stderr to a log file."""

    def __init__(self, upstream_address, listen_host=LOOPBACK4, **config):
        self.host = listen_host
        self.port = free_port()
        self.base = make_private_dir("postern-run-")
        self.spool = os.path.join(self.base, "spool")
        os.makedirs(self.spool)
        self.conf = os.path.join(self.base, "postern.conf")
        self.log_path = os.path.join(self.base, "postern.log")
        self.config_text = render_config(self.port, upstream_address,
                                         self.spool,
                                         listen_host=listen_host, **config)
        self.proc = None
        self.exit_status = None

    def start(self):
        if not os.access(POSTERN, os.X_OK):
            raise RuntimeError("%s not built (make build/postern)" %
                               POSTERN)
        with open(self.conf, "w") as f:
            f.write(self.config_text)
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([POSTERN, "-f", "-c", self.conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=log)
        log.close()
        if not wait_listening(self.port, 10, self.proc):
            self.kill()
            raise RuntimeError("postern did not start listening on %d;"
                               " log:\n%s\nconfig:\n%s" % (
                                   self.port, self.log(), self.config_text))
        return self

    def connect(self, timeout=15):
        return SMTPClient(self.host, self.port, timeout)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def stop(self, timeout=5):
        """SIGTERM; returns the exit status, or None if it had to be
        killed after timeout seconds."""
        if self.proc is None:
            return self.exit_status
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.exit_status = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.exit_status = None
        self.proc = None
        return self.exit_status

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def bad_log_lines(self):
        return [l for l in self.log().splitlines()
                if any(w in l for w in BAD_LOG_WORDS)]

    def session_id(self, client_port, timeout=5):
        """The id of the session whose connect line names our client
        port (the session id is the word before "connect")."""
        pat = re.compile(r"(\S+) connect client=127\.0\.0\.1:%d\b|"
                         r"(\S+) connect client=\[?::1\]?:%d\b" % (
                             client_port, client_port))

        def find():
            m = pat.search(self.log())
            return m and (m.group(1) or m.group(2))
        return wait_until(find, timeout)

    def session_lines(self, client_port, timeout=5):
        sid = self.session_id(client_port, timeout)
        if not sid:
            return []
        word = re.compile(r"(^|\s)%s(\s|$)" % re.escape(sid))
        return [l for l in self.log().splitlines() if word.search(l)]

    def wait_log(self, regex, timeout=5):
        pat = re.compile(regex, re.M)
        return wait_until(lambda: pat.search(self.log()), timeout)

    def cleanup(self):
        shutil.rmtree(self.base, ignore_errors=True)


# --------------------------------------------------------------- DNS

UNBOUND = os.environ.get("POSTERN_TEST_UNBOUND", "/usr/sbin/unbound")
UNBOUND_CONTROL = os.environ.get("POSTERN_TEST_UNBOUND_CONTROL",
                                 "/usr/sbin/unbound-control")
# The nameserver that tools reading /etc/resolv.conf are pointed at
# (see resolver_namespace_cmd): port 53 on a loopback address of this
# process's own, so two runs on one machine do not collide.
RESOLVER_ADDRESS = os.environ.get("POSTERN_TEST_RESOLVER") or \
    "127.53.%d.%d" % ((os.getpid() >> 8) & 255, os.getpid() % 254 + 1)
GENERATION_NAME = "_generation.harness.test."

_TXT_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_RECORD_LINE = re.compile(
    r"^\s*(\S+)((?:\s+(?:\d+|IN|CH|HS))*)\s+([A-Za-z][A-Za-z0-9]*)\s+"
    r"(.*?)\s*$", re.I)


def _txt_unescape(text):
    """Zone-file string text (\\X and \\DDD escapes) to bytes."""
    out = bytearray()
    raw = text.encode("utf-8")
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x5C and raw[i + 1:i + 4].isdigit():
            out.append(int(raw[i + 1:i + 4]))
            i += 4
        elif c == 0x5C and i + 1 < len(raw):
            out.append(raw[i + 1])
            i += 2
        else:
            out.append(c)
            i += 1
    return bytes(out)


def _txt_escape(octets):
    """Bytes as the inside of a zone-file string that unbound.conf can
    hold between single quotes."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and chr(b) not in "\"\\'"
                   else "\\%03d" % b for b in octets)


def txt_rdata(value):
    """TXT RDATA text for value (str or bytes): quoted character-strings
    of at most 255 octets, as DKIM keys are published."""
    if isinstance(value, str):
        value = value.encode("utf-8")
    chunks = [value[i:i + 255] for i in range(0, len(value), 255)] or [b""]
    return " ".join('"%s"' % _txt_escape(c) for c in chunks)


def record_line(line):
    """Normalise one zone line ("name [ttl] [class] TYPE rdata") for
    unbound's local-data: every TXT string longer than 255 octets is
    split, and TXT rdata given without quotes becomes one value."""
    m = _RECORD_LINE.match(line)
    if not m:
        raise ValueError("not a record line: %r" % line)
    name, extra, rtype, rdata = m.groups()
    if rtype.upper() == "TXT":
        strings = _TXT_STRING.findall(rdata)
        if not strings:
            rdata = txt_rdata(rdata)
        else:
            rdata = " ".join(txt_rdata(_txt_unescape(s)) for s in strings)
    elif "'" in rdata or "'" in name:
        raise ValueError("a quote in a record line: %r" % line)
    return "%s%s %s %s" % (name, extra, rtype.upper(), rdata)


def records_lines(records):
    """Zone lines from records: a list of lines, or a dict mapping a name
    to a TXT value (str), a (type, rdata) pair, or a list of those."""
    if not isinstance(records, dict):
        return [record_line(r) for r in records]
    lines = []
    for name, values in records.items():
        if not isinstance(values, list):
            values = [values]
        for v in values:
            if isinstance(v, tuple):
                lines.append(record_line("%s %s %s" % (name, v[0], v[1])))
            else:
                lines.append(record_line("%s TXT %s" % (name,
                                                       txt_rdata(v))))
    return lines


def _udp_tcp_port_free(port):
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        s = socket.socket(socket.AF_INET, kind)
        try:
            s.bind((LOOPBACK4, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_dns_port():
    """A port free for both UDP and TCP on 127.0.0.1 (and TCP on ::1)."""
    for _ in range(50):
        port = free_port()
        if _udp_tcp_port_free(port):
            return port
    raise RuntimeError("no free UDP+TCP port found")


UNBOUND_CONF = """\
server:
    interface: {host}@{port}
    interface: {resolver}@53
    do-ip6: no
    so-reuseport: no
    do-not-query-localhost: no
    chroot: ""
    username: ""
    directory: "{base}"
    pidfile: "{base}/unbound.pid"
    do-daemonize: no
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    module-config: "iterator"
    # Everything not in local-data is NXDOMAIN: nothing is ever
    # resolved on the network.
    local-zone: "." static
    local-zone: "test." nodefault
{data}
remote-control:
    control-enable: yes
    control-interface: "{base}/control.sock"
    control-use-cert: no
"""


class Unbound:
    """A private unbound serving test records from local-data, on
    127.0.0.1:port (self.address, "127.0.0.1@port", is what postern's
    forwarder setting takes) and on RESOLVER_ADDRESS port 53 for tools
    that read /etc/resolv.conf (run them through resolver_namespace_cmd).
    Every name without records is NXDOMAIN; nothing goes to the network.

    set_records()/add_records() take zone lines like
    'sel._domainkey.example.test. TXT "v=DKIM1; k=rsa; p=..."' (long TXT
    strings are split into 255-octet strings) or a dict (records_lines).
    The new records are served when they return: the config is rewritten,
    `unbound-control reload` runs, and a generation record is polled
    until it shows the new generation."""

    name = "unbound"

    def __init__(self, records=(), resolver_address=RESOLVER_ADDRESS):
        self.host = LOOPBACK4
        self.port = free_dns_port()
        self.resolver_address = resolver_address
        self.base = make_private_dir("postern-unbound-")
        self.conf = os.path.join(self.base, "unbound.conf")
        self.log_path = os.path.join(self.base, "unbound.log")
        self.records = records_lines(records)
        self.generation = 0
        self.proc = None

    @property
    def address(self):
        return "%s@%d" % (self.host, self.port)

    @staticmethod
    def available():
        return os.access(UNBOUND, os.X_OK) and os.access(UNBOUND_CONTROL,
                                                         os.X_OK)

    def _write_config(self):
        self.generation += 1
        lines = self.records + ['%s TXT "%d"' % (GENERATION_NAME,
                                                 self.generation)]
        data = "\n".join("    local-data: '%s'" % l for l in lines)
        with open(self.conf + ".new", "w") as f:
            f.write(UNBOUND_CONF.format(host=self.host, port=self.port,
                                        resolver=self.resolver_address,
                                        base=self.base, data=data))
        os.replace(self.conf + ".new", self.conf)

    def _generation_served(self):
        import dns.exception
        import dns.message
        import dns.query
        import dns.rdatatype
        q = dns.message.make_query(GENERATION_NAME, dns.rdatatype.TXT)
        try:
            r = dns.query.udp(q, self.host, port=self.port, timeout=0.5)
        except (dns.exception.DNSException, OSError):
            return False
        want = str(self.generation).encode()
        return any(b"".join(rd.strings) == want
                   for rrset in r.answer for rd in rrset)

    def _wait_served(self, what, timeout=10):
        def ready():
            if self.proc.poll() is not None:
                return "exited"
            return self._generation_served()
        if wait_until(ready, timeout) is not True:
            raise RuntimeError("unbound %s failed (port %d):\n%s" %
                               (what, self.port, self.log()))

    def start(self):
        self._write_config()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([UNBOUND, "-d", "-c", self.conf],
                                         stdout=log, stderr=log,
                                         stdin=subprocess.DEVNULL)
        self._wait_served("start")
        return self

    def set_records(self, records):
        """Serve exactly records from now on."""
        self.records = records_lines(records)
        self._reload()

    def add_records(self, records):
        """Serve records too."""
        self.records = self.records + records_lines(records)
        self._reload()

    def _reload(self):
        self._write_config()
        res = subprocess.run([UNBOUND_CONTROL, "-c", self.conf, "reload"],
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             timeout=30)
        if res.returncode != 0:
            raise RuntimeError("unbound-control reload: %s" % res.stdout)
        self._wait_served("reload")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log(self):
        try:
            with open(self.log_path, encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def cleanup(self):
        shutil.rmtree(self.base, ignore_errors=True)


_resolv_conf_dir = None


def resolver_namespace_cmd(cmd, nameserver=RESOLVER_ADDRESS):
    """cmd (a list) wrapped to run in a private mount namespace where a
    temporary resolv.conf naming only nameserver is bind-mounted over
    /etc/resolv.conf, so tools that read it (dkimverify, opendkim,
    Net::DNS, Exim) ask the test server; the machine's file is never
    touched.  Needs root (unshare -m)."""
    global _resolv_conf_dir
    if _resolv_conf_dir is None:
        import atexit
        _resolv_conf_dir = make_private_dir("postern-resolv-")
        atexit.register(shutil.rmtree, _resolv_conf_dir, True)
    path = os.path.join(_resolv_conf_dir, "resolv-%s.conf" % nameserver)
    if not os.path.exists(path):
        with open(path + ".new", "w") as f:
            f.write("nameserver %s\noptions attempts:2 timeout:2\n" %
                    nameserver)
        os.chmod(path + ".new", 0o644)
        os.replace(path + ".new", path)
    return ["unshare", "--mount", "--propagation", "private", "/bin/sh",
            "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"',
            path] + list(cmd)
