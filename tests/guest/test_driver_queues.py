# SPDX-License-Identifier: GPL-2.0-or-later
"""nvme_scsi's IO queues.  First on the smallest IO queues a controller may offer: CAP.MQES 1
(2 entries: one command at a time) and 3 (4 entries).  blk-mq gets what the
SQ can hold less the slot that stays empty and the slots kept for the
driver's own commands; where too few are left to keep any back, passthrough
commands share the slots with blk-mq.  fio verifies at queue depth 32 while
passthrough reads run beside it, and nothing may time out or be reset.
Then on a guest of two NUMA nodes (the controller behind a PCIe expander on
node 1): io_queue_mode=numa and cpu, checked from blk-mq's sysfs, the
driver's debugfs and /proc/irq."""
import re

import pytest

from cosim import config
from cosim.fixtures import module_guest
from cosim.workload import fio_verify
from driver_helpers import (chardev, first_disk, nvme_scsi_config, passthrough_reads, queue_stats,
                            scsi_host)

pytestmark = pytest.mark.guest

# CAP.MQES -> (IO queue entries, blk-mq tags = can_queue)
TINY = {1: (2, 1), 3: (4, 2)}


@pytest.fixture(scope="module", params=sorted(TINY), ids=lambda m: f"mqes{m}")
def tiny(request):
    cfg = config.from_env()
    if cfg.controller.model != "cosim" or cfg.driver.name != "nvme_scsi":
        pytest.skip("CAP.MQES is a cosim-nvme property; nvme_scsi's own sysfs")
    cfg.controller.mqes = request.param
    yield from module_guest(cfg, f"queues-mqes{request.param}")


def test_tiny_queue_shape(tiny):
    """Queue depth MQES+1, can_queue as computed, the admin queue unaffected
    (MQES limits IO queues only)."""
    mqes = tiny.cfg.controller.mqes
    depth, tags = TINY[mqes]
    dev = chardev(tiny)
    sysfs = f"/sys/class/scsi_host/{scsi_host(tiny, dev)}"
    assert tiny.run(f"cat {sysfs}/nvme_queue_depth").output.strip() == str(depth)
    assert tiny.run(f"cat {sysfs}/can_queue").output.strip() == str(tags)
    stats = queue_stats(tiny, dev)
    assert stats["queues"][0]["depth"] == 32, stats
    assert all(q["depth"] == depth for qid, q in stats["queues"].items() if qid), stats
    log = tiny.run("dmesg | grep 'IO queue(s) of depth'").output
    assert f"of depth {depth} ({tags} tags" in log, log


def test_tiny_queue_fio_verify_qd32(tiny):
    """fio verify at iodepth 32 (two jobs, one per CPU and so per IO queue)
    with passthrough reads beside it: all data checks out, every command
    the driver submitted completed, no timeout, abort or reset."""
    dev, disk = chardev(tiny), first_disk(tiny)
    before = queue_stats(tiny, dev)
    with passthrough_reads(tiny, dev):
        res = fio_verify(tiny, disk, "--rw=randwrite --bs=4k --size=16M --iodepth=32",
                         "--numjobs=2 --offset_increment=16M --group_reporting",
                         timeout=900)
    assert res.errors == 0, res.output[-2000:]
    after = queue_stats(tiny, dev)
    assert after["state"] == "live" and after["resets"] == before["resets"], after
    for qid, q in after["queues"].items():
        assert q["submitted"] == q["completed"] + q["cancelled"], (qid, q)
        assert q["timeouts"] == before["queues"][qid]["timeouts"], (qid, before, after)
    io = [q for qid, q in after["queues"].items() if qid]
    assert sum(q["submitted"] for q in io) > 2 * 4096, after


# ---- NUMA: configs/numa-2.toml with 4 CPUs, the controller on node 1 ------------

