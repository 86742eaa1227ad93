"""Multiply-accumulates of one inference, counted from the model file's graph (no torch).

Convolutions and matrix products are counted (``output elements x kernel elements x input
channels per group``); element-wise ops, pooling and activations are not, the same convention as
``edgeres.models.count_macs``. A count embedded by the converter (``ModelInfo.extra["macs"]``)
wins; else the graph is read: TFLite through LiteRT's interpreter, ONNX through the ``onnx``
package when installed (a device install may lack it: the MACs are then reported unknown), a
checkpoint by running its model once with hooks.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

_TFLITE_CONV = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "CONV_3D"}


def count_macs(path: str | Path, fmt: str, extra: dict | None = None) -> tuple[int | None, str]:
    """MACs per image of a model file, and how they were obtained.

    Returns:
        ``(macs, source)``; ``macs`` is ``None`` when they cannot be counted here, and ``source``
        says why.
    """
    extra = extra or {}
    if isinstance(extra.get("macs"), int) and extra["macs"] > 0:
        return extra["macs"], "embedded by edgeres convert"
    try:
        if fmt == "tflite":
            return _tflite_macs(Path(path)), "counted from the TFLite graph"
        if fmt == "onnx":
            return _onnx_macs(Path(path))
        if fmt == "pytorch":
            return _torch_macs(Path(path)), "counted by running the checkpoint's model with hooks"
    except Exception as e:  # a count is a nice-to-have: never fail a benchmark over it
        return None, f"unknown: could not read the graph ({type(e).__name__}: {e})"
    return None, f"unknown: no graph counter for format {fmt}"


def _tflite_macs(path: Path) -> int:
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    shapes = {t["index"]: tuple(int(d) for d in t["shape"]) for t in interp.get_tensor_details()}
    total = 0
    for op in interp._get_ops_details():  # no public API lists operators
        name = op["op_name"]
        if name not in _TFLITE_CONV:
            continue
        out = shapes.get(int(op["outputs"][0]), ())
        weight = shapes.get(int(op["inputs"][1 if name != "TRANSPOSE_CONV" else 1]), ())
        if not out or not weight:
            continue
        per_image = math.prod(out[1:])
        if name == "DEPTHWISE_CONV_2D":  # filter [1, KH, KW, C]: one input channel per output
            total += per_image * weight[1] * weight[2]
        elif name == "FULLY_CONNECTED":  # weights [out, in]
            total += per_image * weight[-1]
        else:  # filter [O, KH, KW, I]
            total += per_image * math.prod(weight[1:])
    return total


def _torch_macs(path: Path) -> int:
    # Only reached for .pt files, which need torch to run at all.
    from edgeres.models import count_macs as torch_count
    from edgeres.train.checkpoint import load_checkpoint

    ckpt = load_checkpoint(path)
    return torch_count(ckpt.model, ckpt.info.spec.with_layout("NCHW").shape(1))


def _onnx_macs(path: Path) -> tuple[int | None, str]:
    try:
        import onnx
    except ImportError:
        return None, "unknown: counting ONNX MACs needs the 'onnx' package (pip install onnx)"
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    dims = {
        v.name: tuple(
            d.dim_value if d.HasField("dim_value") else 0 for d in v.type.tensor_type.shape.dim
        )
        for v in [*graph.value_info, *graph.output, *graph.input]
    }
    for init in graph.initializer:
        dims[init.name] = tuple(init.dims)
    # QDQ models feed weights through DequantizeLinear: its output has the initializer's shape.
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in dims:
            dims.setdefault(node.output[0], dims[node.input[0]])
    total = sum(_onnx_node_macs(node, dims) for node in graph.node)
    return total, "counted from the ONNX graph"


_ONNX_WEIGHT_INPUT = {
    "Conv": 1,
    "ConvInteger": 1,
    "QLinearConv": 3,
    "Gemm": 1,
    "MatMul": 1,
    "MatMulInteger": 1,
    "QLinearMatMul": 3,
    "QGemm": 3,
    "ConvTranspose": 1,
}


def _onnx_node_macs(node: Any, dims: dict[str, tuple[int, ...]]) -> int:
    idx = _ONNX_WEIGHT_INPUT.get(node.op_type)
    if idx is None or len(node.input) <= idx:
        return 0
    w = dims.get(node.input[idx], ())
    out = dims.get(node.output[0], ())
    if not w or not out or 0 in out[1:]:
        return 0
    per_image = math.prod(out[1:])
    if "Conv" in node.op_type:  # weight [O, I/groups, KH, KW]
        return per_image * math.prod(w[1:])
    trans_b = any(a.name == "transB" and a.i for a in node.attribute)
    return per_image * (w[-1] if trans_b else w[0])  # K of a [K, N] (or [N, K]) weight
