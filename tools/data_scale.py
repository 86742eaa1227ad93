"""Data at scale: peak memory of train and eval as a folder grows, and what the loader costs.

Writes folders of 256x256 JPEGs (10 shapes classes, one sub-folder each) of the sizes asked,
then, for each:

* ``memory``: peak memory of ``edgeres train`` (resnet18s at 96 px, ``--steps`` optimizer
  steps, default ``--cache``: 1k images fit the 64 MB in-memory threshold, 10k and up stream)
  and of ``edgeres eval`` (resnet18s FP32 ONNX at 224 px, the held-out 20%, or
  ``--eval-limit`` of it). Two figures each: the main process's peak (its VmHWM, sampled) and
  the peak PSS of the whole process tree (main + data workers, shared pages counted once;
  sampled from /proc every 0.1 s). Load does not change these.
* ``speed``: training images/s fed by the streaming loader (``--cache none``), the disk cache
  (``--cache DIR``) and tensors in memory (``--cache memory``) at 32, 96 and 224 px (resnet18s,
  one torch thread, one data worker): ``--rounds`` rounds with the three loaders interleaved
  inside each, each run a fresh process of about a minute; the medians, and the lowest and
  highest per-round share of the in-memory loop.
* ``splits``: the split of 2 cores between torch threads and data workers at 96 px, streamed.
* ``eval``: ``edgeres eval`` at 224 px end to end (the held-out 20%, or ``--eval-limit``)
  against the engine alone on a fixed batch of 64, measured in a fresh process before and after.

Speed, splits and eval need a quiet machine: run them alone (the tool checks, ``quietcheck``).

Usage:
    .venv/bin/python tools/data_scale.py --sizes 1k,10k,100k --part memory --root /tmp/data_scale
    .venv/bin/python tools/data_scale.py --sizes 10k --part speed,splits --root /tmp/data_scale
    .venv/bin/python tools/data_scale.py --sizes 100k --part eval --root /tmp/data_scale
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
from quietcheck import QuietCheck, add_arguments

SIZE = 256
CLASSES = 10

# Caps the steps of a training run, whatever the folder's size (the plan is replaced, not the
# loop): a few hundred steps touch enough of the data to show how memory grows.
_TRAIN = """
import dataclasses, sys
from edgeres.train import setup
from edgeres.cli import main
real = setup.plan_schedule
def capped(*a, **kw):
    plan = real(*a, **kw)
    return dataclasses.replace(plan, steps_per_epoch=min(plan.steps_per_epoch, {steps}), epochs=1)
setup.plan_schedule = capped
sys.argv = ["edgeres"] + {args!r}
main()
"""


def parse_sizes(text: str) -> list[int]:
    out = []
    for word in text.split(","):
        word = word.strip().lower()
        out.append(int(float(word[:-1]) * 1000) if word.endswith("k") else int(word))
    return out


def make_folder(root: Path, count: int) -> Path:
    """``count`` 256x256 JPEGs of the shapes classes; reused when already complete."""
    from edgeres.data.shapes import CLASSES as NAMES
    from edgeres.data.shapes import generate

    folder = root / f"jpeg256-{count}"
    done = folder / ".complete"
    if done.exists():
        return folder
    for name in NAMES[:CLASSES]:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for start in range(0, count, 500):
        images, labels = generate(min(500, count - start), SIZE, seed=1, start=start)
        for k, (image, label) in enumerate(zip(images, labels, strict=True)):
            path = folder / NAMES[label] / f"{start + k:06d}.jpg"
            cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    done.write_text("ok")
    return folder


def _proc_kb(path: str, key: str) -> int:
    """The ``key:`` line of a /proc file (in kB there) in bytes; 0 once the process has gone."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


