# SPDX-License-Identifier: GPL-2.0-or-later
"""256 namespaces on one controller over qtest: null-co drives of different
sizes attached in reverse nsid order, Identify CNS 0 for a few, the NVMe 1.1
active namespace list (CNS 2) in order, I/O to the last nsid, 0/0B past it,
no 257th namespace, and the memory they cost."""
import struct

import pytest

from nvme_qtest import (
    ADM_IDENTIFY, CMD_READ, CMD_WRITE, PAGE, SC_INVALID_NS, SC_LBA_RANGE, SC_SUCCESS,
    base_args,
)
import nvme_qtest

pytestmark = pytest.mark.device

NN = 256
MIB = 1 << 20


def ns_bytes(nsid):
    return (1 + nsid % 4) * MIB


def many_ns_args(nn=NN):
    args = [*base_args(), "-device", f"cosim-nvme,id=nvme0,serial=QT0001,nn={nn},vs=0x10100"]
    for nsid in range(nn, 0, -1):
        args += ["-blockdev", f"driver=null-co,node-name=null{nsid},size={ns_bytes(nsid)},"
                              "read-zeroes=on",
                 "-device", f"cosim-nvme-ns,bus=nvme0,drive=null{nsid},nsid={nsid}"]
    return args


def controller(vm):
    nvme = nvme_qtest.Nvme.attach(vm)
    nvme.enable()
    return nvme


def vm_rss_kib(vm):
    with open(f"/proc/{vm.get_pid()}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def active_list(nvme, after):
    buf = nvme.alloc(PAGE)
    c = nvme.admin_cmd(ADM_IDENTIFY, nsid=after, prp1=buf, cdw10=2)
    assert c.sc == SC_SUCCESS, c
    ids = struct.unpack("<1024I", nvme.qt.memread(buf, PAGE))
    return [i for i in ids if i]


def test_256_namespaces(launch):
    vm = launch(many_ns_args())
    nvme = controller(vm)
    c, data = nvme.identify(1)
    assert struct.unpack_from("<I", data, 516)[0] == NN              # Identify NN
    for nsid in (1, 2, 128, 255, 256):
        c, data = nvme.identify(0, nsid)
        assert c.sc == SC_SUCCESS, c
        nsze, ncap = struct.unpack_from("<QQ", data, 0)
        assert nsze == ncap == ns_bytes(nsid) // 512, nsid

    assert active_list(nvme, 0) == list(range(1, NN + 1))
    assert active_list(nvme, 200) == list(range(201, NN + 1))
    assert active_list(nvme, NN) == []

    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)
    last_lba = ns_bytes(NN) // 512 - 1
    assert nvme.rw(q, CMD_WRITE, NN, last_lba - 7, 8, buf, PAGE).sc == SC_SUCCESS
    nvme.qt.memset(buf, PAGE, 0xff)
    assert nvme.rw(q, CMD_READ, NN, last_lba - 7, 8, buf, PAGE).sc == SC_SUCCESS
    assert nvme.qt.memread(buf, PAGE) == bytes(PAGE)                # read-zeroes
    assert nvme.rw(q, CMD_READ, NN, last_lba, 8, buf, PAGE).sc == SC_LBA_RANGE
    c = nvme.rw(q, CMD_READ, NN + 1, 0, 8, buf, PAGE)
    assert c.sc == SC_INVALID_NS and c.dnr, c
    assert nvme.identify(0, NN + 1)[0].sc == SC_INVALID_NS

    # a 257th namespace does not fit, with or without an explicit nsid
    vm.qmp("blockdev-add", driver="null-co", **{"node-name": "extra"})
    for props in ({"nsid": NN + 1}, {}):
        r = vm.qmp("device_add", driver="cosim-nvme-ns", bus="nvme0", drive="extra", **props)
        assert "error" in r, r
    r = vm.qmp("device_add", driver="cosim-nvme-ns", bus="nvme0", drive="extra", nsid=NN + 1)
    assert "above the controller's namespace count" in r["error"]["desc"]


def test_256_namespaces_memory(launch):
    """256 namespaces cost QEMU a few MiB at most over one."""
    one = launch(many_ns_args(1))
    controller(one)
    many = launch(many_ns_args())
    controller(many)
    extra_kib = vm_rss_kib(many) - vm_rss_kib(one)
    print(f"RSS: 1 namespace {vm_rss_kib(one)} KiB, 256: {vm_rss_kib(many)} KiB")
    assert extra_kib < 64 * 1024, f"256 namespaces cost {extra_kib} KiB"
