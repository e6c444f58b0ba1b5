"""nvme_scsi error handling: IO timeouts escalate to NVMe Abort and then to a
controller reset, and data survives; bad module parameters fail the load."""
import time

import pytest

from driver_helpers import chardev, first_disk, queue_stats, require_nvme_scsi

pytestmark = pytest.mark.guest

THROTTLE_OFF = dict(bps=0, bps_rd=0, bps_wr=0, iops=0, iops_rd=0, iops_wr=0)


def throttle(guest, iops):
    args = dict(THROTTLE_OFF, iops=iops)
    r = guest.vm.qmp("block_set_io_throttle", conv_keys=False, device="drv1", **args)
    assert "error" not in r, r


@pytest.fixture
def short_timeouts(guest):
    """The driver reloaded with io_timeout=2; default parameters afterwards."""
    require_nvme_scsi(guest)
    guest.unload_driver()
    guest.load_driver(params=f"{guest.cfg.driver.params} io_timeout=2")
    yield guest
    throttle(guest, 0)
    guest.unload_driver()
    guest.load_driver()


def test_timeout_abort_then_reset(short_timeouts):
    """A backend stalled (throttled to 1 IOPS) longer than io_timeout: every
    timed-out command first gets an NVMe Abort; neither model can abort a
    command at its block layer, so the second timeout goes to SCSI error
    handling and a controller reset; once the stall ends, fio's verify
    passes."""
    guest = short_timeouts
    dev, disk = chardev(guest), first_disk(guest)
    assert guest.run("cat /sys/module/nvme_scsi/parameters/io_timeout").output.strip() == "2"
    timeout = guest.run(f"cat /sys/block/{disk[5:]}/device/timeout").output.strip()
    assert timeout == "2", timeout
    before = queue_stats(guest, dev)
    guest.run("dmesg -c > /dev/null")

    throttle(guest, 1)
    guest.run(f"(fio --name=verify --filename={disk} --direct=1 --ioengine=libaio "
              f"--verify=crc32c --verify_fatal=1 --rw=randwrite --bs=4k --size=1M "
              f"--iodepth=8 --output-format=terse > /tmp/fio_to 2>&1; "
              f"echo rc=$? > /tmp/fio_to.rc) &")
    # stall long enough for timeout, abort, second timeout and a reset
    deadline = time.time() + 60
    while time.time() < deadline:
        if queue_stats(guest, dev)["resets"] > before["resets"]:
            break
        time.sleep(1)
    throttle(guest, 0)
    out = guest.run("n=0; while [ ! -e /tmp/fio_to.rc ] && [ $n -lt 1200 ]; do "
                    "n=$((n+1)); sleep 0.1; done; cat /tmp/fio_to.rc /tmp/fio_to",
                    timeout=200).output
    log = guest.run("dmesg").output
    after = queue_stats(guest, dev)
    assert "rc=0" in out, f"{out}\n{log}"
    assert "timed out, aborting" in log, log
    io_after = [q for qid, q in after["queues"].items() if qid]
    assert sum(q["timeouts"] for q in io_after) > 0, after
    assert sum(q["aborts"] for q in io_after) > 0, after
    assert after["resets"] > before["resets"], (before, after)
    assert after["state"] == "live", after


@pytest.mark.parametrize("param, why", [
    ("io_queue_size=3", "io_queue_size=3: must be 6-4096"),
    ("admin_queue_size=2", "admin_queue_size=2: must be 4-4096"),
    ("io_queue_mode=node", "io_queue_mode=node: must be \"cpu\" or \"numa\""),
    ("max_transfer_size=5000", "max_transfer_size=5000: must be a multiple of 4096 up to 4194304"),
    ("max_luns=0", "max_luns=0: must be 1-256"),
    ("io_timeout=0", "io_timeout=0: must be 1-3600 seconds"),
    ("max_transfer_kb=1", "max_transfer_kb=1: must be 4-4096"),
    ("io_queues=65", "io_queues=65: at most 64"),
])
def test_bad_module_parameter_fails_load(guest, param, why):
    require_nvme_scsi(guest)
    guest.unload_driver()
    try:
        r = guest.run(f"modprobe nvme_scsi {param}", check=False)
        assert r.status != 0, r
        log = guest.run("dmesg | tail -5").output
        assert f"nvme_scsi: {why}" in log, log
        assert guest.run("ls /sys/module/nvme_scsi 2>&1", check=False).status != 0
    finally:
        guest.load_driver()
