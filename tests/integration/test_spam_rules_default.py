"""postern's default rule set, contrib/rules, through `postern score`.

The set loads whole (no rule skipped, every rule of the files listed
with its kind, every fact scored and described); GTUBE scores 1000;
every ham message of the SpamAssassin corpus (nice/) stays below 5.0;
and crafted messages hit exactly the rules they were written for, with
and without facts from the other filters (-F).

Select with `-m spam` (the marker) or `-k spam`.
"""

import os
import re
import subprocess

import pytest

pytestmark = pytest.mark.spam

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
POSTERN = os.environ.get("POSTERN", os.path.join(ROOT, "build", "postern"))
RULES = os.path.join(ROOT, "contrib", "rules")
CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "mail",
                      "spamassassin")
FACTS = ("SPF_PASS", "SPF_FAIL", "SPF_SOFTFAIL", "SPF_NEUTRAL", "SPF_NONE",
         "SPF_TEMPERROR", "SPF_PERMERROR", "SPF_HELO_PASS", "SPF_HELO_FAIL",
         "SPF_HELO_SOFTFAIL", "SPF_HELO_NEUTRAL", "SPF_HELO_NONE",
         "DKIM_SIGNED", "DKIM_VALID", "DKIM_VALID_AU", "DKIM_INVALID",
         "DMARC_PASS", "DMARC_REJECT", "DMARC_QUAR", "DMARC_NONE",
         "DMARC_MISSING", "MIME_TRUNCATED")
KIND_OF = {"header": "header", "body": "body", "uri": "uri", "meta": "meta",
           "rawbody": "rawbody", "full": "full"}


def run(argv):
    res = subprocess.run(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=60)
    if res.returncode != 0:
        pytest.fail("%s: exit %d\n%s" % (" ".join(argv[:4]), res.returncode,
                                          res.stderr.decode()[-3000:]))
    return res.stdout.decode(errors="replace")


@pytest.fixture(scope="module", autouse=True)
def have_postern():
    if not os.access(POSTERN, os.X_OK):
        pytest.fail("%s missing: run `make postern`" % POSTERN)


def defined_rules():
    """{name: kind} of every rule the .cf files define, and the names
    given a score or a description."""
    rules, scored, described = {}, set(), set()
    for name in sorted(os.listdir(RULES)):
        if not name.endswith(".cf"):
            continue
        with open(os.path.join(RULES, name)) as f:
            for line in f:
                words = line.split(None, 2)
                if len(words) < 2 or words[0].startswith("#"):
                    continue
                if words[0] in KIND_OF:
                    rules[words[1]] = KIND_OF[words[0]]
                elif words[0] == "score":
                    scored.add(words[1])
                elif words[0] == "describe":
                    described.add(words[1])
    return rules, scored, described


def listed_rules():
    out = run([POSTERN, "score", "-l", "-r", RULES])
    rules = {}
    for line in out.splitlines():
        m = re.match(r"^rule (\S+) kind=(\S+) score=(\S+)$", line)
        assert m, "odd -l line %r" % line
        rules[m.group(1)] = (m.group(2), float(m.group(3)))
    return rules


def score_all(paths, facts=()):
    """postern score -a: {path: (score, {rule hit, "__" ones too})}."""
    argv = [POSTERN, "score", "-a", "-r", RULES]
    for fact in facts:
        argv += ["-F", fact]
    out = run(argv + list(paths))
    results, cur = {}, None
    for line in out.splitlines():
        words = line.split()
        if words[0] == "message":
            cur = set()
            score = float(re.search(r"score=(\S+)", line).group(1))
            results[words[1]] = (score, cur)
        elif words[0] == "hit":
            cur.add(words[1])
    return results


def test_every_rule_loads():
    rules, scored, described = defined_rules()
    listed = listed_rules()
    missing = sorted(set(rules) - set(listed))
    assert not missing, "rules not loaded: %s" % missing
    for name, kind in rules.items():
        assert listed[name][0] == kind, name
    for fact in FACTS:
        assert listed.get(fact, ("", 0))[0] == "fact", fact
    # Every rule that is not a sub-rule is explained and scored.
    public = {n for n in rules if not n.startswith("__")} | set(FACTS)
    assert sorted(public - described) == []
    assert sorted(public - scored) == []
    assert sorted(set(listed) - set(rules) - set(FACTS)) == []
    assert 30 <= len(public) - len(FACTS) <= 60


