"""`edgeres predict` and `edgeres eval` from click's runner and as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeres.cli import main
from edgeres.data.shapes import CLASSES  # what `tiny_ckpt` was trained on


def _has_load_split() -> bool:
    import edgeres.data

    return hasattr(edgeres.data, "load_split")


needs_data = pytest.mark.skipif(
    not _has_load_split(), reason="edgeres.data.load_split has not landed yet"
)


@pytest.fixture
def images(sample_images) -> list[Path]:
    return sample_images


def _run(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.mark.parametrize("key", ["pt", "onnx", "onnx_int8", "tflite", "tflite_int8"])
def test_predict_json(key, model_files, images):
    res = _run("predict", model_files[key], *images, "--topk", "3", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [r["image"] for r in doc["results"]] == [str(p) for p in images]
    top = doc["results"][0]["topk"]
    assert len(top) == 3 and top[0]["label"] in CLASSES and top[0]["score"] >= top[1]["score"]
    assert doc["providers"]


def test_predict_text_and_formats_agree(model_files, images):
    outputs = {}
    for key in ("pt", "onnx", "tflite"):
        res = _run("predict", model_files[key], images[0], "--topk", "1")
        assert res.exit_code == 0, res.output
        outputs[key] = res.stdout.split(":", 1)[1].split()[0]
    assert len(set(outputs.values())) == 1, outputs


def test_predict_third_party_file_warns_on_stderr(model_files, images):
    res = _run("predict", model_files["tflite_nometa"], images[0], "--json")
    assert res.exit_code == 0
    assert "warning:" in res.stderr and "no edgeres metadata" in res.stderr
    json.loads(res.stdout)


def test_predict_bad_inputs(model_files, images, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    res = _run("predict", model_files["onnx"], bad)
    assert res.exit_code == 2 and "not an image OpenCV can read" in res.stderr
    assert "Traceback" not in res.output
    res = _run("predict", model_files["onnx"], tmp_path / "nope.png")
    assert res.exit_code == 2 and "does not exist" in res.stderr
    res = _run("predict", tmp_path / "nope.onnx", images[0])
    assert res.exit_code == 2 and "does not exist" in res.stderr
    res = _run("predict", model_files["onnx"], images[0], "--profile", "raspbery-pi-5")
    assert res.exit_code == 2 and "did you mean" in res.stderr


def test_predict_strict_provider(model_files, images):
    res = _run(
        "predict", model_files["onnx"], images[0], "--profile", "jetson-orin-nano", "--strict"
    )
    assert res.exit_code == 2 and "TensorrtExecutionProvider" in res.stderr
    res = _run("predict", model_files["onnx"], images[0], "--profile", "jetson-orin-nano")
    assert res.exit_code == 0 and "falling back" in res.stderr


def test_help_has_examples():
    for cmd in ("predict", "eval"):
        res = _run(cmd, "--help")
        assert res.exit_code == 0 and "Example:" in res.stdout


@needs_data
@pytest.mark.parametrize("key", ["pt", "onnx", "tflite_int8"])
def test_eval_json(key, model_files):
    res = _run("eval", model_files[key], "--data", "shapes", "--limit", "50", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["total"] == 50 and 0 <= doc["accuracy"] <= 1 and doc["providers"]


@needs_data
def test_eval_text_and_bad_data(model_files, tmp_path):
    res = _run(
        "eval", model_files["tflite"], "--data", "shapes", "--limit", "20", "--batch-size", "8"
    )
    assert res.exit_code == 0, res.output
    assert "top-1" in res.stdout
    res = _run("eval", model_files["tflite"], "--data", str(tmp_path / "missing"))
    assert res.exit_code == 2 and "Traceback" not in res.output


def test_subprocess_predict(model_files, images):
    env = {**os.environ, "EDGERES_QUIET": "1"}
    exe = Path(sys.executable).with_name("edgeres")
    proc = subprocess.run(
        [str(exe), "predict", str(model_files["tflite_int8"]), str(images[0]), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["topk"]
    proc = subprocess.run(
        [str(exe), "predict", str(images[0]), str(images[0])],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert (
        proc.returncode == 2 and proc.stderr.startswith("error:") and "Traceback" not in proc.stderr
    )
