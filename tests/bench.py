#!/usr/bin/python3
"""Throughput, CPU and memory of postern against a direct baseline.

Runs `make bench`.  Everything listens on 127.0.0.1 on free ports above
1024.  One smtp-sink (Postfix's test server, throws mail away) is the
upstream for the whole run; one postern sits in front of it.

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
2. Memory per idle session: postern's VmRSS before and after 5,000
   client connections have each received their 220 banner (each also
   holds an upstream connection to smtp-sink).

It prints a table with ratios against the baseline measured in the same
run and the targets, writes build/bench.json, and exits 0 whether or not
a target is met (a benchmark, not a test); it exits 1 only when the bench
itself could not run.  Every process it starts is killed on the way out.
"""

import argparse
import atexit
import json
import os
import random
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
POSTERN = os.environ.get("POSTERN", os.path.join(ROOT, "build", "postern"))
JSON_OUT = os.path.join(ROOT, "build", "bench.json")
SMTP_SOURCE = "/usr/sbin/smtp-source"
SMTP_SINK = "/usr/sbin/smtp-sink"
HOST = "127.0.0.1"
NOFILE = 65536
CLK_TCK = os.sysconf("SC_CLK_TCK")
TOTAL_TIMEOUT = 600          # the whole bench, seconds
RUN_TIMEOUT = 120            # one smtp-source run

TARGET_RATE = 0.70           # postern msgs/s >= 0.7 x direct
TARGET_CPU = 2.0             # postern CPU/msg <= 2 x smtp-sink CPU/msg
TARGET_IDLE_KB = 64          # per idle session

POSTERN_CONF = """\
hostname = "postern.test"
workers = 2
spool_dir = "{spool}"
log {{ target = stderr  level = warning }}
listener smtp {{ address = "{host}:{port}"  backlog = 4096 }}
upstream {{ address = "{host}:{sink_port}"  connect_timeout = 5s }}
limits {{ sessions = 20000  sessions_per_client = 20000  idle_timeout = 10m \
 message_size = 50m }}
filter received {{ }}
"""

# --------------------------------------------------------------- processes

STARTED = []                 # every Popen we started, killed at exit


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


def spawn(argv, stdout, stderr):
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout,
                            stderr=stderr, preexec_fn=child_setup)
    STARTED.append(proc)
    return proc


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
    def __init__(self, workdir, max_conns):
        self.port = free_port()
        self.out = os.path.join(workdir, "smtp-sink.log")
        argv = [SMTP_SINK]
        if os.geteuid() == 0:
            argv += ["-u", "root"]
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
    def __init__(self, workdir, sink_port):
        self.port = free_port(taken=(sink_port,))
        spool = os.path.join(workdir, "spool")
        os.makedirs(spool, exist_ok=True)
        self.conf = os.path.join(workdir, "postern.conf")
        with open(self.conf, "w") as f:
            f.write(POSTERN_CONF.format(spool=spool, host=HOST,
                                        port=self.port, sink_port=sink_port))
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


def check_tools():
    for path in (POSTERN, SMTP_SOURCE, SMTP_SINK):
        if not os.access(path, os.X_OK):
            raise RuntimeError("%s missing (make deps, make postern)" % path)


def finish_postern(postern, results, key):
    """Stop postern and collect what it logged (level warning and up)."""
    alive = postern.alive()
    status = stop(postern.proc)
    problems = log_problems(postern.log())
    results[key] = {"alive_at_end": alive, "exit_status": status,
                    "log": problems[:200], "log_lines": len(problems)}
    print("postern %s at the end, exit status %s after SIGTERM; %d log "
          "lines at level warning or above%s" % (
              "alive" if alive else "DEAD", status, len(problems),
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
    print("\nSummary (main figures: one message per connection, %d "
          "sessions)" % results["throughput"][0]["sessions"])
    for r in results["throughput"][:2]:
        print("  %-10s rate %.2fx (>= %.2fx) %-6s  CPU/msg %.2fx "
              "(<= %.1fx) %s" % (case_name(r), r["rate_ratio"], TARGET_RATE,
                                 verdict(r["rate_ok"]), r["cpu_ratio"] or 0,
                                 TARGET_CPU, verdict(r["cpu_ok"])))
    m = results["memory"]
    print("  idle       %.1f KB/session (<= %d KB) %s" %
          (m["kb_per_session"], TARGET_IDLE_KB, verdict(m["ok"])))


def run(args, workdir, results):
    print("%d CPUs; postern %s" % (os.cpu_count(), POSTERN))
    run_throughput(args, workdir, results)
    run_memory(args, workdir, results)
    print_summary(results)


def print_log_tail(path, n=30):
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return
    print("bench: last lines of postern's log:", file=sys.stderr)
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
                           "idle_kb_per_session_max": TARGET_IDLE_KB},
               "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "cpus": os.cpu_count()}
    workdir = tempfile.mkdtemp(prefix="postern-bench-")
    try:
        check_tools()
        run(args, workdir, results)
        return 0
    except (RuntimeError, OSError, BenchTimeout) as e:
        results["error"] = str(e)
        print("bench: error: %s" % e, file=sys.stderr)
        for name in ("throughput", "memory"):
            print_log_tail(os.path.join(workdir, name, "postern.log"))
        return 1
    finally:
        kill_all()
        signal.alarm(0)
        write_json(results)
        subprocess.run(["rm", "-rf", workdir], check=False)


if __name__ == "__main__":
    sys.exit(main())
