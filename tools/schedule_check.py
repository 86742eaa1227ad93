"""Do the training defaults fit a small real data set? Defaults against a hand sweep of epochs/lr.

Writes scikit-learn's bundled digits (1,797 real 8x8 handwritten digits, shipped inside the
sklearn wheel: nothing is downloaded) out as an image folder, as a user would bring one
(``DIR/train/<digit>/*.png``, ``DIR/test/<digit>/*.png``, a fixed stratified 80/20 split), and a
second folder with a quarter of its training images. On each it trains the defaults
(``--epochs auto``, default lr; ``--augment crop``, since flips are wrong for digits) and a hand
sweep across them: each ``--epochs-list`` count at the default lr, and each ``--lr-list`` rate at
the defaults' epochs; it prints a markdown table: test accuracy of each run, the best of the
sweep, and whether the defaults are within ``--target`` points of it. Also one run of the
defaults with flips on, to show what ``--augment crop,flip`` costs on digits. A run folder that
already holds a finished run with the same settings is read, not trained again.

Needs scikit-learn (in the dev extra). Usage (the full measurement; each run is a few minutes):
    .venv/bin/python tools/schedule_check.py --out /tmp/schedule_check
Smallest settings (checks the tool works, numbers mean nothing):
    .venv/bin/python tools/schedule_check.py --out /tmp/sc --epochs-list 1 --lr-list 0.1 --quick
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
from pathlib import Path

import cv2
import numpy as np

from edgeres.train import TrainConfig, train


def write_digits(root: Path, quarter: bool, seed: int = 0) -> Path:
    """sklearn's digits as ``root/train/<digit>/*.png`` and ``root/test/<digit>/*.png``."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    rng = np.random.default_rng(seed)
    for label in range(10):
        idx = rng.permutation(np.flatnonzero(digits.target == label))
        n_test = round(0.2 * len(idx))
        train_idx = idx[n_test:]
        if quarter:
            train_idx = train_idx[: max(1, len(train_idx) // 4)]
        for split, chosen in (("test", idx[:n_test]), ("train", train_idx)):
            folder = root / split / str(label)
            folder.mkdir(parents=True, exist_ok=True)
            for i in chosen:
                cv2.imwrite(str(folder / f"{i}.png"), cv2.cvtColor(images[i], cv2.COLOR_GRAY2BGR))
    return root


def _train(data: Path, out: Path, args, **kw) -> dict:
    """One training run, or the finished run already in ``out`` when it was made with the same
    settings (a long sweep that was stopped picks up where it was)."""
    cfg = TrainConfig(
        model=args.model, data=str(data), out=out, seed=args.seed, threads=args.threads,
        augment=kw.pop("augment", "crop"), force=True, quiet=True, **kw,
    )  # fmt: skip
    done = out / "metrics.json"
    m = json.loads(done.read_text()) if done.exists() else None
    wanted = cfg.resolved(None)
    auto = cfg.epochs == "auto"
    same = (
        m is not None
        and (m["lr"], m["augment"], m["model"]) == (wanted.lr, wanted.augment, wanted.model)
        and m["schedule"]["epochs_auto"] == auto
        and (auto or m["epochs"] == cfg.epochs)
    )
    if not same:
        m = train(cfg).metrics
    return {
        "epochs": m["epochs"],
        "steps": m["schedule"]["total_steps"],
        "lr": m["lr"],
        "augment": m["augment"],
        "test_accuracy": m["test_accuracy"],
        "seconds": m["train_seconds"],
    }


def check_set(name: str, data: Path, work: Path, args) -> list[dict]:
    """The defaults, the defaults with flips, and the sweep on one folder: each of
    ``--epochs-list`` at the default lr, and each of ``--lr-list`` at the defaults' epochs."""
    quick = {"epochs": 1} if args.quick else {}  # a tool check: the defaults' schedule is long
    auto = _train(data, work / f"{name}-auto", args, **quick)
    runs = [dict(run="defaults (--augment crop)", **auto)]
    if not args.quick:
        flips = _train(data, work / f"{name}-flip", args, augment="crop,flip")
        runs.append(dict(run="defaults with flips", **flips))
    for epochs in args.epochs_list:
        res = _train(data, work / f"{name}-e{epochs}-lr{auto['lr']:g}", args, epochs=epochs)
        runs.append(dict(run="sweep: epochs", **res))
    for lr in args.lr_list:
        res = _train(data, work / f"{name}-auto-lr{lr:g}", args, lr=lr, **quick)
        runs.append(dict(run="sweep: lr", **res))
    return runs


def _table(results: dict[str, list[dict]], target: float) -> list[str]:
    lines = [
        "| data | run | epochs | steps | lr | augment | test acc | time |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    summary = []
    for name, runs in results.items():
        for r in runs:
            lines.append(
                f"| {name} | {r['run']} | {r['epochs']} | {r['steps']} | {r['lr']:g} | "
                f"{r['augment']} | {100 * r['test_accuracy']:.2f}% | {r['seconds']:.0f} s |"
            )
        best = max(
            (r for r in runs if r["run"].startswith("sweep")), key=lambda r: r["test_accuracy"]
        )
        gap = 100 * (best["test_accuracy"] - runs[0]["test_accuracy"])
        verdict = "within" if gap <= target else "NOT within"
        summary.append(
            f"{name}: defaults {100 * runs[0]['test_accuracy']:.2f}% vs best of sweep "
            f"{100 * best['test_accuracy']:.2f}% (epochs {best['epochs']}, lr {best['lr']:g}): "
            f"{gap:+.2f} pts, {verdict} {target:g} pt"
        )
    return lines + [""] + summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="work folder (data sets and runs)")
    ap.add_argument("--model", default="resnet8")
    ap.add_argument(
        "--epochs-list", type=int, nargs="+", default=[15, 30, 60, 120, 240],
        help="epochs tried at the default lr",
    )  # fmt: skip
    ap.add_argument(
        "--lr-list", type=float, nargs="+", default=[0.05, 0.2],
        help="peak learning rates tried at the defaults' epochs",
    )  # fmt: skip
    ap.add_argument("--sets", nargs="+", default=["digits", "digits-quarter"])
    ap.add_argument("--target", type=float, default=1.0, help="points the defaults may trail by")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="tool check only: 1 epoch for the defaults, no flips run",
    )
    args = ap.parse_args()
    results = {}
    for name in args.sets:
        data = args.out / "data" / name
        if data.exists():
            shutil.rmtree(data)
        write_digits(data, quarter=name.endswith("quarter"))
        results[name] = check_set(name, data, args.out / "runs", args)
    print(f"machine: {platform.machine()} {platform.processor() or ''}, model {args.model}, "
          f"threads {args.threads or 'all cores'}, FP32 PyTorch training on CPU")  # fmt: skip
    print("\n".join(_table(results, args.target)))
    (args.out / "schedule_check.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
