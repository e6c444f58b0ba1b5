# SPDX-License-Identifier: GPL-2.0-or-later
"""Everything the harness knows about each NVMe driver in the guest, in one
place: how it is loaded and given its command timeouts, how its disks and
namespaces are named, how a controller reset and a namespace rescan are
asked for, and what it registers in sysfs.  A guest holds one of these for
the driver of its config (guest.driver); adding a driver means adding a
class here and naming it in DRIVERS.

Every method runs shell commands in the guest through guest.run()."""
import re
import time

DRIVER_TIMEOUT = 120        # s; module load, controller bring-up and SCSI scan

# Where a disk of either driver lives and what it is attached to.
BLOCK_DEVICES = ("for b in /sys/block/sd* /sys/block/nvme*n*; do [ -e $b ] || continue; "
                 "a=$(basename $(readlink -f $b/device)); "
                 "echo /dev/${b##*/} $(cat $b/size) $a; done")


class Driver:
    """A driver as the harness drives it in one guest; subclasses fill in
    the sysfs names."""

    name = None
    disk_glob = None        # /sys/block entries of its disks
    chardev = None          # passthrough character device of controller 0
    ctrl_glob = None        # sysfs node of a controller, there once probe() set it up
    reset_cmd = None        # controller reset, as the driver offers it in sysfs
    rescan_cmd = None       # namespace rescan (Identify again, add and remove disks)

    def __init__(self, guest):
        self.guest = guest
        self.load_seconds = None    # how long the last load() took

    def __str__(self):
        return self.name

    @staticmethod
    def timeouts(io, admin):
        """(kernel command line, module parameters) setting the IO and admin
        command timeouts, in seconds."""
        raise NotImplementedError

    # -- module ----------------------------------------------------------------

    def modprobe(self, params=None):
        """Load the module (the config's parameters unless @params), nothing more."""
        params = self.guest.cfg.driver.params if params is None else params
        self.guest.run(f"modprobe {self.name} {params}", timeout=DRIVER_TIMEOUT)

    def load(self, params=None, wait_disks=True):
        """modprobe the driver and wait until it bound the controller and
        (unless not @wait_disks: a controller that may show none) its disks
        appear.  Notes the seconds it took in load_seconds."""
        t0 = time.monotonic()
        params = self.guest.cfg.driver.params if params is None else params
        self.modprobe(params)
        # modprobe returns after probe() has run: a controller the driver did not
        # bind will not grow disks, so say why now instead of at the deadline.
        if self.guest.run(f"ls -d /sys/bus/pci/drivers/{self.name}/0000:*",
                          check=False).status:
            log = self.guest.run(f"dmesg | grep -E '{self.name}|nvme' | tail -5").output
            raise self.guest.error(f"{self.name} did not bind the controller:\n{log}")
        if wait_disks:
            self.guest.wait_until(f"[ $(ls -d {self.disk_glob} 2>/dev/null | wc -l) -ge "
                                  f"{self.expected_disks(params)} ]", timeout=DRIVER_TIMEOUT)
        self.load_seconds = time.monotonic() - t0

    def unload(self, timeout=60):
        self.guest.run(f"rmmod {self.name}", timeout=timeout)

    def bound_function(self):
        """PCI address (0000:bb:dd.f) of the (first) controller it is bound to."""
        path = self.guest.run(f"ls -d /sys/bus/pci/drivers/{self.name}/0000:* | head -1"
                              ).output.strip()
        return path.rsplit("/", 1)[1]

    def registered(self):
        """True while the driver has a controller registered (its SCSI host
        or nvme controller device)."""
        return bool(self.guest.run(f"ls -d {self.ctrl_glob} 2>/dev/null",
                                   check=False).output.strip())

    # -- disks and namespaces ----------------------------------------------------

    def expected_disks(self, params=None):
        """How many disks the driver shows for the config's namespaces."""
        return len(self.guest.cfg.namespaces)

    def block_devices(self):
        """[(dev, size_bytes, address)] of the NVMe disks, address being
        H:C:T:L for a SCSI disk and the controller for Linux's nvme."""
        devs = []
        for line in self.guest.run(BLOCK_DEVICES).output.splitlines():
            dev, sectors, addr = line.split()
            devs.append((dev, int(sectors) * 512, addr))
        return devs

    def nsid_of(self, disk):
        """The namespace behind a block_devices() entry."""
        raise NotImplementedError

    def namespace_present(self, nsid):
        """Guest shell condition: namespace @nsid has a disk."""
        raise NotImplementedError

    def namespace_disk(self, nsid):
        """/dev node of namespace @nsid."""
        raise NotImplementedError

    def disks_pending(self):
        """Devices the driver registered that have no disk yet (sd attaches
        asynchronously): a scan is still going on while this is not 0."""
        return 0

    def wait_namespace(self, nsid, timeout):
        self.guest.wait_until(self.namespace_present(nsid), timeout=timeout)
        return self.namespace_disk(nsid)

    def wait_namespace_gone(self, nsid, timeout):
        self.guest.wait_until(f"! {{ {self.namespace_present(nsid)}; }}", timeout=timeout)

    # -- controller --------------------------------------------------------------

    def reset(self, timeout=120, check=True):
        return self.guest.run(self.reset_cmd, timeout=timeout, check=check)

    def rescan(self, timeout=120):
        return self.guest.run(self.rescan_cmd, timeout=timeout)

    def queue_counters(self, ctrl=None):
        """The driver's own per-queue command counters, or None if it keeps none."""
        return None

    def identity(self):
        """Shell lines printing "identity MODEL serial SN fw REV" per controller."""
        return ""


