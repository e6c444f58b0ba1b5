"""PCI removal of the controller under IO, for nvme_scsi and for Linux's nvme
as the reference: the controller sits behind a PCIe root port
(controller.hotplug), fio writes to it, and `device_del nvme0` takes it
away.  Every command must end (fio sees errors, it does not hang), the disk
and the host go away without an oops, WARNING or hung task, and the module
unloads; a new controller added on the same port is probed again and a
fresh fio verify passes on it.

On q35 QEMU 7.2 unplugs through ACPI: the guest's remove() runs while the
function still answers, then QEMU deletes it; a driver must also survive
the controller vanishing first (remove() finds config space all ones),
which QEMU cannot stage."""
import time

import pytest

from cosim import config, control
from cosim.machine import Guest, GuestError
from cosim.workload import Fio, fio_verify

pytestmark = pytest.mark.faults

IO_TIMEOUT = 5          # s, as the fault suite's guests
DRIVER_SETUP = {
    "nvme": {"kernel_args": f"nvme_core.io_timeout={IO_TIMEOUT} "
                            f"nvme_core.admin_timeout={IO_TIMEOUT}", "params": ""},
    "nvme_scsi": {"kernel_args": "",
                  "params": f"io_timeout={IO_TIMEOUT} admin_timeout={IO_TIMEOUT}"},
}
# sysfs of what the driver registers for a controller, and its rescan
HOSTS = {"nvme_scsi": "grep -lx nvme_scsi /sys/class/scsi_host/host*/proc_name 2>/dev/null",
         "nvme": "ls -d /sys/class/nvme/nvme* 2>/dev/null"}
# the controller's own node, there once probe() has set it up
CTRL_NODE = {"nvme_scsi": "/sys/class/nvme_scsi/nvme_scsi*", "nvme": "/sys/class/nvme/nvme*"}
RESCAN = {"nvme_scsi": "for r in /sys/class/nvme_scsi/nvme_scsi*/rescan; do echo 1 > $r; done",
          "nvme": "for c in /sys/class/nvme/nvme*; do echo 1 > $c/rescan_controller; done"}
JOB = "--rw=randwrite --bs=4k --size=64M --iodepth=16 --time_based --runtime=300"


@pytest.fixture(params=["nvme_scsi", "nvme"])
def hotplug_guest(request):
    driver = request.param
    cfg = config.from_env(model="cosim", driver=driver)
    cfg.controller.hotplug = True
    cfg.controller.numa_node = -1
    cfg.machine.kernel_args = DRIVER_SETUP[driver]["kernel_args"]
    cfg.driver.params = DRIVER_SETUP[driver]["params"]
    try:
        guest = Guest(cfg, name=f"removal-{driver}").start()
    except GuestError as e:
        pytest.fail(f"guest did not come up: {e}")
    try:
        guest.load_driver()
        yield guest
        problems = guest.console_problems()
        assert not problems, ("guest console shows trouble:\n  " + "\n  ".join(problems[:10]) +
                              f"\n  console: {guest.console.path}")
    finally:
        guest.close()


def disk_ios(guest, disk):
    """Writes completed on @disk (/proc/diskstats)."""
    out = guest.run(f"awk '$3 == \"{disk[5:]}\" {{print $8}}' /proc/diskstats").output
    return int(out or 0)


def test_controller_removed_under_io(hotplug_guest, record):
    guest = hotplug_guest
    driver = guest.cfg.driver.name
    disk = guest.block_devices()[0][0]
    assert guest.run(HOSTS[driver], check=False).output.strip(), "no host registered"

    fio = Fio(guest, disk, JOB).start()
    guest.wait_until(f"[ $(awk '$3 == \"{disk[5:]}\" {{print $8}}' /proc/diskstats) "
                     "-gt 500 ]", timeout=120)
    since_io = disk_ios(guest, disk)
    t_del = time.monotonic()
    guest.vm.command("device_del", id="nvme0")
    guest.vm.event_wait("DEVICE_DELETED", timeout=120, match={"data": {"device": "nvme0"}})

    # fio ends with errors (every command completed), long before its runtime
    result = fio.wait(timeout=120)
    recovery = time.monotonic() - t_del
    assert result.status != 0, f"fio did not notice the removal:\n{result.output[-2000:]}"
    assert since_io > 0
    guest.wait_until(f"[ ! -e /sys/block/{disk[5:]} ]", timeout=30)
    assert not guest.run(HOSTS[driver], check=False).output.strip(), "host still registered"
    guest.run(f"rmmod {driver}", timeout=60)

    # a new controller on the same port: probed again, IO works
    guest.run(f"modprobe {driver} {guest.cfg.driver.params}", timeout=60)
    guest.vm.command("device_add", driver="cosim-nvme", id="nvme0", bus="rp0", addr="0x0",
                     serial="COSIM0002", **config.controller_properties(guest.cfg))
    control.add_namespace(guest, 1, 64)
    guest.wait_until(f"ls -d {CTRL_NODE[driver]} > /dev/null 2>&1", timeout=60)
    # the namespace may have come after the probe's scan
    guest.run(RESCAN[driver], timeout=60)
    guest.wait_until(f"[ -e /sys/block/{disk[5:]} ]", timeout=60)
    devs = guest.block_devices()
    assert [size for _, size, _ in devs] == [64 << 20], devs
    ios = fio_verify(guest, devs[0][0], "--rw=randwrite --bs=4k --size=16M --iodepth=16").ios
    record(recovery=recovery, ios=ios)


def test_controller_removed_with_commands_stuck(hotplug_guest, record):
    """The controller stops completing writes (and Aborts) just before it
    is removed: remove() must not wait for them for ever.  Linux's nvme
    disables the controller at the first timeout in state DELETING;
    nvme_scsi likewise, so fio's stuck writes fail after one io_timeout."""
    guest = hotplug_guest
    driver = guest.cfg.driver.name
    disk = guest.block_devices()[0][0]
    faults = control.Faults(guest)
    fio = Fio(guest, disk, JOB).start()
    guest.wait_until(f"[ $(awk '$3 == \"{disk[5:]}\" {{print $8}}' /proc/diskstats) "
                     "-gt 500 ]", timeout=120)
    faults.add("drop", queue="admin", opcode=0x08, count=0)
    stuck = faults.add("drop", queue="io", opcode=0x01, count=0)
    deadline = time.monotonic() + 60
    while faults.hits(stuck) < 8:
        assert time.monotonic() < deadline, "no write was dropped"
        time.sleep(0.1)
    guest.run("dmesg -c > /dev/null")
    t_del = time.monotonic()
    guest.vm.command("device_del", id="nvme0")
    guest.vm.event_wait("DEVICE_DELETED", timeout=180, match={"data": {"device": "nvme0"}})
    removed = time.monotonic() - t_del
    result = fio.wait(timeout=120)
    assert result.status != 0, f"fio did not notice the removal:\n{result.output[-2000:]}"
    record(recovery=removed)
    # one IO timeout, the shutdown wait and a loaded TCG guest's slack
    assert removed < 2 * IO_TIMEOUT + 60, f"removal took {removed:.1f}s"
    assert not guest.run(HOSTS[driver], check=False).output.strip(), "host still registered"
    log = guest.run("dmesg").output
    if driver == "nvme_scsi":
        assert "timed out during removal, disabling controller" in log, log
    guest.run(f"rmmod {driver}", timeout=60)
