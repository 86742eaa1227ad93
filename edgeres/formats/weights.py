"""The safetensors format (``.safetensors``): named tensors and a JSON header, nothing that runs.

timm and the Hugging Face hub publish weights this way. Like a ``.pth`` state dict it holds only
weights: ``--model`` names the architecture (``edgeres.formats.torch_source``).
"""

from __future__ import annotations

from pathlib import Path

from edgeres.formats.base import Format
from edgeres.formats.pytorch import TORCH
from edgeres.spec import ModelInfo


def magic(head: bytes, strict: bool = False) -> bool:
    """An 8-byte little-endian header length, then the JSON header's ``{``."""
    return len(head) > 8 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") < 1 << 30


def read_metadata(path: Path) -> ModelInfo | None:
    return None


def count_macs(path: Path) -> tuple[int | None, str]:
    return None, "a state dict holds no architecture: pass it with --model to count"


FORMAT = Format(
    name="safetensors",
    suffixes=(".safetensors",),
    layout="NCHW",
    engines=(TORCH,),
    magic=magic,
    read_metadata=read_metadata,
    count_macs=count_macs,
    quant_source="edgeres.quantize.source:from_checkpoint",
    needs_torch=True,
)
