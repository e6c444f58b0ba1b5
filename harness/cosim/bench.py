# SPDX-License-Identifier: GPL-2.0-or-later
"""`make bench`: the same fio jobs on nvme_scsi + cosim-nvme, on the reference
stack (Linux nvme + QEMU's nvme) and on the crossings, in one run.

Every stack is measured BENCH_REPEAT times, interleaved (A B C D A B C D ...)
so that a slow minute of the host lands on every stack alike; each cell is
reported as the median with its min-max.  A ratio is taken per repetition
(rep r of one stack over rep r of the other, measured minutes apart at most)
and summarised the same way.  Numbers under TCG compare stacks with each
other; they say nothing about hardware."""
import json
import os
import statistics
import sys

from . import config, paths

# (name, fio options); every job runs on a prefilled region of the namespace.
JOBS = [
    ("4k randread QD1", "--rw=randread --bs=4k --iodepth=1"),
    ("4k randread QD32", "--rw=randread --bs=4k --iodepth=32"),
    ("4k randwrite QD32", "--rw=randwrite --bs=4k --iodepth=32"),
    ("128k read QD8", "--rw=read --bs=128k --iodepth=8"),
    ("128k write QD8", "--rw=write --bs=128k --iodepth=8"),
]
LATENCY_JOB = "4k randread QD1"     # the job whose latency percentiles are plotted
# The stack under test, the reference, and the two crossings that tell which
# half (driver or model) a difference comes from.  A fifth stack prices the
# ledger of acknowledged writes (on in the fault guests): cosim-nvme with
# ledger=on.  (label, model, driver, controller settings)
STACKS = [("nvme_scsi+cosim", "cosim", "nvme_scsi", {}),
          ("nvme+cosim", "cosim", "nvme", {}),
          ("nvme+cosim +ledger", "cosim", "nvme", {"ledger": True}),
          ("nvme_scsi+qemu", "qemu", "nvme_scsi", {}),
          ("nvme+qemu (ref)", "qemu", "nvme", {})]
REF = STACKS[-1][0]
# ratio -> (numerator stack, denominator stack, what it isolates)
RATIOS = [("ours/ref", "nvme_scsi+cosim", REF, "the whole stack"),
          ("model", "nvme+cosim", REF, "cosim-nvme vs QEMU nvme, both under Linux nvme"),
          ("driver", "nvme_scsi+qemu", REF, "nvme_scsi vs Linux nvme, both on QEMU nvme"),
          ("ledger", "nvme+cosim +ledger", "nvme+cosim",
           "cosim-nvme with its ledger of acknowledged writes vs without")]
REGION = "64M"


def fio_result(job):
    """IOPS and completion-latency percentiles (µs) of one fio JSON job."""
    side = job["read"] if job["read"]["total_ios"] else job["write"]
    pct = side["clat_ns"].get("percentile")
    if not side["total_ios"] or not pct:
        raise ValueError(f"fio job {job.get('jobname', '?')!r} did no IO")
    return {"iops": job["read"]["iops"] + job["write"]["iops"],
            "p50_us": pct["50.000000"] / 1000, "p99_us": pct["99.000000"] / 1000}


def stack_config(model, driver, controller):
    """The default config on `model` under `driver`, with `controller` settings."""
    cfg = config.load(None, model=model, driver=driver)
    for key, value in controller.items():
        setattr(cfg.controller, key, value)
    return cfg


def prefill(guest):
    """Load the driver and write REGION of its first disk, so that every job
    reads data that is there; returns the fio options every job shares."""
    guest.driver.load()
    dev = guest.driver.block_devices()[0][0]
    base = (f"fio --filename={dev} --direct=1 --ioengine=libaio --size={REGION} "
            "--output-format=json --percentile_list=50:99")
    guest.run(f"{base} --name=prefill --rw=write --bs=128k --iodepth=8", timeout=600)
    return base


def run_job(guest, base, job, runtime):
    """fio's JSON result of JOBS' `job` run for `runtime` s."""
    out = guest.run(f"{base} --name=job {dict(JOBS)[job]} --time_based --runtime={runtime}",
                    timeout=runtime + 120).output
    return json.loads(out[out.index("{"):])["jobs"][0]


def measure_stack(label, model, driver, controller, runtime):
    """Boot one stack, prefill its region, run every job: one repetition."""
    from .machine import Guest          # needs QEMU's python/, fetched by the build
    with Guest(stack_config(model, driver, controller), name=f"bench-{model}-{driver}") as guest:
        base = prefill(guest)
        ready = sum(guest.ready_phases().values())
        jobs = {name: fio_result(run_job(guest, base, name, runtime)) for name, _ in JOBS}
    return {"stack": label, "ready_s": ready, "jobs": jobs}


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarize(runs):
    """Medians and min-max per stack, job and metric, and of the per-repetition
    ratios, from the raw runs (one dict per stack and repetition)."""
    by_stack = {}
    for run in runs:
        by_stack.setdefault(run["stack"], []).append(run)
    reps = {len(v) for v in by_stack.values()}
    if len(reps) != 1:
        raise ValueError(f"stacks ran a different number of times: {sorted(reps)}")
    stacks = {label: {"ready_s": spread([r["ready_s"] for r in rs]),
                      "jobs": {job: {m: spread([r["jobs"][job][m] for r in rs])
                                     for m in rs[0]["jobs"][job]}
                               for job in rs[0]["jobs"]}}
              for label, rs in by_stack.items()}
    ratios = {}
    for name, num, den, _ in RATIOS:
        if num not in by_stack or den not in by_stack:
            continue
        ratios[name] = {}
        for job in by_stack[num][0]["jobs"]:
            pairs = [(n["jobs"][job]["iops"], d["jobs"][job]["iops"])
                     for n, d in zip(by_stack[num], by_stack[den])]
            if any(d == 0 for _, d in pairs):
                raise ValueError(f"{den} did no IO in {job}: no ratio against it")
            ratios[name][job] = spread([n / d for n, d in pairs])
    return {"repeat": reps.pop(), "stacks": stacks, "ratios": ratios}


