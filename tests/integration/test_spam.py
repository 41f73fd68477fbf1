"""Spam scoring in the proxy (issue 5): thresholds and actions, end to end.

postern runs in front of a real Postfix with `filter spam` and a small
rule file written here, so each message's score is known in advance:
WORD_ALPHA 3.0, WORD_BRAVO 3.0, WORD_CHARLIE 8.0, a meta rule over them
and GTUBE.  Thresholds tag 5, hold 10, reject 15.  Delivered messages
are read back from the mailbox; refused and held ones must not arrive.
Held ones must be in the quarantine directory, whole.  The rule
language itself is tested against SpamAssassin in
test_spam_agreement.py; here it is what postern does with a score.
"""

import glob
import os
import re
import subprocess

import pytest

import dkimtools as dt
from dkimtools import assert_not_delivered, delivered_one
import harness

RCPT = "bob@" + harness.DOMAIN
GTUBE = ("XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL"
         "*C.34X")

RULES = r"""
# Rules for test_spam.py: each word scores a known amount.
body     WORD_ALPHA    /\balphaword\b/i
describe WORD_ALPHA    Mentions the alpha word
score    WORD_ALPHA    3.0
body     WORD_BRAVO    /\bbravoword\b/i
describe WORD_BRAVO    Mentions the bravo word
score    WORD_BRAVO    3.0
body     WORD_CHARLIE  /\bcharlieword\b/
score    WORD_CHARLIE  8.0
header   SUBJ_DELTA    Subject =~ /deltasubject/
score    SUBJ_DELTA    0.5
meta     ALPHA_BRAVO   WORD_ALPHA && WORD_BRAVO
score    ALPHA_BRAVO   0.25
body     GTUBE         /XJS\*C4JDBQADN1\.NSBN3\*2IDNEN\*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL\*C\.34X/
score    GTUBE         1000
body     __SOFT_WORD   /softword/
meta     SOFT_AND_WORD SPF_SOFTFAIL && __SOFT_WORD
score    SOFT_AND_WORD 4.0
score    SPF_SOFTFAIL  1.5
"""


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "test.cf"
    path.write_text(RULES)
    return str(path)


def spam_section(rules, **opts):
    words = ['rules = {"%s"}' % rules]
    words += ["%s = %s" % kv for kv in sorted(opts.items())]
    return "filter spam { %s }" % "  ".join(words)


@pytest.fixture
def spam_postern(start_postern, postfix, rules_file, tmp_path):
    """start(extra_top="", **spam options) -> postern with the spam
    filter; its quarantine directory at .quarantine."""
    def start(extra_top="", **opts):
        quarantine = str(tmp_path / "quarantine")
        os.makedirs(quarantine, exist_ok=True)
        settings = dict(tag_score="5", hold_score="10", reject_score="15")
        settings.update(opts)
        extra = "\n".join([
            'quarantine_dir = "%s"' % quarantine, extra_top,
            spam_section(rules_file, **settings)])
        p = start_postern(postfix, extra=extra)
        p.quarantine = quarantine
        return p
    return start


def message(body, subject="hello", extra=()):
    return harness.make_message(subject=subject, to=RCPT,
                                body=body.encode() + b"\r\n",
                                extra_headers=extra)


def send(p, msg, sender="sender@example.org"):
    with p.connect() as c:
        assert c.greeting().code == 220
        assert c.ehlo().code == 250
        replies = c.send_mail(sender, [RCPT], msg)
        c.command("QUIT")
    return replies[-1]


def spam_fields(raw):
    return {name: dt.header_values(raw, name)
            for name in ("X-Spam-Flag", "X-Spam-Status", "X-Spam-Score")}


def unfolded(value):
    """The field value unfolded, the rule list without the white space
    folding put after its commas."""
    value = re.sub(r"\r?\n[ \t]+", " ", value).strip()
    return re.sub(r",\s+(?=[A-Z_])", ",", value)


# ------------------------------------------------------------- actions

def test_clean_message_is_delivered_with_status_no(spam_postern, postfix):
    p = spam_postern()
    final = send(p, message("Nothing to see here.",
                            extra=["X-Spam-Flag: YES",
                                   "X-Spam-Status: Yes, score=99"]))
    assert final.code == 250, final
    raw = delivered_one(postfix)
    f = spam_fields(raw)
    # The sender's own X-Spam fields are gone; ours say "No".
    assert f["X-Spam-Flag"] == []
    assert [unfolded(v) for v in f["X-Spam-Status"]] == [
        "No, score=0.0 required=5.0 tests=none"]
    assert [v.strip() for v in f["X-Spam-Score"]] == ["0.0"]


