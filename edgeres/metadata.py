"""The edgeres metadata embedded in every exported model file, and how to read it back.

A ``ModelInfo`` (input spec, class names, model name, precision, extra facts) travels inside the
file itself, as JSON under the key ``"edgeres"``:

- ONNX: one ``metadata_props`` entry. ONNX Runtime exposes it as
  ``session.get_modelmeta().custom_metadata_map``, so a device needs no ``onnx`` package to read it.
- TFLite: a named ``Metadata`` entry pointing at a ``Buffer`` that holds the JSON bytes.

Importing this module imports neither torch nor onnx; embedding into TFLite uses the flatbuffer
schema that ships with ``ai-edge-litert`` (a core dependency), imported only when called.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

from edgeres.errors import ModelFileError, UsageError, missing_dependency
from edgeres.spec import ModelInfo

METADATA_KEY = "edgeres"
_TFLITE_ID = b"TFL3"
# Weight buffers are aligned so kernels (and mmap) can read them in place, as the converter does.
_BUFFER_ALIGN = 16


def embed_onnx(model_proto: Any, info: ModelInfo) -> Any:
    """Add (or replace) the edgeres entry in an ONNX ``ModelProto``'s ``metadata_props``.

    Works on the protobuf object alone; nothing is imported. Returns the same proto.
    """
    props = model_proto.metadata_props
    for entry in [p for p in props if p.key == METADATA_KEY]:
        props.remove(entry)
    entry = props.add()
    entry.key = METADATA_KEY
    entry.value = info.to_json()
    return model_proto


def read_onnx_metadata(custom_map: dict[str, str] | None) -> ModelInfo | None:
    """Read a ``ModelInfo`` from ONNX metadata, or None if the file has none.

    Args:
        custom_map: ONNX Runtime's ``session.get_modelmeta().custom_metadata_map`` (or any dict of
            the file's ``metadata_props``).

    Raises:
        ModelFileError: The entry exists but is not valid edgeres metadata.
    """
    if not custom_map or METADATA_KEY not in custom_map:
        return None
    return _parse(custom_map[METADATA_KEY], "ONNX")


def read_tflite_metadata(data: bytes) -> ModelInfo | None:
    """Read a ``ModelInfo`` from a TFLite flatbuffer, or None if it has no edgeres entry.

    The file is verified structurally first, so malformed input raises ``ModelFileError``.
    """
    from edgeres.runtime.tflite_verify import verify_tflite

    raw = verify_tflite(data).metadata.get(METADATA_KEY)
    if raw is None:
        return None
    return _parse(raw.rstrip(b"\x00").decode("utf-8", errors="replace"), "TFLite")


def read_metadata(path: str | Path) -> ModelInfo | None:
    """Read the embedded ``ModelInfo`` of an ``.onnx`` or ``.tflite`` file (None if absent)."""
    path = Path(path)
    data = path.read_bytes()
    if data[4:8] == _TFLITE_ID:
        return read_tflite_metadata(data)
    from edgeres.runtime.onnx_check import scan_onnx

    return read_onnx_metadata(scan_onnx(data, path).metadata)


def embed_tflite(data: bytes, info: ModelInfo) -> bytes:
    """Return a copy of a TFLite flatbuffer with the edgeres metadata entry added or replaced."""
    schema = _tflite_schema()
    import flatbuffers

    from edgeres.runtime.tflite_verify import verify_tflite

    verify_tflite(data)
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    model.buffers = [_aligned(schema, b) for b in model.buffers or []]
    model.metadata = model.metadata or []
    entry = next((m for m in model.metadata if _name(m) == METADATA_KEY), None)
    if entry is None:  # a new entry and buffer; re-embedding reuses them so files do not grow
        entry = schema.MetadataT()
        entry.name = METADATA_KEY
        entry.buffer = len(model.buffers)
        model.buffers.append(_aligned(schema, schema.BufferT()))
        model.metadata.append(entry)
    payload = info.to_json().encode("utf-8")
    model.buffers[entry.buffer].data = np.frombuffer(payload, dtype=np.uint8)
    builder = flatbuffers.Builder(len(data) + len(payload) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=_TFLITE_ID)
    return bytes(builder.Output())


def _parse(text: str, where: str) -> ModelInfo:
    try:
        return ModelInfo.from_json(text)
    except UsageError as e:
        raise ModelFileError(f"the {where} file's edgeres metadata is unreadable: {e}") from None


def _name(entry: Any) -> str:
    name = entry.name
    return name.decode("utf-8", errors="replace") if isinstance(name, bytes) else str(name or "")


def _tflite_schema() -> Any:
    try:
        from ai_edge_litert import schema_py_generated
    except ImportError:
        raise missing_dependency(
            "ai_edge_litert", "train", "writing metadata into a TFLite file"
        ) from None
    return schema_py_generated


def _aligned(schema: Any, buffer: Any) -> Any:
    """Copy a ``BufferT`` into one whose bytes are packed at a 16-byte boundary."""
    if buffer.offset and buffer.offset > 1:
        raise UsageError(
            "TFLite files with weights stored outside the flatbuffer (over 2 GB) are not supported"
        )
    out = _aligned_buffer_class(schema)()
    out.data, out.offset, out.size = buffer.data, buffer.offset, buffer.size
    return out


@functools.cache
def _aligned_buffer_class(schema: Any) -> type:
    class AlignedBufferT(schema.BufferT):
        def Pack(self, builder: Any) -> int:  # noqa: N802 - flatbuffers' object API name
            data = None
            if self.data is not None and len(self.data):
                raw = np.asarray(self.data, dtype=np.uint8).tobytes()
                builder.StartVector(1, len(raw), _BUFFER_ALIGN)
                builder.head -= len(raw)
                builder.Bytes[builder.head : builder.head + len(raw)] = raw
                builder.vectorNumElems = len(raw)
                data = builder.EndVector()
            schema.BufferStart(builder)
            if data is not None:
                schema.BufferAddData(builder, data)
            schema.BufferAddOffset(builder, self.offset)
            schema.BufferAddSize(builder, self.size)
            return schema.BufferEnd(builder)

    return AlignedBufferT
