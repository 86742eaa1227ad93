"""A torch.export program (``.pt2``) of a ResNet-18 through ``convert`` and ``quantize``, measured.

Builds a ResNet-18 in torchvision's layout (edgeres' ``resnet18``; the program is plain ATen
either way) holding ``--weights`` (a torchvision-layout state dict, e.g. the ``pretrained.pth``
tools/finetune_check.py writes after training on ``shapes``; random weights without it), exports
it with ``torch.export`` at ``--img-size`` (224 by default) and saves ``model.pt2``. Then, as a
user would from the command line: ``edgeres convert model.pt2 --labels`` (ONNX + TFLite, parity
against the program) and ``edgeres quantize model.pt2 --labels --eval-data shapes`` (both
formats, calibrated). Prints parity, FP32 and INT8 top-1 on ``--eval-data``, the drop, full-integer
check and file sizes. None of these depend on the machine's load (no timings are taken).

Usage (the measurement):
    .venv/bin/python tools/byom_check.py --weights /tmp/finetune_check/pretrained.pth --out /tmp/byom
Smallest settings (checks the tool works):
    .venv/bin/python tools/byom_check.py --out /tmp/byom_q --img-size 32 --width 0.125 --quick
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import torch

from edgeres.data.shapes import CLASSES
from edgeres.formats.source_options import SourceOptions
from edgeres.formats.torch_source import load_torch_source
from edgeres.models import create_model

IMAGENET = ("--mean", "0.485,0.456,0.406", "--std", "0.229,0.224,0.225")


def build_program(args) -> Path:
    if args.weights:
        model = load_torch_source(args.weights, SourceOptions(model="resnet18")).model
    else:
        torch.manual_seed(0)
        model = create_model("resnet18", len(CLASSES), width=args.width).eval()
    path = args.out / "model.pt2"
    x = torch.randn(1, 3, args.img_size, args.img_size)
    torch.export.save(torch.export.export(model.eval(), (x,)), str(path))
    return path


def edgeres(*argv) -> dict:
    cmd = [sys.executable, "-m", "edgeres", *map(str, argv), "--json"]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--weights", type=Path, help="torchvision-layout state dict (10 shapes classes)")
    p.add_argument("--img-size", type=int, default=224)
    p.add_argument("--width", type=float, default=1.0, help="without --weights: resnet18 width")
    p.add_argument("--eval-data", default="shapes")
    p.add_argument("--eval-limit", type=int, default=500)
    p.add_argument("--quick", action="store_true", help="few samples: checks the tool runs")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    labels = args.out / "labels.txt"
    labels.write_text("\n".join(CLASSES) + "\n")
    program = build_program(args)
    conv = edgeres("convert", program, "--labels", labels, *IMAGENET, "--out", args.out, "--force")
    samples = 16 if args.quick else 300
    limit = 50 if args.quick else args.eval_limit
    quant = edgeres("quantize", program, "--labels", labels, *IMAGENET, "--out", args.out,
                    "--force", "--calib", "shapes", "--samples", samples,
                    "--eval-data", args.eval_data, "--eval-limit", limit)  # fmt: skip
    rep = quant["report"]
    print(f"program {program} ({program.stat().st_size / 1e6:.1f} MB), {args.img_size} px")
    for par in conv["parity"]:
        print(f"parity {par['format']}: max |diff| {par['max_abs_diff']:.2e}, "
              f"top-1 agreement {par.get('top1_agree', '?')}, passed {par['passed']}")  # fmt: skip
    print(f"FP32 top-1 on {rep['eval_samples']} {rep['eval_data']} images: "
          f"{100 * (rep['fp32_accuracy'] or 0):.1f}%\n")  # fmt: skip
    print("| format | FP32 size | INT8 size | INT8 top-1 | drop (pts) | full integer |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for fmt, r in rep["formats"].items():
        fp32 = conv["outputs"].get(fmt)
        fp32_mb = Path(fp32).stat().st_size / 1e6 if fp32 else float("nan")
        acc = "-" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f}%"
        drop = "-" if r["drop_pts"] is None else f"{r['drop_pts']:.2f}"
        print(f"| {fmt} | {fp32_mb:.1f} MB | {r['size_bytes'] / 1e6:.1f} MB | {acc} | {drop} | "
              f"{r['integer']['full_integer']} |")  # fmt: skip
    (args.out / "byom_check.json").write_text(
        json.dumps({"convert": conv, "quantize": quant}, indent=2)
    )


if __name__ == "__main__":
    main()
