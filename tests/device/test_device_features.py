# SPDX-License-Identifier: GPL-2.0-or-later
"""Device tests of Get/Set Features for every NVMe 1.0e feature over qtest:
defaults, round trips, the statuses for invalid values, LBA Range Type data,
power states in Identify, and the SMART and error logs."""
import struct

import pytest

from nvme_qtest import (
    ADM_GET_FEATURES, ADM_GET_LOG_PAGE, ADM_SET_FEATURES, CMD_READ, CMD_WRITE,
    PAGE, SC_INVALID_FIELD, SC_INVALID_NS, SC_SUCCESS,
)

pytestmark = pytest.mark.device

SC_NOT_SAVEABLE = 0x10d


def get(nvme, fid, cdw11=0, nsid=0, prp1=0):
    cqe = nvme.admin_cmd(ADM_GET_FEATURES, cdw10=fid, cdw11=cdw11, nsid=nsid, prp1=prp1)
    assert cqe.sc == SC_SUCCESS, cqe
    return cqe.dw0


def set_(nvme, fid, cdw11, nsid=0, prp1=0, save=False):
    return nvme.admin_cmd(ADM_SET_FEATURES, cdw10=fid | (1 << 31 if save else 0), cdw11=cdw11,
                          nsid=nsid, prp1=prp1).sc


def test_feature_defaults_and_round_trips(nvme):
    nvme.enable()
    want = {0x01: 0, 0x02: 0, 0x04: 343, 0x05: 0, 0x06: 1, 0x07: 7 << 16 | 7, 0x08: 0,
            0x0a: 0, 0x0b: 0}
    assert {fid: get(nvme, fid) for fid in want} == want
    assert get(nvme, 0x09, cdw11=3) == 3
    for fid, value, back in ((0x01, 0x04030201, 0x04030201), (0x02, 2, 2), (0x04, 350, 350),
                             (0x05, 0xffff0010, 0x10), (0x06, 0, 0), (0x08, 0x0a04, 0x0a04),
                             (0x0a, 1, 1), (0x0b, 0x1ff, 0xff)):
        assert set_(nvme, fid, value) == SC_SUCCESS, hex(fid)
        assert get(nvme, fid) == back, hex(fid)
    assert set_(nvme, 0x09, 1 << 16 | 2) == SC_SUCCESS
    assert get(nvme, 0x09, cdw11=2) == 1 << 16 | 2


def test_feature_errors(nvme):
    nvme.enable()
    assert set_(nvme, 0x02, 3) == SC_INVALID_FIELD          # NPSS = 2
    assert set_(nvme, 0x09, 9) == SC_INVALID_FIELD          # 9 vectors: 0..8
    assert nvme.admin_cmd(ADM_GET_FEATURES, cdw10=0x09, cdw11=9).sc == SC_INVALID_FIELD
    assert set_(nvme, 0x07, 0xffff) == SC_INVALID_FIELD
    for fid in (0x00, 0x0c, 0x7f, 0x81, 0xff):
        assert set_(nvme, fid, 0) == SC_INVALID_FIELD, hex(fid)
        assert nvme.admin_cmd(ADM_GET_FEATURES, cdw10=fid).sc == SC_INVALID_FIELD, hex(fid)
    assert set_(nvme, 0x01, 0, save=True) == SC_NOT_SAVEABLE
    buf = nvme.alloc(PAGE)
    assert nvme.admin_cmd(ADM_GET_FEATURES, cdw10=0x03, nsid=2, prp1=buf).sc == SC_INVALID_NS
    assert set_(nvme, 0x03, 0, nsid=0, prp1=buf) == SC_INVALID_NS


def test_lba_range_type(nvme):
    nvme.enable()
    buf = nvme.alloc(PAGE)
    assert get(nvme, 0x03, nsid=1, prp1=buf) == 0
    typ, attr, slba, nlb = struct.unpack_from("<BB14xQQ", nvme.qt.memread(buf, 64))
    assert (typ, attr, slba, nlb) == (0, 1, 0, 8191)
    entry = struct.pack("<BB14xQQ32x", 0x02, 0, 100, 99)
    nvme.qt.memwrite(buf, entry)
    assert set_(nvme, 0x03, 0, nsid=1, prp1=buf) == SC_SUCCESS
    nvme.qt.memset(buf, PAGE)
    assert get(nvme, 0x03, nsid=1, prp1=buf) == 0
    assert nvme.qt.memread(buf, 64) == entry
    nvme.qt.memwrite(buf, struct.pack("<BB14xQQ32x", 0x02, 0, 8000, 192))
    assert set_(nvme, 0x03, 0, nsid=1, prp1=buf) == SC_INVALID_FIELD


