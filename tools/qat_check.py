"""Does QAT win back what post-training quantization lost? PTQ against QAT on a case built to hurt PTQ.

The case: a trained network given *outlier channels* without changing its function. At every
position where channels can be rescaled (inside each block, between conv1 and conv2, and along
each stage's residual stream, through the additions), the widest channel's writers (BatchNorm
gamma and beta, or conv weights and bias) are scaled by ``--outlier`` and its readers' input
weights by ``1/outlier``; ReLU is positively homogeneous, so FP32 outputs are unchanged (the tool
prints the difference). With per-tensor activation ranges (always), INT8 rounding crushes the
other channels of those tensors. This is what real networks with a few dominant channels look
like to a quantizer; cross-layer equalization (on by default) is what undoes it.

Then: ``edgeres quantize`` (PTQ) of that checkpoint, the same with ``--max-drop 1`` (PTQ that
keeps its most sensitive layers in float until it passes), and ``edgeres train --qat --init`` of
it, all evaluated on the same test split; prints a markdown table FP32 / PTQ INT8 / QAT INT8 per
format. ONNX INT8 after QAT is ONNX Runtime's static quantization of the QAT-fine-tuned weights.

Usage (the measurement):
    .venv/bin/python tools/qat_check.py --out /tmp/qat_check
From a checkpoint already trained, with the defaults' per-channel weights:
    .venv/bin/python tools/qat_check.py --out /tmp/qat_check --init runs/r8/model.pt --per-channel
Smallest settings (checks the tool works, numbers mean nothing):
    .venv/bin/python tools/qat_check.py --out /tmp/qc --model test_resnet --limit 300 \\
        --epochs 1 --qat-epochs 1 --eval-limit 100
"""

from __future__ import annotations

import argparse
import platform
import shutil
from pathlib import Path

import torch

from edgeres.quantize import quantize
from edgeres.train import TrainConfig, train
from edgeres.train.checkpoint import load_checkpoint, save_checkpoint


def add_outlier(src: Path, dst: Path, factor: float) -> float:
    """Copy checkpoint ``src`` to ``dst`` with outlier channels; returns max |FP32 change|.

    In every channel space equalization can rescale (each block's conv1 -> conv2, and each
    stage's residual stream with all its writers and readers), the widest channel is made
    ``factor`` times wider and its readers' weights ``factor`` times smaller.
    """
    from edgeres.quantize.equalize import channel_spaces

    ckpt = load_checkpoint(src)
    model = ckpt.model.eval()
    x = torch.randn(8, *ckpt.info.spec.shape(1)[1:])
    with torch.no_grad():
        before = model(x)
        for space in channel_spaces(model):
            c = int(torch.stack([w.ranges() for w in space.writers]).amax(0).argmax())
            s = torch.ones(space.channels)
            s[c] = 1 / factor
            space.scale(s)
        change = float((model(x) - before).abs().max())
    save_checkpoint(dst, model, ckpt.info, ckpt.model_args, ckpt.metrics)
    return change


def _accuracies(report) -> dict[str, tuple[float, float]]:
    return {f: (r.accuracy, r.drop_pts) for f, r in report.formats.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--model", default="resnet8")
    ap.add_argument("--init", type=Path, default=None, help="a trained checkpoint: skip training")
    ap.add_argument("--data", default="shapes", help="shapes, an image folder or cifar10:DIR")
    ap.add_argument("--limit", type=int, default=None, help="training images (shapes: made)")
    ap.add_argument("--epochs", default="auto", help="FP32 training epochs")
    ap.add_argument("--qat-epochs", default="auto")
    ap.add_argument("--outlier", type=float, default=16.0)
    ap.add_argument(
        "--per-channel", action="store_true", help="per-channel weights (a milder case)"
    )
    ap.add_argument("--eval-limit", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    common = dict(
        data=args.data, limit=args.limit, eval_limit=args.eval_limit, threads=args.threads
    )
    if args.init is None:
        base = train(
            TrainConfig(
                model=args.model, out=args.out / "fp32", epochs=args.epochs, quiet=True, **common
            )
        ).checkpoint
    else:
        base = args.init
    ckpt = args.out / "outlier" / "model.pt"
    ckpt.parent.mkdir(parents=True)
    change = add_outlier(base, ckpt, args.outlier)
    per_tensor = not args.per_channel
    ptq = quantize(ckpt, to=("onnx", "tflite"), per_tensor=per_tensor, eval_data=args.data,
                   eval_limit=args.eval_limit, quiet=True).report  # fmt: skip
    # The other repair: PTQ with its most sensitive layers kept in float until the drop is <= 1.
    repaired = quantize(ckpt, to=("onnx", "tflite"), per_tensor=per_tensor, eval_data=args.data,
                        eval_limit=args.eval_limit, max_drop=1.0, quiet=True,
                        out_dir=args.out / "fallback").report  # fmt: skip
    qat = train(TrainConfig(init=ckpt, qat=True, per_tensor=per_tensor, out=args.out / "qat",
                            epochs=args.qat_epochs, quiet=True, **common)).quant_report  # fmt: skip
    weights = "per-channel" if args.per_channel else "per-tensor"
    print(f"{args.model} on {args.data}, outlier x{args.outlier:g} (FP32 change {change:.1e}), "
          f"{weights} weights; {platform.machine()}, ONNX Runtime and LiteRT on CPU; "
          f"{ptq.eval_samples} test images")  # fmt: skip
    print(
        "| format | FP32 | PTQ INT8 | PTQ drop | PTQ + float layers (drop) | QAT FP32 | QAT INT8 | QAT drop |"
    )
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for fmt in ("onnx", "tflite"):
        p, q, r = ptq.formats[fmt], qat.formats[fmt], repaired.formats[fmt]
        kept = f"{100 * r.accuracy:.2f}% ({r.drop_pts:+.2f}), {len(r.float_layers)} float"
        print(f"| {fmt} | {100 * ptq.fp32_accuracy:.2f}% | {100 * p.accuracy:.2f}% | {p.drop_pts:+.2f} | "
              f"{kept} | {100 * qat.fp32_accuracy:.2f}% | {100 * q.accuracy:.2f}% | {q.drop_pts:+.2f} |")  # fmt: skip
    print(
        "drop: FP32 of the same file's source minus INT8, points; QAT FP32 is the fine-tuned "
        "network before rounding; compare INT8 columns with the PTQ FP32 column."
    )


if __name__ == "__main__":
    main()
