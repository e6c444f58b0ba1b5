"""Fixtures shared by every test layer.  Guest fixtures live in
tests/guest/conftest.py; device (qtest) fixtures in tests/device/."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "harness"))

from cosim import paths  # noqa: E402

paths.use_qemu_python()
