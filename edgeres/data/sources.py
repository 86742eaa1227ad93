"""Data sets read by index (no torch): what the streaming loaders, the cache and ``load_split`` share.

A ``Source`` knows its length, labels and classes up front (from file names, CIFAR's label bytes
or the shapes seed) and decodes one image at a time with ``read(i)``: BGR uint8 at the size it
was opened at, or ``None`` for a file that could not be read (it is warned about and counted by
whoever reads it). Nothing is decoded until asked for, so a source of a million images costs its
file list, not its pixels. Sources are plain picklable objects: worker processes receive them
once and read their own indices.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from edgeres.data import shapes
from edgeres.data.common import ImageTooLarge, read_image, read_image_or_warn, resizer


class Source:
    """One split of a data set, read by index.

    Attributes:
        labels: ``N`` int64 class indices (known before any image is decoded).
        classes: Class names in label order.
        size: ``(height, width)`` every image is resized to.
        name: The source string it came from (``"shapes"``, ``"cifar10:DIR"``, a folder).
    """

    labels: np.ndarray
    classes: tuple[str, ...]
    size: tuple[int, int]
    name: str

    def __len__(self) -> int:
        return len(self.labels)

    def read(self, i: int) -> np.ndarray | None:
        """Image ``i`` as BGR uint8 ``H x W x 3`` at ``size``; ``None`` if unreadable."""
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        """What the images depend on (files with sizes and mtimes, seed, split): the cache key."""
        raise NotImplementedError

    def read_batch(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Images ``index`` as one ``n x H x W x 3`` array and a mask of the readable ones.

        An unreadable image is left black and flagged ``False``: callers drop it (and count it).
        """
        out = np.zeros((len(index), *self.size, 3), dtype=np.uint8)
        ok = np.ones(len(index), dtype=bool)
        for k, i in enumerate(index):
            image = self.read(int(i))
            if image is None:
                ok[k] = False
            else:
                out[k] = image
        return out, ok


class ShapesSource(Source):
    """The synthetic shapes, each image drawn from the seed when read (no memory per image)."""

    def __init__(self, split: str, size: tuple[int, int], seed: int, count: int) -> None:
        self.split, self.seed, self.size = split, seed, size
        self.labels = shapes.split_labels(count, split=split, seed=seed)
        self.classes, self.name = shapes.CLASSES, "shapes"

    def read(self, i: int) -> np.ndarray:
        return shapes.render_one(i, self.size, split=self.split, seed=self.seed)

    def read_batch(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lo = int(index[0]) if len(index) else 0
        if len(index) and np.array_equal(index, np.arange(lo, lo + len(index))):
            # A run of indices: the vectorised generator makes the same images faster.
            images, _ = shapes.generate(
                len(index), self.size, split=self.split, seed=self.seed, start=lo
            )
            return images, np.ones(len(index), dtype=bool)
        return super().read_batch(index)

    def identity(self) -> dict[str, Any]:
        return {"kind": "shapes", "split": self.split, "seed": self.seed, "count": len(self)}


class FolderSource(Source):
    """Image files listed once; each decoded and resized when read.

    ``silent`` marks files whose failure the caller reports itself (no skip warning).
    """

    def __init__(self, name: str, files: list[Path], labels, classes, size, silent=None) -> None:
        # One numpy string array, not a list of Path objects: forked workers touching a list's
        # reference counts would copy it page by page into every worker.
        self.files = np.array([str(f) for f in files])
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes, self.size, self.name = tuple(classes), size, name
        self._spec = resizer(size)
        self.silent = None if silent is None else np.asarray(silent, dtype=bool)

    def read(self, i: int) -> np.ndarray | None:
        path = Path(str(self.files[i]))
        if self.silent is not None and self.silent[i]:
            try:
                image = read_image(path)
            except ImageTooLarge:
                image = None
        else:
            image = read_image_or_warn(path)
        return None if image is None else self._spec.resize_image(image)

    def identity(self) -> dict[str, Any]:
        stats = []
        for f in self.files:
            try:
                st = os.stat(str(f))
                stats.append([str(f), st.st_size, st.st_mtime_ns])
            except OSError:
                stats.append([str(f), -1, -1])
        return {"kind": "folder", "files": stats, "labels": self.labels.tolist()}


class CifarSource(Source):
    """CIFAR-10 records (a memory map of the binary batches, the python batches in memory)."""

    def __init__(self, name: str, records: np.ndarray, labels, classes, size, files) -> None:
        self.records, self.labels = records, np.asarray(labels, dtype=np.int64)
        self.classes, self.size, self.name, self.files = tuple(classes), size, name, files
        self._spec = resizer(size)

    def read(self, i: int) -> np.ndarray:
        # Planes R, G, B -> H x W x C, then reverse channels: OpenCV's BGR everywhere.
        image = np.ascontiguousarray(
            np.asarray(self.records[i]).reshape(3, 32, 32).transpose(1, 2, 0)[..., ::-1]
        )
        return self._spec.resize_image(image)

    def identity(self) -> dict[str, Any]:
        stats = [[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in self.files]
        return {"kind": "cifar10", "files": stats, "count": len(self)}


class ArraySource(Source):
    """Images already decoded at size (in memory, or a memory-mapped cache); ``valid`` marks
    the ones that were readable when the array was made."""

    def __init__(self, name, images: np.ndarray, labels, classes, valid=None) -> None:
        self.images, self.labels = images, np.asarray(labels, dtype=np.int64)
        self.classes, self.name = tuple(classes), name
        self.size = (int(images.shape[1]), int(images.shape[2]))
        self.valid = np.ones(len(self.labels), bool) if valid is None else np.asarray(valid, bool)

    def read(self, i: int) -> np.ndarray | None:
        return np.array(self.images[i]) if self.valid[i] else None

    def read_batch(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(index, kind="stable")  # sorted reads of a memory map are sequential
        out = np.empty((len(index), *self.size, 3), dtype=np.uint8)
        out[order] = self.images[np.asarray(index)[order]]
        return out, self.valid[np.asarray(index, dtype=np.int64)]

    def identity(self) -> dict[str, Any]:
        return {"kind": "array", "count": len(self)}


class SubsetSource(Source):
    """Some indices of another source, in the order given (a held-out share, a --limit)."""

    def __init__(self, base: Source, index: np.ndarray) -> None:
        self.base, self.index = base, np.asarray(index, dtype=np.int64)
        self.labels = base.labels[self.index]
        self.classes, self.size, self.name = base.classes, base.size, base.name

    def read(self, i: int) -> np.ndarray | None:
        return self.base.read(int(self.index[i]))

    def read_batch(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.base.read_batch(self.index[np.asarray(index, dtype=np.int64)])

    def identity(self) -> dict[str, Any]:
        return {"kind": "subset", "base": self.base.identity(), "index": self.index.tolist()}
