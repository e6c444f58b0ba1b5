# SPDX-License-Identifier: GPL-2.0-or-later
"""Device tests of Firmware Image Download / Firmware Activate and Format NVM
over qtest: slots and activation at the next reset, LBA format switch and
user data erase on the image, and the negative statuses."""
import struct

import pytest

from nvme_qtest import (
    ADM_GET_LOG_PAGE, CMD_READ, PAGE, SC_INVALID_FIELD, SC_INVALID_NS, SC_LBA_RANGE,
    SC_SUCCESS, qemu_args,
)
import nvme_qtest

pytestmark = pytest.mark.device

ADM_FW_ACTIVATE, ADM_FW_DOWNLOAD, ADM_FORMAT_NVM = 0x10, 0x11, 0x80
SC_FIRMWARE_SLOT, SC_FIRMWARE_IMAGE, SC_INVALID_FORMAT = 0x106, 0x107, 0x10a


def controller(launch, image, props):
    vm = launch(qemu_args(image, ctrl_props=props))
    dev = nvme_qtest.Nvme.attach(vm)
    dev.enable()
    return dev


def fw_log(nvme):
    buf = nvme.alloc(PAGE)
    assert nvme.admin_cmd(ADM_GET_LOG_PAGE, prp1=buf, cdw10=127 << 16 | 3).sc == SC_SUCCESS
    data = nvme.qt.memread(buf, 64)
    return data[0], [data[8 + 8 * i:16 + 8 * i] for i in range(7)]


def identify_fr(nvme):
    cqe, data = nvme.identify(1)
    assert cqe.sc == SC_SUCCESS
    return data[64:72], data[256], data[260]     # FR, OACS low byte, FRMW


def download(nvme, image, piece=PAGE):
    buf = nvme.alloc(piece)
    for off in range(0, len(image), piece):
        chunk = image[off:off + piece]
        nvme.qt.memwrite(buf, chunk)
        cqe = nvme.admin_cmd(ADM_FW_DOWNLOAD, prp1=buf, cdw10=len(chunk) // 4 - 1,
                             cdw11=off // 4)
        if cqe.sc != SC_SUCCESS:
            return cqe
    return cqe


def commit(nvme, slot, action):
    return nvme.admin_cmd(ADM_FW_ACTIVATE, cdw10=action << 3 | slot)


def test_firmware_slots(launch, image):
    nvme = controller(launch, image, "serial=QT0001,firmware=BASE-1,fw-slots=3")
    fr, oacs, frmw = identify_fr(nvme)
    assert (fr, oacs & 0x6, frmw) == (b"BASE-1  ", 0x6, 3 << 1 | 1)
    assert fw_log(nvme) == (1, [b"BASE-1  "] + [bytes(8)] * 6)
    assert commit(nvme, 2, 0).sc == SC_FIRMWARE_IMAGE       # nothing downloaded
    assert download(nvme, b"UPDATE-2" + bytes(3 * PAGE - 8)).sc == SC_SUCCESS
    assert commit(nvme, 2, 1).sc == SC_SUCCESS               # replace + activate at reset
    afi, frs = fw_log(nvme)
    assert afi == 0x21 and frs[1] == b"UPDATE-2"
    assert identify_fr(nvme)[0] == b"BASE-1  "               # not before a reset
    nvme.enable()                                            # CC.EN 1 -> 0 -> 1
    assert identify_fr(nvme)[0] == b"UPDATE-2"
    assert fw_log(nvme)[0] == 0x2
    assert commit(nvme, 1, 2).sc == SC_SUCCESS               # slot 1 again
    nvme.enable()
    assert identify_fr(nvme)[0] == b"BASE-1  "


def test_firmware_errors(launch, image):
    nvme = controller(launch, image, "serial=QT0001,fw-slots=2")
    buf = nvme.alloc(PAGE)
    # out of order, beyond MDTS (128 KiB)
    assert nvme.admin_cmd(ADM_FW_DOWNLOAD, prp1=buf, cdw10=1023, cdw11=8).sc == SC_INVALID_FIELD
    cqe = nvme.admin_cmd(ADM_FW_DOWNLOAD, prp1=buf, cdw10=(256 << 10) // 4 - 1)
    assert cqe.sc == SC_INVALID_FIELD
    assert download(nvme, b"x" * PAGE).sc == SC_SUCCESS
    assert commit(nvme, 1, 0).sc == SC_FIRMWARE_SLOT         # read-only
    assert commit(nvme, 3, 0).sc == SC_FIRMWARE_SLOT         # fw-slots=2
    assert commit(nvme, 2, 3).sc == SC_INVALID_FIELD         # AA 11b reserved in 1.0e
    assert commit(nvme, 2, 2).sc == SC_FIRMWARE_IMAGE        # slot 2 empty
    assert commit(nvme, 0, 0).sc == SC_SUCCESS               # the controller picks slot 2
    assert fw_log(nvme)[1][1] == b"xxxxxxxx"


def test_fw_slots_property_checked(launch, image, tmp_path):
    from qemu.machine.machine import VMLaunchFailure
    with pytest.raises(VMLaunchFailure) as e:
        launch(qemu_args(image, ctrl_props="fw-slots=8"))
    assert "fw-slots must be 1..7" in str(e.value)


def id_ns(nvme):
    cqe, data = nvme.identify(0, nsid=1)
    assert cqe.sc == SC_SUCCESS
    nsze, = struct.unpack_from("<Q", data, 0)
    nlbaf, flbas = data[25], data[26]
    lbads = [data[128 + 4 * i + 2] for i in range(nlbaf + 1)]
    return nsze, flbas, lbads


def test_format(nvme, image):
    nvme.enable()
    with open(image, "r+b") as f:
        f.write(b"\xa5" * (1 << 20))
    assert id_ns(nvme) == (8192, 0, [9, 12])
    assert nvme.admin_cmd(ADM_FORMAT_NVM, nsid=1, cdw10=1).sc == SC_SUCCESS
    assert id_ns(nvme) == (1024, 1, [9, 12])
    assert open(image, "rb").read(16) == b"\xa5" * 16      # SES 0 keeps the data
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)
    assert nvme.rw(q, CMD_READ, 1, 1023, 1, buf, PAGE).sc == SC_SUCCESS
    assert nvme.rw(q, CMD_READ, 1, 1024, 1, buf, PAGE).sc == SC_LBA_RANGE
    # back to 512 B with a user data erase
    assert nvme.admin_cmd(ADM_FORMAT_NVM, nsid=1, cdw10=1 << 9).sc == SC_SUCCESS
    assert id_ns(nvme) == (8192, 0, [9, 12])
    assert open(image, "rb").read() == bytes(4 << 20)


def test_format_errors(nvme):
    nvme.enable()
    assert nvme.admin_cmd(ADM_FORMAT_NVM, nsid=2).sc == SC_INVALID_NS
    assert nvme.admin_cmd(ADM_FORMAT_NVM, nsid=1, cdw10=2).sc == SC_INVALID_FORMAT
    assert nvme.admin_cmd(ADM_FORMAT_NVM, nsid=1, cdw10=1 << 5).sc == SC_INVALID_FORMAT  # PI
    assert nvme.admin_cmd(ADM_FORMAT_NVM, nsid=1, cdw10=2 << 9).sc == SC_INVALID_FIELD  # crypto
    assert nvme.admin_cmd(ADM_FORMAT_NVM, nsid=0xffffffff, cdw10=0).sc == SC_SUCCESS
