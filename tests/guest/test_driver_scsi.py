# SPDX-License-Identifier: GPL-2.0-or-later
"""nvme_scsi's SCSI -> NVMe translation beyond READ/WRITE, checked with
sg3_utils output: VPD pages, LOG SENSE, MODE SELECT (write cache, D_SENSE),
START STOP UNIT, UNMAP, WRITE BUFFER and FORMAT UNIT."""
import re

import pytest

from driver_helpers import MIB, chardev, check_console, first_disk, id_ctrl, require_nvme_scsi

pytestmark = pytest.mark.guest


@pytest.fixture
def scsi(guest):
    require_nvme_scsi(guest)
    return guest, first_disk(guest)


def sysfs_disk(guest, disk):
    addr = guest.run(f"basename $(readlink -f /sys/block/{disk[5:]}/device)").output.strip()
    return f"/sys/class/scsi_disk/{addr}"


def has_dsm(guest):
    return bool(id_ctrl(guest, "oncs") & 0x4)      # ONCS: Dataset Management


def has_fw(guest):
    return bool(id_ctrl(guest, "oacs") & 0x4)      # OACS: firmware download/commit


def has_format(guest):
    return bool(id_ctrl(guest, "oacs") & 0x2)      # OACS: Format NVM


def test_vpd_pages(scsi):
    guest, disk = scsi
    out = guest.run(f"sg_vpd {disk}").output
    pages = re.findall(r"^\s+(.+?) \[(\w+)\]$", out, re.M)
    want = ["sv", "sn", "di", "ei", "bl", "bdc"] + (["lbpv"] if has_dsm(guest) else [])
    assert [p[1] for p in pages] == want, out

    ei = guest.run(f"sg_vpd -p 0x86 {disk}").output
    assert "HEADSUP=1 ORDSUP=1 SIMPSUP=1" in ei, ei
    assert "NV_SUP=0 V_SUP=1" in ei, ei          # both models have a volatile cache
    assert "SPT=0 GRD_CHK=0 APP_CHK=0 REF_CHK=0" in ei, ei


def test_logical_block_provisioning(scsi):
    guest, disk = scsi
    cap = guest.run(f"sg_readcap -l {disk}").output
    bl = guest.run(f"sg_vpd -p 0xb0 {disk}").output
    mode = guest.run(f"cat {sysfs_disk(guest, disk)}/provisioning_mode").output.strip()
    if has_dsm(guest):
        assert "lbpme=1, lbprz=0" in cap, cap
        assert "Maximum unmap block descriptor count: 256" in bl, bl
        lbp = guest.run(f"sg_vpd -p 0xb2 {disk}").output
        assert "Unmap command supported (LBPU): 1" in lbp, lbp
        assert mode == "unmap", mode
    else:
        assert "lbpme=0, lbprz=0" in cap, cap
        assert "Maximum unmap block descriptor count: 0" in bl, bl
        r = guest.run(f"sg_vpd -p 0xb2 {disk}", check=False)
        assert r.status != 0, r
        assert mode == "full", mode


def test_log_sense(scsi):
    guest, disk = scsi
    out = guest.run(f"sg_logs {disk}").output
    assert re.findall(r"^\s+(0x[0-9a-f]{2})\s+", out, re.M) == ["0x00", "0x0d", "0x2f"], out
    temp = guest.run(f"sg_logs -p 0x0d {disk}").output
    m = re.search(r"Current temperature = (\d+) C", temp)
    assert m and 0 < int(m.group(1)) < 100, temp
    assert "Reference temperature = <not available>" in temp, temp
    ie = guest.run(f"sg_logs -p 0x2f {disk}").output
    assert "IE asc = 0x0, ascq = 0x0" in ie, ie
    assert f"Current temperature = {m.group(1)} C" in ie, ie
    # a page we do not have
    r = guest.run(f"sg_logs -p 0x02 {disk}", check=False)
    assert r.status != 0 and "Illegal request" in r.output, r


