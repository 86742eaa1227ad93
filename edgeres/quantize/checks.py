"""Full-integer checks: is an "INT8" file really integer? Anything left in float is listed."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgeres.formats.tflite_verify import read_graph

# ONNX ops that only move or reshape data: they run on whatever type arrives, never compute.
_ONNX_LAYOUT_OPS = {
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Identity",
    "Shape",
    "Constant",
}
_ONNX_QDQ = {"QuantizeLinear", "DequantizeLinear"}
_ONNX_WEIGHTED = {"Conv", "Gemm", "MatMul", "ConvTranspose"}
_TFLITE_BOUNDARY = {"QUANTIZE", "DEQUANTIZE"}


@dataclass
class IntegerCheck:
    """What a quantized file computes in integer and what it leaves in float.

    Attributes:
        format: ``"onnx"`` or ``"tflite"``.
        input_dtype: Graph input element type.
        output_dtype: Graph output element type.
        ops: Op type -> count.
        integer_ops: Compute ops running on quantized tensors.
        float_ops: ``"OpType name"`` of compute ops left in float.
        weights_int8: Weighted ops (Conv/Gemm/FC) whose weights are int8.
        weights_float: Weighted ops whose weights are still float.
    """

    format: str
    input_dtype: str
    output_dtype: str
    ops: dict[str, int] = field(default_factory=dict)
    integer_ops: int = 0
    float_ops: list[str] = field(default_factory=list)
    weights_int8: int = 0
    weights_float: list[str] = field(default_factory=list)

    @property
    def full_integer(self) -> bool:
        """Every compute op and weight integer (ONNX QDQ's float I/O boundary is allowed)."""
        return not self.float_ops and not self.weights_float and self.weights_int8 > 0

    def to_dict(self) -> dict:
        return {**asdict(self), "full_integer": self.full_integer}


def _onnx_producers(graph) -> dict[str, object]:
    return {out: node for node in graph.node for out in node.output}


def _onnx_weight_int8(node, producers, inits) -> bool:
    dq = producers.get(node.input[1])
    if dq is None or dq.op_type != "DequantizeLinear":
        return False
    w = inits.get(dq.input[0])
    return w is not None and w.data_type == 3  # TensorProto.INT8


def check_onnx(path: str | Path) -> IntegerCheck:
    """Check a QDQ ONNX file: every compute op fed by DequantizeLinear, weights int8 initializers."""
    import onnx

    from edgeres.formats.onnx import load_model

    model = load_model(Path(path))
    graph = model.graph
    producers = _onnx_producers(graph)
    inits = {i.name: i for i in graph.initializer}
    elem = onnx.helper.tensor_dtype_to_np_dtype
    check = IntegerCheck(
        format="onnx",
        input_dtype=str(elem(graph.input[0].type.tensor_type.elem_type)),
        output_dtype=str(elem(graph.output[0].type.tensor_type.elem_type)),
        ops=dict(Counter(_text(n.op_type) for n in graph.node)),
    )
    for node in graph.node:
        if node.op_type in _ONNX_QDQ or node.op_type in _ONNX_LAYOUT_OPS:
            continue
        data_inputs = [i for i in node.input if i and i not in inits]
        quantized = all(
            getattr(producers.get(i), "op_type", "") == "DequantizeLinear" for i in data_inputs
        )
        label = f"{node.op_type} {node.name}"
        if quantized and data_inputs:
            check.integer_ops += 1
        else:
            check.float_ops.append(label)
        if node.op_type in _ONNX_WEIGHTED and len(node.input) > 1:
            if _onnx_weight_int8(node, producers, inits):
                check.weights_int8 += 1
            else:
                check.weights_float.append(label)
    return check


def _text(name: str | bytes) -> str:
    """A protobuf string field; the Python protobuf hands back bytes when they are not UTF-8."""
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else name


def input_consumers(path: str | Path) -> list[str]:
    """Op names of the ops that read the TFLite graph input (``TRANSPOSE`` here means NCHW inside)."""
    graph = read_graph(path)
    index = graph.inputs[0]
    return [op.name for op in graph.operators if index in op.inputs]


def check_tflite(path: str | Path) -> IntegerCheck:
    """Check a TFLite file: integer I/O, every op's tensors integer, weights of CONV/FC int8."""
    graph = read_graph(path)
    tensors = graph.tensors
    check = IntegerCheck(
        format="tflite",
        input_dtype=graph.input_tensors()[0].dtype,
        output_dtype=graph.output_tensors()[0].dtype,
        ops=dict(Counter(op.name for op in graph.operators)),
    )
    for op in graph.operators:
        used = [t for t in op.inputs + op.outputs if t >= 0]
        floats = [t for t in used if tensors[t].is_float]
        label = f"{op.name} #{op.index}"
        if floats and op.name not in _TFLITE_BOUNDARY:
            check.float_ops.append(label)
        else:
            check.integer_ops += 1
        if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            if tensors[op.inputs[1]].dtype == "int8":
                check.weights_int8 += 1
            else:
                check.weights_float.append(label)
    return check
