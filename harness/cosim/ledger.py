# SPDX-License-Identifier: GPL-2.0-or-later
"""The model's ledger of acknowledged writes against the medium.

cosim-nvme records, per LBA, the CRC-32 of the data it last told the host
had been written there (cosim-nvme-ledger-save).  check() reads the backing
images here, on the host, and compares every LBA the ledger knows: a Write
acknowledged but lost, torn or misdirected on its way to the medium shows
as a difference, whatever the data looks like -- fio's verify only sees
what a later read returns, and a stale block from an identical earlier job
can look right to it.

The application's side (application_*): the byte ranges of a namespace
that fio saw written with success, noted by cosim.workload as each job
ends.  Every one of those LBAs must be in the ledger: one that is not was
never acknowledged by the controller (it failed, was aborted or never
came), so the driver reported success for a write the device did not do.
"""
import struct
import weakref
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
class Unacknowledged:
    """A run of LBAs the application saw written that the controller never
    acknowledged."""
    nsid: int
    first: int
    last: int

    def __str__(self):
        lbas = f"LBA {self.first}" if self.first == self.last else \
            f"LBAs {self.first}-{self.last}"
        return (f"namespace {self.nsid} {lbas}: the application saw them written, "
                "the controller never acknowledged a write there")


@dataclass
class LedgerCheck:
    checked: int = 0                    # LBAs compared
    mismatches: list = field(default_factory=list)
    skipped: list = field(default_factory=list)     # nsids with no image to read
    app_checked: int = 0                # LBAs the application saw written
    unacknowledged: list = field(default_factory=list)

    @property
    def bad_lbas(self):
        return sum(m.last - m.first + 1 for m in self.mismatches)

    @property
    def unacknowledged_lbas(self):
        return sum(u.last - u.first + 1 for u in self.unacknowledged)

    def __bool__(self):
        return not self.mismatches and not self.unacknowledged

    def describe(self, limit=10):
        lines = []
        if self.mismatches:
            lines.append(f"{self.bad_lbas} of {self.checked} acknowledged LBAs differ on the "
                         "medium:")
            lines += [f"  {m}" for m in self.mismatches[:limit]]
            if len(self.mismatches) > limit:
                lines.append(f"  ... and {len(self.mismatches) - limit} more runs")
        if self.unacknowledged:
            lines.append(f"{self.unacknowledged_lbas} of {self.app_checked} LBAs the "
                         "application saw written were never acknowledged:")
            lines += [f"  {u}" for u in self.unacknowledged[:limit]]
        return "\n".join(lines)


# guest -> {nsid: [(first LBA, last LBA)]} written with success since the
# ledger was last cleared
_written = weakref.WeakKeyDictionary()


def application_wrote(guest, nsid, lba_size, ranges):
    """Note byte ranges [first, end) of namespace @nsid, of @lba_size-byte
    LBAs, that the application saw written with success."""
    _written.setdefault(guest, {}).setdefault(nsid, []).extend(
        (first // lba_size, (end - 1) // lba_size) for first, end in ranges if end > first)


def application_forget(guest):
    """Start afresh (with the ledger's clear, and where a case makes
    acknowledged writes legitimately lost, as a power loss does)."""
    _written.pop(guest, None)


def application_written(guest):
    return _written.get(guest, {})


def _unacknowledged(nsid, ranges, known):
    """(LBAs in @ranges, runs of them not in the set @known)."""
    runs = []
    lbas = sorted({lba for first, last in ranges for lba in range(first, last + 1)})
    for lba in lbas:
        if lba in known:
            continue
        if runs and runs[-1].last + 1 == lba:
            runs[-1].last = lba
        else:
            runs.append(Unacknowledged(nsid, lba, lba))
    return len(lbas), runs


def records(path):
    """(nsid, lba_size, lba, gen, crc) for each LBA in a saved ledger."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) % RECORD.size:
        raise ValueError(f"{path}: {len(data)} bytes is not a whole number of "
                         f"{RECORD.size}-byte ledger records")
    return RECORD.iter_unpack(data)


def check(path, images, written=None):
    """Compare the ledger saved at @path with the raw images, {nsid: path},
    and with what the application saw written, {nsid: [(first LBA, last
    LBA)]} (of the namespaces with an image: one removed took its ledger
    with it)."""
    result = LedgerCheck()
    files = {}
    written = {n: r for n, r in (written or {}).items() if n in images}
    known = {nsid: set() for nsid in written}
    try:
        for nsid, lba_size, lba, gen, crc in records(path):
            if nsid in known:
                known[nsid].add(lba)
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
    for nsid, ranges in written.items():
        count, runs = _unacknowledged(nsid, ranges, known[nsid])
        result.app_checked += count
        result.unacknowledged += runs
    return result
