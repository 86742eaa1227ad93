"""Fill the quantization report: run FP32 and INT8 files on the eval data and inspect the graphs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeres import runtime
from edgeres.errors import UsageError
from edgeres.formats import FORMATS, resolve
from edgeres.quantize.calib import calibration_batches, rebatch
from edgeres.quantize.onnx.layers import layer_errors
from edgeres.quantize.options import QuantOptions, QuantSource
from edgeres.quantize.report import FormatReport, QuantReport, agreement, top1
from edgeres.quantize.sensitivity import WORST_LAYERS
from edgeres.runtime.classes import scored

LAYER_SAMPLES = 8
_EVAL_CHUNK = 64

log = logging.getLogger(__name__)


def default_eval_data(source: QuantSource) -> str | None:
    """The data set the model was trained on, as its checkpoint or metadata says.

    Files made by edgeres that do not say were trained on the built-in ``shapes``; a third-party
    ONNX file has no default (None: accuracy is not measured unless ``--eval-data`` is given).
    """
    for facts in (source.info.extra, source.metrics):
        for key in ("data", "train_data", "dataset"):
            if facts.get(key):
                return str(facts[key])
    return "shapes" if source.has_metadata else None


def load_eval(name: str, source: QuantSource, limit: int | None, quiet: bool):
    """The eval set (test split) at the model's input size: in memory when small, else read
    in batches on every pass (``edgeres.data.open_eval_set``)."""
    from edgeres.data import open_eval_set

    return open_eval_set(name, "test", source.info.spec.size, seed=0, limit=limit, quiet=quiet)


def _logits(run, images: np.ndarray, spec) -> np.ndarray:
    chunks = [
        run(spec.preprocess(images[i : i + _EVAL_CHUNK]))
        for i in range(0, len(images), _EVAL_CHUNK)
    ]
    return np.concatenate(chunks)


def _file_predictions(path: Path, images: np.ndarray, info=None) -> np.ndarray:
    """Top-1 of a model file on its default engine, preprocessed by its spec (or ``info``'s)."""
    with runtime.load(path, **({"info": info} if info is not None else {})) as backend:
        return top1(_logits(backend.infer, images, backend.spec))


def fp32_predictions(source: QuantSource, images: np.ndarray) -> np.ndarray:
    """Top-1 of the FP32 model: the checkpoint in PyTorch, or the FP32 ONNX file."""
    if source.model is None or source.given_file_is_reference:
        # The ONNX file given (even when read back into PyTorch for TFLite) is the reference.
        # A third-party file carries no spec: the one from --img-size/--mean/--std applies.
        return _file_predictions(source.fp32_onnx, images, source.info)
    import torch

    model = source.reference if source.reference is not None else source.model

    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    return top1(_logits(run, images, source.info.spec.with_layout("NCHW")))


def onnx_layer_errors(
    source: QuantSource, path: Path, opts: QuantOptions, worst: int = WORST_LAYERS
) -> list:
    """Per-layer error of an INT8 ONNX file against the FP32 one, on a few calibration batches
    (the ``worst`` worst; all in graph order when 0)."""
    with runtime.load(source.fp32_onnx, info=source.info) as fp32:
        fixed = fp32.fixed_batch
    stream = calibration_batches(opts.calib, source.info.spec, LAYER_SAMPLES, quiet=True)
    batches = list(rebatch(stream, fixed))
    return layer_errors(source.fp32_onnx, path, batches, worst=worst)


def format_report(
    fmt: str,
    path: Path,
    final: Path,
    source: QuantSource,
    opts: QuantOptions,
    fp32_size: int | None,
) -> FormatReport:
    """Graph facts of one staged INT8 file (accuracy is filled in by ``evaluate``)."""
    r = FormatReport(
        format=fmt, path=str(final), size_bytes=path.stat().st_size, fp32_size_bytes=fp32_size
    )
    quant = FORMATS[fmt].quantization
    r.integer = resolve(quant.checker)(path)
    if quant.layer_errors:
        r.layers = resolve(quant.layer_errors)(source, path, opts)
    return r


@dataclass(frozen=True)
class Score:
    """One INT8 file on the eval data: top-1 accuracy, agreement with FP32, drop in points."""

    accuracy: float
    agreement: float
    drop_pts: float
    predictions: np.ndarray

    def to_dict(self) -> dict[str, float]:
        return {"accuracy": self.accuracy, "agreement": self.agreement, "drop_pts": self.drop_pts}


class EvalSet:
    """The eval images with their labels and the FP32 model's predictions, loaded once."""

    def __init__(
        self, name: str, source: QuantSource, limit: int | None, quiet: bool, by_index: bool
    ) -> None:
        data = load_eval(name, source, limit, quiet)
        self.name = name
        self.images = data.images
        # The data's classes matched by name with the model's (DataError when they differ).
        labels = runtime.model_labels(data.labels, data.classes, source.info.classes, by_index)
        self.labels = np.asarray(labels)
        self.fp32 = fp32_predictions(source, data.images)
        # Streamed images found unreadable on the first pass are left out of every score.
        self.keep = scored(data, len(self.labels))
        self.fp32_accuracy = float(np.mean((self.fp32 == self.labels)[self.keep]))

    def score(self, path: Path) -> Score:
        preds = _file_predictions(path, self.images)
        accuracy = float(np.mean((preds == self.labels)[self.keep]))
        drop = round(100 * (self.fp32_accuracy - accuracy), 3)
        agrees = agreement(preds[self.keep], self.fp32[self.keep])
        return Score(accuracy, agrees, drop, preds)


def open_eval(
    report: QuantReport,
    source: QuantSource,
    eval_data: str | None,
    limit: int | None,
    quiet: bool,
    by_index: bool = False,
) -> EvalSet | None:
    """The eval set (None without eval data, which only a gate cannot do without); its classes
    are matched by name with the model's unless ``by_index``."""
    if eval_data is None:
        if report.max_drop is not None:
            raise UsageError("--max-drop needs eval data; pass --eval-data shapes|DIR|cifar10:DIR")
        return None
    data = EvalSet(eval_data, source, limit, quiet, by_index)
    report.eval_data, report.eval_samples = eval_data, int(data.keep.sum())
    report.fp32_accuracy = data.fp32_accuracy
    return data


def evaluate(report: QuantReport, data: EvalSet | None, staged: dict[str, Path]) -> None:
    """Accuracy of every INT8 file on the eval data, agreement shares, drops (in place)."""
    if data is None:
        return
    preds = {}
    for fmt, path in staged.items():
        score = data.score(path)
        preds[fmt] = score.predictions[data.keep]
        r = report.formats[fmt]
        r.accuracy, r.agreement, r.drop_pts = score.accuracy, score.agreement, score.drop_pts
    if len(preds) == 2:  # two INT8 files of one source: how often they agree with each other
        report.cross_agreement = agreement(*preds.values())
