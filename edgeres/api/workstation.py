"""``train``, ``convert``, ``quantize`` and ``inspect`` as Python functions.

Each room is imported when its function is called: ``train`` needs torch, the others only for a
PyTorch source.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeres.api.result import Result, build, note
from edgeres.errors import GateFailed, missing_dependency


def train(
    config: Any = None, /, on_plan: Callable[[str], None] | None = None, **fields: Any
) -> Result:
    """Train a network and write ``model.pt``, ``metrics.json``, ``history.csv``, ``curves.png``.

    Args:
        config: A ``TrainConfig`` (or leave it out and pass its fields as keywords).
        on_plan: Called once before the first epoch with the plan (images, epochs, time); by
            default it goes to stderr unless ``quiet``.
        **fields: ``TrainConfig`` fields: ``train(model="resnet8", data="shapes", out="r8")``.
    """
    from edgeres.train.config import TrainConfig

    cfg = build(TrainConfig, config, **fields)
    if on_plan is None and not cfg.quiet:
        on_plan = note
    result = _import_train().train(cfg, on_plan=on_plan)
    m, report = result.metrics, result.quant_report
    if m.get("world_size", 1) > 1 and int(os.environ.get("RANK", "0")) != 0:
        return Result(result, m, shown=False)
    doc = dict(m, int8_report=report.to_dict()) if report is not None else m
    text = [
        f"trained {m['model']} on {m['data']}: test accuracy {100 * m['test_accuracy']:.2f}% "
        f"(best epoch {m['best_epoch']}/{m['epochs']}), {m['train_seconds']:.0f} s, "
        f"{m['images_per_second']:.0f} images/s, augment {m['augment']}",
        f"wrote {result.out}/model.pt, metrics.json, history.csv, curves.png",
    ]
    if report is not None:
        from edgeres.formats import output_name

        files = [output_name(result.checkpoint, f, int8=True).name for f in report.formats]
        text += report.lines()
        text.append(
            f"wrote {result.out}/{', '.join(files)}, {result.checkpoint.stem}_int8_report.json"
        )
    return Result(result, doc, text)


def _import_train() -> Any:
    try:
        from edgeres import train as train_pkg
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] in ("torch", "matplotlib"):
            raise missing_dependency(e.name, "train", "edgeres train") from None
        raise
    return train_pkg


def convert(model_path: str | Path, config: Any = None, /, **fields: Any) -> Result:
    """Export a PyTorch source to FP32 files (``to``) and check each against it.

    Args:
        model_path: A checkpoint (``.pt``), ``.pt2`` program, state dict (with ``model=``) or
            FP32 ONNX file.
        config: A ``ConvertConfig`` (or its fields as keywords: ``to=("onnx",)``).

    Returns:
        ``failure`` is a ``GateFailed`` when a file failed the parity check (it was not written).
    """
    from edgeres.convert import convert as convert_files
    from edgeres.convert.options import ConvertConfig

    cfg = build(ConvertConfig, config, **fields)
    result = convert_files(model_path, cfg)
    text = [
        f"wrote {path}  ({fmt}, {result.seconds[fmt]:.1f} s)"
        for fmt, path in result.outputs.items()
    ]
    text += [report.line() for report in result.parity]
    failure = None
    if not result.passed:
        failed = ", ".join(p.format for p in result.parity if not p.passed)
        failure = GateFailed(
            f"parity check failed for {failed}: the file does not compute what the checkpoint "
            "does, so it was not written"
        )
    return Result(result, result.to_dict(), text, failure=failure)


def quantize(model_path: str | Path, config: Any = None, /, **fields: Any) -> Result:
    """Quantize a PyTorch source or FP32 ONNX file to calibrated INT8 files, with a report.

    Args:
        model_path: As for ``convert``, or an FP32 ONNX file (ONNX output only).
        config: A ``QuantizeConfig`` (or its fields: ``to=("onnx",), max_drop=0.5``).

    Returns:
        ``failure`` is a ``GateFailed`` when a file missed ``max_drop`` even after the fallback
        (that file was deleted; the report is written either way).
    """
    from edgeres.quantize import quantize as quantize_files
    from edgeres.quantize.options import QuantizeConfig

    cfg = build(QuantizeConfig, config, **fields)
    result = quantize_files(model_path, cfg)
    failure = None
    if not result.passed:
        failure = GateFailed(
            f"INT8 accuracy dropped more than {cfg.max_drop:g} points for "
            f"{', '.join(result.report.rejected)}{_after_fallback(result.report)}; that file "
            "was deleted (see the report; try --method auto, more --samples or calibration "
            "images closer to the deployment data)"
        )
    notes = [f"report saved to {result.report_path}"]
    return Result(result, result.to_dict(), result.report.lines(), notes, failure)


def _after_fallback(report: Any) -> str:
    """What the fallback tried for the rejected formats, as a clause of the error line."""
    tried = [report.formats[f].fallback for f in report.rejected]
    counts = [len(f.layers) for f in tried if f is not None and not f.unsupported]
    if not counts:
        return ""
    return f" even with up to {max(counts)} layers kept in float"


def inspect(model_path: str | Path, source: Any = None, /, **fields: Any) -> Result:
    """What a model file is: format, input spec, classes, parameters, MACs, operators, precision.

    Args:
        model_path: Any model file edgeres reads.
        source: A ``SourceOptions`` (or ``model=``, ``labels=``, ``img_size=`` as keywords):
            what describes a file without edgeres metadata.
    """
    from edgeres.formats.source_options import SourceOptions
    from edgeres.inspection import inspect_file, lines

    report = inspect_file(model_path, build(SourceOptions, source, **fields))
    return Result(report, report, lines(report))
