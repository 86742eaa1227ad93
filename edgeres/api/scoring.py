"""``evaluate`` (top-1 accuracy, the optional error report) and ``predict`` (classify images).

Device side: nothing here imports torch (a ``.pt`` file loads it through the runtime).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from edgeres.api.result import Result, build
from edgeres.errors import UsageError, warning_text
from edgeres.text import shown


@contextmanager
def warnings_as_notes(notes: list[str]) -> Iterator[None]:
    """Library warnings (no metadata, provider fallback) inside the block, as ``warning:`` notes
    (the lines the CLI shows: a ``FlagWarning``'s advice names flags)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            yield
        finally:
            texts = dict.fromkeys(warning_text(c.message, for_cli=True) for c in caught)
            notes += [f"warning: {w}" for w in texts]


def load_model(path: Path, runtime: Any, notes: list[str]) -> Any:
    """``runtime.load`` with ``RuntimeOptions``; its warnings become notes."""
    from edgeres import runtime as rt

    with warnings_as_notes(notes):
        return rt.load(path, **runtime.load_options())


def evaluate(config: Any = None, /, quiet: bool = False, **fields: Any) -> Result:
    """Top-1 accuracy of any model file, with the same preprocessing as training.

    Args:
        config: An ``EvalConfig``, or the model file with ``EvalConfig`` fields as keywords:
            ``evaluate("model.onnx", data="shapes", limit=500, engine="onnxruntime")``.
        quiet: No progress bars.

    Returns:
        ``to_dict()`` holds accuracy, counts, speed, engine and the report (``report_dir``).
    """
    from edgeres.runtime.options import EvalConfig

    cfg = build(EvalConfig, config, **fields)
    if cfg.report_dir is not None:
        from edgeres.evalreport import check_report_dir

        check_report_dir(cfg.report_dir)
    notes: list[str] = []
    with load_model(cfg.model, cfg.runtime, notes) as backend:
        imageset, result = _score(backend, cfg, quiet)
        providers, engine = list(backend.providers), backend.engine
        names = tuple(backend.info.classes)
    report = None
    if cfg.report_dir is not None:
        report = _write_report(cfg, imageset, result, names, quiet, notes)
        notes += [f"note: {note}" for note in report.missing]
    doc = {"model": str(cfg.model), "data": cfg.data, "split": cfg.split, "engine": engine}
    doc["providers"] = providers
    doc = {**doc, **result.to_dict(), "report": report.to_dict() if report else None}
    return Result(result, doc, _lines(cfg, result, providers, report), notes)


def _score(backend: Any, cfg: Any, quiet: bool) -> tuple[Any, Any]:
    """The data at the model's size and the model's accuracy on it (classes matched by name)."""
    from edgeres import runtime
    from edgeres.data import stream_split

    imageset = stream_split(
        cfg.data, cfg.split, backend.spec.size, limit=cfg.limit, workers=cfg.workers
    )
    result = runtime.evaluate(
        backend, imageset, batch_size=cfg.batch_size, quiet=quiet, by_index=cfg.by_index
    )
    return imageset, result


def _write_report(cfg: Any, imageset, result, names, quiet: bool, notes: list[str]) -> Any:
    from edgeres.evalreport import eval_report

    compare, model = cfg.compare, cfg.model
    with load_model(compare, cfg.runtime, notes) if compare else nullcontext() as reference:
        if reference is not None and reference.spec.size != tuple(imageset.images.shape[1:3]):
            raise UsageError(
                f"--compare '{shown(compare)}' takes {reference.spec.height}x"
                f"{reference.spec.width} images and '{shown(model)}' does not"
            )
        return eval_report(
            str(model), f"{cfg.data} {cfg.split}", imageset, result.predictions, names,
            cfg.report_dir, reference, cfg.batch_size, quiet, cfg.by_index,
        )  # fmt: skip


def _lines(cfg: Any, result: Any, providers: list[str], report: Any) -> list[str]:
    lines = [
        f"{cfg.model}: top-1 {result.accuracy:.2%} ({result.correct}/{result.total}) on "
        f"{cfg.data} {cfg.split}, {result.images_per_second:.0f} images/s on "
        f"{', '.join(providers)}"
    ]
    if report is None:
        return lines
    for p in report.pairs[:3]:
        lines.append(
            shown(f"  most confused: {p['true']} taken for {p['predicted']} ({p['count']}x)")
        )
    if report.compare is not None:
        c = report.compare
        lines.append(shown(f"  disagrees with {c.reference} on {c.count} images ({c.share:.2%})"))
    lines += [shown(f"  wrote {path} ({kind})") for kind, path in report.files.items()]
    return lines


def predict(
    config: Any = None,
    /,
    quiet: bool = False,
    on_rows: Callable[[list[tuple[str, Any]]], None] | None = None,
    **fields: Any,
) -> Result:
    """Classify images (files or folders) in batches read by worker processes.

    Args:
        config: A ``PredictConfig``, or the model file with its fields as keywords:
            ``predict("model.onnx", images=("cat.jpg",), topk=3)``.
        quiet: No progress bar (there is none either when the rows come back in the result).
        on_rows: Called with each batch's ``(image, Prediction)`` rows as they are done, instead
            of keeping them in the result (the CLI prints them as they come).

    Returns:
        With ``out``, the rows are in that file and the result holds the counts; otherwise
        ``to_dict()["results"]`` holds every row (unless ``on_rows`` took them).
    """
    from edgeres.fileio import check_overwrite
    from edgeres.runtime.options import PredictConfig
    from edgeres.runtime.predict import PredictStats, list_images

    cfg = build(PredictConfig, config, **fields)
    if cfg.out is not None:
        check_overwrite(cfg.out, cfg.force)
    files, named = list_images(cfg.images)
    stats = PredictStats(out=None if cfg.out is None else str(cfg.out))
    notes: list[str] = []
    with load_model(cfg.model, cfg.runtime, notes) as backend:
        _rows(backend, files, named, cfg, stats, quiet or cfg.out is None, on_rows)
        providers, engine = list(backend.providers), backend.engine
    doc = {"model": str(cfg.model), "engine": engine, "providers": providers, **stats.to_dict()}
    if cfg.out is None:
        doc["results"] = stats.results
        text = [_row_line(r) for r in stats.results]
    else:
        skipped = f", {stats.skipped} unreadable skipped" if stats.skipped else ""
        text = [
            f"wrote {stats.images} predictions to {shown(cfg.out)}{skipped}, "
            f"{stats.images_per_second:.0f} images/s on {', '.join(providers)}"
        ]
    return Result(stats, doc, text, notes)


def _row_line(row: dict[str, Any]) -> str:
    ranked = ", ".join(f"{t['label']} {t['score']:.1%}" for t in row["topk"])
    return shown(f"{row['image']}: {ranked}")  # names from the model file


def row_lines(rows: list[tuple[str, Any]]) -> list[str]:
    """One line per ``(image, Prediction)`` row, as ``predict`` shows them."""
    return [_row_line({"image": image, **p.to_dict()}) for image, p in rows]


def _rows(backend, files, named, cfg: Any, stats, quiet: bool, on_rows) -> None:
    """Score every batch; rows go to ``out`` as they come, to ``on_rows``, or into ``stats``."""
    from edgeres.data.stream import resolve_workers
    from edgeres.progress import progress
    from edgeres.runtime.predict import PredictionWriter, predict_batches

    writer = PredictionWriter(cfg.out, cfg.topk, cfg.force) if cfg.out is not None else None
    bar = progress(total=len(files), quiet=quiet, desc="predict", unit="img")
    try:
        with bar:
            for rows in predict_batches(
                backend, files, named, topk=cfg.topk, batch_size=cfg.batch_size,
                workers=resolve_workers(cfg.workers), stats=stats,
            ):  # fmt: skip
                bar.update(len(rows))
                if writer is not None:
                    writer.write(rows)
                elif on_rows is not None:
                    on_rows(rows)
                else:
                    stats.results += [{"image": image, **p.to_dict()} for image, p in rows]
    except BaseException:
        if writer is not None:
            writer.file.close()  # the partial file keeps the rows written so far
        raise
    if writer is not None:
        writer.close()
