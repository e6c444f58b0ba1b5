# SPDX-License-Identifier: GPL-2.0-or-later
"""Both drivers against firmware that lies in its Identify data: a maximum
transfer of 1..255 (MDTS), no namespaces or 2^32-1 of them (NN), a
namespace of size 0 or twice the medium (NSZE), an LBA data size the host
cannot use.  cosim-nvme's patch-data fault rewrites the field in the data
of every Identify while the driver is reloaded; the model itself keeps
telling the truth underneath.

What a driver must do with such a controller: bind it, offer no disk it
cannot address, never oops, never hang, never move data to or from the
wrong place.  Each case first writes data with a verifying job of its own; after
the lie, the driver is reloaded against the truthful controller and that
data must read back unchanged."""
import json
import re
import time
import zlib

import pytest

from cosim import control
from cosim.errors import GuestError
from cosim.workload import fio_verify, verify_only

pytestmark = pytest.mark.faults

IDENTIFY = 0x06
# Identify Controller (NSID 0) and Identify Namespace (NSID 1) byte offsets
MDTS, NN = 77, 516
NSZE = 0
LBAF0 = 128                 # LBA Format 0; LBADS is its byte 2

# data written before the lie, re-read after it (the first 8 MiB)
BEFORE = "--rw=randwrite --bs=4k --size=8M --iodepth=8"
# IO while the lie is in force (the next 8 MiB, so it does not touch BEFORE)
DURING = "--rw=write --bs=128k --offset=8M --size=8M --iodepth=4"
PROBE_TIMEOUT = 120
# the driver is done with the controller when its admin commands and its
# disks stay the same over this many polls in a row, 0.5 s apart
QUIET_POLLS = 4


class Lying:
    """A fault guest whose controller lies in its Identify data, and the
    verifying jobs whose data must survive the lie."""

    def __init__(self, fg, seed):
        self.fg = fg
        self.seed = seed
        self.jobs = []
        self.rules = []

    def write(self, job):
        """A verifying job with this test's own data, re-verified at the end."""
        job = f"{job} --randseed={self.seed + len(self.jobs)}"
        fio_verify(self.fg.guest, self.fg.disk, job)
        self.jobs.append(job)

    def lie(self, nsid, offset, value, width=1):
        """Every Identify for `nsid` (0: the controller) returns `value` at
        `offset` until the test ends."""
        self.rules.append(self.fg.faults.add(
            "patch-data", queue="admin", opcode=IDENTIFY, nsid=nsid, offset=offset,
            width=width, value=value, count=0))

    def probe(self):
        """Reload the driver against the lying controller: {dev: (bytes,
        max_hw_sectors_kb)} of the disks it made.  The driver must bind the
        controller whatever it says (guest.driver.load() fails otherwise) and not
        hang doing so."""
        guest = self.fg.guest
        guest.driver.unload()
        guest.driver.load(wait_disks=False)
        disks = self.settle()
        for rule in self.rules:     # the driver did read the lie
            assert self.fg.faults.hits(rule) >= 1, self.fg.faults.list()
        return {dev: (size, int(guest.run(
                    f"cat /sys/block/{dev[5:]}/queue/max_hw_sectors_kb").output))
                for dev, size in disks}

    def settle(self):
        """Wait until the driver has finished with the controller: both
        drivers probe and scan namespaces in work items after modprobe
        returns, and neither says when the scan is over.  The model's admin
        command count and the disk list standing still for QUIET_POLLS polls
        is taken as the end."""
        guest = self.fg.guest
        deadline = time.monotonic() + PROBE_TIMEOUT
        last, quiet = None, 0
        while quiet < QUIET_POLLS:
            if time.monotonic() > deadline:
                raise GuestError(f"driver still busy with the controller after "
                                 f"{PROBE_TIMEOUT}s: console {guest.console.path}")
            now = (control.stats(guest)["admin-completed"],
                   [(d, s) for d, s, _ in guest.driver.block_devices()])
            # sd attaches to nvme_scsi's LUNs asynchronously, without admin commands
            quiet = quiet + 1 if now == last and not guest.driver.disks_pending() else 0
            last = now
            time.sleep(0.5)
        return last[1]


