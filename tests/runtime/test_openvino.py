"""The OpenVINO backend on the suite's own ONNX files, FP32 and QDQ INT8, against ONNX Runtime."""

from __future__ import annotations

import numpy as np
import pytest

from edgeres import runtime
from edgeres.data import load_split
from edgeres.errors import ModelFileError, UsageError

pytest.importorskip(
    "openvino", reason="the openvino extra is not installed (make setup installs it)"
)


def _batch(spec, n: int = 64) -> np.ndarray:
    return spec.preprocess(load_split("shapes", "test", spec.size, limit=n, quiet=True).images)


@pytest.mark.parametrize("which", ["fp32_onnx", "int8_onnx"])
def test_openvino_matches_onnxruntime_on_the_same_file(request, which):
    path = request.getfixturevalue(which)
    with (
        runtime.load(path, engine="onnxruntime") as ort,
        runtime.load(path, engine="openvino", threads=1) as ov,
    ):
        assert ov.engine == "openvino" and ov.providers == ["OpenVINO-CPU"]
        assert ov.info == ort.info and ov.spec == ort.spec
        x = _batch(ov.spec)
        a, b = ort.infer(x), ov.infer(x)
    assert b.shape == a.shape and b.dtype == np.float32
    if which == "fp32_onnx":
        # Relative to the logits: OpenVINO's default bf16 on CPUs with native bf16 (a Zen 4, AMX
        # Xeons) gives ~1e-2 relative errors; an FP32 file must compute in FP32 everywhere.
        scale = np.abs(a).max()
        np.testing.assert_allclose(b / scale, a / scale, atol=1e-5)
        assert (a.argmax(1) == b.argmax(1)).all()
    else:
        # Both run the same integer graph, but round requantization differently; on this barely
        # trained model near-ties may flip, so top-1 must agree where ONNX Runtime's is clear
        # (its margin over the runner-up above 5% of the logits' range), and the logits are
        # compared as well.
        top2 = np.sort(a, axis=1)[:, -2:]
        clear = top2[:, 1] - top2[:, 0] > 0.05 * (a.max() - a.min())
        assert clear.sum() >= len(a) // 4, clear.sum()
        assert (a.argmax(1) == b.argmax(1))[clear].mean() >= 0.95
        assert np.linalg.norm(b - a) / np.linalg.norm(a) < 0.1


def test_openvino_predicts_like_the_other_backends(int8_onnx):
    frame = np.full((48, 64, 3), 127, np.uint8)
    with runtime.load(int8_onnx, engine="openvino", hint="throughput") as ov:
        pred = ov.predict([frame, frame], topk=3)
    assert len(pred) == 2 and len(pred[0].labels) == 3
    assert abs(sum(pred[0].scores) - 1) < 1 and pred[0].labels[0] in ov.info.classes


def test_openvino_refuses_bad_options_and_files(fp32_onnx, fp32_tflite, tmp_path):
    with pytest.raises(UsageError, match="hint must be one of"):
        runtime.load(fp32_onnx, engine="openvino", hint="fast")
    with pytest.raises(UsageError, match="threads must be >= 1"):
        runtime.load(fp32_onnx, engine="openvino", threads=0)
    with pytest.raises(UsageError, match="cannot run tflite files"):
        runtime.load(fp32_tflite, engine="openvino")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(fp32_onnx.read_bytes()[:300])
    with pytest.raises(ModelFileError, match="not a valid ONNX file"):
        runtime.load(broken, engine="openvino")
