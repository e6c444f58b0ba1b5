"""Layer 1: the C unit tests of hw-model/core (GLib g_test, TAP output), run
through make so their result lands in pytest's summary and the JUnit report."""
import re
import subprocess

import pytest

from cosim import paths


@pytest.mark.unit
def test_core_unit_tests():
    proc = subprocess.run(["make", "-s", "-C", str(paths.HW_MODEL), "check"],
                          capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"hw-model core unit tests failed:\n{out}"
    passed = re.findall(r"^ok \d+ ", out, re.M)
    assert passed, f"hw-model core unit tests ran no test:\n{out}"
    assert not re.search(r"^not ok ", out, re.M), out
