# SPDX-License-Identifier: GPL-2.0-or-later
"""Fetch Debian's QEMU source package, hook hw-model into it and build a
minimal x86_64-softmmu.  Each step is skipped when its output is current,
so a rebuild after editing hw-model is one ninja run (ccache-backed)."""
import fcntl
import filecmp
import shutil
import subprocess
import sys

from . import paths
from .errors import BuildError

# What both builds share: x86_64 only, our device set, nothing else.
COMMON_ARGS = [
    "--target-list=x86_64-softmmu",
    "--without-default-features",
    "--without-default-devices",
    "--with-devices-x86_64=cosim",
    "--disable-install-blobs",
    "--disable-docs",
]

CONFIGURE_ARGS = [
    *COMMON_ARGS,
    # machine.accel = "kvm" needs it.  And libvirt, finding /dev/kvm usable,
    # takes capabilities probed from a QEMU without KVM for stale and probes
    # again at every lookup: ~2 s each, ~14 per domain started.
    "--enable-kvm",
    "--enable-trace-backends=log",
    # QEMU's configure hands meson an explicit compiler, so meson's own
    # ccache detection never triggers: use Debian's ccache wrappers instead.
    "--cc=/usr/lib/ccache/gcc",
    "--cxx=/usr/lib/ccache/g++",
]

# SANITIZE=1: ASan + UBSan.  QEMU 7.2's configure probes UBSan with a program
# gcc 12 refuses (-Werror=maybe-uninitialized), and then quietly builds
# without it: ask for UBSan directly.
SANITIZE_ARGS = [
    "--enable-sanitizers",
    "--extra-cflags=-fsanitize=undefined",
    "--extra-ldflags=-fsanitize=undefined",
]

# QEMU's fuzzer: clang's libFuzzer, with ASan and UBSan (qemu-fuzz-x86_64).
FUZZ_CONFIGURE_ARGS = [
    *COMMON_ARGS,
    "--enable-fuzzing",
    "--enable-sanitizers",
    "--cc=/usr/lib/ccache/clang",
    "--cxx=/usr/lib/ccache/clang++",
]


