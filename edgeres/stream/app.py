"""``edgeres run`` as one function: profile defaults, model, source, sinks, run, summary."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import IO, Any

from edgeres.errors import SEED_MAX, check_number
from edgeres.runtime.options import RuntimeOptions
from edgeres.stream.pipeline import StreamConfig, run_stream
from edgeres.stream.sinks import SEGMENT_SECONDS, JsonLinesSink, SaveSink, ShowSink, Sink
from edgeres.stream.sources import open_source
from edgeres.stream.stats import StreamSummary

FALLBACK_CAMERA = {"source": "demo", "width": 640, "height": 480, "fps": 30.0}


@dataclass(frozen=True)
class RunOptions:
    """Everything ``edgeres run`` takes (``None``: the device profile's value).

    The CLI reads each flag's default and help from here and from ``StreamConfig``.

    Attributes:
        model: Model file (``.onnx``, ``.tflite``, ``.pt``).
        source: Where frames come from (``--source``); by default the profile's camera, or demo
            if it has none.
        width: Capture width (cameras, demo) (``--width``).
        height: Capture height (cameras, demo) (``--height``).
        fps: Capture frame rate (cameras, demo, folders) (``--fps``).
        show: Show a window with label, score and FPS (``--show``).
        save: Write the annotated video (``--save``).
        force: Replace an existing ``--save`` file (``--force``).
        json_lines: One JSON object per frame on stdout (``--json``).
        serve: Serve a web page with the annotated stream (``--serve``); PORT alone binds
            127.0.0.1.
        serve_token: Viewer key the page asks for, needed to serve beyond localhost
            (``--serve-token``); ``auto`` makes a random one. Viewers open the printed address
            (it ends in ``?token=KEY``).
        serve_public: Serve beyond localhost without a viewer key (``--serve-public``).
        seed: Seed of the demo scene (``--seed``).
        segment_seconds: ``--save`` records in segments of this many seconds, joined into the
            one file at the end; a killed run or a power cut keeps the finished ones in
            ``OUT.mp4.parts/`` (``--segment-seconds``).
        config: Pipeline options (top-k, smoothing, bounds, realtime).
        runtime: Profile (also the camera's defaults), engine, threads, strict.
    """

    model: str | Path
    source: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    show: bool = False
    save: str | Path | None = None
    force: bool = False
    json_lines: bool = False
    serve: str | None = None
    serve_token: str | None = None
    serve_public: bool = False
    seed: int = 0
    segment_seconds: float = SEGMENT_SECONDS
    config: StreamConfig = StreamConfig()
    runtime: RuntimeOptions = RuntimeOptions()

    def __post_init__(self) -> None:
        for name, value in (("width", self.width), ("height", self.height)):
            check_number(value, name, 1)
        check_number(self.fps, "fps", 0, above=True, maximum=1000)
        check_number(self.seed, "seed", 0, maximum=SEED_MAX)
        check_number(self.segment_seconds, "segment_seconds", 0, above=True)
        if self.serve:  # before the model loads: a refused --serve should not wait for it
            from edgeres.stream.serve import parse_host_port
            from edgeres.stream.serve_guard import check_exposure, make_token

            host, port = parse_host_port(self.serve)
            check_exposure(host, port, make_token(self.serve_token), self.serve_public)

    @classmethod
    def from_flags(cls, **flags: Any) -> RunOptions:
        """Options from the flat ``edgeres run`` flags; ``StreamConfig``'s go into ``config``,
        ``RuntimeOptions``' into ``runtime``."""
        parts = {}
        for name, part in (("config", StreamConfig), ("runtime", RuntimeOptions)):
            names = {f.name for f in fields(part)}
            parts[name] = part(**{k: flags.pop(k) for k in list(flags) if k in names})
        return cls(**parts, **flags)


def camera_defaults(profile: Any, source: str | None) -> tuple[dict[str, Any], str]:
    """The profile's camera (source, width, height, fps) and a note when a fallback was used.

    With no ``--source``, a profile camera index that does not exist on this machine falls back to
    the ``demo`` source (with a note) so ``edgeres run MODEL`` works on a machine without a camera.
    """
    if profile is None:
        return dict(FALLBACK_CAMERA), ""
    cam = profile.camera
    defaults = {"source": cam.source, "width": cam.width, "height": cam.height, "fps": cam.fps}
    note = ""
    if source is None and cam.source.isdigit() and sys.platform.startswith("linux"):
        if not Path(f"/dev/video{cam.source}").exists():
            defaults["source"] = "demo"
            note = (
                f"no camera at /dev/video{cam.source} (the profile's camera); using the demo "
                "source, pass --source to choose another"
            )
    return defaults, note


def _load_profile(name: str | None) -> Any:
    from edgeres.profiles import load_profile

    return load_profile(name)


def build_sinks(opts: RunOptions, source_name: str, json_stream: IO[str] | None) -> list[Sink]:
    """The sinks the options ask for; on an error the ones already made are closed."""
    from edgeres.stream.serve import ServeSink

    sinks: list[Sink] = []
    try:
        if opts.save:
            sinks.append(
                SaveSink(opts.save, force=opts.force, segment_seconds=opts.segment_seconds)
            )
        if opts.show:
            sinks.append(ShowSink())
        if opts.serve:
            sinks.append(
                ServeSink(
                    opts.serve, source=source_name, token=opts.serve_token,
                    public=opts.serve_public,
                )
            )  # fmt: skip
        if opts.json_lines:
            sinks.append(JsonLinesSink(json_stream))
    except BaseException:
        for s in sinks:
            s.close(ok=False)
        raise
    return sinks


def run_model(
    opts: RunOptions,
    stop: threading.Event | None = None,
    json_stream: IO[str] | None = None,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
) -> StreamSummary:
    """Load the model, open the source and sinks, and run until the end, a bound or ``stop``.

    Args:
        opts: What to run.
        stop: Set it (a signal handler does) to end the run cleanly.
        json_stream: Where ``--json`` lines go (stdout when ``None``).
        on_ready: Called once everything is open, with facts worth telling the user (source,
            size, model, web page URL, fallback note).

    Returns:
        The run's summary.
    """
    from edgeres.runtime import load

    profile = _load_profile(opts.runtime.profile)
    defaults, note = camera_defaults(profile, opts.source)
    spec = opts.source if opts.source is not None else defaults["source"]
    width = opts.width or defaults["width"]
    height = opts.height or defaults["height"]
    fps = opts.fps or defaults["fps"]
    options = {**opts.runtime.load_options(), "profile": profile}
    backend = load(opts.model, **options)
    try:
        source = open_source(spec, width, height, fps, seed=opts.seed)
        try:
            sinks = build_sinks(opts, source.name, json_stream)
        except BaseException:
            source.close()
            raise
        if on_ready is not None:
            urls = [s.url for s in sinks if hasattr(s, "url")]
            on_ready({"source": source.name, "kind": source.kind, "fps": source.fps,
                      "size": f"{width}x{height}", "model": str(opts.model), "urls": urls,
                      "note": note})  # fmt: skip
        return run_stream(backend, source, sinks, opts.config, stop)
    finally:
        backend.close()
