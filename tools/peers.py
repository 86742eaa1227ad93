#!/usr/bin/env python
"""edgeres against the peers a user would otherwise pick, side by side in one run.

For each size (resnet8 at 32 px, resnet18s w0.5 at 96 px, resnet18s at 224 px; mobilenet_v2 at
96 and 224 px, asked for by name: tools/mobilenet_latency.py) it builds a
checkpoint (random weights: latency does not depend on them), edgeres' FP32 and INT8 ONNX/TFLite
files, and the peers' own files, then measures every configuration in a fresh process, in
interleaved rounds (config A, B, C..., then again), at batch 1 with the given threads:

- PyTorch eager FP32 (what users do without a toolkit),
- ONNX Runtime FP32, and ONNX Runtime INT8 made with ``quantize_static``'s defaults,
- OpenVINO FP32 (the ONNX file) and OpenVINO INT8 after NNCF's own PTQ (``nncf.quantize``),
- LiteRT FP32,
- edgeres' INT8 files on every engine that runs them, and what ``edgeres tune``'s rule picks
  (the fastest edgeres file x engine x threads).

    .venv/bin/python tools/peers.py --out runs/peers                # all three sizes, 3 rounds
    .venv/bin/python tools/peers.py --sizes resnet8 --rounds 2 --threads 1,2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
from quietcheck import QuietCheck, add_arguments

SIZES = {
    "resnet8": ("resnet8", 32, {}),
    "resnet18s-w0.5-96": ("resnet18s", 96, {"width": 0.5}),
    "resnet18s-224": ("resnet18s", 224, {"width": 1.0}),
    "mobilenet_v2-96": ("mobilenet_v2", 96, {"width": 1.0}),
    "mobilenet_v2-224": ("mobilenet_v2", 224, {"width": 1.0}),
}
CALIB = 64

# Runs one configuration in a fresh interpreter; prints the p50 in ms.
_IR_WORKER = r"""
import json, sys, numpy as np, openvino as ov
from edgeres.bench.timing import measure
from edgeres.profiles import Budget
job = json.loads(sys.argv[1])
core = ov.Core()
compiled = core.compile_model(job["path"], "CPU",
    {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": job["threads"]})
req = compiled.create_infer_request()
x = np.random.default_rng(0).standard_normal(compiled.input(0).shape).astype(np.float32)
t = measure(lambda: req.infer({0: x}), Budget(**job["budget"]))
print(json.dumps({"p50_ms": float(np.median(t.samples_ns)) / 1e6}))
"""


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = ",".join(k for k in SIZES if not k.startswith("mobilenet"))
    p.add_argument("--sizes", default=default, help=f"of {', '.join(SIZES)}")
    p.add_argument("--out", type=Path, default=Path("runs/peers"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--threads", default="2", help="thread counts, e.g. 1,2")
    p.add_argument("--min-time", type=float, default=1.0, help="seconds per trial")
    add_arguments(p)
    return p.parse_args()


def build(name: str, out: Path) -> dict[str, Path]:
    """Checkpoint, edgeres' files and the peers' files for one size, in ``out``."""
    import torch

    from edgeres.convert import convert
    from edgeres.models import create_model
    from edgeres.quantize import quantize
    from edgeres.spec import InputSpec, ModelInfo
    from edgeres.train.checkpoint import save_checkpoint

    arch, size, args = SIZES[name]
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "model.pt"
    if not ckpt.exists():
        torch.manual_seed(0)
        model = create_model(arch, num_classes=10, **args).eval()
        info = ModelInfo(arch, tuple(map(str, range(10))), InputSpec(size, size))
        save_checkpoint(ckpt, model, info, {"num_classes": 10, **args}, {"data": "shapes"})
    files = {"pt": ckpt, "onnx": out / "model.onnx", "tflite": out / "model.tflite"}
    if not files["onnx"].exists():
        convert(ckpt, ("onnx", "tflite"), quiet=True)
    files["onnx_int8"], files["tflite_int8"] = out / "model_int8.onnx", out / "model_int8.tflite"
    if not files["onnx_int8"].exists():
        quantize(ckpt, calib="shapes", samples=CALIB, eval_limit=64, quiet=True)
    files["ort_default_int8"] = _ort_default(files["onnx"], out, size)
    files["nncf_ir"] = _nncf(files["onnx"], out, size)
    return files


def _calib(size: int, n: int = CALIB) -> list[np.ndarray]:
    """``n`` preprocessed images of the shipped calibration set, batch 1 each."""
    from edgeres.quantize.calib import calibration_batches, rebatch
    from edgeres.spec import InputSpec

    return list(rebatch(calibration_batches(None, InputSpec(size, size), n, quiet=True), 1))


def _ort_default(fp32: Path, out: Path, size: int) -> Path:
    """What a user gets from ``quantize_static`` with its defaults."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, quantize_static

    path = out / "ort_default_int8.onnx"
    if path.exists():
        return path
    name = onnx.load(str(fp32), load_external_data=False).graph.input[0].name
    batches = iter(_calib(size))

    class Reader(CalibrationDataReader):
        def get_next(self):
            x = next(batches, None)
            return None if x is None else {name: x}

    quantize_static(str(fp32), str(path), Reader())
    return path


def _nncf(fp32: Path, out: Path, size: int) -> Path:
    """OpenVINO's own pipeline: read the ONNX file, NNCF post-training quantization, save IR."""
    import nncf
    import openvino as ov

    path = out / "nncf_int8.xml"
    if not path.exists():
        model = ov.Core().read_model(str(fp32))
        q = nncf.quantize(model, nncf.Dataset(_calib(size)), subset_size=CALIB)
        ov.save_model(q, str(path))
    return path


def configs(files: dict[str, Path]) -> list[tuple[str, str, str | None]]:
    """(label, file key, engine or 'ir') rows: the peers, and edgeres' files on every engine (the
    rows ``edgeres tune`` chooses from; LiteRT FP32 is both: litert-torch's own FP32 export)."""
    return [
        ("peer: PyTorch eager FP32", "pt", "pytorch"),
        ("peer: ONNX Runtime INT8, quantize_static defaults", "ort_default_int8", "onnxruntime"),
        ("peer: OpenVINO INT8 after NNCF's own PTQ", "nncf_ir", "ir"),
        ("peer: LiteRT FP32", "tflite", "litert"),
        ("edgeres model.onnx on ONNX Runtime", "onnx", "onnxruntime"),
        ("edgeres model.onnx on OpenVINO", "onnx", "openvino"),
        ("edgeres model_int8.onnx on ONNX Runtime", "onnx_int8", "onnxruntime"),
        ("edgeres model_int8.onnx on OpenVINO", "onnx_int8", "openvino"),
        ("edgeres model_int8.tflite on LiteRT", "tflite_int8", "litert"),
    ]


def measure(path: Path, engine: str, threads: int, budget: dict) -> float:
    from edgeres.bench.jobs import Job, run_isolated

    if engine == "ir":
        job = {"path": str(path), "threads": threads, "budget": budget}
        proc = subprocess.run(
            [sys.executable, "-c", _IR_WORKER, json.dumps(job)], capture_output=True, text=True
        )
        if proc.returncode:
            raise RuntimeError(proc.stderr.strip().splitlines()[-1])
        return json.loads(proc.stdout.strip().splitlines()[-1])["p50_ms"]
    row = run_isolated(Job(str(path), threads, "host", budget, engine=engine))
    return row["latency"]["p50_ms"]


def run_size(name: str, args: argparse.Namespace, threads: list[int]) -> list[dict]:
    files = build(name, args.out / name)
    budget = {"warmup_runs": 10, "warmup_seconds": 0.5, "min_runs": 30,
              "min_seconds": args.min_time, "trials": 1, "pause_seconds": 0.2}  # fmt: skip
    rows = [(label, key, eng, t) for label, key, eng in configs(files) for t in threads]
    p50s: dict[int, list[float]] = {i: [] for i in range(len(rows))}
    for r in range(args.rounds):  # interleaved: every config once per round
        for i, (label, key, engine, t) in enumerate(rows):
            try:
                p50s[i].append(measure(files[key], engine, t, budget))
            except Exception as e:  # noqa: BLE001 - one peer failing keeps the others' rows
                print(f"  {label} ({t} thr) failed: {e}", file=sys.stderr)
            print(f"{name} round {r + 1}/{args.rounds}: {label} {t} thr", file=sys.stderr)
    return [
        {"size": name, "config": label, "engine": engine, "threads": t,
         "p50_ms": statistics.median(p50s[i]) if p50s[i] else None,
         "rounds": [round(v, 4) for v in p50s[i]]}
        for i, (label, _, engine, t) in enumerate(rows)
    ]  # fmt: skip


def table(results: list[dict]) -> str:
    lines = []
    for size in dict.fromkeys(r["size"] for r in results):
        rows = [r for r in results if r["size"] == size and r["p50_ms"]]
        ours = [
            r for r in rows if r["config"].startswith("edgeres") or "LiteRT FP32" in r["config"]
        ]
        peers = [r for r in rows if r["config"].startswith("peer")]
        best = min(ours, key=lambda r: r["p50_ms"])
        eager = min((r for r in rows if r["engine"] == "pytorch"), key=lambda r: r["p50_ms"])
        ort_def = min((r for r in rows if "defaults" in r["config"]), key=lambda r: r["p50_ms"])
        best_peer = min(peers, key=lambda r: r["p50_ms"])
        lines += [
            f"\n### {size}\n",
            "| configuration | threads | p50 ms | rounds |",
            "|---|---:|---:|---|",
        ]
        for r in sorted(rows, key=lambda r: r["p50_ms"]):
            mark = "**" if r is best else ""
            lines.append(
                f"| {mark}{r['config']}{mark} | {r['threads']} | {r['p50_ms']:.4g} | {r['rounds']} |"
            )
        lines += [
            "",
            f"tune's rule, the fastest edgeres file x engine x threads "
            f"({best['config'].removeprefix('edgeres ').removeprefix('peer: ')}, {best['threads']} thr): "
            f"{best['p50_ms']:.4g} ms = {eager['p50_ms'] / best['p50_ms']:.1f}x PyTorch eager FP32, "
            f"{ort_def['p50_ms'] / best['p50_ms']:.1f}x ONNX Runtime's default INT8, "
            f"{best_peer['p50_ms'] / best['p50_ms']:.2f}x the best peer ({best_peer['config']}, "
            f"{best_peer['threads']} thr)",
        ]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    check = QuietCheck.from_args(args)
    threads = [int(t) for t in args.threads.split(",")]
    os.environ.setdefault("EDGERES_QUIET", "1")
    results = []
    for name in args.sizes.split(","):
        results += run_size(name, args, threads)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "peers.json").write_text(json.dumps(results, indent=2))
    check.finish()
    print(check.heading(check.summary()) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