def log(msg):
    print(f"qemu-build: {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(str(c) for c in cmd))
    try:
        subprocess.run(cmd, check=True, **kw)
    except subprocess.CalledProcessError as e:
        raise BuildError(f"{' '.join(str(c) for c in cmd)} failed "
                         f"(exit {e.returncode}); its output is above") from None


def upstream_version(deb_version):
    """"1:7.2+dfsg-7+deb12u18" -> "7.2+dfsg": the QEMU release, without
    epoch and Debian revision."""
    return deb_version.split(":", 1)[-1].rsplit("-", 1)[0]


def deb_version_key(version):
    """Sort key ordering Debian versions as dpkg does."""
    class Key:
        def __init__(self, v):
            self.v = v

        def __lt__(self, other):
            return subprocess.run(["dpkg", "--compare-versions", self.v, "lt", other.v]
                                  ).returncode == 0
    return Key(version)


def source_versions():
    """The qemu source versions the configured archives carry (apt-cache showsrc)."""
    out = subprocess.run(["apt-cache", "showsrc", "qemu"], capture_output=True,
                         text=True).stdout
    return [line.split()[1] for line in out.splitlines() if line.startswith("Version:")]


def pick_version(available):
    """The pinned version if the archive still carries it, else the newest
    Debian revision of the same QEMU release (Debian drops a stable
    package's older security revisions; hook.patch targets the release)."""
    pinned = paths.QEMU_DEB_VERSION
    if pinned in available:
        return pinned
    same = [v for v in available if upstream_version(v) == upstream_version(pinned)]
    if not same:
        raise BuildError(f"Debian's archive carries no qemu {upstream_version(pinned)} source "
                         f"(pinned {pinned}; apt-cache showsrc qemu lists "
                         f"{', '.join(available) or 'nothing'}): is there a deb-src entry "
                         "(harness/setup.sh adds one), and has `apt-get update` run?")
    newest = max(same, key=deb_version_key)
    log(f"warning: the archive no longer carries qemu {pinned}; building {newest}, "
        f"the same QEMU {upstream_version(pinned)} with Debian's later patches "
        f"(update paths.QEMU_DEB_VERSION to pin it)")
    return newest


def fetch_source():
    stamp = paths.QEMU_SRC / ".cosim-deb-version"
    have = stamp.read_text().strip() if stamp.exists() else None
    if have == paths.QEMU_DEB_VERSION:
        return
    version = pick_version(source_versions())
    if have == version:
        return
    log(f"fetching Debian qemu source {version}")
    dl = paths.BUILD / "qemu-dl"
    shutil.rmtree(dl, ignore_errors=True)
    shutil.rmtree(paths.QEMU_SRC, ignore_errors=True)
    shutil.rmtree(paths.QEMU_BUILD, ignore_errors=True)
    dl.mkdir(parents=True)
    try:
        run(["apt-get", "source", "-q", "--download-only", f"qemu={version}"], cwd=dl)
    except BuildError:
        raise BuildError(f"apt-get source qemu={version} failed; is there a deb-src entry "
                         "(harness/setup.sh adds one) and does the archive still carry "
                         "that version? (apt-cache showsrc qemu)") from None
    dsc = next(dl.glob("qemu_*.dsc"))
    run(["dpkg-source", "--no-check", "-x", dsc.name, str(paths.QEMU_SRC)],
        cwd=dl, stdout=subprocess.DEVNULL)
    shutil.rmtree(dl)
    stamp.write_text(version + "\n")


# Files of ours that QEMU's build must see inside its tree.
LINKS = {
    "hw/cosim-nvme": paths.HW_MODEL,
    # the model's QMP commands (fault injection), a module of QEMU's schema
    "qapi/cosim-nvme.json": paths.HW_MODEL / "qemu" / "cosim-nvme.json",
}


def hook_model():
    """Apply hw-model/qemu/hook.patch and LINKS to the QEMU tree.  When the
    patch changes, the copy applied last is reverted first, so an edited patch
    never needs a fresh source tree."""
    patch = paths.HW_MODEL / "qemu" / "hook.patch"
    applied = paths.QEMU_SRC / ".cosim-hook.patch"
    if not applied.exists() or not filecmp.cmp(patch, applied, shallow=False):
        if applied.exists():
            run(["patch", "-R", "-p1", "-i", str(applied)], cwd=paths.QEMU_SRC)
        run(["patch", "-p1", "-i", str(patch)], cwd=paths.QEMU_SRC)
        shutil.copyfile(patch, applied)
    for rel, target in LINKS.items():
        link = paths.QEMU_SRC / rel
        if not link.is_symlink() or link.resolve() != target.resolve():
            link.unlink(missing_ok=True)
            link.symlink_to(target)


def install_device_config():
    src = paths.HW_MODEL / "qemu" / "x86_64-devices.mak"
    dst = paths.QEMU_SRC / "configs" / "devices" / "x86_64-softmmu" / "cosim.mak"
    if not dst.exists() or not filecmp.cmp(src, dst, shallow=False):
        shutil.copyfile(src, dst)


def configure(build_dir, args):
    stamp = build_dir / ".cosim-configure"
    text = "\n".join(args) + "\n"
    if stamp.exists() and stamp.read_text() == text and (build_dir / "build.ninja").exists():
        return
    build_dir.mkdir(parents=True, exist_ok=True)
    run([str(paths.QEMU_SRC / "configure"), *args], cwd=build_dir, stdout=sys.stderr)
    stamp.write_text(text)


def build(fuzz=False):
    """qemu-system-x86_64 (ASan + UBSan with SANITIZE=1, TCG plugins with
    PLUGINS=1), or with @fuzz QEMU's fuzzer binary; returns its path."""
    paths.BUILD.mkdir(parents=True, exist_ok=True)
    with open(paths.BUILD / ".qemu-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)    # one build at a time (xdist, make -j)
        if fuzz:
            return _build(paths.QEMU_FUZZ_BUILD, FUZZ_CONFIGURE_ARGS, paths.QEMU_FUZZ_BIN)
        if paths.SANITIZE and paths.PLUGINS:
            raise BuildError("SANITIZE=1 and PLUGINS=1 want two different QEMUs: set one")
        args = (CONFIGURE_ARGS + (SANITIZE_ARGS if paths.SANITIZE else []) +
                (["--enable-plugins"] if paths.PLUGINS else []))
        return _build(paths.QEMU_BUILD, args, paths.QEMU_BIN)


def _build(build_dir, args, binary):
    fetch_source()
    hook_model()
    install_device_config()
    configure(build_dir, args)
    # stdout stays clean for `make sim SIM_CMD=...`; progress goes to stderr.
    run(["ninja", "-C", str(build_dir), binary.name], stdout=sys.stderr)
    return binary


if __name__ == "__main__":
    build(fuzz="--fuzz" in sys.argv[1:])
