# SPDX-License-Identifier: GPL-2.0-or-later
"""The same simulation through libvirt (the daemonless embedded driver by
default, LIBVIRT_URI= for another): domain XML from the config, QMP through
libvirt's monitor passthrough, faults included."""
import re

import pytest

from cosim import config, control
from cosim.fixtures import module_guest
from cosim.workload import fio_verify

pytestmark = pytest.mark.guest


@pytest.fixture(scope="module")
def lv_guest():
    yield from module_guest(config.from_env(model="cosim"), "libvirt", libvirt="embed")


def test_domain_from_config(lv_guest):
    xml = (lv_guest.rundir / "domain.xml").read_text()
    assert "<emulator>" in xml and "cosim-nvme,id=nvme0" in xml and "<panic model='isa'/>" in xml
    dev, size, _ = lv_guest.driver.block_devices()[0]
    assert size == lv_guest.cfg.namespaces[0].size_mib << 20
    fio_verify(lv_guest, dev, "--rw=randwrite --bs=4k --size=8M --iodepth=8")


def test_fault_through_libvirt(lv_guest):
    faults = control.Faults(lv_guest)
    rule = faults.add("status", queue="io", opcode=0x02, sct=2, sc=0x81, dnr=True, count=1)
    dev = lv_guest.driver.block_devices()[0][0]
    result = lv_guest.run(f"dd if={dev} of=/dev/null bs=4k count=1 iflag=direct", check=False)
    assert result.status != 0 and re.search("I/O error|Input/output error|No data available",
                                            result.output), result
    assert faults.hits(rule) == 1
    # the COSIM_NVME_FAULT event comes through libvirt's monitor events too
    assert faults.wait_hit(rule, timeout=30)["qid"] >= 1
    with pytest.raises(control.QMPError, match="'action'"):
        faults.add("bogus")
