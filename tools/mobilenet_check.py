"""MobileNetV2 INT8 on real data: FP32 vs INT8 in both formats, per-channel and --per-tensor,
with and without equalization; what replacing ReLU6 by ReLU costs in FP32; and a MobileNetV2
written in plain PyTorch outside edgeres, exported as ``.pt2`` and quantized.

1. Writes scikit-learn's bundled digits (1,797 real 8x8 handwritten digits, nothing downloaded)
   as an image folder (``schedule_check.write_digits``: ``train/`` and ``test/``, 80/20).
2. Trains ``mobilenet_v2_cifar`` (stride 8, for 32 px) on it with the defaults (``--augment
   crop``: flips are wrong for digits), or takes ``--ckpt``.
3. FP32 top-1 on the test split with ReLU6 and with every ReLU6 equalization would replace made
   ReLU (``equalize(..., iterations=0)``): the cost of the DFQ paper's replacement.
4. ``quantize`` with per-channel and per-tensor weights, each with and without ``--no-equalize``,
   no float layers (``--no-fallback``), ONNX (QDQ, ONNX Runtime) and TFLite (full integer, LiteRT).
5. The same weights in ``PlainMobileNetV2`` (below: torchvision's module names, nothing from
   edgeres), ``torch.export``-ed to ``.pt2`` and quantized the same way.

Accuracy only: nothing here depends on machine load. Prints markdown tables.

Usage:
    nice -n 10 .venv/bin/python tools/mobilenet_check.py --out /tmp/mbv2 --epochs 15
"""

from __future__ import annotations

import argparse
import copy
import platform
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from schedule_check import write_digits  # noqa: E402


class PlainBlock(nn.Module):
    """torchvision's InvertedResidual, written out."""

    def __init__(self, cin: int, cout: int, stride: int, t: int) -> None:
        super().__init__()
        hid = cin * t
        self.res = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if t != 1:
            layers.append(
                nn.Sequential(nn.Conv2d(cin, hid, 1, bias=False), nn.BatchNorm2d(hid), nn.ReLU6())
            )
        layers += [
            nn.Sequential(nn.Conv2d(hid, hid, 3, stride, 1, groups=hid, bias=False),
                          nn.BatchNorm2d(hid), nn.ReLU6()),
            nn.Conv2d(hid, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]  # fmt: skip
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.res else self.conv(x)


class PlainMobileNetV2(nn.Module):
    """A MobileNetV2 (stride 8 for 32 px) with torchvision's names; ``widths`` are the rounded
    channel counts (stem, 7 stages, last)."""

    def __init__(self, widths: list[int], classes: int) -> None:
        super().__init__()
        stages = ((1, 1, 1), (6, 2, 1), (6, 3, 2), (6, 4, 2), (6, 3, 1), (6, 3, 2), (6, 1, 1))
        feats: list[nn.Module] = [
            nn.Sequential(
                nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU6()
            )
        ]
        cin = widths[0]
        for (t, n, s), c in zip(stages, widths[1:8], strict=True):
            for j in range(n):
                feats.append(PlainBlock(cin, c, s if j == 0 else 1, t))
                cin = c
        feats.append(
            nn.Sequential(
                nn.Conv2d(cin, widths[8], 1, bias=False), nn.BatchNorm2d(widths[8]), nn.ReLU6()
            )
        )
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(widths[8], classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


def _test_images(root: Path, spec) -> tuple[torch.Tensor, np.ndarray]:
    """The test split, preprocessed by the checkpoint's InputSpec (as the runtime does)."""
    xs, ys = [], []
    for folder in sorted((root / "test").iterdir()):
        for f in sorted(folder.glob("*.png")):
            img = cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB)
            img = cv2.resize(img, (spec.width, spec.height), interpolation=cv2.INTER_LINEAR)
            x = (img.astype(np.float32) / 255.0 - np.array(spec.mean)) / np.array(spec.std)
            xs.append(x.transpose(2, 0, 1).astype(np.float32))
            ys.append(int(folder.name))
    return torch.from_numpy(np.stack(xs)), np.array(ys)


def _accuracy(model: nn.Module, x: torch.Tensor, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1).numpy() == y).mean())


