# SPDX-License-Identifier: GPL-2.0-or-later
"""nvme_scsi shuts the controller down (CC.SHN normal) on rmmod and on
poweroff, and waits for CSTS.SHST "complete" only up to shutdown_timeout.
The model proves the CC.SHN write: an ignore-shutdown rule fires on it (and
keeps SHST at "occurring", so the bounded wait shows), and its mmio trace
shows the write to CC on poweroff."""
import time

import pytest

from cosim import config, control
from cosim.machine import Guest, GuestError

pytestmark = pytest.mark.guest

REG_CC, CC_SHN_MASK, CC_SHN_NORMAL = 0x14, 0x3 << 14, 0x1 << 14
SHUTDOWN_TIMEOUT = 3        # s, the driver's shutdown_timeout for these tests
SLACK = 30                  # s on top, for a loaded TCG host


@pytest.fixture
def cosim_cfg():
    cfg = config.from_env()
    if cfg.controller.model != "cosim" or cfg.driver.name != "nvme_scsi":
        pytest.skip("needs cosim-nvme's fault rules and trace events, and nvme_scsi")
    cfg.driver.params = f"{cfg.driver.params} shutdown_timeout={SHUTDOWN_TIMEOUT}".strip()
    return cfg


def test_rmmod_shuts_down_within_its_bound(cosim_cfg):
    """rmmod writes CC.SHN; a controller that never reports SHST complete
    holds rmmod up for shutdown_timeout, not for ever, with one log line."""
    with Guest(cosim_cfg, name="shutdown-rmmod") as g:
        g.driver.load()
        faults = control.Faults(g)
        rule = faults.add("ignore-shutdown")
        t0 = time.monotonic()
        g.run("rmmod nvme_scsi", timeout=SHUTDOWN_TIMEOUT + SLACK)
        took = time.monotonic() - t0
        assert faults.hits(rule) == 1, "rmmod did not write CC.SHN"
        assert SHUTDOWN_TIMEOUT - 0.5 <= took < SHUTDOWN_TIMEOUT + SLACK, \
            f"rmmod took {took:.1f}s with SHST stuck at 'occurring'"
        log = g.run("dmesg | grep nvme_scsi").output
        assert "waiting for shutdown (CSTS.SHST=complete)" in log, log
        # a normal shutdown, SHST complete: rmmod does not wait
        g.driver.load()
        t0 = time.monotonic()
        g.run("rmmod nvme_scsi", timeout=SLACK)
        assert time.monotonic() - t0 < SHUTDOWN_TIMEOUT, "rmmod waited on a good controller"
        assert g.console_problems() == []


def test_poweroff_shuts_down(cosim_cfg):
    """poweroff runs the driver's .shutdown: the model sees CC.SHN normal
    before QEMU goes away."""
    g = Guest(cosim_cfg, name="shutdown-poweroff", trace=["cosim_nvme_mmio_write"])
    with g:
        g.driver.load()
        # poweroff -f never answers: the agent's wait ends when QEMU exits
        with pytest.raises(GuestError, match="QEMU exited|channel closed"):
            g.run("poweroff -f", timeout=SHUTDOWN_TIMEOUT + SLACK)
    writes = [line.split() for line in (g.rundir / "trace.log").read_text().splitlines()
              if "cosim_nvme_mmio_write" in line]
    cc = [int(w[w.index("val") + 1], 16) for w in writes
          if w[w.index("addr") + 1] == hex(REG_CC)]
    assert any(v & CC_SHN_MASK == CC_SHN_NORMAL for v in cc), \
        f"no CC.SHN=01b among the CC writes {list(map(hex, cc))}"
