"""Estimates, the comparison table and every text format, on synthetic results (no engine)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from edgeres.bench import report as rep
from edgeres.bench.baseline import compare
from edgeres.bench.estimate import efficiency, estimate
from edgeres.bench.results import BenchmarkReport, ModelResult
from edgeres.bench.stats import summarize_ms
from edgeres.profiles import load_profile


def result(
    name: str,
    p50: float,
    fmt: str = "onnx",
    precision: str = "fp32",
    acc=None,
    threads=2,
    macs=10_000_000,
):
    return ModelResult(
        model=f"/m/{name}",
        name=name,
        format=fmt,
        precision=precision,
        threads=threads,
        providers=["CPUExecutionProvider"],
        file_size_bytes=1_000_000,
        macs=macs,
        macs_source="test",
        load_ms=1.0,
        first_ms=2.0,
        latency=summarize_ms([p50 * 0.9, p50, p50 * 1.1]),
        trial_p50_ms=[p50],
        warmup_runs=3,
        peak_rss_mb=50.0,
        rss_before_mb=40.0,
        memory_method="test",
        accuracy=acc,
        accuracy_n=100 if acc is not None else None,
        samples_ms=[p50 * 0.9, p50, p50 * 1.1],
    )


def report(results, profile="host", label="measured on this machine") -> BenchmarkReport:
    return BenchmarkReport(
        profile=profile,
        profile_source="computed",
        profile_is_host=profile == "host",
        label=label,
        created="2026-11-26T00:00:00+00:00",
        budget={
            "warmup_runs": 1,
            "warmup_seconds": 0,
            "min_runs": 3,
            "min_seconds": 0,
            "trials": 1,
            "pause_seconds": 0,
        },
        environment={
            "cpu_model": "Test CPU",
            "cores_usable": 2,
            "arch": "x86_64",
            "libraries": {"onnxruntime": "1"},
        },
        timer_overhead_ns={"in_sample_ns": 100.0, "per_run_ns": 300.0},
        results=results,
    )


def test_comparison_table_speedup_against_first():
    r = report(
        [result("a.onnx", 2.0, acc=0.9), result("b_int8.tflite", 0.5, "tflite", "int8", acc=0.88)]
    )
    headers, rows = rep.comparison_rows(r)
    assert rows[0][headers.index("speed-up")] == "1.00x"
    assert rows[1][headers.index("speed-up")] == "4.00x"
    assert rows[1][headers.index("accuracy %")] == 88.0
    assert rows[0][headers.index("MMACs")] == 10.0
    text = rep.to_text(r)
    assert "b_int8.tflite" in text and "Tukey" in text and "est." not in text


def test_markdown_csv_json_outputs():
    r = report([result("a.onnx", 2.0), result("b.onnx", 1.0)])
    md = rep.to_markdown(r, command="edgeres benchmark a.onnx b.onnx")
    assert "| model |" in md and "`edgeres benchmark a.onnx b.onnx`" in md and "| b.onnx |" in md
    rows = list(csv.DictReader(io.StringIO(rep.to_csv(r))))
    assert [x["name"] for x in rows] == ["a.onnx", "b.onnx"]
    assert float(rows[1]["latency.p50_ms"]) == pytest.approx(1.0)
    data = json.loads(rep.to_json(r))
    assert data["schema"] == "edgeres.benchmark/1" and "samples_ms" not in data["results"][0]
    back = BenchmarkReport.from_dict(data)
    assert back.results[1].latency.p50_ms == pytest.approx(1.0)


def test_estimate_for_another_device_is_labelled():
    host = load_profile("host")
    r = result("a.onnx", 1.0)
    eff, _ = efficiency(r, host)
    assert eff is not None and eff > 0
    est = estimate(r, load_profile("raspberry-pi-4"), host)
    assert est["p50_ms"] > 0 and est["kind"] == "estimate, not a measurement"
    assert "efficiency" in est["method"] and "raspberry-pi-4" in est["method"]
    # Same efficiency, smaller peak: the slower device gets the larger estimate.
    assert estimate(r, load_profile("raspberry-pi-5"), host)["p50_ms"] < est["p50_ms"]
    gpu = estimate(r, load_profile("jetson-orin-nano"), host)
    assert gpu["unit"] == "gpu" and "rougher" in gpu["method"]
    unknown = estimate(result("x.onnx", 1.0, macs=None), load_profile("raspberry-pi-4"), host)
    assert unknown["p50_ms"] is None and "MACs unknown" in unknown["method"]
    r.estimate = est
    text = rep.to_text(
        report([r], "raspberry-pi-4", "measured here with raspberry-pi-4's settings")
    )
    assert "est. raspberry-pi-4 p50 ms" in text and "ESTIMATE" in text


def test_baseline_compare_both_ways():
    old = report([result("a.onnx", 1.0, acc=0.90)])
    same, unmatched = compare(old, report([result("a.onnx", 1.05, acc=0.895)]), 10)
    assert not any(c.worse for c in same) and not unmatched
    slower, _ = compare(old, report([result("a.onnx", 1.5, acc=0.90)]), 10)
    assert [c.metric for c in slower if c.worse] == ["p50_ms"]
    worse_acc, _ = compare(old, report([result("a.onnx", 1.0, acc=0.50)]), 10)
    assert [c.metric for c in worse_acc if c.worse] == ["accuracy"]
    _, unmatched = compare(old, report([result("b.onnx", 1.0)]), 10)
    assert len(unmatched) == 2


def test_profile_and_explicit_threads_capped_at_cores():
    from edgeres.bench.runner import thread_counts
    from edgeres.profiles.facts import this_machine

    cores = this_machine().cores
    big = load_profile("jetson-orin-nano")  # 6 threads
    threads, notes = thread_counts((), big)
    assert threads == (min(6, cores),) and bool(notes) == (cores < 6)
    threads, notes = thread_counts((cores + 1,), big)
    assert threads == (cores,) and "exceeds" in notes[0] and f"capped at {cores}" in notes[0]


def test_drift_between_trials_is_noted():
    from edgeres.bench.runner import drift_note

    steady = result("a.onnx", 1.0)
    steady.trial_p50_ms = [1.0, 1.02, 0.99]
    assert drift_note(steady) == []
    drifting = result("a.onnx", 1.0)
    drifting.trial_p50_ms = [1.0, 1.5]
    assert "differ by 50%" in drift_note(drifting)[0]
    headers, rows = rep.comparison_rows(report([steady]))
    assert rows[0][headers.index("+MB")] == 10.0


def test_display_names_tell_same_file_names_apart(tmp_path):
    from pathlib import Path

    from edgeres.bench.runner import display_names

    a, b, c = Path("runs/r8/model.onnx"), Path("runs/r18/model.onnx"), Path("x/other.tflite")
    names = display_names((a, b, c))
    assert names == {a: "r8/model.onnx", b: "r18/model.onnx", c: "x/other.tflite"}
    assert display_names((c,)) == {c: "other.tflite"}
