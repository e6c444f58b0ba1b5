# SPDX-License-Identifier: GPL-2.0-or-later
"""Namespace hot add and remove while IO runs (QMP blockdev-add + device_add /
device_del of cosim-nvme-ns).  The fault guests run the controller with
ns-notice-aen=on, so both drivers learn of a change from the Namespace
Attribute Notice: the new disk must appear and a removed one go, while the
verifying job on namespace 1 carries on and every block of it reads back
intact; no command may time out on the way.  One case runs without the
notice, where only failing commands and an explicit rescan tell the driver.
Each case runs against nvme_scsi and Linux's nvme."""
import time

import pytest

from cosim import control
from cosim.workload import Fio, fio_verify, verify_only

pytestmark = pytest.mark.faults

# The verifying job on namespace 1: large enough to still run while the
# namespace changes around it.
JOB = "--rw=randwrite --bs=4k --size=64M --iodepth=8 --verify_backlog=256"
# A verifying job of a hot-added namespace of its own.
NEW_NS_JOB = "--rw=randwrite --bs=4k --size=16M --iodepth=8 --verify_backlog=256"
# IO on a namespace that is removed under it: runs until it fails.
DOOMED_JOB = "--rw=randwrite --bs=4k --size=32M --iodepth=8 --time_based=1 --runtime=600"
# TCG guests are slow and noisy; this slack is on top of the timeouts.
SLACK = 60
CYCLES = 50


def appear_bound(fg):
    """A notice makes the driver read the Changed Namespace List and Identify
    the namespace: a few admin commands, each bounded by the admin timeout."""
    return 2 * fg.admin_timeout


def inventory(guest):
    """Every disk and SCSI device of the guest: nothing may be left over."""
    return sorted(guest.driver.block_devices()), \
        guest.run("ls /sys/bus/scsi/devices").output.split()


@pytest.fixture
def ns(fg):
    """The guest's driver, which shows the namespaces; namespaces a test
    hot-added are removed afterwards (a guest where that fails is not reused)."""
    yield fg.guest.driver
    for nsid in sorted(set(control.hot_added_namespaces(fg.guest)) - {1}):
        try:
            control.remove_namespace(fg.guest, nsid)
            fg.guest.driver.wait_namespace_gone(nsid, timeout=appear_bound(fg) + SLACK)
        except Exception:
            fg.guest.healthy = False


def running(fio):
    """Guest condition: the background fio job has not ended yet."""
    return f"[ ! -e {fio.out}.rc ]"


def test_hot_add_during_io(fg, ns, record):
    """A namespace added while namespace 1 takes verifying IO shows up as a
    disk of the configured size, passes its own verifying job, and namespace
    1's IO carries on through it with every block intact."""
    g = fg.guest
    dev1 = fg.disk
    before = fg.counters()
    fio = Fio(g, dev1, JOB).start()
    t0 = time.monotonic()
    control.add_namespace(g, nsid=2, size_mib=64)
    assert g.run(running(fio), check=False).status == 0, \
        "namespace 1's job ended before the hot add: it proves nothing"
    dev2 = ns.wait_namespace(2, timeout=appear_bound(fg) + SLACK)
    appeared = time.monotonic() - t0
    name = dev2.rsplit("/", 1)[1]
    assert int(g.run(f"cat /sys/block/{name}/size").output) == 64 << 11
    new = fio_verify(g, dev2, NEW_NS_JOB)
    assert new.errors == 0, new.output[-3000:]
    result = fio.wait(timeout=900)
    assert result.status == 0, f"namespace 1's IO failed:\n{result.output[-3000:]}"
    verified = verify_only(g, dev1, JOB).ios + verify_only(g, dev2, NEW_NS_JOB).ios
    record(recovery=appeared, ios=verified)
    assert appeared < appear_bound(fg) + SLACK, f"the new namespace took {appeared:.1f}s"
    fg.assert_counters_agree(before)
    fg.assert_no_timeouts()


