"""What fine-tuning a pretrained backbone buys on a small real folder, against training from scratch.

1. Pretrains ``resnet18`` (torchvision layout) on the synthetic ``shapes`` set at ``--img-size``
   (96 px by default) for ``--pretrain-epochs`` epochs, and saves its weights as a plain state dict
   in torchvision's layout (``pretrained.pth``, the file a user downloads for ImageNet).
2. Writes a quarter of scikit-learn's bundled digits (real 8x8 handwritten digits, shipped in the
   sklearn wheel) as an image folder (``train/<digit>``, ``test/<digit>``), as schedule_check does.
3. Trains on it three ways with edgeres' defaults: from scratch; ``--init pretrained.pth`` (the
   fine-tuning defaults: lr 0.01, the shorter auto schedule); ``--init ... --freeze-backbone``.
   ``--augment crop`` for all (flips are wrong for digits).

Prints a markdown table: test accuracy, epochs, steps and training time of each. Accuracy does
not depend on the machine's load; the times do (measure them on a quiet machine).

Usage (the measurement):
    .venv/bin/python tools/finetune_check.py --out /tmp/finetune_check
Smallest settings (checks the tool works, numbers mean nothing):
    .venv/bin/python tools/finetune_check.py --out /tmp/ftc --quick
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from schedule_check import write_digits  # noqa: E402

from edgeres.train import TrainConfig, train  # noqa: E402
from edgeres.train.checkpoint import load_checkpoint  # noqa: E402


def pretrain(out: Path, args) -> Path:
    """resnet18 on shapes, saved as a torchvision-layout state dict."""
    run = train(
        TrainConfig(
            model="resnet18", data="shapes", out=out / "pretrain", img_size=args.img_size,
            epochs=args.pretrain_epochs, limit=args.pretrain_images, threads=args.threads,
            model_args={"width": args.width} if args.width != 1.0 else {},
            force=True, quiet=True, eval_limit=500,
        )
    )  # fmt: skip
    path = out / "pretrained.pth"
    torch.save(load_checkpoint(run.checkpoint).model.state_dict(), path)
    print(f"pretrained on shapes: {100 * run.metrics['test_accuracy']:.1f}% -> {path}")
    return path


def runs(data: Path, pretrained: Path, out: Path, args) -> list[tuple[str, dict]]:
    common = dict(
        model="resnet18", data=str(data), img_size=args.img_size, augment="crop",
        threads=args.threads, force=True, quiet=True,
        model_args={"width": args.width} if args.width != 1.0 else {},
    )  # fmt: skip
    if args.quick:
        common["epochs"] = 1
    plans = [
        ("from scratch (defaults)", {}),
        ("--init pretrained.pth (fine-tuning defaults)", {"init": pretrained}),
        ("--init ... --freeze-backbone", {"init": pretrained, "freeze_backbone": True}),
    ]
    results = []
    for i, (name, kw) in enumerate(plans):
        metrics = train(TrainConfig(out=out / f"run{i}", **common, **kw)).metrics
        results.append((name, metrics))
        print(f"{name}: {100 * metrics['test_accuracy']:.1f}%", flush=True)
    return results


def table(results: list[tuple[str, dict]]) -> str:
    rows = [
        "| run | test accuracy | epochs | steps | lr | train time* |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, m in results:
        rows.append(
            f"| {name} | {100 * m['test_accuracy']:.1f}% | {m['epochs']} | "
            f"{m.get('total_steps', m.get('schedule', {}).get('total_steps', '?'))} | "
            f"{m.get('lr', '?')} | {m['train_seconds']:.0f} s |"
        )
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--img-size", type=int, default=96)
    p.add_argument("--width", type=float, default=1.0, help="resnet18 width (1.0: torchvision's)")
    p.add_argument("--pretrain-epochs", type=int, default=8)
    p.add_argument("--pretrain-images", type=int, default=6000)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="tiny settings: checks the tool runs")
    args = p.parse_args()
    if args.quick:
        args.img_size, args.width, args.pretrain_epochs, args.pretrain_images = 32, 0.25, 1, 200
    args.out.mkdir(parents=True, exist_ok=True)
    pretrained = pretrain(args.out, args)
    data = write_digits(args.out / "digits_quarter", quarter=True) if not (
        args.out / "digits_quarter").exists() else args.out / "digits_quarter"  # fmt: skip
    results = runs(data, pretrained, args.out, args)
    print(f"\nmachine: {platform.machine()}, {torch.get_num_threads()} torch threads; "
          "* times measured under whatever load the machine had\n")  # fmt: skip
    print(table(results))
    (args.out / "finetune_check.json").write_text(
        json.dumps([{"run": n, **m} for n, m in results], indent=2, default=str)
    )


if __name__ == "__main__":
    main()
