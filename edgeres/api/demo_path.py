"""``demo``: the whole path on the shipped data, each stage an API call a user can make too."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgeres.api.result import Result
from edgeres.errors import OutputExistsError

# --quick: a short training run on few images and short measurements, so the whole path takes
# about a minute (make test runs it).
QUICK_EPOCHS = 2
QUICK_IMAGES = 1500
QUICK_EVAL_IMAGES = 300
QUICK_CALIBRATION = {"samples": 64, "eval_limit": 300}
STREAM_FRAMES = 300
QUICK_STREAM_FRAMES = 60


@dataclass(frozen=True)
class Stage:
    """One step of the demo: what it shows, the command a user would type, the calls it makes."""

    title: str
    command: str
    calls: tuple[Callable[[], Result], ...]


def demo_files(out: Path) -> list[Path]:
    """The checkpoint and every FP32 and INT8 file the demo writes, in the order it makes them."""
    from edgeres.formats import export_formats, output_name

    ckpt = out / "model.pt"
    return [ckpt, *(output_name(ckpt, f, int8) for int8 in (False, True) for f in export_formats())]


def stages(out: Path, epochs: int | str | None = None, quick: bool = False) -> list[Stage]:
    """The demo's stages writing into ``out``."""
    from edgeres import api
    from edgeres.formats import export_formats

    files = demo_files(out)
    ckpt, to = files[0], export_formats()
    epochs = QUICK_EPOCHS if quick else epochs
    train = {"model": "resnet8", "data": "shapes", "out": out, "limit": None}
    if epochs is not None:
        train["epochs"] = epochs
    if quick:
        train["limit"] = QUICK_IMAGES
    limit = QUICK_EVAL_IMAGES if quick else None
    calib = QUICK_CALIBRATION if quick else {}
    frames = QUICK_STREAM_FRAMES if quick else STREAM_FRAMES
    bench = {"md": out / "benchmark.md", "plot": out / "benchmark.png", "quick": quick}
    stream = {"source": "demo", "max_frames": frames, "save": str(out / "run_demo.mp4")}
    return [
        Stage("train resnet8 on the synthetic shapes data",
              f"edgeres train --model resnet8 --data shapes --out {out}",
              (lambda: api.train(**train),)),
        Stage("convert to ONNX and TFLite (FP32), checked against the checkpoint",
              f"edgeres convert {ckpt} --to {','.join(to)}",
              (lambda: api.convert(ckpt, to=to),)),
        Stage("quantize to INT8 with the shipped calibration images",
              f"edgeres quantize {ckpt} --to {','.join(to)}",
              (lambda: api.quantize(ckpt, to=to, **calib),)),
        Stage("evaluate every file through the same runtime",
              "edgeres eval FILE --data shapes",
              tuple(_evaluate(f, limit) for f in files)),
        Stage("benchmark every format on this machine",
              f"edgeres benchmark {' '.join(map(str, files))}",
              (lambda: api.benchmark(tuple(files), **bench),)),
        Stage("classify a live synthetic stream, saving the annotated video",
              f"edgeres run {files[-1]} --source demo",
              (lambda: api.run(files[-1], **stream),)),
    ]  # fmt: skip


def _evaluate(path: Path, limit: int | None) -> Callable[[], Result]:
    from edgeres import api

    return lambda: api.evaluate(path, data="shapes", limit=limit)


def clear(out: Path, force: bool) -> None:
    """Refuse a non-empty ``out`` unless ``force`` (then it is emptied)."""
    if out.exists() and any(out.iterdir()):
        if not force:
            raise OutputExistsError(
                f"'{out}' is not empty; pass --force to replace the earlier demo"
            )
        shutil.rmtree(out)


def demo(
    out: str | Path = "demo-out",
    epochs: int | str | None = None,
    quick: bool = False,
    force: bool = False,
    on_stage: Callable[[int, int, str, str], None] | None = None,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Train resnet8 on shapes, convert, quantize, evaluate every file, benchmark, run a stream.

    Args:
        out: The folder every file goes into (refused when not empty, unless ``force``).
        epochs: Training epochs (default ``TrainConfig``'s; ``quick`` sets its own).
        quick: A short training run on few images and short measurements.
        force: Replace an earlier demo in ``out``.
        on_stage: Called before each stage with its number, the total, title and command
            (and once at the end: "done").
        on_result: Called with each call's result (the CLI prints it); the demo stops at the
            first failed quality gate.

    Returns:
        Every call's result, in order.
    """
    out = Path(out)
    clear(out, force)
    plan = stages(out, epochs, quick)
    results: list[Result] = []
    for n, stage in enumerate(plan, 1):
        if on_stage is not None:
            on_stage(n, len(plan) + 1, stage.title, stage.command)
        for call in stage.calls:
            result = call()
            results.append(result)
            if on_result is not None:
                on_result(result)
            if result.failure is not None:
                raise result.failure
    if on_stage is not None:
        on_stage(len(plan) + 1, len(plan) + 1, "done", f"ls {out}")
    return results


def written(out: Path) -> list[tuple[str, float]]:
    """The files in ``out`` (name, size in kB) for the demo's last stage."""
    return [
        (f.name, f.stat().st_size / 1024)
        for f in sorted(Path(out).iterdir())
        if f.is_file() and not f.name.startswith(".")
    ]
