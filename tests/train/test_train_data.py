"""Training's data path: DDP shards, workers equal to no workers, the device-selected copy and
precision options, a killed worker, and two torchrun "nodes" on 127.0.0.1."""

import json
import os
import signal
import socket
import subprocess
import sys
import warnings

import numpy as np
import pytest
import torch

from edgeres.data import load_split, open_split
from edgeres.data.sources import ArraySource
from edgeres.errors import DataError
from edgeres.spec import InputSpec
from edgeres.train import TrainConfig, train
from edgeres.train.loader import amp_plan, iterate, loader_options, shard, step_batches, to_device


@pytest.mark.parametrize("count,world", [(103, 2), (100, 3), (7, 4)])
def test_ddp_shards_are_disjoint_complete_and_equal_in_length(count, world):
    shards = [shard(count, world, r, seed=5, epoch=2) for r in range(world)]
    assert len({len(s) for s in shards}) == 1  # every rank takes the same number of steps
    together = np.concatenate(shards)
    assert set(together.tolist()) == set(range(count))  # every image is read
    assert len(together) - count == (-count) % world  # only the padding repeats
    assert not np.array_equal(shards[0], shard(count, world, 0, seed=5, epoch=3))  # epoch reseeds
    steps = step_batches(shards[0], per_proc=8, steps=len(shards[0]) // 8)
    assert all(len(b) == 8 for b in steps)  # the last partial batch is dropped


def test_workers_give_the_same_batches_as_the_training_process():
    src = open_split("shapes", "train", 32, limit=96)
    batches = step_batches(shard(len(src), 1, 0, seed=0, epoch=0), 16, 6)
    cpu = torch.device("cpu")
    one = list(iterate(src, batches, cpu, 0, ("crop", "flip"), (0, 0, 0)))
    two = list(iterate(src, batches, cpu, 2, ("crop", "flip"), (0, 0, 0)))
    held = load_split("shapes", "train", 32, limit=96, quiet=True)
    memory = ArraySource("shapes", held.images, held.labels, held.classes)
    three = list(iterate(memory, batches, cpu, 0, ("crop", "flip"), (0, 0, 0)))
    for (x1, y1, _), (x2, y2, _), (x3, y3, _) in zip(one, two, three, strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
        assert torch.equal(x1, x3) and torch.equal(y1, y3)


def test_on_device_normalisation_equals_the_spec():
    spec = InputSpec(32, 32, mean=(0.4, 0.5, 0.6), std=(0.2, 0.25, 0.3))
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    x = to_device(torch.from_numpy(images), spec, torch.device("cpu"))
    want = spec.with_layout("NCHW").normalize(images)
    np.testing.assert_allclose(x.numpy(), want, atol=1e-5)
    assert x.is_contiguous(memory_format=torch.channels_last)


def test_copy_and_precision_options_follow_the_device():
    """No GPU here: the CUDA choices are checked up to the edge (options, dtypes, scaler)."""
    gpu, cpu = torch.device("cuda", 0), torch.device("cpu")
    assert loader_options(gpu, 2)["pin_memory"] and not loader_options(cpu, 2)["pin_memory"]
    assert loader_options(cpu, 0) == {"num_workers": 0, "pin_memory": False}
    assert amp_plan(False, gpu).dtype is None
    assert amp_plan(True, cpu).dtype == torch.bfloat16 and amp_plan(True, cpu).scaler is None
    assert amp_plan(True, gpu, bf16_supported=True).dtype == torch.bfloat16
    with warnings.catch_warnings():  # "CUDA is not available": the scaler is still made
        warnings.simplefilter("ignore", UserWarning)
        fp16 = amp_plan(True, gpu, bf16_supported=False)
    assert fp16.dtype == torch.float16 and fp16.scaler is not None


def test_amp_on_cpu_trains_in_bf16(tmp_path, monkeypatch):
    from edgeres.train import loop

    seen = []
    real = loop._step

    def spy(run, x, y, epoch, step):
        logits, loss = real(run, x, y, epoch, step)
        seen.append(logits.dtype)
        return logits, loss

    monkeypatch.setattr(loop, "_step", spy)
    cfg = dict(model="test_resnet", out=tmp_path / "r", epochs=1, limit=64, eval_limit=32)
    m = train(TrainConfig(**cfg, batch_size=32, amp=True, quiet=True, workers=0)).metrics
    assert seen and set(seen) == {torch.bfloat16}
    assert 0 <= m["test_accuracy"] <= 1


def test_streamed_cached_and_in_memory_training_are_the_same_run(tmp_path):
    base = dict(model="test_resnet", epochs=1, limit=96, eval_limit=32, batch_size=32)
    base.update(quiet=True, threads=1)
    runs = {
        name: train(TrainConfig(out=tmp_path / name, **base, **kw)).metrics
        for name, kw in [
            ("memory", {"cache": "memory"}),
            ("streamed", {"cache": "none", "workers": 1}),
            ("cached", {"cache": str(tmp_path / "c"), "workers": 0}),
        ]
    }
    assert len({m["test_accuracy"] for m in runs.values()}) == 1
    assert len({m["val_accuracy"] for m in runs.values()}) == 1
    assert len(list((tmp_path / "c").glob("*.npy"))) == 2  # the train and the test split


def test_a_killed_worker_is_one_clear_error(tmp_path):
    src = open_split("shapes", "train", 32, limit=400)

    class Suicidal(type(src)):
        def read_batch(self, index):
            if int(index[0]) >= 200:
                os.kill(os.getpid(), signal.SIGKILL)
            return super().read_batch(index)

    bad = Suicidal("train", (32, 32), 0, 400)
    batches = [np.arange(i, i + 50) for i in range(0, 400, 50)]
    with pytest.raises(DataError, match="data worker process stopped"):
        list(iterate(bad, batches, torch.device("cpu"), 1))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_on_localhost_train_together(tmp_path):
    """Two torchrun launchers, --nnodes 2 --node-rank 0/1, meet at 127.0.0.1 (gloo)."""
    out, port = tmp_path / "two", _free_port()

    def node(rank):  # noqa: E306
        cmd = [
            sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node-rank",
            str(rank), "--nproc-per-node", "1", "--rdzv-endpoint", f"127.0.0.1:{port}",
            "-m", "edgeres", "train", "--model", "test_resnet", "--out", str(out), "--epochs",
            "1", "--limit", "128", "--eval-limit", "40", "--batch-size", "32", "--workers", "0",
            "--json",
        ]  # fmt: skip
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)

    procs = [node(0), node(1)]
    results = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, err.decode()[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert json.loads(results[0][0])["world_size"] == 2  # node 0 holds rank 0 and prints


def test_workers_start_after_opencv_ran_its_threads():
    """DataLoader workers forked from a process whose OpenCV thread pool has run (as after any
    decode or resize) each read their batch; setting OpenCV's threads inside such a child hangs."""
    code = (
        "import cv2, numpy as np, torch\n"
        "cv2.setNumThreads(2)\n"
        "img = np.zeros((1500, 1500, 3), np.uint8)\n"
        "for _ in range(10):\n    cv2.resize(img, (700, 700))\n"
        "from edgeres.data import open_split\n"
        "from edgeres.train.loader import iterate, shard, step_batches\n"
        "src = open_split('shapes', 'train', 32, limit=32)\n"
        "b = step_batches(shard(len(src), 1, 0, seed=0, epoch=0), 16, 2)\n"
        "print(len(list(iterate(src, b, torch.device('cpu'), 1, ('crop',), (0, 0, 0)))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "2", out.stderr[-2000:]
