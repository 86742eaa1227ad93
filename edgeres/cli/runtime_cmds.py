"""``edgeres predict`` and ``edgeres eval``: any model file through the one runtime (no torch needed
for ``.onnx``/``.tflite``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import click

from edgeres.cli.common import (
    echo_json,
    log,
    max_image_pixels_option,
    pop_runtime,
    runtime_options,
)
from edgeres.cli.fields import field_option
from edgeres.cli.remote_opts import (
    REMOTE_NAMES,
    device_flags,
    pop_remote,
    refuse_local_only,
    remote_options,
    show_remote,
)
from edgeres.errors import UsageError
from edgeres.runtime.options import EvalConfig, PredictConfig, RuntimeOptions
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


def _load(model: Path, options: RuntimeOptions) -> Any:
    from edgeres import runtime

    with _warnings_as_logs():
        return runtime.load(model, **options.load_options())


_MODEL_ARG = click.argument("model", type=click.Path(path_type=Path))


def _p(name: str, *decls: str, **attrs):
    return field_option(PredictConfig, name, *decls, **attrs)


def _e(name: str, *decls: str, **attrs):
    return field_option(EvalConfig, name, *decls, **attrs)


def predict_config(params: dict[str, Any]) -> PredictConfig:
    """``predict``'s parsed flags as its config (remote and output flags left out)."""
    flags = {k: v for k, v in params.items() if k not in _NOT_CONFIG}
    return PredictConfig(runtime=pop_runtime(flags), **flags)


def eval_config(params: dict[str, Any]) -> EvalConfig:
    """``eval``'s parsed flags as its config (remote and output flags left out)."""
    flags = {k: v for k, v in params.items() if k not in _NOT_CONFIG}
    return EvalConfig(runtime=pop_runtime(flags), **flags)


_NOT_CONFIG = {"as_json", *REMOTE_NAMES}


@click.command("predict")
@max_image_pixels_option
@_MODEL_ARG
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@_p("topk", type=click.IntRange(min=1))
@_p("out", type=click.Path(dir_okay=False, path_type=Path))
@_p("force")
@_p("batch_size", type=click.IntRange(min=1))
@_p("workers", type=click.IntRange(min=0), metavar="N")
@runtime_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@remote_options
@click.pass_context
def predict_cmd(ctx: click.Context, as_json: bool, **flags: Any) -> None:
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
    remote = pop_remote(flags)
    config = predict_config(flags)
    if remote:
        from edgeres.remote.commands import remote_predict
        from edgeres.remote.tables import predict_text

        refuse_local_only(ctx, PREDICT_LOCAL_ONLY, "the rows come back to this machine; "
                          "use --json > FILE for them")  # fmt: skip
        words = device_flags(ctx, config, skip={"profile", *PREDICT_LOCAL_ONLY})
        show_remote(remote_predict(remote, config, words), as_json, predict_text)
        return
    from edgeres.fileio import check_overwrite
    from edgeres.runtime.predict import PredictStats, list_images

    if config.out is not None:
        check_overwrite(config.out, config.force)
    files, named = list_images(config.images)
    stats = PredictStats(out=None if config.out is None else str(config.out))
    with _load(config.model, config.runtime) as backend:
        _predict_rows(backend, files, named, config, stats, as_json)
        providers, engine = list(backend.providers), backend.engine
    if as_json:
        doc = {"model": str(config.model), "engine": engine, "providers": providers}
        echo_json(
            {**doc, **stats.to_dict(), "results": stats.results}
            if config.out is None
            else {**doc, **stats.to_dict()}
        )
    elif config.out is not None:
        skipped = f", {stats.skipped} unreadable skipped" if stats.skipped else ""
        click.echo(
            f"wrote {stats.images} predictions to {shown(config.out)}{skipped}, "
            f"{stats.images_per_second:.0f} images/s on {', '.join(providers)}"
        )


def _predict_rows(backend, files, named, config: PredictConfig, stats, as_json: bool) -> None:
    """Score every batch; rows go to ``--out`` as they come, else to stdout (or the JSON doc)."""
    from edgeres.data.stream import resolve_workers
    from edgeres.progress import progress
    from edgeres.runtime.predict import PredictionWriter, predict_batches

    out, topk = config.out, config.topk
    writer = PredictionWriter(out, topk, config.force) if out is not None else None
    bar = progress(total=len(files), quiet=as_json or out is None, desc="predict", unit="img")
    batch_size, workers = config.batch_size, resolve_workers(config.workers)
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
                        click.echo(shown(f"{image}: {ranked}"))  # names from the model file
    except BaseException:
        if writer is not None:
            writer.file.close()  # the partial file keeps the rows written so far
        raise
    if writer is not None:
        writer.close()


