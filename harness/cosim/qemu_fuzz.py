# SPDX-License-Identifier: GPL-2.0-or-later
"""QEMU's own fuzzer on cosim-nvme: generic-fuzz (tests/qtest/fuzz) in a
clang build of the same tree with ASan and UBSan (qemu_build.build(fuzz=True)).

generic-fuzz reads an input as operations separated by "FUZZ": MMIO and PIO
accesses to the regions QEMU_FUZZ_OBJECTS names, PCI config cycles, clock
steps, and patterns that fill whatever the device reads by DMA.  From nothing
it takes long to bring a controller up, so the seeds written here do that:
admin queues, CC.EN, commands on the admin and an I/O queue pair, a PRP list
that chains back into itself.

    python3 -m cosim.qemu_fuzz SECONDS [JOBS]
"""
import os
import struct
import subprocess
import sys
from pathlib import Path

from . import paths, qemu_build

FUZZ_DIR = paths.BUILD / "qemu-fuzz"
SEP = b"FUZZ"
# generic-fuzz's opcodes (first byte of an operation, modulo their count)
OP_WRITE, OP_PCI_WRITE, OP_ADD_DMA_PATTERN, OP_CLOCK_STEP = 3, 5, 7, 9
LONG, QUAD = 2, 3

# NVMe registers and the guest memory the seeds use (the VM has 512 MiB)
AQA, ASQ, ACQ, CC, DBS = 0x24, 0x28, 0x30, 0x14, 0x1000
ADMIN_SQ, ADMIN_CQ, IO_SQ, IO_CQ, DATA = 0x100000, 0x110000, 0x120000, 0x130000, 0x200000
CC_ENABLE = 0x00460001      # IOCQES 4, IOSQES 6, EN


def qemu_args(image):
    return " ".join([
        "-machine q35 -nodefaults",
        *[f"-L {d}" for d in paths.FIRMWARE_DIRS],
        # a volatile write cache and the ledger: Writes take their extra stages
        "-device cosim-nvme,id=nvme0,serial=FUZZ0001,volatile-cache-mb=1,ledger=on",
        # -fork=N runs N fuzzing processes on the one image: no image lock
        f"-blockdev driver=file,filename={image},locking=off,node-name=d0",
        "-device cosim-nvme-ns,bus=nvme0,drive=d0,nsid=1",
    ])


def mmio_write(bar, offset, value, size=LONG):
    # struct { uint8_t size, base; uint32_t offset; uint64_t value; } (padded)
    return bytes([OP_WRITE]) + struct.pack("<BBxxIQ", size, bar, offset, value)


def dma_pattern(data):
    assert SEP not in data
    return bytes([OP_ADD_DMA_PATTERN, 0, 0]) + data


def sqe(opcode, cid, nsid=0, prp1=0, prp2=0, cdw10=0, cdw11=0, cdw12=0):
    return struct.pack("<BBHIQQQQIIIIII", opcode, 0, cid, nsid, 0, 0, prp1, prp2,
                       cdw10, cdw11, cdw12, 0, 0, 0)


def program(bar, dma, steps):
    """An input: DMA patterns (served to the device's reads in turn), then
    the register writes, each followed by a clock step."""
    ops = [dma_pattern(d) for d in dma]
    for off, val in steps:
        ops += [mmio_write(bar, off, val), bytes([OP_CLOCK_STEP])]
    return SEP.join(ops)


def enable_steps(sq_tail):
    return [(CC, 0), (AQA, 0x000f000f), (ASQ, ADMIN_SQ), (ASQ + 4, 0), (ACQ, ADMIN_CQ),
            (ACQ + 4, 0), (CC, CC_ENABLE), (DBS, sq_tail)]


def seeds():
    """name -> input.  The register BAR's index among the regions the fuzzer
    matched is not known in advance: each seed comes once per index."""
    queues = [
        sqe(0x06, 1, prp1=DATA, cdw10=1),                               # Identify
        sqe(0x05, 2, prp1=IO_CQ, cdw10=15 << 16 | 1, cdw11=1 << 16 | 3),  # Create CQ 1
        sqe(0x01, 3, prp1=IO_SQ, cdw10=15 << 16 | 1, cdw11=1 << 16 | 1),  # Create SQ 1
    ]
    io = [
        sqe(0x01, 1, nsid=1, prp1=DATA, prp2=DATA + 0x1000, cdw12=15),  # Write 8 KiB
        bytes(range(1, 65)) * 2,                                         # its data
        sqe(0x02, 2, nsid=1, prp1=DATA, prp2=DATA + 0x1000, cdw12=15),  # Read it back
    ]
    loop = DATA + 0x2ff8        # a PRP list whose one slot chains to itself
    chain = [
        sqe(0x02, 1, prp1=DATA, prp2=loop, cdw10=(0x4000 // 4 - 1) << 16 | 2),  # Log 16 KiB
        struct.pack("<Q", loop),
    ]
    out = {}
    for bar in range(3):
        out[f"admin-queues-bar{bar}"] = program(bar, queues, enable_steps(3))
        out[f"io-write-read-bar{bar}"] = program(
            bar, queues + io, enable_steps(3) + [(DBS + 8, 2)])
        out[f"prp-chain-loop-bar{bar}"] = program(bar, chain, enable_steps(1))
    return out


def write_seeds(directory):
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in seeds().items():
        (directory / name).write_bytes(data)


def run(seconds, jobs=1, corpus=None, findings=None):
    """Fuzz for @seconds; returns libFuzzer's exit status and its output."""
    binary = qemu_build.build(fuzz=True)
    corpus = Path(corpus or FUZZ_DIR / "corpus")
    findings = Path(findings or FUZZ_DIR / "findings")
    seed_dir = FUZZ_DIR / "seeds"
    write_seeds(seed_dir)
    corpus.mkdir(parents=True, exist_ok=True)
    findings.mkdir(parents=True, exist_ok=True)
    image = FUZZ_DIR / "ns1.img"
    with open(image, "wb") as f:
        f.truncate(16 << 20)
    env = dict(os.environ, QEMU_FUZZ_ARGS=qemu_args(image), QEMU_FUZZ_OBJECTS="cosim*",
               # hangs are libFuzzer's -timeout findings, not generic-fuzz's quiet exit
               QEMU_FUZZ_TIMEOUT="0",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
               ASAN_OPTIONS="detect_leaks=1")
    cmd = [str(binary), "--fuzz-target=generic-fuzz", f"-max_total_time={seconds}",
           "-timeout=20", "-rss_limit_mb=4096", "-print_final_stats=1",
           f"-artifact_prefix={findings}/", str(corpus), str(seed_dir)]
    if jobs > 1:
        cmd.insert(2, f"-fork={jobs}")
    proc = subprocess.run(cmd, env=env, cwd=FUZZ_DIR, capture_output=True, text=True,
                          timeout=seconds + 600)
    return proc.returncode, proc.stdout + proc.stderr


if __name__ == "__main__":
    secs = int(sys.argv[1]) if len(sys.argv) > 1 else 180
    rc, out = run(secs, int(sys.argv[2]) if len(sys.argv) > 2 else 1)
    sys.stdout.write(out)
    sys.exit(rc)
