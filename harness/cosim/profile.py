# SPDX-License-Identifier: GPL-2.0-or-later
"""`make profile`: where the guest's instructions go, per IO, on each of
bench's stacks.

A QEMU built with TCG plugins (PLUGINS=1) runs the block_counts plugin
(harness/qemu-plugins/), which counts how often each translation block ran
and writes a snapshot of the counts when asked.  Each stack boots once, runs
bench's prefill, and then one bench job for PROFILE_RUNTIME seconds between
two snapshots: their difference is the job alone (and the agent command that
starts it), and divided by the job's IOs it gives the instructions per IO of
every guest function, by the guest's /proc/kallsyms (read after the second
snapshot, so that reading it is not counted).

Unlike timings, counts do not move with the host's speed for code that runs
the same way every time (a driver's path); what follows timing still moves
them: interrupts per IO, fio's reaping loop, spinning on locks."""
import bisect
import collections
import json
import os
import re
import subprocess
import sys
import time

from . import bench, paths
from .errors import BuildError

PLUGIN_SRC = paths.REPO / "harness" / "qemu-plugins" / "block_counts.c"
PLUGIN = paths.BUILD / "qemu-plugins" / "block_counts.so"
USER = "[user]"
# The kernel's own interrupt handling (x86, 6.1): entry and exit, the generic
# IRQ layer, the APIC, timer interrupts; a driver's handler counts with its module
IRQ_PATH = (r"interrupt|^handle_\w*irq|irq_event|^irqentry_|irq_(enter|exit)|apic_|"
            r"^irq_chip_")
# Loops that spin until another CPU lets go: they run as many instructions
# as the wait lasts, so they are the one part of a count that moves with
# timing.
SPINNING = r"spin_lock_slowpath|_spin_on_owner$|^osq_lock$|^poll_idle$"
# Where a function's instructions are counted in the summary, by its name
# and module; the first match wins.
GROUPS = [("user space (fio, the agent)", lambda f: f == USER),
          ("scsi_mod + sd_mod", lambda f: f.endswith(("[scsi_mod]", "[sd_mod]"))),
          ("nvme_scsi", lambda f: f.endswith("[nvme_scsi]")),
          ("nvme + nvme_core", lambda f: f.endswith(("[nvme]", "[nvme_core]"))),
          ("interrupts and timers", lambda f: re.search(IRQ_PATH, f) is not None),
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
    """[(address, name)] of the text symbols (weak ones too) in /proc/kallsyms lines, a
    module's name in brackets after its functions' ("nvme_irq[nvme]"),
    sorted by address."""
    syms = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in "tTwW":
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


def per_io(before, after, ios):
    """{function: instructions per IO} of what ran between two snapshots
    ({function: instructions}) that saw `ios` IOs."""
    if ios < 1:
        raise SystemExit("make profile: the job did no IO")
    return {f: (after.get(f, 0) - before.get(f, 0)) / ios for f in set(before) | set(after)}


def grouped(functions):
    """{group: instructions per IO} over GROUPS."""
    out = dict.fromkeys((name for name, _ in GROUPS), 0.0)
    for f, n in functions.items():
        out[next(name for name, match in GROUPS if match(f))] += n
    return out


def snapshot(ctl, path, timeout=60):
    """Have the plugin write its counts so far to `path`, and read them."""
    try:
        fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as e:
        raise SystemExit(f"make profile: the plugin does not listen on {ctl}: {e}") from None
    with os.fdopen(fd, "w") as f:
        f.write(f"dump {path}\n")
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"make profile: no counts in {path} after {timeout} s")
        time.sleep(0.05)
    return path.read_text()


def run_stack(label, model, driver, controller, job, runtime):
    """Boot one stack, prefill, and count `job` over `runtime` s.  Returns
    {function: instructions per IO}; the counts, symbols and fio's result
    stay in the run directory."""
    from .machine import Guest, new_rundir      # needs QEMU's python/, fetched by the build
    cfg = bench.stack_config(model, driver, controller)
    # the kernel where System.map would put it: one symbol table per boot still
    cfg.machine.kernel_args = f"{cfg.machine.kernel_args} nokaslr".strip()
    rundir = new_rundir("profile-" + re.sub(r"[^\w.+-]+", "_", label))
    ctl = rundir / "block_counts.ctl"
    os.mkfifo(ctl)
    with Guest(cfg, rundir=rundir, plugins=[f"{build_plugin()},ctl={ctl}"]) as guest:
        base = bench.prefill(guest)
        before = snapshot(ctl, rundir / "counts-before.txt")
        result = bench.run_job(guest, base, job, runtime)
        after = snapshot(ctl, rundir / "counts-after.txt")
        symbols = guest.run("grep -i ' [tw] ' /proc/kallsyms", timeout=300).output
    (rundir / "kallsyms.txt").write_text(symbols)
    (rundir / "fio.json").write_text(json.dumps(result, indent=1))
    ios = result["read"]["total_ios"] + result["write"]["total_ios"]
    syms = kallsyms(symbols)
    return per_io(by_function(before, syms), by_function(after, syms), ios)


def markdown(profiles, job, runtime):
    """A table of each stack's instructions per IO by group, then, for each
    of bench's ratios, the functions that differ most between its stacks."""
    names = [name for name, _ in GROUPS]
    lines = [f"# Guest instructions per IO: {job}", "",
             f"{runtime} s of fio per stack, counted between two snapshots, over its IOs.", "",
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
    raw = os.environ.get("PROFILE_RUNTIME") or "10"
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"make profile: PROFILE_RUNTIME={raw!r}: expected whole seconds ≥ 1")
    runtime = int(raw)
    job = os.environ.get("PROFILE_JOB") or "4k randread QD32"
    if job not in dict(bench.JOBS):
        raise SystemExit(f"make profile: PROFILE_JOB={job!r}: one of "
                         + ", ".join(repr(j) for j, _ in bench.JOBS))
    paths.RESULTS.mkdir(parents=True, exist_ok=True)
    out = {ext: paths.RESULTS / f"profile.{ext}" for ext in ("json", "md")}
    profiles = {}
    for label, model, driver, controller in bench.STACKS:
        print(f"profile: {label}: {runtime} s of {job}", file=sys.stderr, flush=True)
        profiles[label] = run_stack(label, model, driver, controller, job, runtime)
        # what was measured survives a later failure
        out["json"].write_text(json.dumps({"job": job, "runtime_s": runtime,
                                           "instructions_per_io": profiles}, indent=1))
    report = markdown(profiles, job, runtime)
    out["md"].write_text(report)
    print(report + "(also in " + ", ".join(str(p) for p in out.values()) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
