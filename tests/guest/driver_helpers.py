# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers for the nvme_scsi driver's own guest tests (test_driver_*.py)."""
import re
from contextlib import contextmanager

import pytest

from cosim import config
from cosim.errors import GuestError

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
    devs = guest.driver.block_devices()
    assert devs, "the driver created no block device"
    return devs[0][0]


def queue_stats(guest, dev):
    """The driver's debugfs counters of the controller behind char device `dev`."""
    return guest.driver.queue_counters(dev.rsplit("/", 1)[1])


def nvme_scsi_config(named=None, why="nvme_scsi's own interface"):
    """The config from the environment (or configs/<named>.toml with the
    environment's model and driver); the test is skipped, saying `why`,
    unless the driver is nvme_scsi."""
    env = config.from_env()
    if env.driver.name != "nvme_scsi":
        pytest.skip(why)
    if named is None:
        return env
    return config.named(named, model=env.controller.model, driver=env.driver.name)


def check_console(guest, since):
    problems = guest.console_problems(since)
    assert not problems, ("guest console shows trouble:\n  " + "\n  ".join(problems[:10]) +
                          f"\n  console: {guest.console.path}")


def reload_driver(guest, params, disks):
    """Reload nvme_scsi with @params and wait for @disks SCSI disks."""
    guest.run("rmmod nvme_scsi")
    guest.run(f"modprobe nvme_scsi {params}", timeout=120)
    wait_disks(guest, disks)


def wait_disks(guest, disks, timeout=60):
    guest.wait_until(f"[ $(ls -d /sys/block/sd* 2>/dev/null | wc -l) -eq {disks} ]",
                     timeout=timeout)


def luns(guest):
    """{lun: size_bytes} of the SCSI disks."""
    return {int(addr.split(":")[3]): size for _, size, addr in guest.driver.block_devices()}


def id_ctrl(guest, field):
    """An integer field of Identify Controller (nvme-cli through the char device)."""
    out = guest.run(f"nvme id-ctrl {chardev(guest)}").output
    m = re.search(rf"^{field}\s+: (\S+)$", out, re.M)
    assert m, out
    return int(m.group(1), 0)


@contextmanager
def passthrough_reads(guest, dev, at_least=5):
    """IO passthrough reads of 4 KiB from namespace 1 through char device
    @dev, one after another from before the block's body starts until it
    has ended; fails if any read failed or fewer than @at_least completed
    while the body ran.  Each call has a directory of its own: a loop a
    failed body left behind cannot answer for the next."""
    blocks = 4096 // guest.cfg.namespaces[0].lba_size
    d = guest.run("mktemp -d /tmp/ptreads.XXXXXX").output.strip()
    count = f"wc -l < {d}/count"     # a line per read, appended whole
    try:
        guest.run(f"(i=0; until [ -e {d}/stop ]; do nvme io-passthru {dev} --opcode=2 "
                  f"--namespace-id=1 --data-len=4096 --read --cdw10=$((i % 256 * {blocks})) "
                  f"--cdw12={blocks - 1} > /dev/null 2>&1 || echo PTFAIL $i; i=$((i+1)); "
                  f"echo >> {d}/count; done; echo done $i) > {d}/log 2>&1 &")
        guest.wait_until(f"[ -s {d}/count ]")
        first = int(guest.run(count).output)
        yield
        ran = int(guest.run(count).output) - first
    finally:
        try:
            guest.run(f"touch {d}/stop")
        except GuestError:
            pass                # the guest is gone: say what failed first
    guest.wait_until(f"grep -q '^done' {d}/log", timeout=60)
    out = guest.run(f"cat {d}/log; rm -rf {d}").output.strip()
    assert re.fullmatch(r"done \d+", out), f"passthrough reads failed:\n{out}"
    assert ran >= at_least, f"only {ran} passthrough reads completed beside the workload"
