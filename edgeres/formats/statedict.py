"""Plain state dicts (``.pth``/``.pt`` from ``torch.save(model.state_dict())``, ``.safetensors``).

A state dict is weights only: the architecture comes from ``--model`` (a zoo name, or the user's
``pkg.module:function``). Pickled files load with ``torch.load(weights_only=True)`` (see
``checkpoint.read_pickle``), ``.safetensors`` through the ``safetensors`` package, which stores
tensors and a JSON header and nothing that runs. Keys and shapes are checked strictly: a file that
does not fit the model is refused with its first differences named, never loaded half-way.
Importing this module imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from edgeres.errors import ModelFileError, missing_dependency
from edgeres.formats.checkpoint import is_checkpoint, read_pickle
from edgeres.text import shown

# Wrappers that training scripts put around the weights (Lightning, timm's train script, DDP).
_WRAPPERS = ("state_dict", "model", "model_state_dict", "module", "state_dict_ema")
SHOWN_DIFFERENCES = 3


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def _unwrap(payload: Any) -> dict[str, torch.Tensor] | None:
    if is_checkpoint(payload):
        payload = payload.get("state_dict")
    elif isinstance(payload, dict) and not _is_state_dict(payload):
        payload = next((payload[k] for k in _WRAPPERS if _is_state_dict(payload.get(k))), None)
    if not _is_state_dict(payload):
        return None
    if all(k.startswith("module.") for k in payload):  # saved from a DistributedDataParallel
        payload = {k.removeprefix("module."): v for k, v in payload.items()}
    return payload


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors import SafetensorError
        from safetensors.torch import load_file
    except ImportError:
        raise missing_dependency("safetensors", "train", "reading .safetensors files") from None
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise ModelFileError(
            f"'{shown(path)}' is not a readable safetensors file ({first})"
        ) from None


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a state dict file, by name, without running code.

    Raises:
        ModelFileError: Unreadable, unsafe (a pickled model, TorchScript), or not a state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"'{shown(path)}' does not exist")
    if path.suffix.lower() == ".safetensors":
        state = _read_safetensors(path)
    else:
        payload = read_pickle(path)
        state = _unwrap(payload)
        if state is None:
            raise ModelFileError(
                f"'{shown(path)}' holds a {type(payload).__name__}, not a state dict of named "
                "tensors; save it with torch.save(model.state_dict(), path)"
            )
    if not state:
        raise ModelFileError(f"'{shown(path)}' holds no tensors")
    return state


def _listed(names: list[str]) -> str:
    more = f" (+{len(names) - SHOWN_DIFFERENCES} more)" if len(names) > SHOWN_DIFFERENCES else ""
    return ", ".join(names[:SHOWN_DIFFERENCES]) + more


def state_differences(model: nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """``missing: a, b; unexpected: c; shape: d 64x3x7x7 != 32x3x7x7``, or None when they fit."""
    want = model.state_dict()
    missing = [k for k in want if k not in state]
    unexpected = [k for k in state if k not in want]
    shapes = [
        f"{k} {'x'.join(map(str, state[k].shape))} != {'x'.join(map(str, v.shape))}"
        for k, v in want.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    parts = [
        f"{what} {_listed(names)}"
        for what, names in (("missing", missing), ("unexpected", unexpected), ("shape", shapes))
        if names
    ]
    return "; ".join(parts) or None


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], path: Path, name: str) -> None:
    """Load ``state`` into ``model`` only when every name and shape matches.

    Raises:
        ModelFileError: The first few missing, unexpected and mismatched keys, on one line.
    """
    diff = state_differences(model, state)
    if diff is not None:
        raise ModelFileError(f"'{shown(path)}' does not fit model {name}: {diff}")
    model.load_state_dict(state, strict=True)


def head_outputs(state: dict[str, torch.Tensor], head: str = "fc") -> int | None:
    """Classes of the ``head`` linear layer in ``state`` (``fc.weight``'s rows), if present."""
    weight = state.get(f"{head}.weight")
    return int(weight.shape[0]) if weight is not None and weight.ndim == 2 else None


def stem_width(state: dict[str, torch.Tensor], first: str = "conv1.weight", base: int = 64):
    """The width multiplier a torchvision-layout state dict was made with (1.0 at 64 channels)."""
    weight = state.get(first)
    return None if weight is None or weight.ndim != 4 else weight.shape[0] / base
