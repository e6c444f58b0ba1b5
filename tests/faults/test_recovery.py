# SPDX-License-Identifier: GPL-2.0-or-later
"""Fault-injection regression suite: one fault injected into the cosim-nvme
model while a verifying fio job runs; the driver must recover within a bound
derived from its timeouts, and every block fio wrote must read back intact.
Each case runs against nvme_scsi and against Linux's nvme driver."""
import os
import re
import time

import pytest

from cosim import control
from cosim.workload import Fio, verify_only

MEDIUM_ERRNO = r"I/O error|Input/output error|No data available"

pytestmark = pytest.mark.faults

WRITE, READ, ABORT, GET_FEATURES = 0x01, 0x02, 0x08, 0x0a
# Pinned to CPU 0 so its IO goes to the first IO queue (qid 1) for both drivers.
JOB = ("--rw=randwrite --bs=4k --size=16M --iodepth=8 --verify_backlog=256 "
       "--cpus_allowed=0")
# TCG guests are slow and noisy; this slack is on top of the timeouts.
SLACK = 60


def run_through_fault(fg, record, bound, job=JOB, **rule):
    """Start the verifying job, inject the fault, wait for the job, re-verify;
    then the driver's and the model's command counters must agree."""
    dev = fg.disk
    before = fg.counters()
    fio = Fio(fg.guest, dev, job).start()
    rid = fg.faults.add(**rule)
    fg.faults.wait_hit(rid)
    t_hit = time.monotonic()
    result = fio.wait(timeout=bound + 600)
    assert result.status == 0, f"fio failed through the fault:\n{result.output[-3000:]}"
    recovery = fio.t_end - t_hit
    verified = verify_only(fg.guest, dev, job).ios
    record(recovery=recovery, ios=verified)
    assert recovery < bound + SLACK, f"recovery took {recovery:.1f}s"
    fg.assert_counters_agree(before)
    return rid, result


def io_commands_traced(fg, since, opcode):
    """IO commands with `opcode` the model fetched after trace.log offset `since`."""
    with open(fg.trace_log, "rb") as f:
        f.seek(since)
        text = f.read().decode(errors="replace")
    return len(re.findall(rf"cosim_nvme_cmd sqid [1-9]\d* cid \S+ opcode {opcode:#x} ", text))


@pytest.mark.smoke
def test_dropped_io_recovered(fg, record):
    """One write never completes: the driver's timeout path (Abort, or reset)
    gets it done, and the data is all there."""
    run_through_fault(fg, record, bound=3 * fg.io_timeout,
                      action="drop", queue="io", opcode=WRITE, nth=100)


def test_dropped_io_and_dropped_abort_reset(fg, record):
    """The write and the Abort for it are both lost: only a reset recovers."""
    fg.faults.add(action="drop", queue="admin", opcode=ABORT, count=0)
    run_through_fault(fg, record, bound=3 * fg.io_timeout + fg.admin_timeout,
                      action="drop", queue="io", opcode=WRITE, nth=100)


def test_dropped_admin_command_reset(fg, record):
    """An admin command (Get Features through the passthrough device) never
    completes while IO runs: the admin timeout resets the controller, the
    command comes back with an error instead of hanging, and the IO around it
    goes on and verifies."""
    g, dev = fg.guest, fg.disk
    before = fg.counters()
    resets = control.stats(g)["resets"]
    fio = Fio(g, dev, JOB).start()
    rid = fg.faults.add(action="drop", queue="admin", opcode=GET_FEATURES, count=1)
    g.run(f"(nvme get-feature {fg.chardev} -f 7 > /tmp/admin.out 2>&1; "
          "echo $? > /tmp/admin.rc) &")
    fg.faults.wait_hit(rid)
    t_hit = time.monotonic()
    bound = 2 * fg.admin_timeout
    g.wait_until("[ -e /tmp/admin.rc ]", timeout=bound + SLACK)
    recovery = time.monotonic() - t_hit
    assert g.run("cat /tmp/admin.rc").output.strip() != "0", \
        "a dropped Get Features reported success:\n" + g.run("cat /tmp/admin.out").output
    assert control.stats(g)["resets"] > resets, "the admin timeout did not reset the controller"
    result = fio.wait(timeout=600)
    assert result.status == 0, f"fio failed through the reset:\n{result.output[-3000:]}"
    record(recovery=recovery, ios=verify_only(g, dev, JOB).ios)
    assert recovery < bound + SLACK, f"recovery took {recovery:.1f}s"
    fg.assert_counters_agree(before)


