# SPDX-License-Identifier: GPL-2.0-or-later
"""The interop matrix's cells, filled in by test_matrix.py and saved as each
test ends; tests/conftest.py prints the whole matrix at the end of the run."""
import pytest

from cosim import report


@pytest.fixture
def matrix():
    """cell(config, driver, model) -> report.Cell for the running test."""
    cells = {}

    def cell(config, driver, model):
        return cells.setdefault((config, driver, model), report.Cell())
    yield cell
    for (config, driver, model), c in cells.items():
        report.append("interop", {"config": config, "driver": driver, "model": model,
                                  "steps": c.steps, "reason": c.reason})
