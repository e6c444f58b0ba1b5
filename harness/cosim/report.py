# SPDX-License-Identifier: GPL-2.0-or-later
"""Per-run result logs that the tables at the end of a pytest run are built
from.  Entries are appended as JSON lines, so pytest-xdist workers (JOBS=N)
can all write while the controller prints the table.  Each run has its own
files (COSIM_RUN_ID, set by the controller and inherited by its workers), so
two runs in one tree do not mix their tables."""
import json
import os
import re
import shutil
from contextlib import contextmanager

from . import paths


def _path(name):
    return paths.RESULTS / "runs" / f"{name}-{os.environ.get('COSIM_RUN_ID', 'solo')}.jsonl"


def is_worker():
    return "PYTEST_XDIST_WORKER" in os.environ


def start_run():
    """Called once by the pytest controller before its workers start."""
    os.environ["COSIM_RUN_ID"] = str(os.getpid())


def append(name, entry):
    _path(name).parent.mkdir(parents=True, exist_ok=True)
    with open(_path(name), "a") as f:       # one short O_APPEND write per entry
        f.write(json.dumps(entry) + "\n")


def read(name):
    try:
        return [json.loads(line) for line in _path(name).read_text().splitlines()]
    except FileNotFoundError:
        return []


def case_dir(suite, nodeid):
    """An empty build/results/<suite>/<test id>/ for one test's own logs:
    the test id is pytest's node id without its directory, e.g.
    test_recovery.test_dropped_io_recovered[nvme_scsi]."""
    name = nodeid.rsplit("/", 1)[-1].replace(".py::", ".").replace("::", ".")
    path = paths.RESULTS / suite / re.sub(r"[^\w.\[\]=,+-]", "_", name)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


# -- the fault-injection table ----------------------------------------------

def fault_table(entries):
    """One line per case; "oracle" is the model's ledger against the medium
    after the case (acknowledged LBAs checked / LBAs that differ), and
    "app written" what the application saw written against the ledger
    (LBAs / LBAs never acknowledged)."""
    lines = [f"{'case':<58} {'outcome':<8} {'recovery':>9} {'IOs verified':>13} "
             f"{'oracle':>13} {'app written':>13}"]
    for r in entries:
        rec = "-" if r["recovery"] is None else f"{r['recovery']:.1f}s"
        ios = "-" if r["ios"] is None else str(r["ios"])
        oracle = r.get("oracle")
        orc = "-" if not oracle else f"{oracle['checked']}/{oracle['mismatches']}"
        app = "-" if not oracle or "app_checked" not in oracle else \
            f"{oracle['app_checked']}/{oracle['unacknowledged']}"
        lines.append(f"{r['case']:<58} {r.get('outcome', '?'):<8} {rec:>9} {ios:>13} "
                     f"{orc:>13} {app:>13}")
    return lines


def selftest_share(entries):
    """The oracle self-test's line (ORACLE_SELFTEST=1), or None."""
    outcomes = [r["selftest"] for r in entries if r.get("selftest")]
    counted = [o for o in outcomes if o in ("detected", "missed")]
    if not counted:
        return None
    found = counted.count("detected")
    return (f"oracle self-test: a lost Write detected in {found} of {len(counted)} cases "
            f"({100 * found // len(counted)} %); {outcomes.count('n/a')} cases wrote too "
            f"little to lose one")


# -- the interop matrix -------------------------------------------------------

class Cell:
    """One (config, driver, model) cell: its steps' outcomes, or why n/a."""

    def __init__(self, steps=None, reason=None):
        self.steps = steps or {}
        self.reason = reason

    def na(self, reason):
        self.reason = reason

    def note(self, step, text):
        self.steps[step] = text

    @contextmanager
    def step(self, name):
        self.steps[name] = "FAIL"       # stays so if the step raises
        yield
        self.steps[name] = "ok"

    def summary(self):
        if self.reason:
            return "n/a"
        failed = [s for s, v in self.steps.items() if v == "FAIL"]
        if failed:
            return "FAIL: " + ",".join(failed)
        return "ok" if self.steps else "-"

    def remark(self):
        """Why n/a, or the notes of steps that did not simply pass or fail."""
        return self.reason or "; ".join(f"{s}: {v}" for s, v in self.steps.items()
                                        if v not in ("ok", "FAIL"))


def interop_markdown(entries):
    cells = {(e["config"], e["driver"], e["model"]): Cell(e["steps"], e["reason"])
             for e in entries}
    columns = sorted({(d, m) for _, d, m in cells})
    rows = sorted({c for c, _, _ in cells})
    lines = ["| config | " + " | ".join(f"{d} + {m}" for d, m in columns) + " |",
             "|---" * (len(columns) + 1) + "|"]
    for row in rows:
        lines.append(f"| {row} | " + " | ".join(
            cells[(row, d, m)].summary() if (row, d, m) in cells else "-"
            for d, m in columns) + " |")
    notes = [f"- {c} / {d} / {m}: {cell.remark()}"
             for (c, d, m), cell in sorted(cells.items()) if cell.remark()]
    return lines + ([""] + notes if notes else [])
