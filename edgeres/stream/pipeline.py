"""capture -> preprocess -> infer -> top-k (-> smoothing) -> sinks, each stage timed.

Three threads overlap the work: the capture thread decodes and resizes the next frame while the
calling thread normalises and runs the model on this one, and a sink thread draws, encodes and
writes the previous result. (Resizing sits with decoding because it balances the two threads:
for small models, preprocessing costs as much as the network.) Hand-overs are bounded, so memory does not grow with the length of a run.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from edgeres.errors import ParamError, UsageError, check_number
from edgeres.runtime.base import DEFAULT_TOPK, Backend, softmax, topk_predictions
from edgeres.stream.capture import END, CaptureThread, Frame, FrameBuffer
from edgeres.stream.overlay import annotate
from edgeres.stream.sinks import FrameResult, Sink
from edgeres.stream.sources import FrameSource
from edgeres.stream.stats import StreamStats, StreamSummary


@dataclass(frozen=True)
class StreamConfig:
    """How a run behaves; the CLI reads each flag's default and help from here.

    Attributes:
        topk: Classes reported per frame (``--topk``).
        smooth: Temporal smoothing of the class probabilities, the weight of the past in an
            exponential moving average (``--smooth``): 0 is off, 0.8 gives steady labels on a
            live camera.
        max_frames: Stop after N frames (``--max-frames``).
        duration: Stop after S seconds (``--duration``).
        realtime: Pace a file or folder at its frame rate, the newest frame winning
            (``--realtime``).
        queue_size: Frames buffered between threads for files and for the sinks.
        reconnect_timeout: Seconds a lost live source may take to come back (``None``: forever).
    """

    topk: int = DEFAULT_TOPK
    smooth: float = 0.0
    max_frames: int | None = None
    duration: float | None = None
    realtime: bool = False
    queue_size: int = 4
    reconnect_timeout: float | None = None

    def __post_init__(self) -> None:
        if self.topk < 1:
            raise ParamError("topk", f"must be at least 1, got {self.topk}")
        check_number(self.smooth, "smooth", 0)
        if not 0.0 <= self.smooth < 1.0:
            raise ParamError("smooth", f"must be in [0, 1) (0 = off), got {self.smooth}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ParamError("max_frames", f"must be at least 1, got {self.max_frames}")
        check_number(self.duration, "duration", 0, above=True)
        check_number(self.reconnect_timeout, "reconnect timeout", 0)
        if self.queue_size < 1:
            raise UsageError(f"queue size must be at least 1, got {self.queue_size}")


class SinkThread(threading.Thread):
    """Draws the overlay once per result and hands it to every sink, off the inference thread."""

    def __init__(self, sinks: Sequence[Sink], stats: StreamStats, queue_size: int) -> None:
        super().__init__(name="edgeres-sinks", daemon=True)
        self.sinks = list(sinks)
        self.stats = stats
        self.buffer = FrameBuffer(queue_size, newest_wins=False)
        self.stop_event = threading.Event()
        self.error: BaseException | None = None
        self._overlay = any(s.wants_overlay for s in self.sinks)
        self.cpu_ns = 0

    @property
    def stop_requested(self) -> bool:
        return self.error is not None or any(s.stop_requested for s in self.sinks)

    def run(self) -> None:
        try:
            while True:
                item = self.buffer.get(0.1)
                if item is END or self.stop_event.is_set():  # set: failing, skip what is queued
                    return
                if item is not None:
                    self._write(item)
        except BaseException as e:  # re-raised by the pipeline in the caller's thread
            self.error = e
            self.stop_event.set()
        finally:
            self.cpu_ns = time.thread_time_ns()

    def _write(self, result: FrameResult) -> None:
        t0 = time.perf_counter_ns()
        if self._overlay:
            p = result.prediction
            extra = f"{p.labels[1]} {p.scores[1] * 100:.1f}%" if len(p.labels) > 1 else ""
            result.annotated = annotate(result.image, p.labels[0], p.scores[0], result.fps, extra)
        for sink in self.sinks:
            sink.write(result)
        self.stats.add("sink", time.perf_counter_ns() - t0)

    def finish(self, ok: bool) -> None:
        """Write what is queued (unless failing), stop, and close every sink."""
        if not ok:
            self.stop_event.set()
        self.buffer.close()
        if self.is_alive():
            self.join()
        errors = []
        for sink in self.sinks:
            try:
                sink.close(ok=ok and self.error is None)
            except Exception as e:  # close the others anyway; report the first
                errors.append(e)
        if errors and ok and self.error is None:
            raise errors[0]


class Smoother:
    """Exponential moving average of class probabilities (``--smooth``)."""

    def __init__(self, weight: float) -> None:
        self.weight = weight
        self.state: np.ndarray | None = None

    def __call__(self, logits: np.ndarray) -> np.ndarray:
        if not self.weight:
            return logits
        probs = softmax(logits.astype(np.float32))
        if self.state is None or self.state.shape != probs.shape:
            self.state = probs
        else:
            self.state = self.weight * self.state + (1.0 - self.weight) * probs
        # topk_predictions applies softmax; softmax(log p) == p for a distribution p.
        return np.log(np.maximum(self.state, 1e-12))


def _process(
    backend: Backend, frame: Frame, config: StreamConfig, smoother: Smoother, stats: StreamStats
) -> FrameResult:
    """Preprocess, infer and post-process one frame, timing each stage.

    The capture thread already resized the frame (``InputSpec.resize_image``); what is left of
    ``InputSpec.preprocess`` is ``normalize`` on the one-frame batch.
    """
    t0 = time.perf_counter_ns()
    if frame.prepared is None:
        batch = backend.spec.preprocess(frame.image)
    else:
        batch = backend.spec.normalize(frame.prepared[None])
    t1 = time.perf_counter_ns()
    logits = backend.infer(batch)
    t2 = time.perf_counter_ns()
    pred = topk_predictions(smoother(np.asarray(logits)), backend.info.classes, config.topk)[0]
    t3 = time.perf_counter_ns()
    stages = {
        "capture": frame.capture_ns,
        "preprocess": frame.prepare_ns + t1 - t0,
        "infer": t2 - t1,
        "postprocess": t3 - t2,
        "e2e": t3 - frame.t_ns,
    }
    for name, ns in stages.items():
        stats.add(name, ns)
    stats.result(t3, pred.labels[0], pred.scores[0])
    return FrameResult(
        frame=stats.frames - 1,
        source_frame=frame.index,
        timestamp=frame.timestamp,
        image=frame.image,
        prediction=pred,
        latency_ms={k: v / 1e6 for k, v in stages.items()},
        fps=stats.rate.rate,
    )


def run_stream(
    backend: Backend,
    source: FrameSource,
    sinks: Sequence[Sink] = (),
    config: StreamConfig | None = None,
    stop: threading.Event | None = None,
) -> StreamSummary:
    """Run ``backend`` on every frame of ``source`` (the newest, for live sources) until done.

    The run ends at the end of a file or folder, after ``max_frames`` or ``duration``, when
    ``stop`` is set (Ctrl-C, SIGTERM: see ``stop_on_signals``) or when a sink asks (window
    closed). Every thread is stopped and every sink and the source closed on the way out,
    whatever ended the run.

    Args:
        backend: A loaded model (``edgeres.runtime.load``).
        source: An opened source (``open_source``); closed when the run ends.
        sinks: Where results go.
        config: Run options.
        stop: Set from another thread or a signal handler to end the run cleanly.

    Returns:
        The run's summary (frames, sustained FPS, per-stage mean/p90, drops, reconnects).
    """
    config = config or StreamConfig()
    stats = StreamStats()
    capture = _capture_thread(backend, source, config)
    sink_thread = SinkThread(sinks, stats, config.queue_size)
    ok = False
    try:
        for sink in sinks:
            sink.start(stats, source.fps)
        capture.start()
        sink_thread.start()
        cpu0 = time.thread_time_ns()
        stopped_by = _loop(backend, capture, sink_thread, config, stats, stop or threading.Event())
        infer_cpu_ns = time.thread_time_ns() - cpu0
        ok = True
    finally:
        _shut_down(capture, sink_thread, source, ok)
    for err in (capture.error, sink_thread.error):
        if err is not None:
            raise err
    return _summary(stats, capture, sink_thread, stopped_by, infer_cpu_ns)


def _capture_thread(backend: Backend, source: FrameSource, config: StreamConfig) -> CaptureThread:
    """The capture thread for ``source``; it also resizes each frame to the model's input."""
    return CaptureThread(
        source,
        realtime=config.realtime,
        queue_size=config.queue_size,
        reconnect_timeout=config.reconnect_timeout,
        prepare=backend.spec.resize_image,
    )


