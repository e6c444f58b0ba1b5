# SPDX-License-Identifier: GPL-2.0-or-later
"""The fault engine of cosim-nvme over QMP (cosim-nvme-fault-add/-list/
-remove/-clear) and its effect on a device driven over qtest."""
import json
import struct
import time

import pytest

from nvme_qtest import (ADM_ABORT, ADM_IDENTIFY, CC, CMD_READ, CMD_WRITE, COSIM_DEVICE,
                        COSIM_VENDOR, CSTS, CSTS_CFS, CSTS_RDY, PAGE, SC_SUCCESS, qemu_args)

pytestmark = pytest.mark.device

SC_ABORT_REQ = 0x007
SC_READ_ERROR = 0x281


def fault_add(vm, **args):
    r = vm.qmp("cosim-nvme-fault-add", id="nvme0", **args)
    assert "return" in r, r
    return r["return"]["rule"]


def fault_list(vm):
    r = vm.qmp("cosim-nvme-fault-list", id="nvme0")
    assert "return" in r, r
    return r["return"]


def stats(vm):
    return vm.qmp("qom-get", path="/machine/peripheral/nvme0", property="stats")["return"]


def submit_read(nvme, q, cid, buf, slba=0, nlb=8):
    nvme.submit(q, nvme.sqe(CMD_READ, cid, nsid=1, prp1=buf, cdw10=slba, cdw12=nlb - 1))


def test_drop_then_abort(vm, nvme):
    """A dropped Read never completes; Abort finds it: Abort succeeds (dword 0
    bit 0 = 0) and the Read completes with 0/07h Command Abort Requested."""
    assert vm.qmp("cosim-nvme-fault-add", id="nvme0", action="drop", queue="io",
                  opcode=2, count=1) == {"return": {"rule": 1}}
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)
    submit_read(nvme, q, 0x55, buf)
    assert nvme.no_completion(q)
    assert stats(vm)["commands-dropped"] == 1
    assert vm.qmp("qom-get", path="/machine/peripheral/nvme0",
                  property="commands-dropped")["return"] == 1
    # Abort of a CID that is not outstanding: "not aborted"
    c = nvme.admin_cmd(ADM_ABORT, cdw10=1 | 0x56 << 16)
    assert c.sc == SC_SUCCESS and c.dw0 & 1 == 1, c
    c = nvme.admin_cmd(ADM_ABORT, cdw10=1 | 0x55 << 16)
    assert c.sc == SC_SUCCESS and c.dw0 & 1 == 0, c
    cqe = nvme.poll(q)
    assert cqe.cid == 0x55 and cqe.sc == SC_ABORT_REQ, cqe
    # the rule fired once; the queue works on
    assert nvme.rw(q, CMD_READ, 1, 0, 8, buf, PAGE).sc == SC_SUCCESS
    rules = fault_list(vm)
    assert len(rules) == 1
    assert rules[0]["rule"] == 1 and rules[0]["action"] == "drop"
    assert rules[0]["queue"] == "io" and rules[0]["opcode"] == 2
    assert rules[0]["hits"] == 1 and rules[0]["active"] is False
    st = stats(vm)
    assert st["aborts"] == 2 and st["aborts-succeeded"] == 1


def test_drop_disposed_by_reset(vm, nvme):
    fault_add(vm, action="drop", queue=1)
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)
    submit_read(nvme, q, 7, buf)
    assert nvme.no_completion(q)
    nvme.enable()                   # CC.EN 0 then 1: the dropped Read is gone
    q = nvme.create_io_queues(1, 16)
    assert nvme.rw(q, CMD_READ, 1, 0, 8, buf, PAGE).sc == SC_SUCCESS
    assert stats(vm)["resets"] >= 1


def test_status(vm, nvme):
    fault_add(vm, action="status", queue="1", opcode=CMD_READ, sct=2, sc=0x81, dnr=True,
              count=0)
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)
    for _ in range(3):
        c = nvme.rw(q, CMD_READ, 1, 0, 8, buf, PAGE)
        assert c.sc == SC_READ_ERROR and c.dnr, c
    assert nvme.rw(q, CMD_WRITE, 1, 0, 8, buf, PAGE).sc == SC_SUCCESS
    assert nvme.identify(1)[0].sc == SC_SUCCESS
    (rule,) = fault_list(vm)
    assert rule["hits"] == 3 and rule["active"] is True and rule["count"] == 0
    assert (rule["sct"], rule["sc"], rule["dnr"], rule["more"]) == (2, 0x81, True, False)
    assert stats(vm)["status-injected"] == 3


