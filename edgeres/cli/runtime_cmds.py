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
from edgeres.errors import DataError, UsageError
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


def _read_image(path: Path) -> Any:
    from edgeres.data.common import read_image

    if not path.is_file():
        raise DataError(f"image '{shown(path)}' does not exist")
    image = read_image(path)
    if image is None:
        raise DataError(
            f"'{shown(path)}' is not an image OpenCV can read (JPEG, PNG, BMP, WebP, TIFF...); "
            "check the file or convert it"
        )
    return image


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
@runtime_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@remote_options
@click.pass_context
def predict_cmd(ctx: click.Context, as_json: bool, **flags: Any) -> None:
    """Classify images with any model file (.pt, .onnx, .tflite).

    \b
    Example:
      edgeres predict runs/r8/model_int8.tflite cat.jpg dog.png --topk 3
      edgeres predict runs/r8/model.onnx photos/*.jpg --profile raspberry-pi-5 --json
      edgeres predict runs/r8/model_int8.tflite cat.jpg --remote pi@pi5.local
    """
    remote = pop_remote(flags)
    config = predict_config(flags)
    if remote:
        from edgeres.remote.commands import remote_predict
        from edgeres.remote.tables import predict_text

        words = device_flags(ctx, config, skip={"profile"})
        show_remote(remote_predict(remote, config, words), as_json, predict_text)
        return
    frames = [_read_image(p) for p in config.images]
    with _load(config.model, config.runtime) as backend:
        preds = [backend.predict(f, topk=config.topk)[0] for f in frames]
        providers, engine = list(backend.providers), backend.engine
    if as_json:
        echo_json(
            {
                "model": str(config.model),
                "engine": engine,
                "providers": providers,
                "results": [
                    {"image": str(p), **pred.to_dict()}
                    for p, pred in zip(config.images, preds, strict=True)
                ],
            }
        )
        return
    for path, pred in zip(config.images, preds, strict=True):
        ranked = ", ".join(
            f"{lab} {s:.1%}" for lab, s in zip(pred.labels, pred.scores, strict=True)
        )
        click.echo(shown(f"{path}: {ranked}"))  # class names come from the model file


@click.command("eval")
@max_image_pixels_option
@_MODEL_ARG
@_e("data", required=True)
@_e("split")
@_e("limit", type=click.IntRange(min=1))
@_e("batch_size", type=click.IntRange(min=1))
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
        names = tuple(imageset.classes) or tuple(backend.info.classes)
    report = None
    if config.report_dir is not None:
        report = _write_report(config, imageset, result, names, as_json)
    _show_eval(config, result, engine, providers, report, as_json)


def _score(backend: Any, config: EvalConfig, quiet: bool) -> tuple[Any, Any]:
    """The data at the model's size and the model's accuracy on it (classes matched by name)."""
    from edgeres import runtime
    from edgeres.data import load_split

    spec = backend.spec
    size = spec.height if spec.height == spec.width else (spec.height, spec.width)
    imageset = load_split(config.data, config.split, size, limit=config.limit, quiet=quiet)
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


def _eval_remote(ctx: click.Context, remote: Any, config: EvalConfig, as_json: bool) -> None:
    from edgeres.remote.commands import remote_eval
    from edgeres.remote.tables import eval_text

    refuse_local_only(ctx, EVAL_LOCAL_ONLY, "the report is written on this machine; run eval "
                      "--report on the device itself, or copy the model here")  # fmt: skip
    words = device_flags(ctx, config, skip={"profile", "data", *EVAL_LOCAL_ONLY})
    show_remote(remote_eval(remote, config, words), as_json, eval_text)


COMMANDS = [predict_cmd, eval_cmd]