def test_mode_select_write_cache(scsi):
    """sd's cache_type goes through MODE SELECT (caching page, WCE), which
    becomes Set Features 06h; Get Features (nvme-cli) sees the change."""
    guest, disk = scsi
    dev = chardev(guest)
    cache_type = f"{sysfs_disk(guest, disk)}/cache_type"
    assert guest.run(f"cat {cache_type}").output.strip() == "write back"
    try:
        guest.run(f"echo 'write through' > {cache_type}")
        assert guest.run(f"cat {cache_type}").output.strip() == "write through"
        out = guest.run(f"nvme get-feature {dev} -f 6").output
        assert "(Volatile Write Cache), Current value:00000000" in out, out
        modes = guest.run(f"sg_modes -p 8 {disk}").output
        assert re.search(r"^ 00\s+08 12 00 ", modes, re.M), modes
    finally:
        guest.run(f"echo 'write back' > {cache_type}")
    out = guest.run(f"nvme get-feature {dev} -f 6").output
    assert "(Volatile Write Cache), Current value:0x00000001" in out, out
    modes = guest.run(f"sg_modes -p 8 {disk}").output
    assert re.search(r"^ 00\s+08 12 04 ", modes, re.M), modes
    # changeable values: WCE only
    modes = guest.run(f"sg_modes -c 1 -p 8 {disk}").output
    assert re.search(r"^ 00\s+08 12 04 00 ", modes, re.M), modes


def test_mode_select_bad_requests(scsi):
    guest, disk = scsi
    # SP=1: nothing can be saved
    r = guest.run(f"printf '\\000\\000\\000\\000' > /tmp/ms0 && "
                  f"sg_raw -s 4 -i /tmp/ms0 {disk} 15 11 00 00 04 00", check=False)
    assert r.status != 0 and "Invalid field in cdb" in r.output, r
    # a page that cannot be selected (01h read-write error recovery)
    r = guest.run(f"printf '\\000\\000\\000\\000\\001\\012\\000\\000\\000\\000\\000\\000"
                  f"\\000\\000\\000\\000' > /tmp/ms1 && "
                  f"sg_raw -s 16 -i /tmp/ms1 {disk} 15 10 00 00 10 00", check=False)
    assert r.status != 0 and "Invalid field in parameter list" in r.output, r


def test_descriptor_sense(scsi):
    """Control mode page D_SENSE switches sense data to descriptor format."""
    guest, disk = scsi
    page = "\\000\\000\\000\\000\\012\\012{}\\000\\000\\000\\000\\000\\000\\000\\000\\000"
    select = f"sg_raw -s 16 -i /tmp/ms {disk} 15 10 00 00 10 00"
    r = guest.run(f"sg_raw {disk} c2 00 00 00 00 00", check=False)
    assert "Fixed format, current; Sense key: Illegal Request" in r.output, r
    try:
        guest.run(f"printf '{page.format(chr(92) + '004')}' > /tmp/ms && {select}")
        modes = guest.run(f"sg_modes -p 0x0a {disk}").output
        assert re.search(r"^ 00\s+0a 0a 04 10 ", modes, re.M), modes
        r = guest.run(f"sg_raw {disk} c2 00 00 00 00 00", check=False)
        assert "Descriptor format, current; Sense key: Illegal Request" in r.output, r
        assert "Invalid command operation code" in r.output, r
    finally:
        guest.run(f"printf '{page.format(chr(92) + '000')}' > /tmp/ms && {select}")
    r = guest.run(f"sg_raw {disk} c2 00 00 00 00 00", check=False)
    assert "Fixed format, current; Sense key: Illegal Request" in r.output, r


def test_start_stop_unit(scsi):
    guest, disk = scsi
    guest.run(f"sg_start --stop {disk}")
    guest.run(f"sg_start --start {disk}")
    r = guest.run(f"sg_start --eject {disk}", check=False)
    assert r.status != 0 and "Illegal request" in r.output, r
    guest.run(f"sg_turs {disk}")


