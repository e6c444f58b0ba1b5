# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot a guest: QEMU (through QEMU's own python/qemu QEMUMachine, which owns
the process and the QMP socket), the controller under test, the busybox
initramfs, a console log, pvpanic, and the command agent."""
import itertools
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
import warnings
from pathlib import Path

from . import config, image, paths
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
DRIVER_TIMEOUT = 120        # s; module load, controller bring-up and SCSI scan


# (controller device, namespace device) of each model
DEVICES = {"cosim": ("cosim-nvme", "cosim-nvme-ns"), "qemu": ("nvme", "nvme-ns")}


# PCI slots on the root complex (pcie.0) and the expander's bus number.
CTRL_SLOT, PXB_SLOT, PXB_BUS_NR = 0x4, 0x5, 0x40
TOOLS_SLOT = 0x10           # the guest's read-only tools disk (virtio-blk)

# Kernel command line of every guest.  Measured under TCG (make sim's phases):
# the crypto self-tests, RCU grace periods during boot and the speculation
# mitigations together cost ~1 s of a ~4 s boot; tsc=reliable stops the
# clocksource watchdog from declaring TCG's TSC unstable on a loaded host.
KERNEL_ARGS = ("console=ttyS0 loglevel=5 panic=-1 cryptomgr.notests "
               "rcupdate.rcu_expedited=1 mitigations=off tsc=reliable no_timer_check")


def controller_placement(cfg):
    """-device arguments for what the controller sits behind, and the
    bus/addr properties of the controller itself.  Device ids are fixed so a
    test can device_del nvme0 and device_add a controller on `rp0` again."""
    ctrl = cfg.controller
    if ctrl.numa_node is not None:
        # Linux learns the node from the expander's _PXM in the ACPI tables.
        return (["-device", f"pxb-pcie,id=pxb0,bus=pcie.0,addr={PXB_SLOT:#x},"
                            f"bus_nr={PXB_BUS_NR},numa_node={ctrl.numa_node}",
                 "-device", "pcie-root-port,id=rp0,bus=pxb0,addr=0x0,chassis=1,slot=1"],
                "bus=rp0,addr=0x0")
    if ctrl.hotplug:
        return (["-device", f"pcie-root-port,id=rp0,bus=pcie.0,addr={CTRL_SLOT:#x},"
                            "chassis=1,slot=1"],
                "bus=rp0,addr=0x0")
    return [], f"addr={CTRL_SLOT:#x}"


def firmware_args(cfg):
    """qboot, unless the controller sits behind a PCI expander bridge.

    qboot hands over to the PVH kernel at once and leaves BAR assignment to
    Linux; SeaBIOS (QEMU's default) first drives every NVMe controller and
    disk it finds, the controller under test included, at every boot.  But
    only SeaBIOS numbers the buses behind a pxb-pcie, and QEMU describes the
    expander to the guest (ACPI) only once they are numbered."""
    return [] if cfg.controller.numa_node is not None else ["-bios", "qboot.rom"]


def namespace_drive(nsid, ns, rundir):
    """The -drive (or -blockdev) behind namespace `nsid`."""
    if ns.backing == "null":
        return ["-blockdev", f"null-co,node-name=drv{nsid},size={ns.size_mib << 20},"
                             "read-zeroes=on"]
    if ns.backing == "file":
        img = Path(rundir) / f"ns{nsid}.img"
        with open(img, "wb") as f:
            f.truncate(ns.size_mib << 20)
    else:
        img = ns.backing
    # discard=unmap: Deallocate really frees the blocks (and QEMU's nvme reads them
    # back as zeroes, as cosim-nvme always does).
    return ["-drive", f"if=none,id=drv{nsid},file={img},format=raw,cache=writeback,"
                      "discard=unmap"]


def controller_args(cfg, rundir):
    """-drive/-device arguments for the controller, where it sits, and its namespaces."""
    ctrl, ns_dev = DEVICES[cfg.controller.model]
    props = "".join(f",{k}={v}" for k, v in config.controller_properties(cfg).items())
    if cfg.faults:
        rules = Path(rundir) / "faults.json"
        rules.write_text(json.dumps(cfg.faults, indent=1))
        props += f",faults={rules}"
    args, where = controller_placement(cfg)
    args += ["-device", f"{ctrl},id=nvme0,serial={cfg.controller.serial},{where}{props}"]
    for nsid, ns in enumerate(cfg.namespaces, 1):
        # Device nsN: control.remove_namespace() finds a namespace by that id.
        args += namespace_drive(nsid, ns, rundir)
        args += ["-device", f"{ns_dev},bus=nvme0,drive=drv{nsid},nsid={nsid},id=ns{nsid},"
                            f"logical_block_size={ns.lba_size},"
                            f"physical_block_size={ns.lba_size}"]
    return args


def numa_args(machine):
    """-numa nodes with the CPUs and memory split evenly."""
    if machine.numa_nodes == 1:
        return []
    args = []
    for node, first, last, mem in machine.numa_cells():
        args += ["-object", f"memory-backend-ram,id=mem{node},size={mem}M",
                 "-numa", f"node,nodeid={node},memdev=mem{node},cpus={first}-{last}"]
    return args


def smp_arg(machine):
    """-smp: with NUMA nodes, one socket per node where the CPUs divide evenly,
    so no last-level cache spans two nodes (Linux WARNs at boot if one does)."""
    n = machine.numa_nodes
    if n > 1 and machine.cpus % n == 0:
        return f"{machine.cpus},sockets={n}"
    return str(machine.cpus)


_rundirs = itertools.count()


def new_rundir(name):
    """build/results/NAME-TIME-PID[-N]: two guests never share one (nor their images)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    n = next(_rundirs)
    rundir = paths.RESULTS / f"{name}-{stamp}-{os.getpid()}{f'-{n}' if n else ''}"
    rundir.mkdir(parents=True)
    return rundir


class Guest:
    """A booted guest.  Use as a context manager: QEMU is always stopped on
    the way out, also on an exception or Ctrl-C."""

    def __init__(self, cfg, rundir=None, name="guest", interactive=False, libvirt=None,
                 trace=()):
        """libvirt: None to start QEMU directly, "embed" for libvirt's embedded
        driver, or a libvirt URI.  Left out, LIBVIRT_URI from the environment.
        trace: QEMU trace event patterns for the run's trace.log, on top of TRACE=."""
        self.cfg = cfg
        self.trace = [p for p in os.environ.get("TRACE", "").split(",") if p] + list(trace)
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
        self.hotplugs = 0       # namespaces hot-added so far (control.add_namespace)
        self.ns_nodes = {}      # nsid -> block node of a hot-added namespace
        # Called after every run() as hook(cmd, Result or AgentError, seconds).
        self.run_hooks = []
        self.boot_phases = {}   # seconds per phase of the last boot (_note_boot_phases)
        self.driver_load = None  # seconds the last load_driver() took

    # -- lifecycle ---------------------------------------------------------

    def _cmdline(self):
        cmdline = f"{KERNEL_ARGS} {self.cfg.machine.kernel_args}"
        return (cmdline + (" cosim.shell=1" if self.interactive else "")).strip()

    def _device_args(self, tools):
        """What both ways of starting QEMU pass as plain arguments: firmware,
        the user's QMP socket, the tools disk, the controller and its
        namespaces."""
        args = [*firmware_args(self.cfg), "-qmp", f"unix:{self.qmp_sock},server=on,wait=off",
                "-drive", f"if=none,id=tools,file={tools},format=raw,readonly=on",
                "-device", f"virtio-blk-pci,drive=tools,addr={TOOLS_SLOT:#x}"]
        if self.trace:                      # e.g. TRACE='cosim_nvme_cmd,cosim_nvme_cqe'
            args += ["-D", str(self.rundir / "trace.log")]
            for pattern in self.trace:
                args += ["-trace", pattern]
        for d in paths.FIRMWARE_DIRS:
            args += ["-L", d]
        return args + controller_args(self.cfg, self.rundir)

    def _qemu_args(self, img):
        cfg = self.cfg
        if self.interactive:
            console = (f"socket,id=con,path={self.console_sock},server=on,wait=off,"
                       f"logfile={self.console.path}")
        else:
            console = f"file,id=con,path={self.console.path}"
        return ["-nodefaults", "-machine", "q35", "-accel", cfg.machine.accel,
                "-cpu", "max", "-smp", smp_arg(cfg.machine),
                "-m", str(cfg.machine.memory_mib), *numa_args(cfg.machine),
                "-kernel", str(img.kernel), "-initrd", str(img.initramfs),
                "-append", self._cmdline(),
                "-chardev", console, "-serial", "chardev:con",
                "-chardev", f"socket,id=agent,path={self.agent_sock},server=on,wait=off",
                "-serial", "chardev:agent",
                "-device", "pvpanic",
                "-action", "panic=exit-failure", "-action", "reboot=shutdown",
                *self._device_args(img.tools)]

    def _libvirt_vm(self, uri, img):
        from . import libvirt_vm
        # Our host's name in it: one libvirt host may serve several harnesses.
        spec = libvirt_vm.DomainSpec(
            f"cosim-{socket.gethostname()}-{os.getpid()}-{id(self):x}", self.cfg,
            img.kernel, img.initramfs, self._cmdline(), self.console.path,
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
        # Ctrl-C and SIGTERM both unwind through close().
        signal.signal(signal.SIGTERM, signal.default_int_handler)
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
        return DEVICES[self.cfg.controller.model][1]

    # -- drivers -----------------------------------------------------------

    def wait_until(self, condition, timeout=30):
        """Poll a guest shell condition every 100 ms until it holds; GuestError
        (naming the condition) if it still does not after `timeout` seconds."""
        # Deadline by the guest's clock: a loaded TCG guest sleeps longer than asked.
        result = self.run(f"end=$(($(date +%s) + {int(timeout)})); until {condition}; do "
                          f"[ $(date +%s) -ge $end ] && exit 1; sleep 0.1; done",
                          timeout=timeout + 30, check=False)
        if result.status != 0:
            raise GuestError(f"guest: still not true after {timeout}s: {condition}\n"
                             f"  console: {self.console.path}")

    def load_driver(self, name=None, params=None, wait_disks=True):
        """modprobe the NVMe driver and wait until it bound the controller and
        (unless not @wait_disks: a controller that may show none) its block
        devices appear."""
        name = name or self.cfg.driver.name
        params = self.cfg.driver.params if params is None else params
        if name == "none":
            return
        t0 = time.monotonic()
        pattern = "/sys/block/sd*" if name == "nvme_scsi" else "/sys/block/nvme*n*"
        self.run(f"modprobe {name} {params}", timeout=DRIVER_TIMEOUT)
        # modprobe returns after probe() has run: a controller the driver did not
        # bind will not grow disks, so say why now instead of at the deadline.
        if self.run(f"ls -d /sys/bus/pci/drivers/{name}/0000:*", check=False).status:
            log = self.run(f"dmesg | grep -E '{name}|nvme' | tail -5").output
            raise GuestError(f"{name} did not bind the controller:\n{log}"
                             f"  console: {self.console.path}")
        if wait_disks:
            self.wait_until(f"[ $(ls -d {pattern} 2>/dev/null | wc -l) -ge "
                            f"{self.expected_disks(name, params)} ]", timeout=DRIVER_TIMEOUT)
        self.driver_load = time.monotonic() - t0

    def ready_phases(self):
        """Where the time from QEMU's start to a ready driver went, in seconds:
        the boot's phases and the last driver load (none with driver "none")."""
        driver = {} if self.driver_load is None else {"driver": self.driver_load}
        return {**self.boot_phases, **driver}

    def expected_disks(self, name=None, params=None):
        """How many disks the driver shows for the config's namespaces:
        nvme_scsi exposes NSIDs 1..max_luns (8), or those its `namespaces`
        parameter lists."""
        name = name or self.cfg.driver.name
        params = self.cfg.driver.params if params is None else params
        count = len(self.cfg.namespaces)
        if name != "nvme_scsi":
            return count
        listed = re.search(r"\bnamespaces=(\S+)", params)
        if listed:
            return len([n for n in listed.group(1).split(",") if int(n) <= count])
        max_luns = re.search(r"\bmax_luns=(\d+)", params)
        return min(count, int(max_luns.group(1)) if max_luns else 8)

    # Controller reset and namespace rescan, as each driver offers them in sysfs.
    RESET = {
        "nvme_scsi": "for h in /sys/class/scsi_host/host*; do "
                     "grep -qx nvme_scsi $h/proc_name && echo adapter > $h/host_reset; done",
        "nvme": "echo 1 > /sys/class/nvme/nvme0/reset_controller",
    }
    RESCAN = {
        "nvme_scsi": "for h in /sys/class/scsi_host/host*; do "
                     "grep -qx nvme_scsi $h/proc_name && echo '- - -' > $h/scan; done",
        "nvme": "echo 1 > /sys/class/nvme/nvme0/rescan_controller",
    }

    def reset_controller(self, timeout=120, check=True):
        return self.run(self.RESET[self.cfg.driver.name], timeout=timeout, check=check)

    def rescan(self, timeout=120):
        return self.run(self.RESCAN[self.cfg.driver.name], timeout=timeout)

    QUEUE_COUNTERS = "/sys/kernel/debug/nvme_scsi/{}/queues"

    def queue_counters(self, ctrl="nvme_scsi0"):
        """nvme_scsi's per-queue counters from debugfs, all since it bound the
        controller: {"state", "resets", "queues": {qid: {"depth", "submitted",
        "completed", "cancelled", "timeouts", "aborts", "aborts_failed"}}}."""
        lines = self.run(f"cat {self.QUEUE_COUNTERS.format(ctrl)}").output.strip().splitlines()
        head, cols = lines[0].split(), lines[1].split()    # state S resets N / qid ...
        queues = {}
        for line in lines[2:]:
            vals = [int(v) for v in line.split()]
            queues[vals[0]] = dict(zip(cols, vals))
        return {"state": head[1], "resets": int(head[3]), "queues": queues}

    def unload_driver(self, name=None):
        name = name or self.cfg.driver.name
        if name != "none":
            self.run(f"rmmod {name}")

    def block_devices(self):
        """[(dev, size_bytes, address)] of the disks the NVMe driver created,
        address being H:C:T:L for SCSI disks and the controller for nvme."""
        out = self.run(
            "for b in /sys/block/sd* /sys/block/nvme*n*; do [ -e $b ] || continue; "
            "a=$(basename $(readlink -f $b/device)); "
            "echo /dev/${b##*/} $(cat $b/size) $a; done").output
        devs = []
        for line in out.splitlines():
            dev, sectors, addr = line.split()
            devs.append((dev, int(sectors) * 512, addr))
        return devs


def module_guest(cfg, name, **kw):
    """Generator for a module-scoped pytest fixture whose tests need a guest of
    their own (their own config, or they change the controller): boots it,
    loads the driver, yields it, and afterwards fails on console trouble.

        @pytest.fixture(scope="module")
        def my_guest():
            yield from module_guest(cfg, "my-tests")
    """
    with Guest(cfg, name=name, **kw) as guest:
        guest.load_driver()
        yield guest
        problems = guest.console_problems()
    if problems:
        raise GuestError("guest console shows trouble:\n  " + "\n  ".join(problems[:5]) +
                         f"\n  console: {guest.console.path}")
