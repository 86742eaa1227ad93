#!/usr/bin/env python
"""Which quantizer should make ``model_int8.onnx``: ONNX Runtime's ``quantize_static`` (edgeres,
with and without equalization) or NNCF's post-training ``nncf.quantize``?

All start from the same checkpoint, the same calibration samples and the same eval images; no
layer is kept in float. For each checkpoint given, and (``--outlier F``) for a copy with
function-preserving outlier channels at every rescalable position (``qat_check.add_outlier``):

- ``edgeres``: ``edgeres quantize --to onnx`` with the defaults (equalized, bias-corrected, ORT);
- ``edgeres --weight-bits 8``: the same with full 8-bit weights (the default with uint8
  activations is 7: see ``QuantizeConfig.weight_bits``);
- ``edgeres --no-equalize``: ORT's ``quantize_static`` on the network as given;
- ``NNCF``: ``nncf.quantize`` (preset performance, fast bias correction) on the FP32 ONNX export;
- ``NNCF, equalized``: the same on the export of the equalized network.

Accuracy (top-1, drop, agreement with FP32, on ONNX Runtime and on OpenVINO) does not depend on
load and is measured always.
``--speed`` also times each INT8 file at batch 1 on ONNX Runtime and OpenVINO (``--threads``):
only on a quiet machine, e.g.

    .venv/bin/python tools/onnx_quantizer_compare.py --ckpt resnet8=runs/r8/model.pt \\
        --ckpt resnet18s=runs/r18/model.pt --outlier 16 --speed --threads 2 --out /tmp/oqc

Smallest run (checks the tool works):
    .venv/bin/python tools/onnx_quantizer_compare.py --ckpt t=runs/t/model.pt --samples 16 \\
        --eval-limit 32 --out /tmp/oqc --speed --seconds 0.2
"""

from __future__ import annotations

import argparse
import platform
import shutil
from pathlib import Path

import numpy as np
from qat_check import add_outlier
from quietcheck import QuietCheck, add_arguments

from edgeres import runtime
from edgeres.quantize import quantize


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--ckpt", action="append", required=True, help="NAME=PATH (repeatable)")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--outlier", type=float, default=None, help="also a copy with outliers xF")
    p.add_argument("--calib", default="shapes")
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--eval-data", default="shapes")
    p.add_argument("--eval-limit", type=int, default=1000)
    p.add_argument("--speed", action="store_true", help="time each file (quiet machine only)")
    add_arguments(p)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=3.0, help="timing: minimum seconds per file")
    return p.parse_args()


def _edgeres(ckpt: Path, out: Path, args, **options) -> Path:
    result = quantize(ckpt, to=("onnx",), calib=args.calib, samples=args.samples,
                      eval_data=None, out_dir=out, quiet=True, **options)  # fmt: skip
    return result.outputs["onnx"]


def _fp32_export(ckpt: Path, out: Path, equalize: bool) -> tuple[Path, object]:
    from edgeres.convert.onnx import export_onnx
    from edgeres.formats.checkpoint import load_checkpoint
    from edgeres.quantize.equalize import equalize as equalize_network

    loaded = load_checkpoint(ckpt)
    if equalize:
        equalize_network(loaded.model.eval())
    path = out / f"{ckpt.stem}{'-eq' if equalize else ''}.fp32.onnx"
    return export_onnx(loaded.model, loaded.info, path), loaded.info


def _nncf(ckpt: Path, out: Path, args, equalize: bool) -> Path:
    import nncf
    import onnx

    from edgeres.quantize.calib import calibration_batches, rebatch

    fp32, info = _fp32_export(ckpt, out, equalize)
    model = onnx.load(str(fp32))
    name = model.graph.input[0].name
    calib = list(rebatch(calibration_batches(args.calib, info.spec, args.samples, quiet=True), 1))
    quantized = nncf.quantize(
        model, nncf.Dataset(calib, lambda b: {name: b}), subset_size=len(calib)
    )
    path = out / f"{ckpt.stem}{'-eq' if equalize else ''}_nncf_int8.onnx"
    onnx.save(quantized, str(path))
    return path


ENGINES = ("onnxruntime", "openvino")


def _predictions(path: Path, images: np.ndarray, info, engine: str = "onnxruntime") -> np.ndarray:
    with runtime.load(path, engine=engine, info=info) as backend:
        x = backend.spec.preprocess(images)
        return np.array([backend.infer(x[i : i + 1])[0].argmax() for i in range(len(x))])


