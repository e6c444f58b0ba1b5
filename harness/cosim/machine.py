# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot a guest: QEMU (through QEMU's own python/qemu QEMUMachine, which owns
the process and the QMP socket), the controller under test, the busybox
initramfs, a console log, pvpanic, and the command agent."""
import itertools
import os
import shutil
import socket
import tempfile
import threading
import time
import warnings
from pathlib import Path

from . import drivers, image, paths, qemu_args
from .agent import Agent, AgentError, AgentTimeout, unix_channel
from .console import ConsoleLog
from .errors import BootRetry, GuestError

paths.use_qemu_python()
from qemu.machine import QEMUMachine  # noqa: E402  (needs the path above)

BOOT_TIMEOUT = 60           # s; a TCG boot takes ~2-3 s, ~15 s with four guests per core
# A boot that hangs is stopped and tried again this many times, with a warning
# and its logs kept (rundir/hung-boot-N): under TCG a boot very rarely hangs
# before userspace, and one such boot should not fail a whole suite.
BOOT_RETRIES = 1

_rundirs = itertools.count()


def new_rundir(name):
    """build/results/NAME-TIME-PID[-N]: two guests never share one (nor their images)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    n = next(_rundirs)
    rundir = paths.RESULTS / f"{name}-{stamp}-{os.getpid()}{f'-{n}' if n else ''}"
    rundir.mkdir(parents=True)
    return rundir


def _libvirt_remote(uri):
    """Whether a libvirt guest runs on another host (and its TSC)."""
    from .libvirt_vm import is_remote
    return is_remote(uri)


