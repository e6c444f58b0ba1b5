# SPDX-License-Identifier: GPL-2.0-or-later
"""Command line behind the Makefile:

    python3 -m cosim qemu                      build QEMU with the model
    python3 -m cosim image                     build the driver and the guest image
    python3 -m cosim sim [--cmd CMD]           boot, load the driver, summary, shell
"""
import argparse
import os
import select
import shutil
import signal
import socket
import sys
import termios
import threading
import time
import tty
from contextlib import ExitStack, contextmanager

from . import config, image, qemu_build
from .errors import BuildError, GuestError

CONTROLLERS = r"""
for c in /sys/class/pci_bus/*/device/*; do
  [ "$(cat $c/class 2>/dev/null)" = 0x010802 ] || continue
  drv=$(basename $(readlink $c/driver 2>/dev/null) 2>/dev/null)
  echo "controller ${c##*/} $(cat $c/vendor):$(cat $c/device) driver=${drv:-none}"
done
"""
DISKS = r"""
for b in /sys/block/sd* /sys/block/nvme*n*; do
  [ -e $b ] || continue
  echo "disk /dev/${b##*/} $(cat $b/size) $(basename $(readlink -f $b/device))" \
       "queues=$(ls -d $b/mq/* | wc -l)"
done
"""


def summary(guest):
    """The controller, its identity, and each LUN with /dev node, size, queues."""
    lines = []
    for line in guest.run(CONTROLLERS + guest.driver.identity() + DISKS).output.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "disk":
            dev, sectors, addr, queues = rest.split()
            size = int(sectors) * 512
            lines.append(f"  {dev:<14} {size / 2**20:>10.0f} MiB  {addr:<10} {queues}")
        else:
            lines.append(f"  {kind}: {rest}")
    return "\n".join(lines)


def interactive_console(guest):
    """Bridge this terminal to the guest console until the guest powers off
    or the user types Ctrl-] (as in telnet)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(guest.console_sock))
    sock.sendall(b"\n")
    stdin = sys.stdin.fileno()
    old = termios.tcgetattr(stdin) if os.isatty(stdin) else None
    print("guest shell on the console; `poweroff` or Ctrl-] to leave", flush=True)
    try:
        if old:
            tty.setraw(stdin)
        while guest.running():          # poweroff ends QEMU, and so the bridge
            ready, _, _ = select.select([sock, stdin], [], [], 0.5)
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    break
                os.write(sys.stdout.fileno(), data)
            if stdin in ready:
                data = os.read(stdin, 1024)
                if not data or b"\x1d" in data:
                    break
                sock.sendall(data)
            guest.check_console()
        guest.check_console()           # a panic that ended QEMU is an error
    finally:
        if old:
            termios.tcsetattr(stdin, termios.TCSADRAIN, old)
        sock.close()


def last_console_line(path):
    """The console's last complete line, for a progress display."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - 512))
            text = f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""
    lines = text.splitlines()
    if not text.endswith("\n"):
        lines = lines[:-1]              # the last one is still being written
    return lines[-1].strip() if lines else ""


@contextmanager
def progress(what, console_path):
    """Show on stderr what is going on while a long step runs: on a terminal
    a line with the seconds so far and the guest console's latest line,
    rewritten four times a second; otherwise one line up front."""
    if not sys.stderr.isatty():
        print(f"nvme-cosim: {what} (console: {console_path})", file=sys.stderr, flush=True)
        yield
        return
    done = threading.Event()
    t0 = time.monotonic()

    def show():
        width = shutil.get_terminal_size().columns - 1
        while not done.wait(0.25):
            line = f"  {what} {time.monotonic() - t0:5.1f}s  {last_console_line(console_path)}"
            sys.stderr.write("\r" + line[:width].ljust(width))
            sys.stderr.flush()
        sys.stderr.write("\r" + " " * width + "\r")
    shower = threading.Thread(target=show, daemon=True)
    shower.start()
    try:
        yield
    finally:
        done.set()
        shower.join()


def ready_phases(phases):
    """One line: where the time to a ready driver went."""
    names = {"qemu": "QEMU+firmware", "kernel": "kernel", "init": "init",
             "driver": "driver load"}
    what = "driver" if "driver" in phases else "guest"
    return (f"{what} ready {sum(phases.values()):.2f}s after QEMU start: " +
            " + ".join(f"{names[k]} {v:.2f}s" for k, v in phases.items()))


def sim(args):
    cfg = config.load(args.config, model=args.model, driver=args.driver)
    qemu_build.build()
    from .machine import Guest      # needs QEMU's python/, fetched by the build
    interactive = args.cmd is None
    guest = Guest(cfg, name="sim", interactive=interactive)
    with ExitStack() as stack:
        with progress("booting the guest", guest.console.path):
            stack.enter_context(guest)
        with progress(f"loading {cfg.driver.name}", guest.console.path):
            guest.driver.load()
        info = (f"nvme-cosim: model={cfg.controller.model} driver={cfg.driver.name} "
                f"config={cfg.source}\n{summary(guest)}\n"
                f"  {ready_phases(guest.ready_phases())}\n"
                f"  logs in {guest.rundir}\n"
                f"  QMP: {guest.qmp_sock}  (make qmp-shell)")
        if not interactive:
            print(info, file=sys.stderr)
            result = guest.run(args.cmd, timeout=args.timeout, check=False)
            sys.stdout.write(result.output)
            return result.status
        print(info)
        interactive_console(guest)
    return 0


def main(argv=None):
    # SIGTERM unwinds like Ctrl-C, through Guest.__exit__: QEMU is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    p = argparse.ArgumentParser(prog="cosim")
    sub = p.add_subparsers(dest="what", required=True)
    q = sub.add_parser("qemu", help="build QEMU with the cosim-nvme model")
    q.add_argument("--fuzz", action="store_true",
                   help="QEMU's fuzzer instead (clang, ASan + UBSan): qemu-fuzz-x86_64")
    sub.add_parser("image", help="build the driver, the guest kernel, initramfs and tools disk")
    s = sub.add_parser("sim", help="boot a guest with the driver loaded")
    s.add_argument("--config", default=os.environ.get("CONFIG") or None)
    s.add_argument("--model", default=os.environ.get("MODEL") or None,
                   help="cosim | qemu")
    s.add_argument("--driver", default=os.environ.get("DRIVER") or None,
                   help="nvme_scsi | nvme | none")
    s.add_argument("--cmd", default=os.environ.get("SIM_CMD") or None,
                   help="run this shell command in the guest instead of a shell")
    s.add_argument("--timeout", type=float, default=600,
                   help="seconds --cmd may run (default 600)")
    args = p.parse_args(argv)
    try:
        if args.what == "qemu":
            qemu_build.build(fuzz=args.fuzz)
        elif args.what == "image":
            img = image.build()
            print(f"{img.kernel}\n{img.initramfs}\n{img.tools}")
        else:
            sys.exit(sim(args))
    except (config.ConfigError, GuestError, BuildError) as e:
        sys.exit(f"cosim: {e}")
    except KeyboardInterrupt:
        sys.exit("cosim: interrupted")
