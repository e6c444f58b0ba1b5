# SPDX-License-Identifier: GPL-2.0-or-later
"""qtest helpers for cosim-nvme device tests: PCI config space through the
0xcf8/0xcfc ports, BAR mapping, NVMe registers, and queues built in guest
RAM.  With -accel qtest no vCPU runs: the test is the "driver"."""
import base64
import struct
import time

from cosim import paths

# ---- QEMU command lines ----


def base_args():
    return ["-nodefaults", "-machine", "q35",
            *[a for d in paths.FIRMWARE_DIRS for a in ("-L", d)]]


def qemu_args(image, ctrl_props="serial=QT0001", ns_props="nsid=1"):
    return [
        *base_args(),
        "-device", f"cosim-nvme,id=nvme0,{ctrl_props}" if ctrl_props else "cosim-nvme,id=nvme0",
        "-blockdev", f"driver=file,filename={image},node-name=d0",
        "-device", f"cosim-nvme-ns,bus=nvme0,drive=d0,id=ns1,{ns_props}",
    ]


PCI_VENDOR_ID = 0x00
PCI_COMMAND = 0x04
PCI_CLASS_PROG = 0x09
PCI_BAR0 = 0x10
PCI_BAR4 = 0x20
PCI_SUBSYSTEM_VENDOR_ID = 0x2c
PCI_CAPABILITY_LIST = 0x34
PCI_INTERRUPT_PIN = 0x3d
PCI_COMMAND_MEMORY = 0x2
PCI_COMMAND_MASTER = 0x4

COSIM_VENDOR = 0x1234
COSIM_DEVICE = 0x4e56

# registers
CAP, VS, INTMS, INTMC, CC, CSTS, AQA, ASQ, ACQ, DBS = (
    0x00, 0x08, 0x0c, 0x10, 0x14, 0x1c, 0x24, 0x28, 0x30, 0x1000)
CC_EN = 1
CC_IOSQES_IOCQES = 6 << 16 | 4 << 20
CSTS_RDY, CSTS_CFS = 1, 2

# opcodes
ADM_DELETE_SQ, ADM_CREATE_SQ, ADM_GET_LOG_PAGE, ADM_DELETE_CQ, ADM_CREATE_CQ = 0, 1, 2, 4, 5
ADM_IDENTIFY, ADM_ABORT, ADM_SET_FEATURES, ADM_GET_FEATURES, ADM_ASYNC_EVENT = 6, 8, 9, 10, 12
CMD_FLUSH, CMD_WRITE, CMD_READ = 0, 1, 2

# status (SCT << 8 | SC), without DNR
SC_SUCCESS = 0x000
SC_INVALID_OPCODE = 0x001
SC_INVALID_FIELD = 0x002
SC_INVALID_NS = 0x00b
SC_LBA_RANGE = 0x080
SC_CQ_INVALID = 0x100
SC_QID_INVALID = 0x101
SC_QUEUE_SIZE = 0x102
SC_ASYNC_LIMIT = 0x105
SC_INVALID_VECTOR = 0x108
SC_QUEUE_DELETION = 0x10c

PAGE = 4096


class Cqe:
    def __init__(self, raw):
        self.dw0, _, self.sq_head, self.sq_id, self.cid, status = struct.unpack("<IIHHHH", raw)
        self.phase = status & 1
        self.status = status >> 1           # SCT/SC/M/DNR
        self.sc = self.status & 0x7ff       # SCT << 8 | SC
        self.dnr = bool(self.status & 0x4000)

    def __repr__(self):
        return (f"Cqe(cid={self.cid:#x}, sc={self.sc:#05x}, dnr={self.dnr}, "
                f"dw0={self.dw0:#x}, sqhd={self.sq_head}, sqid={self.sq_id})")


