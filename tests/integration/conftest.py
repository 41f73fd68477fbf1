"""Fixtures for the integration tests.

postfix_server / exim_server: one MTA each for the whole run (session
scope); the function-scoped postfix / exim fixtures empty their
mailboxes and mark their logs before each test.  start_postern: a
factory that runs postern in front of an upstream with per-test config
and, at teardown, stops it with SIGTERM and fails the test unless it
exited 0 and its log shows no sanitizer report.  fake_upstream: a
factory for scripted SMTP servers.

Logs of a failed test are printed at teardown, so pytest shows them in
the report.  POSTERN_TEST_KEEP=1 keeps the temporary directories.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

KEEP = os.environ.get("POSTERN_TEST_KEEP") == "1"


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _test_failed(request):
    rep = getattr(request.node, "rep_call", None)
    return rep is None or rep.failed


@pytest.fixture(scope="session")
def postfix_server():
    yield from harness.run_mta(harness.Postfix())


@pytest.fixture(scope="session")
def exim_server():
    if not harness.Exim.available():
        pytest.fail("%s missing: run `make deps`" % harness.EXIM)
    yield from harness.run_mta(harness.Exim())


@pytest.fixture
def postfix(postfix_server, request):
    postfix_server.reset()
    yield postfix_server
    if _test_failed(request):
        print("---- postfix log of this test ----")
        print(postfix_server.log_since_mark())


@pytest.fixture
def exim(exim_server, request):
    exim_server.reset()
    yield exim_server
    if _test_failed(request):
        print("---- exim log ----")
        print(exim_server.log()[-6000:])


@pytest.fixture
def start_postern(request):
    """start_postern(target, **config) -> running harness.Postern.
    target: the upstream, an object with .address or an address string;
    config: keyword arguments of harness.render_config (limits=,
    upstream=, xclient_networks=, listen_host=, extra=)."""
    started = []

    def start(target, **config):
        address = target if isinstance(target, str) else target.address
        p = harness.Postern(address, **config)
        started.append(p)
        return p.start()

    yield start

    problems = []
    for p in started:
        if p.proc is None:  # did not start: the test has said why
            continue
        status = p.stop()
        bad = p.bad_log_lines()
        if status != 0:
            problems.append("postern did not exit 0 within 5 s of SIGTERM"
                            " (status %r)" % status)
        if bad:
            problems.append("sanitizer report in postern's log: %s" %
                            bad[0])
        if problems or _test_failed(request):
            print("---- postern log (port %d) ----" % p.port)
            print(p.log())
        if not KEEP:
            p.cleanup()
    if problems:
        pytest.fail("\n".join(problems))


@pytest.fixture
def postern(start_postern, postfix):
    """postern with the default config in front of Postfix."""
    return start_postern(postfix)


@pytest.fixture
def fake_upstream():
    """fake_upstream(**kw) -> running harness.FakeUpstream."""
    servers = []

    def start(**kw):
        s = harness.FakeUpstream(**kw)
        servers.append(s)
        return s.start()

    yield start
    for s in servers:
        s.stop()


@pytest.fixture(scope="session")
def test_ca():
    """testca.TestCA: a CA, a server and a client certificate."""
    import testca
    ca = testca.TestCA()
    yield ca
    if not KEEP:
        ca.cleanup()


@pytest.fixture(scope="session")
def dns_server():
    """One unbound for the run (harness.Unbound): postern's forwarder is
    dns_server.address ("127.0.0.1@port"); tools that read
    /etc/resolv.conf reach it on harness.RESOLVER_ADDRESS:53 when run through
    harness.resolver_namespace_cmd.  Records stay from test to test: a
    test serves what it needs with set_records() or add_records()."""
    if not harness.Unbound.available():
        pytest.fail("%s missing: run `make deps`" % harness.UNBOUND)
    yield from harness.run_mta(harness.Unbound())


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "spam: spam scoring and the comparison with SpamAssassin")
