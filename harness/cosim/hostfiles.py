# SPDX-License-Identifier: GPL-2.0-or-later
"""Files QEMU reads or writes at run time, seen from the harness.

QEMU on this host (directly, or through a local libvirt) shares our files:
its paths are ours.  QEMU on another libvirt host (cosim.libvirt_pool's
PoolFiles) has its own, held as storage volumes there and copied across.
Code that hands QEMU a file at run time (control.add_namespace, the ledger)
or reads one QEMU wrote goes through a VM's `files`, one of these."""
from pathlib import Path


class LocalFiles:
    """QEMU's files are ours."""

    def new_image(self, local):
        """Where QEMU finds the image the harness just made at `local`."""
        return str(local)

    def writable(self, local):
        """A path QEMU can write to that fetch() then brings to `local`."""
        return str(local)

    def fetch(self, host_path, local=None):
        """A local path holding what QEMU's file `host_path` holds now."""
        return Path(host_path)


def of(vm):
    """The files of a QEMUMachine or LibvirtVM."""
    return getattr(vm, "files", None) or LocalFiles()
