"""Parity: an exported FP32 file must compute what its checkpoint computes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgeres import runtime
from edgeres.spec import ModelInfo

# The criterion: FP32 logits within 1e-4 (max abs) and the same top-1 on every input.
DEFAULT_ATOL = 1e-4
N_RANDOM = 4
N_REAL = 8


@dataclass(frozen=True)
class ParityReport:
    """How an exported file compares with the PyTorch model on the same inputs.

    Attributes:
        format: The file's format name.
        path: The file checked.
        inputs: Number of inputs compared (random and real).
        real_inputs: How many of them were real (preprocessed ``shapes`` test) images.
        max_abs_diff: Largest absolute logit difference over all inputs and classes.
        max_abs_logit: Largest absolute PyTorch logit (for scale).
        top1_agree: Inputs whose top-1 class is the same in both, their logits all finite.
        atol: The tolerance applied to ``max_abs_diff``.
        finite: Whether every logit of both is finite (NaN never agrees, whatever argmax says).
    """

    format: str
    path: str
    inputs: int
    real_inputs: int
    max_abs_diff: float
    max_abs_logit: float
    top1_agree: int
    atol: float
    finite: bool = True

    @property
    def passed(self) -> bool:
        return self.finite and self.max_abs_diff <= self.atol and self.top1_agree == self.inputs

    def to_dict(self) -> dict:
        """Plain data for JSON (a NaN difference is null: strict JSON has no NaN)."""
        plain = {k: None if isinstance(v, float) and not np.isfinite(v) else v
                 for k, v in asdict(self).items()}  # fmt: skip
        return {**plain, "passed": self.passed}

    def line(self) -> str:
        verdict = "ok" if self.passed else "FAILED" if self.finite else "FAILED (NaN/inf logits)"
        return (
            f"parity {self.format:6s} {verdict}: max |diff| {self.max_abs_diff:.2e} "
            f"(limit {self.atol:.0e}), top-1 {self.top1_agree}/{self.inputs} "
            f"({self.real_inputs} real images)  {self.path}"
        )


def real_images(info: ModelInfo, n: int = N_REAL) -> np.ndarray | None:
    """``n`` shapes test images (BGR uint8) at the model's size, or ``None`` when data is missing."""
    try:
        from edgeres.data import load_split
    except ImportError:
        return None
    data = load_split("shapes", "test", info.spec.size, seed=0, limit=n, quiet=True)
    return np.asarray(data.images)


def parity_inputs(info: ModelInfo, images: np.ndarray | None, seed: int = 0) -> np.ndarray:
    """Random NCHW inputs plus ``images`` preprocessed by the spec (NCHW)."""
    spec = info.spec.with_layout("NCHW")
    rng = np.random.default_rng(seed)
    batch = rng.standard_normal(spec.shape(N_RANDOM)).astype(np.float32)
    if images is not None and len(images):
        batch = np.concatenate([batch, spec.preprocess(images)])
    return batch


def check_parity(
    model,
    path: str | Path,
    info: ModelInfo,
    images: np.ndarray | None = None,
    atol: float = DEFAULT_ATOL,
) -> ParityReport:
    """Run ``model`` (PyTorch) and the file at ``path`` on random and real inputs; compare logits.

    Args:
        model: The source network in eval mode (takes NCHW).
        path: An FP32 file exported from it, in any format the runtime loads.
        info: The model's info; its spec preprocesses ``images``.
        images: BGR ``uint8`` images to include (e.g. from ``real_images``).
        atol: Maximum absolute logit difference allowed.
    """
    import torch

    x = parity_inputs(info, images)
    with torch.no_grad():
        ref = model.eval()(torch.from_numpy(x)).numpy()
    # The backend's raw ``infer`` on a float batch in the file's layout: no pre/post-processing.
    with runtime.load(path) as backend:
        got = backend.infer(backend.spec.from_layout(x, "NCHW"))
        fmt = backend.format
    rows_finite = np.isfinite(got).all(axis=1) & np.isfinite(ref).all(axis=1)
    return ParityReport(
        format=fmt,
        path=str(path),
        inputs=len(x),
        real_inputs=len(x) - N_RANDOM,
        max_abs_diff=float(np.abs(got - ref).max()),
        max_abs_logit=float(np.abs(ref).max()),
        top1_agree=int(((got.argmax(1) == ref.argmax(1)) & rows_finite).sum()),
        atol=atol,
        finite=bool(rows_finite.all()),
    )
