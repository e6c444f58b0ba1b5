# SPDX-License-Identifier: GPL-2.0-or-later
"""cosim-nvme as Linux's nvme driver and nvme-cli see it: the optional NVM
commands (dsm, compare, write-uncor, flush), every 1.0e feature through
get-feature / set-feature, the SMART, error and firmware slot logs, firmware
download + commit + reset, and format.

With MODEL=qemu the same tests run against QEMU's own nvme device, which
proves the tests themselves right where QEMU 7.2 does the same thing; what
it lacks is skipped with the reason (a command it does not advertise in
Identify, or a behaviour it does not have).

Read-only checks use the shared `nvme_guest`; everything that changes the
namespace or the controller (data, bad blocks, firmware, LBA format) runs on
a guest of this module's own, so the pooled guests stay as other tests expect
them."""
import os
import re

import pytest

from cosim import config
from cosim.fixtures import module_guest

pytestmark = pytest.mark.guest

CTRL, NS = "/dev/nvme0", "/dev/nvme0n1"
NLBAS_512 = 256 << 11          # the default config: one 256 MiB namespace, 512 B LBAs


MODEL = os.environ.get("MODEL") or "cosim"


@pytest.fixture(scope="module")
def cli_guest():
    """The default config on the model MODEL= names (cosim-nvme unless it is
    qemu, QEMU's own nvme), driven by Linux's nvme driver."""
    yield from module_guest(config.load(None, model=MODEL, driver="nvme"), "model-nvme-cli")


@pytest.fixture
def shared(nvme_guest):
    if nvme_guest.cfg.controller.model != "cosim":
        pytest.skip("cosim-nvme's own values")
    return nvme_guest


def is_qemu(g):
    return g.cfg.controller.model == "qemu"


def skip_on_qemu(g, why):
    if is_qemu(g):
        pytest.skip(f"QEMU 7.2's nvme: {why}")


def id_ctrl(g):
    return fields(g.run(f"nvme id-ctrl {CTRL}").output)


def require_advertised(g, field, bit, what):
    """Skip unless Identify Controller `field` (oacs, oncs) has `bit` set."""
    value = int(id_ctrl(g)[field], 0)
    if not value & bit:
        pytest.skip(f"{g.cfg.controller.model}: {what} not advertised ({field} {value:#x})")


def lba_formats(g):
    """{(ms, lbads): index} of the namespace's LBA formats, and NLBAF."""
    out = g.run(f"nvme id-ns {NS}").output
    fmts = {(int(ms), int(lbads)): int(i) for i, ms, lbads in
            re.findall(r"^lbaf\s+(\d+)\s*:\s*ms:(\d+)\s+lbads:(\d+)", out, re.M)}
    return fmts, int(fields(out)["nlbaf"])


def fields(output):
    """nvme-cli's `name : value` lines as a dict."""
    return {m.group(1): m.group(2).strip()
            for m in re.finditer(r"^(\w[\w ]*?)[ \t]*:[ \t]*(.*)$", output, re.M)}


def feature(g, fid, dev=CTRL, extra=""):
    out = g.run(f"nvme get-feature {dev} -f {fid} {extra}").output
    m = re.search(r"Current value:(?:0x)?([0-9a-f]{8})", out)
    assert m, out
    return int(m.group(1), 16)


def smart(g):
    f = fields(g.run(f"nvme smart-log {CTRL}").output)
    return {k: int(re.match(r"(0x[0-9a-f]+|\d+)", f[k]).group(1), 0)
            for k in ("critical_warning", "host_read_commands", "host_write_commands",
                      "media_errors", "num_err_log_entries", "Data Units Read",
                      "Data Units Written")}


def nvme_status(result):
    """The NVMe status nvme-cli printed for a failed command, e.g. 0x4281."""
    m = re.search(r"NVMe status: .*\((0x[0-9a-f]+)\)", result.output)
    assert result.status != 0 and m, result.output
    return int(m.group(1), 16)