def test_unmap(scsi):
    guest, disk = scsi
    lba = 1 * MIB // guest.cfg.namespaces[0].lba_size
    if has_dsm(guest):
        guest.run(f"sg_unmap --force --lba={lba} --num=8 {disk}")
        guest.run(f"blkdiscard -o {2 * MIB} -l {MIB} {disk}")
    else:
        # UNMAP -> Dataset Management, which the controller answers with Invalid Opcode
        r = guest.run(f"printf '\\000\\026\\000\\020' > /tmp/um && "
                      f"printf '\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000\\000"
                      f"\\000\\010\\000\\000\\000\\000\\000\\000' >> /tmp/um && "
                      f"sg_raw -s 24 -i /tmp/um {disk} 42 00 00 00 00 00 00 00 18 00",
                      check=False)
        assert r.status != 0, r
        assert "Sense key: Illegal Request" in r.output, r
        assert "Invalid command operation code" in r.output, r
    # a range past the end: LBA out of range, before any NVMe command
    blocks = guest.cfg.namespaces[0].size_mib * MIB // guest.cfg.namespaces[0].lba_size
    r = guest.run(f"sg_unmap --force --lba={blocks - 4} --num=8 {disk}", check=False)
    assert r.status == 22 and "LBA out of range" in r.output, r


def capacity(guest):
    ns = guest.cfg.namespaces[0]
    return ns.size_mib * MIB // ns.lba_size


def cdb(*fields):
    """sg_raw's CDB bytes: (value, width in bytes) pairs, big-endian."""
    return " ".join(f"{b:02x}" for v, n in fields for b in v.to_bytes(n, "big"))


def put_file(guest, path, data):
    octal = "".join(f"\\{b:03o}" for b in data)
    guest.run(f"printf '{octal}' > {path}")


LBA_OUT_OF_RANGE = "Logical block address out of range"


def test_rw_lba_checked_with_no_blocks(scsi):
    """SBC-3: a transfer length of 0 moves nothing and is no error, but an
    LBA past the capacity is still LOGICAL BLOCK ADDRESS OUT OF RANGE."""
    guest, disk = scsi
    cap = capacity(guest)
    for op, lba in ((0x28, cap + 1), (0x2a, cap + 1), (0x88, cap + 100), (0x8a, 1 << 40)):
        wide = op in (0x88, 0x8a)
        raw = cdb((op, 1), (0, 1), (lba, 8 if wide else 4), (0, 4 if wide else 1),
                  (0, 0 if wide else 2), (0, 2 if wide else 1))
        r = guest.run(f"sg_raw {disk} {raw}", check=False)
        assert r.status != 0 and "Sense key: Illegal Request" in r.output, (raw, r)
        assert LBA_OUT_OF_RANGE in r.output, (raw, r)
    # at the capacity itself nothing lies beyond it
    guest.run(f"sg_raw {disk} {cdb((0x88, 1), (0, 1), (cap, 8), (0, 4), (0, 2))}")
    guest.run(f"sg_raw {disk} {cdb((0x28, 1), (0, 1), (cap, 4), (0, 1), (0, 2), (0, 1))}")


def test_rw_protection_fields_refused(scsi):
    """No LUN has protection information: RDPROTECT/WRPROTECT other than 0
    is INVALID FIELD IN CDB, and nothing is read or written."""
    guest, disk = scsi
    lba, bs = capacity(guest) - 8, guest.cfg.namespaces[0].lba_size
    read10 = cdb((0x28, 1), (0x20, 1), (lba, 4), (0, 1), (1, 2), (0, 1))
    write16 = cdb((0x8a, 1), (0x60, 1), (lba, 8), (1, 4), (0, 2))
    for raw, data in ((read10, f"-r {bs}"), (write16, f"-s {bs} -i /dev/zero")):
        r = guest.run(f"sg_raw {data} {disk} {raw}", check=False)
        assert r.status != 0 and "Sense key: Illegal Request" in r.output, (raw, r)
        assert "Invalid field in cdb" in r.output, (raw, r)
    guest.run(f"sg_raw -r {bs} {disk} {cdb((0x28, 1), (0, 1), (lba, 4), (0, 1), (1, 2), (0, 1))}")


def test_unmap_no_blocks_at_capacity(scsi):
    """SBC-3: an UNMAP descriptor of no blocks at LBA = capacity is no error;
    one LBA further is LBA OUT OF RANGE."""
    guest, disk = scsi
    cap = capacity(guest)
    for lba, ok in ((cap, True), (cap + 1, False)):
        put_file(guest, "/tmp/um0", bytes([0, 22, 0, 16, 0, 0, 0, 0]) + lba.to_bytes(8, "big") +
                 bytes(8))
        r = guest.run(f"sg_raw -s 24 -i /tmp/um0 {disk} 42 00 00 00 00 00 00 00 18 00",
                      check=False)
        if ok:
            assert r.status == 0, r
        else:
            assert r.status != 0 and LBA_OUT_OF_RANGE in r.output, r


