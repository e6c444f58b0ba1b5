# SPDX-License-Identifier: GPL-2.0-or-later
"""Build the guest: Debian's kernel as an ELF (for a PVH boot), the nvme_scsi
module against Debian's kernel headers, a small busybox initramfs holding that
module and the kernel modules it needs, and a read-only tools disk with the
few host programs the tests run in the guest (with their shared libraries)."""
import fcntl
import functools
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from . import paths, stub_libs
from .errors import BuildError

GUEST_FILES = paths.REPO / "harness" / "guest"

# Kernel modules the guest may load; their dependencies come along.
KERNEL_MODULES = ("scsi_mod", "sd_mod", "sg", "nvme", "pvpanic-mmio",
                  "virtio_pci", "virtio_blk", "squashfs")     # the last three: /tools

# Host programs copied into the guest, with the libraries ldd finds for them.
TOOLS = ("fio", "nvme", "sg_inq", "sg_readcap", "sg_raw", "sg_turs", "sg_luns",
         "sg_vpd", "sg_modes", "sg_logs", "sg_sync", "sg_unmap", "sg_requests",
         "sg_start", "sg_write_buffer", "sg_format", "sg_map26", "sg_opcodes",
         "sg_verify", "sg_write_same", "sg_senddiag",
         # profiling the driver in its guest: perf record -e cpu-clock (no PMU under TCG)
         "perf")


def log(msg):
    print(f"guest-image: {msg}", file=sys.stderr, flush=True)


def build_driver(release, force=False):
    """make -C driver, unless (without `force`) nothing it is built from
    changed since the last make here; returns the .ko."""
    kdir = paths.kernel_headers(release)
    ko = paths.DRIVER / "nvme_scsi.ko"
    stamp = paths.GUEST / "driver.stamp"
    if not force and _driver_fresh(ko, kdir, release, stamp):
        return ko
    # When make started, by the clock file times come from (a coarse one):
    # whatever changes from now on, also while make runs, is not older.
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text("")
    started = stamp.stat().st_mtime_ns
    cmd = ["make", "-s", "-C", str(paths.DRIVER), f"KDIR={kdir}"]
    if subprocess.run(cmd, stdout=sys.stderr).returncode != 0:
        raise BuildError(f"building the driver failed: {' '.join(cmd)}")
    stamp.write_text(json.dumps(_driver_state(ko, kdir, release)))
    os.utime(stamp, ns=(started, started))
    return ko


def _driver_inputs(kdir):
    """What the driver is built from, as far as a look at the files can
    tell: every file of its tree but what kbuild writes there, the headers
    outside it that its objects included (from kbuild's .cmd files), and the
    kernel headers' build files."""
    tree, cmds = [], []
    for p in paths.DRIVER.rglob("*"):
        if p.name.startswith(".") and p.name.endswith(".o.cmd"):
            cmds.append(p)
        elif p.is_file() and not p.name.endswith(KBUILD_OUTPUTS) and not any(
                part.startswith(".") for part in p.relative_to(paths.DRIVER).parts):
            tree.append(p)
    deps = {tok for cmd in cmds for tok in cmd.read_text().split()
            if tok.startswith("/") and tok.endswith(".h") and
            not tok.startswith(("/usr/src/", str(paths.DRIVER) + "/"))}
    return sorted(map(str, tree + [kdir / ".config", kdir / "Makefile",
                                   kdir / "Module.symvers"])) + sorted(deps)


# Files kbuild writes into the driver's tree (hidden ones are skipped anyway).
KBUILD_OUTPUTS = (".o", ".ko", ".mod", ".mod.c", ".a", "Module.symvers", "modules.order")


def _driver_state(ko, kdir, release):
    return {"release": release, "ko": str(ko), "ko_mtime_ns": ko.stat().st_mtime_ns,
            "inputs": _driver_inputs(kdir)}


