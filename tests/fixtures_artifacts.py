"""Session fixtures: every exported model file the tests use, built once per test run.

Registered with ``pytest_plugins`` in tests/conftest.py. The files come from the `tiny_ckpt`
test_resnet through the public library functions (``edgeres.convert.convert``,
``edgeres.quantize.quantize``), so a test that uses them also exercises the real export path.
The variants the library never writes are built here by hand from that checkpoint or those files:
an NCHW TFLite (litert-torch's default layout, beside the NHWC one edgeres exports) and copies
without edgeres metadata (what third-party files look like).
"""

from __future__ import annotations

import dataclasses
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


@pytest.fixture(scope="session")
def hand_built_dir(tmp_path_factory) -> Path:
    """Where the hand-built variants go, apart from the library's outputs."""
    return tmp_path_factory.mktemp("hand_built")


@pytest.fixture(scope="session")
def fp32_tflite_nchw(artifacts_dir, fp32_tflite, hand_built_dir) -> Path:
    """FP32 TFLite taking NCHW input (litert-torch's default, no channel-last wrapper), with the
    metadata of `fp32_tflite` but NCHW layout."""
    import litert_torch
    import torch

    from edgeres.formats import read_metadata
    from edgeres.formats.tflite import embed_tflite
    from edgeres.train.checkpoint import load_checkpoint

    model = load_checkpoint(artifacts_dir / "model.pt").model.eval()
    info = read_metadata(fp32_tflite)
    info = dataclasses.replace(info, spec=info.spec.with_layout("NCHW"))
    with torch.no_grad():
        edge = litert_torch.convert(model, (torch.randn(info.spec.shape(1)),))
    out = hand_built_dir / "model_nchw.tflite"
    out.write_bytes(embed_tflite(bytes(edge.model_content()), info))
    return out


def _strip_onnx(src: Path, out: Path) -> Path:
    import onnx

    proto = onnx.load(str(src))
    del proto.metadata_props[:]
    onnx.save(proto, str(out))
    return out


def _strip_tflite(src: Path, out: Path) -> Path:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(src.read_bytes()), 0)
    model.metadata = [m for m in model.metadata or [] if m.name != b"edgeres"]
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    out.write_bytes(bytes(b.Output()))
    return out


@pytest.fixture(scope="session")
def third_party(fp32_onnx, int8_onnx, fp32_tflite, int8_tflite, hand_built_dir) -> dict[str, Path]:
    """Copies without the edgeres metadata, by key: ``onnx``, ``onnx_int8``, ``tflite``,
    ``tflite_int8`` (what files from other tools look like)."""
    out = hand_built_dir
    return {
        "onnx": _strip_onnx(fp32_onnx, out / "third_onnx.onnx"),
        "onnx_int8": _strip_onnx(int8_onnx, out / "third_onnx_int8.onnx"),
        "tflite": _strip_tflite(fp32_tflite, out / "third_tflite.tflite"),
        "tflite_int8": _strip_tflite(int8_tflite, out / "third_tflite_int8.tflite"),
    }


@pytest.fixture(scope="session")
def model_files(
    artifacts_dir, fp32_onnx, int8_onnx, fp32_tflite, int8_tflite, fp32_tflite_nchw, third_party
) -> dict[str, Path]:
    """Every file above by key, for tests parametrized over formats: ``pt``, ``onnx``,
    ``onnx_int8``, ``tflite`` (NHWC), ``tflite_int8`` (NHWC, int8 I/O), ``tflite_nchw``, and
    ``<key>_nometa`` for the `third_party` copies."""
    return {
        "pt": artifacts_dir / "model.pt",
        "onnx": fp32_onnx,
        "onnx_int8": int8_onnx,
        "tflite": fp32_tflite,
        "tflite_int8": int8_tflite,
        "tflite_nchw": fp32_tflite_nchw,
        **{f"{key}_nometa": path for key, path in third_party.items()},
    }
