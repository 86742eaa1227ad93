"""``edgeres fit``: the network that fits the device. Candidates from the model registry are
measured on the target as INT8 files (random weights: latency does not depend on them), those
within the latency budget get short proxy runs in an Optuna study (stored: resumable, shared by
several processes), and the winner is trained fully, quantized and tuned.

Importing this package is torch-free; ``fit`` imports the workstation side when called.
"""

from __future__ import annotations

from typing import Any

from edgeres.fit.config import FitConfig

__all__ = ["FitConfig", "fit"]


def fit(cfg: FitConfig) -> Any:
    """See ``edgeres.fit.api.fit``."""
    from edgeres.fit.api import fit as _fit

    return _fit(cfg)
