# SPDX-License-Identifier: GPL-2.0-or-later
"""nvme_scsi's VERIFY, WRITE SAME, SEND DIAGNOSTIC and REPORT SUPPORTED
OPERATION CODES (SBC-3, SPC-4, NVM Express SCSI Translation Reference 1.5),
checked with sg3_utils: the exact sense key / ASC / ASCQ of sg_raw's raw
sense data, or the data read back."""
import hashlib
import itertools
import re

import pytest

from driver_helpers import MIB, chardev, check_console, first_disk, id_ctrl, require_nvme_scsi

pytestmark = pytest.mark.guest

GOOD = None
ILLEGAL_REQUEST, MEDIUM_ERROR, HARDWARE_ERROR, MISCOMPARE = 0x5, 0x3, 0x4, 0xe
INVALID_OPCODE = (ILLEGAL_REQUEST, 0x20, 0x00)
INVALID_FIELD = (ILLEGAL_REQUEST, 0x24, 0x00)
LBA_OUT_OF_RANGE = (ILLEGAL_REQUEST, 0x21, 0x00)
MISCOMPARE_DURING_VERIFY = (MISCOMPARE, 0x1d, 0x00)
UNRECOVERED_READ_ERROR = (MEDIUM_ERROR, 0x11, 0x00)
FAILED_SELF_TEST = (HARDWARE_ERROR, 0x3e, 0x03)


@pytest.fixture
def scsi(guest):
    require_nvme_scsi(guest)
    return guest, first_disk(guest)


def cdb(*fields):
    """sg_raw's CDB bytes: (value, width in bytes) pairs, big-endian."""
    return " ".join(f"{b:02x}" for v, n in fields for b in v.to_bytes(n, "big"))


def parse_sense(output):
    """(key, asc, ascq, information or None) from `sg_raw -v` output; None if GOOD."""
    if "Raw sense data" not in output:
        assert "SCSI Status" not in output or "SCSI Status: Good" in output, output
        return None
    m = re.search(r"Raw sense data \(in hex\).*\n((?:[ \t]*(?:[0-9a-f]{2} *)+\n)+)", output + "\n")
    assert m, output
    sb = bytes(int(x, 16) for x in m.group(1).split())
    if sb[0] & 0x7f in (0x70, 0x71):        # fixed format
        info = int.from_bytes(sb[3:7], "big") if sb[0] & 0x80 else None
        return sb[2] & 0xf, sb[12], sb[13], info
    info = None                             # descriptor format: information descriptor 00h
    off = 8
    while off + 1 < len(sb):
        if sb[off] == 0x00 and sb[off + 2] & 0x80:
            info = int.from_bytes(sb[off + 4:off + 12], "big")
        off += 2 + sb[off + 1]
    return sb[1] & 0xf, sb[2], sb[3], info


def raw(guest, disk, cdb_bytes, data=None, read=0):
    """sg_raw a CDB (data-out from guest file @data, @read bytes data-in);
    returns the sense (key, asc, ascq, info) or None for GOOD."""
    opts = f"-s $(stat -c %s {data}) -i {data} " if data else ""
    opts += f"-r {read} -o /tmp/sbc_in " if read else ""
    r = guest.run(f"sg_raw -v {opts}{disk} {cdb_bytes}", check=False)
    return parse_sense(r.output)


def status(guest, disk, cdb_bytes, data=None):
    s = raw(guest, disk, cdb_bytes, data)
    return s and s[:3]


def blocks(guest):
    ns = guest.cfg.namespaces[0]
    return ns.size_mib * MIB // ns.lba_size, ns.lba_size


def max_blocks(guest, disk):
    """The driver's max transfer in blocks (VPD B0, as sd sees it)."""
    out = guest.run(f"sg_vpd -p 0xb0 {disk}").output
    return int(re.search(r"Maximum transfer length: (\d+) blocks", out).group(1))


def md5(guest, cmd):
    return guest.run(f"{cmd} | md5sum").output.split()[0]