def test_status_after_execute(vm, nvme):
    """execute: the Write reaches the image (a Read gets its data back) and
    only the completion says 0/07h; a plain status rule never writes."""
    fault_add(vm, action="status", opcode=CMD_WRITE, sc=7, execute=True,
              **{"lba-start": 32, "lba-end": 39})
    fault_add(vm, action="status", opcode=CMD_WRITE, sc=7, **{"lba-start": 48, "lba-end": 55})
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)
    data = bytes(range(1, 256)) * 16 + b"\x5a" * 16
    nvme.qt.memwrite(buf, data)
    assert nvme.rw(q, CMD_WRITE, 1, 32, 8, buf, PAGE).sc == SC_ABORT_REQ
    assert nvme.rw(q, CMD_WRITE, 1, 48, 8, buf, PAGE).sc == SC_ABORT_REQ
    for slba, want in ((32, data), (48, bytes(PAGE))):
        nvme.qt.memset(buf, PAGE)
        assert nvme.rw(q, CMD_READ, 1, slba, 8, buf, PAGE).sc == SC_SUCCESS
        assert nvme.qt.memread(buf, PAGE) == want, f"LBA {slba}"
    executed, plain = fault_list(vm)
    assert executed["execute"] is True and plain["execute"] is False
    assert stats(vm)["status-injected"] == 2


def test_vanish(vm, nvme):
    """At the matching Write the controller drops off the bus: config space
    and BAR0 read all ones, nothing completes, nothing reaches it; a system
    reset (power cycle) brings it back."""
    fault_add(vm, action="vanish", queue="io", opcode=CMD_WRITE)
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)
    assert nvme.rw(q, CMD_READ, 1, 0, 8, buf, PAGE).sc == SC_SUCCESS
    nvme.submit(q, nvme.sqe(CMD_WRITE, 7, nsid=1, prp1=buf, cdw12=7))
    assert nvme.no_completion(q)
    assert nvme.pci.read32(0) == 0xffffffff             # vendor/device ID
    assert nvme.readl(CSTS) == 0xffffffff and nvme.readq(0) == 2**64 - 1
    submit_read(nvme, q, 8, buf)
    nvme.writel(CC, 0)
    assert nvme.no_completion(q)
    st = stats(vm)
    assert st["vanished"] == 1 and st["resets"] == 0
    assert vm.qmp("qom-get", path="/machine/peripheral/nvme0",
                  property="cc")["return"] & 1 == 1   # the CC write went nowhere
    vm.qmp("system_reset")
    assert nvme.pci.read32(0) == COSIM_DEVICE << 16 | COSIM_VENDOR
    nvme.map_bars()
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    assert nvme.rw(q, CMD_READ, 1, 0, 8, buf, PAGE).sc == SC_SUCCESS


def test_nth_and_lba_range(vm, nvme):
    fault_add(vm, action="status", sc=4, nth=2, **{"lba-start": 100, "lba-end": 199})
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)
    got = [nvme.rw(q, CMD_READ, 1, slba, 8, buf, PAGE).sc
           for slba in (0, 96, 300, 150, 192, 200)]
    # matching reads: 96 (96..103) and 150: the second one fails
    assert got == [0, 0, 0, 4, 0, 0]
    assert fault_list(vm)[0]["matches"] == 2


def test_cfs(vm, nvme):
    fault_add(vm, action="cfs", queue="io")
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    submit_read(nvme, q, 3, nvme.alloc(PAGE))
    nvme.wait_csts(CSTS_CFS, CSTS_CFS)
    assert nvme.no_completion(q)
    nvme.enable()                   # a reset clears CFS
    assert nvme.readl(CSTS) == CSTS_RDY


def test_ready_delay(vm, nvme):
    """CSTS.RDY stays 0 for `ms` of virtual time after CC.EN=1 (qtest: the
    virtual clock moves only with clock_step)."""
    fault_add(vm, action="ready-delay", ms=50)
    nvme.start_enable(qsize=8)
    assert nvme.readl(CSTS) == 0
    nvme.qt.cmd(f"clock_step {49 * 1000000}")
    assert nvme.readl(CSTS) == 0
    nvme.qt.cmd(f"clock_step {2 * 1000000}")
    assert nvme.readl(CSTS) == CSTS_RDY
    # for ever: CC.EN=0 is the way out, the next enable is immediate
    fault_add(vm, action="ready-delay", ms=-1)
    nvme.start_enable(qsize=8)
    nvme.qt.cmd(f"clock_step {10 * 1000000000}")
    assert nvme.readl(CSTS) == 0
    nvme.enable()
    assert nvme.identify(1)[0].sc == SC_SUCCESS


