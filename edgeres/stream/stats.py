"""Fixed-size statistics for long runs: memory stays flat however many frames go by.

Each stage keeps an exact running count/sum (for the mean) and a fixed-size reservoir sample
(for the p90), so a run of hours holds the same few kilobytes as a run of seconds.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

# Order in which stages are reported; a stage that never ran is left out.
STAGES = ("capture", "preprocess", "infer", "postprocess", "sink", "e2e")


class Reservoir:
    """Mean over all values and percentiles over a uniform fixed-size sample of them."""

    def __init__(self, size: int = 2048, seed: int = 0) -> None:
        self._buf = np.zeros(size, dtype=np.float64)
        self._rng = random.Random(seed)
        self.count = 0
        self.total = 0.0

    def add(self, value: float) -> None:
        n = self.count
        self.count += 1
        self.total += value
        if n < len(self._buf):
            self._buf[n] = value
        else:
            # Algorithm R: keep each of the n+1 values seen with equal probability.
            j = self._rng.randrange(n + 1)
            if j < len(self._buf):
                self._buf[j] = value

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else float("nan")

    def percentile(self, q: float) -> float:
        kept = min(self.count, len(self._buf))
        if not kept:
            return float("nan")
        return float(np.percentile(self._buf[:kept], q))


class RateMeter:
    """Frames per second over the last ``window`` frames (what the overlay shows)."""

    def __init__(self, window: int = 30) -> None:
        self._times: deque[int] = deque(maxlen=window)

    def tick(self, t_ns: int | None = None) -> float:
        self._times.append(time.perf_counter_ns() if t_ns is None else t_ns)
        return self.rate

    @property
    def rate(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = (self._times[-1] - self._times[0]) / 1e9
        return (len(self._times) - 1) / span if span > 0 else 0.0


@dataclass
class StageSummary:
    """Mean and p90 of one stage, in milliseconds."""

    mean_ms: float
    p90_ms: float
    count: int

    def to_dict(self) -> dict:
        return {"mean_ms": round(self.mean_ms, 3), "p90_ms": round(self.p90_ms, 3), "n": self.count}


@dataclass
class StreamSummary:
    """What a run did: frames, sustained rate, per-stage timing, drops and gaps.

    Attributes:
        frames: Frames that got a result.
        seconds: Wall time from the first result to the last.
        fps: Sustained results per second (``frames - 1`` intervals over ``seconds``).
        stages: Per-stage timing (``capture``, ``preprocess``, ``infer``, ``postprocess``,
            ``sink``, ``e2e`` = capture to result).
        dropped: Frames the capture thread replaced before inference took them (live sources).
        reconnects: Times a live source was reopened after it failed.
        gap_seconds: Total time spent without a source while reconnecting.
        stopped_by: Why the run ended: ``"end"`` (end of file), ``"max-frames"``, ``"duration"``,
            ``"signal"``, ``"sink"`` (a window was closed) or ``"error"``.
        source: The source as given.
        thread_cpu_ms: CPU milliseconds per frame used by each thread (``capture``,
            ``inference``, ``sinks``); the busiest thread is what limits the frame rate when the
            cores are free, whatever other programs did to the wall-clock figures.
    """

    frames: int
    seconds: float
    fps: float
    stages: dict[str, StageSummary]
    dropped: int
    reconnects: int
    gap_seconds: float
    stopped_by: str
    source: str
    thread_cpu_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "frames": self.frames,
            "seconds": round(self.seconds, 3),
            "fps": round(self.fps, 2),
            "stages": {k: v.to_dict() for k, v in self.stages.items()},
            "dropped": self.dropped,
            "reconnects": self.reconnects,
            "gap_seconds": round(self.gap_seconds, 3),
            "stopped_by": self.stopped_by,
            "source": self.source,
            "thread_cpu_ms": {k: round(v, 3) for k, v in self.thread_cpu_ms.items()},
        }

    def to_text(self) -> str:
        """A short human summary (what the CLI prints on exit)."""
        lines = [
            f"{self.frames} frames in {self.seconds:.2f} s = {self.fps:.1f} FPS "
            f"(source {self.source}, stopped by {self.stopped_by})",
            f"dropped {self.dropped} frames, {self.reconnects} reconnects "
            f"({self.gap_seconds:.2f} s without a source)",
            "| stage | mean ms | p90 ms |",
            "| --- | ---: | ---: |",
        ]
        for name, s in self.stages.items():
            lines.append(f"| {name} | {s.mean_ms:.3f} | {s.p90_ms:.3f} |")
        if self.thread_cpu_ms:
            busiest = max(self.thread_cpu_ms, key=self.thread_cpu_ms.__getitem__)
            cpu = ", ".join(f"{k} {v:.3f}" for k, v in self.thread_cpu_ms.items())
            lines.append(f"CPU ms per frame by thread: {cpu} (busiest: {busiest})")
        return "\n".join(lines)


class StreamStats:
    """Thread-safe collector the pipeline feeds; ``summary()`` and ``live()`` read it."""

    def __init__(self, reservoir: int = 2048) -> None:
        self._lock = threading.Lock()
        self._stages = {name: Reservoir(reservoir, seed=i) for i, name in enumerate(STAGES)}
        self.frames = 0
        self.first_ns: int | None = None
        self.last_ns: int | None = None
        self.rate = RateMeter()
        self.last_labels: tuple[str, float] | None = None

    def add(self, stage: str, ns: int) -> None:
        with self._lock:
            self._stages[stage].add(ns / 1e6)

    def result(self, t_ns: int, label: str, score: float) -> None:
        """Record that one frame got its result at ``t_ns``."""
        with self._lock:
            self.frames += 1
            if self.first_ns is None:
                self.first_ns = t_ns
            self.last_ns = t_ns
            self.rate.tick(t_ns)
            self.last_labels = (label, score)

    def sustained_fps(self) -> tuple[float, float]:
        """``(fps, seconds)`` from the first result to the last."""
        if self.frames < 2 or self.first_ns is None or self.last_ns is None:
            return 0.0, 0.0
        seconds = (self.last_ns - self.first_ns) / 1e9
        return ((self.frames - 1) / seconds if seconds > 0 else 0.0), seconds

    def stage_summaries(self) -> dict[str, StageSummary]:
        with self._lock:
            return {
                name: StageSummary(r.mean, r.percentile(90), r.count)
                for name, r in self._stages.items()
                if r.count
            }

    def live(self) -> dict:
        """A small JSON-ready snapshot for the web page."""
        fps, seconds = self.sustained_fps()
        label, score = self.last_labels or ("", 0.0)
        return {
            "frames": self.frames,
            "fps_now": round(self.rate.rate, 2),
            "fps": round(fps, 2),
            "seconds": round(seconds, 2),
            "label": label,
            "score": round(score, 4),
            "stages": {k: v.to_dict() for k, v in self.stage_summaries().items()},
        }
