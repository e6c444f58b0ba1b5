# SPDX-License-Identifier: GPL-2.0-or-later
"""Layer 1: the C unit tests of hw-model/core (GLib g_test, TAP output), one
pytest case per GLib case, so each lands in pytest's summary and the JUnit
report under its own name.  Each binary runs once (`make check-BINARY`);
its cases then report what its TAP output said about them."""
import fcntl
import re
import subprocess

import pytest

from cosim import paths

TEST_SOURCES = sorted((paths.HW_MODEL / "core" / "tests").glob("test_*.c"))
BIN_DIR = paths.BUILD / "hw-model-tests"


def make(*args, timeout=600):
    return subprocess.run(["make", "-s", "-C", str(paths.HW_MODEL), *args],
                          capture_output=True, text=True, timeout=timeout)


def build_and_list():
    """[(binary, case path)]; builds the binaries first.  Under pytest-xdist
    every worker collects: the lock keeps two makes off the same files."""
    paths.BUILD.mkdir(parents=True, exist_ok=True)
    with open(paths.BUILD / ".hw-model-tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = make("tests")
    if proc.returncode:
        raise RuntimeError(f"hw-model core unit tests do not build:\n{proc.stdout}{proc.stderr}")
    cases = []
    for src in TEST_SOURCES:
        out = subprocess.run([str(BIN_DIR / src.stem), "-l"], capture_output=True,
                             text=True, timeout=60, check=True).stdout
        cases += [(src.stem, line) for line in out.splitlines() if line.startswith("/")]
    return cases


def pytest_generate_tests(metafunc):
    if "core_case" in metafunc.fixturenames:
        cases = build_and_list()
        metafunc.parametrize("core_case", cases, ids=[f"{b}:{c}" for b, c in cases])


@pytest.fixture(scope="session")
def tap_runs():
    """binary -> (returncode, output, {case: "ok" | "not ok"}), each run once."""
    runs = {}

    def run(binary):
        if binary not in runs:
            proc = make(f"check-{binary}")
            out = proc.stdout + proc.stderr
            verdicts = {m.group(2): m.group(1)
                        for m in re.finditer(r"^(ok|not ok) \d+ (/\S+)", out, re.M)}
            runs[binary] = (proc.returncode, out, verdicts)
        return runs[binary]
    return run


@pytest.mark.unit
def test_core(tap_runs, core_case):
    binary, case = core_case
    rc, out, verdicts = tap_runs(binary)
    verdict = verdicts.get(case)
    if verdict is None:
        # an assertion or a sanitizer report ends the binary: later cases never ran
        ran = [line.split()[-1] for line in out.splitlines() if re.match(r"ok \d+ /", line)]
        where = f"after {ran[-1]}" if ran else "before its first case"
        pytest.fail(f"{binary}: {case} did not run: the binary stopped {where} "
                    f"(exit {rc}):\n{out[-4000:]}")
    assert verdict == "ok", f"{binary}: {case}: {verdict}\n{out[-4000:]}"


@pytest.mark.unit
def test_core_binaries_exit_clean(tap_runs):
    """A leak is reported at exit, after the last case said ok."""
    for src in TEST_SOURCES:
        rc, out, verdicts = tap_runs(src.stem)
        assert rc == 0 and verdicts, f"{src.stem} exited {rc}:\n{out[-4000:]}"
