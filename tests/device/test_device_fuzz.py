# SPDX-License-Identifier: GPL-2.0-or-later
"""Seeded random guest against the real device: register, doorbell, config
and queue garbage, random admin/I/O commands with wild PRPs, MSI-X toggles
and resets.  QEMU must survive all of it and the controller must come back
with a clean enable."""
import os
import random
import struct

import pytest

from nvme_qtest import (
    CC, CC_EN, CC_IOSQES_IOCQES, CSTS, CSTS_RDY, DBS, PAGE, PCI_COMMAND, SC_SUCCESS,
)

pytestmark = pytest.mark.device

ADMIN_OPS = [0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09, 0x0a, 0x0c, 0x10, 0x80]


def wild_addr(rng, nvme):
    return rng.choice([
        nvme.BAR0_ADDR + rng.randrange(0, 0x2000, 4),
        nvme.BAR4_ADDR,
        0xfee00000,
        0xd0000000 + rng.randrange(0, 1 << 20, PAGE),
        rng.getrandbits(64),
        0x800000 + rng.randrange(0, 0x400000, 4),
        0x800000 + rng.randrange(0, 0x400000, PAGE),
    ])


def restart(nvme, queues):
    """What a driver does after a reset or CFS: disable, enable, new queues."""
    nvme.pci.write32(PCI_COMMAND, 0x6)
    nvme.ram = 0x100000
    nvme.enable(qsize=64)
    queues.clear()


