# SPDX-License-Identifier: GPL-2.0-or-later
"""COSIM_NVME_FAULT: one QMP event each time a fault rule fires, naming the
controller, the rule, its action and the command it hit."""
import pytest

from nvme_qtest import CMD_READ, CSTS, PAGE, SC_SUCCESS

pytestmark = pytest.mark.device

SC_READ_ERROR = 0x281
EVENT = "COSIM_NVME_FAULT"


def fault_add(vm, **args):
    r = vm.qmp("cosim-nvme-fault-add", id="nvme0", **args)
    assert "return" in r, r
    return r["return"]["rule"]


def read(nvme, q, cid, buf):
    nvme.submit(q, nvme.sqe(CMD_READ, cid, nsid=1, prp1=buf, cdw10=0, cdw12=7))


def test_event_per_hit_names_rule_and_command(vm, nvme):
    """A status rule firing twice: two events, each with the rule, the IO
    queue and the CID of the Read it hit; the third Read is untouched."""
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)
    rule = fault_add(vm, action="status", queue="io", opcode=CMD_READ, sct=2, sc=0x81,
                     count=2)
    for cid in (0x21, 0x22, 0x23):
        read(nvme, q, cid, buf)
        cqe = nvme.poll(q)
        assert cqe.cid == cid
        assert cqe.sc == (SC_SUCCESS if cid == 0x23 else SC_READ_ERROR), cqe
    for cid in (0x21, 0x22):
        ev = vm.event_wait(EVENT, timeout=5)
        assert ev is not None, f"no {EVENT} for CID {cid:#x}"
        assert ev["data"] == {"device": "nvme0", "path": "/machine/peripheral/nvme0",
                              "rule": rule, "action": "status", "qid": 1, "cid": cid}, ev
    vm.qmp("query-status")          # events come before later replies
    assert [e for e in vm.get_qmp_events() if e["event"] == EVENT] == [], \
        "an event without a hit"


def test_event_for_a_dropped_command_comes_without_its_completion(vm, nvme):
    """The event is how a test knows a dropped command was dropped: there is
    no completion to wait for."""
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    rule = fault_add(vm, action="drop", queue=1, opcode=CMD_READ)
    read(nvme, q, 0x31, nvme.alloc(PAGE))
    ev = vm.event_wait(EVENT, timeout=5, match={"data": {"rule": rule}})
    assert ev and ev["data"]["cid"] == 0x31 and ev["data"]["action"] == "drop", ev
    assert nvme.no_completion(q)


def test_event_for_a_controller_rule(vm, nvme):
    """Rules on controller events (ready-delay) have no command: qid 0, CID
    65535.  The event comes at CC.EN=1, while CSTS.RDY is still held low."""
    rule = fault_add(vm, action="ready-delay", ms=10)
    nvme.start_enable(qsize=8)
    ev = vm.event_wait(EVENT, timeout=5, match={"data": {"rule": rule}})
    assert ev and (ev["data"]["qid"], ev["data"]["cid"]) == (0, 0xffff), ev
    assert nvme.readl(CSTS) == 0
