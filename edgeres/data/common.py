"""Helpers shared by the data loaders: image reading, the one resize, skip warnings, progress."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgeres.data.headers import JPEG_SCAN_BYTES, image_dims
from edgeres.errors import DataError, UsageError
from edgeres.spec import InputSpec
from edgeres.text import shown

log = logging.getLogger("edgeres.data")

# Every image file OpenCV reads, in any case: the same set for train, eval, predict, calibration
# and the stream's folder source, so one folder is read the same way by every command.
OPENCV_EXTS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".jpe", ".jp2", ".tif", ".tiff", ".ppm", ".pgm",
     ".pbm", ".pnm", ".dib", ".ras", ".sr", ".exr", ".hdr", ".pic", ".avif", ".gif"}
)  # fmt: skip
DATASET_EXTS = OPENCV_EXTS

# The largest image (width x height) decoded unless --max-image-pixels raises it: 8192 x 8192,
# 200 MB as BGR, more than any camera or phone photo; a bomb declares far more.
DEFAULT_MAX_IMAGE_PIXELS = 1 << 26
_LIMIT = {"pixels": DEFAULT_MAX_IMAGE_PIXELS}

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


class ImageTooLarge(DataError):
    """An image whose header declares more pixels than the limit (a decompression bomb?)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"image '{shown(path)}' {reason}")
        self.reason = reason


def set_max_image_pixels(pixels: int) -> None:
    """Set the largest image (width x height) any reader decodes (``--max-image-pixels``)."""
    if int(pixels) < 1:
        raise UsageError(f"--max-image-pixels must be >= 1, got {pixels}")
    _LIMIT["pixels"] = int(pixels)


def max_image_pixels() -> int:
    """The largest image (width x height) the readers decode now."""
    return _LIMIT["pixels"]


def check_image_dims(path: Path, data: bytes, max_pixels: int | None = None) -> None:
    """Refuse an image whose header declares more than ``max_pixels`` (default: the limit).

    Raises:
        ImageTooLarge: Naming the file, its declared size and the flag that raises the limit.
    """
    dims = image_dims(data)
    limit = max_pixels or max_image_pixels()
    if dims is not None and dims[0] * dims[1] > limit:
        raise ImageTooLarge(
            path,
            f"declares {dims[0]}x{dims[1]} pixels "
            f"({dims[0] * dims[1] * 3 / 1e6:.0f} MB decoded), over the limit of {limit} pixels; "
            "if it is a real image, raise the limit with --max-image-pixels",
        )


def read_image(path: Path, max_pixels: int | None = None) -> np.ndarray | None:
    """Decode an image file as BGR uint8 ``H x W x 3``; ``None`` when it is not a readable image.

    Reads the bytes with numpy and decodes in memory, so non-ASCII paths work on every platform.
    The size the header declares is checked first, so a decompression bomb is never decoded.
    ``IMREAD_COLOR`` makes every file the same: grayscale becomes three equal channels, 16-bit
    PNG/TIFF keep their high byte (65535 -> 255), CMYK JPEGs are converted, alpha is dropped,
    and the EXIF orientation of JPEG, PNG, WebP and TIFF files (phone photos) is applied.

    Raises:
        ImageTooLarge: The header declares more than ``max_pixels`` (default: the limit).
    """
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    check_image_dims(path, data[:JPEG_SCAN_BYTES].tobytes(), max_pixels)
    try:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error:  # OpenCV's own size limit (OPENCV_IO_MAX_IMAGE_PIXELS) or a bad file
        return None
    if image is None or image.size == 0:
        return None
    return image


def read_image_or_warn(path: Path) -> np.ndarray | None:
    """``read_image`` for folder readers: a corrupt or too large file is a skip warning, ``None``."""
    try:
        image = read_image(path)
    except ImageTooLarge as e:
        warn_skipped(path, e.reason)
        return None
    if image is None:
        warn_skipped(path, "not a readable image (corrupt or unsupported)")
    return image


def warn_skipped(path: Path, reason: str) -> None:
    """One warning line per skipped file, naming it (escaped: file names are user data)."""
    log.warning("warning: skipped '%s': %s", shown(path), shown(reason))


@dataclass
class Skipped:
    """Files left out while listing a data set, counted by reason, for one summary line."""

    counts: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, path: Path, reason: str) -> None:
        self.counts[reason] += 1
        names = self.examples.setdefault(reason, [])
        if len(names) < 3:
            names.append(path.name)

    def summary(self, where: str | Path) -> str | None:
        """``skipped 3 files in 'DIR': 2 not image files (a.txt, b.csv), 1 ...`` or None."""
        if not self.counts:
            return None
        parts = []
        for reason, n in self.counts.most_common():
            more = ", ..." if n > len(self.examples[reason]) else ""
            parts.append(f"{n} {reason} ({', '.join(self.examples[reason])}{more})")
        total = sum(self.counts.values())
        return f"skipped {total} file{'s' * (total != 1)} in '{where}': {'; '.join(parts)}"


_SAID: set[str] = set()


def log_skipped(skipped: Skipped, where: str | Path) -> None:
    """One warning line for what listing ``where`` left out, once per process (train lists
    the same folder for both splits)."""
    line = skipped.summary(shown(where))
    if line is not None and line not in _SAID:
        _SAID.add(line)
        log.warning("warning: %s", shown(line))


def image_files(
    folder: Path, exts: Iterable[str], *, warn_other: bool, skipped: Skipped | None = None
) -> list[Path]:
    """Files under ``folder`` (recursive, sorted) whose suffix, in any case, is in ``exts``.

    Hidden files are ignored. Other files are counted in ``skipped`` when given, else get a
    skip warning each when ``warn_other`` is set.
    """
    exts = frozenset(exts)
    found = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(folder).parts):
            continue
        if p.suffix.lower() in exts:
            found.append(p)
        elif skipped is not None:
            skipped.add(p, "not image files")
        elif warn_other:
            warn_skipped(p, f"not an image file (accepted: {', '.join(sorted(exts))})")
    return found