def test_ignore_shutdown(vm, nvme):
    fault_add(vm, action="ignore-shutdown")
    nvme.enable()
    cc = nvme.readl(CC)
    nvme.writel(CC, cc | 1 << 14)
    nvme.qt.cmd(f"clock_step {1000000000}")
    assert nvme.readl(CSTS) >> 2 & 3 == 1        # occurring, for ever
    nvme.writel(CC, cc)
    nvme.writel(CC, cc | 1 << 14)
    nvme.wait_csts(0xc, 0x8)                    # the rule was used up


def test_delay(vm, nvme):
    fault_add(vm, action="delay", queue="io", **{"delay-us": 2000})
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)
    submit_read(nvme, q, 9, buf)
    assert nvme.no_completion(q, wait=0.1)
    nvme.qt.cmd(f"clock_step {1000000}")
    assert nvme.no_completion(q, wait=0.1)
    nvme.qt.cmd(f"clock_step {1000000}")
    cqe = nvme.poll(q)
    assert cqe.cid == 9 and cqe.sc == SC_SUCCESS, cqe
    assert stats(vm)["commands-delayed"] == 1


def test_drop_irq_completion_found_by_polling(vm, nvme):
    """drop-irq: the CQE is posted but its MSI-X message is not sent."""
    msgs = nvme.alloc(PAGE)
    nvme.enable_msix(msgs)
    nvme.enable()

    def fired():
        return nvme.msix_fired(msgs)

    q = nvme.create_io_queues(1, 16, vector=1, ien=True)
    fired()
    fault_add(vm, action="drop-irq", cq=1, count=2)
    buf = nvme.alloc(PAGE)
    for _ in range(2):
        assert nvme.rw(q, CMD_READ, 1, 0, 8, buf, PAGE).sc == SC_SUCCESS
        assert fired() == set()
    assert nvme.identify(1)[0].sc == SC_SUCCESS
    assert fired() == {0}
    assert nvme.rw(q, CMD_READ, 1, 0, 8, buf, PAGE).sc == SC_SUCCESS
    assert fired() == {1}
    assert stats(vm)["irqs-dropped"] == 2


def test_dup_and_bad_cid(vm, nvme):
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)
    fault_add(vm, action="dup-completion", queue="io")
    submit_read(nvme, q, 0x21, buf)
    a, b = nvme.poll(q), nvme.poll(q)
    assert a.cid == b.cid == 0x21 and a.sc == b.sc == SC_SUCCESS
    assert nvme.no_completion(q, wait=0.05)
    fault_add(vm, action="bad-cid", queue="io")
    submit_read(nvme, q, 0x22, buf)
    a, b = nvme.poll(q), nvme.poll(q)
    assert a.cid != 0x22 and b.cid == 0x22
    assert nvme.no_completion(q, wait=0.05)
    assert stats(vm)["extra-completions"] == 2


def test_corrupt_read(vm, nvme):
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)
    data = bytes(range(256)) * 16
    nvme.qt.memwrite(buf, data)
    assert nvme.rw(q, CMD_WRITE, 1, 16, 8, buf, PAGE).sc == SC_SUCCESS
    fault_add(vm, action="corrupt-read", **{"lba-start": 16, "lba-end": 23})
    nvme.qt.memset(buf, PAGE)
    assert nvme.rw(q, CMD_READ, 1, 16, 8, buf, PAGE).sc == SC_SUCCESS
    got = nvme.qt.memread(buf, PAGE)
    want = bytearray(data)
    for lba in range(8):
        want[lba * 512] ^= 0xff
    assert got == bytes(want)
    # the image is intact: the next read is clean
    assert nvme.rw(q, CMD_READ, 1, 16, 8, buf, PAGE).sc == SC_SUCCESS
    assert nvme.qt.memread(buf, PAGE) == data


