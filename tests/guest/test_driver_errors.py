# SPDX-License-Identifier: GPL-2.0-or-later
"""nvme_scsi error handling: IO timeouts escalate to NVMe Abort and then to a
controller reset, and data survives; bad module parameters fail the load."""
import time

import pytest

from cosim import control
from cosim.workload import Fio
from driver_helpers import chardev, first_disk, queue_stats, require_nvme_scsi, scsi_host

pytestmark = pytest.mark.guest


@pytest.fixture
def short_timeouts(guest):
    """The driver reloaded with io_timeout=2; default parameters afterwards."""
    require_nvme_scsi(guest)
    guest.driver.unload()
    guest.driver.load(params=f"{guest.cfg.driver.params} io_timeout=2")
    yield guest
    control.throttle(guest, 1, iops=0)
    guest.driver.unload()
    guest.driver.load()


def test_timeout_abort_then_reset(short_timeouts):
    """A backend stalled (throttled to 1 IOPS) longer than io_timeout: every
    timed-out command first gets an NVMe Abort; a request inside QEMU's block
    layer cannot be cancelled (cosim-nvme accepts the Abort but completes the
    command only when its stalled request returns; QEMU's nvme does not abort
    it), so the second timeout goes to SCSI error handling and a controller
    reset; once the stall ends, fio's verify passes."""
    guest = short_timeouts
    dev, disk = chardev(guest), first_disk(guest)
    if queue_stats(guest, dev)["queues"][1]["depth"] < 16:
        pytest.skip("small IO queues: too few commands out to queue up past io_timeout "
                    "behind a 1 IOPS backend")
    assert guest.run("cat /sys/module/nvme_scsi/parameters/io_timeout").output.strip() == "2"
    timeout = guest.run(f"cat /sys/block/{disk[5:]}/device/timeout").output.strip()
    assert timeout == "2", timeout
    before = queue_stats(guest, dev)
    guest.run("dmesg -c > /dev/null")

    control.throttle(guest, 1, iops=1)
    fio = Fio(guest, disk, "--rw=randwrite --bs=4k --size=1M --iodepth=8").start()
    # stalled long enough for a timeout, the Abort, a second timeout and a reset
    counters = guest.driver.QUEUE_COUNTERS.format(dev[5:])
    guest.wait_until(f"[ $(awk 'NR == 1 {{print $4}}' {counters}) -gt {before['resets']} ]",
                     timeout=60)
    control.throttle(guest, 1, iops=0)
    # The midlayer's error handling ended in that reset, which returns with
    # the controller usable: no settle delay after it (10 s of "recovery",
    # meant for a parallel SCSI bus) keeps the retried commands waiting.
    guest.wait_until(f"grep -qx running /sys/class/scsi_host/{scsi_host(guest, dev)}/state",
                     timeout=5)
    result = fio.wait(timeout=200)
    log = guest.run("dmesg").output
    after = queue_stats(guest, dev)
    assert result.status == 0, f"{result.output[-3000:]}\n{log}"
    assert "timed out, aborting" in log, log
    io_after = [q for qid, q in after["queues"].items() if qid]
    assert sum(q["timeouts"] for q in io_after) > 0, after
    assert sum(q["aborts"] for q in io_after) > 0, after
    assert after["resets"] > before["resets"], (before, after)
    assert after["state"] == "live", after


@pytest.mark.parametrize("param, why", [
    ("io_queue_size=1", "io_queue_size=1: must be 2-4096"),
    ("admin_queue_size=2", "admin_queue_size=2: must be 4-4096"),
    ("io_queue_mode=node", "io_queue_mode=node: must be \"cpu\" or \"numa\""),
    ("max_transfer_size=5000", "max_transfer_size=5000: must be a multiple of 4096 up to 4194304"),
    ("max_luns=0", "max_luns=0: must be 1-256"),
    ("io_timeout=0", "io_timeout=0: must be 1-3600 seconds"),
    ("max_transfer_kb=1", "max_transfer_kb=1: must be 4-4096"),
    ("io_queues=65", "io_queues=65: at most 64"),
    ("irq_coalesce_time=256", "irq_coalesce_time=256: must be 0-255 (x 100 us)"),
    ("irq_coalesce_time=1", "irq_coalesce_thr=1: must be 2-256 with irq_coalesce_time"),
    ("irq_coalesce_thr=8", "irq_coalesce_thr=8: needs irq_coalesce_time"),
])
def test_bad_module_parameter_fails_load(guest, param, why):
    require_nvme_scsi(guest)
    guest.driver.unload()
    try:
        r = guest.run(f"modprobe nvme_scsi {param}", check=False)
        assert r.status != 0, r
        log = guest.run("dmesg | tail -5").output
        assert f"nvme_scsi: {why}" in log, log
        assert guest.run("ls /sys/module/nvme_scsi 2>&1", check=False).status != 0
    finally:
        guest.driver.load()