def _pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes: shared pages (torch's libraries in a forked
    DataLoader worker) counted once over the processes sharing them, not once per process."""
    return _proc_kb(f"/proc/{pid}/smaps_rollup", "Pss")


def _tree_rss(pid: int) -> int:
    """PSS in bytes of ``pid`` and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += _pss(p)
        todo += children.get(p, [])
    return total


def _hwm(pid: int) -> int:
    """The peak RSS (VmHWM) of ``pid`` in bytes; 0 once it has gone."""
    return _proc_kb(f"/proc/{pid}/status", "VmHWM")


def run_measured(cmd: list[str], env: dict[str, str], sample: bool = True) -> dict[str, float]:
    """Run ``cmd``; its peak RSS (MB), the peak of its process tree (MB) and its wall time.

    ``sample=False`` for speed runs: walking /proc ten times a second costs this process about
    0.4 of a core, which a 2-core speed measurement cannot spare (the 2026-12-03 speed table was
    taken with it).

    The main process's peak is its own VmHWM, sampled until it exits: ``ru_maxrss`` of a child
    can report the RSS of the process that forked it (Linux carries it over at exec).
    """
    peak = {"tree": 0, "main": 0}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def sample_memory() -> None:
        while sample and proc.poll() is None:
            peak["tree"] = max(peak["tree"], _tree_rss(proc.pid))
            peak["main"] = max(peak["main"], _hwm(proc.pid))
            time.sleep(0.1)

    watcher = threading.Thread(target=sample_memory, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{err.decode()[-3000:]}")
    return {
        "peak_rss_mb": round(peak["main"] / 2**20, 1),
        "tree_peak_mb": round(peak["tree"] / 2**20, 1),
        "seconds": round(time.perf_counter() - t0, 1),
        "stdout": out.decode(),
    }


def eval_model(root: Path) -> Path:
    """resnet18s (random weights, the folder's 10 classes) as an FP32 ONNX file at 224 px."""
    path = root / "resnet18s-224.onnx"
    if path.exists():
        return path
    from edgeres.data.shapes import CLASSES as NAMES
    from edgeres.models import create_model, model_config
    from edgeres.spec import InputSpec, ModelInfo
    from edgeres.train.checkpoint import save_checkpoint

    cfg = model_config("resnet18s")
    info = ModelInfo("resnet18s", NAMES[:CLASSES], InputSpec(224, 224, mean=cfg.mean, std=cfg.std))
    ckpt = save_checkpoint(
        root / "resnet18s-224.pt",
        create_model("resnet18s", num_classes=CLASSES),
        info,
        {"num_classes": CLASSES},
    )
    conv = root / "converted"
    cmd = [
        sys.executable,
        "-m",
        "edgeres",
        "convert",
        str(ckpt),
        "--to",
        "onnx",
        "--out",
        str(conv),
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    next(conv.glob("*.onnx")).rename(path)
    return path


def memory_part(
    folder: Path, root: Path, steps: int, env: dict[str, str], eval_limit: int | None = None
) -> dict[str, object]:
    out = tempfile.mkdtemp(prefix="train-", dir=root)
    args = ["train", "--model", "resnet18s", "--img-size", "96", "--data", str(folder), "--out",
            out, "--epochs", "1", "--batch-size", "32", "--force", "--json"]  # fmt: skip
    train = run_measured([sys.executable, "-c", _TRAIN.format(steps=steps, args=args)], env)
    model = eval_model(root)
    cmd = [sys.executable, "-m", "edgeres", "eval", str(model), "--data", str(folder), "--json"]
    ev = run_measured(cmd + (["--limit", str(eval_limit)] if eval_limit else []), env)
    doc = json.loads(ev.pop("stdout"))
    train.pop("stdout")
    return {
        "train_96px": train,
        "eval_224px": {**ev, "images": doc["total"], "images_per_second": doc["images_per_second"]},
    }


def train_speed(
    folder: Path, root: Path, size: int, cache: str, threads: int, workers: int, steps: int, env
) -> float:
    out = tempfile.mkdtemp(prefix="speed-", dir=root)
    args = ["train", "--model", "resnet18s", "--img-size", str(size), "--data", str(folder), "--out", out,
            "--epochs", "1", "--batch-size", "64", "--threads", str(threads), "--workers", str(workers),
            "--cache", cache, "--force", "--json"]  # fmt: skip
    # Enough training images for ``steps`` (5% are held out for validation), and a few test
    # images: scoring is not what is measured, and a 10k folder's 2,000 would take minutes.
    args += ["--limit", str(math.ceil(steps * 64 / 0.95) + 64), "--eval-limit", "64"]
    res = run_measured([sys.executable, "-c", _TRAIN.format(steps=steps, args=args)], env, False)
    shutil.rmtree(out, ignore_errors=True)
    return json.loads(res["stdout"])["images_per_second"]


# Optimizer steps (of 64 images) per speed run: about a minute of training at each size here.
SPEED_STEPS = {32: 60, 96: 20, 224: 6}
# Where the training images come from: (--cache, --workers). "memory" is the reference: the
# same loop fed from decoded tensors already in RAM.
MODES = {"streamed": ("none", 1), "cache": ("{cache}", 1), "memory": ("memory", 0)}
# What --part may name (or "all").
PARTS = ("memory", "speed", "splits", "eval")

_ENGINE = """
import json, statistics, sys, time
import numpy as np
from edgeres import runtime
with runtime.load(sys.argv[1]) as backend:
    x = np.random.default_rng(0).standard_normal((64, *backend.spec.shape(1)[1:])).astype(np.float32)
    for _ in range(3):
        backend.infer(x)
    times = []
    for _ in range(15):
        t0 = time.perf_counter()
        backend.infer(x)
        times.append(time.perf_counter() - t0)
    print(json.dumps([64 / statistics.median(times), 64 * len(times) / sum(times)]))
"""


def engine_throughput(model: Path, env) -> dict[str, float]:
    """Images/s of the engine alone on one fixed batch of 64 (no data reading), in a fresh
    process: three batches to warm up, then fifteen timed; the median batch and the mean."""
    res = run_measured([sys.executable, "-c", _ENGINE, str(model)], env, sample=False)
    median, mean = json.loads(res["stdout"])
    return {"median_batch": round(median, 1), "mean": round(mean, 1)}


def _median_table(runs: dict[int, dict[str, list[float]]]) -> dict[str, object]:
    """Median images/s of each mode, and streamed and cache as a share of memory: the ratio of
    the medians and the lowest and highest ratio of one round's runs."""
    out: dict[str, object] = {}
    for size, modes in runs.items():
        row: dict[str, object] = {m: round(statistics.median(v), 1) for m, v in modes.items()}
        row["runs"] = {m: [round(x, 1) for x in v] for m, v in modes.items()}
        for m in ("streamed", "cache"):
            per_round = [a / b for a, b in zip(modes[m], modes["memory"], strict=True)]
            row[f"{m}_share"] = round(row[m] / row["memory"], 3)
            row[f"{m}_share_range"] = [round(min(per_round), 3), round(max(per_round), 3)]
        out[str(size)] = row
    return out


def speed_part(folder: Path, root: Path, rounds: int, sizes: list[int], env) -> dict[str, object]:
    """Training images/s per loader at each size: ``rounds`` rounds, the modes interleaved inside
    each (a slow minute of the machine hits every mode alike), each run a fresh process."""
    cache = str(root / "cache")
    runs = {size: {m: [] for m in MODES} for size in sizes}
    for r in range(rounds):
        for size in sizes:
            for mode, (c, w) in MODES.items():
                ips = train_speed(
                    folder, root, size, c.format(cache=cache), 1, w, SPEED_STEPS[size], env
                )
                runs[size][mode].append(ips)
                print(f"round {r + 1}: {size} px {mode} {ips:.1f} img/s", file=sys.stderr)
    return {"train_images_per_second": _median_table(runs)}


def splits_part(folder: Path, root: Path, rounds: int, env) -> dict[str, object]:
    """The split of the cores between torch threads and data workers at 96 px, streamed."""
    splits = ((2, 0), (1, 1), (2, 1), (1, 2))
    runs: dict[str, list[float]] = {f"threads {t}, workers {w}": [] for t, w in splits}
    for _ in range(rounds):
        for t, w in splits:
            ips = train_speed(folder, root, 96, "none", t, w, SPEED_STEPS[96], env)
            runs[f"threads {t}, workers {w}"].append(ips)
    return {"thread_splits_96px": {k: round(statistics.median(v), 1) for k, v in runs.items()},
            "thread_splits_96px_runs": runs}  # fmt: skip


def eval_part(folder: Path, root: Path, env, limit: int | None) -> dict[str, object]:
    """``edgeres eval`` end to end against the engine alone, the engine measured in a fresh
    process before and after the eval."""
    model = eval_model(root)
    before = engine_throughput(model, env)
    cmd = [sys.executable, "-m", "edgeres", "eval", str(model), "--data", str(folder), "--json"]
    ev = run_measured(cmd + (["--limit", str(limit)] if limit else []), env, sample=False)
    doc = json.loads(ev["stdout"])
    after = engine_throughput(model, env)
    engine = statistics.mean(e["mean"] for e in (before, after))
    return {"eval_images": doc["total"], "eval_images_per_second": doc["images_per_second"],
            "eval_seconds": ev["seconds"], "engine_before": before, "engine_after": after,
            "eval_share_of_engine": round(doc["images_per_second"] / engine, 3)}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1k,10k,100k", help="Folder sizes, e.g. 1k,10k,100k.")
    p.add_argument(
        "--part", default="memory", help="Comma-separated: memory, speed, splits, eval, or all."
    )
    p.add_argument("--root", type=Path, default=Path("/tmp/edgeres-data-scale"))
    p.add_argument("--steps", type=int, default=300, help="Optimizer steps per memory run.")
    p.add_argument("--rounds", type=int, default=3, help="Rounds of the speed and splits runs.")
    p.add_argument(
        "--img-sizes", default="32,96,224", help="Training sizes of the speed part (32, 96, 224)."
    )
    p.add_argument("--eval-limit", type=int, default=None, help="Score at most N images.")
    add_arguments(p)
    args = p.parse_args()
    parts = set(PARTS) if args.part == "all" else set(args.part.split(","))
    if parts - set(PARTS):
        p.error(
            f"--part: unknown {', '.join(sorted(parts - set(PARTS)))}; one of {', '.join(PARTS)}"
        )
    img_sizes = [int(x) for x in args.img_sizes.split(",")]
    if set(img_sizes) - set(SPEED_STEPS):
        p.error(f"--img-sizes: each one of {', '.join(map(str, SPEED_STEPS))}")
    check = QuietCheck.from_args(args)  # speed only: memory does not depend on the load
    args.root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "EDGERES_QUIET": "1"}
    results = {}
    for count in parse_sizes(args.sizes):
        folder = make_folder(args.root, count)
        row: dict[str, object] = {"images": count}
        if "memory" in parts:
            row["memory"] = memory_part(folder, args.root, args.steps, env, args.eval_limit)
        if "speed" in parts:
            row.update(speed_part(folder, args.root, args.rounds, img_sizes, env))
        if "splits" in parts:
            row.update(splits_part(folder, args.root, args.rounds, env))
        if "eval" in parts:
            row.update(eval_part(folder, args.root, env, args.eval_limit))
        results[count] = row
        print(json.dumps(row), flush=True)
    doc = {"machine": os.uname().machine, "cores": os.cpu_count(), "results": results}
    if parts != {"memory"}:
        check.finish()
        doc["load"] = check.heading(check.summary())
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
