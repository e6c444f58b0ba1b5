# SPDX-License-Identifier: GPL-2.0-or-later
"""Device tests of Abort for a command already at the block layer, over
qtest.  The namespace sits on a throttle filter node: under qtest a throttle
group runs on the virtual clock, so once the first Read has used up the
budget the next one waits in the block layer until the test steps the
clock, and the test decides exactly when it may finish.  QEMU 7.2 cannot
cancel block I/O already submitted (only DMA parked for a bounce buffer),
so the model marks the command and completes it with Command Abort
Requested when its block request returns."""
import time

import pytest

from nvme_qtest import (
    ADM_ABORT, CMD_READ, DBS, PAGE, SC_SUCCESS, base_args,
)
import nvme_qtest

pytestmark = pytest.mark.device

SC_ABORT_REQ = 0x007
XFER = 64 * 1024        # one Read: 128 LBAs; the first uses up the 4 KiB/s budget


def throttled(launch, image):
    """The namespace goes on a throttle node once QEMU runs: a throttle group
    made by -object exists before the qtest accelerator and would use the
    real-time clock; one made by object-add uses the virtual clock."""
    vm = launch([*base_args(), "-device", "cosim-nvme,id=nvme0,serial=QT0001"])
    for cmd, args in (
            ("object-add", {"qom-type": "throttle-group", "id": "tg0", "x-bps-total": 4096}),
            ("blockdev-add", {"driver": "file", "filename": str(image), "node-name": "f0"}),
            ("blockdev-add", {"driver": "throttle", "node-name": "d0",
                              "throttle-group": "tg0", "file": "f0"}),
            ("device_add", {"driver": "cosim-nvme-ns", "bus": "nvme0", "drive": "d0",
                            "nsid": 1})):
        r = vm.qmp(cmd, **args)
        assert "return" in r, r
    nvme = nvme_qtest.Nvme.attach(vm)
    nvme.enable()
    return vm, nvme, nvme.create_io_queues(1, 16)


def qom(vm, prop):
    return vm.qmp("qom-get", path="/machine/peripheral/nvme0", property=prop)["return"]