class NvmeScsi(Driver):
    """nvme_scsi: namespaces as LUNs of a SCSI host (NSID n = LUN n-1),
    its own char device /dev/nvme_scsiN, counters in debugfs."""

    name = "nvme_scsi"
    disk_glob = "/sys/block/sd*"
    chardev = "/dev/nvme_scsi0"
    ctrl_glob = "/sys/class/nvme_scsi/nvme_scsi*"
    _hosts = ("for h in /sys/class/scsi_host/host*; do "
              "grep -qx nvme_scsi $h/proc_name 2>/dev/null || continue; ")
    reset_cmd = _hosts + "echo adapter > $h/host_reset; done"
    # The driver's own rescan: Identify the namespaces again, add and remove
    # LUNs, revalidate the rest (the SCSI host's scan would only probe LUNs).
    rescan_cmd = "for r in /sys/class/nvme_scsi/nvme_scsi*/rescan; do echo 1 > $r; done"
    QUEUE_COUNTERS = "/sys/kernel/debug/nvme_scsi/{}/queues"

    @staticmethod
    def timeouts(io, admin):
        return "", f"io_timeout={io} admin_timeout={admin}"

    def expected_disks(self, params=None):
        """NSIDs 1..max_luns (8), or those its `namespaces` parameter lists."""
        params = self.guest.cfg.driver.params if params is None else params
        count = len(self.guest.cfg.namespaces)
        listed = re.search(r"\bnamespaces=(\S+)", params)
        if listed:
            return len([n for n in listed.group(1).split(",") if int(n) <= count])
        max_luns = re.search(r"\bmax_luns=(\d+)", params)
        return min(count, int(max_luns.group(1)) if max_luns else 8)

    def scsi_host(self, ctrl="nvme_scsi0"):
        """The SCSI host number of controller @ctrl."""
        host = self.guest.run(f"cat /sys/class/nvme_scsi/{ctrl}/host").output.strip()
        return int(host.removeprefix("host"))

    def nsid_of(self, disk):
        return int(disk[2].rsplit(":", 1)[1]) + 1

    def namespace_present(self, nsid):
        return (f"ls /sys/bus/scsi/devices/{self.scsi_host()}:0:0:{nsid - 1}/block "
                "2>/dev/null | grep -q .")

    def namespace_disk(self, nsid):
        name = self.guest.run(f"ls /sys/bus/scsi/devices/{self.scsi_host()}:0:0:{nsid - 1}"
                              "/block").output.split()[0]
        return f"/dev/{name}"

    def disks_pending(self):
        return int(self.guest.run(
            "n=0; " + self._hosts + "for d in /sys/bus/scsi/devices/${h##*/host}:*; do "
            "[ -e $d ] && [ ! -e $d/block ] && n=$((n + 1)); done; done; echo $n").output)

    def queue_counters(self, ctrl="nvme_scsi0"):
        """Per-queue counters from debugfs, all since the driver bound the
        controller: {"state", "resets", "queues": {qid: {"depth", "submitted",
        "completed", "cancelled", "timeouts", "aborts", "aborts_failed"}}}."""
        lines = self.guest.run(f"cat {self.QUEUE_COUNTERS.format(ctrl)}"
                               ).output.strip().splitlines()
        head, cols = lines[0].split(), lines[1].split()    # state S resets N / qid ...
        queues = {}
        for line in lines[2:]:
            vals = [int(v) for v in line.split()]
            queues[vals[0]] = dict(zip(cols, vals))
        return {"state": head[1], "resets": int(head[3]), "queues": queues}

    def identity(self):
        return ("for h in /sys/class/scsi_host/host*; do\n"
                "  [ -e $h/nvme_model ] && echo \"identity $(cat $h/nvme_model | xargs)\" \\\n"
                "    \"serial $(cat $h/nvme_serial | xargs) fw $(cat $h/nvme_firmware_rev"
                " | xargs)\"\ndone\n")


