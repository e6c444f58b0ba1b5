# SPDX-License-Identifier: GPL-2.0-or-later
"""The same simulation through libvirt: the daemonless embedded driver, and
a second libvirtd reached over TCP on loopback (harness/libvirtd-loopback.sh)
standing in for another host.  Domain XML from the config, QMP through
libvirt's monitor passthrough, faults included; on the remote one also the
volumes (upload, cache, download for the ledger) and the streamed console
and agent.  One boot per URI."""
import os
import re
import time

import pytest

from cosim import config, control, fleet, image, libvirt_pool, paths
from cosim.errors import GuestError
from cosim.fixtures import module_guest
from cosim.machine import Guest
from cosim.workload import fio_verify, verify_only

pytestmark = pytest.mark.guest

LOOPBACK = fleet.LOOPBACK
FIO_JOB = "--rw=randwrite --bs=4k --size=8M --iodepth=8"


def loopback_libvirtd():
    """Start the loopback libvirtd unless it runs already (quick then)."""
    if os.geteuid() != 0:
        pytest.skip("the loopback libvirtd needs root")
    try:
        fleet.start_loopback_libvirtd()
    except GuestError as e:
        pytest.fail(str(e))


def libvirt_config():
    cfg = config.from_env(model="cosim")
    cfg.controller.ledger = True        # for the ledger check, which reads the images
    return cfg


@pytest.fixture(scope="module", params=["embed", LOOPBACK], ids=["embed", "loopback"])
def lv_guest(request):
    if request.param == LOOPBACK:
        loopback_libvirtd()
    yield from module_guest(libvirt_config(), "libvirt", libvirt=request.param)


def test_domain_from_config(lv_guest):
    xml = (lv_guest.rundir / "domain.xml").read_text()
    assert "<emulator>" in xml and "cosim-nvme,id=nvme0" in xml and "<panic model='isa'/>" in xml
    if lv_guest.vm.remote:
        # the host's volumes and streamed ptys: none of our files but the
        # emulator (which the host has at the same path: it is this one)
        files = xml.replace(f"<emulator>{lv_guest.vm.spec.emulator}</emulator>", "")
        assert str(paths.BUILD) not in files and xml.count("<serial type='pty'>") == 2
        pool = libvirt_pool.POOL_DIR
        assert f"{pool}/run-" in files and f"{pool}/cache-" in files
    dev, size, _ = lv_guest.driver.block_devices()[0]
    assert size == lv_guest.cfg.namespaces[0].size_mib << 20
    fio_verify(lv_guest, dev, FIO_JOB)


def test_written_data_reads_back_and_matches_the_ledger(lv_guest):
    """What fio wrote reads back in the guest, and the model's ledger of
    acknowledged writes matches the namespace image -- on a remote host a
    copy downloaded from its volume."""
    dev = lv_guest.driver.block_devices()[0][0]
    fio_verify(lv_guest, dev, FIO_JOB)
    lv_guest.run("sync")
    verify_only(lv_guest, dev, FIO_JOB)
    check = control.ledger_check(lv_guest)
    assert check and check.checked >= (8 << 20) // lv_guest.cfg.namespaces[0].lba_size, \
        check.describe()


def test_guest_image_is_uploaded_once(lv_guest):
    """A second boot on the same host finds the guest image in its volumes."""
    if not lv_guest.vm.remote:
        pytest.skip("the embedded driver reads our files")
    files = lv_guest.vm.files
    uploads = len(files.uploaded)
    kernel = image.build().kernel
    assert files.cached(kernel) in (lv_guest.rundir / "domain.xml").read_text()
    assert len(files.uploaded) == uploads


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


def test_missing_emulator_is_named_with_the_remedy(monkeypatch):
    """A host without the QEMU the domain names: refused before anything is
    defined or uploaded, saying which path on which host and what to do."""
    loopback_libvirtd()
    monkeypatch.setenv("LIBVIRT_EMULATOR", "/nonexistent/qemu-system-x86_64")
    t0 = time.monotonic()
    with pytest.raises(GuestError) as err:
        Guest(libvirt_config(), name="no-emulator", libvirt=LOOPBACK).start()
    assert time.monotonic() - t0 < 60
    msg = str(err.value)
    assert "cannot run the emulator /nonexistent/qemu-system-x86_64" in msg, msg
    assert "LIBVIRT_EMULATOR" in msg and "make qemu" in msg, msg
