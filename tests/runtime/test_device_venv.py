"""The device install: a clean virtual environment with `pip install edgeres` (core only, no torch)
runs predict/eval on files the workstation made; a second one runs the legacy `tflite-runtime`
under numpy < 2, as on older Raspberry Pi images.

The environments are built by tests/device_venv.py (cached beside the repository); the
``device_env`` fixture lives in tests/conftest.py, shared with the remote tests' device side.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from device_venv import build_env, run_in_env

from edgeres.data.shapes import CLASSES  # what `tiny_ckpt` was trained on

pytestmark = [pytest.mark.venv, pytest.mark.slow]

# Old device images: numpy 1.x and the last tflite-runtime, no LiteRT, no ONNX Runtime.
LEGACY_REQUIREMENTS = [
    "numpy<2",
    "tflite-runtime",
    "click>=8.1",
    "opencv-python-headless<4.11",
    "pyyaml",
    "tqdm",
]


@pytest.fixture(scope="module")
def legacy_env(tmp_path_factory) -> Path:
    return build_env("legacy", LEGACY_REQUIREMENTS, tmp_path_factory.mktemp("legacy_src"))


def test_device_env_has_no_torch(device_env):
    py = device_env / "bin" / "python"
    proc = run_in_env(device_env, py, "-c", "import torch")
    assert proc.returncode != 0 and "No module named 'torch'" in proc.stderr
    proc = run_in_env(
        device_env,
        py,
        "-c",
        "import edgeres, edgeres.runtime, edgeres.cli; print(edgeres.__file__)",
    )
    assert proc.returncode == 0, proc.stderr
    assert str(device_env) in proc.stdout  # the installed copy, not the repository


@pytest.mark.parametrize("key", ["onnx", "onnx_int8", "tflite", "tflite_int8"])
def test_device_predict(device_env, key, model_files, sample_images):
    proc = run_in_env(
        device_env,
        device_env / "bin" / "edgeres",
        "predict",
        model_files[key],
        *sample_images,
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert len(doc["results"]) == len(sample_images)
    assert doc["results"][0]["topk"][0]["label"] in CLASSES


@pytest.mark.parametrize("key", ["onnx", "tflite_int8"])
def test_device_eval(device_env, key, model_files):
    args = ("eval", model_files[key], "--data", "shapes", "--limit", "40", "--json")
    proc = run_in_env(device_env, device_env / "bin" / "edgeres", *args)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["total"] == 40


def test_device_ships_profiles_and_calibration_images(device_env):
    proc = run_in_env(device_env, device_env / "bin" / "edgeres", "devices", "--json")
    assert proc.returncode == 0, proc.stderr
    sources = {p["name"]: p["source"] for p in json.loads(proc.stdout)}
    assert {"raspberry-pi-4", "raspberry-pi-5", "jetson-orin-nano", "host"} <= set(sources)
    assert sources["raspberry-pi-5"].startswith(str(device_env))  # from the installed wheel
    code = (
        "from edgeres.data.calibration import count_calibration_images, default_calibration_source\n"
        "d = default_calibration_source(); print(d); print(count_calibration_images(d))"
    )
    proc = run_in_env(device_env, device_env / "bin" / "python", "-c", code)
    assert proc.returncode == 0, proc.stderr
    folder, count = proc.stdout.split()
    assert folder.startswith(str(device_env)) and int(count) == 320


def test_device_checkpoint_needs_the_train_extra(device_env, model_files, sample_images):
    proc = run_in_env(
        device_env, device_env / "bin" / "edgeres", "predict", model_files["pt"], sample_images[0]
    )
    assert proc.returncode == 2
    assert "pip install 'edgeres[train]'" in proc.stderr and "Traceback" not in proc.stderr


def test_legacy_tflite_runtime(legacy_env, model_files, sample_images):
    py = legacy_env / "bin" / "python"
    check = "import numpy, tflite_runtime; print(numpy.__version__)"
    proc = run_in_env(legacy_env, py, "-c", check)
    assert proc.returncode == 0 and proc.stdout.startswith("1."), proc.stderr
    assert run_in_env(legacy_env, py, "-c", "import ai_edge_litert").returncode != 0
    for key in ("tflite", "tflite_int8", "tflite_nchw"):
        proc = run_in_env(
            legacy_env,
            legacy_env / "bin" / "edgeres",
            "predict",
            model_files[key],
            *sample_images,
            "--json",
        )
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["engine"] == "tflite-runtime"  # its name in the format table
        assert doc["results"][0]["topk"][0]["label"] in CLASSES


def test_legacy_interpreter_survives_corrupted_files(legacy_env, model_files, tmp_path):
    worker = Path(__file__).with_name("corrupt_worker.py")
    proc = run_in_env(
        legacy_env,
        legacy_env / "bin" / "python",
        worker,
        model_files["tflite_int8"],
        "99",
        "150",
        tmp_path,
    )
    assert proc.returncode == 0, (
        f"the process died (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["counts"]["unexpected"] == 0, report["unexpected"]
