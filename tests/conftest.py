# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures shared by every test layer.  Guest fixtures live in
tests/guest/conftest.py; device (qtest) fixtures in tests/device/."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

import json  # noqa: E402

import pytest  # noqa: E402

from cosim import fleet, paths, report  # noqa: E402

paths.use_qemu_python()


def pytest_configure(config):
    """HOSTS=: bind this process (an xdist worker, or a lone pytest) to its
    libvirt host before any guest boots."""
    config.cosim_host = fleet.bind_worker()


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
    can tell in teardown whether their test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


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
