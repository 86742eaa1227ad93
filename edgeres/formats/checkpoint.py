"""Reading edgeres checkpoints (``.pt``) without executing code.

A checkpoint is a ``torch.save`` dict of plain values only (tensors, numbers, strings, lists,
dicts), so ``torch.load(weights_only=True)`` reads it; a pickle that would import or call anything
else is refused before any of it runs. Writing lives in ``edgeres.train.checkpoint``; reading is
here, beside the other formats' readers, so the runtime loads a checkpoint without importing the
training room. Importing this module imports torch: only the PyTorch format's users do.
"""

from __future__ import annotations

import pickle
import re
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeres.errors import ModelFileError, UsageError
from edgeres.models import create_model
from edgeres.models.pruned import WIDTHS_KEY, narrow
from edgeres.spec import ModelInfo
from edgeres.text import shown

CHECKPOINT_FORMAT = "edgeres-checkpoint"
CHECKPOINT_VERSION = 1


@dataclass
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        model: The network with its weights, in eval mode, on the CPU.
        info: Class names, ``InputSpec`` and facts carried with the model.
        model_name: Registry name.
        model_args: Constructor options (``num_classes``, ``width``...).
        metrics: Metrics saved with it (``test_accuracy``...).
        train_state: Optimizer/scheduler/epoch state for ``--resume`` (only in ``last.pt``).
        layer_widths: A pruned network's layer widths (``edgeres.models.pruned``), else None.
    """

    model: nn.Module
    info: ModelInfo
    model_name: str
    model_args: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    train_state: dict[str, Any] | None = None
    layer_widths: dict[str, list[int]] | None = None


# The largest network a checkpoint may describe (800 MB of float32 weights; ResNet-50 has 25 M).
MAX_PARAMETERS = 200_000_000


def check_archive_sizes(path: Path) -> None:
    """Refuse a checkpoint whose zip entries declare more bytes than the file holds.

    ``torch.save`` stores its entries uncompressed, so their sizes add up to less than the file;
    a crafted archive declaring gigabytes in a small file would be allocated by the reader.
    """
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as e:  # versions, methods
        raise ModelFileError(f"'{shown(path)}' is truncated or corrupted ({e})") from None
    if declared > size:
        raise ModelFileError(
            f"'{shown(path)}' declares {declared} bytes of content in a {size}-byte file (a "
            "compressed or crafted archive); edgeres checkpoints are stored uncompressed"
        )


def check_model_size(
    path: Path, model_name: str, model_args: dict[str, Any], widths: dict | None = None
) -> None:
    """Build the network on the meta device (no memory) and refuse one over ``MAX_PARAMETERS``;
    ``widths``: a pruned network's layer widths, applied first."""
    try:
        with torch.device("meta"):
            model = create_model(model_name, **model_args)
            if widths:
                narrow(model, widths)
            count = sum(p.numel() for p in model.parameters())
    except (UsageError, TypeError, ValueError, RuntimeError) as e:
        raise ModelFileError(f"'{shown(path)}' names a model edgeres cannot build: {e}") from None
    if count > MAX_PARAMETERS:
        raise ModelFileError(
            f"'{shown(path)}' describes a network of {count} parameters, over the limit of "
            f"{MAX_PARAMETERS}; its model_args ({model_args}) look crafted"
        )


SAVE_HINT = (
    "save the weights instead: torch.save(model.state_dict(), 'model.pth') and pass --model "
    "(a zoo name or pkg.module:function), or torch.export.save(torch.export.export(model, "
    "(x,)), 'model.pt2')"
)


def torchscript_entries(names: list[str]) -> bool:
    """Whether a zip's entry names are a TorchScript archive (``torch.jit.save``)."""
    return any(n.endswith("/constants.pkl") or "/code/__torch__" in n for n in names)