@click.command("eval")
@max_image_pixels_option
@_MODEL_ARG
@_e("data", required=True)
@_e("split")
@_e("limit", type=click.IntRange(min=1))
@_e("batch_size", type=click.IntRange(min=1))
@_e("workers", type=click.IntRange(min=0), metavar="N")
@_e("report_dir", "--report", type=click.Path(file_okay=False, path_type=Path))
@_e("compare", type=click.Path(dir_okay=False, path_type=Path))
@runtime_options
@_e("by_index")
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout; no progress bars."
)
@remote_options
@click.pass_context
def eval_cmd(ctx: click.Context, as_json: bool, **flags: Any) -> None:
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
    remote = pop_remote(flags)
    config = eval_config(flags)
    if remote:
        _eval_remote(ctx, remote, config, as_json)
        return
    _check_report_dir(config.report_dir)
    with _load(config.model, config.runtime) as backend:
        imageset, result = _score(backend, config, as_json)
        providers, engine = list(backend.providers), backend.engine
        names = tuple(backend.info.classes)
    report = None
    if config.report_dir is not None:
        report = _write_report(config, imageset, result, names, as_json)
    _show_eval(config, result, engine, providers, report, as_json)


def _score(backend: Any, config: EvalConfig, quiet: bool) -> tuple[Any, Any]:
    """The data at the model's size and the model's accuracy on it (classes matched by name)."""
    from edgeres import runtime
    from edgeres.data import stream_split

    spec = backend.spec
    imageset = stream_split(
        config.data, config.split, spec.size, limit=config.limit, workers=config.workers
    )
    result = runtime.evaluate(
        backend, imageset, batch_size=config.batch_size, quiet=quiet, by_index=config.by_index
    )
    return imageset, result


def _check_report_dir(report_dir: Path | None) -> None:
    if report_dir is not None:
        from edgeres.evalreport import check_report_dir

        check_report_dir(report_dir)


def _show_eval(config: EvalConfig, result, engine, providers, report, as_json: bool) -> None:
    model, data, split = config.model, config.data, config.split
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


def _write_report(config: EvalConfig, imageset, result, names, quiet: bool):
    from edgeres.evalreport import eval_report

    compare, model = config.compare, config.model
    with _load(compare, config.runtime) if compare else nullcontext() as reference:
        if reference is not None and reference.spec.size != tuple(imageset.images.shape[1:3]):
            raise UsageError(
                f"--compare '{shown(compare)}' takes {reference.spec.height}x"
                f"{reference.spec.width} images and '{shown(model)}' does not"
            )
        return eval_report(
            str(model), f"{config.data} {config.split}", imageset, result.predictions, names,
            config.report_dir, reference, config.batch_size, quiet, config.by_index,
        )  # fmt: skip


def _show_report(report) -> None:
    for p in report.pairs[:3]:
        click.echo(
            shown(f"  most confused: {p['true']} taken for {p['predicted']} ({p['count']}x)")
        )
    if report.compare is not None:
        c = report.compare
        click.echo(shown(f"  disagrees with {c.reference} on {c.count} images ({c.share:.2%})"))
    for kind, path in report.files.items():
        click.echo(shown(f"  wrote {path} ({kind})"))
    for note in report.missing:
        log(f"note: {note}")


# eval's flags that act on this machine only: refused with --remote rather than dropped.
EVAL_LOCAL_ONLY = ("report_dir", "compare")
PREDICT_LOCAL_ONLY = ("out", "force")


def _eval_remote(ctx: click.Context, remote: Any, config: EvalConfig, as_json: bool) -> None:
    from edgeres.remote.commands import remote_eval
    from edgeres.remote.tables import eval_text

    refuse_local_only(ctx, EVAL_LOCAL_ONLY, "the report is written on this machine; run eval "
                      "--report on the device itself, or copy the model here")  # fmt: skip
    words = device_flags(ctx, config, skip={"profile", "data", *EVAL_LOCAL_ONLY})
    show_remote(remote_eval(remote, config, words), as_json, eval_text)


COMMANDS = [predict_cmd, eval_cmd]