def _driver_fresh(ko, kdir, release, stamp):
    """Whether the last make here was for `release`, left `ko` as it is now
    (not rebuilt by hand since, perhaps with other flags), and started after
    every input last changed, with no input added or removed since.  kbuild
    takes ~0.7 s to find out that nothing changed, a quarter of a guest
    boot, before every `make sim` and in every test process; this takes a
    few ms.  `make driver` runs kbuild regardless."""
    try:
        state = _driver_state(ko, kdir, release)
        if json.loads(stamp.read_text()) != state:
            return False
        started = stamp.stat().st_mtime
        return all(paths.changed(p) < started for p in state["inputs"])
    except (OSError, ValueError):
        return False


def _module_closure(release, names):
    """Paths (relative to /lib/modules/REL) of `names` and what they depend on."""
    moddir = paths.modules_dir(release)
    deps = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()
    by_name = {Path(m).name.split(".ko")[0].replace("-", "_"): m for m in deps}
    todo = [by_name[n.replace("-", "_")] for n in names]
    seen = set()
    while todo:
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo.extend(deps[mod])
    return sorted(seen)


def _ldd(binaries):
    """{soname: path} of what `binaries` load, the dynamic loader among them."""
    found = {}
    out = subprocess.run(["ldd", *binaries], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if parts[1:4] == ["=>", "not", "found"]:
            raise BuildError(f"{parts[0]}, which a guest tool needs, is not on this host:\n{out}")
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            found[parts[0]] = parts[2]
        elif len(parts) == 2 and parts[0].startswith("/"):
            found[Path(parts[0]).name] = parts[0]   # the dynamic loader itself
    return found


def _libraries(binaries):
    """The libraries `binaries` load, except through a stubbed one (those
    and what they alone need stay off the disk), and {soname: path} of the
    stubbed ones they name."""
    where = _ldd(binaries)
    needs = stub_libs.needed([*binaries, *where.values()])     # {} for a script
    libs = {path for name, path in where.items() if name.startswith("ld-linux")}
    stubbed, todo = {}, list(binaries)
    while todo:
        for soname in needs.get(todo.pop(), ()):
            if soname in stub_libs.STUBBED:
                stubbed[soname] = where[soname]
            elif where[soname] not in libs:
                libs.add(where[soname])
                todo.append(where[soname])
    return sorted(libs), stubbed


def _copy(src, root, path=None):
    """Copy host file `src` to `path` (by default its own) under `root`."""
    dst = root / str(path or src).lstrip("/")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def kernel_hz(release):
    """The guest kernel's tick rate, from its headers' .config."""
    config = paths.kernel_headers(release) / ".config"
    try:
        hz = re.search(r"^CONFIG_HZ=(\d+)$", config.read_text(), re.M)
    except OSError as e:
        raise BuildError(f"{config}: {e.strerror} (the guest kernel's headers)") from None
    if not hz:
        raise BuildError(f"{config}: no CONFIG_HZ")
    return int(hz.group(1))


def extract_vmlinux(release):
    """The ELF kernel inside Debian's bzImage, for QEMU to boot through PVH.

    Under TCG the bzImage's own decompressor (xz) is the slowest part of the
    boot; the ELF is entered directly (the kernel's PVH note), with no real
    mode set-up and nothing to inflate.  Kept in build/guest/ and extracted
    again only when the bzImage changes."""
    bzimage = paths.kernel_image(release)
    out = paths.GUEST / f"vmlinux-{release}"
    if _fresh(out, [bzimage]):
        return out
    data = bzimage.read_bytes()
    # x86 boot protocol (Documentation/x86/boot.rst): the compressed payload
    # sits payload_offset bytes into the protected-mode code, which follows
    # the setup_sects real-mode sectors and the boot sector.
    if data[0x202:0x206] != b"HdrS" or struct.unpack_from("<H", data, 0x206)[0] < 0x208:
        raise BuildError(f"{bzimage}: not a bzImage of boot protocol 2.08 or later")
    setup_sects = data[0x1f1] or 4
    offset, length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + offset
    payload = data[start:start + length]
    if not payload.startswith(b"\xfd7zXZ\x00"):
        raise BuildError(f"{bzimage}: payload is not xz (Debian's CONFIG_KERNEL_XZ)")
    xz = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    try:
        elf = xz.decompress(payload)
    except lzma.LZMAError as e:
        raise BuildError(f"{bzimage}: its xz payload does not decompress: {e}") from e
    if not xz.eof or not elf.startswith(b"\x7fELF"):
        raise BuildError(f"{bzimage}: the payload is not a whole ELF kernel")
    paths.GUEST.mkdir(parents=True, exist_ok=True)
    _replace(out, lambda tmp: tmp.write_bytes(elf))
    log(f"extracted {out.name} ({len(elf) >> 20} MiB) from {bzimage}")
    return out


def _inputs(release, module):
    yield paths.kernel_image(release)
    yield module
    yield Path(__file__)
    yield from GUEST_FILES.iterdir()


class GuestImage(NamedTuple):
    kernel: Path        # ELF vmlinux, booted through PVH
    initramfs: Path     # busybox, kernel modules, nvme_scsi, init and agent
    tools: Path         # squashfs the guest mounts read-only on /tools
    hz: int             # the kernel's CONFIG_HZ (qemu_args.tsc_args)


def _fresh(out, inputs, manifest=None):
    """Whether `out` is newer than all `inputs` and, given a `manifest` (the
    list of what went in), was built from that same list."""
    if not out.exists() or any(paths.changed(p) > out.stat().st_mtime for p in inputs):
        return False
    listed = out.with_name(out.name + ".list")
    return manifest is None or (listed.exists() and listed.read_text() == manifest)


def _replace(out, write, manifest=None):
    """Write `out` through a temporary file of this process, so a reader never
    sees half of it; then record the `manifest` it was built from."""
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    if manifest is not None:
        out.with_name(out.name + ".list").write_text(manifest)


@functools.cache
def build(release=None):
    """The guest's kernel, initramfs and tools disk, each rebuilt only when
    what it is made of changed.  Once per process: every guest a test run
    boots uses the same image.
    One process at a time (pytest-xdist workers build side by side)."""
    release = release or paths.guest_kernel_release()
    paths.GUEST.mkdir(parents=True, exist_ok=True)
    with open(paths.GUEST / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        module = build_driver(release)
        # The initramfs links to every file on the tools disk; a new list of
        # files means a new disk, newer than the initramfs.
        tools, files = _build_tools()
        out = paths.GUEST / f"initramfs-{release}.cpio"
        # Which module went in, not only whether it is older: a DRIVER_SRC=
        # tree (or the way back from one) may hold an older build.
        st = module.stat()
        manifest = f"{module} {st.st_size} {st.st_mtime_ns}\n"
        if not _fresh(out, [*_inputs(release, module), tools], manifest):
            _build_initramfs(release, module, files, out, manifest)
        return GuestImage(extract_vmlinux(release), out, tools, kernel_hz(release))


def _tool_files():
    """The host files (programs and libraries) the tools disk holds, and
    {soname: path} of the libraries it holds a stub of (stub_libs.py)."""
    tools = [shutil.which(t) for t in TOOLS]
    missing = [t for t, p in zip(TOOLS, tools) if p is None]
    if missing:
        raise BuildError(f"guest tools missing on the host: {' '.join(missing)} "
                         "(run harness/setup.sh as root)")
    libs, stubbed = _libraries(tools)
    return tools + libs, stubbed


# What decides the tools disk besides the files on it: the code that builds
# it, and the dynamic linker's cache, which changes whenever a package adds,
# removes or moves a library (a tool could then resolve a library elsewhere).
TOOLS_DISK_INPUTS = (Path(__file__), Path(stub_libs.__file__), Path("/etc/ld.so.cache"))


def _tools_unchanged(out):
    """The tools disk's files (as _build_tools returns them) if nothing it
    was built from changed since, by its manifest alone; else None.  Working
    the list out again takes ~0.2 s of ldd and readelf, before every
    `make sim` and in every test process."""
    try:
        listed = out.with_name(out.name + ".list").read_text().splitlines()
    except OSError:
        return None
    on_disk = [line.removeprefix("stub ") for line in listed]
    tools = [shutil.which(t) for t in TOOLS]
    if on_disk[:len(tools)] != tools or \
            not _fresh(out, [*map(Path, on_disk), *TOOLS_DISK_INPUTS]):
        return None
    return on_disk


def _build_tools():
    """fio, nvme-cli and sg3_utils with the libraries they load, on a
    read-only squashfs the guest mounts at /tools.  Unpacking them from the
    initramfs at every boot was the largest single part of a boot under TCG;
    from a disk, the guest reads only the pages a program touches.
    Uncompressed: TCG inflates slowly.  Returns the disk and the paths of
    every file on it, stubs included, as the guest sees them."""
    out = paths.GUEST / "tools.squashfs"
    on_disk = _tools_unchanged(out)
    if on_disk:
        return out, on_disk
    files, stubbed = _tool_files()
    on_disk = files + list(stubbed.values())
    manifest = "\n".join(files + [f"stub {path}" for path in stubbed.values()]) + "\n"
    if _fresh(out, [*map(Path, on_disk), *TOOLS_DISK_INPUTS], manifest):
        return out, on_disk
    log(f"building {out}")
    root = paths.GUEST / "tools-root"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for f in files:
        _copy(f, root)
    want = stub_libs.wanted(files, stubbed)
    for soname, path in stubbed.items():
        stub = stub_libs.build(soname, want.get(soname, []), paths.GUEST / "stubs")
        _copy(stub, root, path)
    _replace(out, lambda tmp: subprocess.run(
        ["mksquashfs", str(root), str(tmp), "-noI", "-noD", "-noF", "-noX", "-all-root",
         "-no-xattrs", "-quiet", "-no-progress"], check=True, stdout=subprocess.DEVNULL),
        manifest)
    log(f"{out.stat().st_size >> 20} MiB")
    return out, on_disk


def _build_initramfs(release, module, tool_files, out, manifest):
    log(f"building {out}")
    root = paths.GUEST / "root"
    shutil.rmtree(root, ignore_errors=True)
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev",
              "tmp", "root", "lib64", "tools"):
        (root / d).mkdir(parents=True, exist_ok=True)

    shutil.copy2("/bin/busybox", root / "bin" / "busybox")
    # Every applet but modprobe, which init links: the kernel asks for
    # modules while it boots (crypto-hmac(sha256) and others it has built
    # in), and each ask ran busybox under TCG (init_encrypted waited ~0.1 s
    # on it); without one it fails at once.
    for applet in subprocess.run(["/bin/busybox", "--list-full"], capture_output=True,
                                 text=True, check=True).stdout.split():
        link = root / applet
        if applet != "sbin/modprobe" and not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/bin/busybox")

    # Every tool and library at its usual path, as a link into /tools.
    for f in tool_files:
        link = root / f.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path("/tools") / f.lstrip("/"))

    moddir = paths.modules_dir(release)
    gmoddir = root / "lib" / "modules" / release
    for rel in _module_closure(release, KERNEL_MODULES):
        dst = gmoddir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(moddir / rel, dst)
    (gmoddir / "extra").mkdir(parents=True, exist_ok=True)
    # The guest needs the symbols, not the DWARF (2 MiB of the module's 2.1):
    # build/../driver/nvme_scsi.ko keeps it for gdb and decode_stacktrace.
    subprocess.run(["strip", "--strip-debug", "-o", str(gmoddir / "extra" / "nvme_scsi.ko"),
                    str(module)], check=True)
    for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        if (moddir / f).exists():
            shutil.copy2(moddir / f, gmoddir / f)
    subprocess.run(["depmod", "-b", str(root), release], check=True)

    shutil.copy2(GUEST_FILES / "init", root / "init")
    shutil.copy2(GUEST_FILES / "cosim-agent", root / "sbin" / "cosim-agent")
    shutil.copy2(GUEST_FILES / "profile", root / "etc" / "profile")

    # Uncompressed: under TCG the kernel unpacks it faster than it inflates gzip.
    files = subprocess.run(["find", ".", "-mindepth", "1"], cwd=root, check=True,
                           capture_output=True).stdout

    def write(tmp):
        with open(tmp, "wb") as f:
            subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=root,
                           input=files, stdout=f, check=True)
    _replace(out, write, manifest)
    log(f"{out.stat().st_size >> 20} MiB")
