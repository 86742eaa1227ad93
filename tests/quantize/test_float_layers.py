"""A layer kept in float computes what FP32 computes, for every layer position, in both formats.

Property tests on networks whose channels are rescaled at every position equalization can reach
(inside blocks and along the residual streams, function-preserving): for each Conv/Gemm layer,
INT8 with that one layer in float must (a) match FP32 at that layer at least as well as plain INT8
does (the float node reads the right float tensor), and (b) agree with FP32 at least as often as
plain INT8, less a small tolerance.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from edgeres.quantize.calib import calibration_batches
from edgeres.quantize.onnx.layers import layer_errors
from edgeres.quantize.onnx.static import quantize_onnx
from edgeres.quantize.options import QuantOptions

SAMPLES = 32
# 8-bit weights: the graph surgery is what is tested, on the rounding these bounds were set for
# (7-bit weights, the uint8 default, add rounding noise of their own to these un-equalized
# outlier networks: the logits' SQNR moved by 0.6 dB with one layer float, resnet8's stem).
OPTS = QuantOptions(calib="shapes", samples=16, quiet=True, activations="uint8", weight_bits=8)
# layers to keep in float, by position in graph order (None: all of them)
CASES = [("resnet8", 32, {}, None), ("resnet20", 32, {}, (3, 14)),
         ("resnet18s", 64, {"width": 0.5}, (3, 9))]  # fmt: skip


def _batches(source) -> list[np.ndarray]:
    x = np.concatenate(list(calibration_batches("shapes", source.info.spec, SAMPLES, quiet=True)))
    return [b[None] for b in x]


@pytest.mark.parametrize(("name", "size", "kwargs", "picked"), CASES, ids=[c[0] for c in CASES])
def test_onnx_float_layer_reads_the_fp32_tensor(
    name, size, kwargs, picked, tmp_path, outlier_source
):
    source = outlier_source(name, tmp_path, size, **kwargs)
    batches = _batches(source)
    plain = quantize_onnx(source, tmp_path / "plain.onnx", OPTS)
    before = {e.tensor: e.sqnr_db for e in layer_errors(source.fp32_onnx, plain, batches, 0)}
    tensors = list(before)
    for i in picked if picked is not None else range(len(tensors)):
        tensor = tensors[i]
        path = quantize_onnx(source, tmp_path / f"f{i}.onnx", _excluding(tensor))
        after = {e.tensor: e.sqnr_db for e in layer_errors(source.fp32_onnx, path, batches, 0)}
        # (a) the float layer is at least as close to FP32 as its INT8 self, given INT8 input
        assert after[tensor] >= before[tensor] - 1.0, (tensor, before[tensor], after[tensor])
        # (b) and the network agrees with FP32 no less often, within a few images of noise
        # (b) and the logits agree with FP32 no worse: their SQNR is agreement without the coin
        # flips of a top-1 on untrained margins
        out = tensors[-1]
        assert after[out] >= before[out] - 0.5, (tensor, before[out], after[out])


def _excluding(tensor: str) -> QuantOptions:
    from dataclasses import replace

    return replace(OPTS, exclude=(tensor,))


def test_float_layer_after_a_folded_relu_gets_the_relu_back(tmp_path, outlier_source):
    # The quantizer removes the stem's ReLU (the next QuantizeLinear clips) and names the Conv's
    # output after it: a float reader must read it through a ReLU, not the pre-ReLU value.
    source = outlier_source("test_resnet", tmp_path, 32)
    graph = onnx.load(str(source.fp32_onnx)).graph
    producer = {o: n for n in graph.node for o in n.output}
    conv1 = next(n for n in graph.node if n.op_type == "Conv" and n.input[0] in producer)
    assert producer[conv1.input[0]].op_type == "Relu"
    path = quantize_onnx(source, tmp_path / "f.onnx", _excluding(conv1.output[0]))
    q = onnx.load(str(path)).graph
    producer = {o: n for n in q.node for o in n.output}
    float_conv = next(n for n in q.node if n.name == conv1.name)
    assert producer[float_conv.input[0]].op_type == "Relu", producer[float_conv.input[0]]


def test_tflite_float_layer_reads_the_fp32_tensor(tmp_path, outlier_source):
    from edgeres.quantize.tflite.float_layers import quantize_tflite_float, tflite_layer_errors

    source = outlier_source("test_resnet", tmp_path, 32)
    plain = quantize_tflite_float(source, tmp_path / "plain.tflite", OPTS)
    before = {e.tensor: e.sqnr_db for e in tflite_layer_errors(source, plain, OPTS, 0)}
    tensors = list(before)
    assert len(tensors) == 8  # stem, 2 x (conv1, conv2, shortcut), fc
    for i in (1, 3, 4, 7):  # a conv1 behind a ReLU, a shortcut, one behind an Add, the fc
        tensor = tensors[i]
        path = quantize_tflite_float(source, tmp_path / f"f{i}.tflite", _excluding(tensor))
        after = {e.tensor: e.sqnr_db for e in tflite_layer_errors(source, path, OPTS, 0)}
        assert after[tensor] >= before[tensor] - 1.0, (tensor, before[tensor], after[tensor])
        out = tensors[-1]
        assert after[out] >= before[out] - 0.5, (tensor, before[out], after[out])
