# SPDX-License-Identifier: GPL-2.0-or-later
"""Run the guest through libvirt instead of starting QEMU directly.

The domain XML comes from the same config: our QEMU as <emulator>, direct
kernel boot, the console and agent as <serial>s, pvpanic as <panic>, and the
controller, its namespaces and the firmware paths in <qemu:commandline> with
the PCI address pinned.  QMP reaches the model through libvirt's monitor
passthrough, and QMP events through its monitor-event callback.

LIBVIRT_URI picks the hypervisor connection: by default the daemonless
embedded driver (qemu:///embed, rooted under build/libvirt), or any local
URI (qemu:///system, qemu:///session).  A URI naming another host is refused:
the console log, the agent's socket and the namespace images are files and
unix sockets the harness uses beside QEMU, so the harness runs on the host
that runs the guest (README, "On another host")."""
import fcntl
import json
import queue
import threading
import time
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

import libvirt
import libvirt_qemu

from . import paths
from .errors import GuestError

paths.use_qemu_python()
from qemu.qmp import QMPError  # noqa: E402

# What the embedded driver needs to run QEMU as root without a daemon.
EMBED_QEMU_CONF = """\
security_driver = "none"
user = "root"
group = "root"
namespaces = []
cgroup_controllers = []
stdio_handler = "file"
remember_owner = 0
"""

_event_loop = None


def _start_event_loop():
    """libvirt needs an event loop for the embedded driver and for events."""
    global _event_loop
    if _event_loop is None:
        libvirt.virEventRegisterDefaultImpl()
        _event_loop = threading.Thread(target=_run_event_loop, daemon=True)
        _event_loop.start()


def _run_event_loop():
    while True:
        libvirt.virEventRunDefaultImpl()


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
        (root / "etc" / "qemu.conf").write_text(EMBED_QEMU_CONF)
        return f"qemu:///embed?root={root}"
    raise RuntimeError("no free libvirt embed root under build/libvirt")


def domain_xml(name, cfg, kernel, initrd, cmdline, console_log, console_sock, agent_sock,
               extra_args):
    """console_sock: None for a console that only goes to console_log, else the
    console is also a unix socket there (for make sim's interactive shell)."""
    args = "\n".join(f"    <qemu:arg value={quoteattr(a)}/>" for a in extra_args)
    cells = "".join(f"<cell id='{node}' cpus='{first}-{last}' memory='{mem}' unit='MiB'/>"
                    for node, first, last, mem in cfg.machine.numa_cells())
    cpu = (f"<cpu mode='maximum'><numa>{cells}</numa></cpu>" if cfg.machine.numa_nodes > 1
           else "<cpu mode='maximum'/>")
    log = quoteattr(str(console_log))
    if console_sock:
        console = (f"<serial type='unix'><source mode='bind' path={quoteattr(str(console_sock))}/>"
                   f"<log file={log}/><target port='0'/></serial>")
    else:
        console = f"<serial type='file'><source path={log}/><target port='0'/></serial>"
    return f"""<domain type='{'kvm' if cfg.machine.accel == 'kvm' else 'qemu'}'
        xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>{escape(name)}</name>
  <memory unit='MiB'>{cfg.machine.memory_mib}</memory>
  <vcpu>{cfg.machine.cpus}</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>{escape(str(kernel))}</kernel>
    <initrd>{escape(str(initrd))}</initrd>
    <cmdline>{escape(cmdline)}</cmdline>
  </os>
  {cpu}
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>destroy</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>{escape(str(paths.QEMU_BIN))}</emulator>
    {console}
    <serial type='unix'><source mode='bind' path={quoteattr(str(agent_sock))}/>
      <target port='1'/></serial>
    <panic model='isa'/>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
  <qemu:commandline>
{args}
  </qemu:commandline>
</domain>
"""


class LibvirtVM:
    """The part of QEMUMachine's interface the harness uses, over libvirt."""

    def __init__(self, uri, xml, log_dir):
        host = urlsplit(uri).hostname
        if host not in (None, "", "localhost"):
            raise GuestError(f"LIBVIRT_URI={uri}: the harness must run on the host that runs "
                             f"the guest (its console, agent socket and images are local "
                             f"files); run it on {host} instead, e.g. ssh {host} 'cd "
                             f"nvme-cosim && make test LIBVIRT_URI=qemu:///system'")
        _start_event_loop()
        self.uri = uri
        self._xml = xml
        self.log_dir = log_dir
        self._conn = None
        self._dom = None
        self._events = queue.Queue()     # filled by libvirt's event thread
        self._seen = []                   # taken from it, not yet waited for

    def launch(self):
        self._conn = libvirt.open(self.uri)
        self._dom = self._conn.createXML(self._xml, 0)
        (self.log_dir / "domain.xml").write_text(self._xml)
        libvirt_qemu.qemuMonitorEventRegister(
            self._conn, self._dom, None,
            lambda conn, dom, event, secs, usecs, details, opaque:
                self._events.put({"event": event, "data": json.loads(details or "{}"),
                                  "timestamp": {"seconds": secs, "microseconds": usecs}}),
            None, 0)

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
