"""``edgeres predict`` and ``edgeres eval``: any model file through the one runtime (no torch needed
for ``.onnx``/``.tflite``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import click

from edgeres.cli.common import echo_json, log, max_image_pixels_option, workers_option
from edgeres.cli.remote_opts import pop_remote, remote_options, show_remote
from edgeres.errors import UsageError
from edgeres.formats import engine_names
from edgeres.text import shown


@contextmanager
def _warnings_as_logs() -> Iterator[None]:
    """Show library warnings (no metadata, provider fallback) as one ``warning:`` line each."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        try:
            yield
        finally:
            for w in dict.fromkeys(str(c.message) for c in caught):
                log(f"warning: {w}")


def _load(
    model: Path, profile: str | None, strict: bool, threads: int | None, engine: str | None = None
) -> Any:
    from edgeres import runtime

    options: dict[str, Any] = {"engine": engine}
    if threads is not None:
        options["threads"] = threads
    if strict:
        options["strict"] = True
    with _warnings_as_logs():
        return runtime.load(model, profile=profile, **options)


_MODEL_ARG = click.argument("model", type=click.Path(path_type=Path))
_PROFILE_OPT = click.option(
    "--profile", default=None, help="Device profile name or YAML file (threads, providers)."
)
_THREADS_OPT = click.option(
    "--threads", type=int, default=None, help="Engine threads (overrides the profile)."
)
ENGINE_OPT = click.option(
    "--engine",
    default=None,
    help=f"Inference engine ({', '.join(engine_names())}); by default the profile's order, "
    "first installed.",
)
_STRICT_OPT = click.option(
    "--strict", is_flag=True, help="Fail instead of falling back when a provider is missing."
)