def test_power_states_in_identify(nvme):
    nvme.enable()
    cqe, data = nvme.identify(1)
    assert data[263] == 2                                   # NPSS
    mps = [struct.unpack_from("<H", data, 2048 + 32 * i)[0] for i in range(4)]
    assert mps == [2500, 1200, 600, 0]


def test_smart_and_error_log(nvme):
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(64 * 1024)
    for _ in range(3):
        assert nvme.rw(q, CMD_WRITE, 1, 0, 128, buf, 64 * 1024).sc == SC_SUCCESS
    for _ in range(5):
        assert nvme.rw(q, CMD_READ, 1, 0, 8, buf, PAGE).sc == SC_SUCCESS
    for nsid in (5, 6, 7):
        assert nvme.rw(q, CMD_READ, nsid, 0, 1, buf, 512).sc == SC_INVALID_NS
    log = nvme.alloc(PAGE)
    assert nvme.admin_cmd(ADM_GET_LOG_PAGE, prp1=log, cdw10=127 << 16 | 2).sc == SC_SUCCESS
    smart = nvme.qt.memread(log, 512)
    assert smart[0] == 0 and struct.unpack_from("<H", smart, 1)[0] == 310
    dur, duw, hr, hw = struct.unpack_from("<QxxxxxxxxQxxxxxxxxQxxxxxxxxQ", smart, 32)
    assert (dur, duw, hr, hw) == (1, 1, 5, 3)      # 40 and 384 units of 512 B, rounded up
    num_err = struct.unpack_from("<Q", smart, 176)[0]
    assert num_err == 3
    assert nvme.admin_cmd(ADM_GET_LOG_PAGE, prp1=log, cdw10=255 << 16 | 1).sc == SC_SUCCESS
    entries = nvme.qt.memread(log, 1024)
    got = [struct.unpack_from("<QHHHHQI", entries, 64 * i) for i in range(4)]
    assert [(e[0], e[1], e[6]) for e in got] == [(3, 1, 7), (2, 1, 6), (1, 1, 5), (0, 0, 0)]
    assert all(e[3] >> 1 & 0x7ff == SC_INVALID_NS for e in got[:3])
    cqe, data = nvme.identify(1)
    assert data[262] == 15                                  # ELPE: 16 entries


def test_interrupt_coalescing(nvme):
    """08h holds an I/O CQ's MSI-X message until THR+1 completions or TIME
    x 100 us of virtual time; CD (09h) on the vector turns that off."""
    msgs = nvme.alloc(PAGE)
    nvme.enable_msix(msgs)
    nvme.enable()
    q = nvme.create_io_queues(1, 16, vector=3, ien=True)
    buf = nvme.alloc(PAGE)

    def fired():
        return 3 in nvme.msix_fired(msgs)

    assert nvme.rw(q, CMD_READ, 1, 0, 1, buf, 512).sc == SC_SUCCESS
    assert fired()                                          # no coalescing by default
    assert set_(nvme, 0x08, 10 << 8 | 2) == SC_SUCCESS      # 1 ms, 3 completions
    assert nvme.rw(q, CMD_READ, 1, 0, 1, buf, 512).sc == SC_SUCCESS    # polled
    assert not fired()
    nvme.qt.cmd(f"clock_step {999 * 1000}")
    assert not fired()
    nvme.qt.cmd(f"clock_step {2 * 1000}")
    assert fired()
    for _ in range(2):
        assert nvme.rw(q, CMD_READ, 1, 0, 1, buf, 512).sc == SC_SUCCESS
        assert not fired()
    assert nvme.rw(q, CMD_READ, 1, 0, 1, buf, 512).sc == SC_SUCCESS
    assert fired()                                          # the third one
    assert set_(nvme, 0x09, 1 << 16 | 3) == SC_SUCCESS      # CD for vector 3
    assert nvme.rw(q, CMD_READ, 1, 0, 1, buf, 512).sc == SC_SUCCESS
    assert fired()
