"""The interop matrix: cells filled in by test_matrix.py, printed at the end
of the run and written to build/results/interop.md."""
from contextlib import contextmanager

import pytest

from cosim import paths, report


class Cell:
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


class Matrix:
    def __init__(self):
        self.cells = {}

    def cell(self, config, driver, model):
        return self.cells.setdefault((config, driver, model), Cell())

    def markdown(self):
        columns = sorted({(d, m) for _, d, m in self.cells})
        rows = sorted({c for c, _, _ in self.cells})
        lines = ["| config | " + " | ".join(f"{d} + {m}" for d, m in columns) + " |",
                 "|---" * (len(columns) + 1) + "|"]
        for row in rows:
            cells = [self.cells.get((row, d, m)) for d, m in columns]
            lines.append(f"| {row} | " + " | ".join(c.summary() if c else "-"
                                                   for c in cells) + " |")
        notes = [f"- {c} / {d} / {m}: {cell.reason or '; '.join(f'{s}: {v}' for s, v in cell.steps.items() if v not in ('ok', 'FAIL'))}"
                 for (c, d, m), cell in sorted(self.cells.items())
                 if cell.reason or any(v not in ("ok", "FAIL") for v in cell.steps.values())]
        return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


@pytest.fixture
def matrix():
    """The cells this process fills in, saved when the test ends so the
    controller can print the whole matrix (also under JOBS=N)."""
    mine = Matrix()
    yield mine
    for (config, driver, model), cell in mine.cells.items():
        report.append("interop", {"config": config, "driver": driver, "model": model,
                                  "steps": cell.steps, "reason": cell.reason})


def pytest_terminal_summary(terminalreporter):
    entries = report.read("interop")
    if not entries:
        return
    matrix = Matrix()
    for e in entries:
        matrix.cells[(e["config"], e["driver"], e["model"])] = Cell(e["steps"], e["reason"])
    text = matrix.markdown()
    paths.RESULTS.mkdir(parents=True, exist_ok=True)
    out = paths.RESULTS / "interop.md"
    out.write_text("# Interop matrix\n\n" + text)
    terminalreporter.section("interop matrix")
    for line in text.splitlines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"(also in {out})")
