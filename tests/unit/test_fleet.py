# SPDX-License-Identifier: GPL-2.0-or-later
"""make test HOSTS=...: which libvirt host each pytest-xdist worker binds to."""
import os

from cosim import fleet

TWO = ["qemu+tcp://a/system", "qemu+ssh://b/system"]


def test_workers_take_hosts_round_robin():
    assert [fleet.uri_for_worker(TWO, f"gw{n}") for n in range(5)] == \
        [TWO[0], TWO[1], TWO[0], TWO[1], TWO[0]]


def test_without_xdist_the_first_host():
    assert fleet.uri_for_worker(TWO, None) == TWO[0]
    assert fleet.uri_for_worker(TWO, "master") == TWO[0]


def test_without_hosts_nothing_is_bound(monkeypatch):
    monkeypatch.setenv("HOSTS", "  ")
    monkeypatch.setenv("LIBVIRT_URI", "embed")
    assert fleet.bind_worker() is None
    assert fleet.uri_for_worker([], "gw3") is None


def test_a_worker_binds_its_guests(monkeypatch):
    monkeypatch.setenv("HOSTS", " ".join(TWO) + " embed")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw5")
    monkeypatch.delenv("LIBVIRT_URI", raising=False)
    assert fleet.bind_worker() == "embed"
    assert fleet.hosts() == TWO + ["embed"]
    assert os.environ["LIBVIRT_URI"] == "embed"
