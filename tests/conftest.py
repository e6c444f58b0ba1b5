# SPDX-License-Identifier: GPL-2.0-or-later
"""Every test layer's fixtures come from the harness's own pytest plugin,
cosim.fixtures (guests, fault guests, the tables at the end of a run), the
one a suite of your own loads too; device (qtest) fixtures are in
tests/device/, the interop matrix's in tests/interop/."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

from cosim import paths  # noqa: E402

paths.use_qemu_python()

pytest_plugins = ["cosim.fixtures"]
