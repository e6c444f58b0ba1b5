# SPDX-License-Identifier: GPL-2.0-or-later
"""QMP control of the controller model and the events around faults:
fault rules, power loss, the ledger of acknowledged writes, namespace hot
add/remove, controller removal and re-add, reset.
Everything goes through QEMU's QMP: a refused command raises QMPError
carrying QEMU's message, which names the offending field."""
import itertools
import re
import time
from pathlib import Path

from . import config, hostfiles, ledger, paths, qemu_args

paths.use_qemu_python()
from qemu.qmp import QMPError  # noqa: E402,F401  (re-exported for callers)


class Faults:
    """The fault rules of one cosim-nvme controller.

        faults = Faults(guest)
        rule = faults.add("drop", queue="io", opcode=0x02)
        hit = faults.wait_hit(rule)          # {"qid": 1, "cid": 17, ...}
        assert faults.hits(rule) == 1
    """

    def __init__(self, guest, ctrl="nvme0"):
        self._vm = guest.vm
        self.ctrl = ctrl
        self._added = {}        # rule -> host time it was added

    def add(self, action, **match):
        """Add a rule; keyword names as in the QMP schema, with _ for -."""
        t_add = time.time()
        rule = self._vm.command("cosim-nvme-fault-add", id=self.ctrl, action=action,
                                **match)["rule"]
        self._added[rule] = t_add
        return rule

    def wait_hit(self, rule, timeout=120):
        """Wait for the rule's next COSIM_NVME_FAULT event; its data (qid, cid,
        action, ...).  Events from before the rule was added are skipped: a
        controller added again numbers its rules from 1 again."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                ev = left > 0 and self._vm.event_wait(
                    "COSIM_NVME_FAULT", timeout=left,
                    match={"data": {"device": self.ctrl, "rule": rule}})
            except TimeoutError:
                ev = None
            if not ev:
                raise TimeoutError(f"fault rule {rule} of {self.ctrl} did not fire "
                                   f"within {timeout}s")
            stamp = ev["timestamp"]
            if stamp["seconds"] + stamp["microseconds"] / 1e6 >= self._added.get(rule, 0):
                return ev["data"]

    def list(self):
        return self._vm.command("cosim-nvme-fault-list", id=self.ctrl)

    def hits(self, rule):
        return next(r["hits"] for r in self.list() if r["rule"] == rule)

    def remove(self, rule):
        self._vm.command("cosim-nvme-fault-remove", id=self.ctrl, rule=rule)

    def clear(self):
        self._vm.command("cosim-nvme-fault-clear", id=self.ctrl)


def stats(guest, ctrl="nvme0"):
    """The model's counters since the controller was created (qom-get `stats`):
    commands fetched and completed per SQ (`queues`), faults fired, aborts,
    resets, ...; hw-model/DESIGN.md lists them."""
    return guest.vm.command("qom-get", path=f"/machine/peripheral/{ctrl}", property="stats")


def power_loss(guest, ctrl="nvme0"):
    """The controller loses power and gets it back (cosim-nvme-power-loss):
    commands vanish, every namespace's volatile write cache
    (controller.volatile_cache_mb) loses what was neither FUA nor flushed,
    and the controller restarts disabled; the driver finds out through its
    timeouts and resets it.  Returns the 512-byte sectors lost.  What the
    application saw written is forgotten: writes it did not make durable
    are legitimately gone, and the case's own verify judges the rest."""
    ledger.application_forget(guest)
    return guest.vm.command("cosim-nvme-power-loss", id=ctrl)["sectors-lost"]


def _namespace_blocks(vm):
    """{nsid: query-block's "inserted" of its block node} of the namespaces
    there (devices named ns<nsid>, as the harness names them)."""
    return {int(blk["qdev"][2:]): blk["inserted"] for blk in vm.command("query-block")
            if re.fullmatch(r"ns\d+", blk.get("qdev", "")) and blk.get("inserted")}


def namespace_images(vm):
    """{nsid: raw image path} of the namespaces backed by a file."""
    return {nsid: ins["file"] for nsid, ins in _namespace_blocks(vm).items()
            if ins.get("drv") in ("raw", "file")}


def ledger_clear(guest, ctrl="nvme0"):
    """Forget the model's ledger of acknowledged writes and what the
    application saw written (a test starts afresh)."""
    guest.vm.command("cosim-nvme-ledger-clear", id=ctrl)
    ledger.application_forget(guest)