def wait_inflight(vm, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    while qom(vm, "io-inflight") != want:
        assert time.monotonic() < deadline, f"io-inflight never became {want}"
        time.sleep(0.005)


def read_sqe(nvme, cid, buf):
    prp1, prp2 = nvme.prps(buf, XFER)
    return nvme.sqe(CMD_READ, cid, nsid=1, prp1=prp1, prp2=prp2, cdw12=XFER // 512 - 1)


def abort_sqe(nvme, cid, sqid, victim):
    return nvme.sqe(ADM_ABORT, cid, cdw10=victim << 16 | sqid)


def poll_stepping(nvme, q, step_ns=30 * 10**9, timeout=5.0):
    """Step the virtual clock (the throttle's) until the next CQE of q."""
    deadline = time.monotonic() + timeout
    while True:
        nvme.qt.cmd(f"clock_step {step_ns}")
        try:
            return nvme.poll(q, timeout=0.05)
        except TimeoutError:
            assert time.monotonic() < deadline, f"no completion on queue {q.qid}"


def test_abort_read_at_block_layer(launch, image):
    vm, nvme, q = throttled(launch, image)
    buf = nvme.alloc(XFER)
    first = nvme.rw(q, CMD_READ, 1, 0, XFER // 512, buf, XFER)   # passes, uses the budget
    assert first.sc == SC_SUCCESS

    nvme.submit(q, read_sqe(nvme, 0x21, buf))
    wait_inflight(vm, 1)                            # queued by the throttle group
    c = nvme.admin_cmd(ADM_ABORT, cdw10=0x21 << 16 | 1)
    assert c.sc == SC_SUCCESS and c.dw0 & 1 == 0    # aborted
    assert qom(vm, "io-inflight") == 1              # its block request is still out
    c = poll_stepping(nvme, q)
    assert (c.cid, c.sc) == (0x21, SC_ABORT_REQ), c
    assert qom(vm, "io-inflight") == 0
    stats = qom(vm, "stats")
    assert stats["aborts"] == 1 and stats["aborts-succeeded"] == 1
    # exactly one completion for it: the next CQE is a new command's
    nvme.submit(q, read_sqe(nvme, 0x22, buf))
    c = poll_stepping(nvme, q)
    assert (c.cid, c.sc) == (0x22, SC_SUCCESS), c


def test_abort_after_completion_not_aborted(launch, image):
    """The Read finished before the Abort: "not aborted", the Read stays a success."""
    vm, nvme, q = throttled(launch, image)
    buf = nvme.alloc(XFER)
    assert nvme.rw(q, CMD_READ, 1, 0, XFER // 512, buf, XFER).sc == SC_SUCCESS
    nvme.submit(q, read_sqe(nvme, 0x31, buf))
    c = poll_stepping(nvme, q)
    assert (c.cid, c.sc) == (0x31, SC_SUCCESS), c
    c = nvme.admin_cmd(ADM_ABORT, cdw10=0x31 << 16 | 1)
    assert c.sc == SC_SUCCESS and c.dw0 & 1 == 1
    assert qom(vm, "stats")["aborts-succeeded"] == 0


def test_abort_before_fetch_not_aborted(launch, image):
    """Read and Abort rung in one go: the admin queue is served first, so the
    Abort finds nothing and the Read then runs normally."""
    vm, nvme, q = throttled(launch, image)
    buf = nvme.alloc(PAGE)
    nvme.qt.memwrite(q.sq_base + q.sq_tail * 64,
                     nvme.sqe(CMD_READ, 0x41, nsid=1, prp1=buf, cdw12=7))
    q.sq_tail += 1
    a = nvme.admin
    nvme.qt.memwrite(a.sq_base + a.sq_tail * 64, abort_sqe(nvme, 0x42, 1, 0x41))
    a.sq_tail = (a.sq_tail + 1) % a.size
    nvme.qt.batch([f"writel {nvme.bar + DBS + 2 * q.qid * q.stride:#x} {q.sq_tail:#x}",
                   f"writel {nvme.bar + DBS:#x} {a.sq_tail:#x}"])
    c = nvme.poll(a)
    assert (c.cid, c.dw0 & 1) == (0x42, 1), c
    c = poll_stepping(nvme, q)
    assert (c.cid, c.sc) == (0x41, SC_SUCCESS), c


UNMAPPED = 0xD0000000   # a page in the PCI hole with nothing behind it: not RAM


def test_abort_parked_dma_cancel_wins(launch, image):
    """DMA to something that is not RAM goes through QEMU's one bounce buffer.
    Read A takes it and waits in the throttle group; Read B cannot map and
    parks.  Aborting B really cancels it: its 0/07 comes at once, before the
    Abort's own completion is even looked at.  A, whose block I/O is out,
    completes 0/07 when the throttle lets it go."""
    vm, nvme, q = throttled(launch, image)
    buf = nvme.alloc(XFER)
    assert nvme.rw(q, CMD_READ, 1, 0, XFER // 512, buf, XFER).sc == SC_SUCCESS
    nvme.submit(q, nvme.sqe(CMD_READ, 0x51, nsid=1, prp1=UNMAPPED, cdw12=7))
    nvme.submit(q, nvme.sqe(CMD_READ, 0x52, nsid=1, prp1=UNMAPPED + PAGE, cdw12=7))
    wait_inflight(vm, 2)

    c = nvme.admin_cmd(ADM_ABORT, cdw10=0x52 << 16 | 1)
    assert c.sc == SC_SUCCESS and c.dw0 & 1 == 0, c
    c = nvme.poll(q)                              # no clock step: it was cancelled
    assert (c.cid, c.sc) == (0x52, SC_ABORT_REQ), c
    assert qom(vm, "io-inflight") == 1

    c = nvme.admin_cmd(ADM_ABORT, cdw10=0x51 << 16 | 1)
    assert c.sc == SC_SUCCESS and c.dw0 & 1 == 0, c
    assert qom(vm, "io-inflight") == 1            # the throttled read cannot be stopped
    c = poll_stepping(nvme, q)
    assert (c.cid, c.sc) == (0x51, SC_ABORT_REQ), c
    assert qom(vm, "io-inflight") == 0
    assert qom(vm, "stats")["aborts-succeeded"] == 2
