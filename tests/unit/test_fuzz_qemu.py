# SPDX-License-Identifier: GPL-2.0-or-later
"""A short run of QEMU's generic-fuzz on cosim-nvme (the second half of
`make fuzz`): the clang build keeps building, and the seeds (a controller
brought up, I/O, a PRP list chaining back into itself) pass."""
import re

import pytest

from cosim import qemu_fuzz

SMOKE_SECONDS = 10


@pytest.mark.unit
def test_generic_fuzz_smoke(tmp_path):
    rc, out = qemu_fuzz.run(SMOKE_SECONDS, corpus=tmp_path / "corpus",
                            findings=tmp_path / "findings")
    found = sorted(p.name for p in (tmp_path / "findings").iterdir())
    assert rc == 0 and not found, f"generic-fuzz findings {found}:\n{out[-4000:]}"
    runs = re.findall(r"stat::number_of_executed_units: (\d+)", out)
    assert runs and int(runs[-1]) >= 20, f"generic-fuzz barely ran:\n{out[-4000:]}"
