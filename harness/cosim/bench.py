# SPDX-License-Identifier: GPL-2.0-or-later
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
# The stack under test, the reference, and the two crossings that tell which
# half (driver or model) a difference comes from.
# A fifth stack prices the ledger of acknowledged writes (on in the fault
# guests): cosim-nvme with ledger=on.  The reference stays last.
STACKS = [("nvme_scsi+cosim", "cosim", "nvme_scsi", {}),
          ("nvme+cosim", "cosim", "nvme", {}),
          ("nvme+cosim +ledger", "cosim", "nvme", {"ledger": True}),
          ("nvme_scsi+qemu", "qemu", "nvme_scsi", {}),
          ("nvme+qemu (ref)", "qemu", "nvme", {})]
REF = STACKS[-1][0]
# ratio column -> (numerator stack, denominator stack, what it isolates)
RATIOS = [("ours/ref", "nvme_scsi+cosim", REF, "the whole stack"),
          ("model", "nvme+cosim", REF, "cosim-nvme vs QEMU nvme, both under Linux nvme"),
          ("driver", "nvme_scsi+qemu", REF, "nvme_scsi vs Linux nvme, both on QEMU nvme"),
          ("ledger", "nvme+cosim +ledger", "nvme+cosim",
           "cosim-nvme with its ledger of acknowledged writes vs without")]
REGION = "64M"


def run_stack(model, driver, runtime, controller=None):
    cfg = config.load(None, model=model, driver=driver)
    for key, value in (controller or {}).items():
        setattr(cfg.controller, key, value)
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
    table = {label: run_stack(model, driver, runtime, ctrl)
             for label, model, driver, ctrl in STACKS}
    print(f"\nIOPS, {runtime} s per job; ratios")
    print(f"{'job':<18}" + "".join(f"{label:>20}" for label, *_ in STACKS) +
          "".join(f"{name:>9}" for name, *_ in RATIOS))
    for job, _ in JOBS:
        print(f"{job:<18}" + "".join(f"{table[label][job]:>20.0f}" for label, *_ in STACKS) +
              "".join(f"{table[num][job] / table[den][job]:>9.2f}"
                      for _, num, den, _ in RATIOS))
    for name, num, den, what in RATIOS:
        print(f"  {name}: {num} / {den}: {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(a) for a in sys.argv[1:])))