def read_pickle(path: Path) -> Any:
    """``torch.load(weights_only=True)`` of a ``torch.save`` file, every failure one line.

    Raises:
        ModelFileError: Missing, not a zip, TorchScript, a pickle that would run code (a whole
            pickled model), truncated or corrupted.
    """
    if not path.is_file():
        raise ModelFileError(f"'{shown(path)}' does not exist")
    try:
        # is_zipfile itself raises on some directories (one claiming to span several disks).
        if not zipfile.is_zipfile(path):
            raise ModelFileError(
                f"'{shown(path)}' is not a PyTorch checkpoint (not a torch.save zip archive); "
                "it may be truncated or another kind of file"
            )
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as e:  # versions, methods
        raise ModelFileError(f"'{shown(path)}' is truncated or corrupted ({e})") from None
    if torchscript_entries(names):
        raise ModelFileError(
            f"'{shown(path)}' is a TorchScript file (torch.jit.save), which holds code edgeres "
            f"does not run; {SAVE_HINT}"
        )
    check_archive_sizes(path)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        name = f"it names {found[1][:80]}" if found else type(e).__name__
        raise ModelFileError(
            f"refused to load '{shown(path)}': its pickle would import or run code, which edgeres "
            f"never executes ({name}: a whole model saved with torch.save(model)?); {SAVE_HINT}"
        ) from None
    # A data.pkl cut short: struct.error inside an opcode's argument (torch's unpickler reads
    # it raw), IndexError when an opcode finds the stack or memo emptier than it should be;
    # AttributeError/TypeError when a storage record holds the wrong kind of value; KeyError
    # when an opcode reads a memo slot that was never written (bytes flipped in data.pkl).
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, struct.error,
            IndexError, KeyError, AttributeError, TypeError) as e:  # fmt: skip
        msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
        msg = f"{type(e).__name__}: {msg}" if isinstance(e, KeyError) or not msg else msg
        raise ModelFileError(f"'{shown(path)}' is truncated or corrupted ({msg[:160]})") from None


def is_checkpoint(payload: Any) -> bool:
    """Whether a loaded payload is an edgeres checkpoint (not a plain state dict)."""
    return isinstance(payload, dict) and payload.get("format") == CHECKPOINT_FORMAT


def read_payload(path: Path) -> dict[str, Any]:
    payload = read_pickle(path)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ModelFileError(
            f"'{shown(path)}' is a PyTorch file but not an edgeres checkpoint (no 'format: "
            "edgeres-checkpoint' entry); a state dict needs --model NAME|pkg.module:function"
        )
    if payload.get("version", 0) > CHECKPOINT_VERSION:
        raise ModelFileError(
            f"'{shown(path)}' was written by a newer edgeres (checkpoint version {payload['version']}); "
            "upgrade edgeres to load it"
        )
    return payload


def check_finite_weights(model: nn.Module, path: Path, what: str = "") -> None:
    """Refuse a network with NaN or infinite weights: whatever is made from it computes NaN.

    Raises:
        ModelFileError: The first non-finite tensor, by name (exit 2: the input is broken).
    """
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelFileError(
                f"{what}'{shown(path)}' has non-finite weights ('{shown(name)}' holds NaN or "
                "infinity): it was saved after training diverged; use a checkpoint saved before"
            )


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Load a checkpoint without executing code and rebuild its model (eval mode, CPU).

    Raises:
        ModelFileError: Missing, truncated, not an edgeres checkpoint, unsafe pickle, or weights
            that do not fit the named architecture.
    """
    path = Path(path)
    payload = read_payload(path)
    try:
        info = ModelInfo.from_dict(payload["info"])
        model_name = str(payload["model_name"])
        model_args = dict(payload["model_args"])
        state = payload["state_dict"]
        widths = payload.get(WIDTHS_KEY)
        if widths is not None and not isinstance(widths, dict):
            raise TypeError(f"{WIDTHS_KEY} is a {type(widths).__name__}, not a mapping")
    except (KeyError, TypeError, UsageError) as e:
        raise ModelFileError(f"'{shown(path)}' is missing checkpoint fields: {e}") from None
    check_model_size(path, model_name, model_args, widths)
    try:
        model = create_model(model_name, **model_args)
        if widths:
            narrow(model, widths)
    except (UsageError, ValueError) as e:
        raise ModelFileError(f"'{shown(path)}' names a model edgeres cannot build: {e}") from None
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise ModelFileError(
            f"'{shown(path)}' weights do not fit model '{model_name}': {first}"
        ) from None
    model.eval()
    return Checkpoint(
        model=model,
        info=info,
        model_name=model_name,
        model_args=model_args,
        metrics=dict(payload.get("metrics", {})),
        train_state=payload.get("train_state"),
        layer_widths=widths or None,
    )
