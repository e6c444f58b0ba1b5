# SPDX-License-Identifier: GPL-2.0-or-later
"""The controller cannot be migrated or snapshotted: migrate, savevm and
snapshot-save are refused with a message that names cosim-nvme and says
why, and -only-migratable refuses the device itself."""
import time

import pytest

from nvme_qtest import qemu_args

pytestmark = pytest.mark.device

REASON = ("cosim-nvme nvme0 does not support migration or snapshots: its queues, "
          "commands in flight and fault rules are not saved")


def test_migrate_refused(vm):
    r = vm.qmp("migrate", uri="exec:cat > /dev/null")
    assert r["error"]["desc"] == REASON
    assert vm.qmp("query-migrate")["return"].get("status") in (None, "none")


def test_savevm_refused(vm):
    out = vm.qmp("human-monitor-command", **{"command-line": "savevm s1"})["return"]
    assert REASON in out
    out = vm.qmp("human-monitor-command", **{"command-line": "info snapshots"})["return"]
    assert "s1" not in out


def test_snapshot_save_job_refused(vm):
    r = vm.qmp("snapshot-save", **{"job-id": "snap0", "tag": "s1", "vmstate": "d0",
                                   "devices": ["d0"]})
    assert "return" in r, r
    deadline = time.monotonic() + 10
    while True:
        jobs = {j["id"]: j for j in vm.qmp("query-jobs")["return"]}
        if jobs["snap0"]["status"] == "concluded":
            break
        assert time.monotonic() < deadline, jobs
        time.sleep(0.01)
    assert jobs["snap0"]["error"] == REASON


def test_only_migratable_refuses_the_device(launch, image):
    from qemu.machine.machine import VMLaunchFailure
    with pytest.raises(VMLaunchFailure) as e:
        launch(["-only-migratable", *qemu_args(image)])
    assert "cosim-nvme nvme0 does not support migration" in str(e.value)
