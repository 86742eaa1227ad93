"""``edgeres demo``: the whole path on the shipped data, each stage the same command a user runs."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from edgeres.cli.bench_cmds import benchmark_cmd
from edgeres.cli.convert_cmds import convert_cmd, quantize_cmd
from edgeres.cli.runtime_cmds import eval_cmd
from edgeres.cli.stream_cmds import run_cmd
from edgeres.cli.train_cmds import train_cmd
from edgeres.errors import OutputExistsError


def _stage(n: int, total: int, title: str, command: str) -> None:
    click.secho(f"\n[{n}/{total}] {title}", bold=True, err=True)
    click.echo(f"$ {command}", err=True)


@click.command("demo")
@click.option("--out", type=click.Path(path_type=Path), default=Path("demo-out"), show_default=True)
@click.option("--epochs", type=int, default=15, show_default=True, help="Training epochs.")
@click.option(
    "--quick", is_flag=True, help="A 2-epoch, 4000-image run: the whole path in about a minute."
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
    if out.exists() and any(out.iterdir()):
        if not force:
            raise OutputExistsError(
                f"'{out}' is not empty; pass --force to replace the earlier demo"
            )
        shutil.rmtree(out)
    limit = 4000 if quick else None
    epochs = 2 if quick else epochs
    ckpt = out / "model.pt"
    files = [
        ckpt,
        out / "model.onnx",
        out / "model.tflite",
        out / "model_int8.onnx",
        out / "model_int8.tflite",
    ]
    total = 7
    _stage(
        1,
        total,
        "train resnet8 on the synthetic shapes data",
        f"edgeres train --model resnet8 --data shapes --out {out}",
    )
    ctx.invoke(train_cmd, model="resnet8", data="shapes", out=out, epochs=epochs, limit=limit)
    _stage(
        2,
        total,
        "convert to ONNX and TFLite (FP32), checked against the checkpoint",
        f"edgeres convert {ckpt} --to onnx,tflite",
    )
    ctx.invoke(convert_cmd, model=str(ckpt), to="onnx,tflite")
    _stage(
        3,
        total,
        "quantize to INT8 with the shipped calibration images",
        f"edgeres quantize {ckpt} --to onnx,tflite",
    )
    ctx.invoke(quantize_cmd, model=str(ckpt), to="onnx,tflite")
    _stage(
        4, total, "evaluate every file through the same runtime", "edgeres eval FILE --data shapes"
    )
    for f in files:
        ctx.invoke(eval_cmd, model=str(f), data="shapes")
    _stage(
        5,
        total,
        "benchmark every format on this machine",
        f"edgeres benchmark {' '.join(map(str, files))}",
    )
    ctx.invoke(
        benchmark_cmd,
        models=tuple(files),
        md=out / "benchmark.md",
        plot=out / "benchmark.png",
    )
    _stage(
        6,
        total,
        "classify a live synthetic stream, saving the annotated video",
        f"edgeres run {files[-1]} --source demo",
    )
    ctx.invoke(
        run_cmd, model=str(files[-1]), source="demo", max_frames=300, save=str(out / "run_demo.mp4")
    )
    _stage(7, total, "done", f"ls {out}")
    for f in sorted(out.iterdir()):
        if f.is_file() and not f.name.startswith("."):
            click.echo(f"  {f.name:<28} {f.stat().st_size / 1024:>9.1f} kB")


COMMANDS = [demo_cmd]