def write_pattern(g, slba, blocks, path="/tmp/pat"):
    g.run(f"dd if=/dev/urandom of={path} bs=512 count={blocks} 2>/dev/null")
    g.run(f"nvme write {NS} -s {slba} -c {blocks - 1} -z {blocks * 512} -d {path}")
    return path


# ---- read-only, on the shared guest ----

def test_identify_advertises_optional_commands(shared):
    ctrl = fields(shared.run(f"nvme id-ctrl {CTRL}").output)
    assert (ctrl["oacs"], ctrl["oncs"], ctrl["frmw"]) == ("0x6", "0x7", "0x5")
    assert (ctrl["elpe"], ctrl["npss"], ctrl["vwc"]) == ("15", "2", "0x1")
    ns = shared.run(f"nvme id-ns {NS}").output
    assert re.search(r"^lbaf  0 : ms:0\s+lbads:9 .*in use", ns, re.M), ns
    assert re.search(r"^lbaf  1 : ms:0\s+lbads:12 ", ns, re.M), ns
    assert fields(ns)["nlbaf"] == "1"


def test_get_feature_defaults(shared):
    want = {1: 0, 2: 0, 4: 343, 5: 0, 6: 1, 8: 0, 0xa: 0, 0xb: 0}
    assert {fid: feature(shared, fid) for fid in want} == want
    assert feature(shared, 9, extra="--cdw11=1") == 1
    out = shared.run(f"nvme get-feature {NS} -f 3").output
    # one general purpose range, overwritable, LBA 0..NLBAS-1 (NLB 0-based)
    assert "Current value:00000000" in out, out
    assert re.search(r"^0000: 00 01 00 00", out, re.M), out
    assert re.search(r"^0010: 00 00 00 00 00 00 00 00 ff ff 07 00 00 00 00 00", out, re.M), out


def test_fw_log_and_error_log_shape(shared):
    fw = shared.run(f"nvme fw-log {CTRL}").output
    assert re.search(r"^frs1 : 0x20312d6d69736f63 \(cosim-1.\)$", fw, re.M), fw
    err = shared.run(f"nvme error-log {CTRL}").output
    assert re.search(r"^Error Log Entries for device:nvme0 entries:16$", err, re.M), err


# ---- on the module's own guest ----

def test_dsm_deallocate_reads_zeroes(cli_guest):
    g = cli_guest
    pat = write_pattern(g, 0, 8)
    g.run(f"nvme compare {NS} -s 0 -c 7 -z 4096 -d {pat}")
    assert "NVMe DSM: success" in g.run(f"nvme dsm {NS} --ad -s 0 -b 8").output
    g.run(f"nvme read {NS} -s 0 -c 7 -z 4096 -d /tmp/back")
    assert g.run("tr -d '\\000' < /tmp/back | wc -c").output.strip() == "0"
    assert nvme_status(g.run(f"nvme compare {NS} -s 0 -c 7 -z 4096 -d {pat}",
                             check=False)) == 0x285


def test_dsm_range_past_end(cli_guest):
    """A range past the end: LBA Out of Range, nothing deallocated."""
    g = cli_guest
    skip_on_qemu(g, "a Dataset Management range beyond the namespace is skipped, the "
                    "command succeeds")
    pat = write_pattern(g, NLBAS_512 - 8, 8)
    assert nvme_status(g.run(f"nvme dsm {NS} --ad -s {NLBAS_512 - 1} -b 2",
                             check=False)) == 0x4080
    g.run(f"nvme compare {NS} -s {NLBAS_512 - 8} -c 7 -z 4096 -d {pat}")


