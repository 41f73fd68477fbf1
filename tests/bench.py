#!/usr/bin/python3
"""Throughput, CPU and memory of postern against a direct baseline, and
its spam scoring against spamd's.

Runs `make bench`.  Everything listens on 127.0.0.1 on free ports above
1024.  Each of parts 1 to 3 and 6 starts its own smtp-sink (Postfix's
test server, throws mail away) as the upstream, with postern (or, for
signing, three posterns; for part 6, two) in front of it.

1. Throughput: smtp-source sends N messages of 5 KB and 100 KB over 20
   parallel sessions (N = 10,000 and 2,000 by default, so a run takes a
   few seconds), first straight to smtp-sink (the baseline), then
   through postern, interleaved, each pair repeated (default 3 times);
   medians are reported.  The main figure uses smtp-source's default of
   one message per connection (connect, HELO, MAIL, RCPT, DATA, QUIT);
   a secondary figure keeps each connection open for all its messages
   (smtp-source -d).  CPU time per message is utime+stime from
   /proc/PID/stat (all threads) of smtp-sink for the direct run and of
   postern for the proxied run, divided by the message count.  With
   source, sink and postern sharing the host's CPUs, the throughput ratio
   cannot beat the CPU-bound ceiling printed with it (client+sink CPU
   over client+sink+postern CPU per message).  A last case sends 5 KB
   messages over 1,000 parallel sessions: it shows accept-queue trouble
   (SYN drops, counted from /proc/net/netstat, cost 1 s retransmits).
2. DKIM signing: 5 KB messages over 20 sessions (3,000 per run; 6,000
   with -d) straight to smtp-sink, through a postern that treats the
   client as internal but does not sign (the unsigned baseline), and
   through two that sign every message, one with an RSA-2048 key, one
   with an Ed25519 key (`postern keygen`), interleaved and repeated like
   the throughput cases.  The reference is the raw sign rate of the same
   key type, `openssl speed -seconds 3 rsa2048` and `... ed25519` run
   in the same bench on an otherwise idle host (sign/s column, one core),
   times the signing threads postern has (workers = 2, not more than the
   CPUs): postern's signed msg/s must reach 80 % of it.  Since source,
   sink and postern share the host's CPUs, a second figure is free of
   that: the postern CPU time signing adds per message (signed minus
   unsigned) against openssl's time per signature, also >= 80 %.  Before
   the runs one message per key goes through a probe postern to an
   smtp-sink that keeps it (-d), and python3-dkim verifies its
   signature, so that the rates are those of real, valid signatures.
3. Memory per idle session: postern's VmRSS before and after 5,000
   client connections have each received their 220 banner (each also
   holds an upstream connection to smtp-sink).
4. Spam scoring: messages per second through SpamAssassin's rules, by
   spamd and by postern.  The messages are every file of the
   SpamAssassin sample corpus (../shared/corpus/mail/spamassassin:
   nice/, spam/ and the two samples).  spamd listens on 127.0.0.1 with
   local tests only, no user config, Bayes and the auto-welcomelist
   off, its stock rules and site config (/usr/share/spamassassin,
   /etc/spamassassin) and 2 preforked children; 2 spamc clients at once
   each send every message in turn, in several rounds (default 3).
   Against it, 2 `postern score -q -n REPEAT` processes at once (2 cores,
   like spamd's 2 children) with the same rules and the plugins the
   .pre files load; each prints the time its scoring took, rules
   loading excluded (spamd has its rules loaded before it listens).
   postern's rate is all messages scored over the longer of the two
   times.  Target: postern >= 50 x spamd.  For interest, CPU time per
   message on both sides (spamd's children from /proc; postern's
   processes from rusage, less a round that scores each message once),
   which other load on the host does not skew.
5. Milter: Postfix alone, Postfix + postern's milter and Postfix +
   OpenDKIM, inet and unix sockets, at 1 and 20 sessions; see
   tests/bench_milter.py.
6. Statistics and history: what a metrics and a history section cost.
   Two posterns in front of one smtp-sink, one with neither, one with
   `metrics` and `history` (an SQLite file in the bench's directory);
   the 5 KB runs of part 1, one message per connection, at 20 sessions
   (N = 10,000) and at 1 session (3,000), alternating between the two
   with the order swapped every round, repeated like part 1.  During
   each run of the second, /metrics is fetched once a second, as a
   Prometheus would.  Reported: msg/s with history over msg/s without,
   postern's CPU per message for both; at the end
   postern_history_dropped_total and postern_history_lost_total from
   /metrics and, postern stopped, the rows of the txn table, which must
   equal the messages sent (warm-up included): a history that drops rows
   does less work than it should.

It prints a table with ratios against the baseline measured in the same
run (for spam scoring: spamd) and the targets, writes build/bench.json,
and exits 0 whether or not a target is met (a benchmark, not a test); it
exits 1 only when the bench itself could not run.  Every process it starts is killed on the way out.
"""

import argparse
import atexit
import http.client
import json
import os
import random
import re
import resource
import selectors
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "integration"))

import spamcorpus  # noqa: E402

# bench_milter imports this module as "bench": let it be this one.
sys.modules.setdefault("bench", sys.modules[__name__])
import bench_milter  # noqa: E402
POSTERN = os.environ.get("POSTERN", os.path.join(ROOT, "build", "postern"))
JSON_OUT = os.path.join(ROOT, "build", "bench.json")
SMTP_SOURCE = "/usr/sbin/smtp-source"
SMTP_SINK = "/usr/sbin/smtp-sink"
HOST = "127.0.0.1"
NOFILE = 65536
CLK_TCK = os.sysconf("SC_CLK_TCK")
TOTAL_TIMEOUT = 1200         # the whole bench, seconds
RUN_TIMEOUT = 120            # one smtp-source run

TARGET_RATE = 0.70           # postern msgs/s >= 0.7 x direct
TARGET_CPU = 2.0             # postern CPU/msg <= 2 x smtp-sink CPU/msg
TARGET_IDLE_KB = 64          # per idle session
TARGET_SIGN = 0.80           # signed msgs/s >= 0.8 x openssl sign/s x cores
TARGET_SPAM = 50.0           # postern score msgs/s >= 50 x spamd's

WORKERS = 2                  # postern's workers (signing threads)
OPENSSL_SECONDS = 3
# Selector (and key table name), keygen -t and -b, openssl speed
# algorithm and the pattern of its result line.
SIGN_KEYS = (
    ("rsa2048", "rsa", "2048", "rsa2048", r"^rsa 2048 bits "),
    ("ed25519", "ed25519", None, "ed25519", r"\(Ed25519\)"),
)
SIGN_DOMAIN = "bench.test"   # smtp-source's From: <sender@bench.test>

POSTERN_CONF = """\
hostname = "postern.test"
workers = {workers}
spool_dir = "{spool}"
log {{ target = stderr  level = warning }}
listener smtp {{ address = "{host}:{port}"  backlog = 4096 }}
upstream {{ address = "{host}:{sink_port}"  connect_timeout = 5s }}
limits {{ sessions = 20000  sessions_per_client = 20000  idle_timeout = 10m \
 message_size = 50m }}
filter received {{ }}
{extra}"""

# --------------------------------------------------------------- processes

STARTED = []                 # every Popen we started, killed at exit
GROUPS = []                  # process groups we started (spamd's)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(NOFILE, soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def child_setup():
    raise_nofile()
    # The bench's own SIGALRM handler must not be inherited as "ignore".
    signal.signal(signal.SIGALRM, signal.SIG_DFL)


def spawn(argv, stdout, stderr, group=False):
    """group: the process leads a new process group, which kill_all()
    kills whole (for daemons that fork children of their own)."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout,
                            stderr=stderr, preexec_fn=child_setup,
                            start_new_session=group)
    STARTED.append(proc)
    if group:
        GROUPS.append(proc.pid)
    return proc


def kill_group(pgid):
    """SIGKILL whatever is left of a process group we started."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if pgid in GROUPS:
        GROUPS.remove(pgid)


