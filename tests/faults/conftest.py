# SPDX-License-Identifier: GPL-2.0-or-later
"""Fault-injection fixtures: a guest per driver with short command timeouts,
the controller's fault rules cleared after every test, the console checked
for oopses, WARNINGs and hung tasks, a directory of results per test
(console, QMP traffic, model trace, guest commands and workload output;
its path is printed when the test fails), and the check that the driver's
and the model's per-queue command counters agree."""
import json
import logging
import os
import re
import time

import pytest

from cosim import config, control, report
from cosim.machine import Guest, GuestError

IO_TIMEOUT = 5          # s, per command, for both drivers
ADMIN_TIMEOUT = 5       # s
# Every fault guest's namespaces have a volatile write cache this big: a
# power loss (control.power_loss) loses what the driver did not flush.
VOLATILE_CACHE_MB = 64

# The oracle's self-test (ORACLE_SELFTEST=1, make oracle-selftest): every
# case runs with its SELFTEST_NTH-th Write to namespace 1 lost (lose-write;
# namespace 1 is the one every case verifies, others may be removed with
# their data) and passes only if that is caught, by the case's own verdict
# (its set-up's included) or by the ledger check after it; a case with fewer
# Writes does not count.
SELFTEST = os.environ.get("ORACLE_SELFTEST") == "1"
SELFTEST_NTH = 20

# Linux's nvme takes its timeouts as nvme_core parameters on the kernel command
# line; nvme_scsi as its own module parameters.
DRIVER_SETUP = {
    "nvme": {"kernel_args": f"nvme_core.io_timeout={IO_TIMEOUT} "
                            f"nvme_core.admin_timeout={ADMIN_TIMEOUT}", "params": ""},
    "nvme_scsi": {"kernel_args": "",
                  "params": f"io_timeout={IO_TIMEOUT} admin_timeout={ADMIN_TIMEOUT}"},
}

# QEMU trace events of the model that every fault guest writes to its
# trace.log (on top of any TRACE= of the user's); each test keeps its slice.
TRACE_EVENTS = ("cosim_nvme_fault", "cosim_nvme_cmd", "cosim_nvme_cqe", "cosim_nvme_reset",
                "cosim_nvme_ns_attach", "cosim_nvme_ns_detach")

# qemu.qmp's client logs every message it sends (-->) and receives (<--),
# events included, at DEBUG on this logger's children.
QMP_LOGGER = "qemu.qmp"

# The passthrough char device of each driver (nvme-cli runs on it).
CHARDEV = {"nvme_scsi": "/dev/nvme_scsi0", "nvme": "/dev/nvme0"}


class FaultGuest:
    """A booted guest plus what fault tests need around it."""

    io_timeout = IO_TIMEOUT
    admin_timeout = ADMIN_TIMEOUT

    def __init__(self, driver, notice_aen=True):
        cfg = config.from_env(model="cosim", driver=driver)
        cfg.machine.kernel_args = DRIVER_SETUP[driver]["kernel_args"]
        cfg.driver.params = DRIVER_SETUP[driver]["params"]
        # Both drivers learn of namespace hot add/remove from the Notice AEN;
        # without it, only from failing commands and an explicit rescan.
        cfg.controller.ns_notice_aen = notice_aen
        cfg.controller.volatile_cache_mb = VOLATILE_CACHE_MB
        cfg.controller.ledger = True        # checked after every case
        self.driver = driver
        self.chardev = CHARDEV[driver]
        name = f"faults-{driver}" + ("" if notice_aen else "-no-aen")
        self.guest = Guest(cfg, name=name, trace=TRACE_EVENTS).start()
        try:
            self.guest.load_driver()
        except BaseException:
            self.guest.close()
            raise
        self.faults = control.Faults(self.guest)

    @property
    def disk(self):
        return self.guest.block_devices()[0][0]

    @property
    def trace_log(self):
        return self.guest.rundir / "trace.log"

    def counters(self):
        """Driver and model counters now (None for Linux's nvme): see counters()."""
        return counters(self)

    def assert_counters_agree(self, before):
        """Driver and model agree on what happened since `before`."""
        assert_counters_agree(self, before)

    def assert_no_timeouts(self):
        """No command timed out in this test, by either driver's log."""
        text = _read_from(self.guest.console.path, self.results.console_at).decode(
            errors="replace")
        lines = [line.strip() for line in text.splitlines()
                 if re.search(r"timed out|timeout", line)]
        assert not lines, "commands timed out:\n  " + "\n  ".join(lines[:10])


