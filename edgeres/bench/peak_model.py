"""The peak probe: a stem, a stack of 3x3 convolutions and a classifier head, FP32 and QDQ INT8.

Built with ``onnx.helper`` (the ``onnx`` package: the train extra has it; ``pip install onnx`` on a
device) and quantized with ONNX Runtime's static QDQ quantizer, the path edgeres' own INT8 files
take, so the INT8 peak is that of the kernels edgeres' files use. It takes a 3-channel image and
carries edgeres metadata, so it loads through ``runtime.load`` like any model file.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edgeres.errors import MissingDependencyError
from edgeres.formats.onnx import DEFAULT_OPSET
from edgeres.spec import InputSpec, ModelInfo


def _onnx():
    try:
        import onnx
    except ImportError:
        raise MissingDependencyError(
            "measuring the attained peak builds a probe model with the 'onnx' package: "
            "pip install onnx"
        ) from None
    return onnx


def _graph(onnx, channels: int, size: int, layers: int):
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits, nodes = [], []

    def conv(name: str, x: str, cin: int, cout: int, stride: int) -> str:
        w = (rng.standard_normal((cout, cin, 3, 3)) / np.sqrt(cin * 9)).astype(np.float32)
        bias = np.zeros(cout, np.float32)
        inits.extend(
            [numpy_helper.from_array(w, f"{name}.w"), numpy_helper.from_array(bias, f"{name}.b")]
        )
        nodes.append(
            helper.make_node(
                "Conv",
                [x, f"{name}.w", f"{name}.b"],
                [f"{name}.c"],
                pads=[1, 1, 1, 1],
                strides=[stride, stride],
            )
        )
        nodes.append(helper.make_node("Relu", [f"{name}.c"], [f"{name}.y"]))
        return f"{name}.y"

    x = conv("stem", "input", 3, channels, 2)
    for i in range(layers):
        x = conv(f"conv{i}", x, channels, channels, 1)
    fc = (rng.standard_normal((channels, 10)) * 0.1).astype(np.float32)
    inits.append(numpy_helper.from_array(fc, "fc.w"))
    nodes += [
        helper.make_node("GlobalAveragePool", [x], ["pool"]),
        helper.make_node("Flatten", ["pool"], ["flat"]),
        helper.make_node("MatMul", ["flat", "fc.w"], ["logits"]),
    ]
    return helper.make_graph(
        nodes,
        "edgeres-peak-probe",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 2 * size, 2 * size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        inits,
    )


def probe_models(folder: Path, channels: int, size: int, layers: int) -> dict[str, Path]:
    """Write ``fp32`` and ``int8`` probe files into ``folder``; return them by precision."""
    onnx = _onnx()
    from onnx import helper

    from edgeres.formats.onnx import embed_onnx

    model = helper.make_model(
        _graph(onnx, channels, size, layers), opset_imports=[helper.make_opsetid("", DEFAULT_OPSET)]
    )
    model.ir_version = 8
    info = ModelInfo(
        name="peak-probe",
        classes=tuple(str(i) for i in range(10)),
        spec=InputSpec(2 * size, 2 * size),
    )
    fp32 = folder / "probe_fp32.onnx"
    onnx.save(embed_onnx(model, info), str(fp32))
    int8 = folder / "probe_int8.onnx"
    _quantize(fp32, int8, info)
    return {"fp32": fp32, "int8": int8}


def _quantize(src: Path, out: Path, info: ModelInfo) -> None:
    import dataclasses

    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
    )

    from edgeres.formats.onnx import embed_onnx
    from edgeres.profiles import load_profile

    rng = np.random.default_rng(1)
    shape = info.spec.shape(1)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.left = 4

        def get_next(self):
            self.left -= 1
            return (
                {"input": rng.standard_normal(shape).astype(np.float32)} if self.left >= 0 else None
            )

    # The activation type this machine's profile asks for: what edgeres' own INT8 files use here.
    uint8 = load_profile(None).int8_activations == "uint8"
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # ORT logs advice on the root logger
    try:
        _static(src, out, Reader(), uint8)
    finally:
        root.setLevel(level)
    proto = onnx.load(str(out))
    onnx.save(embed_onnx(proto, dataclasses.replace(info, precision="int8")), str(out))


def _static(src: Path, out: Path, reader, uint8: bool) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    quantize_static(
        str(src),
        str(out),
        reader,
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8 if uint8 else QuantType.QInt8,
        weight_type=QuantType.QInt8,
    )
