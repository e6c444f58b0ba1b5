# SPDX-License-Identifier: GPL-2.0-or-later
"""make profile's arithmetic: blocks charged to the right function, two
windows turned into instructions per IO, functions into groups, and the
plugin itself compiling clean against QEMU's header."""
import os

import pytest

from cosim import paths, profile

KALLSYMS = """ffffffff81000000 T _stext
ffffffff81001000 t common_interrupt
ffffffff81002000 T blk_mq_submit_bio
ffffffff81003000 d some_data
ffffffff81004000 W arch_cpu_idle_exit
ffffffffc0001000 t nvme_irq\t[nvme]
ffffffffc0002000 t scsi_queue_rq\t[scsi_mod]
ffffffffc0003000 T nvme_scsi_queuecommand\t[nvme_scsi]
"""


def test_blocks_are_charged_to_the_function_below_them():
    syms = profile.kallsyms(KALLSYMS)
    counts = ("ffffffff81001010 3 10\n"     # common_interrupt: 30
              "ffffffff81003500 2 4\n"      # past data: still blk_mq_submit_bio
              "ffffffff81002000 1 1\n"      # blk_mq_submit_bio's first byte
              "ffffffff81004010 2 2\n"      # a weak function
              "ffffffff80ffff00 1 5\n"      # below every symbol: its address
              "ffffffffc0001004 5 2\n"      # nvme_irq[nvme]
              "401000 7 3\n"                # fio
              "7f0000001000 1 1\n")         # libc
    assert profile.by_function(counts, syms) == {
        "common_interrupt": 30, "blk_mq_submit_bio": 9, "arch_cpu_idle_exit": 4,
        "0xffffffff80ffff00": 5, "nvme_irq[nvme]": 10, profile.USER: 22}


def test_per_io_is_what_ran_between_the_snapshots_over_its_ios():
    before = {"a": 1000, "b": 50}
    after = {"a": 4000, "b": 50, "c": 600}
    assert profile.per_io(before, after, 300) == {"a": 10.0, "b": 0.0, "c": 2.0}
    with pytest.raises(SystemExit, match="no IO"):
        profile.per_io(before, after, 0)


def test_groups():
    functions = {profile.USER: 3000, "scsi_queue_rq[scsi_mod]": 200, "sd_done[sd_mod]": 50,
                 "nvme_scsi_rw[nvme_scsi]": 90, "nvme_irq[nvme]": 15,
                 "nvme_setup_cmd[nvme_core]": 75,
                 "common_interrupt": 16, "handle_edge_irq": 22, "__irq_exit_rcu": 11,
                 "apic_ack_edge": 12, "_raw_spin_lock_irqsave": 20, "blk_mq_submit_bio": 165,
                 "native_queued_spin_lock_slowpath": -40, "mutex_spin_on_owner": 7}
    assert profile.grouped(functions) == {
        "user space (fio, the agent)": 3000, "scsi_mod + sd_mod": 250, "nvme_scsi": 90,
        "nvme + nvme_core": 90, "interrupts and timers": 61, "busy-waiting (timing)": -33,
        "rest of the kernel": 185}


def test_report_compares_bench_stacks(monkeypatch):
    ref = {profile.USER: 3000, "nvme_queue_rq[nvme]": 100, "common_interrupt": 16}
    ours = {profile.USER: 3000, "scsi_queue_rq[scsi_mod]": 200, "common_interrupt": 24}
    report = profile.markdown({"nvme_scsi+qemu": ours, "nvme+qemu (ref)": ref},
                              "4k randread QD32", 9)
    assert "| nvme+qemu (ref) | 3,116 |" in report
    assert "## driver: nvme_scsi+qemu - nvme+qemu (ref)" in report
    assert "+108 instructions per IO in all" in report
    # largest difference first
    assert report.index("`scsi_queue_rq[scsi_mod]`") < report.index("`nvme_queue_rq[nvme]`") \
        < report.index("`common_interrupt`")
    assert "## model:" not in report            # its stacks were not profiled


def test_plugin_compiles_clean(tmp_path, monkeypatch):
    if not (paths.QEMU_SRC / "include" / "qemu" / "qemu-plugin.h").exists():
        pytest.skip("no QEMU source yet (make qemu)")
    monkeypatch.setattr(profile, "PLUGIN", tmp_path / "block_counts.so")
    assert profile.build_plugin().stat().st_size > 0


@pytest.mark.parametrize("env, message", [
    ({"PLUGINS": ""}, "PLUGINS=1"),
    ({"PROFILE_RUNTIME": "0"}, "PROFILE_RUNTIME='0'"),
    ({"PROFILE_RUNTIME": "ten"}, "PROFILE_RUNTIME='ten'"),
    ({"PROFILE_JOB": "4k read"}, "PROFILE_JOB='4k read': one of '4k randread QD1'"),
])
def test_bad_settings_stop_before_any_boot(monkeypatch, env, message):
    monkeypatch.setattr(profile.paths, "PLUGINS", env.get("PLUGINS", "1") == "1")
    for key in ("PROFILE_RUNTIME", "PROFILE_JOB"):
        monkeypatch.setenv(key, env.get(key, ""))
    monkeypatch.setattr(profile, "run_stack", lambda *a: pytest.fail("booted"))
    with pytest.raises(SystemExit, match=message):
        profile.main()


def test_snapshot_needs_a_listening_plugin(tmp_path):
    os.mkfifo(tmp_path / "ctl")
    with pytest.raises(SystemExit, match="does not listen"):
        profile.snapshot(tmp_path / "ctl", tmp_path / "counts.txt")


def test_sanitize_and_plugins_refused_together(monkeypatch, tmp_path):
    """One build directory cannot hold both; refused before any build."""
    from cosim import qemu_build
    monkeypatch.setattr(paths, "BUILD", tmp_path)
    monkeypatch.setattr(paths, "SANITIZE", True)
    monkeypatch.setattr(paths, "PLUGINS", True)
    monkeypatch.setattr(qemu_build, "_build", lambda *a: pytest.fail("built"))
    with pytest.raises(qemu_build.BuildError, match="SANITIZE=1 and PLUGINS=1"):
        qemu_build.build()
