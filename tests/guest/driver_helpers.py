# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers for the nvme_scsi driver's own guest tests (test_driver_*.py)."""
import re
from contextlib import contextmanager

import pytest

from cosim import config

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
    has ended (its IO then has passthrough commands beside it); fails if
    any read failed or fewer than @at_least ran."""
    blocks = 4096 // guest.cfg.namespaces[0].lba_size
    guest.run(f"rm -f /tmp/pt_stop /tmp/pt_started; (i=0; until [ -e /tmp/pt_stop ]; do "
              f"nvme io-passthru {dev} --opcode=2 --namespace-id=1 --data-len=4096 --read "
              f"--cdw10=$((i % 256 * {blocks})) --cdw12={blocks - 1} > /dev/null 2>&1 || "
              f"echo PTFAIL $i; i=$((i+1)); touch /tmp/pt_started; done; echo done $i) "
              f"> /tmp/pt_loop 2>&1 &")
    guest.wait_until("[ -e /tmp/pt_started ]")
    try:
        yield
    finally:
        guest.run("touch /tmp/pt_stop")
    guest.wait_until("grep -q '^done' /tmp/pt_loop", timeout=60)
    out = guest.run("cat /tmp/pt_loop").output.strip()
    assert re.fullmatch(r"done \d+", out), f"passthrough reads failed:\n{out}"
    assert int(out.split()[1]) >= at_least, f"only {out.split()[1]} passthrough reads ran"
