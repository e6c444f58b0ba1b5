"""Layer 1: the C unit tests of hw-model/core (GLib g_test), run through make
so their result lands in pytest's summary and the JUnit report."""
import subprocess

import pytest

from cosim import paths


@pytest.mark.unit
def test_core_unit_tests():
    proc = subprocess.run(["make", "-s", "-C", str(paths.HW_MODEL), "check"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"hw-model core unit tests failed:\n{proc.stdout}{proc.stderr}"
