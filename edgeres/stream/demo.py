"""The ``demo`` source: a synthetic live scene of moving shapes, so ``edgeres run`` works anywhere.

The scene shows one shape of the ``shapes`` data set at a time (the class changes every few
seconds), gliding along a Lissajous path and turning, over a fixed gradient background. Frame ``i``
is a pure function of ``(seed, i)``: the same seed gives the same video on every machine.
"""

from __future__ import annotations

import math
import time

import cv2
import numpy as np

from edgeres.stream.frame_source import FrameSource

try:  # the data area's contours, so a model trained on `shapes` sees its own classes
    from edgeres.data.shapes import CLASSES as _CLASSES
    from edgeres.data.shapes import CONTOURS as _CONTOURS
except ImportError:  # pragma: no cover - only while the data area is absent
    _t = np.linspace(0.0, 2 * np.pi, 48, endpoint=False)
    _CONTOURS = {
        "circle": [np.stack([np.cos(_t), np.sin(_t)], 1)],
        "square": [np.array([[-0.7, -0.7], [0.7, -0.7], [0.7, 0.7], [-0.7, 0.7]])],
        "triangle": [np.array([[0.0, -1.0], [0.87, 0.5], [-0.87, 0.5]])],
    }
    _CLASSES = tuple(_CONTOURS)

_SHIFT = 4  # fractional bits for sub-pixel polygon coordinates (smooth motion)
SECONDS_PER_SHAPE = 3.0


class DemoSource(FrameSource):
    """Moving shapes at ``width x height``, paced at ``fps`` when ``paced``.

    Args:
        width: Frame width.
        height: Frame height.
        fps: Frames per second of the scene (and the pace when ``paced``).
        seed: Selects colours, the order of shapes and the motion.
        paced: Deliver frames in real time, as a camera does (the capture thread paces any source
            whose ``paced`` is true); ``False`` makes them as fast as they are read.
    """

    kind = "demo"

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        seed: int = 0,
        paced: bool = True,
    ) -> None:
        self.name = "demo"
        self.width, self.height, self.fps = int(width), int(height), float(fps)
        self.live = True
        self.paced = paced
        rng = np.random.default_rng(seed)
        self._order = rng.permutation(len(_CLASSES))
        self._colours = rng.integers(40, 256, size=(len(_CLASSES), 3))
        self._phase = rng.uniform(0, 2 * np.pi, size=4)
        self._background = _gradient(self.height, self.width, rng)
        self._index = 0

    def open(self) -> None:
        self._index = 0

    def read(self) -> tuple[bool, np.ndarray | None, float]:
        # Pacing (``paced``) is done by the capture thread, so ``read`` times the drawing alone.
        frame = self.render(self._index)
        self._index += 1
        return True, frame, time.time()

    def render(self, index: int) -> np.ndarray:
        """Frame ``index`` of the scene (BGR uint8)."""
        t = index / self.fps
        segment = int(t // SECONDS_PER_SHAPE)
        cls = int(self._order[segment % len(self._order)])
        frame = self._background.copy()
        h, w = self.height, self.width
        p = self._phase
        # Stay inside the central square, which a model's centre crop keeps, whole.
        side = min(h, w)
        radius = side * (0.30 + 0.04 * math.sin(0.7 * t + p[2]))
        cx = w / 2 + 0.14 * side * math.sin(0.9 * t + p[0])
        cy = h / 2 + 0.14 * side * math.sin(1.3 * t + p[1])
        a = 0.6 * t + p[3]
        rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        one = float(1 << _SHIFT)
        contours = [
            np.round(((pts * radius) @ rot.T + (cx, cy)) * one).astype(np.int32)
            for pts in _CONTOURS[_CLASSES[cls]]
        ]
        colour = tuple(int(c) for c in self._colours[cls])
        cv2.fillPoly(frame, contours, colour, cv2.LINE_AA, _SHIFT)
        return frame

    def close(self) -> None:
        pass


def _gradient(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth two-colour diagonal gradient (drawn once, copied per frame)."""
    c0, c1 = rng.integers(0, 90, size=(2, 3)).astype(np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    f = ((xs / max(width - 1, 1) + ys / max(height - 1, 1)) / 2.0)[..., None]
    return (c0 * (1 - f) + c1 * f).astype(np.uint8)