def test_write_failed_after_reaching_medium_retried(fg, record):
    """Five writes reach the medium yet complete with 0/07h Command Abort
    Requested (no DNR): each driver retries them (nvme_scsi: ABORTED COMMAND
    sense, which the SCSI midlayer retries), fio never sees an error, and the
    data written twice reads back intact."""
    trace_at = os.path.getsize(fg.trace_log)
    rid, fio = run_through_fault(fg, record, bound=fg.io_timeout, action="status",
                                 execute=True, queue="io", opcode=WRITE, sc=0x07, every=50,
                                 count=5)
    assert fg.faults.hits(rid) == 5
    # Each failed write was sent again: five more Writes than fio made.
    assert io_commands_traced(fg, trace_at, WRITE) == fio.writes + 5


def test_fatal_status_during_io(fg, record):
    """CSTS.CFS set mid-run: the driver resets the controller."""
    run_through_fault(fg, record, bound=3 * fg.io_timeout,
                      action="cfs", queue="io", opcode=WRITE, nth=100)


def test_duplicate_completion_rejected(fg, record):
    """A completion posted twice must not complete a reused tag twice."""
    run_through_fault(fg, record, bound=3 * fg.io_timeout,
                      action="dup-completion", queue="io", opcode=WRITE, nth=100)


READ_BLOCK = "if={dev} of=/dev/null skip=2048 iflag=direct"
WRITE_BLOCK = "if=/dev/zero of={dev} seek=2048 oflag=direct"
# (opcode, status code, dd command, what the kernel log must say per driver)
MEDIA_ERRORS = {
    "read": (READ, 0x81, READ_BLOCK,
             {"nvme_scsi": "Unrecovered read error", "nvme": "sct 0x2 / sc 0x81"}),
    "write": (WRITE, 0x80, WRITE_BLOCK,
              {"nvme_scsi": "Peripheral device write fault", "nvme": "sct 0x2 / sc 0x80"}),
}


def fail_block_with_dnr(fg, opcode, sct, sc, dd, logged):
    """dd one 4 KiB block whose command the model fails with sct/sc and DNR:
    the application gets an error, the kernel log names it, nobody retries
    it, and the rest of the namespace still works."""
    lba = 2048 * 4096 // 512                     # dd's block 2048, in 512-byte LBAs
    rid = fg.faults.add(action="status", queue="io", opcode=opcode, sct=sct, sc=sc,
                        dnr=True, lba_start=lba, lba_end=lba + 7, count=0)
    dev = fg.disk
    before = fg.counters()
    fg.guest.run("dmesg -c > /dev/null")
    result = fg.guest.run(f"dd {dd.format(dev=dev)} bs=4096 count=1", check=False)
    # The block layer reports a medium error as ENODATA, others as EIO.
    assert result.status != 0 and re.search(MEDIUM_ERRNO, result.output), result
    # DNR is set: neither driver (nor the SCSI midlayer) may try again.
    assert fg.faults.hits(rid) == 1
    log = fg.guest.run("dmesg").output
    assert logged[fg.driver].lower() in log.lower(), log
    fg.faults.remove(rid)
    fg.guest.run(f"dd if={dev} of=/dev/null bs=4096 count=16 iflag=direct")
    fg.assert_counters_agree(before)


@pytest.mark.smoke
@pytest.mark.parametrize("kind", MEDIA_ERRORS)
def test_media_error_reaches_application(fg, record, kind):
    """A media error on one 4 KiB block reaches the application as EIO/ENODATA
    with the right sense (nvme_scsi) or status (nvme) in the kernel log."""
    opcode, sc, dd, logged = MEDIA_ERRORS[kind]
    fail_block_with_dnr(fg, opcode, 2, sc, dd, logged)
    record()


def test_aborted_with_dnr_not_retried(fg, record):
    """0/07h with DNR on a write: without DNR both drivers retry an aborted
    command (nvme_scsi through ABORTED COMMAND sense), with it the error goes
    straight to the application."""
    fail_block_with_dnr(fg, WRITE, 0, 0x07, WRITE_BLOCK,
                        {"nvme_scsi": "Aborted Command", "nvme": "sct 0x0 / sc 0x7"})
    record()


def test_unknown_cid_completion_rejected(fg, record):
    """A completion for a CID that is not outstanding is dropped, not trusted."""
    run_through_fault(fg, record, bound=3 * fg.io_timeout,
                      action="bad-cid", queue="io", opcode=WRITE, nth=100)


