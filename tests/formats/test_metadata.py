"""Metadata round trips: ONNX metadata_props and the named TFLite metadata buffer."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from edgeres.errors import ModelFileError
from edgeres.formats import METADATA_KEY, read_metadata
from edgeres.formats.onnx import embed_onnx, read_onnx_metadata
from edgeres.formats.tflite import embed_tflite, read_tflite_metadata
from edgeres.spec import InputSpec, ModelInfo

INFO = ModelInfo(
    name="resnet8",
    classes=("circle", "square", "star"),
    spec=InputSpec(32, 32, layout="NHWC", mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2)),
    precision="int8",
    extra={"edgeres_version": "0.1.0", "source_sha256": "ab" * 32},
)


def test_metadata_module_imports_nothing_heavy():
    import subprocess

    code = "import sys, edgeres.formats, edgeres.runtime; print(any(m in sys.modules for m in ('torch', 'onnx')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_tflite_round_trip_and_replace(model_files):
    data = model_files["tflite_nometa"].read_bytes()
    assert read_tflite_metadata(data) is None
    once = embed_tflite(data, INFO)
    back = read_tflite_metadata(once)
    assert back == INFO and back.extra == INFO.extra
    renamed = dataclasses.replace(INFO, name="other")
    twice = embed_tflite(once, renamed)
    assert read_tflite_metadata(twice).name == "other"
    assert len(twice) <= len(once) + 64  # replaced in place, not appended again


def test_tflite_with_metadata_still_runs(model_files, tmp_path):
    import numpy as np

    from edgeres import runtime

    path = tmp_path / "m.tflite"
    path.write_bytes(
        embed_tflite(
            model_files["tflite"].read_bytes(),
            dataclasses.replace(INFO, classes=tuple("abcdefghij")),
        )
    )
    with runtime.load(path) as b, runtime.load(model_files["tflite"]) as ref:
        x = np.random.default_rng(0).random(b.spec.shape(2), dtype=np.float32)
        np.testing.assert_allclose(b.infer(x), ref.infer(x), atol=1e-6)
        assert b.info.classes[0] == "a"


def test_onnx_round_trip(model_files):
    import onnx

    proto = onnx.load(str(model_files["onnx_nometa"]))
    assert read_onnx_metadata({p.key: p.value for p in proto.metadata_props}) is None
    embed_onnx(proto, INFO)
    embed_onnx(proto, INFO)  # replaces, never duplicates
    keys = [p.key for p in proto.metadata_props]
    assert keys.count(METADATA_KEY) == 1
    assert read_onnx_metadata({p.key: p.value for p in proto.metadata_props}) == INFO


def test_read_metadata_from_files(model_files):
    assert read_metadata(model_files["onnx"]).name == "test_resnet"
    assert read_metadata(model_files["tflite"]).spec.layout == "NHWC"
    assert read_metadata(model_files["onnx_nometa"]) is None


def test_bad_metadata_is_a_model_file_error():
    with pytest.raises(ModelFileError, match="metadata"):
        read_onnx_metadata({METADATA_KEY: "{not json"})
    with pytest.raises(ModelFileError, match="metadata"):
        read_onnx_metadata({METADATA_KEY: '{"name": "x"}'})
    assert read_onnx_metadata(None) is None
