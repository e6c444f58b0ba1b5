# SPDX-License-Identifier: GPL-2.0-or-later
"""The harness's own promises: a guest that panics or stops answering ends the
wait at once with the console log named, and QEMU does not outlive it."""
import time

import pytest

from cosim import config, image, machine
from cosim.errors import BootRetry
from cosim.machine import Guest, GuestError

pytestmark = pytest.mark.guest


@pytest.fixture
def own_guest():
    """A guest of its own: these tests break it on purpose."""
    with Guest(config.from_env(driver="none"), name="harness") as guest:
        yield guest


def test_panic_ends_wait_and_qemu(own_guest):
    t0 = time.monotonic()
    with pytest.raises(GuestError) as e:
        own_guest.run("echo c > /proc/sysrq-trigger; sleep 600", timeout=600)
    # Detected from the console/QEMU's exit, not by running into the deadline.
    assert time.monotonic() - t0 < 300
    assert str(own_guest.console.path) in str(e.value)
    assert "Kernel panic" in own_guest.console.text()
    assert not own_guest.healthy


def test_command_timeout_names_console(own_guest):
    with pytest.raises(GuestError) as e:
        own_guest.run("sleep 30", timeout=2)
    assert "did not answer in time" in str(e.value)
    assert str(own_guest.console.path) in str(e.value)
    assert not own_guest.healthy


def test_exit_status_and_output(own_guest):
    result = own_guest.run("echo out; echo err >&2; exit 7", check=False)
    assert result.status == 7
    assert result.output.split() == ["out", "err"]


def test_hung_boot_retried_once_then_reported(monkeypatch):
    """A boot that does not reach the agent in time is tried once more with a
    warning, then fails with the console's last lines; each hung boot leaves
    QEMU's view of the vCPUs beside its console log."""
    monkeypatch.setattr(machine, "BOOT_TIMEOUT", 0.5)
    guest = Guest(config.from_env(driver="none"), name="harness")
    launched = []
    launch = Guest._launch

    def record_launch(self, *args):
        launch(self, *args)
        launched.append(self.vm)
    monkeypatch.setattr(Guest, "_launch", record_launch)
    with pytest.warns(BootRetry, match="booting again") as warned:
        with pytest.raises(GuestError) as e:
            with guest:
                pass
    # only the retries count: an unrelated warning (a ResourceWarning from the
    # collector, say) may land in the same block
    retries = [w for w in warned if issubclass(w.category, BootRetry)]
    assert len(retries) == machine.BOOT_RETRIES == 1, [str(w.message) for w in warned]
    assert "did not answer in time (boot" in str(e.value)
    assert str(guest.console.path) in str(e.value)
    for rundir in (guest.rundir, guest.rundir / "hung-boot-1"):
        state = (rundir / "boot-timeout.txt").read_text()
        assert "VM status: running" in state and "CPU#1" in state
        assert (rundir / "console.log").exists()
    # both QEMUs, the hung one set aside and the last one, are gone
    assert len(launched) == 2 and not any(vm.is_running() for vm in launched)


def test_tools_disk_that_does_not_mount_fails_the_boot(monkeypatch, tmp_path):
    """A guest without its tools (fio, nvme-cli, sg3_utils) is not ready: the
    boot fails at once, without a retry, saying why and naming the console."""
    img = image.build()
    not_squashfs = tmp_path / "tools.img"
    not_squashfs.write_bytes(bytes(1 << 20))
    monkeypatch.setattr(image, "build", lambda: img._replace(tools=not_squashfs))
    guest = Guest(config.from_env(driver="none"), name="harness")
    t0 = time.monotonic()
    with pytest.raises(GuestError) as e:
        with guest:
            pass
    assert time.monotonic() - t0 < machine.BOOT_TIMEOUT     # not found by the deadline
    assert "guest boot failed: tools disk:" in str(e.value)
    assert str(guest.console.path) in str(e.value)
    assert guest.vm is None or not guest.vm.is_running()
