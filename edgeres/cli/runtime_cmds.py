"""``edgeres predict`` and ``edgeres eval``: any model file through the one runtime (no torch needed
for ``.onnx``/``.tflite``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from edgeres.cli.common import echo_json, log
from edgeres.cli.remote_opts import pop_remote, remote_options, show_remote
from edgeres.errors import DataError


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


def _load(model: Path, profile: str | None, strict: bool, threads: int | None) -> Any:
    from edgeres import runtime

    options: dict[str, Any] = {}
    if threads is not None:
        options["threads"] = threads
    if strict:
        options["strict"] = True
    with _warnings_as_logs():
        return runtime.load(model, profile=profile, **options)


def _read_image(path: Path) -> Any:
    from edgeres.data.common import read_image

    if not path.is_file():
        raise DataError(f"image '{path}' does not exist")
    image = read_image(path)
    if image is None:
        raise DataError(
            f"'{path}' is not an image OpenCV can read (JPEG, PNG, BMP, WebP, TIFF...); "
            "check the file or convert it"
        )
    return image


_MODEL_ARG = click.argument("model", type=click.Path(path_type=Path))
_PROFILE_OPT = click.option(
    "--profile", default=None, help="Device profile name or YAML file (threads, providers)."
)
_THREADS_OPT = click.option(
    "--threads", type=int, default=None, help="Engine threads (overrides the profile)."
)
_STRICT_OPT = click.option(
    "--strict", is_flag=True, help="Fail instead of falling back when a provider is missing."
)


@click.command("predict")
@_MODEL_ARG
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--topk",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Classes to show per image.",
)
@_PROFILE_OPT
@_THREADS_OPT
@_STRICT_OPT
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@remote_options
def predict_cmd(
    model: Path,
    images: tuple[Path, ...],
    topk: int,
    profile: str | None,
    threads: int | None,
    strict: bool,
    as_json: bool,
    **remote_flags: Any,
) -> None:
    """Classify images with any model file (.pt, .onnx, .tflite).

    \b
    Example:
      edgeres predict runs/r8/model_int8.tflite cat.jpg dog.png --topk 3
      edgeres predict runs/r8/model.onnx photos/*.jpg --profile raspberry-pi-5 --json
      edgeres predict runs/r8/model_int8.tflite cat.jpg --remote pi@pi5.local
    """
    remote = pop_remote(remote_flags)
    if remote:
        from edgeres.remote.commands import remote_predict
        from edgeres.remote.tables import predict_text

        flags = ["--topk", str(topk), *_engine_flags(profile, threads, strict)]
        show_remote(remote_predict(remote, model, images, flags), as_json, predict_text)
        return
    frames = [_read_image(p) for p in images]
    with _load(model, profile, strict, threads) as backend:
        preds = [backend.predict(f, topk=topk)[0] for f in frames]
        providers, engine = list(backend.providers), getattr(backend, "engine", backend.format)
    if as_json:
        echo_json(
            {
                "model": str(model),
                "engine": engine,
                "providers": providers,
                "results": [
                    {"image": str(p), **pred.to_dict()}
                    for p, pred in zip(images, preds, strict=True)
                ],
            }
        )
        return
    for path, pred in zip(images, preds, strict=True):
        ranked = ", ".join(
            f"{lab} {s:.1%}" for lab, s in zip(pred.labels, pred.scores, strict=True)
        )
        click.echo(f"{path}: {ranked}")


@click.command("eval")
@_MODEL_ARG
@click.option(
    "--data", required=True, help="shapes | image folder (one sub-folder per class) | cifar10:DIR."
)
@click.option(
    "--split", default="test", show_default=True, help="Which split of the data to score."
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use at most N images.")
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@_PROFILE_OPT
@_THREADS_OPT
@_STRICT_OPT
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
    profile: str | None,
    threads: int | None,
    strict: bool,
    as_json: bool,
    **remote_flags: Any,
) -> None:
    """Top-1 accuracy of any model file, with the same preprocessing as training.

    \b
    Example:
      edgeres eval runs/r8/model.pt --data shapes
      edgeres eval runs/r8/model_int8.tflite --data shapes --limit 500 --json
      edgeres eval runs/r8/model.onnx --data cifar10:~/data/cifar-10-batches-py
      edgeres eval runs/r8/model_int8.tflite --data ./val --remote pi@pi5.local,jetson.local
      edgeres eval runs/r8/model.onnx --data remote:/srv/val --remote pi@pi5.local
    """
    remote = pop_remote(remote_flags)
    if remote:
        flags = ["--split", split, "--batch-size", str(batch_size)]
        flags += ["--limit", str(limit)] if limit else []
        _eval_remote(remote, model, data, flags + _engine_flags(profile, threads, strict), as_json)
        return
    from edgeres import runtime
    from edgeres.data import load_split

    with _load(model, profile, strict, threads) as backend:
        spec = backend.spec
        size = spec.height if spec.height == spec.width else (spec.height, spec.width)
        imageset = load_split(data, split, size, limit=limit, quiet=as_json)
        _check_classes(backend.info.classes, tuple(imageset.classes))
        result = runtime.evaluate(backend, imageset, batch_size=batch_size, quiet=as_json)
        providers, engine = list(backend.providers), getattr(backend, "engine", backend.format)
    if as_json:
        doc = {
            "model": str(model),
            "data": data,
            "split": split,
            "engine": engine,
            "providers": providers,
        }
        echo_json({**doc, **result.to_dict()})
        return
    click.echo(
        f"{model}: top-1 {result.accuracy:.2%} ({result.correct}/{result.total}) on {data} {split}, "
        f"{result.images_per_second:.0f} images/s on {', '.join(providers)}"
    )


def _eval_remote(remote: Any, model: Path, data: str, flags: list[str], as_json: bool) -> None:
    from edgeres.remote.commands import remote_eval
    from edgeres.remote.tables import eval_text

    show_remote(remote_eval(remote, model, data, flags), as_json, eval_text)


def _engine_flags(profile: str | None, threads: int | None, strict: bool) -> list[str]:
    """The engine options as the device's edgeres takes them."""
    flags = ["--profile", profile] if profile else []
    flags += ["--threads", str(threads)] if threads is not None else []
    return flags + (["--strict"] if strict else [])


def _check_classes(model_classes: tuple[str, ...], data_classes: tuple[str, ...]) -> None:
    """Labels are indices: a model and data set with different class lists cannot be scored."""
    if data_classes and model_classes and len(model_classes) != len(data_classes):
        raise DataError(
            f"the model has {len(model_classes)} classes but the data has {len(data_classes)}; "
            "evaluate on the data set the model was trained on"
        )
    if (
        data_classes
        and model_classes != data_classes
        and not all(c.isdigit() for c in model_classes)
    ):
        log(
            "warning: the model's class names differ from the data's; scoring by index "
            f"(model: {', '.join(model_classes[:4])}..., data: {', '.join(data_classes[:4])}...)"
        )


COMMANDS = [predict_cmd, eval_cmd]
