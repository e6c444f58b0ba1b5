# SPDX-License-Identifier: GPL-2.0-or-later
"""cosim.ledger's verdicts on made-up ledgers and images: what the medium
holds against what was acknowledged, and what the application saw written
against what was acknowledged."""
import zlib

import pytest

from cosim import ledger

LBA = 512


class FakeGuest:
    """Something to key the application's log by, as a Guest is."""


def write_ledger(path, entries):
    """entries: (nsid, lba, data) acknowledged."""
    with open(path, "wb") as f:
        for gen, (nsid, lba, data) in enumerate(entries, 1):
            f.write(ledger.RECORD.pack(nsid, LBA, lba, gen, zlib.crc32(data)))
    return path


@pytest.fixture
def image(tmp_path):
    """A 16-LBA namespace image: LBA n holds bytes n."""
    path = tmp_path / "ns1.img"
    path.write_bytes(b"".join(bytes([n]) * LBA for n in range(16)))
    return path


def test_medium_matches_acknowledged(tmp_path, image):
    led = write_ledger(tmp_path / "l.bin", [(1, n, bytes([n]) * LBA) for n in range(4)])
    result = ledger.check(led, {1: image})
    assert result and result.checked == 4 and not result.mismatches


def test_lost_write_named(tmp_path, image):
    led = write_ledger(tmp_path / "l.bin", [(1, 2, b"\xee" * LBA), (1, 3, b"\xee" * LBA)])
    result = ledger.check(led, {1: image})
    assert not result
    assert [(m.first, m.last) for m in result.mismatches] == [(2, 3)]
    assert "namespace 1 LBAs 2-3" in result.describe()


def test_application_writes_all_acknowledged(tmp_path, image):
    guest = FakeGuest()
    ledger.application_wrote(guest, 1, LBA, [(0, 4096)])       # LBAs 0-7
    led = write_ledger(tmp_path / "l.bin", [(1, n, bytes([n]) * LBA) for n in range(8)])
    result = ledger.check(led, {1: image}, ledger.application_written(guest))
    assert result and result.app_checked == 8


def test_application_write_never_acknowledged_named(tmp_path, image):
    """The application saw LBAs 0-7 written; the controller acknowledged
    only 0-3 and 6-7: LBAs 4-5 were reported written by the driver alone."""
    guest = FakeGuest()
    ledger.application_wrote(guest, 1, 512, [(0, 2048), (2048, 4096)])
    acked = [n for n in range(8) if n not in (4, 5)]
    led = write_ledger(tmp_path / "l.bin", [(1, n, bytes([n]) * LBA) for n in acked])
    result = ledger.check(led, {1: image}, ledger.application_written(guest))
    assert not result and not result.mismatches
    assert [(u.first, u.last) for u in result.unacknowledged] == [(4, 5)]
    assert "namespace 1 LBAs 4-5: the application saw them written" in result.describe()


def test_application_log_forgotten(tmp_path, image):
    guest = FakeGuest()
    ledger.application_wrote(guest, 1, 512, [(0, 512)])
    ledger.application_forget(guest)
    assert ledger.application_written(guest) == {}


def test_removed_namespace_not_held_against_the_application(tmp_path, image):
    """A namespace with no image (removed) took its ledger with it."""
    guest = FakeGuest()
    ledger.application_wrote(guest, 3, 512, [(0, 512)])
    result = ledger.check(write_ledger(tmp_path / "l.bin", []), {1: image},
                          ledger.application_written(guest))
    assert result and result.app_checked == 0
