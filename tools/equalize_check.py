"""Does equalizing before rounding help? INT8 drop with and without ``--no-equalize``.

For each checkpoint given, and for a copy of it with outlier channels at every rescalable
position (``qat_check.add_outlier``: function-preserving, FP32 unchanged), quantize to ONNX and
TFLite with the defaults and with ``--no-equalize``, no float layers (``--no-fallback``), and
print one markdown row per checkpoint x variant x format: FP32 top-1, INT8 top-1, drop,
agreement with FP32. Accuracy only: nothing here depends on machine load.

Usage:
    .venv/bin/python tools/equalize_check.py --ckpt resnet8=runs/r8/model.pt --out /tmp/eq
    .venv/bin/python tools/equalize_check.py --ckpt r8=runs/r8/model.pt --per-tensor --out /tmp/eq
"""

from __future__ import annotations

import argparse
import platform
import shutil
from pathlib import Path

from qat_check import add_outlier

from edgeres.quantize import quantize


def _row(name: str, variant: str, report) -> list[str]:
    rows = []
    for fmt, r in report.formats.items():
        rows.append(
            f"| {name} | {variant} | {fmt} | {100 * report.fp32_accuracy:.2f}% | "
            f"{100 * r.accuracy:.2f}% | {r.drop_pts:+.2f} | {100 * r.agreement:.2f}% |"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ckpt", action="append", required=True, help="NAME=PATH, repeatable")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--outlier", type=float, default=16.0)
    ap.add_argument("--to", default="onnx,tflite")
    ap.add_argument("--data", default="shapes")
    ap.add_argument("--eval-limit", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--per-tensor", action="store_true")
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    rows = []
    for spec in args.ckpt:
        name, path = spec.split("=", 1)
        outlier = args.out / name / "outlier.pt"
        outlier.parent.mkdir(parents=True)
        change = add_outlier(Path(path), outlier, args.outlier)
        print(f"{name}: outlier x{args.outlier:g}, FP32 change {change:.1e}", flush=True)
        for ckpt, kind in ((Path(path), "trained"), (outlier, f"outliers x{args.outlier:g}")):
            for equalize in (False, True):
                label = f"{kind}, {'equalized' if equalize else '--no-equalize'}"
                out = args.out / name / f"{ckpt.stem}-{int(equalize)}"
                report = quantize(ckpt, to=args.to, calib=args.data, samples=args.samples,
                                  eval_data=args.data, eval_limit=args.eval_limit,
                                  per_tensor=args.per_tensor, no_equalize=not equalize,
                                  no_fallback=True, out_dir=out, quiet=True).report  # fmt: skip
                rows += _row(name, label, report)
                print(rows[-1], flush=True)
    weights = "per-tensor" if args.per_tensor else "per-channel"
    print(f"\n{args.data}, {args.eval_limit} eval images, {args.samples} calibration samples, "
          f"{weights} weights; {platform.machine()}, ONNX Runtime and LiteRT on CPU")  # fmt: skip
    print("| model | variant | format | FP32 | INT8 | drop (pts) | agreement |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
