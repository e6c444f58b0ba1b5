# SPDX-License-Identifier: GPL-2.0-or-later
"""Device tests of arbitration over qtest (spec 4.7): several I/O SQs are
filled while the controller cannot look (no doorbell yet), then all their
doorbells are rung in one qtest write, so one processing pass sees every
queue full.  The SQs share one CQ and the commands are Flushes with the
volatile write cache off, which complete the moment they are fetched: the
order of the CQEs is the order in which the controller served the queues."""
import pytest

from nvme_qtest import (
    ADM_CREATE_CQ, ADM_CREATE_SQ, ADM_GET_FEATURES, ADM_SET_FEATURES, CAP, CC, CC_EN,
    CC_IOSQES_IOCQES, CMD_FLUSH, CSTS, CSTS_CFS, DBS, SC_SUCCESS, Queue, qemu_args,
)
import nvme_qtest

pytestmark = pytest.mark.device

FEAT_ARB, FEAT_WC = 0x01, 0x06
CC_AMS_WRR = 1 << 11
URGENT, HIGH, MEDIUM, LOW = 0, 1, 2, 3
CQ_SIZE = 256


def controller(launch, image, props):
    vm = launch(qemu_args(image, ctrl_props=f"serial=QT0001,{props}"))
    return nvme_qtest.Nvme.attach(vm)


def shared_cq_setup(nvme, prios, arb=0):
    """SQ i+1 of QPRIO prios[i], all on CQ 1; Flush completes at once."""
    cq = nvme.alloc(CQ_SIZE * 16)
    c = nvme.admin_cmd(ADM_CREATE_CQ, prp1=cq, cdw10=(CQ_SIZE - 1) << 16 | 1, cdw11=1)
    assert c.sc == SC_SUCCESS, c
    sqs = []
    for i, prio in enumerate(prios):
        qid = i + 1
        sq = nvme.alloc(64 * 64)
        c = nvme.admin_cmd(ADM_CREATE_SQ, prp1=sq, cdw10=63 << 16 | qid,
                           cdw11=1 << 16 | prio << 1 | 1)
        assert c.sc == SC_SUCCESS, c
        sqs.append(Queue(qid, 64, sq, cq))
    assert nvme.admin_cmd(ADM_SET_FEATURES, cdw10=FEAT_WC, cdw11=0).sc == SC_SUCCESS
    assert nvme.admin_cmd(ADM_SET_FEATURES, cdw10=FEAT_ARB, cdw11=arb).sc == SC_SUCCESS
    return Queue(1, CQ_SIZE, 0, cq), sqs


def run_at_once(nvme, cq, counts):
    """Queue counts[sq] Flushes on each SQ, ring every doorbell in one go,
    and return the SQ id of each completion in CQ order."""
    lines = []
    for sq, n in counts.items():
        for i in range(n):
            nvme.qt.memwrite(sq.sq_base + sq.sq_tail * 64,
                             nvme.sqe(CMD_FLUSH, sq.qid << 8 | i, nsid=1))
            sq.sq_tail = (sq.sq_tail + 1) % sq.size
        lines.append(f"writel {nvme.bar + DBS + 2 * sq.qid * sq.stride:#x} {sq.sq_tail:#x}")
    nvme.qt.batch(lines)
    order = []
    for _ in range(sum(counts.values())):
        cqe = nvme.poll(cq)
        assert cqe.sc == SC_SUCCESS, cqe
        assert cqe.cid >> 8 == cqe.sq_id, cqe
        order.append(cqe.sq_id)
    return order


def test_cap_ams_property(launch, image):
    nvme = controller(launch, image, "ams=1")
    assert nvme.readq(CAP) >> 17 & 3 == 1
    nvme.enable(cc=CC_AMS_WRR)
    assert nvme.readl(CC) & 7 << 11 == CC_AMS_WRR


