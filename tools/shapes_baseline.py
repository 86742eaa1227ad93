"""Show that the shapes data set is learnable but not trivial: a linear model on raw pixels.

A softmax (multinomial logistic) regression on standardised raw pixels, trained with full-batch
Adam in numpy, must stay under 60% test accuracy, while resnet8 reaches >= 95% (issue 2).
With ``--resnet EPOCHS`` it also trains resnet8 through ``edgeres.train`` (needs torch) and puts
both in one markdown table.

Usage:
    .venv/bin/python tools/shapes_baseline.py [--train 20000] [--test 2000] [--size 32]
        [--resnet EPOCHS] [--gen-sizes 32,64,96,224]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from edgeres.data import shapes  # noqa: E402


def _features(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255.0)


def softmax_regression(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    *,
    steps: int = 300,
    lr: float = 0.01,
    l2: float = 1e-4,
    num_classes: int = 10,
) -> tuple[float, float]:
    """Fit a softmax regression on raw pixels; return ``(train_accuracy, test_accuracy)``.

    Args:
        train_x: ``N x H x W x 3`` uint8 training images.
        train_y: ``N`` integer labels.
        test_x: ``M x H x W x 3`` uint8 test images.
        test_y: ``M`` integer labels.
        steps: Full-batch Adam steps.
        lr: Adam learning rate.
        l2: Weight decay on the weights (not the bias).
        num_classes: Number of classes.
    """
    xtr, xte = _features(train_x), _features(test_x)
    mean, std = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = (xtr - mean) / std, (xte - mean) / std
    n, d = xtr.shape
    w = np.zeros((d, num_classes), np.float32)
    b = np.zeros(num_classes, np.float32)
    onehot = np.eye(num_classes, dtype=np.float32)[train_y]
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    for t in range(1, steps + 1):
        logits = xtr @ w + b
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / n
        grads = [xtr.T @ g + l2 * w, g.sum(0)]
        for i, (param, grad) in enumerate(zip((w, b), grads, strict=True)):
            m[i] = 0.9 * m[i] + 0.1 * grad
            v[i] = 0.999 * v[i] + 0.001 * grad * grad
            mhat, vhat = m[i] / (1 - 0.9**t), v[i] / (1 - 0.999**t)
            param -= lr * mhat / (np.sqrt(vhat) + 1e-8)
    train_acc = float(((xtr @ w + b).argmax(1) == train_y).mean())
    test_acc = float(((xte @ w + b).argmax(1) == test_y).mean())
    return train_acc, test_acc


def _resnet_row(epochs: int, train: int, test: int, size: int) -> tuple[str, float, float, float]:
    import tempfile

    from edgeres.train import TrainConfig
    from edgeres.train import train as run_train

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(
            model="resnet8",
            data="shapes",
            out=Path(tmp) / "run",
            epochs=epochs,
            img_size=size,
            limit=train,
            eval_limit=test,
            quiet=True,
        )
        t0 = time.perf_counter()
        metrics = run_train(cfg).metrics
        seconds = time.perf_counter() - t0
    train_acc = float(metrics.get("train_accuracy", float("nan")))
    name = f"resnet8, {epochs} epochs (edgeres.train defaults otherwise)"
    return (name, train_acc, float(metrics["test_accuracy"]), seconds)


def generation_table(sizes: list[int], count: int) -> list[str]:
    """Markdown rows: shapes generation speed at each size (one process, this machine)."""
    rows = ["| image size | images | seconds | images/s |", "| ---: | ---: | ---: | ---: |"]
    for size in sizes:
        n = max(50, count * 32 * 32 // (size * size))
        t0 = time.perf_counter()
        shapes.generate(n, size, split="train")
        secs = time.perf_counter() - t0
        rows.append(f"| {size} | {n} | {secs:.2f} | {n / secs:.0f} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=int, default=20000, help="training images")
    ap.add_argument("--test", type=int, default=2000, help="test images")
    ap.add_argument("--size", type=int, default=32, help="image size in pixels")
    ap.add_argument("--steps", type=int, default=300, help="Adam steps for the linear model")
    ap.add_argument("--resnet", type=int, default=0, metavar="EPOCHS", help="also train resnet8")
    ap.add_argument(
        "--gen-sizes",
        default="32,64,96,224",
        help="sizes for the generation-speed table ('' to skip)",
    )
    args = ap.parse_args()

    t0 = time.perf_counter()
    xtr, ytr = shapes.generate(args.train, args.size, split="train")
    xte, yte = shapes.generate(args.test, args.size, split="test")
    gen_s = time.perf_counter() - t0
    rows = []
    t0 = time.perf_counter()
    tr, te = softmax_regression(xtr, ytr, xte, yte, steps=args.steps)
    rows.append(("softmax regression on raw pixels (numpy)", tr, te, time.perf_counter() - t0))
    if args.resnet:
        rows.append(_resnet_row(args.resnet, args.train, args.test, args.size))

    print(f"shapes {args.size}px: {args.train} train / {args.test} test images, generated in "
          f"{gen_s:.1f} s ({(args.train + args.test) / gen_s:.0f} images/s); "
          f"{platform.machine()}, {platform.python_version()}\n")  # fmt: skip
    print("| model | train accuracy | test accuracy | seconds |")
    print("| --- | ---: | ---: | ---: |")
    for name, tr_acc, te_acc, secs in rows:
        tr_s = "-" if np.isnan(tr_acc) else f"{100 * tr_acc:.1f}%"
        print(f"| {name} | {tr_s} | {100 * te_acc:.1f}% | {secs:.1f} |")
    if args.gen_sizes:
        print("\nshapes generation speed (one process):\n")
        print("\n".join(generation_table([int(s) for s in args.gen_sizes.split(",")], 5000)))


if __name__ == "__main__":
    main()
