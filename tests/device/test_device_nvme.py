# SPDX-License-Identifier: GPL-2.0-or-later
"""Device tests of cosim-nvme over qtest: PCI config, registers, admin queue
bring-up, Identify, I/O queues and data, error statuses, robustness, and
namespace hot-plug on the controller's bus."""
import os
import struct

import pytest

from nvme_qtest import (
    ACQ, ADM_ASYNC_EVENT, ADM_CREATE_CQ, ADM_CREATE_SQ, ADM_DELETE_CQ, ADM_DELETE_SQ,
    ADM_GET_FEATURES, ADM_SET_FEATURES, AQA, ASQ, CAP, CC, CC_EN, CC_IOSQES_IOCQES,
    CMD_FLUSH, CMD_READ, CMD_WRITE, CSTS, CSTS_CFS, CSTS_RDY, DBS, INTMS, PAGE,
    PCI_BAR0, PCI_CLASS_PROG, PCI_INTERRUPT_PIN, PCI_SUBSYSTEM_VENDOR_ID, SC_ASYNC_LIMIT,
    SC_CQ_INVALID, SC_INVALID_FIELD, SC_INVALID_NS, SC_INVALID_OPCODE, SC_INVALID_VECTOR,
    SC_LBA_RANGE, SC_QID_INVALID, SC_QUEUE_DELETION, SC_QUEUE_SIZE, SC_SUCCESS, VS, Nvme,
    PciDevice, Qtest, base_args, qemu_args,
)

pytestmark = pytest.mark.device


def test_pci_config(nvme):
    pci = nvme.pci
    assert pci.read16(0x00) == 0x1234 and pci.read16(0x02) == 0x4e56
    # class code 01:08:02 = mass storage / NVM / NVMe
    assert pci.read8(PCI_CLASS_PROG) == 0x02
    assert pci.read8(0x0a) == 0x08 and pci.read8(0x0b) == 0x01
    assert pci.read16(PCI_SUBSYSTEM_VENDOR_ID) == 0x1234
    assert pci.read8(PCI_INTERRUPT_PIN) == 1
    # BAR0: 64-bit memory; BAR0 reads back where we put it
    assert pci.read32(PCI_BAR0) & 0x7 == 0x4
    assert pci.read32(PCI_BAR0) & ~0xf == Nvme.BAR0_ADDR
    caps = pci.capabilities()
    assert 0x11 in caps, "MSI-X capability"
    assert 0x10 in caps, "PCI Express capability"
    # MSI-X table size = max-ioqpairs + 1
    assert (pci.read16(caps[0x11] + 2) & 0x7ff) + 1 == 9


def test_bar0_size(nvme):
    pci = nvme.pci
    pci.write32(PCI_BAR0, 0xffffffff)
    size = ~(pci.read32(PCI_BAR0) & ~0xf) + 1 & 0xffffffff
    pci.write32(PCI_BAR0, Nvme.BAR0_ADDR)
    assert size == 8192     # Linux maps DBS + 4 KiB first


def test_registers(nvme):
    cap = nvme.readq(CAP)
    assert cap & 0xffff == 1023                 # MQES
    assert cap >> 16 & 1 == 1                   # CQR
    assert cap >> 17 & 3 == 0                   # AMS: round robin only
    assert cap >> 24 & 0xff == 20               # TO: 10 s
    assert cap >> 32 & 0xf == 0                 # DSTRD
    assert cap >> 37 & 0xff == 1                # CSS: NVM
    assert cap >> 48 & 0xf == 0 and cap >> 52 & 0xf == 4
    assert nvme.readl(CAP) == cap & 0xffffffff and nvme.readl(CAP + 4) == cap >> 32
    assert nvme.readl(VS) == 0x00010000
    assert nvme.readl(CSTS) == 0
    # 64-bit registers take two 32-bit writes (Linux's lo_hi_writeq) ...
    nvme.writel(ASQ, 0x12345000)
    nvme.writel(ASQ + 4, 0x9)
    assert nvme.readq(ASQ) == 0x912345000
    assert nvme.readl(ASQ + 4) == 0x9
    # ... and one 64-bit write
    nvme.writeq(ACQ, 0xabc0000)
    assert nvme.readq(ACQ) == 0xabc0000
    nvme.writel(AQA, 0xffffffff)
    assert nvme.readl(AQA) == 0x0fff0fff


