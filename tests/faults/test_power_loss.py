# SPDX-License-Identifier: GPL-2.0-or-later
"""Durability across a power loss, for both drivers.  The fault guests'
namespaces have a volatile write cache (VOLATILE_CACHE_MB): a Write is
durable only once a Flush completed after it, or with FUA, or with the
cache off.  control.power_loss() drops everything else and restarts the
controller; the driver finds out through its timeouts and resets it.

Each case lays down data the application made durable (fio's end_fsync:
fsync on the block device, which the block layer turns into a Flush or
SYNCHRONIZE CACHE), writes over it without fsync, and cuts the power: the
durable data must read back, and the unflushed data must be gone -- the
proof that the cache really lost something.  With the driver's Flush
suppressed by a fault rule (completed with success, never run) the same
case must fail."""
import pytest

from cosim import control
from cosim.errors import GuestError
from cosim.workload import fio_verify, verify_only

pytestmark = pytest.mark.faults

JOB = "--rw=randwrite --bs=4k --size=8M --iodepth=8 --cpus_allowed=0"
DURABLE = f"{JOB} --end_fsync=1"
SECTORS = (8 << 20) // 512      # what one pass of JOB writes
CAUGHT = ("verify failed at file", "bad pattern")
FLUSH = 0x00


def reads_back(fg, opts):
    """The verify-only pass of the last job with @opts: (passed, what fio said).
    Its first reads find the controller without power and time out: the
    driver resets it."""
    try:
        verify_only(fg.guest, fg.disk, opts)
    except GuestError as e:
        return False, str(e)
    return True, ""


def flush(fg):
    """fsync the disk (a Flush): what earlier cases left in the cache is
    durable, so the sectors a power loss counts are this case's."""
    fg.guest.run(f"dd of={fg.disk} bs=512 count=0 conv=fsync status=none")


def durable_then_cached(fg):
    """fsynced data under data never flushed, then the power goes: sectors lost."""
    flush(fg)
    fio_verify(fg.guest, fg.disk, DURABLE)
    fio_verify(fg.guest, fg.disk, JOB)
    return control.power_loss(fg.guest)


@pytest.mark.smoke
def test_fsynced_writes_survive_power_loss(fg, record):
    lost = durable_then_cached(fg)
    assert lost == SECTORS, f"the cache lost {lost} sectors, the unflushed job wrote {SECTORS}"
    passed, said = reads_back(fg, DURABLE)
    assert passed, f"fsynced data did not survive the power loss:\n{said[-3000:]}"
    passed, said = reads_back(fg, JOB)
    assert not passed, "data never flushed read back after the power loss"
    assert any(c in said for c in CAUGHT), said[-3000:]
    record()


def test_power_loss_without_flush_is_caught(fg, record):
    rule = fg.faults.add("status", queue="io", opcode=FLUSH, sc=0, count=0)
    lost = durable_then_cached(fg)
    assert fg.faults.hits(rule) >= 1, "fsync sent no Flush to the controller"
    fg.faults.remove(rule)
    # the same region both times: each sector goes back to before either job
    assert lost == SECTORS, f"lost {lost} sectors"
    passed, said = reads_back(fg, DURABLE)
    assert not passed, "the verdict passed although no Flush ran before the power loss"
    assert any(c in said for c in CAUGHT), f"failed without naming the block:\n{said[-3000:]}"
    record()


def test_write_through_survives_power_loss(fg, record):
    """sd's cache_type "write through" (MODE SELECT, WCE=0) turns the cache
    off: completed writes are durable without fsync -- also after the reset
    the first power loss forces, which puts Write Cache Enable back at its
    default unless the driver sets it again."""
    if fg.driver != "nvme_scsi":
        pytest.skip("Linux's nvme offers no switch for the volatile write cache")
    g = fg.guest
    addr = g.run(f"basename $(readlink -f /sys/block/{fg.disk[5:]}/device)").output.strip()
    cache_type = f"/sys/class/scsi_disk/{addr}/cache_type"
    flush(fg)
    g.run(f"echo 'write through' > {cache_type}")
    try:
        for n in (1, 2):
            opts = f"{JOB} --offset={n * 8}M"
            fio_verify(g, fg.disk, opts)
            assert control.power_loss(g) == 0, f"power loss {n} lost written data"
            passed, said = reads_back(fg, opts)
            assert passed, f"after power loss {n}:\n{said[-3000:]}"
    finally:
        g.run(f"echo 'write back' > {cache_type}")
    record()
