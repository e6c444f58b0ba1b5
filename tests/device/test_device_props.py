# SPDX-License-Identifier: GPL-2.0-or-later
"""Device tests of the controller properties the interop configs use over
qtest: vs (the reported NVMe version) and ready-delay-ms (CSTS.RDY follows
CC.EN late both ways, within CAP.TO); bad values fail device creation."""
import struct

import pytest

from nvme_qtest import (
    ACQ, AQA, ASQ, CC, CC_EN, CC_IOSQES_IOCQES, CSTS, CSTS_RDY, SC_INVALID_FIELD, SC_SUCCESS,
    VS, qemu_args,
)
import nvme_qtest

pytestmark = pytest.mark.device


def controller(launch, image, props):
    vm = launch(qemu_args(image, ctrl_props=props))
    return nvme_qtest.Nvme.attach(vm)


@pytest.mark.parametrize("vs", [0x10000, 0x10100, 0x10200])
def test_vs(launch, image, vs):
    nvme = controller(launch, image, f"serial=QT0001,vs={vs:#x}")
    assert nvme.readl(VS) == vs
    nvme.enable()
    cqe, data = nvme.identify(1)
    assert struct.unpack_from("<I", data, 80)[0] == (vs if vs >= 0x10200 else 0)   # VER
    buf = nvme.alloc(4096)
    cqe = nvme.admin_cmd(0x06, prp1=buf, cdw10=2)           # CNS 2: active namespace list
    if vs == 0x10000:
        assert cqe.sc == SC_INVALID_FIELD
    else:
        assert cqe.sc == SC_SUCCESS
        assert struct.unpack_from("<2I", nvme.qt.memread(buf, 8)) == (1, 0)


def test_ready_delay_ms(launch, image):
    nvme = controller(launch, image, "serial=QT0001,cap-to=2,ready-delay-ms=700")
    sq, cq = nvme.alloc(8 * 64), nvme.alloc(8 * 16)
    nvme.admin = nvme_qtest.Queue(0, 8, sq, cq, 0)
    nvme.writel(AQA, 7 << 16 | 7)
    nvme.writeq(ASQ, sq)
    nvme.writeq(ACQ, cq)
    for _ in range(2):                       # every enable waits
        nvme.writel(CC, CC_IOSQES_IOCQES | CC_EN)
        assert nvme.readl(CSTS) == 0
        nvme.qt.cmd(f"clock_step {699 * 1000000}")
        assert nvme.readl(CSTS) == 0
        nvme.qt.cmd(f"clock_step {2 * 1000000}")
        assert nvme.readl(CSTS) == CSTS_RDY
        assert nvme.identify(1)[0].sc == SC_SUCCESS
        nvme.writel(CC, 0)                   # RDY follows late here too
        nvme.qt.cmd(f"clock_step {1 * 1000000}")
        assert nvme.readl(CSTS) == CSTS_RDY
        nvme.qt.cmd(f"clock_step {700 * 1000000}")
        assert nvme.readl(CSTS) == 0
        nvme.admin.sq_tail = nvme.admin.cq_head = 0
        nvme.admin.phase = 1
        nvme.qt.memset(cq, 8 * 16)


@pytest.mark.parametrize("props, message", [
    ("vs=0x10300", "vs must be 0x10000, 0x10100 or 0x10200"),
    ("cap-to=2,ready-delay-ms=1001", "ready-delay-ms must be within CAP.TO"),
])
def test_bad_props(launch, image, props, message):
    from qemu.machine.machine import VMLaunchFailure
    with pytest.raises(VMLaunchFailure) as e:
        launch(qemu_args(image, ctrl_props=props))
    assert message in str(e.value)