class LinuxNvme(Driver):
    """Linux's own nvme, the reference: /dev/nvmeXnY disks, nvme_core's
    timeouts on the kernel command line."""

    name = "nvme"
    disk_glob = "/sys/block/nvme*n*"
    chardev = "/dev/nvme0"
    ctrl_glob = "/sys/class/nvme/nvme*"
    reset_cmd = "echo 1 > /sys/class/nvme/nvme0/reset_controller"
    rescan_cmd = "for c in /sys/class/nvme/nvme*; do echo 1 > $c/rescan_controller; done"

    @staticmethod
    def timeouts(io, admin):
        return f"nvme_core.io_timeout={io} nvme_core.admin_timeout={admin}", ""

    def nsid_of(self, disk):
        # named by instance, not by NSID: /sys/block/nvme0nN/nsid says which
        return int(self.guest.run(f"cat /sys/block/{disk[0][5:]}/nsid").output)

    def namespace_present(self, nsid):
        return f"grep -qx {nsid} /sys/block/nvme*n*/nsid 2>/dev/null"

    def namespace_disk(self, nsid):
        out = self.guest.run(f"grep -lx {nsid} /sys/block/nvme*n*/nsid").output
        return "/dev/" + out.split("/")[3]

    def identity(self):
        return ("for n in /sys/class/nvme/nvme*; do\n"
                "  [ -e $n ] && echo \"identity $(cat $n/model | xargs)\" \\\n"
                "    \"serial $(cat $n/serial | xargs) fw $(cat $n/firmware_rev | xargs)\"\n"
                "done\n")


class NoDriver(Driver):
    """No NVMe driver loaded: the guest boots with the controller unbound."""

    name = "none"

    def modprobe(self, params=None):
        pass

    def load(self, params=None, wait_disks=True):
        pass

    def unload(self, timeout=60):
        pass

    def expected_disks(self, params=None):
        return 0


DRIVERS = {d.name: d for d in (NvmeScsi, LinuxNvme, NoDriver)}
# The drivers every suite runs against: ours, and Linux's as the reference
# that shows a test itself is right.
UNDER_TEST = ("nvme_scsi", "nvme")


def timeouts(name, io, admin):
    """(kernel command line, module parameters) for driver @name's timeouts."""
    return DRIVERS[name].timeouts(io, admin)


def for_guest(guest):
    return DRIVERS[guest.cfg.driver.name](guest)
