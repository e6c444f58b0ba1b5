# SPDX-License-Identifier: GPL-2.0-or-later
"""make test's order: the longest test files first, by the last JUnit
report, with the tests of a file kept together and in their own order (a
file's tests share a guest on one pytest-xdist worker)."""
from types import SimpleNamespace

import pytest

from cosim import fixtures, paths

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.guest.test_short" name="a" time="2.0" />
<testcase classname="tests.guest.test_long" name="a" time="30.5" />
<testcase classname="tests.guest.test_short" name="b" time="1.0" />
<testcase classname="tests.unit.test_mid" name="a" time="9.0" />
</testsuite></testsuites>"""


def configured(monkeypatch, tmp_path, junit=JUNIT, workerinput=None, saved=None):
    """A config as pytest_configure leaves it, on the controller or a worker,
    with `saved` as tests/file_seconds.toml."""
    if junit is not None:
        (tmp_path / "junit.xml").write_text(junit)
    monkeypatch.setattr(fixtures, "SAVED_FILE_SECONDS", tmp_path / "file_seconds.toml")
    if saved is not None:
        fixtures.SAVED_FILE_SECONDS.write_text(toml(saved))
    monkeypatch.chdir(tmp_path)                     # pytest takes the path from here
    monkeypatch.setattr(fixtures.fleet, "bind_worker", lambda: None)
    config = SimpleNamespace(getoption=lambda name, default=None: "junit.xml")
    if workerinput is not None:
        config.workerinput = workerinput
    fixtures.pytest_configure(config)
    return config


def toml(seconds):
    return "".join(f'"{f}" = {s}\n' for f, s in seconds.items())


def ordered(monkeypatch, tmp_path, nodeids, **kwargs):
    config = configured(monkeypatch, tmp_path, **kwargs)
    items = [SimpleNamespace(nodeid=n) for n in nodeids]
    fixtures.pytest_collection_modifyitems(None, config, items)
    return [i.nodeid for i in items]


def test_seconds_per_file(tmp_path):
    (tmp_path / "junit.xml").write_text(JUNIT)
    assert fixtures.file_seconds(tmp_path / "junit.xml") == {
        "tests/guest/test_short.py": 3.0, "tests/guest/test_long.py": 30.5,
        "tests/unit/test_mid.py": 9.0}


def test_longest_first_new_files_before_them(monkeypatch, tmp_path):
    nodeids = ["tests/guest/test_short.py::a", "tests/guest/test_short.py::b",
               "tests/guest/test_long.py::a", "tests/guest/test_new.py::x",
               "tests/unit/test_mid.py::a", "tests/guest/test_new.py::y"]
    assert ordered(monkeypatch, tmp_path, nodeids) == [
        "tests/guest/test_new.py::x", "tests/guest/test_new.py::y",
        "tests/guest/test_long.py::a", "tests/unit/test_mid.py::a",
        "tests/guest/test_short.py::a", "tests/guest/test_short.py::b"]


def test_workers_take_the_controllers_times(monkeypatch, tmp_path):
    """Every worker must collect in one order: the controller's reading of
    the report, not the file as each worker happens to find it."""
    controller = configured(monkeypatch, tmp_path)
    node = SimpleNamespace(config=controller, workerinput={})
    fixtures.pytest_configure_node(node)
    nodeids = ["tests/guest/test_short.py::a", "tests/guest/test_long.py::a"]
    (tmp_path / "junit.xml").write_text("<testsuites")          # rewritten meanwhile
    assert ordered(monkeypatch, tmp_path, nodeids, junit=None,
                   workerinput=node.workerinput) == list(reversed(nodeids))


def test_collection_order_without_a_report(monkeypatch, tmp_path):
    nodeids = ["tests/b.py::x", "tests/a.py::y", "tests/b.py::z"]
    assert ordered(monkeypatch, tmp_path, nodeids, junit=None) == nodeids
    assert ordered(monkeypatch, tmp_path, nodeids, junit="<testsuites") == nodeids


def test_saved_times_without_a_report(monkeypatch, tmp_path):
    """A fresh checkout: no report yet, tests/file_seconds.toml orders."""
    nodeids = ["tests/b.py::x", "tests/a.py::y", "tests/c.py::z"]
    saved = {"tests/a.py": 50.0, "tests/c.py": 5.0, "tests/b.py": 20.0}
    assert ordered(monkeypatch, tmp_path, nodeids, junit=None, saved=saved) == [
        "tests/a.py::y", "tests/b.py::x", "tests/c.py::z"]


def test_report_times_win_over_saved_ones(monkeypatch, tmp_path):
    """The report's time for a file it ran; the saved one for a file it did
    not (the last run was `make interop`, say)."""
    nodeids = ["tests/guest/test_short.py::a", "tests/guest/test_long.py::a",
               "tests/faults/test_other.py::a"]
    saved = {"tests/guest/test_short.py": 99.0, "tests/faults/test_other.py": 10.0}
    assert ordered(monkeypatch, tmp_path, nodeids, saved=saved) == [
        "tests/guest/test_long.py::a", "tests/faults/test_other.py::a",
        "tests/guest/test_short.py::a"]


def test_saving_takes_a_whole_runs_times(monkeypatch, tmp_path):
    """The report's times, for the files that exist; a file the saved
    times list and the report lacks means a partial run: refused."""
    monkeypatch.setattr(fixtures, "SAVED_FILE_SECONDS", tmp_path / "file_seconds.toml")
    fixtures.SAVED_FILE_SECONDS.write_text(toml(
        {"tests/unit/test_collection_order.py": 1.0, "tests/unit/test_gone.py": 7.0}))
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT.replace("tests.unit.test_mid", "tests.unit.test_collection_order"))
    fixtures.save_file_seconds(junit)
    assert fixtures.saved_file_seconds() == {"tests/unit/test_collection_order.py": 9.0}

    fixtures.SAVED_FILE_SECONDS.write_text(toml({"tests/unit/test_stub_libs.py": 4.0}))
    with pytest.raises(SystemExit, match="test_stub_libs.py"):
        fixtures.save_file_seconds(junit)
    with pytest.raises(SystemExit, match="no test times"):
        fixtures.save_file_seconds(tmp_path / "no-report.xml")
    assert fixtures.saved_file_seconds() == {"tests/unit/test_stub_libs.py": 4.0}


def test_saved_names_are_quoted(monkeypatch, tmp_path):
    monkeypatch.setattr(fixtures, "SAVED_FILE_SECONDS", tmp_path / "file_seconds.toml")
    monkeypatch.setattr(fixtures.paths, "REPO", tmp_path)
    (tmp_path / 'tests').mkdir()
    (tmp_path / 'tests/a"b.py').write_text("")
    (tmp_path / "junit.xml").write_text(
        '<testsuites><testcase file=\'tests/a"b.py\' name="x" time="2.0"/></testsuites>')
    fixtures.save_file_seconds(tmp_path / "junit.xml")
    assert fixtures.saved_file_seconds() == {'tests/a"b.py': 2.0}


def test_saved_times_name_test_files():
    """tests/file_seconds.toml as committed names files as collection does
    (a renamed file only loses its place: `make test-order`)."""
    saved = fixtures.saved_file_seconds()
    assert all(f.startswith("tests/") and f.endswith(".py") for f in saved), saved
    assert sum((paths.REPO / f).is_file() for f in saved) > len(saved) / 2, saved