def stop(proc, sig=signal.SIGTERM, grace=10.0):
    """Stop one process we started, by its pid; SIGKILL if it lingers.
    Returns its exit status."""
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    if proc in STARTED:
        STARTED.remove(proc)
    return proc.returncode


def kill_all():
    for proc in list(STARTED):
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        STARTED.remove(proc)
    for pgid in list(GROUPS):
        kill_group(pgid)


class BenchTimeout(Exception):
    pass


def on_alarm(signum, frame):
    raise BenchTimeout("bench exceeded %d s" % TOTAL_TIMEOUT)


def on_term(signum, frame):
    kill_all()
    sys.exit(1)


# ------------------------------------------------------------- /proc probes

def cpu_ticks(pid):
    """utime+stime of every thread of pid, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return int(fields[11]) + int(fields[12])


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def listen_overflows():
    """TcpExt ListenOverflows, host-wide: SYNs dropped on a full accept
    queue (each costs the client a 1 s, 3 s, ... retransmission)."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split()[1:], values.split()[1:]))
            return int(table.get("ListenOverflows", 0))
    return 0


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# ------------------------------------------------------------------ ports

def port_is_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(taken=()):
    """Below the ephemeral range, so no outgoing connection can take it
    between choice and use."""
    for _ in range(500):
        port = random.randint(20000, 32000)
        if port not in taken and port_is_free(port):
            return port
    raise RuntimeError("no free port found")


def listening_ports():
    ports = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def wait_listening(port, proc, timeout=10.0):
    """Without connecting: a connection to postern would be a session."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if port in listening_ports():
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------- servers

class Sink:
    def __init__(self, workdir, max_conns, dump=None):
        """dump: a strftime template; each message is kept in a file
        named after it (smtp-sink -d)."""
        self.port = free_port()
        self.out = os.path.join(workdir, "smtp-sink.log")
        argv = [SMTP_SINK]
        if os.geteuid() == 0:
            argv += ["-u", "root"]
        if dump:
            argv += ["-d", dump]
        # -m: simultaneous connections (default 256); -t: command timeout.
        argv += ["-m", str(max_conns), "-t", "600",
                 "%s:%d" % (HOST, self.port), "4096"]
        with open(self.out, "wb") as log:
            self.proc = spawn(argv, log, subprocess.STDOUT)
        if not wait_listening(self.port, self.proc):
            raise RuntimeError("smtp-sink did not start: %s" % self.log())

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        with open(self.out, errors="replace") as f:
            return f.read()


class Postern:
    def __init__(self, workdir, sink_port, extra=""):
        self.port = free_port(taken=(sink_port,))
        spool = os.path.join(workdir, "spool")
        os.makedirs(spool, exist_ok=True)
        self.conf = os.path.join(workdir, "postern.conf")
        with open(self.conf, "w") as f:
            f.write(POSTERN_CONF.format(spool=spool, host=HOST,
                                        port=self.port, sink_port=sink_port,
                                        workers=WORKERS, extra=extra))
        self.errpath = os.path.join(workdir, "postern.log")
        with open(self.errpath, "wb") as log:
            self.proc = spawn([POSTERN, "-c", self.conf, "-f"], log,
                              subprocess.STDOUT)
        if not wait_listening(self.port, self.proc):
            raise RuntimeError("postern did not start: %s" % self.log())

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        with open(self.errpath, errors="replace") as f:
            return f.read()


# ------------------------------------------------------------- throughput

def last_counter(output):
    """smtp-source -c prints a running DATA counter separated by CRs."""
    for tok in reversed(output.replace("\n", "\r").split("\r")):
        if tok.strip().isdigit():
            return int(tok.strip())
    return 0


def run_source(port, size, count, sessions, per_conn):
    argv = [SMTP_SOURCE, "-c", "-s", str(sessions), "-m", str(count),
            "-l", str(size), "-M", "bench.test", "-f", "sender@bench.test",
            "-t", "rcpt@bench.test"]
    if per_conn:
        argv.append("-d")
    argv.append("%s:%d" % (HOST, port))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    proc = spawn(argv, subprocess.PIPE, subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        stop(proc, signal.SIGKILL)
        raise RuntimeError("smtp-source timed out after %d s" % RUN_TIMEOUT)
    elapsed = time.monotonic() - t0
    STARTED.remove(proc)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = last_counter(out.decode(errors="replace"))
    if proc.returncode != 0 or done != count:
        raise RuntimeError("smtp-source to port %d: exit %d, %d of %d "
                           "messages: %s" % (port, proc.returncode, done,
                                             count, err.decode().strip()))
    client_cpu = (after.ru_utime + after.ru_stime -
                  before.ru_utime - before.ru_stime)
    return elapsed, client_cpu


def measure(port, pids, size, count, sessions, per_conn):
    """One smtp-source run; CPU seconds of each pid in pids over it."""
    t0 = {name: cpu_ticks(pid) for name, pid in pids.items()}
    drops = listen_overflows()
    elapsed, client_cpu = run_source(port, size, count, sessions, per_conn)
    drops = listen_overflows() - drops
    t1 = {name: cpu_ticks(pid) for name, pid in pids.items()}
    cpu = {name: (t1[name] - t0[name]) / CLK_TCK for name in pids}
    total = sum(cpu.values()) + client_cpu
    return {"seconds": elapsed, "msgs_per_s": count / elapsed,
            "cpu_s": cpu, "client_cpu_s": client_cpu,
            "total_cpu_s": total, "cores_busy": total / elapsed,
            "listen_overflows": drops}


def bench_case(sink, postern, case, repeat):
    size, count, sessions, per_conn = (case["size"], case["count"],
                                       case["sessions"], case["per_conn"])
    direct, proxied = [], []
    for _ in range(repeat):
        direct.append(measure(sink.port, {"sink": sink.pid}, size, count,
                              sessions, per_conn))
        proxied.append(measure(postern.port, {"sink": sink.pid,
                                              "postern": postern.pid},
                               size, count, sessions, per_conn))
        if not postern.alive():
            raise RuntimeError("postern died during the throughput run")
    return summarize(case, direct, proxied)


def median_of(runs, get):
    return statistics.median(get(r) for r in runs)


def summarize(case, direct, proxied):
    n = case["count"]
    d_rate = median_of(direct, lambda r: r["msgs_per_s"])
    p_rate = median_of(proxied, lambda r: r["msgs_per_s"])
    d_cpu = median_of(direct, lambda r: r["cpu_s"]["sink"]) / n
    p_cpu = median_of(proxied, lambda r: r["cpu_s"]["postern"]) / n
    ps_cpu = median_of(proxied, lambda r: r["cpu_s"]["sink"]) / n
    d_total = median_of(direct, lambda r: r["total_cpu_s"])
    p_total = median_of(proxied, lambda r: r["total_cpu_s"])
    return dict(case, direct_msgs_per_s=d_rate, postern_msgs_per_s=p_rate,
                rate_ratio=p_rate / d_rate,
                rate_ok=p_rate / d_rate >= TARGET_RATE,
                sink_cpu_us_per_msg=d_cpu * 1e6,
                postern_cpu_us_per_msg=p_cpu * 1e6,
                sink_cpu_us_per_msg_proxied=ps_cpu * 1e6,
                cpu_ratio=p_cpu / d_cpu if d_cpu > 0 else None,
                cpu_ok=d_cpu > 0 and p_cpu / d_cpu <= TARGET_CPU,
                direct_cores_busy=median_of(direct,
                                            lambda r: r["cores_busy"]),
                postern_cores_busy=median_of(proxied,
                                             lambda r: r["cores_busy"]),
                cpu_bound_ratio=d_total / p_total if p_total > 0 else None,
                direct_runs=direct, postern_runs=proxied)


# ---------------------------------------------------------------- signing

INTERNAL = 'internal_networks = {"127.0.0.0/8"}\n'


class SignKey:
    """A key made by `postern keygen`, with a key table and a signing
    table of its own (SIGN_DOMAIN signed with this key only)."""

    def __init__(self, directory, selector, ktype, bits, openssl_alg,
                 openssl_pattern):
        argv = [POSTERN, "keygen", "-d", SIGN_DOMAIN, "-s", selector,
                "-t", ktype, "-D", directory]
        if bits:
            argv += ["-b", bits]
        res = subprocess.run(argv, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=120)
        if res.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (
                " ".join(argv), res.returncode, res.stderr.strip()))
        self.selector = selector
        self.label = "RSA-%s" % bits if ktype == "rsa" else "Ed25519"
        self.openssl_alg = openssl_alg
        self.openssl_pattern = openssl_pattern
        # The record's value: keygen prints it as quoted strings.
        self.txt = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', res.stdout))
        self.keytable = os.path.join(directory, selector + ".keytable")
        self.signtable = os.path.join(directory, selector + ".signingtable")
        with open(self.keytable, "w") as f:
            f.write("%s %s:%s:%s\n" % (selector, SIGN_DOMAIN, selector,
                                       os.path.join(directory,
                                                    selector + ".private")))
        with open(self.signtable, "w") as f:
            f.write("%s %s\n" % (SIGN_DOMAIN, selector))

    def extra(self):
        """postern.conf lines: every client internal, sign with this
        key (dkim_sign is the last filter)."""
        return INTERNAL + ('filter dkim_sign {{ key_table = "{0}"  '
                           'signing_table = "{1}" }}\n'.format(
                               self.keytable, self.signtable))


def openssl_sign_rate(alg, pattern):
    """sign/s of `openssl speed -seconds N alg` (one process: one
    core)."""
    argv = ["openssl", "speed", "-seconds", str(OPENSSL_SECONDS), alg]
    proc = spawn(argv, subprocess.PIPE, subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        stop(proc, signal.SIGKILL)
        raise RuntimeError("%s timed out" % " ".join(argv))
    STARTED.remove(proc)
    text = out.decode(errors="replace")
    header = False
    for line in text.splitlines():
        fields = line.split()
        if fields[-2:] == ["sign/s", "verify/s"]:
            header = True
        elif header and re.search(pattern, line):
            return float(fields[-2])
    raise RuntimeError("%s: exit %d, no sign/s figure in: %s" % (
        " ".join(argv), proc.returncode, text[-400:]))


def crlf(data):
    data = re.sub(rb"\r?\n", b"\r\n", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def dkim_signature_fields(raw):
    """The DKIM-Signature fields of raw, unfolded, in order."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    unfolded = re.sub(rb"\r\n[ \t]+", b" ", head).split(b"\r\n")
    return [f.decode(errors="replace") for f in unfolded
            if f.lower().startswith(b"dkim-signature:")]


