"""Where results go: a window (``--show``), an mp4 (``--save``), JSON lines (``--json``).

The web page (``--serve``) lives in ``serve.py``. Sinks run in the pipeline's sink thread, one
result at a time; ``close`` is always called, also after Ctrl-C, so files are finalised.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

import cv2
import numpy as np

from edgeres.errors import DataError, MissingDependencyError, UsageError
from edgeres.fileio import check_overwrite

if TYPE_CHECKING:
    from edgeres.runtime.base import Prediction
    from edgeres.stream.stats import StreamStats


@dataclass
class FrameResult:
    """One frame's result as the sinks see it.

    Attributes:
        frame: Number of the result in this run (0, 1, 2, ...).
        source_frame: Number of the frame in the source (gaps are dropped frames).
        timestamp: Media time (files) or Unix time (live sources), seconds.
        image: The captured BGR frame.
        prediction: Top-k (smoothed when ``--smooth`` is on).
        latency_ms: Per-stage times of this frame and ``e2e`` (capture to result).
        fps: Frame rate over the last frames.
        annotated: ``image`` with the overlay, drawn once by the sink thread if a sink wants it.
    """

    frame: int
    source_frame: int
    timestamp: float
    image: np.ndarray
    prediction: Prediction
    latency_ms: dict[str, float]
    fps: float
    annotated: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """The per-frame JSON object (``--json``)."""
        return {
            "frame": self.frame,
            "source_frame": self.source_frame,
            "timestamp": round(self.timestamp, 6),
            **self.prediction.to_dict(),
            "latency_ms": {k: round(v, 3) for k, v in self.latency_ms.items()},
            "fps": round(self.fps, 2),
        }


class Sink:
    """Base class: ``start`` once, ``write`` per result, ``close`` once (always)."""

    wants_overlay = False
    stop_requested = False  # a sink sets this to end the run (the window was closed)

    def start(self, stats: StreamStats, fps: float) -> None:  # noqa: B027 - optional hook
        """Called before the first frame with the run's statistics and the source frame rate."""

    def write(self, result: FrameResult) -> None:
        raise NotImplementedError

    def close(self, ok: bool = True) -> None:  # noqa: B027 - optional hook
        """Finish; ``ok`` is ``False`` when the run failed with an error."""


def gui_available() -> bool:
    """Whether this OpenCV build can open windows (``opencv-python-headless`` cannot)."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() not in ("NONE", "NO", "")
    return False


class ShowSink(Sink):
    """A window with the annotated frames; ``q`` or Esc (or closing it) ends the run."""

    wants_overlay = True
    WINDOW = "edgeres run"

    def __init__(self) -> None:
        if not gui_available():
            raise MissingDependencyError(
                f"--show needs an OpenCV with a GUI, but this one ({cv2.__version__}) was built "
                "without (opencv-python-headless); install the GUI build with: pip uninstall -y "
                "opencv-python-headless && pip install opencv-python, or use --serve 127.0.0.1:8080 "
                "and open the page in a browser"
            )
        if sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        ):
            raise UsageError(
                "--show needs a display but DISPLAY is not set (headless or ssh session); use "
                "--serve 0.0.0.0:8080 and open the page from another machine, or ssh -X"
            )
        self._shown = 0

    def write(self, result: FrameResult) -> None:
        cv2.imshow(self.WINDOW, result.annotated)
        self._shown += 1
        key = cv2.waitKey(1) & 0xFF
        # Some GUI back-ends report a new window as not yet visible: judge only once it is up.
        closed = self._shown > 10 and cv2.getWindowProperty(self.WINDOW, cv2.WND_PROP_VISIBLE) < 1
        if key in (ord("q"), 27) or closed:
            self.stop_requested = True

    def close(self, ok: bool = True) -> None:
        if self._shown:
            cv2.destroyWindow(self.WINDOW)
            cv2.waitKey(1)


class SaveSink(Sink):
    """The annotated video as mp4 (``mp4v``), written to a temp file and renamed when finalised.

    Args:
        path: Output file (``.mp4``).
        force: Replace an existing file.
        fps: Frame rate written in the file; ``None`` takes the source's.
    """

    wants_overlay = True

    def __init__(self, path: str | Path, force: bool = False, fps: float | None = None) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".mp4":
            raise UsageError(
                f"--save writes an mp4 video; got '{self.path}', use a name ending .mp4"
            )
        check_overwrite(self.path, force)
        self.fps = fps
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.stem}.", suffix=".tmp.mp4", dir=self.path.parent
        )
        os.close(fd)
        self._tmp = Path(tmp)

    def start(self, stats: StreamStats, fps: float) -> None:
        if self.fps is None:
            self.fps = fps if 0 < fps < 1000 else 30.0

    def write(self, result: FrameResult) -> None:
        image = result.annotated
        if self._writer is None:
            h, w = image.shape[:2]
            self._size = (w, h)
            fourcc = cv2.VideoWriter_fourcc(*"mp4v")
            self._writer = cv2.VideoWriter(str(self._tmp), fourcc, float(self.fps or 30.0), (w, h))
            if not self._writer.isOpened():
                raise DataError(f"OpenCV could not open an mp4 writer for '{self.path}'")
        elif image.shape[1::-1] != self._size:
            # A folder of mixed sizes: the video keeps the first frame's size.
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        self._writer.write(image)
        self.frames += 1

    def close(self, ok: bool = True) -> None:
        """Finalise: release the writer (writes the mp4 index), then rename into place.

        A run that failed before any frame, or with an error, leaves no file behind.
        """
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if ok and self.frames:
            os.replace(self._tmp, self.path)
        self._tmp.unlink(missing_ok=True)


class JsonLinesSink(Sink):
    """One JSON object per frame on ``stream`` (stdout by default), flushed per line."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream

    def write(self, result: FrameResult) -> None:
        if self.stop_requested:
            return
        out = self.stream or sys.stdout
        try:
            out.write(json.dumps(result.to_dict(), separators=(",", ":")) + "\n")
            out.flush()
        except BrokenPipeError:
            # The reader went away (`edgeres run ... --json | head`): end the run like Ctrl-C.
            self.stop_requested = True
            if out is sys.stdout:  # keep Python's exit-time flush from failing again
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
