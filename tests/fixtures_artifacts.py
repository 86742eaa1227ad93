"""Session fixtures: exported artifacts of the `tiny_ckpt` test_resnet, built once per test run.

Registered with ``pytest_plugins`` in tests/conftest.py. Every file is made through the public
library functions (``edgeres.convert.convert``, ``edgeres.quantize.quantize``), so a test that uses
them also exercises the real export path.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

# Small enough to keep the whole convert+quantize build around 20 s on 2 cores.
CALIB_SAMPLES = 32
EVAL_LIMIT = 64


@pytest.fixture(scope="session")
def artifacts_dir(tmp_path_factory, tiny_ckpt) -> Path:
    """A folder holding a copy of `tiny_ckpt` as ``model.pt``; the artifacts are written beside it."""
    out = tmp_path_factory.mktemp("artifacts")
    shutil.copy2(tiny_ckpt, out / "model.pt")
    return out


@pytest.fixture(scope="session")
def converted(artifacts_dir):
    """``ConvertResult`` of ``model.pt`` -> ``model.onnx`` + ``model.tflite`` (parity checked)."""
    from edgeres.convert import convert

    return convert(artifacts_dir / "model.pt", ("onnx", "tflite"), quiet=True)


@pytest.fixture(scope="session")
def fp32_onnx(converted) -> Path:
    """FP32 ONNX of test_resnet at 32 px, batch 1, NCHW, with edgeres metadata."""
    return converted.outputs["onnx"]


@pytest.fixture(scope="session")
def fp32_tflite(converted) -> Path:
    """FP32 TFLite of test_resnet at 32 px, batch 1, NHWC, with edgeres metadata."""
    return converted.outputs["tflite"]


@pytest.fixture(scope="session")
def quantized(artifacts_dir, converted):
    """``QuantizeResult`` of ``model.pt`` -> ``model_int8.onnx`` + ``model_int8.tflite`` (+ report)."""
    from edgeres.quantize import quantize

    return quantize(
        artifacts_dir / "model.pt",
        calib="shapes",
        to=("onnx", "tflite"),
        samples=CALIB_SAMPLES,
        eval_limit=EVAL_LIMIT,
        quiet=True,
    )


@pytest.fixture(scope="session")
def int8_onnx(quantized) -> Path:
    """INT8 QDQ ONNX (int8 weights, activation type of this host's profile), float I/O."""
    return quantized.outputs["onnx"]


@pytest.fixture(scope="session")
def int8_tflite(quantized) -> Path:
    """Full-integer INT8 TFLite, int8 NHWC input and int8 output."""
    return quantized.outputs["tflite"]
