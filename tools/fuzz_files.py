"""Fuzz `edgeres inspect` and `edgeres predict` with mutated model files of every format.

    .venv/bin/python tools/fuzz_files.py --count 300 --out fuzz_out
    nice -n 15 .venv/bin/python tools/fuzz_files.py --count 10000 --seed 1 --formats onnx,tflite

Valid seed files are made once (a tiny test_resnet trained for a few seconds: `.pt`, its
`.pt2` program, its `.safetensors` state dict, FP32 and INT8 `.onnx` and `.tflite`) and kept in
`--seeds`. Each case is one seed with a mutation (tools/fuzz_mutate.py: byte flips,
truncations, zip-entry edits, JSON and protobuf/flatbuffer field edits, huge declared sizes),
run through `inspect` and `predict` (one 32 px image) by a worker process that handles many
files in-process (tools/fuzz_worker.py) under a memory cap (RLIMIT_AS) and a time cap per
command; a worker that hangs or dies is killed and restarted.

Outcomes: `ok`, `clean` (exit 2 with one `error:` line), `traceback` (an uncaught exception,
an exit other than 0/2, or "Traceback" in the output), `hang` (the time cap), `memory` (the cap
was hit), `crash` (the worker died: a signal). Every case that is not ok or clean is kept in
`OUT/findings/` (the input file and the message) for reproduction. Writes `fuzz.csv` and
`fuzz.md`; exit 1 when any case was a traceback, hang, memory or crash.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import time
from pathlib import Path

from fuzz_mutate import mutate
from fuzz_runner import Worker, make_seeds, seed_files

FORMATS = ("pt", "pt2", "safetensors", "onnx", "tflite")
OUTCOMES = ("ok", "clean", "traceback", "hang", "memory", "crash")
BAD = {"traceback", "hang", "memory", "crash"}
CSV_COLUMNS = ("case", "format", "seed", "mutation", "command", "outcome", "exit", "seconds",
               "message")  # fmt: skip


def commands(fmt: str, path: Path, image: Path) -> dict[str, list[str]]:
    """The two commands a case goes through (a state dict needs its architecture)."""
    model = ["--model", "test_resnet"] if fmt == "safetensors" else []
    return {
        "inspect": ["inspect", str(path), *model],
        "predict": ["predict", str(path), str(image), "--workers", "0", "--threads", "1"],
    }


def keep_finding(out: Path, case: int, path: Path, data: bytes, cmd: str, row: dict) -> None:
    """The input (once per case) and what went wrong, under OUT/findings/."""
    found = out / "findings"
    found.mkdir(exist_ok=True)
    kept = found / f"{case:05d}{path.suffix}"
    if not kept.exists():
        kept.write_bytes(data)
    text = (f"edgeres {cmd} {kept}  (mutation: {row['mutation']}; seed {row['seed']})\n"
            f"outcome {row['outcome']}, exit {row['exit']}, {row['seconds']} s\n\n"
            f"{row['full_message']}\n")  # fmt: skip
    (found / f"{case:05d}-{cmd}.txt").write_text(text)


def run_cases(args, seeds: dict[str, list[Path]], image: Path, writer, counts) -> int:
    """Mutate and run ``args.count`` cases; returns how many bad outcomes there were."""
    rng = random.Random(args.seed)
    cases_dir = args.out / "cases"
    cases_dir.mkdir(parents=True, exist_ok=True)
    worker = Worker(args.out, args.mem_cap_mb, args.time_cap, warm=_warm(seeds, image))
    bad, t_end = 0, time.monotonic() + args.max_minutes * 60
    try:
        for case in range(args.count):
            if time.monotonic() > t_end:
                print(f"fuzz: --max-minutes reached after {case} cases", file=sys.stderr)
                break
            fmt = args.formats[case % len(args.formats)]
            seed = rng.choice(seeds[fmt])
            data, what = mutate(fmt, seed.read_bytes(), rng)
            path = cases_dir / f"case{seed.suffix}"
            path.write_bytes(data)
            for cmd, argv in commands(fmt, path, image).items():
                row = {"case": case, "format": fmt, "seed": seed.name, "mutation": what,
                       "command": cmd, **worker.run(argv)}  # fmt: skip
                counts[(fmt, cmd, row["outcome"])] = counts.get((fmt, cmd, row["outcome"]), 0) + 1
                row["full_message"] = row["message"]
                row["message"] = (
                    row["message"].strip().splitlines()[-1][:300] if row["message"] else ""
                )
                if row["outcome"] in BAD:
                    bad += 1
                    keep_finding(args.out, case, path, data, cmd, row)
                writer.writerow({k: row[k] for k in CSV_COLUMNS})
            if case % 100 == 99:
                print(f"fuzz: {case + 1} cases, {bad} bad outcomes", file=sys.stderr, flush=True)
    finally:
        worker.close()
    return bad


def _warm(seeds: dict[str, list[Path]], image: Path) -> list[list[str]]:
    fmt_of = {p: f for f, ps in seeds.items() for p in ps}
    return [argv for p, f in fmt_of.items() for argv in commands(f, p, image).values()]


def summary(counts: dict, formats: list[str], n_cases: int, args) -> str:
    lines = [
        f"# edgeres fuzz: {n_cases} mutated files x (inspect, predict)",
        "",
        f"Command: `tools/fuzz_files.py {' '.join(sys.argv[1:])}`; memory cap "
        f"{args.mem_cap_mb} MB above the warm worker, time cap {args.time_cap:g} s per command.",
        "",
        "| format | command | " + " | ".join(OUTCOMES) + " |",
        "| --- | --- | " + " | ".join("---:" for _ in OUTCOMES) + " |",
    ]
    for fmt in formats:
        for cmd in ("inspect", "predict"):
            cells = " | ".join(str(counts.get((fmt, cmd, o), 0)) for o in OUTCOMES)
            lines.append(f"| {fmt} | {cmd} | {cells} |")
    totals = " | ".join(str(sum(v for k, v in counts.items() if k[2] == o)) for o in OUTCOMES)
    lines.append(f"| all | both | {totals} |")
    return "\n".join(lines) + "\n"


def _where(text: str) -> str:
    """The last edgeres frame of a traceback and its last line: what makes two findings one."""
    frames = re.findall(r'File "[^"]*/(edgeres/[^"]+)", line \d+, in (\w+)', text)
    kinds = re.findall(r"^([\w.]*(?:Error|Exception|Interrupt))\b", text, re.MULTILINE)
    last = [ln for ln in text.strip().splitlines() if ln and not ln.startswith(" ")][-1:]
    head = kinds[-1].rsplit(".", 1)[-1] if kinds else (last[0][:60] if last else "")
    return f"{frames[-1][0]}:{frames[-1][1]}: {head}" if frames else head


def merge(args) -> int:
    """One table from several runs (shards run side by side), and the distinct findings."""
    counts: dict = {}
    groups: dict[tuple, list[str]] = {}
    for folder in args.merge:
        for key, n in json.loads((folder / "counts.json").read_text()).items():
            k = tuple(key.split("|"))
            counts[k] = counts.get(k, 0) + n
        for txt in sorted((folder / "findings").glob("*-*.txt")):
            lines = txt.read_text().split("\n", 3)
            outcome = lines[1].split(",")[0].removeprefix("outcome ")
            cmd = txt.stem.split("-")[1]
            key = (cmd, outcome, _where(lines[3] if len(lines) > 3 else ""))
            groups.setdefault(key, []).append(lines[0].split()[2])
    text = summary(counts, FORMATS, sum(counts.values()) // 2, args)
    text += "\n| command | outcome | where | cases | e.g. |\n| --- | --- | --- | ---: | --- |\n"
    for (cmd, outcome, where), paths in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        text += f"| {cmd} | {outcome} | `{where}` | {len(paths)} | {paths[0]} |\n"
    print(text)
    return 1 if groups else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=300, help="mutated files")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--formats", default=",".join(FORMATS))
    ap.add_argument("--out", type=Path, default=Path("fuzz_out"))
    ap.add_argument("--seeds", type=Path, help="valid files, made once (default OUT/seeds)")
    ap.add_argument("--mem-cap-mb", type=int, default=2048, help="address space per worker")
    ap.add_argument("--time-cap", type=float, default=60.0, help="seconds per command")
    ap.add_argument("--max-minutes", type=float, default=24 * 60, help="stop after this long")
    ap.add_argument("--merge", type=Path, nargs="+", help="sum the tables of these OUT folders")
    ap.add_argument("--make-seeds", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    args.formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(args.formats) - set(FORMATS))
    if unknown or not args.formats or args.count < 1:
        ap.error(f"--formats takes {','.join(FORMATS)} (got {unknown}); --count at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.make_seeds:  # the child that imports torch and builds the seed files
        make_seeds(args.make_seeds)
        return 0
    if args.merge:
        return merge(args)
    args.out.mkdir(parents=True, exist_ok=True)
    seeds, image = seed_files(args.seeds or args.out / "seeds", args.formats)
    counts: dict = {}
    with (args.out / "fuzz.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS)
        writer.writeheader()
        bad = run_cases(args, seeds, image, writer, counts)
    n_cases = sum(counts.values()) // 2
    text = summary(counts, args.formats, n_cases, args)
    (args.out / "fuzz.md").write_text(text)
    (args.out / "counts.json").write_text(json.dumps({"|".join(k): v for k, v in counts.items()}))
    print(text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
