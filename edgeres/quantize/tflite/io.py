"""Float input/output for a full-integer TFLite model, by editing the flatbuffer.

litert-torch 0.10's PT2E path always writes int8 input and output. For ``--io float`` the graph
gets a ``QUANTIZE`` op in front (float32 -> int8, with the old input's scale and zero point) and a
``DEQUANTIZE`` op behind (int8 -> float32), the same ops TensorFlow's converter emits for
``inference_input_type=tf.float32``. Everything between them is unchanged.
"""

from __future__ import annotations

from typing import Any

# Kernel versions for int8 tensors, as TFLite's op_version.cc assigns them.
_QUANTIZE_VERSION = 2
_DEQUANTIZE_VERSION = 2


def _schema() -> Any:
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _opcode(model: Any, builtin: int, version: int) -> int:
    s = _schema()
    for i, code in enumerate(model.operatorCodes):
        if max(code.builtinCode, code.deprecatedBuiltinCode) == builtin:
            code.version = max(code.version, version)
            return i
    code = s.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)  # the int8 field saturates at 127 by design
    code.version = version
    model.operatorCodes.append(code)
    return len(model.operatorCodes) - 1


def _float_twin(graph: Any, index: int, name: str) -> int:
    s = _schema()
    old = graph.tensors[index]
    t = s.TensorT()
    t.shape = old.shape
    t.shapeSignature = old.shapeSignature
    t.type = s.TensorType.FLOAT32
    t.buffer = 0  # buffer 0 is the empty sentinel every TFLite model starts with
    t.name = name
    graph.tensors.append(t)
    return len(graph.tensors) - 1


def _op(opcode: int, inputs: list[int], outputs: list[int]) -> Any:
    op = _schema().OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = opcode, inputs, outputs
    return op


def float_io(data: bytes) -> bytes:
    """Return ``data`` with float32 input/output around its integer graph (single subgraph)."""
    import flatbuffers

    s = _schema()
    model = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    graph = model.subgraphs[0]
    old_in, old_out = int(graph.inputs[0]), int(graph.outputs[0])
    is_float = lambda i: graph.tensors[i].type == s.TensorType.FLOAT32  # noqa: E731
    # A side that is float already (a last layer kept in float) stays as it is.
    new_in = old_in if is_float(old_in) else _float_twin(graph, old_in, "input_float")
    new_out = old_out if is_float(old_out) else _float_twin(graph, old_out, "output_float")
    ops = list(graph.operators)
    if new_in != old_in:
        quant = _opcode(model, s.BuiltinOperator.QUANTIZE, _QUANTIZE_VERSION)
        ops.insert(0, _op(quant, [new_in], [old_in]))
    if new_out != old_out:
        dequant = _opcode(model, s.BuiltinOperator.DEQUANTIZE, _DEQUANTIZE_VERSION)
        ops.append(_op(dequant, [old_out], [new_out]))
    graph.operators = ops
    graph.inputs, graph.outputs = [new_in], [new_out]
    for sig in model.signatureDefs or []:
        for entry in sig.inputs or []:
            entry.tensorIndex = new_in if entry.tensorIndex == old_in else entry.tensorIndex
        for entry in sig.outputs or []:
            entry.tensorIndex = new_out if entry.tensorIndex == old_out else entry.tensorIndex
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