@pytest.fixture(scope="session")
def fault_guests():
    guests = {}
    yield guests
    for fg in guests.values():
        fg.guest.close()


def _read_from(path, offset):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read()
    except FileNotFoundError:
        return b""


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class CaseResults:
    """build/results/faults/<test id>/ for one test: console.log, trace.log
    (the model's trace events), qmp.log, commands.log (every guest command,
    its status and output) and workload.log (the fio commands' output), each
    covering this test only."""

    def __init__(self, item, fg):
        self.path = report.case_dir("faults", item.nodeid)
        self.fg = fg
        self.console_at = fg.guest.console.size()
        self.trace_at = _size(fg.trace_log)
        self._commands = open(self.path / "commands.log", "w")
        self._workload = open(self.path / "workload.log", "w")
        self._qmp = logging.FileHandler(self.path / "qmp.log")
        self._qmp.setFormatter(logging.Formatter("%(asctime)s %(name)s %(message)s"))
        logger = logging.getLogger(QMP_LOGGER)
        self._saved = (logger.level, logger.propagate)
        # DEBUG here only, not in pytest's captured logs of every failure.
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
        logger.addHandler(self._qmp)
        fg.guest.run_hooks.append(self._log)

    def _log(self, cmd, outcome, seconds):
        """Guest.run hook: every command with its status and output."""
        what = (f"status {outcome.status}\n{outcome.output}" if hasattr(outcome, "status")
                else f"raised {type(outcome).__name__}: {outcome}")
        entry = (f"### {time.strftime('%H:%M:%S')} ({seconds:.1f}s) $ {cmd}\n"
                 f"{what.rstrip()}\n\n")
        self._commands.write(entry)
        if "fio" in cmd:
            self._workload.write(entry)

    def save(self, name, data):
        text = data if isinstance(data, str) else json.dumps(data, indent=1)
        (self.path / name).write_text(text)

    def close(self):
        self.fg.guest.run_hooks.remove(self._log)
        logger = logging.getLogger(QMP_LOGGER)
        logger.removeHandler(self._qmp)
        logger.setLevel(self._saved[0])
        logger.propagate = self._saved[1]
        self._qmp.close()
        self._commands.close()
        self._workload.close()
        (self.path / "console.log").write_bytes(
            _read_from(self.fg.guest.console.path, self.console_at))
        (self.path / "trace.log").write_bytes(_read_from(self.fg.trace_log, self.trace_at))


@pytest.fixture(params=["nvme_scsi", "nvme"])
def fg(request, fault_guests):
    """A fault guest for each driver: nvme_scsi, and Linux's nvme as the
    reference that shows the test itself is right."""
    yield from _use_fault_guest(request, fault_guests, request.param, notice_aen=True)


