"""``edgeres run``: a model on a live camera, a video, a folder or the demo scene.

Its options are the fields of ``RunOptions``, ``StreamConfig`` and ``RuntimeOptions``, each
default and help read from there.
"""

from __future__ import annotations

import threading
from typing import Any

import click

from edgeres.cli.common import log, max_image_pixels_option, runtime_options
from edgeres.cli.fields import field_help, field_option
from edgeres.cli.remote_opts import on_device, pop_remote, remote_options
from edgeres.stream.app import RunOptions
from edgeres.stream.pipeline import StreamConfig, stop_on_signals
from edgeres.stream.sources import SOURCE_HELP


def _run_opt(name: str, *decls: str, **attrs):
    return field_option(RunOptions, name, *decls, **attrs)


def _stream_opt(name: str, *decls: str, **attrs):
    return field_option(StreamConfig, name, *decls, **attrs)


@click.command("run")
@max_image_pixels_option
@click.argument("model", type=click.Path(dir_okay=False))
@_run_opt("source", metavar="SRC", help=f"{SOURCE_HELP}. {field_help(RunOptions, 'source')}")
@_run_opt("show")
@_run_opt("save", metavar="OUT.mp4")
@_run_opt("force")
@_run_opt("segment_seconds", metavar="S")
@_run_opt("json_lines", "--json")
@_run_opt("serve", metavar="HOST:PORT")
@_run_opt("serve_token", metavar="KEY")
@_run_opt("serve_public")
@_stream_opt("max_frames", metavar="N")
@_stream_opt("duration", metavar="S")
@_stream_opt("realtime")
@_stream_opt("topk")
@_stream_opt("smooth")
@runtime_options
@_run_opt("width")
@_run_opt("height")
@_run_opt("fps")
@_run_opt("seed")
@remote_options
@click.pass_context
def run_cmd(ctx: click.Context, **flags: Any) -> None:
    """Classify frames from a camera, video, stream, folder or the demo scene, as fast as the model allows.

    Prints a summary on exit (sustained FPS, per-stage mean/p90 ms, dropped frames). A file ends
    the run at its end; a live source runs until Ctrl-C, --max-frames or --duration.

    \b
    Example:
      edgeres run runs/r8/model_int8.tflite --source demo --max-frames 300
      edgeres run model.onnx --source clip.mp4 --save out.mp4 --json > frames.jsonl
      edgeres run model.tflite --source 0 --serve 0.0.0.0:8080 --serve-token auto --smooth 0.8
      edgeres run model.tflite --profile jetson-orin-nano --show
      edgeres run model_int8.tflite --remote pi@pi5.local --source 0 --json > frames.jsonl
      edgeres run model_int8.tflite --remote pi@pi5.local --serve 8080 --serve-token auto

    \b
    With --remote the device runs it: its frames (--json) and log come back as they happen,
    Ctrl-C here stops it there, --serve PORT is forwarded over SSH to 127.0.0.1:PORT here,
    --save is recorded there and copied back, a local --source file is copied over first.
    --duration and --max-frames bound it, not --remote-timeout.
    """
    remote = pop_remote(flags)
    opts = RunOptions.from_flags(**flags)  # every check that needs no device, before connecting
    if remote is not None:
        return on_device(ctx, remote, opts, False)
    from edgeres.api import run

    with stop_on_signals(threading.Event()) as stop:
        result = run(opts, stop=stop, on_ready=_announce)
    for line in result.notes:
        log(line)


def run_on_device(remote: Any, opts: RunOptions, words: list[str], as_json: bool) -> None:
    """``run``'s device side (its row of the command table): frames and log come back live."""
    from pathlib import Path

    from edgeres.remote.live import LiveRun, remote_run

    job = LiveRun(
        model=Path(opts.model),
        flags=tuple(words),
        source=opts.source,
        profile=opts.runtime.profile,
        save=Path(opts.save) if opts.save else None,
        force=opts.force,
        serve=opts.serve,
    )
    with stop_on_signals(threading.Event()) as stop:
        remote_run(remote, job, stop)


def _announce(facts: dict[str, Any]) -> None:
    if facts["note"]:
        log(facts["note"])
    log(
        f"running {facts['model']} on {facts['kind']} '{facts['source']}' "
        f"({facts['fps']:.0f} fps); Ctrl-C to stop"
    )
    for url in facts["urls"]:
        log(f"web page: {url}")


COMMANDS = [run_cmd]