@pytest.fixture
def lying(fg, request):
    """The fault guest with its first disk holding this test's data; after
    the test the lies are removed, the driver reloaded against the truthful
    controller, and every job's data must read back."""
    lies = Lying(fg, zlib.crc32(request.node.name.encode()))
    lies.write(BEFORE)
    yield lies
    fg.faults.clear()
    fg.guest.driver.unload()
    fg.guest.driver.load()
    for job in lies.jobs:
        verify_only(fg.guest, fg.disk, job)


def identify_ns_flbas(fg):
    """The LBA format the namespace uses (FLBAS bits 3:0), from the truth."""
    out = fg.guest.run(f"nvme id-ns {fg.chardev} -n 1 -o json").output
    return json.loads(out[out.index("{"):])["flbas"] & 0xf


@pytest.mark.parametrize("mdts", [1, 2])
def test_small_mdts_splits_io(lying, mdts):
    """MDTS 1 or 2 (8 or 16 KiB): the driver's transfers stay within it, and
    128 KiB writes still land intact (split by the block layer)."""
    lying.lie(0, MDTS, mdts)
    disks = lying.probe()
    assert disks, "no disk with a small MDTS"
    for dev, (_, kb) in disks.items():
        assert kb <= 4 << mdts, f"{dev}: max_hw_sectors_kb {kb} > MDTS {4 << mdts} KiB"
    lying.write(DURING)


@pytest.mark.smoke
@pytest.mark.parametrize("mdts", [52, 64, 255])
def test_huge_mdts_capped(lying, mdts):
    """MDTS far beyond any transfer (2^(mdts+12) bytes, past 64 bits from
    52 on): the driver caps its transfers at a size it can map, and 128 KiB
    writes work."""
    lying.lie(0, MDTS, mdts)
    disks = lying.probe()
    assert disks, "no disk with a huge MDTS"
    for dev, (_, kb) in disks.items():
        # both drivers' own ceiling is 4 MiB (Linux: NVME_MAX_KB_SZ)
        assert 128 <= kb <= 4096, f"{dev}: max_hw_sectors_kb {kb} after MDTS {mdts}"
    lying.write(DURING)


def test_no_namespaces(lying):
    """NN 0: the controller binds (or is refused with a log line) and no disk
    appears."""
    lying.lie(0, NN, 0, width=4)
    assert lying.probe() == {}


def test_namespace_count_huge(lying):
    """NN FFFFFFFFh: nvme_scsi identifies NSIDs 1..max_luns only and shows
    the one namespace there is.  (Linux 6.1's nvme scans a 1.0 controller's
    NSIDs one by one up to NN, four billion Identify commands: not run.)"""
    if lying.fg.driver == "nvme":
        pytest.skip("Linux's nvme identifies every NSID up to NN on a 1.0 controller")
    lying.lie(0, NN, 0xffffffff, width=4)
    assert len(lying.probe()) == 1


def test_namespace_size_zero(lying):
    """NSZE 0: no disk with blocks to read or write appears."""
    lying.lie(1, NSZE, 0, width=8)
    disks = lying.probe()
    assert all(size == 0 for size, _ in disks.values()), disks


def test_namespace_larger_than_medium(lying):
    """NSZE twice the medium: the disk looks larger, and a read beyond the
    real end fails with an I/O error instead of returning anything."""
    guest = lying.fg.guest
    dev, size, _ = guest.driver.block_devices()[0]
    lba = int(guest.run(f"cat /sys/block/{dev[5:]}/queue/logical_block_size").output)
    lying.lie(1, NSZE, 2 * size // lba, width=8)
    disks = lying.probe()
    assert disks.get(dev, (0,))[0] == 2 * size, disks
    r = guest.run(f"dd if={dev} of=/dev/null bs=4096 count=1 iflag=direct "
                  f"skip={size // 4096 + 8}", check=False)
    assert r.status != 0 and re.search(r"I/O error|Input/output error", r.output), r


@pytest.mark.parametrize("lbads", [0, 8, 32, 255])
def test_unusable_lba_size(lying, lbads):
    """An LBA data size of 2^0, 2^8, 2^32 or 2^255 bytes in the format the
    namespace uses: the driver offers no disk it cannot address correctly
    (none at all, or one of size 0)."""
    fmt = identify_ns_flbas(lying.fg)
    lying.lie(1, LBAF0 + 4 * fmt + 2, lbads)
    disks = lying.probe()
    assert all(size == 0 for size, _ in disks.values()), disks
