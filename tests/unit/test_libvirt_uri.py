# SPDX-License-Identifier: GPL-2.0-or-later
"""LIBVIRT_URI: which URIs reach another host (decided by the URI, not by
whether our files happen to be visible there), and how a remote domain's
QEMU arguments name that host's volumes instead of our files."""
import pytest

from cosim import libvirt_vm


@pytest.mark.parametrize("uri", ["qemu+ssh://hostb/system", "qemu+tcp://10.0.0.2/system",
                                 "qemu+tls://hostc.example.com/system",
                                 "qemu+tcp://127.0.0.1/system", "qemu+ssh://localhost/system",
                                 "qemu://hostd/system"])
def test_remote_uris(uri):
    assert libvirt_vm.is_remote(uri)


@pytest.mark.parametrize("uri", ["qemu:///system", "qemu:///embed?root=/x", "qemu:///session",
                                 "qemu+unix:///system"])
def test_local_uris(uri):
    assert not libvirt_vm.is_remote(uri)


class FakeFiles:
    def cached(self, path):
        return f"/pool/cache-{path.rsplit('/', 1)[1]}"

    def run_file(self, path):
        return f"/pool/run-{path.rsplit('/', 1)[1]}"

    def writable(self, path):
        return f"/pool/out-{path.rsplit('/', 1)[1]}"


def test_remote_args_name_volumes(tmp_path):
    tools, img, rules = (tmp_path / n for n in ("tools.squashfs", "ns1.img", "faults.json"))
    for f in (tools, img, rules):
        f.write_bytes(b"x")
    args = ["-bios", "qboot.rom", "-qmp", f"unix:{tmp_path}/qmp.sock,server=on,wait=off",
            "-drive", f"if=none,id=tools,file={tools},format=raw,readonly=on",
            "-D", f"{tmp_path}/trace.log", "-L", "/usr/share/qemu",
            "-drive", f"if=none,id=drv1,file={img},format=raw",
            "-device", f"cosim-nvme,id=nvme0,serial=S,faults={rules}"]
    assert libvirt_vm.stage_args(args, FakeFiles()) == [
        "-bios", "qboot.rom",
        "-drive", "if=none,id=tools,file=/pool/cache-tools.squashfs,format=raw,readonly=on",
        "-D", "/pool/out-trace.log", "-L", "/usr/share/qemu",
        "-drive", "if=none,id=drv1,file=/pool/run-ns1.img,format=raw",
        "-device", "cosim-nvme,id=nvme0,serial=S,faults=/pool/run-faults.json"]
