# SPDX-License-Identifier: GPL-2.0-or-later
"""The guest's files on another libvirt host, as storage volumes.

A directory pool of the harness's own (`cosim`, created where missing, in
LIBVIRT_POOL_DIR on that host, default /var/lib/libvirt/cosim) holds:

- the guest image (kernel, initramfs, tools disk) as volumes named after a
  hash of their content, kept between runs: a second boot, by this process
  or a later one, uploads nothing.  A volume is complete once its marker
  volume NAME.ok exists, so two workers booting the same new image at once
  upload it once, the second waiting for the first;
- a run's own files (namespace images, the fault rules, the ledger, QEMU's
  trace log), named run-DOMAIN-FILE and deleted when the run ends.

Uploads and downloads are sparse streams (virStorageVolUpload/Download with
the SPARSE_STREAM flag): an empty 64 MiB namespace image costs a hole, not
64 MiB.  They block; a host that stops answering ends them through the
connection's keepalive (LibvirtVM)."""
import contextlib
import functools
import hashlib
import os
import time
from pathlib import Path
from xml.sax.saxutils import escape

import libvirt

from .errors import GuestError
from .hostfiles import LocalFiles

POOL = "cosim"
POOL_DIR = os.environ.get("LIBVIRT_POOL_DIR", "/var/lib/libvirt/cosim")
# How long a worker waits for another one's upload of the same volume.
UPLOAD_WAIT = 300


def _code(e):
    return e.get_error_code()


def pool(conn):
    """The harness's pool on the host of `conn`, defined and started if needed.
    Workers on the same host may race here: whoever loses finds it made."""
    try:
        p = conn.storagePoolLookupByName(POOL)
    except libvirt.libvirtError as e:
        if _code(e) != libvirt.VIR_ERR_NO_STORAGE_POOL:
            raise
        xml = (f"<pool type='dir'><name>{POOL}</name>"
               f"<target><path>{escape(POOL_DIR)}</path></target></pool>")
        try:
            p = conn.storagePoolDefineXML(xml, 0)
            p.build(0)
            p.setAutostart(1)
        except libvirt.libvirtError:
            p = conn.storagePoolLookupByName(POOL)
    if not p.isActive():
        try:
            p.create(0)
        except libvirt.libvirtError:
            if not p.isActive():
                raise
    return p


def _vol_xml(name, capacity):
    return (f"<volume><name>{escape(name)}</name><capacity unit='bytes'>{capacity}</capacity>"
            f"<allocation>0</allocation><target><format type='raw'/></target></volume>")


def _lookup(p, name):
    try:
        return p.storageVolLookupByName(name)
    except libvirt.libvirtError as e:
        if _code(e) == libvirt.VIR_ERR_NO_STORAGE_VOL:
            return None
        raise


# -- sparse stream handlers (after libvirt-python's examples/sparsestream.py) --

def _read(stream, nbytes, fd):
    return os.read(fd, nbytes)


def _write(stream, buf, fd):
    return os.write(fd, buf)


def _skip_send(stream, length, fd):
    return os.lseek(fd, length, os.SEEK_CUR)


def _skip_recv(stream, length, fd):
    os.ftruncate(fd, os.lseek(fd, length, os.SEEK_CUR))


def _hole(stream, fd):
    """[in data?, length of the section] at the file's offset."""
    cur = os.lseek(fd, 0, os.SEEK_CUR)
    end = os.fstat(fd).st_size
    if cur >= end:              # at the end: an empty section ends the upload
        return [False, 0]
    try:
        data = os.lseek(fd, cur, os.SEEK_DATA)
    except OSError:             # ENXIO: a hole up to the end
        data = end
    if data > cur:
        section = [False, data - cur]
    else:
        section = [True, os.lseek(fd, cur, os.SEEK_HOLE) - cur]
    os.lseek(fd, cur, os.SEEK_SET)
    return section


@contextlib.contextmanager
def _stream(conn, local, flags, mode=0):
    """A libvirt stream and @local's fd for one transfer: the stream is
    finished on success and aborted on any failure, the fd closed."""
    stream = conn.newStream(0)
    fd = os.open(local, flags, mode)
    try:
        yield stream, fd
        stream.finish()
    except BaseException:
        try:
            stream.abort()
        except libvirt.libvirtError:
            pass
        raise
    finally:
        os.close(fd)


def upload(conn, vol, local):
    with _stream(conn, local, os.O_RDONLY) as (stream, fd):
        vol.upload(stream, 0, 0, libvirt.VIR_STORAGE_VOL_UPLOAD_SPARSE_STREAM)
        stream.sparseSendAll(_read, _hole, _skip_send, fd)


