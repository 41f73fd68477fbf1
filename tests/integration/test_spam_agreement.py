"""postern's spam scorer against SpamAssassin, on SpamAssassin's rules.

SpamAssassin 4 (Debian's package) and `postern score` score the same
messages with the same stock rules (/usr/share/spamassassin) and the
same plugins for ifplugin (the loadplugin lines of
/etc/spamassassin/*.pre).  SpamAssassin runs through
tests/spamassassin/sa_hits.pl, which loads it once, as `spamassassin -L
-x -t` with Bayes off would (score set 0), and prints every rule hit,
sub-rules included; `postern score -a` prints the same.  The messages:
every file of the SpamAssassin sample corpus (nice/, spam/ and the two
samples).

Compared are the (message, rule) pairs for the rules both load as
header, body, uri or meta rules with a non-zero score in SpamAssassin
(it never runs a rule scored 0).  Three figures, each asserted with a
floor a little under what was measured when this was written:
agreement over all pairs, the share of SpamAssassin's hits that postern
also hits, and the share of postern's hits that SpamAssassin also hits.
The last two again over the self-contained rules, those that rest on no
eval test and no relay analysis (which postern does not have): that is
where the rule language and the message decoding are measured.  Also
reported: the same without "__" sub-rules, and how often both call a
message spam.  A table of the rules that disagree is printed and kept in
build/spam-agreement.txt.  Also: GTUBE scores as spam, sample-nonspam
does not hit it, sa_hits.pl reports what `spamassassin -t` reports, and
postern loads about as many rules of each kind as SpamAssassin does.

Select with `-m spam` (the marker) or `-k spam`.
"""

import collections
import os
import re
import subprocess

import pytest

import spamcorpus

pytestmark = pytest.mark.spam

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
POSTERN = os.environ.get("POSTERN", os.path.join(ROOT, "build", "postern"))
SA_HITS = os.path.join(ROOT, "tests", "spamassassin", "sa_hits.pl")
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "mail",
                      "spamassassin")
SA_RULES = "/usr/share/spamassassin"
SA_SITE = "/etc/spamassassin"
REPORT = os.path.join(ROOT, "build", "spam-agreement.txt")

# Rule kinds compared, by postern's -l names and SpamAssassin's types.
COMPARED = ("header", "body", "uri", "meta")

# Floors, a little under the figures measured when this was written
# (build/spam-agreement.txt has those of the last run).  Over all
# compared rules: agreement 0.9974, SA hits found 0.876, postern hits
# confirmed 0.995 (the 95 % the issue asks is the first); what postern
# misses is almost all rules resting on eval tests, which postern does
# not run: hence 0.85 for the second figure.
MIN_AGREEMENT = 0.95
MIN_SA_HITS_FOUND = 0.85
MIN_POSTERN_HITS_CONFIRMED = 0.98
# The same over the self-contained rules: those whose result does not
# rest on an eval test or on the relay analysis; there the rule
# language itself is measured (0.9991 and 1.0 when written).
MIN_OWN_SA_HITS_FOUND = 0.99
MIN_OWN_POSTERN_CONFIRMED = 0.99







def run(argv, timeout=120):
    res = subprocess.run(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=timeout)
    out = res.stdout.decode(errors="replace")
    err = res.stderr.decode(errors="replace")
    if res.returncode != 0:
        pytest.fail("%s: exit %d\n%s" % (" ".join(argv[:6]), res.returncode,
                                          (err or out)[-3000:]))
    return out, err


def parse_hits(text):
    """Lines "message FILE score=S" and "hit RULE key=value..." into
    {FILE: {"score": S, "hits": {RULE: fields}}}."""
    results, cur = {}, None
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "message":
            fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
            cur = {"score": float(fields["score"]), "hits": {}}
            results[words[1]] = cur
        elif words[0] == "hit" and cur is not None:
            cur["hits"][words[1]] = dict(w.split("=", 1) for w in words[2:]
                                         if "=" in w)
    return results


def parse_rules(text, key, extra=None):
    """Lines "rule NAME key=KIND score=S ..." into {NAME: (KIND, S)};
    extra, when given, receives {NAME: {field: value}} of the rest."""
    rules = {}
    for line in text.splitlines():
        words = line.split()
        if len(words) < 3 or words[0] != "rule":
            continue
        fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
        rules[words[1]] = (fields.get(key, "?"),
                           float(fields.get("score", "0")))
        if extra is not None:
            extra[words[1]] = fields
    return rules


