# SPDX-License-Identifier: GPL-2.0-or-later
"""The guest image runs make for the driver only when something it is built
from changed since the last make, and whenever `make driver` asks."""
import os

import pytest

from cosim import image, paths

RELEASE = "6.1.0-9-amd64"
# Stands in for kbuild: counts its runs and, like kbuild, links the .ko only
# when there is none (a real one relinks only after a compile).  ON_MAKE=
# runs in the middle of a build.
MAKEFILE = """all:
\techo run >> ../runs
\t[ -f nvme_scsi.ko ] || echo module > nvme_scsi.ko
\t$(ON_MAKE)
"""


@pytest.fixture
def tree(tmp_path, monkeypatch):
    src, kdir, outside = tmp_path / "driver", tmp_path / "headers", tmp_path / "include"
    for d in (src, kdir, outside):
        d.mkdir()
    (src / "Makefile").write_text(MAKEFILE)
    for f in ("pci.c", "nvme_scsi.h", "Kbuild"):
        (src / f).write_text("")
    # kbuild's record of what pci.o included: a header of the tree's and
    # one from outside it (a port's -I../include)
    (src / ".pci.o.cmd").write_text(f"deps_pci.o := \\\n  {src}/nvme_scsi.h \\\n"
                                    f"  {outside}/port.h \\\n  include/linux/pci.h \\\n")
    (outside / "port.h").write_text("")
    for f in (".config", "Makefile", "Module.symvers"):
        (kdir / f).write_text("")
    monkeypatch.setattr(paths, "DRIVER", src)
    monkeypatch.setattr(paths, "GUEST", tmp_path / "guest")
    monkeypatch.setattr(paths, "kernel_headers", lambda release: kdir)
    # by mtime alone: a test cannot set a file's ctime back
    monkeypatch.setattr(paths, "changed", lambda p: os.stat(p).st_mtime)
    monkeypatch.delenv("ON_MAKE", raising=False)
    age(tmp_path, 7200)
    return tmp_path


def age(root, seconds):
    """Date every file under `root` but the module back by `seconds`: what
    happened before this point is long past, so that a change made now
    counts (the module keeps its time: the stamp says which it was)."""
    for p in root.rglob("*"):
        if p.name == "nvme_scsi.ko":
            continue
        st = p.stat()
        os.utime(p, (st.st_atime - seconds, st.st_mtime - seconds))


def build(root, release=RELEASE, force=False):
    """Runs of make so far, after one more build."""
    image.build_driver(release, force)
    age(root, 3600)
    runs = root / "runs"
    return len(runs.read_text().split()) if runs.exists() else 0


def test_make_once_then_not_while_nothing_changed(tree):
    assert build(tree) == 1
    assert build(tree) == 1


@pytest.mark.parametrize("changed", ["driver/pci.c", "driver/nvme_scsi.h", "driver/Kbuild",
                                     "driver/Makefile", "include/port.h", "headers/.config",
                                     "headers/Makefile", "headers/Module.symvers"])
def test_make_again_after_a_change(tree, changed):
    assert build(tree) == 1
    os.utime(tree / changed)                        # now: newer than the last make
    # kbuild need not relink for it (a comment in the Makefile): the next
    # look must not run make again all the same
    assert build(tree) == 2
    assert build(tree) == 2


def test_make_again_after_a_change_during_make(tree, monkeypatch):
    """A source saved while make ran may have missed the compile."""
    monkeypatch.setenv("ON_MAKE", "touch pci.c")
    assert build(tree) == 1
    monkeypatch.delenv("ON_MAKE")
    assert build(tree) == 2


@pytest.mark.parametrize("change", ["add", "remove"])
def test_make_again_when_files_come_or_go(tree, change):
    assert build(tree) == 1
    if change == "add":
        (tree / "driver" / "rw.c").write_text("")
        age(tree, 3600)                             # an old file, copied in
    else:
        (tree / "driver" / "nvme_scsi.h").unlink()
    assert build(tree) == 2


def test_make_again_after_a_module_built_by_hand(tree):
    """`make -C driver KCFLAGS=...`: kbuild decides whether that stands."""
    assert build(tree) == 1
    (tree / "driver" / "nvme_scsi.ko").write_text("module, other flags")
    assert build(tree) == 2


def test_make_again_for_another_kernel(tree):
    assert build(tree, release="6.1.0-99-amd64") == 1
    assert build(tree) == 2
    assert build(tree) == 2


def test_make_driver_always_makes(tree):
    assert build(tree) == 1
    assert build(tree, force=True) == 2
