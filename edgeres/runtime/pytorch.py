"""PyTorch backend for edgeres checkpoints (``.pt``) and torch.export programs (``.pt2``); torch is
imported only when one is loaded."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from edgeres.errors import EngineUnavailable, UsageError, missing_dependency
from edgeres.formats.base import Engine, Probe
from edgeres.runtime.base import Backend, check_threads
from edgeres.runtime.common import check_batch


class TorchBackend(Backend):
    """An edgeres checkpoint run by PyTorch (the reference every exported file is checked against).

    Args:
        path: The checkpoint (``model.pt``).
        threads: ``torch.set_num_threads`` value (None: leave PyTorch's default).
        device: ``"cpu"`` or ``"cuda"``.
        strict: Accepted for a uniform API; a missing CUDA device is always an error here.
    """

    format = "pytorch"
    engine = "pytorch"

    def __init__(
        self,
        path: str | Path,
        threads: int | None = None,
        device: str = "cpu",
        strict: bool = False,
    ) -> None:
        try:
            import torch
        except ImportError:
            err = missing_dependency("torch", "train", "running .pt checkpoints")
            raise EngineUnavailable(str(err)) from None
        from edgeres.formats.torch_source import load_torch_source

        self.path = Path(path)
        check_threads(threads)
        if threads is not None:
            torch.set_num_threads(threads)
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise UsageError(
                f"device '{device}' asked for, but PyTorch sees no CUDA GPU here; use device='cpu'"
            )
        ckpt = load_torch_source(self.path)
        self._torch = torch
        self.device = torch.device(device)
        self.model = ckpt.model.to(self.device).eval()
        self.info = dataclasses.replace(ckpt.info, spec=ckpt.info.spec.with_layout("NCHW"))
        self.providers = [f"torch-{self.device.type}"]

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run a float32 NCHW batch; return float32 logits ``n x classes``."""
        batch = check_batch(batch, self.spec)
        torch = self._torch
        with torch.inference_mode():
            out = self.model(torch.from_numpy(batch).to(self.device))
        return out.float().cpu().numpy()

    def close(self) -> None:
        self.model = None


def probe(engine: Engine) -> Probe:
    """``doctor``'s look at PyTorch (imports it: only called when it is installed)."""
    import torch

    return Probe(torch.__version__)
