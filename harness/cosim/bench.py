"""`make bench`: the same fio job on nvme_scsi + cosim-nvme and on the reference
stack (Linux nvme + QEMU's nvme) in one run, reported as ratios.  Numbers under
TCG compare stacks with each other; they say nothing about hardware."""
import json
import sys

from . import config
from .machine import Guest

# (name, fio options); every job runs on a prefilled region of the namespace.
JOBS = [
    ("4k randread QD32", "--rw=randread --bs=4k --iodepth=32"),
    ("4k randwrite QD32", "--rw=randwrite --bs=4k --iodepth=32"),
    ("128k read QD8", "--rw=read --bs=128k --iodepth=8"),
]
STACKS = [("nvme_scsi + cosim-nvme", "cosim", "nvme_scsi"),
          ("nvme + QEMU nvme", "qemu", "nvme")]
REGION = "64M"


def run_stack(model, driver, runtime):
    cfg = config.load(None, model=model, driver=driver)
    results = {}
    with Guest(cfg, name=f"bench-{model}-{driver}") as guest:
        guest.load_driver()
        dev = guest.block_devices()[0][0]
        base = (f"fio --filename={dev} --direct=1 --ioengine=libaio --size={REGION} "
                "--output-format=json")
        guest.run(f"{base} --name=prefill --rw=write --bs=128k --iodepth=8", timeout=600)
        for name, opts in JOBS:
            out = guest.run(f"{base} --name=job {opts} --time_based --runtime={runtime}",
                            timeout=runtime + 120).output
            job = json.loads(out[out.index("{"):])["jobs"][0]
            results[name] = job["read"]["iops"] + job["write"]["iops"]
    return results


def main(runtime=20):
    table = {label: run_stack(model, driver, runtime) for label, model, driver in STACKS}
    ours, ref = (table[label] for label, _, _ in STACKS)
    print(f"\n{'job':<20} {STACKS[0][0]:>24} {STACKS[1][0]:>20} {'ratio':>7}")
    for name, _ in JOBS:
        print(f"{name:<20} {ours[name]:>20.0f} IOPS {ref[name]:>15.0f} IOPS "
              f"{ours[name] / ref[name]:>7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:])))