def wait_dump(dumpdir, timeout=10.0):
    """The one message smtp-sink -d kept in dumpdir; the file is
    removed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for root, _, files in os.walk(dumpdir):
            for name in files:
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    data = f.read()
                os.unlink(path)
                return data
        time.sleep(0.05)
    raise RuntimeError("smtp-sink kept no message in %s" % dumpdir)


def check_probe(raw, key):
    """python3-dkim's verdict on the message postern signed with key,
    the key record given straight from keygen's output."""
    msg = crlf(raw)
    fields = dkim_signature_fields(msg)
    res = {"signatures": len(fields), "fields": fields}
    if len(fields) != 1:
        return dict(res, valid=False,
                    detail="%d DKIM-Signature fields, want 1" % len(fields))
    try:
        import dkim
    except ImportError:
        return dict(res, valid=None, detail="python3-dkim missing")
    want = "%s._domainkey.%s" % (key.selector, SIGN_DOMAIN)

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        return key.txt.encode() if name.rstrip(".") == want else None
    try:
        ok = bool(dkim.DKIM(msg, minkey=1024).verify(idx=0, dnsfunc=dnsfunc))
        detail = "" if ok else "signature does not verify"
    except dkim.DKIMException as e:
        ok, detail = False, str(e)
    return dict(res, valid=ok, detail=detail)


def probe_signing(workdir, keys):
    """One smtp-source message per key through a signing postern into
    an smtp-sink that keeps it; python3-dkim's verdict on each."""
    sub = os.path.join(workdir, "probe")
    dumpdir = os.path.join(sub, "dump")
    os.makedirs(dumpdir)
    sink = Sink(sub, 50, dump=os.path.join(dumpdir, "%H%M%S."))
    out = {}
    try:
        for key in keys:
            kdir = os.path.join(sub, key.selector)
            os.makedirs(kdir)
            postern = Postern(kdir, sink.port, key.extra())
            try:
                run_source(postern.port, 5000, 1, 1, False)
                raw = wait_dump(dumpdir)
            finally:
                stop(postern.proc)
            out[key.selector] = check_probe(raw, key)
    finally:
        stop(sink.proc)
    return out


def sign_cases(args):
    out = [{"size": 5000, "sessions": args.sessions, "count": args.n_sign,
            "per_conn": False}]
    if not args.no_reuse:
        out.append({"size": 5000, "sessions": args.sessions,
                    "count": args.n_sign * 2, "per_conn": True})
    return out


def bench_sign_case(sink, posterns, case, repeat):
    """Interleaved runs: direct, then each postern; {name: [run]}."""
    size, count, sessions, per_conn = (case["size"], case["count"],
                                       case["sessions"], case["per_conn"])
    runs = {name: [] for name in ["direct"] + list(posterns)}
    for _ in range(repeat):
        runs["direct"].append(measure(sink.port, {"sink": sink.pid}, size,
                                      count, sessions, per_conn))
        for name, postern in posterns.items():
            runs[name].append(measure(postern.port,
                                      {"sink": sink.pid,
                                       "postern": postern.pid},
                                      size, count, sessions, per_conn))
            if not postern.alive():
                raise RuntimeError("postern (%s) died during the signing "
                                   "run" % name)
    return runs


def summarize_sign(case, runs, keys, openssl, cores, probe):
    n = case["count"]
    rate = {name: median_of(r, lambda x: x["msgs_per_s"])
            for name, r in runs.items()}
    cpu = {name: median_of(r, lambda x: x["cpu_s"]["postern"]) / n * 1e6
           for name, r in runs.items() if name != "direct"}
    out = dict(case, direct_msgs_per_s=rate["direct"],
               unsigned_msgs_per_s=rate["unsigned"],
               unsigned_postern_cpu_us_per_msg=cpu["unsigned"],
               reference_cores=cores, keys=[],
               runs={name: r for name, r in runs.items()})
    for key in keys:
        sel = key.selector
        ref = openssl[sel] * cores
        extra = cpu[sel] - cpu["unsigned"]
        openssl_us = 1e6 / openssl[sel]
        valid = probe[sel]["valid"] is not False
        out["keys"].append({
            "key": sel, "label": key.label, "msgs_per_s": rate[sel],
            "vs_unsigned": rate[sel] / rate["unsigned"],
            "openssl_sign_per_s_core": openssl[sel],
            "reference_sign_per_s": ref,
            "fraction": rate[sel] / ref,
            "ok": valid and rate[sel] / ref >= TARGET_SIGN,
            "signatures_valid": probe[sel]["valid"],
            "postern_cpu_us_per_msg": cpu[sel],
            "signing_cpu_us_per_msg": extra,
            "openssl_us_per_sign": openssl_us,
            "signing_path_vs_openssl": openssl_us / extra
            if extra > 0 else None,
            "signing_path_ok": extra > 0 and
            openssl_us / extra >= TARGET_SIGN,
            "per_postern_cpu_second_fraction": 1e6 / cpu[sel] / openssl[sel],
        })
    return out


def print_openssl(keys, openssl, cores):
    print("Reference: `openssl speed -seconds %d ALG` (sign/s), one "
          "process, so one core,\nmeasured just now while the bench runs "
          "nothing else; times %d, the signing\nthreads postern has "
          "(workers = %d on %d CPUs), rather than `openssl speed -multi`:"
          % (OPENSSL_SECONDS, cores, WORKERS, os.cpu_count()))
    for key in keys:
        r = openssl[key.selector]
        print("  %-9s %8.0f sign/s per core (%.0f us/sign) x %d = %6.0f "
              "sign/s" % (key.label, r, 1e6 / r, cores, r * cores))


