"""What ``edgeres convert`` takes besides the checkpoint: one frozen dataclass, checked on creation.

Torch-free and light: the CLI reads each flag's default and help from ``ConvertConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from edgeres.formats import parse_format_list
from edgeres.formats.onnx import DEFAULT_OPSET
from edgeres.formats.source_options import SourceOptions, rgb


@dataclass(frozen=True)
class ConvertConfig:
    """How a checkpoint is exported and checked: ``convert(path, **config.kwargs())``.

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
        model: Architecture of a state dict: a zoo name (resnet18...) or pkg.module:function,
            which imports and runs that function of yours to build the network (``--model``).
        labels: Class names, one a line in output order, embedded in the files (``--labels``).
        img_size: Input size of a source that does not fix it (``--img-size``).
        mean: RGB mean after scaling to [0,1], e.g. 0.485,0.456,0.406 (``--mean``).
        std: RGB std, e.g. 0.229,0.224,0.225 (``--std``).
        channel_order: Channel order the model was trained on, RGB or BGR (``--channel-order``).
    """

    to: tuple[str, ...] | str | None = None
    out_dir: str | Path | None = None
    opset: int = DEFAULT_OPSET
    dynamic_batch: bool = False
    force: bool = False
    verify: bool = True
    quiet: bool = False
    model: str | None = None
    labels: str | Path | None = None
    img_size: int | None = None
    mean: tuple[float, float, float] | str | None = None
    std: tuple[float, float, float] | str | None = None
    channel_order: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", rgb(self.mean, "mean"))
        object.__setattr__(self, "std", rgb(self.std, "std"))
        SourceOptions(
            self.model, self.labels, self.img_size, self.mean, self.std, self.channel_order
        )
        # None stays None: convert reads the table when it runs (a format registered later is
        # written too) and leaves out the source's own format.
        if self.to is not None:
            text = self.to if isinstance(self.to, str) else ",".join(self.to)
            object.__setattr__(self, "to", parse_format_list(text))

    def kwargs(self) -> dict[str, Any]:
        """The fields as keyword arguments of ``edgeres.convert.convert``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