def _latency_ms(path: Path, engine: str, info, args) -> float:
    from edgeres.bench.timing import measure
    from edgeres.profiles import Budget

    budget = Budget(warmup_runs=20, warmup_seconds=0.5, min_runs=100, min_seconds=args.seconds,
                    trials=3, pause_seconds=0.5)  # fmt: skip
    with runtime.load(path, engine=engine, info=info, threads=args.threads) as backend:
        x = np.zeros(backend.spec.shape(1), np.float32)
        timing = measure(lambda: backend.infer(x), budget)
    return float(np.median(timing.samples_ns)) / 1e6


def compare(name: str, ckpt: Path, out: Path, args, data) -> list[str]:
    """One markdown row per quantizer for ``ckpt``."""
    from edgeres.formats.checkpoint import load_checkpoint

    info = load_checkpoint(ckpt).info
    fp32_path, _ = _fp32_export(ckpt, out, equalize=False)
    fp32 = _predictions(fp32_path, data.images, info)
    fp32_acc = float(np.mean(fp32 == data.labels))
    files = {
        "edgeres (ORT, equalized)": _edgeres(ckpt, out / "eq", args),
        "edgeres --weight-bits 8 (ORT)": _edgeres(ckpt, out / "w8", args, weight_bits=8),
        "edgeres --no-equalize (ORT)": _edgeres(ckpt, out / "plain", args, no_equalize=True),
        f"NNCF {_nncf_version()}": _nncf(ckpt, out, args, False),
        f"NNCF {_nncf_version()}, equalized": _nncf(ckpt, out, args, True),
    }
    rows = []
    for quantizer, path in files.items():
        cells = []
        for engine in ENGINES:
            pred = _predictions(path, data.images, info, engine)
            acc = float(np.mean(pred == data.labels))
            cells.append(f"{100 * acc:.2f}% | {100 * (fp32_acc - acc):+.2f} | "
                         f"{100 * np.mean(pred == fp32):.2f}%")  # fmt: skip
        speed = ""
        if args.speed:
            ms = [_latency_ms(path, e, info, args) for e in ENGINES]
            speed = f" {ms[0]:.3f} | {ms[1]:.3f} |"
        rows.append(f"| {name} | {quantizer} | {100 * fp32_acc:.2f}% | {' | '.join(cells)} | "
                    f"{path.stat().st_size / 1024:.1f} KiB |{speed}")  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def _nncf_version() -> str:
    import nncf

    return nncf.__version__


def main() -> None:
    from edgeres.data import load_split

    args = parse_args()
    check = QuietCheck.from_args(args)
    if args.out.exists():
        shutil.rmtree(args.out)
    rows = []
    for spec in args.ckpt:
        name, path = spec.split("=", 1)
        from edgeres.formats.checkpoint import load_checkpoint

        size = load_checkpoint(Path(path)).info.spec.size
        data = load_split(args.eval_data, "test", size, seed=0, limit=args.eval_limit, quiet=True)
        cases = [(name, Path(path))]
        if args.outlier:
            outlier = args.out / name / "outlier.pt"
            outlier.parent.mkdir(parents=True, exist_ok=True)
            add_outlier(Path(path), outlier, args.outlier)
            cases.append((f"{name} outliers x{args.outlier:g}", outlier))
        for label, ckpt in cases:
            folder = args.out / label.replace(" ", "_")
            folder.mkdir(parents=True, exist_ok=True)
            rows += compare(label, ckpt, folder, args, data)
    speed = " ORT ms | OpenVINO ms |" if args.speed else ""
    if args.speed:
        check.finish()
        print(check.heading(check.summary()))
    print(f"\n{args.samples} calibration samples of {args.calib}, {args.eval_limit} eval images "
          f"of {args.eval_data}; each file scored on ONNX Runtime and on OpenVINO (CPU), "
          f"{platform.machine()}"
          + (f"; batch 1, {args.threads} threads" if args.speed else ""))  # fmt: skip
    print("| model | quantizer | FP32 | INT8 ORT | drop | agreement | INT8 OpenVINO | drop "
          f"| agreement | size |{speed}")  # fmt: skip
    print(
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        + (" ---: | ---: |" if args.speed else "")
    )
    print("\n".join(rows))


if __name__ == "__main__":
    main()
