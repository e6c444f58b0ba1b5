# SPDX-License-Identifier: GPL-2.0-or-later
"""`make profile`: where the guest's instructions go, per IO, on each of
bench's stacks.

Timings under TCG move with the host's speed; instruction counts do not.
A QEMU built with TCG plugins (PLUGINS=1) runs the block_counts plugin
(harness/qemu-plugins/), which counts how often each translation block ran.
Each stack is booted twice, each time running bench's prefill and then one
bench job, for PROFILE_RUNTIME/3 and for PROFILE_RUNTIME seconds: the
difference of the two boots' counts is the longer run's extra IO alone
(boot, prefill and fio's start-up cancel out), and divided by the
difference in IOs it gives the instructions per IO of every guest function.
Functions come from each boot's own /proc/kallsyms (nokaslr keeps the
kernel's addresses put, but modules load in a different order from boot to
boot)."""
import bisect
import collections
import json
import os
import re
import subprocess
import sys

from . import bench, config, paths
from .errors import BuildError

PLUGIN_SRC = paths.REPO / "harness" / "qemu-plugins" / "block_counts.c"
PLUGIN = paths.BUILD / "qemu-plugins" / "block_counts.so"
USER = "[user]"
# The kernel's path into and out of a hard interrupt (x86, 6.1)
IRQ_PATH = (r"interrupt|^handle_\w*irq|irq_event|^irqentry_|irq_(enter|exit)|apic_|"
            r"^irq_chip_")
# Loops that spin until another CPU lets go: they run as many instructions
# as the wait lasts, so they are the one part of a count that moves with
# timing.
SPINNING = r"spin_lock_slowpath|_spin_on_owner$|^osq_lock$|^poll_idle$"
# Where a function's instructions are counted in the summary, by its name
# and module; the first match wins.
GROUPS = [("fio and libc (user)", lambda f: f == USER),
          ("scsi_mod + sd_mod", lambda f: f.endswith(("[scsi_mod]", "[sd_mod]"))),
          ("nvme_scsi", lambda f: f.endswith("[nvme_scsi]")),
          ("nvme + nvme_core", lambda f: f.endswith(("[nvme]", "[nvme_core]"))),
          ("interrupt entry/exit", lambda f: re.search(IRQ_PATH, f) is not None),
          ("busy-waiting (timing)", lambda f: re.search(SPINNING, f) is not None),
          ("rest of the kernel", lambda f: True)]
TOP = 15        # functions listed per comparison


def build_plugin():
    """block_counts.so against the QEMU source's plugin header."""
    if PLUGIN.exists() and PLUGIN.stat().st_mtime > PLUGIN_SRC.stat().st_mtime:
        return PLUGIN
    PLUGIN.parent.mkdir(parents=True, exist_ok=True)
    glib = subprocess.run(["pkg-config", "--cflags", "glib-2.0"], capture_output=True,
                          text=True).stdout.split()
    cmd = ["gcc", "-O2", "-Wall", "-Werror", "-shared", "-fPIC", "-o", str(PLUGIN),
           str(PLUGIN_SRC), f"-I{paths.QEMU_SRC / 'include' / 'qemu'}", *glib]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise BuildError(f"building the profiling plugin failed: {' '.join(cmd)}\n"
                         f"{proc.stderr}")
    return PLUGIN


def kallsyms(text):
    """[(address, name)] of the text symbols in /proc/kallsyms lines, a
    module's name in brackets after its functions' ("nvme_irq[nvme]"),
    sorted by address."""
    syms = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in "tT":
            syms.append((int(parts[0], 16), parts[2] + "".join(parts[3:4])))
    return sorted(syms)


def by_function(counts, syms):
    """{function: instructions} from block_counts' lines: each block is
    charged to the symbol at or below its address; user space is USER."""
    addrs = [a for a, _ in syms]
    out = collections.Counter()
    for line in counts.splitlines():
        vaddr, runs, insns = line.split()
        vaddr = int(vaddr, 16)
        if vaddr < 1 << 63:
            name = USER
        else:
            i = bisect.bisect_right(addrs, vaddr) - 1
            name = syms[i][1] if i >= 0 else hex(vaddr)
        out[name] += int(runs) * int(insns)
    return out


def per_io(short, long):
    """{function: instructions per IO} from two windows, each a
    ({function: instructions}, IOs) pair."""
    (a, ios_a), (b, ios_b) = short, long
    if ios_b <= ios_a:
        raise ValueError(f"the longer run did no more IO ({ios_b} vs {ios_a})")
    return {f: (b.get(f, 0) - a.get(f, 0)) / (ios_b - ios_a) for f in set(a) | set(b)}


def grouped(functions):
    """{group: instructions per IO} over GROUPS."""
    out = dict.fromkeys(name for name, _ in GROUPS)
    for name in out:
        out[name] = 0.0
    for f, n in functions.items():
        out[next(name for name, match in GROUPS if match(f))] += n
    return out


