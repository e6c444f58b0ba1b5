# SPDX-License-Identifier: GPL-2.0-or-later
"""What a fault-injection case runs on: a FaultGuest (a booted guest per
driver with short command timeouts, a volatile write cache, the ledger of
acknowledged writes on and the model's fault rules at hand), the case's
own results directory (CaseResults), and the verdicts that run after
every case: the ledger against the medium, and the oracle's self-test.
The pytest fixtures that hand these to tests are in cosim.fixtures."""
import json
import logging
import os
import re
import time

import pytest

from . import config, control, counters, drivers, report
from .machine import Guest

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

# QEMU trace events of the model that every fault guest writes to its
# trace.log (on top of any TRACE= of the user's); each test keeps its slice.
TRACE_EVENTS = ("cosim_nvme_fault", "cosim_nvme_cmd", "cosim_nvme_cqe", "cosim_nvme_reset",
                "cosim_nvme_ns_attach", "cosim_nvme_ns_detach")

# qemu.qmp's client logs every message it sends (-->) and receives (<--),
# events included, at DEBUG on this logger's children.
QMP_LOGGER = "qemu.qmp"


class FaultGuest:
    """A booted guest plus what fault tests need around it."""

    io_timeout = IO_TIMEOUT
    admin_timeout = ADMIN_TIMEOUT

    def __init__(self, driver, notice_aen=True):
        cfg = config.from_env(model="cosim", driver=driver)
        cfg.machine.kernel_args, cfg.driver.params = drivers.timeouts(driver, IO_TIMEOUT,
                                                                      ADMIN_TIMEOUT)
        # Both drivers learn of namespace hot add/remove from the Notice AEN;
        # without it, only from failing commands and an explicit rescan.
        cfg.controller.ns_notice_aen = notice_aen
        cfg.controller.volatile_cache_mb = VOLATILE_CACHE_MB
        cfg.controller.ledger = True        # checked after every case
        self.driver = driver
        name = f"faults-{driver}" + ("" if notice_aen else "-no-aen")
        self.guest = Guest(cfg, name=name, trace=TRACE_EVENTS).start()
        try:
            self.guest.driver.load()
        except BaseException:
            self.guest.close()
            raise
        self.faults = control.Faults(self.guest)
        self.results = None     # the running case's CaseResults
        self.chardev = self.guest.driver.chardev

    @property
    def disk(self):
        """The first disk: namespace 1, which every case verifies."""
        return self.guest.driver.block_devices()[0][0]

    @property
    def trace_log(self):
        return self.guest.rundir / "trace.log"

    def counters(self):
        """Driver and model counters now (None for Linux's nvme): see
        cosim.counters.counters()."""
        return counters.counters(self.guest)

    def assert_counters_agree(self, before):
        """Driver and model agree on what happened since `before`."""
        counters.assert_counters_agree(self.guest, before, self.results.save)

    def assert_no_timeouts(self):
        """No command timed out in this test, by either driver's log."""
        text = _read_from(self.guest.console.path, self.results.console_at).decode(
            errors="replace")
        lines = [line.strip() for line in text.splitlines()
                 if re.search(r"timed out|timeout", line)]
        assert not lines, "commands timed out:\n  " + "\n  ".join(lines[:10])

    def close(self):
        self.guest.close()


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


class LostWrite:
    """The oracle self-test's lost Write: the SELFTEST_NTH-th Write to
    namespace 1 of the guest's controller completes with success and
    writes nothing (lose-write)."""

    def __init__(self, guest):
        self.faults = control.Faults(guest)
        self.rule = self.faults.add("lose-write", queue="io", nsid=1, nth=SELFTEST_NTH)

    def fired(self):
        try:
            return self.faults.hits(self.rule) > 0
        except Exception:       # the controller is gone: it did not fire there
            return False


def selftest_outcome(node):
    """Self-test: "detected", "missed", or "n/a" (the lost Write never
    came: too few Writes, or none armed) -- "failed" if the case failed
    without it."""
    if not hasattr(node, "selftest"):
        lost = getattr(node, "selftest_lost", None)
        fired = lost is not None and lost.fired()
        failed = hasattr(node, "selftest_failure")
        check = getattr(node, "oracle_check", None)
        verdict = check() if check else None
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


def judge_case(node, path):
    """A fault case's last word, after its guest was checked: under the
    self-test, whether the lost Write was noticed; otherwise the ledger
    against the medium fails a case that passed."""
    if SELFTEST:
        selftest_verdict(node, selftest_outcome(node), path)
        return
    verdict = node.oracle_check()
    rep = getattr(node, "rep_call", None)
    if not (rep and rep.passed):
        return                  # the case's own failure says more
    if verdict is None and getattr(node, "oracle_error", None):
        pytest.fail(f"the ledger could not be checked: {node.oracle_error}\n  results: {path}")
    if verdict is not None and not verdict:
        pytest.fail("the medium differs from what the controller acknowledged:\n" +
                    verdict.describe() + f"\n  results: {path}")


def oracle(node, guest, path):
    """The model's ledger of acknowledged writes against the images after
    the case (a cosim.ledger.LedgerCheck, saved as ledger.bin in the case's
    results), once per case; None if there is nothing to check: the guest
    or its controller is gone (a removal case).  Any other failure of the
    check is kept in node.oracle_error and fails the case (judge_case)."""
    if not hasattr(node, "oracle"):
        node.oracle = None
        try:
            node.oracle = control.ledger_check(guest, path / "ledger.bin")
        except Exception as e:
            if _controller_there(guest):
                node.oracle_error = f"{type(e).__name__}: {e}"
            logging.getLogger(__name__).warning("no ledger check: %s", e)
    return node.oracle


def _controller_there(guest):
    try:
        return guest.running() and control.on_bus(guest)
    except Exception:
        return False
