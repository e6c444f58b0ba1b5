# SPDX-License-Identifier: GPL-2.0-or-later
"""PCI removal of the controller under IO, for nvme_scsi and for Linux's nvme
as the reference: the controller sits behind a PCIe root port
(controller.hotplug), fio writes to it, and `device_del nvme0` takes it
away.  Every command must end (fio sees errors, it does not hang), the disk
and the host go away without an oops, WARNING or hung task, and the module
unloads; a new controller added on the same port is probed again and a
fresh fio verify passes on it.

On q35 QEMU 7.2's device_del goes through ACPI: the guest's remove() runs
while the function still answers, then QEMU deletes it.  A true surprise
removal -- the function vanishes under a bound driver -- is staged from
the guest: it turns the root port's slot power off (Slot Control: power
controller off, power indicator off) behind the driver's back, and QEMU
powers the controller off: it drops off the bus (config space reads all
ones, no MMIO, DMA or interrupts), as a card that lost power or was
pulled.  Nothing completes: the driver must notice at its first timeout,
fail everything, and let the function be removed afterwards; with power
back, a PCI rescan finds the controller again."""
import time

import pytest

from cosim import config, control, drivers
from cosim.machine import Guest, GuestError
from cosim.fault_guest import SELFTEST, LostWrite, judge_case, oracle, selftest_outcome
from cosim.workload import Fio, fio_verify

pytestmark = pytest.mark.faults

IO_TIMEOUT = 5          # s, as the fault suite's guests
# Slot Control of the root port above the controller: find the PCI Express
# capability (ID 10h) and read or write its Slot Control word (offset 18h)
# through sysfs (config space writes of 2 bytes at an even offset are one
# word write, which QEMU needs to see power and indicator change together).
SLTCTL = ("cfg=/sys/bus/pci/devices/{rp}/config; "
          "rd() {{ dd if=$cfg bs=1 skip=$(($1)) count=$2 2>/dev/null | "
          "od -An -tu$2 | tr -d ' '; }}; "
          "p=$(rd 0x34 1); "
          "while [ $p -ne 0 ] && [ $(rd $p 1) -ne 16 ]; do p=$(rd $((p+1)) 1); done; "
          "[ $p -ne 0 ]; ctl=$(rd $((p+0x18)) 2)")
SLTCTL_WRITE = ("printf \"$(printf '\\%03o\\%03o' $((new & 255)) $((new >> 8)))\" | "
                "dd of=$cfg bs=2 seek=$(((p+0x18)/2)) count=1 conv=notrunc 2>/dev/null")
PCC_OFF_PIC_OFF = 0x700     # power controller off (bit 10), power indicator off (9:8)
JOB = "--rw=randwrite --bs=4k --size=64M --iodepth=16 --time_based --runtime=300"


@pytest.fixture(params=drivers.UNDER_TEST)
def hotplug_guest(request):
    driver = request.param
    cfg = config.from_env(model="cosim", driver=driver)
    cfg.controller.hotplug = True
    cfg.controller.numa_node = None
    cfg.machine.kernel_args, cfg.driver.params = drivers.timeouts(driver, IO_TIMEOUT,
                                                                  IO_TIMEOUT)
    cfg.controller.ledger = True        # checked after the case, as in every fault case
    try:
        guest = Guest(cfg, name=f"removal-{driver}").start()
    except GuestError as e:
        pytest.fail(f"guest did not come up: {e}")
    node = request.node
    node.fault_results = guest.rundir
    node.oracle_check = lambda: oracle(node, guest, guest.rundir)
    if SELFTEST:
        node.selftest_check = lambda: selftest_outcome(node)
    try:
        guest.driver.load()
        yield guest
        node.oracle_check()
        if SELFTEST:            # while the controller can still say whether it fired
            selftest_outcome(node)
        problems = guest.console_problems()
        assert not problems, ("guest console shows trouble:\n  " + "\n  ".join(problems[:10]) +
                              f"\n  console: {guest.console.path}")
    finally:
        guest.close()
    judge_case(node, guest.rundir)


