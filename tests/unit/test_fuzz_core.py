# SPDX-License-Identifier: GPL-2.0-or-later
"""A short run of `make fuzz` (libFuzzer on hw-model/core) from the committed
seeds, so the fuzzer keeps building and the seeds (a found crash among them)
keep passing.  The long campaigns are `make fuzz FUZZ_SECONDS=...`."""
import re
import subprocess

import pytest

from cosim import paths

SMOKE_SECONDS = 10


@pytest.mark.unit
def test_fuzz_core_smoke(tmp_path):
    corpus, findings = tmp_path / "corpus", tmp_path / "findings"
    proc = subprocess.run(
        ["make", "-s", "-C", str(paths.HW_MODEL), "fuzz", f"FUZZ_SECONDS={SMOKE_SECONDS}",
         "FUZZ_JOBS=1", f"FUZZ_CORPUS={corpus}", f"FUZZ_FINDINGS={findings}"],
        capture_output=True, text=True, timeout=SMOKE_SECONDS + 300)
    out = proc.stdout + proc.stderr
    found = sorted(p.name for p in findings.iterdir())
    assert proc.returncode == 0 and not found, f"fuzz_core findings {found}:\n{out[-4000:]}"
    # fork mode's progress lines: "#<executions>: cov: ... corp: <inputs>"
    execs = [int(n) for n in re.findall(r"^#(\d+): cov:", out, re.M)]
    assert execs and execs[-1] >= 1000, f"fuzz_core barely ran:\n{out[-4000:]}"
