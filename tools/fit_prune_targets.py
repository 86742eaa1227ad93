"""Issue 28's targets: what ``edgeres fit`` and ``edgeres prune`` buy against ``resnet18s``' INT8.

    python tools/fit_prune_targets.py fit --set digits --size 32     # fit under half r18s' latency
    python tools/fit_prune_targets.py prune --set shapes --size 64   # 50% MACs, with/without KD
    ... --accuracy-only      # no speed rounds (accuracy may be measured under load; say so)

``fit``: trains resnet18s at --size, quantizes it (INT8 accuracy on the test split), measures
its INT8 latency with the engine tune picks, then runs ``edgeres fit`` under half that latency
(every registered family, --size and below) and reports the chosen model's INT8 accuracy against
resnet18s' and the search's cost (trials, wall time, measuring against training).

``prune``: prunes the trained resnet18s to 50% of its MACs twice, fine-tuned with distillation
from the unpruned network and without, and reports both INT8 accuracies against the unpruned.

Speed (both): the INT8 files are timed side by side in one run, each on the engine tune picked
for it, each row in a fresh process, rounds interleaved (A, B, A, B...), and the ratio is taken
from the medians; ``tools/quietcheck.py`` refuses the table when other processes used the CPU.
Data: scikit-learn's digits (real, 1,797 images, written out as folders) or shapes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quietcheck import QuietCheck, add_arguments  # noqa: E402


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("part", choices=("fit", "prune"))
    ap.add_argument("--set", default="digits", choices=("digits", "shapes"))
    ap.add_argument("--size", type=int, default=32, help="input size of resnet18s (32-96)")
    ap.add_argument("--epochs", default="auto", help="epochs of the full trainings")
    ap.add_argument("--limit", type=int, default=None, help="training images (shapes: made)")
    ap.add_argument("--eval-limit", type=int, default=1000)
    ap.add_argument("--trials", type=int, default=20, help="fit: proxy runs")
    ap.add_argument("--proxy-epochs", type=int, default=5)
    ap.add_argument("--families", default="", help="fit: families (default: the registry's)")
    ap.add_argument("--threads", type=int, default=2, help="engine threads when timing")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=1.0, help="seconds per timing trial")
    ap.add_argument("--accuracy-only", action="store_true", help="skip the speed rounds")
    ap.add_argument("--out", type=Path, default=Path("/tmp/edgeres-fit-targets"))
    add_arguments(ap)
    return ap.parse_args()


def _data(args) -> str:
    if args.set == "shapes":
        return "shapes"
    from schedule_check import write_digits

    root = args.out / "digits"
    if not (root / "train").is_dir():
        write_digits(root, quarter=False)
    return str(root)


def _train_r18s(args, data: str) -> Path:
    from edgeres.train import TrainConfig, train

    out = args.out / f"r18s-{args.set}-{args.size}"
    if (out / "model.pt").exists() and (out / "metrics.json").exists():
        return out / "model.pt"
    augment = "crop" if args.set == "digits" else "crop,flip"
    cfg = TrainConfig(
        model="resnet18s", img_size=args.size, data=data, out=out, epochs=args.epochs,
        limit=args.limit, eval_limit=args.eval_limit, augment=augment, force=True, quiet=True,
    )  # fmt: skip
    return train(cfg).checkpoint


def _int8(ckpt: Path, data: str, args) -> tuple[Path, float | None]:
    """The INT8 ONNX file beside ``ckpt`` and its test accuracy (quantize's report)."""
    from edgeres.quantize import QuantizeConfig, quantize

    cfg = QuantizeConfig(calib=data, eval_data=data, eval_limit=args.eval_limit,
                         to=("onnx",), force=True, quiet=True)  # fmt: skip
    result = quantize(ckpt, cfg)
    fmt = result.report.formats.get("onnx") if result.report else None
    return result.outputs["onnx"], fmt.accuracy if fmt else None


def _tuned_engine(path: Path, threads: int) -> str:
    from edgeres.fit.measure import Target, measure_file

    return measure_file(path, Target(threads=(threads,), min_time=0.3, trials=1)).engine


def interleaved(files: dict[str, Path], args) -> dict[str, float]:
    """Median p50 of each file over interleaved rounds, fresh process per row."""
    from edgeres.bench.jobs import Job, run_isolated

    engines = {k: _tuned_engine(p, args.threads) for k, p in files.items()}
    budget = {"warmup_runs": 10, "warmup_seconds": 0.5, "min_runs": 30,
              "min_seconds": args.min_time, "trials": 1, "pause_seconds": 0.2}  # fmt: skip
    p50s: dict[str, list[float]] = {k: [] for k in files}
    for r in range(args.rounds):
        for k, path in files.items():
            row = run_isolated(Job(str(path), args.threads, "host", budget, engine=engines[k]))
            p50s[k].append(row["latency"]["p50_ms"])
            print(f"round {r + 1}/{args.rounds}: {k} on {engines[k]}", file=sys.stderr)
    return {k: statistics.median(v) for k, v in p50s.items()} | {
        f"{k}_engine": engines[k] for k in files
    }


def run_fit(args, data: str, check: QuietCheck) -> dict:
    from edgeres.fit import FitConfig, fit
    from edgeres.fit.measure import Target, measure_file

    ckpt = _train_r18s(args, data)
    r18_int8, r18_acc = _int8(ckpt, data, args)
    r18_ms = measure_file(r18_int8, Target(threads=(args.threads,))).p50_ms
    sizes = ",".join(str(s) for s in sorted({16, 24, 32, args.size}) if s <= args.size)
    t0 = time.perf_counter()
    cfg = FitConfig(
        data=data, out=args.out / f"fit-{args.set}-{args.size}", latency_ms=r18_ms / 2,
        families=args.families, sizes=sizes, trials=args.trials, proxy_epochs=args.proxy_epochs,
        epochs=args.epochs, limit=args.limit, eval_limit=args.eval_limit,
        measure_threads=str(args.threads), force=True, quiet=True,
    )  # fmt: skip
    res = fit(cfg).to_dict()
    wall = time.perf_counter() - t0
    chosen = res["chosen"]
    chosen_int8 = Path(chosen["int8"]["onnx"]) if chosen.get("int8", {}).get("onnx") else None
    _, chosen_acc = _int8(cfg.out / "chosen" / "model.pt", data, args)
    out = {"set": args.set, "size": args.size, "r18s_int8_accuracy": r18_acc,
           "r18s_int8_ms_search": r18_ms, "budget_ms": cfg.budget_ms,
           "chosen": chosen["candidate"], "chosen_int8_accuracy": chosen_acc,
           "chosen_ms_search": chosen["latency_ms"], "trials": res["trials"],
           "seconds": res["seconds"], "wall_s": round(wall, 1)}  # fmt: skip
    if not args.accuracy_only and chosen_int8 is not None:
        out["speed"] = interleaved({"r18s": r18_int8, "chosen": chosen_int8}, args)
    return out


def run_prune(args, data: str, check: QuietCheck) -> dict:
    from edgeres.prune import PruneConfig, prune

    ckpt = _train_r18s(args, data)
    r18_int8, r18_acc = _int8(ckpt, data, args)
    out = {"set": args.set, "size": args.size, "r18s_int8_accuracy": r18_acc}
    files = {"r18s": r18_int8}
    for name, kd in (("distilled", False), ("labels_only", True)):
        cfg = PruneConfig(
            model=ckpt, data=data, out=args.out / f"prune-{args.set}-{args.size}-{name}",
            macs=0.5, no_teacher=kd, epochs=args.epochs, limit=args.limit,
            eval_limit=args.eval_limit, to=("onnx",), force=True, quiet=True,
        )  # fmt: skip
        res = prune(cfg).to_dict()
        _, acc = _int8(cfg.out / "model.pt", data, args)
        out[name] = {"fp32_accuracy": res["accuracy_after"], "int8_accuracy": acc,
                     "macs_ratio": res["macs_ratio"]}  # fmt: skip
        files[name] = Path(res["int8"]["onnx"])
    out["r18s_fp32_accuracy"] = res["accuracy_before"]
    if not args.accuracy_only:
        out["speed"] = interleaved({"r18s": files["r18s"], "pruned": files["distilled"]}, args)
    return out


def main() -> None:
    args = parse_args()
    check = QuietCheck.from_args(args)
    os.environ.setdefault("EDGERES_QUIET", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    data = _data(args)
    result = (run_fit if args.part == "fit" else run_prune)(args, data, check)
    (args.out / f"{args.part}-{args.set}-{args.size}.json").write_text(json.dumps(result, indent=2))
    if "speed" in result:
        check.finish()
        s = result["speed"]
        other = "chosen" if "chosen" in s else "pruned"
        result["speedup"] = round(s["r18s"] / s[other], 2)
        print(check.heading(check.summary()))
    else:
        print("accuracy only: no speed rounds (figures from a loaded machine are not timings)")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
