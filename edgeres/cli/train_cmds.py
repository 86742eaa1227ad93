"""``edgeres train``. torch is imported inside the command, so the CLI loads on a device without it."""

from __future__ import annotations

from pathlib import Path

import click

from edgeres.cli.common import echo_json
from edgeres.errors import missing_dependency

# Listed here (not imported from the registry) so `edgeres --help` works without torch;
# tests/train/test_cli.py checks this list against edgeres.models.list_models().
MODEL_NAMES = ("resnet8", "resnet20", "resnet18s", "test_resnet")


def _import_train():
    try:
        from edgeres import train as train_pkg
    except ModuleNotFoundError as e:
        if e.name and e.name.split(".")[0] in ("torch", "matplotlib"):
            raise missing_dependency(e.name, "train", "edgeres train") from None
        raise
    return train_pkg


@click.command("train")
@click.option(
    "--model", default="resnet8", show_default=True, help=f"One of: {', '.join(MODEL_NAMES)}."
)
@click.option(
    "--data", default="shapes", show_default=True, help="shapes | image folder | cifar10:DIR."
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Run folder to write.")
@click.option("--epochs", type=int, default=15, show_default=True)
@click.option("--img-size", type=int, default=None, help="Input size (default: the model's).")
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option(
    "--lr", type=float, default=0.1, show_default=True, help="Peak one-cycle learning rate."
)
@click.option("--weight-decay", type=float, default=5e-4, show_default=True)
@click.option("--width", type=float, default=None, help="Width multiplier (resnet18s).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option(
    "--threads", type=int, default=None, help="torch threads per process (default: cores)."
)
@click.option("--limit", type=int, default=None, help="Use at most N training images.")
@click.option("--eval-limit", type=int, default=None, help="Use at most N test images.")
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --out.")
@click.option("--force", is_flag=True, help="Replace a finished run in --out.")
@click.option("--json", "as_json", is_flag=True, help="Print metrics as JSON; no progress bars.")
def train_cmd(as_json: bool, width: float | None, **kw) -> None:
    """Train a small ResNet and write model.pt, metrics.json, history.csv and curves.png.

    \b
    Example:
      edgeres train --model resnet8 --data shapes --out runs/r8
      edgeres train --model resnet18s --width 0.5 --img-size 96 --data photos/ --out runs/r18
      torchrun --nproc-per-node 2 -m edgeres train --model resnet8 --out runs/ddp
    """
    train_pkg = _import_train()
    model_args = {} if width is None else {"width": width}
    cfg = train_pkg.TrainConfig(**kw, model_args=model_args, quiet=as_json)
    result = train_pkg.train(cfg)
    m = result.metrics
    if m.get("world_size", 1) > 1 and _rank() != 0:
        return
    if as_json:
        echo_json(m)
        return
    click.echo(
        f"trained {m['model']} on {m['data']}: test accuracy {100 * m['test_accuracy']:.2f}% "
        f"(best epoch {m['best_epoch']}/{m['epochs']}), {m['train_seconds']:.0f} s, "
        f"{m['images_per_second']:.0f} images/s"
    )
    click.echo(f"wrote {result.out}/model.pt, metrics.json, history.csv, curves.png")


def _rank() -> int:
    import os

    return int(os.environ.get("RANK", "0"))


COMMANDS = [train_cmd]
