"""The ``torch.export`` program format (``.pt2``): what ``torch.export.save`` writes.

A ``.pt2`` is an ExportedProgram: a graph of ATen operators serialized as JSON, its weights as raw
tensor bytes, and a few pickles (sample inputs, odd-strided tensors). It is a first-class source
for ``convert`` and ``quantize`` and runs on the PyTorch engine; it carries no class names or
preprocessing, so those come from ``--labels`` and ``--img-size/--mean/--std``. Reading one needs
torch (``edgeres.formats.program_load``), which also screens the archive before torch sees it.
"""

from __future__ import annotations

from pathlib import Path

from edgeres.formats.base import Format
from edgeres.formats.pytorch import TORCH, magic
from edgeres.spec import ModelInfo


def read_metadata(path: Path) -> ModelInfo | None:
    """A ``.pt2`` carries no edgeres metadata (its input shape is read when it is loaded)."""
    return None


def count_macs(path: Path) -> tuple[int | None, str]:
    """MACs per image, by running the loaded program once with hooks on its graph."""
    from edgeres.formats.program_load import load_program
    from edgeres.models import count_macs as torch_count

    source = load_program(path)
    macs = torch_count(source.model, source.info.spec.with_layout("NCHW").shape(1))
    return macs, "counted by running the program's graph"


FORMAT = Format(
    name="pt2",
    suffixes=(".pt2",),
    layout="NCHW",
    engines=(TORCH,),
    magic=magic,
    read_metadata=read_metadata,
    count_macs=count_macs,
    quant_source="edgeres.quantize.source:from_checkpoint",
    needs_torch=True,
)