def test_write_buffer(scsi):
    """WRITE BUFFER 05h -> Firmware Image Download + Firmware Activate
    (replace, activate at reset); 0Fh -> Firmware Activate of slot = buffer
    ID. Without firmware commands (OACS) the answer is Invalid Opcode."""
    guest, disk = scsi
    dev = chardev(guest)
    guest.run("dd if=/dev/urandom of=/tmp/fw bs=4096 count=2 2>/dev/null")
    if has_fw(guest):
        frmw = id_ctrl(guest, "frmw")
        guest.run(f"sg_write_buffer --mode=5 --in=/tmp/fw {disk}")
        fw = guest.run(f"nvme fw-log {dev}").output
        afi = int(re.search(r"^afi\s+: (\S+)$", fw, re.M).group(1), 0)
        # the next activation comes from the slot just written
        assert afi >> 4 & 0x7 not in (0, afi & 0x7) or (frmw >> 1 & 0x7) == 1, fw
        # activate the running slot again (0Fh, buffer ID = slot): the
        # downloaded image is not activated by a later reset
        cur = afi & 0x7
        guest.run(f"sg_write_buffer --mode=0xf --id={cur} {disk}")
        fw = guest.run(f"nvme fw-log {dev}").output
        afi = int(re.search(r"^afi\s+: (\S+)$", fw, re.M).group(1), 0)
        assert afi >> 4 & 0x7 in (0, cur), fw
    else:
        r = guest.run(f"sg_write_buffer --mode=5 --in=/tmp/fw {disk}", check=False)
        assert r.status != 0 and "Illegal request, Invalid opcode" in r.output, r
    # modes other than 05h/0Eh/0Fh: invalid field
    r = guest.run(f"sg_write_buffer --mode=2 --in=/tmp/fw {disk}", check=False)
    assert r.status != 0, r
    assert "Illegal request" in r.output and "Invalid opcode" not in r.output, r
    # a length that is not whole dwords
    r = guest.run(f"sg_write_buffer --mode=0xe --length=6 --in=/tmp/fw {disk}", check=False)
    assert r.status != 0 and "Illegal request" in r.output, r


def test_format_unit(scsi):
    guest, disk = scsi
    if not has_format(guest):
        r = guest.run(f"sg_raw {disk} 04 00 00 00 00 00", check=False)
        assert r.status != 0 and "Invalid command operation code" in r.output, r
        return
    guest.run(f"dd if=/dev/urandom of={disk} bs=65536 count=4 oflag=direct 2>/dev/null")
    out = guest.run(f"sg_raw {disk} 04 00 00 00 00 00", timeout=300).output
    assert "SCSI Status: Good" in out, out
    if guest.cfg.controller.model != "qemu":
        return      # Format NVM without SES need not erase (cosim-nvme keeps the data)
    out = guest.run(f"dd if={disk} bs=65536 count=4 iflag=direct 2>/dev/null | "
                    f"od -A d -t x1 | head -3").output
    assert out.splitlines() == ["0000000 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
                                "*", "0262144"], out


def test_inquiry_version_descriptors(scsi):
    """Standard INQUIRY claims SAM-5, SPC-4 and SBC-3 (SPC-4 7.6.2)."""
    guest, disk = scsi
    out = guest.run(f"sg_inq -d {disk}").output
    for claim in ("SAM-5", "SPC-4", "SBC-3"):
        assert claim in out, out


