"""nvme_scsi on the smallest IO queues a controller may offer: CAP.MQES 1
(2 entries: one command at a time) and 3 (4 entries).  blk-mq gets what the
SQ can hold less the slot that stays empty and the slots kept for the
driver's own commands; where too few are left to keep any back, passthrough
commands share the slots with blk-mq.  fio verifies at queue depth 32 while
passthrough reads run beside it, and nothing may time out or be reset."""
import pytest

from cosim import config
from cosim.machine import module_guest
from cosim.workload import fio_verify
from driver_helpers import chardev, first_disk, queue_stats, scsi_host

pytestmark = pytest.mark.guest

# CAP.MQES -> (IO queue entries, blk-mq tags = can_queue)
TINY = {1: (2, 1), 3: (4, 2)}


@pytest.fixture(scope="module", params=sorted(TINY), ids=lambda m: f"mqes{m}")
def tiny(request):
    cfg = config.from_env()
    if cfg.controller.model != "cosim" or cfg.driver.name != "nvme_scsi":
        pytest.skip("CAP.MQES is a cosim-nvme property; nvme_scsi's own sysfs")
    cfg.controller.mqes = request.param
    yield from module_guest(cfg, f"queues-mqes{request.param}")


def test_tiny_queue_shape(tiny):
    """Queue depth MQES+1, can_queue as computed, the admin queue unaffected
    (MQES limits IO queues only)."""
    mqes = tiny.cfg.controller.mqes
    depth, tags = TINY[mqes]
    dev = chardev(tiny)
    sysfs = f"/sys/class/scsi_host/{scsi_host(tiny, dev)}"
    assert tiny.run(f"cat {sysfs}/nvme_queue_depth").output.strip() == str(depth)
    assert tiny.run(f"cat {sysfs}/can_queue").output.strip() == str(tags)
    stats = queue_stats(tiny, dev)
    assert stats["queues"][0]["depth"] == 32, stats
    assert all(q["depth"] == depth for qid, q in stats["queues"].items() if qid), stats
    log = tiny.run("dmesg | grep 'IO queue(s) of depth'").output
    assert f"of depth {depth} ({tags} tags" in log, log


def test_tiny_queue_fio_verify_qd32(tiny):
    """fio verify at iodepth 32 (two jobs, one per CPU and so per IO queue)
    with 100 passthrough reads beside it: all data checks out, every command
    the driver submitted completed, no timeout, abort or reset."""
    dev, disk = chardev(tiny), first_disk(tiny)
    before = queue_stats(tiny, dev)
    tiny.run("rm -f /tmp/pt.rc; (i=0; while [ $i -lt 100 ]; do "
             f"nvme io-passthru {dev} --opcode=2 --namespace-id=1 --data-len=4096 "
             "--read --cdw12=7 > /dev/null 2>&1 || break; i=$((i+1)); done; "
             "echo $i > /tmp/pt.rc) > /dev/null 2>&1 &")
    res = fio_verify(tiny, disk, "--rw=randwrite --bs=4k --size=16M --iodepth=32",
                     "--numjobs=2 --offset_increment=16M --group_reporting",
                     timeout=900)
    assert res.errors == 0, res.output[-2000:]
    tiny.wait_until("[ -e /tmp/pt.rc ]", timeout=300)
    assert tiny.run("cat /tmp/pt.rc").output.strip() == "100"
    after = queue_stats(tiny, dev)
    assert after["state"] == "live" and after["resets"] == before["resets"], after
    for qid, q in after["queues"].items():
        assert q["submitted"] == q["completed"] + q["cancelled"], (qid, q)
        assert q["timeouts"] == before["queues"][qid]["timeouts"], (qid, before, after)
    io = [q for qid, q in after["queues"].items() if qid]
    assert sum(q["submitted"] for q in io) > 2 * 4096, after