@pytest.fixture(params=["nvme_scsi", "nvme"])
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
            fgst.guest.close()
        try:
            fgst = fault_guests[key] = FaultGuest(driver, notice_aen)
        except GuestError as e:
            pytest.fail(f"fault guest did not come up: {e}")
    results = CaseResults(request.node, fgst)
    request.node.fault_results = results.path
    fgst.results = results
    try:
        control.ledger_clear(fgst.guest)
    except Exception as e:
        pytest.fail(f"the fault guest's ledger could not be cleared: {e}")
    request.node.oracle_check = lambda: oracle(request.node, fgst, results.path)
    if SELFTEST:
        request.node.selftest_rule = fgst.faults.add("lose-write", queue="io", nsid=1,
                                                     nth=SELFTEST_NTH)
        request.node.selftest_check = lambda: selftest_outcome(request.node, fgst)
    try:
        yield fgst
        verdict = request.node.oracle_check()
        lie = selftest_outcome(request.node, fgst) if SELFTEST else None
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
    if lie:         # the self-test's verdict replaces the ledger's
        selftest_verdict(request.node, lie, results.path)
        return
    rep = getattr(request.node, "rep_call", None)
    if verdict is not None and not verdict and rep and rep.passed:
        pytest.fail("the medium differs from what the controller acknowledged:\n" +
                    verdict.describe() + f"\n  results: {results.path}")


def selftest_outcome(node, fgst):
    """Self-test: "detected", "missed", or "n/a" (the lost Write never
    came: too few Writes) -- "failed" if the case failed without it."""
    if not hasattr(node, "selftest"):
        try:
            fired = fgst.faults.hits(node.selftest_rule) > 0
        except Exception:
            fired = False
        failed = hasattr(node, "selftest_failure")
        verdict = node.oracle_check()
        if not fired:
            node.selftest = "failed" if failed else "n/a"
        elif failed or (verdict is not None and not verdict):
            node.selftest = "detected"
        else:
            node.selftest = "missed"
    return node.selftest


def selftest_verdict(node, outcome, path):
    if outcome == "missed":
        pytest.fail("a Write was lost (lose-write on the "
                    f"{SELFTEST_NTH}th) and neither the case nor the ledger noticed; "
                    f"results: {path}")
    if outcome == "failed":
        pytest.fail("the case failed before its lost Write came:\n" +
                    node.selftest_failure)


def oracle(node, fgst, path):
    """The model's ledger of acknowledged writes against the images after
    the case (a cosim.ledger.LedgerCheck, saved as ledger.bin in the case's
    results), once per case; None if the guest cannot answer any more."""
    if not hasattr(node, "oracle"):
        try:
            node.oracle = control.ledger_check(fgst.guest, path / "ledger.bin")
        except Exception as e:
            logging.getLogger(__name__).warning("no ledger check: %s", e)
            node.oracle = None
    return node.oracle


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed fault test names its results directory."""
    outcome = yield
    rep = outcome.get_result()
    path = getattr(item, "fault_results", None)
    if SELFTEST and path and rep.when in ("setup", "call") and rep.failed:
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
        entry["oracle"] = {"checked": verdict.checked, "mismatches": verdict.bad_lbas}
    selftest = getattr(request.node, "selftest_check", None)
    if selftest:
        entry["selftest"] = selftest()
    results = getattr(request.node, "fault_results", None)
    if results:
        entry["results"] = str(results)
    report.append("faults", entry)


# -- driver and model counters -------------------------------------------------

def model_counters(guest):
    """The model's `stats` (qom-get), queues keyed by int SQ id; all since
    the controller was created."""
    stats = control.stats(guest)
    stats["queues"] = {int(q): v for q, v in stats["queues"].items()}
    return stats


class Counters:
    """Both sides' counters at one quiescent moment (no IO in flight)."""

    def __init__(self, driver, model):
        self.driver = driver
        self.model = model


def counters(fg, tries=10):
    """Counters of nvme_scsi and the model, read while nothing changes (the
    model's are read before and after the driver's and must be equal), or
    None for Linux's nvme, which keeps no per-queue counters."""
    if fg.driver != "nvme_scsi":
        return None
    for _ in range(tries):
        model = model_counters(fg.guest)
        driver = fg.guest.queue_counters()
        if model_counters(fg.guest) == model:
            return Counters(driver, model)
    raise AssertionError(f"the model's counters kept changing over {tries} reads: "
                         "the guest is not quiescent")


