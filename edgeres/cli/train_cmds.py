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
