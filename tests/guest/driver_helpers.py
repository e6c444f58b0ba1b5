"""Helpers for the nvme_scsi driver's own guest tests (test_driver_*.py)."""
import re

import pytest

MIB = 1 << 20


def require_nvme_scsi(guest):
    if guest.cfg.driver.name != "nvme_scsi":
        pytest.skip("nvme_scsi's own interface")


def chardev(guest):
    """/dev/nvme_scsiN of the (first) controller."""
    out = guest.run("ls /sys/class/nvme_scsi/").output.split()
    names = sorted(n for n in out if re.fullmatch(r"nvme_scsi\d+", n))
    assert names, f"no nvme_scsi char device in /sys/class/nvme_scsi: {out}"
    return f"/dev/{names[0]}"


def scsi_host(guest, dev):
    """hostN of the SCSI host behind char device @dev."""
    name = dev.rsplit("/", 1)[1]
    return guest.run(f"cat /sys/class/nvme_scsi/{name}/host").output.strip()


def first_disk(guest):
    devs = guest.block_devices()
    assert devs, "the driver created no block device"
    return devs[0][0]


def queue_stats(guest, dev):
    """{"state":, "resets":, "queues": {qid: {column: int}}} from debugfs."""
    name = dev.rsplit("/", 1)[1]
    out = guest.run(f"cat /sys/kernel/debug/nvme_scsi/{name}/queues").output
    lines = out.strip().splitlines()
    head = lines[0].split()
    stats = {"state": head[1], "resets": int(head[3]), "queues": {}}
    cols = lines[1].split()
    for line in lines[2:]:
        vals = [int(v) for v in line.split()]
        stats["queues"][vals[0]] = dict(zip(cols, vals))
    return stats


def fio(guest, dev, *opts, timeout=600):
    """fio with a checksum in every block; fails the test if fio reports an error."""
    cmd = (f"fio --name=verify --filename={dev} --direct=1 --ioengine=libaio "
           f"--verify=crc32c --verify_fatal=1 --randrepeat=1 --output-format=terse "
           f"--terse-version=3 {' '.join(opts)}")
    result = guest.run(cmd, timeout=timeout, check=False)
    assert result.status == 0, f"fio failed:\n{result}"
    return result
