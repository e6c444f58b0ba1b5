# SPDX-License-Identifier: GPL-2.0-or-later
"""The Python of harness/ and tests/ is flake8 clean (settings in .flake8),
so a regression fails make test instead of waiting for a reviewer."""
import subprocess
import sys

from cosim import paths


def test_python_is_flake8_clean():
    proc = subprocess.run([sys.executable, "-m", "flake8", "harness", "tests"],
                          cwd=paths.REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"flake8:\n{proc.stdout}{proc.stderr}"


# Files that carry no licence line: data, documentation, patches, settings.
NO_SPDX = (".md", ".toml", ".patch", ".ini", ".gitignore", ".flake8")


def test_every_source_file_names_its_licence():
    files = subprocess.run(["git", "ls-files"], cwd=paths.REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    missing = []
    for name in files:
        if name.endswith(NO_SPDX) or "fuzz-corpus/" in name or name in ("COPYING", "LICENSE"):
            continue
        head = (paths.REPO / name).read_text(errors="replace").splitlines()[:10]
        if not any("SPDX-License-Identifier: GPL-2.0" in line for line in head):
            missing.append(name)
    assert not missing, "no SPDX-License-Identifier in the first lines of:\n  " + \
        "\n  ".join(missing)