def test_hot_remove_namespace_with_io(fg, ns, record):
    """A namespace removed under running IO: that IO fails with an error
    within the command timeouts (no hang), its disk goes away, and namespace
    1 (with its own verifying job running throughout) is untouched."""
    g = fg.guest
    control.add_namespace(g, nsid=3, size_mib=64)
    dev3 = ns.wait_namespace(3, timeout=appear_bound(fg) + SLACK)
    dev1 = fg.disk
    before = fg.counters()
    fio1 = Fio(g, dev1, JOB).start()
    doomed = Fio(g, dev3, DOOMED_JOB, name="doomed").start()
    # Both jobs doing IO before the namespace goes.
    g.wait_until(f"grep -q . /sys/block/{dev3.rsplit('/', 1)[1]}/stat && "
                 f"[ $(awk '{{print $5}}' /sys/block/{dev3.rsplit('/', 1)[1]}/stat) -gt 0 ]",
                 timeout=60)
    t0 = time.monotonic()
    control.remove_namespace(g, nsid=3)
    assert g.run(running(fio1), check=False).status == 0, \
        "namespace 1's job ended before the hot remove: it proves nothing"
    bound = 3 * fg.io_timeout
    lost = doomed.wait(timeout=bound + SLACK)
    failed_after = doomed.t_end - t0
    assert lost.status != 0, f"IO on a removed namespace succeeded:\n{lost.output[-3000:]}"
    assert lost.errors or "error" in lost.output.lower(), lost.output[-3000:]
    ns.wait_namespace_gone(3, timeout=appear_bound(fg) + SLACK)
    result = fio1.wait(timeout=900)
    assert result.status == 0, f"namespace 1's IO failed:\n{result.output[-3000:]}"
    record(recovery=failed_after, ios=verify_only(g, dev1, JOB).ios)
    assert failed_after < bound + SLACK, f"IO on the removed namespace took " \
        f"{failed_after:.1f}s to fail"
    fg.assert_counters_agree(before)
    fg.assert_no_timeouts()


def test_hot_remove_with_io_found_by_rescan(fg_no_aen, record):
    """No Notice AEN: a namespace removed under IO shows only in its commands
    failing (0/0Bh Invalid Namespace), within the timeouts and without a
    hang; an explicit rescan then takes its disk away and brings a new
    namespace in.  Namespace 1's verifying job runs throughout, intact."""
    fg = fg_no_aen
    g, ns = fg.guest, fg.guest.driver
    control.add_namespace(g, nsid=3, size_mib=64)
    ns.rescan(timeout=60)
    dev3 = ns.wait_namespace(3, timeout=appear_bound(fg) + SLACK)
    dev1 = fg.disk
    before = fg.counters()
    fio1 = Fio(g, dev1, JOB).start()
    doomed = Fio(g, dev3, DOOMED_JOB, name="doomed").start()
    g.wait_until(f"[ $(awk '{{print $5}}' /sys/block/{dev3.rsplit('/', 1)[1]}/stat) -gt 0 ]",
                 timeout=60)
    t0 = time.monotonic()
    control.remove_namespace(g, nsid=3)
    bound = 3 * fg.io_timeout
    lost = doomed.wait(timeout=bound + SLACK)
    failed_after = doomed.t_end - t0
    assert lost.status != 0, f"IO on a removed namespace succeeded:\n{lost.output[-3000:]}"
    assert g.run(running(fio1), check=False).status == 0, \
        "namespace 1's job ended before the rescan: it proves nothing"
    assert g.run(ns.namespace_present(3), check=False).status == 0, \
        "the disk went before the rescan: something else told the driver"
    ns.rescan(timeout=60)
    ns.wait_namespace_gone(3, timeout=appear_bound(fg) + SLACK)
    control.add_namespace(g, nsid=4, size_mib=16)
    ns.rescan(timeout=60)
    dev4 = ns.wait_namespace(4, timeout=appear_bound(fg) + SLACK)
    new = fio_verify(g, dev4, "--rw=randwrite --bs=4k --size=8M --iodepth=8")
    result = fio1.wait(timeout=900)
    assert result.status == 0, f"namespace 1's IO failed:\n{result.output[-3000:]}"
    record(recovery=failed_after, ios=verify_only(g, dev1, JOB).ios + new.ios)
    assert failed_after < bound + SLACK, f"IO on the removed namespace took " \
        f"{failed_after:.1f}s to fail"
    control.remove_namespace(g, nsid=4)
    ns.rescan(timeout=60)
    ns.wait_namespace_gone(4, timeout=appear_bound(fg) + SLACK)
    fg.assert_counters_agree(before)
    fg.assert_no_timeouts()


