"""Does training as two torchrun "nodes" reach the accuracy of one process?

Writes scikit-learn's bundled digits (1,797 real 8x8 handwritten digits, nothing downloaded) as an
image folder (``schedule_check.write_digits``: ``train/`` and ``test/``, a fixed 80/20 split),
then for each seed trains the same network twice, interleaved:

* **one process**: ``edgeres train --threads 2``;
* **two nodes**: two ``torchrun --nnodes 2 --node-rank 0|1 --nproc-per-node 1
  --rdzv-endpoint 127.0.0.1:PORT -m edgeres train --threads 1`` launchers, each its own process
  tree, meeting over TCP (gloo), as two machines would.

Same global batch, epochs, learning rate and seed. The two runs do not see the same batches
(each rank reads its own shard and augments it with its own seed; BatchNorm sees half a batch
per rank), so they are not expected to agree image for image: the question is whether the
difference between them is within what another seed changes. The table gives each run's test
accuracy, the mean of each column and the spread of the one-process runs over seeds.

A run folder that already holds a finished run with the same settings is read, not trained
again (a stopped sweep picks up where it was). Accuracy does not depend on the load; the times do.

Usage (3 seeds x 2 runs, about 3 minutes a run on 2 cores):
    .venv/bin/python tools/ddp_accuracy.py --out /tmp/ddp_accuracy
Smallest settings (checks the tool works, numbers mean nothing):
    .venv/bin/python tools/ddp_accuracy.py --out /tmp/ddp_quick --seeds 0 --epochs 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
from pathlib import Path

from schedule_check import write_digits


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_args(args, data: Path, out: Path, seed: int, threads: int) -> list[str]:
    return [
        "-m", "edgeres", "train", "--model", args.model, "--data", str(data), "--out", str(out),
        "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--augment", "crop",
        "--seed", str(seed), "--threads", str(threads), "--workers", "0", "--force", "--json",
    ]  # fmt: skip


def _finished(out: Path, args, seed: int, world: int) -> dict | None:
    done = out / "metrics.json"
    if not done.exists():
        return None
    m = json.loads(done.read_text())
    same = (m["model"], m["epochs"], m["batch_size"], m["seed"], m.get("world_size", 1)) == (
        args.model, args.epochs, args.batch_size, seed, world
    )  # fmt: skip
    return m if same else None


def _check(procs: list[subprocess.Popen], what: str) -> None:
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            sys.exit(f"{what} failed (exit {p.returncode}):\n{err.decode()[-3000:]}")


def one_process(args, data: Path, seed: int) -> dict:
    out = args.out / f"one-seed{seed}"
    m = _finished(out, args, seed, 1)
    if m is None:
        cmd = [sys.executable, *_train_args(args, data, out, seed, 2)]
        _check([subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)], "one")
        m = json.loads((out / "metrics.json").read_text())
    return m


def two_nodes(args, data: Path, seed: int) -> dict:
    out = args.out / f"two-seed{seed}"
    m = _finished(out, args, seed, 2)
    if m is None:
        port = _free_port()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        procs = []
        for rank in (0, 1):
            cmd = [
                sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank",
                str(rank), "--nproc-per-node", "1", "--rdzv-endpoint", f"127.0.0.1:{port}",
                *_train_args(args, data, out, seed, 1),
            ]  # fmt: skip
            procs.append(
                subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            )
        _check(procs, "two nodes")
        m = json.loads((out / "metrics.json").read_text())
        if m.get("world_size") != 2:
            sys.exit(f"the two-node run trained with world_size {m.get('world_size')}, not 2")
    return m


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="Folder for the data and the runs.")
    p.add_argument("--seeds", default="0,1,2", help="Comma-separated seeds.")
    p.add_argument("--model", default="resnet8")
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--batch-size", type=int, default=128, help="Global batch, both runs.")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.out / "digits"
    if not (data / "test").exists():
        write_digits(data, quarter=False)
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        one = one_process(args, data, seed)
        two = two_nodes(args, data, seed)
        rows.append((seed, one, two))
        print(f"seed {seed}: one {one['test_accuracy']:.4f}, two {two['test_accuracy']:.4f}")
    tests = len(list((data / "test").rglob("*.png")))
    print(f"\n{args.model} on digits ({tests} test images), {args.epochs} epochs, global batch "
          f"{args.batch_size}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores\n")  # fmt: skip
    print("| seed | one process (2 threads) | two nodes (1 process x 1 thread each) | "
          "difference | seconds one / two |")  # fmt: skip
    print("| --- | --- | --- | --- | --- |")
    for seed, one, two in rows:
        a, b = one["test_accuracy"] * 100, two["test_accuracy"] * 100
        print(f"| {seed} | {a:.2f}% | {b:.2f}% | {b - a:+.2f} | "
              f"{one['train_seconds']:.0f} / {two['train_seconds']:.0f} |")  # fmt: skip
    ones = [r[1]["test_accuracy"] * 100 for r in rows]
    twos = [r[2]["test_accuracy"] * 100 for r in rows]
    spread = statistics.stdev(ones) if len(ones) > 1 else float("nan")
    print(f"| mean | {statistics.mean(ones):.2f}% | {statistics.mean(twos):.2f}% | "
          f"{statistics.mean(twos) - statistics.mean(ones):+.2f} | |")  # fmt: skip
    print(f"\nseed-to-seed standard deviation, one process: {spread:.2f} pt; "
          f"one test image is {100 / tests:.2f} pt")  # fmt: skip


if __name__ == "__main__":
    main()
