"""``edgeres prune``: structured channel pruning (Torch-Pruning's DependencyGraph, residual
streams coupled), fine-tuning distilled from the unpruned network, then the usual quantize.

Importing this package is torch-free; ``prune`` imports the workstation side when called.
"""

from __future__ import annotations

from typing import Any

from edgeres.prune.config import PruneConfig

__all__ = ["PruneConfig", "prune"]


def prune(cfg: PruneConfig) -> Any:
    """See ``edgeres.prune.api.prune``."""
    from edgeres.prune.api import prune as _prune

    return _prune(cfg)
