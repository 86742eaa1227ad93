"""A minimal protobuf walk over an ONNX file, done before ONNX Runtime opens it.

It needs no ``onnx`` package (a device has none). It finds every tensor's external-data location
(graph initializers, sparse initializers, tensors in node attributes, subgraphs and functions) so a
file that points outside its folder is refused before any data is read, and it reads the
``metadata_props`` entries. A file that is not well-formed protobuf is reported as corrupted.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from edgeres.errors import ModelFileError
from edgeres.formats.onnx_arity import min_inputs
from edgeres.spec import MAX_INPUT_VALUES
from edgeres.text import shown

# Field numbers from onnx.proto3.
_MODEL_GRAPH, _MODEL_OPSET, _MODEL_METADATA, _MODEL_FUNCTIONS = 7, 8, 14, 25
_GRAPH_NODE, _GRAPH_INIT, _GRAPH_SPARSE_INIT, _GRAPH_INPUT = 1, 5, 15, 11
_TENSOR_NAME = 8
_NODE_INPUT, _NODE_NAME, _NODE_OP_TYPE, _NODE_ATTR, _NODE_DOMAIN = 1, 3, 4, 5, 7
_FUNCTION_NODE = 7
_ATTR_T, _ATTR_G, _ATTR_TENSORS, _ATTR_GRAPHS, _ATTR_SPARSE, _ATTR_SPARSES = 5, 6, 10, 11, 22, 23
_TENSOR_EXTERNAL, _TENSOR_LOCATION = 13, 14
_MAX_DEPTH = 32


class _Malformed(Exception):
    pass


@dataclass
class OnnxScan:
    """What the walk found: metadata entries and external-data file names."""

    metadata: dict[str, str] = field(default_factory=dict)
    external: list[ExternalRef] = field(default_factory=list)
    op_types: set[str] = field(default_factory=set)
    inputs: dict[str, tuple[int | str, ...]] = field(default_factory=dict)


def _text(value: memoryview) -> str:
    return bytes(value).decode("utf-8", "replace")


def _graph_inputs(graph: memoryview) -> dict[str, tuple[int | str, ...]]:
    """The declared shape of each graph input that is not a weight (``str``: a named dim)."""
    weights = {
        _text(v) for t in _messages(graph, _GRAPH_INIT) for n, w, v in _fields(t)
        if n == _TENSOR_NAME and w == 2
    }  # fmt: skip
    out: dict[str, tuple[int | str, ...]] = {}
    for info in _messages(graph, _GRAPH_INPUT):
        name = next((_text(v) for n, w, v in _fields(info) if n == 1 and w == 2), "")
        if name in weights:
            continue
        dims: list[int | str] = []
        for tp in _messages(info, 2):  # ValueInfoProto.type
            for tensor in _messages(tp, 1):  # TypeProto.tensor_type
                for shape in _messages(tensor, 2):  # Tensor.shape
                    for dim in _messages(shape, 1):  # TensorShapeProto.dim
                        dims.append(next(
                            (v if w == 0 else _text(v) for n, w, v in _fields(dim) if n in (1, 2)),
                            "?",
                        ))  # fmt: skip
        out[name] = tuple(dims)
    return out


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise _Malformed("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Yield ``(field number, wire type, value)`` for one protobuf message."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Malformed("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1 or wire == 5:
            size = 8 if wire == 1 else 4
            if pos + size > end:
                raise _Malformed("truncated fixed-size field")
            value, pos = 0, pos + size
        elif wire == 2:
            size, pos = _varint(buf, pos)
            if pos + size > end:
                raise _Malformed(f"field {number} claims {size} bytes past the end")
            value, pos = buf[pos : pos + size], pos + size
        else:
            raise _Malformed(f"unsupported wire type {wire}")
        yield number, wire, value


def _messages(buf: memoryview, number: int) -> Iterator[memoryview]:
    for n, wire, value in _fields(buf):
        if n == number and wire == 2:
            yield value


class ExternalRef(NamedTuple):
    """One tensor's external data: the file, and the byte range (as written: text) it reads."""

    location: str
    offset: str | None = None
    length: str | None = None


def _tensor_locations(tensor: memoryview) -> Iterator[ExternalRef]:
    entries: dict[str, str] = {}
    for entry in _messages(tensor, _TENSOR_EXTERNAL):
        kv = {n: bytes(v).decode("utf-8", "replace") for n, w, v in _fields(entry) if w == 2}
        entries[kv.get(1, "")] = kv.get(2, "")
    if "location" in entries:
        yield ExternalRef(entries["location"], entries.get("offset"), entries.get("length"))


def _graph_locations(graph: memoryview, depth: int) -> Iterator[ExternalRef]:
    if depth > _MAX_DEPTH:
        raise _Malformed("subgraphs nested too deeply")
    for t in _messages(graph, _GRAPH_INIT):
        yield from _tensor_locations(t)
    for sparse in _messages(graph, _GRAPH_SPARSE_INIT):
        for part in (1, 2):
            for t in _messages(sparse, part):
                yield from _tensor_locations(t)
    for node in _messages(graph, _GRAPH_NODE):
        yield from _node_locations(node, depth)


