"""``benchmark``, ``tune`` and ``run``: the device-side commands as Python functions.

Nothing here imports torch: ``tune`` makes a run folder's missing files through ``convert`` and
``quantize`` only when a checkpoint is there, and a device without torch measures what it has.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from edgeres.api.result import Result, build, note
from edgeres.errors import GateFailed


def benchmark(config: Any = None, /, **fields: Any) -> Result:
    """Latency (p50/p90/p99...), memory, size, MACs and accuracy of model files.

    Args:
        config: A ``BenchConfig``, or the model files with its fields as keywords:
            ``benchmark(("a.onnx", "b.tflite"), quick=True, md="bench.md")``.

    Returns:
        ``failure``: outputs that could not be written (the figures are complete), else a
        ``GateFailed`` for a regression against ``baseline``.
    """
    from edgeres.bench import report as rep
    from edgeres.bench.config import BenchConfig
    from edgeres.bench.session import benchmark as measure

    run = measure(build(BenchConfig, config, **fields))
    notes = [f"warning: {n}" for n in run.report.notes] + [f"wrote {p}" for p in run.written]
    notes += run.comparison_lines()
    failure = run.write_error()
    if failure is None and not run.passed:
        failure = GateFailed(run.gate_message())
    return Result(run, run.report.to_dict(), [rep.to_text(run.report)], notes, failure)


def tune(config: Any = None, /, command: str = "", **fields: Any) -> Result:
    """Find the fastest file x engine x threads here, and whether INT8 pays on this machine.

    A checkpoint in a target folder first gets its missing FP32 and INT8 files made.

    Args:
        config: A ``TuneConfig``, or the run folders / files with its fields as keywords:
            ``tune(("runs/r8",), data="shapes", save="my-device.yaml")``.
        command: The command line quoted in the Markdown table.
    """
    from edgeres.tune import report as tune_report
    from edgeres.tune.sweep import TuneConfig, collect_files, estimate_seconds, plan
    from edgeres.tune.sweep import tune as sweep

    cfg = build(TuneConfig, config, **fields)
    files, checkpoints = collect_files(cfg.targets)
    made, notes = make_missing(checkpoints, files, cfg)
    files = list(dict.fromkeys([*files, *made]))
    rows, _ = plan(files, cfg)
    seconds = estimate_seconds(rows, cfg.budget(), cfg.data)
    note(f"tune: {len(rows)} rows to measure, about {seconds:.0f} s here")
    result = sweep(cfg, files, notes)
    log = [f"note: {n}" for n in result.notes]
    log += [f"wrote {p}" for p in tune_report.write_outputs(result, cfg, command)]
    return Result(result, tune_report.to_dict(result), [tune_report.to_text(result)], log)


def make_missing(
    checkpoints: list[Path], files: list[Path], config: Any
) -> tuple[list[Path], list[str]]:
    """Convert and quantize each checkpoint into the formats its folder lacks; new files + notes."""
    from edgeres.formats import export_formats, output_name

    made, notes = [], []
    for ckpt in checkpoints:
        want = {
            (fmt, int8): output_name(ckpt, fmt, int8=int8)
            for fmt in export_formats()
            for int8 in (False, True)
        }
        missing = {k: p for k, p in want.items() if not p.exists() and p not in files}
        if not missing:
            continue
        try:
            made += _export(ckpt, missing, config)
        except ImportError as e:  # a device install has no torch: measure what is there
            notes.append(f"{ckpt.name}: cannot make {len(missing)} missing file(s) here ({e})")
    return made, notes


def _export(ckpt: Path, missing: dict, config: Any) -> list[Path]:
    from edgeres.api.workstation import convert, quantize

    fp32 = tuple(fmt for fmt, int8 in missing if not int8)
    int8 = tuple(fmt for fmt, is_int8 in missing if is_int8)
    made = []
    if fp32:
        note(f"tune: making {', '.join(fp32)} from {ckpt}")
        made += convert(ckpt, to=fp32, quiet=config.quiet).outputs.values()
    if int8:
        note(f"tune: quantizing {ckpt} to {', '.join(int8)}")
        made += quantize(ckpt, calib=config.calib, to=int8, quiet=config.quiet).outputs.values()
    return list(made)


def run(
    config: Any = None,
    /,
    stop: threading.Event | None = None,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
    json_stream: IO[str] | None = None,
    **fields: Any,
) -> Result:
    """Classify frames from a camera, video, stream, folder or the demo scene.

    Args:
        config: A ``RunOptions``, or the model file with its fields as keywords (the stream's
            and the runtime's too): ``run("m.tflite", source="demo", max_frames=300)``.
        stop: Set it to end the run cleanly (the CLI sets it on Ctrl-C and SIGTERM).
        on_ready: Called once everything is open (source, size, web page URL, fallback note).
        json_stream: Where ``json_lines`` frames go (stdout when ``None``).

    Returns:
        ``to_dict()`` is the run's summary (frames, FPS, per-stage timing, drops).
    """
    from edgeres.stream.app import RunOptions, run_model

    opts = build(RunOptions, config, **fields)
    import cv2

    # OpenCV's own warnings ("can't capture by name") would bury our one-line errors.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    summary = run_model(opts, stop, json_stream=json_stream, on_ready=on_ready)
    return Result(summary, summary.to_dict(), [], [summary.to_text()])
