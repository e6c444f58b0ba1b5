"""Helpers for the nvme_scsi driver's own guest tests (test_driver_*.py)."""
import re

import pytest

MIB = 1 << 20


def require_nvme_scsi(guest):
    if guest.cfg.driver.name != "nvme_scsi":
        pytest.skip("nvme_scsi's own interface")


def chardev(guest):
    """/dev/nvme_scsiN of the (first) controller."""
    out = guest.run("ls /sys/class/nvme_scsi/").output.split()
    names = sorted(n for n in out if re.fullmatch(r"nvme_scsi\d+", n))
    assert names, f"no nvme_scsi char device in /sys/class/nvme_scsi: {out}"
    return f"/dev/{names[0]}"


def scsi_host(guest, dev):
    """hostN of the SCSI host behind char device @dev."""
    name = dev.rsplit("/", 1)[1]
    return guest.run(f"cat /sys/class/nvme_scsi/{name}/host").output.strip()


def first_disk(guest):
    devs = guest.block_devices()
    assert devs, "the driver created no block device"
    return devs[0][0]


def queue_stats(guest, dev):
    """{"state":, "resets":, "queues": {qid: {column: int}}} from debugfs."""
    name = dev.rsplit("/", 1)[1]
    out = guest.run(f"cat /sys/kernel/debug/nvme_scsi/{name}/queues").output
    lines = out.strip().splitlines()
    head = lines[0].split()
    stats = {"state": head[1], "resets": int(head[3]), "queues": {}}
    cols = lines[1].split()
    for line in lines[2:]:
        vals = [int(v) for v in line.split()]
        stats["queues"][vals[0]] = dict(zip(cols, vals))
    return stats


def fio(guest, dev, *opts, timeout=600):
    """fio with a checksum in every block; fails the test if fio reports an error."""
    cmd = (f"fio --name=verify --filename={dev} --direct=1 --ioengine=libaio "
           f"--verify=crc32c --verify_fatal=1 --randrepeat=1 --output-format=terse "
           f"--terse-version=3 {' '.join(opts)}")
    result = guest.run(cmd, timeout=timeout, check=False)
    assert result.status == 0, f"fio failed:\n{result}"
    return result


def boot_guest(name, cfg):
    """A guest of its own (not from the pool) with the driver loaded."""
    from cosim.machine import Guest
    guest = Guest(cfg, name=name).start()
    try:
        guest.load_driver()
    except Exception:
        guest.close()
        raise
    return guest


def check_console(guest, since):
    problems = guest.console_problems(since)
    assert not problems, ("guest console shows trouble:\n  " + "\n  ".join(problems[:10]) +
                          f"\n  console: {guest.console.path}")


def reload_driver(guest, params, disks):
    """Reload nvme_scsi with @params and wait for @disks SCSI disks."""
    guest.run("rmmod nvme_scsi")
    guest.run(f"modprobe nvme_scsi {params}", timeout=120)
    wait_disks(guest, disks)


def wait_disks(guest, disks, timeout=60):
    guest.wait_until(f"[ $(ls -d /sys/block/sd* 2>/dev/null | wc -l) -eq {disks} ]",
                     timeout=timeout)


def luns(guest):
    """{lun: size_bytes} of the SCSI disks."""
    return {int(addr.split(":")[3]): size for _, size, addr in guest.block_devices()}


_hotplug_seq = [0]


def add_ns(guest, nsid, size_mib, ctrl="nvme0"):
    """Hot-add namespace @nsid under fresh node and device names (a static
    -drive's BlockBackend name stays taken after its device is deleted, so
    cosim.control.add_namespace cannot re-add a static NSID). Returns the
    device id, for del_ns()."""
    from pathlib import Path
    _hotplug_seq[0] += 1
    tag = f"hp{nsid}x{_hotplug_seq[0]}"
    img = Path(guest.rundir) / f"{tag}.img"
    with open(img, "wb") as f:
        f.truncate(size_mib << 20)
    vm = guest.vm
    vm.command("blockdev-add", driver="raw", node_name=tag,
               file={"driver": "file", "filename": str(img)})
    vm.command("device_add", driver=guest.ns_device, bus=ctrl, drive=tag,
               nsid=nsid, id=f"dev{tag}")
    return f"dev{tag}"


def del_ns(guest, dev_id, timeout=30):
    vm = guest.vm
    vm.command("device_del", id=dev_id)
    vm.event_wait("DEVICE_DELETED", timeout=timeout, match={"data": {"device": dev_id}})


def id_ctrl(guest, field):
    """An integer field of Identify Controller (nvme-cli through the char device)."""
    out = guest.run(f"nvme id-ctrl {chardev(guest)}").output
    m = re.search(rf"^{field}\s+: (\S+)$", out, re.M)
    assert m, out
    return int(m.group(1), 0)


def qmp_raw(guest, cmd, **args):
    """QMP with argument names exactly as given (QEMUMachine.qmp and the libvirt
    wrapper turn '_' into '-', but block_set_io_throttle wants 'bps_rd')."""
    vm = guest.vm
    if hasattr(vm, "_dom"):          # cosim.libvirt_vm: no conv_keys switch
        import json
        import libvirt_qemu
        msg = json.dumps({"execute": cmd, "arguments": args})
        return json.loads(libvirt_qemu.qemuMonitorCommand(vm._dom, msg, 0))
    return vm.qmp(cmd, conv_keys=False, **args)
