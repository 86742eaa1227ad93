"""``edgeres train``. torch is imported inside the command, so the CLI loads on a device without it.

Every option but ``--width`` and ``--json`` is a field of ``TrainConfig``, its default and help
read from there.
"""

from __future__ import annotations

import os

import click

from edgeres.cli.common import echo_json, max_image_pixels_option
from edgeres.cli.fields import field_help, field_option
from edgeres.errors import missing_dependency
from edgeres.models import MODEL_NAMES
from edgeres.train.config import DEVICES, TrainConfig


def _import_train():
    try:
        from edgeres import train as train_pkg
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] in ("torch", "matplotlib"):
            raise missing_dependency(e.name, "train", "edgeres train") from None
        raise
    return train_pkg


def _opt(name: str, *decls: str, **attrs):
    return field_option(TrainConfig, name, *decls, **attrs)


_MODEL_HELP = f"{field_help(TrainConfig, 'model')} One of: {', '.join(MODEL_NAMES)}."


@click.command("train")
@max_image_pixels_option
@_opt("model", help=_MODEL_HELP)
@_opt("data")
@_opt("out", required=True)
@_opt("epochs")
@_opt("augment")
@_opt("init")
@_opt("freeze_backbone")
@_opt("teacher")
@_opt("distill_weight")
@_opt("distill_temperature")
@_opt("qat")
@_opt("per_tensor")
@_opt("img_size")
@_opt("batch_size")
@_opt("lr")
@_opt("weight_decay")
@click.option(
    "--width", type=float, default=None, help="Width multiplier (resnet18s, resnet18/34/50)."
)
@_opt("seed")
@_opt("device", type=click.Choice(DEVICES))
@_opt("threads")
@_opt("workers")
@_opt("cache")
@_opt("amp")
@_opt("limit")
@_opt("eval_limit")
@_opt("resume")
@_opt("force")
@click.option("--json", "as_json", is_flag=True, help="Print metrics as JSON; no progress bars.")
def train_cmd(as_json: bool, width: float | None, **kw) -> None:
    """Train a small ResNet and write model.pt, metrics.json, history.csv and curves.png.

    \b
    Example:
      edgeres train --model resnet8 --data shapes --out runs/r8
      edgeres train --data digits/ --augment crop --out runs/digits
      edgeres train --init runs/r8/model.pt --data photos/ --out runs/photos
      edgeres train --model resnet18 --init resnet18-f37072fd.pth --data photos/ --out runs/r18
      edgeres train --model resnet18 --init model.safetensors --freeze-backbone --data few/ --out r
      edgeres train --model resnet8 --teacher runs/r18/model.pt --img-size 96 --out runs/kd
      edgeres train --qat --init runs/r8/model.pt --epochs 3 --out runs/r8-qat
      edgeres train --model resnet18s --width 0.5 --img-size 96 --data photos/ --out runs/r18
      edgeres train --data photos/ --img-size 96 --cache ~/.cache/edgeres --workers 3 --out runs/p
      torchrun --nproc-per-node 2 -m edgeres train --model resnet8 --out runs/ddp
      torchrun --nnodes 2 --node-rank 0 --nproc-per-node 1 --rdzv-endpoint 10.0.0.1:29500 \\
          -m edgeres train --data photos/ --out runs/2node   (the same with --node-rank 1)
    """
    cfg = TrainConfig(**kw, model_args={} if width is None else {"width": width}, quiet=as_json)
    train_pkg = _import_train()
    result = train_pkg.train(cfg, on_plan=None if as_json else _show_plan)
    m = result.metrics
    if m.get("world_size", 1) > 1 and int(os.environ.get("RANK", "0")) != 0:
        return
    report = result.quant_report
    if as_json:
        echo_json(dict(m, int8_report=report.to_dict()) if report is not None else m)
        return
    click.echo(
        f"trained {m['model']} on {m['data']}: test accuracy {100 * m['test_accuracy']:.2f}% "
        f"(best epoch {m['best_epoch']}/{m['epochs']}), {m['train_seconds']:.0f} s, "
        f"{m['images_per_second']:.0f} images/s, augment {m['augment']}"
    )
    click.echo(f"wrote {result.out}/model.pt, metrics.json, history.csv, curves.png")
    if report is not None:
        for line in report.lines():
            click.echo(line)
        click.echo(f"wrote {result.out}/model_int8.onnx, model_int8.tflite, model_int8_report.json")


def _show_plan(text: str) -> None:
    click.echo(text, err=True)


COMMANDS = [train_cmd]
