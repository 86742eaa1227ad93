"""A structural verifier for ``.tflite`` files, run before the interpreter sees a byte.

LiteRT's C++ interpreter trusts its input: a truncated or bit-flipped file can crash the Python
process instead of raising. ``verify_tflite`` walks every table the interpreter reads (model,
operator codes, subgraphs, tensors, quantization, operators and their options, buffers, metadata,
signatures), bounds-checks each offset and vector, and checks the indices that tie them together.
It raises ``ModelFileError`` naming what is wrong. On the way it collects the main subgraph's
tensors and operators (``tflite_graph.Graph``): ``read_graph`` is the one way edgeres reads a
TFLite graph.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from edgeres.errors import ModelFileError
from edgeres.formats.flatbuf import Malformed, Reader, Table, root
from edgeres.formats.tflite_graph import Graph, Operator, Tensor, dtype_name, op_name
from edgeres.spec import MAX_INPUT_VALUES
from edgeres.text import shown

# TensorType -> bytes per element, for the types whose constant buffers have a fixed size.
_ELEM_SIZE = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16, 12: 8, 15: 4}
_ELEM_SIZE.update({16: 2, 18: 2})
# BuiltinOptions union members whose scalar fields the kernels divide by or loop over:
# type id -> (field index, schema default) pairs that must be >= 1 (strides, dilations, filters).
_POSITIVE_FIELDS = {
    1: ((1, 0), (2, 0), (4, 1), (5, 1)),  # Conv2DOptions
    2: ((1, 0), (2, 0), (5, 1), (6, 1)),  # DepthwiseConv2DOptions
    5: ((1, 0), (2, 0), (3, 0), (4, 0)),  # Pool2DOptions
}
# BuiltinOptions members holding an int32 vector (ReshapeOptions.new_shape, SqueezeOptions).
_VECTOR_FIELDS = {17: 0, 30: 0}
_MAX_TENSOR_BYTES = 1 << 31
_MAX_TOTAL_TENSOR_BYTES = 1 << 32  # every tensor of the file together


class _TooLarge(Exception):
    """Sizes a real model never declares: a crafted file (reported as such, not as corrupt)."""


@dataclass
class TFLiteSummary:
    """What the verifier learned on its way through the file."""

    num_tensors: int = 0
    num_operators: int = 0
    input_shapes: list[tuple[int, ...]] = field(default_factory=list)
    tensor_bytes: int = 0  # every tensor's size at 4 bytes a value (an upper bound)
    metadata: dict[str, bytes] = field(default_factory=dict)
    graph: Graph = field(default_factory=lambda: Graph((), (), (), ()))


def read_graph(source: str | Path | bytes) -> Graph:
    """The main subgraph of a ``.tflite`` file (a path or its bytes), verified as it is read.

    Raises:
        ModelFileError: Unreadable, malformed, truncated or crafted file.
    """
    if isinstance(source, bytes):
        return verify_tflite(source).graph
    try:
        data = Path(source).read_bytes()
    except OSError as e:
        raise ModelFileError(f"cannot read '{shown(source)}': {e.strerror}") from None
    return verify_tflite(data, source).graph


def verify_tflite(data: bytes, path: str | Path = "<bytes>") -> TFLiteSummary:
    """Check a TFLite flatbuffer's structure; raise ``ModelFileError`` if anything is off."""
    try:
        return _verify(data)
    except _TooLarge as e:
        raise ModelFileError(f"'{shown(path)}' {e}; the file looks crafted") from None
    except Malformed as e:
        raise ModelFileError(
            f"'{shown(path)}' is not a valid TFLite file (corrupted or truncated: {e}); "
            "re-export or copy it again"
        ) from None
    except (ValueError, OverflowError, MemoryError) as e:
        raise ModelFileError(f"'{shown(path)}' is not a valid TFLite file ({e})") from None


def _verify(data: bytes) -> TFLiteSummary:
    r, model = root(data)
    if model.vt_size > 4 + 2 * 8 and (r.field(model, 8, 4) or r.field(model, 9, 4)):
        raise Malformed("external buffer groups (weights in other files) are not supported")
    r.string(model, 3)
    opcodes = r.tables(model, 1)
    # OperatorCode: deprecated_builtin_code (0, int8) and builtin_code (3, int32); the larger
    # one holds the code (codes over 127 live only in the second).
    names = [
        op_name(max(int(r.get(oc, 0, "b")), int(r.get(oc, 3, "i"))), r.string(oc, 1))
        for oc in opcodes
    ]
    buffers = [_verify_buffer(r, b) for b in r.tables(model, 4)]
    subgraphs = r.tables(model, 2)
    if not subgraphs:
        raise Malformed("the model has no subgraph")
    summary = TFLiteSummary()
    for i, sg in enumerate(subgraphs):
        _verify_subgraph(r, sg, buffers, names, summary, first=i == 0)
    for idx in r.scalars(model, 5, "i"):
        _index(idx, len(buffers), "metadata buffer")
    for md in r.tables(model, 6):
        name = r.string(md, 0)
        idx = _index(int(r.get(md, 1, "I")), len(buffers), "metadata buffer")
        summary.metadata[name] = buffers[idx]
    _verify_signatures(r, model, subgraphs)
    return summary


