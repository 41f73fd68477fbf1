"""Milter benchmark (issue 6): Postfix + postern's milter against
Postfix + OpenDKIM, both signing the same messages, measured in the
same run.  bench.py calls it (part 5, `--milter-only` runs it alone).

One private Postfix instance (harness.Postfix, queue under /tmp) with
five smtpd listeners that differ only in smtpd_milters:

  postfix          none (the baseline, Postfix alone)
  postern-inet     postern's milter on inet:127.0.0.1:PORT
  postern-unix     postern's milter on unix:PATH
  opendkim-inet    two OpenDKIM processes chained, inet
  opendkim-unix    the same, unix sockets

All five share one queue, one qmgr and one smtp client relaying to one
smtp-sink (the sink bench.py uses everywhere), so delivery costs the
same in every case.  postern (milter-only configuration, no SMTP
listener) signs each message with both keys of one signing-table
entry; OpenDKIM needs one process per algorithm, so each OpenDKIM case
chains an RSA process and an Ed25519 process in smtpd_milters.  The
keys are the same two files (`postern keygen`, RSA-2048 and Ed25519,
d=bench.test) for both signers, relaxed/relaxed.

smtp-source sends 5 KB messages, one per connection, at 1 session and
at --sessions (20) sessions; runs are interleaved across the five
listeners and repeated (--milter-repeat), medians reported; Postfix's
queue is drained between runs.  Per case: messages/s, ratio to Postfix
alone and, at 1 session, the milliseconds the milter adds per message
(1000/rate - 1000/rate of Postfix alone).

Targets for postern (issue 6), over inet and over unix: at most 5 ms
per message at 1 session, at least 0.8x Postfix alone's rate at 20
sessions.  OpenDKIM has no target: it is the reference.

For interest, the whole host's busy CPU per message (/proc/stat, every
process, over the run and the queue drain) and from it the ceiling a
CPU-bound host puts on the ratio: Postfix alone's CPU per message over
the case's.  smtp-source, Postfix, smtp-sink and the milters share the
host's CPUs, so once they keep them busy the throughput ratio cannot
beat that ceiling.  Other load on the host skews this figure.

Signatures are checked, so that no case can pass by signing nothing:
before and after the timed runs, two messages through each listener go
to probe@probe.test, which Postfix's transport map sends to a second
smtp-sink that keeps them (-d); python3-dkim must verify exactly one
rsa-sha256 and one ed25519-sha256 signature of d=bench.test on each
message of the four milter cases, and find none on Postfix alone's.  A
case whose sample fails is reported as MISSED whatever its speed.
Postfix's log is scanned for milter errors as well.
"""

import os
import re
import shutil
import statistics
import subprocess
import time

import bench
import harness

OPENDKIM = "/usr/sbin/opendkim"
POSTFIX = "/usr/sbin/postfix"
TARGET_MS = 5.0              # postern adds <= 5 ms/msg at 1 session
TARGET_RATIO = 0.80          # postern >= 0.8 x Postfix alone, 20 sessions
SIZE = 5000
PROBE_DOMAIN = "probe.test"
PROBE_COUNT = 2
IDLE_TIMEOUT = 60            # Postfix's queue drained after a run

CASES = ("postfix", "postern-inet", "postern-unix", "opendkim-inet",
         "opendkim-unix")
POSTERN_CASES = ("postern-inet", "postern-unix")
ALGS = ("rsa-sha256", "ed25519-sha256")

MILTER_POSTERN_CONF = """\
hostname = "postern.test"
workers = {workers}
spool_dir = "{spool}"
log {{ target = stderr  level = warning }}
internal_networks = {{"127.0.0.0/8"}}
milter {{ address = "{address}"  on_error = tempfail{mode} }}
filter dkim_sign {{ key_table = "{keytable}"  signing_table = "{signtable}" }}
"""

# The unix sockets must be writable by Postfix's smtpd (user postfix):
# postern's socket_mode, OpenDKIM's UMask.
# Debian's OpenDKIM; one process per algorithm.  Syslog off (the bench
# has no syslogd; configuration errors go to stderr).
OPENDKIM_CONF = """\
Mode                s
Socket              {socket}
Background          no
Syslog              no
PidFile             {pidfile}
UMask               000
KeyTable            file:{keytable}
SigningTable        file:{signtable}
SignatureAlgorithm  {alg}
Canonicalization    relaxed/relaxed
InternalHosts       127.0.0.1
RequireSafeKeys     false
SoftwareHeader      no
"""