def ledger_check(guest, path=None, ctrl="nvme0"):
    """Save the model's ledger of acknowledged writes (to @path, default
    ledger.bin in the run directory) and compare it with the images and
    with what the application saw written (cosim.workload notes it on a
    guest with the ledger on): a cosim.ledger.LedgerCheck, true when every
    acknowledged LBA matches and the application saw none written that
    was not acknowledged."""
    path = Path(path or Path(guest.rundir) / "ledger.bin")
    vm = guest.vm
    # the vCPUs stay stopped until the images are read: a Write the guest
    # sends after the save would otherwise look like a lie
    running = vm.command("query-status")["running"]
    if running:
        vm.command("stop")
    try:
        # on another libvirt host both are volumes there: read local copies
        files = hostfiles.of(vm)
        saved = files.writable(path)
        vm.command("cosim-nvme-ledger-save", id=ctrl, path=saved)
        images = {nsid: files.fetch(img) for nsid, img in namespace_images(vm).items()}
        return ledger.check(files.fetch(saved, path), images,
                            ledger.application_written(guest))
    finally:
        if running:
            vm.command("cont")


_hotplugs = itertools.count(1)


def add_namespace(guest, nsid, size_mib, ctrl="nvme0"):
    """Hot-add namespace `nsid` backed by a new raw image in the run directory.
    The block node gets a name of its own each time (hpN-nsM): a namespace
    given on the command line keeps its drive name (drvN) after it was
    removed."""
    node = f"hp{next(_hotplugs)}-ns{nsid}"
    img = Path(guest.rundir) / f"{node}.img"
    with open(img, "wb") as f:
        f.truncate(size_mib << 20)
    vm = guest.vm
    vm.command("blockdev-add", driver="raw", node_name=node, discard="unmap",
               file={"driver": "file", "filename": hostfiles.of(vm).new_image(img),
                     "discard": "unmap"})
    try:
        vm.command("device_add", driver=guest.ns_device, bus=ctrl, drive=node,
                   nsid=nsid, id=f"ns{nsid}")
    except QMPError:
        vm.command("blockdev-del", node_name=node)      # nothing left behind
        raise


def remove_namespace(guest, nsid, timeout=30):
    """Hot-remove namespace `nsid` (given at start-up or hot-added) and its backend."""
    vm = guest.vm
    node = _namespace_blocks(vm).get(nsid, {}).get("node-name")
    _device_del(vm, f"ns{nsid}", timeout)
    if node and node.startswith("hp"):      # a start-up -drive goes with its device
        vm.command("blockdev-del", node_name=node)


def hot_added_namespaces(guest):
    """The NSIDs of namespaces now there that add_namespace() put there."""
    return [nsid for nsid, ins in _namespace_blocks(guest.vm).items()
            if ins["node-name"].startswith("hp")]


def hot_added_nodes(guest):
    """Every block node add_namespace() made that is still there, with a
    device or without (query-block lists only those with one)."""
    return [n["node-name"] for n in guest.vm.command("query-named-block-nodes")
            if n["node-name"].startswith("hp")]


def _device_del(vm, device, timeout):
    vm.command("device_del", id=device)
    if not vm.event_wait("DEVICE_DELETED", timeout=timeout,
                         match={"data": {"device": device}}):
        raise TimeoutError(f"{device} was not deleted within {timeout}s")


def add_controller(guest, serial, ctrl="nvme0", port="rp0"):
    """Hot-add a controller like the config's on PCIe root port @port
    (controller.hotplug), with serial number @serial and no namespaces."""
    model = qemu_args.DEVICES[guest.cfg.controller.model][0]
    guest.vm.command("device_add", driver=model, id=ctrl, bus=port, addr="0x0", serial=serial,
                     **config.controller_properties(guest.cfg))


def remove_controller(guest, ctrl="nvme0", timeout=120):
    """Hot-remove controller @ctrl (ACPI hotplug on q35: the guest's driver
    lets go first) and wait until QEMU deleted it."""
    _device_del(guest.vm, ctrl, timeout)


def on_bus(guest, ctrl="nvme0"):
    """True while QEMU has controller @ctrl on its PCI bus."""
    return any(d.get("qdev_id") == ctrl for bus in guest.vm.command("query-pci")
               for d in bus["devices"])


def throttle(guest, nsid, **limits):
    """block_set_io_throttle on namespace @nsid's drive: bps, iops, ... as
    QMP names them (all of bps, bps_rd, ..., iops_wr default to 0, no limit)."""
    args = {k: 0 for k in ("bps", "bps_rd", "bps_wr", "iops", "iops_rd", "iops_wr")}
    args.update(limits)
    guest.vm.command("block_set_io_throttle", conv_keys=False, id=f"ns{nsid}", **args)


def system_reset(guest):
    guest.vm.command("system_reset")