def disk_md5(guest, disk, lba, count, bs):
    return md5(guest, f"dd if={disk} bs={bs} skip={lba} count={count} iflag=direct 2>/dev/null")


def repeated_md5(guest, path, times):
    """md5 of guest file @path repeated @times times (computed here: a shell loop is slow)."""
    data = bytes(int(x, 16) for x in guest.run(f"od -An -v -tx1 {path}").output.split())
    return hashlib.md5(data * times).hexdigest()


def verify10(lba, nlb, bytchk=0, byte1=0):
    return cdb((0x2f, 1), (byte1 | bytchk << 1, 1), (lba, 4), (0, 1), (nlb, 2), (0, 1))


def verify12(lba, nlb, bytchk=0):
    return cdb((0xaf, 1), (bytchk << 1, 1), (lba, 4), (nlb, 4), (0, 1), (0, 1))


def verify16(lba, nlb, bytchk=0):
    return cdb((0x8f, 1), (bytchk << 1, 1), (lba, 8), (nlb, 4), (0, 1), (0, 1))


def write_same10(lba, nlb, byte1=0):
    return cdb((0x41, 1), (byte1, 1), (lba, 4), (0, 1), (nlb, 2), (0, 1))


def write_same16(lba, nlb, byte1=0):
    return cdb((0x93, 1), (byte1, 1), (lba, 8), (nlb, 4), (0, 1), (0, 1))


