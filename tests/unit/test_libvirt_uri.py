# SPDX-License-Identifier: GPL-2.0-or-later
"""LIBVIRT_URI: a URI naming another host is refused up front, with what to do instead."""
import pytest

from cosim import libvirt_vm
from cosim.errors import GuestError


@pytest.mark.parametrize("uri", ["qemu+ssh://hostb/system", "qemu+tcp://10.0.0.2/system"])
def test_remote_uri_is_refused_with_advice(tmp_path, uri):
    with pytest.raises(GuestError, match=r"run it on .* make test LIBVIRT_URI=qemu:///system"):
        libvirt_vm.LibvirtVM(uri, "<domain/>", tmp_path)


@pytest.mark.parametrize("uri", ["qemu:///system", "qemu:///embed?root=/x",
                                 "qemu+ssh://localhost/system"])
def test_local_uri_is_accepted(tmp_path, uri):
    assert libvirt_vm.LibvirtVM(uri, "<domain/>", tmp_path).uri == uri
