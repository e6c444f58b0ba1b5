# SPDX-License-Identifier: GPL-2.0-or-later
"""`make bench`'s arithmetic and report on made-up runs: the numbers a reader
trusts must be the median and range of what was measured, and ratios must
pair each repetition with the same repetition of the other stack."""
import pytest

from cosim import bench

REF, OURS = bench.REF, "nvme_scsi+cosim"


def run(stack, rep, iops, p50=10.0, ready=2.0):
    return {"stack": stack, "rep": rep, "ready_s": ready,
            "jobs": {"4k randread QD1": {"iops": iops, "p50_us": p50, "p99_us": 2 * p50},
                     "128k read QD8": {"iops": iops / 10, "p50_us": p50, "p99_us": p50}}}


RUNS = [run(OURS, 1, 300, p50=8), run(REF, 1, 100),
        run(OURS, 2, 100, p50=12), run(REF, 2, 100),
        run(OURS, 3, 200, p50=10, ready=3.0), run(REF, 3, 50)]


def test_cells_are_median_and_range_of_the_repetitions():
    s = bench.summarize(RUNS)
    assert s["repeat"] == 3
    assert s["stacks"][OURS]["jobs"]["4k randread QD1"]["iops"] == \
        {"median": 200, "min": 100, "max": 300}
    assert s["stacks"][OURS]["jobs"]["4k randread QD1"]["p99_us"] == \
        {"median": 20, "min": 16, "max": 24}
    assert s["stacks"][OURS]["ready_s"] == {"median": 2.0, "min": 2.0, "max": 3.0}


def test_ratio_pairs_each_repetition_with_the_same_repetition():
    # per repetition: 3.0, 1.0, 4.0 -- not median(ours) / median(ref) = 2.0
    r = bench.summarize(RUNS)["ratios"]["ours/ref"]["4k randread QD1"]
    assert r == {"median": 3.0, "min": 1.0, "max": 4.0}
    assert set(bench.summarize(RUNS)["ratios"]) == {"ours/ref"}    # the others ran no stacks


def test_uneven_repetitions_are_refused():
    with pytest.raises(ValueError, match="different number of times"):
        bench.summarize(RUNS[:-1])


def test_report_and_plot(tmp_path):
    s = bench.summarize(RUNS)
    md = bench.markdown(s, runtime=10)
    assert "| 4k randread QD1 | 3.00 (1.00–4.00) |" in md
    assert f"| {OURS} | 10 (8–12) | 20 (16–24) | 2.00 (2.00–3.00) |" in md
    png = tmp_path / "bench.png"
    bench.plot(s, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fio_result_reads_the_direction_that_did_io():
    side = {"iops": 0.0, "total_ios": 0, "clat_ns": {}}
    write = {"iops": 500.5, "total_ios": 5005,
             "clat_ns": {"percentile": {"50.000000": 40000, "99.000000": 90000}}}
    assert bench.fio_result({"read": side, "write": write}) == \
        {"iops": 500.5, "p50_us": 40.0, "p99_us": 90.0}


@pytest.mark.parametrize("value", ["0", "x", "-2"])
def test_bad_repeat_is_named(monkeypatch, value):
    monkeypatch.setenv("BENCH_REPEAT", value)
    with pytest.raises(SystemExit, match=f"BENCH_REPEAT='{value}'"):
        bench.env_int("BENCH_REPEAT", 3)


def test_reference_without_io_is_named():
    with pytest.raises(ValueError, match="did no IO in 4k randread QD1"):
        bench.summarize(RUNS[:-1] + [run(REF, 3, 0)])


def test_fio_job_without_io_is_refused_not_reported_as_zero_latency():
    idle = {"iops": 0.0, "total_ios": 0, "clat_ns": {}}
    with pytest.raises(ValueError, match="'job' did no IO"):
        bench.fio_result({"jobname": "job", "read": idle, "write": idle})