def test_check_reports_no_skips(tmp_path):
    """`postern -t`: the counts by kind are those of the files, nothing
    is skipped or ignored."""
    conf = tmp_path / "p.conf"
    conf.write_text("\n".join([
        'hostname = "postern.test"',
        'listener smtp { address = "127.0.0.1:2525" }',
        'upstream { address = "127.0.0.1:2526" }',
        'filter spam { rules = {"%s"} }' % RULES, ""]))
    out = run([POSTERN, "-t", "-c", str(conf)])
    lines = [line for line in out.splitlines()
             if line.startswith("spam rules")]
    counts = [line for line in lines if line.startswith("spam rules: ")]
    assert len(counts) == 1, out
    rules, _, _ = defined_rules()
    for kind in ("header", "body", "uri", "meta", "rawbody", "full"):
        n = sum(1 for k in rules.values() if k == kind)
        assert re.search(r"\b%s %d\b" % (kind, n), counts[0]), counts[0]
    assert re.search(r"\bfact %d\b" % len(FACTS), counts[0]), counts[0]
    others = [line for line in lines if line not in counts]
    assert others, out
    for line in others:
        assert not [n for n in re.findall(r"\b\d+\b", line)
                    if int(n)], line


def test_gtube_is_spam():
    path = os.path.join(CORPUS, "sample-spam.txt")
    score, hits = score_all([path])[path]
    assert "GTUBE" in hits
    assert score >= 1000


def test_ham_corpus_stays_below_threshold():
    paths = []
    for root, _, names in os.walk(os.path.join(CORPUS, "nice")):
        paths += [os.path.join(root, n) for n in names]
    paths.append(os.path.join(CORPUS, "sample-nonspam.txt"))
    assert len(paths) > 20
    results = score_all(sorted(paths))
    over = {os.path.relpath(p, CORPUS): (s, sorted(h))
            for p, (s, h) in results.items() if s >= 5.0}
    assert over == {}
    assert len(results) == len(paths)


# ---------------------------------------------------------------- crafted

def message(subject="Lunch on Friday", body="Shall we meet at noon?\n",
            sender='"Alice Example" <alice@example.org>',
            to="bob@example.net", drop=(), extra=(), fields=None,
            ctype="text/plain; charset=us-ascii", eol="\n"):
    """A well-formed message; drop: fields to leave out; fields: values
    that replace the usual ones; extra: more "Name: value" fields."""
    values = {"Date": "Tue, 03 Dec 2024 10:15:00 +0100",
              "Message-Id": "<20241203101500.4711@example.org>",
              "From": sender, "To": to, "Subject": subject,
              "MIME-Version": "1.0", "Content-Type": ctype}
    values.update(fields or {})
    lines = ["%s: %s" % kv for kv in values.items() if kv[0] not in drop]
    lines += list(extra)
    text = "\n".join(lines) + "\n\n" + body
    return text.replace("\n", eol).encode()


PHISH_BODY = """Dear user,

Your mailbox will be suspended within 24 hours. To keep it, verify
your account here:

  http://192.0.2.10/webmail/login

Mail team
"""

FEE_BODY = """Dear Sir/Madam,

I am the attorney of a late client who left US$ 15,000,000 with no next
of kin. I propose a strictly confidential business: you receive 30% of
the total sum for your help.

Please give this your urgent attention.
"""

LOTTERY_BODY = """Your email address has won EUR 1,000,000 in our
annual email draw. To claim your prize, write to the agent below.
"""

# SpamAssassin runs uri rules only on links whose host is an address or
# under a known top-level domain: no .example hosts where a rule should
# hit.
LINKS_BODY = """Your documents:
http://www.bank.example@198.51.100.7/statement
http://3232235777/view
http://xn--pypal-4ve.com/
http://files.example.com/update.exe
http://offers.example.top/
"""

EXTORT_BODY = """I hacked your computer and recorded you. Send 1200 USD
in bitcoin to 1BoatSLRHtKNngkdXEeobR76b53LETtpyT within 48 hours.
"""

