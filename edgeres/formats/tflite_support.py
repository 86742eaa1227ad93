"""TFLite Support metadata: the normalisation and label file of classifiers made elsewhere.

Files from TF Hub, Kaggle Models and Model Maker carry a ``Metadata`` entry named
``TFLITE_METADATA``: a ``ModelMetadata`` flatbuffer (identifier ``M001``, tflite-support's
``metadata_schema.fbs``) whose input tensor holds ``NormalizationOptions`` (per-channel mean and
std on the 0..255 pixel scale: ``(x - mean) / std``) and whose output tensor names a
``TENSOR_AXIS_LABELS`` file, one label a line, packed in a zip archive appended to the model.

Everything is data: the flatbuffer is read with the bounds-checked reader, only the label file
named by the metadata is read from the zip, and only up to ``MAX_LABEL_BYTES`` decompressed.
"""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass

from edgeres.errors import ModelFileError
from edgeres.formats.flatbuf import Malformed, Reader, Table, root
from edgeres.spec import MAX_CLASS_NAME, MAX_CLASSES

SUPPORT_KEY = "TFLITE_METADATA"
IDENTIFIER = b"M001"
MAX_LABEL_BYTES = 4 << 20  # 100,000 labels of 40 characters
# metadata_schema.fbs: ProcessUnitOptions.NormalizationOptions, ContentProperties.ImageProperties,
# AssociatedFileType.TENSOR_AXIS_LABELS, ColorSpaceType.
_NORMALIZATION, _IMAGE_PROPERTIES, _AXIS_LABELS = 1, 2, 2
_COLOR_SPACES = {1: "RGB", 2: "GRAYSCALE"}


@dataclass(frozen=True)
class SupportMetadata:
    """What edgeres takes from a TFLite Support ``ModelMetadata``.

    Attributes:
        name: The model's name as the metadata gives it.
        mean: Per-channel mean on the 0..255 scale (1 or 3 values), None when not given.
        std: Per-channel standard deviation, None when not given.
        color_space: ``"RGB"``, ``"GRAYSCALE"`` or None when not given.
        labels: The output's labels in order, None when there is no label file.
        label_file: The label file's name in the appended zip.
    """

    name: str
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    color_space: str | None = None
    labels: tuple[str, ...] | None = None
    label_file: str | None = None


def read_support(data: bytes, raw: bytes, path: object = "<bytes>") -> SupportMetadata:
    """Parse the ``TFLITE_METADATA`` buffer ``raw`` of the model ``data``.

    Raises:
        ModelFileError: A malformed metadata flatbuffer, non-finite or non-positive
            normalisation values, or a label file over the bounds.
    """
    try:
        r, meta = root(raw, IDENTIFIER)
        out = _read(r, meta)
    except Malformed as e:
        raise ModelFileError(f"'{path}' has malformed TFLite Support metadata ({e})") from None
    _check_normalization(out, path)
    if out.label_file is None:
        return out
    labels = _labels(data, out.label_file, path)
    return SupportMetadata(out.name, out.mean, out.std, out.color_space, labels, out.label_file)


def _read(r: Reader, meta: Table) -> SupportMetadata:
    name = r.string(meta, 0)
    subgraphs = r.tables(meta, 3)  # ModelMetadata.subgraph_metadata
    if not subgraphs:
        return SupportMetadata(name)
    sg = subgraphs[0]
    inputs, outputs = r.tables(sg, 2), r.tables(sg, 3)  # input/output_tensor_metadata
    mean = std = color = None
    if inputs:
        mean, std = _normalization(r, inputs[0])
        color = _color_space(r, inputs[0])
    files = [*(r.tables(outputs[0], 6) if outputs else []), *r.tables(sg, 4), *r.tables(meta, 6)]
    # The first TENSOR_AXIS_LABELS file is the default one (others differ by locale).
    label_file = next((r.string(f, 0) for f in files if r.get(f, 2, "b") == _AXIS_LABELS), None)
    return SupportMetadata(name, mean, std, color, None, label_file or None)


def _normalization(r: Reader, tensor: Table) -> tuple[tuple | None, tuple | None]:
    for unit in r.tables(tensor, 4):  # TensorMetadata.process_units
        if r.get(unit, 0, "B") == _NORMALIZATION:  # ProcessUnit.options_type
            options = r.subtable(unit, 1)
            if options is not None:
                return tuple(r.scalars(options, 0, "f")), tuple(r.scalars(options, 1, "f"))
    return None, None


def _color_space(r: Reader, tensor: Table) -> str | None:
    content = r.subtable(tensor, 3)  # TensorMetadata.content
    if content is None or r.get(content, 0, "B") != _IMAGE_PROPERTIES:
        return None
    props = r.subtable(content, 1)
    return None if props is None else _COLOR_SPACES.get(int(r.get(props, 0, "b")))


def _check_normalization(meta: SupportMetadata, path: object) -> None:
    for what, values in (("mean", meta.mean), ("std", meta.std)):
        if values is None:
            continue
        if len(values) not in (1, 3) or not all(math.isfinite(v) for v in values):
            raise ModelFileError(
                f"'{path}' has TFLite Support normalisation {what} {list(values)[:4]}; "
                "expected 1 or 3 finite values"
            )
    if meta.std is not None and any(s <= 0 for s in meta.std):
        raise ModelFileError(f"'{path}' has a TFLite Support std of {list(meta.std)}; must be > 0")


def _labels(data: bytes, name: str, path: object) -> tuple[str, ...] | None:
    """The label file from the zip appended to the model; None when the file has no zip or the
    zip lacks it (the model still runs, with classes as indices)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [i for i in archive.infolist() if i.filename == name]
        if len(entries) != 1:
            return None
        entry = entries[0]
        if entry.file_size > MAX_LABEL_BYTES:
            raise ModelFileError(
                f"'{path}' packs a label file '{name}' of {entry.file_size} bytes, over the "
                f"limit of {MAX_LABEL_BYTES}"
            )
        with archive.open(entry) as f:
            text = f.read(MAX_LABEL_BYTES + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return None
    except NotImplementedError:  # a compression method zipfile lacks
        return None
    if len(text) > MAX_LABEL_BYTES:
        raise ModelFileError(f"'{path}' packs a label file '{name}' over {MAX_LABEL_BYTES} bytes")
    lines = text.decode("utf-8", errors="replace").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    labels = tuple(line.strip() for line in lines)
    if len(labels) > MAX_CLASSES or any(len(c) > MAX_CLASS_NAME for c in labels):
        raise ModelFileError(f"'{path}' packs a label file '{name}' with labels over the bounds")
    return labels
