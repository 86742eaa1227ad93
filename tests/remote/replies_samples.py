"""Valid replies of each ``--remote`` command, as a device's edgeres prints them (``--json``):
the starting points of the hostile-reply tests and the fuzz test."""

from __future__ import annotations

import copy


def benchmark_reply(name: str = "m.onnx", engine: str = "onnxruntime") -> dict:
    latency = {k: 1.5 for k in ("mean_ms", "std_ms", "min_ms", "p50_ms", "p90_ms", "p99_ms")}
    latency |= {"max_ms": 2.0, "runs": 10, "throughput": 600.0}
    latency |= {"outliers_low": 0, "outliers_high": 1}
    row = {
        "model": f"/cache/{name}", "name": name, "format": "onnx", "precision": "fp32",
        "threads": 1, "providers": ["CPUExecutionProvider"], "file_size_bytes": 1000,
        "macs": 1_000_000, "macs_source": "graph", "load_ms": 3.0, "first_ms": 2.0,
        "latency": latency, "trial_p50_ms": [1.5], "warmup_runs": 3, "peak_rss_mb": 50.0, "rss_before_mb": 40.0,
        "memory_method": "ru_maxrss", "accuracy": None, "accuracy_n": None,
        "env_before": {"max_temperature_c": 40.0}, "env_after": {"throttling": {}},
        "estimate": None, "load_warnings": [], "engine": engine, "ops": None, "ops_note": "",
    }  # fmt: skip
    budget = {"warmup_runs": 3, "warmup_seconds": 0.1, "trials": 1, "min_runs": 5}
    return {
        "profile": "host", "profile_source": "computed", "profile_is_host": True,
        "label": "measured on this machine", "created": "2026-12-03T00:00:00Z",
        "budget": budget | {"min_seconds": 0.1, "pause_seconds": 0.0},
        "environment": {"cpu_model": "fake", "governor": ["performance"], "libraries": {}},
        "timer_overhead_ns": {}, "results": [row], "notes": [], "peak": None,
        "schema": "edgeres.benchmark/1",
    }  # fmt: skip


REPLIES = {
    "predict": {
        "model": "m.onnx",
        "engine": "onnxruntime",
        "providers": ["CPUExecutionProvider"],
        "results": [{"image": "a.png", "topk": [{"label": "cat", "score": 0.9}]}],
    },
    "eval": {
        "accuracy": 0.5,
        "correct": 1,
        "total": 2,
        "engine": "onnxruntime",
        "providers": ["CPUExecutionProvider"],
        "images_per_second": 10.0,
    },  # fmt: skip
    "devices": [{"name": "host", "description": "this machine", "is_host": True}],
    "doctor": {
        "versions": {"edgeres": "0.1.0"},
        "checks": [
            {"status": "ok", "area": "cpu", "name": "cores", "detail": "2", "fix": None},
        ],
        "problems": 0,
    },
    "benchmark": benchmark_reply(),
}


def reply(command: str) -> dict | list:
    """A fresh copy of ``command``'s valid reply."""
    return copy.deepcopy(REPLIES[command])