def print_probe(keys, probe):
    for key in keys:
        p = probe[key.selector]
        word = {True: "VALID", False: "INVALID", None: "not checked"}[
            p["valid"]]
        print("  probe %-9s %d DKIM-Signature, python3-dkim: %s%s" % (
            key.label, p["signatures"], word,
            " (%s)" % p["detail"] if p["detail"] else ""))


def print_sign_case(r):
    print("%s, medians of %d runs:" % (case_name(r),
                                       len(r["runs"]["direct"])))
    print("  direct to smtp-sink %6.0f msg/s" % r["direct_msgs_per_s"])
    print("  postern unsigned    %6.0f msg/s   postern CPU %5.0f us/msg  "
          "(internal client, no dkim_sign)" % (
              r["unsigned_msgs_per_s"], r["unsigned_postern_cpu_us_per_msg"]))
    for k in r["keys"]:
        print("  postern %-9s   %6.0f msg/s   postern CPU %5.0f us/msg  "
              "%.2fx of unsigned" % (k["label"], k["msgs_per_s"],
                                     k["postern_cpu_us_per_msg"],
                                     k["vs_unsigned"]))
        valid = "" if k["signatures_valid"] is not False else \
            " (signatures INVALID)"
        print("    = %.3fx of %.0f sign/s (openssl x %d) (target >= %.2fx) "
              "%s%s" % (k["fraction"], k["reference_sign_per_s"],
                        r["reference_cores"], TARGET_SIGN,
                        verdict(k["ok"]), valid))
        eff = k["signing_path_vs_openssl"]
        print("    signing adds %.0f us of postern CPU per message, openssl "
              "needs %.0f us per signature:" % (
                  k["signing_cpu_us_per_msg"], k["openssl_us_per_sign"]))
        print("    postern's signing path runs at %s of openssl's speed "
              "(target >= %.2fx) %s" % (
                  "%.2fx" % eff if eff else "n/a", TARGET_SIGN,
                  verdict(k["signing_path_ok"])))
        print("    per CPU-second postern spends, it relays %.0f signed "
              "messages = %.2fx of openssl's sign/s per core" % (
                  1e6 / k["postern_cpu_us_per_msg"],
                  k["per_postern_cpu_second_fraction"]))


def print_sign_runs(r):
    print("    each run: msg/s, seconds, postern CPU seconds, CPUs busy "
          "(source+sink+postern) of %d" % os.cpu_count())
    for name, runs in r["runs"].items():
        print("    %-9s" % name + "  ".join(
            "%.0f/s %.2fs%s busy=%.2f" % (
                x["msgs_per_s"], x["seconds"],
                " postern=%.2fs" % x["cpu_s"]["postern"]
                if "postern" in x["cpu_s"] else "", x["cores_busy"])
            for x in runs))


def run_signing(args, workdir, results):
    sub = os.path.join(workdir, "signing")
    keydir = os.path.join(sub, "keys")
    os.makedirs(keydir, mode=0o700)
    print("\nDKIM signing (5 KB messages, %d sessions; keys from postern "
          "keygen, d=%s)\n" % (args.sessions, SIGN_DOMAIN))
    keys = [SignKey(keydir, *k) for k in SIGN_KEYS]
    probe = probe_signing(sub, keys)
    print_probe(keys, probe)
    openssl = {k.selector: openssl_sign_rate(k.openssl_alg,
                                             k.openssl_pattern)
               for k in keys}
    cores = min(WORKERS, os.cpu_count())
    print_openssl(keys, openssl, cores)
    res = {"openssl_sign_per_s_core": openssl, "reference_cores": cores,
           "reference": "openssl speed -seconds %d (one core) x %d" % (
               OPENSSL_SECONDS, cores),
           "probe": probe, "cases": []}
    results["signing"] = res
    sink, posterns = start_sign_servers(args, sub, keys)
    print()
    for case in sign_cases(args):
        runs = bench_sign_case(sink, posterns, case, args.repeat)
        r = summarize_sign(case, runs, keys, openssl, cores, probe)
        res["cases"].append(r)
        print_sign_case(r)
        print_sign_runs(r)
    for name, postern in posterns.items():
        finish_postern(postern, results, "postern_sign_" + name,
                       "postern (%s)" % name)
    stop(sink.proc)


def start_sign_servers(args, workdir, keys):
    """smtp-sink and, in front of it, an unsigned and one signing
    postern per key, each warmed up."""
    sink = Sink(workdir, max(1000, args.sessions + 500))
    posterns = {}
    for name, extra in [("unsigned", INTERNAL)] + [
            (k.selector, k.extra()) for k in keys]:
        pdir = os.path.join(workdir, name)
        os.makedirs(pdir)
        posterns[name] = Postern(pdir, sink.port, extra)
        run_source(posterns[name].port, 5000, 200, args.sessions, False)
    run_source(sink.port, 5000, 200, args.sessions, False)
    print("smtp-sink pid %d on %s:%d; posterns %s" % (
        sink.pid, HOST, sink.port, ", ".join(
            "%s pid %d on :%d" % (n, p.pid, p.port)
            for n, p in posterns.items())))
    return sink, posterns


# ---------------------------------------------------------------- memory

class Conn:
    __slots__ = ("sock", "buf")

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""


def open_one():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    return s


def banner_done(conn):
    """True once a full 220 reply has arrived; raises on anything else."""
    if len(conn.buf) > 4096:
        raise RuntimeError("banner too long")
    lines = conn.buf.split(b"\r\n")
    for line in lines[:-1]:
        if not line.startswith(b"220"):
            raise RuntimeError("unexpected banner %r" % line[:80])
        if line[3:4] == b" ":
            return True
    return False


def read_banner(conn):
    try:
        data = conn.sock.recv(4096)
    except (BlockingIOError, InterruptedError):
        return False
    if not data:
        raise RuntimeError("connection closed before the 220 banner "
                           "(got %r)" % conn.buf[:80])
    conn.buf += data
    return banner_done(conn)


def open_sessions(port, n, timeout=120.0, window=100):
    """n connections to port, each having received its 220 banner.  At
    most window connections are waiting for their banner at a time, so
    the listen queue never overflows."""
    sel = selectors.DefaultSelector()
    ready, waiting = [], 0
    deadline = time.monotonic() + timeout
    try:
        while len(ready) < n:
            while waiting < window and len(ready) + waiting < n:
                s = open_one()
                s.connect_ex((HOST, port))
                sel.register(s, selectors.EVENT_READ, Conn(s))
                waiting += 1
            if time.monotonic() > deadline:
                raise RuntimeError("only %d of %d sessions got a banner in "
                                   "%d s" % (len(ready), n, timeout))
            for key, _ in sel.select(1.0):
                if read_banner(key.data):
                    sel.unregister(key.fileobj)
                    ready.append(key.fileobj)
                    waiting -= 1
    except BaseException:
        close_all(ready + [k.fileobj for k in sel.get_map().values()])
        raise
    finally:
        sel.close()
    return ready


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


def settle_rss(pid, seconds=1.0):
    time.sleep(seconds)
    return status_kb(pid, "VmRSS")


def bench_memory(sink, postern, n):
    before = settle_rss(postern.pid, 0.5)
    sink_before = status_kb(sink.pid, "VmRSS")
    fds_before = fd_count(postern.pid)
    t0 = time.monotonic()
    socks = open_sessions(postern.port, n)
    try:
        setup = time.monotonic() - t0
        after = settle_rss(postern.pid)
        res = {"sessions": n, "setup_seconds": setup,
               "postern_rss_kb_before": before,
               "postern_rss_kb_after": after,
               "postern_hwm_kb": status_kb(postern.pid, "VmHWM"),
               "postern_fds_before": fds_before,
               "postern_fds_after": fd_count(postern.pid),
               "sink_rss_kb_before": sink_before,
               "sink_rss_kb_after": status_kb(sink.pid, "VmRSS"),
               "sink_fds_after": fd_count(sink.pid)}
    finally:
        close_all(socks)
    res["postern_rss_kb_closed"] = settle_rss(postern.pid, 2.0)
    res["postern_fds_closed"] = fd_count(postern.pid)
    res["kb_per_session"] = (after - before) / n
    res["ok"] = res["kb_per_session"] <= TARGET_IDLE_KB
    return res


