# SPDX-License-Identifier: GPL-2.0-or-later
"""nvme_scsi's passthrough char device (/dev/nvme_scsiN, Linux's
<linux/nvme_ioctl.h> ABI) driven by stock nvme-cli in the guest."""
import re

import pytest

from cosim.workload import Fio, fio_verify, verify_only
from driver_helpers import (MIB, chardev, first_disk, passthrough_reads, queue_stats,
                            require_nvme_scsi, scsi_host)

pytestmark = pytest.mark.guest


@pytest.fixture
def nvme(guest):
    require_nvme_scsi(guest)
    return guest, chardev(guest)


def test_char_device_node(nvme):
    guest, dev = nvme
    ls = guest.run(f"ls -l {dev}").output
    assert ls.startswith("crw-------"), ls
    host = scsi_host(guest, dev)
    disk = first_disk(guest)
    # the char device and the disk hang off the same SCSI host
    addr = guest.run(f"basename $(readlink -f /sys/block/{disk[5:]}/device)").output.strip()
    assert host == f"host{addr.split(':')[0]}", (host, addr)


def test_id_ctrl(nvme):
    guest, dev = nvme
    out = guest.run(f"nvme id-ctrl {dev}").output
    serial = guest.cfg.controller.serial
    assert re.search(rf"^sn\s+: {serial}\s*$", out, re.M), out
    if guest.cfg.controller.model == "cosim":
        assert re.search(r"^mn\s+: cosim-nvme NVMe 1.0e model\s*$", out, re.M), out
        assert re.search(r"^fr\s+: cosim-1\s*$", out, re.M), out
        assert re.search(r"^mdts\s+: 5$", out, re.M), out
    # the SCSI host reports the same identity
    host = scsi_host(guest, dev)
    assert guest.run(f"cat /sys/class/scsi_host/{host}/nvme_serial").output.strip() == serial


def test_id_ns(nvme):
    guest, dev = nvme
    out = guest.run(f"nvme id-ns {dev} -n 1").output
    blocks = guest.cfg.namespaces[0].size_mib * MIB // guest.cfg.namespaces[0].lba_size
    assert re.search(rf"^nsze\s+: {blocks:#x}$", out, re.M), out
    assert re.search(rf"^ncap\s+: {blocks:#x}$", out, re.M), out


def test_logs(nvme):
    guest, dev = nvme
    smart = guest.run(f"nvme smart-log {dev}").output
    assert re.search(r"^critical_warning\s+: 0$", smart, re.M), smart
    assert "available_spare" in smart, smart
    err = guest.run(f"nvme error-log {dev}").output
    assert re.search(r"^Error Log Entries for device:nvme_scsi\d+ entries:\d+$", err, re.M), err
    fw = guest.run(f"nvme fw-log {dev}").output
    # slot 1 active; bits 6:4 (next slot) may be set by test_driver_scsi's WRITE BUFFER
    afi = re.search(r"^afi\s+: (0x[0-9a-f]+)$", fw, re.M)
    assert afi and int(afi.group(1), 16) & 0x7 == 1, fw
    if guest.cfg.controller.model == "cosim":
        assert "(cosim-1" in fw, fw


def test_get_and_set_feature(nvme):
    guest, dev = nvme
    out = guest.run(f"nvme get-feature {dev} -f 7").output
    n = int(guest.run(f"cat /sys/class/scsi_host/{scsi_host(guest, dev)}/nvme_io_queues").output)
    m = re.search(r"Number of Queues\), Current value:((0x)?[0-9a-f]{8})", out)
    assert m, out
    granted = int(m.group(1), 16)
    assert (granted & 0xffff) + 1 >= n and (granted >> 16) + 1 >= n, (out, n)

    # Temperature Threshold: changeable on both models, harmless to change
    # (printf's %#x prints 0 without the 0x)
    out = guest.run(f"nvme get-feature {dev} -f 4").output
    m = re.search(r"Current value:((0x)?[0-9a-f]{8})", out)
    assert m, out
    old = int(m.group(1), 16)
    try:
        out = guest.run(f"nvme set-feature {dev} -f 4 -v 0x15e").output
        assert "value:0x0000015e" in out, out
        out = guest.run(f"nvme get-feature {dev} -f 4").output
        assert "Current value:0x0000015e" in out, out
    finally:
        guest.run(f"nvme set-feature {dev} -f 4 -v {old:#x}")