def test_write_lies_reach_the_image(vm, nvme, image):
    """lose-, torn- and misdirected-write as the image shows them: each
    Write completes with success and the medium tells the truth."""
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)

    def write(slba, byte):
        nvme.qt.memwrite(buf, bytes([byte]) * PAGE)
        assert nvme.rw(q, CMD_WRITE, 1, slba, 8, buf, PAGE).sc == SC_SUCCESS

    def lba(n):
        with open(image, "rb") as f:
            f.seek(n * 512)
            return f.read(1)[0]

    fault_add(vm, action="lose-write")
    write(64, 0x11)
    fault_add(vm, action="torn-write", value=3)
    write(80, 0x22)
    fault_add(vm, action="misdirected-write", value=100)
    write(96, 0x33)
    assert [lba(64 + i) for i in range(8)] == [0] * 8
    assert [lba(80 + i) for i in range(8)] == [0x22] * 3 + [0] * 5
    assert [lba(96 + i) for i in range(8)] == [0] * 8
    assert [lba(196 + i) for i in range(8)] == [0x33] * 8
    st = stats(vm)
    assert (st["writes-lost"], st["writes-torn"], st["writes-misdirected"]) == (1, 1, 1)


def test_stale_read_serves_old_data_once(vm, nvme, image):
    """stale-read: the Write reaches the image, the next Read of its LBAs
    returns what they held before, the Read after that the truth."""
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)

    def write(byte):
        nvme.qt.memwrite(buf, bytes([byte]) * PAGE)
        assert nvme.rw(q, CMD_WRITE, 1, 300, 8, buf, PAGE).sc == SC_SUCCESS

    def read():
        nvme.qt.memset(buf, PAGE, 0xee)
        assert nvme.rw(q, CMD_READ, 1, 300, 8, buf, PAGE).sc == SC_SUCCESS
        return set(nvme.qt.memread(buf, PAGE))

    write(0x11)
    fault_add(vm, action="stale-read")
    write(0x22)
    with open(image, "rb") as f:
        f.seek(300 * 512)
        assert set(f.read(PAGE)) == {0x22}
    assert read() == {0x11}
    assert read() == {0x22}
    # a later Write supersedes what the cache kept
    fault_add(vm, action="stale-read")
    write(0x33)
    write(0x44)
    assert read() == {0x44}
    assert stats(vm)["writes-stale"] == 2


def test_patch_data(vm, nvme):
    """Identify Controller as lying firmware sends it: NN (bytes 516..519)
    reads 0xffffffff once; the next Identify is the model's own again."""
    nvme.enable()
    _, real = nvme.identify(1)
    nn = struct.unpack_from("<I", real, 516)[0]
    assert nn != 0xffffffff
    fault_add(vm, action="patch-data", queue="admin", opcode=ADM_IDENTIFY,
              offset=516, width=4, value=0xffffffff)
    rule = fault_list(vm)[0]
    assert (rule["offset"], rule["width"], rule["value"]) == (516, 4, 0xffffffff)
    cqe, lied = nvme.identify(1)
    assert cqe.sc == SC_SUCCESS
    assert struct.unpack_from("<I", lied, 516)[0] == 0xffffffff
    assert lied[:516] == real[:516] and lied[520:] == real[520:]
    assert nvme.identify(1)[1] == real
    assert fault_list(vm)[0]["hits"] == 1


def test_sq_head(vm, nvme):
    """A completion whose SQ head lies outside the queue (0xffff): the
    command itself completes normally, the next CQE has the real head."""
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)
    fault_add(vm, action="sq-head", queue="io", value=0xffff)
    c = nvme.rw(q, CMD_READ, 1, 0, 8, buf, PAGE)
    assert c.sc == SC_SUCCESS and c.sq_head == 0xffff, c
    c = nvme.rw(q, CMD_READ, 1, 0, 8, buf, PAGE)
    assert c.sc == SC_SUCCESS and c.sq_head == 2, c


