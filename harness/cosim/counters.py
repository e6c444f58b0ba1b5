# SPDX-License-Identifier: GPL-2.0-or-later
"""The cross-check of driver and model: nvme_scsi's per-queue command
counters (debugfs) against the model's (`stats`), taken at two quiescent
moments; what one side did that the other did not see is a bug in one of
them (a lost or duplicated completion, a command never fetched)."""
from . import control


def model_counters(guest):
    """The model's `stats` (qom-get), queues keyed by int SQ id; all since
    the controller was created."""
    stats = control.stats(guest)
    stats["queues"] = {int(q): v for q, v in stats["queues"].items()}
    return stats


class Counters:
    """Both sides' counters at one quiescent moment (no IO in flight)."""

    def __init__(self, driver, model):
        self.driver = driver
        self.model = model


def counters(guest, tries=10):
    """Counters of nvme_scsi and the model, read while nothing changes (the
    model's are read before and after the driver's and must be equal), or
    None for Linux's nvme, which keeps no per-queue counters."""
    for _ in range(tries):
        model = model_counters(guest)
        driver = guest.driver.queue_counters()
        if driver is None:
            return None
        if model_counters(guest) == model:
            return Counters(driver, model)
    raise AssertionError(f"the model's counters kept changing over {tries} reads: "
                         "the guest is not quiescent")


def counter_disagreements(before, after):
    """Where driver and model disagree over the commands between two quiescent
    snapshots.  Per queue, with d = the driver's and m = the model's deltas:

      d.submitted == d.completed + d.cancelled   the driver has nothing outstanding
                                                 that it did not have before
      0 <= d.submitted - m.submitted             the model fetched only what the
      0 <= m.completed - d.completed             driver submitted, and the driver took
                                                 only completions the model posted (a
                                                 duplicate or unknown-CID one is not one)
      (d.submitted - m.submitted) +              what the model never fetched, or posted
      (m.completed - d.completed) <= d.cancelled but the driver never took, was cancelled
                                                 by a reset (so: all equal without one)

    and over the controller: as many resets (CC.EN 1 -> 0) in the model as
    the driver made; without any cancelled command, as many Aborts executed
    and succeeded as the driver sent and saw succeed."""
    problems = []
    d0, d1, m0, m1 = before.driver, after.driver, before.model, after.model
    if d1["state"] != "live":
        problems.append(f"driver state is {d1['state']}, not live")
    d_resets, m_resets = d1["resets"] - d0["resets"], m1["resets"] - m0["resets"]
    if d_resets != m_resets:
        problems.append(f"driver made {d_resets} resets, the model saw {m_resets} "
                        "(CC.EN 1 -> 0)")
    cancelled_all = 0
    for qid in sorted(set(d1["queues"]) | set(m1["queues"])):
        def delta(side0, side1, key):
            return side1.get(qid, {}).get(key, 0) - side0.get(qid, {}).get(key, 0)
        d_sub, d_comp, d_canc = (delta(d0["queues"], d1["queues"], k)
                                 for k in ("submitted", "completed", "cancelled"))
        m_sub, m_comp = (delta(m0["queues"], m1["queues"], k)
                         for k in ("submitted", "completed"))
        cancelled_all += d_canc
        where = (f"qid {qid}: driver submitted {d_sub} completed {d_comp} cancelled {d_canc}, "
                 f"model fetched {m_sub} completed {m_comp}")
        unfetched, untaken = d_sub - m_sub, m_comp - d_comp
        if qid not in d1["queues"]:
            if m_sub or m_comp:
                problems.append(f"{where}: a queue the driver does not have")
            continue
        if d_sub != d_comp + d_canc:
            problems.append(f"{where}: {d_sub - d_comp - d_canc} commands still outstanding")
        if unfetched < 0:
            problems.append(f"{where}: the model fetched {-unfetched} commands the driver "
                            "never submitted")
        if untaken < 0:
            problems.append(f"{where}: the driver completed {-untaken} commands the model "
                            "never completed")
        if max(unfetched, 0) + max(untaken, 0) > d_canc:
            problems.append(f"{where}: {unfetched} never fetched + {untaken} completions not "
                            f"taken > {d_canc} cancelled")
    if not cancelled_all:
        sent = sum(q.get("aborts", 0) for q in d1["queues"].values()) - \
            sum(q.get("aborts", 0) for q in d0["queues"].values())
        failed = sum(q.get("aborts_failed", 0) for q in d1["queues"].values()) - \
            sum(q.get("aborts_failed", 0) for q in d0["queues"].values())
        m_aborts = m1["aborts"] - m0["aborts"]
        m_ok = m1["aborts-succeeded"] - m0["aborts-succeeded"]
        if (sent, sent - failed) != (m_aborts, m_ok):
            problems.append(f"driver sent {sent} Aborts, {sent - failed} succeeded; the "
                            f"model executed {m_aborts}, {m_ok} succeeded")
    return problems


def assert_counters_agree(guest, before, save=None):
    """Take the counters now and assert they agree with `before` (see
    counter_disagreements); both snapshots go to save(name, data) if given."""
    if before is None:
        return
    after = counters(guest)
    if save:
        save("counters.json", {"before": vars(before), "after": vars(after)})
    problems = counter_disagreements(before, after)
    assert not problems, "driver and model counters disagree:\n  " + "\n  ".join(problems)