def test_wrr_refused_without_cap_ams(nvme):
    """CC.AMS = WRR on a controller whose CAP.AMS is 0: the enable fails."""
    assert nvme.readq(CAP) >> 17 & 3 == 0
    sq, cq = nvme.alloc(8 * 64), nvme.alloc(8 * 16)
    nvme.writel(nvme_qtest.AQA, 7 << 16 | 7)
    nvme.writeq(nvme_qtest.ASQ, sq)
    nvme.writeq(nvme_qtest.ACQ, cq)
    nvme.writel(CC, CC_IOSQES_IOCQES | CC_AMS_WRR | CC_EN)
    nvme.wait_csts(CSTS_CFS, CSTS_CFS)


def test_bad_ams_property(launch, image):
    from qemu.machine.machine import VMLaunchFailure
    with pytest.raises(VMLaunchFailure) as e:
        launch(qemu_args(image, ctrl_props="serial=QT0001,ams=2"))
    assert "ams must be 0 (round robin) or 1" in str(e.value)


def test_urgent_served_first_under_load(launch, image):
    """WRR: 40 commands on each of a low, a high and an urgent SQ: every
    urgent one completes before any other; high gets 4 per cycle (HPW 3)
    to low's 1 (LPW 0)."""
    nvme = controller(launch, image, "ams=1")
    nvme.enable(cc=CC_AMS_WRR)
    cq, (low, high, urgent) = shared_cq_setup(nvme, [LOW, HIGH, URGENT], arb=3 << 24)
    order = run_at_once(nvme, cq, {low: 40, high: 40, urgent: 40})
    assert order[:40] == [urgent.qid] * 40
    rest = order[40:]
    assert rest[:50] == ([high.qid] * 4 + [low.qid]) * 10
    assert rest.count(high.qid) == 40 and rest.count(low.qid) == 40


def test_wrr_weights_and_burst(launch, image):
    """HPW 3, MPW 1, LPW 0 (4:2:1 commands per cycle) with AB 1: two
    commands per turn within a class's weight."""
    nvme = controller(launch, image, "ams=1")
    nvme.enable(cc=CC_AMS_WRR)
    cq, (h1, h2, m, lo) = shared_cq_setup(nvme, [HIGH, HIGH, MEDIUM, LOW],
                                          arb=3 << 24 | 1 << 16 | 0 << 8 | 1)
    order = run_at_once(nvme, cq, {h1: 8, h2: 8, m: 8, lo: 4})
    cycle = [h1.qid] * 2 + [h2.qid] * 2 + [m.qid] * 2 + [lo.qid]
    assert order == cycle * 4


def test_qprio_ignored_under_round_robin(launch, image):
    """CC.AMS = 0 on a WRR-capable controller: plain round robin, one
    command per SQ per turn (AB 0), the urgent SQ no different."""
    nvme = controller(launch, image, "ams=1")
    nvme.enable()
    cq, (low, urgent) = shared_cq_setup(nvme, [LOW, URGENT])
    order = run_at_once(nvme, cq, {low: 30, urgent: 30})
    assert order == [low.qid, urgent.qid] * 30


def test_round_robin_interleaves(nvme):
    """The default controller: three SQs take turns; AB 2 gives each turn 4."""
    nvme.enable()
    cq, sqs = shared_cq_setup(nvme, [LOW, LOW, LOW])
    order = run_at_once(nvme, cq, {sq: 20 for sq in sqs})
    assert order == [1, 2, 3] * 20
    assert nvme.admin_cmd(ADM_SET_FEATURES, cdw10=FEAT_ARB, cdw11=2).sc == SC_SUCCESS
    assert nvme.admin_cmd(ADM_GET_FEATURES, cdw10=FEAT_ARB).dw0 == 2
    order = run_at_once(nvme, cq, {sq: 8 for sq in sqs})
    # the first pass ended on SQ 3, so the round starts again at SQ 1
    assert order == ([1] * 4 + [2] * 4 + [3] * 4) * 2
    assert nvme.readl(CSTS) & CSTS_CFS == 0
