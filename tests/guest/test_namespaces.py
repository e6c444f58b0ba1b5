# SPDX-License-Identifier: GPL-2.0-or-later
"""Namespace hot add and remove at run time (QMP blockdev-add + device_add /
device_del), seen by Linux's nvme driver through the Namespace Attribute
Notice that cosim-nvme offers with controller.ns_notice_aen."""
import pytest

from cosim import config, control
from cosim.fixtures import module_guest
from cosim.workload import fio_verify

pytestmark = pytest.mark.guest


@pytest.fixture(scope="module")
def notice_guest(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "notice.toml"
    path.write_text("[controller]\nns_notice_aen = true\n")
    yield from module_guest(config.load(path, model="cosim", driver="nvme"), "namespaces")


def test_hot_add_then_remove_namespace(notice_guest):
    g = notice_guest
    control.add_namespace(g, nsid=2, size_mib=64)
    g.driver.wait_namespace(2, timeout=30)
    dev = g.driver.namespace_disk(2)
    assert g.run(f"cat /sys/block/{dev[5:]}/size").output.strip() == str(64 << 11)
    fio_verify(g, dev, "--rw=randwrite --bs=4k --size=8M --iodepth=8", timeout=300)

    control.remove_namespace(g, nsid=2)
    g.driver.wait_namespace_gone(2, timeout=30)
    # Namespace 1 carries on.
    g.run(f"dd if={g.driver.namespace_disk(1)} of=/dev/null bs=4k count=16 iflag=direct")


def test_remove_and_readd_cycles(notice_guest):
    g = notice_guest
    for _ in range(5):
        control.add_namespace(g, nsid=3, size_mib=16)
        g.driver.wait_namespace(3, timeout=30)
        control.remove_namespace(g, nsid=3)
        g.driver.wait_namespace_gone(3, timeout=30)


def test_bad_namespace_add_is_refused(notice_guest):
    """A namespace whose NSID is taken is refused, and its image's block
    node does not stay behind."""
    with pytest.raises(control.QMPError):
        control.add_namespace(notice_guest, nsid=1, size_mib=16)
    assert not [n for n in control.hot_added_nodes(notice_guest) if n.endswith("-ns1")]


def test_start_up_namespace_removed_and_added_back(notice_guest):
    """NSID 1 from the command line goes away and comes back, on a new image."""
    g = notice_guest
    control.remove_namespace(g, nsid=1)
    g.driver.wait_namespace_gone(1, timeout=30)
    control.add_namespace(g, nsid=1, size_mib=32)
    g.driver.wait_namespace(1, timeout=30)
    disk = g.driver.namespace_disk(1)
    assert g.run(f"cat /sys/block/{disk[5:]}/size").output.strip() == str(32 << 11)
