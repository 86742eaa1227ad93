"""One runtime for every model format: ``load(path)`` gives a ``Backend``, ``evaluate`` scores it.

Importing this package imports neither torch nor any engine; each backend imports its engine when
a file of its format is loaded.

Example:
    >>> from edgeres import runtime
    >>> with runtime.load("runs/r8/model_int8.tflite", profile="raspberry-pi-5") as model:
    ...     print(model.predict(frame, topk=3)[0].labels)
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeres.errors import UsageError
from edgeres.formats import format_for_path, resolve
from edgeres.progress import progress
from edgeres.runtime.base import Backend, Prediction, softmax, topk_predictions

__all__ = ["Backend", "EvalResult", "Prediction", "evaluate", "load", "softmax", "topk_predictions"]

# Options a profile sets per format; explicit keyword options always win.
_PROFILE_OPTION = {"onnx": "providers", "tflite": "delegates"}


def _profile_options(profile: Any, fmt: str) -> dict[str, Any]:
    if profile is None:
        return {}
    from edgeres.profiles import load_profile

    prof = load_profile(profile)
    opts: dict[str, Any] = {"threads": prof.threads}
    names = prof.providers_for(fmt)
    if names and fmt in _PROFILE_OPTION:
        opts[_PROFILE_OPTION[fmt]] = list(names)
    return opts


def load(path: str | Path, profile: Any = None, **options: Any) -> Backend:
    """Load any model file edgeres reads (``.pt``, ``.onnx``, ``.tflite``) on its engine.

    Args:
        path: The model file; its suffix picks the format and its first bytes must agree.
        profile: A device profile (name, YAML path or ``Profile``) giving threads and the
            providers/delegates to try; None leaves the engines' defaults.
        **options: Engine options for the backend's constructor (``threads``, ``providers``,
            ``delegates``, ``strict``, ``spec_override``, ``classes``...); they override the profile.

    Raises:
        ModelFileError: Missing, misnamed, corrupted or unsafe file.
        MissingDependencyError: The format's engine is not installed.
        UsageError: An unknown option or a bad option value.
    """
    fmt = format_for_path(path)
    backend_cls = resolve(fmt.backend)
    accepted = set(inspect.signature(backend_cls).parameters) - {"path"}
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise UsageError(
            f"{fmt.name} models take no option {', '.join(unknown)} "
            f"(valid: {', '.join(sorted(accepted))})"
        )
    # A profile speaks for every format; keep what this backend understands (threads for .pt).
    from_profile = {k: v for k, v in _profile_options(profile, fmt.name).items() if k in accepted}
    return backend_cls(path, **{**from_profile, **options})


@dataclass(frozen=True)
class EvalResult:
    """Accuracy of one model on one image set.

    Attributes:
        accuracy: Top-1 accuracy in [0, 1].
        correct: Images classified correctly.
        total: Images evaluated.
        predictions: Predicted class index per image.
        seconds: Wall time of preprocessing + inference.
    """

    accuracy: float
    correct: int
    total: int
    predictions: np.ndarray
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "accuracy": round(self.accuracy, 6),
            "correct": self.correct,
            "total": self.total,
            "seconds": round(self.seconds, 4),
            "images_per_second": round(self.images_per_second, 1),
        }


def evaluate(
    backend: Backend, imageset: Any, batch_size: int = 64, quiet: bool = False
) -> EvalResult:
    """Top-1 accuracy of ``backend`` on an ``ImageSet`` (uint8 BGR images already at size).

    The images go through ``backend.spec.normalize``: the same preprocessing as training.
    Batch-1 files run image by image inside the backend.
    """
    images, labels = np.asarray(imageset.images), np.asarray(imageset.labels)
    if batch_size < 1:
        raise UsageError(f"batch size must be >= 1, got {batch_size}")
    if len(images) == 0:
        raise UsageError("the image set is empty; nothing to evaluate")
    spec = backend.spec
    if images.shape[1:3] != spec.size:
        raise UsageError(
            f"images are {images.shape[1]}x{images.shape[2]} but the model takes "
            f"{spec.height}x{spec.width}; load the data at the model's size"
        )
    preds = np.empty(len(images), dtype=np.int64)
    start = time.perf_counter()
    steps = range(0, len(images), batch_size)
    for i in progress(steps, quiet=quiet, desc=f"eval {backend.path.name}", unit="batch"):
        logits = backend.infer(spec.normalize(images[i : i + batch_size]))
        preds[i : i + len(logits)] = logits.argmax(axis=-1)
    seconds = time.perf_counter() - start
    correct = int((preds == labels).sum())
    return EvalResult(correct / len(images), correct, len(images), preds, seconds)
