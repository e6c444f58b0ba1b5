"""The Python of harness/ and tests/ is flake8 clean (settings in .flake8),
so a regression fails make test instead of waiting for a reviewer."""
import subprocess
import sys

from cosim import paths


def test_python_is_flake8_clean():
    proc = subprocess.run([sys.executable, "-m", "flake8", "harness", "tests"],
                          cwd=paths.REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"flake8:\n{proc.stdout}{proc.stderr}"
