"""The capture thread: decode frames while the model runs on the previous one.

Live sources hand over through a one-frame slot in which the newest frame wins (a frame replaced
before inference took it is counted as dropped), so latency stays one frame however slow the
model is. Files and folders go through a small bounded queue, every frame in order, unless
``realtime`` paces them at their frame rate (then the newest wins too). A live source that fails
is reopened with exponential back-off and the gap is counted; it is never a crash.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgeres.errors import DataError, EdgeresError
from edgeres.stream.sources import FrameSource

END = object()  # what FrameBuffer.get returns once the producer is done and the buffer is empty


@dataclass
class Frame:
    """One captured frame.

    Attributes:
        index: Number of the frame in the source (counting frames dropped later).
        image: BGR ``uint8`` ``H x W x 3``.
        timestamp: Media time (files) or Unix time (live sources), seconds.
        t_ns: ``perf_counter_ns`` when the frame was in hand (start of end-to-end latency).
        capture_ns: Time spent in ``source.read``.
        prepared: ``prepare(image)`` when the thread was given a ``prepare`` step, else ``None``.
        prepare_ns: Time spent in ``prepare``.
    """

    index: int
    image: np.ndarray
    timestamp: float
    t_ns: int
    capture_ns: int
    prepared: np.ndarray | None = None
    prepare_ns: int = 0


class FrameBuffer:
    """A bounded hand-over between two threads.

    With ``newest_wins`` a full buffer discards its oldest item to make room (counted in
    ``dropped``); otherwise ``put`` waits for room, so nothing is lost.
    """

    def __init__(self, size: int, newest_wins: bool) -> None:
        self.size = max(1, size)
        self.newest_wins = newest_wins
        self.dropped = 0
        self._items: deque = deque()
        self._cond = threading.Condition()
        self._closed = False

    def put(self, item: object, stop: threading.Event) -> bool:
        """Add ``item``; return ``False`` (item not added) once ``stop`` is set or closed."""
        with self._cond:
            if self.newest_wins:
                while len(self._items) >= self.size:
                    self._items.popleft()
                    self.dropped += 1
            else:
                while len(self._items) >= self.size and not (self._closed or stop.is_set()):
                    self._cond.wait(0.05)
                if self._closed or stop.is_set():
                    return False
            self._items.append(item)
            self._cond.notify_all()
            return True

    def get(self, timeout: float) -> object:
        """The oldest item, ``None`` after ``timeout`` seconds, or ``END`` when closed and empty."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._items:
                item = self._items.popleft()
                self._cond.notify_all()
                return item
            return END if self._closed else None

    def close(self) -> None:
        """No more items will come; waiting ``get`` and ``put`` calls return."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class CaptureThread(threading.Thread):
    """Reads ``source`` into a ``FrameBuffer`` until the end, ``stop`` or an unrecoverable error.

    Args:
        source: An opened source.
        realtime: Pace a file or folder at its frame rate (newest wins) instead of every frame.
        queue_size: Frames buffered ahead for files and folders.
        reconnect_timeout: Seconds a live source may stay lost before the run fails
            (``None``: keep trying until stopped).
        backoff: ``(first, max)`` seconds between reopen attempts; each failure doubles the wait.
        prepare: Work done on each frame in this thread, before the hand-over (the pipeline
            resizes here so decoding + resizing overlap with normalising + inference).
    """

    def __init__(
        self,
        source: FrameSource,
        *,
        realtime: bool = False,
        queue_size: int = 4,
        reconnect_timeout: float | None = None,
        backoff: tuple[float, float] = (0.1, 2.0),
        prepare: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        super().__init__(name="edgeres-capture", daemon=True)
        self.source = source
        newest = source.live or realtime
        self.pace = (realtime and not source.live) or source.paced
        self.buffer = FrameBuffer(1 if newest else queue_size, newest_wins=newest)
        self.stop_event = threading.Event()
        self.reconnect_timeout = reconnect_timeout
        self.backoff = backoff
        self.reconnects = 0
        self.gap_seconds = 0.0
        self.error: BaseException | None = None
        self.frames_read = 0
        self.prepare = prepare
        self.cpu_ns = 0  # CPU time this thread used (not time spent waiting)

    def run(self) -> None:
        self._t_start = time.monotonic()
        try:
            while not self.stop_event.is_set():
                if self.pace and not self._wait_turn():
                    break
                t0 = time.perf_counter_ns()
                ok, image, ts = self.source.read()
                t1 = time.perf_counter_ns()
                if not ok:
                    if self.source.live and self._reconnect():
                        continue
                    break
                frame = Frame(self.frames_read, image, ts, t1, t1 - t0)
                if self.prepare is not None:
                    frame.prepared = self.prepare(image)
                    frame.prepare_ns = time.perf_counter_ns() - t1
                self.frames_read += 1
                if not self.buffer.put(frame, self.stop_event):
                    break
        except BaseException as e:  # handed to the pipeline, which re-raises it in its thread
            self.error = e
        finally:
            self.cpu_ns = time.thread_time_ns()
            self.buffer.close()

    def _wait_turn(self) -> bool:
        """Sleep until the next frame's moment, as if it came from a camera; ``False`` if stopped."""
        period = 1.0 / max(self.source.fps, 1e-3)
        due = self._t_start + self.frames_read * period
        now = time.monotonic()
        if now - due > period:
            # More than a frame behind (a slow reader): drop the debt instead of bursting frames
            # to catch up, as a camera would.
            self._t_start = now - self.frames_read * period
            return True
        return not self.stop_event.wait(max(0.0, due - now))

    def _reconnect(self) -> bool:
        """Reopen a lost live source with back-off; ``False`` if stopped or out of time."""
        self.reconnects += 1
        lost = time.monotonic()
        delay = self.backoff[0]
        try:
            while not self.stop_event.wait(delay):
                try:
                    self.source.open()
                    return True
                except EdgeresError:
                    delay = min(delay * 2, self.backoff[1])
                elapsed = time.monotonic() - lost
                if self.reconnect_timeout is not None and elapsed > self.reconnect_timeout:
                    self.error = DataError(
                        f"source '{self.source.name}' was lost and could not be reopened within "
                        f"{self.reconnect_timeout:g} s"
                    )
                    return False
            return False
        finally:
            self.gap_seconds += time.monotonic() - lost

    @property
    def dropped(self) -> int:
        return self.buffer.dropped

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to finish and wait for it (a read blocked in a driver may outlive this)."""
        self.stop_event.set()
        self.buffer.close()
        if self.is_alive():
            self.join(timeout)
