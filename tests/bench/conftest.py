"""Session fixtures of the bench tests: tiny real model files (see ``bench_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench_helpers import make_onnx, make_onnx_int8, make_tflite


@pytest.fixture(scope="session")
def bench_models(tmp_path_factory) -> dict[str, Path]:
    """``{"onnx": fp32 .onnx, "onnx_int8": int8 .onnx, "tflite": fp32 .tflite}``."""
    d = tmp_path_factory.mktemp("bench_models")
    onnx_path = make_onnx(d / "tiny.onnx")
    return {
        "onnx": onnx_path,
        "onnx_int8": make_onnx_int8(onnx_path, d / "tiny_int8.onnx"),
        "tflite": make_tflite(d / "tiny.tflite"),
    }