class Guest:
    """A booted guest: the QEMU process (or libvirt domain) with its QMP
    monitor, the console log (console.py), the command agent (agent.py) and
    the NVMe driver in the guest (guest.driver, drivers.py).  Use as a
    context manager: QEMU is always stopped on the way out, also on an
    exception."""

    def __init__(self, cfg, rundir=None, name="guest", interactive=False, libvirt=None,
                 trace=(), plugins=()):
        """libvirt: None to start QEMU directly, "embed" for libvirt's embedded
        driver, or a libvirt URI.  Left out, LIBVIRT_URI from the environment.
        trace: QEMU trace event patterns for the run's trace.log, on top of TRACE=.
        plugins: QEMU -plugin arguments (a QEMU built with PLUGINS=1, started
        directly)."""
        self.cfg = cfg
        self.trace = [p for p in os.environ.get("TRACE", "").split(",") if p] + list(trace)
        self.plugins = list(plugins)
        self.libvirt = (os.environ.get("LIBVIRT_URI") or None) if libvirt is None else libvirt
        self.rundir = Path(rundir) if rundir else new_rundir(name)
        self.interactive = interactive
        self.console = ConsoleLog(self.rundir / "console.log")
        self._sockdir = tempfile.mkdtemp(prefix="cosim-")   # sun_path is short
        self.console_sock = Path(self._sockdir) / "console.sock"
        self.agent_sock = Path(self._sockdir) / "agent.sock"
        # A QMP socket of the user's own, beside the harness's (e.g. for qmp-shell).
        self.qmp_sock = self.rundir / "qmp.sock"
        if len(str(self.qmp_sock)) > 100:           # sun_path holds 108 bytes
            self.qmp_sock = Path(self._sockdir) / "qmp.sock"
        self._vm = None
        self._agent = None
        self.healthy = True     # False once a command timed out or the guest failed
        # Called after every run() as hook(cmd, Result or AgentError, seconds).
        self.run_hooks = []
        self.boot_phases = {}   # seconds per phase of the last boot (_note_boot_phases)
        self.driver = drivers.for_guest(self)

    # -- lifecycle ---------------------------------------------------------

    def _cmdline(self, img):
        args = [qemu_args.KERNEL_ARGS]
        if self.libvirt is None or not _libvirt_remote(self.libvirt):
            args.append(qemu_args.tsc_args(self.cfg.machine.accel, img.hz))
        args += [self.cfg.machine.kernel_args, "cosim.shell=1" if self.interactive else ""]
        return " ".join(a for a in args if a)

    def _device_args(self, tools):
        """What both ways of starting QEMU pass as plain arguments: firmware,
        the user's QMP socket, the tools disk, the controller and its
        namespaces."""
        args = [*qemu_args.firmware_args(self.cfg),
                "-qmp", f"unix:{self.qmp_sock},server=on,wait=off",
                "-drive", f"if=none,id=tools,file={tools},format=raw,readonly=on",
                "-device", f"virtio-blk-pci,drive=tools,addr={qemu_args.TOOLS_SLOT:#x}"]
        if self.trace:                      # e.g. TRACE='cosim_nvme_cmd,cosim_nvme_cqe'
            args += ["-D", str(self.rundir / "trace.log")]
            for pattern in self.trace:
                args += ["-trace", pattern]
        for d in paths.FIRMWARE_DIRS:
            args += ["-L", d]
        return args + qemu_args.controller_args(self.cfg, self.rundir)

    def _qemu_args(self, img):
        cfg = self.cfg
        if self.interactive:
            console = (f"socket,id=con,path={self.console_sock},server=on,wait=off,"
                       f"logfile={self.console.path}")
        else:
            console = f"file,id=con,path={self.console.path}"
        return ["-nodefaults", "-machine", "q35", "-accel", cfg.machine.accel,
                "-cpu", qemu_args.CPU, "-smp", qemu_args.smp_arg(cfg.machine),
                "-m", str(cfg.machine.memory_mib), *qemu_args.numa_args(cfg.machine),
                "-kernel", str(img.kernel), "-initrd", str(img.initramfs),
                "-append", self._cmdline(img),
                "-chardev", console, "-serial", "chardev:con",
                "-chardev", f"socket,id=agent,path={self.agent_sock},server=on,wait=off",
                "-serial", "chardev:agent",
                "-device", "pvpanic",
                "-action", "panic=exit-failure", "-action", "reboot=shutdown",
                *self._device_args(img.tools),
                *(a for plugin in self.plugins for a in ("-plugin", plugin))]

    def _libvirt_vm(self, uri, img):
        from . import libvirt_vm
        if self.plugins:
            raise GuestError("QEMU plugins need QEMU started directly, not through libvirt")
        # Our host's name in it: one libvirt host may serve several harnesses.
        spec = libvirt_vm.DomainSpec(
            f"cosim-{socket.gethostname()}-{os.getpid()}-{id(self):x}", self.cfg,
            img.kernel, img.initramfs, self._cmdline(img), self.console.path,
            self.console_sock if self.interactive else None,
            self.agent_sock, self._device_args(img.tools))
        if uri in ("", "embed"):
            uri = libvirt_vm.default_uri()
        return libvirt_vm.LibvirtVM(uri, spec, self.rundir)

    def start(self):
        """Boot; on any failure QEMU is stopped before the error propagates."""
        try:
            return self._boot()
        except BaseException:
            self.close()
            raise

    def _boot(self):
        img = image.build()
        if not paths.QEMU_BIN.exists():
            raise GuestError(f"no QEMU at {paths.QEMU_BIN}: run `make qemu`")
        for attempt in range(1, BOOT_RETRIES + 2):
            t0 = time.monotonic()
            self._launch(img)
            try:
                init, ready = self._agent.wait_ready(BOOT_TIMEOUT)
            except AgentTimeout as e:
                hang, timeout = f"{e}\n{self._boot_diagnostics()}", e
            except AgentError as e:
                raise GuestError(f"{e}\n  console: {self.console.path}") from e
            else:
                self._note_boot_phases(time.monotonic() - t0, init, ready)
                return self
            if attempt > BOOT_RETRIES:
                self.healthy = False
                raise GuestError(hang) from timeout
            kept = self._set_aside_hung_boot(attempt)
            warnings.warn(BootRetry(f"guest boot hung, booting again; the hung boot's "
                                    f"console and QEMU state are in {kept}\n{hang}"))

    def _note_boot_phases(self, host_ready, init, ready):
        """Split the boot by the guest's clock, which starts early in the
        kernel (tsc_early_init): QEMU's start-up and the firmware before that,
        then the kernel up to init, then init up to the agent."""
        self.boot_phases = {"qemu": max(host_ready - ready, 0.0), "kernel": init,
                            "init": ready - init}

    def _launch(self, img):
        if self.libvirt is not None:
            self._vm = self._libvirt_vm(self.libvirt, img)
        else:
            # setpriv: QEMU dies with us even if we are SIGKILLed, never left behind.
            self._vm = QEMUMachine(str(paths.QEMU_BIN), args=self._qemu_args(img),
                                   wrapper=["setpriv", "--pdeathsig", "KILL", "--"],
                                   name="cosim", log_dir=str(self.rundir),
                                   sock_dir=self._sockdir, base_temp_dir=self._sockdir)
        try:
            self._vm.launch()
        except GuestError:
            raise               # says what is wrong already (a remote host's missing QEMU)
        except Exception as e:
            why = (getattr(e, "output", None) or str(e)).strip()
            raise GuestError(f"QEMU did not start (config {self.cfg.source}):\n{why}\n"
                             f"  logs: {self.rundir}") from e
        # libvirt's end of the channel: a stream from a remote host, or the socket.
        channel = (self._vm.agent_channel() if self.libvirt is not None
                   else unix_channel(self.agent_sock))
        self._agent = Agent(channel, self.check_alive)

    def _set_aside_hung_boot(self, attempt):
        """Stop a boot that hung and move its logs to rundir/hung-boot-N, so
        the next boot starts from clean logs and the hung one stays readable."""
        self._agent.close()
        self._agent = None
        self._vm.kill()
        kept = self.rundir / f"hung-boot-{attempt}"
        kept.mkdir()
        for name in ("console.log", "boot-timeout.txt", "cosim.log", "trace.log"):
            if (self.rundir / name).exists():
                (self.rundir / name).rename(kept / name)
        self.console = ConsoleLog(self.rundir / "console.log")
        return kept

    # What a hung boot leaves to look at: QEMU's view of the vCPUs and the
    # serial ports, next to the console's last lines.
    BOOT_DIAGNOSTICS = ("info status", "info chardev", "info registers -a", "info pic",
                        "info irq")

    def _boot_diagnostics(self):
        report = self.rundir / "boot-timeout.txt"
        with open(report, "w") as f:
            for hmp in self.BOOT_DIAGNOSTICS:
                out = self._hmp_with_deadline(hmp)
                if out is None:     # the monitor is stuck: more would queue behind it
                    f.write(f"== {hmp}\n(no answer in time: QEMU hangs too)\n")
                    break
                f.write(f"== {hmp}\n{out}\n")
        tail = self.console.text().splitlines()[-15:]
        return ("  console ends with:\n" + "".join(f"    {line}\n" for line in tail) +
                f"  console: {self.console.path}\n  QEMU state: {report}")

    def _hmp_with_deadline(self, command, timeout=10):
        """An HMP command's output, or None if QEMU did not answer in time: the
        monitor has no deadline of its own, and a hung main loop never answers."""
        out = []

        def ask():
            try:
                out.append(self._vm.command("human-monitor-command", command_line=command))
            except Exception as e:
                out.append(f"(failed: {e})\n")
        asker = threading.Thread(target=ask, daemon=True)
        asker.start()
        asker.join(timeout)
        return out[0] if out else None

    def close(self):
        if self._agent:
            self._agent.close()
            self._agent = None
        if self._vm:
            try:
                self._vm.shutdown(timeout=10)
            except Exception:
                self._vm.kill()
            self._vm = None
        shutil.rmtree(self._sockdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- health ------------------------------------------------------------

    def check_console(self):
        """Raise GuestError at once if the console shows a panic, oops or BUG."""
        fatal = self.console.new_fatal()
        if fatal:
            self.healthy = False
            raise GuestError(f"guest failed: {fatal}\n  console: {self.console.path}")

    def running(self):
        return self._vm is not None and self._vm.is_running()

    def check_alive(self):
        """check_console(), and raise GuestError if QEMU exited."""
        self.check_console()
        if self._vm and not self._vm.is_running():
            self.healthy = False
            raise GuestError(f"QEMU exited (status {self._vm.exitcode()})\n"
                             f"  console: {self.console.path}\n"
                             f"  qemu log: {self._vm.log_dir}")

    def console_problems(self, since=0):
        return self.console.problems(since)

    # -- guest commands ----------------------------------------------------

    def run(self, cmd, timeout=60, check=True):
        """Run a shell command in the guest; returns Result(status, output)."""
        t0 = time.monotonic()
        try:
            result = self._agent.run(cmd, timeout)
        except AgentError as e:
            self.healthy = False
            self._ran(cmd, e, t0)
            raise GuestError(f"{e}\n  console: {self.console.path}") from e
        self._ran(cmd, result, t0)
        if check and result.status != 0:
            raise GuestError(f"guest command failed:\n{result}")
        return result

    def _ran(self, cmd, outcome, t0):
        for hook in self.run_hooks:
            hook(cmd, outcome, time.monotonic() - t0)

    @property
    def vm(self):
        """The QEMUMachine: QMP via .command()/.qmp(), events via .event_wait()."""
        return self._vm

    @property
    def ns_device(self):
        return qemu_args.DEVICES[self.cfg.controller.model][1]

    def error(self, text):
        """A GuestError saying @text and where the console log is."""
        return GuestError(f"{text}\n  console: {self.console.path}")

    def wait_until(self, condition, timeout=30):
        """Poll a guest shell condition every 100 ms until it holds; GuestError
        (naming the condition) if it still does not after `timeout` seconds."""
        # Deadline by the guest's clock: a loaded TCG guest sleeps longer than asked.
        result = self.run(f"end=$(($(date +%s) + {int(timeout)})); until {condition}; do "
                          f"[ $(date +%s) -ge $end ] && exit 1; sleep 0.1; done",
                          timeout=timeout + 30, check=False)
        if result.status != 0:
            raise self.error(f"guest: still not true after {timeout}s: {condition}")

    def ready_phases(self):
        """Where the time from QEMU's start to a ready driver went, in seconds:
        the boot's phases and the last driver load (none with driver "none")."""
        seconds = self.driver.load_seconds
        driver = {} if seconds is None else {"driver": seconds}
        return {**self.boot_phases, **driver}
