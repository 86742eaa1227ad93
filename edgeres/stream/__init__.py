"""Live inference on frame streams: sources, a threaded capture, the timed pipeline, sinks.

Torch-free (numpy, OpenCV, the standard library), so it runs on a device install.

    from edgeres.runtime import load
    from edgeres.stream import StreamConfig, open_source, run_stream

    with load("model.tflite") as backend:
        summary = run_stream(backend, open_source("demo"), config=StreamConfig(max_frames=100))
    print(summary.to_text())
"""

from edgeres.stream.pipeline import StreamConfig, run_stream, stop_on_signals
from edgeres.stream.sinks import FrameResult, JsonLinesSink, SaveSink, ShowSink, Sink
from edgeres.stream.sources import FrameSource, make_source, open_source
from edgeres.stream.stats import StreamSummary

__all__ = [
    "FrameResult",
    "FrameSource",
    "JsonLinesSink",
    "SaveSink",
    "ShowSink",
    "Sink",
    "StreamConfig",
    "StreamSummary",
    "make_source",
    "open_source",
    "run_stream",
    "stop_on_signals",
]
