# SPDX-License-Identifier: GPL-2.0-or-later
"""The harness's pytest plugin: guest fixtures, fault-injection fixtures
and the tables printed at the end of a run.  A suite of your own loads it
from its conftest.py:

    pytest_plugins = ["cosim.fixtures"]

Guest fixtures.  A booted guest is expensive under TCG, so guests are kept
for the whole session and handed to every test that asks for the same
(config, model, driver, libvirt URI) -- unless a test left the guest
unwell, in which case the next test gets a fresh one.  Every test's console
is checked afterwards: a panic, oops, WARNING or hung task fails it.

  guest       the default config (MODEL, DRIVER, CONFIG honoured), driver loaded
  nvme_guest  the same controller under Linux's nvme
  guest_for   guest_for(cfg, libvirt=None): a pooled guest for a config of the test's
  module_guest(cfg, name)  for a module-scoped fixture of a guest of its own

Fault fixtures (cosim.fault_guest).  One fault guest per driver under test
(drivers.UNDER_TEST) for the session; each case gets its own results
directory, its rules cleared afterwards, and the ledger of acknowledged
writes checked against the medium.

  fg          a FaultGuest, once per driver under test
  fg_no_aen   the same, on a controller that sends no Namespace Attribute Notice
  record      record(recovery=seconds, ios=verified IOs) for the fault table
"""
import json
import os
import tomllib
from xml.etree import ElementTree

import pytest

from . import config, control, drivers, fleet, paths, report
from .errors import GuestError
from .fault_guest import (SELFTEST, CaseResults, FaultGuest, LostWrite, judge_case, oracle,
                          selftest_outcome)
from .machine import Guest


# -- run-wide hooks: phase reports, the tables at the end ------------------------

def pytest_configure(config):
    """HOSTS=: bind this process (an xdist worker, or a lone pytest) to its
    libvirt host before any guest boots.  The seconds per test file for the
    collection order: the controller reads them (once, so that a report
    rewritten meanwhile cannot give two workers two orders) and hands them
    to its workers (pytest_configure_node)."""
    config.cosim_host = fleet.bind_worker()
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        config.cosim_file_seconds = workerinput.get("cosim_file_seconds", {})
    else:
        junit = config.getoption("xmlpath", None)
        config.cosim_file_seconds = {**saved_file_seconds(),
                                     **(file_seconds(os.path.abspath(junit)) if junit else {})}


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    node.workerinput["cosim_file_seconds"] = node.config.cosim_file_seconds


def file_seconds(junit):
    """{test file: seconds} from a JUnit report (pytest's, one <testcase
    time=...> per test, setup and teardown included); {} without one."""
    try:
        cases = ElementTree.parse(junit).iter("testcase")
    except (OSError, ElementTree.ParseError):
        return {}
    seconds = {}
    for case in cases:
        path = case.get("file") or case.get("classname", "").replace(".", "/") + ".py"
        seconds[path] = seconds.get(path, 0.0) + float(case.get("time") or 0)
    return seconds


# Seconds per test file in a `make test` on this machine kind: the order for
# a checkout with no JUnit report of its own yet, and for the files the last
# report did not run (`make interop` and the like write their own).
# `make test-order` refreshes it from the last report.
SAVED_FILE_SECONDS = paths.REPO / "tests" / "file_seconds.toml"


