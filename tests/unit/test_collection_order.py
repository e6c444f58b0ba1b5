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


def ordered(tmp_path, nodeids, junit=JUNIT):
    if junit is not None:
        (tmp_path / "junit.xml").write_text(junit)
    config = SimpleNamespace(rootpath=tmp_path, getoption=lambda name, default=None: "junit.xml")
    items = [SimpleNamespace(nodeid=n) for n in nodeids]
    fixtures.pytest_collection_modifyitems(None, config, items)
    return [i.nodeid for i in items]


def test_seconds_per_file(tmp_path):
    (tmp_path / "junit.xml").write_text(JUNIT)
    assert fixtures.module_seconds(tmp_path / "junit.xml") == {
        "tests/guest/test_short.py": 3.0, "tests/guest/test_long.py": 30.5,
        "tests/unit/test_mid.py": 9.0}


def test_longest_first_new_files_before_them(tmp_path):
    nodeids = ["tests/guest/test_short.py::a", "tests/guest/test_short.py::b",
               "tests/guest/test_long.py::a", "tests/guest/test_new.py::x",
               "tests/unit/test_mid.py::a", "tests/guest/test_new.py::y"]
    assert ordered(tmp_path, nodeids) == [
        "tests/guest/test_new.py::x", "tests/guest/test_new.py::y",
        "tests/guest/test_long.py::a", "tests/unit/test_mid.py::a",
        "tests/guest/test_short.py::a", "tests/guest/test_short.py::b"]


def test_collection_order_without_a_report(tmp_path):
    nodeids = ["tests/b.py::x", "tests/a.py::y", "tests/b.py::z"]
    assert ordered(tmp_path, nodeids, junit=None) == nodeids
    assert ordered(tmp_path, nodeids, junit="<testsuites") == nodeids
