"""Where results go: a window (``--show``), an mp4 (``--save``), JSON lines (``--json``).

The web page (``--serve``) lives in ``serve.py``. Sinks run in the pipeline's sink thread, one
result at a time; ``close`` is always called, also after Ctrl-C, so files are finalised.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

import cv2
import numpy as np

from edgeres.errors import (
    DataError,
    MissingDependencyError,
    OutputExistsError,
    UsageError,
)
from edgeres.fileio import (
    atomic_path,
    check_overwrite,
    disk_errors,
    disk_full_error,
    fsync_file,
    is_disk_full,
)
from edgeres.stream.mp4join import check_segment, join_segments
from edgeres.text import json_text

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


SEGMENT_SECONDS = 5.0  # a power cut loses at most this much of a --save recording


def check_save_path(path: Path, force: bool) -> None:
    """``--save`` names an ``.mp4`` that does not exist yet (or ``--force`` replaces it)."""
    if path.suffix.lower() != ".mp4":
        raise UsageError(f"--save writes an mp4 video; got '{path}', use a name ending .mp4")
    check_overwrite(path, force)


class SaveSink(Sink):
    """The annotated video as mp4 (``mp4v``), recorded in segments and joined when finalised.

    While recording, frames go to ``<name>.parts/part-00000.mp4``, ``part-00001.mp4``, ... next to
    the output, each closed (and flushed to disk) after ``segment_seconds`` of video, so a killed
    run or a power cut keeps every finished segment, each a playable mp4. When the run ends
    (also on Ctrl-C or SIGTERM) the segments are joined without re-encoding into the output and
    the folder is removed. A run that fails keeps its finished segments and names the folder; one
    that fails before a segment is finished leaves nothing.

    Args:
        path: Output file (``.mp4``).
        force: Replace an existing file (and the segments of an earlier, cut-off recording).
        fps: Frame rate written in the file; ``None`` takes the source's.
        segment_seconds: Length of a segment in seconds of video.
    """

    wants_overlay = True

    def __init__(
        self,
        path: str | Path,
        force: bool = False,
        fps: float | None = None,
        segment_seconds: float = SEGMENT_SECONDS,
    ) -> None:
        self.path = Path(path)
        check_save_path(self.path, force)
        self.parts = self.path.with_name(self.path.name + ".parts")
        if self.parts.exists() and not force:
            raise OutputExistsError(
                f"'{self.parts}' holds the segments of an earlier recording that was cut off "
                "(each plays as an mp4); move it away, or pass --force to replace it"
            )
        shutil.rmtree(self.parts, ignore_errors=True)
        self.fps = fps
        self.segment_seconds = segment_seconds
        self.frames = 0
        self.segments: list[Path] = []  # finished ones
        self._writer: cv2.VideoWriter | None = None
        self._in_segment = 0
        self._size: tuple[int, int] | None = None

    def start(self, stats: StreamStats, fps: float) -> None:
        if self.fps is None:
            self.fps = fps if 0 < fps < 1000 else 30.0

    def write(self, result: FrameResult) -> None:
        image = result.annotated
        if self._size is None:
            self._size = (image.shape[1], image.shape[0])
        elif image.shape[1::-1] != self._size:
            # A folder of mixed sizes: the video keeps the first frame's size.
            image = cv2.resize(image, self._size, interpolation=cv2.INTER_AREA)
        if self._writer is None:
            self._open_segment()
        self._writer.write(image)
        self.frames += 1
        self._in_segment += 1
        if self._in_segment >= max(1, round((self.fps or 30.0) * self.segment_seconds)):
            self._finish_segment()

    def _segment_path(self, index: int) -> Path:
        return self.parts / f"part-{index:05d}.mp4"

    def _open_segment(self) -> None:
        with disk_errors(self.parts):
            self.parts.mkdir(parents=True, exist_ok=True)
        path = self._segment_path(len(self.segments))
        fourcc = cv2.VideoWriter_fourcc(*"mp4v")
        self._writer = cv2.VideoWriter(str(path), fourcc, float(self.fps or 30.0), self._size)
        if not self._writer.isOpened():
            self._writer = None
            if _low_on_space(self.parts):
                raise disk_full_error(path)
            raise DataError(f"OpenCV could not open an mp4 writer for '{path}'")
        self._in_segment = 0

    def _finish_segment(self) -> None:
        """Close the open segment and check it is whole; OpenCV's writer reports no errors."""
        path = self._segment_path(len(self.segments))
        self._writer.release()
        self._writer = None
        try:
            with disk_errors(path):
                fsync_file(path)
            check_segment(path)
        except (OSError, ValueError) as e:
            path.unlink(missing_ok=True)
            if isinstance(e, OSError) and not is_disk_full(e):
                raise DataError(f"could not write the video segment '{path}': {e}") from None
            raise disk_full_error(path) from None
        self.segments.append(path)

    def close(self, ok: bool = True) -> None:
        """Finalise: close the last segment, join the segments into the output, remove them."""
        if self._writer is not None and not ok:
            # A failed run keeps only the segments that were finished before the error.
            self._writer.release()
            self._writer = None
            self._segment_path(len(self.segments)).unlink(missing_ok=True)
        elif self._writer is not None:
            self._finish_segment()
        if not ok or not self.segments:
            if not self.segments:
                shutil.rmtree(self.parts, ignore_errors=True)
            return
        with atomic_path(self.path) as tmp:
            if len(self.segments) == 1:
                os.replace(self.segments[0], tmp)
            else:
                try:
                    join_segments(self.segments, tmp)
                except ValueError as e:
                    raise DataError(
                        f"could not join the segments in '{self.parts}' into '{self.path}' "
                        f"({e}); they are kept, each plays as an mp4"
                    ) from None
        shutil.rmtree(self.parts, ignore_errors=True)


def _low_on_space(folder: Path) -> bool:
    try:
        st = os.statvfs(folder)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


class JsonLinesSink(Sink):
    """One JSON object per frame on ``stream`` (stdout by default), flushed per line."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream

    def write(self, result: FrameResult) -> None:
        if self.stop_requested:
            return
        out = self.stream or sys.stdout
        try:
            out.write(json_text(result.to_dict(), separators=(",", ":")) + "\n")
            out.flush()
        except BrokenPipeError:
            # The reader went away (`edgeres run ... --json | head`): end the run like Ctrl-C.
            self.stop_requested = True
            if out is sys.stdout:  # keep Python's exit-time flush from failing again
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