def test_admin_bringup_identify(nvme, vm):
    path = "/machine/peripheral/nvme0"
    assert vm.qmp("qom-get", path=path, property="csts")["return"] == 0
    nvme.enable()
    assert nvme.readl(CSTS) == CSTS_RDY
    assert vm.qmp("qom-get", path=path, property="csts")["return"] == CSTS_RDY
    assert vm.qmp("qom-get", path=path, property="cc")["return"] == nvme.readl(CC)
    assert vm.qmp("qom-get", path=path, property="io-inflight")["return"] == 0
    cqe, data = nvme.identify(1)
    assert cqe.sc == SC_SUCCESS and cqe.sq_head == 1
    vid, ssvid = struct.unpack_from("<HH", data, 0)
    assert (vid, ssvid) == (0x1234, 0x1234)
    assert data[4:24] == b"QT0001".ljust(20)
    assert data[24:64].decode().startswith("cosim-nvme")
    assert data[64:72] == b"cosim-1 "
    assert data[77] == 5                                    # MDTS
    assert struct.unpack_from("<I", data, 516)[0] == 32     # NN
    assert data[512] == 0x66 and data[513] == 0x44          # SQES, CQES
    assert data[525] == 1                                   # VWC
    assert data[258] == 3 and data[259] == 3                # ACL, AERL

    cqe, data = nvme.identify(0, nsid=1)
    assert cqe.sc == SC_SUCCESS
    nsze, ncap, nuse = struct.unpack_from("<QQQ", data, 0)
    assert nsze == ncap == nuse == 8192
    assert data[26] == 0 and data[128 + 2] == 9             # FLBAS, LBAF0.LBADS

    cqe, data = nvme.identify(0, nsid=2)                     # valid, not attached
    assert cqe.sc == SC_SUCCESS and data[:24] == bytes(24)
    assert nvme.identify(0, nsid=0)[0].sc == SC_INVALID_NS
    assert nvme.identify(0, nsid=33)[0].sc == SC_INVALID_NS
    assert nvme.identify(2)[0].sc == SC_INVALID_FIELD       # CNS 2 is NVMe 1.1


def test_features_and_aer(nvme):
    nvme.enable()
    cqe = nvme.admin_cmd(ADM_SET_FEATURES, cdw10=0x07, cdw11=3 << 16 | 3)
    assert cqe.sc == SC_SUCCESS and cqe.dw0 == 7 << 16 | 7
    cqe = nvme.admin_cmd(ADM_GET_FEATURES, cdw10=0x06)
    assert cqe.sc == SC_SUCCESS and cqe.dw0 == 1
    assert nvme.admin_cmd(ADM_GET_FEATURES, cdw10=0x0c).sc == SC_INVALID_FIELD
    # AERs are held; the 5th exceeds AERL+1
    for cid in range(0x40, 0x44):
        nvme.submit(nvme.admin, nvme.sqe(ADM_ASYNC_EVENT, cid))
    assert nvme.no_completion(nvme.admin)
    cqe = nvme.admin_cmd(ADM_ASYNC_EVENT)
    assert cqe.sc == SC_ASYNC_LIMIT and cqe.dnr


def test_queue_errors(nvme):
    nvme.enable()
    buf = nvme.alloc(PAGE)
    a = nvme.admin_cmd
    assert a(ADM_CREATE_CQ, prp1=buf, cdw10=15 << 16 | 0, cdw11=1).sc == SC_QID_INVALID
    assert a(ADM_CREATE_CQ, prp1=buf, cdw10=15 << 16 | 9, cdw11=1).sc == SC_QID_INVALID
    assert a(ADM_CREATE_CQ, prp1=buf, cdw10=1024 << 16 | 1, cdw11=1).sc == SC_QUEUE_SIZE
    assert a(ADM_CREATE_CQ, prp1=buf, cdw10=15 << 16 | 1, cdw11=0).sc == SC_INVALID_FIELD
    assert a(ADM_CREATE_CQ, prp1=buf, cdw10=15 << 16 | 1,
             cdw11=9 << 16 | 3).sc == SC_INVALID_VECTOR
    assert a(ADM_CREATE_SQ, prp1=buf, cdw10=15 << 16 | 1, cdw11=1 << 16 | 1).sc == SC_CQ_INVALID
    q = nvme.create_io_queues(1, 16)
    assert a(ADM_DELETE_CQ, cdw10=1).sc == SC_QUEUE_DELETION
    assert a(ADM_DELETE_SQ, cdw10=1).sc == SC_SUCCESS
    assert a(ADM_DELETE_SQ, cdw10=1).sc == SC_QID_INVALID
    assert a(ADM_DELETE_CQ, cdw10=1).sc == SC_SUCCESS
    assert a(ADM_DELETE_CQ, cdw10=0).sc == SC_QID_INVALID
    assert q.qid == 1