def download(conn, vol, local):
    with _stream(conn, local, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) as (stream, fd):
        vol.download(stream, 0, 0, libvirt.VIR_STORAGE_VOL_DOWNLOAD_SPARSE_STREAM)
        stream.sparseRecvAll(_write, _skip_recv, fd)


@functools.lru_cache(maxsize=64)
def _digest(path, size, mtime_ns):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()[:16]


def digest(path):
    """A hash of the file's content, computed once per version of the file."""
    st = os.stat(path)
    return _digest(str(path), st.st_size, st.st_mtime_ns)


class PoolFiles(LocalFiles):
    """QEMU's files on the host of `conn`, as volumes in the harness's pool."""

    def __init__(self, conn, run):
        self._conn = conn
        self._pool = pool(conn)
        self._run = run             # prefix of this run's volumes
        self._host = conn.getHostname()
        self._local = {}            # host path -> the local file it came from
        self.uploaded = []          # (local, seconds) of the uploads this run made
        self._sweep()

    def _sweep(self):
        """Delete the volumes of runs of this harness host whose process is
        gone (killed before it could clean up): `run` is
        run-cosim-HOST-PID-..., see machine.Guest._libvirt_vm."""
        mine = self._run.rsplit("-", 2)[0] + "-"        # run-cosim-HOST-
        for name in self._pool.listVolumes():
            pid = name[len(mine):].split("-", 1)[0]
            if name.startswith(mine) and pid.isdigit() and not Path(f"/proc/{pid}").exists():
                vol = _lookup(self._pool, name)
                if vol is not None:
                    vol.delete(0)

    def cached(self, local):
        """The host path of `local`'s content, uploaded unless already there
        (a volume named after its hash)."""
        local = Path(local)
        name = f"cache-{digest(local)}-{local.name}"
        done = _lookup(self._pool, name + ".ok")
        if done is None:
            try:
                vol = self._pool.createXML(_vol_xml(name, local.stat().st_size), 0)
            except libvirt.libvirtError as e:
                if _code(e) != libvirt.VIR_ERR_STORAGE_VOL_EXIST:
                    raise
                self._wait_for(name)
            else:
                self._upload(vol, local)
                self._pool.createXML(_vol_xml(name + ".ok", 0), 0)
        return self._pool.storageVolLookupByName(name).path()

    def _wait_for(self, name):
        """Another worker is uploading `name`: wait (polling, with a deadline)
        for its marker."""
        deadline = time.monotonic() + UPLOAD_WAIT
        while _lookup(self._pool, name + ".ok") is None:
            if time.monotonic() > deadline:
                raise GuestError(
                    f"volume {name} in pool {POOL} on {self._host} is still incomplete after "
                    f"{UPLOAD_WAIT}s (an upload that died?): delete it and boot again, e.g. "
                    f"virsh -c {self._conn.getURI()} vol-delete --pool {POOL} {name}")
            time.sleep(0.5)

    def _upload(self, vol, local):
        t0 = time.monotonic()
        try:
            upload(self._conn, vol, local)
        except BaseException:
            vol.delete(0)           # never leave a half volume that looks whole
            raise
        self.uploaded.append((local, time.monotonic() - t0))

    def run_file(self, local, upload_it=True):
        """A volume of this run for `local` (its content, or empty), deleted
        by close(); its host path."""
        local = Path(local)
        size = local.stat().st_size if local.exists() else 0
        name = f"{self._run}-{local.name}"
        old = _lookup(self._pool, name)
        if old is not None:             # left by an earlier run killed outright
            old.delete(0)
        vol = self._pool.createXML(_vol_xml(name, size), 0)
        if upload_it and size:
            self._upload(vol, local)
        path = vol.path()
        self._local[path] = local
        return path

    # -- the LocalFiles interface ---------------------------------------------

    def new_image(self, local):
        return self.run_file(local)

    def writable(self, local):
        return self.run_file(local, upload_it=False)

    def fetch(self, host_path, local=None):
        """Download the volume at `host_path` over `local` (default: the
        local file it was made from)."""
        local = Path(local or self._local[host_path])
        download(self._conn, self._conn.storageVolLookupByPath(host_path), local)
        return local

    def close(self, keep=()):
        """Delete the run's volumes, downloading those named in `keep` first
        (local file names, e.g. trace.log)."""
        for path, local in list(self._local.items()):
            try:
                if local.name in keep:
                    self.fetch(path)
                self._conn.storageVolLookupByPath(path).delete(0)
            except libvirt.libvirtError:
                pass            # the connection is gone: the next run's _sweep() deletes it
            del self._local[path]
