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
  (``--cache DIR``) and tensors in memory (``--cache memory``) at 32, 96 and 224 px; eval
  images/s against the engine's own batch throughput; and the split of 2 cores between data
  workers and torch threads. Speed needs a quiet machine: run it alone.

Usage:
    .venv/bin/python tools/data_scale.py --sizes 1k,10k --part memory --root /tmp/data_scale
    .venv/bin/python tools/data_scale.py --sizes 10k --part speed --root /tmp/data_scale
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
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


def _pss(pid: int) -> int:
    """Proportional set size of ``pid`` in bytes: shared pages (torch's libraries in a forked
    DataLoader worker) counted once over the processes sharing them, not once per process."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


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
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


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
    res = run_measured([sys.executable, "-c", _TRAIN.format(steps=steps, args=args)], env, False)
    return json.loads(res["stdout"])["images_per_second"]


def engine_throughput(model: Path, batch: int = 64, runs: int = 5) -> float:
    """Images/s of the engine alone on one fixed batch (no data reading)."""
    from edgeres import runtime

    with runtime.load(model) as backend:
        x = (
            np.random.default_rng(0)
            .standard_normal((batch, *backend.spec.shape(1)[1:]))
            .astype(np.float32)
        )
        backend.infer(x)
        t0 = time.perf_counter()
        for _ in range(runs):
            backend.infer(x)
        return batch * runs / (time.perf_counter() - t0)


def speed_part(folder: Path, root: Path, steps: int, env) -> dict[str, object]:
    cache = str(root / "cache")
    table = {}
    for size in (32, 96, 224):
        table[size] = {
            mode: train_speed(folder, root, size, c, 1, w, steps, env)
            for mode, c, w in (
                ("streamed", "none", 1),
                ("cache", cache, 1),
                ("memory", "memory", 0),
            )
        }
    splits = {f"threads {t}, workers {w}": train_speed(folder, root, 96, "none", t, w, steps, env)
              for t, w in ((2, 0), (1, 1), (2, 1), (1, 2))}  # fmt: skip
    model = eval_model(root)
    cmd = [sys.executable, "-m", "edgeres", "eval", str(model), "--data", str(folder), "--json"]
    ev = run_measured(cmd, env, sample=False)
    return {"train_images_per_second": table, "thread_splits_96px": splits,
            "eval_images_per_second": json.loads(ev["stdout"])["images_per_second"],
            "engine_images_per_second": round(engine_throughput(model), 1)}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1k,10k,100k", help="Folder sizes, e.g. 1k,10k,100k.")
    p.add_argument("--part", choices=("memory", "speed", "all"), default="memory")
    p.add_argument("--root", type=Path, default=Path("/tmp/edgeres-data-scale"))
    p.add_argument("--steps", type=int, default=300, help="Optimizer steps per training run.")
    p.add_argument("--eval-limit", type=int, default=None, help="Score at most N images.")
    add_arguments(p)
    args = p.parse_args()
    check = QuietCheck.from_args(args)  # speed only: memory does not depend on the load
    args.root.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "EDGERES_QUIET": "1"}
    results = {}
    for count in parse_sizes(args.sizes):
        folder = make_folder(args.root, count)
        row: dict[str, object] = {"images": count}
        if args.part in ("memory", "all"):
            row["memory"] = memory_part(folder, args.root, args.steps, env, args.eval_limit)
        if args.part in ("speed", "all"):
            row["speed"] = speed_part(folder, args.root, min(args.steps, 60), env)
        results[count] = row
        print(json.dumps(row), flush=True)
    doc = {"machine": os.uname().machine, "cores": os.cpu_count(), "results": results}
    if args.part != "memory":
        check.finish()
        doc["load"] = check.heading(check.summary())
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