def test_io_round_trip(nvme, image):
    nvme.enable()
    q = nvme.create_io_queues(1, 64)
    for slba, length in ((0, 512), (16, 2 * PAGE), (100, 64 * 1024), (8192 - 256, 128 * 1024)):
        data = os.urandom(length)
        wbuf, rbuf = nvme.alloc(length), nvme.alloc(length)
        nvme.qt.memwrite(wbuf, data)
        cqe = nvme.rw(q, CMD_WRITE, 1, slba, length // 512, wbuf, length)
        assert cqe.sc == SC_SUCCESS, cqe
        cqe = nvme.rw(q, CMD_READ, 1, slba, length // 512, rbuf, length)
        assert cqe.sc == SC_SUCCESS, cqe
        assert nvme.qt.memread(rbuf, length) == data
    # FUA write and Flush reach the image file
    data = os.urandom(PAGE)
    wbuf = nvme.alloc(PAGE)
    nvme.qt.memwrite(wbuf, data)
    assert nvme.rw(q, CMD_WRITE, 1, 40, 8, wbuf, PAGE, fua=True).sc == SC_SUCCESS
    assert nvme.cmd(q, CMD_FLUSH, nsid=1).sc == SC_SUCCESS
    with open(image, "rb") as f:
        f.seek(40 * 512)
        assert f.read(PAGE) == data


def test_io_errors(nvme):
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(256 * 1024)
    cqe = nvme.cmd(q, 0x7f, nsid=1)
    assert cqe.sc == SC_INVALID_OPCODE and cqe.dnr
    assert nvme.admin_cmd(0xc5).sc == SC_INVALID_OPCODE
    assert nvme.rw(q, CMD_READ, 2, 0, 1, buf, 512).sc == SC_INVALID_NS
    assert nvme.rw(q, CMD_READ, 0, 0, 1, buf, 512).sc == SC_INVALID_NS
    assert nvme.rw(q, CMD_READ, 0xffffffff, 0, 1, buf, 512).sc == SC_INVALID_NS
    assert nvme.rw(q, CMD_READ, 1, 8192, 1, buf, 512).sc == SC_LBA_RANGE
    assert nvme.rw(q, CMD_READ, 1, 8191, 2, buf, 1024).sc == SC_LBA_RANGE
    # 129 KiB > MDTS (128 KiB)
    assert nvme.rw(q, CMD_READ, 1, 0, 258, buf, 258 * 512).sc == SC_INVALID_FIELD


def test_msix_vectors_and_pin_fallback(nvme):
    """Without MSI-X enabled completions are still posted (polled here)."""
    nvme.enable()
    q = nvme.create_io_queues(2, 8, vector=2, ien=True)
    buf = nvme.alloc(PAGE)
    for i in range(20):     # wraps the 8-entry CQ: phase flips
        assert nvme.rw(q, CMD_READ, 1, i, 8, buf, PAGE).sc == SC_SUCCESS
    nvme.writel(INTMS, 1)
    assert nvme.readl(INTMS) == 1


def test_robustness(nvme, vm):
    """Garbage from the guest must never take QEMU down."""
    nvme.enable(qsize=4)
    qt = nvme.qt
    # doorbells: missing queues, values beyond the queue size, odd offsets and sizes
    for off in range(DBS, DBS + 8192 - 4, 4):
        nvme.writel(off, 0xffffffff)
    qt.writew(nvme.bar + DBS + 2, 1)
    nvme.writeq(DBS, 1)
    for off in range(0x38, 0x1000, 0x3c):
        nvme.writel(off, 0xffffffff)
    # PRPs into our own BAR (the re-entrancy guard refuses the DMA) and wrapping
    cqe = nvme.admin_cmd(6, prp1=Nvme.BAR0_ADDR, cdw10=1)
    assert cqe.sc in (SC_SUCCESS, 0x004)
    assert nvme.readl(0x08) == 0x00010000       # our registers survived the DMA
    cqe = nvme.admin_cmd(6, prp1=0xfffffffffffff000, prp2=0, cdw10=1)
    assert cqe.sc in (SC_INVALID_FIELD, 0x004)
    # I/O queues in MMIO: the SQ fetch fails, which is fatal (CSTS.CFS)
    nvme.admin_cmd(ADM_CREATE_CQ, prp1=Nvme.BAR0_ADDR, cdw10=15 << 16 | 1, cdw11=1)
    nvme.admin_cmd(ADM_CREATE_SQ, prp1=0xfee00000, cdw10=15 << 16 | 1, cdw11=1 << 16 | 1)
    nvme.writel(DBS + 8, 3)
    nvme.wait_csts(CSTS_RDY | CSTS_CFS, CSTS_RDY | CSTS_CFS)
    # the model is still alive and resets cleanly
    vm.qmp("query-status")
    nvme.writel(CC, 0)
    nvme.wait_csts(CSTS_RDY, 0)
    nvme.enable()
    assert nvme.identify(1)[0].sc == SC_SUCCESS


def test_enable_misprogrammed(nvme):
    nvme.writel(AQA, 0)                         # 1-entry admin queues
    nvme.writeq(ASQ, 0x200000)
    nvme.writeq(ACQ, 0x201000)
    nvme.writel(CC, CC_IOSQES_IOCQES | CC_EN)
    assert nvme.readl(CSTS) & CSTS_CFS
    nvme.writel(CC, 0)
    assert nvme.readl(CSTS) == 0
    nvme.enable()


def test_shutdown_and_system_reset(nvme, vm):
    nvme.enable()
    nvme.writel(CC, nvme.readl(CC) | 1 << 14)
    assert nvme.wait_csts(0xc, 0x8) & CSTS_RDY
    vm.qmp("system_reset")
    nvme.wait_csts(0xffffffff, 0)
    # a system reset clears the BARs: map again and come back up
    nvme.map_bars()
    nvme.enable()
    assert nvme.identify(1)[0].sc == SC_SUCCESS


def test_properties(launch, image):
    vm = launch(qemu_args(image, "serial=PROPS,mdts=3,max-ioqpairs=2,mqes=63,dstrd=2,nn=4,"
                                 "vendor-id=0x1d0f,device-id=0x0042"))
    nvme = Nvme.attach(vm, vendor=0x1d0f, device=0x0042)
    cap = nvme.readq(CAP)
    assert cap & 0xffff == 63 and cap >> 32 & 0xf == 2
    nvme.enable()
    cqe, data = nvme.identify(1)
    assert data[4:9] == b"PROPS" and data[77] == 3
    assert struct.unpack_from("<I", data, 516)[0] == 4
    assert nvme.admin_cmd(ADM_CREATE_CQ, prp1=nvme.alloc(PAGE), cdw10=15 << 16 | 3,
                          cdw11=1).sc == SC_QID_INVALID
    nvme.create_io_queues(2, 16)


@pytest.mark.parametrize("props,message", [
    ("serial=x,mdts=11", "mdts"),
    ("serial=x,max-ioqpairs=0", "max-ioqpairs"),
    ("serial=012345678901234567890", "serial"),
])
def test_bad_properties(tmp_path, image, props, message):
    import subprocess

    from cosim import paths
    proc = subprocess.run([str(paths.QEMU_BIN), *qemu_args(image, props), "-display", "none",
                           "-S", "-qtest", "null", "-accel", "qtest"],
                          input="", capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert message in proc.stderr


def test_namespace_hotplug(nvme, vm, tmp_path):
    nvme.enable()
    img = tmp_path / "ns2.img"
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    vm.qmp("blockdev-add", driver="file", filename=str(img), **{"node-name": "d2"})
    r = vm.qmp("device_add", driver="cosim-nvme-ns", bus="nvme0", drive="d2", id="ns2")
    assert "error" not in r, r
    assert vm.qmp("qom-get", path="/machine/peripheral/ns2", property="nsid")["return"] == 2
    cqe, data = nvme.identify(0, nsid=2)
    assert cqe.sc == SC_SUCCESS and struct.unpack_from("<Q", data, 0)[0] == 2048
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)
    assert nvme.rw(q, CMD_WRITE, 2, 0, 8, buf, PAGE).sc == SC_SUCCESS
    r = vm.qmp("device_del", id="ns2")
    assert "error" not in r, r
    cqe, data = nvme.identify(0, nsid=2)
    assert cqe.sc == SC_SUCCESS and data[:8] == bytes(8)
    assert nvme.rw(q, CMD_READ, 2, 0, 8, buf, PAGE).sc == SC_INVALID_NS
    assert nvme.rw(q, CMD_READ, 1, 0, 8, buf, PAGE).sc == SC_SUCCESS
    # the same drive plugs straight back in (as another nsid)
    r = vm.qmp("device_add", driver="cosim-nvme-ns", bus="nvme0", drive="d2", nsid=3, id="ns3")
    assert "error" not in r, r
    assert struct.unpack_from("<Q", nvme.identify(0, nsid=3)[1], 0)[0] == 2048
    # a duplicate nsid is refused with an error, not a crash
    r = vm.qmp("device_add", driver="cosim-nvme-ns", bus="nvme0", drive="d2", nsid=1, id="dup")
    assert "error" in r


def test_msix_vector_per_cq(nvme):
    """Each CQ signals its own vector; messages land in RAM (no APIC needed)."""
    msgs = nvme.alloc(PAGE)
    assert nvme.enable_msix(msgs) == 9
    nvme.enable()

    def fired():
        return nvme.msix_fired(msgs)

    nvme.identify(1)
    assert fired() == {0}
    q1 = nvme.create_io_queues(1, 16, vector=3, ien=True)
    q2 = nvme.create_io_queues(2, 16, vector=5, ien=True)
    fired()
    buf = nvme.alloc(PAGE)
    assert nvme.rw(q2, CMD_READ, 1, 0, 8, buf, PAGE).sc == SC_SUCCESS
    assert fired() == {5}
    assert nvme.rw(q1, CMD_READ, 1, 0, 8, buf, PAGE).sc == SC_SUCCESS
    assert fired() == {3}
    # IEN=0: completions but no message
    q3 = nvme.create_io_queues(3, 16, vector=7, ien=False)
    fired()
    assert nvme.rw(q3, CMD_READ, 1, 0, 8, buf, PAGE).sc == SC_SUCCESS
    assert fired() == set()


def test_prp_list_chained_and_cq_wrap(nvme):
    nvme.enable()
    q = nvme.create_io_queues(1, 4)         # 4-entry queues: 3 commands in flight at most
    length = 6 * PAGE
    data = os.urandom(length)
    pages = [nvme.alloc(PAGE) for _ in range(6)]
    for i, p in enumerate(pages):
        nvme.qt.memwrite(p, data[i * PAGE:(i + 1) * PAGE])
    # a PRP list that starts two slots before the end of its page must chain
    lists = nvme.alloc(2 * PAGE)
    first = lists + PAGE - 16
    nvme.qt.memwrite(first, struct.pack("<QQ", pages[1], lists + PAGE))
    nvme.qt.memwrite(lists + PAGE, struct.pack("<4Q", *pages[2:]))
    cqe = nvme.cmd(q, CMD_WRITE, nsid=1, prp1=pages[0], prp2=first, cdw10=300, cdw12=47)
    assert cqe.sc == SC_SUCCESS, cqe
    rbuf = nvme.alloc(length)
    assert nvme.rw(q, CMD_READ, 1, 300, 48, rbuf, length).sc == SC_SUCCESS
    assert nvme.qt.memread(rbuf, length) == data
    # three at once, then again without reading the CQ in between: the
    # completions that do not fit wait for the CQ head doorbell
    buf = nvme.alloc(PAGE)
    for rnd in range(4):
        cids = set()
        for i in range(3):
            cid = 0x100 + rnd * 8 + i
            cids.add(cid)
            nvme.submit(q, nvme.sqe(CMD_READ, cid, nsid=1, prp1=buf, cdw10=i, cdw12=7))
        got = {nvme.poll(q).cid for _ in range(3)}
        assert got == cids


def test_namespace_hotplug_notice(launch, image, tmp_path):
    """ns-notice-aen=on: device_add/device_del complete an AER with a Notice."""
    vm = launch(qemu_args(image, "serial=HP,ns-notice-aen=on"))
    nvme = Nvme.attach(vm)
    nvme.enable()
    cqe, data = nvme.identify(1)
    assert struct.unpack_from("<I", data, 92)[0] == 1 << 8         # OAES
    assert nvme.admin_cmd(ADM_SET_FEATURES, cdw10=0x0b, cdw11=1 << 8).sc == SC_SUCCESS
    nvme.submit(nvme.admin, nvme.sqe(ADM_ASYNC_EVENT, 0x77))
    img = tmp_path / "ns5.img"
    with open(img, "wb") as f:
        f.truncate(1 << 20)
    vm.qmp("blockdev-add", driver="file", filename=str(img), **{"node-name": "d5"})
    r = vm.qmp("device_add", driver="cosim-nvme-ns", bus="nvme0", drive="d5", nsid=5, id="ns5")
    assert "error" not in r, r
    cqe = nvme.poll(nvme.admin)
    assert cqe.cid == 0x77 and cqe.sc == SC_SUCCESS
    assert cqe.dw0 == 0x04 << 16 | 0x00 << 8 | 0x2      # Notice, NS attribute changed, log 04h
    log = nvme.alloc(PAGE)
    cqe = nvme.admin_cmd(0x02, prp1=log, cdw10=1023 << 16 | 0x04)
    assert cqe.sc == SC_SUCCESS
    assert struct.unpack_from("<2I", nvme.qt.memread(log, 8)) == (5, 0)
    nvme.submit(nvme.admin, nvme.sqe(ADM_ASYNC_EVENT, 0x78))
    assert "error" not in vm.qmp("device_del", id="ns5")
    cqe = nvme.poll(nvme.admin)
    assert cqe.cid == 0x78 and cqe.dw0 == 0x040002


def test_reset_with_dma_into_mmio(nvme, vm):
    """Reads whose PRPs point at unassigned MMIO go through QEMU's single
    bounce buffer a page at a time, so most wait outside the block layer;
    resets and namespace unplug must still finish (cancel) them."""
    mmio = 0xd0000000
    lst = nvme.alloc(PAGE)
    nvme.qt.memwrite(lst, struct.pack("<31Q", *[mmio + (k + 1) * PAGE for k in range(31)]))

    def flood(q, n):
        for i in range(n):      # 128 KiB each: 32 bounce-buffer rounds
            nvme.submit(q, nvme.sqe(CMD_READ, i, nsid=1, prp1=mmio, prp2=lst,
                                    cdw10=i * 8, cdw12=255))

    for rnd in range(4):
        nvme.enable()
        flood(nvme.create_io_queues(1, 64), 40)
        if rnd % 2:
            nvme.writel(CC, 0)
            nvme.wait_csts(CSTS_RDY, 0)
        else:
            vm.qmp("system_reset")
            nvme.wait_csts(0xffffffff, 0)
            nvme.map_bars()
    nvme.enable()
    flood(nvme.create_io_queues(1, 64), 60)
    assert "error" not in vm.qmp("device_del", id="ns1")
    cqe, data = nvme.identify(0, nsid=1)
    assert cqe.sc == SC_SUCCESS and data[:8] == bytes(8)
    assert vm.qmp("query-status")["return"]["status"] in ("running", "paused")


def test_two_controllers_default_serials(launch, image, tmp_path):
    img2 = tmp_path / "b.img"
    with open(img2, "wb") as f:
        f.truncate(1 << 20)
    vm = launch(base_args() + [
                 "-device", "cosim-nvme,id=a", "-device", "cosim-nvme,id=b",
                 "-blockdev", f"driver=file,filename={image},node-name=d0",
                 "-blockdev", f"driver=file,filename={img2},node-name=d1",
                 "-device", "cosim-nvme-ns,bus=a,drive=d0",
                 "-device", "cosim-nvme-ns,bus=b,drive=d1"])
    qt = Qtest(vm)
    serials = []
    for i, pci in enumerate(PciDevice.find(qt)):
        nvme = Nvme(qt, pci, ram_base=0x100000 + i * 0x100000)
        nvme.BAR0_ADDR = nvme.bar = 0xE0000000 + i * 0x200000
        nvme.BAR4_ADDR = nvme.BAR0_ADDR + 0x100000
        nvme.map_bars()
        nvme.enable()
        serials.append(nvme.identify(1)[1][4:24].decode().strip())
        # nsid=0 on the ns device: the lowest free id
        assert struct.unpack_from("<Q", nvme.identify(0, nsid=1)[1], 0)[0] > 0
    assert sorted(serials) == ["COSIM0001", "COSIM0002"]
