"""``edgeres predict`` and ``edgeres eval``: any model file through the one runtime (no torch needed
for ``.onnx``/``.tflite``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgeres.cli.common import max_image_pixels_option, pop_runtime, runtime_options, show
from edgeres.cli.fields import field_option
from edgeres.cli.remote_opts import REMOTE_NAMES, on_device, pop_remote, remote_options
from edgeres.cli.table import COMMAND_TABLE
from edgeres.runtime.options import EvalConfig, PredictConfig

_MODEL_ARG = click.argument("model", type=click.Path(path_type=Path))


def _predict_opt(name: str, *decls: str, **attrs):
    return field_option(PredictConfig, name, *decls, **attrs)


def _eval_opt(name: str, *decls: str, **attrs):
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
@_predict_opt("topk", type=click.IntRange(min=1))
@_predict_opt("out", type=click.Path(dir_okay=False, path_type=Path))
@_predict_opt("force")
@_predict_opt("batch_size", type=click.IntRange(min=1))
@_predict_opt("workers", type=click.IntRange(min=0), metavar="N")
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
        return on_device(ctx, remote, config, as_json)
    from edgeres.api import predict
    from edgeres.api.scoring import row_lines

    def print_rows(rows: list) -> None:
        for line in row_lines(rows):
            click.echo(line)

    on_rows = None if as_json or config.out is not None else print_rows
    show(predict(config, quiet=as_json, on_rows=on_rows), as_json)


@click.command("eval")
@max_image_pixels_option
@_MODEL_ARG
@_eval_opt("data", required=True)
@_eval_opt("split")
@_eval_opt("limit", type=click.IntRange(min=1))
@_eval_opt("batch_size", type=click.IntRange(min=1))
@_eval_opt("workers", type=click.IntRange(min=0), metavar="N")
@_eval_opt("report_dir", "--report", type=click.Path(file_okay=False, path_type=Path))
@_eval_opt("compare", type=click.Path(dir_okay=False, path_type=Path))
@runtime_options
@_eval_opt("by_index")
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
        return on_device(ctx, remote, config, as_json)
    from edgeres.api import evaluate

    show(evaluate(config, quiet=as_json), as_json)


# The flags each command refuses with --remote (its row of the command table).
EVAL_LOCAL_ONLY = COMMAND_TABLE["eval"].local_only
PREDICT_LOCAL_ONLY = COMMAND_TABLE["predict"].local_only

COMMANDS = [predict_cmd, eval_cmd]
