# SPDX-License-Identifier: GPL-2.0-or-later
"""The ledger of acknowledged writes (cosim-nvme-ledger-save/-clear) against
the image, as cosim.ledger.check reads it: honest writes match, every
lying write is named, and what a power loss took is no longer claimed."""
import pytest

from cosim import control, ledger
from nvme_qtest import CMD_WRITE, PAGE, SC_SUCCESS, Nvme, qemu_args

pytestmark = pytest.mark.device


@pytest.fixture
def drive(launch, image):
    vm = launch(qemu_args(image, ctrl_props="serial=QT0001,volatile-cache-mb=1,ledger=on"))
    nvme = Nvme.attach(vm)
    nvme.enable()
    return vm, nvme, nvme.create_io_queues(1, 16)


def write(nvme, q, slba, byte, nlb=8):
    buf = nvme.alloc(PAGE)
    nvme.qt.memwrite(buf, bytes([byte]) * nlb * 512)
    assert nvme.rw(q, CMD_WRITE, 1, slba, nlb, buf, nlb * 512).sc == SC_SUCCESS


def check(vm, tmp_path):
    path = tmp_path / "ledger.bin"
    saved = vm.command("cosim-nvme-ledger-save", id="nvme0", path=str(path))["lbas"]
    result = ledger.check(path, control.namespace_images(vm))
    assert result.checked == saved and not result.skipped, (saved, result)
    return result


def test_ledger_names_each_lie(drive, tmp_path):
    vm, nvme, q = drive
    write(nvme, q, 0, 0x11)
    write(nvme, q, 8, 0x12, nlb=1)
    result = check(vm, tmp_path)
    assert result and result.checked == 9, result.describe()

    for action, extra, slba in (("lose-write", {}, 64), ("torn-write", {"value": 3}, 128),
                                ("misdirected-write", {"value": 1000}, 192)):
        vm.command("cosim-nvme-fault-add", id="nvme0", action=action, **extra)
        write(nvme, q, slba, 0x20)
    result = check(vm, tmp_path)
    runs = [(m.first, m.last) for m in result.mismatches]
    assert runs == [(64, 71), (131, 135), (192, 199)], result.describe()
    assert "namespace 1 LBAs 64-71: acknowledged by write generation" in result.describe()

    # a clean slate per test
    vm.command("cosim-nvme-ledger-clear", id="nvme0")
    assert check(vm, tmp_path).checked == 0


def test_power_loss_takes_its_sectors_out_of_the_ledger(drive, tmp_path):
    vm, nvme, q = drive
    write(nvme, q, 0, 0x31)                 # in the volatile cache
    write(nvme, q, 8, 0x32)
    nvme.cmd(q, 0x00, nsid=1)               # Flush: 0..15 durable
    write(nvme, q, 16, 0x33)                # lost to the power loss
    assert vm.command("cosim-nvme-power-loss", id="nvme0")["sectors-lost"] == 8
    result = check(vm, tmp_path)
    assert result and result.checked == 16, result.describe()


def test_ledger_save_names_a_bad_path(drive):
    vm, _, _ = drive
    r = vm.qmp("cosim-nvme-ledger-save", id="nvme0", path="/nonexistent/dir/ledger.bin")
    assert "'path'" in r["error"]["desc"], r
