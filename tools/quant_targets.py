#!/usr/bin/env python
"""Measure the INT8 targets of issue 3 side by side and print a markdown table.

For each model (resnet8 at 32 px, resnet18s at 96 px by default) on the shapes data:
train briefly (or take --ckpt NAME=PATH), convert to FP32 ONNX/TFLite, quantize to INT8 ONNX/TFLite,
then report FP32 vs INT8 top-1 (target: within 0.5 points), INT8 size vs FP32 (target: <= 30%),
and median latency FP32 vs INT8 in ONNX Runtime and LiteRT (target: INT8 faster for resnet18s at
>= 96 px), all at batch 1 with the same thread count.

    .venv/bin/python tools/quant_targets.py --out runs/quant_targets
    .venv/bin/python tools/quant_targets.py --ckpt resnet8=runs/r8/model.pt --models resnet8
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
from quietcheck import QuietCheck, add_arguments

DEFAULTS = {
    "resnet8": {"img_size": 32, "model_args": {}},
    "resnet18s": {"img_size": 96, "model_args": {"width": 0.5}},
}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="resnet8,resnet18s")
    p.add_argument(
        "--ckpt", action="append", default=[], help="NAME=PATH: use this checkpoint, skip training"
    )
    p.add_argument("--out", type=Path, default=Path("runs/quant_targets"))
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-limit", type=int, default=6000)
    p.add_argument("--width", type=float, default=0.5, help="resnet18s width")
    p.add_argument("--r18-size", type=int, default=96)
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--calib", default="shapes", help="calibration source (default: shapes)")
    p.add_argument("--method", default="minmax")
    p.add_argument("--eval-limit", type=int, default=1000)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    add_arguments(p)
    return p.parse_args()


def train_or_take(name: str, args, ckpts: dict[str, Path]) -> Path:
    if name in ckpts:
        return ckpts[name]
    from edgeres.train import TrainConfig, train

    cfg = DEFAULTS[name]
    model_args = {"width": args.width} if name == "resnet18s" else {}
    size = args.r18_size if name == "resnet18s" else cfg["img_size"]
    out = args.out / name
    if (out / "model.pt").is_file():
        return out / "model.pt"
    tc = TrainConfig(
        model=name,
        data="shapes",
        out=out,
        epochs=args.epochs,
        img_size=size,
        limit=args.train_limit,
        eval_limit=args.eval_limit,
        model_args=model_args,
        threads=args.threads,
    )
    return train(tc).checkpoint


def latency_ms(path: Path, threads: int, runs: int, warmup: int) -> float:
    """Median batch-1 inference time of the backend's raw ``infer`` (float batch in the file's layout)."""
    from edgeres import runtime

    backend = runtime.load(path, threads=threads)
    x = np.zeros(backend.spec.shape(1), np.float32)

    def step():
        backend.infer(x)

    for _ in range(warmup):
        step()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        step()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def measure(name: str, ckpt: Path, args) -> list[dict]:
    from edgeres.convert import convert
    from edgeres.quantize import quantize

    out = args.out / f"{name}_export"
    conv = convert(ckpt, to=("onnx", "tflite"), out_dir=out, force=True, quiet=True)
    q = quantize(
        ckpt,
        calib=args.calib,
        to=("onnx", "tflite"),
        samples=args.samples,
        method=args.method,
        eval_limit=args.eval_limit,
        out_dir=out,
        force=True,
        quiet=True,
    )
    rep = q.report
    rows = []
    for fmt in ("onnx", "tflite"):
        r = rep.formats[fmt]
        fp32_path, int8_path = conv.outputs[fmt], q.outputs.get(fmt)
        rows.append(
            {
                "model": name,
                "size": conv_size(conv),
                "format": fmt,
                "parity": next(p.max_abs_diff for p in conv.parity if p.format == fmt),
                "fp32_acc": rep.fp32_accuracy,
                "int8_acc": r.accuracy,
                "drop": r.drop_pts,
                "agree": r.agreement,
                "fp32_kb": fp32_path.stat().st_size / 1024,
                "int8_kb": r.size_bytes / 1024,
                "full_int": r.integer.full_integer,
                "fp32_ms": latency_ms(fp32_path, args.threads, args.runs, args.warmup),
                "int8_ms": latency_ms(int8_path, args.threads, args.runs, args.warmup)
                if int8_path
                else float("nan"),
                "cross": rep.cross_agreement,
            }
        )
    return rows


def conv_size(conv) -> int:
    from edgeres.formats import read_metadata

    return read_metadata(conv.outputs["onnx"]).spec.height


def table(rows: list[dict]) -> str:
    head = (
        "| model | px | format | parity max diff | FP32 top-1 | INT8 top-1 | drop (pts) | agree | "
        "FP32 KiB | INT8 KiB | INT8/FP32 size | full int | FP32 ms | INT8 ms | INT8 speed-up |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['size']} | {r['format']} | {r['parity']:.1e} | {100 * r['fp32_acc']:.2f}% | "
            f"{100 * r['int8_acc']:.2f}% | {r['drop']:+.2f} | {100 * r['agree']:.1f}% | {r['fp32_kb']:.0f} | "
            f"{r['int8_kb']:.0f} | {r['int8_kb'] / r['fp32_kb']:.0%} | {'yes' if r['full_int'] else 'NO'} | "
            f"{r['fp32_ms']:.3f} | {r['int8_ms']:.3f} | {r['fp32_ms'] / r['int8_ms']:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    check = QuietCheck.from_args(args)
    os.environ.setdefault("EDGERES_QUIET", "1")
    ckpts = {k: Path(v) for k, v in (c.split("=", 1) for c in args.ckpt)}
    rows = []
    for name in args.models.split(","):
        ckpt = train_or_take(name, args, ckpts)
        rows.extend(measure(name, ckpt, args))
    import onnxruntime

    from edgeres.quantize.options import default_activations

    check.finish()
    print(
        f"\n{check.heading(check.summary())}; ONNX Runtime {onnxruntime.__version__} "
        f"(CPU EP, INT8 QDQ, {default_activations(None)} activations, per-channel int8 weights); LiteRT "
        f"(XNNPACK); batch 1, {args.threads} threads, median of {args.runs} runs; eval on each checkpoint's test data "
        f"({args.eval_limit} images), calibration {args.samples} samples of {args.calib}, method {args.method}.\n"
    )
    print(table(rows))
    print()
    for line in target_lines(rows, args.r18_size):
        print(line)


def target_lines(rows: list[dict], r18_size: int) -> list[str]:
    """One line per issue-3 target, met or missed, with the figure."""
    out = []
    for r in rows:
        tag = f"{r['model']} {r['format']}"
        ok = abs(r["drop"]) <= 0.5
        out.append(
            f"- {tag}: INT8 within 0.5 pts of FP32: {'met' if ok else 'MISSED'} ({r['drop']:+.2f} pts)"
        )
        ratio = r["int8_kb"] / r["fp32_kb"]
        out.append(
            f"- {tag}: INT8 size <= 30% of FP32: {'met' if ratio <= 0.30 else 'MISSED'} ({ratio:.1%})"
        )
        if r["model"] == "resnet18s" and r18_size >= 96:
            faster = r["int8_ms"] < r["fp32_ms"]
            out.append(
                f"- {tag}: INT8 faster than FP32 at {r18_size} px: {'met' if faster else 'MISSED'} "
                f"({r['fp32_ms']:.2f} -> {r['int8_ms']:.2f} ms)"
            )
        if r["format"] == "onnx":
            out.append(
                f"- {r['model']}: INT8 ONNX vs INT8 TFLite top-1 agreement {100 * r['cross']:.1f}%"
            )
    return out


if __name__ == "__main__":
    main()