def test_admin_passthru_identify(nvme):
    guest, dev = nvme
    out = guest.run(f"nvme admin-passthru {dev} --opcode=6 --cdw10=1 --data-len=4096 "
                    f"--read -b 2>/dev/null | dd bs=1 skip=4 count=20 2>/dev/null").output
    assert out.strip() == guest.cfg.controller.serial, out


def test_admin_passthru_bad_requests(nvme):
    guest, dev = nvme
    # flags must be 0
    r = guest.run(f"nvme admin-passthru {dev} --opcode=6 --cdw10=1 --data-len=4096 "
                  f"--read --flags=1", check=False)
    assert r.status != 0 and "Invalid argument" in r.output, r
    # more data than the max transfer size
    r = guest.run(f"nvme admin-passthru {dev} --opcode=6 --cdw10=1 --data-len=8388608 "
                  f"--read > /dev/null", check=False)
    assert r.status != 0 and "Invalid argument" in r.output, r
    # metadata is not supported
    r = guest.run(f"nvme io-passthru {dev} --opcode=2 --namespace-id=1 --data-len=512 "
                  f"--metadata-len=8 --read > /dev/null", check=False)
    assert r.status != 0 and "Invalid argument" in r.output, r
    # the controller's own answer comes back as the NVMe status
    r = guest.run(f"nvme admin-passthru {dev} --opcode=0xc0", check=False)
    assert r.status != 0, r
    assert "Invalid Command Opcode" in r.output and "(0x4001)" in r.output, r
    # no NVM subsystem reset
    r = guest.run(f"nvme subsystem-reset {dev}", check=False)
    assert r.status != 0, r
    # after all that the device still works
    assert guest.run(f"nvme id-ctrl {dev} | grep ^sn").status == 0


def test_io_passthru_read_and_write(nvme):
    """Data written through sd reads back through IO passthrough, and the other way."""
    guest, dev = nvme
    disk = first_disk(guest)
    lba = guest.cfg.namespaces[0].lba_size
    guest.run(f"dd if=/dev/urandom of=/tmp/pt_in bs=16384 count=1 2>/dev/null && "
              f"dd if=/tmp/pt_in of={disk} bs=16384 seek=10 oflag=direct 2>/dev/null")
    slba, nlb = 10 * 16384 // lba, 16384 // lba
    out = guest.run(f"nvme io-passthru {dev} --opcode=2 --namespace-id=1 --data-len=16384 "
                    f"--read --cdw10={slba} --cdw12={nlb - 1} -b > /tmp/pt_out && "
                    f"cmp /tmp/pt_in /tmp/pt_out && echo SAME").output
    assert "SAME" in out, out

    guest.run("dd if=/dev/urandom of=/tmp/pt_w bs=8192 count=1 2>/dev/null")
    slba, nlb = 30 * 8192 // lba, 8192 // lba
    guest.run(f"nvme io-passthru {dev} --opcode=1 --namespace-id=1 --data-len=8192 "
              f"--write --cdw10={slba} --cdw12={nlb - 1} --input-file=/tmp/pt_w")
    out = guest.run(f"dd if={disk} of=/tmp/pt_r bs=8192 skip=30 count=1 iflag=direct "
                    f"2>/dev/null && cmp /tmp/pt_w /tmp/pt_r && echo SAME").output
    assert "SAME" in out, out