def test_compare(cli_guest):
    g = cli_guest
    # 16 blocks of 0xab, and a copy whose very last byte differs
    g.run("dd if=/dev/zero bs=512 count=16 2>/dev/null | tr '\\000' '\\253' > /tmp/cmp && "
          "cp /tmp/cmp /tmp/bad && printf '\\001' | dd of=/tmp/bad bs=1 seek=8191 conv=notrunc "
          "2>/dev/null")
    g.run(f"nvme write {NS} -s 64 -c 15 -z 8192 -d /tmp/cmp")
    assert "compare: Success" in \
        g.run(f"nvme compare {NS} -s 64 -c 15 -z 8192 -d /tmp/cmp").output
    assert nvme_status(g.run(f"nvme compare {NS} -s 64 -c 15 -z 8192 -d /tmp/bad",
                             check=False)) == 0x285
    assert nvme_status(g.run(f"nvme compare {NS} -s {NLBAS_512 - 1} -c 1 -z 1024 -d /tmp/cmp",
                             check=False)) == 0x4080


def test_write_uncorrectable(cli_guest):
    g = cli_guest
    require_advertised(g, "oncs", 0x2, "Write Uncorrectable")
    assert "Success" in g.run(f"nvme write-uncor {NS} -s 100 -c 7").output
    for slba in (100, 107):
        assert nvme_status(g.run(f"nvme read {NS} -s {slba} -c 0 -z 512 -d /tmp/r",
                                 check=False)) == 0x4281
    g.run(f"nvme read {NS} -s 99 -c 0 -z 512 -d /tmp/r")
    g.run(f"nvme read {NS} -s 108 -c 0 -z 512 -d /tmp/r")
    # the kernel's own IO sees a medium error too
    assert g.run(f"dd if={NS} of=/dev/null bs=512 skip=104 count=1 iflag=direct",
                 check=False).status != 0
    # rewriting clears the mark
    write_pattern(g, 100, 8)
    g.run(f"nvme read {NS} -s 100 -c 7 -z 4096 -d /tmp/r")
    assert nvme_status(g.run(f"nvme write-uncor {NS} -s {NLBAS_512 - 1} -c 1",
                             check=False)) == 0x4080


def test_flush_honours_write_cache(cli_guest):
    g = cli_guest
    assert "NVMe Flush: success" in g.run(f"nvme flush {NS}").output
    g.run(f"nvme set-feature {CTRL} -f 6 -v 0")
    assert feature(g, 6) == 0
    assert "NVMe Flush: success" in g.run(f"nvme flush {NS}").output
    g.run(f"nvme set-feature {CTRL} -f 6 -v 1")
    assert feature(g, 6) == 1


def test_set_feature_values(cli_guest):
    g = cli_guest
    skip_on_qemu(g, "arbitration, power management, interrupt coalescing, interrupt vector "
                    "configuration and write atomicity are not changeable (0x410e)")
    for fid, value, back in ((1, 0x04030201, 0x04030201), (2, 2, 2), (5, 0x10020, 0x20),
                             (8, 0x0a04, 0x0a04), (0xa, 1, 1)):
        g.run(f"nvme set-feature {CTRL} -f {fid} -v {value}")
        assert feature(g, fid) == back, hex(fid)
    # interrupt coalescing (5 completions or 1 ms) is in force: IO still flows
    g.run(f"dd if={NS} of=/dev/null bs=4k count=512 iflag=direct")
    g.run(f"fio --name=coalesce --filename={NS} --direct=1 --ioengine=libaio --rw=randread "
          "--bs=4k --size=8M --iodepth=16 --runtime=3 --time_based", timeout=120)
    assert nvme_status(g.run(f"nvme set-feature {CTRL} -f 2 -v 3", check=False)) == 0x4002
    assert nvme_status(g.run(f"nvme set-feature {CTRL} -f 9 -v 9", check=False)) == 0x4002
    g.run(f"nvme set-feature {CTRL} -f 9 -v 0x10002")
    assert feature(g, 9, extra="--cdw11=2") == 0x10002
    for fid in (1, 2, 5, 8, 0xa):
        g.run(f"nvme set-feature {CTRL} -f {fid} -v 0")