class Qtest:
    """Memory and port access over the qtest socket."""

    def __init__(self, vm):
        self.vm = vm

    def cmd(self, line):
        resp = self.vm.qtest(line)
        if not resp.startswith("OK"):
            raise RuntimeError(f"qtest {line!r}: {resp!r}")
        return resp[3:].strip()

    def batch(self, lines):
        """Send several commands in one write; QEMU's qtest server handles
        every line of one read before its main loop runs again (1024 bytes
        at most), so no bottom half of the device runs in between."""
        data = "".join(line + "\n" for line in lines).encode()
        assert len(data) <= 1024, "one qtest read is at most 1024 bytes"
        proto = self.vm._qtest
        proto._sock.sendall(data)
        for line in lines:
            resp = proto._sockfile.readline()
            if not resp.startswith("OK"):
                raise RuntimeError(f"qtest {line!r}: {resp!r}")

    def outl(self, port, val):
        self.cmd(f"outl {port:#x} {val:#x}")

    def inl(self, port):
        return int(self.cmd(f"inl {port:#x}"), 16)

    def readl(self, addr):
        return int(self.cmd(f"readl {addr:#x}"), 16)

    def readq(self, addr):
        return int(self.cmd(f"readq {addr:#x}"), 16)

    def writel(self, addr, val):
        self.cmd(f"writel {addr:#x} {val:#x}")

    def writeq(self, addr, val):
        self.cmd(f"writeq {addr:#x} {val:#x}")

    def writew(self, addr, val):
        self.cmd(f"writew {addr:#x} {val:#x}")

    def memwrite(self, addr, data):
        if data:
            self.cmd(f"b64write {addr:#x} {len(data):#x} {base64.b64encode(data).decode()}")

    def memread(self, addr, size):
        return base64.b64decode(self.cmd(f"b64read {addr:#x} {size:#x}"))

    def memset(self, addr, size, byte=0):
        self.cmd(f"memset {addr:#x} {size:#x} {byte:#x}")


class PciDevice:
    """Config space of one function on bus 0 via the legacy 0xcf8/0xcfc ports."""

    def __init__(self, qt, devfn):
        self.qt = qt
        self.devfn = devfn

    def _addr(self, reg):
        return 0x80000000 | self.devfn << 8 | (reg & 0xfc)

    def read32(self, reg):
        self.qt.outl(0xcf8, self._addr(reg))
        return self.qt.inl(0xcfc)

    def write32(self, reg, val):
        self.qt.outl(0xcf8, self._addr(reg))
        self.qt.outl(0xcfc, val)

    def read16(self, reg):
        return self.read32(reg) >> ((reg & 2) * 8) & 0xffff

    def read8(self, reg):
        return self.read32(reg) >> ((reg & 3) * 8) & 0xff

    def capabilities(self):
        caps = {}
        ptr = self.read8(PCI_CAPABILITY_LIST)
        while ptr:
            caps[self.read8(ptr)] = ptr
            ptr = self.read8(ptr + 1)
        return caps

    @classmethod
    def find(cls, qt, vendor=COSIM_VENDOR, device=COSIM_DEVICE):
        found = []
        for devfn in range(0, 256):
            dev = cls(qt, devfn)
            if dev.read32(PCI_VENDOR_ID) == (device << 16 | vendor):
                found.append(dev)
        return found


class Queue:
    def __init__(self, qid, size, sq_base, cq_base, dstrd=0):
        self.qid, self.size = qid, size
        self.sq_base, self.cq_base = sq_base, cq_base
        self.sq_tail = self.cq_head = 0
        self.phase = 1
        self.stride = 4 << dstrd


