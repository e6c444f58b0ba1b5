# SPDX-License-Identifier: GPL-2.0-or-later
"""Device tests of cosim-nvme against a hostile host: inputs a buggy or
malicious driver can build must end in an NVMe status, never in a QEMU that
hangs, crashes or takes the host's memory."""
import struct
import time

import pytest

from nvme_qtest import ADM_GET_LOG_PAGE, CMD_READ, PAGE, SC_INVALID_FIELD, Nvme, base_args

pytestmark = pytest.mark.device

LOG_SMART = 0x02
# a QEMU stuck in the device's bottom half never answers the qtest socket
QTEST_DEADLINE = 30


def answers_qmp(vm):
    return vm.qmp("query-status")["return"]["status"] == "running"


def looping_prp_list(nvme, pages=1):
    """@pages PRP lists, each at page offset 0xff8 (one slot: the chain
    pointer), each chaining to the next and the last back to the first."""
    lists = [nvme.alloc(PAGE) + PAGE - 8 for _ in range(pages)]
    for i, at in enumerate(lists):
        nvme.qt.memwrite(at, struct.pack("<Q", lists[(i + 1) % pages]))
    return lists[0]


@pytest.mark.parametrize("pages", [1, 2])
def test_prp_chain_loop_on_admin_queue(vm, nvme, pages):
    """A 16 KiB Get Log Page whose PRP list chains back into itself is
    Invalid Field: no IO queue is needed to reach the PRP walker."""
    vm._qtest._sock.settimeout(QTEST_DEADLINE)
    nvme.enable()
    buf = nvme.alloc(4 * PAGE)
    cqe = nvme.admin_cmd(ADM_GET_LOG_PAGE, prp1=buf, prp2=looping_prp_list(nvme, pages),
                         cdw10=(4 * PAGE // 4 - 1) << 16 | LOG_SMART)
    assert cqe.sc == SC_INVALID_FIELD and cqe.dnr, cqe
    assert answers_qmp(vm)


def test_prp_chain_loop_on_io_queue(vm, nvme):
    """The same list on a 12 KiB Read, then a good Read on the same queue."""
    vm._qtest._sock.settimeout(QTEST_DEADLINE)
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(3 * PAGE)
    cqe = nvme.cmd(q, CMD_READ, nsid=1, prp1=buf, prp2=looping_prp_list(nvme), cdw12=23)
    assert cqe.sc == SC_INVALID_FIELD and cqe.dnr, cqe
    assert nvme.rw(q, CMD_READ, 1, 0, 24, buf, 3 * PAGE).sc == 0
    assert answers_qmp(vm)


# guest-physical, far above RAM and every BAR: DMA there goes through
# QEMU's one 4 KiB bounce buffer, one block request per page
UNASSIGNED = 64 << 30


def test_unplug_waits_for_bounced_dma(launch, image):
    """A 2 MiB Read into unassigned memory takes 512 block requests one after
    the other, throttled here to 20 a second.  device_del of its namespace
    right after it started must finish them all before the namespace goes
    (a drain that gave up after 100 rounds left requests out on a namespace
    the core had forgotten, with a "did not drain" warning); then the Read
    completes and QEMU carries on."""
    vm = launch([*base_args(),
                 "-device", "cosim-nvme,id=nvme0,serial=QT0001,mdts=0",
                 "-object", "throttle-group,id=tg0,x-iops-total=20",
                 "-blockdev", f"driver=file,filename={image},node-name=f0",
                 "-blockdev", "driver=throttle,node-name=d0,throttle-group=tg0,file=f0",
                 "-device", "cosim-nvme-ns,bus=nvme0,drive=d0,id=ns1,nsid=1"])
    vm._qtest._sock.settimeout(QTEST_DEADLINE)
    nvme = Nvme.attach(vm)
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    pages = [UNASSIGNED + i * PAGE for i in range(512)]
    prp_list = nvme.alloc(PAGE)
    nvme.qt.memwrite(prp_list, struct.pack("<511Q", *pages[1:]))
    nvme.submit(q, nvme.sqe(CMD_READ, 0x77, nsid=1, prp1=pages[0], prp2=prp_list,
                            cdw12=2 * 1024 * 1024 // 512 - 1))
    deadline = time.monotonic() + QTEST_DEADLINE
    while vm.qmp("qom-get", path="/machine/peripheral/nvme0",
                 property="stats")["return"]["io-submitted"] < 1:
        assert time.monotonic() < deadline, "the Read was never fetched"
        time.sleep(0.01)
    assert "error" not in vm.qmp("device_del", id="ns1")
    cqe = nvme.poll(q, timeout=QTEST_DEADLINE)
    assert cqe.cid == 0x77, cqe
    assert answers_qmp(vm)
    vm.shutdown()
    assert "did not drain" not in vm.get_log()