# --------------------------------------------------- statistics and history

HISTORY_EXTRA = """\
metrics {{ address = "{host}:{port}" }}
history {{ path = "{path}" }}
"""
SCRAPE_INTERVAL = 1.0        # seconds between GETs of /metrics


def fetch_metrics(port):
    """The text of GET /metrics; raises on anything but 200."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        resp = conn.getresponse()
        body = resp.read().decode(errors="replace")
    finally:
        conn.close()
    if resp.status != 200:
        raise RuntimeError("GET /metrics on port %d: %d" % (port,
                                                           resp.status))
    return body


def metric_sum(text, name, **labels):
    """Sum of the samples of name whose labels include labels."""
    total = 0.0
    for m in re.finditer(r"^%s(?:\{([^}]*)\})? (\S+)$" % re.escape(name),
                         text, re.M):
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
    return total


class Scraper:
    """GETs /metrics once a second while a run lasts, as a Prometheus
    would, so that answering it is in postern's CPU and rate."""

    def __init__(self, port):
        self.port = port
        self.done = threading.Event()
        self.scrapes = 0
        self.errors = []
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while True:
            try:
                fetch_metrics(self.port)
                self.scrapes += 1
            except (OSError, RuntimeError, http.client.HTTPException) as e:
                self.errors.append(str(e))
            if self.done.wait(SCRAPE_INTERVAL):
                return

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(30)


def history_cases(args):
    """5 KB messages, one per connection: the main throughput case's
    sessions and count, and one session."""
    return [{"size": 5000, "sessions": args.sessions, "count": args.n_small,
             "per_conn": False},
            {"size": 5000, "sessions": 1, "count": args.n_history1,
             "per_conn": False}]


def history_rows(path):
    """{result: rows} of the history's txn table, read-only."""
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return dict(db.execute("SELECT result, count(*) FROM txn "
                               "GROUP BY result").fetchall())
    finally:
        db.close()


def start_history_servers(args, workdir):
    """smtp-sink and two posterns in front of it, one plain, one with a
    metrics and a history section; each warmed up (200 messages)."""
    sink = Sink(workdir, max(1000, args.sessions + 500))
    dbpath = os.path.join(workdir, "history", "history.db")
    os.makedirs(os.path.dirname(dbpath))
    mport = free_port(taken=(sink.port,))
    posterns = {}
    for name, extra in (("plain", ""),
                        ("history", HISTORY_EXTRA.format(
                            host=HOST, port=mport, path=dbpath))):
        pdir = os.path.join(workdir, name)
        os.makedirs(pdir, exist_ok=True)
        posterns[name] = Postern(pdir, sink.port, extra)
        run_source(posterns[name].port, 5000, 200, args.sessions, False)
    if not wait_listening(mport, posterns["history"].proc):
        raise RuntimeError("postern's metrics listener did not start: %s" %
                           posterns["history"].log())
    print("smtp-sink pid %d on %s:%d; posterns %s; metrics on :%d, "
          "history %s" % (sink.pid, HOST, sink.port, ", ".join(
              "%s pid %d on :%d" % (n, p.pid, p.port)
              for n, p in posterns.items()), mport, dbpath))
    return sink, posterns, mport, dbpath


def bench_history_case(sink, posterns, mport, case, repeat):
    """Plain and history runs alternating, the order swapped every
    round (ABBA) so that drift and going second weigh on both; /metrics
    scraped once a second during each history run.  ({name: [run]},
    scrapes, scrape errors)."""
    size, count, sessions, per_conn = (case["size"], case["count"],
                                       case["sessions"], case["per_conn"])
    runs = {"plain": [], "history": []}
    scrapes, errors = 0, []
    for i in range(repeat):
        for name in ("plain", "history") if i % 2 == 0 else \
                ("history", "plain"):
            postern = posterns[name]
            pids = {"sink": sink.pid, "postern": postern.pid}
            if name == "history":
                with Scraper(mport) as scraper:
                    r = measure(postern.port, pids, size, count, sessions,
                                per_conn)
                r["scrapes"] = scraper.scrapes
                scrapes += scraper.scrapes
                errors += scraper.errors
            else:
                r = measure(postern.port, pids, size, count, sessions,
                            per_conn)
            runs[name].append(r)
            if not postern.alive():
                raise RuntimeError("postern (%s) died during the history "
                                   "run" % name)
    return runs, scrapes, errors


def summarize_history(case, runs, scrapes, errors):
    n = case["count"]
    rate = {name: median_of(r, lambda x: x["msgs_per_s"])
            for name, r in runs.items()}
    cpu = {name: median_of(r, lambda x: x["cpu_s"]["postern"]) / n * 1e6
           for name, r in runs.items()}
    # Each round's pair: its ratio, free of drift between rounds.
    pairs = [h["msgs_per_s"] / p["msgs_per_s"]
             for p, h in zip(runs["plain"], runs["history"])]
    return dict(case, plain_msgs_per_s=rate["plain"],
                history_msgs_per_s=rate["history"],
                rate_ratio=rate["history"] / rate["plain"],
                pair_ratios=pairs,
                plain_postern_cpu_us_per_msg=cpu["plain"],
                history_postern_cpu_us_per_msg=cpu["history"],
                cpu_ratio=cpu["history"] / cpu["plain"]
                if cpu["plain"] > 0 else None,
                scrapes=scrapes, scrape_errors=errors[:20], runs=runs)


def print_history_case(r):
    print("%s, medians of %d runs (alternating, order swapped each round):"
          % (case_name(r), len(r["runs"]["plain"])))
    print("  postern plain        %6.0f msg/s   postern CPU %5.0f us/msg" % (
        r["plain_msgs_per_s"], r["plain_postern_cpu_us_per_msg"]))
    print("  + metrics, history   %6.0f msg/s   postern CPU %5.0f us/msg" % (
        r["history_msgs_per_s"], r["history_postern_cpu_us_per_msg"]))
    print("    rate %.2fx of plain (each round: %s), CPU/msg %s; %d scrapes "
          "of /metrics%s" % (
              r["rate_ratio"], ", ".join("%.2f" % x for x in r["pair_ratios"]),
              "%.2fx" % r["cpu_ratio"] if r["cpu_ratio"] else "n/a",
              r["scrapes"], ", %d FAILED: %s" % (
                  len(r["scrape_errors"]), r["scrape_errors"][0])
              if r["scrape_errors"] else ""))


def check_history(posterns, mport, dbpath, sent, results, res):
    """The dropped and lost counters from /metrics, then (postern
    stopped, its writer's last batch written) the rows against the
    messages sent."""
    text = fetch_metrics(mport)
    res["dropped"] = int(metric_sum(text, "postern_history_dropped_total"))
    res["lost"] = int(metric_sum(text, "postern_history_lost_total"))
    res["relayed_metric"] = int(metric_sum(text, "postern_messages_total",
                                           result="relayed"))
    res["rows_before_stop"] = sum(history_rows(dbpath).values())
    for name, postern in posterns.items():
        finish_postern(postern, results, "postern_history_" + name,
                       "postern (%s)" % name)
    res["rows_by_result"] = history_rows(dbpath)
    res["rows"] = sum(res["rows_by_result"].values())
    res["sent"] = sent
    res["rows_ok"] = (res["rows"] == sent and res["dropped"] == 0 and
                      res["lost"] == 0)
    by_result = ", ".join("%s %d" % kv
                          for kv in sorted(res["rows_by_result"].items()))
    missing = sent - res["rows"]
    print("\n  history rows %d of %d messages sent (%s)%s; %d already "
          "written when the runs ended" % (
              res["rows"], sent, by_result,
              " MISSING %d" % missing if missing > 0 else
              " EXTRA %d" % -missing if missing < 0 else "",
              res["rows_before_stop"]))
    print("  /metrics: postern_history_dropped_total %d, "
          "postern_history_lost_total %d, relayed %d  %s" % (
              res["dropped"], res["lost"], res["relayed_metric"],
              verdict(res["rows_ok"])))


