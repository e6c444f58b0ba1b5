# SPDX-License-Identifier: GPL-2.0-or-later
"""Layer 3: a Linux guest with the NVMe driver loaded, doing real IO against
the controller model: identity, capacity, data that survives a driver reload,
and load/unload cycles."""
import re

import pytest

from cosim import control
from cosim.workload import fio_verify

pytestmark = pytest.mark.guest

MIB = 1 << 20


def first_disk(guest):
    devs = guest.driver.block_devices()
    assert devs, "the driver created no block device"
    return devs[0]


def test_lun_matches_namespace(guest):
    """LUN 0 on channel 0, target 0 is namespace 1, with its configured size."""
    dev, size, addr = first_disk(guest)
    assert size == guest.cfg.namespaces[0].size_mib * MIB
    if guest.cfg.driver.name == "nvme_scsi":
        assert re.fullmatch(r"\d+:0:0:0", addr), addr


def test_inquiry_and_read_capacity(guest):
    if guest.cfg.driver.name != "nvme_scsi":
        pytest.skip("SCSI translation is nvme_scsi's")
    dev = first_disk(guest)[0]
    inq = guest.run(f"sg_inq {dev}").output
    assert "PQual=0  PDT=0" in inq, inq                 # a connected direct-access disk
    assert re.search(r"Vendor identification: NVMe", inq), inq

    cap = guest.run(f"sg_readcap --long {dev}").output
    blocks = guest.cfg.namespaces[0].size_mib * MIB // 512
    assert f"Last LBA={blocks - 1} " in cap, cap
    assert "Logical block length=512 bytes" in cap, cap

    cap10 = guest.run(f"sg_readcap {dev}").output
    assert f"Last LBA={blocks - 1} " in cap10, cap10

    luns = guest.run(f"sg_luns {dev}").output
    assert re.findall(r"^\s+([0-9a-f]{16})", luns, re.M) == ["0" * 16], luns


def test_unsupported_command_is_illegal_request(guest):
    if guest.cfg.driver.name != "nvme_scsi":
        pytest.skip("SCSI translation is nvme_scsi's")
    dev = first_disk(guest)[0]
    # 0xC2 is vendor specific: no NVMe translation exists for it.
    result = guest.run(f"sg_raw {dev} c2 00 00 00 00 00", check=False)
    assert result.status != 0
    assert "Illegal Request" in result.output, result
    assert "Invalid command operation code" in result.output, result


def test_64mib_survive_driver_reload(guest):
    """Write 64 MiB with checksums, unload and reload the driver, verify."""
    dev = first_disk(guest)[0]
    common = "--rw=write --bs=128k --size=64M --iodepth=16"
    fio_verify(guest, dev, common, "--do_verify=0")
    guest.driver.unload()
    assert guest.driver.block_devices() == []
    guest.driver.load()
    dev = first_disk(guest)[0]
    fio_verify(guest, dev, common, "--verify_only=1")


def test_reload_cycles_with_io(guest):
    for cycle in range(3):
        guest.driver.unload()
        guest.driver.load()
        dev = first_disk(guest)[0]
        fio_verify(guest, dev, "--rw=randwrite --bs=4k --size=8M --iodepth=8",
                   f"--offset={cycle * 8}M --verify_backlog=64")


def test_linux_nvme_driver_sees_namespace(nvme_guest):
    """Linux's own nvme driver against the same controller: right size, IO verifies."""
    dev, size, _ = first_disk(nvme_guest)
    assert re.fullmatch(r"/dev/nvme\dn1", dev), dev
    assert size == nvme_guest.cfg.namespaces[0].size_mib * MIB
    fio_verify(nvme_guest, dev, "--rw=randwrite --bs=4k --size=16M --iodepth=16")


# (pattern, fio options): random and sequential, block sizes across 4 KiB-128 KiB
PATTERNS = {
    "random": "--rw=randwrite --bsrange=4k-128k",
    "sequential": "--rw=write --bsrange=4k-128k",
}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_linux_nvme_verify_on_every_io_queue(nvme_guest, pattern):
    """Linux's nvme with one job pinned to each vCPU, so each of its IO queues
    carries IO: random and sequential writes of 4-128 KiB all verify, and on
    cosim-nvme the model saw commands on every IO queue."""
    g = nvme_guest
    dev = first_disk(g)[0]
    cpus = g.cfg.machine.cpus
    model = g.cfg.controller.model == "cosim"
    before = control.stats(g)["queues"] if model else None
    fio_verify(g, dev, PATTERNS[pattern], f"--size=16M --offset_increment=32M "
               f"--numjobs={cpus} --cpus_allowed=0-{cpus - 1} --cpus_allowed_policy=split "
               "--iodepth=16 --group_reporting --verify_backlog=128")
    if model:
        after = control.stats(g)["queues"]
        busy = [q for q in after if q != "0" and
                after[q]["submitted"] - before.get(q, {}).get("submitted", 0) > 100]
        assert len(busy) >= cpus, f"IO queues with IO: {busy}; stats {after}"