def test_feature_errors(cli_guest):
    g = cli_guest
    assert nvme_status(g.run(f"nvme get-feature {CTRL} -f 0xc", check=False)) == 0x4002
    assert nvme_status(g.run(f"nvme set-feature {CTRL} -f 1 -v 0 -s", check=False)) == 0x410d


def test_temperature_threshold_warning(cli_guest):
    """A threshold below the controller's temperature (cosim-nvme 310 K, QEMU
    323 K) raises the SMART temperature warning; back at 343 K it goes."""
    g = cli_guest
    g.run(f"nvme set-feature {CTRL} -f 4 -v 300")
    assert feature(g, 4) == 300
    assert smart(g)["critical_warning"] == 2
    g.run(f"nvme set-feature {CTRL} -f 4 -v 343")
    assert smart(g)["critical_warning"] == 0


def test_smart_log_counts_host_commands(cli_guest):
    g = cli_guest
    before = smart(g)
    for _ in range(3):
        write_pattern(g, 200, 8, path="/tmp/s")
    for _ in range(5):
        g.run(f"nvme read {NS} -s 200 -c 7 -z 4096 -d /tmp/r")
    after = smart(g)
    assert after["host_write_commands"] - before["host_write_commands"] == 3
    assert after["host_read_commands"] - before["host_read_commands"] == 5
    assert after["Data Units Written"] >= before["Data Units Written"] >= 1


def test_smart_log_counts_media_errors(cli_guest):
    g = cli_guest
    require_advertised(g, "oncs", 0x2, "Write Uncorrectable (to make a media error)")
    before = smart(g)
    g.run(f"nvme write-uncor {NS} -s 300 -c 0")
    nvme_status(g.run(f"nvme read {NS} -s 300 -c 0 -z 512 -d /tmp/r", check=False))
    g.run(f"nvme dsm {NS} --ad -s 300 -b 1")
    after = smart(g)
    assert after["media_errors"] - before["media_errors"] == 1
    assert after["num_err_log_entries"] - before["num_err_log_entries"] == 1


def test_error_log_keeps_the_latest_failures(cli_guest):
    g = cli_guest
    skip_on_qemu(g, "the error log has no entries")
    require_advertised(g, "oncs", 0x2, "Write Uncorrectable (to make a media error)")
    g.run(f"nvme write-uncor {NS} -s 400 -c 0")
    nvme_status(g.run(f"nvme read {NS} -s 400 -c 0 -z 512 -d /tmp/r", check=False))
    nvme_status(g.run(f"nvme dsm {NS} --ad -s {NLBAS_512} -b 1", check=False))
    nvme_status(g.run(f"nvme set-feature {CTRL} -f 2 -v 7", check=False))
    g.run(f"nvme dsm {NS} --ad -s 400 -b 1")
    out = g.run(f"nvme error-log {CTRL} -e 3").output
    entries = [fields(e) for e in re.split(r"Entry\[\s*\d+\]", out)[1:]]
    assert len(entries) == 3, out
    counts = [int(e["error_count"]) for e in entries]
    assert counts == [counts[0], counts[0] - 1, counts[0] - 2], out
    assert [e["status_field"].split("(")[0] for e in entries] == ["0x4002", "0x4080", "0x4281"]
    assert [e["sqid"] for e in entries][0] == "0"
    assert entries[2]["lba"] == hex(400) and entries[2]["nsid"] == "0x1", out


