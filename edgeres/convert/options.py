"""What ``edgeres convert`` takes besides the checkpoint: one frozen dataclass, checked on creation.

Torch-free and light: the CLI reads each flag's default and help from ``ConvertConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeres.formats import parse_format_list
from edgeres.formats.onnx import DEFAULT_OPSET
from edgeres.formats.source_options import SourceOptions


@dataclass(frozen=True)
class ConvertConfig:
    """How a checkpoint is exported and checked: ``convert(path, config)``.

    Attributes:
        to: Formats to write, comma-separated (``--to``); by default every format convert
            writes but the source's own (from an ONNX file: TFLite).
        out_dir: Output folder (``--out``); by default beside the checkpoint.
        opset: ONNX opset version (``--opset``).
        dynamic_batch: Leave the ONNX batch dimension free; by default it is fixed at 1
            (``--dynamic-batch``).
        force: Replace existing output files (``--force``).
        verify: Check each file against the checkpoint: logits within 1e-4 and the same top-1
            (``--no-verify`` turns it off).
        quiet: No progress bar (``--json``).
        source: What describes a source without edgeres metadata (``--model``, ``--labels``,
            ``--img-size``, ``--mean``, ``--std``, ``--channel-order``); on an edgeres
            checkpoint only ``labels`` applies.
    """

    to: tuple[str, ...] | str | None = None
    out_dir: str | Path | None = None
    opset: int = DEFAULT_OPSET
    dynamic_batch: bool = False
    force: bool = False
    verify: bool = True
    quiet: bool = False
    source: SourceOptions = SourceOptions()

    def __post_init__(self) -> None:
        # None stays None: convert reads the table when it runs (a format registered later is
        # written too) and leaves out the source's own format.
        if self.to is not None:
            text = self.to if isinstance(self.to, str) else ",".join(self.to)
            object.__setattr__(self, "to", parse_format_list(text))
