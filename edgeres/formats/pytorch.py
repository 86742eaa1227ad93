"""The PyTorch format: edgeres checkpoints (``.pt``), NCHW, run by PyTorch itself.

The source every other format is exported from and checked against. Reading one needs torch
(``edgeres.formats.checkpoint``), imported only when a checkpoint is opened.
"""

from __future__ import annotations

from pathlib import Path

from edgeres.formats.base import Engine, Format
from edgeres.spec import ModelInfo

# The checkpoint ``train`` keeps to resume an interrupted run: its training state, not a model
# to deploy (``tune DIR`` leaves it out).
RESUME_CHECKPOINT = "last.pt"

TORCH = Engine(
    name="pytorch",
    backend="edgeres.runtime.pytorch:TorchBackend",
    modules=("torch",),
    install="pip install 'edgeres[train]' torch==2.13.0",
    distributions=("torch",),
    probe="edgeres.runtime.pytorch:probe",
    note="fine on a device (train/convert/quantize need it)",
)


def magic(head: bytes, strict: bool = False) -> bool:
    """``torch.save`` writes a zip archive."""
    return head[:4] == b"PK\x03\x04"


def read_metadata(path: Path) -> ModelInfo | None:
    """The ``ModelInfo`` saved in a checkpoint (loads it: needs torch)."""
    from edgeres.formats.checkpoint import load_checkpoint

    return load_checkpoint(path).info


def count_macs(path: Path) -> tuple[int | None, str]:
    """MACs per image, by running the checkpoint's model once with hooks."""
    from edgeres.formats.checkpoint import load_checkpoint
    from edgeres.models import count_macs as torch_count

    ckpt = load_checkpoint(path)
    macs = torch_count(ckpt.model, ckpt.info.spec.with_layout("NCHW").shape(1))
    return macs, "counted by running the checkpoint's model with hooks"


FORMAT = Format(
    name="pytorch",
    suffixes=(".pt", ".pth"),
    layout="NCHW",
    engines=(TORCH,),
    magic=magic,
    read_metadata=read_metadata,
    count_macs=count_macs,
    quant_source="edgeres.quantize.source:from_checkpoint",
    needs_torch=True,
)
