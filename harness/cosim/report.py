"""Per-run result logs that the tables at the end of a pytest run are built
from.  Entries are appended as JSON lines, so pytest-xdist workers (JOBS=N)
can all write while the controller prints the table."""
import json
import os

from . import paths


def _path(name):
    return paths.RESULTS / f"{name}.jsonl"


def is_worker():
    return "PYTEST_XDIST_WORKER" in os.environ


def reset_all():
    """Start a run afresh (the pytest controller calls this once)."""
    if paths.RESULTS.exists():
        for f in paths.RESULTS.glob("*.jsonl"):
            f.unlink()


def append(name, entry):
    paths.RESULTS.mkdir(parents=True, exist_ok=True)
    with open(_path(name), "a") as f:       # one short O_APPEND write per entry
        f.write(json.dumps(entry) + "\n")


def read(name):
    try:
        return [json.loads(line) for line in _path(name).read_text().splitlines()]
    except FileNotFoundError:
        return []
