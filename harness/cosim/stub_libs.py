# SPDX-License-Identifier: GPL-2.0-or-later
"""Stand-ins for the libraries of fio's engines the guest cannot use.

Debian's fio links the libraries of its Gluster, NBD, RDMA, Ceph and
persistent-memory engines, and through them the C++ runtime, Boost, Ceph's
and Gluster's own, OpenSSL and Kerberos: 50 of its 64 libraries.  Under TCG
the dynamic loader's relocations alone made every fio start take ~0.55 s in
the guest, which has none of those things to talk to.  On the tools disk each
of these libraries is replaced by a stub of the same name, built here, that
defines the functions the disk's programs take from it, each saying on
stderr which library is not there and exiting 1.  (A stub defines no symbol
versions; the dynamic loader checks the versions a program asks for only in
a library that defines some.)  fio with any other engine never calls them; fio starts in ~0.1 s."""
import re
import subprocess
from collections import defaultdict
from pathlib import Path

from .errors import BuildError

# sonames: fio's glfs, nbd, rdma, rbd/rados, pmemblk/dev-dax engines
STUBBED = ("libgfapi.so.0", "libnbd.so.0", "libibverbs.so.1", "librdmacm.so.1",
           "librados.so.2", "librbd.so.1", "libpmemblk.so.1", "libpmem.so.1")

_NEEDED = re.compile(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]")


def _run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return r.stdout


def _is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def needed(files):
    """{path: [sonames it names as NEEDED]} of those of `files` that are ELF
    (a tool may be a script), in one readelf."""
    elfs = [f for f in files if _is_elf(f)]
    if not elfs:
        return {}
    out = _run("readelf", "-dW", *elfs)
    # readelf heads each file's part with "File: <path>" only when given several
    parts = re.split(r"^File: (.*)$", out, flags=re.M) if len(elfs) > 1 else ["", elfs[0], out]
    return {path: _NEEDED.findall(text) for path, text in zip(parts[1::2], parts[2::2])}


def _symbols(elf):
    """(section, name) of each dynamic symbol of `elf`; *UND* for the ones it
    takes from elsewhere.  (A variable it takes by copy relocation has a
    section of its own, .bss say, but the library still has to define it.)"""
    found = []
    for line in _run("objdump", "-T", elf).splitlines():
        where, tab, what = line.partition("\t")
        if tab and what.split():
            found.append((where.split()[-1], what.split()[-1]))
    return found


def _defined(lib):
    """{name: True for a function, False for a variable} of what `lib` defines."""
    out = _run("nm", "-D", "--defined-only", "--format=posix", lib)
    return {fields[0].split("@")[0]: fields[1] in "TtWi"
            for fields in (line.split() for line in out.splitlines()) if fields}


def wanted(elfs, real):
    """{soname: [functions]}: what `elfs` (paths) take from the stubbed
    libraries, whose real paths `real` ({soname: path}) gives."""
    defined = {soname: _defined(path) for soname, path in real.items()}
    want = defaultdict(set)
    for elf, sonames in needed(elfs).items():
        stubbed = [s for s in sonames if s in real]
        for section, name in _symbols(elf) if stubbed else ():
            soname = next((s for s in stubbed if name in defined[s]), None)
            if soname and not defined[soname][name]:
                raise BuildError(f"{elf} takes {name} from {soname}, and not as a "
                                 "function: a stub cannot stand in for it")
            if soname and section == "*UND*":
                want[soname].add(name)
    return {soname: sorted(names) for soname, names in want.items()}


def build(soname, functions, outdir):
    """Build the stub of `soname` defining `functions` in `outdir`; returns its path."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    src, out = outdir / f"{soname}.c", outdir / soname
    src.write_text("\n".join([
        "#include <stdio.h>", "#include <stdlib.h>",
        "static void __attribute__((noreturn)) gone(const char *fn)",
        f'{{ fprintf(stderr, "%s: {soname} is not on this guest\\n", fn); exit(1); }}',
        *(f'void {name}(void) {{ gone("{name}"); }}' for name in functions)]) + "\n")
    _run("gcc", "-shared", "-fPIC", "-O2", "-o", str(out), f"-Wl,-soname,{soname}", str(src))
    return out
