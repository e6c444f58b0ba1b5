# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the guest through libvirt instead of starting QEMU directly.

The domain XML comes from the same config: our QEMU as <emulator>, direct
kernel boot, the console and agent as <serial>s, pvpanic as <panic>, and the
controller, its namespaces and the firmware paths in <qemu:commandline> with
the PCI address pinned.  QMP reaches the model through libvirt's monitor
passthrough, and QMP events through its monitor-event callback.

LIBVIRT_URI picks the hypervisor connection: by default the daemonless
embedded driver (qemu:///embed, rooted under build/libvirt), a local URI
(qemu:///system, qemu:///session), or a URI naming another host
(qemu+ssh://, qemu+tls://, qemu+tcp://).  Which one is remote is decided by
the URI alone (is_remote), never by whether our files happen to be visible
there.  On a remote host:

- the kernel, initramfs, tools disk, namespace images and fault rules go
  into storage volumes there (cosim.libvirt_pool), and the domain names
  their paths; the guest image stays cached there between runs;
- both serial ports are ptys that libvirt streams back
  (cosim.libvirt_stream): the console into the local console.log, the agent
  into a socket the harness's Agent reads as it reads a local one;
- the domain starts paused and runs only once both streams are open, so no
  output is lost before we listen;
- the emulator is LIBVIRT_EMULATOR if set (its path on that host), else the
  path of our own build; a host without it is refused before anything is
  defined, with how to provide it."""
import fcntl
import json
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

import libvirt
import libvirt_qemu

from . import hostfiles, libvirt_pool, libvirt_stream, paths, qemu_args
from .errors import GuestError

paths.use_qemu_python()
from qemu.qmp import QMPError  # noqa: E402

# What the embedded driver needs to run QEMU as root without a daemon.
QEMU_CONF = paths.REPO / "harness" / "libvirt-qemu.conf"

_event_loop = None


def _start_event_loop():
    """libvirt needs an event loop for the embedded driver and for events."""
    global _event_loop
    if _event_loop is None:
        # Errors reach us as exceptions; libvirt's default handler would also
        # print each to stderr, the expected ones too (a volume not there yet).
        libvirt.registerErrorHandler(lambda *_: None, None)
        libvirt.virEventRegisterDefaultImpl()
        _event_loop = threading.Thread(target=_run_event_loop, daemon=True)
        _event_loop.start()


def _run_event_loop():
    while True:
        libvirt.virEventRunDefaultImpl()


# A remote host that stops answering for this long ends every call on its
# connection (keepalive probes every 5 s, 6 unanswered): uploads, downloads
# and monitor commands block, and this is their deadline.
KEEPALIVE = (5, 6)

# Transports that reach libvirtd over a network, even on this host.
REMOTE_TRANSPORTS = ("ssh", "libssh", "libssh2", "tls", "tcp")


def is_remote(uri):
    """Whether `uri` reaches libvirt on another host (or through a network
    transport on this one, as qemu+tcp://127.0.0.1/system does): then QEMU's
    files are not ours, whatever the host's name."""
    parts = urlsplit(uri)
    transport = parts.scheme.partition("+")[2]
    return transport in REMOTE_TRANSPORTS or parts.hostname not in (None, "")


def emulator():
    """The QEMU the domain names: LIBVIRT_EMULATOR (a path on the libvirt
    host), else our own build's."""
    return os.environ.get("LIBVIRT_EMULATOR") or str(paths.QEMU_BIN)


_embed_lock = None


def default_uri():
    """qemu:///embed under build/libvirt/N.  An embed root serves one process
    at a time, so each process (a pytest-xdist worker, a second make) takes the
    first root whose lock it can get and holds it while it lives; reusing roots
    keeps libvirt's probe of the QEMU binary cached between runs."""
    global _embed_lock
    for slot in range(64):
        root = paths.BUILD / "libvirt" / str(slot)
        (root / "etc").mkdir(parents=True, exist_ok=True)
        if _embed_lock is None or _embed_lock[0] != root:
            lock = open(root / ".cosim-lock", "w")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            _embed_lock = (root, lock)
        (root / "etc" / "qemu.conf").write_text(QEMU_CONF.read_text())
        return f"qemu:///embed?root={root}"
    raise RuntimeError("no free libvirt embed root under build/libvirt")


@dataclass
class DomainSpec:
    """What domain_xml() makes a domain of; paths as the harness sees them."""
    name: str
    cfg: object
    kernel: str
    initrd: str
    cmdline: str
    console_log: Path
    console_sock: Path      # None unless make sim's interactive shell wants it
    agent_sock: Path
    args: list              # plain QEMU arguments (firmware, disks, controller)
    emulator: str = ""
    streams: bool = False   # serial ports as ptys, for libvirt streams


def _serials(spec):
    if spec.streams:
        return ("<serial type='pty'><target port='0'/></serial>\n"
                "    <serial type='pty'><target port='1'/></serial>")
    log = quoteattr(str(spec.console_log))
    if spec.console_sock:
        console = (f"<serial type='unix'>"
                   f"<source mode='bind' path={quoteattr(str(spec.console_sock))}/>"
                   f"<log file={log}/><target port='0'/></serial>")
    else:
        console = f"<serial type='file'><source path={log}/><target port='0'/></serial>"
    return (f"{console}\n    <serial type='unix'><source mode='bind' "
            f"path={quoteattr(str(spec.agent_sock))}/>\n      <target port='1'/></serial>")


def domain_xml(spec):
    """spec.console_sock: None for a console that only goes to console_log,
    else the console is also a unix socket there (for make sim's interactive
    shell)."""
    cfg = spec.cfg
    args = "\n".join(f"    <qemu:arg value={quoteattr(a)}/>" for a in spec.args)
    cells = "".join(f"<cell id='{node}' cpus='{first}-{last}' memory='{mem}' unit='MiB'/>"
                    for node, first, last, mem in cfg.machine.numa_cells())
    features = "".join(f"<feature policy='disable' name='{f}'/>"
                       for f in qemu_args.CPU_DISABLED)
    numa = f"<numa>{cells}</numa>" if cfg.machine.numa_nodes > 1 else ""
    cpu = f"<cpu mode='maximum'>{features}{numa}</cpu>"
    return f"""<domain type='{'kvm' if cfg.machine.accel == 'kvm' else 'qemu'}'
        xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{escape(spec.name)}</name>
  <memory unit='MiB'>{cfg.machine.memory_mib}</memory>
  <vcpu>{cfg.machine.cpus}</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{escape(str(spec.kernel))}</kernel>
    <initrd>{escape(str(spec.initrd))}</initrd>
    <cmdline>{escape(spec.cmdline)}</cmdline>
  </os>
  {cpu}
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>{escape(spec.emulator or emulator())}</emulator>
    {_serials(spec)}
    <panic model='isa'/>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
{args}
  </qemu:commandline>
</domain>
"""


def _staged_option(opt, stage):
    """One key=value of a -drive/-device: a local file it names, put on the
    host (read-only ones cached by content), else unchanged."""
    key, eq, value = opt.partition("=")
    if eq and value.startswith("/") and Path(value).is_file():
        return f"{key}={stage(value)}"
    return opt


def stage_args(args, files):
    """The QEMU arguments with every local file they name replaced by its
    volume on the remote host (PoolFiles `files`)."""
    out = []
    it = iter(args)
    for arg in it:
        if arg == "-qmp":       # the user's QMP socket would be on the other host
            next(it)
            continue
        if arg == "-D":         # QEMU's trace log, fetched back when the run ends
            out += [arg, files.writable(next(it))]
            continue
        out.append(arg)
        if arg in ("-drive", "-device", "-blockdev"):
            opts = next(it)
            stage = files.cached if "readonly=on" in opts.split(",") else files.run_file
            out.append(",".join(_staged_option(o, stage) for o in opts.split(",")))
    return out


def check_emulator(conn, spec):
    """GuestError, before anything is defined, if the host lacks the QEMU
    binary the domain names."""
    try:
        conn.getDomainCapabilities(spec.emulator, "x86_64", "q35", "qemu", 0)
    except libvirt.libvirtError as e:
        raise GuestError(
            f"{conn.getHostname()} ({conn.getURI()}) cannot run the emulator {spec.emulator}: "
            f"{e.get_error_message()}\n  provide it there: build this tree on that host at the "
            f"same path (make qemu), or set LIBVIRT_EMULATOR to the path of an nvme-cosim QEMU "
            f"on that host (its qemu-system-x86_64 with cosim-nvme built in)") from e


class LibvirtVM:
    """The part of QEMUMachine's interface the harness uses, over libvirt."""

    def __init__(self, uri, spec, log_dir):
        """spec: a DomainSpec.  A remote URI is fine (is_remote())."""
        _start_event_loop()
        self.uri = uri
        self.remote = is_remote(uri)
        self.spec = replace(spec, emulator=spec.emulator or emulator(), streams=self.remote)
        self.log_dir = log_dir
        self.files = hostfiles.LocalFiles()     # PoolFiles once launched on a remote host
        self.upload_seconds = 0.0               # what this launch spent uploading
        self._conn = None
        self._dom = None
        self._streams = []
        self._agent_channel = None
        self._events = queue.Queue()     # filled by libvirt's event thread
        self._seen = []                   # taken from it, not yet waited for

    def launch(self):
        self._conn = libvirt.open(self.uri)
        spec = self._remote_spec() if self.remote else self.spec
        xml = domain_xml(spec)
        (self.log_dir / "domain.xml").write_text(xml)
        # Remote: paused until both serial streams listen, or the guest's
        # first output (and the agent's greeting) would go nowhere.
        self._dom = self._conn.createXML(xml, libvirt.VIR_DOMAIN_START_PAUSED
                                         if self.remote else 0)
        libvirt_qemu.qemuMonitorEventRegister(
            self._conn, self._dom, None,
            lambda conn, dom, event, secs, usecs, details, opaque:
                self._events.put({"event": event, "data": json.loads(details or "{}"),
                                  "timestamp": {"seconds": secs, "microseconds": usecs}}),
            None, 0)
        if self.remote:
            self._open_streams()
            self._dom.resume()

    def _remote_spec(self):
        """The domain as the remote host sees it: checked emulator, and our
        files as volumes there."""
        if self.spec.console_sock:
            raise GuestError(f"LIBVIRT_URI={self.uri}: make sim's interactive console is "
                             f"local only; give the guest a command (SIM_CMD=...) instead")
        self._conn.setKeepAlive(*KEEPALIVE)
        check_emulator(self._conn, self.spec)
        t0 = time.monotonic()
        self.files = libvirt_pool.PoolFiles(self._conn, f"run-{self.spec.name}")
        spec = replace(self.spec, kernel=self.files.cached(self.spec.kernel),
                       initrd=self.files.cached(self.spec.initrd),
                       args=stage_args(self.spec.args, self.files))
        self.upload_seconds = time.monotonic() - t0
        return spec

    def _open_streams(self):
        console = libvirt_stream.open_serial(self._conn, self._dom, "serial0")
        self._streams.append(libvirt_stream.ConsoleCopy(console, self.spec.console_log))
        agent = libvirt_stream.SocketBridge(
            libvirt_stream.open_serial(self._conn, self._dom, "serial1"))
        self._streams.append(agent)
        self._agent_channel = agent.channel

    def agent_channel(self):
        """The command channel's host end, a connected socket for cosim.agent.Agent."""
        if self._agent_channel is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.connect(str(self.spec.agent_sock))
            return sock
        return self._agent_channel

    def is_running(self):
        try:
            return bool(self._dom and self._dom.isActive())
        except libvirt.libvirtError:
            return False

    def exitcode(self):
        return None

    def shutdown(self, timeout=10):
        self.kill()

    def kill(self):
        if self._dom is not None:
            try:
                if self._dom.isActive():
                    self._dom.destroy()
            except libvirt.libvirtError:
                pass
            self._dom = None
        for stream in self._streams:
            stream.close()
        self._streams = []
        if isinstance(self.files, libvirt_pool.PoolFiles):
            self.files.close(keep=("trace.log",))
            self.files = hostfiles.LocalFiles()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def qmp(self, cmd, conv_keys=True, **args):
        """Like QEMUMachine.qmp: the reply; keyword _ becomes - unless conv_keys=False."""
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = {(k.replace("_", "-") if conv_keys else k): v
                                for k, v in args.items()}
        return json.loads(libvirt_qemu.qemuMonitorCommand(self._dom, json.dumps(msg), 0))

    def command(self, cmd, conv_keys=True, **args):
        """Like QEMUMachine.command: the return value; QMPError with QEMU's message."""
        reply = self.qmp(cmd, conv_keys=conv_keys, **args)
        if "error" in reply:
            raise QMPError(reply["error"]["desc"])
        return reply["return"]

    def event_wait(self, name, timeout=60.0, match=None):
        """Like QEMUMachine.event_wait: events that do not match are kept for
        a later wait, not dropped."""
        def matches(ev):
            return ev["event"] == name and all(
                ev.get(k) == v or (isinstance(v, dict) and
                                   all(ev[k].get(kk) == vv for kk, vv in v.items()))
                for k, v in (match or {}).items())

        for ev in self._seen:
            if matches(ev):
                self._seen.remove(ev)
                return ev
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                ev = self._events.get(timeout=left)
            except queue.Empty:
                return None
            if matches(ev):
                return ev
            self._seen.append(ev)
