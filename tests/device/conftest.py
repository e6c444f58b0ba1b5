# SPDX-License-Identifier: GPL-2.0-or-later
"""Fixtures for the qtest device tests of cosim-nvme: a QEMU with the model
and one namespace on a raw image, driven over the qtest socket."""
import pytest

from cosim import paths

import nvme_qtest
from nvme_qtest import qemu_args


@pytest.fixture
def image(tmp_path):
    path = tmp_path / "ns1.img"
    with open(path, "wb") as f:
        f.truncate(4 << 20)     # 8192 LBAs of 512 bytes
    return path


@pytest.fixture
def launch(tmp_path):
    """launch(args) -> running QEMUQtestMachine; all are shut down after the test."""
    from qemu.machine.qtest import QEMUQtestMachine

    started = []

    def _launch(args):
        # a name of its own: the socket names derive from it (default: the pid)
        vm = QEMUQtestMachine(str(paths.QEMU_BIN), args, name=f"qemu{len(started)}",
                              base_temp_dir=str(tmp_path), sock_dir=str(tmp_path))
        vm.launch()
        started.append(vm)
        return vm

    yield _launch
    for vm in started:
        vm.shutdown()


@pytest.fixture
def vm(launch, image):
    return launch(qemu_args(image))


@pytest.fixture
def nvme(vm):
    """The controller with BAR0 mapped and bus mastering on, not yet enabled."""
    return nvme_qtest.Nvme.attach(vm)
