#!/usr/bin/env python
"""edgeres' float-layer fallback beside NNCF's accuracy-controlled quantization, on one ONNX file.

Both start from the same FP32 ONNX file (exported from the checkpoint when a .pt is given), the same
calibration samples and the same eval images, and must keep the INT8 top-1 within --max-drop points
of FP32. Reported for each: INT8 top-1, drop, agreement with FP32, how many Conv/Gemm layers stay
float, file size and wall time. NNCF is a tools-only dependency: `pip install nncf` (3.4 here).

    .venv/bin/python tools/nncf_accuracy_control.py runs/r8/model.pt --max-drop 0.5 \\
        --samples 300 --eval-limit 1000 --out runs/nncf_ac
    .venv/bin/python tools/nncf_accuracy_control.py model.pt --samples 16 --eval-limit 32  # smoke
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help="edgeres checkpoint (.pt) or FP32 ONNX with metadata")
    p.add_argument("--calib", default="shapes")
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--eval-data", default="shapes")
    p.add_argument("--eval-limit", type=int, default=1000)
    p.add_argument("--max-drop", type=float, default=0.5, help="accuracy points")
    p.add_argument("--per-tensor", action="store_true", help="edgeres: per-tensor weight scales")
    p.add_argument("--out", type=Path, default=Path("runs/nncf_accuracy_control"))
    return p.parse_args()


def fp32_onnx(model: Path, out: Path) -> Path:
    if model.suffix == ".onnx":
        return model
    from edgeres.convert import convert

    result = convert(model, ("onnx",), out_dir=out / "fp32", force=True, quiet=True)
    return result.outputs["onnx"]


def float_layers(path: Path) -> int:
    """Conv/Gemm nodes whose weight is not fed by a DequantizeLinear (kept in float)."""
    import onnx

    graph = onnx.load(str(path)).graph
    producer = {o: n.op_type for n in graph.node for o in n.output}
    return sum(
        1
        for n in graph.node
        if n.op_type in ("Conv", "Gemm") and producer.get(n.input[1]) != "DequantizeLinear"
    )


def run_edgeres(model: Path, args, out: Path) -> dict:
    from edgeres.quantize import quantize

    start = time.perf_counter()
    result = quantize(
        model,
        to=("onnx",),
        calib=args.calib,
        samples=args.samples,
        eval_data=args.eval_data,
        eval_limit=args.eval_limit,
        max_drop=args.max_drop,
        per_tensor=args.per_tensor,
        out_dir=out / "edgeres",
        force=True,
        quiet=True,
    )
    seconds = time.perf_counter() - start
    r = result.report.formats["onnx"]
    path = result.outputs.get("onnx")
    return {
        "tool": "edgeres quantize (float-layer fallback)",
        "passed": result.passed,
        "accuracy": r.accuracy,
        "drop_pts": r.drop_pts,
        "agreement": r.agreement,
        "float_layers": float_layers(path) if path else None,
        "float_layer_names": r.float_layers,
        "size_bytes": r.size_bytes,
        "seconds": round(seconds, 1),
    }


def _session(model_bytes: bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def run_nncf(fp32: Path, args, out: Path) -> dict:
    import nncf
    import onnx

    from edgeres.data import load_split
    from edgeres.formats import read_metadata
    from edgeres.quantize.calib import calibration_batches, rebatch

    spec = read_metadata(fp32).spec
    model = onnx.load(str(fp32))
    name = model.graph.input[0].name
    calib = list(rebatch(calibration_batches(args.calib, spec, args.samples, quiet=True), 1))
    data = load_split(args.eval_data, "test", spec.size, seed=0, limit=args.eval_limit, quiet=True)
    x = spec.preprocess(data.images)
    items = [(x[i : i + 1], int(data.labels[i])) for i in range(len(x))]

    def validate(candidate, dataset) -> tuple[float, list[float]]:
        sess = _session(candidate.SerializeToString())
        hits = [float(sess.run(None, {name: xi})[0].argmax() == yi) for xi, yi in dataset]
        return float(np.mean(hits)), hits

    fp32_acc = validate(model, items)[0]
    start = time.perf_counter()
    quantized = nncf.quantize_with_accuracy_control(
        model,
        calibration_dataset=nncf.Dataset(calib, lambda b: {name: b}),
        validation_dataset=nncf.Dataset(items),
        validation_fn=validate,
        max_drop=args.max_drop / 100,
        drop_type=nncf.DropType.ABSOLUTE,
        subset_size=len(calib),
    )
    seconds = time.perf_counter() - start
    path = out / "nncf" / f"{fp32.stem}_nncf_int8.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(quantized, str(path))
    sess_fp, sess_q = _session(model.SerializeToString()), _session(quantized.SerializeToString())
    agree = np.mean(
        [
            sess_fp.run(None, {name: xi})[0].argmax() == sess_q.run(None, {name: xi})[0].argmax()
            for xi, _ in items
        ]
    )
    acc = validate(quantized, items)[0]
    drop = round(100 * (fp32_acc - acc), 3)
    return {
        "tool": f"NNCF {nncf.__version__} quantize_with_accuracy_control",
        "passed": drop <= args.max_drop,
        "accuracy": acc,
        "drop_pts": drop,
        "agreement": float(agree),
        "float_layers": float_layers(path),
        "float_layer_names": [],
        "size_bytes": path.stat().st_size,
        "seconds": round(seconds, 1),
    }


def table(rows: list[dict], args) -> str:
    lines = [
        f"max drop {args.max_drop:g} pts, {args.samples} calibration samples of {args.calib}, "
        f"{args.eval_limit} eval images of {args.eval_data}; ONNX Runtime CPU",
        "",
        "| tool | passed | INT8 top-1 | drop (pts) | agrees with FP32 | float Conv/Gemm | size | time |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['tool']} | {r['passed']} | {100 * r['accuracy']:.2f}% | {r['drop_pts']:+.2f} | "
            f"{100 * r['agreement']:.2f}% | {r['float_layers']} | {r['size_bytes'] / 1024:.1f} KiB | "
            f"{r['seconds']:.1f} s |"
        )
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    fp32 = fp32_onnx(args.model, args.out)
    rows = [run_edgeres(args.model, args, args.out), run_nncf(fp32, args, args.out)]
    text = table(rows, args)
    print(text)
    (args.out / "nncf_accuracy_control.md").write_text(text + "\n")
    (args.out / "nncf_accuracy_control.json").write_text(json.dumps(rows, indent=2) + "\n")
    shutil.rmtree(args.out / "fp32", ignore_errors=True)


if __name__ == "__main__":
    main()