def test_verify(scsi):
    """VERIFY(10/12/16): BYTCHK 00b reads (GOOD, or a read error), 01b
    compares the Data-Out Buffer (MISCOMPARE 1Dh/00h with the offset of the
    first unequal byte in INFORMATION), 11b compares one block with every
    block; ranges longer than the max transfer are split; BYTCHK 10b,
    VRPROTECT and ranges past the end are refused."""
    guest, disk = scsi
    cap, bs = blocks(guest)
    most = max_blocks(guest, disk)
    lba, n = 4096, 2 * most + 3                 # three pieces
    guest.run(f"dd if=/dev/urandom of=/tmp/v bs={bs} count={n} 2>/dev/null && "
              f"dd if=/tmp/v of={disk} bs={bs} seek={lba} oflag=direct 2>/dev/null")
    for op in (verify10, verify12, verify16):
        assert status(guest, disk, op(lba, n)) is GOOD, op
    guest.run(f"sg_verify --lba={lba} --count={n} {disk}")      # VERIFY(10), BYTCHK 0
    guest.run(f"sg_verify --16 --lba={lba} --count={n} --bpc={n} {disk}")

    # BYTCHK 01b: the Data-Out Buffer (at most the max transfer) against the medium
    guest.run(f"dd if=/tmp/v of=/tmp/vd bs={bs} count={most} 2>/dev/null")
    for op in (verify10, verify12, verify16):
        assert status(guest, disk, op(lba, most, bytchk=1), "/tmp/vd") is GOOD, op
    off = (most // 2) * bs + 77
    byte = int(guest.run(f"od -An -tu1 -j {off} -N 1 /tmp/vd").output)
    guest.run(f"printf '\\{byte ^ 0xff:03o}' | dd of=/tmp/vd bs=1 seek={off} conv=notrunc "
              f"2>/dev/null")
    assert raw(guest, disk, verify16(lba, most, bytchk=1), "/tmp/vd") == \
        (*MISCOMPARE_DURING_VERIFY, off)
    r = guest.run(f"sg_verify -v --lba={lba} --count={most} --bpc={most} --ndo={most * bs} "
                  f"--in=/tmp/vd {disk}", check=False)
    assert r.status == 14 and f"Info fld=0x{off:x} [{off}]" in r.output, r
    # a Data-Out Buffer smaller than the blocks to compare
    guest.run(f"head -c {bs} /tmp/v > /tmp/p0")
    assert status(guest, disk, verify10(lba, most, bytchk=1), "/tmp/p0") == INVALID_FIELD

    # BYTCHK 11b: one block against every block of the range
    guest.run(f"head -c {bs} /dev/urandom > /tmp/blk && for i in $(seq {n}); do cat /tmp/blk; "
              f"done | dd of={disk} bs={bs} seek={lba} oflag=direct 2>/dev/null")
    assert status(guest, disk, verify10(lba, n, bytchk=3), "/tmp/blk") is GOOD
    guest.run(f"sg_verify --lba={lba} --count={n} --bpc={n} --ebytchk=3 --ndo={bs} "
              f"--in=/tmp/blk {disk}")
    guest.run(f"dd if=/dev/zero of={disk} bs={bs} seek={lba + n - 1} count=1 oflag=direct "
              f"2>/dev/null")
    assert status(guest, disk, verify16(lba, n, bytchk=3), "/tmp/blk") == \
        MISCOMPARE_DURING_VERIFY

    # refused: BYTCHK 10b, VRPROTECT (no protection information), past the end
    assert status(guest, disk, verify10(lba, 1, bytchk=2)) == INVALID_FIELD
    assert status(guest, disk, verify10(lba, 1, byte1=0x20)) == INVALID_FIELD
    assert status(guest, disk, verify16(cap - 1, 2)) == LBA_OUT_OF_RANGE
    assert status(guest, disk, verify12(cap + 1, 0)) == LBA_OUT_OF_RANGE
    assert status(guest, disk, verify16(cap, 0)) is GOOD        # no blocks: GOOD


def test_verify_read_error(scsi):
    """BYTCHK 00b reports a read error as the status mapping does: a block
    made unreadable with NVMe Write Uncorrectable is MEDIUM ERROR,
    UNRECOVERED READ ERROR; written again, it verifies."""
    guest, disk = scsi
    if not id_ctrl(guest, "oncs") & 0x2:
        pytest.skip("controller without Write Uncorrectable (ONCS bit 1)")
    _, bs = blocks(guest)
    lba = 6000
    guest.run(f"nvme write-uncor {chardev(guest)} -n 1 -s {lba + 5} -c 0")
    try:
        assert status(guest, disk, verify10(lba, 8)) == UNRECOVERED_READ_ERROR
        r = guest.run(f"sg_verify --lba={lba} --count=8 {disk}", check=False)
        assert r.status != 0 and "Unrecovered read error" in r.output, r
    finally:
        guest.run(f"dd if=/dev/zero of={disk} bs={bs} seek={lba + 5} count=1 oflag=direct "
                  f"2>/dev/null")
    assert status(guest, disk, verify10(lba, 8)) is GOOD


def dlfeat(guest):
    out = guest.run(f"nvme id-ns {chardev(guest)} -n 1").output
    return int(re.search(r"^dlfeat\s+: (\S+)$", out, re.M).group(1), 0)


def ws_unmaps(guest):
    """Does WRITE SAME with UNMAP deallocate? DSM, and deallocated blocks read as zeroes."""
    return bool(id_ctrl(guest, "oncs") & 0x4) and dlfeat(guest) & 0x7 == 1


def allocated(guest):
    """Bytes the host holds for namespace 1's backing file."""
    return (guest.rundir / "ns1.img").stat().st_blocks * 512


def test_write_same(scsi):
    """WRITE SAME(10/16) writes the one block to every LBA of the range (in
    max-transfer pieces), NDOB writes zeroes; no blocks, ANCHOR, WRPROTECT
    are INVALID FIELD IN CDB, a range past the end LBA OUT OF RANGE."""
    guest, disk = scsi
    cap, bs = blocks(guest)
    most = max_blocks(guest, disk)
    lba, n = 8192, 2 * most + 5
    guest.run(f"head -c {bs} /dev/urandom > /tmp/ws")
    assert status(guest, disk, write_same10(lba, n), "/tmp/ws") is GOOD
    assert disk_md5(guest, disk, lba, n, bs) == repeated_md5(guest, "/tmp/ws", n)
    # WRITE SAME(16), through sg_write_same; UNMAP with a block that is not zeroes writes it
    guest.run(f"head -c {bs} /dev/urandom > /tmp/ws")
    guest.run(f"sg_write_same --16 --unmap --lba={lba} --num={n} --in=/tmp/ws {disk}")
    assert disk_md5(guest, disk, lba, n, bs) == repeated_md5(guest, "/tmp/ws", n)
    # NDOB: no Data-Out Buffer, zeroes
    assert status(guest, disk, write_same16(lba + 1, n - 2, byte1=0x01)) is GOOD
    guest.run(f"head -c {bs} /dev/zero > /tmp/zero")
    assert disk_md5(guest, disk, lba + 1, n - 2, bs) == repeated_md5(guest, "/tmp/zero", n - 2)
    assert disk_md5(guest, disk, lba, 1, bs) == md5(guest, "cat /tmp/ws")
    assert disk_md5(guest, disk, lba + n - 1, 1, bs) == md5(guest, "cat /tmp/ws")

    assert status(guest, disk, write_same10(lba, 0), "/tmp/ws") == INVALID_FIELD   # WSNZ
    assert status(guest, disk, write_same16(lba, 0, byte1=0x01)) == INVALID_FIELD
    assert status(guest, disk, write_same16(lba, 8, byte1=0x18), "/tmp/zero") == INVALID_FIELD
    assert status(guest, disk, write_same10(lba, 8, byte1=0x20), "/tmp/ws") == INVALID_FIELD
    assert status(guest, disk, write_same16(cap - 4, 8), "/tmp/ws") == LBA_OUT_OF_RANGE
    assert status(guest, disk, write_same10(cap, 1), "/tmp/ws") == LBA_OUT_OF_RANGE
    guest.run(f"sg_write_same --lba={cap - 1} --num=1 --in=/tmp/ws {disk}")   # the last LBA


def test_write_same_unmap(scsi):
    """WRITE SAME with UNMAP and a zero block: Dataset Management deallocate
    where the namespace says deallocated blocks read as zeroes (DLFEAT: QEMU's
    nvme; the host file loses the blocks), else the zeroes are written
    (cosim-nvme, a 1.0e controller); either way the range reads back zeroes.
    VPD B0 and B2 say so, and sd would zero ranges with WRITE SAME."""
    guest, disk = scsi
    _, bs = blocks(guest)
    unmaps = ws_unmaps(guest)
    # QEMU's nvme reports DLFEAT 001b; cosim-nvme, a 1.0e model, leaves it 0
    assert unmaps == (guest.cfg.controller.model == "qemu"), dlfeat(guest)
    bl = guest.run(f"sg_vpd -p 0xb0 {disk}").output
    assert "Write same non-zero (WSNZ): 1" in bl, bl
    assert f"Maximum write same length: {(1 << 30) // bs:#x} blocks" in bl, bl
    if id_ctrl(guest, "oncs") & 0x4:
        lbp = guest.run(f"sg_vpd -p 0xb2 {disk}").output
        assert f"Write same (16) with unmap bit supported (LBPWS): {int(unmaps)}" in lbp, lbp
        assert f"Write same (10) with unmap bit supported (LBPWS10): {int(unmaps)}" in lbp, lbp

    lba, n = 32 * MIB // bs, 8 * MIB // bs
    guest.run(f"dd if=/dev/urandom of={disk} bs=1M seek=32 count=8 oflag=direct 2>/dev/null")
    before = allocated(guest)
    guest.run(f"head -c {bs} /dev/zero > /tmp/zero")
    assert status(guest, disk, write_same16(lba, n, byte1=0x08), "/tmp/zero") is GOOD
    assert disk_md5(guest, disk, lba, n, bs) == repeated_md5(guest, "/tmp/zero", n)
    if unmaps:
        assert allocated(guest) <= before - 4 * MIB, (before, allocated(guest))
    # WRITE SAME(10) with UNMAP and NDOB-free zeroes, the same
    guest.run(f"dd if=/dev/urandom of={disk} bs=1M seek=32 count=1 oflag=direct 2>/dev/null")
    assert status(guest, disk, write_same10(lba, MIB // bs, byte1=0x08), "/tmp/zero") is GOOD
    assert disk_md5(guest, disk, lba, MIB // bs, bs) == repeated_md5(guest, "/tmp/zero", MIB // bs)

    # sd: REPORT SUPPORTED OPERATION CODES lists WRITE SAME, so zeroing uses it
    sdisk = guest.run(f"ls /sys/block/{disk[5:]}/device/scsi_disk/").output.strip()
    sysfs = f"/sys/class/scsi_disk/{sdisk}"
    assert guest.run(f"cat {sysfs}/zeroing_mode").output.strip() == "writesame"
    assert int(guest.run(f"cat {sysfs}/max_write_same_blocks").output) == (1 << 30) // bs


def smart_temp_threshold(guest, value=None):
    dev = chardev(guest)
    if value is None:
        out = guest.run(f"nvme get-feature {dev} -f 4").output
        return int(re.search(r"Current value:(0x[0-9a-f]+)", out).group(1), 16)
    guest.run(f"nvme set-feature {dev} -f 4 -v {value}")


def send_diag(byte1, length=0):
    return cdb((0x1d, 1), (byte1, 1), (0, 1), (length, 2), (0, 1))


def test_send_diagnostic(scsi):
    """SEND DIAGNOSTIC: the default self-test is a health check of the SMART
    log (a critical warning, here the temperature above its threshold, is
    HARDWARE ERROR, LOGICAL UNIT FAILED SELF-TEST 3Eh/03h); SELFTEST=0
    without a parameter list does nothing; self-test codes (NVMe 1.0 has no
    Device Self-test) and parameter lists are INVALID FIELD IN CDB."""
    guest, disk = scsi
    since = guest.console.size()
    out = guest.run(f"sg_senddiag -t {disk}").output
    assert "Default self-test returned GOOD status" in out, out
    assert status(guest, disk, send_diag(0x04)) is GOOD
    assert status(guest, disk, send_diag(0x17)) is GOOD     # + PF, DEVOFFL, UNITOFFL
    assert status(guest, disk, send_diag(0x00)) is GOOD
    for code in range(1, 8):
        assert status(guest, disk, send_diag(code << 5)) == INVALID_FIELD, code
    assert status(guest, disk, send_diag(0x24)) == INVALID_FIELD     # SELFTEST + a code
    guest.run("printf '\\000\\000\\000\\000' > /tmp/diag")
    assert status(guest, disk, send_diag(0x10, 4), "/tmp/diag") == INVALID_FIELD
    r = guest.run(f"sg_senddiag --selftest=1 {disk}", check=False)  # background short
    assert r.status == 5 and "Illegal request" in r.output, r

    threshold = smart_temp_threshold(guest)
    warned = "dmesg | grep -c 'self-test failed, SMART critical warning 0x2' || true"
    before = int(guest.run(warned).output)
    try:
        smart_temp_threshold(guest, 300)        # below the controller's temperature
        assert status(guest, disk, send_diag(0x04)) == FAILED_SELF_TEST
        r = guest.run(f"sg_senddiag -t {disk}", check=False)
        assert r.status != 0 and "Logical unit failed self-test" in r.output, r
    finally:
        smart_temp_threshold(guest, threshold)
    assert status(guest, disk, send_diag(0x04)) is GOOD
    assert int(guest.run(warned).output) > before, "no self-test failure logged"
    check_console(guest, since)


def rsoc_cdb(options=0, opcode=0, sa=0, rctd=False, alloc=8192):
    """REPORT SUPPORTED OPERATION CODES: (CDB bytes, allocation length)."""
    return cdb((0xa3, 1), (0x0c, 1), (options | (0x80 if rctd else 0), 1), (opcode, 1),
               (sa, 2), (alloc, 4), (0, 2)), alloc


def rsoc_many(guest, disk, cdbs):
    """Send each of rsoc_cdb's @cdbs, all in one guest command (a process
    start costs tens of ms under TCG): [(sense or None, response bytes)]."""
    out = guest.run("\n".join(
        f"echo @@Q; rm -f /tmp/rsoc; sg_raw -v -r {alloc} -o /tmp/rsoc {disk} {raw_cdb} 2>&1; "
        f"echo @@DATA; od -An -v -tx1 /tmp/rsoc 2>/dev/null" for raw_cdb, alloc in cdbs),
        check=False).output
    answers = re.findall(r"^@@Q\n(.*?)^@@DATA\n(.*?)(?=^@@Q\n|\Z)", out, re.M | re.S)
    assert len(answers) == len(cdbs), out[-2000:]
    return [(parse_sense(text), bytes(int(x, 16) for x in data.split()))
            for text, data in answers]


def rsoc(guest, disk, *args, **kwargs):
    """REPORT SUPPORTED OPERATION CODES: (sense or None, response bytes)."""
    return rsoc_many(guest, disk, [rsoc_cdb(*args, **kwargs)])[0]


def cdb_size(opcode):
    """By group code; group 3 (reserved, 7Eh/7Fh extended and variable
    length): 16 bytes, a length sg_raw sends as a SCSI CDB."""
    return {0: 6, 1: 10, 2: 10, 3: 16, 4: 16, 5: 12, 6: 10, 7: 10}[opcode >> 5]


def expected_opcodes(guest):
    """What nvme_scsi takes, (opcode, service action or None)."""
    ops = {0x00, 0x03, 0x08, 0x0a, 0x12, 0x15, 0x1a, 0x1b, 0x1d, 0x1e, 0x25, 0x28, 0x2a,
           0x2f, 0x35, 0x3b, 0x41, 0x4d, 0x55, 0x5a, 0x88, 0x8a, 0x8f, 0x91, 0x93, 0xa0,
           0xa8, 0xaa, 0xaf}
    if id_ctrl(guest, "oacs") & 0x2:
        ops.add(0x04)           # FORMAT UNIT: Format NVM
    if id_ctrl(guest, "oncs") & 0x4:
        ops.add(0x42)           # UNMAP: Dataset Management
    return {(op, None) for op in ops} | {(0x9e, 0x10), (0xa3, 0x0c)}


def test_report_supported_opcodes(scsi):
    """REPORT SUPPORTED OPERATION CODES lists exactly what the driver takes:
    every opcode not listed is INVALID COMMAND OPERATION CODE, every listed
    one is not; one-command reports give SUPPORT 011b and the CDB usage data
    (001b for what is not taken), RCTD the timeouts descriptor."""
    guest, disk = scsi
    out = guest.run(f"sg_opcodes {disk}").output
    for name in ("Verify(16)", "Write same(16)", "Send diagnostic",
                 "Report supported operation codes"):
        assert name in out, out

    sense, data = rsoc(guest, disk)
    assert sense is None and int.from_bytes(data[:4], "big") == len(data) - 4, data
    listed = {}
    for off in range(4, len(data), 8):
        d = data[off:off + 8]
        sa = int.from_bytes(d[2:4], "big") if d[5] & 0x01 else None
        listed[(d[0], sa)] = int.from_bytes(d[6:8], "big")
        assert not d[5] & 0x02, d       # no timeouts descriptor unless asked
    assert set(listed) == expected_opcodes(guest), sorted(listed)
    for (op, sa), size in listed.items():
        assert size == cdb_size(op), (hex(op), size)

    # every opcode: a harmless CDB (zeroes, the listed service action; FORMAT
    # UNIT with FMTPINFO, refused before anything is formatted).  Runs of
    # opcodes whose CDBs differ only in byte 0 go out as one sg_raw --scan.
    sas = {op: sa for op, sa in listed if sa is not None}

    def sweep_cdb(op):
        b = bytearray(cdb_size(op))
        b[0] = op
        b[1] = sas.get(op, 0xc0 if op == 0x04 else 0)
        if op == 0x7e:
            b[3] = 12               # XCDB: 4 + additional length
        if op == 0x7f:
            b[7], b[9] = 8, 1       # variable length: 8 + additional length, SA 1
        return bytes(b)

    sweep = []
    for _, run in itertools.groupby(range(256), key=lambda op: sweep_cdb(op)[1:]):
        ops = list(run)
        scan = f"--scan={ops[0]},{ops[-1]} " if len(ops) > 1 else ""
        sweep.append(f"sg_raw -v {scan}{disk} {sweep_cdb(ops[0]).hex(' ')} 2>&1")
    out = guest.run("\n".join(sweep), timeout=300, check=False).output
    # a SCSI CDB is echoed as "cdb to send: [..]"; sg_raw takes a reserved
    # group 3 opcode (60h-7Dh) for an NVMe command, "cmd to send:" and the
    # bytes on the next line.  Either way it still goes to the disk by SG_IO,
    # but the SCSI status and sense come out as "NVMe Result" and "completion
    # queue" bytes.
    answers = {int(m.group(1), 16): m.group(2) for m in re.finditer(
        r"(?:cdb|cmd) to send: \[?\s*([0-9a-f]{2})\b(.*?)(?=(?:cdb|cmd) to send:|\Z)",
        out, re.S)}
    assert sorted(answers) == list(range(256)), out[-2000:]
    listed_ops = {op for op, _ in listed}
    for op, text in answers.items():
        text = re.sub(r"NVMe Result=0x2\nNVMe completion queue 4 DWords \(as byte string\):",
                      "SCSI Status: Check Condition\nRaw sense data (in hex)", text)
        sense = parse_sense(text)
        if op in listed_ops:
            # a status from the disk, not an error on the way to it
            assert "SCSI Status:" in text and not re.search(
                r">>> (transport error|os error|unknown pass through)", text), (hex(op), text)
            assert sense is None or sense[:3] != INVALID_OPCODE, (hex(op), text)
        else:
            assert sense is not None and sense[:3] == INVALID_OPCODE, (hex(op), text)

    # one command (001b) and one command + service action (010b)
    cdbs = [rsoc_cdb(1 if sa is None else 2, op, sa or 0) for op, sa in listed]
    for ((op, sa), size), (sense, d) in zip(listed.items(), rsoc_many(guest, disk, cdbs)):
        assert sense is None and d[1] == 0x03, (hex(op), d)       # SUPPORT 011b
        assert int.from_bytes(d[2:4], "big") == size and len(d) == 4 + size, (hex(op), d)
        assert d[4] == op and (sa is None or d[5] == sa), (hex(op), d)
    out = guest.run(f"sg_opcodes -o 0x93 {disk}").output
    assert "Command is supported [conforming to SCSI standard]" in out, out
    assert "Usage data: 93 09 " + "ff " * 12 + "1f 00" in out, out
    assert rsoc(guest, disk, 1, 0xc2) == (None, bytes([0, 1, 0, 0]))     # SUPPORT 001b
    assert rsoc(guest, disk, 2, 0x9e, 0x11) == (None, bytes([0, 1, 0, 0]))
    assert rsoc(guest, disk, 1, 0x9e)[0][:3] == INVALID_FIELD      # has service actions
    assert rsoc(guest, disk, 2, 0x28)[0][:3] == INVALID_FIELD      # has none
    assert rsoc(guest, disk, 3, 0x28)[0][:3] == INVALID_FIELD      # reporting option 011b
    # RCTD: command timeouts descriptors; recommended timeout: io_timeout (30 s) for READ
    sense, d = rsoc(guest, disk, 1, 0x28, rctd=True)
    assert d[1] == 0x83 and len(d) == 4 + 10 + 12 and d[14:16] == bytes([0, 0x0a]), d
    assert int.from_bytes(d[22:26], "big") == 30, d
    sense, d = rsoc(guest, disk, rctd=True)
    assert (len(d) - 4) // 20 == len(listed), d
    assert all(d[off + 5] & 0x02 and d[off + 8:off + 10] == bytes([0, 0x0a])
               for off in range(4, len(d), 20)), d
    # the allocation length cuts the data, not the length it reports
    sense, d = rsoc(guest, disk, alloc=12)
    assert len(d) == 12 and int.from_bytes(d[:4], "big") == 8 * len(listed), d