def test_list_remove_clear(vm, nvme):
    assert fault_add(vm, action="drop", queue="admin", opcode=ADM_IDENTIFY) == 1
    assert fault_add(vm, action="delay", queue=3, **{"delay-us": 10}) == 2
    assert fault_add(vm, action="status", sc=6, probability=0.25, seed=7, count=0) == 3
    rules = fault_list(vm)
    assert [r["rule"] for r in rules] == [1, 2, 3]
    assert rules[0]["queue"] == "admin" and rules[0]["opcode"] == ADM_IDENTIFY
    assert rules[1]["queue"] == 3 and rules[1]["delay-us"] == 10
    assert rules[2]["probability"] == 0.25 and rules[2]["seed"] == 7
    assert all(r["hits"] == 0 and r["matches"] == 0 for r in rules)
    assert vm.qmp("cosim-nvme-fault-remove", id="nvme0", rule=2) == {"return": {}}
    assert [r["rule"] for r in fault_list(vm)] == [1, 3]
    r = vm.qmp("cosim-nvme-fault-remove", id="nvme0", rule=2)
    assert "'rule' 2 does not exist" in r["error"]["desc"]
    assert vm.qmp("cosim-nvme-fault-clear", id="nvme0") == {"return": {}}
    assert fault_list(vm) == []
    assert fault_add(vm, action="drop") == 4          # numbers are not reused


BAD_RULES = [
    ({"action": "explode"}, "'action' must be one of drop, delay, status, cfs, "
                            "ready-delay, ignore-shutdown, drop-irq, dup-completion, "
                            "bad-cid, corrupt-read"),
    ({"action": "drop", "queue": 70000}, "'queue' 70000 out of range"),
    ({"action": "drop", "queue": "70000"}, "'queue' 70000 out of range"),
    ({"action": "drop", "queue": -1}, "'queue'"),
    ({"action": "drop", "queue": "sq1"}, "'queue' must be admin, io, any or a queue id"),
    ({"action": "drop", "queue": [1]}, "'queue'"),
    ({"action": "drop", "queue": 1.5}, "'queue'"),
    ({"action": "drop", "opcode": 256}, "'opcode' 256 out of range"),
    ({"action": "drop", "nsid": -1}, "'nsid'"),
    ({"action": "drop", "lba-start": 10, "lba-end": 5}, "'lba-end'"),
    ({"action": "drop", "nth": 0}, "'nth'"),
    ({"action": "drop", "every": 0}, "'every'"),
    ({"action": "drop", "count": -1}, "'count'"),
    ({"action": "drop", "probability": 0}, "'probability'"),
    ({"action": "drop", "probability": 1.5}, "'probability'"),
    ({"action": "delay"}, "'delay-us' is required"),
    ({"action": "drop", "delay-us": 5}, "'delay-us' does not apply to action drop"),
    ({"action": "status"}, "'sc' is required"),
    ({"action": "status", "sc": 1, "sct": 9}, "'sct'"),
    ({"action": "status", "sc": 300}, "'sc'"),
    ({"action": "drop", "execute": True}, "'execute' does not apply to action drop"),
    ({"action": "ready-delay"}, "'ms' is required"),
    ({"action": "ready-delay", "ms": -5}, "'ms'"),
    ({"action": "ready-delay", "ms": 5, "opcode": 1}, "'opcode' does not apply"),
    ({"action": "drop-irq", "cq": 9}, "'cq'"),
    ({"action": "corrupt-read", "opcode": 1}, "'opcode'"),
    ({"action": "patch-data", "value": 1}, "'offset' is required"),
    ({"action": "patch-data", "offset": 4}, "'value' is required"),
    ({"action": "patch-data", "offset": 65536, "value": 1}, "'offset' 65536 out of range"),
    ({"action": "patch-data", "offset": 4, "value": 1, "width": 9}, "'width'"),
    ({"action": "patch-data", "offset": 4, "value": 256}, "'value' 256 does not fit"),
    ({"action": "patch-data", "offset": 4, "value": 1, "queue": "io"},
     "'queue' must be admin"),
    ({"action": "sq-head"}, "'value' is required"),
    ({"action": "sq-head", "value": 65536}, "'value' 65536 out of range"),
    ({"action": "drop", "width": 2}, "'width' does not apply to action drop"),
    # QAPI's own checks name the parameter too
    ({"action": "drop", "opcode": "two"}, "'opcode'"),
    ({"action": "drop", "bogus": 1}, "'bogus'"),
    ({}, "'action'"),
]


@pytest.mark.parametrize("args,message", BAD_RULES,
                         ids=[str(i) for i in range(len(BAD_RULES))])
def test_bad_rule_is_a_qmp_error(vm, args, message):
    r = vm.qmp("cosim-nvme-fault-add", id="nvme0", **args)
    assert "error" in r, r
    assert message in r["error"]["desc"], r
    assert fault_list(vm) == []
    assert vm.qmp("query-status")["return"]["status"]


