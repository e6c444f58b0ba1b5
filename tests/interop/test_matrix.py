"""Interop matrix: every config in configs/ x {nvme_scsi, Linux nvme} x
{cosim-nvme, QEMU nvme}.  Each cell boots a guest and checks identify, IO with
verify, a controller reset, a rescan and (where the model has them) one
injected fault.  A cell whose config the model cannot express is n/a, with why.
`make interop` runs it all; `make test` runs the default config's cells."""
import re

import pytest

from cosim import config, control
from cosim.machine import Guest
from cosim.workload import fio_verify

MEDIUM_ERRNO = r"I/O error|Input/output error|No data available"

pytestmark = pytest.mark.interop

CONFIGS = sorted(p.stem for p in (config.DEFAULT.parent).glob("*.toml"))
DRIVERS = ("nvme_scsi", "nvme")
MODELS = ("cosim", "qemu")
JOB = "--rw=randwrite --bs=4k --size=4M --iodepth=4"

def cells():
    for name in CONFIGS:
        for driver in DRIVERS:
            for model in MODELS:
                marks = [pytest.mark.smoke] if name == "default" else []
                yield pytest.param(name, driver, model, marks=marks,
                                   id=f"{name}-{driver}-{model}")


def fio_all(guest, devs, *extra):
    for dev, _, _ in devs:
        fio_verify(guest, dev, JOB, *extra)


def check_identify(guest, cfg):
    devs = guest.block_devices()
    sizes = [size for _, size, _ in devs]
    assert sizes == [ns.size_mib << 20 for ns in cfg.namespaces], devs
    return devs


def check_reset(guest, cfg, devs):
    guest.reset_controller()
    guest.wait_until(f"[ $(ls -d /sys/block/{'sd' if cfg.driver.name == 'nvme_scsi' else 'nvme'}*"
                     f" | wc -l) -ge {len(devs)} ]", timeout=120)
    fio_all(guest, devs, "--verify_only=1")      # what was written before the reset


def check_rescan(guest, cfg, devs):
    guest.rescan()
    assert check_identify(guest, cfg) == devs


def check_fault(guest, cfg, devs):
    if cfg.controller.model != "cosim":
        return "n/a: QEMU's nvme has no fault injection"
    faults = control.Faults(guest)
    rule = faults.add(action="status", queue="io", opcode=0x02, sct=2, sc=0x81, dnr=True,
                      count=1)
    result = guest.run(f"dd if={devs[0][0]} of=/dev/null bs=4k count=1 iflag=direct",
                       check=False)
    faults.remove(rule)
    # The block layer reports a medium error as ENODATA, others as EIO.
    assert result.status != 0 and re.search(MEDIUM_ERRNO, result.output), result
    guest.run(f"dd if={devs[0][0]} of=/dev/null bs=4k count=1 iflag=direct")


STEPS = [("identify", None), ("io", None), ("reset", check_reset),
         ("rescan", check_rescan), ("fault", check_fault)]


@pytest.mark.parametrize("name, driver, model", cells())
def test_cell(name, driver, model, matrix):
    cell = matrix(name, driver, model)
    try:
        cfg = config.load(config.DEFAULT.parent / f"{name}.toml", model=model, driver=driver)
    except config.ConfigError as e:
        cell.na(str(e).split(": ", 1)[1])
        pytest.skip(f"n/a: {e}")
    guest = Guest(cfg, name=f"interop-{name}-{driver}-{model}")
    try:
        with cell.step("boot"):
            guest.start()
        with cell.step("identify"):
            guest.load_driver()
            devs = check_identify(guest, cfg)
        with cell.step("io"):
            fio_all(guest, devs)
        for step, check in STEPS[2:]:
            with cell.step(step):
                note = check(guest, cfg, devs)
                if note:
                    cell.note(step, note)
        problems = guest.console_problems()
        assert not problems, f"console: {problems[:5]}\n  {guest.console.path}"
    finally:
        guest.close()
