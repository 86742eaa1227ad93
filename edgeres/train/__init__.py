"""Training (workstation side; imports torch).

``train`` and ``TrainConfig`` are resolved lazily so that ``edgeres.train.checkpoint`` (used by the
runtime's PyTorch backend) does not pull in the training loop and data pipeline.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainConfig", "TrainResult", "train"]


def __getattr__(name: str) -> Any:
    if name == "TrainConfig":
        from edgeres.train.config import TrainConfig

        return TrainConfig
    if name in ("train", "TrainResult"):
        from edgeres.train import loop

        return getattr(loop, name)
    raise AttributeError(f"module 'edgeres.train' has no attribute '{name}'")