def _index(value: int, limit: int, what: str, allow_minus_one: bool = False) -> int:
    if (allow_minus_one and value == -1) or 0 <= value < limit:
        return value
    raise Malformed(f"{what} index {value} is out of range (0..{limit - 1})")


def _verify_buffer(r: Reader, b: Table) -> bytes:
    content = r.bytes_field(b, 0)
    offset, size = int(r.get(b, 1, "Q")), int(r.get(b, 2, "Q"))
    if offset > 1:  # weights stored after the flatbuffer (models over 2 GB)
        if offset + size > r.n:
            raise Malformed(f"buffer data at byte {offset} (+{size}) lies outside the file")
        content = bytes(r.data[offset : offset + size])
    return content


def _verify_subgraph(
    r: Reader,
    sg: Table,
    buffers: list[bytes],
    names: list[str],
    summary: TFLiteSummary,
    first: bool,
) -> None:
    tensors = [_verify_tensor(r, i, t, buffers) for i, t in enumerate(r.tables(sg, 0))]
    shapes = [t.shape for t in tensors]
    n = len(tensors)
    inputs = [_index(i, n, "subgraph input tensor") for i in r.scalars(sg, 1, "i")]
    outputs = [_index(i, n, "subgraph output tensor") for i in r.scalars(sg, 2, "i")]
    r.string(sg, 4)
    ops = [_verify_operator(r, i, op, n, names) for i, op in enumerate(r.tables(sg, 3))]
    summary.num_tensors += n
    summary.num_operators += len(ops)
    summary.tensor_bytes += sum(math.prod(max(d, 1) for d in shape) * 4 for shape in shapes)
    if summary.tensor_bytes > _MAX_TOTAL_TENSOR_BYTES:
        raise _TooLarge(f"declares tensors of {summary.tensor_bytes} bytes in all")
    for i in inputs:
        values = math.prod(max(d, 1) for d in shapes[i])
        if values > MAX_INPUT_VALUES:
            raise _TooLarge(
                f"declares an input of shape {shapes[i]} ({values} values), over the limit of "
                f"{MAX_INPUT_VALUES}"
            )
    if first:
        summary.input_shapes = [shapes[i] for i in inputs]
        summary.graph = Graph(tuple(tensors), tuple(ops), tuple(inputs), tuple(outputs))


def _verify_tensor(r: Reader, index: int, t: Table, buffers: list[bytes]) -> Tensor:
    shape = tuple(r.scalars(t, 0, "i"))
    if any(d < -1 for d in shape):
        raise Malformed(f"tensor shape {shape} has a negative dimension")
    ttype = int(r.get(t, 1, "b"))
    buf = _index(int(r.get(t, 2, "I")), max(len(buffers), 1), "tensor buffer")
    name = r.string(t, 3)
    signature = tuple(r.scalars(t, 7, "i"))
    elems = math.prod(max(d, 1) for d in shape)
    size = _ELEM_SIZE.get(ttype)
    if size and elems * size > _MAX_TENSOR_BYTES:
        raise _TooLarge(f"declares a tensor of shape {shape}, over {_MAX_TENSOR_BYTES} bytes")
    if buffers and buffers[buf] and size and len(buffers[buf]) != elems * size:
        raise Malformed(
            f"constant tensor of shape {shape} has {len(buffers[buf])} bytes, expected {elems * size}"
        )
    quant = r.subtable(t, 4)
    scale, zero_point = _verify_quantization(r, quant, shape) if quant is not None else ((), ())
    sparsity = r.subtable(t, 6)
    if sparsity is not None:
        _verify_sparsity(r, sparsity)
    for variant in r.tables(t, 9):
        r.scalars(variant, 0, "i")
    constant = bool(buffers and buffers[buf])
    return Tensor(index, name, shape, signature or shape, dtype_name(ttype), constant,
                  scale, zero_point)  # fmt: skip