def _node_locations(node: memoryview, depth: int) -> Iterator[ExternalRef]:
    for attr in _messages(node, _NODE_ATTR):
        for n, wire, value in _fields(attr):
            if wire != 2:
                continue
            if n in (_ATTR_T, _ATTR_TENSORS):
                yield from _tensor_locations(value)
            elif n in (_ATTR_G, _ATTR_GRAPHS):
                yield from _graph_locations(value, depth + 1)
            elif n in (_ATTR_SPARSE, _ATTR_SPARSES):
                for part in (1, 2):
                    for t in _messages(value, part):
                        yield from _tensor_locations(t)


def _check_inputs(node: memoryview, opset: int) -> str:
    """The node's operator; ``_Malformed`` if it has fewer inputs than the model's opset allows
    it (an engine may crash on such a node instead of refusing it)."""
    text = {_NODE_OP_TYPE: "", _NODE_DOMAIN: "", _NODE_NAME: ""}
    inputs = 0
    for n, wire, value in _fields(node):
        if wire == 2 and n == _NODE_INPUT:
            inputs += 1  # positions, "" (an omitted optional input) included
        elif wire == 2 and n in text:
            text[n] = _text(value)
    op = text[_NODE_OP_TYPE]
    need = min_inputs(op, opset) if text[_NODE_DOMAIN] in ("", "ai.onnx") else 0
    if inputs < need:
        raise _Malformed(
            f"node '{shown(text[_NODE_NAME])}' ({shown(op)}) has {inputs} "
            f"input{'s' * (inputs != 1)}; {shown(op)} takes at least {need}"
        )
    return op


def scan_onnx(data: bytes, path: str | Path = "<bytes>") -> OnnxScan:
    """Walk an ONNX ``ModelProto``; raise ``ModelFileError`` if it is not well-formed."""
    buf = memoryview(data)
    scan = OnnxScan()
    try:
        graphs, opset, nodes = 0, 1, []
        for n, wire, value in _fields(buf):
            if wire != 2:
                continue
            if n == _MODEL_GRAPH:
                graphs += 1
                scan.external.extend(_graph_locations(value, 0))
                scan.inputs.update(_graph_inputs(value))
                nodes.extend(_messages(value, _GRAPH_NODE))
            elif n == _MODEL_OPSET:
                kv = {k: v for k, w, v in _fields(value)}
                if bytes(kv.get(1, b"")) in (b"", b"ai.onnx") and isinstance(kv.get(2), int):
                    opset = kv[2]  # the default domain's version
            elif n == _MODEL_METADATA:
                kv = {
                    k: bytes(v).decode("utf-8", "replace") for k, w, v in _fields(value) if w == 2
                }
                scan.metadata[kv.get(1, "")] = kv.get(2, "")
            elif n == _MODEL_FUNCTIONS:
                for node in _messages(value, _FUNCTION_NODE):
                    scan.external.extend(_node_locations(node, 0))
        if graphs == 0:
            raise _Malformed("no graph in the model")
        scan.op_types.update(_check_inputs(node, opset) for node in nodes)  # opset comes last
    except _Malformed as e:
        raise ModelFileError(
            f"'{shown(path)}' is not a valid ONNX file (corrupted or truncated: {e}); "
            "re-export or copy it again"
        ) from None
    return scan


def check_input_sizes(path: Path, inputs: dict[str, tuple[int | str, ...]]) -> None:
    """Refuse graph inputs declaring more than ``MAX_INPUT_VALUES`` values (named dims count 1)."""
    for name, dims in inputs.items():
        fixed = [d for d in dims if isinstance(d, int)]
        values = math.prod(max(d, 1) for d in fixed)
        if values > MAX_INPUT_VALUES:
            shape = "x".join(str(d) for d in dims)
            raise ModelFileError(
                f"'{shown(path)}' declares input '{shown(name)}' of shape {shape} ({values} "
                f"values), over the limit of {MAX_INPUT_VALUES}; the file looks crafted"
            )


def check_external_data(path: Path, refs: list[ExternalRef]) -> None:
    """Refuse external data that leaves the model's folder (``..``, an absolute name, a symlink
    out), is missing, or names a byte range (offset, length) that is negative or past its end."""
    folder = path.resolve().parent
    for ref in dict.fromkeys(refs):
        loc = ref.location
        bad = "\0" in loc or Path(loc).is_absolute()
        target = folder if bad else (folder / loc).resolve()
        if bad or not target.is_relative_to(folder):
            raise ModelFileError(
                f"'{shown(path)}' refers to external data '{shown(loc)}' outside its folder; "
                "refusing to load it (keep the .data file beside the .onnx file and re-export "
                "with a relative name)"
            )
        if not target.is_file():
            raise ModelFileError(
                f"'{shown(path)}' needs its external data file '{shown(loc)}', which is missing; "
                "copy it beside the .onnx file"
            )
        _check_range(path, ref, target.stat().st_size)


def _check_range(path: Path, ref: ExternalRef, size: int) -> None:
    """The declared byte range must be whole numbers inside the data file."""
    values = []
    for key, text in (("offset", ref.offset), ("length", ref.length)):
        value = 0 if text is None else (int(text) if text.strip().isdigit() else -1)
        if value < 0:
            raise ModelFileError(
                f"'{shown(path)}' declares external data {key} '{shown(text)}' for "
                f"'{shown(ref.location)}', not a whole number of bytes; the file looks crafted"
            )
        values.append(value)
    offset, length = values
    end = offset + (length if ref.length is not None else 0)
    if offset > size or end > size:
        raise ModelFileError(
            f"'{shown(path)}' reads bytes {offset} to {end} of '{shown(ref.location)}', which "
            f"holds {size}; the data file is truncated or the model crafted"
        )