def test_informational_exceptions_mode_page(scsi):
    """MODE SENSE answers page 1Ch (DEXCPT 0: SMART on, MRIE 0) alone and in
    the all-pages list; MODE SELECT takes it only unchanged."""
    guest, disk = scsi
    modes = guest.run(f"sg_modes -p 0x1c {disk}").output
    assert re.search(r"^ 00\s+1c 0a 00 00 ", modes, re.M), modes
    assert "Informational exceptions control" in guest.run(f"sg_modes -a {disk}").output
    select = f"sg_raw -s 16 -i /tmp/ie {disk} 15 10 00 00 10 00"
    put_file(guest, "/tmp/ie", bytes(4) + bytes([0x1c, 0x0a]) + bytes(10))
    guest.run(select)
    put_file(guest, "/tmp/ie", bytes(4) + bytes([0x1c, 0x0a, 0x08]) + bytes(9))  # DEXCPT 1
    r = guest.run(select, check=False)
    assert r.status != 0 and "Invalid field in parameter list" in r.output, r


def test_prevent_allow_medium_removal(scsi):
    """Nothing to lock: ALLOW is GOOD, PREVENT is INVALID FIELD IN CDB."""
    guest, disk = scsi
    guest.run(f"sg_raw {disk} 1e 00 00 00 00 00")
    r = guest.run(f"sg_raw {disk} 1e 00 00 00 01 00", check=False)
    assert r.status != 0 and "Invalid field in cdb" in r.output, r


def inquiry_revision(guest, disk):
    out = guest.run(f"sg_inq {disk}").output
    m = re.search(r"Product revision level: (.*)$", out, re.M)
    assert m, f"no revision in sg_inq's answer:\n{out}"
    return m.group(1).strip()


def dmesg_count(guest, text):
    return int(guest.run(f"dmesg | grep -c '{text}' || true").output.strip() or 0)


# What the midlayer logs for each unit attention (scsi_report_sense).
UA_LOGGED = {"microcode changed": "Operating parameters on this target have changed",
             "inquiry data changed": "Inquiry data has changed"}


def test_firmware_activation_reaches_scsi(scsi):
    """A firmware activation at reset is re-identified like a new controller:
    INQUIRY reports the new revision, and every LUN reports MICROCODE HAS
    BEEN CHANGED and INQUIRY DATA HAS CHANGED once each (SPC-4 unit
    attentions, logged by the midlayer); data written before reads back."""
    guest, disk = scsi
    if not has_fw(guest):
        pytest.skip("controller without firmware commands (OACS)")
    dev = chardev(guest)
    old = inquiry_revision(guest, disk)
    before = {ua: dmesg_count(guest, text) for ua, text in UA_LOGGED.items()}
    since = guest.console.size()
    guest.run("printf 'NEWFW-02' > /tmp/fw && dd if=/dev/zero bs=4088 count=3 >> /tmp/fw "
              "2>/dev/null && dd if=/dev/urandom of=/tmp/blk bs=64k count=1 2>/dev/null")
    guest.run(f"dd if=/tmp/blk of={disk} bs=64k count=1 oflag=direct 2>/dev/null")
    guest.run(f"nvme fw-download {dev} -f /tmp/fw && nvme fw-commit {dev} -s 2 -a 1")
    try:
        guest.run(f"nvme reset {dev}")
        assert inquiry_revision(guest, disk) == "W-02"      # the last 4 of NEWFW-02
        # whichever commands meet them first (sd's revalidation, this read), once
        # on each LUN
        guest.run(f"dd if={disk} of=/tmp/back bs=64k count=1 iflag=direct 2>/dev/null && "
                  f"cmp /tmp/blk /tmp/back")
        disks = len(guest.driver.block_devices())
        guest.wait_until(" && ".join(f"[ $(dmesg | grep -c '{text}') -ge {before[ua] + disks} ]"
                                     for ua, text in UA_LOGGED.items()), timeout=30)
        for ua, text in UA_LOGGED.items():
            seen = dmesg_count(guest, text) - before[ua]
            assert seen == disks, f"{ua}: reported {seen} times on {disks} LUN(s)"
        assert guest.run(f"sg_turs {disk}").status == 0
    finally:
        # back to the first slot's firmware for the tests after this one
        guest.run(f"nvme fw-commit {dev} -s 1 -a 2 && nvme reset {dev}", check=False)
    assert inquiry_revision(guest, disk) == old
    guest.run(f"dd if={disk} of=/tmp/back bs=64k count=1 iflag=direct 2>/dev/null && "
              f"cmp /tmp/blk /tmp/back")
    check_console(guest, since)
