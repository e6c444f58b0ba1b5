# SPDX-License-Identifier: GPL-2.0-or-later
"""nvme_scsi against a controller that sends what a well-behaved one would
not: any status on any command (0x370/0x371 included, which the driver once
used for its own "cancelled" and "dead" outcomes), and late completions for
command identifiers the driver has since reused; a Format NVM through its
passthrough device that changes the LBA size under the disks.  cosim-nvme
only: the faults come from its fault engine."""
import re

import pytest

from cosim import config, control
from cosim.control import Faults
from cosim.fixtures import module_guest
from cosim.workload import fio_verify, verify_only
from driver_helpers import (chardev, check_console, first_disk, id_ctrl, nvme_scsi_config,
                            queue_stats, wait_disks)

pytestmark = pytest.mark.guest

SIZES = [64, 32]
# SCT 3 / SC 70h and 71h: statuses a controller can send (NVMe 1.4 path
# related statuses) that equal Linux's host-only NVME_SC_HOST_PATH_ERROR and
# NVME_SC_HOST_ABORTED_CMD
HOST_CODES = [0x70, 0x71]


@pytest.fixture(scope="module")
def hostile():
    """Two namespaces, the namespace notice AEN on (so the driver keeps an
    Asynchronous Event Request outstanding)."""
    cfg = nvme_scsi_config()
    if cfg.controller.model != "cosim":
        pytest.skip("the faults are cosim-nvme's")
    cfg.namespaces = [config.Namespace(size_mib=s) for s in SIZES]
    cfg.controller.ns_notice_aen = True
    yield from module_guest(cfg, "hostile")


@pytest.fixture
def g(hostile):
    faults = Faults(hostile)
    since = hostile.console.size()
    hostile.run("dmesg -c > /dev/null")
    yield hostile, faults
    faults.clear()
    check_console(hostile, since)


@pytest.mark.parametrize("sc", HOST_CODES)
def test_device_status_0x37x_reaches_passthrough(g, sc):
    """A Get Features the controller fails with SCT 3 / SC 7xh: nvme-cli gets
    that NVMe status, not an errno the driver keeps for its own outcomes
    (EINTR: cancelled by a reset; ENODEV: controller dead)."""
    guest, faults = g
    dev = chardev(guest)
    rule = faults.add("status", queue="admin", opcode=0x0a, sct=3, sc=sc, count=1)
    r = guest.run(f"nvme get-feature {dev} -f 7", check=False, timeout=60)
    assert faults.hits(rule) == 1
    assert r.status != 0, r
    assert f"(0x3{sc:02x})" in r.output, r
    assert "Interrupted" not in r.output and "No such device" not in r.output, r
    # the controller is fine and so is the driver
    assert "Number of Queues" in guest.run(f"nvme get-feature {dev} -f 7").output


@pytest.mark.parametrize("sc", HOST_CODES)
def test_aer_failed_with_0x37x_is_rearmed(g, sc):
    """The controller fails an Asynchronous Event Request with SCT 3 /
    SC 7xh: the driver logs it and sends another AER, so a later namespace
    change is still noticed (the LUN goes without a rescan)."""
    guest, faults = g
    dev = chardev(guest)
    rule = faults.add("status", queue="admin", opcode=0x0c, sct=3, sc=sc, count=1)
    # the AER outstanding now was fetched before the rule: a reset re-arms it
    guest.run(f"nvme reset {dev}")
    faults.wait_hit(rule, timeout=30)

    control.remove_namespace(guest, 2)
    try:
        wait_disks(guest, 1, timeout=30)
    finally:
        control.add_namespace(guest, 2, SIZES[1])
    wait_disks(guest, 2, timeout=30)
    log = guest.run("dmesg").output
    assert f"Asynchronous Event Request failed: status 0x3{sc:02x}, sending another" in log, log


# ---- late completions: CID generations -----------------------------------------

def add_stale(faults, **match):
    """A stale-completion rule: the command completes, and the same
    completion is posted again when the next command on its SQ is fetched."""
    try:
        return faults.add("stale-completion", **match)
    except control.QMPError as e:
        if "must be one of" in str(e):
            pytest.skip(f"this cosim-nvme has no stale-completion action: {e}")
        raise


def test_stale_admin_completion_is_dropped(g):
    """Get Features (Number of Queues) completes, and its completion comes
    again just before the next admin command runs, which has the same CID
    index (the lowest free admin slot).  Ending that command with it would
    hand nvme-cli the old dword 0; the generation in the CID tells the copy
    apart: it is dropped and Get Features (Temperature Threshold) reads
    right."""
    guest, faults = g
    dev = chardev(guest)
    want = guest.run(f"nvme get-feature {dev} -f 4").output
    rule = add_stale(faults, queue="admin", opcode=0x0a, count=1)
    guest.run(f"nvme get-feature {dev} -f 7")
    got = guest.run(f"nvme get-feature {dev} -f 4").output
    assert faults.hits(rule) == 1
    assert got == want
    log = guest.run("dmesg").output
    assert "qid 0: stale completion for command id" in log, log