def test_hot_remove_idle_namespace(fg, ns, record):
    """A namespace without IO removed while namespace 1 takes verifying IO;
    a rescan on top of the notice changes nothing: the disk goes, namespace
    1 is untouched."""
    g = fg.guest
    control.add_namespace(g, nsid=4, size_mib=16)
    ns.wait_namespace(4, timeout=appear_bound(fg) + SLACK)
    dev1 = fg.disk
    before = fg.counters()
    fio = Fio(g, dev1, JOB).start()
    t0 = time.monotonic()
    control.remove_namespace(g, nsid=4)
    g.driver.rescan()
    assert g.run(running(fio), check=False).status == 0, \
        "namespace 1's job ended before the hot remove: it proves nothing"
    ns.wait_namespace_gone(4, timeout=appear_bound(fg) + SLACK)
    gone = time.monotonic() - t0
    result = fio.wait(timeout=900)
    assert result.status == 0, f"namespace 1's IO failed:\n{result.output[-3000:]}"
    record(recovery=gone, ios=verify_only(g, dev1, JOB).ios)
    assert gone < appear_bound(fg) + SLACK, f"the removed namespace took {gone:.1f}s to go"
    fg.assert_counters_agree(before)
    fg.assert_no_timeouts()


def test_fifty_add_remove_cycles(fg, ns, record):
    """Fifty times: add a namespace, its disk appears, a write reads back,
    remove it, the disk goes; within a bound per cycle.  Afterwards no disk
    or SCSI device is left over and namespace 1 (verifying job running
    meanwhile) reads back intact."""
    g = fg.guest
    dev1 = fg.disk
    disks = inventory(fg.guest)
    before = fg.counters()
    fio = Fio(g, dev1, JOB).start()
    t0 = time.monotonic()
    slowest = 0.0
    for cycle in range(CYCLES):
        c0 = time.monotonic()
        control.add_namespace(g, nsid=2, size_mib=8)
        dev = ns.wait_namespace(2, timeout=appear_bound(fg) + SLACK)
        g.run(f"dd if=/dev/urandom of=/tmp/cycle bs=4k count=16 2>/dev/null && "
              f"dd if=/tmp/cycle of={dev} bs=4k seek={cycle} oflag=direct 2>/dev/null && "
              f"dd if={dev} of=/tmp/cycle.back bs=4k skip={cycle} count=16 iflag=direct "
              f"2>/dev/null && cmp /tmp/cycle /tmp/cycle.back")
        control.remove_namespace(g, nsid=2)
        ns.wait_namespace_gone(2, timeout=appear_bound(fg) + SLACK)
        slowest = max(slowest, time.monotonic() - c0)
    elapsed = time.monotonic() - t0
    result = fio.wait(timeout=900)
    assert result.status == 0, f"namespace 1's IO failed:\n{result.output[-3000:]}"
    after = inventory(fg.guest)
    assert after == disks, f"left over after {CYCLES} cycles:\n{disks}\n{after}"
    record(recovery=elapsed, ios=verify_only(g, dev1, JOB).ios)
    # Per cycle: the disk appearing and going, each bounded like one notice.
    assert slowest < 2 * appear_bound(fg) + SLACK, f"slowest cycle {slowest:.1f}s"
    fg.assert_counters_agree(before)
    fg.assert_no_timeouts()