def test_irq_coalescing_set_at_every_bring_up(guest):
    """irq_coalesce_thr/time reach the controller as Set Features 08h (TIME
    in bits 15:8, THR 0's based) at load, and again after a controller reset,
    which puts the feature back at its default; IO still completes.  QEMU's
    nvme refuses the feature (not changeable): the driver says so and runs
    without it."""
    require_nvme_scsi(guest)
    cosim = guest.cfg.controller.model == "cosim"
    guest.driver.unload()
    try:
        since = guest.run("dmesg | wc -l").output.strip()
        guest.driver.load(params=f"{guest.cfg.driver.params} "
                          "irq_coalesce_thr=8 irq_coalesce_time=2")
        dev = chardev(guest)
        resets = queue_stats(guest, dev)["resets"]
        for when in ("at load", "after a reset"):
            out = guest.run(f"nvme get-feature {dev} -f 8").output
            want = "Current value:0x00000207" if cosim else "Current value:00000000"
            assert want in out, f"{when}: {out}"
            guest.run(f"dd if={first_disk(guest)} of=/dev/null bs=4k count=64 iflag=direct")
            if when == "at load":
                guest.run(f"nvme reset {dev}")
                guest.wait_until(f"grep -q '^state live resets {resets + 1}$' "
                                 f"/sys/kernel/debug/nvme_scsi/{dev[5:]}/queues", timeout=30)
        refused = guest.run(f"dmesg | tail -n +{int(since) + 1} | "
                            "grep -c 'interrupt coalescing not set'", check=False).output.strip()
        assert refused == ("0" if cosim else "2"), f"warnings: {refused}"
    finally:
        guest.run("rmmod nvme_scsi", check=False)
        guest.driver.load()


# ---- with cosim-nvme's fault engine -----------------------------------------

@pytest.fixture
def faulty(short_timeouts):
    guest = short_timeouts
    if guest.cfg.controller.model != "cosim":
        pytest.skip("fault rules are cosim-nvme's")
    from cosim.control import Faults
    faults = Faults(guest)
    yield guest, faults
    faults.clear()


def write_pattern(guest, disk, lba_bytes_off, size=4096):
    guest.run(f"dd if=/dev/urandom of=/tmp/pat bs={size} count=1 2>/dev/null && "
              f"dd if=/tmp/pat of={disk} bs={size} seek={lba_bytes_off // size} "
              f"oflag=direct 2>/dev/null")


