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
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeres.errors import (
    DataError,
    EngineUnavailable,
    MissingDependencyError,
    UsageError,
    unknown_name,
)
from edgeres.formats import Engine, Format, engine_names, format_for_path
from edgeres.progress import progress
from edgeres.runtime.base import Backend, Prediction, softmax, topk_predictions
from edgeres.runtime.classes import model_labels, scored
from edgeres.runtime.options import EVAL_BATCH

__all__ = [
    "Backend",
    "EvalResult",
    "Prediction",
    "cap_threads",
    "engines_for",
    "evaluate",
    "load",
    "model_labels",
    "softmax",
    "topk_predictions",
]


def _profile_options(profile: Any, fmt: Format, engine: Engine) -> dict[str, Any]:
    """Threads and the engine's per-format list (providers, delegates) from a profile."""
    if profile is None:
        return {}
    from edgeres.profiles import load_profile

    prof = load_profile(profile)
    opts: dict[str, Any] = {"threads": prof.threads}
    names = prof.providers_for(fmt.name, engine.name)
    if names and engine.profile_option:
        opts[engine.profile_option] = list(names)
    return opts


def cap_threads(threads: Any) -> Any:
    """``threads`` capped at the cores this process may use, with a warning when it was more.

    Every load goes through here (flag, profile, ``benchmark``, ``tune``, the Python API):
    ONNX Runtime makes every thread it is asked for (``--threads 100000000`` took 10 GB before
    it ever ran), and threads beyond the cores only share them.
    """
    from edgeres.profiles.facts import this_machine

    cores = this_machine().cores
    if isinstance(threads, bool) or not isinstance(threads, int) or threads <= cores:
        return threads  # None (the engine's default) and bad values: the backend says why
    warnings.warn(
        f"{threads} threads asked for; capped at the {cores} cores usable here",
        UserWarning,
        stacklevel=4,
    )
    return cores


def engines_for(fmt: Format, engine: str | None = None, profile: Any = None) -> list[Engine]:
    """The engines to try for a format: the one named, else every installed one in order.

    The order is the profile's (``engines:`` in its YAML); without one it is the order of the
    profile matching this machine (on x86 the fast OpenVINO path first, when installed), so a
    desktop user gets the fastest engine without knowing it exists. Only the order is taken from
    that profile, not its threads.

    Raises:
        UsageError: An unknown engine name (close matches offered), or one that cannot run
            this format.
        MissingDependencyError: The named engine, or every engine of the format, is missing.
    """
    if engine is not None:
        chosen = fmt.engine(engine)
        if chosen is None:
            if engine not in engine_names():
                raise unknown_name("engine", engine, engine_names())
            valid = ", ".join(e.name for e in fmt.engines)
            raise UsageError(f"engine '{engine}' cannot run {fmt.name} files (engines: {valid})")
        if not chosen.available:
            raise MissingDependencyError(f"engine '{engine}' is not installed: {chosen.install}")
        return [chosen]
    from edgeres.profiles import load_profile

    names = load_profile(profile).engine_order(fmt.name)
    order = [e for n in names if (e := fmt.engine(n)) is not None]
    installed = [e for e in order if e.available]
    if not installed:
        hints = "; or ".join(e.install for e in fmt.engines)
        raise MissingDependencyError(f"running {fmt.suffix} files needs an engine: {hints}")
    return installed


def _accepted(engine: Engine) -> set[str]:
    """The options an engine's backend takes (what the format table fixes excluded)."""
    return set(inspect.signature(engine.backend_class()).parameters) - {"path", *engine.options}


def _open(fmt: Format, engine: Engine, path: Path, profile: Any, options: dict) -> Backend:
    backend_cls = engine.backend_class()
    accepted = _accepted(engine)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise UsageError(
            f"{fmt.name} models on {engine.name} take no option {', '.join(unknown)} "
            f"(valid: {', '.join(sorted(accepted))})"
        )
    # A profile speaks for every format; keep what this backend understands (threads for .pt).
    from_profile = _profile_options(profile, fmt, engine)
    kwargs = {k: v for k, v in from_profile.items() if k in accepted}
    kwargs = {**kwargs, **options, **engine.options}
    if "threads" in kwargs:
        kwargs["threads"] = cap_threads(kwargs["threads"])
    backend = backend_cls(path, **kwargs)
    backend.engine = engine.name
    return backend


