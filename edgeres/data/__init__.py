"""Data sets (no torch): the synthetic shapes, image folders and CIFAR-10, read by index.

``open_split(source, split, size)`` lists a split as a ``Source`` (``edgeres.data.sources``) that
decodes one image when asked, so memory does not grow with the data set; ``edgeres.data.stream``
reads it in batches with worker processes, and ``edgeres.data.cache`` keeps a pre-resized copy.
``load_split`` reads a small split whole into an ``ImageSet`` of BGR uint8 images. Sources:

* ``"shapes"``: the embedded synthetic data set (``edgeres.data.shapes``), made from the seed;
* ``"cifar10:DIR"``: CIFAR-10's binary or python batches (``edgeres.data.cifar``);
* a folder path: one sub-folder per class (``edgeres.data.folders``);
* a ``.csv`` of ``path,label`` rows (``edgeres.data.csvlist``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeres.data import shapes
from edgeres.data.common import as_hw
from edgeres.data.sources import CifarSource, FolderSource, ShapesSource, Source
from edgeres.data.stream import StreamSet, fits_in_memory, read_all, resolve_workers
from edgeres.errors import DataError, UsageError, unknown_name
from edgeres.text import shown

SPLITS = ("train", "test")
SOURCE_FORMS = ("shapes", "cifar10:DIR", "DIR (image folder)", "FILE.csv (path,label rows)")


@dataclass
class ImageSet:
    """One split of a data set, in memory.

    Attributes:
        images: ``N x H x W x 3`` uint8, BGR (OpenCV's order).
        labels: ``N`` int64 class indices into ``classes``.
        classes: Class names in label order.
        source: The source string it came from (``"shapes"``, ``"cifar10:DIR"``, a folder).
        skipped: Files skipped as unreadable (image folders only).
    """

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]
    source: str
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def size(self) -> tuple[int, int]:
        """``(height, width)`` of the images."""
        return (int(self.images.shape[1]), int(self.images.shape[2]))


def _check_args(source: str, split: str, limit: int | None) -> None:
    if split not in SPLITS:
        raise unknown_name("split", split, SPLITS)
    if limit is not None and limit < 1:
        raise UsageError(f"limit must be at least 1, got {limit}")
    if not str(source).strip():
        raise UsageError(f"no data source given (valid: {', '.join(SOURCE_FORMS)})")


def open_split(
    source: str | Path,
    split: str,
    size: int | tuple[int, int],
    *,
    seed: int = 0,
    limit: int | None = None,
) -> Source:
    """One split of a data set as a ``Source`` read by index: listed now, decoded when read.

    Takes the arguments of ``load_split`` and selects the same images in the same order.

    Raises:
        UsageError: Unknown split or source form.
        DataError: Missing, empty or class-less data.
    """
    _check_args(str(source), split, limit)
    hw = as_hw(size)
    text = str(source)
    if text == "shapes":
        shapes.image_size(hw)
        return ShapesSource(split, hw, seed, shapes.SPLIT_SIZES[split] if limit is None else limit)
    if text.startswith("cifar10:"):
        from edgeres.data.cifar import open_cifar10

        folder = text.split(":", 1)[1]
        if not folder:
            raise UsageError("cifar10: needs the folder of the batches, e.g. cifar10:data/cifar-10")
        records, labels, classes, files = open_cifar10(folder, split, limit=limit)
        return CifarSource(text, records, labels, classes, hw, files)
    if text.lower().endswith(".csv"):
        from edgeres.data.csvlist import list_csv_split

        return _folder_source(text, list_csv_split(text, split, seed=seed), hw, seed, limit)
    if ":" in text and not Path(text).exists() and not _looks_like_path(text):
        name = text.split(":", 1)[0]
        raise unknown_name("data source", name, ("shapes", "cifar10"))
    if not any(sep in text for sep in "/\\.") and not Path(text).exists():
        # A bare word that is no folder: most likely a mistyped data set name.
        raise unknown_name("data source", text, ("shapes", "cifar10:DIR", "an image folder"))
    from edgeres.data.folders import list_split

    return _folder_source(text, list_split(text, split, seed=seed), hw, seed, limit)


def _folder_source(text: str, found: Any, hw: tuple[int, int], seed: int, limit: int | None):
    files, labels = found.files, found.labels
    if limit is not None and limit < len(files):
        keep = np.sort(np.random.default_rng([seed, 0x11A1]).permutation(len(files))[:limit])
        files, labels = [files[i] for i in keep], [labels[i] for i in keep]
    return FolderSource(text, files, labels, found.classes, hw)


def load_split(
    source: str | Path,
    split: str,
    size: int | tuple[int, int],
    *,
    seed: int = 0,
    limit: int | None = None,
    quiet: bool = False,
) -> ImageSet:
    """Load one split of a data set in memory as BGR uint8 images at ``size``.

    For small sets (tests, calibration, parity checks); ``open_split`` streams any size.

    Args:
        source: ``"shapes"``, ``"cifar10:DIR"`` or an image folder path.
        split: ``"train"`` or ``"test"``.
        size: Output size, an int (square) or ``(height, width)``.
        seed: Shapes: the generator seed. Folders without a train/val split: which share is held
            out. Also picks ``limit``'s subset of a folder.
        limit: At most this many images. For shapes it is the number generated (default 20000
            train / 2000 test; it may be larger than the default).
        quiet: No progress bar (shown only when loading takes more than a second).

    Raises:
        UsageError: Unknown split or source form.
        DataError: Missing, empty, class-less or unreadable data.
    """
    src = open_split(source, split, size, seed=seed, limit=limit)
    images, ok = read_all(src, quiet=quiet, desc=f"reading {split} images")
    skipped = int((~ok).sum())
    if not ok.any():
        raise DataError(
            f"none of the {len(src)} {split} image files in '{shown(src.name)}' could be read "
            f"({skipped} skipped as corrupt); check the files"
        )
    if skipped:
        images = images[ok]
    return ImageSet(images, src.labels[ok], src.classes, src.name, skipped)


def stream_split(
    source: str | Path,
    split: str,
    size: int | tuple[int, int],
    *,
    seed: int = 0,
    limit: int | None = None,
    workers: int | None = None,
) -> StreamSet:
    """``open_split`` as a ``StreamSet``: an ``ImageSet`` whose images are read when used, by
    ``workers`` processes (``None``: a default for the cores; capped at the cores)."""
    src = open_split(source, split, size, seed=seed, limit=limit)
    return StreamSet(src, resolve_workers(workers))


def open_eval_set(
    source: str | Path,
    split: str,
    size: int | tuple[int, int],
    *,
    seed: int = 0,
    limit: int | None = None,
    workers: int | None = None,
    quiet: bool = False,
) -> ImageSet | StreamSet:
    """A split scored more than once: in memory when it fits in ``IN_MEMORY_BYTES`` decoded,
    else a ``StreamSet`` read again on every pass (memory bounded by the batch)."""
    src = open_split(source, split, size, seed=seed, limit=limit)
    if not fits_in_memory(src):
        return StreamSet(src, resolve_workers(workers))
    images, ok = read_all(src, quiet=quiet, desc=f"reading {split} images")
    if not ok.any():
        raise DataError(
            f"none of the {len(src)} {split} images in '{shown(src.name)}' could be read"
        )
    return ImageSet(images[ok], src.labels[ok], src.classes, src.name, int((~ok).sum()))


def _looks_like_path(text: str) -> bool:
    # Windows drive letters ("C:\\data") contain a colon but are paths.
    return len(text) > 2 and text[1] == ":" and text[2] in "/\\"


def describe_source(source: str | Path) -> str:
    """A short human description of a data source, for logs and reports."""
    text = str(source)
    if text == "shapes":
        return f"shapes (synthetic, {len(shapes.CLASSES)} classes, generated from the seed)"
    if text.startswith("cifar10:"):
        return f"CIFAR-10 batches in '{text.split(':', 1)[1]}'"
    if text.lower().endswith(".csv"):
        return f"image list '{text}'"
    return f"image folder '{text}'"


__all__ = [
    "ImageSet",
    "SPLITS",
    "Source",
    "describe_source",
    "StreamSet",
    "load_split",
    "open_split",
    "stream_split",
]
