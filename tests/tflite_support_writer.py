"""Test helper: TFLite files as other tools write them (no edgeres metadata, or TFLite Support's).

``with_support_metadata`` writes the ``TFLITE_METADATA`` entry the way tflite-support's metadata
writers do (``metadata_schema.fbs``: a ``ModelMetadata`` with ``NormalizationOptions`` on the
input and a ``TENSOR_AXIS_LABELS`` file on the output) and appends the zip holding the label
file, built here with the ``flatbuffers`` builder, field by field.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import flatbuffers


def _strings(b: flatbuffers.Builder, offsets: list[int]) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _floats(b: flatbuffers.Builder, values) -> int:
    b.StartVector(4, len(values), 4)
    for v in reversed(values):
        b.PrependFloat32(float(v))
    return b.EndVector()


def _table(b: flatbuffers.Builder, slots: int, offsets=(), bytes_=()) -> int:
    """A table: ``offsets`` are (slot, uoffset) pairs, ``bytes_`` (slot, uint8) pairs."""
    b.StartObject(slots)
    for slot, off in offsets:
        b.PrependUOffsetTRelativeSlot(slot, off, 0)
    for slot, value in bytes_:
        b.PrependUint8Slot(slot, value, 0)
    return b.EndObject()


def support_metadata(name: str, mean, std, label_file: str | None, normalize: bool = True) -> bytes:
    """A ``ModelMetadata`` flatbuffer (identifier ``M001``) for a one-input image classifier."""
    b = flatbuffers.Builder(1024)
    units = []
    if normalize:
        norm = _table(b, 2, [(0, _floats(b, mean)), (1, _floats(b, std))])
        units = [_table(b, 2, [(1, norm)], [(0, 1)])]  # ProcessUnit: NormalizationOptions
    image = _table(b, 2, bytes_=[(0, 1)])  # ImageProperties: color_space RGB
    content = _table(b, 3, [(1, image)], [(0, 2)])  # Content: ImageProperties
    in_fields = [(0, b.CreateString("image")), (3, content)]
    if units:
        in_fields.append((4, _strings(b, units)))
    inp = _table(b, 7, in_fields)
    out_fields = [(0, b.CreateString("probability"))]
    if label_file is not None:
        labels = _table(b, 4, [(0, b.CreateString(label_file))], [(2, 2)])  # TENSOR_AXIS_LABELS
        out_fields.append((6, _strings(b, [labels])))
    out = _table(b, 7, out_fields)
    sg = _table(b, 9, [(2, _strings(b, [inp])), (3, _strings(b, [out]))])
    model = _table(b, 8, [(0, b.CreateString(name)), (3, _strings(b, [sg]))])
    b.Finish(model, file_identifier=b"M001")
    return bytes(b.Output())


def rewrite_metadata(src: Path, out: Path, entries: dict[str, bytes], drop=("edgeres",)) -> Path:
    """Copy a ``.tflite`` with the metadata entries ``drop`` removed and ``entries`` added."""
    import numpy as np
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(src.read_bytes()), 0)
    kept = [m for m in model.metadata or [] if m.name.decode() not in drop]
    for key, payload in entries.items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(payload, dtype=np.uint8)
        entry = schema.MetadataT()
        entry.name, entry.buffer = key, len(model.buffers)
        model.buffers.append(buffer)
        kept.append(entry)
    model.metadata = kept
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    out.write_bytes(bytes(b.Output()))
    return out


def with_support_metadata(
    src: Path, out: Path, mean, std, labels: list[str] | None, normalize: bool = True
) -> Path:
    """``src`` without edgeres metadata, with TFLite Support metadata and a zipped labels.txt."""
    label_file = "labels.txt" if labels is not None else None
    meta = support_metadata("third party classifier", mean, std, label_file, normalize)
    rewrite_metadata(src, out, {"TFLITE_METADATA": meta})
    if labels is not None:
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("labels.txt", "\n".join(labels) + "\n")
        out.write_bytes(out.read_bytes() + archive.getvalue())
    return out