def test_io_passthru_alongside_fio(nvme):
    """Passthrough IO CIDs never collide with blk-mq tags: fio at full queue
    depth with verify while IO passthrough reads run on the same queues, one
    after another from before fio starts until it has finished."""
    guest, dev = nvme
    disk = first_disk(guest)
    before = queue_stats(guest, dev)
    with passthrough_reads(guest, dev):
        fio_verify(guest, disk, "--rw=randwrite --bs=4k --size=16M --offset=64M "
                   "--iodepth=128 --numjobs=1 --verify_backlog=128")
    after = queue_stats(guest, dev)
    assert after["resets"] == before["resets"]
    for qid, q in after["queues"].items():
        assert q["timeouts"] == before["queues"][qid]["timeouts"], (before, after)
        if qid:     # (the admin queue may hold an Asynchronous Event Request)
            assert q["submitted"] == q["completed"] + q["cancelled"], after


def test_submit_io(nvme):
    """nvme-cli's `read` uses NVME_IOCTL_SUBMIT_IO (lowest active namespace).
    The node is the controller's: NVME_IOCTL_ID answers ENOTTY, as Linux's
    nvmeN does, so nvme-cli needs -n for its Identify Namespace."""
    guest, dev = nvme
    disk = first_disk(guest)
    lba = guest.cfg.namespaces[0].lba_size
    guest.run(f"dd if=/dev/urandom of=/tmp/sio bs=4096 count=1 2>/dev/null && "
              f"dd if=/tmp/sio of={disk} bs=4096 seek=50 oflag=direct 2>/dev/null")
    r = guest.run(f"nvme id-ns {dev}", check=False)
    assert r.status != 0 and "Inappropriate ioctl" in r.output, r
    out = guest.run(f"nvme read {dev} -n 1 --start-block={50 * 4096 // lba} "
                    f"--block-count={4096 // lba - 1} --data-size=4096 --data=/tmp/sio_out "
                    f"&& cmp /tmp/sio /tmp/sio_out && echo SAME", check=False).output
    assert "SAME" in out, out


def test_reset_and_rescan(nvme):
    guest, dev = nvme
    disk = first_disk(guest)
    before = queue_stats(guest, dev)
    guest.run(f"dd if=/dev/urandom of=/tmp/rs bs=65536 count=1 2>/dev/null && "
              f"dd if=/tmp/rs of={disk} bs=65536 seek=7 oflag=direct 2>/dev/null")
    out = guest.run(f"nvme reset {dev}").output
    after = queue_stats(guest, dev)
    assert after["state"] == "live", after
    assert after["resets"] == before["resets"] + 1, (before, after)
    out = guest.run(f"dd if={disk} of=/tmp/rs2 bs=65536 skip=7 count=1 iflag=direct "
                    f"2>/dev/null && cmp /tmp/rs /tmp/rs2 && echo SAME").output
    assert "SAME" in out, out

    guest.run(f"nvme ns-rescan {dev}")
    name = dev.rsplit("/", 1)[1]
    guest.run(f"echo 1 > /sys/class/nvme_scsi/{name}/rescan")
    assert [d[0] for d in guest.driver.block_devices()] == [disk]
    log = guest.run("dmesg | grep -c 'controller reset requested through nvme_scsi'").output
    assert int(log) >= 1


def test_reset_under_io(nvme):
    """nvme reset while fio verifies: cancelled commands are retried, no data lost."""
    guest, dev = nvme
    disk = first_disk(guest)
    before = queue_stats(guest, dev)
    job = "--rw=randwrite --bs=64k --size=96M --offset=96M --iodepth=32"
    fio = Fio(guest, disk, job).start()
    # reset once writes are flowing (field 8 of /proc/diskstats: writes completed)
    guest.wait_until(f"[ $(awk '$3 == \"{disk[5:]}\" {{print $8}}' /proc/diskstats) "
                     "-gt 100 ]", timeout=60)
    assert guest.run(f"[ -e {fio.out}.rc ]", check=False).status, "fio ended before the reset"
    guest.run(f"nvme reset {dev}", timeout=60)
    result = fio.wait(timeout=600)
    assert result.status == 0, f"fio failed across the reset:\n{result.output[-3000:]}"
    verify_only(guest, disk, job)
    after = queue_stats(guest, dev)
    assert after["state"] == "live", after
    assert after["resets"] == before["resets"] + 1, (before, after)
