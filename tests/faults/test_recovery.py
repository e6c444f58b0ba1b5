"""Fault-injection regression suite: one fault injected into the cosim-nvme
model while a verifying fio job runs; the driver must recover within a bound
derived from its timeouts, and every block fio wrote must read back intact.
Each case runs against nvme_scsi and against Linux's nvme driver."""
import re
import time

import pytest

from cosim.workload import Fio, verify_only

from .conftest import ADMIN_TIMEOUT, IO_TIMEOUT

MEDIUM_ERRNO = r"I/O error|No data available"

pytestmark = pytest.mark.faults

WRITE, READ, ABORT = 0x01, 0x02, 0x08
# Pinned to CPU 0 so its IO goes to the first IO queue (qid 1) for both drivers.
JOB = ("--rw=randwrite --bs=4k --size=16M --iodepth=8 --verify_backlog=256 "
       "--cpus_allowed=0")
# TCG guests are slow and noisy; this slack is on top of the timeouts.
SLACK = 60


def wait_for_hit(faults, rule, timeout=120):
    """Poll the rule's hit count until the fault fired; returns when it did."""
    deadline = time.monotonic() + timeout
    while faults.hits(rule) == 0:
        assert time.monotonic() < deadline, f"fault rule {rule} never fired"
        time.sleep(0.1)
    return time.monotonic()


def run_through_fault(fg, record, bound, job=JOB, **rule):
    """Start the verifying job, inject the fault, wait for the job, re-verify."""
    dev = fg.disk
    fio = Fio(fg.guest, dev, job).start()
    rid = fg.faults.add(**rule)
    t_hit = wait_for_hit(fg.faults, rid)
    result = fio.wait(timeout=bound + 600)
    assert result.status == 0, f"fio failed through the fault:\n{result.output[-3000:]}"
    recovery = fio.t_end - t_hit
    verified = verify_only(fg.guest, dev, job).ios
    record(recovery=recovery, ios=verified)
    assert recovery < bound + SLACK, f"recovery took {recovery:.1f}s"
    return rid


def test_dropped_io_recovered(fg, record):
    """One write never completes: the driver's timeout path (Abort, or reset)
    gets it done, and the data is all there."""
    run_through_fault(fg, record, bound=3 * IO_TIMEOUT,
                      action="drop", queue="io", opcode=WRITE, nth=100)


def test_dropped_io_and_dropped_abort_reset(fg, record):
    """The write and the Abort for it are both lost: only a reset recovers."""
    fg.faults.add(action="drop", queue="admin", opcode=ABORT, count=0)
    run_through_fault(fg, record, bound=3 * IO_TIMEOUT + ADMIN_TIMEOUT,
                      action="drop", queue="io", opcode=WRITE, nth=100)


def test_fatal_status_during_io(fg, record):
    """CSTS.CFS set mid-run: the driver resets the controller."""
    run_through_fault(fg, record, bound=3 * IO_TIMEOUT,
                      action="cfs", queue="io", opcode=WRITE, nth=100)


def test_duplicate_completion_rejected(fg, record):
    """A completion posted twice must not complete a reused tag twice."""
    run_through_fault(fg, record, bound=3 * IO_TIMEOUT,
                      action="dup-completion", queue="io", opcode=WRITE, nth=100)


# (opcode, status code, dd command, what the kernel log must say per driver)
MEDIA_ERRORS = {
    "read": (READ, 0x81, "if={dev} of=/dev/null skip=2048 iflag=direct",
             {"nvme_scsi": "Unrecovered read error", "nvme": "Unrecovered Read Error"}),
    "write": (WRITE, 0x80, "if=/dev/zero of={dev} seek=2048 oflag=direct",
              {"nvme_scsi": "write fault", "nvme": "Write Fault"}),
}


@pytest.mark.parametrize("kind", MEDIA_ERRORS)
def test_media_error_reaches_application(fg, record, kind):
    """A media error on one 4 KiB block: the application gets EIO, the kernel
    log names the error, and the rest of the namespace still works."""
    opcode, sc, dd, logged = MEDIA_ERRORS[kind]
    lba = 2048 * 4096 // 512                     # dd's block 2048, in 512-byte LBAs
    rid = fg.faults.add(action="status", queue="io", opcode=opcode, sct=2, sc=sc,
                        dnr=True, lba_start=lba, lba_end=lba + 7, count=0)
    dev = fg.disk
    fg.guest.run("dmesg -c > /dev/null")
    result = fg.guest.run(f"dd {dd.format(dev=dev)} bs=4096 count=1", check=False)
    # The block layer reports a medium error as ENODATA, others as EIO.
    assert result.status != 0 and re.search(MEDIUM_ERRNO, result.output), result
    assert fg.faults.hits(rid) >= 1
    log = fg.guest.run("dmesg").output
    assert logged[fg.driver].lower() in log.lower(), log
    fg.faults.remove(rid)
    fg.guest.run(f"dd if={dev} of=/dev/null bs=4096 count=16 iflag=direct")
    record(recovery=0.0, ios=1)