def test_dropped_read_is_aborted_and_retried(faulty):
    """The controller drops one Read: after io_timeout the driver sends an
    NVMe Abort, the Read completes with 0/07h (ABORTED COMMAND), the midlayer
    retries it and dd gets the right data; no controller reset."""
    guest, faults = faulty
    dev, disk = chardev(guest), first_disk(guest)
    lba = guest.cfg.namespaces[0].lba_size
    write_pattern(guest, disk, 8 << 20)
    before = queue_stats(guest, dev)
    rule = faults.add("drop", queue="io", opcode=0x02, lba_start=(8 << 20) // lba, count=1)
    out = guest.run(f"dd if={disk} of=/tmp/back bs=4096 skip={(8 << 20) // 4096} count=1 "
                    f"iflag=direct 2>/dev/null && cmp /tmp/pat /tmp/back && echo SAME",
                    timeout=60).output
    assert "SAME" in out, out
    assert faults.hits(rule) == 1
    after = queue_stats(guest, dev)
    io = lambda s, k: sum(q[k] for qid, q in s["queues"].items() if qid)  # noqa: E731
    assert io(after, "aborts") == io(before, "aborts") + 1, (before, after)
    assert io(after, "aborts_failed") == io(before, "aborts_failed"), (before, after)
    assert after["resets"] == before["resets"], (before, after)
    log = guest.run("dmesg | tail -20").output
    assert "timed out, aborting" in log, log


def test_dropped_passthrough_io_is_aborted(faulty):
    """IO passthrough with timeout_ms: the dropped command is aborted and
    its status (0/07h Command Abort Requested) returned to nvme-cli."""
    guest, faults = faulty
    dev = chardev(guest)
    before = queue_stats(guest, dev)
    rule = faults.add("drop", queue="io", opcode=0x02, lba_start=777, count=1)
    r = guest.run(f"nvme io-passthru {dev} --opcode=2 --namespace-id=1 --data-len=512 "
                  f"--read --cdw10=777 --timeout=1000 > /dev/null", check=False, timeout=60)
    assert r.status != 0, r
    assert "Command Abort Requested" in r.output, r
    assert faults.hits(rule) == 1
    after = queue_stats(guest, dev)
    assert after["resets"] == before["resets"], (before, after)
    # the passthrough CID is free again
    guest.run(f"nvme io-passthru {dev} --opcode=2 --namespace-id=1 --data-len=512 "
              f"--read --cdw10=777 > /dev/null")


def test_dropped_admin_command_resets(faulty):
    """An admin command that never completes: the ioctl fails with ETIMEDOUT,
    the controller is reset and comes back live."""
    guest, faults = faulty
    dev = chardev(guest)
    before = queue_stats(guest, dev)
    faults.add("drop", queue="admin", opcode=0x0a, count=1)    # Get Features
    r = guest.run(f"nvme admin-passthru {dev} --opcode=0x0a --cdw10=7 --timeout=1000",
                  check=False, timeout=60)
    assert r.status != 0 and "Connection timed out" in r.output, r
    guest.wait_until(f"grep -q '^state live resets {before['resets'] + 1}$' "
                     f"/sys/kernel/debug/nvme_scsi/{dev[5:]}/queues", timeout=30)
    out = guest.run(f"nvme get-feature {dev} -f 7").output
    assert "Number of Queues" in out, out
    disk = first_disk(guest)
    guest.run(f"dd if={disk} of=/dev/null bs=4096 count=16 iflag=direct")


def test_controller_fatal_status_resets(faulty):
    """CSTS.CFS on an IO command: the timeout handler sees it and resets at
    once (no Abort); the command is retried and completes."""
    guest, faults = faulty
    dev, disk = chardev(guest), first_disk(guest)
    write_pattern(guest, disk, 12 << 20)
    lba = guest.cfg.namespaces[0].lba_size
    before = queue_stats(guest, dev)
    faults.add("cfs", queue="io", opcode=0x02, lba_start=(12 << 20) // lba, count=1)
    out = guest.run(f"dd if={disk} of=/tmp/back bs=4096 skip={(12 << 20) // 4096} count=1 "
                    f"iflag=direct 2>/dev/null && cmp /tmp/pat /tmp/back && echo SAME",
                    timeout=60).output
    assert "SAME" in out, out
    after = queue_stats(guest, dev)
    assert after["resets"] == before["resets"] + 1, (before, after)
    log = guest.run("dmesg | tail -20").output
    assert "controller fatal status" in log, log


def disk_states(guest):
    """{sdX: SCSI device state} of every disk."""
    out = guest.run("for d in /sys/block/sd*; do echo ${d##*/} $(cat $d/device/state); done"
                    ).output
    return dict(line.split() for line in out.splitlines())


def go_dead(guest, faults, dev):
    """Reset with CSTS.RDY never coming back: returns the fault rule and the
    kernel log of the failed reset."""
    rule = faults.add("ready-delay", ms=-1)
    guest.run("dmesg -c > /dev/null")
    r = guest.run(f"nvme reset {dev}", check=False, timeout=120)
    assert r.status != 0, r
    return rule, guest.run("dmesg").output


def test_controller_never_ready_goes_offline(faulty):
    """A reset after which the controller never sets CSTS.RDY: the driver
    gives up after CAP.TO with one clear line, its LUNs go offline, IO fails
    at once instead of hanging, and a later reset (ioctl) brings it back."""
    guest, faults = faulty
    dev, disk = chardev(guest), first_disk(guest)
    sysfs = f"/sys/class/scsi_host/{scsi_host(guest, dev)}"
    rule, log = go_dead(guest, faults, dev)
    assert "waiting for CSTS.RDY=1" in log, log
    dead = [line for line in log.splitlines() if "controller marked dead" in line]
    disks = disk_states(guest)
    assert len(dead) == 1 and f"{len(disks)} SCSI device(s) offline" in dead[0], log
    assert set(disks.values()) == {"offline"}, disks
    assert guest.run(f"cat {sysfs}/nvme_state").output.strip() == "dead"
    assert queue_stats(guest, dev)["state"] == "dead"
    t0 = time.monotonic()
    r = guest.run(f"dd if={disk} of=/dev/null bs=4096 count=1 iflag=direct", check=False,
                  timeout=60)
    assert r.status != 0, r
    r = guest.run(f"nvme io-passthru {dev} --opcode=2 --namespace-id=1 --data-len=512 "
                  "--read", check=False, timeout=60)
    assert r.status != 0 and "No such device" in r.output, r
    assert time.monotonic() - t0 < 20, "IO to a dead controller did not fail at once"

    faults.remove(rule)
    guest.run(f"nvme reset {dev}", timeout=60)
    assert set(disk_states(guest).values()) == {"running"}, disk_states(guest)
    assert guest.run(f"cat {sysfs}/nvme_state").output.strip() == "live"
    guest.run(f"dd if={disk} of=/dev/null bs=4096 count=1 iflag=direct", timeout=60)
    log = guest.run("dmesg").output
    assert f"{len(disks)} SCSI device(s) back online" in log, log


def test_dead_controller_unloads(faulty):
    """rmmod of a dead controller's driver returns (sd's cache flush to the
    offline LUN fails at once) and the module loads again afterwards."""
    guest, faults = faulty
    dev = chardev(guest)
    rule, _ = go_dead(guest, faults, dev)
    io_timeout = guest.run("cat /sys/module/nvme_scsi/parameters/io_timeout").output.strip()
    guest.run("rmmod nvme_scsi", timeout=60)
    assert guest.run("ls /sys/block/ | grep -c '^sd'", check=False).output.strip() == "0"
    faults.remove(rule)
    guest.driver.load(params=f"{guest.cfg.driver.params} io_timeout={io_timeout}")
    assert queue_stats(guest, chardev(guest))["state"] == "live"


def test_queue_parameters(guest):
    """io_queue_mode=numa: one IO queue per NUMA node (the guest has one);
    io_queue_size and admin_queue_size shape the queues; max_transfer_size
    caps the transfer size (and VPD B0)."""
    require_nvme_scsi(guest)
    host = None
    try:
        guest.driver.unload()
        guest.driver.load(params="io_queue_mode=numa io_queue_size=64 admin_queue_size=16 "
                                 "max_transfer_size=65536")
        dev = chardev(guest)
        host = guest.run(f"cat /sys/class/nvme_scsi/{dev[5:]}/host").output.strip()
        sysfs = f"/sys/class/scsi_host/{host}"
        assert guest.run(f"cat {sysfs}/nvme_io_queues").output.strip() == "1"
        # io_queue_size is capped by CAP.MQES+1; up to 4 slots (at most half) kept back
        mqes = (guest.cfg.controller.mqes or 0) if guest.cfg.controller.model == "cosim" else 0
        depth = min(64, mqes + 1) if mqes else 64
        assert guest.run(f"cat {sysfs}/nvme_queue_depth").output.strip() == str(depth)
        assert guest.run(f"cat {sysfs}/can_queue").output.strip() == \
            str(depth - 1 - min(4, (depth - 1) // 2))
        assert guest.run(f"cat {sysfs}/nvme_max_transfer_kb").output.strip() == "64"
        stats = queue_stats(guest, dev)
        assert stats["queues"][0]["depth"] == 16 and stats["queues"][1]["depth"] == depth, stats
        disk = first_disk(guest)
        bl = guest.run(f"sg_vpd -p 0xb0 {disk}").output
        lba = guest.cfg.namespaces[0].lba_size
        assert f"Maximum transfer length: {65536 // lba} blocks" in bl, bl
        guest.run(f"dd if={disk} of=/dev/null bs=1M count=4 iflag=direct")
    finally:
        guest.driver.unload()
        guest.driver.load()