def counter_disagreements(before, after):
    """Where driver and model disagree over the commands between two quiescent
    snapshots.  Per queue, with d = the driver's and m = the model's deltas:

      d.submitted == d.completed + d.cancelled   the driver has nothing outstanding
                                                 that it did not have before
      0 <= d.submitted - m.submitted             the model fetched only what the
      0 <= m.completed - d.completed             driver submitted, and the driver took
                                                 only completions the model posted (a
                                                 duplicate or unknown-CID one is not one)
      (d.submitted - m.submitted) +              what the model never fetched, or posted
      (m.completed - d.completed) <= d.cancelled but the driver never took, was cancelled
                                                 by a reset (so: all equal without one)

    and over the controller: as many resets (CC.EN 1 -> 0) in the model as
    the driver made; without any cancelled command, as many Aborts executed
    and succeeded as the driver sent and saw succeed."""
    problems = []
    d0, d1, m0, m1 = before.driver, after.driver, before.model, after.model
    if d1["state"] != "live":
        problems.append(f"driver state is {d1['state']}, not live")
    d_resets, m_resets = d1["resets"] - d0["resets"], m1["resets"] - m0["resets"]
    if d_resets != m_resets:
        problems.append(f"driver made {d_resets} resets, the model saw {m_resets} "
                        "(CC.EN 1 -> 0)")
    cancelled_all = 0
    for qid in sorted(set(d1["queues"]) | set(m1["queues"])):
        def delta(side0, side1, key):
            return side1.get(qid, {}).get(key, 0) - side0.get(qid, {}).get(key, 0)
        d_sub, d_comp, d_canc = (delta(d0["queues"], d1["queues"], k)
                                 for k in ("submitted", "completed", "cancelled"))
        m_sub, m_comp = (delta(m0["queues"], m1["queues"], k)
                         for k in ("submitted", "completed"))
        cancelled_all += d_canc
        where = (f"qid {qid}: driver submitted {d_sub} completed {d_comp} cancelled {d_canc}, "
                 f"model fetched {m_sub} completed {m_comp}")
        unfetched, untaken = d_sub - m_sub, m_comp - d_comp
        if qid not in d1["queues"]:
            if m_sub or m_comp:
                problems.append(f"{where}: a queue the driver does not have")
            continue
        if d_sub != d_comp + d_canc:
            problems.append(f"{where}: {d_sub - d_comp - d_canc} commands still outstanding")
        if unfetched < 0:
            problems.append(f"{where}: the model fetched {-unfetched} commands the driver "
                            "never submitted")
        if untaken < 0:
            problems.append(f"{where}: the driver completed {-untaken} commands the model "
                            "never completed")
        if max(unfetched, 0) + max(untaken, 0) > d_canc:
            problems.append(f"{where}: {unfetched} never fetched + {untaken} completions not "
                            f"taken > {d_canc} cancelled")
    if not cancelled_all:
        sent = sum(q.get("aborts", 0) for q in d1["queues"].values()) - \
            sum(q.get("aborts", 0) for q in d0["queues"].values())
        failed = sum(q.get("aborts_failed", 0) for q in d1["queues"].values()) - \
            sum(q.get("aborts_failed", 0) for q in d0["queues"].values())
        m_aborts = m1["aborts"] - m0["aborts"]
        m_ok = m1["aborts-succeeded"] - m0["aborts-succeeded"]
        if (sent, sent - failed) != (m_aborts, m_ok):
            problems.append(f"driver sent {sent} Aborts, {sent - failed} succeeded; the "
                            f"model executed {m_aborts}, {m_ok} succeeded")
    return problems


def assert_counters_agree(fg, before):
    """Take the counters now and assert they agree with `before` (see
    counter_disagreements); both snapshots go into the results directory."""
    if before is None:
        return
    after = counters(fg)
    fg.results.save("counters.json", {"before": vars(before), "after": vars(after)})
    problems = counter_disagreements(before, after)
    assert not problems, "driver and model counters disagree:\n  " + "\n  ".join(problems)
