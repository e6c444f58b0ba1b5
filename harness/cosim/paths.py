# SPDX-License-Identifier: GPL-2.0-or-later
"""Where things live.  One place, so nothing else hard-codes a path."""
import glob
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("COSIM_BUILD", REPO / "build"))

# QEMU: Debian's source package, pinned.
QEMU_DEB_VERSION = "1:7.2+dfsg-7+deb12u18"
QEMU_SRC = BUILD / "qemu-src"
# SANITIZE=1: the same QEMU built with ASan + UBSan in a directory of its own;
# `make qemu` builds it and every QEMU the harness starts is that one.  A
# sanitizer report stops QEMU (UBSan too), so a test that provokes one fails.
SANITIZE = os.environ.get("SANITIZE", "") not in ("", "0")
if SANITIZE:
    os.environ.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
    # QEMU's own allocations left at exit are not the model's leaks (the core's
    # unit tests and fuzzers set their own ASAN_OPTIONS and run under
    # LeakSanitizer)
    os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=0")
# PLUGINS=1: the same QEMU with TCG plugins (`make profile`), in a directory of its own.
PLUGINS = os.environ.get("PLUGINS", "") not in ("", "0")
QEMU_BUILD = BUILD / ("qemu-build-sanitize" if SANITIZE else
                      "qemu-build-plugins" if PLUGINS else "qemu-build")
QEMU_BIN = QEMU_BUILD / "qemu-system-x86_64"
QEMU_PYTHON = QEMU_SRC / "python"
# The same tree built with clang for QEMU's fuzzer (generic-fuzz), ASan + UBSan.
QEMU_FUZZ_BUILD = BUILD / "qemu-fuzz-build"
QEMU_FUZZ_BIN = QEMU_FUZZ_BUILD / "qemu-fuzz-x86_64"
# Firmware comes from Debian's seabios and qemu-system-data packages.
FIRMWARE_DIRS = ("/usr/share/seabios", "/usr/share/qemu")

HW_MODEL = REPO / "hw-model"
# DRIVER_SRC= builds the guest's nvme_scsi.ko from another tree (a port under test).
DRIVER = Path(os.environ.get("DRIVER_SRC") or REPO / "driver")
GUEST = BUILD / "guest"
# checkpatch.pl and the data files it reads beside itself, taken out of
# Debian's kernel source tarball (linux-source-6.1) by cosim.checkpatch.
LINUX_SOURCE = Path("/usr/src/linux-source-6.1.tar.xz")
CHECKPATCH = BUILD / "checkpatch"
RESULTS = Path(os.environ.get("COSIM_RESULTS", BUILD / "results"))


def guest_kernel_release():
    """The newest Debian 6.1 kernel that has both an image and headers."""
    found = []
    for image in glob.glob("/boot/vmlinuz-*"):
        release = image[len("/boot/vmlinuz-"):]
        if Path(f"/usr/src/linux-headers-{release}").is_dir() and \
                Path(f"/lib/modules/{release}").is_dir():
            found.append(release)
    if not found:
        raise RuntimeError("no guest kernel: need Debian's linux-image-amd64 and "
                           "linux-headers-amd64 (run harness/setup.sh as root)")
    return sorted(found)[-1]


def kernel_image(release):
    return Path(f"/boot/vmlinuz-{release}")


def kernel_headers(release):
    return Path(f"/usr/src/linux-headers-{release}")


def modules_dir(release):
    return Path(f"/lib/modules/{release}")


def use_qemu_python():
    """Put QEMU's own python/ (qemu.qmp, qemu.machine) on sys.path."""
    import sys
    path = str(QEMU_PYTHON)
    if path not in sys.path:
        sys.path.insert(0, path)


def changed(p):
    """When file `p` last changed, for freshness checks: dpkg keeps a
    package's own mtimes, so an upgraded file can look older than what was
    built from it; its ctime is when it was installed."""
    st = Path(p).stat()
    return max(st.st_mtime, st.st_ctime)