def run_history(args, workdir, results):
    sub = os.path.join(workdir, "history")
    os.makedirs(sub)
    print("\nStatistics and history: postern plain against postern with a "
          "metrics section\n(/metrics scraped every %.0f s during its runs) "
          "and a history section\n" % SCRAPE_INTERVAL)
    sink, posterns, mport, dbpath = start_history_servers(args, sub)
    sent = 200                   # the warm-up
    res = {"cases": [], "db": dbpath}
    results["history"] = res
    print()
    for case in history_cases(args):
        runs, scrapes, errors = bench_history_case(sink, posterns, mport,
                                                   case, args.repeat)
        sent += case["count"] * args.repeat
        r = summarize_history(case, runs, scrapes, errors)
        res["cases"].append(r)
        print_history_case(r)
        print_sign_runs(r)
    check_history(posterns, mport, dbpath, sent, results, res)
    stop(sink.proc)


# ----------------------------------------------------------- spam scoring

SPAMD = "/usr/sbin/spamd"
SPAMC = "/usr/bin/spamc"
SA_RULES = "/usr/share/spamassassin"
SA_SITE = "/etc/spamassassin"
SPAM_CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "mail",
                           "spamassassin")
SPAM_CLIENTS = 2             # spamc clients, postern processes, spamd children
SPAMD_CF = ("use_bayes 0", "bayes_auto_learn 0",
            "ifplugin Mail::SpamAssassin::Plugin::AWL",
            "use_auto_welcomelist 0", "endif",
            "ifplugin Mail::SpamAssassin::Plugin::TxRep", "use_txrep 0",
            "endif")








class Spamd:
    """spamd on loopback, local tests only, Bayes and AWL off, with
    SPAM_CLIENTS children that it preforks (rules loaded before it
    listens).  Runs in a process group of its own so that its children
    go with it."""

    def __init__(self, workdir):
        self.port = free_port()
        self.pidfile = os.path.join(workdir, "spamd.pid")
        self.out = os.path.join(workdir, "spamd.log")
        argv = [SPAMD, "-L", "-x", "-i", "%s:%d" % (HOST, self.port),
                "-A", HOST, "-m", str(SPAM_CLIENTS),
                "--min-children", str(SPAM_CLIENTS),
                "--min-spare", "1", "--max-spare", str(SPAM_CLIENTS),
                "--max-conn-per-child", "100000",
                "-r", self.pidfile, "-s", "stderr",
                "-C", SA_RULES, "--siteconfigpath", SA_SITE]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]   # spamd refuses to scan as root
        for line in SPAMD_CF:
            argv += ["--cf", line]
        t0 = time.monotonic()
        with open(self.out, "wb") as log:
            self.proc = spawn(argv, log, subprocess.STDOUT, group=True)
        if not self.wait_children(120.0):
            raise RuntimeError("spamd did not start: %s" % self.log()[-2000:])
        self.start_seconds = time.monotonic() - t0

    def wait_children(self, timeout):
        """spamd listens before it has read its rules: ready once its
        log shows every child spawned (they fork from the loaded
        parent)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if (self.log().count("spawned child process") >= SPAM_CLIENTS
                    and wait_listening(self.port, self.proc, 1.0)):
                return True
            time.sleep(0.1)
        return False

    def log(self):
        with open(self.out, errors="replace") as f:
            return f.read()

    def stop(self):
        status = stop(self.proc)
        kill_group(self.proc.pid)
        return status


def spamc_one(port, path):
    """One message through spamc -c: its score; raises on any error
    (-x: no safe fallback that would hide one)."""
    with open(path, "rb") as f:
        res = subprocess.run([SPAMC, "-x", "-c", "-d", HOST, "-p", str(port)],
                             stdin=f, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=120)
    m = re.match(rb"^(-?[\d.]+)/[\d.]+\s*$", res.stdout)
    if res.returncode not in (0, 1) or not m:
        raise RuntimeError("spamc %s: exit %d: %s %s" % (
            path, res.returncode, res.stdout[:200], res.stderr[:200]))
    return float(m.group(1))


def spamc_round(port, files):
    """SPAM_CLIENTS clients at once, each sending every file in turn;
    (seconds, messages, scores of the first client)."""
    errors, scores = [], {}

    def client(i):
        try:
            for path in files:
                score = spamc_one(port, path)
                if i == 0:
                    scores[path] = score
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            errors.append(str(e))
    threads = [threading.Thread(target=client, args=(i,))
               for i in range(SPAM_CLIENTS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    if errors:
        raise RuntimeError(errors[0])
    return elapsed, SPAM_CLIENTS * len(files), scores


def postern_score_argv(files, repeat, plugins):
    """SpamAssassin's order: its .pre files (they load the plugins and
    set enable_compat), then the stock rules."""
    argv = [POSTERN, "score", "-q", "-n", str(repeat)]
    for path in spamcorpus.pre_files(SA_SITE) + [SA_RULES]:
        argv += ["-r", path]
    return argv + files


def postern_score_round(files, repeat, plugins):
    """SPAM_CLIENTS `postern score -q` at once; each times its scoring
    alone (rules loading excluded) and prints scored=N seconds=S.
    Messages/s: all scored over the longest of those times."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    procs = [spawn(postern_score_argv(files, repeat, plugins),
                   subprocess.PIPE, subprocess.PIPE)
             for _ in range(SPAM_CLIENTS)]
    runs = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            stop(proc, signal.SIGKILL)
            raise RuntimeError("postern score timed out")
        STARTED.remove(proc)
        m = re.search(r"scored=(\d+) seconds=([\d.]+)", out.decode())
        if proc.returncode != 0 or not m:
            raise RuntimeError("postern score: exit %d: %s" % (
                proc.returncode, (out + err).decode(errors="replace")[-500:]))
        runs.append((int(m.group(1)), float(m.group(2))))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    scored = sum(n for n, _ in runs)
    seconds = max(s for _, s in runs)
    cpu = (after.ru_utime + after.ru_stime -
           before.ru_utime - before.ru_stime)
    return {"scored": scored, "seconds": seconds, "cpu_s": cpu,
            "msgs_per_s": scored / seconds if seconds > 0 else None,
            "processes": [{"scored": n, "seconds": s} for n, s in runs]}


def children_of(pid):
    kids = []
    for name in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if name.isdigit() and int(fields[1]) == pid:
            kids.append(int(name))
    return kids


def children_cpu(pid):
    """CPU seconds of pid's live children (spamd's scanning children)."""
    total = 0
    for kid in children_of(pid):
        try:
            total += cpu_ticks(kid)
        except (OSError, IndexError):
            pass
    return total / CLK_TCK


def bench_spamd(workdir, files, rounds):
    spamd = Spamd(workdir)
    print("spamd pid %d on %s:%d, ready after %.1f s (rules preloaded)" % (
        spamd.proc.pid, HOST, spamd.port, spamd.start_seconds))
    try:
        spamc_round(spamd.port, files[:4])      # warm-up: children ready
        runs = []
        for _ in range(rounds):
            cpu = children_cpu(spamd.proc.pid)
            seconds, n, scores = spamc_round(spamd.port, files)
            cpu = children_cpu(spamd.proc.pid) - cpu
            runs.append({"seconds": seconds, "scored": n, "cpu_s": cpu,
                         "msgs_per_s": n / seconds,
                         "cpu_ms_per_msg": 1e3 * cpu / n})
    finally:
        status = spamd.stop()
    spam = sum(1 for s in scores.values() if s >= 5.0)
    return {"runs": runs, "start_seconds": spamd.start_seconds,
            "exit_status": status, "judged_spam": spam,
            "msgs_per_s": median_of(runs, lambda r: r["msgs_per_s"]),
            "cpu_ms_per_msg": median_of(runs,
                                        lambda r: r["cpu_ms_per_msg"])}