def load(
    path: str | Path, profile: Any = None, engine: str | None = None, **options: Any
) -> Backend:
    """Load any model file edgeres reads (``.pt``, ``.onnx``, ``.tflite``) on an engine.

    Args:
        path: The model file; its suffix picks the format and its first bytes must agree.
        profile: A device profile (name, YAML path or ``Profile``) giving threads and the
            providers/delegates to try; None leaves the engines' defaults.
        engine: An engine name from the format table (``onnxruntime``, ``litert``...); None
            takes the first installed engine of the format, falling back to the next one when an
            installed engine cannot start.
        **options: Engine options for the backend's constructor (``threads``, ``providers``,
            ``delegates``, ``strict``, ``spec_override``, ``classes``...); they override the profile.

    Raises:
        ModelFileError: Missing, misnamed, corrupted or unsafe file.
        MissingDependencyError: No engine for the format is installed (or the named one is not).
        UsageError: An unknown engine or option, or a bad option value.
    """
    path = Path(path)
    fmt = format_for_path(path)
    candidates = engines_for(fmt, engine, profile)
    # Engine-specific options (ONNX Runtime's providers, LiteRT's delegates) pick the engines
    # that take them; with none that does, the first engine's error names what is valid.
    taking = [e for e in candidates if set(options) <= _accepted(e)]
    candidates = taking or candidates[:1]
    for i, chosen in enumerate(candidates):
        try:
            return _open(fmt, chosen, path, profile, options)
        except EngineUnavailable:
            if i == len(candidates) - 1:
                raise
    raise AssertionError("engines_for returns at least one engine")


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
    skipped: int = 0  # images found unreadable while streaming, left out of the score

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
            "skipped": self.skipped,
        }


def _eval_batches(imageset: Any, batch_size: int, quiet: bool, desc: str):
    """``(index, images)`` batches: a ``StreamSet`` reads with its workers, arrays are sliced."""
    if hasattr(imageset, "batches"):
        for batch in imageset.batches(batch_size, quiet=quiet, desc=desc):
            yield batch.index, batch.images
        return
    images = np.asarray(imageset.images)
    bar = progress(total=len(images), quiet=quiet, desc=desc, unit="img")
    with bar:
        for i in range(0, len(images), batch_size):
            yield np.arange(i, min(i + batch_size, len(images))), images[i : i + batch_size]
            bar.update(min(batch_size, len(images) - i))


def evaluate(
    backend: Backend,
    imageset: Any,
    batch_size: int = EVAL_BATCH,
    quiet: bool = False,
    by_index: bool = False,
) -> EvalResult:
    """Top-1 accuracy of ``backend`` on an ``ImageSet`` (uint8 BGR images already at size), or a
    ``StreamSet`` read batch by batch (memory bounded by the batch, not the set).

    The images go through ``backend.spec.normalize``: the same preprocessing as training.
    Batch-1 files run image by image inside the backend. Classes are matched by name with the
    file's metadata (``DataError`` when they differ) unless ``by_index``. Images that turned out
    unreadable while streaming (``imageset.bad``) are left out of the score.
    """
    labels = model_labels(
        imageset.labels, tuple(getattr(imageset, "classes", ())), backend.info.classes, by_index
    )
    if batch_size < 1:
        raise UsageError(f"batch size must be >= 1, got {batch_size}")
    shape = imageset.images.shape
    if shape[0] == 0:
        raise UsageError("the image set is empty; nothing to evaluate")
    spec = backend.spec
    if tuple(shape[1:3]) != spec.size:
        raise UsageError(
            f"images are {shape[1]}x{shape[2]} but the model takes "
            f"{spec.height}x{spec.width}; load the data at the model's size"
        )
    preds = np.empty(shape[0], dtype=np.int64)
    start = time.perf_counter()
    for index, images in _eval_batches(imageset, batch_size, quiet, f"eval {backend.path.name}"):
        preds[index] = backend.infer(spec.normalize(images)).argmax(axis=-1)
    seconds = time.perf_counter() - start
    keep = scored(imageset, len(preds))
    correct = int((preds == labels)[keep].sum())
    total = int(keep.sum())
    if total == 0:
        raise DataError("none of the images could be read; check the files")
    return EvalResult(correct / total, correct, total, preds, seconds, len(preds) - total)
