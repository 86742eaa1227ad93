"""``edgeres train``. torch is imported inside the command, so the CLI loads on a device without it.

Every option but ``--width`` and ``--json`` is a field of ``TrainConfig``, its default and help
read from there.
"""

from __future__ import annotations

import click

from edgeres.cli.common import max_image_pixels_option, show
from edgeres.cli.fields import field_help, field_option
from edgeres.models import MODEL_NAMES
from edgeres.train.config import DEVICES, TrainConfig


def _train_opt(name: str, *decls: str, **attrs):
    return field_option(TrainConfig, name, *decls, **attrs)


_MODEL_HELP = f"{field_help(TrainConfig, 'model')} One of: {', '.join(MODEL_NAMES)}."


@click.command("train")
@max_image_pixels_option
@_train_opt("model", help=_MODEL_HELP)
@_train_opt("data")
@_train_opt("out", required=True)
@_train_opt("epochs")
@_train_opt("augment")
@_train_opt("init")
@_train_opt("freeze_backbone")
@_train_opt("teacher")
@_train_opt("distill_weight")
@_train_opt("distill_temperature")
@_train_opt("qat")
@_train_opt("per_tensor")
@_train_opt("img_size")
@_train_opt("batch_size")
@_train_opt("lr")
@_train_opt("weight_decay")
@click.option(
    "--width", type=float, default=None, help="Width multiplier (resnet18s, resnet18/34/50)."
)
@_train_opt("seed")
@_train_opt("device", type=click.Choice(DEVICES))
@_train_opt("threads")
@_train_opt("workers")
@_train_opt("cache")
@_train_opt("amp")
@_train_opt("limit")
@_train_opt("eval_limit")
@_train_opt("resume")
@_train_opt("force")
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
    from edgeres.api import train

    cfg = TrainConfig(**kw, model_args={} if width is None else {"width": width}, quiet=as_json)
    show(train(cfg), as_json)


COMMANDS = [train_cmd]