def _shut_down(
    capture: CaptureThread, sink_thread: SinkThread, source: FrameSource, ok: bool
) -> None:
    """Stop the capture, finish the sinks, and close the source unless a read still holds it."""
    capture.stop()
    try:
        sink_thread.finish(ok)
    finally:
        # A read stuck in a driver keeps its handle; never close the source under it.
        if not capture.is_alive():
            source.close()


def _summary(
    stats: StreamStats,
    capture: CaptureThread,
    sink_thread: SinkThread,
    stopped_by: str,
    infer_cpu_ns: int,
) -> StreamSummary:
    fps, seconds = stats.sustained_fps()
    return StreamSummary(
        frames=stats.frames,
        seconds=seconds,
        fps=fps,
        stages=stats.stage_summaries(),
        dropped=capture.dropped,
        reconnects=capture.reconnects,
        gap_seconds=capture.gap_seconds,
        stopped_by=stopped_by,
        source=capture.source.name,
        thread_cpu_ms=_per_frame(
            stats.frames,
            capture=capture.cpu_ns,
            inference=infer_cpu_ns,
            sinks=sink_thread.cpu_ns if sink_thread.sinks else 0,
        ),
    )


def _per_frame(frames: int, **cpu_ns: int) -> dict[str, float]:
    """CPU milliseconds per frame of each thread: the busiest one limits the frame rate."""
    return {k: v / 1e6 / frames for k, v in cpu_ns.items() if v and frames}


def _loop(
    backend: Backend,
    capture: CaptureThread,
    sink_thread: SinkThread,
    config: StreamConfig,
    stats: StreamStats,
    stop: threading.Event,
) -> str:
    """The inference loop; returns why it stopped."""
    smoother = Smoother(config.smooth)
    deadline = time.monotonic() + config.duration if config.duration else None
    while True:
        if stop.is_set():
            return "signal"
        if sink_thread.stop_requested:
            return "error" if sink_thread.error else "sink"
        if deadline is not None and time.monotonic() >= deadline:
            return "duration"
        frame = capture.buffer.get(0.1)
        if frame is None:
            continue
        if frame is END:
            return "error" if capture.error else "end"
        result = _process(backend, frame, config, smoother, stats)
        if sink_thread.sinks:
            sink_thread.buffer.put(result, sink_thread.stop_event)
        if config.max_frames is not None and stats.frames >= config.max_frames:
            return "max-frames"


@contextlib.contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[threading.Event]:
    """While inside, SIGINT (Ctrl-C) and SIGTERM set ``stop`` instead of killing the process.

    A second Ctrl-C raises ``KeyboardInterrupt`` as usual, for a run that does not stop. Only the
    main thread can install handlers; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, h in old.items():
            signal.signal(s, h)