def postern_cpu_per_msg(base, runs):
    """CPU per message of postern's scoring alone: a round's CPU less
    that of a round scoring each message once (rules loading and one
    pass), over the messages beyond that one pass."""
    per = [(r["cpu_s"] - base["cpu_s"]) / (r["scored"] - base["scored"])
           for r in runs if r["scored"] > base["scored"]]
    return 1e3 * statistics.median(per) if per else None


def run_spam(args, workdir, results):
    sub = os.path.join(workdir, "spam")
    os.makedirs(sub)
    files = spamcorpus.messages(SPAM_CORPUS)
    plugins = spamcorpus.pre_plugins(SA_SITE)
    print("\nSpam scoring: %d messages of %s, SpamAssassin's rules (%s) "
          "and plugins (%s/*.pre);\n%d clients in parallel on each side, "
          "%d rounds\n" % (len(files), os.path.relpath(SPAM_CORPUS, ROOT),
                           SA_RULES, SA_SITE, SPAM_CLIENTS, args.spam_rounds))
    sa = bench_spamd(sub, files, args.spam_rounds)
    print("  spamd + spamc   %8.1f msg/s  (median; each round %s)" % (
        sa["msgs_per_s"], ", ".join("%.1f" % r["msgs_per_s"]
                                     for r in sa["runs"])))
    base = postern_score_round(files, 1, plugins)   # also warms the cache
    runs = [postern_score_round(files, args.spam_repeat, plugins)
            for _ in range(args.spam_rounds)]
    p_rate = median_of(runs, lambda r: r["msgs_per_s"])
    print("  postern score   %8.1f msg/s  (median; %d processes x %d "
          "messages x %d; each round %s)" % (
              p_rate, SPAM_CLIENTS, len(files), args.spam_repeat,
              ", ".join("%.0f" % r["msgs_per_s"] for r in runs)))
    ratio = p_rate / sa["msgs_per_s"]
    p_cpu = postern_cpu_per_msg(base, runs)
    cpu_ratio = sa["cpu_ms_per_msg"] / p_cpu if p_cpu else None
    results["spam"] = {
        "messages": len(files), "plugins": plugins, "clients": SPAM_CLIENTS,
        "spamd": sa, "postern_runs": runs, "postern_base_run": base,
        "postern_msgs_per_s": p_rate, "postern_cpu_ms_per_msg": p_cpu,
        "repeat": args.spam_repeat, "ratio": ratio, "cpu_ratio": cpu_ratio,
        "ok": ratio >= TARGET_SPAM}
    print("  ratio %.1fx (target >= %.0fx) %s" % (
        ratio, TARGET_SPAM, verdict(ratio >= TARGET_SPAM)))
    print("  CPU per message: spamd's children %.2f ms, postern %s ms: "
          "%s (for interest: free of other load on the host)" % (
              sa["cpu_ms_per_msg"], "%.3f" % p_cpu if p_cpu else "n/a",
              "%.1fx" % cpu_ratio if cpu_ratio else "n/a"))


# ---------------------------------------------------------------- report

def verdict(ok):
    return "OK" if ok else "MISSED"


def print_case(r):
    name = case_name(r)
    print("%-13s direct %6.0f msg/s, postern %6.0f msg/s, ratio %.2fx "
          "(target >= %.2fx) %s" % (name, r["direct_msgs_per_s"],
                                    r["postern_msgs_per_s"],
                                    r["rate_ratio"], TARGET_RATE,
                                    verdict(r["rate_ok"])))
    ratio = ("%.2fx" % r["cpu_ratio"]) if r["cpu_ratio"] else "n/a"
    print("%-13s smtp-sink %6.0f us/msg, postern %6.0f us/msg, ratio %s "
          "(target <= %.1fx) %s" % ("", r["sink_cpu_us_per_msg"],
                                    r["postern_cpu_us_per_msg"], ratio,
                                    TARGET_CPU, verdict(r["cpu_ok"])))
    print("%-13s (smtp-sink behind postern: %.0f us/msg; CPUs busy: direct "
          "%.2f, through postern %.2f of %d)" % (
              "", r["sink_cpu_us_per_msg_proxied"], r["direct_cores_busy"],
              r["postern_cores_busy"], os.cpu_count()))
    if r["cpu_bound_ratio"]:
        print("%-13s (ceiling if CPU-bound on this host: client+sink CPU / "
              "client+sink+postern CPU = %.2fx)" % ("",
                                                   r["cpu_bound_ratio"]))


def print_memory(m):
    print("idle sessions: %d (all got their 220 in %.1f s)" %
          (m["sessions"], m["setup_seconds"]))
    print("  postern VmRSS %d KB -> %d KB, %.1f KB/session (target <= %d KB)"
          " %s" % (m["postern_rss_kb_before"], m["postern_rss_kb_after"],
                   m["kb_per_session"], TARGET_IDLE_KB, verdict(m["ok"])))
    print("  postern fds %d -> %d; after closing: VmRSS %d KB, fds %d" %
          (m["postern_fds_before"], m["postern_fds_after"],
           m["postern_rss_kb_closed"], m["postern_fds_closed"]))
    print("  smtp-sink VmRSS %d KB -> %d KB (%.1f KB/session), fds %d "
          "(for interest)" % (m["sink_rss_kb_before"],
                              m["sink_rss_kb_after"],
                              (m["sink_rss_kb_after"] -
                               m["sink_rss_kb_before"]) / m["sessions"],
                              m["sink_fds_after"]))


def print_runs(r):
    for label, runs in (("direct", r["direct_runs"]),
                        ("postern", r["postern_runs"])):
        print("    %-8s" % label + "  ".join(
            "%.0f/s %.2fs cpu[%s client=%.2f]s%s" % (
                x["msgs_per_s"], x["seconds"],
                " ".join("%s=%.2f" % kv for kv in sorted(x["cpu_s"].items())),
                x["client_cpu_s"],
                " SYN-drops=%d" % x["listen_overflows"]
                if x["listen_overflows"] else "")
            for x in runs))


def log_problems(text):
    return [line for line in text.splitlines() if line.strip()]


# ------------------------------------------------------------------ main

def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--n-small", type=int, default=10000,
                   help="messages per 5 KB run (twice that with -d)")
    p.add_argument("--n-large", type=int, default=2000,
                   help="messages per 100 KB run (1.5 times that with -d)")
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--idle", type=int, default=5000,
                   help="idle sessions for the memory figure")
    p.add_argument("--no-reuse", action="store_true",
                   help="skip the several-messages-per-connection runs")
    p.add_argument("--many", type=int, default=1000,
                   help="sessions of the high-concurrency 5 KB case "
                   "(0: skip it)")
    p.add_argument("--n-sign", type=int, default=3000,
                   help="messages per DKIM signing run (twice that with "
                   "-d)")
    p.add_argument("--no-sign", action="store_true",
                   help="skip the DKIM signing runs")
    p.add_argument("--no-spam", action="store_true",
                   help="skip the spam scoring runs")
    p.add_argument("--spam-only", action="store_true",
                   help="run only the spam scoring runs")
    p.add_argument("--no-history", action="store_true",
                   help="skip the statistics and history runs")
    p.add_argument("--history-only", action="store_true",
                   help="run only the statistics and history runs")
    p.add_argument("--n-history1", type=int, default=3000,
                   help="messages per 1-session statistics and history "
                   "run (the --sessions one has --n-small)")
    p.add_argument("--spam-rounds", type=int, default=3,
                   help="rounds of the spam scoring runs, each side")
    p.add_argument("--spam-repeat", type=int, default=20,
                   help="postern score -n: times each process scores "
                   "each message per round")
    bench_milter.add_args(p)
    return p.parse_args()


