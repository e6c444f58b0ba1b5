"""nvme_scsi against a controller that sends what a well-behaved one would
not: any status on any command (0x370/0x371 included, which the driver once
used for its own "cancelled" and "dead" outcomes), and late completions for
command identifiers the driver has since reused.  cosim-nvme only: the faults
come from its fault engine."""
import pytest

from cosim import config, control
from cosim.control import Faults
from cosim.machine import module_guest
from driver_helpers import (chardev, check_console, first_disk, nvme_scsi_config, queue_stats,
                            wait_disks)

pytestmark = pytest.mark.guest

SIZES = [64, 32]
# SCT 3 / SC 70h and 71h: statuses a controller can send (NVMe 1.4 path
# related statuses) that equal Linux's host-only NVME_SC_HOST_PATH_ERROR and
# NVME_SC_HOST_ABORTED_CMD
HOST_CODES = [0x70, 0x71]


@pytest.fixture(scope="module")
def hostile():
    """Two namespaces, the namespace notice AEN on (so the driver keeps an
    Asynchronous Event Request outstanding)."""
    cfg = nvme_scsi_config()
    if cfg.controller.model != "cosim":
        pytest.skip("the faults are cosim-nvme's")
    cfg.namespaces = [config.Namespace(size_mib=s) for s in SIZES]
    cfg.controller.ns_notice_aen = True
    yield from module_guest(cfg, "hostile")


@pytest.fixture
def g(hostile):
    faults = Faults(hostile)
    since = hostile.console.size()
    hostile.run("dmesg -c > /dev/null")
    yield hostile, faults
    faults.clear()
    check_console(hostile, since)


@pytest.mark.parametrize("sc", HOST_CODES)
def test_device_status_0x37x_reaches_passthrough(g, sc):
    """A Get Features the controller fails with SCT 3 / SC 7xh: nvme-cli gets
    that NVMe status, not an errno the driver keeps for its own outcomes
    (EINTR: cancelled by a reset; ENODEV: controller dead)."""
    guest, faults = g
    dev = chardev(guest)
    rule = faults.add("status", queue="admin", opcode=0x0a, sct=3, sc=sc, count=1)
    r = guest.run(f"nvme get-feature {dev} -f 7", check=False, timeout=60)
    assert faults.hits(rule) == 1
    assert r.status != 0, r
    assert f"(0x3{sc:02x})" in r.output, r
    assert "Interrupted" not in r.output and "No such device" not in r.output, r
    # the controller is fine and so is the driver
    assert "Number of Queues" in guest.run(f"nvme get-feature {dev} -f 7").output


@pytest.mark.parametrize("sc", HOST_CODES)
def test_aer_failed_with_0x37x_is_rearmed(g, sc):
    """The controller fails an Asynchronous Event Request with SCT 3 /
    SC 7xh: the driver logs it and sends another AER, so a later namespace
    change is still noticed (the LUN goes without a rescan)."""
    guest, faults = g
    dev = chardev(guest)
    rule = faults.add("status", queue="admin", opcode=0x0c, sct=3, sc=sc, count=1)
    # the AER outstanding now was fetched before the rule: a reset re-arms it
    guest.run(f"nvme reset {dev}")
    faults.wait_hit(rule, timeout=30)

    control.remove_namespace(guest, 2)
    try:
        wait_disks(guest, 1, timeout=30)
    finally:
        control.add_namespace(guest, 2, SIZES[1])
    wait_disks(guest, 2, timeout=30)
    log = guest.run("dmesg").output
    assert f"Asynchronous Event Request failed: status 0x3{sc:02x}, sending another" in log, log



# ---- abandoned commands ---------------------------------------

@pytest.fixture
def short_admin_timeout(g):
    guest, faults = g
    guest.unload_driver()
    guest.load_driver(params="admin_timeout=2")
    yield guest, faults
    faults.clear()
    guest.unload_driver()
    guest.load_driver()


def test_abandoned_command_inside_reset(short_admin_timeout):
    """Create I/O CQ dropped during a controller reset: the reset's own
    command is abandoned (the controller disabled under the reset lock the
    reset already holds, no deadlock), the reset fails, the controller is
    marked dead; the next reset brings it back."""
    guest, faults = short_admin_timeout
    dev = chardev(guest)
    rule = faults.add("drop", queue="admin", opcode=0x05, count=1)
    guest.run("dmesg -c > /dev/null")
    r = guest.run(f"nvme reset {dev}", check=False, timeout=60)
    assert r.status != 0, r
    assert faults.hits(rule) == 1
    log = guest.run("dmesg").output
    assert "disabling controller after a command timeout" in log, log
    assert "controller marked dead" in log, log
    guest.run(f"nvme reset {dev}", timeout=60)
    assert queue_stats(guest, dev)["state"] == "live"
    guest.run(f"dd if={first_disk(guest)} of=/dev/null bs=4096 count=16 iflag=direct")
