"""Fixtures shared by every test layer.  Guest fixtures live in
tests/guest/conftest.py; device (qtest) fixtures in tests/device/."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

import pytest  # noqa: E402

from cosim import paths, report  # noqa: E402

paths.use_qemu_python()


def pytest_sessionstart(session):
    if not report.is_worker():
        report.reset_all()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (item.rep_call, ...) so fixtures
    can tell in teardown whether their test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