def run_window(label, model, driver, controller, job, runtime):
    """One boot: prefill, `job` for `runtime` s, the symbol table.  Returns
    ({function: instructions} for the whole boot, IOs of the job)."""
    from .machine import Guest, new_rundir      # needs QEMU's python/, fetched by the build
    cfg = config.load(None, model=model, driver=driver)
    for key, value in controller.items():
        setattr(cfg.controller, key, value)
    cfg.machine.kernel_args = f"{cfg.machine.kernel_args} nokaslr".strip()
    rundir = new_rundir(f"profile-{model}-{driver}-{runtime}s")
    counts = rundir / "block_counts.txt"
    with Guest(cfg, rundir=rundir, plugins=[f"{build_plugin()},out={counts}"]) as guest:
        guest.driver.load()
        dev = guest.driver.block_devices()[0][0]
        base = (f"fio --filename={dev} --direct=1 --ioengine=libaio --size={bench.REGION} "
                "--output-format=json")
        guest.run(f"{base} --name=prefill --rw=write --bs=128k --iodepth=8", timeout=600)
        out = guest.run(f"{base} --name=job {dict(bench.JOBS)[job]} --time_based "
                        f"--runtime={runtime}", timeout=runtime + 300).output
        result = json.loads(out[out.index("{"):])["jobs"][0]
        ios = result["read"]["total_ios"] + result["write"]["total_ios"]
        # the same in every boot, so that its own instructions cancel out
        syms = kallsyms(guest.run("grep -i ' t ' /proc/kallsyms", timeout=300).output)
    # QEMU has exited: the plugin wrote its counts on the way out
    if not counts.exists():
        raise SystemExit(f"make profile: {label}: no block counts from QEMU ({rundir})")
    return by_function(counts.read_text(), syms), ios


def markdown(profiles, job, runtime):
    """A table of each stack's instructions per IO by group, then, for each
    of bench's ratios, the functions that differ most between its stacks."""
    names = [name for name, _ in GROUPS]
    lines = [f"# Guest instructions per IO: {job}", "",
             f"Two boots per stack, {runtime // 3} s and {runtime} s of fio; counts of "
             "the longer minus the shorter, over the IOs between them.", "",
             "| stack | total | " + " | ".join(names) + " |",
             "|---|---|" + "---|" * len(names)]
    for label, functions in profiles.items():
        groups = grouped(functions)
        lines.append(f"| {label} | {sum(functions.values()):,.0f} | " +
                     " | ".join(f"{groups[n]:,.0f}" for n in names) + " |")
    for ratio, num, den, what in bench.RATIOS:
        if num not in profiles or den not in profiles:
            continue
        a, b = profiles[den], profiles[num]
        diff = {f: b.get(f, 0) - a.get(f, 0) for f in set(a) | set(b)}
        lines += ["", f"## {ratio}: {num} - {den} ({what})", "",
                  f"{sum(diff.values()):+,.0f} instructions per IO in all; "
                  f"the {TOP} functions that differ most:", "",
                  f"| function | {den} | {num} | difference |", "|---|---|---|---|"]
        for f in sorted(diff, key=lambda f: -abs(diff[f]))[:TOP]:
            lines.append(f"| `{f}` | {a.get(f, 0):,.1f} | {b.get(f, 0):,.1f} | "
                         f"{diff[f]:+,.1f} |")
    return "\n".join(lines) + "\n"


def main():
    if not paths.PLUGINS:
        raise SystemExit("make profile: run with PLUGINS=1 (a QEMU built with TCG plugins)")
    runtime = bench.env_int("PROFILE_RUNTIME", 15)
    if runtime < 3:
        raise SystemExit(f"make profile: PROFILE_RUNTIME={runtime}: at least 3 (two windows, "
                         "a third and the whole)")
    job = os.environ.get("PROFILE_JOB") or "4k randread QD32"
    if job not in dict(bench.JOBS):
        raise SystemExit(f"make profile: PROFILE_JOB={job!r}: one of "
                         + ", ".join(repr(j) for j, _ in bench.JOBS))
    paths.RESULTS.mkdir(parents=True, exist_ok=True)
    profiles = {}
    for label, model, driver, controller in bench.STACKS:
        windows = []
        for seconds in (runtime // 3, runtime):
            print(f"profile: {label}: {seconds} s of {job}", file=sys.stderr, flush=True)
            windows.append(run_window(label, model, driver, controller, job, seconds))
        profiles[label] = per_io(*windows)
    out = {ext: paths.RESULTS / f"profile.{ext}" for ext in ("json", "md")}
    out["json"].write_text(json.dumps({"job": job, "runtime_s": runtime,
                                       "instructions_per_io": profiles}, indent=1))
    report = markdown(profiles, job, runtime)
    out["md"].write_text(report)
    print(report + "(also in " + ", ".join(str(p) for p in out.values()) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
