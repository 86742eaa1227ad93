"""The one table of model formats.

It drives ``convert``, ``quantize``, ``runtime.load``, ``benchmark`` and the click choices. Heavy
modules are named as ``"module:attribute"`` strings and imported only when used, so this table is
importable on a device without torch.

This lives at the package top (not in ``convert/`` as DESIGN.md first sketched) because the runtime
needs it and the runtime must not import ``convert`` (which imports torch).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeres.errors import ModelFileError, UsageError, unknown_name


@dataclass(frozen=True)
class Format:
    """One model file format.

    Attributes:
        name: Public name used by ``--to`` and in reports.
        suffix: File suffix including the dot.
        backend: ``"module:Class"`` of the runtime backend that runs it.
        exporter: ``"module:function"`` converting a checkpoint to it, or ``None`` (the source format).
        quantizer: ``"module:function"`` writing its INT8 version, or ``None``.
        needs_torch: Whether loading this format needs PyTorch.
    """

    name: str
    suffix: str
    backend: str
    exporter: str | None
    quantizer: str | None
    needs_torch: bool = False

    def matches_magic(self, head: bytes, strict: bool = False) -> bool:
        """Whether the first bytes of a file look like this format.

        ``strict`` asks for the usual first bytes only (for ONNX: ``ir_version`` first, as every
        serializer writes it), so a hint that a file "looks like" another format is not a guess.
        """
        if self.name == "tflite":
            return len(head) >= 8 and head[4:8] == b"TFL3"
        if self.name == "pytorch":
            return head[:4] == b"PK\x03\x04"  # torch.save writes a zip archive
        if self.name == "onnx":
            if strict:
                return head[:1] == b"\x08"
            # A ModelProto is protobuf; its first field is almost always ir_version (tag 0x08).
            # Other leading fields are legal, so accept any protobuf tag of field 1..14, wire 0/2.
            return len(head) > 0 and (head[0] & 0x07) in (0, 2) and 1 <= (head[0] >> 3) <= 14
        raise AssertionError(f"no magic check for format {self.name}")


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            name="pytorch",
            suffix=".pt",
            backend="edgeres.runtime.pytorch:TorchBackend",
            exporter=None,
            quantizer=None,
            needs_torch=True,
        ),
        Format(
            name="onnx",
            suffix=".onnx",
            backend="edgeres.runtime.onnx:OnnxBackend",
            exporter="edgeres.convert.onnx:export_onnx",
            quantizer="edgeres.quantize.onnx:quantize_onnx",
        ),
        Format(
            name="tflite",
            suffix=".tflite",
            backend="edgeres.runtime.tflite:TFLiteBackend",
            exporter="edgeres.convert.tflite:export_tflite",
            quantizer="edgeres.quantize.tflite:quantize_tflite",
        ),
    )
}

EXPORT_FORMATS = tuple(name for name, f in FORMATS.items() if f.exporter)


def get_format(name: str) -> Format:
    """Look a format up by name (``onnx``, ``tflite``, ``pytorch``)."""
    if name not in FORMATS:
        raise unknown_name("format", name, FORMATS)
    return FORMATS[name]


def parse_format_list(text: str) -> tuple[str, ...]:
    """Parse ``--to onnx,tflite`` into validated export format names, order kept, no repeats."""
    names = tuple(dict.fromkeys(t.strip().lower() for t in text.split(",") if t.strip()))
    if not names:
        raise UsageError(f"--to needs at least one format (valid: {', '.join(EXPORT_FORMATS)})")
    for n in names:
        if n not in EXPORT_FORMATS:
            raise unknown_name("export format", n, EXPORT_FORMATS)
    return names


def format_for_path(path: str | Path) -> Format:
    """Pick the format of a model file from its suffix, then check its first bytes agree.

    Raises:
        ModelFileError: The file is missing, empty, has an unknown suffix, or its content is
            not what the suffix says.
    """
    path = Path(path)
    by_suffix = {f.suffix: f for f in FORMATS.values()}
    by_suffix[".pth"] = FORMATS["pytorch"]
    fmt = by_suffix.get(path.suffix.lower())
    if fmt is None:
        raise ModelFileError(
            f"'{path}' has suffix '{path.suffix}', which is not a model format edgeres reads "
            f"(valid: {', '.join(sorted(by_suffix))})"
        )
    if not path.is_file():
        raise ModelFileError(f"model file '{path}' does not exist")
    with path.open("rb") as fh:
        head = fh.read(16)
    if not head:
        raise ModelFileError(f"model file '{path}' is empty")
    if not fmt.matches_magic(head):
        actual = next(
            (
                f.name
                for f in FORMATS.values()
                if f.matches_magic(head, strict=True) and f is not fmt
            ),
            None,
        )
        hint = f"; its content looks like {actual}, rename it" if actual else ""
        raise ModelFileError(f"'{path}' is not a valid {fmt.name} file{hint}")
    return fmt


def resolve(ref: str) -> Any:
    """Import ``"module:attribute"`` lazily."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)