def add_args(p):
    """bench.py's options for this part."""
    p.add_argument("--milter-only", action="store_true",
                   help="run only the milter runs (Postfix + postern "
                   "against Postfix + OpenDKIM)")
    p.add_argument("--no-milter", action="store_true",
                   help="skip the milter runs")
    p.add_argument("--milter-n1", type=int, default=100,
                   help="messages per milter run at 1 session")
    p.add_argument("--milter-n", type=int, default=2000,
                   help="messages per milter run at --sessions sessions")
    p.add_argument("--milter-repeat", type=int, default=3,
                   help="interleaved rounds of the milter runs")


# ---------------------------------------------------------------- milters

def wait_socket(path, proc, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if os.path.exists(path):
            return True
        time.sleep(0.05)
    return False


class Endpoint:
    """Where Postfix reaches a milter: inet:127.0.0.1:PORT or
    unix:PATH, in both spellings (Postfix's and the milter's)."""

    def __init__(self, kind, directory, name, taken):
        self.kind = kind
        if kind == "inet":
            self.port = bench.free_port(taken=taken)
            taken.add(self.port)
            self.path = None
            self.postfix = "inet:%s:%d" % (bench.HOST, self.port)
        else:
            self.port = None
            self.path = os.path.join(directory, name + ".sock")
            self.postfix = "unix:" + self.path

    def opendkim(self):
        if self.kind == "inet":
            return "inet:%d@%s" % (self.port, bench.HOST)
        return "local:" + self.path

    def wait(self, proc):
        if self.kind == "inet":
            return bench.wait_listening(self.port, proc, 15.0)
        return wait_socket(self.path, proc)


class MilterProcess:
    """A milter we start in the foreground (postern or opendkim), its
    output in directory/NAME.log."""

    def __init__(self, name, argv, endpoint, directory):
        self.name = name
        self.endpoint = endpoint
        self.errpath = os.path.join(directory, name + ".log")
        with open(self.errpath, "wb") as log:
            self.proc = bench.spawn(argv, log, subprocess.STDOUT)
        if not endpoint.wait(self.proc):
            raise RuntimeError("%s did not start on %s: %s" % (
                name, endpoint.postfix, self.log()[-2000:]))

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def log(self):
        with open(self.errpath, errors="replace") as f:
            return f.read()


def postern_tables(directory, keys):
    """One key table with both keys, one signing-table entry naming
    both: two signatures per message."""
    kt = os.path.join(directory, "keytable")
    st = os.path.join(directory, "signingtable")
    with open(kt, "w") as f:
        for k in keys:
            f.write("%s %s:%s:%s\n" % (k.selector, bench.SIGN_DOMAIN,
                                       k.selector, os.path.join(
                                           os.path.dirname(k.keytable),
                                           k.selector + ".private")))
    with open(st, "w") as f:
        f.write("%s %s\n" % (bench.SIGN_DOMAIN,
                             ",".join(k.selector for k in keys)))
    return kt, st


def start_postern(directory, name, endpoint, tables):
    sub = os.path.join(directory, name)
    os.makedirs(os.path.join(sub, "spool"))
    conf = os.path.join(sub, "postern.conf")
    address = endpoint.postfix
    with open(conf, "w") as f:
        f.write(MILTER_POSTERN_CONF.format(
            workers=bench.WORKERS, spool=os.path.join(sub, "spool"),
            address=address, keytable=tables[0], signtable=tables[1],
            mode='  socket_mode = "0666"' if endpoint.path else ""))
    return MilterProcess(name, [bench.POSTERN, "-c", conf, "-f"], endpoint,
                         sub)


def start_opendkim(directory, name, endpoint, key, alg):
    sub = os.path.join(directory, name)
    os.makedirs(sub)
    conf = os.path.join(sub, "opendkim.conf")
    with open(conf, "w") as f:
        f.write(OPENDKIM_CONF.format(
            socket=endpoint.opendkim(),
            pidfile=os.path.join(sub, "opendkim.pid"),
            keytable=key.keytable, signtable=key.signtable, alg=alg))
    return MilterProcess(name, [OPENDKIM, "-f", "-x", conf], endpoint, sub)


def start_milters(directory, sockdir, keys):
    """{case: [MilterProcess, ...]} for the four milter cases, in the
    order Postfix calls them."""
    taken = set(bench.listening_ports())
    tables = postern_tables(directory, keys)
    milters = {}
    for kind in ("inet", "unix"):
        case = "postern-" + kind
        milters[case] = [start_postern(
            directory, case, Endpoint(kind, sockdir, case, taken),
            tables)]
        case = "opendkim-" + kind
        milters[case] = []
        for key, alg in zip(keys, ALGS):
            name = "%s-%s" % (case, key.selector)
            milters[case].append(start_opendkim(
                directory, name, Endpoint(kind, sockdir, name, taken),
                key, alg))
    return milters


# ---------------------------------------------------------------- Postfix

class BenchPostfix(harness.Postfix):
    """harness.Postfix relaying bench.test to the bench's smtp-sink and
    probe.test to the sink that keeps messages; its main listener has
    no milter, and one extra smtpd listener per milter case."""

    def __init__(self, sink_port, probe_port, milters):
        super().__init__(users=())
        self.listeners = {"postfix": self.port}
        taken = {self.port, sink_port, probe_port}
        for case in milters:
            port = bench.free_port(taken=taken)
            taken.add(port)
            self.listeners[case] = port
        self.milters = milters
        self.transport = os.path.join(self.conf, "transport")
        self.main_cf.update({
            "transport_maps": "texthash:" + self.transport,
            "smtpd_milters": "",
            "non_smtpd_milters": "",
            "milter_protocol": "6",
            "milter_default_action": "tempfail",
            "milter_connect_timeout": "10s",
        })
        self.routes = {bench.SIGN_DOMAIN: sink_port,
                       PROBE_DOMAIN: probe_port}

    def _write_config(self):
        super()._write_config()
        with open(self.transport, "w") as f:
            for domain, port in self.routes.items():
                f.write("%s smtp:[%s]:%d\n" % (domain, bench.HOST, port))
        with open(os.path.join(self.conf, "master.cf"), "a") as f:
            f.write("smtp unix - - n - - smtp\n")
            for case, procs in self.milters.items():
                f.write("%s:%d inet n - n - - smtpd\n  -o smtpd_milters=%s\n"
                        % (bench.HOST, self.listeners[case],
                           ",".join(m.endpoint.postfix for m in procs)))

    def start(self):
        super().start()
        for case, port in self.listeners.items():
            if not harness.wait_listening(port, 15):
                raise RuntimeError("postfix listener %s (:%d) did not "
                                   "start: %s" % (case, port, self.log()))
        return self

    def wait_drained(self):
        if not harness.wait_until(self.queue_empty, IDLE_TIMEOUT, 0.02):
            raise RuntimeError("Postfix's queue not empty %d s after a "
                               "run; its log's warnings: %s" % (
                                   IDLE_TIMEOUT, "\n".join(
                                       postfix_problems(self)[-10:])))


# ---------------------------------------------------------------- probes

def probe_source(port, count):
    """count messages, one session, to probe@PROBE_DOMAIN."""
    argv = [bench.SMTP_SOURCE, "-c", "-s", "1", "-m", str(count), "-l",
            str(SIZE), "-M", bench.SIGN_DOMAIN, "-f",
            "sender@" + bench.SIGN_DOMAIN, "-t", "probe@" + PROBE_DOMAIN,
            "%s:%d" % (bench.HOST, port)]
    res = subprocess.run(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=60)
    done = bench.last_counter(res.stdout.decode(errors="replace"))
    if res.returncode != 0 or done != count:
        raise RuntimeError("probe smtp-source to :%d: exit %d, %d of %d: "
                           "%s" % (port, res.returncode, done, count,
                                   res.stderr.decode().strip()))


def take_dumps(dumpdir, count, timeout=15.0):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < count and time.monotonic() < deadline:
        try:
            out.append(bench.wait_dump(
                dumpdir, max(0.1, deadline - time.monotonic())))
        except RuntimeError:
            break
    return out


def verify_message(raw, keys):
    """python3-dkim on every DKIM-Signature of raw: [(a=, d=, valid,
    detail)]."""
    import dkim

    msg = bench.crlf(raw)
    txt = {"%s._domainkey.%s" % (k.selector, bench.SIGN_DOMAIN): k.txt
           for k in keys}

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        value = txt.get(name.rstrip("."))
        return value.encode() if value else None
    out = []
    for i, field in enumerate(bench.dkim_signature_fields(msg)):
        tags = dict((m.group(1), re.sub(r"\s+", "", m.group(2)))
                    for m in re.finditer(r"(\w+)\s*=\s*([^;]*)",
                                         field.split(":", 1)[1]))
        try:
            ok = bool(dkim.DKIM(msg, minkey=1024).verify(idx=i,
                                                         dnsfunc=dnsfunc))
            detail = "" if ok else "does not verify"
        except dkim.DKIMException as e:
            ok, detail = False, str(e)
        out.append({"a": tags.get("a"), "d": tags.get("d"),
                    "s": tags.get("s"), "valid": ok, "detail": detail})
    return out


def judge_sample(case, sigs_per_msg):
    """Milter cases: each message exactly one valid rsa-sha256 and one
    valid ed25519-sha256 signature of SIGN_DOMAIN; Postfix alone:
    none."""
    if not sigs_per_msg:
        return False, "no message kept"
    for sigs in sigs_per_msg:
        if case == "postfix":
            if sigs:
                return False, "signed without a milter"
            continue
        algs = sorted(s["a"] or "" for s in sigs)
        if algs != sorted(ALGS):
            return False, "signatures a=%s, want %s" % (
                ",".join(algs) or "none", ",".join(sorted(ALGS)))
        bad = [s for s in sigs
               if not s["valid"] or s["d"] != bench.SIGN_DOMAIN]
        if bad:
            return False, "a=%s d=%s: %s" % (bad[0]["a"], bad[0]["d"],
                                             bad[0]["detail"] or "wrong d=")
    return True, ""


def probe_all(postfix, dumpdir, keys):
    """{case: {"ok", "detail", "messages": [[sig, ...], ...]}}."""
    out = {}
    for case, port in postfix.listeners.items():
        probe_source(port, PROBE_COUNT)
        postfix.wait_drained()
        raws = take_dumps(dumpdir, PROBE_COUNT)
        sigs = [verify_message(raw, keys) for raw in raws]
        ok, detail = judge_sample(case, sigs)
        if len(raws) != PROBE_COUNT:
            ok, detail = False, "%d of %d messages kept" % (len(raws),
                                                            PROBE_COUNT)
        out[case] = {"ok": ok, "detail": detail, "messages": sigs}
    return out


def print_probe(label, probe):
    print("  signatures %s (python3-dkim, %d messages per case):" % (
        label, PROBE_COUNT))
    for case in CASES:
        p = probe[case]
        found = ", ".join(
            "+".join("%s%s" % (s["a"], "" if s["valid"] else "(BAD)")
                     for s in sigs) or "none" for sigs in p["messages"])
        print("    %-14s %-4s %s%s" % (case, "OK" if p["ok"] else "BAD",
                                        found, " (%s)" % p["detail"]
                                        if p["detail"] else ""))


# ---------------------------------------------------------------- runs

def host_busy_seconds():
    """CPU seconds the whole host has been busy (all CPUs: user, nice,
    system, irq, softirq, steal; not idle or iowait)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    ticks = [int(x) for x in fields[1:]]
    return (sum(ticks[:3]) + sum(ticks[5:8])) / bench.CLK_TCK


def milter_pids(milters, case):
    return {m.name: m.pid for m in milters.get(case, [])}


def run_round(postfix, milters, count, sessions):
    """One run per case, in CASES order: {case: measure()}."""
    out = {}
    for case in CASES:
        busy = host_busy_seconds()
        out[case] = bench.measure(postfix.listeners[case],
                                  milter_pids(milters, case), SIZE, count,
                                  sessions, False)
        postfix.wait_drained()
        out[case]["host_cpu_s"] = host_busy_seconds() - busy
        for m in milters.get(case, []):
            if not m.alive():
                raise RuntimeError("%s died during the milter runs: %s" % (
                    m.name, m.log()[-2000:]))
    return out


def summarize(sessions, count, rounds, probe_ok):
    runs = {case: [r[case] for r in rounds] for case in CASES}
    rate = {case: bench.median_of(runs[case], lambda x: x["msgs_per_s"])
            for case in CASES}
    base = rate["postfix"]
    host = {case: bench.median_of(runs[case], lambda x: x["host_cpu_s"]) /
            count * 1e3 for case in CASES}
    out = {"sessions": sessions, "count": count, "size": SIZE,
           "cases": {}}
    for case in CASES:
        ms = 1e3 / rate[case] - 1e3 / base
        cpu = [sum(x["cpu_s"].values()) for x in runs[case]]
        r = {"msgs_per_s": rate[case], "ratio": rate[case] / base,
             "ms_per_msg": 1e3 / rate[case], "added_ms_per_msg": ms,
             "milter_cpu_us_per_msg": statistics.median(cpu) / count * 1e6,
             "host_cpu_ms_per_msg": host[case],
             "cpu_bound_ratio": host["postfix"] / host[case],
             "runs": runs[case]}
        if case in POSTERN_CASES:
            if sessions == 1:
                r["ok"] = probe_ok[case] and ms <= TARGET_MS
            else:
                r["ok"] = probe_ok[case] and r["ratio"] >= TARGET_RATIO
        out["cases"][case] = r
    return out


def print_host_cpu(res):
    cases = res["cases"]
    each = ["%s %.2f ms" % (case, cases[case]["host_cpu_ms_per_msg"]) +
            ("" if case == "postfix" else
             " (%.2fx)" % cases[case]["cpu_bound_ratio"])
            for case in CASES]
    print("    whole host's CPU per message over run and queue drain, %d "
          "CPUs (in brackets\n    Postfix alone's over the case's: the "
          "ratio's ceiling once the CPUs are saturated):\n    %s" % (
              os.cpu_count(), ", ".join(each)))


def print_level(res):
    sessions = res["sessions"]
    print("\n%d session%s, %d messages of %d KB per run, medians of %d "
          "runs:" % (sessions, "" if sessions == 1 else "s", res["count"],
                     SIZE // 1000, len(res["cases"]["postfix"]["runs"])))
    for case in CASES:
        r = res["cases"][case]
        line = "  %-14s %7.1f msg/s  %.2fx  %6.2f ms/msg" % (
            case, r["msgs_per_s"], r["ratio"], r["ms_per_msg"])
        if case != "postfix":
            line += "  %+7.2f ms/msg" % r["added_ms_per_msg"]
            line += "  milter CPU %5.0f us/msg" % r["milter_cpu_us_per_msg"]
        if "ok" in r:
            if sessions == 1:
                line += "  (target <= %.0f ms) %s" % (TARGET_MS,
                                                      bench.verdict(r["ok"]))
            else:
                line += "  (target >= %.2fx) %s" % (TARGET_RATIO,
                                                     bench.verdict(r["ok"]))
        print(line)
    if sessions > 1:
        print_host_cpu(res)
    print("    each run, msg/s: " + "; ".join(
        "%s %s" % (case, " ".join("%.0f" % x["msgs_per_s"]
                                  for x in res["cases"][case]["runs"]))
        for case in CASES))


# ------------------------------------------------------------ log checks

MILTER_PROBLEM = re.compile(
    r"warning: .*milter|milter-reject|451 4\.7\.1|451 4\.3\.0|"
    r"status=(deferred|bounced)")


def postfix_problems(postfix):
    lines = [l for l in postfix.log().splitlines()
             if MILTER_PROBLEM.search(l)]
    return lines


def finish(milters, postfix, res):
    out = {}
    for procs in milters.values():
        for m in procs:
            alive = m.alive()
            status = bench.stop(m.proc)
            lines = bench.log_problems(m.log())
            out[m.name] = {"alive_at_end": alive, "exit_status": status,
                           "log": lines[:50], "log_lines": len(lines)}
            if not alive or lines:
                print("  %s %s, exit status %s, %d log lines%s" % (
                    m.name, "alive" if alive else "DEAD", status,
                    len(lines), ":" if lines else ""))
                for line in lines[:10]:
                    print("    " + line)
    res["milters"] = out
    problems = postfix_problems(postfix)
    res["postfix_problems"] = problems[:50]
    res["postfix_problem_lines"] = len(problems)
    print("  Postfix log: %d milter warnings, rejections or deferrals%s" % (
        len(problems), ":" if problems else ""))
    for line in problems[:10]:
        print("    " + line)


# ------------------------------------------------------------------ main

def check_tools():
    for path in (OPENDKIM, POSTFIX, bench.SMTP_SOURCE, bench.SMTP_SINK,
                 bench.POSTERN):
        if not os.access(path, os.X_OK):
            raise RuntimeError("%s missing (make deps: opendkim, postfix; "
                               "make postern)" % path)
    try:
        import dkim  # noqa: F401
        import nacl  # noqa: F401
    except ImportError as e:
        raise RuntimeError("python3-dkim and python3-nacl needed: %s" % e)


def start_all(args, sub, keys):
    sink = bench.Sink(sub, max(1000, args.sessions + 500))
    dumpdir = os.path.join(sub, "dump")
    os.makedirs(dumpdir)
    probedir = os.path.join(sub, "probe")
    os.makedirs(probedir)
    probe_sink = bench.Sink(probedir, 50,
                            dump=os.path.join(dumpdir, "%H%M%S."))
    # smtpd (user postfix) must reach the unix sockets: not under the
    # bench's workdir (mode 0700).
    sockdir = harness.make_private_dir("postern-bench-milter-")
    milters = start_milters(sub, sockdir, keys)
    postfix = BenchPostfix(sink.port, probe_sink.port, milters)
    postfix.sockdir = sockdir
    return sink, probe_sink, dumpdir, milters, postfix


def describe(sink, milters, postfix):
    print("Postfix %s (queue %s), relaying to smtp-sink pid %d on :%d" % (
        subprocess.run([POSTFIX, "-c", postfix.conf, "status"],
                       stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL).returncode == 0 and
        "running" or "?", os.path.join(postfix.base, "queue"), sink.pid,
        sink.port))
    for case in CASES:
        procs = milters.get(case, [])
        print("  %-14s smtpd :%d%s" % (
            case, postfix.listeners[case],
            "  smtpd_milters=" + ",".join(
                "%s (%s pid %d)" % (m.endpoint.postfix, m.name, m.pid)
                for m in procs) if procs else "  no milter"))


def measure_all(args, postfix, milters, probe_ok):
    levels = []
    for sessions, count in ((1, args.milter_n1),
                            (args.sessions, args.milter_n)):
        rounds = [run_round(postfix, milters, count, sessions)
                  for _ in range(args.milter_repeat)]
        res = summarize(sessions, count, rounds, probe_ok)
        print_level(res)
        levels.append(res)
    return levels


def run_milter(args, workdir, results):
    sub = os.path.join(workdir, "milter")
    keydir = os.path.join(sub, "keys")
    os.makedirs(keydir, mode=0o700)
    print("\nMilter: Postfix alone, + postern, + OpenDKIM (RSA-2048 and "
          "Ed25519 signatures of d=%s\non every message), %d KB messages, "
          "one per connection, at 1 and %d sessions\n" % (
              bench.SIGN_DOMAIN, SIZE // 1000, args.sessions))
    keys = [bench.SignKey(keydir, *k) for k in bench.SIGN_KEYS]
    res = {"targets": {"added_ms_per_msg_max": TARGET_MS,
                       "rate_ratio_min": TARGET_RATIO},
           "cases": list(CASES)}
    results["milter"] = res
    sink, probe_sink, dumpdir, milters, postfix = start_all(args, sub, keys)
    try:
        postfix.start()
        describe(sink, milters, postfix)
        for case in CASES:                       # warm-up
            bench.run_source(postfix.listeners[case], SIZE, 50,
                             min(args.sessions, 10), False)
            postfix.wait_drained()
        res["probe_before"] = probe_all(postfix, dumpdir, keys)
        print_probe("before the runs", res["probe_before"])
        levels = measure_all(args, postfix, milters,
                             {c: res["probe_before"][c]["ok"]
                              for c in CASES})
        res["probe_after"] = probe_all(postfix, dumpdir, keys)
        print()
        print_probe("after the runs", res["probe_after"])
        for level in levels:
            for case in POSTERN_CASES:
                if not res["probe_after"][case]["ok"]:
                    level["cases"][case]["ok"] = False
        res["levels"] = levels
        finish(milters, postfix, res)
    finally:
        postfix.stop()
        for procs in milters.values():
            for m in procs:
                bench.stop(m.proc)
        bench.stop(sink.proc)
        bench.stop(probe_sink.proc)
        shutil.rmtree(postfix.base, ignore_errors=True)
        shutil.rmtree(postfix.sockdir, ignore_errors=True)


def print_summary(results):
    res = results.get("milter")
    if not res or "levels" not in res:
        return
    one, many = res["levels"][0], res["levels"][-1]
    for case in POSTERN_CASES + ("opendkim-inet", "opendkim-unix"):
        a, b = one["cases"][case], many["cases"][case]
        line = "  milter %-13s 1 session %+6.1f ms/msg" % (
            case, a["added_ms_per_msg"])
        if "ok" in a:
            line += " (<= %.0f) %-6s" % (TARGET_MS, bench.verdict(a["ok"]))
        else:
            line += " %-14s" % ""
        line += "  %d sessions %.2fx of Postfix alone" % (many["sessions"],
                                                        b["ratio"])
        if "ok" in b:
            line += " (>= %.2fx) %s" % (TARGET_RATIO, bench.verdict(b["ok"]))
        line += "; CPU-bound ceiling %.2fx" % b["cpu_bound_ratio"]
        print(line)
