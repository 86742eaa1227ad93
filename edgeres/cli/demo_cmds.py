"""``edgeres demo``: the whole path on the shipped data, each stage the same command a user runs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, NamedTuple

import click

from edgeres.cli.bench_cmds import benchmark_cmd
from edgeres.cli.convert_cmds import convert_cmd, quantize_cmd
from edgeres.cli.fields import field_option
from edgeres.cli.runtime_cmds import eval_cmd
from edgeres.cli.stream_cmds import run_cmd
from edgeres.cli.train_cmds import train_cmd
from edgeres.errors import OutputExistsError
from edgeres.formats import FORMATS, export_formats
from edgeres.train.config import TrainConfig

# --quick: a short training run on fewer images, so the whole path takes about a minute.
QUICK_EPOCHS = 2
QUICK_IMAGES = 4000
STREAM_FRAMES = 300


class Stage(NamedTuple):
    """One step of the demo: what it shows, the command a user would type, the calls it makes."""

    title: str
    command: str
    calls: list[tuple[click.Command, dict[str, Any]]]


def _stages(out: Path, epochs: int, limit: int | None) -> list[Stage]:
    ckpt = out / "model.pt"
    formats = export_formats()
    files = [
        ckpt,
        *(out / f"model{tag}{FORMATS[f].suffix}" for tag in ("", "_int8") for f in formats),
    ]
    to = ",".join(formats)
    train = {"model": "resnet8", "data": "shapes", "out": out, "epochs": epochs, "limit": limit}
    bench = {"models": tuple(files), "md": out / "benchmark.md", "plot": out / "benchmark.png"}
    stream = {"source": "demo", "max_frames": STREAM_FRAMES, "save": str(out / "run_demo.mp4")}
    return [
        Stage(
            "train resnet8 on the synthetic shapes data",
            f"edgeres train --model resnet8 --data shapes --out {out}",
            [(train_cmd, train)],
        ),
        Stage(
            "convert to ONNX and TFLite (FP32), checked against the checkpoint",
            f"edgeres convert {ckpt} --to {to}",
            [(convert_cmd, {"model": str(ckpt), "to": to})],
        ),
        Stage(
            "quantize to INT8 with the shipped calibration images",
            f"edgeres quantize {ckpt} --to {to}",
            [(quantize_cmd, {"model": str(ckpt), "to": to})],
        ),
        Stage(
            "evaluate every file through the same runtime",
            "edgeres eval FILE --data shapes",
            [(eval_cmd, {"model": str(f), "data": "shapes"}) for f in files],
        ),
        Stage(
            "benchmark every format on this machine",
            f"edgeres benchmark {' '.join(map(str, files))}",
            [(benchmark_cmd, bench)],
        ),
        Stage(
            "classify a live synthetic stream, saving the annotated video",
            f"edgeres run {files[-1]} --source demo",
            [(run_cmd, {"model": str(files[-1]), **stream})],
        ),
    ]


def _clear(out: Path, force: bool) -> None:
    if out.exists() and any(out.iterdir()):
        if not force:
            raise OutputExistsError(
                f"'{out}' is not empty; pass --force to replace the earlier demo"
            )
        shutil.rmtree(out)


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
    ctx = click.get_current_context()
    _clear(out, force)
    stages = _stages(out, QUICK_EPOCHS if quick else epochs, QUICK_IMAGES if quick else None)
    total = len(stages) + 1
    for n, stage in enumerate(stages, 1):
        _show_stage(n, total, stage.title, stage.command)
        for command, kwargs in stage.calls:
            ctx.invoke(command, **kwargs)
    _show_stage(total, total, "done", f"ls {out}")
    for f in sorted(out.iterdir()):
        if f.is_file() and not f.name.startswith("."):
            click.echo(f"  {f.name:<28} {f.stat().st_size / 1024:>9.1f} kB")


def _show_stage(n: int, total: int, title: str, command: str) -> None:
    click.secho(f"\n[{n}/{total}] {title}", bold=True, err=True)
    click.echo(f"$ {command}", err=True)


COMMANDS = [demo_cmd]
