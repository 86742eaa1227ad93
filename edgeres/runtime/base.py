"""The ``Backend`` base class every inference engine implements.

Callers pass BGR ``uint8`` frames (``predict``) or a float batch in the model's ``InputSpec``
(``infer``) and always get float scores back; layout, channel order and INT8 scale/zero-point are
the backend's business.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeres.errors import UsageError
from edgeres.spec import InputSpec, ModelInfo

# Classes shown per image or frame (predict, run) unless asked otherwise.
DEFAULT_TOPK = 5


@dataclass(frozen=True)
class Prediction:
    """Top-k result for one image.

    Attributes:
        labels: Class names, best first.
        scores: Softmax probabilities matching ``labels``.
        indices: Class indices matching ``labels``.
    """

    labels: tuple[str, ...]
    scores: tuple[float, ...]
    indices: tuple[int, ...]

    @property
    def top1(self) -> str:
        return self.labels[0]

    def to_dict(self) -> dict:
        return {
            "topk": [
                {"label": lab, "score": round(float(s), 6), "index": int(i)}
                for lab, s, i in zip(self.labels, self.scores, self.indices, strict=True)
            ]
        }


@dataclass(frozen=True)
class OpTime:
    """One operator's share of an inference, as the engine's own profiler measured it.

    Attributes:
        name: The node's name in the engine's (optimised) graph.
        op_type: Its operator type (``QLinearConv``, ``Convolution``...).
        ms: Mean time per inference, in milliseconds.
        kernel: What ran it (ONNX Runtime's provider, OpenVINO's kernel such as ``jit_avx2_I8``).
        integer: Whether it computed in integers (None when the engine does not say).
    """

    name: str
    op_type: str
    ms: float
    kernel: str = ""
    integer: bool | None = None


def check_threads(threads: int | None) -> None:
    """Every backend's rule for its ``threads`` argument: ``None`` (the engine's choice) or >= 1."""
    if threads is not None and threads < 1:
        raise UsageError(f"threads must be >= 1, got {threads}")


def first_line(e: Exception, noise: str | None = None) -> str:
    """An engine's error message cut to its first line for a one-line ``error:`` (lines starting
    with ``noise``, an engine's own location banner, left out); the type when it says nothing."""
    lines = [
        ln
        for ln in str(e).strip().splitlines()
        if ln.strip() and not (noise and ln.startswith(noise))
    ]
    return lines[0] if lines else type(e).__name__


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def topk_predictions(logits: np.ndarray, classes: tuple[str, ...], k: int) -> list[Prediction]:
    """Turn a ``N x C`` logit batch into top-k ``Prediction`` objects."""
    probs = softmax(logits.astype(np.float32))
    k = max(1, min(k, probs.shape[-1]))
    order = np.argsort(-probs, axis=-1)[:, :k]
    out = []
    for row, idx in zip(probs, order, strict=True):
        names = tuple(classes[i] if i < len(classes) else str(i) for i in idx)
        out.append(Prediction(names, tuple(float(row[i]) for i in idx), tuple(int(i) for i in idx)))
    return out


class Backend(ABC):
    """One loaded model file on one inference engine.

    Subclasses set ``path``, ``info`` and ``providers`` in ``__init__`` and implement ``infer``.
    ``spec`` is ``info.spec``: the float batch ``infer`` takes is in ``spec.layout``.
    """

    format: str = ""
    engine: str = ""  # the engine's name in the format table, set by ``runtime.load``
    path: Path
    info: ModelInfo
    providers: list[str]

    @property
    def spec(self) -> InputSpec:
        return self.info.spec

    @abstractmethod
    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run a float32 batch shaped ``spec.shape(n)``; return float32 logits ``n x classes``."""

    def predict(
        self, images: np.ndarray | list[np.ndarray], topk: int = DEFAULT_TOPK
    ) -> list[Prediction]:
        """Classify BGR ``uint8`` frames (one ``H x W x 3`` array or a list of them)."""
        batch = self.spec.preprocess(images)
        return topk_predictions(self.infer(batch), self.info.classes, topk)

    def op_profile(self, batch: np.ndarray, runs: int) -> list[OpTime]:
        """Time each operator over ``runs`` inferences of ``batch``; engines that cannot say
        raise ``UsageError`` with the reason."""
        raise UsageError(f"per-operator profiles are not available for the {self.engine} engine")

    def close(self) -> None:  # noqa: B027 - engines without resources need nothing here
        """Release the engine's resources."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path}, providers={self.providers})"