def cases(args):
    out = []
    # -d runs go faster, so they get more messages for similar durations.
    for per_conn in ([False] if args.no_reuse else [False, True]):
        out.append({"size": 5000, "sessions": args.sessions,
                    "count": args.n_small * (2 if per_conn else 1),
                    "per_conn": per_conn})
        out.append({"size": 100000, "sessions": args.sessions,
                    "count": args.n_large * 3 // (2 if per_conn else 3),
                    "per_conn": per_conn})
    if args.many > 0:
        out.append({"size": 5000, "sessions": args.many,
                    "count": max(args.n_small // 2, args.many),
                    "per_conn": False})
    return out


def check_tools(args):
    tools = [POSTERN]
    if not args.spam_only:
        tools += [SMTP_SOURCE, SMTP_SINK]
    if not args.no_spam and not args.milter_only and not args.history_only:
        tools += [SPAMD, SPAMC]
    for path in tools:
        if not os.access(path, os.X_OK):
            raise RuntimeError("%s missing (make deps, make postern)" % path)
    if not args.no_milter and not args.spam_only and not args.history_only:
        bench_milter.check_tools()


def finish_postern(postern, results, key, label="postern"):
    """Stop postern and collect what it logged (level warning and up)."""
    alive = postern.alive()
    status = stop(postern.proc)
    problems = log_problems(postern.log())
    results[key] = {"alive_at_end": alive, "exit_status": status,
                    "log": problems[:200], "log_lines": len(problems)}
    print("%s %s at the end, exit status %s after SIGTERM; %d log "
          "lines at level warning or above%s" % (
              label, "alive" if alive else "DEAD", status, len(problems),
              ":" if problems else ""))
    for line in problems[:20]:
        print("  " + line)


def start_pair(workdir, name, max_conns):
    sub = os.path.join(workdir, name)
    os.makedirs(sub)
    sink = Sink(sub, max_conns)
    postern = Postern(sub, sink.port)
    print("smtp-sink pid %d on %s:%d; postern pid %d on %s:%d" %
          (sink.pid, HOST, sink.port, postern.pid, HOST, postern.port))
    return sink, postern


def run_throughput(args, workdir, results):
    sink, postern = start_pair(workdir, "throughput",
                               max(1000, args.many + 500))
    # Warm-up: page in code, grow buffers, fill caches on both paths.
    run_source(sink.port, 5000, 200, args.sessions, False)
    run_source(postern.port, 5000, 200, args.sessions, False)
    print("\nThroughput, medians of %d runs; main figure: one message per "
          "connection (smtp-source default); -d: all messages of a session "
          "over one connection\n" % args.repeat)
    results["throughput"] = []
    for case in cases(args):
        r = bench_case(sink, postern, case, args.repeat)
        results["throughput"].append(r)
        print_case(r)
        print_runs(r)
    results["postern_rss_kb_after_throughput"] = status_kb(postern.pid,
                                                           "VmRSS")
    finish_postern(postern, results, "postern_throughput")
    stop(sink.proc)


def run_memory(args, workdir, results):
    # A fresh pair: the throughput runs leave postern's heap grown.
    print("\nMemory per idle session (fresh postern and smtp-sink)\n")
    sink, postern = start_pair(workdir, "memory", args.idle + 1000)
    results["memory"] = bench_memory(sink, postern, args.idle)
    print_memory(results["memory"])
    finish_postern(postern, results, "postern_memory")
    stop(sink.proc)


def case_name(r):
    return "%dKB x%d%s" % (r["size"] // 1000, r["sessions"],
                           " -d" if r["per_conn"] else "")


def print_summary(results):
    throughput = results.get("throughput", [])
    print("\nSummary" + (" (main figures: one message per connection, %d "
                         "sessions)" % throughput[0]["sessions"]
                         if throughput else ""))
    for r in throughput[:2]:
        print("  %-10s rate %.2fx (>= %.2fx) %-6s  CPU/msg %.2fx "
              "(<= %.1fx) %s" % (case_name(r), r["rate_ratio"], TARGET_RATE,
                                 verdict(r["rate_ok"]), r["cpu_ratio"] or 0,
                                 TARGET_CPU, verdict(r["cpu_ok"])))
    for r in results.get("signing", {}).get("cases", [])[:1]:
        for k in r["keys"]:
            print("  sign %-9s %.0f msg/s = %.3fx of openssl x %d (>= "
                  "%.2fx) %s; %.2fx of unsigned (%.0f msg/s)" % (
                      k["label"], k["msgs_per_s"], k["fraction"],
                      r["reference_cores"], TARGET_SIGN, verdict(k["ok"]),
                      k["vs_unsigned"], r["unsigned_msgs_per_s"]))
            eff = k["signing_path_vs_openssl"]
            print("  %-14s CPU per signature %s of openssl's (>= %.2fx) %s" % (
                "", "%.2fx" % eff if eff else "n/a", TARGET_SIGN,
                verdict(k["signing_path_ok"])))
    bench_milter.print_summary(results)
    m = results.get("memory")
    if m:
        print("  idle       %.1f KB/session (<= %d KB) %s" %
              (m["kb_per_session"], TARGET_IDLE_KB, verdict(m["ok"])))
    h = results.get("history")
    for r in h["cases"] if h else []:
        print("  history    %-9s rate %.2fx of plain, CPU/msg %.2fx "
              "(%.0f against %.0f us)" % (
                  case_name(r), r["rate_ratio"], r["cpu_ratio"] or 0,
                  r["history_postern_cpu_us_per_msg"],
                  r["plain_postern_cpu_us_per_msg"]))
    if h and "rows" in h:
        print("  history    rows %d of %d sent, dropped %d, lost %d %s" % (
            h["rows"], h["sent"], h["dropped"], h["lost"],
            verdict(h["rows_ok"])))
    s = results.get("spam")
    if s:
        print("  spam       postern score %.0f msg/s = %.1fx spamd's %.1f "
              "msg/s (>= %.0fx) %s" % (
                  s["postern_msgs_per_s"], s["ratio"],
                  s["spamd"]["msgs_per_s"], TARGET_SPAM, verdict(s["ok"])))


def run(args, workdir, results):
    print("%d CPUs; postern %s" % (os.cpu_count(), POSTERN))
    only = args.spam_only or args.milter_only or args.history_only
    if not only:
        run_throughput(args, workdir, results)
        if not args.no_sign:
            run_signing(args, workdir, results)
        run_memory(args, workdir, results)
    if not args.no_spam and (args.spam_only or not only):
        run_spam(args, workdir, results)
    if not args.no_milter and (args.milter_only or not only):
        bench_milter.run_milter(args, workdir, results)
    if not args.no_history and (args.history_only or not only):
        run_history(args, workdir, results)
    print_summary(results)


def print_log_tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return
    print("bench: last lines of %s:" % path, file=sys.stderr)
    for line in lines[-n:]:
        print("  " + line, file=sys.stderr)


def write_json(results):
    os.makedirs(os.path.dirname(JSON_OUT), exist_ok=True)
    with open(JSON_OUT, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
        f.write("\n")
    print("\nresults written to %s" % os.path.relpath(JSON_OUT, ROOT))


def main():
    args = parse_args()
    atexit.register(kill_all)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TOTAL_TIMEOUT)
    raise_nofile()
    results = {"targets": {"rate_ratio_min": TARGET_RATE,
                           "cpu_ratio_max": TARGET_CPU,
                           "idle_kb_per_session_max": TARGET_IDLE_KB,
                           "sign_rate_fraction_min": TARGET_SIGN,
                           "spam_rate_ratio_min": TARGET_SPAM},
               "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "cpus": os.cpu_count()}
    workdir = tempfile.mkdtemp(prefix="postern-bench-")
    try:
        check_tools(args)
        run(args, workdir, results)
        return 0
    except (RuntimeError, OSError, BenchTimeout) as e:
        results["error"] = str(e)
        print("bench: error: %s" % e, file=sys.stderr)
        for root, _, files in sorted(os.walk(workdir)):
            if "postern.log" in files:
                print_log_tail(os.path.join(root, "postern.log"))
        return 1
    finally:
        kill_all()
        signal.alarm(0)
        write_json(results)
        subprocess.run(["rm", "-rf", workdir], check=False)


if __name__ == "__main__":
    sys.exit(main())