def re_add(guest, disk, node, size=64 << 20):
    """Load the driver again and, unless @size is None, put a new controller
    (and a new namespace of @size bytes) on the root port, else rescan the
    PCI bus; wait for the disk and verify IO on it; returns fio's IOs.
    The ledger checked after the case is the controller's from here on, and
    under the oracle's self-test this verify is where a Write gets lost."""
    guest.driver.modprobe()
    if size:
        control.add_controller(guest, serial="COSIM0002")
        control.add_namespace(guest, 1, size >> 20)
    else:
        guest.run("echo 1 > /sys/bus/pci/rescan", timeout=60)
    guest.wait_until(f"ls -d {guest.driver.ctrl_glob} > /dev/null 2>&1", timeout=60)
    # the namespace may have come after the probe's scan
    guest.driver.rescan(timeout=60)
    guest.wait_until(f"[ -e /sys/block/{disk[5:]} ]", timeout=60)
    devs = guest.driver.block_devices()
    assert len(devs) == 1 and (not size or devs[0][1] == size), devs
    control.ledger_clear(guest)         # what the controller acknowledged before it went
    if SELFTEST:
        node.selftest_lost = LostWrite(guest)
    return fio_verify(guest, devs[0][0], "--rw=randwrite --bs=4k --size=16M --iodepth=16").ios


def fio_flowing(guest, disk):
    """Start the long fio job on `disk` and return it once 500 writes are done."""
    fio = Fio(guest, disk, JOB).start()
    guest.wait_until(f"[ $(awk '$3 == \"{disk[5:]}\" {{print $8}}' /proc/diskstats) "
                     "-gt 500 ]", timeout=120)
    return fio


def assert_io_ended_on_dead_controller(guest, fio, t_gone, record):
    """fio ends with errors once the driver finds the function gone: nvme_scsi
    at its first timeout (it reads the config space), Linux's nvme after
    abort and a failed reset."""
    result = fio.wait(timeout=180)
    recovery = time.monotonic() - t_gone
    assert result.status != 0, f"fio did not notice the controller going:\n{result.output[-2000:]}"
    record(recovery=recovery)
    if guest.cfg.driver.name == "nvme_scsi":
        assert recovery < IO_TIMEOUT + 60, f"IO ended {recovery:.1f}s after the controller went"
        log = guest.run("dmesg").output
        assert "controller gone: controller marked dead, 1 SCSI device(s) offline" in log, log
    else:
        assert recovery < 3 * IO_TIMEOUT + 60, f"IO ended {recovery:.1f}s after it went"


def test_controller_removed_under_io(hotplug_guest, record, request):
    guest = hotplug_guest
    disk = guest.driver.block_devices()[0][0]
    assert guest.driver.registered(), "no host registered"

    fio = fio_flowing(guest, disk)
    t_del = time.monotonic()
    control.remove_controller(guest, timeout=120)

    # fio ends with errors (every command completed), long before its runtime
    result = fio.wait(timeout=120)
    recovery = time.monotonic() - t_del
    assert result.status != 0, f"fio did not notice the removal:\n{result.output[-2000:]}"
    guest.wait_until(f"[ ! -e /sys/block/{disk[5:]} ]", timeout=30)
    assert not guest.driver.registered(), "host still registered"
    guest.driver.unload()

    # a new controller on the same port: probed again, IO works
    record(recovery=recovery, ios=re_add(guest, disk, request.node))


def test_controller_removed_with_commands_stuck(hotplug_guest, record):
    """The controller stops completing writes (and Aborts) just before it
    is removed: remove() must not wait for them for ever.  Linux's nvme
    disables the controller at the first timeout in state DELETING;
    nvme_scsi likewise, so fio's stuck writes fail after one io_timeout."""
    guest = hotplug_guest
    driver = guest.cfg.driver.name
    disk = guest.driver.block_devices()[0][0]
    faults = control.Faults(guest)
    fio = fio_flowing(guest, disk)
    faults.add("drop", queue="admin", opcode=0x08, count=0)
    stuck = faults.add("drop", queue="io", opcode=0x01, count=0)
    faults.wait_hit(stuck, timeout=60)      # writes are getting stuck in the controller
    guest.run("dmesg -c > /dev/null")
    t_del = time.monotonic()
    control.remove_controller(guest, timeout=180)
    removed = time.monotonic() - t_del
    result = fio.wait(timeout=120)
    assert result.status != 0, f"fio did not notice the removal:\n{result.output[-2000:]}"
    record(recovery=removed)
    # one IO timeout, the shutdown wait and a loaded TCG guest's slack
    assert removed < 2 * IO_TIMEOUT + 60, f"removal took {removed:.1f}s"
    assert not guest.driver.registered(), "host still registered"
    log = guest.run("dmesg").output
    if driver == "nvme_scsi":
        assert "timed out during removal, disabling controller" in log, log
    guest.driver.unload()


