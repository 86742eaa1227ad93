"""Tiny real model files for the bench tests (built once per session by ``conftest.py``).

A hand-built ONNX graph (Conv 3->4 3x3 on 8x8, ReLU, global pool, Gemm 4->10: exactly
4*8*8*27 + 4*10 = 6952 MACs), its ONNX Runtime INT8 version, and the same network as TFLite
through litert-torch. They carry edgeres metadata, so the runtime reads their spec and classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeres.spec import InputSpec, ModelInfo

TINY_MACS = 4 * 8 * 8 * 27 + 4 * 10
CLASSES = tuple(f"c{i}" for i in range(10))


def _info(precision: str = "fp32") -> ModelInfo:
    return ModelInfo(name="tiny", classes=CLASSES, spec=InputSpec(8, 8), precision=precision)


def make_onnx(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from edgeres.formats.onnx import embed_onnx

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.normal(size=(4, 3, 3, 3)).astype(np.float32), "w"),
        numpy_helper.from_array(np.zeros(4, np.float32), "b"),
        numpy_helper.from_array(rng.normal(size=(10, 4)).astype(np.float32), "fc"),
        numpy_helper.from_array(np.zeros(10, np.float32), "fcb"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc", "fcb"], ["y"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    embed_onnx(model, _info())
    onnx.save(model, str(path))
    return path


def make_onnx_int8(src: Path, path: Path) -> Path:
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    from edgeres.formats.onnx import embed_onnx

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            rng = np.random.default_rng(1)
            self.it = iter([{"x": rng.random((1, 3, 8, 8), dtype=np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.it, None)

    quantize_static(
        str(src),
        str(path),
        Reader(),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
    proto = onnx.load(str(path))
    embed_onnx(proto, _info("int8"))
    onnx.save(proto, str(path))
    return path


def make_tflite(path: Path) -> Path:
    import litert_torch
    import torch

    from edgeres.formats.tflite import embed_tflite

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 10),
    ).eval()
    tmp = path.with_suffix(".raw.tflite")
    litert_torch.convert(net, (torch.randn(1, 3, 8, 8),)).export(str(tmp))
    path.write_bytes(embed_tflite(tmp.read_bytes(), _info()))
    tmp.unlink()
    return path


# Flags that shrink the budget to a few milliseconds per model.
TINY_BUDGET = [
    "--runs",
    "5",
    "--warmup",
    "1",
    "--min-time",
    "0",
    "--warmup-time",
    "0",
    "--trials",
    "2",
    "--pause",
    "0",
]
