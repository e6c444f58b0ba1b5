# SPDX-License-Identifier: GPL-2.0-or-later
"""nvme_scsi's namespace handling on a controller with three namespaces:
NSID n = LUN n-1, the namespaces / max_luns parameters, rescan through the
RESCAN ioctl and sysfs, and the Namespace Attribute Changed notice
(cosim-nvme's ns-notice-aen=on) for hot-added and removed namespaces."""
import json

import pytest

from cosim import config, control
from cosim.fixtures import module_guest
from cosim.workload import FIO_BASE, data_opts
from driver_helpers import (MIB, chardev, check_console, luns, nvme_scsi_config,
                            reload_driver, wait_disks)

pytestmark = pytest.mark.guest

SIZES = [64, 32, 16]


def three_ns_config(aen):
    cfg = nvme_scsi_config()
    cfg.namespaces = [config.Namespace(size_mib=s) for s in SIZES]
    cfg.controller.ns_notice_aen = aen
    return cfg


def expected(nsids):
    return {n - 1: SIZES[n - 1] * MIB for n in nsids}


@pytest.fixture(scope="module")
def three_ns():
    yield from module_guest(three_ns_config(aen=False), "three_ns")


@pytest.fixture
def g3(three_ns):
    since = three_ns.console.size()
    yield three_ns
    check_console(three_ns, since)


def test_every_namespace_is_a_lun(g3):
    assert luns(g3) == expected([1, 2, 3])
    out = g3.run("sg_luns /dev/sda").output
    assert "0000000000000000" in out and "0002000000000000" in out, out


def test_namespaces_parameter(g3):
    try:
        reload_driver(g3, "namespaces=1,3", 2)
        assert luns(g3) == expected([1, 3])
        out = g3.run("sg_luns /dev/sda").output
        assert "0001000000000000" not in out and "0002000000000000" in out, out
    finally:
        reload_driver(g3, "", 3)


def test_max_luns_parameter(g3):
    try:
        reload_driver(g3, "max_luns=2", 2)
        assert luns(g3) == expected([1, 2])
        log = g3.run("dmesg | tail -20").output
        if g3.cfg.controller.model == "cosim":     # NN = 32
            assert "exposing NSID 1-2 (max_luns)" in log, log
    finally:
        reload_driver(g3, "", 3)


def test_bad_namespaces_parameter(g3):
    try:
        g3.run("rmmod nvme_scsi")
        r = g3.run("modprobe nvme_scsi namespaces=1,9", check=False)
        assert r.status != 0, r
        log = g3.run("dmesg | tail -3").output
        assert "nvme_scsi: namespaces: NSID 9 is not 1-8 (max_luns)" in log, log
    finally:
        g3.run("modprobe nvme_scsi")
        wait_disks(g3, 3)


def test_rescan_ioctl_and_sysfs(g3):
    """Hot-remove and re-add a namespace (no notice AEN): the LUNs follow
    only when asked, with nvme ns-rescan or the sysfs rescan attribute."""
    if g3.cfg.controller.model != "cosim":
        pytest.skip("QEMU's nvme namespaces cannot be hot-plugged")
    dev = chardev(g3)
    name = dev.rsplit("/", 1)[1]
    control.remove_namespace(g3, 2)
    g3.run(f"nvme ns-rescan {dev}")
    wait_disks(g3, 2)
    assert luns(g3) == expected([1, 3])
    control.add_namespace(g3, 2, SIZES[1])
    g3.run(f"echo 1 > /sys/class/nvme_scsi/{name}/rescan")
    wait_disks(g3, 3)
    assert luns(g3) == expected([1, 2, 3])
    # and IO on the re-added LUN works
    disk = [d for d, _, a in g3.driver.block_devices() if a.endswith(":1")][0]
    g3.run(f"dd if=/dev/urandom of=/tmp/r bs=4096 count=4 2>/dev/null && "
           f"dd if=/tmp/r of={disk} bs=4096 oflag=direct 2>/dev/null && "
           f"dd if={disk} of=/tmp/r2 bs=4096 count=4 iflag=direct 2>/dev/null && "
           "cmp /tmp/r /tmp/r2")


