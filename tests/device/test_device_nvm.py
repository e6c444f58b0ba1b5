# SPDX-License-Identifier: GPL-2.0-or-later
"""Device tests of the optional NVM commands of cosim-nvme over qtest:
Dataset Management (deallocate), Compare, Write Uncorrectable, Flush with
the write cache off: the data on the image and every negative status."""
import struct

import pytest

from nvme_qtest import (
    ADM_SET_FEATURES, CMD_FLUSH, CMD_READ, CMD_WRITE, PAGE, SC_INVALID_FIELD, SC_INVALID_NS,
    SC_LBA_RANGE, SC_SUCCESS,
)

pytestmark = pytest.mark.device

CMD_WRITE_UNCOR, CMD_COMPARE, CMD_DSM = 0x04, 0x05, 0x09
SC_READ_ERROR, SC_COMPARE_FAILED = 0x281, 0x285
DSM_AD = 1 << 2


def io_setup(nvme):
    nvme.enable()
    return nvme.create_io_queues(1, 16)


def dsm(nvme, q, ranges, attrs=DSM_AD, nsid=1):
    buf = nvme.alloc(PAGE)
    nvme.qt.memwrite(buf, b"".join(struct.pack("<IIQ", 0, nlb, slba) for slba, nlb in ranges))
    return nvme.cmd(q, CMD_DSM, nsid=nsid, prp1=buf, cdw10=len(ranges) - 1, cdw11=attrs)


def test_identify_oncs(nvme):
    nvme.enable()
    cqe, data = nvme.identify(1)
    assert cqe.sc == SC_SUCCESS
    oncs = struct.unpack_from("<H", data, 520)[0]
    assert oncs == 0x7      # Compare, Write Uncorrectable, Dataset Management


def test_dsm_deallocate(nvme, image):
    q = io_setup(nvme)
    with open(image, "r+b") as f:
        f.write(b"\xa5" * (64 * 512))
    assert dsm(nvme, q, [(0, 8), (20, 0), (32, 16)], attrs=0b11).sc == SC_SUCCESS  # hints only
    assert open(image, "rb").read(512) == b"\xa5" * 512
    assert dsm(nvme, q, [(0, 8), (20, 0), (32, 16)]).sc == SC_SUCCESS
    data = open(image, "rb").read(64 * 512)
    assert data[:8 * 512] == bytes(8 * 512)
    assert data[8 * 512:32 * 512] == b"\xa5" * (24 * 512)
    assert data[32 * 512:48 * 512] == bytes(16 * 512)
    assert data[48 * 512:] == b"\xa5" * (16 * 512)
    # read back through the device: zeroes
    buf = nvme.alloc(PAGE)
    nvme.qt.memset(buf, PAGE, 0xff)
    assert nvme.rw(q, CMD_READ, 1, 0, 8, buf, PAGE).sc == SC_SUCCESS
    assert nvme.qt.memread(buf, PAGE) == bytes(PAGE)


def test_dsm_errors(nvme, image):
    q = io_setup(nvme)
    with open(image, "r+b") as f:
        f.write(b"\x5a" * 512)
    cqe = dsm(nvme, q, [(0, 1), (8191, 2)])
    assert cqe.sc == SC_LBA_RANGE and cqe.dnr
    assert open(image, "rb").read(512) == b"\x5a" * 512     # nothing happened
    assert dsm(nvme, q, [(8192, 1)]).sc == SC_LBA_RANGE
    assert dsm(nvme, q, [(0, 1)], nsid=2).sc == SC_INVALID_NS
    # 256 ranges is the most NR can say
    assert dsm(nvme, q, [(i * 4, 1) for i in range(256)]).sc == SC_SUCCESS


def test_compare(nvme, image):
    q = io_setup(nvme)
    data = bytes((i * 7) & 0xff for i in range(PAGE))
    with open(image, "r+b") as f:
        f.seek(100 * 512)
        f.write(data)
    buf = nvme.alloc(PAGE)
    nvme.qt.memwrite(buf, data)
    assert nvme.rw(q, CMD_COMPARE, 1, 100, 8, buf, PAGE).sc == SC_SUCCESS
    nvme.qt.memwrite(buf + PAGE - 1, bytes([data[-1] ^ 0x80]))
    cqe = nvme.rw(q, CMD_COMPARE, 1, 100, 8, buf, PAGE)
    assert cqe.sc == SC_COMPARE_FAILED
    big = nvme.alloc(256 * 1024)
    assert nvme.rw(q, CMD_COMPARE, 1, 8191, 2, big, 1024).sc == SC_LBA_RANGE
    assert nvme.rw(q, CMD_COMPARE, 1, 0, 258, big, 258 * 512).sc == SC_INVALID_FIELD  # > MDTS
    assert nvme.rw(q, CMD_COMPARE, 3, 0, 1, big, 512).sc == SC_INVALID_NS


def test_write_uncorrectable(nvme):
    q = io_setup(nvme)
    buf = nvme.alloc(PAGE)

    def uncor(slba, nlb):
        return nvme.cmd(q, CMD_WRITE_UNCOR, nsid=1, cdw10=slba, cdw12=nlb - 1)

    assert uncor(16, 4).sc == SC_SUCCESS
    cqe = nvme.rw(q, CMD_READ, 1, 12, 8, buf, PAGE)
    assert cqe.sc == SC_READ_ERROR and cqe.dnr
    assert nvme.rw(q, CMD_READ, 1, 8, 8, buf, PAGE).sc == SC_SUCCESS     # 8..15
    assert nvme.rw(q, CMD_READ, 1, 20, 8, buf, PAGE).sc == SC_SUCCESS    # 20..27
    assert nvme.rw(q, CMD_COMPARE, 1, 19, 1, buf, 512).sc == SC_READ_ERROR
    # rewriting clears it, LBA by LBA
    assert nvme.rw(q, CMD_WRITE, 1, 16, 2, buf, 1024).sc == SC_SUCCESS
    assert nvme.rw(q, CMD_READ, 1, 16, 2, buf, 1024).sc == SC_SUCCESS
    assert nvme.rw(q, CMD_READ, 1, 18, 1, buf, 512).sc == SC_READ_ERROR
    # deallocating clears it too
    assert dsm(nvme, q, [(18, 2)]).sc == SC_SUCCESS
    assert nvme.rw(q, CMD_READ, 1, 12, 8, buf, PAGE).sc == SC_SUCCESS
    assert uncor(8191, 2).sc == SC_LBA_RANGE
    assert nvme.cmd(q, CMD_WRITE_UNCOR, nsid=5, cdw10=0).sc == SC_INVALID_NS


def test_flush_write_cache_off(nvme):
    q = io_setup(nvme)
    assert nvme.admin_cmd(ADM_SET_FEATURES, cdw10=0x06, cdw11=0).sc == SC_SUCCESS
    assert nvme.cmd(q, CMD_FLUSH, nsid=1).sc == SC_SUCCESS
    assert nvme.admin_cmd(ADM_SET_FEATURES, cdw10=0x06, cdw11=1).sc == SC_SUCCESS
    assert nvme.cmd(q, CMD_FLUSH, nsid=1).sc == SC_SUCCESS
    assert nvme.cmd(q, CMD_FLUSH, nsid=9).sc == SC_INVALID_NS
