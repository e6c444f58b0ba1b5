# SPDX-License-Identifier: GPL-2.0-or-later
"""The volatile write cache (volatile-cache-mb) and cosim-nvme-power-loss, as
the image shows them: what a Write completed without FUA and without a
later Flush held is gone after a power loss; FUA, Flush, Write Cache
Enable off and a full cache make data durable."""
import pytest

from nvme_qtest import (ADM_SET_FEATURES, CC, CMD_FLUSH, CMD_WRITE, CSTS, CSTS_RDY, PAGE,
                        SC_SUCCESS, Nvme, qemu_args)

pytestmark = pytest.mark.device

FEAT_VWC = 0x06
CHUNK = 128 << 10           # the model's default MDTS (5: 32 pages)


@pytest.fixture
def drive(launch, image):
    """(vm, nvme, I/O queue) with a 1 MiB volatile write cache."""
    def start(cache_mb=1):
        vm = launch(qemu_args(image, ctrl_props=f"serial=QT0001,volatile-cache-mb={cache_mb}"))
        nvme = Nvme.attach(vm)
        nvme.enable()
        return vm, nvme, nvme.create_io_queues(1, 16)
    return start


def power_loss(vm):
    r = vm.qmp("cosim-nvme-power-loss", id="nvme0")
    assert "return" in r, r
    return r["return"]["sectors-lost"]


def write(nvme, q, slba, byte, length=PAGE, fua=False):
    buf = nvme.alloc(length)
    nvme.qt.memwrite(buf, bytes([byte]) * length)
    assert nvme.rw(q, CMD_WRITE, 1, slba, length // 512, buf, length, fua=fua).sc == SC_SUCCESS


def on_image(image, slba, n=8):
    """The first byte of each of @n LBAs from @slba, as the medium holds them."""
    with open(image, "rb") as f:
        out = []
        for lba in range(slba, slba + n):
            f.seek(lba * 512)
            out.append(f.read(1)[0])
        return out


def test_power_loss_keeps_only_durable_writes(drive, image):
    vm, nvme, q = drive()
    write(nvme, q, 0, 0x11)
    assert nvme.cmd(q, CMD_FLUSH, nsid=1).sc == SC_SUCCESS
    write(nvme, q, 0, 0x22)                 # over flushed data: back to 0x11
    write(nvme, q, 0, 0x23)                 # twice: still back to 0x11
    write(nvme, q, 64, 0x33)                # never flushed: back to zeroes
    write(nvme, q, 128, 0x44, fua=True)     # FUA: stays
    write(nvme, q, 192, 0x55)
    write(nvme, q, 192, 0x56, fua=True)     # FUA over cached data: stays
    # until the power goes, the image (and every Read) has the new data
    assert on_image(image, 0) == [0x23] * 8
    assert power_loss(vm) == 16
    assert on_image(image, 0) == [0x11] * 8
    assert on_image(image, 64) == [0] * 8
    assert on_image(image, 128) == [0x44] * 8
    assert on_image(image, 192) == [0x56] * 8
    # power-on state: disabled, no queues; a second loss loses nothing more
    assert nvme.readl(CC) == 0 and nvme.readl(CSTS) & CSTS_RDY == 0
    assert power_loss(vm) == 0


def test_full_cache_writes_back_the_oldest(drive, image):
    vm, nvme, q = drive(cache_mb=1)
    for i in range(9):                      # 1152 KiB into a 1 MiB cache
        write(nvme, q, i * CHUNK // 512, 0x60 + i, length=CHUNK)
    assert power_loss(vm) == (1 << 20) // 512
    assert on_image(image, 0, 1) == [0x60]  # written back to make room
    for i in range(1, 9):
        assert on_image(image, i * CHUNK // 512, 1) == [0], i


def test_write_cache_disabled_is_write_through(drive, image):
    vm, nvme, q = drive()
    c = nvme.admin_cmd(ADM_SET_FEATURES, cdw10=FEAT_VWC, cdw11=0)
    assert c.sc == SC_SUCCESS, c
    write(nvme, q, 0, 0x77)
    assert power_loss(vm) == 0
    assert on_image(image, 0) == [0x77] * 8


def test_write_cache_turned_off_writes_back(drive, image):
    """Turning Write Cache Enable off writes back what the cache holds: a
    power loss afterwards loses none of it (with it left on, it would)."""
    vm, nvme, q = drive()
    write(nvme, q, 0, 0x66)
    write(nvme, q, 64, 0x67)
    c = nvme.admin_cmd(ADM_SET_FEATURES, cdw10=FEAT_VWC, cdw11=0)
    assert c.sc == SC_SUCCESS, c
    assert power_loss(vm) == 0
    assert on_image(image, 0) == [0x66] * 8
    assert on_image(image, 64) == [0x67] * 8


def test_power_loss_without_cache(launch, image):
    """The default (no volatile-cache-mb): writes are durable once completed."""
    vm = launch(qemu_args(image))
    nvme = Nvme.attach(vm)
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    write(nvme, q, 0, 0x88)
    assert power_loss(vm) == 0
    assert on_image(image, 0) == [0x88] * 8
    # the controller comes back when the host enables it again
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    write(nvme, q, 8, 0x99)
    assert on_image(image, 8) == [0x99] * 8


def test_power_loss_names_a_missing_controller(launch, image):
    vm = launch(qemu_args(image))
    r = vm.qmp("cosim-nvme-power-loss", id="nvme9")
    assert "nvme9" in r["error"]["desc"], r