def test_stale_io_completion_is_dropped(g):
    """The same on an IO queue: a passthrough Read's completion comes again
    just before the next passthrough Read (same CPU, so the same queue and
    the same driver CID index) runs, and that one is slow.  Taken as that
    Read's, the copy would end it before any data moved (nvme-cli gets
    zeroes, and the controller then writes into a freed buffer); dropped,
    both Reads return their data."""
    guest, faults = g
    dev = chardev(guest)
    # NSID 1: LUN 0, whatever sd name it got (sd probes LUNs in parallel)
    disk = next(d for d, _, addr in guest.driver.block_devices() if addr.endswith(":0"))
    lba = guest.cfg.namespaces[0].lba_size
    offs = (1 << 20, 2 << 20)
    for i, off in enumerate(offs):
        guest.run(f"dd if=/dev/urandom of=/tmp/stale{i} bs=4096 count=1 2>/dev/null && "
                  f"dd if=/tmp/stale{i} of={disk} bs=4096 seek={off // 4096} oflag=direct "
                  "2>/dev/null")
    rule = add_stale(faults, queue="io", opcode=0x02, lba_start=offs[0] // lba,
                     lba_end=offs[0] // lba, count=1)
    # the second Read takes its time, as a real medium may
    faults.add("delay", queue="io", opcode=0x02, lba_start=offs[1] // lba,
               lba_end=offs[1] // lba, delay_us=300000, count=1)
    for i, off in enumerate(offs):
        guest.run(f"taskset -c 0 nvme io-passthru {dev} --opcode=2 --namespace-id=1 "
                  f"--data-len=4096 --read --cdw10={off // lba} --cdw12={4096 // lba - 1} "
                  f"-b > /tmp/stale{i}.back")
    assert faults.hits(rule) == 1
    out = guest.run("cmp /tmp/stale0 /tmp/stale0.back && cmp /tmp/stale1 /tmp/stale1.back "
                    "&& echo SAME", check=False).output
    assert "SAME" in out, out
    log = guest.run("dmesg").output
    assert "stale completion for command id" in log, log


def test_stale_completions_under_fio(g):
    """Five Reads of a random-read verify pass have their completions posted
    again, late: each copy is dropped, whether its CID is idle by then
    ("unknown command id") or in use again ("stale completion"), and every
    block still verifies."""
    guest, faults = g
    disk = first_disk(guest)
    opts = "--rw=randwrite --bs=4k --size=8M --iodepth=16"
    fio_verify(guest, disk, opts)
    rule = add_stale(faults, queue="io", opcode=0x02, count=5)
    verify_only(guest, disk, opts)
    assert faults.hits(rule) == 5, faults.list()
    log = guest.run("dmesg").output
    dropped = [line for line in log.splitlines()
               if "stale completion for command id" in line or "unknown command id" in line]
    # a copy waits for the next command fetched on its SQ (the last may not be out yet)
    assert dropped, log


# ---- abandoned commands and bus mastering ---------------------------------------

def bus_master(guest):
    """The Bus Master Enable bit of the controller's PCI command register."""
    bdf = guest.run(f"readlink /sys/class/nvme_scsi/{chardev(guest)[5:]}/device"
                    ).output.strip().rsplit("/", 1)[1]
    out = guest.run(f"dd if=/sys/bus/pci/devices/{bdf}/config bs=1 skip=4 count=1 "
                    "2>/dev/null | od -An -tu1").output
    return bool(int(out) & 0x4)


@pytest.fixture
def short_admin_timeout(g):
    guest, faults = g
    guest.driver.unload()
    guest.driver.load(params="admin_timeout=2")
    yield guest, faults
    faults.clear()
    guest.driver.unload()
    guest.driver.load()


@pytest.mark.parametrize("opcode, nsid", [(0x05, None), (0x06, 1)],
                         ids=["create-io-cq", "identify-namespace"])
def test_abandoned_command_inside_reset(short_admin_timeout, opcode, nsid):
    """Create I/O CQ, or the namespace scan's Identify, dropped during a
    controller reset: the reset's own command is abandoned (the controller
    disabled under the reset lock the reset already holds, no deadlock), the
    reset fails, the controller is marked dead; the next reset brings it
    back.  (A scan that fails on a live controller keeps the LUN table.)"""
    guest, faults = short_admin_timeout
    dev = chardev(guest)
    match = {} if nsid is None else {"nsid": nsid}
    rule = faults.add("drop", queue="admin", opcode=opcode, count=1, **match)
    guest.run("dmesg -c > /dev/null")
    r = guest.run(f"nvme reset {dev}", check=False, timeout=60)
    assert r.status != 0, r
    assert faults.hits(rule) == 1
    log = guest.run("dmesg").output
    assert "disabling controller after a command timeout" in log, log
    assert "controller marked dead" in log, log
    guest.run(f"nvme reset {dev}", timeout=60)
    assert queue_stats(guest, dev)["state"] == "live"
    guest.run(f"dd if={first_disk(guest)} of=/dev/null bs=4096 count=16 iflag=direct")


def test_dead_controller_loses_bus_mastering(g):
    """A reset after which the controller never becomes ready again: before
    the driver fails the outstanding commands and reuses their memory, the
    function loses bus mastering, so a controller that ignores CC.EN cannot
    DMA into it; a reset that succeeds turns it back on."""
    guest, faults = g
    dev = chardev(guest)
    assert bus_master(guest)
    rule = faults.add("ready-delay", ms=-1)
    r = guest.run(f"nvme reset {dev}", check=False, timeout=120)
    assert r.status != 0, r
    assert queue_stats(guest, dev)["state"] == "dead"
    assert not bus_master(guest), "bus mastering still on with the controller given up"
    faults.remove(rule)
    guest.run(f"nvme reset {dev}", timeout=60)
    assert queue_stats(guest, dev)["state"] == "live"
    assert bus_master(guest)
    guest.run(f"dd if={first_disk(guest)} of=/dev/null bs=4096 count=16 iflag=direct")


# ---- Format NVM through the passthrough device ------------------------------------

def lba_format(guest, dev, lbads):
    """Index of the namespace's LBA format with 2^lbads byte LBAs and no metadata."""
    out = guest.run(f"nvme id-ns {dev} -n 1").output
    m = re.search(rf"^lbaf\s+(\d+)\s*:\s*ms:0\s+lbads:{lbads}\b", out, re.M)
    if not m:
        pytest.skip(f"namespace 1 has no LBA format of 2^{lbads} bytes:\n{out}")
    return int(m.group(1))


def test_format_through_passthrough_revalidates(g):
    """Format NVM of NSID 1 to 4 KiB LBAs and back, sent with admin-passthru
    (which, unlike `nvme format`, asks for no rescan afterwards): the driver
    holds the LUN's IO while the format runs and identifies the namespace
    again, so the disk's logical block size follows (and the LUN reports
    CAPACITY DATA HAS CHANGED), and data written and read back at each size
    is intact.  With the old LBA size kept, a 4 KiB
    read would have the controller move 32 KiB into a 4 KiB buffer."""
    guest, _ = g
    dev = chardev(guest)
    if not id_ctrl(guest, "oacs") & 0x2:
        pytest.skip("Format NVM not advertised")
    disk = next(d for d, _, addr in guest.driver.block_devices() if addr.endswith(":0"))
    lbs = f"/sys/block/{disk[5:]}/queue/logical_block_size"
    formats = [(lba_format(guest, dev, 12), 4096), (lba_format(guest, dev, 9), 512)]
    out = guest.run(f"nvme id-ns {dev} -n 1").output
    in_use = int(re.search(r"^lbaf\s+(\d+)\s*:.*\(in use\)", out, re.M).group(1))
    changed = "dmesg | grep -c 'Capacity data has changed' || true"
    before = int(guest.run(changed).output)
    try:
        for seed, (lbaf, size) in enumerate(formats, 1):
            guest.run(f"nvme admin-passthru {dev} --opcode=0x80 --namespace-id=1 "
                      f"--cdw10={lbaf} --timeout=60000", timeout=120)
            guest.wait_until(f"[ $(cat {lbs}) = {size} ]", timeout=60)
            # the LUN said so too, once: CAPACITY DATA HAS CHANGED (2Ah/09h)
            guest.wait_until(f"[ $({changed}) -ge {before + seed} ]", timeout=30)
            count = int(guest.run(changed).output)
            assert count == before + seed, f"{count - before} capacity changes for {seed} formats"
            fio_verify(guest, disk, f"--rw=randwrite --bs=4k --size=4M --iodepth=8 "
                                    f"--randseed={seed}")
    finally:
        guest.run(f"nvme admin-passthru {dev} --opcode=0x80 --namespace-id=1 "
                  f"--cdw10={in_use} --timeout=60000", timeout=120, check=False)