def cpu_set(text):
    """"0, 1" / "0-1" / "0,2-3" -> {0, 1, ...}"""
    cpus = set()
    for part in re.split(r"[,\s]+", text.strip()):
        if part:
            first, _, last = part.partition("-")
            cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def topology(guest):
    """(node of each CPU, {hctx: cpus} of the first disk, [irqs rows] of the
    driver's debugfs, {irq: smp_affinity cpus})."""
    nodes = {}
    for node in range(guest.cfg.machine.numa_nodes):
        cpus = guest.run(f"cat /sys/devices/system/node/node{node}/cpulist").output
        nodes.update({cpu: node for cpu in cpu_set(cpus)})
    disk = first_disk(guest)[5:]
    out = guest.run(f"for h in /sys/block/{disk}/mq/*; do echo ${{h##*/}}: $(cat $h/cpu_list); "
                    "done").output
    hctx = {int(h): cpu_set(c) for h, c in (line.split(":") for line in out.splitlines())}
    lines = guest.run(f"cat /sys/kernel/debug/nvme_scsi/{chardev(guest)[5:]}/irqs"
                      ).output.strip().splitlines()
    ctrl_node = int(lines[0].split()[1])
    rows = []
    for line in lines[2:]:
        qid, vector, irq, hw, node, cpus = line.split()
        rows.append(dict(qid=int(qid), vector=int(vector), irq=int(irq), hctx=int(hw),
                         node=int(node), cpus=cpu_set(cpus)))
    affinity = {r["irq"]: cpu_set(guest.run(f"cat /proc/irq/{r['irq']}/smp_affinity_list"
                                            ).output) for r in rows}
    return nodes, hctx, ctrl_node, rows, affinity


@pytest.fixture(scope="module")
def numa():
    cfg = nvme_scsi_config("numa-2", why="nvme_scsi's io_queue_mode")
    cfg.machine.cpus = 4            # two CPUs per node: per-node and per-CPU queues differ
    cfg.driver.params = "io_queue_mode=numa"
    yield from module_guest(cfg, "queues-numa")


def check_mapping(guest, want_queues):
    nodes, hctx, ctrl_node, rows, affinity = topology(guest)
    info = f"nodes {nodes}\nhctx {hctx}\nirqs {rows}\naffinity {affinity}"
    assert ctrl_node == guest.cfg.controller.numa_node, info
    io = [r for r in rows if r["qid"]]
    assert len(io) == want_queues and sorted(hctx) == list(range(want_queues)), info
    # every CPU is served by exactly one hardware queue
    assert sorted(c for cpus in hctx.values() for c in cpus) == sorted(nodes), info
    for r in io:
        cpus = hctx[r["hctx"]]
        assert r["hctx"] == r["qid"] - 1 and r["vector"] == r["qid"], info
        # blk-mq sends a CPU's IO to the queue whose interrupt is affine to it
        assert r["cpus"] == cpus and affinity[r["irq"]] == cpus, info
        assert {nodes[c] for c in cpus} == {r["node"]}, info
    return nodes, hctx, io


def test_numa_mode_one_queue_per_node(numa):
    """io_queue_mode=numa on 2 nodes x 2 CPUs: two IO queues, each serving
    (blk-mq mapping and interrupt affinity) exactly the CPUs of one node."""
    nodes, hctx, io = check_mapping(numa, 2)
    assert sorted(r["node"] for r in io) == [0, 1]
    assert all(len(cpus) == 2 for cpus in hctx.values()), hctx
    host = scsi_host(numa, chardev(numa))
    assert numa.run(f"cat /sys/class/scsi_host/{host}/nvme_io_queues").output.strip() == "2"
    numa.run(f"dd if={first_disk(numa)} of=/dev/null bs=64k count=64 iflag=direct")


def test_cpu_mode_one_queue_per_cpu(numa):
    """io_queue_mode=cpu: four IO queues, one per CPU, each interrupt affine
    to its CPU; IO issued on every CPU lands on that CPU's queue."""
    dev = chardev(numa)
    try:
        numa.driver.unload()
        numa.driver.load(params="io_queue_mode=cpu")
        dev = chardev(numa)
        nodes, hctx, io = check_mapping(numa, 4)
        assert all(len(cpus) == 1 for cpus in hctx.values()), hctx
        assert sorted(r["node"] for r in io) == [0, 0, 1, 1]
        disk = first_disk(numa)
        before = queue_stats(numa, dev)["queues"]
        for cpu in sorted(nodes):
            numa.run(f"taskset -c {cpu} dd if={disk} of=/dev/null bs=4k count=50 "
                     f"skip={cpu * 1000} iflag=direct")
        after = queue_stats(numa, dev)["queues"]
        for r in io:
            n = after[r["qid"]]["submitted"] - before[r["qid"]]["submitted"]
            assert n >= 50, (r, before, after)
    finally:
        numa.driver.unload()
        numa.driver.load()
