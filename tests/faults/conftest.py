"""Fault-injection fixtures: a guest per driver with short command timeouts,
the controller's fault rules cleared after every test, and the console
checked for oopses, WARNINGs and hung tasks."""
import pytest

from cosim import config, control, report
from cosim.machine import Guest, GuestError

IO_TIMEOUT = 5          # s, per command, for both drivers
ADMIN_TIMEOUT = 5       # s

# Linux's nvme takes its timeouts as nvme_core parameters on the kernel command
# line; nvme_scsi as its own module parameters.
DRIVER_SETUP = {
    "nvme": {"kernel_args": f"nvme_core.io_timeout={IO_TIMEOUT} "
                            f"nvme_core.admin_timeout={ADMIN_TIMEOUT}", "params": ""},
    "nvme_scsi": {"kernel_args": "",
                  "params": f"io_timeout={IO_TIMEOUT} admin_timeout={ADMIN_TIMEOUT}"},
}


class FaultGuest:
    """A booted guest plus what fault tests need around it."""

    io_timeout = IO_TIMEOUT
    admin_timeout = ADMIN_TIMEOUT

    def __init__(self, driver):
        cfg = config.from_env(model="cosim", driver=driver)
        cfg.machine.kernel_args = DRIVER_SETUP[driver]["kernel_args"]
        cfg.driver.params = DRIVER_SETUP[driver]["params"]
        self.driver = driver
        self.guest = Guest(cfg, name=f"faults-{driver}").start()
        self.guest.load_driver()
        self.faults = control.Faults(self.guest)

    @property
    def disk(self):
        return self.guest.block_devices()[0][0]


@pytest.fixture(scope="session")
def fault_guests():
    guests = {}
    yield guests
    for fg in guests.values():
        fg.guest.close()


@pytest.fixture(params=["nvme_scsi", "nvme"])
def fg(request, fault_guests):
    """A fault guest for each driver: nvme_scsi, and Linux's nvme as the
    reference that shows the test itself is right."""
    driver = request.param
    fgst = fault_guests.get(driver)
    if fgst is None or not fgst.guest.healthy:
        if fgst:
            fgst.guest.close()
        try:
            fgst = fault_guests[driver] = FaultGuest(driver)
        except GuestError as e:
            pytest.fail(f"fault guest did not come up: {e}")
    since = fgst.guest.console.size()
    yield fgst
    try:
        fgst.faults.clear()
    except Exception:
        fgst.guest.healthy = False
    problems = fgst.guest.console_problems(since)
    if problems:
        fgst.guest.healthy = False
        pytest.fail("guest console shows trouble:\n  " + "\n  ".join(problems[:10]) +
                    f"\n  console: {fgst.guest.console.path}")


@pytest.fixture
def record(request):
    """record(recovery=seconds, ios=verified IOs) for the suite's table."""
    entry = {"case": request.node.name, "recovery": None, "ios": None}

    def _record(recovery=None, ios=None):
        entry.update(recovery=None if recovery is None else round(recovery, 1), ios=ios)
    yield _record
    rep = getattr(request.node, "rep_call", None)
    entry["outcome"] = rep.outcome if rep else "error"
    report.append("faults", entry)