# (case, message, facts, the rules hit, "__" sub-rules left out).
CRAFTED = [
    ("clean", message(), (), set()),
    ("clean-crlf", message(eol="\r\n"), (), set()),
    ("no-date-no-msgid", message(drop=("Date", "Message-Id")), (),
     {"PST_MISSING_DATE", "PST_MISSING_MSGID", "PST_HEADERS_MISSING"}),
    ("no-from-no-rcpt", message(drop=("From", "To")), (),
     {"PST_MISSING_FROM", "PST_NO_RCPT_FIELDS"}),
    ("bad-date-msgid", message(fields={"Date": "2024-12-03 10:15",
                                       "Message-Id": "<4711>"}), (),
     {"PST_DATE_MALFORMED", "PST_MSGID_NO_AT"}),
    ("phish", message(subject="Action required",
                      sender='"Mailbox Administrator" <it@example.com>',
                      body=PHISH_BODY), (),
     {"PST_FROM_NAME_ADMIN", "PST_SUBJ_URGENT", "PST_DEAR_FRIEND",
      "PST_ACCOUNT_THREAT", "PST_VERIFY_ACCOUNT", "PST_URI_IP",
      "PST_PHISH_LINK", "PST_PHISH_ADMIN"}),
    ("phish-dmarc-reject", message(subject="Action required",
                                   body=PHISH_BODY), ("DMARC_REJECT",),
     {"DMARC_REJECT", "PST_SUBJ_URGENT", "PST_DEAR_FRIEND",
      "PST_ACCOUNT_THREAT", "PST_VERIFY_ACCOUNT", "PST_URI_IP",
      "PST_PHISH_LINK", "PST_SPOOFED_FRAUD"}),
    ("advance-fee", message(subject="Business proposal", body=FEE_BODY), (),
     {"PST_DEAR_FRIEND", "PST_ADVANCE_FEE", "PST_MILLIONS",
      "PST_PERCENT_SHARE", "PST_CONFIDENTIAL", "PST_URGENT_REPLY",
      "PST_419_SCAM"}),
    ("lottery", message(subject="Winning notification",
                        to="undisclosed-recipients:;", body=LOTTERY_BODY),
     (), {"PST_TO_UNDISCLOSED", "PST_LOTTERY", "PST_YOU_WON",
          "PST_CLAIM_PRIZE", "PST_MILLIONS", "PST_PRIZE_SCAM"}),
    ("drugs", message(subject="BEST PRICES ON MEDS!!!",
                      body="Cheap V1AGRA here: https://bit.ly/3xAmpl3\n"),
     (), {"PST_SUBJ_ALL_CAPS", "PST_SUBJ_EXCLAIM", "PST_DRUGS_OBFU",
          "PST_URI_SHORTENER", "PST_DRUGS_LINK"}),
    ("sales", message(subject="Work from home",
                      body="Make money fast, 100% guaranteed. Act now!\n"),
     (), {"PST_EASY_MONEY", "PST_GUARANTEED", "PST_ACT_NOW",
          "PST_SALES_PRESSURE"}),
    ("links", message(body=LINKS_BODY), (),
     {"PST_URI_USERINFO", "PST_URI_IP", "PST_URI_IP_NUMBER",
      "PST_URI_PUNYCODE", "PST_URI_EXECUTABLE", "PST_URI_CHEAP_TLD"}),
    ("html-only", message(ctype="text/html; charset=us-ascii",
                          body='<p>See <a href="http://203.0.113.9/">'
                          'this</a></p>\n'), (),
     {"PST_HTML_ONLY", "PST_URI_IP"}),
    ("extortion", message(subject="Your security", body=EXTORT_BODY), (),
     {"PST_EXTORTION"}),
    ("re-no-refs-spf-fail", message(
        subject="Re: your invoice",
        sender='"billing@bank.example" <x@other.example>'), ("SPF_FAIL",),
     {"SPF_FAIL", "PST_SUBJ_RE_NOREF", "PST_FROM_NAME_ADDR",
      "PST_SPF_FAIL_NAME"}),
    ("re-with-refs", message(subject="Re: your invoice", extra=(
        "In-Reply-To: <1@example.net>",)), (), set()),
    ("authenticated", message(), ("SPF_PASS", "DKIM_SIGNED", "DKIM_VALID",
                                  "DKIM_VALID_AU", "DMARC_PASS"),
     {"SPF_PASS", "DKIM_SIGNED", "DKIM_VALID", "DKIM_VALID_AU",
      "DMARC_PASS", "PST_AUTH_ALIGNED"}),
]


@pytest.mark.parametrize("case,data,facts,want", CRAFTED,
                         ids=[c[0] for c in CRAFTED])
def test_crafted_message_hits(tmp_path, case, data, facts, want):
    path = tmp_path / (case + ".eml")
    path.write_bytes(data)
    score, hits = score_all([str(path)], facts)[str(path)]
    assert {h for h in hits if not h.startswith("__")} == want


# Cases whose content alone reaches the default tag threshold.
SPAM_CASES = ("phish", "phish-dmarc-reject", "advance-fee", "lottery",
              "links")


def test_crafted_scores(tmp_path):
    """The fraud cases reach 5.0 on content alone, the clean one scores
    0, and the authenticated clean one below 0."""
    scores = {}
    for case, data, facts, _ in CRAFTED:
        path = tmp_path / (case + ".eml")
        path.write_bytes(data)
        scores[case] = score_all([str(path)], facts)[str(path)][0]
    for case in SPAM_CASES:
        assert scores[case] >= 5.0, (case, scores[case])
    assert scores["clean"] == 0
    assert scores["clean-crlf"] == 0
    assert scores["authenticated"] < 0