def fuzz_step(rng, nvme, vm, queues, unplug=True):
    op = rng.randrange(12)
    qt = nvme.qt
    if op == 0:         # registers, any size the core accepts or rejects
        off = rng.choice([0x0c, 0x10, 0x24, 0x28, 0x2c, 0x30, 0x34, 0x1c,
                          rng.randrange(0x38, 0x2000, 4)])
        if rng.random() < 0.2:
            nvme.writeq(off & ~7, rng.getrandbits(64))
        else:
            nvme.writel(off, rng.getrandbits(32))
        nvme.readl(rng.randrange(0, 0x2000, 4))
    elif op == 1:       # doorbells
        nvme.writel(DBS + 4 * rng.randrange(24), rng.choice([rng.randrange(70),
                                                             rng.getrandbits(32)]))
    elif op in (2, 3):  # admin commands
        q = nvme.admin
        sqe = nvme.sqe(rng.choice(ADMIN_OPS) if rng.random() < 0.9 else rng.getrandbits(8),
                       rng.getrandbits(16), nsid=rng.choice([0, 1, 2, rng.getrandbits(32)]),
                       prp1=wild_addr(rng, nvme), prp2=wild_addr(rng, nvme),
                       cdw10=rng.choice([rng.randrange(64) << 16 | rng.randrange(10),
                                         rng.getrandbits(32)]),
                       cdw11=rng.choice([rng.randrange(10) << 16 | rng.randrange(4),
                                         rng.getrandbits(32)]))
        nvme.submit(q, sqe)
    elif op == 4:       # a plausible I/O queue pair
        qid = rng.randrange(1, 5)
        base = 0x400000 + qid * 0x10000
        size = rng.randrange(2, 64)
        nvme.submit(nvme.admin, nvme.sqe(0x05, 0x900 + qid, prp1=base + 0x8000,
                                         cdw10=(size - 1) << 16 | qid,
                                         cdw11=rng.randrange(10) << 16 | 3))
        nvme.submit(nvme.admin, nvme.sqe(0x01, 0xa00 + qid, prp1=base,
                                         cdw10=(size - 1) << 16 | qid, cdw11=qid << 16 | 1))
        queues[qid] = [base, size, 0]
    elif op in (5, 6, 7) and queues:    # I/O commands: mostly sane, some garbage
        qid = rng.choice(list(queues))
        base, size, tail = queues[qid]
        if rng.random() < 0.6:
            buf = 0xc00000 + rng.randrange(0, 0x100000, PAGE)
            sqe = nvme.sqe(rng.choice([1, 2]), rng.getrandbits(16), nsid=1, prp1=buf,
                           prp2=buf + PAGE, cdw10=rng.randrange(8000), cdw12=rng.randrange(8),
                           cdw13=0)
        else:
            sqe = nvme.sqe(rng.choice([0, 1, 2, 4, 5, 9, rng.getrandbits(8)]), rng.getrandbits(16),
                           nsid=rng.choice([1, 0, 2, rng.getrandbits(32)]),
                           prp1=wild_addr(rng, nvme), prp2=wild_addr(rng, nvme),
                           cdw10=rng.choice([rng.randrange(8192), rng.getrandbits(32)]),
                           cdw11=rng.choice([0, 0, 0, rng.getrandbits(32)]),
                           cdw12=rng.choice([rng.randrange(300), rng.getrandbits(32)]))
        if rng.random() < 0.1:
            tail = rng.randrange(size)      # the host loses track of its tail
        qt.memwrite(base + tail * 64, sqe)
        tail = (tail + 1) % size
        queues[qid][2] = tail
        nvme.writel(DBS + 2 * qid * 4, tail)
    elif op == 8:       # scribble over queue and list memory
        qt.memwrite(0x400000 + rng.randrange(0, 0x800000 - 64),
                    rng.randbytes(rng.randrange(1, 64)))
    elif op == 9:       # MSI-X on/off; a blip of bus mastering
        cap = nvme.pci.capabilities()[0x11]
        ctrl = nvme.pci.read32(cap)
        nvme.pci.write32(cap, ctrl ^ (rng.getrandbits(2) << 30))
        if rng.random() < 0.1:
            nvme.pci.write32(PCI_COMMAND, 0x2)
            nvme.pci.write32(PCI_COMMAND, 0x6)
    elif op == 10:      # resets now and then: CC.EN, CC.SHN, system reset
        r = rng.random()
        if r < 0.03:
            vm.qmp("system_reset")
            nvme.map_bars()
            restart(nvme, queues)
        elif r < 0.1:
            nvme.writel(CC, rng.choice([0, CC_IOSQES_IOCQES | CC_EN | 1 << 14]))
            restart(nvme, queues)
        elif r < 0.14 and unplug:
            # namespace hot-unplug under I/O, and back
            assert "error" not in vm.qmp("device_del", id="ns1")
            for _ in range(rng.randrange(5)):
                fuzz_step(rng, nvme, vm, queues, unplug=False)
            r = vm.qmp("device_add", driver="cosim-nvme-ns", bus="nvme0", drive="d0",
                       nsid=1, id="ns1")
            assert "error" not in r, r
    elif op == 11:      # let the main loop run; recover from CFS like a driver
        if nvme.readl(CSTS) & 2:
            restart(nvme, queues)


@pytest.mark.parametrize("seed", range(1, 1 + int(os.environ.get("DEVICE_FUZZ_SEEDS", "4"))))
def test_random_guest(nvme, vm, seed):
    rng = random.Random(seed)
    queues = {}
    restart(nvme, queues)
    for _ in range(3000):
        fuzz_step(rng, nvme, vm, queues)
    # QEMU is alive, and a normal driver start works again
    assert vm.qmp("query-status")["return"]["status"] in ("running", "paused")
    nvme.pci.write32(PCI_COMMAND, 0x6)
    nvme.map_bars()
    nvme.ram = 0xd00000         # fresh queues away from the scribbled area
    nvme.writel(CC, 0)
    nvme.wait_csts(CSTS_RDY, 0, timeout=10)
    nvme.enable()
    assert nvme.identify(1)[0].sc == SC_SUCCESS
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)
    assert nvme.rw(q, 2, 1, 0, 8, buf, PAGE).sc == SC_SUCCESS
    # the random guest did get I/O through (SMART host read/write commands)
    assert nvme.admin_cmd(0x02, prp1=buf, cdw10=127 << 16 | 0x02).sc == SC_SUCCESS
    reads, writes = struct.unpack_from("<Q8xQ", nvme.qt.memread(buf + 64, 24))
    assert reads + writes > 1, (reads, writes)
