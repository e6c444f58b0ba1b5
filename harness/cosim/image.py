# SPDX-License-Identifier: GPL-2.0-or-later
"""Build the guest: the nvme_scsi module against Debian's kernel headers, and a
busybox initramfs holding that module, the kernel modules it needs, and the
few host tools the tests run in the guest (with their shared libraries)."""
import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import paths
from .errors import BuildError

GUEST_FILES = paths.REPO / "harness" / "guest"

# Kernel modules the guest may load; their dependencies come along.
KERNEL_MODULES = ("scsi_mod", "sd_mod", "sg", "nvme", "pvpanic-mmio")

# Host programs copied into the guest, with the libraries ldd finds for them.
TOOLS = ("fio", "nvme", "sg_inq", "sg_readcap", "sg_raw", "sg_turs", "sg_luns",
         "sg_vpd", "sg_modes", "sg_logs", "sg_sync", "sg_unmap", "sg_requests",
         "sg_start", "sg_write_buffer", "sg_format", "sg_map26")


def log(msg):
    print(f"guest-image: {msg}", file=sys.stderr, flush=True)


def build_driver(release):
    """make -C driver; returns the .ko.  Make keeps this quick when nothing changed."""
    kdir = paths.kernel_headers(release)
    cmd = ["make", "-s", "-C", str(paths.DRIVER), f"KDIR={kdir}"]
    if subprocess.run(cmd, stdout=sys.stderr).returncode != 0:
        raise BuildError(f"building the driver failed: {' '.join(cmd)}")
    return paths.DRIVER / "nvme_scsi.ko"


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


def _libraries(binaries):
    libs = set()
    for binary in binaries:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split()
            if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
                libs.add(parts[2])
            elif parts and parts[0].startswith("/"):
                libs.add(parts[0])           # the dynamic loader itself
    return sorted(libs)


def _copy(src, root):
    dst = root / str(src).lstrip("/")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def _inputs(release, module):
    yield paths.kernel_image(release)
    yield module
    yield Path(__file__)
    yield from GUEST_FILES.iterdir()


@functools.cache
def build(release=None):
    """Return (kernel, initramfs) for the guest, rebuilding the initramfs only
    when the module, the guest scripts or this file changed.  Once per
    process: every guest a test run boots uses the same image, and the
    driver's make alone costs ~0.6 s a boot."""
    release = release or paths.guest_kernel_release()
    module = build_driver(release)
    out = paths.GUEST / f"initramfs-{release}.cpio"
    if out.exists() and all(p.stat().st_mtime <= out.stat().st_mtime
                            for p in _inputs(release, module)):
        return paths.kernel_image(release), out

    log(f"building {out}")
    root = paths.GUEST / "root"
    shutil.rmtree(root, ignore_errors=True)
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev",
              "tmp", "root", "lib64"):
        (root / d).mkdir(parents=True, exist_ok=True)

    shutil.copy2("/bin/busybox", root / "bin" / "busybox")
    for applet in subprocess.run(["/bin/busybox", "--list-full"], capture_output=True,
                                 text=True, check=True).stdout.split():
        link = root / applet
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/bin/busybox")

    tools = [shutil.which(t) for t in TOOLS]
    missing = [t for t, p in zip(TOOLS, tools) if p is None]
    if missing:
        raise BuildError(f"guest tools missing on the host: {' '.join(missing)} "
                         "(run harness/setup.sh as root)")
    for t in tools + _libraries(tools):
        _copy(t, root)

    moddir = paths.modules_dir(release)
    gmoddir = root / "lib" / "modules" / release
    for rel in _module_closure(release, KERNEL_MODULES):
        dst = gmoddir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(moddir / rel, dst)
    (gmoddir / "extra").mkdir(parents=True, exist_ok=True)
    shutil.copy2(module, gmoddir / "extra" / "nvme_scsi.ko")
    for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        if (moddir / f).exists():
            shutil.copy2(moddir / f, gmoddir / f)
    subprocess.run(["depmod", "-b", str(root), release], check=True)

    shutil.copy2(GUEST_FILES / "init", root / "init")
    shutil.copy2(GUEST_FILES / "cosim-agent", root / "sbin" / "cosim-agent")
    shutil.copy2(GUEST_FILES / "profile", root / "etc" / "profile")

    # Uncompressed: under TCG the kernel unpacks it faster than it inflates gzip.
    tmp = out.with_suffix(".tmp")
    files = subprocess.run(["find", ".", "-mindepth", "1"], cwd=root, check=True,
                           capture_output=True).stdout
    with open(tmp, "wb") as f:
        subprocess.run(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"], cwd=root,
                       input=files, stdout=f, check=True)
    os.replace(tmp, out)
    log(f"{out.stat().st_size >> 20} MiB")
    return paths.kernel_image(release), out
