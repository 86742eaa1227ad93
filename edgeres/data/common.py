"""Helpers shared by the data loaders: image reading, the one resize, skip warnings, progress."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

from edgeres.errors import UsageError
from edgeres.spec import InputSpec

log = logging.getLogger("edgeres.data")

# Data set folders: the formats the issue names. Calibration accepts anything OpenCV reads.
DATASET_EXTS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp"})
OPENCV_EXTS = DATASET_EXTS | frozenset(
    {".jpe", ".jp2", ".tif", ".tiff", ".ppm", ".pgm", ".pbm", ".pnm", ".dib", ".ras", ".sr",
     ".exr", ".hdr", ".pic", ".avif", ".gif"}
)  # fmt: skip

# Show a progress bar only for loads that take longer than this many seconds.
PROGRESS_DELAY_S = 1.0


def as_hw(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """Normalise an image size (an int for square, or ``(height, width)``)."""
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        try:
            h, w = (int(s) for s in size)
        except (TypeError, ValueError):
            raise UsageError(
                f"image size must be an int or (height, width), got {size!r}"
            ) from None
    if h < 1 or w < 1:
        raise UsageError(f"image size must be positive, got {h}x{w}")
    return h, w


def resizer(size: int | tuple[int, int]) -> InputSpec:
    """The ``InputSpec`` whose ``resize_image`` every loader uses, so train, eval and runtime agree."""
    h, w = as_hw(size)
    return InputSpec(height=h, width=w)


def read_image(path: Path) -> np.ndarray | None:
    """Decode an image file as BGR uint8 ``H x W x 3``; ``None`` when it is not a readable image.

    Reads the bytes with numpy and decodes in memory, so non-ASCII paths work on every platform.
    """
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
        return None
    return image


def warn_skipped(path: Path, reason: str) -> None:
    """One warning line per skipped file, naming it."""
    log.warning("warning: skipped '%s': %s", path, reason)


def image_files(folder: Path, exts: Iterable[str], *, warn_other: bool) -> list[Path]:
    """Files under ``folder`` (recursive, sorted) whose suffix, in any case, is in ``exts``.

    Hidden files are ignored; other files get a skip warning when ``warn_other`` is set.
    """
    exts = frozenset(exts)
    found = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(folder).parts):
            continue
        if p.suffix.lower() in exts:
            found.append(p)
        elif warn_other:
            warn_skipped(p, f"not an image file (accepted: {', '.join(sorted(exts))})")
    return found