@pytest.fixture(scope="module")
def files():
    found = spamcorpus.messages(CORPUS)
    if len(found) < 50:
        pytest.fail("SpamAssassin corpus missing or short under %s" % CORPUS)
    return found


@pytest.fixture(scope="module")
def sa(files):
    """SpamAssassin's rules, plugins and hits, from one sa_hits.pl run."""
    if not os.path.exists("/usr/share/perl5/Mail/SpamAssassin.pm"):
        pytest.fail("SpamAssassin missing: run `make deps`")
    out, _ = run(["perl", SA_HITS, "-l", "-P"] + files, timeout=300)
    plugins = [line.split()[1] for line in out.splitlines()
               if line.startswith("plugin ")]
    fields = {}
    return {"rules": parse_rules(out, "type", fields), "fields": fields,
            "plugins": plugins, "results": parse_hits(out)}




def postern_base():
    """SpamAssassin's order: the .pre files (loadplugin, enable_compat),
    then the stock rules."""
    argv = [POSTERN, "score"]
    for f in spamcorpus.pre_files(SA_SITE) + [SA_RULES]:
        argv += ["-r", f]
    return argv


@pytest.fixture(scope="module")
def postern(files):
    """postern's rules and hits with the same rules and plugins."""
    if not os.access(POSTERN, os.X_OK):
        pytest.fail("%s missing: run `make postern`" % POSTERN)
    listing, _ = run(postern_base() + ["-l"])
    out, _ = run(postern_base() + ["-a"] + files)
    return {"rules": parse_rules(listing, "kind"), "results": parse_hits(out)}


def compared_rules(sa, postern):
    """Rules both load as a compared kind, of the same kind, that
    SpamAssassin runs (non-zero score)."""
    out = {}
    for name, (kind, score) in postern["rules"].items():
        sa_rule = sa["rules"].get(name)
        if kind in COMPARED and sa_rule and sa_rule[0] == kind and \
                sa_rule[1] != 0:
            out[name] = kind
    return out


# SpamAssassin's pseudo-headers from its analysis of the Received
# chain and trusted_networks, which postern does not build (XXX in
# spam_msg.c): rules reading them never match in postern.
RELAY_HEADERS = re.compile(r"^(?:X-Spam-Relays-|ALL-(?:TRUSTED|UNTRUSTED|"
                           r"INTERNAL|EXTERNAL)$)", re.I)


def self_contained(sa, postern, rules):
    """The rules of rules that rest only on what postern evaluates: no
    rule among their meta dependencies (transitively) is one postern
    does not load as the same kind (eval tests, plugin types, ...) or a
    header rule on a relay pseudo-header."""
    fields, p_rules = sa["fields"], postern["rules"]
    memo = {}

    def foreign(name, depth=0):
        if name in memo:
            return memo[name]
        memo[name] = False        # a cycle: SpamAssassin drops it anyway
        f = fields.get(name)
        if f is None:             # undefined: false on both sides
            return False
        if p_rules.get(name, ("",))[0] != sa["rules"][name][0]:
            bad = True
        elif RELAY_HEADERS.match(f.get("header", "")):
            bad = True
        else:
            deps = [d for d in f.get("deps", "").split(",") if d]
            bad = depth < 50 and any(foreign(d, depth + 1) for d in deps)
        memo[name] = bad
        return bad
    return {r: k for r, k in rules.items() if not foreign(r)}


def agreement(sa, postern, rules):
    """Pair counts and per-rule disagreements over every message."""
    c = collections.Counter()
    per_rule = collections.defaultdict(lambda: [0, 0, []])
    for path, sa_res in sa["results"].items():
        p_res = postern["results"].get(path)
        assert p_res is not None, "postern printed nothing for %s" % path
        for rule in rules:
            s_hit = rule in sa_res["hits"]
            p_hit = rule in p_res["hits"]
            c["pairs"] += 1
            c["sa"] += s_hit
            c["postern"] += p_hit
            c["both"] += s_hit and p_hit
            if s_hit != p_hit:
                r = per_rule[rule]
                r[0 if s_hit else 1] += 1
                r[2].append(os.path.relpath(path, CORPUS))
    return c, per_rule


def figures(c):
    agree = (c["pairs"] - (c["sa"] - c["both"]) - (c["postern"] - c["both"]))
    return {"agreement": agree / c["pairs"],
            "sa_hits_found": c["both"] / c["sa"] if c["sa"] else 1.0,
            "postern_hits_confirmed": (c["both"] / c["postern"]
                                       if c["postern"] else 1.0)}


def report(lines):
    os.makedirs(os.path.dirname(REPORT), exist_ok=True)
    with open(REPORT, "w") as f:
        f.write("\n".join(lines) + "\n")