def test_bad_id_and_malformed_calls(vm):
    for cmd, args in (("cosim-nvme-fault-add", {"id": "nope", "action": "drop"}),
                      ("cosim-nvme-fault-list", {"id": "ns1"}),
                      ("cosim-nvme-fault-clear", {"id": ""}),
                      ("cosim-nvme-fault-remove", {"id": "nvme0", "rule": -3}),
                      ("cosim-nvme-fault-remove", {"id": "nvme0", "rule": 2 ** 40}),
                      ("cosim-nvme-fault-list", {}),
                      ("cosim-nvme-fault-remove", {"id": "nvme0", "rule": "1"})):
        r = vm.qmp(cmd, **args)
        assert "error" in r, (cmd, args, r)
    r = vm.qmp("cosim-nvme-fault-list", id="nope")
    assert "'id' 'nope' is not a cosim-nvme controller" in r["error"]["desc"]
    # the QOM path works as well as the id
    assert vm.qmp("cosim-nvme-fault-list", id="/machine/peripheral/nvme0") == {"return": []}
    assert vm.qmp("query-status")["return"]["status"]


def test_faults_property(launch, image, tmp_path):
    rules = tmp_path / "faults.json"
    rules.write_text(json.dumps([{"action": "drop", "queue": "io", "opcode": 2},
                                 {"action": "ready-delay", "ms": 5}]))
    vm = launch(qemu_args(image, ctrl_props=f"serial=QT0001,faults={rules}"))
    got = vm.qmp("cosim-nvme-fault-list", id="nvme0")["return"]
    assert [(r["rule"], r["action"]) for r in got] == [(1, "drop"), (2, "ready-delay")]


def test_faults_property_bad_rule(launch, image, tmp_path):
    from qemu.machine.machine import VMLaunchFailure

    rules = tmp_path / "faults.json"
    rules.write_text(json.dumps([{"action": "drop"}, {"action": "drop", "nth": 0}]))
    with pytest.raises(VMLaunchFailure) as exc:
        launch(qemu_args(image, ctrl_props=f"faults={rules}"))
    assert "rule 2: fault rule: 'nth'" in str(exc.value.output)


def test_stats(vm, nvme):
    nvme.enable()
    q = nvme.create_io_queues(1, 16)
    buf = nvme.alloc(PAGE)
    for _ in range(3):
        assert nvme.rw(q, CMD_READ, 1, 0, 8, buf, PAGE).sc == SC_SUCCESS
    st = stats(vm)
    assert st["io-submitted"] == st["io-completed"] == 3
    assert st["admin-submitted"] == st["admin-completed"] == 2
    assert st["commands-completed"] == 5
    assert vm.qmp("qom-get", path="/machine/peripheral/nvme0",
                  property="commands-completed")["return"] == 5
    assert st["commands-dropped"] == 0
    assert st["queues"] == {"0": {"submitted": 2, "completed": 2},
                            "1": {"submitted": 3, "completed": 3}}


def test_drop_irq_pin_based(vm, nvme):
    """MSI-X off: the dropped completion leaves INTx (PCI status bit 3) low, yet
    the CQE is there for a polling driver; the next one asserts INTx."""
    nvme.enable()
    q = nvme.create_io_queues(1, 16, vector=1, ien=True)
    buf = nvme.alloc(PAGE)

    def intx():
        return bool(nvme.pci.read16(0x06) & 0x8)

    def wait_posted(cid):
        deadline = time.monotonic() + 10     # the read runs in QEMU's main loop: allow for load
        while time.monotonic() < deadline:
            raw = nvme.qt.memread(q.cq_base + q.cq_head * 16, 16)
            if raw[14] & 1 == q.phase:
                assert struct.unpack_from("<H", raw, 12)[0] == cid
                return
            time.sleep(0.001)
        raise TimeoutError("no completion")

    assert not intx()
    fault_add(vm, action="drop-irq", cq=1)
    submit_read(nvme, q, 0x31, buf)
    wait_posted(0x31)
    assert not intx()
    assert nvme.poll(q).cid == 0x31
    submit_read(nvme, q, 0x32, buf)
    wait_posted(0x32)
    assert intx()
    assert nvme.poll(q).cid == 0x32        # the CQ head doorbell lowers it
    assert not intx()
    assert stats(vm)["irqs-dropped"] == 1
