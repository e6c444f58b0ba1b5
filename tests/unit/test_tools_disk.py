# SPDX-License-Identifier: GPL-2.0-or-later
"""The tools disk counts as current by its manifest alone while nothing it
was built from changed; any change sends the build back to ldd and readelf."""
import os

import pytest

from cosim import image, paths


@pytest.fixture
def disk(tmp_path, monkeypatch):
    """A tools disk built from two tools, a library and a stub, an hour ago
    (its inputs two hours ago)."""
    bins, lib = tmp_path / "bin", tmp_path / "lib"
    bins.mkdir()
    lib.mkdir()
    for f in (bins / "fio", bins / "nvme", lib / "libc.so.6", lib / "librbd.so.1",
              tmp_path / "ld.so.cache", tmp_path / "image.py"):
        f.write_text("")
    out = tmp_path / "tools.squashfs"
    out.write_text("")
    (tmp_path / "tools.squashfs.list").write_text(
        f"{bins}/fio\n{bins}/nvme\n{lib}/libc.so.6\nstub {lib}/librbd.so.1\n")
    monkeypatch.setattr(image, "TOOLS", ("fio", "nvme"))
    monkeypatch.setenv("PATH", str(bins))
    monkeypatch.setattr(image, "TOOLS_DISK_INPUTS",
                        (tmp_path / "image.py", tmp_path / "ld.so.cache"))
    # by mtime alone: a test cannot set a file's ctime back
    monkeypatch.setattr(paths, "changed", lambda p: os.stat(p).st_mtime)
    for f in tmp_path.rglob("*"):
        st = f.stat()
        back = 3600 if f == out or f.name == "tools.squashfs.list" else 7200
        os.utime(f, (st.st_atime - back, st.st_mtime - back))
    for f in bins.iterdir():
        f.chmod(0o755)
    return tmp_path


def test_unchanged_by_the_manifest(disk):
    assert image._tools_unchanged(disk / "tools.squashfs") == [
        f"{disk}/bin/fio", f"{disk}/bin/nvme", f"{disk}/lib/libc.so.6", f"{disk}/lib/librbd.so.1"]


@pytest.mark.parametrize("changed", ["bin/fio", "lib/libc.so.6", "lib/librbd.so.1",
                                     "ld.so.cache", "image.py"])
def test_changed_input(disk, changed):
    os.utime(disk / changed)                    # now: newer than the disk
    assert image._tools_unchanged(disk / "tools.squashfs") is None


def test_a_tool_found_elsewhere(disk, monkeypatch):
    other = disk / "other"
    other.mkdir()
    (other / "fio").write_text("")
    (other / "fio").chmod(0o755)
    monkeypatch.setenv("PATH", f"{other}:{disk / 'bin'}")
    assert image._tools_unchanged(disk / "tools.squashfs") is None


def test_no_manifest(disk):
    (disk / "tools.squashfs.list").unlink()
    assert image._tools_unchanged(disk / "tools.squashfs") is None
