# SPDX-License-Identifier: GPL-2.0-or-later
"""The kernel's checkpatch.pl, for the driver's lint (tests/unit/test_driver_lint.py).

Debian ships it only inside its kernel source tarball (linux-source-6.1, some
140 MB of xz).  The script and the two data files it reads from its own
directory are taken out of it into build/checkpatch/, once, and again only when
the tarball is newer (a kernel update): reading through the tarball takes ~9 s.

checkpatch runs in that directory too: with --strict it learns the kernel's own
mixed-case names (struct Scsi_Host) from the kernel headers' include/ (--root),
so as not to report them as CamelCase, and keeps what it learnt there in a
cache file (.checkpatch-camelcase.*) named after the headers' newest date."""
import contextlib
import fcntl
import os
import re
import shutil
import subprocess
from pathlib import Path

from . import paths
from .errors import BuildError

# What --no-tree needs: the script, spelling.txt (typos) and
# const_structs.checkpatch (structs that should be const).
FILES = ("checkpatch.pl", "spelling.txt", "const_structs.checkpatch")


@contextlib.contextmanager
def _locked():
    """One process at a time extracts, or writes the CamelCase cache."""
    paths.BUILD.mkdir(parents=True, exist_ok=True)
    with open(paths.BUILD / ".checkpatch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _extract():
    tarball, out = paths.LINUX_SOURCE, paths.CHECKPATCH
    if not tarball.exists():
        raise BuildError(f"no {tarball}: checkpatch.pl comes from Debian's "
                         f"{tarball.name.split('.tar')[0]} (run harness/setup.sh as root)")
    stamp = out / ".from-tarball"
    if stamp.exists() and stamp.stat().st_mtime >= paths.changed(tarball) and \
            all((out / f).exists() for f in FILES):
        return out / "checkpatch.pl"
    top = tarball.name.split(".tar")[0]                 # linux-source-6.1/
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        cmd = ["tar", "-xJf", str(tarball), "-C", str(tmp), "--strip-components=2",
               *(f"{top}/scripts/{f}" for f in FILES)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise BuildError(f"{' '.join(cmd)} failed:\n{proc.stderr}")
        (tmp / stamp.name).touch()
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / "checkpatch.pl"


def script():
    """build/checkpatch/checkpatch.pl, extracted first if missing or stale."""
    with _locked():
        return _extract()


def _source_tree(kdir):
    """The tree that holds the kernel's include/: Debian's headers for a release
    are a build tree (-amd64) whose Makefile includes the -common tree's."""
    m = re.match(r"include (\S+)/Makefile", (kdir / "Makefile").read_text())
    return Path(m.group(1)) if m else kdir


def run(args, kdir, timeout=300):
    """checkpatch.pl --no-tree ARGS (file names absolute: it runs in
    build/checkpatch/), with the include/ of kernel build tree `kdir`."""
    with _locked():
        cmd = ["perl", str(_extract()), "--no-tree", f"--root={_source_tree(kdir)}", *args]
        return subprocess.run(cmd, cwd=paths.CHECKPATCH, capture_output=True, text=True,
                              timeout=timeout)