def test_tagged_message_gets_flag_status_and_rules(spam_postern, postfix):
    p = spam_postern()
    final = send(p, message("alphaword and bravoword", subject="deltasubject"))
    assert final.code == 250, final
    raw = delivered_one(postfix)
    f = spam_fields(raw)
    assert [v.strip() for v in f["X-Spam-Flag"]] == ["YES"]
    # 3 + 3 + 0.25 + 0.5, rules by name.
    assert [unfolded(v) for v in f["X-Spam-Status"]] == [
        "Yes, score=6.8 required=5.0 "
        "tests=ALPHA_BRAVO,SUBJ_DELTA,WORD_ALPHA,WORD_BRAVO"]
    assert [v.strip() for v in f["X-Spam-Score"]] == ["6.8"]
    # The subject is left alone unless subject_tag is set.
    assert [v.strip() for v in dt.header_values(raw, "Subject")] == [
        "deltasubject"]
    assert re.search(r" result=relayed .*spam=6\.8 spam_action=tag "
                     r"spam_rules=ALPHA_BRAVO,SUBJ_DELTA,WORD_ALPHA,"
                     r"WORD_BRAVO", p.log()), p.log()


def test_subject_tag_prefixes_the_subject(spam_postern, postfix):
    p = spam_postern(subject_tag='"[SPAM]"')
    assert send(p, message("alphaword bravoword", subject="Offer")).code \
        == 250
    raw = delivered_one(postfix)
    assert [v.strip() for v in dt.header_values(raw, "Subject")] == [
        "[SPAM] Offer"]


def test_gtube_is_rejected_and_never_delivered(spam_postern, postfix):
    p = spam_postern()
    final = send(p, message("Test " + GTUBE))
    assert (final.code, final.enhanced) == (550, "5.7.1"), final
    assert "rejected as spam (score 1000.0)" in final.text
    assert_not_delivered(postfix)
    assert re.search(r" result=rejected filter=spam .*spam=1000\.0 "
                     r"spam_action=reject", p.log()), p.log()


def test_hold_keeps_the_message_in_quarantine(spam_postern, postfix):
    p = spam_postern()
    body = "charlieword and alphaword"  # 8 + 3 = 11: hold
    final = send(p, message(body, subject="held one"))
    assert (final.code, final.enhanced) == (250, "2.7.0"), final
    assert "held for review (score 11.0)" in final.text
    assert_not_delivered(postfix)
    files = glob.glob(os.path.join(p.quarantine, "*.eml"))
    assert len(files) == 1, files
    assert oct(os.stat(files[0]).st_mode & 0o777) == "0o600"
    with open(files[0], "rb") as f:
        held = f.read()
    head, _, rest = held.partition(b"\r\n\r\n")
    assert head.startswith(b"Return-Path: <sender@example.org>\r\n")
    assert b"X-Postern-Envelope-To: <%s>" % RCPT.encode() in head
    assert b"X-Postern-Held: id=" in head
    assert b"filter=spam; message held for review (score 11.0)" in head
    assert b"X-Spam-Flag: YES" in head, held
    assert b"Subject: held one" in head
    assert rest == body.encode() + b"\r\n"
    assert re.search(r" result=held filter=spam file=%s" %
                     re.escape(files[0]), p.log()), p.log()
    # Nothing half-written is left behind.
    assert glob.glob(os.path.join(p.quarantine, "*.tmp")) == []


def test_hold_that_cannot_be_written_is_a_tempfail(spam_postern, postfix):
    p = spam_postern()
    os.rmdir(p.quarantine)
    final = send(p, message("charlieword alphaword"))
    assert (final.code, final.enhanced) == (451, "4.3.0"), final
    assert_not_delivered(postfix)
    assert " result=tempfail-hold " in p.log()


def test_outbound_is_not_scanned_without_outbound_thresholds(
        spam_postern, postfix):
    p = spam_postern(extra_top='internal_networks = {"127.0.0.0/8"}')
    assert send(p, message("Test " + GTUBE)).code == 250
    raw = delivered_one(postfix)
    assert spam_fields(raw) == {"X-Spam-Flag": [], "X-Spam-Status": [],
                                "X-Spam-Score": []}


def test_outbound_thresholds_apply_to_outbound_mail(spam_postern, postfix):
    p = spam_postern(extra_top='internal_networks = {"127.0.0.0/8"}',
                     outbound_tag_score="2", outbound_reject_score="50")
    assert send(p, message("Test " + GTUBE)).code == 550
    assert_not_delivered(postfix)
    assert send(p, message("alphaword")).code == 250
    raw = delivered_one(postfix)
    assert [unfolded(v) for v in spam_fields(raw)["X-Spam-Status"]] == [
        "Yes, score=3.0 required=2.0 tests=WORD_ALPHA"]