def cell(s, fmt):
    return f"{s['median']:{fmt}} ({s['min']:{fmt}}–{s['max']:{fmt}})"


def markdown(summary, runtime):
    """The report: IOPS per stack, ratios, QD1 latency and ready time."""
    stacks, ratios = summary["stacks"], summary["ratios"]
    jobs = list(next(iter(stacks.values()))["jobs"])
    lines = [f"{summary['repeat']} interleaved repetitions, {runtime} s per job; "
             "median (min–max)", "", "### Ratios (IOPS, per repetition)", "",
             "| job | " + " | ".join(ratios) + " |", "|---" * (len(ratios) + 1) + "|"]
    lines += [f"| {job} | " + " | ".join(cell(ratios[r][job], ".2f") for r in ratios) + " |"
              for job in jobs]
    lines += [""] + [f"- {name}: {num} / {den}: {what}" for name, num, den, what in RATIOS
                     if name in ratios]
    lines += ["", "### IOPS", "", "| job | " + " | ".join(stacks) + " |",
              "|---" * (len(stacks) + 1) + "|"]
    for job in jobs:
        iops = (cell(s["jobs"][job]["iops"], ".0f") for s in stacks.values())
        lines.append(f"| {job} | " + " | ".join(iops) + " |")
    lines += ["", "### Latency and start-up", "", "| stack | " +
              f"{LATENCY_JOB} p50 µs | p99 µs | driver ready s |", "|---|---|---|---|"]
    for label, s in stacks.items():
        lat = s["jobs"].get(LATENCY_JOB)
        p50, p99 = (cell(lat["p50_us"], ".0f"), cell(lat["p99_us"], ".0f")) if lat else ("-",) * 2
        lines.append(f"| {label} | {p50} | {p99} | {cell(s['ready_s'], '.2f')} |")
    return "\n".join(lines) + "\n"


def _bars(cells):
    """Medians and matplotlib's yerr (distance to min and to max) of spread() cells."""
    med = [c["median"] for c in cells]
    return med, [[m - c["min"] for m, c in zip(med, cells)],
                 [c["max"] - m for m, c in zip(med, cells)]]


def plot(summary, path):
    """Ratios with their min-max, and the QD1 latency percentiles, as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    stacks, ratios = summary["stacks"], summary["ratios"]
    jobs = list(next(iter(stacks.values()))["jobs"])
    fig, (ax_r, ax_l) = plt.subplots(1, 2, figsize=(14, 5), width_ratios=[2, 1])
    width = 0.8 / max(len(ratios), 1)
    for i, (name, per_job) in enumerate(ratios.items()):
        xs = [j + (i - (len(ratios) - 1) / 2) * width for j in range(len(jobs))]
        med, err = _bars([per_job[job] for job in jobs])
        ax_r.bar(xs, med, width, yerr=err, capsize=3, label=name)
    ax_r.axhline(1.0, color="black", linewidth=0.8)
    ax_r.set_xticks(range(len(jobs)), jobs, rotation=15)
    ax_r.set_ylabel("IOPS ratio (median, bars: min–max)")
    ax_r.legend()
    ax_r.set_title(f"Ratios, {summary['repeat']} interleaved repetitions")
    labels = [label for label, s in stacks.items() if LATENCY_JOB in s["jobs"]]
    for metric, offset in (("p50_us", -0.2), ("p99_us", 0.2)):
        med, err = _bars([stacks[label]["jobs"][LATENCY_JOB][metric] for label in labels])
        ax_l.bar([i + offset for i in range(len(labels))], med, 0.4, yerr=err, capsize=3,
                 label=metric.split("_")[0])
    ax_l.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax_l.set_ylabel("completion latency, µs")
    ax_l.set_title(LATENCY_JOB)
    ax_l.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def env_int(name, default):
    raw = os.environ.get(name, "") or str(default)
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise SystemExit(f"make bench: {name}={raw!r}: expected a whole number ≥ 1")
    return value


def main():
    runtime, repeat = env_int("BENCH_RUNTIME", 10), env_int("BENCH_REPEAT", 3)
    paths.RESULTS.mkdir(parents=True, exist_ok=True)
    out = {name: paths.RESULTS / f"bench.{name}" for name in ("json", "md", "png")}
    head = {"runtime_s": runtime, "jobs": dict(JOBS)}
    runs = []
    for rep in range(1, repeat + 1):
        for label, model, driver, controller in STACKS:
            print(f"bench: repetition {rep}/{repeat}: {label}", file=sys.stderr, flush=True)
            runs.append({"rep": rep, **measure_stack(label, model, driver, controller,
                                                     runtime)})
            # what was measured survives a later failure
            out["json"].write_text(json.dumps({**head, "runs": runs}, indent=1))
    summary = summarize(runs)
    out["json"].write_text(json.dumps({**head, "runs": runs, **summary}, indent=1))
    report = markdown(summary, runtime)
    out["md"].write_text(report)
    plot(summary, out["png"])
    print(report + "(also in " + ", ".join(str(p) for p in out.values()) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
