"""Check the benchmark's own targets and print them as a Markdown table.

1. Repeatability: two back-to-back benchmarks of the same model give p50 within 5%.
2. Timer overhead: what the timing loop adds to each measured run is under 1% of the model's p50
   (the target names a resnet8 INT8 inference).

Usage:
    python tools/bench_repeatability.py runs/r8/model_int8.onnx [--profile host] [--threads 2]
        [--rounds 2] [--min-time 3]

Exit code 1 when a target is missed, so it can run in CI on a quiet machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from quietcheck import QuietCheck, add_arguments

from edgeres.bench.config import BenchConfig
from edgeres.bench.runner import run_benchmark
from edgeres.bench.timing import timer_overhead_ns
from edgeres.profiles import load_profile


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "model", type=Path, help="Model file (a resnet8 INT8 file for the overhead target)."
    )
    p.add_argument("--profile", default=None, help="Profile (default: this machine's).")
    p.add_argument("--threads", type=int, default=None, help="Threads (default: the profile's).")
    p.add_argument("--rounds", type=int, default=2, help="Back-to-back benchmarks to compare.")
    p.add_argument(
        "--min-time", type=float, default=None, help="Seconds per trial (default: profile)."
    )
    p.add_argument("--tolerance", type=float, default=5.0, help="Allowed p50 spread in percent.")
    add_arguments(p)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = load_profile(args.profile)
    threads = (args.threads,) if args.threads else ()
    config = BenchConfig((args.model,), profile, threads, min_time=args.min_time, quiet=True)
    budget = config.budget_for(profile.budget)
    p50s = []
    check = QuietCheck.from_args(args)
    for i in range(args.rounds):
        r = run_benchmark(config).results[0]
        p50s.append(r.latency.p50_ms)
        print(
            f"round {i + 1}: p50 {r.latency.p50_ms:.4f} ms over {r.latency.runs} runs "
            f"(trial p50s {', '.join(f'{x:.4f}' for x in r.trial_p50_ms)})",
            file=sys.stderr,
        )
    check.finish()
    spread = (max(p50s) / min(p50s) - 1) * 100
    overhead = timer_overhead_ns(200_000)
    p50_ns = min(p50s) * 1e6
    in_sample = overhead["in_sample_ns"] / p50_ns * 100
    per_run = overhead["per_run_ns"] / p50_ns * 100
    ok_rep, ok_timer = spread <= args.tolerance, in_sample < 1.0
    print(
        f"Model `{args.model.name}`, profile `{profile.name}`, threads "
        f"{args.threads or profile.threads}, budget {budget.trials} trials x >= "
        f"{budget.min_runs} runs / {budget.min_seconds} s; "
        + check.heading(check.summary())
        + " (the repeatability target assumes a quiet machine).\n"
    )
    print("| target | measured | limit | verdict |")
    print("|---|---|---|---|")
    ratio = " / ".join(f"{p:.4f}" for p in p50s)
    print(
        f"| repeatability: p50 of {args.rounds} back-to-back runs (ms) | {ratio} "
        f"(max/min {max(p50s) / min(p50s):.3f}, spread {spread:.2f}%) | {args.tolerance}% | "
        f"{'pass' if ok_rep else 'FAIL'} |"
    )
    print(
        f"| timer overhead inside each sample | {overhead['in_sample_ns']:.0f} ns = {in_sample:.3f}% "
        f"of p50 | 1% | {'pass' if ok_timer else 'FAIL'} |"
    )
    print(
        f"| loop cost per run (not in samples: clock reads, append) | {overhead['per_run_ns']:.0f} ns "
        f"= {per_run:.3f}% of p50 | - | info |"
    )
    return 0 if ok_rep and ok_timer else 1


if __name__ == "__main__":
    sys.exit(main())