def test_message_over_max_size_is_passed_unscanned(spam_postern, postfix):
    p = spam_postern(max_size="1k")
    final = send(p, message("Test " + GTUBE + "\r\n" + ("x" * 70 + "\r\n") * 30))
    assert final.code == 250, final
    raw = delivered_one(postfix)
    assert spam_fields(raw)["X-Spam-Status"] == []
    assert " spam=skipped-size" in p.log()


# --------------------------------------------- other filters' results

SOFT_DOMAIN = "softfail.test"
OUTSIDE = "192.0.2.1"


def test_spf_softfail_is_a_fact_rules_can_score(start_postern, postfix,
                                                dns_server, rules_file,
                                                tmp_path):
    dns_server.add_records(harness.records_lines(
        {SOFT_DOMAIN + ".": "v=spf1 ip4:198.51.100.10 ~all"}))
    extra = "\n".join([
        'dns { forwarders = {"%s"}  timeout = 3s'
        '  nodefault_zones = {"test."} }' % dns_server.address,
        "filter spf { on_softfail = accept }",
        spam_section(rules_file, tag_score="5", reject_score="15")])
    p = start_postern(postfix, extra=extra)
    with p.connect() as c:
        assert c.greeting().code == 220
        assert c.ehlo().code == 250
        assert c.command("XCLIENT ADDR=%s" % OUTSIDE).code == 220
        assert c.ehlo().code == 250
        replies = c.send_mail("a@" + SOFT_DOMAIN, [RCPT],
                              message("a softword here"))
        c.command("QUIT")
    assert replies[-1].code == 250, replies
    raw = delivered_one(postfix)
    # SPF_SOFTFAIL 1.5 + the meta over it 4.0.
    assert [unfolded(v) for v in spam_fields(raw)["X-Spam-Status"]] == [
        "Yes, score=5.5 required=5.0 tests=SOFT_AND_WORD,SPF_SOFTFAIL"]


# ------------------------------------------------------- configuration

def write_conf(tmp_path, rules):
    conf = tmp_path / "p.conf"
    conf.write_text("\n".join([
        'hostname = "postern.test"',
        'listener smtp { address = "127.0.0.1:2525" }',
        'upstream { address = "127.0.0.1:2526" }',
        'filter spam { rules = {"%s"} }' % rules, ""]))
    return str(conf)