def _verify_quantization(r: Reader, q: Table, shape: tuple[int, ...]) -> tuple[tuple, tuple]:
    """Check a ``QuantizationParameters`` table; its ``(scale, zero_point)``."""
    r.scalars(q, 0, "f")
    r.scalars(q, 1, "f")
    scale = tuple(r.scalars(q, 2, "f"))
    zero_point = tuple(r.scalars(q, 3, "q"))
    if zero_point and scale and len(zero_point) != len(scale):
        raise Malformed(f"{len(scale)} quantization scales but {len(zero_point)} zero points")
    if len(scale) > 1:
        dim = int(r.get(q, 6, "i"))
        if not 0 <= dim < len(shape) or shape[dim] != len(scale):
            raise Malformed(f"per-channel quantization on dimension {dim} does not fit {shape}")
    if int(r.get(q, 4, "B")) != 0:
        custom = r.subtable(q, 5)
        if custom is not None:
            r.bytes_field(custom, 0)
    return scale, zero_point


def _verify_sparsity(r: Reader, s: Table) -> None:
    r.scalars(s, 0, "i")
    r.scalars(s, 1, "i")
    for dim in r.tables(s, 2):
        for type_field, fmt in ((2, None), (4, None)):
            kind = int(r.get(dim, type_field, "B"))
            if kind == 0:
                continue
            fmt = {1: "i", 2: "H", 3: "B"}.get(kind)
            if fmt is None:
                raise Malformed(f"unknown sparse index vector type {kind}")
            vec = r.subtable(dim, type_field + 1)
            if vec is not None:
                r.scalars(vec, 0, fmt)


def _verify_operator(
    r: Reader, index: int, op: Table, n_tensors: int, names: list[str]
) -> Operator:
    code = _index(int(r.get(op, 0, "I")), len(names), "operator code")
    tensors = {}
    for vec in (1, 2, 8):
        tensors[vec] = tuple(
            _index(i, n_tensors, "operator tensor", allow_minus_one=True)
            for i in r.scalars(op, vec, "i")
        )
    _check_absent_inputs(names[code], tensors[1], tensors[2])
    r.bytes_field(op, 5)
    r.bytes_field(op, 7)
    if int(r.get(op, 9, "Q")) > 1:
        end = int(r.get(op, 9, "Q")) + int(r.get(op, 10, "Q"))
        if end > r.n:
            raise Malformed("large custom options lie outside the file")
    for type_field in (3, 11):
        kind = int(r.get(op, type_field, "B"))
        options = r.subtable(op, type_field + 1)
        if options is None:
            continue
        if type_field == 3:
            _verify_options(r, kind, options)
    return Operator(index, names[code], tensors[1], tensors[2])


# -1 marks an absent optional input (a convolution's bias, an LSTM's peephole weights). The first
# two inputs of every other operator (RESHAPE aside: its shape may come from its options) are
# required: LiteRT's kernels read them unchecked, and a -1 there crashed the process (SIGSEGV in
# ADD and CONV_2D, found by tools/fuzz_files.py).
_OPTIONAL_EARLY = ("LSTM", "RNN", "SVDF")


def _check_absent_inputs(name: str, inputs: tuple[int, ...], outputs: tuple[int, ...]) -> None:
    if -1 in outputs:
        raise Malformed(f"operator {name} has an absent output (-1)")
    if any(word in name for word in _OPTIONAL_EARLY) or name in ("CUSTOM", "RESHAPE"):
        return
    if -1 in inputs[:2]:
        raise Malformed(f"operator {name} lacks a required input (tensor -1)")


def _verify_options(r: Reader, kind: int, options: Table) -> None:
    for index, default in _POSITIVE_FIELDS.get(kind, ()):
        value = int(r.get(options, index, "i", default))
        if value < 1 or value > 1 << 16:
            raise Malformed(f"operator option {index} of options type {kind} is {value}")
    if kind in _VECTOR_FIELDS:
        r.scalars(options, _VECTOR_FIELDS[kind], "i")


def _verify_signatures(r: Reader, model: Table, subgraphs: list[Table]) -> None:
    for sig in r.tables(model, 7):
        r.string(sig, 2)
        sg = _index(int(r.get(sig, 4, "I")), len(subgraphs), "signature subgraph")
        _, n_tensors = r.vector(subgraphs[sg], 0, 4)
        for vec in (0, 1):
            for tm in r.tables(sig, vec):
                r.string(tm, 0)
                _index(int(r.get(tm, 1, "I")), n_tensors, "signature tensor")
