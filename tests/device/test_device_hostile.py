"""Device tests of cosim-nvme against a hostile host: inputs a buggy or
malicious driver can build must end in an NVMe status, never in a QEMU that
hangs, crashes or takes the host's memory."""
import struct

import pytest

from nvme_qtest import ADM_GET_LOG_PAGE, CMD_READ, PAGE, SC_INVALID_FIELD

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
