# SPDX-License-Identifier: GPL-2.0-or-later
"""Firmware activation that needs a reset, under IO: a new image is downloaded
and committed with action 1 (replace, activate at the next reset) through the
driver's passthrough device with stock nvme-cli, then the controller is reset
while a verifying job runs.  The controller must come back with the new
revision in Identify FR, the job must not notice (no command times out), and
every block must read back intact.  Runs against nvme_scsi and Linux's nvme."""
import re
import time

import pytest

from cosim.workload import Fio, verify_only

pytestmark = pytest.mark.faults

JOB = "--rw=randwrite --bs=4k --size=32M --iodepth=8 --verify_backlog=256"
SLOT = 2                # fw-slots defaults to 2; slot 1 is read-only
SLACK = 60              # TCG guests are slow and noisy: on top of the timeouts


def firmware_revision(g, ctrl):
    out = g.run(f"nvme id-ctrl {ctrl}").output
    m = re.search(r"^fr\s*:\s*(\S+)", out, re.M)
    assert m, out
    return m.group(1)


def test_firmware_activate_on_reset_under_io(fg, record):
    g, ctrl = fg.guest, fg.chardev
    old = firmware_revision(g, ctrl)
    new = "FAULT-02" if old != "FAULT-02" else "FAULT-03"
    # An image whose first 8 bytes are the revision it reports once active.
    g.run(f"printf '{new}' > /tmp/fw && dd if=/dev/zero bs=4088 count=3 >> /tmp/fw "
          "2>/dev/null")
    assert "Firmware download success" in g.run(f"nvme fw-download {ctrl} -f /tmp/fw").output
    out = g.run(f"nvme fw-commit {ctrl} -s {SLOT} -a 1").output
    assert f"Success committing firmware action:1 slot:{SLOT}" in out, out
    assert firmware_revision(g, ctrl) == old, "activated before the reset"

    dev = fg.disk
    before = fg.counters()
    fio = Fio(g, dev, JOB).start()
    g.wait_until(f"[ $(awk '{{print $5}}' /sys/block/{dev.rsplit('/', 1)[1]}/stat) -gt 0 ]",
                 timeout=60)
    t0 = time.monotonic()
    g.driver.reset()
    assert g.run(f"[ ! -e {fio.out}.rc ]", check=False).status == 0, \
        "the job ended before the reset: it proves nothing"
    g.wait_until(f"nvme id-ctrl {ctrl} | grep -q '^fr *: *{new}'",
                 timeout=3 * fg.admin_timeout + SLACK)
    activated = time.monotonic() - t0
    result = fio.wait(timeout=900)
    assert result.status == 0, f"fio failed across the activation:\n{result.output[-3000:]}"
    verified = verify_only(g, dev, JOB).ios
    record(recovery=activated, ios=verified)
    log = g.run(f"nvme fw-log {ctrl}").output
    assert re.search(rf"^afi\s*:\s*0x{SLOT}\b", log, re.M), log
    assert activated < 3 * fg.admin_timeout + SLACK, f"activation took {activated:.1f}s"
    fg.assert_counters_agree(before)
    fg.assert_no_timeouts()
