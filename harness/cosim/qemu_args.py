# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU's command line for a config: the machine, the kernel's command line,
the controller under test where the config puts it, its namespaces and
their backing images, NUMA nodes and firmware.  Both ways of starting a
guest (QEMU directly, or libvirt's <qemu:commandline>) use these."""
import json
import re
from pathlib import Path

from . import config

# (controller device, namespace device) of each model
DEVICES = {"cosim": ("cosim-nvme", "cosim-nvme-ns"), "qemu": ("nvme", "nvme-ns")}


# PCI slots on the root complex (pcie.0) and the expander's bus number.
CTRL_SLOT, PXB_SLOT, PXB_BUS_NR = 0x4, 0x5, 0x40
TOOLS_SLOT = 0x10           # the guest's read-only tools disk (virtio-blk)

# Kernel command line of every guest.  Measured under TCG (make sim's phases):
# the crypto self-tests, RCU grace periods during boot and the speculation
# mitigations together cost ~1 s of a ~4 s boot; tsc=reliable stops the
# clocksource watchdog from declaring TCG's TSC unstable on a loaded host.
# The KDF self-test (crypto_kdf108_init, which cryptomgr.notests does not
# cover: 0.18-0.25 s of initcall), IPv6 (a guest with no network card) and
# zeroing every page on allocation take another ~0.4 s of the kernel phase.
KERNEL_ARGS = ("console=ttyS0 loglevel=5 panic=-1 cryptomgr.notests "
               "rcupdate.rcu_expedited=1 mitigations=off tsc=reliable no_timer_check "
               "initcall_blacklist=crypto_kdf108_init ipv6.disable=1 init_on_alloc=0")

# The guest CPU: all TCG offers, but no ERMS.  TCG runs `rep stosb`/`rep movsb`
# one byte per iteration; without ERMS the kernel clears and copies pages
# with `rep stosq`/`movsq`, an eighth of the iterations (a 64 MiB tmpfs write
# in the guest: 0.86-1.16 s with ERMS, 0.38-0.50 s without).  (Kernels from
# 6.4 use `rep movsb` for user copies on FSRM alone; QEMU 7.2's TCG has no FSRM.)
CPU_DISABLED = ("erms",)
CPU = "max," + ",".join(f"-{f}" for f in CPU_DISABLED)


def host_tsc_khz(cpuinfo=None, cpufreq=Path("/sys/devices/system/cpu/cpu0/cpufreq")):
    """The host's TSC frequency in kHz, where the host knows it exactly: its
    kernel took the rate from the CPU or the hypervisor (tsc_known_freq), the
    TSC is constant, and neither APERF/MPERF nor a cpufreq driver makes
    "cpu MHz" the core's current clock.  `cpuinfo`: /proc/cpuinfo's text."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return None
    flags = re.search(r"^flags\s*:(.*)$", cpuinfo, re.M)
    mhz = re.search(r"^cpu MHz\s*:\s*([\d.]+)$", cpuinfo, re.M)
    if not flags or not mhz or cpufreq.exists():
        return None
    flags = flags.group(1).split()
    if not {"constant_tsc", "tsc_known_freq"} <= set(flags) or "aperfmperf" in flags:
        return None
    return round(float(mhz.group(1)) * 1000)


def tsc_args(accel, hz):
    """tsc_early_khz= and lpj= for a TCG guest on this host.  TCG's TSC is
    the host's own counter, so the host's frequency spares the kernel its
    calibration against the PIT, which on a busy host fails over to a
    PM-timer calibration: ~0.3 s more, in about half the boots measured.
    The kernel later refines the rate against the HPET, but only within 1%
    of this one: hence host_tsc_khz() gives a rate only where it is exact.
    lpj= is the delay-loop rate the boot CPU derives from that (the TSC's
    ticks per jiffy of the guest kernel's CONFIG_HZ, `hz`); without it every
    other CPU measures its own against the tick, ~0.1 s of the boot."""
    khz = host_tsc_khz() if accel == "tcg" else None
    return f"tsc_early_khz={khz} lpj={khz * 1000 // hz}" if khz else ""


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
