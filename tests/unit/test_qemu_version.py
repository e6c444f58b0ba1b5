# SPDX-License-Identifier: GPL-2.0-or-later
"""Which Debian qemu source `make qemu` builds when the archive has moved on."""
import pytest

from cosim import paths, qemu_build
from cosim.errors import BuildError

PINNED = "1:7.2+dfsg-7+deb12u18"


@pytest.fixture(autouse=True)
def pinned(monkeypatch):
    monkeypatch.setattr(paths, "QEMU_DEB_VERSION", PINNED)


def test_pinned_version_when_the_archive_has_it():
    assert qemu_build.pick_version(["1:7.2+dfsg-7+deb12u15", PINNED]) == PINNED


def test_newest_revision_of_the_same_release_otherwise(capsys):
    got = qemu_build.pick_version(["1:7.2+dfsg-7+deb12u15", "1:7.2+dfsg-7+deb12u19",
                                   "1:7.2+dfsg-7+deb12u9", "1:8.2.2+ds-1"])
    assert got == "1:7.2+dfsg-7+deb12u19"
    assert "no longer carries qemu 1:7.2+dfsg-7+deb12u18" in capsys.readouterr().err


def test_no_source_of_that_release_is_a_clear_error():
    with pytest.raises(BuildError, match=r"no qemu 7\.2\+dfsg source .*deb-src"):
        qemu_build.pick_version(["1:8.2.2+ds-1"])
    with pytest.raises(BuildError, match="lists nothing"):
        qemu_build.pick_version([])


def test_upstream_version():
    assert qemu_build.upstream_version(PINNED) == "7.2+dfsg"
    assert qemu_build.upstream_version("7.2+dfsg-7") == "7.2+dfsg"
