"""Every MobileNet variant through the real exporters and quantizers, tiny (width 0.25, 32 px):
FP32 ONNX and TFLite with parity, full-integer TFLite and QDQ ONNX (hard-swish and SE included),
the INT8 files run on ONNX Runtime, OpenVINO and LiteRT; and a ``.pt2`` MobileNet equalized."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgeres import runtime
from edgeres.convert import convert
from edgeres.models import create_model
from edgeres.quantize import quantize
from edgeres.quantize.checks import check_onnx, check_tflite
from edgeres.spec import InputSpec, ModelInfo
from edgeres.train.checkpoint import save_checkpoint

SIZE = 32
# the shapes set's classes, so quantize scores the INT8 files on it
SHAPES = ("circle", "square", "triangle", "star", "cross", "ring", "hexagon", "arrow", "heart",
          "crescent")  # fmt: skip
SMALL = dict(calib="shapes", samples=16, eval_data="shapes", eval_limit=32, quiet=True)


def _trained_looking(name: str) -> nn.Module:
    torch.manual_seed(0)
    model = create_model(name, len(SHAPES), width=0.25).eval()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.3, 1)
            m.bias.data.uniform_(-0.3, 0.3)
    return model


def _checkpoint(name: str, tmp_path) -> object:
    info = ModelInfo(name, SHAPES, InputSpec(SIZE, SIZE))
    return save_checkpoint(
        tmp_path / f"{name}.pt",
        _trained_looking(name),
        info,
        {"num_classes": len(SHAPES), "width": 0.25},
    )


# MobileNetV3's SE gate (hard-sigmoid) and its product lower to float ADD/MUL in the PT2E TFLite
# file (found by this test, December 2026; the QDQ ONNX file is full integer): strict, so the
# test reports when it is fixed.
_V3_TFLITE = pytest.mark.xfail(
    strict=True, reason="hard-sigmoid SE gate runs float ADD/MUL in the INT8 TFLite file"
)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "mobilenet_v2",
        "mobilenet_v2_cifar",
        pytest.param("mobilenet_v3_small", marks=_V3_TFLITE),
        pytest.param("mobilenet_v3_large", marks=_V3_TFLITE),
    ],
)
def test_every_variant_exports_and_quantizes_in_both_formats(name, tmp_path):
    ckpt = _checkpoint(name, tmp_path)
    res = convert(ckpt, to=("onnx", "tflite"), quiet=True)
    assert res.passed and set(res.outputs) == {"onnx", "tflite"}, res.to_dict()
    q = quantize(ckpt, to=("onnx", "tflite"), no_fallback=True, out_dir=tmp_path / "q", **SMALL)
    assert set(q.outputs) == {"onnx", "tflite"}, q.report.lines()
    assert q.report.options["equalized_spaces"] > 0
    assert check_onnx(q.outputs["onnx"]).full_integer
    tfl = check_tflite(q.outputs["tflite"])
    assert tfl.full_integer and tfl.input_dtype == "int8", tfl.to_dict()
    frame = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    scores = {}
    for path, engine in ((q.outputs["onnx"], "onnxruntime"), (q.outputs["onnx"], "openvino"),
                         (q.outputs["tflite"], None)):  # fmt: skip
        with runtime.load(path, engine=engine) as backend:
            scores[engine] = backend.predict(frame, topk=len(SHAPES))[0]
        assert np.isfinite(scores[engine].scores).all() and len(scores[engine].labels) == 10
    # both engines run the same QDQ file: they agree on the class
    assert scores["onnxruntime"].labels[0] == scores["openvino"].labels[0]


@pytest.mark.slow
def test_quantize_of_a_pt2_mobilenet_equalizes_it(tmp_path):
    model = _trained_looking("mobilenet_v3_small")
    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model, (torch.zeros(1, 3, SIZE, SIZE),)), path)
    q = quantize(path, to=("onnx",), per_tensor=True, out_dir=tmp_path / "q", **SMALL)
    opts = q.report.options
    # the SE and hard-swish blocks end their spaces; the ReLU blocks and the heads remain
    assert opts["equalized_spaces"] >= 5 and opts["bias_corrected_layers"] > 30, opts
    assert "channel spaces equalized" in "\n".join(q.report.lines())
