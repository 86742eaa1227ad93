"""Mutations of valid model files for tools/fuzz_files.py: bytes, zip entries, JSON fields,
ONNX protobuf fields, TFLite flatbuffer fields and declared sizes.

Each mutator takes ``(data, rng)`` and returns ``(new_data, description)``; the description is
enough to see what was changed when a finding is read.
"""

from __future__ import annotations

import io
import json
import random
import struct
import warnings
import zipfile
from collections.abc import Callable

HUGE_INTS = (2**31 - 1, 2**32 - 1, 2**31, 2**63 - 1, 10**9, 10**12, -1, -(2**31), 0)
Mutator = Callable[[bytes, random.Random], tuple[bytes, str]]


# -- bytes ------------------------------------------------------------------------------------


def flip(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    b = bytearray(data)
    n = rng.choice((1, 2, 4, 16, 64))
    spots = [rng.randrange(len(b)) for _ in range(n)]
    for i in spots:
        b[i] ^= rng.randrange(1, 256)
    return bytes(b), f"flip {n} bytes (first at {spots[0]})"


def truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    cut = rng.choice((rng.randrange(len(data)), rng.randrange(min(len(data), 256))))
    return data[:cut], f"truncate to {cut} of {len(data)} bytes"


def huge_int(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A declared size or offset somewhere becomes huge: a 4- or 8-byte little-endian field."""
    width = rng.choice((4, 8))
    at = rng.randrange(0, max(1, len(data) - width)) & ~(width - 1)
    value = rng.choice(HUGE_INTS) % (2 ** (8 * width))
    field = value.to_bytes(width, "little")
    return data[:at] + field + data[at + width :], f"write {value:#x} ({width} bytes) at {at}"


def splice(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    a = rng.randrange(len(data))
    n = rng.randrange(1, min(4096, len(data) - a) + 1)
    at = rng.randrange(len(data))
    return data[:at] + data[a : a + n] + data[at:], f"insert a copy of {n} bytes from {a} at {at}"


BYTE_MUTATORS: tuple[Mutator, ...] = (flip, truncate, huge_int, splice)


def any_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    return rng.choice(BYTE_MUTATORS)(data, rng)


# -- JSON -------------------------------------------------------------------------------------


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:50]):
            yield from _paths(v, (*prefix, i))


def _weird_value(rng: random.Random):
    return rng.choice((
        lambda: rng.choice(HUGE_INTS), lambda: float("nan"), lambda: float("inf"), lambda: -1e308,
        lambda: "x" * rng.choice((0, 1, 10**5)), lambda: None, lambda: {}, lambda: [],
        lambda: [0] * 10**5, lambda: True, lambda: "\x1b[31m\u202e../../etc/passwd",
        lambda: _deep(rng.choice((100, 10**4))), lambda: {"__class__": "os.system"},
    ))()  # fmt: skip


def _deep(depth: int):
    doc: list = []
    for _ in range(depth):
        doc = [doc]
    return doc


def edit_json(doc, rng: random.Random) -> tuple[object, str]:
    """One field of ``doc`` replaced by a hostile value, deleted or renamed."""
    paths = [p for p in _paths(doc) if p]
    if not paths:
        return _weird_value(rng), "replace the whole document"
    path = rng.choice(paths)
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key, action = path[-1], rng.random()
    if action < 0.15 and isinstance(parent, dict):
        del parent[key]
        return doc, f"delete {list(path)}"
    if action < 0.25 and isinstance(parent, dict):
        parent[f"{key}_"] = parent.pop(key)
        return doc, f"rename {list(path)}"
    value = _weird_value(rng)
    parent[key] = value
    return doc, f"set {list(path)} to {_short(value)}"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) < 60 else f"{text[:40]}... ({len(text)} chars)"


def json_bytes(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    try:
        doc = json.loads(data)
    except ValueError:
        return any_bytes(data, rng)
    doc, what = edit_json(doc, rng)
    return _dumps(doc), f"json: {what}"


def _dumps(doc) -> bytes:
    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 30_000))  # the deep documents must be writable
    try:
        return json.dumps(doc).encode()
    finally:
        sys.setrecursionlimit(old)


# -- zip (.pt, .pt2) --------------------------------------------------------------------------


def _entries(data: bytes) -> list[tuple[zipfile.ZipInfo, bytes]]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return [(i, z.read(i)) for i in z.infolist()]


def _pack(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings(), zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        warnings.simplefilter("ignore")  # "Duplicate name": the twin entries are on purpose
        for name, body in entries:
            z.writestr(zipfile.ZipInfo(name), body)
    return buf.getvalue()


def zip_edit(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Edit one entry (its bytes, or its JSON fields), drop it, duplicate it or rename it."""
    entries = [(i.filename, body) for i, body in _entries(data)]
    k = rng.randrange(len(entries))
    name, body = entries[k]
    action = rng.random()
    if action < 0.1:
        del entries[k]
        return _pack(entries), f"zip: drop {name}"
    if action < 0.2:
        twin = name.upper() if rng.random() < 0.5 else name
        entries.insert(rng.randrange(len(entries) + 1), (twin, any_bytes(body or b"0", rng)[0]))
        return _pack(entries), f"zip: second copy of {name} as {twin}"
    if action < 0.25:
        entries[k] = (rng.choice(("../evil", "/abs/path", name + "\x00x", "")) or "e", body)
        return _pack(entries), f"zip: rename {name} to {entries[k][0]!r}"
    if name.endswith(".json") and body:
        new, what = json_bytes(body, rng)
    elif body:
        new, what = any_bytes(body, rng)
    else:
        new, what = b"\x80\x02}q\x00.", "empty entry gets a pickle"
    entries[k] = (name, new)
    return _pack(entries), f"zip: {name}: {what}"


def zip_declared_size(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """An entry's declared sizes (local header and central directory) become huge."""
    b = bytearray(data)
    spots = [i for i in range(len(b) - 30) if b[i : i + 4] in (b"PK\x01\x02", b"PK\x03\x04")]
    if not spots:
        return huge_int(data, rng)
    at = rng.choice(spots)
    central = b[at : at + 4] == b"PK\x01\x02"
    size_at = at + (20 if central else 18) + rng.choice((0, 4))  # compressed or uncompressed
    value = rng.choice((2**32 - 1, 2**31, 10**9, 0))
    struct.pack_into("<I", b, size_at, value)
    kind = "central directory" if central else "local header"
    return bytes(b), f"zip: {kind} size at {size_at} set to {value:#x}"


ZIP_MUTATORS: tuple[Mutator, ...] = (zip_edit, zip_edit, zip_edit, zip_declared_size, any_bytes)


# -- safetensors ------------------------------------------------------------------------------


def safetensors_edit(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """The header's JSON fields, its declared length, or the tensor bytes."""
    (n,) = struct.unpack_from("<Q", data)
    header, body = data[8 : 8 + n], data[8 + n :]
    action = rng.random()
    if action < 0.6:
        new, what = json_bytes(header, rng)
        return struct.pack("<Q", len(new)) + new + body, f"header {what}"
    if action < 0.75:
        value = rng.choice((0, 1, n - 1, n + 1, 2**40, 2**64 - 1, len(data)))
        return struct.pack("<Q", value) + data[8:], f"declared header length {value}"
    new, what = any_bytes(body or b"\0", rng)
    return data[: 8 + n] + new, f"tensor bytes: {what}"


# -- ONNX -------------------------------------------------------------------------------------


def onnx_edit(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One protobuf field of the model: dims, metadata JSON, a node, an attribute, opset, I/O."""
    import onnx

    model = onnx.ModelProto()
    model.ParseFromString(data)
    g = model.graph
    edits = [_onnx_init_dims, _onnx_metadata, _onnx_node, _onnx_attr, _onnx_opset, _onnx_io,
             _onnx_raw]  # fmt: skip
    what = rng.choice(edits)(model, g, rng)
    return model.SerializeToString(), f"onnx: {what}"


def _onnx_init_dims(model, g, rng) -> str:
    t = rng.choice(g.initializer)
    if not t.dims:
        t.dims.append(rng.choice(HUGE_INTS[:6]))
        return f"initializer {t.name} gets a dim"
    i = rng.randrange(len(t.dims))
    t.dims[i] = rng.choice((*HUGE_INTS, t.dims[i] + 1))
    return f"initializer {t.name} dims -> {list(t.dims)}"


def _onnx_metadata(model, g, rng) -> str:
    if not model.metadata_props:
        return _onnx_node(model, g, rng)
    p = rng.choice(model.metadata_props)
    new, what = json_bytes(p.value.encode(), rng)
    p.value = new.decode("utf-8", "replace")
    return f"metadata {p.key}: {what}"


def _onnx_node(model, g, rng) -> str:
    n = rng.choice(g.node)
    action = rng.random()
    if action < 0.3:
        g.node.remove(n)
        return f"remove node {n.op_type} {n.name}"
    if action < 0.6:
        old, n.op_type = n.op_type, rng.choice(("Conv", "Gemm", "Add", "Reshape", "Pad",
                                                "Softmax", "Concat", "NoSuchOp", "Loop"))  # fmt: skip
        return f"node {n.name}: {old} -> {n.op_type}"
    if n.input:
        i = rng.randrange(len(n.input))
        n.input[i] = rng.choice(("", "missing", n.output[0] if n.output else "x"))
        return f"node {n.name} input {i} -> {n.input[i]!r}"
    return "no change (node without inputs)"


def _onnx_attr(model, g, rng) -> str:
    nodes = [n for n in g.node if n.attribute]
    if not nodes:
        return _onnx_node(model, g, rng)
    n = rng.choice(nodes)
    a = rng.choice(n.attribute)
    if a.ints:
        a.ints[rng.randrange(len(a.ints))] = rng.choice(HUGE_INTS)
    else:
        a.i = rng.choice(HUGE_INTS)
        a.f = rng.choice((float("nan"), 1e38, -1.0))
    return f"node {n.name} attribute {a.name} -> {list(a.ints) or a.i}"


def _onnx_opset(model, g, rng) -> str:
    if rng.random() < 0.5 and model.opset_import:
        model.opset_import[0].version = rng.choice((1, 6, 7, 9, 11, 30, 10**6))
        return f"opset {model.opset_import[0].version}"
    model.ir_version = rng.choice((0, 1, 3, 11, 99))
    return f"ir_version {model.ir_version}"


def _onnx_io(model, g, rng) -> str:
    v = rng.choice([*g.input, *g.output])
    dims = v.type.tensor_type.shape.dim
    if not dims:
        return "no change (no dims)"
    d = dims[rng.randrange(len(dims))]
    if rng.random() < 0.3:
        d.dim_param = "N"
    else:
        d.dim_value = rng.choice((0, 1, 3, 10**9, 2**62))
    return f"{v.name} dims -> {[x.dim_value or x.dim_param for x in dims]}"


def _onnx_raw(model, g, rng) -> str:
    ts = [t for t in g.initializer if t.raw_data]
    if not ts:
        return _onnx_init_dims(model, g, rng)
    t = rng.choice(ts)
    t.raw_data = any_bytes(t.raw_data, rng)[0]
    return f"initializer {t.name} raw data changed ({len(t.raw_data)} bytes)"


# -- TFLite -----------------------------------------------------------------------------------


def tflite_edit(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """One flatbuffer field: a tensor's shape/type/buffer, an operator's opcode or inputs,
    a buffer's bytes, the metadata JSON, the subgraph's I/O, the version."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    sg = m.subgraphs[0]
    edits = [_tfl_shape, _tfl_type, _tfl_opcode, _tfl_op_inputs, _tfl_buffer, _tfl_metadata,
             _tfl_io, _tfl_version]  # fmt: skip
    what = rng.choice(edits)(m, sg, rng)
    b = flatbuffers.Builder(1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output()), f"tflite: {what}"


def _tfl_shape(m, sg, rng) -> str:
    t = rng.choice(sg.tensors)
    shape = list(t.shape if t.shape is not None else [])
    if shape and rng.random() < 0.8:
        shape[rng.randrange(len(shape))] = rng.choice((0, -1, 2**31 - 1, 10**9, 7))
    else:
        shape = shape + [rng.choice((1, 10**9))]
    t.shape = shape
    return f"tensor {t.name!r} shape -> {shape}"


def _tfl_type(m, sg, rng) -> str:
    t = rng.choice(sg.tensors)
    t.type = rng.choice((0, 1, 2, 3, 7, 9, 16, 99))
    return f"tensor {t.name!r} type -> {t.type}"


def _tfl_opcode(m, sg, rng) -> str:
    if rng.random() < 0.5 and sg.operators:
        op = rng.choice(sg.operators)
        op.opcodeIndex = rng.choice((len(m.operatorCodes), 2**31 - 1, 0))
        return f"operator opcode index -> {op.opcodeIndex}"
    code = rng.choice(m.operatorCodes)
    code.builtinCode = code.deprecatedBuiltinCode = rng.choice((0, 3, 22, 32, 126, 127, 500))
    return f"opcode builtin -> {code.builtinCode}"


def _tfl_op_inputs(m, sg, rng) -> str:
    op = rng.choice(sg.operators)
    ins = list(op.inputs)
    if ins:
        ins[rng.randrange(len(ins))] = rng.choice((-1, len(sg.tensors), 2**31 - 1, 0))
    op.inputs = ins
    return f"operator inputs -> {ins}"


def _tfl_buffer(m, sg, rng) -> str:
    bufs = [b for b in m.buffers if b.data is not None and len(b.data)]
    if not bufs:
        return _tfl_shape(m, sg, rng)
    buf = rng.choice(bufs)
    buf.data = list(any_bytes(bytes(buf.data), rng)[0]) or None
    return f"buffer bytes changed ({len(buf.data or [])} bytes)"


def _tfl_metadata(m, sg, rng) -> str:
    for md in m.metadata or []:
        if md.name == b"edgeres" and m.buffers[md.buffer].data is not None:
            raw = bytes(m.buffers[md.buffer].data)
            new, what = json_bytes(raw, rng)
            m.buffers[md.buffer].data = list(new)
            return f"edgeres metadata {what}"
    return _tfl_shape(m, sg, rng)


def _tfl_io(m, sg, rng) -> str:
    target = rng.choice(("inputs", "outputs"))
    setattr(sg, target, [rng.choice((-1, len(sg.tensors), 0, 2**31 - 1))])
    return f"subgraph {target} -> {getattr(sg, target)}"


def _tfl_version(m, sg, rng) -> str:
    m.version = rng.choice((0, 2, 4, 2**31 - 1))
    return f"version -> {m.version}"


MUTATORS: dict[str, tuple[Mutator, ...]] = {
    "pt": ZIP_MUTATORS,
    "pt2": ZIP_MUTATORS,
    "safetensors": (safetensors_edit, safetensors_edit, any_bytes),
    "onnx": (onnx_edit, onnx_edit, onnx_edit, any_bytes),
    "tflite": (tflite_edit, tflite_edit, tflite_edit, any_bytes),
}


def mutate(fmt: str, data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """``data`` (a valid file of format ``fmt``) with one mutation, sometimes two stacked."""
    new, what = _one(fmt, data, rng)
    if (rng.random() < 0.15 or new == data) and new:
        # stacked sometimes, and always when the first edit changed nothing (a value set to
        # what it was, a JSON document written back the same)
        new, more = _one(fmt, new, rng)
        what = f"{what}; then {more}"
    if new == data:
        new, more = flip(data, rng)
        what = f"{what}; then {more}"
    return new, what


def _one(fmt: str, data: bytes, rng: random.Random) -> tuple[bytes, str]:
    mutator = rng.choice(MUTATORS[fmt])
    try:
        return mutator(data, rng)
    except Exception:  # a structured edit of bytes an earlier edit already broke: plain bytes
        return any_bytes(data, rng)
