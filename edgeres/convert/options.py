"""What ``edgeres convert`` takes besides the checkpoint: one frozen dataclass, checked on creation.

Torch-free and light: the CLI reads each flag's default and help from ``ConvertConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from edgeres.formats import export_formats, parse_format_list
from edgeres.formats.onnx import DEFAULT_OPSET


@dataclass(frozen=True)
class ConvertConfig:
    """How a checkpoint is exported and checked: ``convert(path, **config.kwargs())``.

    Attributes:
        to: Formats to write, comma-separated (``--to``); by default every format convert
            writes.
        out_dir: Output folder (``--out``); by default beside the checkpoint.
        opset: ONNX opset version (``--opset``).
        dynamic_batch: Leave the ONNX batch dimension free; by default it is fixed at 1
            (``--dynamic-batch``).
        force: Replace existing output files (``--force``).
        verify: Check each file against the checkpoint: logits within 1e-4 and the same top-1
            (``--no-verify`` turns it off).
        quiet: No progress bar (``--json``).
    """

    to: tuple[str, ...] | str | None = None
    out_dir: str | Path | None = None
    opset: int = DEFAULT_OPSET
    dynamic_batch: bool = False
    force: bool = False
    verify: bool = True
    quiet: bool = False

    def __post_init__(self) -> None:
        # The table is read now, not when this module was imported: a format registered
        # later is written too.
        to = export_formats() if self.to is None else self.to
        text = to if isinstance(to, str) else ",".join(to)
        object.__setattr__(self, "to", parse_format_list(text))

    def kwargs(self) -> dict[str, Any]:
        """The fields as keyword arguments of ``edgeres.convert.convert``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