@pytest.fixture(scope="module")
def three_ns_aen():
    cfg = three_ns_config(aen=True)
    if cfg.controller.model != "cosim":
        pytest.skip("the namespace notice AEN is cosim-nvme's")
    yield from module_guest(cfg, "three_ns_aen")


def test_notice_aen_follows_hotplug(three_ns_aen):
    g = three_ns_aen
    since = g.console.size()
    control.remove_namespace(g, 3)
    wait_disks(g, 2, timeout=30)
    assert luns(g) == expected([1, 2])
    control.add_namespace(g, 3, SIZES[2])
    wait_disks(g, 3, timeout=30)
    assert luns(g) == expected([1, 2, 3])
    # still armed after a controller reset
    g.run(f"nvme reset {chardev(g)}")
    control.remove_namespace(g, 3)
    wait_disks(g, 2, timeout=30)
    assert luns(g) == expected([1, 2])
    check_console(g, since)


# ---- eight namespaces (configs/eight-namespaces.toml): LUN 0-7 ---------------

@pytest.fixture(scope="module")
def eight_ns():
    cfg = nvme_scsi_config("eight-namespaces")
    assert len(cfg.namespaces) == 8
    yield from module_guest(cfg, "eight_ns")


def test_eight_luns_map_to_nsids(eight_ns):
    """LUN n-1 is NSID n for all eight: VPD 80 names the NSID, and a block
    written through each SCSI disk reads back through the passthrough
    device from that NSID (and from no other)."""
    g = eight_ns
    since = g.console.size()
    dev = chardev(g)
    sn = g.cfg.controller.serial
    disks = {int(a.split(":")[3]): d for d, _, a in g.driver.block_devices()}
    assert sorted(disks) == list(range(8)), disks
    for lun, disk in disks.items():
        out = g.run(f"sg_vpd -p 0x80 {disk}").output
        assert f"{sn}_{lun + 1:08x}" in out, (lun, out)
        g.run(f"echo lun{lun} | dd of=/tmp/tag{lun} bs=512 conv=sync 2>/dev/null && "
              f"dd if=/tmp/tag{lun} of={disk} bs=512 oflag=direct 2>/dev/null")
    for lun in disks:
        g.run(f"nvme io-passthru {dev} --opcode=2 --namespace-id={lun + 1} --data-len=512 "
              f"--read -b > /tmp/back{lun} 2>/dev/null")
    out = g.run("for i in 0 1 2 3 4 5 6 7; do for j in 0 1 2 3 4 5 6 7; do "
                "cmp -s /tmp/tag$i /tmp/back$j && echo $i=$j; done; done").output
    assert out.split() == [f"{i}={i}" for i in range(8)], out
    check_console(g, since)


def test_fio_verify_all_eight_luns_at_once(eight_ns):
    """One fio, eight jobs, one per LUN, all verifying at the same time:
    every job passes and every LUN saw IO."""
    g = eight_ns
    since = g.console.size()
    disks = sorted(d for d, _, _ in g.driver.block_devices())
    assert len(disks) == 8, disks
    jobs = " ".join(f"--name=lun{i} --filename={d}" for i, d in enumerate(disks))
    opts = data_opts(",".join(disks), "--rw=randwrite --bsrange=4k-64k --size=16M --iodepth=16")
    r = g.run(f"{FIO_BASE} {opts} {jobs}", timeout=900, check=False)
    assert r.status == 0, r.output[-3000:]
    report = json.loads(r.output[r.output.index("{"):])
    assert len(report["jobs"]) == 8, r.output[-3000:]
    for job in report["jobs"]:
        assert job["error"] == 0, job["jobname"]
        assert job["write"]["io_bytes"] >= 16 << 20, (job["jobname"], job["write"])
        assert job["read"]["io_bytes"] >= 16 << 20, (job["jobname"], job["read"])
    check_console(g, since)