@click.command("predict")
@max_image_pixels_option
@_MODEL_ARG
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--topk",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Classes to show per image.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write one row per image to this .csv or .jsonl as each batch is done (under "
    ".NAME.partial until the last image; then renamed).",
)
@click.option("--force", is_flag=True, help="Replace an existing --out file.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@workers_option
@_PROFILE_OPT
@_THREADS_OPT
@ENGINE_OPT
@_STRICT_OPT
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@remote_options
def predict_cmd(
    model: Path,
    images: tuple[Path, ...],
    topk: int,
    out: Path | None,
    force: bool,
    batch_size: int,
    workers: int | None,
    profile: str | None,
    threads: int | None,
    engine: str | None,
    strict: bool,
    as_json: bool,
    **remote_flags: Any,
) -> None:
    """Classify images or folders of images with any model file (.pt, .onnx, .tflite).

    Images are read in batches by worker processes; with --out each batch's rows are written
    as it is done, so a folder of any size runs in bounded memory.

    \b
    Example:
      edgeres predict runs/r8/model_int8.tflite cat.jpg dog.png --topk 3
      edgeres predict runs/r8/model.onnx photos/*.jpg --profile raspberry-pi-5 --json
      edgeres predict runs/r8/model_int8.onnx photos/ --out preds.csv --workers 3
      edgeres predict runs/r8/model_int8.tflite cat.jpg --remote pi@pi5.local
    """
    remote = pop_remote(remote_flags)
    if remote:
        from edgeres.remote.commands import remote_predict
        from edgeres.remote.tables import predict_text

        flags = ["--topk", str(topk), *_engine_flags(profile, threads, strict, engine)]
        show_remote(remote_predict(remote, model, images, flags), as_json, predict_text)
        return
    from edgeres.data.stream import resolve_workers
    from edgeres.fileio import check_overwrite
    from edgeres.runtime.predict import PredictStats, list_images

    if out is not None:
        check_overwrite(out, force)
    files, named = list_images(images)
    stats = PredictStats(out=None if out is None else str(out))
    batching = (batch_size, resolve_workers(workers))
    with _load(model, profile, strict, threads, engine) as backend:
        _predict_rows(backend, files, named, topk, batching, out, stats, as_json)
        providers, engine = list(backend.providers), backend.engine
    if as_json:
        doc = {"model": str(model), "engine": engine, "providers": providers}
        echo_json(
            {**doc, **stats.to_dict(), "results": stats.results}
            if out is None
            else {**doc, **stats.to_dict()}
        )
    elif out is not None:
        skipped = f", {stats.skipped} unreadable skipped" if stats.skipped else ""
        click.echo(
            f"wrote {stats.images} predictions to {shown(out)}{skipped}, "
            f"{stats.images_per_second:.0f} images/s on {', '.join(providers)}"
        )


def _predict_rows(backend, files, named, topk, batching, out, stats, as_json) -> None:
    """Score every batch; rows go to ``out`` as they come, else to stdout (or the JSON doc)."""
    from edgeres.progress import progress
    from edgeres.runtime.predict import PredictionWriter, predict_batches

    writer = PredictionWriter(out, topk) if out is not None else None
    bar = progress(total=len(files), quiet=as_json or out is None, desc="predict", unit="img")
    batch_size, workers = batching
    try:
        with bar:
            for rows in predict_batches(
                backend, files, named, topk=topk, batch_size=batch_size, workers=workers,
                stats=stats,
            ):  # fmt: skip
                bar.update(len(rows))
                if writer is not None:
                    writer.write(rows)
                elif as_json:
                    stats.results += [{"image": image, **p.to_dict()} for image, p in rows]
                else:
                    for image, p in rows:
                        ranked = ", ".join(
                            f"{lab} {s:.1%}" for lab, s in zip(p.labels, p.scores, strict=True)
                        )
                        click.echo(f"{image}: {ranked}")
    except BaseException:
        if writer is not None:
            writer.file.close()  # the partial file keeps the rows written so far
        raise
    if writer is not None:
        writer.close()


@click.command("eval")
@max_image_pixels_option
@_MODEL_ARG
@click.option(
    "--data", required=True, help="shapes | image folder (one sub-folder per class) | cifar10:DIR."
)
@click.option(
    "--split", default="test", show_default=True, help="Which split of the data to score."
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use at most N images.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@workers_option
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write per-class precision/recall/F1, the most confused pairs and a confusion matrix "
    "PNG into this folder.",
)
@click.option(
    "--compare",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="With --report: a reference model file (e.g. the FP32 one); the report shows the images "
    "where the two disagree.",
)
@_PROFILE_OPT
@_THREADS_OPT
@ENGINE_OPT
@_STRICT_OPT
@click.option(
    "--by-index",
    is_flag=True,
    help="Score label i as the model's output i, whatever the class names (by default classes "
    "are matched by name with the file's metadata, and names that differ are refused).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout; no progress bars."
)
@remote_options
def eval_cmd(
    model: Path,
    data: str,
    split: str,
    limit: int | None,
    batch_size: int,
    workers: int | None,
    report_dir: Path | None,
    compare: Path | None,
    profile: str | None,
    threads: int | None,
    engine: str | None,
    strict: bool,
    by_index: bool,
    as_json: bool,
    **remote_flags: Any,
) -> None:
    """Top-1 accuracy of any model file, with the same preprocessing as training.

    \b
    Example:
      edgeres eval runs/r8/model.pt --data shapes
      edgeres eval runs/r8/model_int8.tflite --data shapes --limit 500 --json
      edgeres eval runs/r8/model.onnx --data cifar10:~/data/cifar-10-batches-py
      edgeres eval runs/r8/model_int8.onnx --data shapes --report r8_report \\
          --compare runs/r8/model.onnx
      edgeres eval runs/r8/model_int8.tflite --data ./val --remote pi@pi5.local,jetson.local
      edgeres eval runs/r8/model.onnx --data remote:/srv/val --remote pi@pi5.local
    """
    if remote := pop_remote(remote_flags):
        flags = ["--split", split, "--batch-size", str(batch_size), *(["--by-index"] * by_index)]
        flags += ["--limit", str(limit)] if limit else []
        flags += ["--workers", str(workers)] if workers is not None else []
        _eval_remote(
            remote, model, data, flags + _engine_flags(profile, threads, strict, engine), as_json
        )
        return
    _check_report_flags(report_dir, compare)
    with _load(model, profile, strict, threads, engine) as backend:
        imageset, result = _score(
            backend, data, split, limit, (batch_size, workers), by_index, as_json
        )
        providers, engine = list(backend.providers), backend.engine
        names = tuple(imageset.classes) or tuple(backend.info.classes)
    report = None
    if report_dir is not None:
        load_args = (profile, strict, threads)
        report = _write_report(
            model, f"{data} {split}", imageset, result, names, report_dir, compare, load_args,
            batch_size, as_json,
        )  # fmt: skip
    _show_eval(model, data, split, result, engine, providers, report, as_json)


def _score(backend, data, split, limit, batching, by_index, quiet):
    """The data at the model's size, streamed, and the model's accuracy on it (classes matched
    by name); ``batching`` is ``(batch size, workers)``."""
    from edgeres import runtime
    from edgeres.data import stream_split

    spec = backend.spec
    batch_size, workers = batching
    imageset = stream_split(data, split, spec.size, limit=limit, workers=workers)
    result = runtime.evaluate(
        backend, imageset, batch_size=batch_size, quiet=quiet, by_index=by_index
    )
    return imageset, result


def _check_report_flags(report_dir: Path | None, compare: Path | None) -> None:
    if compare is not None and report_dir is None:
        raise UsageError("--compare needs --report DIR (the disagreements go into the report)")
    if report_dir is not None:
        from edgeres.evalreport import check_report_dir

        check_report_dir(report_dir)


def _show_eval(model, data, split, result, engine, providers, report, as_json: bool) -> None:
    if as_json:
        doc = {"model": str(model), "data": data, "split": split, "engine": engine}
        doc["providers"] = providers
        echo_json({**doc, **result.to_dict(), "report": report.to_dict() if report else None})
        return
    click.echo(
        f"{model}: top-1 {result.accuracy:.2%} ({result.correct}/{result.total}) on {data} {split}, "
        f"{result.images_per_second:.0f} images/s on {', '.join(providers)}"
    )
    if report is not None:
        _show_report(report)


def _write_report(model, data, imageset, result, names, out, compare, load_args, batch, quiet):
    from edgeres.evalreport import eval_report

    with _load(compare, *load_args) if compare else nullcontext() as reference:
        if reference is not None and reference.spec.size != tuple(imageset.images.shape[1:3]):
            raise UsageError(
                f"--compare '{compare}' takes {reference.spec.height}x"
                f"{reference.spec.width} images and '{model}' does not"
            )
        return eval_report(
            str(model), data, imageset, result.predictions, names, out, reference, batch, quiet
        )


def _show_report(report) -> None:
    for p in report.pairs[:3]:
        click.echo(f"  most confused: {p['true']} taken for {p['predicted']} ({p['count']}x)")
    if report.compare is not None:
        c = report.compare
        click.echo(f"  disagrees with {c.reference} on {c.count} images ({c.share:.2%})")
    for kind, path in report.files.items():
        click.echo(f"  wrote {path} ({kind})")
    for note in report.missing:
        log(f"note: {note}")


def _eval_remote(remote: Any, model: Path, data: str, flags: list[str], as_json: bool) -> None:
    from edgeres.remote.commands import remote_eval
    from edgeres.remote.tables import eval_text

    show_remote(remote_eval(remote, model, data, flags), as_json, eval_text)


def _engine_flags(
    profile: str | None, threads: int | None, strict: bool, engine: str | None = None
) -> list[str]:
    """The engine options as the device's edgeres takes them."""
    flags = ["--profile", profile] if profile else []
    flags += ["--engine", engine] if engine else []
    flags += ["--threads", str(threads)] if threads is not None else []
    return flags + (["--strict"] if strict else [])


COMMANDS = [predict_cmd, eval_cmd]
