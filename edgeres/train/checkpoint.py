"""Writing checkpoints that load without executing code (reading: ``edgeres.formats.checkpoint``).

A checkpoint is a ``torch.save`` dict of plain values only (tensors, numbers, strings, lists,
dicts), so ``torch.load(weights_only=True)`` reads it; a pickle that would import or call anything
else is refused before any of it runs.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeres import __version__
from edgeres.fileio import atomic_write_bytes
from edgeres.formats.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    Checkpoint,
    load_checkpoint,
)
from edgeres.models.pruned import WIDTHS_KEY, differs, layer_widths
from edgeres.spec import ModelInfo

__all__ = ["Checkpoint", "load_checkpoint", "save_checkpoint"]


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    info: ModelInfo,
    model_args: dict[str, Any],
    metrics: dict[str, Any] | None = None,
    train_state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temp file, then rename)."""
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "edgeres_version": __version__,
        "model_name": info.name,
        "model_args": dict(model_args),
        "info": info.to_dict(),
        "metrics": dict(metrics or {}),
        "state_dict": state,
    }
    if train_state is not None:
        payload["train_state"] = train_state
    if _pruned(model, info.name, model_args):
        payload[WIDTHS_KEY] = layer_widths(model)
    path = Path(path)
    # Serialise in memory, then write with Python's file API: torch's zip writer reports a full
    # disk as "unexpected pos" instead of ENOSPC, which would hide the cause from the user.
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _pruned(model: nn.Module, name: str, model_args: dict[str, Any]) -> bool:
    """Whether ``model`` is narrower than its registered build (``edgeres prune``'s output)."""
    from edgeres.errors import UsageError
    from edgeres.models import create_model

    try:
        with torch.device("meta"):
            reference = create_model(name, **model_args)
    except (UsageError, TypeError, ValueError):
        return False  # not a zoo network: nothing to compare with
    return differs(model, reference)