def test_check_prints_rule_counts_and_skips(tmp_path):
    rules = tmp_path / "r.cf"
    rules.write_text("\n".join([
        "header H1 Subject =~ /a/", "body B1 /b/", "uri U1 /c/",
        "meta M1 H1 && B1", "body E1 eval:check_something()",
        "body BAD /(unclosed/", "score H1 1.0", ""]))
    r = subprocess.run([harness.POSTERN, "-t", "-c",
                        write_conf(tmp_path, rules)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.startswith("spam rules")]
    assert lines, r.stdout
    text = " ".join(lines)
    for kind, n in (("header", 1), ("body", 1), ("uri", 1), ("meta", 1)):
        assert re.search(r"\b%s[ =]%d\b" % (kind, n), text), text
    assert re.search(r"\beval[ =]1\b", text), text
    assert re.search(r"\bregex[ =]1\b", text), text


def test_missing_rule_file_is_a_config_error(tmp_path):
    r = subprocess.run([harness.POSTERN, "-t", "-c",
                        write_conf(tmp_path, str(tmp_path / "nope.cf"))],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "nope.cf" in r.stderr, r.stderr


def test_bad_threshold_is_a_config_error(tmp_path):
    conf = write_conf(tmp_path, "/dev/null")
    with open(conf) as f:
        text = f.read().replace("filter spam {",
                                "filter spam { tag_score = lots ")
    with open(conf, "w") as f:
        f.write(text)
    r = subprocess.run([harness.POSTERN, "-t", "-c", conf],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert re.search(r"p\.conf:\d+: .*tag_score: invalid score 'lots'",
                     r.stderr), r.stderr


def test_score_command_reports_like_spamassassin(tmp_path, rules_file):
    msg = tmp_path / "m.eml"
    msg.write_bytes(message("alphaword bravoword").replace(b"\r\n", b"\n"))
    r = subprocess.run([harness.POSTERN, "score", "-r", rules_file,
                        str(msg)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "%s: score=6.2 required=5.0 action=tag" % msg
    rows = [l.split(None, 2) for l in lines[3:]]
    assert rows == [["0.2", "ALPHA_BRAVO"],
                    ["3.0", "WORD_ALPHA", "Mentions the alpha word"],
                    ["3.0", "WORD_BRAVO", "Mentions the bravo word"]], lines


def test_score_command_refuses_unknown_facts_and_directories(tmp_path,
                                                             rules_file):
    msg = tmp_path / "m.eml"
    msg.write_bytes(message("alphaword"))
    r = subprocess.run([harness.POSTERN, "score", "-r", rules_file,
                        "-F", "SPF_FIAL", str(msg)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "unknown fact 'SPF_FIAL'" in r.stderr, r.stderr
    r = subprocess.run([harness.POSTERN, "score", "-r", rules_file,
                        str(tmp_path)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 2
    assert "Is a directory" in r.stderr, r.stderr


@pytest.mark.parametrize("opts,want", [
    ({"tag_score": "20", "reject_score": "15"},
     "tag_score 20 is above reject_score 15"),
    ({"hold_score": "30", "reject_score": "15"},
     "hold_score 30 is above reject_score 15"),
    ({"outbound_tag_score": "9", "outbound_hold_score": "4"},
     "outbound_tag_score 9 is above outbound_hold_score 4"),
    ({"hold_score": "8"},
     "quarantine_dir /nonexistent/q: No such file or directory"),
])
def test_inconsistent_spam_settings_are_config_errors(tmp_path, rules_file,
                                                      opts, want):
    conf = write_conf(tmp_path, rules_file)
    with open(conf) as f:
        text = f.read()
    text = text.replace("filter spam {", "filter spam { " + "  ".join(
        "%s = %s" % kv for kv in opts.items()))
    with open(conf, "w") as f:
        f.write('quarantine_dir = "/nonexistent/q"\n' + text)
    r = subprocess.run([harness.POSTERN, "-t", "-c", conf],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0, r.stdout
    assert want in r.stderr, r.stderr


def nested(depth):
    """A message with GTUBE at the bottom of depth nested multiparts."""
    if depth == 0:
        return "Content-Type: text/plain\r\n\r\n%s\r\n" % GTUBE
    b = "b%d" % depth
    return ('Content-Type: multipart/mixed; boundary="%s"\r\n\r\n'
            "--%s\r\n%s\r\n--%s--\r\n" % (b, b, nested(depth - 1), b))


@pytest.mark.parametrize("depth,truncated", [(19, False), (25, True)])
def test_mime_too_deep_to_scan_is_a_fact(spam_postern, postfix, depth,
                                         truncated):
    rules = os.path.join(os.path.dirname(harness.POSTERN), "..", "contrib",
                         "rules")
    p = spam_postern()
    msg = ("From: a@example.org\r\nTo: %s\r\nSubject: nest\r\n"
           "MIME-Version: 1.0\r\n" % RCPT + nested(depth)).encode()
    final = send(p, msg)
    if truncated:
        # GTUBE is out of reach; what could not be read is noted.
        assert final.code == 250, final
        raw = delivered_one(postfix)
        assert " spam_mime=truncated" in p.log()
        assert "GTUBE" not in unfolded(
            spam_fields(raw)["X-Spam-Status"][0])
    else:
        assert final.code == 550, final
    path = p.base + "/nested.eml"
    with open(path, "wb") as f:
        f.write(msg)
    r = subprocess.run([harness.POSTERN, "score", "-a", "-r",
                        os.path.normpath(rules), path],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert ("hit MIME_TRUNCATED kind=fact score=3" in r.stdout) == \
        truncated, r.stdout


def test_release_delivers_a_held_message(spam_postern, postfix, tmp_path):
    p = spam_postern()
    body = "charlieword and alphaword"  # 11: held
    assert send(p, message(body, subject="to release")).code == 250
    [held] = glob.glob(os.path.join(p.quarantine, "*.eml"))
    assert_not_delivered(postfix)
    r = subprocess.run([harness.POSTERN, "release", "-c", p.conf, held],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.match(r"%s: released upstream=\"250 " % re.escape(held),
                    r.stdout), r.stdout
    assert not os.path.exists(held)
    raw = delivered_one(postfix)
    assert b"X-Postern-Envelope-To" not in raw
    assert b"X-Postern-Held" not in raw
    assert [v.strip() for v in dt.header_values(raw, "X-Spam-Flag")] == [
        "YES"]
    assert raw.endswith(body.encode() + b"\r\n")
    # Anything else is refused and left alone.
    other = tmp_path / "not-held.eml"
    other.write_bytes(message("hello"))
    r = subprocess.run([harness.POSTERN, "release", "-c", p.conf,
                        str(other)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1
    assert "not a held message" in r.stdout, r.stdout
    assert other.exists()
