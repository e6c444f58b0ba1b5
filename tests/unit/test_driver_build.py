# SPDX-License-Identifier: GPL-2.0-or-later
"""The guest image runs make for the driver only when the .ko is older than
what it is built from, or was built for another kernel."""
import os

import pytest

from cosim import image, paths

RELEASE = "6.1.0-99-amd64"
# Stands in for kbuild: counts its runs and writes a .ko whose .modinfo says
# which kernel it is for.
MAKEFILE = """all:
\techo run >> runs
\tprintf 'modinfo\\0vermagic=$(VERMAGIC) SMP preempt\\0' > nvme_scsi.ko
"""


@pytest.fixture
def tree(tmp_path, monkeypatch):
    src, kdir = tmp_path / "driver", tmp_path / "headers"
    src.mkdir()
    kdir.mkdir()
    (src / "Makefile").write_text(MAKEFILE)
    for f in ("pci.c", "nvme_scsi.h", "Kbuild"):
        (src / f).write_text("")
    for f in (".config", "Makefile", "Module.symvers"):
        (kdir / f).write_text("")
    monkeypatch.setattr(paths, "DRIVER", src)
    monkeypatch.setattr(paths, "kernel_headers", lambda release: kdir)
    monkeypatch.setenv("VERMAGIC", RELEASE)
    # by mtime alone: a test cannot set a file's ctime back
    monkeypatch.setattr(paths, "changed", lambda p: os.stat(p).st_mtime)
    age(src, kdir, seconds=100)
    return src, kdir


def age(*dirs, seconds):
    """Date every file in `dirs` `seconds` back."""
    when = os.stat(dirs[0]).st_mtime - seconds
    for d in dirs:
        for p in d.iterdir():
            os.utime(p, (when, when))


def runs(src):
    return len((src / "runs").read_text().split()) if (src / "runs").exists() else 0


def build(src):
    ko = image.build_driver(RELEASE)
    # the tree as built long ago, the .ko an hour after it: only a change
    # made now counts
    age(src, paths.kernel_headers(RELEASE), seconds=7200)
    os.utime(ko, (ko.stat().st_mtime + 3600,) * 2)
    return runs(src)


def test_make_once_then_not_while_nothing_changed(tree):
    src, _ = tree
    assert build(src) == 1
    assert build(src) == 1


@pytest.mark.parametrize("changed", ["driver/pci.c", "driver/nvme_scsi.h", "driver/Kbuild",
                                     "driver/Makefile", "headers/.config",
                                     "headers/Module.symvers"])
def test_make_again_after_a_change(tree, changed):
    src, _ = tree
    assert build(src) == 1
    os.utime(src.parent / changed)                  # now: newer than the .ko
    assert build(src) == 2


def test_make_again_for_another_kernel(tree, monkeypatch):
    src, _ = tree
    monkeypatch.setenv("VERMAGIC", "6.1.0-98-amd64")
    assert build(src) == 1
    monkeypatch.setenv("VERMAGIC", RELEASE)
    assert build(src) == 2
    assert build(src) == 2
