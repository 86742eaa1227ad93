"""``edgeres run``: a model on a live camera, a video, a folder or the demo scene."""

from __future__ import annotations

import threading
from typing import Any

import click

from edgeres.cli.common import log


@click.command("run")
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--source",
    default=None,
    metavar="SRC",
    help="0 (camera index), FILE, URL, gst:PIPELINE, picamera, demo or an image folder "
    "[default: the profile's camera; demo if it has none]",
)
@click.option(
    "--profile",
    default=None,
    metavar="P",
    help="Device profile (name or YAML) [default: this machine].",
)
@click.option("--show", is_flag=True, help="Show a window with label, score and FPS.")
@click.option("--save", default=None, metavar="OUT.mp4", help="Write the annotated video.")
@click.option("--force", is_flag=True, help="Replace an existing --save file.")
@click.option("--json", "json_lines", is_flag=True, help="One JSON object per frame on stdout.")
@click.option(
    "--serve",
    default=None,
    metavar="HOST:PORT",
    help="Serve a web page with the annotated stream (PORT alone binds 127.0.0.1).",
)
@click.option("--max-frames", type=int, default=None, metavar="N", help="Stop after N frames.")
@click.option("--duration", type=float, default=None, metavar="S", help="Stop after S seconds.")
@click.option(
    "--realtime", is_flag=True, help="Pace a file/folder at its frame rate (newest frame wins)."
)
@click.option("--topk", type=int, default=5, show_default=True, help="Classes per frame.")
@click.option(
    "--smooth",
    type=float,
    default=0.0,
    show_default=True,
    help="Temporal smoothing of scores (EMA weight of the past, 0 = off, e.g. 0.8).",
)
@click.option("--threads", type=int, default=None, help="Engine threads [default: the profile's].")
@click.option("--width", type=int, default=None, help="Capture width (cameras, demo).")
@click.option("--height", type=int, default=None, help="Capture height (cameras, demo).")
@click.option(
    "--fps", type=float, default=None, help="Capture frame rate (cameras, demo, folders)."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the demo scene.")
def run_cmd(model: str, json_lines: bool, max_frames: int | None, duration: float | None,
            realtime: bool, topk: int, smooth: float, **kw: Any) -> None:  # fmt: skip
    """Classify frames from a camera, video, stream, folder or the demo scene, as fast as the model allows.

    Prints a summary on exit (sustained FPS, per-stage mean/p90 ms, dropped frames). A file ends
    the run at its end; a live source runs until Ctrl-C, --max-frames or --duration.

    \b
    Example:
      edgeres run runs/r8/model_int8.tflite --source demo --max-frames 300
      edgeres run model.onnx --source clip.mp4 --save out.mp4 --json > frames.jsonl
      edgeres run model.tflite --source 0 --serve 0.0.0.0:8080 --smooth 0.8
      edgeres run model.tflite --profile jetson-orin-nano --show
    """
    import cv2

    from edgeres.stream.app import RunOptions, run_model
    from edgeres.stream.pipeline import StreamConfig, stop_on_signals

    config = StreamConfig(topk=topk, smooth=smooth, max_frames=max_frames, duration=duration,
                          realtime=realtime)  # fmt: skip
    opts = RunOptions(model=model, json_lines=json_lines, config=config, **kw)
    # OpenCV's own warnings ("can't capture by name") would bury our one-line errors.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    with stop_on_signals(threading.Event()) as stop:
        summary = run_model(opts, stop, on_ready=_announce)
    log(summary.to_text())


def _announce(facts: dict[str, Any]) -> None:
    if facts["note"]:
        log(facts["note"])
    log(f"running {facts['model']} on {facts['kind']} '{facts['source']}' "
        f"({facts['fps']:.0f} fps); Ctrl-C to stop")  # fmt: skip
    for url in facts["urls"]:
        log(f"web page: {url}")


COMMANDS = [run_cmd]
