"""``--init`` (fine-tuning, a new head for other classes) and ``--qat`` (fake-quantized fine-tuning
that writes INT8 ONNX and TFLite with their report); every bad input is one line and exit 2."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edgeres.cli import main
from edgeres.train import TrainConfig, train
from edgeres.train.checkpoint import load_checkpoint


def _run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _folder(root, classes=("left", "right"), per_class=15):
    """A tiny image folder: one sub-folder per class, 32x32 PNGs."""
    rng = np.random.default_rng(0)
    for i, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for j in range(per_class):
            img = rng.integers(0, 60, (32, 32, 3), dtype=np.uint8)
            img[:, (16 * i) : (16 * i + 16)] += 150
            cv2.imwrite(str(root / name / f"{j}.png"), img)
    return root


def _cfg(out, **kw):
    base = dict(data="shapes", out=out, epochs=1, batch_size=64, limit=200, eval_limit=50)
    return TrainConfig(**dict(base, threads=1, quiet=True, **kw))


def test_init_round_trip_keeps_the_weights(tiny_ckpt, tmp_path):
    # lr ~0 and no augmentation: the fine-tuned network is the one it started from.
    res = train(_cfg(tmp_path / "ft", init=tiny_ckpt, lr=1e-12, augment="none"))
    assert res.metrics["model"] == "test_resnet"  # the architecture came from the checkpoint
    assert res.metrics["init"] == {
        "path": str(tiny_ckpt),
        "model": "test_resnet",
        "new_head": False,
    }
    assert res.metrics["augment"] == "none"
    before, after = load_checkpoint(tiny_ckpt).model, load_checkpoint(res.checkpoint).model
    for (name, a), b in zip(before.state_dict().items(), after.state_dict().values(), strict=True):
        if "running" not in name and "num_batches" not in name:
            assert np.allclose(a.numpy(), b.numpy(), atol=1e-6), name


def test_init_with_other_classes_gets_a_new_head(tiny_ckpt, tmp_path):
    data = _folder(tmp_path / "data")
    plans = []
    res = train(_cfg(tmp_path / "ft", data=str(data), init=tiny_ckpt), on_plan=plans.append)
    ckpt = load_checkpoint(res.checkpoint)
    assert ckpt.info.classes == ("left", "right") and ckpt.model.fc.out_features == 2
    assert res.metrics["init"]["new_head"] is True
    assert "new test_resnet classifier head" in plans[0]
    assert np.allclose(  # the body kept the checkpoint's weights (lr 0.01, one step)
        ckpt.model.stem[0][0].weight.detach().numpy(),
        load_checkpoint(tiny_ckpt).model.stem[0][0].weight.detach().numpy(),
        atol=0.05,
    )


def test_qat_fine_tunes_and_writes_both_int8_files(tiny_ckpt, tmp_path):
    out = tmp_path / "qat"
    res = _run(
        "train", "--qat", "--init", tiny_ckpt, "--epochs", "1", "--limit", "200",
        "--eval-limit", "50", "--batch-size", "64", "--threads", "1", "--out", out,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    for name in ("model.pt", "model_int8.onnx", "model_int8.tflite", "model_int8_report.json"):
        assert (out / name).is_file(), name
    assert "quantization report" in res.output and "tflite INT8" in res.output
    assert "QAT fine-tuning, 1 epoch (as asked)" in res.output
    report = json.loads((out / "model_int8_report.json").read_text())
    assert report["options"]["qat"] is True and report["eval_samples"] == 50
    assert report["formats"]["tflite"]["integer"]["full_integer"]
    assert report["formats"]["tflite"]["integer"]["input_dtype"] == "int8"
    assert report["formats"]["onnx"]["integer"]["weights_int8"] > 0
    assert json.loads((out / "metrics.json").read_text())["qat"] is True
    # model.pt holds the fine-tuned FP32 weights in the original architecture.
    assert load_checkpoint(out / "model.pt").model_name == "test_resnet"
    from edgeres import runtime

    with runtime.load(out / "model_int8.tflite") as backend:
        assert backend.info.precision == "int8"


def _bad(tmp_path, *args):
    out = tmp_path / "out"
    res = _run("train", "--out", out, *args)
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, res.output
    assert not out.exists() or not any(out.iterdir())
    return errors[0]


def test_unknown_augment_word(tmp_path):
    assert "--augment 'rotate'" in _bad(tmp_path, "--augment", "crop,rotate")


def test_qat_without_init(tmp_path):
    assert "--qat fine-tunes a trained network" in _bad(tmp_path, "--qat")


def test_init_of_another_input_size(tiny_ckpt, tmp_path):
    line = _bad(tmp_path, "--init", tiny_ckpt, "--img-size", "48")
    assert "trained at 32 px, not --img-size 48" in line


def test_init_of_another_model(tiny_ckpt, tmp_path):
    assert "is a test_resnet, not --model resnet8" in _bad(
        tmp_path, "--init", tiny_ckpt, "--model", "resnet8"
    )


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all"])
def test_init_of_an_unreadable_file(tmp_path, content):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(content)
    assert "bad.pt" in _bad(tmp_path, "--init", bad)


def test_init_of_a_missing_file(tmp_path):
    assert "does not exist" in _bad(tmp_path, "--init", tmp_path / "nope.pt")


def test_qat_with_other_classes(tiny_ckpt, tmp_path):
    data = _folder(tmp_path / "data")
    line = _bad(tmp_path, "--qat", "--init", tiny_ckpt, "--data", data)
    assert "--qat keeps the checkpoint's 10 classes" in line and "2 (left, right)" in line


def test_init_with_nan_weights_says_so_not_lower_lr(tiny_ckpt, tmp_path):
    import torch

    from edgeres.formats.checkpoint import read_payload

    payload = read_payload(tiny_ckpt)
    weight = next(k for k, v in payload["state_dict"].items() if v.ndim == 4)
    payload["state_dict"][weight].view(-1)[0] = float("nan")
    nan = tmp_path / "nan.pt"
    torch.save(payload, nan)
    line = _bad(tmp_path, "--init", nan, "--epochs", "1", "--limit", "64")
    assert "non-finite weights" in line and "--lr" not in line


def test_an_interrupted_qat_run_is_not_offered_resume(tiny_ckpt, tmp_path):
    import torch

    from edgeres.formats.checkpoint import read_payload

    out = tmp_path / "qat_run"
    out.mkdir()
    payload = read_payload(tiny_ckpt.parent / "last.pt")
    payload["train_state"]["config"]["qat"] = True  # what an interrupted --qat run leaves
    torch.save(payload, out / "last.pt")
    res = _run("train", "--out", out, "--qat", "--init", tiny_ckpt, "--epochs", "1")
    assert res.exit_code == 2 and "--resume" not in res.output and "--force" in res.output
    res = _run("train", "--out", out, "--resume", "--model", "test_resnet", "--data", "shapes")
    assert res.exit_code == 2 and "cannot be resumed" in res.output, res.output
