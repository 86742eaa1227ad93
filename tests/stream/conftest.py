"""Fixtures of the stream tests: a real model on a real engine, a real video, an image folder, and
a fake camera for the reconnect path. The model file is the shared session artifact `fp32_onnx`.

Helpers are handed out as fixtures rather than imported from a module, so the tests work whatever
import mode or package layout the test suite uses.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest


@pytest.fixture
def backend(fp32_onnx):
    """The real runtime (ONNX Runtime) on the shared FP32 ONNX file (tests/fixtures_artifacts.py)."""
    from edgeres.runtime import load

    with load(fp32_onnx, threads=1) as b:
        yield b


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("images")
    for i in range(5):
        img = np.full((48 + 8 * i, 64, 3), 30 * i, np.uint8)
        sub = root / ("a" if i < 3 else "b")
        sub.mkdir(exist_ok=True)
        cv2.imwrite(str(sub / f"img{i}.png"), img)
    (root / "notes.txt").write_text("not an image")
    return root


@pytest.fixture
def fake_camera() -> type[FakeCamera]:
    """The ``FakeCamera`` class (a camera that disappears and comes back)."""
    return FakeCamera


class FakeCamera:
    """A camera that gives ``first`` frames, is gone for ``down`` open attempts, then works again.

    Pass ``factory`` where ``cv2.VideoCapture`` would go (``open_source(..., factory=...)``).
    ``down=None`` means it never comes back.
    """

    def __init__(self, first: int = 5, down: int | None = 2, fps: float = 200.0) -> None:
        self.first, self.down, self.fps = first, down, fps
        self.opens = 0
        self.frames = 0

    def factory(self, target, api, params) -> _FakeCapture:
        self.opens += 1
        if self.opens == 1:
            return _FakeCapture(self, limit=self.first)
        if self.down is None or self.opens <= 1 + self.down:
            return _FakeCapture(self, limit=0, opened=False)
        return _FakeCapture(self, limit=None)


class _FakeCapture:
    def __init__(self, cam: FakeCamera, limit: int | None, opened: bool = True) -> None:
        self.cam, self.limit, self.opened, self.reads = cam, limit, opened, 0

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.opened

    def set(self, prop: int, value: float) -> bool:
        return True

    def get(self, prop: int) -> float:
        return self.cam.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        if not self.opened or (self.limit is not None and self.reads >= self.limit):
            return False, None  # unplugged: what V4L2 gives
        time.sleep(1.0 / self.cam.fps)
        self.reads += 1
        self.cam.frames += 1
        return True, np.full((48, 64, 3), self.cam.frames % 256, np.uint8)

    def release(self) -> None:
        self.opened = False