def test_firmware_download_commit_reset(cli_guest):
    g = cli_guest
    require_advertised(g, "oacs", 0x4, "Firmware Image Download / Commit")
    fw = fields(g.run(f"nvme fw-log {CTRL}").output)
    assert fw["afi"] == "0x1" and "frs2" not in fw
    g.run("printf 'GUEST-02' > /tmp/fw && dd if=/dev/zero bs=4088 count=3 >> /tmp/fw "
          "2>/dev/null")
    assert "Firmware download success" in g.run(f"nvme fw-download {CTRL} -f /tmp/fw").output
    assert nvme_status(g.run(f"nvme fw-commit {CTRL} -s 1 -a 0", check=False)) == 0x4106
    assert nvme_status(g.run(f"nvme fw-commit {CTRL} -s 3 -a 0", check=False)) == 0x4106
    assert nvme_status(g.run(f"nvme fw-commit {CTRL} -s 0 -a 3", check=False)) == 0x4002
    assert "Success committing firmware action:1 slot:2" in \
        g.run(f"nvme fw-commit {CTRL} -s 2 -a 1").output
    fw = fields(g.run(f"nvme fw-log {CTRL}").output)
    assert fw["afi"] == "0x21" and fw["frs2"] == "0x32302d5453455547 (GUEST-02)", fw
    assert fields(g.run(f"nvme id-ctrl {CTRL}").output)["fr"] == "cosim-1"
    g.run(f"nvme reset {CTRL}")
    g.wait_until(f"nvme id-ctrl {CTRL} | grep -q '^fr .*GUEST-02'")
    assert fields(g.run(f"nvme fw-log {CTRL}").output)["afi"] == "0x2"
    # nothing downloaded any more; slot 1 comes back with action 2
    assert nvme_status(g.run(f"nvme fw-commit {CTRL} -s 2 -a 0", check=False)) == 0x4107
    g.run(f"nvme fw-commit {CTRL} -s 1 -a 2")
    g.run(f"nvme reset {CTRL}")
    g.wait_until(f"nvme id-ctrl {CTRL} | grep -q '^fr .*cosim-1'")
    g.run(f"dd if={NS} of=/dev/null bs=4k count=16 iflag=direct")


def test_format_lba_size_and_user_data_erase(cli_guest):
    g = cli_guest
    require_advertised(g, "oacs", 0x2, "Format NVM")
    fmts, nlbaf = lba_formats(g)
    lbaf_512, lbaf_4k = fmts[(0, 9)], fmts[(0, 12)]
    assert "Success formatting namespace:1" in g.run(f"nvme format {NS} -l {lbaf_4k} -f").output
    g.wait_until("test $(cat /sys/block/nvme0n1/queue/logical_block_size) = 4096")
    ns = fields(g.run(f"nvme id-ns {NS}").output)
    assert (ns["nsze"], int(ns["flbas"], 0) & 0xf) == ("0x10000", lbaf_4k)
    g.run(f"dd if=/dev/urandom of={NS} bs=4096 count=16 oflag=direct")
    assert g.run(f"dd if={NS} bs=4096 count=16 iflag=direct 2>/dev/null | tr -d '\\000' | "
                 "wc -c").output.strip() != "0"
    assert nvme_status(g.run(f"nvme format {NS} -l {nlbaf + 1} -f", check=False)) == 0x410a
    if not is_qemu(g):      # QEMU 7.2 ignores SES; cosim-nvme has no crypto erase (FNA 0)
        assert nvme_status(g.run(f"nvme format {NS} -l {lbaf_512} -s 2 -f",
                                 check=False)) == 0x4002
    assert "Success formatting namespace:1" in \
        g.run(f"nvme format {NS} -l {lbaf_512} -s 1 -f").output
    g.wait_until("test $(cat /sys/block/nvme0n1/queue/logical_block_size) = 512")
    ns = fields(g.run(f"nvme id-ns {NS}").output)
    assert (ns["nsze"], int(ns["flbas"], 0) & 0xf) == (hex(NLBAS_512), lbaf_512)
    assert g.run(f"dd if={NS} bs=4096 count=16 iflag=direct 2>/dev/null | tr -d '\\000' | "
                 "wc -c").output.strip() == "0"
    g.run(f"dd if=/dev/urandom of={NS} bs=4096 count=16 oflag=direct")
