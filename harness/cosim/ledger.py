# SPDX-License-Identifier: GPL-2.0-or-later
"""The model's ledger of acknowledged writes against the medium.

cosim-nvme records, per LBA, the CRC-32 of the data it last told the host
had been written there (cosim-nvme-ledger-save).  check() reads the backing
images here, on the host, and compares every LBA the ledger knows: a Write
acknowledged but lost, torn or misdirected on its way to the medium shows
as a difference, whatever the data looks like -- fio's verify only sees
what a later read returns, and a stale block from an identical earlier job
can look right to it.
"""
import struct
import zlib
from dataclasses import dataclass, field

RECORD = struct.Struct("<IIQII")        # nsid, lba size, lba, generation, crc32


@dataclass
class Mismatch:
    """A run of LBAs whose medium differs from what was acknowledged."""
    nsid: int
    first: int
    last: int
    gen: int            # the first LBA's acknowledging command
    expected: int       # crc32 of what the host was told is there (first LBA)
    found: int          # crc32 of what the medium holds (first LBA)

    def __str__(self):
        lbas = f"LBA {self.first}" if self.first == self.last else \
            f"LBAs {self.first}-{self.last}"
        return (f"namespace {self.nsid} {lbas}: acknowledged by write generation {self.gen} "
                f"with crc32 {self.expected:08x}, the medium holds crc32 {self.found:08x}")


@dataclass
class LedgerCheck:
    checked: int = 0                    # LBAs compared
    mismatches: list = field(default_factory=list)
    skipped: list = field(default_factory=list)     # nsids with no image to read

    @property
    def bad_lbas(self):
        return sum(m.last - m.first + 1 for m in self.mismatches)

    def __bool__(self):
        return not self.mismatches

    def describe(self, limit=10):
        lines = [f"{self.bad_lbas} of {self.checked} acknowledged LBAs differ on the medium:"]
        lines += [f"  {m}" for m in self.mismatches[:limit]]
        if len(self.mismatches) > limit:
            lines.append(f"  ... and {len(self.mismatches) - limit} more runs")
        return "\n".join(lines)


def records(path):
    """(nsid, lba_size, lba, gen, crc) for each LBA in a saved ledger."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) % RECORD.size:
        raise ValueError(f"{path}: {len(data)} bytes is not a whole number of "
                         f"{RECORD.size}-byte ledger records")
    return RECORD.iter_unpack(data)


def check(path, images):
    """Compare the ledger saved at @path with the raw images, {nsid: path}."""
    result = LedgerCheck()
    files = {}
    try:
        for nsid, lba_size, lba, gen, crc in records(path):
            if nsid not in images:
                if nsid not in result.skipped:
                    result.skipped.append(nsid)
                continue
            f = files.get(nsid) or files.setdefault(nsid, open(images[nsid], "rb"))
            f.seek(lba * lba_size)
            found = zlib.crc32(f.read(lba_size))
            result.checked += 1
            if found == crc:
                continue
            last = result.mismatches[-1] if result.mismatches else None
            if last and last.nsid == nsid and last.last + 1 == lba:
                last.last = lba
            else:
                result.mismatches.append(Mismatch(nsid, lba, lba, gen, crc, found))
    finally:
        for f in files.values():
            f.close()
    return result
