"""Frame sources behind one small interface: ``open``, ``read -> (ok, frame, timestamp)``, ``close``.

``--source`` accepts a camera index (``0``), a video file, an ``rtsp://``/``http://`` URL, a
GStreamer pipeline (``gst:...``), ``picamera`` (Raspberry Pi), an image folder, or ``demo``.
Opening never hangs: OpenCV is asked for open/read timeouts where it has them, and the open itself
runs in a probe thread with a deadline.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edgeres.data.common import OPENCV_EXTS, image_files, read_image_or_warn
from edgeres.errors import DataError, MissingDependencyError, UsageError
from edgeres.stream.frame_source import FrameSource
from edgeres.text import redact, shown

SOURCE_HELP = "0 (camera index), FILE, URL, gst:PIPELINE, picamera, demo or an image folder"
URL_SCHEMES = (
    "rtsp://",
    "rtsps://",
    "rtmp://",
    "http://",
    "https://",
    "udp://",
    "tcp://",
    "srt://",
)
DEFAULT_OPEN_TIMEOUT = 5.0
# A file with one of these suffixes is one still image, not a video (a GIF may be animated).
STILL_IMAGE_EXTS = OPENCV_EXTS - {".gif"}

# Something shaped like cv2.VideoCapture: factory(target, api, params) -> capture object.
CaptureFactory = Callable[[Any, int, Sequence[int]], Any]


def _open_with_deadline(open_fn: Callable[[], Any], timeout: float, what: str) -> Any:
    """Run ``open_fn`` in a daemon thread; give up after ``timeout`` seconds with a ``DataError``.

    A blocked OpenCV open cannot be cancelled, so on timeout its thread is abandoned (it holds no
    lock of ours and dies with the process).
    """
    box: dict[str, Any] = {}

    def probe() -> None:
        try:
            box["cap"] = open_fn()
        except Exception as e:  # reported below, in the caller's thread
            box["error"] = e

    t = threading.Thread(target=probe, name="edgeres-open-probe", daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive():
        raise DataError(
            f"could not open {what} within {timeout:g} s; check that it exists and is reachable"
        )
    if "error" in box:
        raise DataError(f"could not open {what}: {redact(box['error'])}")
    return box["cap"]


class CvSource(FrameSource):
    """Anything ``cv2.VideoCapture`` opens: a camera, a video file, a URL, a GStreamer pipeline.

    Args:
        name: The source as it may be shown (credentials redacted, control characters escaped).
        kind: ``camera``, ``file``, ``url`` or ``gstreamer``.
        target: What ``cv2.VideoCapture`` gets (an index, path, URL or pipeline).
        api: OpenCV backend (``cv2.CAP_V4L2``, ``cv2.CAP_FFMPEG``, ...).
        live: See ``FrameSource.live``.
        params: ``(property, value, ...)`` pairs passed to the open call (timeouts).
        props: Properties set after opening (camera width, height, fps).
        fps: Requested/fallback frame rate when the capture reports none.
        open_timeout: Seconds before an open that has not returned is an error.
        factory: Replaces ``cv2.VideoCapture`` (tests use a fake camera).
    """

    def __init__(
        self,
        name: str,
        kind: str,
        target: Any,
        api: int = cv2.CAP_ANY,
        *,
        live: bool,
        params: Sequence[int] = (),
        props: dict[int, float] | None = None,
        fps: float = 30.0,
        open_timeout: float = DEFAULT_OPEN_TIMEOUT,
        factory: CaptureFactory | None = None,
    ) -> None:
        self.name, self.kind, self.target, self.api, self.live = name, kind, target, api, live
        self.params = list(params)
        self.props = dict(props or {})
        self.fps = float(fps)
        self.open_timeout = open_timeout
        self.factory = factory or cv2.VideoCapture
        self._cap: Any = None

    def open(self) -> None:
        self.close()
        what = f"{self.kind} source '{self.name}'"
        cap = _open_with_deadline(
            lambda: self.factory(self.target, self.api, self.params), self.open_timeout, what
        )
        if not cap.isOpened():
            cap.release()
            raise DataError(f"could not open {what}; {_open_hint(self.kind)}")
        for prop, value in self.props.items():
            cap.set(prop, value)
        reported = cap.get(cv2.CAP_PROP_FPS)
        if reported and 0 < reported < 1000:
            self.fps = float(reported)
        self._cap = cap

    def read(self) -> tuple[bool, np.ndarray | None, float]:
        if self._cap is None:
            return False, None, 0.0
        ok, frame = self._cap.read()
        if not ok or frame is None:
            return False, None, 0.0
        ts = time.time() if self.live else self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        return True, frame, ts

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _open_hint(kind: str) -> str:
    return {
        "camera": "is the camera connected and not used by another program? (ls /dev/video*)",
        "file": "is it a video file OpenCV can decode (mp4, avi, mkv, ...)?",
        "url": "check the address, that the server is running and that the stream is reachable",
        "gstreamer": "check the pipeline with gst-launch-1.0; it must end in an appsink",
    }.get(kind, "check that it exists")


class FolderSource(FrameSource):
    """The images of a folder (recursively, sorted by path), or one image file, at ``fps``.

    Images are read by ``read_image_or_warn``: a file declaring more pixels than the limit
    (``--max-image-pixels``) or a corrupt one is skipped with a warning, never decoded.
    """

    kind = "folder"

    def __init__(self, folder: Path, fps: float = 30.0) -> None:
        self.name = shown(folder)
        self.fps = float(fps)
        if folder.is_file():
            self.kind, self.files = "image", [folder]
            return
        self.files = image_files(folder, OPENCV_EXTS, warn_other=False)
        if not self.files:
            raise DataError(
                f"folder '{shown(folder)}' has no images ({', '.join(sorted(OPENCV_EXTS))}); "
                "give a folder of images, a video file or a camera index"
            )
        self._next = 0

    def open(self) -> None:
        self._next = 0

    def read(self) -> tuple[bool, np.ndarray | None, float]:
        while self._next < len(self.files):
            i = self._next
            self._next += 1
            frame = read_image_or_warn(self.files[i])
            if frame is not None:  # an unreadable file is skipped, as a corrupt video frame is
                return True, frame, i / self.fps
        return False, None, 0.0

    def close(self) -> None:
        self._next = len(self.files)


class PicameraSource(FrameSource):
    """A Raspberry Pi camera through ``picamera2`` (imported only when this source is used)."""

    kind = "picamera"
    live = True

    def __init__(self, width: int, height: int, fps: float) -> None:
        try:
            from picamera2 import Picamera2  # noqa: F401 - the import is the check
        except ImportError:
            raise MissingDependencyError(
                "--source picamera needs the Python module 'picamera2', which is not installed; "
                "on Raspberry Pi OS install it with: sudo apt install python3-picamera2 (make the "
                "venv with --system-site-packages), or use a camera index such as --source 0"
            ) from None
        self.name = "picamera"
        self.width, self.height, self.fps = width, height, float(fps)
        self._cam: Any = None

    def open(self) -> None:
        from picamera2 import Picamera2

        self.close()
        try:
            cam = Picamera2()
            # libcamera's "RGB888" is B, G, R in memory: exactly OpenCV's BGR.
            config = cam.create_video_configuration(
                main={"size": (self.width, self.height), "format": "RGB888"},
                controls={"FrameRate": self.fps},
            )
            cam.configure(config)
            cam.start()
        except Exception as e:
            raise DataError(f"could not start the Raspberry Pi camera: {e}") from None
        self._cam = cam

    def read(self) -> tuple[bool, np.ndarray | None, float]:
        if self._cam is None:
            return False, None, 0.0
        try:
            frame = self._cam.capture_array("main")
        except Exception:
            return False, None, 0.0
        return True, np.ascontiguousarray(frame[..., :3]), time.time()

    def close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            finally:
                self._cam = None


def gstreamer_available() -> bool:
    """Whether this OpenCV build has GStreamer video I/O."""
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GStreamer:"):
            return line.split(":", 1)[1].strip().upper().startswith("YES")
    return False


def _camera_source(index: int, width: int, height: int, fps: float, **kw: Any) -> CvSource:
    if sys.platform.startswith("linux") and kw.get("factory") is None:
        # Fail in milliseconds with a useful list instead of waiting on V4L2.
        if not Path(f"/dev/video{index}").exists():
            found = sorted(str(p) for p in Path("/dev").glob("video*"))
            raise DataError(
                f"no camera at index {index} (/dev/video{index} does not exist; cameras here: "
                f"{', '.join(found) or 'none'}); pass another --source such as a video file or demo"
            )
    api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
    props = {
        cv2.CAP_PROP_FRAME_WIDTH: width,
        cv2.CAP_PROP_FRAME_HEIGHT: height,
        cv2.CAP_PROP_FPS: fps,
        cv2.CAP_PROP_BUFFERSIZE: 1,  # keep the driver queue short: we want the newest frame
    }
    return CvSource(str(index), "camera", index, api, live=True, props=props, fps=fps, **kw)


def _gst_source(spec: str, fps: float, **kw: Any) -> CvSource:
    pipeline = spec[len("gst:") :].strip()
    if not pipeline:
        raise UsageError("--source gst: needs a pipeline after 'gst:', e.g. gst:v4l2src ! appsink")
    if kw.get("factory") is None and not gstreamer_available():
        raise MissingDependencyError(
            f"OpenCV {cv2.__version__} here was built without GStreamer (cv2.getBuildInformation() "
            "says GStreamer: NO), so --source gst:... cannot work; use an OpenCV built with it "
            "(on a Jetson: JetPack's python3-opencv in a venv made with --system-site-packages), "
            "or give a camera index, file or URL"
        )
    if "appsink" not in pipeline:
        # OpenCV reads from an appsink; add one that keeps only the newest BGR frame.
        pipeline += " ! videoconvert ! video/x-raw,format=BGR ! appsink drop=true max-buffers=1"
    return CvSource(
        redact(spec), "gstreamer", pipeline, cv2.CAP_GSTREAMER, live=True, fps=fps, **kw
    )


def open_source(
    spec: str,
    width: int = 640,
    height: int = 480,
    fps: float = 30.0,
    *,
    seed: int = 0,
    open_timeout: float = DEFAULT_OPEN_TIMEOUT,
    factory: CaptureFactory | None = None,
) -> FrameSource:
    """Parse ``--source`` and return the source, already opened.

    Args:
        spec: ``0`` (camera index), ``FILE``, ``URL``, ``gst:PIPELINE``, ``picamera``, ``demo`` or
            an image folder.
        width: Requested frame width for cameras and ``demo``.
        height: Requested frame height for cameras and ``demo``.
        fps: Requested frame rate for cameras, ``demo`` and folders.
        seed: Seed of the ``demo`` scene.
        open_timeout: Seconds before an open that has not returned is an error.
        factory: Replaces ``cv2.VideoCapture`` for OpenCV sources (tests).

    Raises:
        DataError: The source does not exist or cannot be opened.
        MissingDependencyError: ``picamera2`` or OpenCV's GStreamer support is missing.
    """
    source = make_source(
        spec, width, height, fps, seed=seed, open_timeout=open_timeout, factory=factory
    )
    source.open()
    return source


def make_source(
    spec: str,
    width: int = 640,
    height: int = 480,
    fps: float = 30.0,
    *,
    seed: int = 0,
    open_timeout: float = DEFAULT_OPEN_TIMEOUT,
    factory: CaptureFactory | None = None,
) -> FrameSource:
    """Like ``open_source`` without opening (see there for the arguments)."""
    spec = str(spec).strip()
    cv_kw: dict[str, Any] = {"open_timeout": open_timeout, "factory": factory}
    if not spec:
        raise UsageError(f"--source is empty; give one of: {SOURCE_HELP}")
    if spec.isdigit():
        return _camera_source(int(spec), width, height, fps, **cv_kw)
    if spec == "demo":
        from edgeres.stream.demo import DemoSource

        return DemoSource(width, height, fps, seed=seed)
    if spec == "picamera":
        return PicameraSource(width, height, fps)
    if spec.startswith("gst:"):
        return _gst_source(spec, fps, **cv_kw)
    if spec.lower().startswith(URL_SCHEMES):
        ms = int(open_timeout * 1000)
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        # The probe deadline sits a little beyond FFmpeg's own timeout so its message wins.
        cv_kw["open_timeout"] = open_timeout + 2.0
        return CvSource(
            redact(spec), "url", spec, cv2.CAP_FFMPEG, live=True, params=params, fps=fps, **cv_kw
        )
    path = Path(os.path.expanduser(spec))
    if path.is_dir():
        return FolderSource(path, fps)
    if path.is_file() and path.suffix.lower() in STILL_IMAGE_EXTS:
        return FolderSource(path, fps)  # read like a folder's images: size-checked first
    if path.is_file():
        return CvSource(shown(spec), "file", str(path), cv2.CAP_ANY, live=False, fps=fps, **cv_kw)
    raise DataError(
        f"source '{redact(spec)}' is not a camera index, URL, pipeline, existing file or folder "
        f"(valid: {SOURCE_HELP})"
    )
