# SPDX-License-Identifier: GPL-2.0-or-later
"""make test's order: the longest test files first, by the last JUnit
report, with the tests of a file kept together and in their own order (a
file's tests share a guest on one pytest-xdist worker)."""
from types import SimpleNamespace

from cosim import fixtures

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.guest.test_short" name="a" time="2.0" />
<testcase classname="tests.guest.test_long" name="a" time="30.5" />
<testcase classname="tests.guest.test_short" name="b" time="1.0" />
<testcase classname="tests.unit.test_mid" name="a" time="9.0" />
</testsuite></testsuites>"""


def configured(monkeypatch, tmp_path, junit=JUNIT, workerinput=None):
    """A config as pytest_configure leaves it, on the controller or a worker."""
    if junit is not None:
        (tmp_path / "junit.xml").write_text(junit)
    monkeypatch.chdir(tmp_path)                     # pytest takes the path from here
    monkeypatch.setattr(fixtures.fleet, "bind_worker", lambda: None)
    config = SimpleNamespace(getoption=lambda name, default=None: "junit.xml")
    if workerinput is not None:
        config.workerinput = workerinput
    fixtures.pytest_configure(config)
    return config


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