def saved_file_seconds():
    """SAVED_FILE_SECONDS as {test file: seconds}; {} without it."""
    try:
        with open(SAVED_FILE_SECONDS, "rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def save_file_seconds(junit=paths.REPO / "build" / "results" / "junit.xml"):
    """SAVED_FILE_SECONDS with the times of a `make test` report (pytest.ini
    names its path): every file the saved times list and that still exists
    must be in it, so that a partial run (PYTEST_ARGS=-k ..., make interop)
    cannot stand for the whole."""
    report = file_seconds(junit)
    saved = {f: s for f, s in saved_file_seconds().items() if (paths.REPO / f).is_file()}
    missing = sorted(set(saved) - set(report))
    if not report:
        raise SystemExit(f"{junit}: no test times in it (run `make test` first)")
    if missing:
        raise SystemExit(f"{junit}: not the report of a whole `make test` "
                         f"(no times for {', '.join(missing)})")
    lines = [f"{json.dumps(f)} = {s:.1f}" for f, s in sorted(report.items())
             if (paths.REPO / f).is_file()]
    SAVED_FILE_SECONDS.write_text(
        "# Seconds per test file in the `make test` this was written from: the order of\n"
        "# a run that has no JUnit report of its own (cosim.fixtures).  `make test-order`\n"
        "# rewrites it from the last report.\n" + "\n".join(lines) + "\n")


def pytest_collection_modifyitems(session, config, items):
    """The longest test files first, by the last JUnit report's times and
    SAVED_FILE_SECONDS for files it lacks (files neither knows about before
    them, in their own order).  pytest-xdist's
    --dist loadscope hands whole files to workers in this order (from xdist
    3.5 on, only with --no-loadscope-reorder, which the Makefile passes), so
    the long ones start early and the short ones fill in at the end instead
    of a long one starting last and keeping the run waiting on one worker."""
    seconds = config.cosim_file_seconds
    if seconds:
        items.sort(key=lambda item: -seconds.get(item.nodeid.split("::")[0], float("inf")))


def pytest_runtest_setup(item):
    """Which host ran a test, in its JUnit <properties> (HOSTS= only)."""
    host = item.config.cosim_host
    if host and ("libvirt_host", host) not in item.user_properties:
        item.user_properties.append(("libvirt_host", host))


def pytest_sessionstart(session):
    if not report.is_worker():
        report.start_run()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (item.rep_call, ...) so fixtures
    can tell in teardown whether their test failed; a failed fault case
    names its results directory, and under the oracle's self-test a red
    verdict is what is wanted (the teardown decides)."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
    _fault_report(item, rep)


def pytest_terminal_summary(terminalreporter):
    """The fault table and the interop matrix, from every worker's results
    (here, in the controller, because under xdist only it sees them all)."""
    tr = terminalreporter
    faults = report.read("faults")
    if faults:
        (paths.RESULTS / "faults.json").write_text(json.dumps(faults, indent=1))
        tr.section("fault injection")
        for line in report.fault_table(faults):
            tr.write_line(line)
        share = report.selftest_share(faults)
        if share:
            tr.write_line(share)
    interop = report.read("interop")
    if interop:
        lines = report.interop_markdown(interop)
        out = paths.RESULTS / "interop.md"
        out.write_text("# Interop matrix\n\n" + "\n".join(lines) + "\n")
        tr.section("interop matrix")
        for line in lines + [f"(also in {out})"]:
            tr.write_line(line)


def _fault_report(item, rep):
    """A fault case's phase report: its results directory named in a
    failure; under the self-test a failure turned into a pass (call) or a
    skip (set-up), for the fixture's teardown to judge."""
    path = getattr(item, "fault_results", None)
    lost = getattr(item, "selftest_lost", None)
    if SELFTEST and lost and rep.when in ("setup", "call") and rep.failed and lost.fired():
        # a red verdict is what the self-test wants: the teardown decides
        item.selftest_failure = str(rep.longrepr)[-3000:]
        if rep.when == "call":
            rep.outcome, rep.longrepr = "passed", None
        else:   # "passed" would run the test on a broken set-up
            rep.outcome = "skipped"
            rep.longrepr = (str(item.path), 0, "self-test: the lost Write failed the set-up")
        return
    if path and rep.failed:
        text = f"console, QMP, model trace, commands and workload output: {path}"
        if hasattr(rep.longrepr, "addsection"):
            rep.longrepr.addsection("fault test results", text)
        else:
            rep.sections.append(("fault test results", text))
        crash = getattr(rep.longrepr, "reprcrash", None)
        if crash is not None:       # the -ra summary line too
            crash.message += f" [results: {path}]"


# -- guest fixtures ----------------------------------------------------------

class GuestPool:
    """The session's booted guests, by (config, model, driver, libvirt URI)."""

    def __init__(self):
        self._guests = {}

    def get(self, name, cfg, libvirt=None):
        """@libvirt: a libvirt URI for this guest, instead of LIBVIRT_URI."""
        key = (cfg.source, cfg.controller.model, cfg.driver.name, libvirt)
        guest = self._guests.get(key)
        if guest and not guest.healthy:
            guest.close()
            guest = None
        if guest is None:
            guest = Guest(cfg, name=name, libvirt=libvirt).start()
            try:
                guest.driver.load()
            except BaseException:
                guest.close()       # no QEMU left running for the rest of the session
                raise
            self._guests[key] = guest
        return guest

    def close(self):
        for guest in self._guests.values():
            guest.close()
        self._guests.clear()


@pytest.fixture(scope="session")
def guest_pool():
    pool = GuestPool()
    yield pool
    pool.close()


def _use(request, pool, cfg, libvirt=None):
    """Hand a pooled guest to a test, then check what the test left behind:
    a panic, oops, WARNING or hung task on the console fails the test."""
    try:
        guest = pool.get(request.node.name, cfg, libvirt)
    except GuestError as e:
        pytest.fail(f"guest did not come up: {e}")
    since = guest.console.size()
    yield guest
    rep = getattr(request.node, "rep_call", None)
    failed = rep is None or rep.failed
    problems = guest.console_problems(since)
    if failed or problems:
        guest.healthy = False
    if failed:
        print(f"\nguest logs: {guest.rundir}")
    if problems:
        pytest.fail("guest console shows trouble:\n  " + "\n  ".join(problems[:10]) +
                    f"\n  console: {guest.console.path}")


@pytest.fixture
def guest(request, guest_pool):
    """A guest booted with the default config (MODEL/DRIVER/CONFIG honoured)
    and its NVMe driver loaded."""
    yield from _use(request, guest_pool, config.from_env())


@pytest.fixture
def nvme_guest(request, guest_pool):
    """The same controller driven by Linux's own nvme driver."""
    yield from _use(request, guest_pool, config.from_env(driver="nvme"))


@pytest.fixture
def guest_for(request, guest_pool):
    """guest_for(cfg, libvirt=None): a pooled guest for a config the test
    picks itself, its console checked afterwards as for `guest`."""
    uses = []

    def get(cfg, libvirt=None):
        use = _use(request, guest_pool, cfg, libvirt)
        uses.append(use)
        return next(use)

    yield get
    for use in uses:
        next(use, None)


def module_guest(cfg, name, **kw):
    """Generator for a module-scoped pytest fixture whose tests need a guest of
    their own (their own config, or they change the controller): boots it,
    loads the driver, yields it, and afterwards fails on console trouble.

        @pytest.fixture(scope="module")
        def my_guest():
            yield from module_guest(cfg, "my-tests")
    """
    with Guest(cfg, name=name, **kw) as guest:
        guest.driver.load()
        yield guest
        problems = guest.console_problems()
    if problems:
        raise GuestError("guest console shows trouble:\n  " + "\n  ".join(problems[:5]) +
                         f"\n  console: {guest.console.path}")


# -- fault-injection fixtures ---------------------------------------------------

@pytest.fixture(scope="session")
def fault_guests():
    guests = {}
    yield guests
    for fg in guests.values():
        fg.close()


@pytest.fixture(params=drivers.UNDER_TEST)
def fg(request, fault_guests):
    """A fault guest for each driver under test: nvme_scsi, and Linux's nvme
    as the reference that shows the test itself is right."""
    yield from _use_fault_guest(request, fault_guests, request.param, notice_aen=True)


@pytest.fixture(params=drivers.UNDER_TEST)
def fg_no_aen(request, fault_guests):
    """The same, with a controller that sends no Namespace Attribute Notice."""
    yield from _use_fault_guest(request, fault_guests, request.param, notice_aen=False)


def _use_fault_guest(request, fault_guests, driver, notice_aen):
    """Hand the session's fault guest for (driver, notice_aen) to a test (a
    new one if the last test left it unwell), with the case's results
    directory around the test; afterwards clear its rules and fail on
    console trouble."""
    key = (driver, notice_aen)
    fgst = fault_guests.get(key)
    if fgst is None or not fgst.guest.healthy:
        if fgst:
            fgst.close()
        try:
            fgst = fault_guests[key] = FaultGuest(driver, notice_aen)
        except GuestError as e:
            pytest.fail(f"fault guest did not come up: {e}")
    results = CaseResults(request.node, fgst)
    request.node.fault_results = results.path
    fgst.results = results
    try:
        try:
            control.ledger_clear(fgst.guest)
        except Exception as e:
            fgst.guest.healthy = False
            pytest.fail(f"the fault guest's ledger could not be cleared: {e}")
        request.node.oracle_check = lambda: oracle(request.node, fgst.guest, results.path)
        if SELFTEST:
            request.node.selftest_lost = LostWrite(fgst.guest)
            request.node.selftest_check = lambda: selftest_outcome(request.node)
        yield fgst
        request.node.oracle_check()         # while the case's rules still hold
        if SELFTEST:
            selftest_outcome(request.node)
        try:
            fgst.faults.clear()
        except Exception:
            fgst.guest.healthy = False
        problems = fgst.guest.console_problems(results.console_at)
    finally:
        results.close()
    if problems:
        fgst.guest.healthy = False
        pytest.fail("guest console shows trouble:\n  " + "\n  ".join(problems[:10]) +
                    f"\n  console: {fgst.guest.console.path}")
    judge_case(request.node, results.path)


@pytest.fixture
def record(request):
    """record(recovery=seconds, ios=verified IOs) for the suite's table."""
    entry = {"case": request.node.name, "recovery": None, "ios": None}

    def _record(recovery=None, ios=None):
        entry.update(recovery=None if recovery is None else round(recovery, 1), ios=ios)
    yield _record
    rep = getattr(request.node, "rep_call", None)
    entry["outcome"] = rep.outcome if rep else "error"
    check = getattr(request.node, "oracle_check", None)
    verdict = check() if check else None
    if verdict is not None:
        entry["oracle"] = {"checked": verdict.checked, "mismatches": verdict.bad_lbas,
                           "app_checked": verdict.app_checked,
                           "unacknowledged": verdict.unacknowledged_lbas}
    selftest = getattr(request.node, "selftest_check", None)
    if selftest:
        entry["selftest"] = selftest()
    results = getattr(request.node, "fault_results", None)
    if results:
        entry["results"] = str(results)
    report.append("faults", entry)