def disagreement_table(per_rule, rules):
    lines = ["%-28s %-6s %7s %12s  messages" % ("rule", "kind", "SA-only",
                                                "postern-only")]
    order = sorted(per_rule.items(), key=lambda kv: (-kv[1][0] - kv[1][1],
                                                     kv[0]))
    for rule, (s_only, p_only, msgs) in order:
        lines.append("%-28s %-6s %7d %12d  %s" % (
            rule, rules[rule], s_only, p_only, " ".join(msgs[:4]) +
            (" ..." if len(msgs) > 4 else "")))
    return lines


def test_sa_hits_matches_spamassassin_t(sa):
    """sa_hits.pl reports the rules `spamassassin -t` lists."""
    path = os.path.join(CORPUS, "sample-spam.txt")
    with open(path, "rb") as f:
        res = subprocess.run(
            ["spamassassin", "-L", "-x", "--cf=use_bayes 0",
             "--cf=use_auto_whitelist 0", "-t"], stdin=f,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    table = res.stdout.decode(errors="replace").split("---- ----", 1)
    assert len(table) == 2, "no report table in spamassassin -t output"
    listed = set(re.findall(r"^\s*-?[\d.]+\s+([A-Z_][A-Z0-9_]*)\s",
                            table[1], re.M))
    ours = {r for r in sa["results"][path]["hits"] if not r.startswith("__")}
    assert "GTUBE" in listed
    assert ours == listed


def test_plugins_as_spamassassin_loads_them(sa):
    """The plugins passed to postern (.pre files) are those SA loaded."""
    assert sa["plugins"] == spamcorpus.pre_plugins(SA_SITE)


def test_gtube(postern):
    spam = postern["results"][os.path.join(CORPUS, "sample-spam.txt")]
    ham = postern["results"][os.path.join(CORPUS, "sample-nonspam.txt")]
    assert "GTUBE" in spam["hits"]
    # SpamAssassin's own total is 999.998: GTUBE's 1000 and two
    # informational rules of -0.001 (NO_RECEIVED, NO_RELAYS).
    assert spam["score"] >= 999.99
    assert "GTUBE" not in ham["hits"]
    assert ham["score"] < 5.0


def test_gtube_report(postern):
    """The default output: the spamassassin -t style table."""
    path = os.path.join(CORPUS, "sample-spam.txt")
    out, _ = run(postern_base() + [path])
    m = re.search(r"score=([\d.]+) required=([\d.]+)", out)
    assert m and float(m.group(1)) >= 999.99, out
    assert re.search(r"^\s*1000(?:\.0)?\s+GTUBE\s", out, re.M), out


def verdicts(sa, postern):
    """Messages both call spam (>= 5.0), and the mean score gap (postern
    runs no eval rules, so its totals are lower)."""
    same, gap = 0, 0.0
    for path, sa_res in sa["results"].items():
        p_score = postern["results"][path]["score"]
        same += (sa_res["score"] >= 5.0) == (p_score >= 5.0)
        gap += abs(sa_res["score"] - p_score)
    n = len(sa["results"])
    return same, n, gap / n


def figure_line(label, rules, c, f):
    return ("%s (%d rules): agreement %.4f, SA hits found %.4f, postern "
            "hits confirmed %.4f (hits SA %d, postern %d, both %d)" % (
                label, len(rules), f["agreement"], f["sa_hits_found"],
                f["postern_hits_confirmed"], c["sa"], c["postern"],
                c["both"]))


def summary_lines(sa, postern, rules, c, f, per_rule, own):
    public = {r: k for r, k in rules.items() if not r.startswith("__")}
    pc, _ = agreement(sa, postern, public)
    same, n, gap = verdicts(sa, postern)
    oc, _ = agreement(sa, postern, own)
    return [
        "postern vs SpamAssassin %s: %d messages x %d rules (%s) = %d "
        "pairs" % (SA_RULES, len(sa["results"]), len(rules),
                   "/".join(COMPARED), c["pairs"]),
        "hits: SpamAssassin %d, postern %d, both %d" % (
            c["sa"], c["postern"], c["both"]),
        "pair agreement %.4f (floor %.2f); SA hits postern also hits %.4f "
        "(floor %.2f); postern hits SA also hits %.4f (floor %.2f)" % (
            f["agreement"], MIN_AGREEMENT, f["sa_hits_found"],
            MIN_SA_HITS_FOUND, f["postern_hits_confirmed"],
            MIN_POSTERN_HITS_CONFIRMED),
        figure_line("without __ sub-rules", public, pc, figures(pc)),
        figure_line("self-contained (no eval or relay data below them; "
                    "floors %.2f/%.2f)" % (MIN_OWN_SA_HITS_FOUND,
                                           MIN_OWN_POSTERN_CONFIRMED),
                    own, oc, figures(oc)),
        "spam verdict at 5.0 the same for %d of %d messages; mean |score "
        "difference| %.2f (all rules, evals included on SA's side)" % (
            same, n, gap),
        "rules that disagree: %d" % len(per_rule), ""]


def test_agreement(sa, postern, capsys):
    rules = compared_rules(sa, postern)
    assert len(rules) > 500, "only %d rules compared" % len(rules)
    c, per_rule = agreement(sa, postern, rules)
    f = figures(c)
    own = self_contained(sa, postern, rules)
    of = figures(agreement(sa, postern, own)[0])
    lines = summary_lines(sa, postern, rules, c, f, per_rule, own)
    head = len(lines)
    lines += disagreement_table(per_rule, rules)
    report(lines)
    with capsys.disabled():
        print("\n" + "\n".join(lines[:head + 41]))
        print("(full table in %s)" % os.path.relpath(REPORT, ROOT))
    assert f["agreement"] >= MIN_AGREEMENT
    assert f["sa_hits_found"] >= MIN_SA_HITS_FOUND
    assert f["postern_hits_confirmed"] >= MIN_POSTERN_HITS_CONFIRMED
    assert of["sa_hits_found"] >= MIN_OWN_SA_HITS_FOUND
    assert of["postern_hits_confirmed"] >= MIN_OWN_POSTERN_CONFIRMED


# Kinds for the load counts: postern's name and SpamAssassin's types.
KINDS = {"header": ("header",), "body": ("body",), "rawbody": ("rawbody",),
         "uri": ("uri",), "full": ("full",), "meta": ("meta",)}
# postern's count of a kind over SpamAssassin's must lie in this range
# (above 1.0 for SpamAssassin's compatibility metas, which it leaves out
# under `enable_compat welcomelist_blocklist`).
LOAD_RANGE = {"header": (0.95, 1.02), "body": (0.95, 1.02),
              "rawbody": (0.90, 1.02), "uri": (0.90, 1.02),
              "full": (0.75, 1.02), "meta": (0.90, 1.02)}


def check_summary(tmp_dir, rules, plugins=()):
    """The "spam rules:" lines of `postern -t` on a configuration whose
    spam filter loads rules (counts by kind, skips by reason)."""
    conf = os.path.join(tmp_dir, "check.conf")
    with open(conf, "w") as f:
        f.write("\n".join([
            'hostname = "postern.test"',
            'listener smtp { address = "127.0.0.1:2525" }',
            'upstream { address = "127.0.0.1:2526" }',
            "filter spam {",
            "\trules = {%s}" % ", ".join('"%s"' % r for r in rules),
            "\tplugins = {%s}" % ", ".join('"%s"' % p for p in plugins),
            "}", ""]))
    out, _ = run([POSTERN, "-t", "-c", conf])
    return [line for line in out.splitlines()
            if line.startswith("spam rules")]


def test_load_counts(sa, postern, tmp_path, capsys):
    """Rules of each kind postern loads, against SpamAssassin's (which
    counts /etc/spamassassin's few rules too); postern skips eval tests
    and plugin rule types."""
    p_count = collections.Counter(k for k, _ in postern["rules"].values())
    s_count = collections.Counter(t for t, _ in sa["rules"].values())
    lines = ["rules loaded, postern vs SpamAssassin (postern skips SA's "
             "eval rules):"]
    bad = []
    for kind, sa_types in KINDS.items():
        s = sum(s_count[t] for t in sa_types)
        p = p_count[kind]
        lo, hi = LOAD_RANGE[kind]
        ok = lo * s <= p <= hi * s + 5
        lines.append("  %-8s postern %5d  SA %5d  (%.1f %%)%s" % (
            kind, p, s, 100.0 * p / s if s else 0, "" if ok else "  OUT"))
        if not ok:
            bad.append(kind)
    evals = sum(n for t, n in s_count.items() if "eval" in t)
    lines.append("  SA eval rules %d; postern facts %d" %
                 (evals, p_count["fact"]))
    summary = check_summary(str(tmp_path), [SA_RULES], spamcorpus.pre_plugins(SA_SITE))
    lines += ["  postern -t: " + line for line in summary]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert summary, "postern -t printed no spam rules lines"
    assert not bad, "\n".join(lines)
