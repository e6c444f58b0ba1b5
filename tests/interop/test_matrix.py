# SPDX-License-Identifier: GPL-2.0-or-later
"""Interop matrix: every config in configs/ x {nvme_scsi, Linux nvme} x
{cosim-nvme, QEMU nvme}.  Each cell boots a guest and checks identify, IO with
verify, a controller reset, a rescan and (where the model has them) one
injected fault.  A cell whose config the model cannot express is n/a, with why.
`make interop` runs it all; `make test` runs the default config's cells."""
import re

import pytest

from cosim import config, control, drivers
from cosim.machine import Guest
from cosim.workload import fio_verify

MEDIUM_ERRNO = r"I/O error|Input/output error|No data available"

pytestmark = pytest.mark.interop

CONFIGS = sorted(p.stem for p in (config.DEFAULT.parent).glob("*.toml"))
MODELS = ("cosim", "qemu")
JOB = "--rw=randwrite --bs=4k --size=4M --iodepth=4"
# Beyond this many disks fio's per-file set-up (~0.7 s each under TCG) costs
# more than the IO: each disk gets 64 KiB of its own data, read back and compared.
MANY_DISKS = 8
# $1: the disk, $2: "write" or "check".  The data starts with the disk's name,
# so one namespace's blocks showing up in another is caught too.
STAMP = ("stamp() { { echo \"$1\"; head -c 65536 /tmp/interop.pat; } | head -c 65536 > "
         "/tmp/interop.want; if [ $2 = write ]; then dd if=/tmp/interop.want of=$1 bs=64k "
         "oflag=direct 2>/dev/null || return 1; fi; dd if=$1 of=/tmp/interop.got bs=64k "
         "count=1 iflag=direct 2>/dev/null && cmp /tmp/interop.want /tmp/interop.got; }; ")


def cells():
    for name in CONFIGS:
        for driver in drivers.UNDER_TEST:
            for model in MODELS:
                marks = [pytest.mark.smoke] if name == "default" else []
                yield pytest.param(name, driver, model, marks=marks,
                                   id=f"{name}-{driver}-{model}")


def fio_all(guest, devs, *extra):
    """Verified IO on every disk; with --verify_only=1 in `extra`, only the check."""
    if len(devs) > MANY_DISKS:
        how = "check" if "--verify_only=1" in extra else "write"
        if how == "write":
            guest.run("head -c 65536 /dev/urandom > /tmp/interop.pat")
        guest.run(STAMP + " && ".join(f"stamp {dev} {how}" for dev, _, _ in devs),
                  timeout=600)
        return
    for dev, _, _ in devs:
        fio_verify(guest, dev, JOB, *extra)


def check_identify(guest, cfg):
    """The driver shows a disk of the right size for each namespace it exposes
    (nvme_scsi: the first max_luns), in namespace order."""
    devs = sorted(guest.driver.block_devices(), key=guest.driver.nsid_of)
    sizes = [size for _, size, _ in devs]
    expected = cfg.namespaces[:guest.driver.expected_disks()]
    assert sizes == [ns.size_mib << 20 for ns in expected], devs
    return devs


def check_reset(guest, cfg, devs):
    guest.driver.reset()
    guest.wait_until(f"[ $(ls -d {guest.driver.disk_glob} | wc -l) -ge {len(devs)} ]",
                     timeout=120)
    fio_all(guest, devs, "--verify_only=1")      # what was written before the reset


def check_rescan(guest, cfg, devs):
    guest.driver.rescan()
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
        cfg = config.named(name, model=model, driver=driver)
    except config.ConfigError as e:
        cell.na(str(e).split(": ", 1)[1])
        pytest.skip(f"n/a: {e}")
    guest = Guest(cfg, name=f"interop-{name}-{driver}-{model}")
    try:
        with cell.step("boot"):
            guest.start()
        with cell.step("identify"):
            guest.driver.load()
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
