import csv
import json
import os
import subprocess
import sys

import pytest
import torch

from edgeres.errors import OutputExistsError, UsageError
from edgeres.train import TrainConfig, train
from edgeres.train.checkpoint import load_checkpoint


def _cfg(out, **kw):
    base = dict(model="test_resnet", data="shapes", out=out, epochs=2, batch_size=64, lr=0.05)
    base.update(limit=800, eval_limit=200, quiet=True)
    base.update(kw)
    return TrainConfig(**base)


def test_short_run_learns_and_writes_every_file(tiny_ckpt):
    run = tiny_ckpt.parent
    for name in ("model.pt", "last.pt", "metrics.json", "history.csv", "curves.png"):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("test_accuracy", "epochs", "train_seconds", "images_per_second", "model", "data"):
        assert key in metrics
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    # Accuracy rises during training and ends well above chance (10 classes).
    assert float(rows[-1]["train_accuracy"]) > float(rows[0]["train_accuracy"])
    assert metrics["test_accuracy"] > 0.15
    assert (run / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_checkpoint_carries_spec_classes_and_metrics(tiny_ckpt):
    ckpt = load_checkpoint(tiny_ckpt)
    assert ckpt.info.name == "test_resnet"
    assert len(ckpt.info.classes) == 10 and ckpt.info.classes[0] == "circle"
    assert ckpt.info.spec.size == (32, 32)
    assert (
        ckpt.metrics["test_accuracy"]
        == json.loads((tiny_ckpt.parent / "metrics.json").read_text())["test_accuracy"]
    )


def test_same_seed_repeats_the_run(tmp_path):
    a = train(_cfg(tmp_path / "a", epochs=1, limit=300, threads=1)).metrics
    b = train(_cfg(tmp_path / "b", epochs=1, limit=300, threads=1)).metrics
    assert a["test_accuracy"] == b["test_accuracy"]


def test_existing_run_is_refused_then_resume_continues(tmp_path, monkeypatch):
    from edgeres.train import loop

    out = tmp_path / "run"
    real_epoch = loop._train_epoch

    def interrupted(*args, **kw):
        if args[1] == 1:  # the second epoch: Ctrl-C
            raise KeyboardInterrupt
        return real_epoch(*args, **kw)

    monkeypatch.setattr(loop, "_train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(out, epochs=2, limit=300))
    assert (out / "last.pt").exists() and not (out / "metrics.json").exists()
    with pytest.raises(OutputExistsError, match="--resume"):
        train(_cfg(out, epochs=2, limit=300))
    monkeypatch.setattr(loop, "_train_epoch", real_epoch)
    res = train(_cfg(out, epochs=2, limit=300, resume=True))
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert res.metrics["epochs"] == 2


def test_resume_with_other_settings_is_refused(tmp_path):
    out = tmp_path / "run"
    train(_cfg(out, epochs=1, limit=300))
    with pytest.raises(UsageError, match="--epochs"):
        train(_cfg(out, epochs=3, limit=300, resume=True))


def test_resume_without_a_run_is_refused(tmp_path):
    with pytest.raises(UsageError, match="no interrupted run"):
        train(_cfg(tmp_path / "none", resume=True))


def test_cuda_without_gpu_says_so(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(UsageError, match="no CUDA GPU"):
        train(_cfg(tmp_path / "c", device="cuda"))


@pytest.mark.parametrize(
    "kw, flag",
    [
        ({"epochs": 0}, "--epochs"),
        ({"batch_size": 0}, "--batch-size"),
        ({"lr": -1.0}, "--lr"),
        ({"lr": float("inf")}, "--lr"),
        ({"lr": float("nan")}, "--lr"),
        ({"weight_decay": float("nan")}, "--weight-decay"),
        ({"model": "resnet18s", "model_args": {"width": 9.0}}, "--width"),
        ({"model": "resnet18s", "model_args": {"width": 0.0}}, "--width"),
        ({"model": "resnet18s", "model_args": {"width": -1.0}}, "--width"),
        ({"model": "resnet18s", "model_args": {"width": float("nan")}}, "--width"),
    ],
)
def test_bad_options_name_the_flag(tmp_path, kw, flag):
    with pytest.raises(UsageError, match=flag):
        _cfg(tmp_path, **kw)


@pytest.mark.slow
def test_two_process_ddp_run(tmp_path):
    """torchrun starts 2 CPU processes (gloo) that train together; rank 0 writes the run."""
    out = tmp_path / "ddp"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        "-m", "edgeres", "train", "--model", "test_resnet", "--out", str(out), "--epochs", "1",
        "--limit", "256", "--eval-limit", "64", "--batch-size", "32", "--json",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert load_checkpoint(out / "model.pt").info.name == "test_resnet"


def test_a_diverging_loss_stops_with_a_clear_error_and_saves_no_nan_weights(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(UsageError, match=r"training diverged: the loss became nan.*--lr"):
        train(_cfg(out, epochs=2, lr=1e30, limit=200, eval_limit=20))
    assert not (out / "model.pt").exists() and not (out / "last.pt").exists()


def test_a_later_divergence_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from edgeres.train import loop

    out = tmp_path / "run"
    real_epoch = loop._train_epoch

    def poisoned(*args, **kw):
        stats = real_epoch(*args, **kw)
        if args[1] == 1:  # the second epoch ends on NaN weights, as a step that blew up would
            with torch.no_grad():
                next(p for p in args[0].model.parameters() if p.ndim > 1).fill_(float("nan"))
        return stats

    monkeypatch.setattr(loop, "_train_epoch", poisoned)
    with pytest.raises(UsageError, match=r"became nan at epoch 2.*last good checkpoint is kept"):
        train(_cfg(out, epochs=3, limit=300))
    for name in ("model.pt", "last.pt"):  # both hold the finite weights of epoch 1
        weights = load_checkpoint(out / name).model.state_dict().values()
        assert all(torch.isfinite(w).all() for w in weights if w.is_floating_point()), name
    assert not (out / "metrics.json").exists()