def test_controller_vanishes_under_io(hotplug_guest, record, request):
    """Surprise removal: the slot loses power under fio, the controller
    drops off the bus, the driver is not told.  Every outstanding command must end
    (nvme_scsi: at the first timeout, it finds the config space gone; Linux's
    nvme: abort, reset, then it removes the namespace), fio gets errors, no
    oops; the dead function's remove() and rmmod return; with power back a
    PCI rescan finds the controller and fio verify passes on it."""
    guest = hotplug_guest
    driver = guest.cfg.driver.name
    disk = guest.driver.block_devices()[0][0]
    bdf = guest.driver.bound_function()
    rp = guest.run(f"basename $(readlink -f /sys/bus/pci/devices/{bdf}/..)").output.strip()
    sltctl = SLTCTL.format(rp=rp)
    power_on = int(guest.run(f"{sltctl}; echo $ctl").output)
    assert not power_on & 0x400, f"slot of {rp} not powered: Slot Control {power_on:#x}"

    fio = fio_flowing(guest, disk)
    guest.run("dmesg -c > /dev/null")
    t_cut = time.monotonic()
    guest.run(f"{sltctl}; new=$((ctl | {PCC_OFF_PIC_OFF})); {SLTCTL_WRITE}")
    # off the bus for QEMU and for the guest's config space reads
    assert not control.on_bus(guest), "the controller is still on QEMU's PCI bus"
    vid = guest.run(f"od -An -tx2 -N2 /sys/bus/pci/devices/{bdf}/config").output.strip()
    assert vid == "ffff", vid

    assert_io_ended_on_dead_controller(guest, fio, t_cut, record)
    if driver == "nvme_scsi":
        assert guest.run(f"cat /sys/block/{disk[5:]}/device/state").output.strip() == "offline"

    guest.run(f"echo 1 > /sys/bus/pci/devices/{bdf}/remove", timeout=120)
    guest.wait_until(f"[ ! -e /sys/block/{disk[5:]} ]", timeout=30)
    assert not guest.driver.registered(), "host still registered"
    guest.driver.unload()

    guest.run(f"{sltctl}; new={power_on}; {SLTCTL_WRITE}")
    re_add(guest, disk, request.node, size=None)


def test_controller_falls_off_the_bus(hotplug_guest, record, request):
    """The model's vanish fault: at a write under fio the controller drops off
    the bus by itself (config space and registers all ones, nothing
    completes), no guest help and no hotplug event.  As with the slot power
    cut every command must end and fio gets errors; then `device_del`
    takes the dead function away and a new controller on the port works."""
    guest = hotplug_guest
    disk = guest.driver.block_devices()[0][0]
    bdf = guest.driver.bound_function()
    faults = control.Faults(guest)
    fio = fio_flowing(guest, disk)
    guest.run("dmesg -c > /dev/null")
    rule = faults.add("vanish", queue="io", opcode=0x01)
    faults.wait_hit(rule, timeout=60)
    t_gone = time.monotonic()
    vid = guest.run(f"od -An -tx2 -N2 /sys/bus/pci/devices/{bdf}/config").output.strip()
    assert vid == "ffff", vid

    assert_io_ended_on_dead_controller(guest, fio, t_gone, record)
    assert control.stats(guest)["vanished"] == 1

    control.remove_controller(guest, timeout=120)
    guest.wait_until(f"[ ! -e /sys/block/{disk[5:]} ]", timeout=30)
    assert not guest.driver.registered(), "host still registered"
    guest.driver.unload()
    re_add(guest, disk, request.node)