def _rows(name: str, variant: str, report) -> list[str]:
    return [
        f"| {name} | {variant} | {fmt} | {100 * report.fp32_accuracy:.2f}% | "
        f"{100 * r.accuracy:.2f}% | {r.drop_pts:+.2f} | {100 * r.agreement:.2f}% |"
        for fmt, r in report.formats.items()
    ]


def _quantize_all(name: str, src: Path, data: Path, args, extra: dict) -> list[str]:
    from edgeres.quantize import quantize

    rows = []
    for per_tensor in (False, True):
        for equalize in (True, False):
            label = f"{'per-tensor' if per_tensor else 'defaults'}, {'equalized' if equalize else '--no-equalize'}"
            out = args.out / "q" / f"{src.stem}-{int(per_tensor)}{int(equalize)}"
            report = quantize(src, to=("onnx", "tflite"), calib=str(data / "train"),
                              samples=args.samples, eval_data=str(data / "test"),
                              per_tensor=per_tensor, no_equalize=not equalize, no_fallback=True,
                              out_dir=out, quiet=True, force=True, **extra).report  # fmt: skip
            rows += _rows(name, label, report)
            print("\n".join(rows[-2:]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--ckpt", type=Path, help="a trained mobilenet_v2_cifar (skips training)")
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--epochs", default="15")
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    data = args.out / "digits"
    if not data.exists():
        write_digits(data, quarter=False)
    ckpt_path = args.ckpt or _train(data, args)
    from edgeres.formats.checkpoint import load_checkpoint
    from edgeres.quantize.equalize import equalize

    ckpt = load_checkpoint(ckpt_path)
    x, y = _test_images(data, ckpt.info.spec)
    relu = copy.deepcopy(ckpt.model).eval()
    replaced = equalize(relu, iterations=0)["relu6_replaced"]
    print(f"| ReLU6 (as trained) | {100 * _accuracy(ckpt.model.eval(), x, y):.2f}% |")
    print(f"| {replaced} ReLU6 made ReLU | {100 * _accuracy(relu, x, y):.2f}% |", flush=True)
    rows = _quantize_all("mobilenet_v2_cifar", ckpt_path, data, args, {})
    plain = PlainMobileNetV2(_widths(ckpt.model), 10).eval()
    plain.load_state_dict({k: v for k, v in ckpt.model.state_dict().items()}, strict=True)
    pt2 = args.out / "plain_mobilenet_v2.pt2"
    torch.export.save(torch.export.export(plain, (torch.zeros(1, 3, 32, 32),)), pt2)
    spec = ckpt.info.spec
    extra = {"mean": spec.mean, "std": spec.std}
    rows += _quantize_all("plain PyTorch .pt2", pt2, data, args, extra)
    print(f"\ndigits test split ({len(y)} images), {args.samples} calibration samples; "
          f"{platform.machine()}, ONNX Runtime and LiteRT on CPU")  # fmt: skip
    print("| model | variant | format | FP32 | INT8 | drop (pts) | agreement |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))


def _widths(model: nn.Module) -> list[int]:
    f = model.features
    ends = [1, 3, 6, 10, 13, 16, 17]
    return (
        [f[0][0].out_channels]
        + [f[i].conv[-1].num_features for i in ends]
        + [f[18][0].out_channels]
    )


def _train(data: Path, args) -> Path:
    from edgeres.train import TrainConfig, train

    out = args.out / "run"
    if (out / "model.pt").is_file():
        return out / "model.pt"
    cfg = TrainConfig(model="mobilenet_v2_cifar", data=str(data), out=out, epochs=int(args.epochs) if args.epochs.isdigit() else args.epochs,
                      augment="crop", model_args={"width": args.width}, threads=args.threads)  # fmt: skip
    return train(cfg).checkpoint


if __name__ == "__main__":
    main()
