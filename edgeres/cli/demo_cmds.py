"""``edgeres demo``: the whole path on the shipped data, each stage the API call behind a command."""

from __future__ import annotations

from pathlib import Path

import click

from edgeres.api.demo_path import QUICK_EPOCHS, QUICK_IMAGES
from edgeres.cli.common import show
from edgeres.cli.fields import field_option
from edgeres.train.config import TrainConfig


@click.command("demo")
@click.option("--out", type=click.Path(path_type=Path), default=Path("demo-out"), show_default=True)
@field_option(TrainConfig, "epochs")
@click.option(
    "--quick",
    is_flag=True,
    help=f"A {QUICK_EPOCHS}-epoch, {QUICK_IMAGES}-image run: the whole path in about a minute.",
)
@click.option("--force", is_flag=True, help="Replace an earlier demo in --out.")
def demo_cmd(out: Path, epochs: int, quick: bool, force: bool) -> None:
    """Train resnet8 on shapes, convert, quantize, evaluate every file, benchmark, run on a stream.

    \b
    Example:
      edgeres demo                      # the full path (about 6 minutes on 2 cores)
      edgeres demo --quick --out /tmp/d # the same stages on a short training run
    """
    from edgeres.api.demo_path import demo, written

    demo(out, epochs, quick, force, _show_stage, lambda r: show(r, as_json=False))
    for name, kb in written(out):
        click.echo(f"  {name:<28} {kb:>9.1f} kB")


def _show_stage(n: int, total: int, title: str, command: str) -> None:
    click.secho(f"\n[{n}/{total}] {title}", bold=True, err=True)
    click.echo(f"$ {command}", err=True)


COMMANDS = [demo_cmd]
