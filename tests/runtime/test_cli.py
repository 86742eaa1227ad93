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
    # A command-line user is told flags, not the library's keyword arguments.
    assert "--img-size" in res.stderr and "spec_override" not in res.stderr
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


@pytest.mark.parametrize("key", ["pt", "onnx", "tflite_int8"])
def test_eval_json(key, model_files):
    res = _run("eval", model_files[key], "--data", "shapes", "--limit", "50", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["total"] == 50 and 0 <= doc["accuracy"] <= 1 and doc["providers"]


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


@pytest.fixture(scope="module")
def shapes_folder(tmp_path_factory, model_files):
    """The shapes test images as an image folder named by class: folders sort in another order
    than the model's classes (circle, square, triangle, ...)."""
    import cv2

    from edgeres.data import load_split

    data = load_split("shapes", "test", 32, limit=200, quiet=True)
    root = tmp_path_factory.mktemp("named")
    for split in ("train", "val"):
        for i, (image, label) in enumerate(zip(data.images, data.labels, strict=True)):
            path = root / split / CLASSES[label] / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), image)
    return root


def test_eval_matches_classes_by_name_not_by_folder_order(model_files, shapes_folder):
    def accuracy(*args):
        res = _run("eval", model_files["onnx"], "--json", *args)
        assert res.exit_code == 0, res.output
        return json.loads(res.stdout)["accuracy"]

    on_shapes = accuracy("--data", "shapes", "--limit", "200")
    assert accuracy("--data", shapes_folder) == pytest.approx(on_shapes)
    assert sorted(CLASSES) != list(CLASSES)  # by position the labels would be wrong:
    assert accuracy("--data", shapes_folder, "--by-index") != pytest.approx(on_shapes)


def test_eval_refuses_class_names_that_differ(model_files, shapes_folder, tmp_path):
    import shutil

    renamed = tmp_path / "renamed"
    shutil.copytree(shapes_folder, renamed)
    for split in ("train", "val"):
        (renamed / split / "circle").rename(renamed / split / "disc")
    res = _run("eval", model_files["onnx"], "--data", renamed)
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "only in the data: disc; only in the model: circle" in res.output
    assert "--by-index" in res.output
    assert _run("eval", model_files["onnx"], "--data", renamed, "--by-index").exit_code == 0
