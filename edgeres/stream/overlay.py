"""Label, score and frame rate drawn onto a frame (for ``--show``, ``--save`` and ``--serve``)."""

from __future__ import annotations

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_MIN_WIDTH = 320  # tiny frames (a 32 px folder) are enlarged first so the text stays legible


def annotate(
    image: np.ndarray, label: str, score: float, fps: float, extra: str = ""
) -> np.ndarray:
    """Return a copy of ``image`` with ``label score`` and ``fps`` in a dark band at the top.

    Args:
        image: BGR ``uint8`` frame (left untouched).
        label: Top-1 class name.
        score: Its probability (0..1).
        fps: Current frames per second of the pipeline.
        extra: Optional second line (e.g. the runner-up).
    """
    h, w = image.shape[:2]
    if w < _MIN_WIDTH:
        f = _MIN_WIDTH / w
        out = cv2.resize(image, (_MIN_WIDTH, max(1, round(h * f))), interpolation=cv2.INTER_NEAREST)
    else:
        out = image.copy()
    h, w = out.shape[:2]
    scale = max(0.45, w / 900)
    thick = max(1, round(scale * 2))
    lines = [f"{label} {score * 100:.1f}%   {fps:.1f} FPS"]
    if extra:
        lines.append(extra)
    line_h = int(30 * scale) + 6
    band = out[: line_h * len(lines) + 6]
    # Darken the band instead of painting it black so the scene stays visible behind the text.
    band[:] = (band.astype(np.uint16) * 2 // 5).astype(np.uint8)
    for i, text in enumerate(lines):
        y = line_h * (i + 1) - 4
        cv2.putText(out, text, (8, y), _FONT, scale, (255, 255, 255), thick, cv2.LINE_AA)
    return out
