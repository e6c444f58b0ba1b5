# SPDX-License-Identifier: GPL-2.0-or-later
"""The oracle against firmware that lies: a Write the model completes with
success while the medium says otherwise must turn the verdict red, for
both drivers.  Each case first lays down data with an honest job (so the
region holds valid-looking blocks of an earlier job, the case a stale
block hides in), then runs the same job with one lie among its 4096
writes: fio's in-run verify or the verify-only pass after it must fail and
name the offset.  The same job without the lie passes.  (A stale read leaves
the medium right: only the application's verify can see it.)"""
import pytest

from cosim import control
from cosim.errors import GuestError
from cosim.workload import Fio, fio_verify, verify_only

pytestmark = pytest.mark.faults

JOB = "--rw=randwrite --bs=4k --size=16M --iodepth=8 --verify_backlog=256 --cpus_allowed=0"
LIES = {
    "lose-write": {},
    "torn-write": {"value": 1},             # 1 of the 4 KiB block's 8 LBAs
    "misdirected-write": {"value": 64},     # 32 KiB further on, inside the job
    "stale-read": {},                       # the next read of the block gets the old data
}
COUNTER = {"lose-write": "writes-lost", "torn-write": "writes-torn",
           "misdirected-write": "writes-misdirected", "stale-read": "writes-stale"}
CAUGHT = ("verify failed at file", "bad pattern")


def verdict(fg, rule=None):
    """fio through the job (with @rule fired once), then the verify-only pass:
    (passed, what fio said)."""
    fio = Fio(fg.guest, fg.disk, JOB).start()
    if rule:
        fg.faults.wait_hit(fg.faults.add(queue="io", opcode=0x01, nth=100, **rule))
    result = fio.wait(timeout=900)
    if result.status != 0:
        return False, result.output
    try:
        verify_only(fg.guest, fg.disk, JOB)
    except GuestError as e:
        return False, str(e)
    return True, result.output


@pytest.mark.parametrize("lie", [pytest.param("lose-write", marks=pytest.mark.smoke),
                                 "torn-write", "misdirected-write", "stale-read"])
def test_lying_write_is_caught(fg, record, lie):
    fio_verify(fg.guest, fg.disk, JOB)
    passed, said = verdict(fg, dict(action=lie, **LIES[lie]))
    assert not passed, f"{lie} fired and the verdict still passed:\n{said[-3000:]}"
    assert any(c in said for c in CAUGHT), f"{lie}: failed without naming the block:\n" \
                                           f"{said[-3000:]}"
    assert control.stats(fg.guest)[COUNTER[lie]] >= 1
    # the honest job over the damage passes: the oracle does not cry wolf
    passed, said = verdict(fg)
    assert passed, f"the honest job after {lie} failed:\n{said[-3000:]}"
    record()


def test_success_for_a_write_never_done_is_caught(fg, record):
    """One Write completed with success by a fault rule and never run (the
    controller's `status` action with SC 0): the ledger never heard of it,
    so the medium check cannot see it, but the application saw it written.
    The ledger's application check must name exactly its 4 KiB."""
    fio_verify(fg.guest, fg.disk, JOB)
    control.ledger_clear(fg.guest)
    rule = fg.faults.add("status", queue="io", opcode=0x01, sct=0, sc=0, nth=100)
    fio = Fio(fg.guest, fg.disk, JOB).start()
    fg.faults.wait_hit(rule)
    fio.wait(timeout=900)           # its verify may or may not reach the block first
    check = control.ledger_check(fg.guest)
    assert not check.mismatches, check.describe()
    lbas = 4096 // fg.guest.cfg.namespaces[0].lba_size
    assert [u.last - u.first + 1 for u in check.unacknowledged] == [lbas], check.describe()
    # the honest job over it: everything acknowledged again
    control.ledger_clear(fg.guest)
    fio_verify(fg.guest, fg.disk, JOB)
    record()