def test_sq_head_out_of_range(fg, record):
    """Fifty completions report SQ head 0xffff, beyond any queue: the
    commands complete as usual (neither driver takes the SQ head from the
    device), nothing times out and the data is all there."""
    rid, _ = run_through_fault(fg, record, bound=fg.io_timeout,
                               action="sq-head", queue="io", value=0xffff, count=50)
    assert fg.faults.hits(rid) == 50
    fg.assert_no_timeouts()


# How each driver says it dropped a completion whose CID is idle or, by its
# generation, belongs to an earlier use of the slot.
STALE_DROPPED = {"nvme_scsi": r"unknown command id|stale completion for command id",
                 "nvme": r"invalid id \d+ completed|genctr mismatch"}


def test_stale_read_completions_dropped(fg, record):
    """Thirty Reads of the verify pass have their completions posted a
    second time, late, when the CID already carries a newer Read (eight tags
    for eight IOs: a tag is reused at once) that the controller holds for
    50 ms: taking the copy for that Read's would hand fio its buffer before
    any data moved.  Both drivers must drop every copy, time nothing out,
    and the data must verify."""
    nr_requests = f"/sys/block/{os.path.basename(fg.disk)}/queue/nr_requests"
    depth = fg.guest.run(f"cat {nr_requests}").output.strip()
    fg.guest.run(f"echo 8 > {nr_requests}; dmesg -c > /dev/null")
    try:
        # first in the list: a delay rule takes its command over, so a rule
        # after it would never see the same Read
        stale = fg.faults.add("stale-completion", queue="io", opcode=READ, count=30)
        run_through_fault(fg, record, bound=fg.io_timeout, action="delay", queue="io",
                          opcode=READ, delay_us=50000, count=60)
    finally:
        fg.guest.run(f"echo {depth} > {nr_requests}")
    assert fg.faults.hits(stale) == 30
    fg.assert_no_timeouts()
    log = fg.guest.run("dmesg").output
    # a copy goes out just before the next command fetched on its SQ: the
    # last ones may still wait when fio ends, never all thirty
    assert re.search(STALE_DROPPED[fg.driver], log), log[-2000:]


def test_lost_interrupt_recovered_by_polling(fg, record):
    """One MSI-X interrupt of the first IO CQ is lost while the queue holds a
    single command: only the timeout path's CQ poll can complete it."""
    run_through_fault(fg, record, bound=2 * fg.io_timeout,
                      job="--rw=randwrite --bs=4k --size=1M --iodepth=1 --cpus_allowed=0",
                      action="drop-irq", cq=1, count=1)


def test_twenty_resets_under_io(fg, record):
    """Twenty controller resets in a row while the verifying job runs."""
    dev = fg.disk
    job = JOB.replace("--size=16M", "--size=32M")
    before = fg.counters()
    fio = Fio(fg.guest, dev, job).start()
    t0 = time.monotonic()
    for _ in range(20):
        fg.guest.driver.reset()
    result = fio.wait(timeout=900)
    assert result.status == 0, f"fio failed across resets:\n{result.output[-3000:]}"
    record(recovery=time.monotonic() - t0, ios=verify_only(fg.guest, dev, job).ios)
    fg.assert_counters_agree(before)


def test_slow_ready_within_cap_to(fg, record):
    """After a reset CSTS.RDY comes late, but within CAP.TO: the driver waits."""
    before = fg.counters()
    fg.faults.add(action="ready-delay", ms=3000)
    t0 = time.monotonic()
    fg.guest.driver.reset()
    fg.guest.run(f"dd if={fg.disk} of=/dev/null bs=4k count=16 iflag=direct", timeout=120)
    recovery = time.monotonic() - t0
    assert recovery >= 3.0, f"IO completed {recovery:.1f}s after reset: ready delay ignored?"
    record(recovery=recovery)
    fg.assert_counters_agree(before)


def test_ready_never_comes(fg, record):
    """CSTS.RDY never returns after a reset: the driver gives up within CAP.TO
    with a clear message, nothing hangs, IO fails instead of waiting."""
    dev = fg.disk           # Linux's nvme removes the disk when it gives up
    fg.faults.add(action="ready-delay", ms=-1)
    fg.guest.run("dmesg -c > /dev/null")
    t0 = time.monotonic()
    fg.guest.driver.reset(check=False)
    fg.guest.wait_until(f"! dd if={dev} of=/dev/null bs=4k count=1 iflag=direct "
                        "2>/dev/null", timeout=120)
    record(recovery=time.monotonic() - t0)
    log = fg.guest.run("dmesg").output
    assert re.search(r"not ready|dead|offline|disabl|remov", log, re.I), log
    fg.guest.healthy = False            # the controller is gone: next test reboots