class Nvme:
    """A cosim-nvme function with BAR0 mapped, driven like a minimal driver."""

    BAR0_ADDR = 0xE0000000
    BAR4_ADDR = 0xE0100000

    def __init__(self, qt, pci, ram_base=0x100000):
        self.qt, self.pci = qt, pci
        self.bar = self.BAR0_ADDR
        self.ram = ram_base     # allocator for queues and buffers
        self.cid = 0
        self.admin = None
        self.dstrd = 0

    @classmethod
    def attach(cls, vm, vendor=COSIM_VENDOR, device=COSIM_DEVICE):
        """The one controller with these IDs in `vm`, its BARs mapped and bus
        mastering on, not yet enabled."""
        qt = Qtest(vm)
        devs = PciDevice.find(qt, vendor, device)
        assert len(devs) == 1, f"{len(devs)} functions {vendor:04x}:{device:04x}"
        nvme = cls(qt, devs[0])
        nvme.map_bars()
        return nvme

    # ---- setup ----
    def map_bars(self):
        self.pci.write32(PCI_BAR0, self.BAR0_ADDR)
        self.pci.write32(PCI_BAR0 + 4, 0)
        self.pci.write32(PCI_BAR4, self.BAR4_ADDR)
        self.pci.write32(PCI_BAR4 + 4, 0)
        self.pci.write32(PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)
        self.dstrd = self.readq(CAP) >> 32 & 0xf

    def alloc(self, size, align=PAGE):
        addr = (self.ram + align - 1) & ~(align - 1)
        self.ram = addr + size
        self.qt.memset(addr, size)
        return addr

    def enable_msix(self, msg_base):
        """Enable MSI-X with vector v writing v + 0x100 to msg_base + 4 * v.

        The messages go to guest RAM instead of an APIC, so a test can see
        which vectors fired without a CPU."""
        cap = self.pci.capabilities()[0x11]
        nvec = (self.pci.read16(cap + 2) & 0x7ff) + 1
        for v in range(nvec):
            entry = self.BAR4_ADDR + 16 * v
            self.qt.writel(entry, msg_base + 4 * v)
            self.qt.writel(entry + 4, 0)
            self.qt.writel(entry + 8, 0x100 + v)
            self.qt.writel(entry + 12, 0)          # unmask
        ctrl = self.pci.read32(cap)
        self.pci.write32(cap, (ctrl & 0x3fffffff) | 1 << 31)   # enable, no function mask
        return nvec

    def msix_fired(self, msg_base, nvec=9):
        """The vectors whose message landed since the last call (enable_msix's
        layout), clearing them for the next one."""
        raw = self.qt.memread(msg_base, nvec * 4)
        self.qt.memset(msg_base, nvec * 4)
        return {v for v in range(nvec) if struct.unpack_from("<I", raw, 4 * v)[0] == 0x100 + v}

    # ---- registers ----
    def readl(self, off):
        return self.qt.readl(self.bar + off)

    def readq(self, off):
        return self.qt.readq(self.bar + off)

    def writel(self, off, val):
        self.qt.writel(self.bar + off, val)

    def writeq(self, off, val):
        self.qt.writeq(self.bar + off, val)

    def wait_csts(self, mask, want, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            csts = self.readl(CSTS)
            if csts & mask == want:
                return csts
            if time.monotonic() > deadline:
                raise TimeoutError(f"CSTS {csts:#x}: want {want:#x} under {mask:#x}")
            time.sleep(0.001)

    def enable(self, qsize=32, cc=0):
        """start_enable(), then wait for CSTS.RDY."""
        self.start_enable(qsize, cc)
        self.wait_csts(CSTS_RDY | CSTS_CFS, CSTS_RDY)

    def start_enable(self, qsize=32, cc=0):
        """Linux's order: disable, wait !RDY, AQA, ASQ/ACQ as 32-bit halves, CC
        (plus the bits in @cc, e.g. CC.AMS) with EN set; CSTS.RDY may follow later."""
        self.writel(CC, 0)
        self.wait_csts(CSTS_RDY, 0)
        sq, cq = self.alloc(qsize * 64), self.alloc(qsize * 16)
        self.admin = Queue(0, qsize, sq, cq, self.dstrd)
        self.writel(AQA, (qsize - 1) << 16 | (qsize - 1))
        for reg, val in ((ASQ, sq), (ACQ, cq)):
            self.writel(reg, val & 0xffffffff)
            self.writel(reg + 4, val >> 32)
        self.writel(CC, CC_IOSQES_IOCQES | cc | CC_EN)

    # ---- commands ----
    def sqe(self, opcode, cid, nsid=0, prp1=0, prp2=0, cdw10=0, cdw11=0, cdw12=0,
            cdw13=0, cdw14=0, cdw15=0, flags=0):
        return struct.pack("<BBHIIIQQQIIIIII", opcode, flags, cid, nsid, 0, 0, 0, prp1, prp2,
                           cdw10, cdw11, cdw12, cdw13, cdw14, cdw15)

    def submit(self, q, raw_sqe):
        self.qt.memwrite(q.sq_base + q.sq_tail * 64, raw_sqe)
        q.sq_tail = (q.sq_tail + 1) % q.size
        self.writel(DBS + 2 * q.qid * q.stride, q.sq_tail)

    def poll(self, q, timeout=5.0):
        """Wait for the next CQE (phase tag flips), consume it, ring the CQ head."""
        deadline = time.monotonic() + timeout
        while True:
            cqe = Cqe(self.qt.memread(q.cq_base + q.cq_head * 16, 16))
            if cqe.phase == q.phase:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"no completion on queue {q.qid}")
            time.sleep(0.0005)
        q.cq_head += 1
        if q.cq_head == q.size:
            q.cq_head, q.phase = 0, q.phase ^ 1
        self.writel(DBS + (2 * q.qid + 1) * q.stride, q.cq_head)
        return cqe

    def no_completion(self, q, wait=0.2):
        time.sleep(wait)
        cqe = Cqe(self.qt.memread(q.cq_base + q.cq_head * 16, 16))
        return cqe.phase != q.phase

    def cmd(self, q, opcode, **kw):
        self.cid = (self.cid + 1) & 0xffff
        self.submit(q, self.sqe(opcode, self.cid, **kw))
        cqe = self.poll(q)
        assert cqe.cid == self.cid, cqe
        assert cqe.sq_id == q.qid, cqe
        return cqe

    def admin_cmd(self, opcode, **kw):
        return self.cmd(self.admin, opcode, **kw)

    def identify(self, cns, nsid=0):
        buf = self.alloc(PAGE)
        cqe = self.admin_cmd(ADM_IDENTIFY, nsid=nsid, prp1=buf, cdw10=cns)
        return cqe, self.qt.memread(buf, PAGE)

    def create_io_queues(self, qid, size=64, vector=0, ien=False):
        sq, cq = self.alloc(size * 64), self.alloc(size * 16)
        c = self.admin_cmd(ADM_CREATE_CQ, prp1=cq, cdw10=(size - 1) << 16 | qid,
                           cdw11=vector << 16 | (2 if ien else 0) | 1)
        assert c.sc == SC_SUCCESS, c
        c = self.admin_cmd(ADM_CREATE_SQ, prp1=sq, cdw10=(size - 1) << 16 | qid,
                           cdw11=qid << 16 | 1)
        assert c.sc == SC_SUCCESS, c
        return Queue(qid, size, sq, cq, self.dstrd)

    def prps(self, buf, length):
        """PRP1/PRP2 for a page-aligned buffer, building a PRP list if needed."""
        pages = [buf + i * PAGE for i in range((length + PAGE - 1) // PAGE)]
        if len(pages) == 1:
            return pages[0], 0
        if len(pages) == 2:
            return pages[0], pages[1]
        lst = self.alloc(PAGE)
        self.qt.memwrite(lst, struct.pack(f"<{len(pages) - 1}Q", *pages[1:]))
        return pages[0], lst

    def rw(self, q, opcode, nsid, slba, nlb, buf, length, fua=False):
        prp1, prp2 = self.prps(buf, length)
        return self.cmd(q, opcode, nsid=nsid, prp1=prp1, prp2=prp2,
                        cdw10=slba & 0xffffffff, cdw11=slba >> 32,
                        cdw12=(nlb - 1) | (1 << 30 if fua else 0))
