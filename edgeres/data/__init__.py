"""Data sets as numpy arrays (no torch): the synthetic shapes, image folders and CIFAR-10.

``load_split(source, split, size)`` returns an ``ImageSet`` of BGR uint8 images at ``size``, the
form every part of edgeres takes (training wraps the arrays in tensors itself; the runtime
preprocesses them with the model's ``InputSpec``). Sources:

* ``"shapes"``: the embedded synthetic data set (``edgeres.data.shapes``), made from the seed;
* ``"cifar10:DIR"``: CIFAR-10's binary or python batches (``edgeres.data.cifar``);
* a folder path: one sub-folder per class (``edgeres.data.folders``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeres.data import shapes
from edgeres.data.common import PROGRESS_DELAY_S, as_hw
from edgeres.errors import UsageError, unknown_name
from edgeres.progress import progress

SPLITS = ("train", "test")
SOURCE_FORMS = ("shapes", "cifar10:DIR", "DIR (image folder)")
_GEN_BATCH = 1000


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


def _load_shapes(split: str, size: tuple[int, int], seed: int, limit: int | None, quiet: bool):
    count = shapes.SPLIT_SIZES[split] if limit is None else limit
    images = np.empty((count, *size, 3), dtype=np.uint8)
    labels = np.empty(count, dtype=np.int64)
    bar = progress(
        total=count, quiet=quiet, desc=f"generating shapes {split}", unit="img",
        delay=PROGRESS_DELAY_S,
    )  # fmt: skip
    with bar:
        for start in range(0, count, _GEN_BATCH):
            n = min(_GEN_BATCH, count - start)
            x, y = shapes.generate(n, size, split=split, seed=seed, start=start)
            images[start : start + n], labels[start : start + n] = x, y
            bar.update(n)
    return ImageSet(images, labels, shapes.CLASSES, "shapes")


def load_split(
    source: str | Path,
    split: str,
    size: int | tuple[int, int],
    *,
    seed: int = 0,
    limit: int | None = None,
    quiet: bool = False,
) -> ImageSet:
    """Load one split of a data set as BGR uint8 images at ``size``.

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
    _check_args(str(source), split, limit)
    hw = as_hw(size)
    text = str(source)
    if text == "shapes":
        return _load_shapes(split, hw, seed, limit, quiet)
    if text.startswith("cifar10:"):
        from edgeres.data.cifar import load_cifar10

        folder = text.split(":", 1)[1]
        if not folder:
            raise UsageError("cifar10: needs the folder of the batches, e.g. cifar10:data/cifar-10")
        images, labels, classes = load_cifar10(folder, split, hw, limit=limit)
        return ImageSet(images, labels, classes, text)
    if ":" in text and not Path(text).exists() and not _looks_like_path(text):
        name = text.split(":", 1)[0]
        raise unknown_name("data source", name, ("shapes", "cifar10"))
    if not any(sep in text for sep in "/\\.") and not Path(text).exists():
        # A bare word that is no folder: most likely a mistyped data set name.
        raise unknown_name("data source", text, ("shapes", "cifar10:DIR", "an image folder"))
    from edgeres.data.folders import load_folder

    images, labels, classes, skipped = load_folder(
        text, split, hw, seed=seed, limit=limit, quiet=quiet
    )
    return ImageSet(images, labels, classes, text, skipped)


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
    return f"image folder '{text}'"


__all__ = ["ImageSet", "SPLITS", "describe_source", "load_split"]
