"""The SpamAssassin corpus and site files, as the spam tests and the
bench use them.

messages(corpus): every message under corpus's nice/ and spam/ and the
two samples, sorted; pre_files(site) and pre_plugins(site): SpamAssassin's
.pre files in the order it reads them, and the plugins their loadplugin
lines name.
"""

import os
import re

NOT_MESSAGES = ("readme", "license", "notice", "provenance")


def looks_like_message(path):
    """A header field within the first lines: skips licences, notes and
    data files that may sit beside the messages."""
    name = os.path.basename(path).lower()
    if name.startswith(NOT_MESSAGES):
        return False
    with open(path, "rb") as f:
        head = f.read(2048).splitlines()[:20]
    return any(re.match(rb"^[A-Za-z][A-Za-z0-9-]*:", line) for line in head)


def messages(corpus):
    files = []
    for sub in ("nice", "spam"):
        for root, _, names in os.walk(os.path.join(corpus, sub)):
            files += [os.path.join(root, n) for n in names]
    files += [os.path.join(corpus, n)
              for n in ("sample-spam.txt", "sample-nonspam.txt")]
    return sorted(f for f in files if looks_like_message(f))


def pre_files(site):
    return [os.path.join(site, n) for n in sorted(os.listdir(site))
            if n.endswith(".pre")]


def pre_plugins(site):
    """The loadplugin lines of the .pre files, in order, once each."""
    names = []
    for path in pre_files(site):
        with open(path, errors="replace") as f:
            for line in f:
                m = re.match(r"^\s*loadplugin\s+(\S+)", line)
                if m and m.group(1) not in names:
                    names.append(m.group(1))
    return names
